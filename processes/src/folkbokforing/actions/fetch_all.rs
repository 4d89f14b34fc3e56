//! `folkbokforing.fetch_all`: "Hämta personuppgifter från befolkningsregister". Refreshes
//! every person of the person register from the population register: exceptional (after a
//! restore, or when the register's data were wrong), so the job asks for confirmation.

use async_trait::async_trait;
use forlob_engine::job_log::JobLog;
use forlob_engine::{Action, ActionContext, ActionError};

use super::{CHUNK, Cursor, FETCHED, Progress, refresh};
use crate::folkbokforing::store::{self, Which};

pub(crate) struct FetchAll;

#[async_trait]
impl Action for FetchAll {
    type Input = Cursor;
    type Output = Progress;

    fn name(&self) -> &'static str {
        "folkbokforing.fetch_all"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Cursor) -> Result<Progress, ActionError> {
        input.check()?;
        let log = JobLog::of(ctx);
        let total = match input.total {
            Some(total) => total,
            None => store::count_local(ctx.conn, Which::All).await? as i64,
        };
        let persons = store::local_chunk(ctx.conn, Which::All, &input.after, CHUNK).await?;
        let all: Vec<_> = persons.iter().collect();
        refresh(ctx, &log, &all, FETCHED).await?;
        let next = input.next(&persons, Some(total));
        log.progress(next.done, Some(total)).await?;
        Ok(next)
    }
}
