//! The process packages shipped with forlob. Each package is a folder of YAML definitions,
//! form templates and scenario files beside a Rust module of its domain actions; `register`
//! is the one place the binary wires them into the engine.

/// An entity without sea-orm relations: the packages join in their queries. Defined before the
/// packages so their `entities` modules share it.
macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod flytning;
pub mod folkbokforing;
pub mod municipalities;

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
