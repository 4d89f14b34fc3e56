//! Schedules, job runs (the logbook) and their details.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr as SqlExpr, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::entities::{incident, instance, job_run, job_run_detail, schedule};
use crate::instance::InstanceStatus;
use crate::jobs::{
    DetailFilter, JobRun, JobRunDetail, JobRunDetailLine, LogbookFilter, RunStatus, Schedule,
};
use crate::schedule::CheckedSchedule;

pub async fn insert_schedule<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    checked: &CheckedSchedule,
    now: DateTime<Utc>,
    by: &str,
) -> Result<(), DbErr> {
    schedule::Entity::insert(schedule::ActiveModel {
        id: Set(id),
        process_id: Set(checked.process.clone()),
        label: Set(checked.label.clone()),
        cron: Set(checked.recurrence.cron.clone()),
        start_date: Set(checked.recurrence.start_date),
        start_time: Set(checked.start_time.clone()),
        weekdays: Set(Value::from(checked.weekdays.clone())),
        time_zone: Set(checked.recurrence.zone.name().to_owned()),
        parameters: Set(Value::Object(checked.parameters.clone())),
        misfire: Set(checked.misfire.as_str().to_owned()),
        overlap: Set(checked.overlap.as_str().to_owned()),
        next_fire_at: Set(Some(checked.first_firing)),
        created_at: Set(now),
        created_by: Set(by.to_owned()),
        removed_at: Set(None),
        removed_by: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

fn schedule_of(m: schedule::Model) -> Schedule {
    Schedule {
        id: m.id,
        process: m.process_id,
        label: m.label,
        cron: m.cron,
        start_date: m.start_date,
        start_time: m.start_time,
        weekdays: serde_json::from_value(m.weekdays).unwrap_or_default(),
        time_zone: m.time_zone,
        parameters: match m.parameters {
            Value::Object(map) => map,
            _ => Map::new(),
        },
        misfire: serde_json::from_value(Value::String(m.misfire)).unwrap_or_default(),
        overlap: serde_json::from_value(Value::String(m.overlap)).unwrap_or_default(),
        next_fire_at: m.next_fire_at,
        created_at: m.created_at,
        created_by: m.created_by,
        removed_at: m.removed_at,
    }
}

/// Schedules in the order they were made; removed ones only when asked for.
pub async fn schedules<C: ConnectionTrait>(
    conn: &C,
    with_removed: bool,
) -> Result<Vec<Schedule>, DbErr> {
    let mut query = schedule::Entity::find();
    if !with_removed {
        query = query.filter(schedule::Column::RemovedAt.is_null());
    }
    Ok(query
        .order_by_asc(schedule::Column::CreatedAt)
        .order_by_asc(schedule::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(schedule_of)
        .collect())
}

pub async fn schedule_by_id<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Schedule>, DbErr> {
    Ok(schedule::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(schedule_of))
}

/// Marks a schedule removed so it never fires again; false when it was removed already.
pub async fn remove_schedule<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now: DateTime<Utc>,
    by: &str,
) -> Result<bool, DbErr> {
    let result = schedule::Entity::update_many()
        .col_expr(schedule::Column::RemovedAt, SqlExpr::value(Some(now)))
        .col_expr(schedule::Column::RemovedBy, SqlExpr::value(Some(by)))
        .col_expr(
            schedule::Column::NextFireAt,
            SqlExpr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(schedule::Column::Id.eq(id))
        .filter(schedule::Column::RemovedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Schedules due to fire, oldest firing first. On PostgreSQL the rows stay locked for the
/// transaction and rows another node holds are skipped, so two nodes never fire one schedule
/// at once (the unique firing index would stop the second anyway).
pub async fn due_schedules<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Schedule>, DbErr> {
    let mut query = schedule::Entity::find()
        .filter(schedule::Column::NextFireAt.lte(now))
        .order_by_asc(schedule::Column::NextFireAt)
        .limit(limit);
    if conn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    Ok(query
        .all(conn)
        .await?
        .into_iter()
        .map(schedule_of)
        .collect())
}

/// The next time any schedule fires.
pub async fn next_firing<C: ConnectionTrait>(conn: &C) -> Result<Option<DateTime<Utc>>, DbErr> {
    Ok(schedule::Entity::find()
        .filter(schedule::Column::NextFireAt.is_not_null())
        .order_by_asc(schedule::Column::NextFireAt)
        .one(conn)
        .await?
        .and_then(|s| s.next_fire_at))
}

/// Moves a schedule's next firing on, if nobody moved it since `expected` was read.
pub async fn set_next_firing<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    expected: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
) -> Result<bool, DbErr> {
    let result = schedule::Entity::update_many()
        .col_expr(schedule::Column::NextFireAt, SqlExpr::value(next))
        .filter(schedule::Column::Id.eq(id))
        .filter(schedule::Column::NextFireAt.eq(expected))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// A logbook entry about to be written.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub schedule_id: Option<Uuid>,
    pub process: &'a str,
    pub instance_id: Option<Uuid>,
    pub fire_at: DateTime<Utc>,
    pub trigger: &'a str,
    /// `None` for a run that starts now; otherwise skipped, missed or queued.
    pub outcome: Option<RunStatus>,
    pub reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub requested_by: Option<&'a str>,
}

/// Writes a logbook entry. `None` when the firing has one already: another node fired it.
pub async fn insert_run<C: ConnectionTrait>(
    conn: &C,
    run: NewRun<'_>,
) -> Result<Option<i64>, DbErr> {
    let result = job_run::Entity::insert(job_run::ActiveModel {
        id: NotSet,
        schedule_id: Set(run.schedule_id),
        process_id: Set(run.process.to_owned()),
        instance_id: Set(run.instance_id),
        fire_at: Set(run.fire_at),
        trigger: Set(run.trigger.to_owned()),
        outcome: Set(run.outcome.map(|o| o.as_str().to_owned())),
        reason: Set(run.reason),
        started_at: Set(run.started_at),
        requested_by: Set(run.requested_by.map(str::to_owned)),
        progress_done: Set(0),
        progress_total: Set(None),
        counts: Set(Value::Object(Map::new())),
    })
    .on_conflict(
        OnConflict::columns([job_run::Column::ScheduleId, job_run::Column::FireAt])
            .do_nothing()
            .to_owned(),
    )
    .exec(conn)
    .await;
    match result {
        Ok(inserted) => Ok(Some(inserted.last_insert_id)),
        Err(DbErr::RecordNotInserted) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Gives a run its instance as the instance starts (a queued firing leaves the queue). False
/// when the run has one already: another node started it.
pub async fn attach_instance<C: ConnectionTrait>(
    conn: &C,
    run_id: i64,
    instance_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = job_run::Entity::update_many()
        .col_expr(
            job_run::Column::InstanceId,
            SqlExpr::value(Some(instance_id)),
        )
        .col_expr(job_run::Column::StartedAt, SqlExpr::value(Some(now)))
        .col_expr(
            job_run::Column::Outcome,
            SqlExpr::value(Option::<String>::None),
        )
        .filter(job_run::Column::Id.eq(run_id))
        .filter(job_run::Column::InstanceId.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Which queued firings [`skip_queued`] takes out of the queue.
#[derive(Debug, Clone, Copy)]
pub enum Queued {
    /// Every one of a schedule (it was removed).
    OfSchedule(Uuid),
    /// One that cannot start.
    Run(i64),
}

/// Queued firings that will not run become skipped, with the reason.
pub async fn skip_queued<C: ConnectionTrait>(
    conn: &C,
    which: Queued,
    reason: &str,
) -> Result<(), DbErr> {
    let query = job_run::Entity::update_many()
        .col_expr(
            job_run::Column::Outcome,
            SqlExpr::value(RunStatus::Skipped.as_str()),
        )
        .col_expr(job_run::Column::Reason, SqlExpr::value(reason))
        .filter(job_run::Column::Outcome.eq(RunStatus::Queued.as_str()));
    let query = match which {
        Queued::OfSchedule(id) => query.filter(job_run::Column::ScheduleId.eq(id)),
        Queued::Run(id) => query.filter(job_run::Column::Id.eq(id)),
    };
    query.exec(conn).await?;
    Ok(())
}

/// Whether a run of the schedule has an instance still going.
pub async fn schedule_has_active_run<C: ConnectionTrait>(
    conn: &C,
    schedule_id: Uuid,
) -> Result<bool, DbErr> {
    let runs_of_schedule = sea_orm::sea_query::Query::select()
        .column(job_run::Column::InstanceId)
        .from(job_run::Entity)
        .and_where(job_run::Column::ScheduleId.eq(schedule_id))
        .and_where(job_run::Column::InstanceId.is_not_null())
        .to_owned();
    Ok(instance::Entity::find()
        .filter(instance::Column::Id.in_subquery(runs_of_schedule))
        .filter(instance::Column::Status.eq(InstanceStatus::Active.as_str()))
        .one(conn)
        .await?
        .is_some())
}

/// On PostgreSQL, holds the schedule's row for the transaction, so a node starting its queued
/// run and a node firing it take turns (the firing skips a row held this way).
pub async fn lock_schedule<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        schedule::Entity::find_by_id(id)
            .lock(LockType::Update)
            .one(conn)
            .await?;
    }
    Ok(())
}

/// Queued firings, oldest first.
pub async fn queued_runs<C: ConnectionTrait>(conn: &C) -> Result<Vec<JobRun>, DbErr> {
    let rows = job_run::Entity::find()
        .filter(job_run::Column::Outcome.eq(RunStatus::Queued.as_str()))
        .order_by_asc(job_run::Column::Id)
        .all(conn)
        .await?;
    with_instances(conn, rows).await
}

/// The logbook, newest first.
pub async fn logbook<C: ConnectionTrait>(
    conn: &C,
    filter: &LogbookFilter,
) -> Result<Vec<JobRun>, DbErr> {
    let mut query = job_run::Entity::find();
    if let Some(process) = &filter.process {
        query = query.filter(job_run::Column::ProcessId.eq(process.as_str()));
    }
    if let Some(schedule) = filter.schedule {
        query = query.filter(job_run::Column::ScheduleId.eq(schedule));
    }
    if let Some(before) = filter.before {
        query = query.filter(job_run::Column::Id.lt(before));
    }
    let rows = query
        .order_by_desc(job_run::Column::Id)
        .limit(filter.limit.max(1))
        .all(conn)
        .await?;
    with_instances(conn, rows).await
}

pub async fn job_run<C: ConnectionTrait>(conn: &C, id: i64) -> Result<Option<JobRun>, DbErr> {
    let Some(row) = job_run::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    Ok(with_instances(conn, vec![row]).await?.pop())
}

/// A run's details in the order they were written, at most `limit`.
pub async fn job_run_details<C: ConnectionTrait>(
    conn: &C,
    run_id: i64,
    filter: &DetailFilter,
    limit: u64,
) -> Result<Vec<JobRunDetail>, DbErr> {
    let mut query = job_run_detail::Entity::find().filter(job_run_detail::Column::RunId.eq(run_id));
    if let Some(kind) = &filter.kind {
        query = query.filter(job_run_detail::Column::Kind.eq(kind.clone()));
    }
    if let Some(text) = &filter.text {
        query = query.filter(
            sea_orm::Condition::any()
                .add(super::name_matches(job_run_detail::Column::Subject, text))
                .add(super::name_matches(job_run_detail::Column::Message, text)),
        );
    }
    Ok(query
        .order_by_asc(job_run_detail::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|d| JobRunDetail {
            kind: d.kind,
            subject: d.subject,
            message: d.message,
            at: d.at,
            code: d.message_code,
            args: d
                .message_args
                .as_deref()
                .and_then(|a| {
                    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(a).ok()
                })
                .map(|a| {
                    a.into_iter()
                        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect())
}

/// Each run's instance: its status and when it ended.
type RunInstances = std::collections::HashMap<Uuid, (InstanceStatus, Option<DateTime<Utc>>)>;

/// Runs with the status and end their instances give them, in the order given.
async fn with_instances<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<job_run::Model>,
) -> Result<Vec<JobRun>, DbErr> {
    let ids: Vec<Uuid> = rows.iter().filter_map(|r| r.instance_id).collect();
    let (instances, skipped): (RunInstances, std::collections::HashSet<Uuid>) = if ids.is_empty() {
        Default::default()
    } else {
        let instances = instance::Entity::find()
            .filter(instance::Column::Id.is_in(ids.clone()))
            .all(conn)
            .await?
            .into_iter()
            .map(|i| (i.id, (i.status, i.ended_at)))
            .collect();
        // Runs that went on only because an admin skipped a failed step.
        let skipped = incident::Entity::find()
            .select_only()
            .column(incident::Column::InstanceId)
            .filter(incident::Column::InstanceId.is_in(ids))
            .filter(incident::Column::Status.eq(crate::instance::IncidentStatus::Skipped))
            .into_tuple::<Uuid>()
            .all(conn)
            .await?
            .into_iter()
            .collect();
        (instances, skipped)
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let instance = r.instance_id.and_then(|id| instances.get(&id));
            let status = match (r.outcome.as_deref(), instance) {
                (Some("skipped"), _) => RunStatus::Skipped,
                (Some("missed"), _) => RunStatus::Missed,
                (Some("queued"), _) => RunStatus::Queued,
                (_, Some((status, _))) => match status {
                    InstanceStatus::Completed
                        if r.instance_id.is_some_and(|id| skipped.contains(&id)) =>
                    {
                        RunStatus::EndedAfterSkip
                    }
                    InstanceStatus::Completed => RunStatus::Succeeded,
                    InstanceStatus::Incident => RunStatus::Failed,
                    InstanceStatus::Cancelled => RunStatus::Cancelled,
                    InstanceStatus::Active | InstanceStatus::Suspended => RunStatus::Running,
                },
                // The instance is gone (deleted by an admin): nothing runs any more.
                (_, None) => RunStatus::Cancelled,
            };
            JobRun {
                id: r.id,
                schedule_id: r.schedule_id,
                process: r.process_id,
                instance_id: r.instance_id,
                fire_at: r.fire_at,
                trigger: r.trigger,
                status,
                reason: r.reason,
                started_at: r.started_at,
                ended_at: instance.and_then(|i| i.1),
                requested_by: r.requested_by,
                progress_done: r.progress_done,
                progress_total: r.progress_total,
                counts: match r.counts {
                    Value::Object(map) => map,
                    _ => Map::new(),
                },
            }
        })
        .collect())
}

/// The run of a job instance, for its own reports; `None` outside a job.
pub async fn run_id_of<C: ConnectionTrait>(
    conn: &C,
    instance_id: Uuid,
) -> Result<Option<i64>, DbErr> {
    job_run::Entity::find()
        .select_only()
        .column(job_run::Column::Id)
        .filter(job_run::Column::InstanceId.eq(instance_id))
        .into_tuple::<i64>()
        .one(conn)
        .await
}

pub async fn set_progress<C: ConnectionTrait>(
    conn: &C,
    instance_id: Uuid,
    done: i64,
    total: Option<i64>,
) -> Result<(), DbErr> {
    job_run::Entity::update_many()
        .col_expr(job_run::Column::ProgressDone, SqlExpr::value(done))
        .col_expr(job_run::Column::ProgressTotal, SqlExpr::value(total))
        .filter(job_run::Column::InstanceId.eq(instance_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Adds to a run's named counts. Read and written in the caller's transaction, where the
/// run's instance is the one being driven, so no other writer changes them meanwhile.
pub async fn add_counts<C: ConnectionTrait>(
    conn: &C,
    instance_id: Uuid,
    counts: &[(&str, i64)],
) -> Result<(), DbErr> {
    let Some(row) = job_run::Entity::find()
        .filter(job_run::Column::InstanceId.eq(instance_id))
        .one(conn)
        .await?
    else {
        return Ok(());
    };
    let mut map = match row.counts {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for (name, n) in counts {
        let before = map.get(*name).and_then(Value::as_i64).unwrap_or(0);
        map.insert((*name).to_owned(), Value::from(before + n));
    }
    job_run::Entity::update_many()
        .col_expr(job_run::Column::Counts, SqlExpr::value(Value::Object(map)))
        .filter(job_run::Column::Id.eq(row.id))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn add_details<C: ConnectionTrait>(
    conn: &C,
    instance_id: Uuid,
    lines: &[JobRunDetailLine<'_>],
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    if lines.is_empty() {
        return Ok(());
    }
    let Some(run_id) = run_id_of(conn, instance_id).await? else {
        return Ok(());
    };
    // Chunks keep each INSERT under the databases' bound-parameter limits.
    for chunk in lines.chunks(500) {
        job_run_detail::Entity::insert_many(chunk.iter().map(|line| job_run_detail::ActiveModel {
            id: NotSet,
            run_id: Set(run_id),
            kind: Set(line.kind.to_owned()),
            subject: Set(line.subject.map(str::to_owned)),
            message: Set(line.message.to_string()),
            at: Set(at),
            message_code: Set(line.message.code().map(|c| c.key().to_owned())),
            message_args: Set(line.message.code().map(|_| {
                let args: serde_json::Map<String, serde_json::Value> = line
                    .message
                    .args()
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
                    .collect();
                serde_json::Value::Object(args).to_string()
            })),
        }))
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// How many details of each kind a run has, by kind: what its page's filter offers.
pub async fn job_run_detail_kinds<C: ConnectionTrait>(
    conn: &C,
    run_id: i64,
) -> Result<Vec<(String, u64)>, DbErr> {
    let details = job_run_detail::Entity::find().filter(job_run_detail::Column::RunId.eq(run_id));
    super::counts_by(conn, details, job_run_detail::Column::Kind).await
}
