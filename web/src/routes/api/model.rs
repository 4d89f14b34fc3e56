//! The API's JSON shapes. They mirror engine types on purpose: the engine's types may change
//! inside, these are the contract clients code against and the OpenAPI document describes.

use chrono::{DateTime, Utc};
use forlob_engine::instance::{HistoryEntry, ProcessInstance, Task, TimelineEvent};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskView {
    pub id: Uuid,
    pub instance_id: Uuid,
    pub process_id: String,
    /// The manual step the task belongs to.
    pub state: String,
    /// The task kind, e.g. `okonomiske-udestaaender` or `registrering`.
    pub kind: String,
    /// The person (or job) the task is about.
    pub subject: String,
    pub title: String,
    pub municipality: Option<String>,
    /// `open`, `completed` or `cancelled`.
    pub status: String,
    pub claimed_by: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub completed_by: Option<String>,
    /// The submitted form, once completed.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

impl From<Task> for TaskView {
    fn from(t: Task) -> Self {
        Self {
            id: t.id,
            instance_id: t.instance_id,
            process_id: t.process_id,
            state: t.state,
            kind: t.kind,
            subject: t.subject,
            title: t.title,
            municipality: t.municipality,
            status: t.status.as_str().into(),
            claimed_by: t.claimed_by,
            due_at: t.due_at,
            created_at: t.created_at,
            completed_at: t.completed_at,
            completed_by: t.completed_by,
            data: t.data,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InstanceView {
    pub id: Uuid,
    pub process_id: String,
    pub version: i32,
    pub subject: String,
    pub state: String,
    /// `active`, `completed`, `incident`, `cancelled` or `suspended`.
    pub status: String,
    #[schema(value_type = Object)]
    pub variables: Value,
    pub parent_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl From<ProcessInstance> for InstanceView {
    fn from(i: ProcessInstance) -> Self {
        Self {
            id: i.id,
            process_id: i.process_id,
            version: i.version,
            subject: i.subject,
            state: i.state,
            status: i.status.as_str().to_owned(),
            variables: i.variables,
            parent_id: i.parent_id,
            created_at: i.created_at,
            updated_at: i.updated_at,
            ended_at: i.ended_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HistoryView {
    pub from_state: Option<String>,
    pub to_state: String,
    /// What moved the instance: `start`, `submit`, `timer`, `message`, `step`, ...
    pub trigger: String,
    pub actor: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    pub at: DateTime<Utc>,
}

impl From<HistoryEntry> for HistoryView {
    fn from(h: HistoryEntry) -> Self {
        Self {
            from_state: h.from_state,
            to_state: h.to_state,
            trigger: h.trigger,
            actor: h.actor,
            data: h.data,
            at: h.at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventView {
    pub instance_id: Option<Uuid>,
    pub process_id: String,
    /// e.g. `fraflytning-planlagt`, `handleansvar-overdraget`.
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: Value,
    pub at: DateTime<Utc>,
}

impl From<TimelineEvent> for EventView {
    fn from(e: TimelineEvent) -> Self {
        Self {
            instance_id: e.instance_id,
            process_id: e.process_id,
            kind: e.kind,
            data: e.data,
            at: e.at,
        }
    }
}
