//! The commands people give: start an instance, complete a task.

use super::facades::Commands;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Engine;
use super::execute::{StartRequest, Txn};
use crate::definition::transition::Event;
use std::sync::Arc;

use sea_orm::DatabaseTransaction;

use crate::audit::{AuditAction, AuditRecord};
use crate::definition::{ProcessDefinition, StepKind};
use crate::error::{EngineError, Result, TransitionError};
use crate::expr::Scope;
use crate::form::Form;
use crate::instance::Actor;
use crate::instance::{Task, TaskStatus};
use crate::message::{Code, Message};
use crate::store;
use crate::store::InstanceRow;

impl Engine {
    /// The task if the actor may see it: tenancy is part of the query, and a task of another
    /// municipality is "not found", exactly like one that does not exist.
    pub(super) async fn visible_task<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        task_id: Uuid,
        actor: &Actor,
    ) -> Result<crate::instance::Task> {
        let filter = store::TaskFilter {
            id: Some(task_id),
            municipality: actor.task_scope(),
            limit: Some(1),
            ..store::TaskFilter::default()
        };
        store::tasks(conn, &filter)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::not_found("task", task_id))
    }

    /// Moves the claim of open task `before` (read in `conn`) from its holder to `to` and
    /// commits with `record` about it, if any; nothing changes (and nothing is recorded) when
    /// `to` holds it already. A claim that moved since the read is a 409: the UPDATE names the
    /// holder it read, which PostgreSQL re-checks against the newest row.
    async fn hand_task(
        &self,
        conn: super::WriteTxn,
        actor: &Actor,
        before: crate::instance::Task,
        to: &str,
        record: Option<AuditRecord>,
    ) -> Result<crate::instance::Task> {
        if before.claimed_by.as_deref() == Some(to) {
            conn.rollback().await?;
            return Ok(before);
        }
        let scope = actor.task_scope();
        let (id, from) = (before.id, before.claimed_by.as_deref());
        if !store::move_claim(&conn, id, scope.as_deref(), from, to).await? {
            return Err(changed_hands());
        }
        let task = self.visible_task(&conn, id, actor).await?;
        match record {
            Some(record) => {
                let record = record.subject(task.subject.clone()).target(id);
                self.commit_recorded(conn, actor, record).await?;
            }
            None => self.commit(conn).await?,
        }
        Ok(task)
    }

    /// A task `actor` may see that is still open; a closed one is a 409 saying how it ended.
    async fn open_visible_task(
        &self,
        conn: &DatabaseTransaction,
        task_id: Uuid,
        actor: &Actor,
    ) -> Result<crate::instance::Task> {
        let task = self.visible_task(conn, task_id, actor).await?;
        if task.status != TaskStatus::Open {
            return Err(TransitionError::TaskClosed {
                task: task_id,
                status: task.status.as_str().into(),
            }
            .into());
        }
        Ok(task)
    }

    /// An open task the actor may see, its active instance, and the scope its form's
    /// expressions see (vars, subject, actor, today); refused when the task is closed or its
    /// instance is no longer in a manual step.
    pub(super) async fn open_task(
        &self,
        conn: &DatabaseTransaction,
        task_id: Uuid,
        actor: &Actor,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<OpenTask> {
        let task = self.open_visible_task(conn, task_id, actor).await?;
        let (def, row) = match self.load_active(conn, task.instance_id).await {
            Ok(loaded) => loaded,
            // Someone completed the task (and so moved the instance on) between our read of
            // the task and of its instance: say so, as for a task found closed.
            Err(EngineError::Transition(TransitionError::NotActive { .. })) => {
                let now_task = self.visible_task(conn, task_id, actor).await?;
                return Err(TransitionError::TaskClosed {
                    task: task_id,
                    status: now_task.status.as_str().into(),
                }
                .into());
            }
            Err(e) => return Err(e),
        };
        manual_form(&def, &row.state)?;
        let subject = self
            .subject_data(conn, &def, &row.subject)
            .await?
            .unwrap_or_else(|| json!({ "id": row.subject }));
        let scope = self
            .base_scope(&def, now)
            .with("vars", row.variables.clone())
            .with("subject", subject)
            .with("actor", serde_json::to_value(actor).unwrap_or(Value::Null));
        Ok(OpenTask {
            task,
            def,
            row,
            scope,
        })
    }
}

/// An open task with what completing it needs.
pub(super) struct OpenTask {
    pub task: Task,
    pub def: Arc<ProcessDefinition>,
    pub row: InstanceRow,
    pub scope: Scope,
}

/// The form of the manual step `state`; refused when the state is not a manual step.
pub(crate) fn manual_form<'d>(def: &'d ProcessDefinition, state: &str) -> Result<&'d Form> {
    match def.state(state).map(|s| &s.kind) {
        Some(StepKind::Manual(manual)) => Ok(&manual.form),
        _ => Err(TransitionError::NotAccepted {
            process: def.id.clone(),
            state: state.to_owned(),
            event: "submit".into(),
        }
        .into()),
    }
}

/// The 409 of a claim that moved between a read and the write that relied on it.
fn changed_hands() -> EngineError {
    TransitionError::Raced("the task changed hands meanwhile; look at it again".into()).into()
}

impl Commands<'_> {
    /// Starts `process` (or the process replacing it) for `subject`, as `actor`. People may
    /// start only processes with a `start: manual`, and only where its `allowed` holds.
    #[tracing::instrument(skip(self, vars, actor), fields(actor = %actor.id))]
    pub async fn start_instance(
        self,
        process: &str,
        subject: &str,
        vars: Map<String, Value>,
        actor: &Actor,
    ) -> Result<Uuid> {
        if self.engine.catalog().latest(process).is_none() {
            self.engine.refresh_catalog().await?;
        }
        let (version, def) = self
            .engine
            .catalog()
            .latest(process)
            .ok_or_else(|| EngineError::not_found("process", process))?;
        self.engine
            .retrying(|| async {
                let conn = self.engine.begin_write().await?;
                let now = self.engine.clock.now();
                // Whether people may start the process at all is answered before anything about
                // the subject, so a refusal does not tell whether the subject exists.
                let manual = match (actor.role.as_str(), &def.manual_start) {
                    ("system", _) => None,
                    (_, Some(manual)) => Some(manual),
                    (_, None) => {
                        return Err(EngineError::Forbidden(
                            Message::new(Code::NOT_STARTED_BY_HAND).with("process", &def.id),
                        ));
                    }
                };
                // Roles that see no subject at all (designers, integrations, auditors) are told
                // so whatever the subject: that answer says nothing about anyone.
                if !actor.sees_all() && !actor.is_caseworker() {
                    return Err(EngineError::Forbidden(
                        Message::new(Code::ROLE_STARTS_NOTHING).with("role", actor.role.as_str()),
                    ));
                }
                // A subject the caller may not see is answered exactly like one that does not
                // exist, before the start rule runs: a start must neither reveal a subject nor
                // make one visible (docs/security.md).
                let unknown = || {
                    EngineError::invalid(
                        "subject",
                        Message::new(Code::NO_SUCH_SUBJECT)
                            .with("kind", &def.subject_kind)
                            .with("id", subject),
                    )
                };
                if !self
                    .engine
                    .may_see(&conn, &def.subject_kind, subject, actor, now)
                    .await?
                {
                    return Err(unknown());
                }
                let subject_data = self
                    .engine
                    .subject_data(&conn, &def, subject)
                    .await?
                    .ok_or_else(unknown)?;
                if let Some(allowed) = manual.and_then(|m| m.allowed.as_ref()) {
                    let scope = self
                        .engine
                        .base_scope(&def, now)
                        .with("subject", subject_data)
                        .with("actor", serde_json::to_value(actor).unwrap_or(Value::Null))
                        .with("vars", Value::Object(vars.clone()));
                    // The guard reads what the caller gave (vars, subject): when it cannot be
                    // evaluated, the start lacks something it needs — the caller's to mend (422).
                    let permitted = allowed.eval_bool(&scope).map_err(|e| {
                        EngineError::invalid(
                            "variables",
                            Message::new(Code::START_VARIABLES)
                                .with("process", &def.id)
                                .with("error", e),
                        )
                    })?;
                    if !permitted {
                        let reason = manual.and_then(|m| m.refusal.clone()).map_or_else(
                            || {
                                Message::new(Code::START_NOT_ALLOWED)
                                    .with("process", &def.title)
                                    .with("subject", subject)
                            },
                            Message::Written,
                        );
                        return Err(EngineError::Forbidden(reason));
                    }
                }
                let mut tx = Txn::new(&conn, now);
                let request = StartRequest {
                    def: def.clone(),
                    version,
                    subject: subject.to_owned(),
                    vars: vars.clone(),
                    parent: None,
                    actor: Some(actor),
                    job_run: None,
                    started_in: actor.municipality.clone().filter(|_| !actor.sees_all()),
                };
                let row = self.engine.start_in(&mut tx, request).await?;
                let record = AuditRecord::new(AuditAction::InstanceStart)
                    .subject(subject)
                    .target(row.id)
                    .detail(json!({ "process": def.id, "version": version }));
                tx.flush_recorded(actor, record).await?;
                self.engine.commit(conn).await?;
                Ok(row.id)
            })
            .await
    }

    /// Completes a task with a submitted form. A caseworker sees only tasks of their own
    /// municipality: another municipality's task is "not found", not "forbidden", so its
    /// existence does not leak.
    #[tracing::instrument(skip(self, form, actor), fields(actor = %actor.id))]
    pub async fn complete_task(
        self,
        task_id: Uuid,
        form: &Map<String, Value>,
        actor: &Actor,
    ) -> Result<()> {
        self.engine
            .retrying(|| async {
                let conn = self.engine.begin_write().await?;
                let now = self.engine.clock.now();
                let open = self.engine.open_task(&conn, task_id, actor, now).await?;
                if let Some(holder) = open.task.claimed_by.clone().filter(|h| *h != actor.id)
                    && !actor.sees_all()
                {
                    return Err(TransitionError::TaskClaimed {
                        task: task_id,
                        by: holder,
                    }
                    .into());
                }
                let OpenTask {
                    def,
                    mut row,
                    scope,
                    ..
                } = open;
                let spec = manual_form(&def, &row.state)?;
                let parsed = spec
                    .validate(
                        form,
                        &scope,
                        self.engine.registry.as_ref(),
                        &self.engine.options.text_limits,
                    )
                    .map_err(EngineError::Invalid)?;
                store::complete_task(
                    &conn,
                    task_id,
                    &actor.id,
                    !actor.sees_all(),
                    &Value::Object(parsed.clone()),
                    now,
                )
                .await?;
                let mut tx = Txn::new(&conn, now);
                self.engine
                    .drive(
                        &mut tx,
                        &def,
                        &mut row,
                        Event::Submitted {
                            form: parsed,
                            actor: actor.clone(),
                        },
                        Some(actor),
                    )
                    .await?;
                tx.flush().await?;
                self.engine.commit(conn).await?;
                Ok(())
            })
            .await
    }

    /// Takes an open task so colleagues see it is being worked on (`claim`), or gives it back.
    /// Claiming a task someone else holds, or a closed one, is a 409.
    #[tracing::instrument(skip(self, actor), fields(actor = %actor.id))]
    pub async fn claim_task(
        self,
        task_id: Uuid,
        actor: &Actor,
        claim: bool,
    ) -> Result<crate::instance::Task> {
        self.engine
            .retrying(|| async {
                let conn = self.engine.begin_write().await?;
                let scope = actor.task_scope();
                // An admin (no scope) may give back anybody's claim: that is recorded, naming whose.
                let released_from = if !claim && scope.is_none() {
                    let before = self.engine.visible_task(&conn, task_id, actor).await?;
                    before.claimed_by.filter(|holder| *holder != actor.id)
                } else {
                    None
                };
                let changed =
                    store::set_task_claim(&conn, task_id, scope.as_deref(), &actor.id, claim)
                        .await?;
                let task = self.engine.visible_task(&conn, task_id, actor).await?;
                if let (true, Some(from)) = (changed, released_from) {
                    let record = AuditRecord::new(AuditAction::TaskRelease)
                        .subject(task.subject.clone())
                        .target(task_id)
                        .detail(json!({ "from": from }));
                    self.engine.commit_recorded(conn, actor, record).await?;
                    return Ok(task);
                }
                if !changed {
                    if task.status != TaskStatus::Open {
                        return Err(TransitionError::TaskClosed {
                            task: task_id,
                            status: task.status.as_str().into(),
                        }
                        .into());
                    }
                    if let Some(holder) = task.claimed_by.clone().filter(|h| *h != actor.id) {
                        return Err(TransitionError::TaskClaimed {
                            task: task_id,
                            by: holder,
                        }
                        .into());
                    }
                }
                self.engine.commit(conn).await?;
                Ok(task)
            })
            .await
    }

    /// Takes an open task over from the colleague who claimed it (they are away, the citizen
    /// is waiting): the claim becomes `actor`'s, and the audit log records from whom, in the
    /// same transaction. A task nobody holds is simply claimed; a closed one is a 409, and so
    /// is a claim that changed hands between the read and the write.
    #[tracing::instrument(skip(self, actor), fields(actor = %actor.id))]
    pub async fn take_over_task(
        self,
        task_id: Uuid,
        actor: &Actor,
    ) -> Result<crate::instance::Task> {
        self.engine
            .retrying(|| async {
                let conn = self.engine.begin_write().await?;
                let before = self.engine.open_visible_task(&conn, task_id, actor).await?;
                let from = before.claimed_by.clone();
                let record = from.as_ref().map(|from| {
                    AuditRecord::new(AuditAction::TaskTakeOver).detail(json!({ "from": from }))
                });
                self.engine
                    .hand_task(conn, actor, before, &actor.id, record)
                    .await
            })
            .await
    }

    /// Gives an open task to `to`, an active caseworker of the task's municipality (a colleague
    /// who is better placed, a case that belongs together), recorded in the audit log with
    /// who held it before. A caseworker gives away a free task or their own (one a third
    /// colleague holds is a 409: take it over first); an admin may move anyone's claim.
    /// Anyone else as `to` is refused alike, whether they do not exist, are disabled or work
    /// elsewhere (422 at `to`).
    #[tracing::instrument(skip(self, actor), fields(actor = %actor.id))]
    pub async fn assign_task(
        self,
        task_id: Uuid,
        actor: &Actor,
        to: &str,
    ) -> Result<crate::instance::Task> {
        self.engine
            .retrying(|| async {
                let conn = self.engine.begin_write().await?;
                let before = self.engine.open_visible_task(&conn, task_id, actor).await?;
                let eligible = match before.municipality.as_deref() {
                    Some(m) => store::active_caseworkers(&conn, m)
                        .await?
                        .iter()
                        .any(|u| u.username == to),
                    None => false,
                };
                if !eligible {
                    let why = match before.municipality.as_deref() {
                        Some(m) => Message::new(Code::NO_COLLEAGUE)
                            .with("municipality", m)
                            .with("name", to),
                        None => Message::new(Code::TASK_WITHOUT_MUNICIPALITY),
                    };
                    return Err(EngineError::invalid("to", why));
                }
                let from = before.claimed_by.clone();
                // A caseworker gives away only a free task or their own; an admin (no scope) may
                // move anyone's claim, and the entry names whose it was.
                if let Some(other) = from.as_deref().filter(|h| *h != actor.id && *h != to)
                    && actor.task_scope().is_some()
                {
                    return Err(TransitionError::TaskClaimed {
                        task: task_id,
                        by: other.to_owned(),
                    }
                    .into());
                }
                let record = AuditRecord::new(AuditAction::TaskAssign)
                    .detail(json!({ "to": to, "from": from }));
                self.engine
                    .hand_task(conn, actor, before, to, Some(record))
                    .await
            })
            .await
    }
}
