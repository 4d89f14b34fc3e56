//! The writes of one transaction, collected while a transition runs and flushed together:
//! one multi-row INSERT per table, and the instance update with its optimistic check.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr as SqlExpr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::*;
use crate::error::{EngineError, TransitionError};
use crate::instance::{
    HistoryEntry, Holding, IncidentCause, IncidentStatus, InstanceStatus, Task, TimelineEvent,
    WorkKind,
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
    /// with a conflict, and the caller rolls the transaction back.
    pub async fn flush<C: ConnectionTrait>(
        &mut self,
        conn: &C,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let new = std::mem::take(&mut self.new_instances);
        if !new.is_empty() {
            instance::Entity::insert_many(new)
                .exec_without_returning(conn)
                .await?;
        }
        for row in std::mem::take(&mut self.updated_instances) {
            let result = instance::Entity::update_many()
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
                .exec(conn)
                .await?;
            if result.rows_affected == 0 {
                return Err(TransitionError::Conflict {
                    instance: row.id,
                    expected: row.row_version,
                }
                .into());
            }
        }
        insert_all(conn, std::mem::take(&mut self.history)).await?;
        insert_all(conn, std::mem::take(&mut self.tasks)).await?;
        insert_all(conn, std::mem::take(&mut self.events)).await?;
        insert_all(conn, std::mem::take(&mut self.work)).await?;
        insert_all(conn, std::mem::take(&mut self.waits)).await?;
        insert_all(conn, std::mem::take(&mut self.incidents)).await?;
        Ok(())
    }
}

/// Multi-row INSERT in chunks that stay under both backends' bind-parameter limits.
async fn insert_all<C, A>(conn: &C, rows: Vec<A>) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    A: sea_orm::ActiveModelTrait + Send,
{
    const ROWS_PER_STATEMENT: usize = 500;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        <A::Entity as EntityTrait>::insert_many(chunk)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}
