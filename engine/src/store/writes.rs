//! The writes of one transaction, collected while a transition runs and flushed together:
//! one multi-row INSERT per table, and the instance update with its optimistic check.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr as SqlExpr, Func, Query, UpdateStatement};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryResult,
    QueryTrait, Statement,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::*;
use crate::audit::AuditEntry;
use crate::error::{EngineError, TransitionError};
use crate::instance::{
    HistoryEntry, Holding, IncidentCause, IncidentStatus, InstanceStatus, ProcessInstance, Task,
    TimelineEvent, WorkKind,
};

/// The state a row has after a transition, for the optimistic update.
#[derive(Debug, Clone)]
pub struct InstanceRow {
    pub id: Uuid,
    pub process_id: String,
    pub version: i32,
    pub subject: String,
    pub state: String,
    pub status: InstanceStatus,
    pub variables: Value,
    /// The version read; the update succeeds only if the row still has it.
    pub row_version: i64,
    pub parent_id: Option<Uuid>,
    pub parent_state: Option<String>,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// See [`crate::instance::ProcessInstance::started_in`].
    pub started_in: Option<String>,
    /// Not yet in the table.
    pub is_new: bool,
}

impl InstanceRow {
    /// The row of an instance as stored (`parent_state`: the state its parent called it from).
    pub fn stored(instance: ProcessInstance, parent_state: Option<String>) -> Self {
        Self {
            id: instance.id,
            process_id: instance.process_id,
            version: instance.version,
            subject: instance.subject,
            state: instance.state,
            status: instance.status,
            variables: instance.variables,
            row_version: instance.row_version,
            parent_id: instance.parent_id,
            parent_state,
            created_at: instance.created_at,
            ended_at: instance.ended_at,
            started_in: instance.started_in,
            is_new: false,
        }
    }
}

/// What a transaction writes that no writer reads back before it commits: its transitions'
/// history and timeline rows, its audit entries, and the rows of instances it started that
/// also ended in it without a parent (nothing can look such an instance up before the commit
/// has answered with its id: it holds no task, timer or subscription, and no parent reads its
/// status). In a batch of the committer (SQLite) they
/// wait in the writer's transaction and are written once for the whole batch, right before
/// its COMMIT: a multi-row INSERT per table and one read of the audit chain's head a batch,
/// where every writer paid its own (docs/plans/throughput.md, step 4). Anywhere else a flush
/// writes them at once.
///
/// Every row here is appended, and none is referred to by a reference the database checks.
/// Their keys cannot collide: history and timeline rows take the next id, an instance's is a
/// new random UUID, and the audit entries are numbered after the head read in the same
/// transaction, which holds SQLite's write lock. So writing them cannot fail for one writer's
/// rows alone: when it fails, the batch fails as a whole, as when its COMMIT fails.
#[derive(Default)]
pub struct Deferred {
    instances: Vec<instance::ActiveModel>,
    history: Vec<history::ActiveModel>,
    events: Vec<event::ActiveModel>,
    audit: Vec<AuditEntry>,
}

impl Deferred {
    /// Adds what a later part of the transaction deferred, after what is here.
    pub fn append(&mut self, mut later: Deferred) {
        self.instances.append(&mut later.instances);
        self.history.append(&mut later.history);
        self.events.append(&mut later.events);
        self.audit.append(&mut later.audit);
    }

    /// An audit entry to seal after the newest one when this is written.
    pub fn audit(&mut self, entry: AuditEntry) {
        self.audit.push(entry);
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
            && self.history.is_empty()
            && self.events.is_empty()
            && self.audit.is_empty()
    }

    /// Writes everything, in one call on SQLite ([`run_together`]); the audit entries are
    /// chained after the newest entry, read now.
    pub async fn write<C: ConnectionTrait>(self, conn: &C) -> Result<(), DbErr> {
        let backend = conn.get_database_backend();
        let mut statements = Vec::new();
        inserts(&mut statements, backend, self.instances);
        inserts(&mut statements, backend, self.history);
        inserts(&mut statements, backend, self.events);
        if !self.audit.is_empty() {
            let sealed = super::audit::sealed_rows(conn, self.audit).await?;
            inserts(&mut statements, backend, sealed);
        }
        run_together(conn, statements).await?;
        Ok(())
    }
}

/// The writes of one transaction, flushed together.
#[derive(Default)]
pub struct Writes {
    new_instances: Vec<instance::ActiveModel>,
    updated_instances: Vec<InstanceRow>,
    history: Vec<history::ActiveModel>,
    tasks: Vec<task::ActiveModel>,
    events: Vec<event::ActiveModel>,
    work: Vec<work_item::ActiveModel>,
    waits: Vec<message_wait::ActiveModel>,
    incidents: Vec<incident::ActiveModel>,
    /// Run after the rows, in the same call ([`Writes::run_after`]).
    then: Vec<Statement>,
}

impl Writes {
    pub fn instance(&mut self, row: &InstanceRow, now: DateTime<Utc>) {
        if row.is_new {
            self.new_instances.push(instance::ActiveModel {
                id: Set(row.id),
                process_id: Set(row.process_id.clone()),
                version: Set(row.version),
                subject: Set(row.subject.clone()),
                state: Set(row.state.clone()),
                status: Set(row.status),
                variables: Set(row.variables.clone()),
                row_version: Set(1),
                parent_id: Set(row.parent_id),
                parent_state: Set(row.parent_state.clone()),
                created_at: Set(row.created_at),
                updated_at: Set(now),
                ended_at: Set(row.ended_at),
                started_in: Set(row.started_in.clone()),
            });
        } else {
            self.updated_instances.push(row.clone());
        }
    }

    /// Runs `statement` after this flush's rows, in the same call to the database (a start's
    /// audit entry goes this way). It must return no rows: the flush reads the rows that come
    /// back as its updates' answers.
    pub fn run_after(&mut self, statement: Statement) {
        self.then.push(statement);
    }

    /// Moves what no writer reads back before the commit ([`Deferred`]) to `deferred`, for the
    /// batch's end.
    pub fn defer_into(&mut self, deferred: &mut Deferred) {
        let (ended, rest) = std::mem::take(&mut self.new_instances)
            .into_iter()
            .partition(|row| {
                matches!(
                    row.status,
                    Set(InstanceStatus::Completed | InstanceStatus::Cancelled)
                ) && matches!(row.parent_id, Set(None))
            });
        self.new_instances = rest;
        deferred.instances.extend::<Vec<_>>(ended);
        deferred.history.append(&mut self.history);
        deferred.events.append(&mut self.events);
    }

    /// Whether subscriptions are waiting to be flushed.
    pub fn has_waits(&self) -> bool {
        !self.waits.is_empty()
    }

    pub fn history(&mut self, instance_id: Uuid, entry: HistoryEntry) {
        self.history.push(history::ActiveModel {
            id: NotSet,
            instance_id: Set(instance_id),
            from_state: Set(entry.from_state),
            to_state: Set(entry.to_state),
            trigger: Set(entry.trigger),
            actor: Set(entry.actor),
            data: Set(entry.data),
            at: Set(entry.at),
        });
    }

    pub fn task(&mut self, task: Task) {
        self.tasks.push(task::ActiveModel {
            id: Set(task.id),
            instance_id: Set(task.instance_id),
            process_id: Set(task.process_id),
            state: Set(task.state),
            kind: Set(task.kind),
            subject: Set(task.subject),
            title: Set(task.title),
            municipality: Set(task.municipality),
            status: Set(task.status),
            claimed_by: Set(None),
            due_at: Set(task.due_at),
            created_at: Set(task.created_at),
            completed_at: Set(None),
            completed_by: Set(None),
            data: Set(None),
        });
    }

    pub fn event(&mut self, event: TimelineEvent) {
        self.events.push(event::ActiveModel {
            id: NotSet,
            subject: Set(event.subject),
            instance_id: Set(event.instance_id),
            process_id: Set(event.process_id),
            kind: Set(event.kind),
            data: Set(event.data),
            at: Set(event.at),
        });
    }

    /// Durable work: `kind` is `timer` or `step`; `attempts` the attempt to run for a step.
    pub fn work(
        &mut self,
        instance_id: Uuid,
        kind: WorkKind,
        state: &str,
        run_at: DateTime<Utc>,
        attempts: u32,
        now: DateTime<Utc>,
    ) {
        self.work.push(work_item::ActiveModel {
            id: NotSet,
            instance_id: Set(instance_id),
            kind: Set(kind),
            state: Set(state.to_owned()),
            run_at: Set(run_at),
            attempts: Set(i32::try_from(attempts).unwrap_or(i32::MAX)),
            lease_until: Set(None),
            lease_owner: Set(None),
            created_at: Set(now),
        });
    }

    pub fn wait(&mut self, row: &InstanceRow, state: &str, message_type: &str, key: &str) {
        self.waits.push(message_wait::ActiveModel {
            id: NotSet,
            instance_id: Set(row.id),
            process_id: Set(row.process_id.clone()),
            version: Set(row.version),
            state: Set(state.to_owned()),
            message_type: Set(message_type.to_owned()),
            correlation_key: Set(key.to_owned()),
        });
    }

    pub fn incident(
        &mut self,
        instance_id: Uuid,
        state: &str,
        cause: &IncidentCause,
        error: &str,
        attempts: u32,
        now: DateTime<Utc>,
    ) {
        self.incidents.push(incident::ActiveModel {
            id: NotSet,
            instance_id: Set(instance_id),
            state: Set(state.to_owned()),
            action: Set(cause.stored()),
            error: Set(error.to_owned()),
            attempts: Set(i32::try_from(attempts).unwrap_or(i32::MAX)),
            status: Set(IncidentStatus::Open),
            created_at: Set(now),
            resolved_at: Set(None),
        });
    }

    /// The instance left the state it held `holding` in: what this transaction was about to
    /// insert of it goes (the rows already stored are released at once, [`super::release_holding`]).
    pub fn forget(&mut self, instance_id: Uuid, holding: Holding) {
        let mine = |id: &sea_orm::ActiveValue<Uuid>| matches!(id, Set(id) if *id == instance_id);
        match holding {
            Holding::Task => self.tasks.retain(|t| !mine(&t.instance_id)),
            Holding::Work(kind) => self
                .work
                .retain(|w| !(mine(&w.instance_id) && matches!(w.kind, Set(k) if k == kind))),
            Holding::Subscription => self.waits.retain(|w| !mine(&w.instance_id)),
        }
    }

    /// Writes everything; an instance changed by someone else meanwhile fails the whole flush
    /// with a conflict, and the caller rolls the transaction back (also what the flush's
    /// other statements wrote). A writer of the engine flushes through its `Txn`, which first
    /// moves what waits for the batch's end to its [`Deferred`]: written here directly, a
    /// history row would be numbered before an earlier writer's deferred ones of the batch.
    ///
    /// The statements go to the database together ([`run_together`]).
    pub async fn flush<C: ConnectionTrait>(
        &mut self,
        conn: &C,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let backend = conn.get_database_backend();
        let updated = std::mem::take(&mut self.updated_instances);
        let statements = self.statements(&updated, backend, now);
        if statements.is_empty() {
            return Ok(());
        }
        // Each instance update returns its index in `updated`, when it found the row still
        // at the version read; inserts return nothing.
        let rows = run_together(conn, statements).await?;
        let mut found = vec![false; updated.len()];
        for row in &rows {
            let index = row.try_get_by_index::<i32>(0)?;
            let slot = usize::try_from(index).ok().and_then(|i| found.get_mut(i));
            // Only the updates return rows (`run_after` statements must not): anything else
            // is a fault here, never a row to count as current.
            *slot.ok_or_else(|| {
                DbErr::Custom(format!("a flush got back {index}, no update of its own"))
            })? = true;
        }
        if let Some((row, _)) = updated.iter().zip(&found).find(|(_, found)| !**found) {
            return Err(TransitionError::Conflict {
                instance: row.id,
                expected: row.row_version,
            }
            .into());
        }
        Ok(())
    }

    /// The statements of a flush, taking what they write out of `self`: new instances, the
    /// optimistic update of each instance in `updated`, then the other tables' rows.
    fn statements(
        &mut self,
        updated: &[InstanceRow],
        backend: DbBackend,
        now: DateTime<Utc>,
    ) -> Vec<Statement> {
        let mut statements = Vec::new();
        inserts(
            &mut statements,
            backend,
            std::mem::take(&mut self.new_instances),
        );
        for (index, row) in updated.iter().enumerate() {
            statements.push(backend.build(&update_statement(row, index, now)));
        }
        inserts(&mut statements, backend, std::mem::take(&mut self.history));
        inserts(&mut statements, backend, std::mem::take(&mut self.tasks));
        inserts(&mut statements, backend, std::mem::take(&mut self.events));
        inserts(&mut statements, backend, std::mem::take(&mut self.work));
        inserts(&mut statements, backend, std::mem::take(&mut self.waits));
        inserts(
            &mut statements,
            backend,
            std::mem::take(&mut self.incidents),
        );
        statements.append(&mut self.then);
        statements
    }
}

/// The update of an instance to `row`, if it still has the row version read; it returns
/// `index` when it updated the row.
fn update_statement(row: &InstanceRow, index: usize, now: DateTime<Utc>) -> UpdateStatement {
    let mut update = instance::Entity::update_many()
        .col_expr(instance::Column::State, SqlExpr::value(row.state.clone()))
        // A migration moves an instance onto another version (or renamed process).
        .col_expr(
            instance::Column::ProcessId,
            SqlExpr::value(row.process_id.clone()),
        )
        .col_expr(instance::Column::Version, SqlExpr::value(row.version))
        .col_expr(
            instance::Column::Status,
            SqlExpr::value(row.status.as_str()),
        )
        .col_expr(
            instance::Column::Variables,
            SqlExpr::value(row.variables.clone()),
        )
        .col_expr(
            instance::Column::RowVersion,
            SqlExpr::value(row.row_version + 1),
        )
        .col_expr(instance::Column::UpdatedAt, SqlExpr::value(now))
        .col_expr(instance::Column::EndedAt, SqlExpr::value(row.ended_at))
        .filter(instance::Column::Id.eq(row.id))
        .filter(instance::Column::RowVersion.eq(row.row_version))
        .into_query();
    // Bound, so every update has the same text and is prepared once; cast, so PostgreSQL
    // knows the parameter's type, and i32 reads back on both databases.
    let index = i32::try_from(index).unwrap_or(i32::MAX);
    update.returning(Query::returning().expr(Func::cast_as(SqlExpr::val(index), "integer")));
    update
}

/// Multi-row INSERTs of `rows`, in chunks that stay under both backends' bind-parameter limits.
fn inserts<A>(statements: &mut Vec<Statement>, backend: DbBackend, rows: Vec<A>)
where
    A: sea_orm::ActiveModelTrait + Send,
{
    const ROWS_PER_STATEMENT: usize = 500;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        statements.push(<A::Entity as EntityTrait>::insert_many(chunk).build(backend));
    }
}

/// Runs `statements` in order and returns the rows they return, all of them one after the
/// other. The first failing statement ends the run with its error; what the ones before it
/// did stays, for the caller to roll back.
///
/// On SQLite they go to the database as one multi-statement text: sqlx runs every call on a
/// thread of its own, and each call's hand-off there and back costs more than most statements
/// (docs/benchmarks.md, "One hand-off a flush"). sqlx binds the text's `?`s statement after
/// statement, so the statements must be built by sea-query (each with exactly its own values)
/// and end without a comment. At most 16 (`TOGETHER`) go in one text: a text is prepared once and
/// kept by its whole wording, so a long run of alike statements (a migration's 500 updates)
/// becomes a few texts that recur, not one new text a batch. PostgreSQL runs them one by one.
pub async fn run_together<C: ConnectionTrait>(
    conn: &C,
    statements: Vec<Statement>,
) -> Result<Vec<QueryResult>, DbErr> {
    let backend = conn.get_database_backend();
    if backend != DbBackend::Sqlite || statements.len() < 2 {
        let mut rows = Vec::new();
        for statement in statements {
            rows.extend(conn.query_all_raw(statement).await?);
        }
        return Ok(rows);
    }
    let mut rows = Vec::new();
    let mut statements = statements.into_iter().peekable();
    while statements.peek().is_some() {
        let mut sql = String::new();
        let mut values = Vec::new();
        for statement in statements.by_ref().take(TOGETHER) {
            if !sql.is_empty() {
                sql.push_str(";\n");
            }
            sql.push_str(&statement.sql);
            values.extend(statement.values.map(|v| v.0).unwrap_or_default());
        }
        let text = Statement::from_sql_and_values(backend, sql, values);
        rows.extend(conn.query_all_raw(text).await?);
    }
    Ok(rows)
}

/// The most statements `run_together` puts in one text.
const TOGETHER: usize = 16;
