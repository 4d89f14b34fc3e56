//! Background jobs as people see them: schedules and the logbook of runs. A job's actions
//! report to the logbook through [`crate::job_log::JobLog`].

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::schedule::{Misfire, Overlap};

/// A row of the schedule table.
#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub id: Uuid,
    pub process: String,
    pub label: String,
    pub cron: String,
    pub start_date: NaiveDate,
    /// As entered, for a weekly schedule; `None` for a cron expression.
    pub start_time: Option<String>,
    pub weekdays: Vec<String>,
    pub time_zone: String,
    pub parameters: Map<String, Value>,
    pub misfire: Misfire,
    pub overlap: Overlap,
    /// `None` once removed.
    pub next_fire_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub removed_at: Option<DateTime<Utc>>,
}

/// Where a run stands. A run that started an instance has that instance's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// The schedule's previous run was still going (overlap policy skip).
    Skipped,
    /// Missed while no node ran, and not run (misfire policy).
    Missed,
    /// Waiting for the schedule's previous run to end (overlap policy queue).
    Queued,
    /// Ended after an admin skipped a step that had failed (an incident of the run's instance
    /// was resolved by a skip): not a plain success, and shown apart from one.
    EndedAfterSkip,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
            Self::Missed => "missed",
            Self::Queued => "queued",
            Self::EndedAfterSkip => "ended_after_skip",
        }
    }
}

/// One entry of the logbook.
#[derive(Debug, Clone, Serialize)]
pub struct JobRun {
    pub id: i64,
    pub schedule_id: Option<Uuid>,
    pub process: String,
    pub instance_id: Option<Uuid>,
    /// The firing's time (for a run by hand, when it was asked for).
    pub fire_at: DateTime<Utc>,
    /// `schedule`, `misfire` (run at start-up for a firing missed while down) or `manual`.
    pub trigger: String,
    pub status: RunStatus,
    /// Why it was skipped, missed or failed.
    pub reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub requested_by: Option<String>,
    pub progress_done: i64,
    pub progress_total: Option<i64>,
    /// Named counts, e.g. `{"requested": 812, "updated": 790, "deferred": 22}`.
    pub counts: Map<String, Value>,
}

impl JobRun {
    pub fn duration(&self) -> Option<chrono::Duration> {
        Some(self.ended_at? - self.started_at?)
    }
}

/// One line of a run's details.
#[derive(Debug, Clone, Serialize)]
pub struct JobRunDetail {
    pub kind: String,
    pub subject: Option<String>,
    /// What happened, in English.
    pub message: String,
    pub at: DateTime<Utc>,
    /// The message's code, by which a reader gets it in their language; lines written
    /// before codes have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The code's arguments.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<(String, String)>,
}

impl JobRunDetail {
    /// The message with `template` (the code's text in a reader's language) if there is one
    /// and the line has a code; the English text otherwise.
    pub fn text(&self, template: Option<&str>) -> String {
        match (&self.code, template) {
            (Some(_), Some(template)) => crate::message::fill(template, &self.args),
            _ => self.message.clone(),
        }
    }
}

/// Which of a run's details to show: of one kind, and containing a text in the subject or
/// the message (ignoring case).
#[derive(Debug, Clone, Default)]
pub struct DetailFilter {
    pub kind: Option<String>,
    pub text: Option<String>,
}

/// Which runs the logbook shows, newest first.
#[derive(Debug, Clone, Default)]
pub struct LogbookFilter {
    pub process: Option<String>,
    pub schedule: Option<Uuid>,
    /// Only runs with an id below this (paging).
    pub before: Option<i64>,
    pub limit: u64,
}

/// A detail line as a job writes it.
#[derive(Debug, Clone, Copy)]
pub struct JobRunDetailLine<'s> {
    pub kind: &'s str,
    pub subject: Option<&'s str>,
    pub message: &'s crate::message::Message,
}
