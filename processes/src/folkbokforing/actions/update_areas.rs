//! `folkbokforing.update_areas`: "Uppdatering område för personer". Sets the area (område)
//! of the municipality's own residents from the register, which decides e.g. which school
//! area a child belongs to. Nothing else of the person is touched.

use async_trait::async_trait;
use forlob_engine::job_log::{JobLog, JobRunDetailLine};
use forlob_engine::message::Message;
use forlob_engine::{Action, ActionContext, ActionError};

use super::{AREA_CHANGED, CHUNK, Cursor, Progress};
use crate::folkbokforing::store::{self, Which};

pub(crate) struct UpdateAreas;

#[async_trait]
impl Action for UpdateAreas {
    type Input = Cursor;
    type Output = Progress;

    fn name(&self) -> &'static str {
        "folkbokforing.update_areas"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Cursor) -> Result<Progress, ActionError> {
        input.check()?;
        let log = JobLog::of(ctx);
        let residents = Which::In(&input.kommun);
        let total = match input.total {
            Some(total) => total,
            None => store::count_local(ctx.conn, residents).await? as i64,
        };
        let persons = store::local_chunk(ctx.conn, residents, &input.after, CHUNK).await?;
        let pnrs: Vec<String> = persons.iter().map(|p| p.personnummer.clone()).collect();
        let records = store::ask_register(ctx.conn, &pnrs, ctx.now).await?;
        let mut changed = Vec::new();
        for person in &persons {
            let Some(record) = records.get(&person.personnummer) else {
                continue;
            };
            if record.omrade != person.omrade {
                store::set_area(ctx.conn, &person.personnummer, record.omrade.as_deref()).await?;
                changed.push((
                    person.personnummer.clone(),
                    Message::new(AREA_CHANGED)
                        .with("from", person.omrade.as_deref().unwrap_or("-"))
                        .with("to", record.omrade.as_deref().unwrap_or("-")),
                ));
            }
        }
        let lines: Vec<JobRunDetailLine<'_>> = changed
            .iter()
            .map(|(p, m)| JobRunDetailLine {
                kind: "updated",
                subject: Some(p),
                message: m,
            })
            .collect();
        log.details(&lines).await?;
        log.count(&[
            ("requested", persons.len() as i64),
            ("updated", changed.len() as i64),
        ])
        .await?;
        let next = input.next(&persons, Some(total));
        log.progress(next.done, Some(total)).await?;
        Ok(next)
    }
}
