//! All database access of the engine. Functions are generic over `ConnectionTrait`, so they
//! run on a connection or inside a transaction alike, and return domain types, never entities.
//!
//! Writes of a transition are collected in [`Writes`] and flushed with one multi-row INSERT
//! per table: a run of five states costs a handful of statements, not one per row.

pub mod audit;
mod bulk;
pub mod drafts;
mod entities;
mod incidents;
pub mod jobs;
pub mod releases;
mod stats;
mod tasks;
mod users;
mod work;
mod writes;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr as SqlExpr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

pub use bulk::{database_bytes, insert_waiting, refresh_statistics};
pub(crate) use entities::*;
pub use incidents::*;
pub use sea_orm::DbErr;
pub use stats::{EngineStats, engine_stats};
pub use tasks::*;
pub use users::*;
pub use work::{
    ClaimedWork, HELD_BY, claim_due, finish, finishing, hold_work, next_due_at, release,
    release_held,
};
pub use writes::{Deferred, InstanceRow, Writes, run_together};

use crate::instance::{DeadLetter, HistoryEntry, InstanceStatus, ProcessInstance, TimelineEvent};

/// `COUNT(*)`: unlike `COUNT(id)` the database may answer it from an index alone (the
/// inbox's counts per kind read ~10,000 table rows per call with `COUNT(id)`, 28–35 ms on
/// SQLite, against ~1 ms).
fn count_rows() -> sea_orm::sea_query::SimpleExpr {
    sea_orm::sea_query::Expr::cust("COUNT(*)")
}

/// How many rows of `query` have each value of `column`, by value: a filter's counts.
async fn counts_by<C, E, K>(
    conn: &C,
    query: sea_orm::Select<E>,
    column: K,
) -> Result<Vec<(String, u64)>, DbErr>
where
    C: ConnectionTrait,
    E: EntityTrait,
    K: ColumnTrait,
{
    let rows: Vec<(String, i64)> = query
        .select_only()
        .column(column)
        .column_as(count_rows(), "n")
        .group_by(column)
        .order_by_asc(column)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(value, n)| (value, u64::try_from(n).unwrap_or(0)))
        .collect())
}

/// A stored definition version.
#[derive(Debug, Clone)]
pub struct StoredDefinition {
    /// The row id: increases with every deploy, on any node.
    pub row_id: i64,
    pub process_id: String,
    pub version: i32,
    pub source: String,
    pub hash: String,
    /// Former ids this version replaces.
    pub replaces: Vec<String>,
    pub deployed_at: DateTime<Utc>,
}

pub async fn definitions<C: ConnectionTrait>(conn: &C) -> Result<Vec<StoredDefinition>, DbErr> {
    stored_definitions(conn, None).await
}

/// Every stored version of one process, oldest first.
pub async fn definition_versions<C: ConnectionTrait>(
    conn: &C,
    process_id: &str,
) -> Result<Vec<StoredDefinition>, DbErr> {
    stored_definitions(conn, Some(process_id)).await
}

async fn stored_definitions<C: ConnectionTrait>(
    conn: &C,
    process_id: Option<&str>,
) -> Result<Vec<StoredDefinition>, DbErr> {
    let mut query = definition::Entity::find();
    if let Some(id) = process_id {
        query = query.filter(definition::Column::ProcessId.eq(id));
    }
    Ok(query
        .order_by_asc(definition::Column::ProcessId)
        .order_by_asc(definition::Column::Version)
        .all(conn)
        .await?
        .into_iter()
        .map(|m| StoredDefinition {
            row_id: m.id,
            process_id: m.process_id,
            version: m.version,
            source: m.source,
            hash: m.hash,
            replaces: serde_json::from_value(m.replaces).unwrap_or_default(),
            deployed_at: m.deployed_at,
        })
        .collect())
}

pub async fn insert_definition<C: ConnectionTrait>(
    conn: &C,
    def: &crate::definition::ProcessDefinition,
    version: i32,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    definition::Entity::insert(definition::ActiveModel {
        id: NotSet,
        process_id: Set(def.id.clone()),
        version: Set(version),
        title: Set(def.title.clone()),
        source: Set(def.source.clone()),
        hash: Set(def.hash.clone()),
        replaces: Set(serde_json::json!(def.replaces)),
        deployed_at: Set(now),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

fn to_instance(m: instance::Model) -> ProcessInstance {
    ProcessInstance {
        id: m.id,
        process_id: m.process_id,
        version: m.version,
        subject: m.subject,
        state: m.state,
        status: m.status,
        variables: m.variables,
        row_version: m.row_version,
        parent_id: m.parent_id,
        created_at: m.created_at,
        updated_at: m.updated_at,
        ended_at: m.ended_at,
        started_in: m.started_in,
    }
}

/// The instance and, for a child started by `call`, the parent state waiting for it.
pub async fn instance<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<(ProcessInstance, Option<String>)>, DbErr> {
    Ok(instance::Entity::find_by_id(id).one(conn).await?.map(|m| {
        let parent_state = m.parent_state.clone();
        (to_instance(m), parent_state)
    }))
}

/// Filters of an instance search; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct InstanceFilter {
    pub process_id: Option<String>,
    pub state: Option<String>,
    pub status: Option<InstanceStatus>,
    pub subject: Option<String>,
    pub version: Option<i32>,
    /// Instances started in this municipality or with a task there.
    pub municipality: Option<String>,
    /// Started at or after this instant.
    pub started_from: Option<DateTime<Utc>>,
    /// Started before this instant.
    pub started_before: Option<DateTime<Utc>>,
    /// What the list is sorted by; ties by start, then id.
    pub order: InstanceOrder,
    /// Reversed: newest (or Z..A) first.
    pub descending: bool,
    pub offset: Option<u64>,
    pub limit: Option<u64>,
}

/// The instance list's sort columns.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum InstanceOrder {
    #[default]
    Started,
    Updated,
    Process,
    Version,
    Subject,
    State,
    Status,
}

impl InstanceOrder {
    pub const ALL: [Self; 7] = [
        Self::Started,
        Self::Updated,
        Self::Process,
        Self::Version,
        Self::Subject,
        Self::State,
        Self::Status,
    ];

    /// Its name in a query string (`sort=state`, `sort=-started`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Updated => "updated",
            Self::Process => "process",
            Self::Version => "version",
            Self::Subject => "subject",
            Self::State => "state",
            Self::Status => "status",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }

    fn column(self) -> instance::Column {
        match self {
            Self::Started => instance::Column::CreatedAt,
            Self::Updated => instance::Column::UpdatedAt,
            Self::Process => instance::Column::ProcessId,
            Self::Version => instance::Column::Version,
            Self::Subject => instance::Column::Subject,
            Self::State => instance::Column::State,
            Self::Status => instance::Column::Status,
        }
    }
}

fn filtered_instances(filter: &InstanceFilter) -> sea_orm::Select<instance::Entity> {
    let mut query = instance::Entity::find();
    if let Some(p) = &filter.process_id {
        query = query.filter(instance::Column::ProcessId.eq(p.clone()));
    }
    if let Some(s) = &filter.state {
        query = query.filter(instance::Column::State.eq(s.clone()));
    }
    if let Some(s) = filter.status {
        query = query.filter(instance::Column::Status.eq(s));
    }
    if let Some(s) = &filter.subject {
        query = query.filter(instance::Column::Subject.eq(s.clone()));
    }
    if let Some(v) = filter.version {
        query = query.filter(instance::Column::Version.eq(v));
    }
    if let Some(m) = &filter.municipality {
        let with_task_there = sea_orm::sea_query::Query::select()
            .column(entities::task::Column::InstanceId)
            .from(entities::task::Entity)
            .and_where(entities::task::Column::Municipality.eq(m.clone()))
            .to_owned();
        query = query.filter(
            sea_orm::Condition::any()
                .add(instance::Column::StartedIn.eq(m.clone()))
                .add(instance::Column::Id.in_subquery(with_task_there)),
        );
    }
    if let Some(from) = filter.started_from {
        query = query.filter(instance::Column::CreatedAt.gte(from));
    }
    if let Some(before) = filter.started_before {
        query = query.filter(instance::Column::CreatedAt.lt(before));
    }
    query
}

/// The process and version of each of `ids` that exists, in one query (without loading
/// their variables): what a list of incidents shows beside each.
pub async fn instance_versions<C: ConnectionTrait>(
    conn: &C,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, (String, i32)>, DbErr> {
    let mut found = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(Uuid, String, i32)> = instance::Entity::find()
            .select_only()
            .column(instance::Column::Id)
            .column(instance::Column::ProcessId)
            .column(instance::Column::Version)
            .filter(instance::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        found.extend(rows.into_iter().map(|(id, p, v)| (id, (p, v))));
    }
    Ok(found)
}

/// How many instances match `filter`, ignoring its offset and limit (the list's total).
pub async fn count_instances<C: ConnectionTrait>(
    conn: &C,
    filter: &InstanceFilter,
) -> Result<u64, DbErr> {
    filtered_instances(filter).count(conn).await
}

pub async fn instances<C: ConnectionTrait>(
    conn: &C,
    filter: &InstanceFilter,
) -> Result<Vec<ProcessInstance>, DbErr> {
    let order = if filter.descending {
        sea_orm::Order::Desc
    } else {
        sea_orm::Order::Asc
    };
    let query = filtered_instances(filter)
        .order_by(filter.order.column(), order.clone())
        .order_by(instance::Column::CreatedAt, order)
        .order_by_asc(instance::Column::Id);
    Ok(query
        .offset(filter.offset)
        .limit(filter.limit.unwrap_or(1000))
        .all(conn)
        .await?
        .into_iter()
        .map(to_instance)
        .collect())
}

/// Transitions recorded in all; the benchmark's count of work done.
pub async fn count_history<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    history::Entity::find().count(conn).await
}

pub async fn history<C: ConnectionTrait>(
    conn: &C,
    instance_id: Uuid,
) -> Result<Vec<HistoryEntry>, DbErr> {
    Ok(history::Entity::find()
        .filter(history::Column::InstanceId.eq(instance_id))
        .order_by_asc(history::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(history_entry)
        .collect())
}

fn history_entry(h: history::Model) -> HistoryEntry {
    HistoryEntry {
        from_state: h.from_state,
        to_state: h.to_state,
        trigger: h.trigger,
        actor: h.actor,
        data: h.data,
        at: h.at,
    }
}

/// Transitions recorded after history row `after`: the first `limit`, oldest first, with
/// their instance; how many there are in all; and the newest row's id (`after` when none).
/// What a scenario's step made happen, without loading the thousands a daily run makes.
pub async fn history_since<C: ConnectionTrait>(
    conn: &C,
    after: i64,
    limit: u64,
) -> Result<(Vec<(Uuid, HistoryEntry)>, u64, i64), DbErr> {
    let since = || history::Entity::find().filter(history::Column::Id.gt(after));
    let first = since()
        .order_by_asc(history::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|h| (h.instance_id, history_entry(h)))
        .collect();
    let newest: Option<i64> = since()
        .select_only()
        .column(history::Column::Id)
        .order_by_desc(history::Column::Id)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    let all = since().count(conn).await?;
    Ok((first, all, newest.unwrap_or(after)))
}

pub async fn events<C: ConnectionTrait>(
    conn: &C,
    subject: &str,
) -> Result<Vec<TimelineEvent>, DbErr> {
    Ok(event::Entity::find()
        .filter(event::Column::Subject.eq(subject))
        .order_by_asc(event::Column::At)
        .order_by_asc(event::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(|e| TimelineEvent {
            subject: e.subject,
            instance_id: e.instance_id,
            process_id: e.process_id,
            kind: e.kind,
            data: e.data,
            at: e.at,
        })
        .collect())
}

/// Records a message id; `false` when it was seen before (the message is a duplicate).
pub async fn record_message<C: ConnectionTrait>(
    conn: &C,
    message_id: &str,
    message_type: &str,
    payload: &Value,
    outcome: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let inserted = inbound_message::Entity::insert(inbound_message::ActiveModel {
        message_id: Set(message_id.to_owned()),
        message_type: Set(message_type.to_owned()),
        payload: Set(payload.clone()),
        outcome: Set(outcome.to_owned()),
        received_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(inbound_message::Column::MessageId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(inserted == 1)
}

pub async fn set_message_outcome<C: ConnectionTrait>(
    conn: &C,
    message_id: &str,
    outcome: &str,
) -> Result<(), DbErr> {
    inbound_message::Entity::update_many()
        .col_expr(inbound_message::Column::Outcome, SqlExpr::value(outcome))
        .filter(inbound_message::Column::MessageId.eq(message_id))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn message_outcome<C: ConnectionTrait>(
    conn: &C,
    message_id: &str,
) -> Result<Option<String>, DbErr> {
    Ok(inbound_message::Entity::find_by_id(message_id.to_owned())
        .one(conn)
        .await?
        .map(|m| m.outcome))
}

/// The type and content a message id was first received with.
pub async fn recorded_message<C: ConnectionTrait>(
    conn: &C,
    message_id: &str,
) -> Result<Option<(String, Value)>, DbErr> {
    Ok(inbound_message::Entity::find_by_id(message_id.to_owned())
        .one(conn)
        .await?
        .map(|m| (m.message_type, m.payload)))
}

/// Stores a dead letter; its new id.
pub async fn insert_dead_letter<C: ConnectionTrait>(
    conn: &C,
    letter: &DeadLetter,
) -> Result<i64, DbErr> {
    let inserted = dead_letter::Entity::insert(dead_letter::ActiveModel {
        id: NotSet,
        message_id: Set(letter.message_id.clone()),
        message_type: Set(letter.message_type.clone()),
        payload: Set(letter.payload.clone()),
        reason: Set(letter.reason.clone()),
        received_at: Set(letter.received_at),
    })
    .exec(conn)
    .await?;
    Ok(inserted.last_insert_id)
}

/// The newest definition row id; 0 when nothing is deployed.
pub async fn max_definition_id<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    Ok(definition::Entity::find()
        .order_by_desc(definition::Column::Id)
        .one(conn)
        .await?
        .map_or(0, |d| d.id))
}

/// Puts an instance into incident: the error is recorded for an admin, and the instance
/// stops until an admin retries, skips or cancels it (`runtime::incidents`). `action` names
/// what failed: an action, `work:<kind>` for due work, or nothing for entering the state.
pub async fn mark_incident<C: ConnectionTrait>(
    conn: &C,
    instance_id: Uuid,
    cause: &crate::instance::IncidentCause,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let Some(found) = instance::Entity::find_by_id(instance_id).one(conn).await? else {
        return Ok(());
    };
    incident::Entity::insert(incident::ActiveModel {
        id: NotSet,
        instance_id: Set(instance_id),
        state: Set(found.state.clone()),
        action: Set(cause.stored()),
        error: Set(error.to_owned()),
        attempts: Set(1),
        status: Set(crate::instance::IncidentStatus::Open),
        created_at: Set(now),
        resolved_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    instance::Entity::update_many()
        .col_expr(
            instance::Column::Status,
            SqlExpr::value(InstanceStatus::Incident.as_str()),
        )
        .col_expr(
            instance::Column::RowVersion,
            SqlExpr::value(found.row_version + 1),
        )
        .col_expr(instance::Column::UpdatedAt, SqlExpr::value(now))
        .filter(instance::Column::Id.eq(instance_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Instances of `process_id` version `version` waiting in `state` for a message of this
/// type and key.
pub async fn message_waiters<C: ConnectionTrait>(
    conn: &C,
    message_type: &str,
    key: &str,
    process_id: &str,
    version: i32,
    state: &str,
) -> Result<Vec<Uuid>, DbErr> {
    Ok(message_wait::Entity::find()
        .filter(message_wait::Column::MessageType.eq(message_type))
        .filter(message_wait::Column::CorrelationKey.eq(key))
        .filter(message_wait::Column::ProcessId.eq(process_id))
        .filter(message_wait::Column::Version.eq(version))
        .filter(message_wait::Column::State.eq(state))
        .order_by_asc(message_wait::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(|w| w.instance_id)
        .collect())
}

/// Everything subscribed to `message_type` with `key`, whatever process, version and state:
/// `(instance, process, version, state)`, each instance once.
pub async fn subscriptions<C: ConnectionTrait>(
    conn: &C,
    message_type: &str,
    key: &str,
) -> Result<Vec<Subscription>, DbErr> {
    let mut seen = std::collections::HashSet::new();
    Ok(message_wait::Entity::find()
        .filter(message_wait::Column::MessageType.eq(message_type))
        .filter(message_wait::Column::CorrelationKey.eq(key))
        .order_by_asc(message_wait::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .filter(|w| seen.insert(w.instance_id))
        .map(|w| Subscription {
            id: w.id,
            instance_id: w.instance_id,
            process_id: w.process_id,
            version: w.version,
            state: w.state,
        })
        .collect())
}

/// A waiting instance as a subscription lists it.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The subscription's row: gone once the instance left the wait it was made for.
    pub id: i64,
    pub instance_id: Uuid,
    pub process_id: String,
    pub version: i32,
    pub state: String,
}

/// Whether the subscription row is still there.
pub async fn subscription_exists<C: ConnectionTrait>(conn: &C, id: i64) -> Result<bool, DbErr> {
    Ok(message_wait::Entity::find_by_id(id)
        .one(conn)
        .await?
        .is_some())
}

/// The status of the newest child the instance's `state` called (a state entered again
/// calls again), `None` if it called none.
pub async fn latest_child_status<C: ConnectionTrait>(
    conn: &C,
    instance_id: Uuid,
    state: &str,
) -> Result<Option<InstanceStatus>, DbErr> {
    let status: Option<String> = instance::Entity::find()
        .select_only()
        .column(instance::Column::Status)
        .filter(instance::Column::ParentId.eq(instance_id))
        .filter(instance::Column::ParentState.eq(state))
        .order_by_desc(instance::Column::CreatedAt)
        .order_by_desc(instance::Column::Id)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(status.as_deref().and_then(InstanceStatus::parse))
}

/// Instances a `call` state started and its parent still waits for: unfinished, with the
/// calling state set (a follow-up task's instance has a parent but no calling state, and
/// runs on its own).
pub(crate) fn waited_for_calls() -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(instance::Column::ParentState.is_not_null())
        .add(instance::Column::Status.is_in(InstanceStatus::UNFINISHED.map(InstanceStatus::as_str)))
}

/// The unfinished instances `parent_id` called and waits for, from `state` or any state.
pub async fn called_children<C: ConnectionTrait>(
    conn: &C,
    parent_id: Uuid,
    state: Option<&str>,
) -> Result<Vec<(ProcessInstance, Option<String>)>, DbErr> {
    let mut query = instance::Entity::find()
        .filter(instance::Column::ParentId.eq(parent_id))
        .filter(waited_for_calls());
    if let Some(state) = state {
        query = query.filter(instance::Column::ParentState.eq(state));
    }
    Ok(query
        .order_by_asc(instance::Column::CreatedAt)
        .all(conn)
        .await?
        .into_iter()
        .map(|m| {
            let parent_state = m.parent_state.clone();
            (to_instance(m), parent_state)
        })
        .collect())
}

/// Drops what the instance waits for by message or signal, not its timers.
pub async fn drop_subscriptions<C: ConnectionTrait>(
    conn: &C,
    instance_id: Uuid,
) -> Result<(), DbErr> {
    message_wait::Entity::delete_many()
        .filter(message_wait::Column::InstanceId.eq(instance_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Closes the instance's open tasks as cancelled.
pub async fn cancel_open_tasks<C: ConnectionTrait>(
    conn: &C,
    instance_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    task::Entity::update_many()
        .col_expr(
            task::Column::Status,
            SqlExpr::value(crate::instance::TaskStatus::Cancelled),
        )
        .col_expr(task::Column::CompletedAt, SqlExpr::value(now))
        .filter(task::Column::InstanceId.eq(instance_id))
        .filter(task::Column::Status.eq(crate::instance::TaskStatus::Open))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes the instance's due work: of one kind, or all.
pub async fn drop_work<C: ConnectionTrait>(
    conn: &C,
    instance_id: Uuid,
    kind: Option<crate::instance::WorkKind>,
) -> Result<(), DbErr> {
    let mut delete =
        work_item::Entity::delete_many().filter(work_item::Column::InstanceId.eq(instance_id));
    if let Some(kind) = kind {
        delete = delete.filter(work_item::Column::Kind.eq(kind));
    }
    delete.exec(conn).await?;
    Ok(())
}

/// Gives up what an instance held in the state it left: its open task closed as cancelled,
/// its due work of that kind or its subscription deleted. An instance holds only what its
/// state waits for, so what it holds of that sort is that state's. Done at once, not at the
/// flush: the step the instance goes on to may look for waiters (an action's signal), and
/// must not find the instance in the wait it has left.
pub async fn release_holding<C: ConnectionTrait>(
    conn: &C,
    instance_id: Uuid,
    holding: crate::instance::Holding,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use crate::instance::Holding;
    match holding {
        Holding::Task => cancel_open_tasks(conn, instance_id, now).await,
        Holding::Work(kind) => drop_work(conn, instance_id, Some(kind)).await,
        Holding::Subscription => drop_subscriptions(conn, instance_id).await,
    }
}

/// Cancels the instance's open tasks and drops its waits and due work, whatever state they
/// were for: what a cancel leaves behind (it ends the instance, so it sweeps).
pub async fn close_open_work<C: ConnectionTrait>(
    conn: &C,
    instance_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    cancel_open_tasks(conn, instance_id, now).await?;
    clear_waits(conn, instance_id).await
}

/// Drops an instance's pending work and message subscriptions.
pub async fn clear_waits<C: ConnectionTrait>(conn: &C, instance_id: Uuid) -> Result<(), DbErr> {
    drop_subscriptions(conn, instance_id).await?;
    drop_work(conn, instance_id, None).await
}
