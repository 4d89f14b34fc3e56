//! Length limits on free text that people and other systems send in: names, reasons, form
//! fields, message ids and types, search queries and filters.
//!
//! One struct holds them all, so the API, the pages and the command line refuse the same
//! values with the same message. Limits count characters (Unicode scalar values), not bytes:
//! `Ø` is one character, as the person typing it sees it. A value over its limit is refused
//! with a message per field (HTTP 422) and nothing is stored; the request body limit bounds
//! everything else (a message's payload, a start's variables).

use serde::{Deserialize, Serialize};

use crate::message::{Code, FieldErrors, Message};

/// The longest text accepted per kind of input, in characters. Every limit is at least 1
/// (the server's configuration refuses a 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextLimits {
    /// A name people give something: a user's display name, a token's name, a schedule's
    /// label. Usernames are shorter still (at most 64).
    pub name: usize,
    /// Why an admin did something: suspending, resuming or cancelling an instance, a restart
    /// or migration plan, abandoning or undoing a migration.
    pub reason: usize,
    /// A one-line form field (`text`, and every field type but `textarea`), and a job's text
    /// parameter.
    pub text: usize,
    /// A `textarea` form field.
    pub textarea: usize,
    /// An inbound message's id (`message_id`).
    pub message_id: usize,
    /// An inbound message's type (`type`).
    pub message_type: usize,
    /// A search query, and each filter of a list (the audit log, instances).
    pub query: usize,
}

impl Default for TextLimits {
    fn default() -> Self {
        Self {
            name: 200,
            reason: 2_000,
            text: 1_000,
            textarea: 20_000,
            message_id: 200,
            message_type: 100,
            query: 200,
        }
    }
}

/// The message for a value of more than `max` characters, or `None` when it fits.
pub fn too_long(value: &str, max: usize) -> Option<Message> {
    // A value of at most `max` bytes has at most `max` characters; only longer ones are
    // counted, and only as far as needed to know.
    if value.len() <= max || value.chars().nth(max).is_none() {
        None
    } else {
        Some(
            Message::new(Code::TOO_LONG)
                .with("max", max)
                .with("length", value.chars().count()),
        )
    }
}

/// Records in `errors` that `field` is over its limit, unless it fits or already has a
/// message.
pub fn check(errors: &mut FieldErrors, field: &str, value: &str, max: usize) {
    if let Some(message) = too_long(value, max) {
        errors.entry(field.to_owned()).or_insert(message);
    }
}

/// `Err` with one field's message when `value` is over `max`; for inputs of one field.
pub fn require_fits(field: &str, value: &str, max: usize) -> crate::Result<()> {
    let mut errors = FieldErrors::new();
    check(&mut errors, field, value, max);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(crate::EngineError::Invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_at_the_limit_fits_and_one_more_does_not() {
        assert_eq!(too_long("abc", 3), None);
        assert_eq!(
            too_long("abcd", 3).map(|m| m.to_string()).as_deref(),
            Some("at most 3 characters (this has 4)")
        );
    }

    #[test]
    fn characters_are_counted_not_bytes() {
        // 200 two-byte characters: 400 bytes, but 200 characters.
        let name = "Ø".repeat(200);
        assert_eq!(too_long(&name, 200), None);
        assert!(too_long(&"Ø".repeat(201), 200).is_some());
        assert_eq!(too_long("", 1), None);
    }

    #[test]
    fn check_keeps_a_field_s_first_message() {
        let mut errors = FieldErrors::new();
        errors.insert("name".into(), Message::new(Code::REQUIRED));
        check(&mut errors, "name", &"x".repeat(5), 4);
        check(&mut errors, "reason", &"x".repeat(5), 4);
        assert_eq!(errors["name"], "required");
        assert_eq!(errors["reason"], "at most 4 characters (this has 5)");
        assert!(matches!(
            require_fits("reason", "xx", 1),
            Err(crate::EngineError::Invalid(e)) if e.contains_key("reason")
        ));
    }
}
