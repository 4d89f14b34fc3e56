//! The YAML shape of a process definition, exactly as a designer writes it.
//!
//! These structs only mirror the file: every string that a diagnostic may point at is wrapped in
//! [`Pos`] so it keeps its line and column. Meaning (targets exist, expressions parse, ...) is
//! checked by `validate`, which turns a `RawProcess` into a `ProcessDefinition`. The JSON Schema
//! published by `forlob schema` is derived from these same structs, so the two cannot drift.

use std::borrow::Cow;
use std::collections::BTreeMap;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde_saphyr::Spanned;

/// A value with the place in the YAML file where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(transparent)]
pub struct Pos<T>(pub Spanned<T>);

impl<T> Pos<T> {
    pub fn value(&self) -> &T {
        &self.0.value
    }

    /// 1-based line and column; (0, 0) when unknown.
    pub fn line_col(&self) -> (u64, u64) {
        (self.0.referenced.line(), self.0.referenced.column())
    }
}

impl<T: JsonSchema> JsonSchema for Pos<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }
}

/// A CEL expression as written, e.g. `form.handling != 'stop'`.
pub type RawExpr = Pos<String>;

/// Text shown to people: one string, or one string per language code (`{ da: ..., en: ... }`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Text {
    Plain(String),
    Translated(BTreeMap<String, String>),
}

/// A process definition file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "forlob process definition")]
pub struct RawProcess {
    /// Stable id of the process, kebab-case, e.g. `bestem-handlekommune-manuelt`.
    pub id: Pos<String>,
    /// Optional explicit version; by default deploy numbers versions itself.
    pub version: Option<Pos<u32>>,
    pub title: Option<Text>,
    pub description: Option<Text>,
    /// Former ids of this process: starts and messages for them are routed here.
    #[serde(default)]
    pub replaces: Vec<Pos<String>>,
    /// What an instance runs for, e.g. `person` or `job`.
    pub subject: Option<Pos<String>>,
    /// IANA time zone for timers and `today`; default the deployment's setting (`timezone`).
    pub timezone: Option<Pos<String>>,
    #[serde(default)]
    pub start: RawStart,
    /// The state a new instance enters.
    pub initial: Pos<String>,
    pub states: IndexMap<Pos<String>, RawState>,
}

/// How instances of the process may be started.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStart {
    /// Started by a person; `allowed` is a guard over `actor` and `subject`.
    pub manual: Option<RawManualStart>,
    /// Started by an inbound message of this type.
    pub message: Option<RawMessageStart>,
    /// A background job: started by the scheduler, or by an admin's "run now".
    pub schedule: Option<RawScheduleStart>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScheduleStart {
    /// What a schedule may pass to a run; every run also gets `run_date` and `fired_at`.
    #[serde(default)]
    pub parameters: IndexMap<Pos<String>, RawParameter>,
    /// Jobs that should start only after a run of this one has ended: a schedule whose
    /// recent run durations would overlap one of theirs gets a warning (never a block).
    #[serde(default)]
    pub finish_before: Vec<Pos<String>>,
    /// An exceptional job: whoever runs it by hand is asked to confirm this text first.
    pub confirm: Option<Text>,
    /// The schedule the job gets when its first version is deployed (from that day on);
    /// after that its schedules are the admins', and a later deploy never adds one again.
    pub default: Option<RawDefaultSchedule>,
}

/// A schedule as an admin would give it, without start date and parameters (the firing's day
/// and the parameters' defaults).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefaultSchedule {
    pub label: Option<Pos<String>>,
    /// `HH:MM`, with `weekdays`; or give `cron` instead.
    pub start_time: Option<Pos<String>>,
    /// `mon` … `sun`.
    pub weekdays: Option<Pos<Vec<String>>>,
    pub cron: Option<Pos<String>>,
    /// IANA zone; default the process's.
    pub time_zone: Option<Pos<String>>,
    /// `latest` (default), `skip` or `all`.
    pub misfire: Option<Pos<String>>,
    /// `skip` (default) or `queue`.
    pub overlap: Option<Pos<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawParameter {
    /// `string`, `integer`, `boolean`, `date` or `choice`.
    #[serde(rename = "type")]
    pub kind: Pos<String>,
    pub label: Option<Text>,
    /// The choices of a `choice`: a list, or `ref.NAME` of reference data a package registers.
    pub options: Option<Pos<Options>>,
    /// The value when a schedule gives none; without one, every schedule must give it.
    pub default: Option<Pos<serde_json::Value>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawManualStart {
    pub allowed: Option<RawExpr>,
    /// Shown when `allowed` is false, e.g. a pointer to the process to use instead.
    pub refusal: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMessageStart {
    #[serde(rename = "type")]
    pub message_type: Pos<String>,
    /// Expression over `msg` giving the subject id.
    pub subject: RawExpr,
    /// Optional guard over `msg` and `subject`: only matching messages start an instance.
    pub when: Option<RawExpr>,
    /// Initial variables, expressions over `msg`.
    #[serde(default)]
    pub vars: IndexMap<String, RawExpr>,
}

/// One state. Exactly one of `automatic`, `manual`, `decision`, `wait`, `call`, `end` is set.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub title: Option<Text>,
    pub automatic: Option<RawAutomatic>,
    pub manual: Option<RawManual>,
    pub decision: Option<Pos<Vec<RawBranch>>>,
    pub wait: Option<RawWait>,
    pub call: Option<RawCall>,
    pub end: Option<Pos<bool>>,
    /// The following state of an automatic, wait or call state.
    pub next: Option<Pos<String>>,
    pub on: Option<RawOn>,
    /// Variables computed on entry, before anything else of the state runs.
    #[serde(default)]
    pub set: IndexMap<String, RawExpr>,
    /// Events written to the subject's timeline on entry.
    #[serde(default)]
    pub emit: Vec<RawEmit>,
    /// Follow-up tasks started on entry, each a small process of its own.
    #[serde(default)]
    pub follow_up: Vec<RawFollowUp>,
    /// Entered only by a migration plan moving instances of an older version here
    /// (docs/releases.md); no transition needs to lead to it.
    #[serde(default)]
    pub migration_entry: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAutomatic {
    /// A registered action, `package.name`.
    pub action: Pos<String>,
    /// Input of the action: expressions by name.
    #[serde(default)]
    pub input: IndexMap<String, RawExpr>,
    pub retry: Option<RawRetry>,
    /// Run on the worker pool in a transaction of its own instead of inline.
    #[serde(default, rename = "async")]
    pub run_async: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Attempts in all, the first included.
    pub max: Pos<u32>,
    /// ISO-8601 duration before the second attempt; doubles for each further one.
    pub backoff: Option<Pos<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawManual {
    /// Task title, a handlebars template over `subject` and `vars`.
    pub title: Pos<String>,
    /// Task kind shown in the inbox; default the state id.
    pub kind: Option<Pos<String>>,
    pub assign: Option<RawAssign>,
    /// ISO-8601 duration from creation to the task's due date.
    pub due: Option<Pos<String>>,
    #[serde(default)]
    pub form: RawForm,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAssign {
    /// Expression giving the municipality code whose caseworkers get the task.
    pub municipality: RawExpr,
    /// Whether an instance a caseworker started by hand may give this task to another
    /// municipality than the caseworker's own. Without it such a task is refused: a start by
    /// hand must not put work (and sight of a person) into another municipality's inbox.
    #[serde(default)]
    pub other_municipality: bool,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawForm {
    #[serde(default)]
    pub fields: Vec<RawField>,
    /// This form's own controls for field types, handlebars by type name; they replace the
    /// engine's or the package's control for that type in this form only.
    #[serde(default)]
    pub controls: IndexMap<String, Pos<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    pub name: Pos<String>,
    #[serde(rename = "type")]
    pub field_type: Pos<String>,
    pub label: Option<Text>,
    pub help: Option<Text>,
    /// `true`, `false`, or an expression over `form`.
    pub required: Option<Pos<BoolOrExpr>>,
    /// Expression over `form` that must hold when the field has a value.
    pub check: Option<RawExpr>,
    /// Message shown when `check` fails.
    pub message: Option<Text>,
    /// Choices: a list, or `ref.NAME` for reference data a package registers.
    pub options: Option<Pos<Options>>,
    /// Expression giving the initial value, e.g. `today`.
    pub default: Option<RawExpr>,
    /// The most characters the field accepts; lowers the server's limit for its type
    /// (`max_text_chars`, `max_textarea_chars`), never raises it.
    pub max_length: Option<Pos<usize>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum BoolOrExpr {
    Bool(bool),
    Expr(String),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Options {
    /// The options themselves.
    List(Vec<RawOption>),
    /// `ref.NAME`: reference data a package registers.
    Reference(String),
}

/// One option of a choice: its value, or `{ value, label, when }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawOption {
    Value(Scalar),
    Described(DescribedOption),
}

/// A YAML scalar taken as text, so `options: [1, 2, 3]` lists the values "1", "2", "3".
#[derive(Debug, Clone, JsonSchema)]
#[schemars(transparent)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a text, number or boolean")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(Text)
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribedOption {
    /// What is stored (and what `on.submit` conditions compare).
    pub value: String,
    /// What people see; the value when left out.
    pub label: Option<Text>,
    /// Offered only while this holds, an expression over `vars`, `subject`, `actor` and
    /// `today`: what cannot be done for the subject now is neither offered nor accepted.
    pub when: Option<String>,
}

/// A guarded jump: `{ when: expr, goto: state }`, or `{ goto: state }` / `{ otherwise: state }`
/// as the last, unguarded one.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBranch {
    pub when: Option<RawExpr>,
    pub goto: Option<Pos<String>>,
    pub otherwise: Option<Pos<String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOn {
    /// Where a submitted form leads, first matching branch wins.
    #[serde(default)]
    pub submit: Vec<RawBranch>,
}

/// A timer (`after`, or `until` with optional `at` and `zone`), a message, or a signal (which
/// may add `after` or `until` as a deadline: the first of the two moves the instance on).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWait {
    /// ISO-8601 duration from entering the state.
    pub after: Option<Pos<String>>,
    /// Expression giving a date (`2025-06-03`) or a date-time with offset.
    pub until: Option<RawExpr>,
    /// Local wall-clock time for a date `until`, `HH:MM`; default 00:00.
    pub at: Option<Pos<String>>,
    /// IANA time zone of `until`/`at`; default the process time zone.
    pub zone: Option<Pos<String>>,
    pub message: Option<RawWaitMessage>,
    pub signal: Option<RawWaitSignal>,
}

/// A signal sent inside the engine by an action (`ActionContext::signal`), never from outside.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWaitSignal {
    pub name: Pos<String>,
    /// Expression over the instance giving the key a signal must carry to wake it.
    pub key: RawExpr,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWaitMessage {
    #[serde(rename = "type")]
    pub message_type: Pos<String>,
    /// Expression over `msg` giving the correlation key of an arriving message.
    pub correlate: RawExpr,
    /// Expression over the instance giving its key; default `subject.id`.
    pub key: Option<RawExpr>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCall {
    pub process: Pos<String>,
    /// Subject of the child; default the parent's.
    pub subject: Option<RawExpr>,
    #[serde(default)]
    pub vars: IndexMap<String, RawExpr>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEmit {
    pub kind: Pos<String>,
    /// Optional guard: the event is written only when it holds.
    pub when: Option<RawExpr>,
    #[serde(default)]
    pub data: IndexMap<String, RawExpr>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFollowUp {
    pub process: Pos<String>,
    /// Optional guard: the follow-up starts only when it holds.
    pub when: Option<RawExpr>,
    pub municipality: RawExpr,
    #[serde(default)]
    pub vars: IndexMap<String, RawExpr>,
}
