//! Diagnostics of definition validation: `path:line:col: error[CODE]: message` plus a hint.

use std::fmt;

/// One problem in a definition file, with where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error[{}]: {}",
            self.file, self.line, self.column, self.code, self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every diagnostic code, with what it means; `forlob validate --explain` and the docs list these.
pub const CODES: &[(&str, &str)] = &[
    ("yaml-syntax", "the file is not well-formed YAML"),
    (
        "unknown-key",
        "a key the format does not have (often a typo)",
    ),
    (
        "schema",
        "a value of the wrong type or a missing required key",
    ),
    (
        "duplicate-key",
        "the same key twice in one mapping, e.g. two states with one id",
    ),
    (
        "state-kind",
        "a state must have exactly one of automatic, manual, decision, wait, call, end",
    ),
    (
        "unknown-target",
        "a goto, next or initial names a state that does not exist",
    ),
    (
        "missing-next",
        "an automatic, wait or call state without `next`",
    ),
    (
        "unreachable-state",
        "no path leads from `initial` to the state",
    ),
    (
        "no-path-to-end",
        "no path leads from the state to an end state",
    ),
    ("duplicate-field", "two form fields with one name"),
    ("bad-max-length", "a form field's `max_length` is 0"),
    (
        "unknown-action",
        "the action is not registered by any package",
    ),
    ("unknown-field-type", "the field type is not registered"),
    (
        "unknown-reference",
        "`ref.NAME` options name reference data nobody registered",
    ),
    ("expression-syntax", "a CEL expression does not parse"),
    (
        "unknown-name",
        "an expression reads a name that is not in scope there",
    ),
    ("template-syntax", "a handlebars template does not parse"),
    ("bad-duration", "not an ISO-8601 duration"),
    ("bad-time", "not a time of day HH:MM"),
    ("unknown-timezone", "not an IANA time zone name"),
    (
        "bad-wait",
        "a wait needs exactly one of after, until, message or signal (a signal may add after or until as its deadline)",
    ),
    (
        "bad-branch",
        "a branch needs `goto` (optionally with `when`) or `otherwise`",
    ),
    (
        "unknown-process",
        "a follow_up or call names a process not in the set being validated",
    ),
    ("duplicate-process", "two files define the same process id"),
    (
        "bad-parameter",
        "a job parameter with an unknown type, a choice without options, or a default of the wrong type",
    ),
    (
        "bad-schedule",
        "a job's default schedule that an admin could not give: no time, a weekday or cron that never fires, an unknown zone or policy",
    ),
];
