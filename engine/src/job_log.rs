//! [`JobLog`], through which a job's actions report progress, counts and details to the
//! logbook entry of their run (`crate::jobs`).

use crate::action::{ActionContext, ActionError};
pub use crate::jobs::JobRunDetailLine;
use crate::store;

/// A job's report to its logbook entry, from inside one of its actions.
///
/// Writes go through the action's transaction: a chunk that fails leaves no counts or details
/// for work it did not do, and a chunk that commits shows its progress at once to the UI,
/// the API and `forlob jobs log`. Outside a job run (an action shared with ordinary
/// processes) every call does nothing.
pub struct JobLog<'a> {
    ctx: &'a ActionContext<'a>,
}

impl<'a> JobLog<'a> {
    pub fn of(ctx: &'a ActionContext<'a>) -> Self {
        Self { ctx }
    }

    /// The logbook id of the run, `None` outside a job run.
    pub async fn run_id(&self) -> Result<Option<i64>, ActionError> {
        Ok(store::jobs::run_id_of(self.ctx.conn, self.ctx.instance_id).await?)
    }

    /// How far the run is: `done` of `total` (when known).
    pub async fn progress(&self, done: i64, total: Option<i64>) -> Result<(), ActionError> {
        store::jobs::set_progress(self.ctx.conn, self.ctx.instance_id, done, total).await?;
        Ok(())
    }

    /// Adds to named counts (`updated`, `deferred`, ...).
    pub async fn count(&self, counts: &[(&str, i64)]) -> Result<(), ActionError> {
        store::jobs::add_counts(self.ctx.conn, self.ctx.instance_id, counts).await?;
        Ok(())
    }

    /// Adds lines to the run's details: what was requested, updated, deferred or failed, about
    /// whom, and why.
    pub async fn details(&self, lines: &[JobRunDetailLine<'_>]) -> Result<(), ActionError> {
        store::jobs::add_details(self.ctx.conn, self.ctx.instance_id, lines, self.ctx.now).await?;
        Ok(())
    }
}
