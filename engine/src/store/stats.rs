//! Figures for monitoring (`/metrics`): cheap aggregate queries that the indexes answer,
//! asked at scrape time so every node reports the shared database's truth.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use super::{audit_pending, count_rows, history, instance, task, work_item};

/// The engine's state at one moment.
#[derive(Debug, Clone, Default)]
pub struct EngineStats {
    /// Active instances per (process, state).
    pub active_by_state: Vec<(String, String, u64)>,
    /// Instances per status, all processes.
    pub by_status: Vec<(String, u64)>,
    /// Open tasks per municipality (`""` for tasks without one).
    pub open_tasks: Vec<(String, u64)>,
    /// Work items (timers, steps, retries) due now and in all.
    pub work_due: u64,
    pub work_total: u64,
    /// Run time of the oldest due work item: how far the workers lag.
    pub oldest_due: Option<DateTime<Utc>>,
    /// The highest history id: a counter of committed transitions over all nodes.
    pub transitions: i64,
    /// Audit entries committed but not yet sealed into the chain (PostgreSQL), and the time
    /// of the oldest: what a failing sealer leaves uncovered.
    pub audit_unsealed: u64,
    pub oldest_unsealed: Option<DateTime<Utc>>,
}

pub async fn engine_stats<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<EngineStats, DbErr> {
    let active_by_state: Vec<(String, String, i64)> = instance::Entity::find()
        .select_only()
        .column(instance::Column::ProcessId)
        .column(instance::Column::State)
        .column_as(count_rows(), "n")
        .filter(instance::Column::Status.eq("active"))
        .group_by(instance::Column::ProcessId)
        .group_by(instance::Column::State)
        .into_tuple()
        .all(conn)
        .await?;
    let by_status: Vec<(String, i64)> = instance::Entity::find()
        .select_only()
        .column(instance::Column::Status)
        .column_as(count_rows(), "n")
        .group_by(instance::Column::Status)
        .into_tuple()
        .all(conn)
        .await?;
    let open_tasks: Vec<(Option<String>, i64)> = task::Entity::find()
        .select_only()
        .column(task::Column::Municipality)
        .column_as(count_rows(), "n")
        .filter(task::Column::Status.eq(crate::instance::TaskStatus::Open))
        .group_by(task::Column::Municipality)
        .into_tuple()
        .all(conn)
        .await?;
    let due = work_item::Entity::find().filter(work_item::Column::RunAt.lte(now));
    let work_due = due.clone().count(conn).await?;
    let work_total = work_item::Entity::find().count(conn).await?;
    let oldest_due: Option<DateTime<Utc>> = due
        .select_only()
        .column_as(work_item::Column::RunAt.min(), "oldest")
        .into_tuple()
        .one(conn)
        .await?
        .flatten();
    let transitions: Option<i64> = history::Entity::find()
        .select_only()
        .column_as(history::Column::Id.max(), "last")
        .into_tuple()
        .one(conn)
        .await?
        .flatten();
    let (audit_unsealed, oldest_unsealed): (i64, Option<DateTime<Utc>>) =
        audit_pending::Entity::find()
            .select_only()
            .column_as(count_rows(), "n")
            .column_as(audit_pending::Column::At.min(), "oldest")
            .into_tuple()
            .one(conn)
            .await?
            .unwrap_or_default();
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(EngineStats {
        active_by_state: active_by_state
            .into_iter()
            .map(|(p, s, n)| (p, s, count(n)))
            .collect(),
        by_status: by_status.into_iter().map(|(s, n)| (s, count(n))).collect(),
        open_tasks: open_tasks
            .into_iter()
            .map(|(m, n)| (m.unwrap_or_default(), count(n)))
            .collect(),
        work_due,
        work_total,
        oldest_due,
        transitions: transitions.unwrap_or(0),
        audit_unsealed: count(audit_unsealed),
        oldest_unsealed,
    })
}
