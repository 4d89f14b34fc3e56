//! Process instances and their history, as the engine's callers see them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// Where an instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    /// Waiting in a state for a person, a timer, a message, a child or a due step.
    Active,
    Completed,
    /// A step failed for good; the instance stops until an admin retries, skips or cancels.
    Incident,
    Cancelled,
    /// Stopped by an admin: its timers and steps are held, its tasks cannot be completed,
    /// until it is resumed.
    Suspended,
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

/// Through what an actor reached the engine; recorded with each audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Via {
    /// The engine itself: timers, messages, jobs, scenarios.
    #[default]
    System,
    /// The REST API.
    Api,
    /// The web pages.
    Page,
    /// The `forlob` command line.
    Cli,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Api => "api",
            Self::Page => "page",
            Self::Cli => "cli",
        }
    }
}

/// Who acts: a caseworker, an admin, or the system.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub municipality: Option<String>,
    pub role: String,
    /// Not part of what expressions see as `actor`: only the audit log records it.
    #[serde(skip)]
    pub via: Via,
}

impl Actor {
    pub fn system() -> Self {
        Self {
            id: "system".into(),
            municipality: None,
            role: "system".into(),
            via: Via::System,
        }
    }

    pub fn caseworker(id: &str, municipality: &str) -> Self {
        Self {
            id: id.into(),
            municipality: Some(municipality.into()),
            role: "caseworker".into(),
            via: Via::System,
        }
    }

    /// Admins and the system see every municipality's work.
    pub fn sees_all(&self) -> bool {
        matches!(self.role.as_str(), "admin" | "system")
    }

    /// A caseworker of a municipality: the one role whose sight of subjects depends on the
    /// subject (see `Engine::may_see`).
    pub fn is_caseworker(&self) -> bool {
        self.role == "caseworker" && self.municipality.is_some()
    }

    /// The same actor acting through `via`.
    pub fn through(mut self, via: Via) -> Self {
        self.via = via;
        self
    }

    /// The municipality filter of every task query made for this actor: `None` (all) for
    /// admins and the system, else the actor's municipality. An actor with none (a designer)
    /// gets the empty code, which no task has, so they see no tasks rather than all.
    pub fn task_scope(&self) -> Option<String> {
        if self.sees_all() {
            None
        } else {
            Some(self.municipality.clone().unwrap_or_default())
        }
    }
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
    pub status: String,
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
    pub action: String,
    pub error: String,
    pub attempts: i32,
    pub status: String,
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
