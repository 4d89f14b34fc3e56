//! `folkbokforing.apply_notifications`: avisering. Applies what waits for it: the updates
//! the out-of-municipality job deferred (R22), and the persons whose register record changed
//! since they were last brought up to date (Skatteverket's change notifications).

use async_trait::async_trait;
use forlob_engine::job_log::JobLog;
use forlob_engine::{Action, ActionContext, ActionError};

use super::{CHANGE_NOTIFIED, CHUNK, Cursor, DEFERRED_APPLIED, Progress, refresh};
use crate::folkbokforing::store;

pub(crate) struct ApplyNotifications;

#[async_trait]
impl Action for ApplyNotifications {
    type Input = Cursor;
    type Output = Progress;

    fn name(&self) -> &'static str {
        "folkbokforing.apply_notifications"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Cursor) -> Result<Progress, ActionError> {
        input.check()?;
        let log = JobLog::of(ctx);
        let chunk = store::notified_chunk(ctx.conn, &input.after, CHUNK).await?;
        let (pending, notified): (Vec<_>, Vec<_>) = chunk.iter().partition(|(_, p)| *p);
        let pending: Vec<_> = pending.into_iter().map(|(p, _)| p).collect();
        let notified: Vec<_> = notified.into_iter().map(|(p, _)| p).collect();
        refresh(ctx, &log, &pending, DEFERRED_APPLIED).await?;
        refresh(ctx, &log, &notified, CHANGE_NOTIFIED).await?;
        let persons: Vec<_> = chunk.into_iter().map(|(p, _)| p).collect();
        let next = input.next(&persons, None);
        log.progress(next.done, None).await?;
        Ok(next)
    }
}
