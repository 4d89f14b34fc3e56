//! The package's actions, one per file. Each works through the population in chunks: one
//! chunk per call, in the transaction of its step, so a long run commits as it goes, reports
//! its progress, and after a failure (the register down) goes on from the last chunk done.

mod apply_notifications;
mod build_search;
mod fetch_all;
mod update_areas;
mod update_out_of_municipality;

use chrono::NaiveDate;
use forlob_engine::Registry;
use forlob_engine::jobs::{JobLog, JobRunDetailLine};
use forlob_engine::{ActionContext, ActionError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::store::{self, LocalPerson};

pub(crate) fn register(registry: &mut Registry) {
    registry
        .register_action(update_out_of_municipality::UpdateOutOfMunicipality)
        .register_action(apply_notifications::ApplyNotifications)
        .register_action(update_areas::UpdateAreas)
        .register_action(fetch_all::FetchAll)
        .register_action(build_search::BuildSearch);
}

/// Persons per chunk: one register request and one transaction.
pub(crate) const CHUNK: u64 = 500;

/// Where a chunked job stands; the YAML passes the last output back in.
#[derive(Debug, Deserialize)]
pub(crate) struct Cursor {
    /// The run's municipality: whose person register this is.
    pub kommun: String,
    pub run_date: NaiveDate,
    /// The last personnummer done; empty before the first chunk.
    #[serde(default)]
    pub after: String,
    #[serde(default)]
    pub done: i64,
    #[serde(default)]
    pub total: Option<i64>,
    #[serde(default)]
    pub mode: Option<String>,
}

impl Cursor {
    /// The run's municipality must be one of Sweden's: it says whose register this is.
    pub(crate) fn check(&self) -> Result<(), ActionError> {
        match crate::folkbokforing::kommuner::find(&self.kommun) {
            Some(_) => Ok(()),
            None => Err(ActionError::permanent(format!(
                "kommun `{}` is not a Swedish municipality code",
                self.kommun
            ))),
        }
    }

    /// The output after a chunk of `persons`: the next cursor, and whether there is more.
    pub(crate) fn next(&self, persons: &[LocalPerson], total: Option<i64>) -> Value {
        let done = self.done + persons.len() as i64;
        json!({
            "after": persons.last().map_or(self.after.as_str(), |p| p.personnummer.as_str()),
            "done": done,
            "total": total,
            "more": persons.len() as u64 == CHUNK,
        })
    }
}

/// Brings `persons` up to date from the register, all at once; writes a detail line for each
/// person whose data changed or whom the register does not know, and the counts `updated`,
/// `unchanged` and `failed`.
pub(crate) async fn refresh(
    ctx: &ActionContext<'_>,
    log: &JobLog<'_>,
    persons: &[&LocalPerson],
    why: &str,
) -> Result<(), ActionError> {
    let pnrs: Vec<String> = persons.iter().map(|p| p.personnummer.clone()).collect();
    let records = store::ask_register(ctx.conn, &pnrs, ctx.now).await?;
    let mut lines: Vec<(String, String, &str)> = Vec::new();
    let (mut updated, mut unchanged, mut failed) = (0, 0, 0);
    for person in persons {
        match records.get(&person.personnummer) {
            Some(record) => {
                let changes = store::sync_person(ctx.conn, person, record, ctx.now).await?;
                if changes.is_empty() {
                    unchanged += 1;
                } else {
                    updated += 1;
                    lines.push((
                        person.personnummer.clone(),
                        format!("{why}: {}", changes.join(", ")),
                        "updated",
                    ));
                }
            }
            None => {
                failed += 1;
                lines.push((
                    person.personnummer.clone(),
                    "not in the population register (deregistered or a wrong personnummer)"
                        .to_owned(),
                    "failed",
                ));
            }
        }
    }
    let details: Vec<JobRunDetailLine<'_>> = lines
        .iter()
        .map(|(subject, message, kind)| JobRunDetailLine {
            kind,
            subject: Some(subject),
            message,
        })
        .collect();
    log.details(&details).await?;
    log.count(&[
        ("requested", persons.len() as i64),
        ("updated", updated),
        ("unchanged", unchanged),
        ("failed", failed),
    ])
    .await
}
