//! Inbound messages: deduplicated by message id, they start instances or wake waiting ones.
//! A message nobody takes is kept as a dead letter with the reason, never dropped.

use super::facades::{Commands, Operations};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::Engine;
use super::execute::{StartRequest, Txn};
use crate::audit::{AuditAction, AuditRecord};
use crate::definition::transition::Event;
use crate::definition::{StepKind, Wait, WaitSpec};
use crate::error::{EngineError, Result, TransitionError};
use crate::expr::eval_object;
use crate::instance::{Actor, DeadLetter};
use crate::message::{Code, Message};
use crate::store;

/// A message from outside, e.g. a population-register change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboundMessage {
    pub message_id: String,
    #[serde(rename = "type")]
    pub message_type: String,
    pub data: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MessageOutcome {
    /// Seen before; nothing was done again.
    Duplicate {
        first_outcome: String,
    },
    Accepted {
        started: Vec<Uuid>,
        resumed: Vec<Uuid>,
    },
    DeadLetter {
        reason: String,
    },
}

impl Engine {
    async fn deliver_once(
        &self,
        msg: &InboundMessage,
        replaying: Option<(i64, &Actor)>,
    ) -> Result<MessageOutcome> {
        self.refresh_catalog().await?;
        let conn = self.begin_write().await?;
        let now = self.clock.now();
        let first = match replaying {
            None => {
                store::record_message(
                    &conn,
                    &msg.message_id,
                    &msg.message_type,
                    &msg.data,
                    "processing",
                    now,
                )
                .await?
            }
            // Taken once: a second replay of the same letter (two admins) finds it gone.
            Some((id, _)) => {
                if !store::delete_dead_letter(&conn, id).await? {
                    return Err(EngineError::not_found("dead letter", id));
                }
                store::set_message_outcome(&conn, &msg.message_id, "processing").await?;
                true
            }
        };
        if !first {
            // The same id with other content is not a retry of the same message: answering
            // `duplicate` would drop the second content without anyone knowing.
            if let Some((first_type, first_data)) =
                store::recorded_message(&conn, &msg.message_id).await?
                && (first_type != msg.message_type || first_data != msg.data)
            {
                let letter = DeadLetter {
                    id: 0,
                    // No id, so it cannot be replayed as if it were one message: the source
                    // has to send the second content again under an id of its own.
                    message_id: None,
                    message_type: msg.message_type.clone(),
                    payload: serde_json::json!({
                        "message_id": msg.message_id,
                        "first": { "type": first_type, "data": first_data },
                        "second": { "type": msg.message_type, "data": msg.data },
                    }),
                    reason: format!(
                        "conflicting duplicate: message id {} was received before with different content; the second (here beside the first) was not taken",
                        msg.message_id
                    ),
                    received_at: now,
                };
                let dead_letter = store::insert_dead_letter(&conn, &letter).await?;
                self.commit(conn).await?;
                return Err(TransitionError::ConflictingDuplicate {
                    message_id: msg.message_id.clone(),
                    dead_letter,
                }
                .into());
            }
            let first_outcome = store::message_outcome(&conn, &msg.message_id)
                .await?
                .unwrap_or_default();
            conn.rollback().await?;
            return Ok(MessageOutcome::Duplicate { first_outcome });
        }
        if let Some(message_type) = self.registry.message_type(&msg.message_type)
            && let Err(problem) = message_type.validate(&msg.data)
        {
            let reason = format!("invalid {} message: {problem}", msg.message_type);
            keep_dead_letter(&conn, msg, &reason, now).await?;
            store::set_message_outcome(&conn, &msg.message_id, "dead-letter").await?;
            self.commit_delivery(conn, replaying, msg).await?;
            return Ok(MessageOutcome::DeadLetter { reason });
        }
        let catalog = self.catalog();
        let mut started = Vec::new();
        let mut resumed = Vec::new();
        let mut reasons = Vec::new();
        let mut interested = false;

        for (version, def) in catalog.latest_all() {
            let Some(start) = def
                .message_start
                .as_ref()
                .filter(|s| s.message_type == msg.message_type)
            else {
                continue;
            };
            interested = true;
            let scope = self.base_scope(&def, now).with("msg", msg.data.clone());
            if let Some(when) = &start.when {
                match when.eval_bool(&scope) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        reasons.push(format!("{}: {e}", def.id));
                        continue;
                    }
                }
            }
            let (subject, mut vars) = match (
                start.subject.eval_string(&scope),
                eval_object(&start.vars, &scope),
            ) {
                (Ok(s), Ok(v)) => (s, v),
                (Err(e), _) | (_, Err(e)) => {
                    reasons.push(format!("{}: {e}", def.id));
                    continue;
                }
            };
            if self.subject_data(&conn, &def, &subject).await?.is_none() {
                reasons.push(format!("unknown {} {subject}", def.subject_kind));
                continue;
            }
            vars.insert("msg".into(), msg.data.clone());
            // Each start in a savepoint: one that cannot start is a reason, not a lost message.
            let savepoint = conn.begin().await?;
            let mut tx = Txn::new(&savepoint, now);
            let request = StartRequest {
                def: def.clone(),
                version,
                subject,
                vars,
                parent: None,
                actor: None,
                job_run: None,
                started_in: None,
            };
            let outcome = match self.start_in(&mut tx, request).await {
                Ok(row) => tx.flush().await.map(|()| row.id),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(id) => {
                    savepoint.commit().await?;
                    started.push(id);
                }
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => {
                    savepoint.rollback().await?;
                    reasons.push(format!("{}: {e}", def.id));
                }
            }
        }

        // Every deployed version may have instances waiting; each waiting state matches its
        // own key, so a key computed for one process never wakes another's instances.
        let mut any_key = false;
        for (version, def) in catalog.all() {
            for state in def.states.values() {
                let StepKind::Wait(Wait {
                    wait:
                        WaitSpec::Message {
                            message_type,
                            correlate,
                            ..
                        },
                    ..
                }) = &state.kind
                else {
                    continue;
                };
                if *message_type != msg.message_type {
                    continue;
                }
                interested = true;
                let scope = self.base_scope(&def, now).with("msg", msg.data.clone());
                let key = match correlate.eval_string(&scope) {
                    Ok(key) => key,
                    Err(e) => {
                        reasons.push(format!("{}.{}: {e}", def.id, state.id));
                        continue;
                    }
                };
                any_key = true;
                let waiters = store::message_waiters(
                    &conn,
                    &msg.message_type,
                    &key,
                    &def.id,
                    version,
                    &state.id,
                )
                .await?;
                for instance_id in waiters {
                    let event = Event::MessageReceived {
                        msg: msg.data.clone(),
                    };
                    let what = format!("message {}", msg.message_id);
                    if let Woken::Moved = self
                        .wake_waiter(&conn, instance_id, event, &what, now, 0)
                        .await?
                    {
                        resumed.push(instance_id);
                    }
                }
            }
        }
        if any_key && resumed.is_empty() && started.is_empty() {
            reasons.push(format!(
                "no instance waits for this {} message",
                msg.message_type
            ));
        }

        let outcome = if !started.is_empty() || !resumed.is_empty() {
            MessageOutcome::Accepted { started, resumed }
        } else {
            let reason = if !reasons.is_empty() {
                reasons.join("; ")
            } else if interested {
                format!(
                    "every process starting on `{}` declined it (its `when` was false)",
                    msg.message_type
                )
            } else {
                format!(
                    "no process starts on or waits for message type `{}`",
                    msg.message_type
                )
            };
            keep_dead_letter(&conn, msg, &reason, now).await?;
            MessageOutcome::DeadLetter { reason }
        };
        let label = match &outcome {
            MessageOutcome::Accepted { .. } => "accepted",
            MessageOutcome::DeadLetter { .. } => "dead-letter",
            MessageOutcome::Duplicate { .. } => "duplicate",
        };
        store::set_message_outcome(&conn, &msg.message_id, label).await?;
        self.commit_delivery(conn, replaying, msg).await?;
        Ok(outcome)
    }

    /// Commits a delivery; an admin's replay of a dead letter commits with its audit entry,
    /// appended last so that the audit log's lock is held only for the commit.
    async fn commit_delivery(
        &self,
        conn: super::WriteTxn,
        replaying: Option<(i64, &Actor)>,
        msg: &InboundMessage,
    ) -> Result<()> {
        match replaying {
            Some((id, actor)) => {
                let record = AuditRecord::new(AuditAction::DeadLetterReplay)
                    .target(id)
                    .detail(serde_json::json!({
                        "message_id": msg.message_id,
                        "type": msg.message_type,
                    }));
                self.commit_recorded(conn, actor, record).await
            }
            None => self.commit(conn).await,
        }
    }

    /// Wakes one waiting instance with `event` in a savepoint of its own. A waiter that cannot
    /// take it gets an incident (the error is returned); the other waiters still get theirs.
    /// One that no longer waits (it moved on, or was stopped) is left alone, and so is its
    /// subscription dropped. `depth` counts signals nested inside the sending transition.
    pub(super) async fn wake_waiter(
        &self,
        conn: &super::WriteTxn,
        instance_id: uuid::Uuid,
        event: Event,
        what: &str,
        now: chrono::DateTime<chrono::Utc>,
        depth: usize,
    ) -> Result<Woken> {
        let savepoint = conn.begin().await?;
        let result = async {
            // Leaving the wait gives its subscription (and a signal's deadline) up.
            let (def, mut row) = self.load_active(&savepoint, instance_id).await?;
            let mut tx = Txn::nested(&savepoint, now, depth);
            self.drive(&mut tx, &def, &mut row, event, None).await?;
            tx.flush().await
        }
        .await;
        match result {
            Ok(()) => {
                savepoint.commit().await?;
                Ok(Woken::Moved)
            }
            Err(e) if e.is_transient() => Err(e),
            // Someone else changed it meanwhile: the caller's transaction tries again.
            Err(e @ EngineError::Transition(TransitionError::Conflict { .. })) => Err(e),
            // Suspended: it still waits, and will again once resumed; what it waits for is
            // kept (a message it missed is a dead letter, replayable after the resume).
            Err(EngineError::Transition(t)) if t.is_suspended() => {
                savepoint.rollback().await?;
                Ok(Woken::NotWaiting)
            }
            Err(EngineError::Transition(
                TransitionError::NotActive { .. } | TransitionError::NotAccepted { .. },
            )) => {
                savepoint.rollback().await?;
                store::drop_subscriptions(conn, instance_id).await?;
                Ok(Woken::NotWaiting)
            }
            Err(e) => {
                savepoint.rollback().await?;
                let error = format!("{what} could not be applied: {e}");
                // No action failed: a retry enters the waiting state again.
                store::mark_incident(
                    conn,
                    instance_id,
                    &crate::instance::IncidentCause::Definition,
                    &error,
                    now,
                )
                .await?;
                Ok(Woken::Failed(error))
            }
        }
    }
}

/// What waking one waiter did.
pub(super) enum Woken {
    Moved,
    /// It was no longer waiting for this.
    NotWaiting,
    /// It could not take it and has an incident with this error.
    Failed(String),
}

/// Keeps a message nobody could take, with the reason, for an admin.
async fn keep_dead_letter(
    conn: &sea_orm::DatabaseTransaction,
    msg: &InboundMessage,
    reason: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let letter = DeadLetter {
        id: 0,
        message_id: Some(msg.message_id.clone()),
        message_type: msg.message_type.clone(),
        payload: msg.data.clone(),
        reason: reason.to_owned(),
        received_at: now,
    };
    store::insert_dead_letter(conn, &letter).await?;
    Ok(())
}

impl Commands<'_> {
    /// Takes a message exactly once: a second delivery with the same id and content changes
    /// nothing (`Duplicate`); one with the same id and other content is refused
    /// ([`TransitionError::ConflictingDuplicate`]) and kept, with the first, as a dead letter.
    #[tracing::instrument(skip(self, msg), fields(message_id = %msg.message_id, message_type = %msg.message_type))]
    pub async fn deliver(self, msg: &InboundMessage) -> Result<MessageOutcome> {
        let mut errors = crate::form::FieldErrors::new();
        if msg.message_id.trim().is_empty() {
            errors.insert("message_id".into(), Message::new(Code::REQUIRED));
        }
        if msg.message_type.trim().is_empty() {
            errors.insert("type".into(), Message::new(Code::REQUIRED));
        }
        // A message's data is a mapping of named values (the API's schema says so); anything
        // else is refused here rather than kept as a dead letter no one can read as one.
        if !msg.data.is_object() {
            errors.insert("data".into(), Message::new(Code::NOT_AN_OBJECT));
        }
        let limits = &self.engine.options.text_limits;
        crate::limits::check(
            &mut errors,
            "message_id",
            &msg.message_id,
            limits.message_id,
        );
        crate::limits::check(&mut errors, "type", &msg.message_type, limits.message_type);
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }
        self.engine
            .retrying(|| self.engine.deliver_once(msg, None))
            .await
    }
}

impl Operations<'_> {
    /// Delivers a dead letter again, e.g. a message that came before the instance it was for
    /// waited, or one a package now accepts. The letter leaves the list in the same
    /// transaction; if no process takes the message this time either, it is a dead letter
    /// again with the new reason. Only the message's own id lets it past the deduplication.
    /// The replay is recorded in the audit log in its transaction.
    #[tracing::instrument(skip(self, actor), fields(actor = %actor.id))]
    pub async fn replay_dead_letter(self, id: i64, actor: &Actor) -> Result<MessageOutcome> {
        let letter = store::dead_letter(&self.engine.db, id)
            .await?
            .ok_or_else(|| EngineError::not_found("dead letter", id))?;
        let Some(message_id) = letter.message_id.clone() else {
            return Err(EngineError::invalid(
                "message_id",
                Message::new(Code::MESSAGE_WITHOUT_ID),
            ));
        };
        let msg = InboundMessage {
            message_id,
            message_type: letter.message_type,
            data: letter.payload,
        };
        self.engine
            .retrying(|| self.engine.deliver_once(&msg, Some((id, actor))))
            .await
    }
}
