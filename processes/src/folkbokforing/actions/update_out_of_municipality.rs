//! `folkbokforing.update_out_of_municipality`: "Uppdatering utomkommunala personer". Asks the
//! population register for current data on the person register's entries folkbokförda in
//! another municipality (R20): with KIR those in scope (R21), updating persons under 19 and
//! their guardians now and the rest of the scope at the next avisering (R22); with the direct
//! integration all of them, now (R23).

use async_trait::async_trait;
use forlob_engine::job_log::{JobLog, JobRunDetailLine};
use forlob_engine::message::Message;
use forlob_engine::{Action, ActionContext, ActionError};

use super::{CHUNK, Cursor, DEFERRED, Progress, UPDATED_IN_RUN, refresh};
use crate::folkbokforing::scope::{self, Decision, Mode};
use crate::folkbokforing::store::{self, Which};

pub(crate) struct UpdateOutOfMunicipality;

#[async_trait]
impl Action for UpdateOutOfMunicipality {
    type Input = Cursor;
    type Output = Progress;

    fn name(&self) -> &'static str {
        "folkbokforing.update_out_of_municipality"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Cursor) -> Result<Progress, ActionError> {
        let mode_text = input.mode.as_deref().unwrap_or("kir");
        let mode = Mode::parse(mode_text).ok_or_else(|| {
            ActionError::permanent(format!("mode `{mode_text}` is neither kir nor direkt"))
        })?;
        input.check()?;
        let log = JobLog::of(ctx);
        let outside = Which::OutsideOf(&input.kommun);
        let total = match input.total {
            Some(total) => total,
            None => store::count_local(ctx.conn, outside).await? as i64,
        };
        let persons = store::local_chunk(ctx.conn, outside, &input.after, CHUNK).await?;
        let linked: Vec<String> = persons
            .iter()
            .flat_map(|p| p.linked_to.iter().cloned())
            .collect();
        let children = store::local_persons(ctx.conn, &linked).await?;
        let (mut now, mut deferred, mut excluded) = (Vec::new(), Vec::new(), 0);
        for person in &persons {
            match scope::decide(person, &children, mode, input.run_date) {
                Decision::Now => now.push(person),
                Decision::Deferred => deferred.push(person.personnummer.clone()),
                Decision::Excluded => excluded += 1,
            }
        }
        refresh(ctx, &log, &now, UPDATED_IN_RUN).await?;
        let run_id = log.run_id().await?;
        let reason = Message::new(DEFERRED);
        let newly = store::defer(ctx.conn, &deferred, &reason.to_string(), run_id, ctx.now).await?;
        let lines: Vec<JobRunDetailLine<'_>> = deferred
            .iter()
            .map(|p| JobRunDetailLine {
                kind: "deferred",
                subject: Some(p),
                message: &reason,
            })
            .collect();
        log.details(&lines).await?;
        log.count(&[
            ("deferred", deferred.len() as i64),
            ("newly_pending", newly as i64),
            ("excluded", excluded),
        ])
        .await?;
        let next = input.next(&persons, Some(total));
        log.progress(next.done, Some(total)).await?;
        Ok(next)
    }
}
