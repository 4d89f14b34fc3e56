//! Signals: an action wakes instances waiting in a `wait: { signal }` state, in the action's
//! own transaction (see [`crate::ActionContext::signal`]). Unlike messages they never come from
//! outside, so they need no deduplication: the action's transaction is the exactly-once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use serde_json::Value;

use super::Engine;
use super::transition::Event;
use crate::action::{ActionError, SignalOutcome, SignalSender};
use crate::definition::{StepKind, WaitSpec};
use crate::error::Result;
use crate::store;

/// Signals sent from instances that a signal woke, and so on. More is a loop of signals.
const MAX_SIGNAL_DEPTH: usize = 4;

/// What [`crate::ActionContext`] sends signals through: the engine, the transition's time,
/// and how deep in signals the sending transition is.
pub(super) struct Signaller<'e> {
    pub engine: &'e Engine,
    pub now: DateTime<Utc>,
    pub depth: usize,
}

#[async_trait]
impl SignalSender for Signaller<'_> {
    async fn send(
        &self,
        conn: &DatabaseTransaction,
        name: &str,
        key: &str,
        data: Value,
    ) -> std::result::Result<SignalOutcome, ActionError> {
        if self.depth >= MAX_SIGNAL_DEPTH {
            return Err(ActionError::permanent(format!(
                "signal {name} sent {MAX_SIGNAL_DEPTH} signals deep: a loop of signals?"
            )));
        }
        self.engine
            .signal(conn, name, key, data, self.now, self.depth + 1)
            .await
            .map_err(|e| ActionError {
                retryable: e.is_transient(),
                message: format!("signal {name} {key}"),
                source: Some(Box::new(e)),
            })
    }
}

impl Engine {
    async fn signal(
        &self,
        conn: &DatabaseTransaction,
        name: &str,
        key: &str,
        data: Value,
        now: DateTime<Utc>,
        depth: usize,
    ) -> Result<SignalOutcome> {
        let catalog = self.catalog();
        let mut outcome = SignalOutcome::default();
        let what = format!("signal {name} {key}");
        // Every deployed version may have instances waiting, each state with its own waits.
        for (version, def) in catalog.all() {
            for state in def.states.values() {
                let StepKind::Wait {
                    wait:
                        WaitSpec::Signal {
                            name: waits_for, ..
                        },
                    ..
                } = &state.kind
                else {
                    continue;
                };
                if waits_for != name {
                    continue;
                }
                let waiters =
                    store::message_waiters(conn, name, key, &def.id, version, &state.id).await?;
                for instance_id in waiters {
                    let event = Event::Signalled { data: data.clone() };
                    match self
                        .wake_waiter(conn, instance_id, event, &what, now, depth)
                        .await?
                    {
                        Ok(()) => outcome.resumed.push(instance_id),
                        Err(error) => outcome.failed.push((instance_id, error)),
                    }
                }
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
