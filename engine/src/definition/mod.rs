//! Process definitions: YAML in, a validated immutable [`ProcessDefinition`] out, and what
//! it means: the pure [`transition`] function over its step [`kinds`](StepKind).
//!
//! `load_set` reads several files at once because processes refer to each other (follow-ups,
//! calls). It reports every problem of every file in one pass and returns definitions only
//! when there are none, so nothing invalid can reach the store.

mod kinds;
mod model;
pub mod raw;
pub mod transition;
mod validate;

pub use crate::diagnostic::{CODES, Diagnostic};
pub use kinds::*;
pub use model::*;
pub(crate) use validate::yaml_diagnostic;

use crate::registry::Registry;

/// One definition file: where it came from (for diagnostics) and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// Validates a set of definitions together. Either all of them, or every diagnostic.
pub fn load_set(
    files: &[SourceFile],
    registry: &Registry,
) -> Result<Vec<ProcessDefinition>, Vec<Diagnostic>> {
    validate::load_set(files, registry, &[])
}

/// As [`load_set`], where `follow_up` and `call` may also name the processes in
/// `known_elsewhere` (those already deployed).
pub fn load_set_with(
    files: &[SourceFile],
    registry: &Registry,
    known_elsewhere: &[String],
) -> Result<Vec<ProcessDefinition>, Vec<Diagnostic>> {
    validate::load_set(files, registry, known_elsewhere)
}

/// Validates one self-contained definition.
pub fn load(
    path: &str,
    text: &str,
    registry: &Registry,
) -> Result<ProcessDefinition, Vec<Diagnostic>> {
    let file = SourceFile {
        path: path.to_owned(),
        text: text.to_owned(),
    };
    let mut defs = load_set(std::slice::from_ref(&file), registry)?;
    Ok(defs.remove(0))
}

/// How forlob reads YAML: YAML 1.2 booleans only (`no` is the string "no", not false), and
/// numbers with a leading zero kept as strings (CPR numbers, Swedish municipality codes).
pub fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
    }
}

/// The JSON Schema of the YAML format, for editors.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(raw::RawProcess)).unwrap_or_default()
}
