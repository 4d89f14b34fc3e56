//! Firing schedules: each firing starts its job once, as durable as any transition.
//!
//! `fire_due_schedules` runs at the start of every `run_due`, so the worker loop, `advance_to`
//! on a manual clock and the scenario runner all fire schedules the same way. Each schedule is
//! fired in a savepoint of its own (one broken schedule does not hold the others back): its
//! logbook entries, the started instance and the move of `next_fire_at` commit together. The
//! unique (schedule, fire time) index of the logbook and the guarded move of `next_fire_at`
//! make a second node that fires the same schedule at the same moment roll back, so a firing
//! starts exactly one run.

use super::WriteTxn;
use super::facades::Jobs;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Engine;
use super::execute::{StartRequest, Txn};
use crate::audit::{AuditAction, AuditRecord};
use crate::error::{EngineError, Result, TransitionError};
use crate::instance::Actor;
use crate::jobs::{DetailFilter, JobRun, JobRunDetail, LogbookFilter, RunStatus, Schedule};
use crate::message::{Code, Message};
use crate::schedule::{
    self, CheckedSchedule, Misfire, Overlap, Recurrence, ScheduleContext, ScheduleRequest,
};
use crate::store::{self, jobs::NewRun, jobs::Queued};

/// Firings run for one schedule after a downtime with the policy `all`, at most.
const MAX_CATCH_UP: usize = 100;
/// How far ahead the R27 warning looks for overlaps.
const WARNING_DAYS: i64 = 14;
/// Recent runs whose longest duration the R27 warning assumes for the next ones.
const RECENT_RUNS: u64 = 10;

/// A schedule just made, with the warnings it raised (R27; never a refusal).
#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub schedule: Schedule,
    pub warnings: Vec<Message>,
}

/// A run asked for by hand: a job with parameters, or a schedule's job with its parameters.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub process: Option<String>,
    pub schedule: Option<Uuid>,
    pub parameters: Map<String, Value>,
    /// The admin confirmed the job's `confirm` text (needed only for jobs that have one).
    pub confirmed: bool,
}

/// Who created a schedule that came with a job's definition.
const DEPLOY_ACTOR: &str = "deploy";

impl Engine {
    /// Gives a job deployed for the first time the schedule its definition declares, in the
    /// deploy's transaction, starting today. Checked with the definition already; a problem
    /// here (a zone's rules changed since?) refuses the deploy rather than a silent job.
    pub(super) async fn install_default_schedule(
        &self,
        conn: &DatabaseTransaction,
        def: &crate::definition::ProcessDefinition,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some(job) = &def.job else {
            return Ok(());
        };
        let Some(request) = &job.default_schedule else {
            return Ok(());
        };
        let context = ScheduleContext {
            job: Some(job),
            title: &def.title,
            process_zone: def.timezone,
            now,
            min_interval: self.options.schedule_min_interval,
        };
        let checked = schedule::check(request, &context).map_err(EngineError::Invalid)?;
        store::jobs::insert_schedule(conn, Uuid::now_v7(), &checked, now, DEPLOY_ACTOR).await?;
        tracing::info!(process = %def.id, first = %checked.first_firing, "default schedule installed");
        Ok(())
    }

    /// A job's text parameters, given by an admin, against the limit of one-line text.
    fn check_parameter_texts(
        &self,
        parameters: &Map<String, Value>,
        errors: &mut crate::form::FieldErrors,
    ) {
        for (name, value) in parameters {
            if let Value::String(text) = value {
                let field = format!("parameters.{name}");
                crate::limits::check(errors, &field, text, self.options.text_limits.text);
            }
        }
    }

    /// Fires every schedule due at `now` and starts queued runs whose predecessor ended;
    /// returns how many runs were started.
    pub(super) async fn fire_due_schedules(&self, now: DateTime<Utc>) -> Result<usize> {
        // A read first: most calls find nothing due and need no write lock.
        if store::jobs::next_firing(&self.db)
            .await?
            .is_none_or(|next| next > now)
        {
            return Ok(0);
        }
        let mut started = 0;
        loop {
            let (advanced, runs) = self
                .retrying(|| async {
                    let conn = self.begin_write().await?;
                    let due = store::jobs::due_schedules(&conn, now, 20).await?;
                    let (mut advanced, mut runs) = (0, 0);
                    for schedule in &due {
                        let savepoint = conn.begin().await?;
                        match self.fire(&savepoint, schedule, now).await {
                            Ok(n) => {
                                savepoint.commit().await?;
                                runs += n;
                                advanced += 1;
                            }
                            Err(e) => {
                                savepoint.rollback().await?;
                                if self.firing_failed(&conn, schedule, now, e).await? {
                                    advanced += 1;
                                }
                            }
                        }
                    }
                    self.commit(conn).await?;
                    Ok((advanced, runs))
                })
                .await?;
            started += runs;
            // Nothing moved on (none due, or another node holds them): done for this tick.
            if advanced == 0 {
                return Ok(started);
            }
        }
    }

    /// One schedule's due firings, by its misfire and overlap policies.
    async fn fire(
        &self,
        conn: &WriteTxn,
        schedule: &Schedule,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let Some(due_at) = schedule.next_fire_at else {
            return Ok(0);
        };
        let (zone, recurrence) = recurrence_of(schedule).map_err(|e| {
            EngineError::invalid(
                "schedule",
                Message::new(Code::BROKEN_SCHEDULE).with("problem", e),
            )
        })?;
        let mut firings = vec![due_at];
        firings.extend(recurrence.firings_between(due_at, now, 10_000));
        let threshold = chrono::Duration::from_std(self.options.misfire_threshold)
            .unwrap_or(chrono::Duration::minutes(1));
        let (late, timely): (Vec<_>, Vec<_>) =
            firings.into_iter().partition(|f| now - *f > threshold);
        let (run_late, missed): (Vec<_>, Vec<_>) = match (schedule.misfire, timely.is_empty()) {
            (Misfire::Latest, true) => {
                let mut late = late;
                let last = late.pop();
                (last.into_iter().collect(), late)
            }
            (Misfire::All, _) => {
                let cut = late.len().min(MAX_CATCH_UP);
                let mut late = late;
                let rest = late.split_off(cut);
                (late, rest)
            }
            _ => (Vec::new(), late),
        };
        self.log_missed(conn, schedule, &missed).await?;
        let mut started = 0;
        for (fire_at, trigger) in run_late
            .into_iter()
            .map(|f| (f, "misfire"))
            .chain(timely.into_iter().map(|f| (f, "schedule")))
        {
            started += usize::from(
                self.fire_once(conn, schedule, zone, fire_at, trigger, now)
                    .await?,
            );
        }
        let next = recurrence.next_after(now).filter(|next| *next > now);
        if !store::jobs::set_next_firing(conn, schedule.id, due_at, next).await? {
            return Err(TransitionError::Raced(format!(
                "schedule {} fired elsewhere",
                schedule.id
            ))
            .into());
        }
        Ok(started)
    }

    /// Starts the run of one firing, or logs why it did not start. True when it started.
    async fn fire_once(
        &self,
        conn: &WriteTxn,
        schedule: &Schedule,
        zone: Tz,
        fire_at: DateTime<Utc>,
        trigger: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let busy = store::jobs::schedule_has_active_run(conn, schedule.id).await?;
        let (outcome, reason) = match (busy, schedule.overlap) {
            (false, _) => (None, None),
            (true, Overlap::Skip) => (
                Some(RunStatus::Skipped),
                Some("the schedule's previous run was still running".to_owned()),
            ),
            (true, Overlap::Queue) => (
                Some(RunStatus::Queued),
                Some("waits for the schedule's previous run to end".to_owned()),
            ),
        };
        let run = NewRun {
            schedule_id: Some(schedule.id),
            process: &schedule.process,
            instance_id: None,
            fire_at,
            trigger,
            outcome,
            reason,
            started_at: outcome.is_none().then_some(now),
            requested_by: None,
        };
        let Some(run_id) = store::jobs::insert_run(conn, run).await? else {
            return Err(TransitionError::Raced(format!(
                "the firing of schedule {} at {fire_at} is logged already",
                schedule.id
            ))
            .into());
        };
        if outcome.is_some() {
            return Ok(false);
        }
        self.start_run(conn, schedule, zone, run_id, fire_at, now)
            .await?;
        Ok(true)
    }

    async fn start_run(
        &self,
        conn: &WriteTxn,
        schedule: &Schedule,
        zone: Tz,
        run_id: i64,
        fire_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let catalog = self.catalog();
        let (version, def) = catalog
            .latest(&schedule.process)
            .ok_or_else(|| EngineError::not_found("process", &schedule.process))?;
        let mut tx = Txn::new(conn, now);
        let request = StartRequest {
            def: def.clone(),
            version,
            subject: run_subject(run_id),
            vars: schedule::run_vars(&schedule.parameters, fire_at, zone),
            parent: None,
            actor: None,
            job_run: Some(run_id),
            started_in: None,
        };
        self.start_in(&mut tx, request).await?;
        tx.flush().await
    }

    async fn log_missed(
        &self,
        conn: &DatabaseTransaction,
        schedule: &Schedule,
        missed: &[DateTime<Utc>],
    ) -> Result<()> {
        // A long downtime of a frequent schedule would fill the logbook; the newest say enough.
        let shown = &missed[missed.len().saturating_sub(MAX_CATCH_UP)..];
        let earlier = missed.len() - shown.len();
        for (i, fire_at) in shown.iter().enumerate() {
            let mut reason = format!(
                "missed while no node was running (misfire policy {})",
                schedule.misfire.as_str()
            );
            if i == 0 && earlier > 0 {
                reason.push_str(&format!("; {earlier} earlier firings were missed too"));
            }
            let run = NewRun {
                schedule_id: Some(schedule.id),
                process: &schedule.process,
                instance_id: None,
                fire_at: *fire_at,
                trigger: "schedule",
                outcome: Some(RunStatus::Missed),
                reason: Some(reason),
                started_at: None,
                requested_by: None,
            };
            store::jobs::insert_run(conn, run).await?;
        }
        Ok(())
    }

    /// A firing that could not start its job (the process is gone, its first step cannot be
    /// entered): logged as skipped with the reason, and the schedule moves on, so one broken
    /// job does not stop the scheduler; true then. A conflict (another node fired it) logs
    /// nothing and moves nothing: false.
    async fn firing_failed(
        &self,
        conn: &DatabaseTransaction,
        schedule: &Schedule,
        now: DateTime<Utc>,
        error: EngineError,
    ) -> Result<bool> {
        match error {
            EngineError::Store(e) => return Err(EngineError::Store(e)),
            EngineError::Transition(TransitionError::Raced(_)) => return Ok(false),
            _ => {}
        }
        tracing::error!(schedule = %schedule.id, process = %schedule.process, error = %error, "a firing could not start its job");
        let Some(due_at) = schedule.next_fire_at else {
            return Ok(false);
        };
        let run = NewRun {
            schedule_id: Some(schedule.id),
            process: &schedule.process,
            instance_id: None,
            fire_at: due_at,
            trigger: "schedule",
            outcome: Some(RunStatus::Skipped),
            reason: Some(format!("could not start: {error}")),
            started_at: None,
            requested_by: None,
        };
        store::jobs::insert_run(conn, run).await?;
        let next = recurrence_of(schedule)
            .ok()
            .and_then(|(_, r)| r.next_after(now));
        Ok(store::jobs::set_next_firing(conn, schedule.id, due_at, next).await?)
    }

    /// Queued firings whose schedule has no run going any more start now, oldest first.
    pub(super) async fn start_queued_runs(&self, now: DateTime<Utc>) -> Result<usize> {
        // A read first: most ticks have nothing queued and need no write lock.
        if store::jobs::queued_runs(&self.db).await?.is_empty() {
            return Ok(0);
        }
        self.retrying(|| async {
            let conn = self.begin_write().await?;
            let started = self.start_queued(&conn, now).await?;
            self.commit(conn).await?;
            Ok(started)
        })
        .await
    }

    async fn start_queued(&self, conn: &WriteTxn, now: DateTime<Utc>) -> Result<usize> {
        let mut started = 0;
        let mut busy = std::collections::HashSet::new();
        for run in store::jobs::queued_runs(conn).await? {
            let Some(schedule_id) = run.schedule_id else {
                continue;
            };
            // One queued run per schedule and round: the first one starts, or the schedule
            // is busy and the rest wait too.
            if !busy.insert(schedule_id) {
                continue;
            }
            // Another node's firing of this schedule waits for us (and we for it) on PostgreSQL.
            store::jobs::lock_schedule(conn, schedule_id).await?;
            if store::jobs::schedule_has_active_run(conn, schedule_id).await? {
                continue;
            }
            let Some(schedule) = store::jobs::schedule_by_id(conn, schedule_id).await? else {
                continue;
            };
            let zone = recurrence_of(&schedule).map_or(chrono_tz::UTC, |(zone, _)| zone);
            let savepoint = conn.begin().await?;
            match self
                .start_run(&savepoint, &schedule, zone, run.id, run.fire_at, now)
                .await
            {
                Ok(()) => {
                    savepoint.commit().await?;
                    started += 1;
                }
                // Another node started it a moment ago.
                Err(EngineError::Transition(TransitionError::Raced(_))) => {
                    savepoint.rollback().await?;
                }
                Err(EngineError::Store(e)) => return Err(EngineError::Store(e)),
                // It cannot start (the job is gone, its first step fails): it will not, and
                // the queue behind it goes on.
                Err(e) => {
                    savepoint.rollback().await?;
                    tracing::error!(run = run.id, error = %e, "a queued run could not start");
                    let reason = format!("could not start: {e}");
                    store::jobs::skip_queued(conn, Queued::Run(run.id), &reason).await?;
                }
            }
        }
        Ok(started)
    }

    /// `schedule`'s warnings against the `live` schedules; `durations` remembers each job's
    /// longest recent run across calls.
    async fn warnings_among(
        &self,
        schedule: &Schedule,
        live: &[Schedule],
        durations: &mut HashMap<String, Option<chrono::Duration>>,
    ) -> Result<Vec<Message>> {
        let catalog = self.catalog();
        let finish_before = |process: &str| -> Vec<String> {
            catalog
                .latest(process)
                .and_then(|(_, d)| d.job.as_ref().map(|j| j.finish_before.clone()))
                .unwrap_or_default()
        };
        // Pairs (earlier job's schedule, later job's schedule) that involve this schedule.
        let mut pairs = Vec::new();
        for other in live {
            if other.id == schedule.id {
                continue;
            }
            if finish_before(&schedule.process).contains(&other.process) {
                pairs.push((schedule, other));
            }
            if finish_before(&other.process).contains(&schedule.process) {
                pairs.push((other, schedule));
            }
        }
        let now = self.clock.now();
        let until = now + chrono::Duration::days(WARNING_DAYS);
        let mut warnings = Vec::new();
        for (earlier, later) in pairs {
            let longest = match durations.get(&earlier.process) {
                Some(known) => *known,
                None => {
                    let found = self.longest_recent_run(&earlier.process).await?;
                    durations.insert(earlier.process.clone(), found);
                    found
                }
            };
            let Some(longest) = longest else {
                continue;
            };
            let (Some(first), Some(second)) =
                (firings(earlier, now, until), firings(later, now, until))
            else {
                continue;
            };
            let clash = first.iter().find_map(|start| {
                let end = *start + longest;
                second
                    .iter()
                    .find(|g| *g >= start && **g < end)
                    .map(|g| (*start, *g))
            });
            if let Some((start, other_start)) = clash {
                let zone = earlier.time_zone.parse::<Tz>().unwrap_or(chrono_tz::UTC);
                let at = |t: DateTime<Utc>| t.with_timezone(&zone).format("%Y-%m-%d %H:%M");
                warnings.push(
                    Message::new(Code::SCHEDULE_OVERLAP)
                        .with("earlier", &earlier.label)
                        .with("start", at(start))
                        .with("minutes", longest.num_minutes().max(1))
                        .with("later", &later.label)
                        .with("later_start", at(other_start)),
                );
            }
        }
        Ok(warnings)
    }

    async fn longest_recent_run(&self, process: &str) -> Result<Option<chrono::Duration>> {
        let filter = LogbookFilter {
            process: Some(process.to_owned()),
            limit: RECENT_RUNS,
            ..LogbookFilter::default()
        };
        Ok(store::jobs::logbook(&self.db, &filter)
            .await?
            .iter()
            .filter_map(JobRun::duration)
            .max())
    }

    /// The logbook entry of a job instance, to attach before its first step runs.
    pub(super) async fn attach_job_run<C: ConnectionTrait>(
        &self,
        conn: &C,
        def: &crate::definition::ProcessDefinition,
        run: Option<i64>,
        instance_id: Uuid,
        now: DateTime<Utc>,
        actor: Option<&Actor>,
    ) -> Result<()> {
        match run {
            Some(run_id) => {
                if !store::jobs::attach_instance(conn, run_id, instance_id, now).await? {
                    return Err(TransitionError::Raced(format!(
                        "job run {run_id} was started elsewhere"
                    ))
                    .into());
                }
            }
            // Started by hand or as a follow-up: it gets its logbook entry here.
            None => {
                let run = NewRun {
                    schedule_id: None,
                    process: &def.id,
                    instance_id: Some(instance_id),
                    fire_at: now,
                    trigger: "manual",
                    outcome: None,
                    reason: None,
                    started_at: Some(now),
                    requested_by: actor.map(|a| a.id.as_str()),
                };
                store::jobs::insert_run(conn, run).await?;
            }
        }
        Ok(())
    }
}

/// The subject id of a job run's instance: the run, so its history and logbook entry meet.
fn run_subject(run_id: i64) -> String {
    format!("run-{run_id}")
}

/// A stored schedule's zone and recurrence; an error only for rows no check of ours wrote.
fn recurrence_of(s: &Schedule) -> std::result::Result<(Tz, Recurrence), String> {
    let zone = s
        .time_zone
        .parse::<Tz>()
        .map_err(|_| format!("unknown time zone {}", s.time_zone))?;
    Ok((zone, Recurrence::new(&s.cron, zone, s.start_date)?))
}

fn firings(s: &Schedule, now: DateTime<Utc>, until: DateTime<Utc>) -> Option<Vec<DateTime<Utc>>> {
    let (_, recurrence) = recurrence_of(s).ok()?;
    Some(recurrence.firings_between(now, until, 500))
}

impl Jobs<'_> {
    /// Checks and stores a schedule; refused with a message per field (422) when the process
    /// is not a job, the time, weekdays, cron expression, zone, start date or parameters are
    /// wrong, or it would never fire.
    #[tracing::instrument(skip(self, request, actor), fields(actor = %actor.id, process = %request.process))]
    pub async fn create_schedule(
        self,
        request: &ScheduleRequest,
        actor: &Actor,
    ) -> Result<NewSchedule> {
        self.engine.refresh_catalog().await?;
        let checked = self.check_schedule(request)?;
        let id = Uuid::now_v7();
        self.engine
            .retrying(|| async {
                let conn = self.engine.begin_write().await?;
                store::jobs::insert_schedule(
                    &conn,
                    id,
                    &checked,
                    self.engine.clock.now(),
                    &actor.id,
                )
                .await?;
                let record = AuditRecord::new(AuditAction::ScheduleAdd)
                    .target(id)
                    .detail(json!({
                        "process": checked.process,
                        "label": checked.label,
                        "start_time": checked.start_time,
                        "weekdays": checked.weekdays,
                        "parameters": checked.parameters,
                        "first_firing": checked.first_firing,
                    }));
                self.engine.commit_recorded(conn, actor, record).await
            })
            .await?;
        let schedule = store::jobs::schedule_by_id(&self.engine.db, id)
            .await?
            .ok_or_else(|| EngineError::not_found("schedule", id))?;
        let warnings = self.schedule_warnings(&schedule).await?;
        tracing::info!(schedule = %id, first = %checked.first_firing, "schedule created");
        Ok(NewSchedule { schedule, warnings })
    }

    /// The checks of a schedule request against the job's definition and the clock.
    pub fn check_schedule(self, request: &ScheduleRequest) -> Result<CheckedSchedule> {
        if request.process.trim().is_empty() {
            return Err(EngineError::invalid(
                "process",
                Message::new(Code::JOB_NEEDED),
            ));
        }
        let catalog = self.engine.catalog();
        let Some((_, def)) = catalog.latest(&request.process) else {
            return Err(EngineError::invalid(
                "process",
                Message::new(Code::UNKNOWN_PROCESS).with("process", &request.process),
            ));
        };
        let context = ScheduleContext {
            job: def.job.as_ref(),
            title: &def.title,
            process_zone: def.timezone,
            now: self.engine.clock.now(),
            min_interval: self.engine.options.schedule_min_interval,
        };
        let mut errors = crate::form::FieldErrors::new();
        if let Some(label) = &request.label {
            crate::limits::check(
                &mut errors,
                "label",
                label,
                self.engine.options.text_limits.name,
            );
        }
        self.engine
            .check_parameter_texts(&request.parameters, &mut errors);
        match schedule::check(request, &context) {
            Ok(checked) if errors.is_empty() => Ok(checked),
            Ok(_) => Err(EngineError::Invalid(errors)),
            Err(mut more) => {
                more.extend(errors);
                Err(EngineError::Invalid(more))
            }
        }
    }

    /// Stops a schedule from firing again (R25). A run in progress goes on (Q13); firings
    /// queued behind it are dropped, as they belong to the schedule.
    #[tracing::instrument(skip(self, actor), fields(actor = %actor.id))]
    pub async fn remove_schedule(self, id: Uuid, actor: &Actor, reason: &str) -> Result<()> {
        crate::limits::require_fits("reason", reason, self.engine.options.text_limits.reason)?;
        self.engine
            .retrying(|| async {
                let conn = self.engine.begin_write().await?;
                let now = self.engine.clock.now();
                if !store::jobs::remove_schedule(&conn, id, now, &actor.id).await? {
                    return Err(match store::jobs::schedule_by_id(&conn, id).await? {
                        Some(_) => {
                            TransitionError::Raced(format!("schedule {id} is removed already"))
                                .into()
                        }
                        None => EngineError::not_found("schedule", id),
                    });
                }
                store::jobs::skip_queued(&conn, Queued::OfSchedule(id), "the schedule was removed")
                    .await?;
                self.engine
                    .commit_recorded(
                        conn,
                        actor,
                        AuditRecord::new(AuditAction::ScheduleRemove)
                            .target(id)
                            .reason(reason),
                    )
                    .await
            })
            .await
    }

    /// The schedule table: every schedule not removed, oldest first.
    pub async fn schedules(self) -> Result<Vec<Schedule>> {
        Ok(store::jobs::schedules(&self.engine.db, false).await?)
    }

    pub async fn schedule(self, id: Uuid) -> Result<Schedule> {
        store::jobs::schedule_by_id(&self.engine.db, id)
            .await?
            .ok_or_else(|| EngineError::not_found("schedule", id))
    }

    /// The logbook, newest first.
    pub async fn logbook(self, filter: &LogbookFilter) -> Result<Vec<JobRun>> {
        Ok(store::jobs::logbook(&self.engine.db, filter).await?)
    }

    /// One run with (up to `detail_limit` of) its details.
    pub async fn job_run(self, id: i64, detail_limit: u64) -> Result<(JobRun, Vec<JobRunDetail>)> {
        self.job_run_filtered(id, &DetailFilter::default(), detail_limit)
            .await
    }

    /// One run with (up to `detail_limit` of) the details `filter` lets through.
    pub async fn job_run_filtered(
        self,
        id: i64,
        filter: &DetailFilter,
        detail_limit: u64,
    ) -> Result<(JobRun, Vec<JobRunDetail>)> {
        let run = store::jobs::job_run(&self.engine.db, id)
            .await?
            .ok_or_else(|| EngineError::not_found("job run", id))?;
        let details =
            store::jobs::job_run_details(&self.engine.db, id, filter, detail_limit).await?;
        Ok((run, details))
    }

    /// Starts a job now, outside its schedule: with the schedule's parameters when a schedule
    /// is named, else with the ones given (checked like a schedule's).
    #[tracing::instrument(skip(self, request, actor), fields(actor = %actor.id))]
    pub async fn run_job_now(self, request: &RunRequest, actor: &Actor) -> Result<JobRun> {
        self.engine.refresh_catalog().await?;
        let (process, schedule_id, parameters, zone) = match request.schedule {
            Some(id) => {
                let schedule = self.schedule(id).await?;
                if schedule.removed_at.is_some() {
                    return Err(TransitionError::Raced(format!("schedule {id} is removed")).into());
                }
                let zone = schedule.time_zone.parse::<Tz>().ok();
                (schedule.process, Some(id), schedule.parameters, zone)
            }
            None => {
                let process = request.process.clone().ok_or_else(|| {
                    EngineError::invalid("process", Message::new(Code::JOB_OR_SCHEDULE))
                })?;
                (process, None, request.parameters.clone(), None)
            }
        };
        let catalog = self.engine.catalog();
        let (version, def) = catalog
            .latest(&process)
            .ok_or_else(|| EngineError::not_found("process", &process))?;
        let Some(job) = &def.job else {
            return Err(EngineError::invalid(
                "process",
                Message::new(Code::NOT_A_JOB).with("process", &process),
            ));
        };
        let mut errors = crate::form::FieldErrors::new();
        self.engine.check_parameter_texts(&parameters, &mut errors);
        schedule::check_confirmed(job, request.confirmed, &mut errors);
        let parameters = schedule::check_parameters(job, &parameters, &mut errors);
        let Some(parameters) = parameters.filter(|_| errors.is_empty()) else {
            return Err(EngineError::Invalid(errors));
        };
        let zone = zone.unwrap_or(def.timezone);
        let run_id = self
            .engine.retrying(|| async {
                let conn = self.engine.begin_write().await?;
                let now = self.engine.clock.now();
                let run = NewRun {
                    schedule_id,
                    process: &def.id,
                    instance_id: None,
                    fire_at: now,
                    trigger: "manual",
                    outcome: None,
                    reason: None,
                    started_at: Some(now),
                    requested_by: Some(&actor.id),
                };
                let Some(run_id) = store::jobs::insert_run(&conn, run).await? else {
                    return Err(TransitionError::Raced(
                        "this job was just started by someone else".into(),
                    )
                    .into());
                };
                let mut tx = Txn::new(&conn, now);
                let request = StartRequest {
                    def: def.clone(),
                    version,
                    subject: run_subject(run_id),
                    vars: schedule::run_vars(&parameters, now, zone),
                    parent: None,
                    actor: Some(actor),
                    job_run: Some(run_id),
                    started_in: None,
                };
                self.engine.start_in(&mut tx, request).await?;
                tx.flush().await?;
                let record = AuditRecord::new(AuditAction::JobRunNow)
                    .target(run_id)
                    .detail(json!({ "process": def.id, "schedule": schedule_id, "parameters": parameters }));
                self.engine.commit_recorded(conn, actor, record).await?;
                Ok(run_id)
            })
            .await?;
        Ok(self.job_run(run_id, 0).await?.0)
    }

    /// R27: where a schedule's job, taking as long as its longest recent run, would still be
    /// going when a job it must finish before starts (or the other way round). Empty when
    /// there is no such job or no run has finished yet.
    pub async fn schedule_warnings(self, schedule: &Schedule) -> Result<Vec<Message>> {
        let live = store::jobs::schedules(&self.engine.db, false).await?;
        self.engine
            .warnings_among(schedule, &live, &mut HashMap::new())
            .await
    }

    /// The schedule table with each row's R27 warnings, reading the table and each job's
    /// recent durations once for all rows.
    pub async fn schedules_with_warnings(self) -> Result<Vec<(Schedule, Vec<Message>)>> {
        let live = store::jobs::schedules(&self.engine.db, false).await?;
        let mut durations = HashMap::new();
        let mut rows = Vec::with_capacity(live.len());
        for schedule in &live {
            let warnings = self
                .engine
                .warnings_among(schedule, &live, &mut durations)
                .await?;
            rows.push((schedule.clone(), warnings));
        }
        Ok(rows)
    }
}
