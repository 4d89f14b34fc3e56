//! The engine's capabilities as narrow views. A caller asks the [`Engine`] for the one it
//! needs (`engine.commands().complete_task(..)`, `engine.releases().migrate(..)`), so what a
//! handler or command can do is visible in what it asks for, and each capability's methods
//! are listed together in the docs. A view borrows the engine and costs nothing to make.
//!
//! The one place visibility is decided stays `visibility.rs`; the views only group.

use super::Engine;

macro_rules! views {
    ($($(#[$doc:meta])* $accessor:ident -> $view:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy)]
            pub struct $view<'a> {
                pub(crate) engine: &'a Engine,
            }
        )*

        impl Engine {
            $(
                $(#[$doc])*
                pub fn $accessor(&self) -> $view<'_> {
                    $view { engine: self }
                }
            )*
        }
    };
}

views! {
    /// What caseworkers and systems do to instances: start one, claim, assign and complete
    /// tasks, deliver messages.
    commands -> Commands;
    /// What people look at: a task with its form, a person's file, searches. Reads of
    /// person data are recorded by these.
    queries -> Queries;
    /// What an admin does to instances that are stuck or wrong: suspend, resume, cancel,
    /// retry or skip an incident, replay a dead letter.
    operations -> Operations;
    /// Deploying definitions and moving in-flight instances after a release: impact,
    /// plans, restarts, migrations and their undo.
    releases -> Releases;
    /// Background work: schedules, running a job now, the logbook, and the work that falls
    /// due (timers, job chunks) as the clock moves.
    jobs -> Jobs;
    /// The audit trail: recording reads, listing, verifying and pruning entries.
    audit -> Audit;
}
