//! Automatic steps: the contract between the engine and a package's Rust code.
//!
//! The YAML says when an action runs, the Rust says how. An action gets a narrow
//! [`ActionContext`] (the open transaction for its own domain tables, the instance's ids and
//! the clock's `now`), never the engine. It runs inside the transaction of the transition, in a
//! savepoint: if it fails, its writes are rolled back and the instance stays where it was.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

/// An action failed. `retryable` failures are retried by the step's retry policy; the others
/// (bad input, a rule that can never hold) become an incident at once.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ActionError {
    pub retryable: bool,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ActionError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            message: message.into(),
            source: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            message: message.into(),
            source: None,
        }
    }
}

impl From<sea_orm::DbErr> for ActionError {
    /// A database error in an action is worth another try: locks and lost connections pass.
    fn from(err: sea_orm::DbErr) -> Self {
        Self {
            retryable: true,
            message: "database error in action".into(),
            source: Some(Box::new(err)),
        }
    }
}

/// The instance a package's [`CancelHook`] is told about, in the cancelling transaction.
pub struct CancelContext<'a> {
    /// The transaction of the cancel; use it for the package's own tables only.
    pub conn: &'a DatabaseTransaction,
    pub instance_id: Uuid,
    pub process_id: &'a str,
    /// The state it was cancelled in.
    pub state: &'a str,
    pub subject: &'a str,
    pub vars: &'a Value,
    /// Who cancelled it and why (for a child cancelled with its parent, the parent's admin).
    pub actor: &'a str,
    pub reason: &'a str,
    pub now: DateTime<Utc>,
}

/// A package's answer to one of its process's instances being cancelled (by an admin, with
/// its parent, or by a restart out of the state that called it): close what the instance
/// planned in the package's own tables, in the same transaction, so nothing it planned is
/// carried out later. An error refuses the whole cancel; nothing is written.
#[async_trait]
pub trait CancelHook: Send + Sync {
    async fn cancelled(&self, ctx: &CancelContext<'_>) -> Result<(), ActionError>;
}

/// What a signal did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalOutcome {
    /// Instances that were waiting for it and moved on.
    pub resumed: Vec<Uuid>,
    /// Instances that were waiting but could not take it, each with its error; each is an
    /// incident now (on the instance, not on the sender).
    pub failed: Vec<(Uuid, String)>,
}

impl SignalOutcome {
    /// Nobody waited for the signal with that key.
    pub fn nobody_waited(&self) -> bool {
        self.resumed.is_empty() && self.failed.is_empty()
    }
}

/// The engine's side of [`ActionContext::signal`].
#[async_trait]
pub(crate) trait SignalSender: Send + Sync {
    /// Sends in the transaction the action writes in (`ActionContext::conn`).
    async fn send(&self, name: &str, key: &str, data: Value) -> Result<SignalOutcome, ActionError>;
}

/// What an action may see and use.
pub struct ActionContext<'a> {
    pub(crate) signals: &'a dyn SignalSender,
    /// The transaction of the transition; use it for the package's own tables only. A
    /// savepoint the action makes in it is for those tables too: [`ActionContext::signal`]
    /// wakes instances in the action's own savepoint, whatever the action made since, and
    /// their history waits for the commit there, so a savepoint of the action's rolled back
    /// after a signal would undo the woken instances' rows but not their history.
    pub conn: &'a DatabaseTransaction,
    pub instance_id: Uuid,
    pub process_id: &'a str,
    pub state: &'a str,
    pub subject: &'a str,
    pub vars: &'a Value,
    /// When the instance was started; a restart or migration keeps it.
    pub started_at: DateTime<Utc>,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub now: DateTime<Utc>,
}

impl ActionContext<'_> {
    /// Wakes, now and in this transaction, every instance waiting in a `wait: { signal }` state
    /// for signal `name` whose key is `key`; each sees `data` as `vars.signal`. Each is driven
    /// in a savepoint of its own until it waits again, so a batch job can carry out the work
    /// of many instances in one transaction and count what happened. A signal nobody waits
    /// for is not an error: the outcome says so.
    pub async fn signal(
        &self,
        name: &str,
        key: &str,
        data: Value,
    ) -> Result<SignalOutcome, ActionError> {
        self.signals.send(name, key, data).await
    }
}

/// A typed action. Implement this; the registry erases the types.
#[async_trait]
pub trait Action: Send + Sync + 'static {
    type Input: DeserializeOwned + Send;
    type Output: Serialize;

    /// Stable name used in YAML, `package.name`.
    fn name(&self) -> &'static str;

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        input: Self::Input,
    ) -> Result<Self::Output, ActionError>;

    /// Whether the action may write through `ctx.conn`. Such an action runs in a savepoint,
    /// so a failure undoes its writes and nothing else; one that writes nothing (a pure
    /// computation) is spared the two extra statements. When in doubt, keep the default.
    fn writes(&self) -> bool {
        true
    }
}

/// The type-erased form the engine calls.
#[async_trait]
pub trait ActionHandler: Send + Sync {
    /// Runs with JSON input; the JSON output is merged into the instance's variables when it
    /// is an object.
    async fn call(&self, ctx: &ActionContext<'_>, input: Value) -> Result<Value, ActionError>;

    /// See [`Action::writes`].
    fn writes(&self) -> bool;
}

struct Typed<A>(A);

#[async_trait]
impl<A: Action> ActionHandler for Typed<A> {
    async fn call(&self, ctx: &ActionContext<'_>, input: Value) -> Result<Value, ActionError> {
        let input: A::Input = serde_json::from_value(input).map_err(|e| {
            ActionError::permanent(format!("input of {} does not fit: {e}", self.0.name()))
        })?;
        let output = self.0.run(ctx, input).await?;
        serde_json::to_value(output).map_err(|e| {
            ActionError::permanent(format!("output of {} is not JSON: {e}", self.0.name()))
        })
    }

    fn writes(&self) -> bool {
        self.0.writes()
    }
}

pub(crate) fn erase<A: Action>(action: A) -> (&'static str, Arc<dyn ActionHandler>) {
    (action.name(), Arc::new(Typed(action)))
}
