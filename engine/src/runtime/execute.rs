//! Driving one instance through a transition: apply the pure transition, run inline actions
//! in savepoints, turn effects into writes, start children and follow-ups, resume parents.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Engine;
use super::WriteTxn;
use super::signals::Signaller;
use crate::action::ActionContext;
use crate::audit::AuditEntry;
use crate::definition::transition::{self, Effect, Event, Snapshot};
use crate::definition::{ProcessDefinition, StepKind};
use crate::error::{EngineError, Result, TransitionError};
use crate::expr::Scope;
use crate::instance::{
    Actor, HistoryEntry, IncidentCause, InstanceStatus, Task, TaskStatus, TimelineEvent, WorkKind,
};
use crate::message::{Code, Message};
use crate::store::{self, InstanceRow, Writes};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Inline steps one transaction may run for one instance before it is stopped as a loop.
const MAX_ROUNDS_PER_TRANSACTION: usize = 1000;
/// Nesting of `call`s started within one transaction.
const MAX_CALL_DEPTH: usize = 32;

/// One open transaction and the writes collected in it.
pub(super) struct Txn<'a> {
    pub conn: &'a WriteTxn,
    pub now: DateTime<Utc>,
    pub writes: Writes,
    /// Instances being driven right now (a parent waiting on a child started in this same
    /// transaction is resumed by its own loop, not re-entered).
    driving: Vec<Uuid>,
    /// Signals this transition runs inside of (an action's signal resumes instances whose
    /// actions may signal again).
    signal_depth: usize,
    /// Actions run and instances started in this transaction: writes beyond the instance's
    /// own rows, which a migration's undo cannot take back.
    pub beyond_instance: usize,
    /// Due dates a restart keeps, by instance and task kind: a task of that kind the instance
    /// is given in this transaction takes the date instead of its definition's (once).
    pub kept_due: Vec<(Uuid, String, DateTime<Utc>)>,
}

impl<'a> Txn<'a> {
    pub(super) fn new(conn: &'a WriteTxn, now: DateTime<Utc>) -> Self {
        Self {
            conn,
            now,
            writes: Writes::default(),
            driving: Vec::new(),
            signal_depth: 0,
            beyond_instance: 0,
            kept_due: Vec::new(),
        }
    }

    /// A transaction for an instance woken by a signal `depth` levels deep.
    pub(super) fn nested(conn: &'a WriteTxn, now: DateTime<Utc>, depth: usize) -> Self {
        Self {
            signal_depth: depth,
            ..Self::new(conn, now)
        }
    }

    /// Writes what this transaction collected; in a batch of the committer what no writer
    /// reads back waits for the batch's end ([`store::Deferred`]).
    pub(super) async fn flush(mut self) -> Result<()> {
        self.flush_so_far().await
    }

    /// [`Txn::flush`] in the middle of a transition, which then goes on collecting: what later
    /// reads must find is written now, and what waits for the batch's end waits in the order
    /// it was collected (flushing `writes` directly would put a later part's history rows
    /// before an earlier writer's deferred ones).
    pub(super) async fn flush_so_far(&mut self) -> Result<()> {
        if let Some(mut deferred) = self.conn.deferred() {
            self.writes.defer_into(&mut deferred);
        }
        self.writes.flush(self.conn, self.now).await
    }

    /// Flushes and appends `record` by `actor` to the audit log. In a batch of the committer
    /// (SQLite) the entry is sealed at the batch's end with the others', after one read of the
    /// chain's head; on PostgreSQL it goes in unsealed, in the flush's one call, for the
    /// sealer (`store::audit`).
    pub(super) async fn flush_recorded(
        mut self,
        actor: &Actor,
        record: crate::audit::AuditRecord,
    ) -> Result<()> {
        let entry = AuditEntry::unsealed(self.now, actor, record);
        if let Some(unsealed) = self.conn.defer_audit(vec![entry])
            && let Some(insert) = store::audit::appending(self.conn, unsealed).await?
        {
            self.writes.run_after(insert);
        }
        self.flush().await
    }
}

/// A request to start an instance inside a transaction.
pub(super) struct StartRequest<'r> {
    pub def: Arc<ProcessDefinition>,
    pub version: i32,
    pub subject: String,
    pub vars: Map<String, Value>,
    pub parent: Option<(Uuid, Option<String>)>,
    pub actor: Option<&'r Actor>,
    /// The logbook entry a scheduled or queued job run starts for; a job started any other
    /// way gets a new one.
    pub job_run: Option<i64>,
    /// See [`crate::instance::ProcessInstance::started_in`].
    pub started_in: Option<String>,
}

impl Engine {
    /// The data expressions see as `subject`; `None` when a provider says the subject does not
    /// exist.
    pub(super) async fn subject_data(
        &self,
        conn: &DatabaseTransaction,
        def: &ProcessDefinition,
        id: &str,
    ) -> Result<Option<Value>> {
        let mut data = match self.registry.subject_provider(&def.subject_kind) {
            Some(provider) => match provider.load(conn, id).await {
                Ok(Some(data)) => data,
                Ok(None) => return Ok(None),
                Err(e) => {
                    tracing::error!(subject = id, kind = %def.subject_kind, error = %e, "subject provider failed");
                    return Err(EngineError::SubjectUnavailable {
                        kind: def.subject_kind.clone(),
                    });
                }
            },
            None => json!({}),
        };
        if let Value::Object(map) = &mut data {
            map.insert("id".into(), Value::String(id.to_owned()));
        } else {
            data = json!({ "id": id });
        }
        Ok(Some(data))
    }

    /// The scope of expressions evaluated outside a transition (start guards, form checks).
    pub(crate) fn base_scope(&self, def: &ProcessDefinition, now: DateTime<Utc>) -> Scope {
        Scope::new()
            .with(
                "today",
                Value::String(
                    now.with_timezone(&def.timezone)
                        .format("%Y-%m-%d")
                        .to_string(),
                ),
            )
            .with("now", Value::String(now.to_rfc3339()))
            .with("ref", self.registry.references_json())
    }

    pub(super) fn start_in<'s>(
        &'s self,
        tx: &'s mut Txn<'_>,
        request: StartRequest<'s>,
    ) -> BoxFuture<'s, Result<InstanceRow>> {
        Box::pin(async move {
            tx.beyond_instance += 1;
            let mut row = InstanceRow {
                id: Uuid::now_v7(),
                process_id: request.def.id.clone(),
                version: request.version,
                subject: request.subject,
                state: String::new(),
                status: InstanceStatus::Active,
                variables: Value::Object(request.vars),
                row_version: 0,
                parent_id: request.parent.as_ref().map(|p| p.0),
                parent_state: request.parent.and_then(|p| p.1),
                created_at: tx.now,
                ended_at: None,
                started_in: request.started_in,
                is_new: true,
            };
            if request.def.job.is_some() {
                self.attach_job_run(
                    tx.conn,
                    &request.def,
                    request.job_run,
                    row.id,
                    tx.now,
                    request.actor,
                )
                .await?;
            }
            self.drive(tx, &request.def, &mut row, Event::Start, request.actor)
                .await?;
            Ok(row)
        })
    }

    /// Applies `event` and everything that follows from it without waiting, then queues the
    /// instance row for the flush.
    pub(super) fn drive<'s>(
        &'s self,
        tx: &'s mut Txn<'_>,
        def: &'s Arc<ProcessDefinition>,
        row: &'s mut InstanceRow,
        event: Event,
        actor: Option<&'s Actor>,
    ) -> BoxFuture<'s, Result<()>> {
        Box::pin(async move {
            if tx.driving.len() >= MAX_CALL_DEPTH {
                return Err(TransitionError::CallDepth {
                    process: def.id.clone(),
                    depth: tx.driving.len(),
                }
                .into());
            }
            tx.driving.push(row.id);
            let mut event = event;
            let mut rounds = 0;
            loop {
                rounds += 1;
                if rounds > MAX_ROUNDS_PER_TRANSACTION {
                    // Validation refuses loops without a waiting state; this guards what it
                    // cannot see (an action that keeps a loop going by its output).
                    row.status = InstanceStatus::Incident;
                    let message = format!(
                        "more than {MAX_ROUNDS_PER_TRANSACTION} steps without waiting: stopped"
                    );
                    tx.writes.incident(
                        row.id,
                        &row.state,
                        &IncidentCause::Definition,
                        &message,
                        1,
                        tx.now,
                    );
                    break;
                }
                // Only transitions that may read the subject pay for loading it; it is loaded
                // again after every action, which may have changed it (e.g. its municipality).
                let subject_value = std::sync::Arc::new(if def.subject_needed(&row.state) {
                    self.subject_data(tx.conn, def, &row.subject)
                        .await?
                        .unwrap_or_else(|| json!({ "id": row.subject }))
                } else {
                    json!({ "id": row.subject })
                });
                let snapshot = Snapshot {
                    state: row.state.clone(),
                    vars: match &row.variables {
                        Value::Object(m) => m.clone(),
                        _ => Map::new(),
                    },
                    subject: subject_value.clone(),
                    now: tx.now,
                    references: self.registry.references_json(),
                };
                let data = match &event {
                    Event::Submitted { form, .. } => Some(Value::Object(form.clone())),
                    Event::MessageReceived { msg } => Some(msg.clone()),
                    Event::Signalled { data } => Some(data.clone()),
                    Event::ActionFailed { error, .. } => Some(json!({ "error": error })),
                    Event::Restarted { audit, .. } => Some(audit.clone()),
                    _ => None,
                };
                let t = transition::apply(def, &snapshot, event)?;
                for m in &t.moves {
                    tx.writes.history(
                        row.id,
                        HistoryEntry {
                            from_state: m.from.clone(),
                            to_state: m.to.clone(),
                            trigger: m.trigger.to_owned(),
                            actor: actor.map(|a| a.id.clone()),
                            data: data.clone(),
                            at: tx.now,
                        },
                    );
                }
                row.state = t.state;
                row.variables = Value::Object(t.vars);
                row.status = t.status;
                let mut next_event = None;
                for effect in t.effects {
                    next_event = next_event.or(self
                        .apply_effect(tx, def, row, effect, &subject_value)
                        .await?);
                }
                match next_event {
                    Some(e) => event = e,
                    None => break,
                }
            }
            tx.writes.instance(row, tx.now);
            tx.driving.retain(|id| *id != row.id);
            Ok(())
        })
    }

    /// Applies one effect; returns the event to continue with when the effect completed a
    /// waiting state at once (an inline action, a child that ended immediately).
    async fn apply_effect(
        &self,
        tx: &mut Txn<'_>,
        def: &Arc<ProcessDefinition>,
        row: &mut InstanceRow,
        effect: Effect,
        subject: &Value,
    ) -> Result<Option<Event>> {
        let now = tx.now;
        match effect {
            Effect::Release { holding, .. } => {
                tx.writes.forget(row.id, holding);
                store::release_holding(tx.conn, row.id, holding, now).await?;
            }
            Effect::RunAction {
                state,
                action,
                input,
                attempt,
            } => {
                return Ok(Some(
                    self.run_action(tx, def, row, &state, &action, input, attempt)
                        .await?,
                ));
            }
            Effect::ScheduleStep { state, at, attempt } => {
                tx.writes
                    .work(row.id, WorkKind::Step, &state, at, attempt, now)
            }
            Effect::ScheduleTimer { state, at } => {
                tx.writes.work(row.id, WorkKind::Timer, &state, at, 0, now)
            }
            Effect::Subscribe {
                state,
                message_type,
                key,
            } => tx.writes.wait(row, &state, &message_type, &key),
            Effect::CreateTask {
                state,
                kind,
                title_template,
                municipality,
                due_at,
            } => {
                if let (Some(home), Some(to)) = (&row.started_in, &municipality)
                    && home != to
                    && !def.state(&state).is_some_and(
                        |s| matches!(&s.kind, StepKind::Manual(m) if m.task.assign_elsewhere),
                    )
                {
                    return Err(EngineError::Forbidden(
                        Message::new(Code::TASK_STAYS_HOME)
                            .with("process", &def.id)
                            .with("state", &state)
                            .with("to", to)
                            .with("home", home),
                    ));
                }
                // In the order the old tasks were made, so several of one kind keep theirs.
                let due_at = match tx
                    .kept_due
                    .iter()
                    .position(|(instance, k, _)| *instance == row.id && *k == kind)
                {
                    Some(at) => Some(tx.kept_due.remove(at).2),
                    None => due_at,
                };
                let title = self
                    .titles
                    .render_template(
                        &title_template,
                        &json!({ "subject": subject, "vars": row.variables }),
                    )
                    .unwrap_or(title_template);
                tx.writes.task(Task {
                    id: Uuid::now_v7(),
                    instance_id: row.id,
                    process_id: row.process_id.clone(),
                    state,
                    kind,
                    subject: row.subject.clone(),
                    title,
                    municipality,
                    status: TaskStatus::Open,
                    claimed_by: None,
                    due_at,
                    created_at: now,
                    completed_at: None,
                    completed_by: None,
                    data: None,
                });
            }
            Effect::Emit { kind, data } => tx.writes.event(TimelineEvent {
                subject: row.subject.clone(),
                instance_id: Some(row.id),
                process_id: row.process_id.clone(),
                kind,
                data,
                at: now,
            }),
            Effect::StartFollowUp {
                state,
                process,
                municipality,
                mut vars,
            } => {
                let (version, child) = self
                    .catalog()
                    .latest(&process)
                    .ok_or_else(|| EngineError::not_found("process", &process))?;
                vars.insert("municipality".into(), Value::String(municipality));
                vars.insert(
                    "origin".into(),
                    json!({ "process": row.process_id, "instance": row.id, "state": state }),
                );
                let request = StartRequest {
                    def: child,
                    version,
                    subject: row.subject.clone(),
                    vars,
                    parent: Some((row.id, None)),
                    actor: None,
                    job_run: None,
                    // A follow-up names its municipality in the definition: that is explicit.
                    started_in: None,
                };
                self.start_in(tx, request).await?;
            }
            Effect::StartChild {
                state,
                process,
                subject,
                vars,
            } => {
                let (version, child) = self
                    .catalog()
                    .latest(&process)
                    .ok_or_else(|| EngineError::not_found("process", &process))?;
                // A caseworker's start may call a process for another subject only if that
                // caseworker may see it: its tasks stay in their municipality and would show
                // the subject there. A missing subject is refused alike.
                if let Some(home) = &row.started_in
                    && (subject != row.subject || child.subject_kind != def.subject_kind)
                {
                    let starter = Actor::caseworker("started-by-hand", home);
                    if !self
                        .may_see(tx.conn, &child.subject_kind, &subject, &starter, now)
                        .await?
                    {
                        return Err(EngineError::invalid(
                            "subject",
                            Message::new(Code::CALL_NOT_VISIBLE)
                                .with("process", &def.id)
                                .with("child", &child.id)
                                .with("kind", &child.subject_kind),
                        ));
                    }
                }
                let request = StartRequest {
                    def: child,
                    version,
                    subject,
                    vars,
                    parent: Some((row.id, Some(state))),
                    actor: None,
                    job_run: None,
                    started_in: row.started_in.clone(),
                };
                let child = self.start_in(tx, request).await?;
                if child.status == InstanceStatus::Completed {
                    return Ok(Some(Event::ChildCompleted));
                }
            }
            Effect::Incident {
                state,
                cause,
                error,
                attempts,
            } => {
                tracing::warn!(instance = %row.id, process = %row.process_id, %state, %error, "incident");
                tx.writes
                    .incident(row.id, &state, &cause, &error, attempts, now);
            }
            Effect::Complete => {
                row.ended_at = Some(now);
                if let (Some(parent_id), Some(parent_state)) =
                    (row.parent_id, row.parent_state.clone())
                    && !tx.driving.contains(&parent_id)
                {
                    self.resume_parent(tx, parent_id, &parent_state).await?;
                }
            }
        }
        Ok(None)
    }

    async fn resume_parent(
        &self,
        tx: &mut Txn<'_>,
        parent_id: Uuid,
        waiting_state: &str,
    ) -> Result<()> {
        let Some((parent, parent_state)) = store::instance(tx.conn, parent_id).await? else {
            return Ok(());
        };
        if parent.state != waiting_state || parent.status != InstanceStatus::Active {
            return Ok(());
        }
        let def = self
            .catalog()
            .version(&parent.process_id, parent.version)
            .ok_or_else(|| EngineError::not_found("definition", &parent.process_id))?;
        let mut row = InstanceRow::stored(parent, parent_state);
        self.drive(tx, &def, &mut row, Event::ChildCompleted, None)
            .await
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; the parts are the effect's fields"
    )]
    async fn run_action(
        &self,
        tx: &mut Txn<'_>,
        def: &ProcessDefinition,
        row: &InstanceRow,
        state: &str,
        action: &str,
        input: Value,
        attempt: u32,
    ) -> Result<Event> {
        let handler = self
            .registry
            .action(action)
            .ok_or_else(|| EngineError::not_found("action", action))?;
        tx.beyond_instance += 1;
        // An action that writes runs in a savepoint, so its failure undoes only its own writes.
        let savepoint = if handler.writes() {
            Some(tx.conn.begin().await?)
        } else {
            None
        };
        let signaller = Signaller {
            engine: self,
            now: tx.now,
            depth: tx.signal_depth,
            savepoint: savepoint.as_ref(),
        };
        let ctx = ActionContext {
            signals: &signaller,
            conn: savepoint.as_ref().unwrap_or(tx.conn),
            instance_id: row.id,
            process_id: &def.id,
            state,
            subject: &row.subject,
            vars: &row.variables,
            started_at: row.created_at,
            attempt,
            now: tx.now,
        };
        let result = handler.call(&ctx, input).await;
        Ok(match result {
            Ok(output) => {
                if let Some(savepoint) = savepoint {
                    savepoint.commit().await?;
                }
                Event::ActionCompleted { output }
            }
            Err(e) => {
                if let Some(savepoint) = savepoint {
                    savepoint.rollback().await?;
                }
                let mut error = e.message.clone();
                if let Some(source) = &e.source {
                    error.push_str(&format!(": {source}"));
                }
                tracing::info!(instance = %row.id, action, attempt, %error, retryable = e.retryable, "action failed");
                Event::ActionFailed {
                    error,
                    retryable: e.retryable,
                    attempt,
                }
            }
        })
    }

    /// Loads an instance and its definition for a transition, refusing finished ones.
    pub(super) async fn load_active(
        &self,
        conn: &DatabaseTransaction,
        id: Uuid,
    ) -> Result<(Arc<ProcessDefinition>, InstanceRow)> {
        let (def, row) = self.load_any(conn, id).await?;
        if row.status != InstanceStatus::Active {
            return Err(TransitionError::NotActive {
                instance: id,
                status: row.status.as_str().into(),
            }
            .into());
        }
        Ok((def, row))
    }

    /// The instance and its definition version, whatever its status.
    pub(super) async fn load_any(
        &self,
        conn: &DatabaseTransaction,
        id: Uuid,
    ) -> Result<(Arc<ProcessDefinition>, InstanceRow)> {
        let (instance, parent_state) = store::instance(conn, id)
            .await?
            .ok_or_else(|| EngineError::not_found("instance", id))?;
        let def = self
            .definition_version(&instance.process_id, instance.version)
            .await?
            .ok_or_else(|| {
                EngineError::not_found(
                    "definition",
                    format!("{} v{}", instance.process_id, instance.version),
                )
            })?;
        Ok((def, InstanceRow::stored(instance, parent_state)))
    }

    /// A deployed version of a process, also one another node deployed since this node
    /// loaded its catalog.
    pub(super) async fn definition_version(
        &self,
        process: &str,
        version: i32,
    ) -> Result<Option<Arc<ProcessDefinition>>> {
        if let Some(def) = self.catalog().version(process, version) {
            return Ok(Some(def));
        }
        self.refresh_catalog().await?;
        Ok(self.catalog().version(process, version))
    }
}
