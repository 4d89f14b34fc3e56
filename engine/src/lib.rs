//! forlob's generic process engine.
//!
//! A process is a YAML state machine ([`definition`]); an instance runs one process for one
//! subject. The [`runtime::Engine`] moves instances on events (an action finished, a form was
//! submitted, a timer came due, a message arrived) and commits every move with all of its
//! effects in one database transaction ([`store`]). The engine knows nothing of Denmark or
//! Sweden: packages plug their actions, field types and subject data into a [`Registry`].

pub mod action;
pub mod audit;
pub mod catalog;
pub mod clock;
pub mod definition;
pub mod demo;
pub mod diagnostic;
pub mod error;
pub mod expr;
pub mod files;
pub mod form;
pub mod instance;
pub mod job_log;
pub mod jobs;
pub mod limits;
pub mod message;
pub mod registry;
pub mod release;
pub mod runtime;
pub mod scenario;
pub mod schedule;
pub mod schema;
pub mod store;
pub mod timer;
pub mod user;
pub mod workbench;

pub use action::{Action, ActionContext, ActionError, CancelContext, CancelHook, SignalOutcome};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{EngineError, Result};
pub use instance::{Actor, InstanceStatus, Via};
pub use limits::TextLimits;
pub use registry::Registry;
pub use runtime::{Engine, EngineOptions};
pub use user::{Role, User};

#[cfg(test)]
#[path = "layers_tests.rs"]
mod layers;
