//! The process packages shipped with forlob. Each package is a folder of YAML definitions,
//! form templates and scenario files beside a Rust module of its domain actions; `register`
//! is the one place the binary wires them into the engine.

pub mod flytning;
pub mod folkbokforing;

use forlob_engine::Registry;

/// Registers every package's actions, field types, subjects and fixtures.
pub fn register(registry: &mut Registry) {
    flytning::register(registry);
    folkbokforing::register(registry);
}

/// The folder holding the packages' definition and scenario files.
pub fn processes_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}
