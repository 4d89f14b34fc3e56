//! Background jobs (admins): the jobs there are, the schedule table, running a job now, and
//! the logbook of runs.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use forlob_engine::Role;
use forlob_engine::definition::ParameterKind;
use forlob_engine::jobs::{JobRun, JobRunDetail, LogbookFilter, Schedule};
use forlob_engine::runtime::RunRequest;
use forlob_engine::schedule::{Misfire, Overlap, ScheduleRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{Json, OptionalJson, Path, Query};
use crate::auth::Caller;
use crate::error::{AppError, ErrorBody, Result};
use crate::state::AppState;

const ADMINS: &[Role] = &[Role::Admin];
/// Details shown with one run at most; a run over 100,000 persons has its counts for the rest.
const DETAIL_LIMIT: u64 = 1000;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(run_job))
        .routes(routes!(list_schedules, create_schedule))
        .routes(routes!(get_schedule, remove_schedule))
        .routes(routes!(run_schedule))
        .routes(routes!(logbook))
        .routes(routes!(job_run))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobView {
    pub process: String,
    pub title: String,
    pub time_zone: String,
    pub parameters: Vec<ParameterView>,
    /// Jobs that should start only after a run of this one ended (R27 warnings).
    pub finish_before: Vec<String>,
    /// Set for an exceptional job: running or scheduling it needs `confirmed: true`.
    pub confirm: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ParameterView {
    pub name: String,
    pub label: Option<String>,
    /// `string`, `integer`, `boolean`, `date` or `choice`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A choice's values.
    pub options: Vec<String>,
    /// The same options as people see them (e.g. `2281 Sundsvall` for `2281`).
    pub option_labels: Vec<String>,
    /// Of the parameter's type: text, a number or true/false.
    pub default: Option<Value>,
}

pub(crate) fn jobs(state: &AppState) -> Vec<JobView> {
    let mut jobs: Vec<JobView> = state
        .engine
        .catalog()
        .latest_all()
        .into_iter()
        .filter_map(|(_, def)| {
            let job = def.job.as_ref()?;
            Some(JobView {
                process: def.id.clone(),
                title: def.title.clone(),
                time_zone: def.timezone.name().to_owned(),
                parameters: job
                    .parameters
                    .iter()
                    .map(|(name, p)| {
                        let (kind, choices): (_, &[forlob_engine::form::Choice]) = match &p.kind {
                            ParameterKind::String => ("string", &[]),
                            ParameterKind::Integer => ("integer", &[]),
                            ParameterKind::Boolean => ("boolean", &[]),
                            ParameterKind::Date => ("date", &[]),
                            ParameterKind::Choice(options) => ("choice", options),
                        };
                        ParameterView {
                            name: name.clone(),
                            label: p.label.clone(),
                            kind: kind.to_owned(),
                            options: choices.iter().map(|c| c.value.clone()).collect(),
                            option_labels: choices.iter().map(|c| c.label.clone()).collect(),
                            default: p.default.clone(),
                        }
                    })
                    .collect(),
                finish_before: job.finish_before.clone(),
                confirm: job.confirm.clone(),
            })
        })
        .collect();
    jobs.sort_by(|a, b| a.title.cmp(&b.title));
    jobs
}

/// The background jobs that can be scheduled or run now, with their parameters.
#[utoipa::path(get, path = "/jobs", tag = "jobs",
    responses((status = 200, body = Vec<JobView>), (status = 403, body = ErrorBody)))]
async fn list_jobs(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<JobView>>> {
    caller.require(ADMINS)?;
    state.engine.refresh_catalog().await?;
    Ok(Json(jobs(&state)))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScheduleView {
    pub id: Uuid,
    pub process: String,
    pub label: String,
    /// The cron expression the schedule fires by (a weekly schedule's, compiled).
    pub cron: String,
    pub start_date: NaiveDate,
    /// `HH:MM`, for a schedule made from a time and weekdays.
    pub start_time: Option<String>,
    pub weekdays: Vec<String>,
    pub time_zone: String,
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
    /// `latest`, `skip` or `all`.
    pub misfire: String,
    /// `skip` or `queue`.
    pub overlap: String,
    pub next_fire_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// R27: where a run of this job would, by its recent durations, still be going when a job
    /// that should come after it starts (or the reverse). Never blocks.
    pub warnings: Vec<String>,
}

impl ScheduleView {
    fn new(s: Schedule, warnings: Vec<String>) -> Self {
        Self {
            id: s.id,
            process: s.process,
            label: s.label,
            cron: s.cron,
            start_date: s.start_date,
            start_time: s.start_time,
            weekdays: s.weekdays,
            time_zone: s.time_zone,
            parameters: s.parameters,
            misfire: s.misfire.as_str().to_owned(),
            overlap: s.overlap.as_str().to_owned(),
            next_fire_at: s.next_fire_at,
            created_at: s.created_at,
            created_by: s.created_by,
            warnings,
        }
    }
}

/// Every live schedule with its warnings, said by `say` (in English for the API, in the
/// viewer's language for the page).
pub(crate) async fn schedule_views(
    state: &AppState,
    say: impl Fn(&[forlob_engine::message::Message]) -> Vec<String>,
) -> Result<Vec<ScheduleView>> {
    Ok(state
        .engine
        .jobs()
        .schedules_with_warnings()
        .await?
        .into_iter()
        .map(|(schedule, warnings)| ScheduleView::new(schedule, say(&warnings)))
        .collect())
}

/// The schedule table: every schedule not removed, with its next firing and warnings.
#[utoipa::path(get, path = "/schedules", tag = "jobs",
    responses((status = 200, body = Vec<ScheduleView>), (status = 403, body = ErrorBody)))]
async fn list_schedules(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ScheduleView>>> {
    caller.require(ADMINS)?;
    Ok(Json(schedule_views(&state, english).await?))
}

/// A schedule to make: a start time with weekdays ("Start job"), or a cron expression.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSchedule {
    /// The job's process id.
    pub process: String,
    pub label: Option<String>,
    /// First day it may fire, `YYYY-MM-DD` in its zone; default today. Not in the past.
    pub start_date: Option<String>,
    /// `HH:MM`, with `weekdays`.
    pub start_time: Option<String>,
    /// `mon` … `sun`; at least one, with `start_time`.
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// A cron expression instead of `start_time` and `weekdays`, e.g. `0 4 * * *`.
    pub cron: Option<String>,
    /// IANA zone; default the job's.
    pub time_zone: Option<String>,
    /// Checked against the job's declared parameters; defaults filled in.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
    /// `latest` (default), `skip` or `all`: firings missed while no node ran.
    #[schema(value_type = Option<String>)]
    pub misfire: Option<Misfire>,
    /// `skip` (default) or `queue`: a firing while the previous run goes on.
    #[schema(value_type = Option<String>)]
    pub overlap: Option<Overlap>,
    /// Needed for an exceptional job (one with a `confirm` text).
    #[serde(default)]
    pub confirmed: bool,
}

impl From<NewSchedule> for ScheduleRequest {
    fn from(n: NewSchedule) -> Self {
        Self {
            process: n.process,
            label: n.label,
            start_date: n.start_date.filter(|d| !d.trim().is_empty()),
            start_time: n.start_time.filter(|t| !t.trim().is_empty()),
            weekdays: n.weekdays,
            cron: n.cron.filter(|c| !c.trim().is_empty()),
            time_zone: n.time_zone.filter(|z| !z.trim().is_empty()),
            parameters: n.parameters,
            misfire: n.misfire.unwrap_or_default(),
            overlap: n.overlap.unwrap_or_default(),
            confirmed: n.confirmed,
        }
    }
}

/// Adds a row to the schedule table (R24). Refused with a message per field when the job,
/// time, weekdays, cron expression, zone, start date or parameters are wrong, or it would
/// never fire; an overlap with a job that should come after it is a warning (R27).
#[utoipa::path(post, path = "/schedules", tag = "jobs", request_body = NewSchedule,
    responses((status = 201, body = ScheduleView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<NewSchedule>,
) -> Result<(StatusCode, Json<ScheduleView>)> {
    caller.require(ADMINS)?;
    let made = state
        .engine
        .jobs()
        .create_schedule(&request.into(), &caller.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ScheduleView::new(made.schedule, english(&made.warnings))),
    ))
}

/// One schedule.
#[utoipa::path(get, path = "/schedules/{id}", tag = "jobs", params(("id" = Uuid, Path, description = "schedule id")),
    responses((status = 200, body = ScheduleView), (status = 404, body = ErrorBody)))]
async fn get_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<ScheduleView>> {
    caller.require(ADMINS)?;
    let schedule = state.engine.jobs().schedule(id).await?;
    if schedule.removed_at.is_some() {
        return Err(AppError::not_found(format!("schedule {id} was removed")));
    }
    let warnings = state.engine.jobs().schedule_warnings(&schedule).await?;
    Ok(Json(ScheduleView::new(schedule, english(&warnings))))
}

/// Removes a schedule (R25): it fires no more; a run in progress goes on. The body (a reason
/// for the audit log) may be left out.
#[utoipa::path(delete, path = "/schedules/{id}", tag = "jobs", params(("id" = Uuid, Path, description = "schedule id")),
    request_body = Option<super::admin::ReasonRequest>,
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody),
        (status = 409, description = "removed already", body = ErrorBody)))]
async fn remove_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    OptionalJson(request): OptionalJson<super::admin::ReasonRequest>,
) -> Result<StatusCode> {
    caller.require(ADMINS)?;
    state
        .engine
        .jobs()
        .remove_schedule(id, &caller.actor(), request.reason.trim())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobRunView {
    pub id: i64,
    pub schedule_id: Option<Uuid>,
    pub process: String,
    pub instance_id: Option<Uuid>,
    pub fire_at: DateTime<Utc>,
    /// `schedule`, `misfire` or `manual`.
    pub trigger: String,
    /// `running`, `succeeded`, `failed`, `cancelled`, `skipped`, `missed`, `queued` or
    /// `ended_after_skip` (ended after an admin skipped a failed step).
    pub status: String,
    pub reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub requested_by: Option<String>,
    pub progress_done: i64,
    pub progress_total: Option<i64>,
    #[schema(value_type = Object)]
    pub counts: Map<String, Value>,
}

impl From<JobRun> for JobRunView {
    fn from(r: JobRun) -> Self {
        Self {
            id: r.id,
            schedule_id: r.schedule_id,
            process: r.process,
            instance_id: r.instance_id,
            fire_at: r.fire_at,
            trigger: r.trigger,
            status: r.status.as_str().to_owned(),
            reason: r.reason,
            started_at: r.started_at,
            ended_at: r.ended_at,
            requested_by: r.requested_by,
            progress_done: r.progress_done,
            progress_total: r.progress_total,
            counts: r.counts,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunNow {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
    /// Needed for an exceptional job (one with a `confirm` text).
    #[serde(default)]
    pub confirmed: bool,
}

/// Runs a job now, outside any schedule, with the parameters given.
#[utoipa::path(post, path = "/jobs/{process}/runs", tag = "jobs", request_body = RunNow,
    params(("process" = String, Path, description = "the job's process id")),
    responses((status = 201, body = JobRunView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn run_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(process): Path<String>,
    Json(request): Json<RunNow>,
) -> Result<(StatusCode, Json<JobRunView>)> {
    let request = RunRequest {
        process: Some(process),
        schedule: None,
        parameters: request.parameters,
        confirmed: request.confirmed,
    };
    run_now(&state, &caller, &request).await
}

async fn run_now(
    state: &AppState,
    caller: &Caller,
    request: &RunRequest,
) -> Result<(StatusCode, Json<JobRunView>)> {
    caller.require(ADMINS)?;
    let run = state
        .engine
        .jobs()
        .run_job_now(request, &caller.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(run.into())))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunSchedule {
    /// Needed for an exceptional job (one with a `confirm` text).
    #[serde(default)]
    pub confirmed: bool,
}

/// Runs a schedule's job now, with the schedule's parameters ("run now").
#[utoipa::path(post, path = "/schedules/{id}/run", tag = "jobs", request_body = RunSchedule,
    params(("id" = Uuid, Path, description = "schedule id")),
    responses((status = 201, body = JobRunView), (status = 404, body = ErrorBody),
        (status = 409, description = "removed, or just started by someone else", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn run_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(request): Json<RunSchedule>,
) -> Result<(StatusCode, Json<JobRunView>)> {
    let request = RunRequest {
        schedule: Some(id),
        confirmed: request.confirmed,
        ..RunRequest::default()
    };
    run_now(&state, &caller, &request).await
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogbookQuery {
    pub process: Option<String>,
    pub schedule: Option<Uuid>,
    /// Runs with an id below this (the next page).
    pub before: Option<i64>,
    /// At most this many (1..=500, default 100).
    pub limit: Option<u64>,
}

impl LogbookQuery {
    pub(crate) fn filter(&self) -> Result<LogbookFilter> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=500).contains(&limit) {
            return Err(AppError::invalid([("limit", "must be between 1 and 500")]));
        }
        Ok(LogbookFilter {
            process: self.process.clone().filter(|p| !p.trim().is_empty()),
            schedule: self.schedule,
            before: self.before,
            limit,
        })
    }
}

/// The logbook (R26): every firing and run, newest first — started, skipped, missed or
/// queued — with status, times, progress and counts.
#[utoipa::path(get, path = "/logbook", tag = "jobs", params(LogbookQuery),
    responses((status = 200, body = Vec<JobRunView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn logbook(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<LogbookQuery>,
) -> Result<Json<Vec<JobRunView>>> {
    caller.require(ADMINS)?;
    let runs = state.engine.jobs().logbook(&query.filter()?).await?;
    Ok(Json(runs.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobRunDetailView {
    /// e.g. `requested`, `updated`, `deferred`, `failed`.
    pub kind: String,
    pub subject: Option<String>,
    pub message: String,
    pub at: DateTime<Utc>,
}

impl From<JobRunDetail> for JobRunDetailView {
    fn from(d: JobRunDetail) -> Self {
        Self {
            kind: d.kind,
            subject: d.subject,
            message: d.message,
            at: d.at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobRunDetailed {
    pub run: JobRunView,
    /// What the run did, line by line (the first 1,000).
    pub details: Vec<JobRunDetailView>,
}

/// One run with its details: what was requested, updated, deferred or failed, and why.
#[utoipa::path(get, path = "/logbook/{id}", tag = "jobs", params(("id" = i64, Path, description = "run id")),
    responses((status = 200, body = JobRunDetailed), (status = 404, body = ErrorBody)))]
async fn job_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<JobRunDetailed>> {
    caller.require(ADMINS)?;
    let (run, details) = state.engine.jobs().job_run(id, DETAIL_LIMIT).await?;
    Ok(Json(JobRunDetailed {
        run: run.into(),
        details: details.into_iter().map(Into::into).collect(),
    }))
}

/// Warnings as the API says them: in English.
fn english(warnings: &[forlob_engine::message::Message]) -> Vec<String> {
    warnings.iter().map(ToString::to_string).collect()
}
