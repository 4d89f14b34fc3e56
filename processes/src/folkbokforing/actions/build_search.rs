//! `folkbokforing.build_search`: "Söka personbearbetning", the daily rebuild of the data
//! behind the search-persons page. The first chunk clears the municipality's rows; a run
//! that fails half-way leaves a partial index until its retry goes on from where it stopped.

use async_trait::async_trait;
use forlob_engine::job_log::JobLog;
use forlob_engine::{Action, ActionContext, ActionError};

use super::{CHUNK, Cursor, Progress};
use crate::folkbokforing::search;
use crate::folkbokforing::store::{self, Which};

pub(crate) struct BuildSearch;

#[async_trait]
impl Action for BuildSearch {
    type Input = Cursor;
    type Output = Progress;

    fn name(&self) -> &'static str {
        "folkbokforing.build_search"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Cursor) -> Result<Progress, ActionError> {
        input.check()?;
        let log = JobLog::of(ctx);
        let total = match input.total {
            Some(total) => total,
            None => {
                search::clear(ctx.conn, &input.kommun).await?;
                store::count_local(ctx.conn, Which::All).await? as i64
            }
        };
        let persons = store::local_chunk(ctx.conn, Which::All, &input.after, CHUNK).await?;
        search::add(ctx.conn, &input.kommun, &persons, ctx.now).await?;
        log.count(&[("indexed", persons.len() as i64)]).await?;
        let next = input.next(&persons, Some(total));
        log.progress(next.done, Some(total)).await?;
        Ok(next)
    }
}
