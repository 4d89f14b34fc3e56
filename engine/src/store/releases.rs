//! Migrations of in-flight instances: the migration rows and their items, and the instance
//! data a migration reads and carries over.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr as SqlExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::{instance, message_wait, migration, migration_item, task, work_item};
use super::to_instance;
use crate::instance::MigrationPhase;
use crate::instance::{InstanceStatus, ProcessInstance, TaskStatus, WorkKind};

/// Statuses of an instance a migration moves: unfinished and not suspended (a suspended one
/// stays where an admin stopped it until it is resumed).
pub const MIGRATABLE: [InstanceStatus; 2] = [InstanceStatus::Active, InstanceStatus::Incident];

/// Up to `limit` unfinished instances of the given `(process, version)`s, after `after` in id
/// order (ids are v7 UUIDs: creation order), for paging through a large release.
pub async fn unfinished_instances<C: ConnectionTrait>(
    conn: &C,
    from: &[(String, i32)],
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<ProcessInstance>, DbErr> {
    let mut versions = Condition::any();
    for (process, version) in from {
        versions = versions.add(
            Condition::all()
                .add(instance::Column::ProcessId.eq(process.clone()))
                .add(instance::Column::Version.eq(*version)),
        );
    }
    let mut query = instance::Entity::find()
        .filter(versions)
        .filter(instance::Column::Status.is_in(MIGRATABLE.map(InstanceStatus::as_str)));
    if let Some(after) = after {
        query = query.filter(instance::Column::Id.gt(after));
    }
    Ok(query
        .order_by_asc(instance::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(to_instance)
        .collect())
}

/// The instances of `ids` (with the state their parent waits in), read in chunks.
pub async fn instances_by_id<C: ConnectionTrait>(
    conn: &C,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, (ProcessInstance, Option<String>)>, DbErr> {
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        for m in instance::Entity::find()
            .filter(instance::Column::Id.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            let parent_state = m.parent_state.clone();
            out.insert(m.id, (to_instance(m), parent_state));
        }
    }
    Ok(out)
}

/// Cancels the open tasks and drops the work and subscriptions an instance holds, as
/// `held` lists them: only the statements that have rows to act on.
pub async fn drop_holdings<C: ConnectionTrait>(
    conn: &C,
    instance_id: Uuid,
    held: &Holdings,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if !held.tasks.is_empty() {
        super::cancel_open_tasks(conn, instance_id, now).await?;
    }
    if !held.work.is_empty() {
        super::drop_work(conn, instance_id, None).await?;
    }
    if !held.waits.is_empty() {
        super::drop_subscriptions(conn, instance_id).await?;
    }
    Ok(())
}

/// What an instance holds while it rests in a state: open tasks, due work, subscriptions.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Holdings {
    /// `(task id, kind)` of each open task.
    pub tasks: Vec<(Uuid, String)>,
    /// Each due work item.
    pub work: Vec<HeldWork>,
    /// `(message type or signal name, key)` of each subscription.
    pub waits: Vec<(String, String)>,
    /// `(instance, calling state)` of each unfinished instance a `call` state of it started
    /// and waits for (not its follow-ups): a restart out of that state cancels them.
    #[serde(default)]
    pub children: Vec<(Uuid, String)>,
    /// `(kind, due at)` of each open task that has a due date: a restart gives a task it
    /// makes anew of the same kind this date again.
    #[serde(default)]
    pub due: Vec<(String, DateTime<Utc>)>,
}

/// A work item an instance held, as a migration item keeps it to put it back on undo. Stored
/// as the JSON array `[kind, state, run_at, attempts]` it always was.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(
    from = "(WorkKind, String, DateTime<Utc>, i32)",
    into = "(WorkKind, String, DateTime<Utc>, i32)"
)]
pub struct HeldWork {
    pub kind: WorkKind,
    pub state: String,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
}

impl From<(WorkKind, String, DateTime<Utc>, i32)> for HeldWork {
    fn from((kind, state, run_at, attempts): (WorkKind, String, DateTime<Utc>, i32)) -> Self {
        Self {
            kind,
            state,
            run_at,
            attempts,
        }
    }
}

impl From<HeldWork> for (WorkKind, String, DateTime<Utc>, i32) {
    fn from(held: HeldWork) -> Self {
        (held.kind, held.state, held.run_at, held.attempts)
    }
}

impl Holdings {
    /// The instances `state` called and waits for.
    pub fn children_of<'a>(&'a self, state: &'a str) -> impl Iterator<Item = Uuid> + 'a {
        self.children
            .iter()
            .filter(move |(_, s)| s == state)
            .map(|(id, _)| *id)
    }

    pub fn timers(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.work
            .iter()
            .filter(|w| w.kind == WorkKind::Timer)
            .map(|w| w.run_at)
    }
}

/// What each of `ids` holds, read in chunks that stay under the bind-parameter limits.
pub async fn holdings<C: ConnectionTrait>(
    conn: &C,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Holdings>, DbErr> {
    let mut out: std::collections::HashMap<Uuid, Holdings> = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let tasks = task::Entity::find()
            .filter(task::Column::InstanceId.is_in(chunk.to_vec()))
            .filter(task::Column::Status.eq(TaskStatus::Open))
            .order_by_asc(task::Column::CreatedAt)
            .all(conn)
            .await?;
        for t in tasks {
            let held = out.entry(t.instance_id).or_default();
            if let Some(due) = t.due_at {
                held.due.push((t.kind.clone(), due));
            }
            held.tasks.push((t.id, t.kind));
        }
        let work = work_item::Entity::find()
            .filter(work_item::Column::InstanceId.is_in(chunk.to_vec()))
            .order_by_asc(work_item::Column::RunAt)
            .all(conn)
            .await?;
        for w in work {
            out.entry(w.instance_id).or_default().work.push(HeldWork {
                kind: w.kind,
                state: w.state,
                run_at: w.run_at,
                attempts: w.attempts,
            });
        }
        let waits = message_wait::Entity::find()
            .filter(message_wait::Column::InstanceId.is_in(chunk.to_vec()))
            .order_by_asc(message_wait::Column::Id)
            .all(conn)
            .await?;
        for w in waits {
            out.entry(w.instance_id)
                .or_default()
                .waits
                .push((w.message_type, w.correlation_key));
        }
        let children = instance::Entity::find()
            .select_only()
            .columns([
                instance::Column::Id,
                instance::Column::ParentId,
                instance::Column::ParentState,
            ])
            .filter(instance::Column::ParentId.is_in(chunk.to_vec()))
            .filter(super::waited_for_calls())
            .order_by_asc(instance::Column::CreatedAt)
            .into_tuple::<(Uuid, Option<Uuid>, Option<String>)>()
            .all(conn)
            .await?;
        for (child, parent, state) in children {
            if let (Some(parent), Some(state)) = (parent, state) {
                out.entry(parent).or_default().children.push((child, state));
            }
        }
    }
    Ok(out)
}

/// Carries what the instance holds in `from_state` over to `to_state` of `process` v`version`:
/// open tasks, due work (keeping its due time) and subscriptions.
pub async fn carry_over<C: ConnectionTrait>(
    conn: &C,
    instance_id: Uuid,
    process: &str,
    version: i32,
    from_state: &str,
    to_state: &str,
) -> Result<(), DbErr> {
    // Children a `call` state waits for resume their parent in the state it is in now.
    instance::Entity::update_many()
        .col_expr(instance::Column::ParentState, SqlExpr::value(to_state))
        .filter(instance::Column::ParentId.eq(instance_id))
        .filter(instance::Column::ParentState.eq(from_state))
        .exec(conn)
        .await?;
    task::Entity::update_many()
        .col_expr(task::Column::ProcessId, SqlExpr::value(process))
        .col_expr(task::Column::State, SqlExpr::value(to_state))
        .filter(task::Column::InstanceId.eq(instance_id))
        .filter(task::Column::Status.eq(TaskStatus::Open))
        .exec(conn)
        .await?;
    work_item::Entity::update_many()
        .col_expr(work_item::Column::State, SqlExpr::value(to_state))
        .filter(work_item::Column::InstanceId.eq(instance_id))
        .exec(conn)
        .await?;
    message_wait::Entity::update_many()
        .col_expr(message_wait::Column::ProcessId, SqlExpr::value(process))
        .col_expr(message_wait::Column::Version, SqlExpr::value(version))
        .col_expr(message_wait::Column::State, SqlExpr::value(to_state))
        .filter(message_wait::Column::InstanceId.eq(instance_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// A migration as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationRow {
    pub id: i64,
    pub name: String,
    pub process_id: String,
    pub to_version: i32,
    pub plan: Value,
    pub reason: String,
    pub actor: String,
    pub status: MigrationPhase,
    pub total: i64,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The admin who abandoned it, and why.
    pub abandoned_by: Option<String>,
    pub abandon_reason: String,
    /// The admin who undid it, and why.
    pub undone_by: Option<String>,
    pub undo_reason: String,
}

fn to_migration(m: migration::Model) -> MigrationRow {
    MigrationRow {
        id: m.id,
        name: m.name,
        process_id: m.process_id,
        to_version: m.to_version,
        plan: m.plan,
        reason: m.reason,
        actor: m.actor,
        // A status this engine does not know was written by a newer one: nothing here resumes,
        // abandons or undoes it.
        status: MigrationPhase::parse(&m.status).unwrap_or(MigrationPhase::Unknown),
        total: m.total,
        created_at: m.created_at,
        finished_at: m.finished_at,
        abandoned_by: m.abandoned_by,
        abandon_reason: m.abandon_reason,
        undone_by: m.undone_by,
        undo_reason: m.undo_reason,
    }
}

pub struct NewMigration<'a> {
    pub name: &'a str,
    pub process_id: &'a str,
    pub to_version: i32,
    pub plan: Value,
    pub reason: &'a str,
    pub actor: &'a str,
    pub now: DateTime<Utc>,
}

/// Inserts a running migration; `None` when the process has one running already (the
/// unique `running_for` decides, also between nodes).
pub async fn insert_migration(
    conn: &sea_orm::DatabaseTransaction,
    new: NewMigration<'_>,
) -> Result<Option<i64>, DbErr> {
    let running = migration::Entity::find()
        .filter(migration::Column::RunningFor.eq(new.process_id))
        .one(conn)
        .await?;
    if running.is_some() {
        return Ok(None);
    }
    in_slot(conn, async |savepoint| {
        let inserted = migration::Entity::insert(migration::ActiveModel {
            id: sea_orm::NotSet,
            name: Set(new.name.to_owned()),
            process_id: Set(new.process_id.to_owned()),
            to_version: Set(new.to_version),
            plan: Set(new.plan),
            reason: Set(new.reason.to_owned()),
            actor: Set(new.actor.to_owned()),
            status: Set(MigrationPhase::Running.as_str().into()),
            running_for: Set(Some(new.process_id.to_owned())),
            total: Set(0),
            created_at: Set(new.now),
            finished_at: Set(None),
            abandoned_by: Set(None),
            abandon_reason: Set(String::new()),
            undone_by: Set(None),
            undo_reason: Set(String::new()),
        })
        .exec(savepoint)
        .await?;
        Ok(inserted.last_insert_id)
    })
    .await
}

/// Runs `write`, which takes a process's one migration slot (`running_for` is unique), in a
/// savepoint: `None` when another migration holds the slot. The savepoint keeps the unique
/// violation from aborting the caller's transaction on PostgreSQL, so the caller can still
/// read which migration holds it.
async fn in_slot<T>(
    conn: &sea_orm::DatabaseTransaction,
    write: impl AsyncFnOnce(&sea_orm::DatabaseTransaction) -> Result<T, DbErr>,
) -> Result<Option<T>, DbErr> {
    let savepoint = sea_orm::TransactionTrait::begin(conn).await?;
    match write(&savepoint).await {
        Ok(done) => {
            savepoint.commit().await?;
            Ok(Some(done))
        }
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            savepoint.rollback().await?;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The running migration of `process`, if any.
pub async fn running_migration<C: ConnectionTrait>(
    conn: &C,
    process: &str,
) -> Result<Option<MigrationRow>, DbErr> {
    Ok(migration::Entity::find()
        .filter(migration::Column::RunningFor.eq(process))
        .one(conn)
        .await?
        .map(to_migration))
}

pub async fn migration<C: ConnectionTrait>(
    conn: &C,
    id: i64,
) -> Result<Option<MigrationRow>, DbErr> {
    Ok(migration::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(to_migration))
}

/// Every migration, newest first.
pub async fn migrations<C: ConnectionTrait>(
    conn: &C,
    limit: u64,
) -> Result<Vec<MigrationRow>, DbErr> {
    Ok(migration::Entity::find()
        .order_by_desc(migration::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(to_migration)
        .collect())
}

/// Migrations still running or being undone, oldest first (what a node resumes at start-up).
pub async fn running_migrations<C: ConnectionTrait>(conn: &C) -> Result<Vec<MigrationRow>, DbErr> {
    Ok(migration::Entity::find()
        .filter(migration::Column::RunningFor.is_not_null())
        .order_by_asc(migration::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(to_migration)
        .collect())
}

/// Adds a pending item per `(instance, process, version, state)` and sets the total.
pub async fn insert_items<C: ConnectionTrait>(
    conn: &C,
    migration_id: i64,
    items: &[(Uuid, String, i32, String)],
) -> Result<(), DbErr> {
    for chunk in items.chunks(500) {
        migration_item::Entity::insert_many(chunk.iter().map(|(id, process, version, state)| {
            migration_item::ActiveModel {
                id: sea_orm::NotSet,
                migration_id: Set(migration_id),
                instance_id: Set(*id),
                from_process: Set(process.clone()),
                from_version: Set(*version),
                from_state: Set(state.clone()),
                to_state: Set(None),
                operation: Set(None),
                status: Set("pending".into()),
                before: Set(None),
                row_version_after: Set(None),
                message: Set(None),
            }
        }))
        .exec_without_returning(conn)
        .await?;
    }
    migration::Entity::update_many()
        .col_expr(migration::Column::Total, SqlExpr::value(items.len() as i64))
        .filter(migration::Column::Id.eq(migration_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// An item of a migration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationItem {
    pub id: i64,
    pub instance_id: Uuid,
    pub from_process: String,
    pub from_version: i32,
    pub from_state: String,
    pub to_state: Option<String>,
    pub operation: Option<String>,
    /// `pending`, `done`, `skipped`, `failed`, `undone`, or `kept` (an undo left it).
    pub status: String,
    #[serde(skip)]
    pub before: Option<Value>,
    #[serde(skip)]
    pub row_version_after: Option<i64>,
    pub message: Option<String>,
}

fn to_item(m: migration_item::Model) -> MigrationItem {
    MigrationItem {
        id: m.id,
        instance_id: m.instance_id,
        from_process: m.from_process,
        from_version: m.from_version,
        from_state: m.from_state,
        to_state: m.to_state,
        operation: m.operation,
        status: m.status,
        before: m.before,
        row_version_after: m.row_version_after,
        message: m.message,
    }
}

/// Up to `limit` items of `migration_id` with `status`, after item `after`, in id order.
pub async fn items_with_status<C: ConnectionTrait>(
    conn: &C,
    migration_id: i64,
    status: &str,
    after: i64,
    limit: u64,
) -> Result<Vec<MigrationItem>, DbErr> {
    Ok(migration_item::Entity::find()
        .filter(migration_item::Column::MigrationId.eq(migration_id))
        .filter(migration_item::Column::Status.eq(status))
        .filter(migration_item::Column::Id.gt(after))
        .order_by_asc(migration_item::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(to_item)
        .collect())
}

/// What became of one item.
pub struct ItemOutcome<'a> {
    pub status: &'a str,
    pub operation: Option<&'a str>,
    pub to_state: Option<&'a str>,
    pub before: Option<Value>,
    pub row_version_after: Option<i64>,
    pub message: Option<String>,
}

/// Records an item's outcome, only if it still has `expected` status: `false` when another
/// runner recorded it first.
pub async fn set_item<C: ConnectionTrait>(
    conn: &C,
    item_id: i64,
    expected: &str,
    outcome: ItemOutcome<'_>,
) -> Result<bool, DbErr> {
    let result = migration_item::Entity::update_many()
        .col_expr(
            migration_item::Column::Status,
            SqlExpr::value(outcome.status),
        )
        .col_expr(
            migration_item::Column::Operation,
            SqlExpr::value(outcome.operation),
        )
        .col_expr(
            migration_item::Column::ToState,
            SqlExpr::value(outcome.to_state),
        )
        .col_expr(
            migration_item::Column::Before,
            SqlExpr::value(outcome.before),
        )
        .col_expr(
            migration_item::Column::RowVersionAfter,
            SqlExpr::value(outcome.row_version_after),
        )
        .col_expr(
            migration_item::Column::Message,
            SqlExpr::value(outcome.message),
        )
        .filter(migration_item::Column::Id.eq(item_id))
        .filter(migration_item::Column::Status.eq(expected))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Items of a migration per status.
pub async fn item_counts<C: ConnectionTrait>(
    conn: &C,
    migration_id: i64,
) -> Result<std::collections::BTreeMap<String, i64>, DbErr> {
    Ok(items_counts(conn, &[migration_id])
        .await?
        .remove(&migration_id)
        .unwrap_or_default())
}

/// Items per status of each of `ids`, in one query (a list of migrations).
pub async fn items_counts<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, std::collections::BTreeMap<String, i64>>, DbErr> {
    let rows: Vec<(i64, String, i64)> = migration_item::Entity::find()
        .select_only()
        .column(migration_item::Column::MigrationId)
        .column(migration_item::Column::Status)
        .column_as(migration_item::Column::Id.count(), "n")
        .filter(migration_item::Column::MigrationId.is_in(ids.to_vec()))
        .group_by(migration_item::Column::MigrationId)
        .group_by(migration_item::Column::Status)
        .into_tuple()
        .all(conn)
        .await?;
    let mut out: std::collections::HashMap<i64, std::collections::BTreeMap<String, i64>> =
        std::collections::HashMap::new();
    for (id, status, n) in rows {
        out.entry(id).or_default().insert(status, n);
    }
    Ok(out)
}

/// Items that did not go through, with why: what the CLI and the admin page list.
pub async fn unsuccessful_items<C: ConnectionTrait>(
    conn: &C,
    migration_id: i64,
    limit: u64,
) -> Result<Vec<MigrationItem>, DbErr> {
    Ok(migration_item::Entity::find()
        .filter(migration_item::Column::MigrationId.eq(migration_id))
        .filter(migration_item::Column::Status.is_in(["skipped", "failed", "kept"]))
        .order_by_asc(migration_item::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(to_item)
        .collect())
}

/// Ends a migration as `status` (`finished`, `undone`) and frees its process for the next.
pub async fn end_migration<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    from: MigrationPhase,
    to: MigrationPhase,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = migration::Entity::update_many()
        .col_expr(migration::Column::Status, SqlExpr::value(to.as_str()))
        .col_expr(
            migration::Column::RunningFor,
            SqlExpr::value(Option::<String>::None),
        )
        .col_expr(migration::Column::FinishedAt, SqlExpr::value(now))
        .filter(migration::Column::Id.eq(id))
        .filter(migration::Column::Status.eq(from.as_str()))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Takes the process's one running slot for migration `id` and sets its status `to`, if its
/// status is one of `from`: `false` when it is not, or when another migration of the process
/// holds the slot (the caller reads which).
pub async fn claim_migration(
    conn: &sea_orm::DatabaseTransaction,
    id: i64,
    from: &[MigrationPhase],
    to: MigrationPhase,
    process: &str,
) -> Result<bool, DbErr> {
    let claimed = in_slot(conn, async |savepoint| {
        let updated = migration::Entity::update_many()
            .col_expr(migration::Column::Status, SqlExpr::value(to.as_str()))
            .col_expr(migration::Column::RunningFor, SqlExpr::value(process))
            .filter(migration::Column::Id.eq(id))
            .filter(migration::Column::Status.is_in(from.iter().map(|p| p.as_str())))
            .exec(savepoint)
            .await?;
        Ok(updated.rows_affected == 1)
    })
    .await?;
    Ok(claimed == Some(true))
}

/// Records the admin who ended migration `id` other than by finishing it, and why: an
/// abandon (`Abandoned`) or an undo (`Undoing`), each in columns of its own.
pub async fn record_end<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    end: MigrationPhase,
    actor: &str,
    reason: &str,
) -> Result<(), DbErr> {
    let (by, why) = if end == MigrationPhase::Abandoned {
        (
            migration::Column::AbandonedBy,
            migration::Column::AbandonReason,
        )
    } else {
        (migration::Column::UndoneBy, migration::Column::UndoReason)
    };
    migration::Entity::update_many()
        .col_expr(by, SqlExpr::value(actor))
        .col_expr(why, SqlExpr::value(reason))
        .filter(migration::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Marks a migration's pending items skipped with `why`: what abandoning it leaves.
pub async fn skip_pending_items<C: ConnectionTrait>(
    conn: &C,
    migration_id: i64,
    why: &str,
) -> Result<u64, DbErr> {
    Ok(migration_item::Entity::update_many()
        .col_expr(migration_item::Column::Status, SqlExpr::value("skipped"))
        .col_expr(migration_item::Column::Message, SqlExpr::value(why))
        .filter(migration_item::Column::MigrationId.eq(migration_id))
        .filter(migration_item::Column::Status.eq("pending"))
        .exec(conn)
        .await?
        .rows_affected)
}

/// In-flight instances of `processes` per `(process, version, state)`, with their open tasks
/// and live timers: what a release's impact analysis shows.
#[derive(Debug, Clone, PartialEq, Eq, sea_orm::FromQueryResult)]
pub struct InFlight {
    pub process_id: String,
    pub version: i32,
    pub state: String,
    pub n: i64,
}

/// Counts of unfinished instances (active, incident, suspended), of their open tasks, and of
/// their timers, each per `(process, version, state)`.
pub async fn in_flight<C: ConnectionTrait>(
    conn: &C,
    processes: &[String],
) -> Result<[Vec<InFlight>; 3], DbErr> {
    let backend = conn.get_database_backend();
    let list = (1..=processes.len())
        .map(|i| match backend {
            sea_orm::DbBackend::Postgres => format!("${i}"),
            _ => "?".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let unfinished = format!(
        "i.status IN ({})",
        InstanceStatus::UNFINISHED
            .map(|s| format!("'{}'", s.as_str()))
            .join(", ")
    );
    let group = "GROUP BY i.process_id, i.version, i.state";
    let select = "SELECT i.process_id, i.version, i.state, COUNT(*) AS n";
    let queries = [
        format!(
            "{select} FROM instances i WHERE {unfinished} AND i.process_id IN ({list}) {group}"
        ),
        format!(
            "{select} FROM tasks t JOIN instances i ON i.id = t.instance_id \
             WHERE t.status = 'open' AND {unfinished} AND i.process_id IN ({list}) {group}"
        ),
        format!(
            "{select} FROM work_items w JOIN instances i ON i.id = w.instance_id \
             WHERE w.kind = 'timer' AND {unfinished} AND i.process_id IN ({list}) {group}"
        ),
    ];
    let mut out: [Vec<InFlight>; 3] = Default::default();
    if processes.is_empty() {
        return Ok(out);
    }
    for (slot, sql) in out.iter_mut().zip(queries) {
        let values = processes.iter().map(|p| p.clone().into());
        *slot = <InFlight as sea_orm::FromQueryResult>::find_by_statement(
            sea_orm::Statement::from_sql_and_values(backend, sql, values),
        )
        .all(conn)
        .await?;
    }
    Ok(out)
}

/// Puts back what an instance held before a migration restarted it: the tasks it cancelled
/// open again, what the restart created cancelled or dropped, timers and subscriptions as
/// they were. The instance row itself is the caller's.
pub async fn restore_holdings<C: ConnectionTrait>(
    conn: &C,
    instance: &super::InstanceRow,
    before: &Holdings,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let reopened: Vec<Uuid> = before.tasks.iter().map(|(id, _)| *id).collect();
    task::Entity::update_many()
        .col_expr(task::Column::Status, SqlExpr::value(TaskStatus::Cancelled))
        .col_expr(task::Column::CompletedAt, SqlExpr::value(now))
        .filter(task::Column::InstanceId.eq(instance.id))
        .filter(task::Column::Status.eq(TaskStatus::Open))
        .filter(task::Column::Id.is_not_in(reopened.clone()))
        .exec(conn)
        .await?;
    if !reopened.is_empty() {
        task::Entity::update_many()
            .col_expr(task::Column::Status, SqlExpr::value(TaskStatus::Open))
            .col_expr(
                task::Column::CompletedAt,
                SqlExpr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(task::Column::Id.is_in(reopened))
            .exec(conn)
            .await?;
    }
    super::clear_waits(conn, instance.id).await?;
    for held in &before.work {
        work_item::Entity::insert(work_item::ActiveModel {
            id: sea_orm::NotSet,
            instance_id: Set(instance.id),
            kind: Set(held.kind),
            state: Set(held.state.clone()),
            run_at: Set(held.run_at),
            attempts: Set(held.attempts),
            lease_until: Set(None),
            lease_owner: Set(None),
            created_at: Set(now),
        })
        .exec_without_returning(conn)
        .await?;
    }
    for (message_type, key) in &before.waits {
        message_wait::Entity::insert(message_wait::ActiveModel {
            id: sea_orm::NotSet,
            instance_id: Set(instance.id),
            process_id: Set(instance.process_id.clone()),
            version: Set(instance.version),
            state: Set(instance.state.clone()),
            message_type: Set(message_type.clone()),
            correlation_key: Set(key.clone()),
        })
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}
