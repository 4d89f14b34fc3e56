//! Signals: an action wakes instances waiting in a `wait: { signal }` state, in the action's
//! own savepoint (see [`crate::ActionContext::signal`]). Unlike messages they never come from
//! outside, so they need no deduplication: the woken instances commit or roll back with the
//! action that woke them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::messages::Woken;
use super::{Engine, WriteTxn};
use crate::action::{ActionError, SignalOutcome, SignalSender};
use crate::definition::transition::Event;
use crate::definition::{StepKind, Wait, WaitSpec};
use crate::error::{EngineError, Result, TransitionError};
use crate::store;

/// Signals sent from instances that a signal woke, and so on. More is a loop of signals.
const MAX_SIGNAL_DEPTH: usize = 4;

/// What [`crate::ActionContext`] sends signals through: the engine, the transition's time,
/// and how deep in signals the sending transition is.
pub(super) struct Signaller<'e> {
    pub engine: &'e Engine,
    pub now: DateTime<Utc>,
    pub depth: usize,
    /// The savepoint of the action: only an action that runs in one of its own (one that
    /// writes) may signal, since its failure must undo the instances it woke.
    pub savepoint: Option<&'e WriteTxn>,
}

#[async_trait]
impl SignalSender for Signaller<'_> {
    async fn send(
        &self,
        name: &str,
        key: &str,
        data: Value,
    ) -> std::result::Result<SignalOutcome, ActionError> {
        let Some(conn) = self.savepoint else {
            return Err(ActionError::permanent(format!(
                "signal {name}: an action that declares it writes nothing cannot signal"
            )));
        };
        if self.depth >= MAX_SIGNAL_DEPTH {
            return Err(ActionError::permanent(format!(
                "signal {name} sent {MAX_SIGNAL_DEPTH} signals deep: a loop of signals?"
            )));
        }
        self.engine
            .signal(conn, name, key, data, self.now, self.depth + 1)
            .await
            .map_err(|e| ActionError {
                retryable: e.is_transient()
                    || matches!(e, EngineError::Transition(TransitionError::Conflict { .. })),
                message: format!("signal {name} {key}"),
                source: Some(Box::new(e)),
            })
    }
}

impl Engine {
    /// Whether `state` of that version is a wait for signal `name`.
    async fn waits_for_signal(
        &self,
        process: &str,
        version: i32,
        state: &str,
        name: &str,
    ) -> Result<bool> {
        let Some(def) = self.definition_version(process, version).await? else {
            return Ok(false);
        };
        Ok(matches!(
            def.state(state).map(|s| &s.kind),
            Some(StepKind::Wait(Wait {
                wait: WaitSpec::Signal { name: waits_for, .. },
                ..
            })) if waits_for == name
        ))
    }

    async fn signal(
        &self,
        conn: &WriteTxn,
        name: &str,
        key: &str,
        data: Value,
        now: DateTime<Utc>,
        depth: usize,
    ) -> Result<SignalOutcome> {
        let mut outcome = SignalOutcome::default();
        let what = format!("signal {name} {key}");
        // All waiters first, each once: one woken here may come to wait for the same signal
        // again on its way, and that is for the next signal, not this one.
        let waiting = store::subscriptions(conn, name, key).await?;
        let mut woke_any = false;
        for waiter in waiting {
            if !self
                .waits_for_signal(&waiter.process_id, waiter.version, &waiter.state, name)
                .await?
            {
                continue; // a message wait of the same name: signals never wake those
            }
            // One woken before it may have signalled it on already (a nested signal): then
            // the wait it was listed in is gone, and whatever it waits for now is not this.
            // Until one was woken nothing ran, so the common single waiter costs no read.
            if woke_any && !store::subscription_exists(conn, waiter.id).await? {
                continue;
            }
            woke_any = true;
            let event = Event::Signalled { data: data.clone() };
            match self
                .wake_waiter(conn, waiter.instance_id, event, &what, now, depth)
                .await?
            {
                Woken::Moved => outcome.resumed.push(waiter.instance_id),
                Woken::NotWaiting => {}
                Woken::Failed(error) => outcome.failed.push((waiter.instance_id, error)),
            }
        }
        if !outcome.failed.is_empty() {
            tracing::warn!(
                signal = name,
                key,
                failed = outcome.failed.len(),
                "signalled instances failed; incidents"
            );
        }
        Ok(outcome)
    }
}
