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
use forlob_engine::job_log::{JobLog, JobRunDetailLine};
use forlob_engine::message::{Code, Message};
use forlob_engine::{ActionContext, ActionError};
use serde::{Deserialize, Serialize};

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
    pub(crate) fn next(&self, persons: &[LocalPerson], total: Option<i64>) -> Progress {
        Progress {
            after: persons
                .last()
                .map_or_else(|| self.after.clone(), |p| p.personnummer.clone()),
            done: self.done + persons.len() as i64,
            total,
            more: persons.len() as u64 == CHUNK,
        }
    }
}

/// Every job's output after a chunk: the [`Cursor`] the YAML passes back in, and whether
/// there is more.
#[derive(Debug, Serialize)]
pub(crate) struct Progress {
    pub after: String,
    pub done: i64,
    /// Null for a job that does not know its total (avisering).
    pub total: Option<i64>,
    pub more: bool,
}

/// What the jobs say of each person, by code (shown in the reader's language).
pub(crate) const MESSAGES: &[Code] = &[
    DEFERRED_APPLIED,
    CHANGE_NOTIFIED,
    FETCHED,
    UPDATED_IN_RUN,
    NOT_IN_REGISTER,
    DEFERRED,
    AREA_CHANGED,
];

/// The words the jobs count and file their detail lines under.
pub(crate) const RUN_WORDS: &[&str] = &[
    "requested",
    "updated",
    "unchanged",
    "failed",
    "deferred",
    "newly_pending",
    "excluded",
    "indexed",
];

/// Why a person's data was brought up to date; `{changes}` names the fields that changed.
pub(crate) const DEFERRED_APPLIED: Code = Code::new(
    "folkbokforing.deferred_applied",
    "deferred update applied: {changes}",
);
pub(crate) const CHANGE_NOTIFIED: Code = Code::new(
    "folkbokforing.change_notified",
    "change notified by the register: {changes}",
);
pub(crate) const FETCHED: Code = Code::new(
    "folkbokforing.fetched",
    "fetched from the register: {changes}",
);
pub(crate) const UPDATED_IN_RUN: Code = Code::new(
    "folkbokforing.updated_in_run",
    "updated during the run: {changes}",
);
const NOT_IN_REGISTER: Code = Code::new(
    "folkbokforing.not_in_register",
    "not in the population register (deregistered or a wrong personnummer)",
);
pub(crate) const DEFERRED: Code = Code::new(
    "folkbokforing.deferred",
    "in scope, 19 or older: updated at the next avisering (R22)",
);
pub(crate) const AREA_CHANGED: Code =
    Code::new("folkbokforing.area_changed", "område {from} → {to}");

/// Brings `persons` up to date from the register, all at once; writes a detail line for each
/// person whose data changed (saying `why`) or whom the register does not know, and the
/// counts `updated`, `unchanged` and `failed`.
pub(crate) async fn refresh(
    ctx: &ActionContext<'_>,
    log: &JobLog<'_>,
    persons: &[&LocalPerson],
    why: Code,
) -> Result<(), ActionError> {
    let pnrs: Vec<String> = persons.iter().map(|p| p.personnummer.clone()).collect();
    let records = store::ask_register(ctx.conn, &pnrs, ctx.now).await?;
    let mut lines: Vec<(String, Message, &str)> = Vec::new();
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
                        Message::new(why).with("changes", changes.join(", ")),
                        "updated",
                    ));
                }
            }
            None => {
                failed += 1;
                lines.push((
                    person.personnummer.clone(),
                    Message::new(NOT_IN_REGISTER),
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn progress_is_the_next_cursor_with_a_null_total_when_unknown() {
        let known = Progress {
            after: "197001011234".into(),
            done: 500,
            total: Some(1200),
            more: true,
        };
        assert_eq!(
            serde_json::to_value(known).expect("JSON"),
            json!({ "after": "197001011234", "done": 500, "total": 1200, "more": true })
        );
        let unknown = Progress {
            after: String::new(),
            done: 0,
            total: None,
            more: false,
        };
        assert_eq!(
            serde_json::to_value(unknown).expect("JSON"),
            json!({ "after": "", "done": 0, "total": null, "more": false })
        );
    }
}
