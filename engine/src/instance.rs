//! Process instances and their history, as the engine's callers see them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};

pub use crate::user::{Actor, ActorRole, Via};
use serde_json::Value;
use uuid::Uuid;

/// Where an instance is in its life. Stored as its snake-case name (`instances.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, EnumIter, DeriveActiveEnum)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum InstanceStatus {
    /// Waiting in a state for a person, a timer, a message, a child or a due step.
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "completed")]
    Completed,
    /// A step failed for good; the instance stops until an admin retries, skips or cancels.
    #[sea_orm(string_value = "incident")]
    Incident,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    /// Stopped by an admin: its timers and steps are held, its tasks cannot be completed,
    /// until it is resumed.
    #[sea_orm(string_value = "suspended")]
    Suspended,
}

/// Where a task is. Stored as its name (`tasks.status`); the API and the pages show the same
/// words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, EnumIter, DeriveActiveEnum)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum TaskStatus {
    /// Waiting for a caseworker.
    #[sea_orm(string_value = "open")]
    Open,
    #[sea_orm(string_value = "completed")]
    Completed,
    /// Closed without a submit: the instance left the state (cancelled, skipped, restarted).
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [Self; 3] = [Self::Open, Self::Completed, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Where an incident is: open until an admin retries, skips or cancels its instance (or a
/// migration takes it over). Stored as its name (`incidents.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, EnumIter, DeriveActiveEnum)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum IncidentStatus {
    #[sea_orm(string_value = "open")]
    Open,
    #[sea_orm(string_value = "retried")]
    Retried,
    #[sea_orm(string_value = "skipped")]
    Skipped,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    /// A migration restarted the instance elsewhere; its undo opens the incident again.
    #[sea_orm(string_value = "restarted")]
    Restarted,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Retried => "retried",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
            Self::Restarted => "restarted",
        }
    }
}

impl InstanceStatus {
    /// The statuses of an instance that has not ended: it may still move.
    pub const UNFINISHED: [Self; 3] = [Self::Active, Self::Incident, Self::Suspended];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Incident => "incident",
            Self::Cancelled => "cancelled",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Active,
            Self::Completed,
            Self::Incident,
            Self::Cancelled,
            Self::Suspended,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// What a work item makes happen when it comes due. Stored as its name (`work_items.kind`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum WorkKind {
    /// A wait's `after`/`until`, or a signal's deadline: the state goes on.
    #[sea_orm(string_value = "timer")]
    Timer,
    /// An async automatic step, or the retry of a failed one: its action runs.
    #[sea_orm(string_value = "step")]
    Step,
}

impl WorkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timer => "timer",
            Self::Step => "step",
        }
    }
}

/// Something a state holds while an instance rests in it, given up when the instance leaves
/// (`State::holdings` says what each kind of state holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Holding {
    /// The open task of a manual state; closed as cancelled.
    Task,
    /// Due work: a wait's timer or a signal's deadline, an async step or its retry; deleted.
    Work(WorkKind),
    /// The subscription of a message or signal wait; deleted.
    Subscription,
}

/// Why an instance stopped with an incident. Stored in `incidents.action` as the action's
/// name, `work:<kind>`, or empty; shown by the API as that text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentCause {
    /// The action of an automatic step failed for good (its name). A retry runs it again.
    Action(String),
    /// Due work failed in its own transaction (not its action): a retry makes the work anew.
    Work(WorkKind),
    /// The definition: no branch matched, an expression failed, a loop ran away. A retry
    /// enters the state again.
    Definition,
}

impl IncidentCause {
    const WORK_PREFIX: &'static str = "work:";

    /// The text of the `action` column.
    pub fn stored(&self) -> String {
        match self {
            Self::Action(name) => name.clone(),
            Self::Work(kind) => format!("{}{}", Self::WORK_PREFIX, kind.as_str()),
            Self::Definition => String::new(),
        }
    }

    /// Reads the `action` column; a `work:` kind this build does not know is read as a step,
    /// which a retry runs again.
    pub fn from_stored(text: &str) -> Self {
        match text.strip_prefix(Self::WORK_PREFIX) {
            Some("timer") => Self::Work(WorkKind::Timer),
            Some(_) => Self::Work(WorkKind::Step),
            None if text.is_empty() => Self::Definition,
            None => Self::Action(text.to_owned()),
        }
    }
}

impl Serialize for IncidentCause {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.stored())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcessInstance {
    pub id: Uuid,
    pub process_id: String,
    pub version: i32,
    pub subject: String,
    pub state: String,
    pub status: InstanceStatus,
    pub variables: Value,
    /// Optimistic-locking version; every committed transition increments it.
    pub row_version: i64,
    pub parent_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The municipality of the caseworker who started the instance by hand (or of the
    /// instance that called it): its tasks stay there unless the definition says otherwise.
    pub started_in: Option<String>,
}

/// One transition in an instance's history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub from_state: Option<String>,
    pub to_state: String,
    pub trigger: String,
    pub actor: Option<String>,
    pub data: Option<Value>,
    pub at: DateTime<Utc>,
}

/// A human task (a manual step, or a follow-up's manual step).
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: Uuid,
    pub instance_id: Uuid,
    pub process_id: String,
    pub state: String,
    pub kind: String,
    pub subject: String,
    pub title: String,
    pub municipality: Option<String>,
    pub status: TaskStatus,
    /// The caseworker working on it; others see it as taken and may not complete it.
    pub claimed_by: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub completed_by: Option<String>,
    pub data: Option<Value>,
}

/// An entry of a subject's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEvent {
    pub subject: String,
    pub instance_id: Option<Uuid>,
    pub process_id: String,
    pub kind: String,
    pub data: Value,
    pub at: DateTime<Utc>,
}

/// An automatic step that failed for good.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub id: i64,
    pub instance_id: Uuid,
    pub state: String,
    /// Serialised as `action`, the name it has always had in the API.
    #[serde(rename = "action")]
    pub cause: IncidentCause,
    pub error: String,
    pub attempts: i32,
    pub status: IncidentStatus,
    pub created_at: DateTime<Utc>,
}

/// A dead letter as a list shows it: the start of its payload and the payload's size, so a
/// page of letters stays small however large the messages were.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterSummary {
    pub id: i64,
    pub message_id: Option<String>,
    pub message_type: String,
    /// The first characters of the payload's JSON text.
    pub payload_preview: String,
    /// The length of the payload's JSON text, in characters.
    pub payload_size: i64,
    pub reason: String,
    pub received_at: DateTime<Utc>,
}

/// A message that no process could take, with the reason.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// The row's id (0 for one not stored yet).
    pub id: i64,
    pub message_id: Option<String>,
    pub message_type: String,
    pub payload: Value,
    pub reason: String,
    pub received_at: DateTime<Utc>,
}

/// Where a migration is in its life: `running` until its items are worked, then `finished`;
/// an admin may `abandon` a running one (its pending items stay where they are) and undo a
/// finished or abandoned one (`undoing`, then `undone`). A running or undoing migration holds
/// its process's one migration slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationPhase {
    Running,
    Finished,
    Abandoned,
    Undoing,
    Undone,
    /// Written by a newer engine: shown, and left alone.
    Unknown,
}

impl MigrationPhase {
    pub const ALL: [Self; 6] = [
        Self::Running,
        Self::Finished,
        Self::Abandoned,
        Self::Undoing,
        Self::Undone,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Abandoned => "abandoned",
            Self::Undoing => "undoing",
            Self::Undone => "undone",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The phases an undo starts from.
    pub const UNDOABLE: [Self; 2] = [Self::Finished, Self::Abandoned];

    pub fn can_undo(self) -> bool {
        Self::UNDOABLE.contains(&self)
    }

    pub fn can_abandon(self) -> bool {
        self == Self::Running
    }

    /// Whether the migration holds its process's slot (work is left to do).
    pub fn is_busy(self) -> bool {
        matches!(self, Self::Running | Self::Undoing)
    }
}

impl std::fmt::Display for MigrationPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}
