//! Background jobs as people see them: schedules, the logbook of runs, and [`JobLog`], through
//! which a job's actions report progress, counts and details.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::action::{ActionContext, ActionError};
use crate::schedule::{Misfire, Overlap};
use crate::store;

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

/// A job's report to its logbook entry, from inside one of its actions.
///
/// Writes go through the action's transaction: a chunk that fails leaves no counts or details
/// for work it did not do, and a chunk that commits shows its progress at once to the UI,
/// the API and `forlob jobs log`. Outside a job run (an action shared with ordinary
/// processes) every call does nothing.
pub struct JobLog<'a> {
    ctx: &'a ActionContext<'a>,
}

impl<'a> JobLog<'a> {
    pub fn of(ctx: &'a ActionContext<'a>) -> Self {
        Self { ctx }
    }

    /// The logbook id of the run, `None` outside a job run.
    pub async fn run_id(&self) -> Result<Option<i64>, ActionError> {
        Ok(store::jobs::run_id_of(self.ctx.conn, self.ctx.instance_id).await?)
    }

    /// How far the run is: `done` of `total` (when known).
    pub async fn progress(&self, done: i64, total: Option<i64>) -> Result<(), ActionError> {
        store::jobs::set_progress(self.ctx.conn, self.ctx.instance_id, done, total).await?;
        Ok(())
    }

    /// Adds to named counts (`updated`, `deferred`, ...).
    pub async fn count(&self, counts: &[(&str, i64)]) -> Result<(), ActionError> {
        store::jobs::add_counts(self.ctx.conn, self.ctx.instance_id, counts).await?;
        Ok(())
    }

    /// Adds lines to the run's details: what was requested, updated, deferred or failed, about
    /// whom, and why.
    pub async fn details(&self, lines: &[JobRunDetailLine<'_>]) -> Result<(), ActionError> {
        store::jobs::add_details(self.ctx.conn, self.ctx.instance_id, lines, self.ctx.now).await?;
        Ok(())
    }
}

/// A detail line as a job writes it.
#[derive(Debug, Clone, Copy)]
pub struct JobRunDetailLine<'s> {
    pub kind: &'s str,
    pub subject: Option<&'s str>,
    pub message: &'s crate::message::Message,
}
