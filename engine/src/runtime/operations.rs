//! An admin's operations on one instance, whatever it waits for: suspend, resume, cancel.
//! (Retry, skip and cancel of an incident are in `incidents`.) Each is one transaction with
//! a history entry naming the admin and the reason, and each checks the instance's row
//! version, so a colleague's concurrent operation or a transition gets a clean 409.

use super::facades::Operations;
use sea_orm::DatabaseTransaction;
use serde_json::json;
use uuid::Uuid;

use super::Engine;
use super::execute::Txn;
use crate::action::CancelContext;
use crate::audit::{AuditAction, AuditRecord};
use crate::definition::StepKind;
use crate::definition::transition::Event;
use crate::error::{EngineError, Result, TransitionError};
use crate::instance::{Actor, HistoryEntry, IncidentStatus, InstanceStatus};
use crate::message::{Code, Message};
use crate::store::{self, InstanceRow};

/// An admin's operation on one instance, by name (the UI's buttons, the API's paths, the
/// CLI's subcommands).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceOperation {
    Suspend,
    Resume,
    Cancel,
}

impl InstanceOperation {
    pub const ALL: [Self; 3] = [Self::Suspend, Self::Resume, Self::Cancel];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

impl InstanceOperation {
    /// The statuses the operation applies to; any other is a 409.
    fn applies_to(self) -> &'static [InstanceStatus] {
        match self {
            Self::Suspend => &[InstanceStatus::Active],
            Self::Resume => &[InstanceStatus::Suspended],
            Self::Cancel => &InstanceStatus::UNFINISHED,
        }
    }

    fn audit_action(self) -> AuditAction {
        match self {
            Self::Suspend => AuditAction::InstanceSuspend,
            Self::Resume => AuditAction::InstanceResume,
            Self::Cancel => AuditAction::InstanceCancel,
        }
    }
}

/// Cancels in `tx` the unfinished instances `parent` called from `state` (any state when
/// `None`) and waits for, and the ones they called: what a parent leaves behind when it is
/// cancelled or restarted out of its `call` state, where nothing would wait for them any
/// more. Follow-ups are not touched: they run on their own. Each gets a history entry
/// naming `actor` and `why`, and its package's cancel hook runs. Answers how many were
/// cancelled.
pub(super) async fn cancel_children(
    tx: &mut Txn<'_>,
    engine: &Engine,
    parent: Uuid,
    state: Option<&str>,
    actor: &Actor,
    why: &str,
) -> Result<usize> {
    let (conn, now) = (tx.conn, tx.now);
    let mut parents = vec![(parent, state.map(str::to_owned))];
    let mut cancelled = 0;
    while let Some((parent, state)) = parents.pop() {
        let children = store::called_children(conn, parent, state.as_deref()).await?;
        if children.is_empty() {
            continue;
        }
        // What is buffered (an earlier item of a migration batch) must not overwrite these.
        tx.flush_so_far().await?;
        for (child, parent_state) in children {
            let mut row = InstanceRow::stored(child, parent_state);
            close_row(conn, engine, &mut row, actor, why, now).await?;
            tx.writes.history(
                row.id,
                HistoryEntry {
                    from_state: Some(row.state.clone()),
                    to_state: row.state.clone(),
                    trigger: "cancel".into(),
                    actor: Some(actor.id.clone()),
                    data: Some(json!({ "reason": why, "parent": parent })),
                    at: now,
                },
            );
            tx.writes.instance(&row, now);
            parents.push((row.id, None));
            cancelled += 1;
        }
    }
    Ok(cancelled)
}

/// Ends `row` as cancelled in `tx` with everything it holds: its package is told, its open
/// tasks are cancelled, its timers and waits dropped, its incidents closed, and the instances
/// it called and waits for are cancelled with it (nothing would wait for them). The caller
/// writes the row and its history entry. Answers how many called instances were cancelled.
pub(super) async fn cancel_row(
    tx: &mut Txn<'_>,
    engine: &Engine,
    row: &mut InstanceRow,
    actor: &Actor,
    why: &str,
) -> Result<usize> {
    close_row(tx.conn, engine, row, actor, why, tx.now).await?;
    let theirs = format!("its parent {} was cancelled", row.id);
    cancel_children(tx, engine, row.id, None, actor, &theirs).await
}

/// `cancel_row` for one instance, without the instances it called.
async fn close_row(
    conn: &DatabaseTransaction,
    engine: &Engine,
    row: &mut InstanceRow,
    actor: &Actor,
    why: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    run_cancel_hook(engine, conn, row, actor, why, now).await?;
    store::close_open_work(conn, row.id, now).await?;
    store::resolve_incidents_of(conn, row.id, IncidentStatus::Cancelled, now).await?;
    row.status = InstanceStatus::Cancelled;
    row.ended_at = Some(now);
    Ok(())
}

/// Tells the instance's package it is cancelled; the package's refusal refuses the cancel.
async fn run_cancel_hook(
    engine: &Engine,
    conn: &DatabaseTransaction,
    row: &InstanceRow,
    actor: &Actor,
    reason: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    // A package registers its hook under its process's current id; an instance of a former
    // id (a renamed process) is the same package's.
    let catalog = engine.catalog();
    let current = catalog.resolve_id(&row.process_id);
    let Some(hook) = engine
        .registry
        .cancel_hook(&row.process_id)
        .or_else(|| engine.registry.cancel_hook(current))
    else {
        return Ok(());
    };
    let ctx = CancelContext {
        conn,
        instance_id: row.id,
        process_id: &row.process_id,
        state: &row.state,
        subject: &row.subject,
        vars: &row.variables,
        actor: &actor.id,
        reason,
        now,
    };
    hook.cancelled(&ctx).await.map_err(|e| {
        let why = match e.source {
            // The database failing under the package is the engine's to retry or report.
            Some(source) => match source.downcast::<sea_orm::DbErr>() {
                Ok(db) => return EngineError::from(*db),
                Err(other) => format!("{}: {other}", e.message),
            },
            None => e.message,
        };
        let code = if e.retryable {
            Code::CANCEL_REFUSED_FOR_NOW
        } else {
            Code::CANCEL_REFUSED
        };
        EngineError::invalid(
            "cancel",
            Message::new(code)
                .with("process", &row.process_id)
                .with("why", why),
        )
    })
}

impl Operations<'_> {
    /// Stops an active instance: its timers and steps are held with their due times, its tasks
    /// cannot be completed, messages and signals do not move it. 409 unless it is active.
    pub async fn suspend_instance(self, id: Uuid, actor: &Actor, reason: &str) -> Result<()> {
        self.operate_instance(id, InstanceOperation::Suspend, actor, reason)
            .await
    }

    /// Puts a suspended instance back to work: held timers and steps run at their due times,
    /// overdue ones at once. A `call` state whose child completed meanwhile goes on now.
    pub async fn resume_instance(self, id: Uuid, actor: &Actor, reason: &str) -> Result<()> {
        self.operate_instance(id, InstanceOperation::Resume, actor, reason)
            .await
    }

    /// Ends an unfinished instance as cancelled: its package is told, its open tasks are
    /// cancelled, its timers and waits dropped, its incidents closed, and the instances it
    /// called and waits for are cancelled with it. 409 for an instance that has ended.
    pub async fn cancel_instance(self, id: Uuid, actor: &Actor, reason: &str) -> Result<()> {
        self.operate_instance(id, InstanceOperation::Cancel, actor, reason)
            .await
    }

    /// Applies `operation` to the instance in one transaction with its history entry; a 409
    /// when the instance's status does not fit (a colleague or a transition was first).
    #[tracing::instrument(skip(self, actor), fields(actor = %actor.id))]
    pub async fn operate_instance(
        self,
        id: Uuid,
        operation: InstanceOperation,
        actor: &Actor,
        reason: &str,
    ) -> Result<()> {
        crate::limits::require_fits("reason", reason, self.engine.options.text_limits.reason)?;
        self.engine
            .retrying(|| async {
                let conn = self.engine.begin_write().await?;
                let now = self.engine.clock.now();
                let (def, mut row) = self.engine.load_any(&conn, id).await?;
                if !operation.applies_to().contains(&row.status) {
                    return Err(TransitionError::NotActive {
                        instance: id,
                        status: row.status.as_str().into(),
                    }
                    .into());
                }
                let mut tx = Txn::new(&conn, now);
                match operation {
                    InstanceOperation::Suspend => {
                        store::hold_work(&conn, None, row.id).await?;
                        row.status = InstanceStatus::Suspended;
                    }
                    InstanceOperation::Resume => {
                        store::release_held(&conn, row.id).await?;
                        row.status = InstanceStatus::Active;
                    }
                    InstanceOperation::Cancel => {
                        cancel_row(&mut tx, self.engine, &mut row, actor, reason).await?;
                    }
                }
                tx.writes.history(
                    row.id,
                    HistoryEntry {
                        from_state: Some(row.state.clone()),
                        to_state: row.state.clone(),
                        trigger: operation.as_str().into(),
                        actor: Some(actor.id.clone()),
                        data: (!reason.is_empty()).then(|| json!({ "reason": reason })),
                        at: now,
                    },
                );
                let waits_on_child = matches!(
                    def.state(&row.state).map(|s| &s.kind),
                    Some(StepKind::Call(_))
                );
                // A parent suspended while its child completed goes on now. Only a child that
                // completed moves it on; one that was cancelled leaves it waiting for an admin,
                // as it would have while the parent was active.
                if operation == InstanceOperation::Resume
                    && waits_on_child
                    && store::latest_child_status(&conn, row.id, &row.state).await?
                        == Some(InstanceStatus::Completed)
                {
                    self.engine
                        .drive(&mut tx, &def, &mut row, Event::ChildCompleted, Some(actor))
                        .await?;
                } else {
                    tx.writes.instance(&row, now);
                }
                tx.flush().await?;
                let record = AuditRecord::new(operation.audit_action())
                    .subject(row.subject.clone())
                    .target(row.id)
                    .detail(json!({ "process": row.process_id, "reason": reason }));
                self.engine.commit_recorded(conn, actor, record).await
            })
            .await
    }
}
