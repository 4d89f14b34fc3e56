//! Messages to people about what they typed, by stable code.
//!
//! The engine says what is wrong with a form field, a schedule or a migration plan as a
//! [`Message`]: a [`Code`] with named arguments. Its English text (with `Display`, and as a
//! string in JSON) is what the API and the CLI show; the pages put the same code in the
//! reader's language from the UI's one message catalogue (`msg.<code>` in `web/i18n`), so a
//! Danish caseworker never reads "required". A text a process designer wrote (a check's
//! `message`) is shown as written.

use std::fmt;

use serde::{Serialize, Serializer};

/// Per-field messages, keyed by field name; what a 422 carries.
pub type FieldErrors = std::collections::BTreeMap<String, Message>;

/// Declares the engine's codes with their catalogue keys and English templates in one table,
/// so a code cannot exist without its text, and [`Code::ALL`] lets a test find every key in
/// every language. Packages declare their own codes with [`Code::new`] and register them.
macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $key:literal => $english:literal,)*) => {
        impl Code {
            $($(#[$doc])* pub const $name: Code = Code::new($key, $english);)*

            /// Every code of the engine, for the catalogue test.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];
        }
    };
}

/// What is wrong (or what happened), independent of language: the key of its text in the
/// UI's catalogue (`msg.<key>`) and its English template, where `{name}` stands for the
/// argument `name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code {
    key: &'static str,
    english: &'static str,
}

impl Code {
    pub const fn new(key: &'static str, english: &'static str) -> Self {
        Self { key, english }
    }

    /// The key under `msg.` in the UI's catalogue.
    pub fn key(self) -> &'static str {
        self.key
    }

    /// The English template.
    pub fn english(self) -> &'static str {
        self.english
    }
}

codes! {
    /// A required field left empty.
    REQUIRED = "required" => "required",
    TOO_LONG = "too_long" => "at most {max} characters (this has {length})",
    NO_SUCH_FIELD = "no_such_field" => "this form has no such field",
    UNKNOWN_FIELD_TYPE = "unknown_field_type" => "unknown field type `{type}`",
    NOT_TEXT = "not_text" => "must be text",
    NOT_AN_OBJECT = "not_an_object" => "must be a JSON object of named values",
    NOT_NUMBER = "not_number" => "`{value}` is not a number",
    NOT_WHOLE_NUMBER = "not_whole_number" => "must be a whole number",
    NOT_BOOLEAN = "not_boolean" => "must be true or false",
    NOT_CHECKBOX = "not_checkbox" => "must be checked or unchecked",
    NOT_DATE = "not_date" => "`{value}` is not a date; use YYYY-MM-DD",
    NOT_CHOICE = "not_choice" => "`{value}` is not one of: {allowed}",
    NOT_MUNICIPALITY = "not_municipality" => "`{value}` is not a municipality code",
    /// A field's `check` said no and the designer wrote no message of their own.
    CHECK_FAILED = "check_failed" => "must satisfy {rule}",
    /// A field's `required` or `check` expression failed: the definition's fault.
    RULE_FAILED = "rule_failed" => "the field's rule could not be evaluated: {error}",
    BAD_USERNAME = "bad_username" => "use {min}-{max} characters: lowercase letters, digits, `.`, `_` or `-`",
    USERNAME_TAKEN = "username_taken" => "the username `{name}` is taken",
    MUNICIPALITY_NEEDED = "municipality_needed" => "a caseworker belongs to a municipality: give its code, e.g. 147",
    SHORT_PASSWORD = "short_password" => "use at least {min} characters",
    TOKEN_NAME_NEEDED = "token_name_needed" => "say what the token is for",
    USER_DISABLED = "user_disabled" => "`{name}` is disabled; enable them first, then issue the token",
    NOT_STARTED_BY_HAND = "not_started_by_hand" => "process `{process}` is not started by hand",
    ROLE_STARTS_NOTHING = "role_starts_nothing" => "a {role} does not start processes by hand",
    START_NOT_ALLOWED = "start_not_allowed" => "you may not start `{process}` for {subject}",
    TASK_STAYS_HOME = "task_stays_home" => "`{process}` would give the task of state `{state}` to municipality {to}, but a caseworker of {home} started it by hand: its tasks stay in {home} unless the state's `assign` says `other_municipality: true`",
    CLOCK_NOT_MANUAL = "clock_not_manual" => "the clock can be moved only when running with --clock manual",
    SCENARIOS_NEEDED = "scenarios_needed" => "send at least one scenario to run",
    DRAFT_WITHOUT_FILES = "draft_without_files" => "a draft has at least one file",
    TOO_MANY_FILES = "too_many_files" => "at most {max} files",
    REASON_TO_OVERRIDE = "reason_to_override" => "say why the draft may be deployed although scenarios fail",
    ADMINS_DEPLOY = "admins_deploy" => "only an admin deploys; ask for a deploy instead",
    NOT_SHIPPED = "not_shipped" => "`{path}` is not one of the packages' scenario files",
    NOT_A_PROCESS_ID = "not_a_process_id" => "`{value}` is not a process id: lowercase letters, digits and `-`",
    NO_SUCH_SUBJECT = "no_such_subject" => "no {kind} with id {id}",
    START_VARIABLES = "start_variables" => "the start of `{process}` needs other variables: {error}",
    NO_COLLEAGUE = "no_colleague" => "no active caseworker of municipality {municipality} is called `{name}`",
    TASK_WITHOUT_MUNICIPALITY = "task_without_municipality" => "the task belongs to no municipality, so no caseworker can have it",
    CALL_NOT_VISIBLE = "call_not_visible" => "`{process}` calls `{child}` for a {kind} the municipality that started it by hand does not see",
    REASON_FOR_VARIABLES = "reason_for_variables" => "say why the variables change: it goes to the history and the audit log",
    UNREAD_VARIABLES = "unread_variables" => "process `{process}` never reads {names} and the instance does not have it (a typo?); it reads: {known}. If a package's action reads it, add it anyway",
    MESSAGE_WITHOUT_ID = "message_without_id" => "the message had no id, so it cannot be told from a new one; send it again from its source",
    NO_RESTING_STATE = "no_resting_state" => "no older version of `{process}` has a state `{state}` an instance can wait in",
    CANCEL_REFUSED = "cancel_refused" => "the `{process}` package refused the cancel: {why}",
    CANCEL_REFUSED_FOR_NOW = "cancel_refused_for_now" => "the `{process}` package refused the cancel: {why}; it may pass, try again",
    JOB_NEEDED = "job_needed" => "needed: the job to run",
    JOB_OR_SCHEDULE = "job_or_schedule" => "name a job or a schedule",
    BROKEN_SCHEDULE = "broken_schedule" => "the stored schedule cannot be read: {problem}",
    SCHEDULE_OVERLAP = "schedule_overlap" => "{earlier} starting {start} has lately taken up to {minutes} min, so it would still be running when {later} starts at {later_start}; it should finish before",
    NOT_A_JOB = "not_a_job" => "`{process}` is not a background job (its definition has no start.schedule)",
    NOT_TIME_ZONE = "not_time_zone" => "`{value}` is not an IANA time zone, e.g. Europe/Stockholm",
    DATE_IN_PAST = "date_in_past" => "{date} is in the past; the first day can be today ({today}) or later",
    NOT_CRON = "not_cron" => "not a cron expression: {problem}",
    NEVER_FIRES = "never_fires" => "never fires: no firing within {years} years",
    FIRES_TOO_OFTEN = "fires_too_often" => "fires {gap} second(s) apart; a schedule may fire at most once every {min} second(s) (the setting schedule_min_interval_seconds)",
    CRON_OR_WEEKLY = "cron_or_weekly" => "give either a cron expression or a start time with weekdays, not both",
    START_TIME_NEEDED = "start_time_needed" => "needed (HH:MM), or give a cron expression",
    NOT_TIME = "not_time" => "`{value}` is not a time of day, HH:MM",
    NOT_WEEKDAY = "not_weekday" => "`{value}` is not a weekday; use mon, tue, wed, thu, fri, sat, sun",
    NO_WEEKDAY = "no_weekday" => "mark at least one weekday, or the job never runs",
    SET_BY_RUN = "set_by_run" => "`{name}` is set by each run itself",
    NO_PARAMETERS = "no_parameters" => "`{name}` is not a parameter: this job takes none",
    NOT_PARAMETER = "not_parameter" => "`{name}` is not a parameter of this job ({known})",
    PARAMETER_NEEDED = "parameter_needed" => "needed: this job has no default for it",
    UNKNOWN_PROCESS = "unknown_process" => "no process `{process}` is deployed",
    PLAN_UNKNOWN_VERSION = "plan_unknown_version" => "process `{process}` has no version {version} (newest: {newest})",
    PLAN_NO_SOURCE_VERSION = "plan_no_source_version" => "`{process}` has no version {version} to migrate from (the target is v{target})",
    PLAN_NO_OLDER_VERSION = "plan_no_older_version" => "`{process}` has no version older than v{version} to migrate from",
    PLAN_NO_STATE = "plan_no_state" => "the plan maps no state; name each source state and what becomes of it",
    PLAN_UNKNOWN_SOURCE_STATE = "plan_unknown_source_state" => "no version migrated from has a state `{state}` ({versions})",
    PLAN_RESTART_OR_MOVE = "plan_restart_or_move" => "state `{state}` needs exactly one of `restart` and `move_to`",
    UNKNOWN_STATE = "unknown_state" => "`{process}` v{version} has no state `{state}`",
    PLAN_END_STATE = "plan_end_state" => "`{state}` is an end state: to end instances, cancel them",
    PLAN_MOVE_KEEPS_TIMERS = "plan_move_keeps_timers" => "`move_to` keeps the timers of `{state}`; to drop them, `restart` in `{to}` instead",
    PLAN_MOVE_KEEPS_DUE_DATES = "plan_move_keeps_due_dates" => "`move_to` keeps the tasks of `{state}` with their due dates; for new ones, `restart` in `{to}` instead",
    PLAN_RESTS_DIFFERENTLY = "plan_rests_differently" => "`{state}` of {source} is {from_kind} and `{to}` is {to_kind}: `move_to` carries over what an instance holds, so both must wait alike; use `restart`",
    PLAN_DROPS_TIMER = "plan_drops_timer" => "instances in `{state}` of {source} wait on a timer that this mapping drops; say `drop_timers: true` if that is meant",
}

/// What is wrong with one input, by code, or as a designer wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Coded {
        code: Code,
        args: Vec<(&'static str, String)>,
    },
    /// Written by a process designer (a check's `message`, a job's confirmation question):
    /// shown as written, in the language they wrote it in.
    Written(String),
    /// More than one thing is wrong with the same input.
    Several(Vec<Message>),
}

impl Message {
    pub fn new(code: Code) -> Self {
        Self::Coded {
            code,
            args: Vec::new(),
        }
    }

    /// The message with argument `name` set to `value`.
    pub fn with(mut self, name: &'static str, value: impl fmt::Display) -> Self {
        if let Self::Coded { args, .. } = &mut self {
            args.push((name, value.to_string()));
        }
        self
    }

    pub fn written(text: impl Into<String>) -> Self {
        Self::Written(text.into())
    }

    /// `self` and then `other`, for a second problem with the same input.
    pub fn and(self, other: Message) -> Self {
        match self {
            Self::Several(mut all) => {
                all.push(other);
                Self::Several(all)
            }
            first => Self::Several(vec![first, other]),
        }
    }

    /// The text of the message with each code's template chosen by `template` (the English
    /// one when it gives none).
    pub fn render(&self, template: &dyn Fn(Code) -> Option<String>) -> String {
        match self {
            Self::Coded { code, args } => {
                let chosen = template(*code);
                fill(chosen.as_deref().unwrap_or(code.english()), args)
            }
            Self::Written(text) => text.clone(),
            Self::Several(all) => all
                .iter()
                .map(|m| m.render(template))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }

    /// The code of a coded message.
    pub fn code(&self) -> Option<Code> {
        match self {
            Self::Coded { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The arguments of a coded message, by name.
    pub fn args(&self) -> &[(&'static str, String)] {
        match self {
            Self::Coded { args, .. } => args,
            _ => &[],
        }
    }

    /// Whether this is (or holds) a message of `code`.
    pub fn is(&self, code: Code) -> bool {
        match self {
            Self::Coded { code: own, .. } => *own == code,
            Self::Written(_) => false,
            Self::Several(all) => all.iter().any(|m| m.is(code)),
        }
    }
}

/// `template` with each `{name}` replaced by its argument, in one pass (an argument's own
/// braces are left alone); an unknown name stays as written.
pub fn fill<K: AsRef<str>, V: AsRef<str>>(template: &str, args: &[(K, V)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match args.iter().find(|(n, _)| n.as_ref() == name) {
                    Some((_, value)) => out.push_str(value.as_ref()),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The argument names a template uses, for the catalogue test.
pub fn placeholders(template: &str) -> std::collections::BTreeSet<&str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
        .collect()
}

/// A choice a form sends by its name: one of `choices`, the default for an empty text, or
/// what is wrong (a form's value it does not offer is an error, never the default).
pub fn choice_from_form<T: Copy + Default>(
    text: &str,
    choices: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, Message> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(T::default());
    }
    choices
        .iter()
        .copied()
        .find(|c| name(*c) == text)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|c| name(*c)).collect();
            Message::new(Code::NOT_CHOICE)
                .with("value", text)
                .with("allowed", listing(&names))
        })
}

/// Values listed for a person: all of a short list, the first few of a long one.
pub fn listing(values: &[&str]) -> String {
    const SHOWN: usize = 12;
    if values.len() <= SHOWN {
        values.join(", ")
    } else {
        format!("{}, … ({})", values[..3].join(", "), values.len())
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&|_| None))
    }
}

/// In JSON a message is its English text: the API's `{field: message}` stays as it was.
impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The English text, for answers that are English anyway (the API, the CLI).
impl From<Message> for String {
    fn from(message: Message) -> Self {
        message.to_string()
    }
}

impl PartialEq<str> for Message {
    fn eq(&self, other: &str) -> bool {
        self.to_string().as_str() == other
    }
}

impl PartialEq<&str> for Message {
    fn eq(&self, other: &&str) -> bool {
        self.to_string().as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_fill_their_places_once() {
        let message = Message::new(Code::TOO_LONG)
            .with("max", 3)
            .with("length", "{max}");
        assert_eq!(message, "at most 3 characters (this has {max})");
    }

    #[test]
    fn a_template_of_another_language_is_used_when_given() {
        let message = Message::new(Code::NOT_DATE).with("value", "x");
        let danish = message.render(&|code| {
            (code == Code::NOT_DATE).then(|| "`{value}` er ikke en dato".to_owned())
        });
        assert_eq!(danish, "`x` er ikke en dato");
        assert_eq!(message.to_string(), "`x` is not a date; use YYYY-MM-DD");
    }

    #[test]
    fn several_messages_are_joined_and_each_is_found() {
        let both = Message::new(Code::REQUIRED).and(Message::written("Skal være et tal"));
        assert_eq!(both, "required; Skal være et tal");
        assert!(both.is(Code::REQUIRED));
        assert!(!both.is(Code::NOT_DATE));
    }

    #[test]
    fn a_long_list_is_cut_with_its_count() {
        let many: Vec<String> = (1..=20).map(|i| i.to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(listing(&many), "1, 2, 3, … (20)");
        assert_eq!(listing(&["a", "b"]), "a, b");
    }

    #[test]
    fn placeholders_are_named() {
        assert_eq!(
            placeholders(Code::TOO_LONG.english()),
            ["length", "max"].into_iter().collect()
        );
    }
}
