//! `flytning.daily_run`: one chunk of the daily 04:00 effectuation (R1), the job
//! `effektuer-flytninger`. It wakes what waits for the run of its date, in the run's fixed
//! order: manual registrations that end (Q7), those that come into force (Q6), then every
//! move due on the run or before (R1, Q2, Q4). Each is carried out by its own instance,
//! woken by a signal in this chunk's transaction, so the logbook counts what was done.

use async_trait::async_trait;
use forlob_engine::job_log::{JobLog, JobRunDetailLine};
use forlob_engine::message::{Code, Message};
use forlob_engine::{Action, ActionContext, ActionError, SignalOutcome};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::flytning::{rules, store};

pub(crate) struct DailyRun;

/// Items per chunk, and so per transaction. Each item is woken in a savepoint inside the
/// chunk action's own, and SQLite's in-memory sub-journal walks everything the chunk has
/// journaled so far at each release: a chunk's cost grows with its square. At 200 that walk
/// was the run's largest single cost and held 290 MB at the peak; 50 keeps it small, and
/// holds the one writer for a shorter time (docs/benchmarks.md, "Smaller chunks").
const CHUNK: u64 = 50;

/// The run's phases, in order; `phase` in the job's variables is the index.
const PHASES: [&str; 3] = [
    rules::SIGNAL_EXPIRE,
    rules::SIGNAL_ACTIVATE,
    rules::SIGNAL_MOVE,
];

#[derive(Deserialize)]
pub(crate) struct Input {
    run_date: String,
    #[serde(default)]
    phase: usize,
    #[serde(default)]
    after_id: i64,
}

/// Where the run stands after a chunk; the YAML passes it back in.
#[derive(Debug, Serialize)]
pub(crate) struct Output {
    /// The index of the phase to go on with; all of them done when `more` is false.
    phase: usize,
    after_id: i64,
    more: bool,
    /// Items woken so far in the whole run.
    handled: i64,
}

/// One item due on the run.
struct Due {
    id: i64,
    cpr: String,
}

#[async_trait]
impl Action for DailyRun {
    type Input = Input;
    type Output = Output;

    fn name(&self) -> &'static str {
        "flytning.daily_run"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Input) -> Result<Output, ActionError> {
        // A run started by hand before 04:00 is the previous day's run (R1: nothing early).
        let run_date = rules::parse_date(&input.run_date)?.min(rules::current_run_date(ctx.now));
        // Q4, Q6: what was processed before the run's 04:00 belongs to it, also when the job
        // itself got going later (a misfire at start-up).
        let run_start = forlob_engine::timer::resolve_local(rules::TZ, run_date, rules::run_time());
        let (mut phase, mut after_id) = (input.phase, input.after_id);
        let mut budget = CHUNK;
        let mut counts = std::collections::BTreeMap::<&str, i64>::new();
        let mut lines = Vec::new();
        while budget > 0 && phase < PHASES.len() {
            let signal = PHASES[phase];
            let due = due(ctx, signal, run_date, run_start, after_id, budget).await?;
            for item in &due {
                let outcome = ctx
                    .signal(
                        signal,
                        &item.id.to_string(),
                        json!({ "run_date": input.run_date }),
                    )
                    .await?;
                let (count, message) = report(ctx, signal, item, &outcome).await?;
                *counts.entry(count).or_default() += 1;
                lines.push((count, item.cpr.clone(), message));
                after_id = item.id;
            }
            let found = u64::try_from(due.len()).unwrap_or(u64::MAX);
            if found < budget {
                // Fewer than asked for: nothing more of this phase is due.
                phase += 1;
                after_id = 0;
            }
            budget = budget.saturating_sub(found);
        }
        let log = JobLog::of(ctx);
        let counts: Vec<(&str, i64)> = counts.into_iter().collect();
        log.count(&counts).await?;
        let lines: Vec<JobRunDetailLine<'_>> = lines
            .iter()
            .map(|(kind, cpr, message)| JobRunDetailLine {
                kind,
                subject: Some(cpr),
                message,
            })
            .collect();
        log.details(&lines).await?;
        let handled = ctx.vars.get("handled").and_then(Value::as_i64).unwrap_or(0)
            + i64::try_from(CHUNK - budget).unwrap_or(0);
        log.progress(handled, None).await?;
        Ok(Output {
            phase,
            after_id,
            more: phase < PHASES.len(),
            handled,
        })
    }
}

/// What is due on the run for `signal`, after `after_id` in id order, at most `limit`.
async fn due(
    ctx: &ActionContext<'_>,
    signal: &str,
    run_date: chrono::NaiveDate,
    run_start: chrono::DateTime<chrono::Utc>,
    after_id: i64,
    limit: u64,
) -> Result<Vec<Due>, ActionError> {
    let registration = |r: store::ManualRegistration| Due {
        id: r.id,
        cpr: r.cpr,
    };
    Ok(match signal {
        rules::SIGNAL_EXPIRE => store::due_expiries(ctx.conn, run_date, after_id, limit)
            .await?
            .into_iter()
            .map(registration)
            .collect(),
        rules::SIGNAL_ACTIVATE => {
            store::due_activations(ctx.conn, run_date, run_start, after_id, limit)
                .await?
                .into_iter()
                .map(registration)
                .collect()
        }
        _ => store::due_moves(ctx.conn, run_date, after_id, limit)
            .await?
            .into_iter()
            .map(|m| Due {
                id: m.id,
                cpr: m.cpr,
            })
            .collect(),
    })
}

/// What the daily run says of each item it woke, by code (shown in the reader's language).
pub(crate) const MESSAGES: &[Code] = &[
    SIGNAL_FAILED,
    NOBODY_WAITED,
    REGISTRATION_ENDED,
    REGISTRATION_CHANGED,
    REGISTRATION_IN_FORCE,
    REGISTRATION_NOT_IN_FORCE,
    MOVE_CARRIED_OUT,
    MOVE_ABROAD_CARRIED_OUT,
    MOVE_NOT_DUE,
    MOVE_GONE,
];

/// The words the daily run counts and files its detail lines under.
pub(crate) const RUN_WORDS: &[&str] = &[
    "fejlet",
    "ikke_ventende",
    "udloebet",
    "uaendret",
    "aktiveret",
    "gennemfoert",
];

const SIGNAL_FAILED: Code = Code::new("flytning.signal_failed", "{signal} {id}: {failures}");
const NOBODY_WAITED: Code = Code::new(
    "flytning.nobody_waited",
    "{signal} {id}: no instance waited for the run",
);
const REGISTRATION_ENDED: Code = Code::new(
    "flytning.registration_ended",
    "manual registration {id} for {municipality} ended",
);
const REGISTRATION_CHANGED: Code = Code::new(
    "flytning.registration_changed",
    "manual registration {id} was changed meanwhile",
);
const REGISTRATION_IN_FORCE: Code = Code::new(
    "flytning.registration_in_force",
    "manual registration {id} for {municipality} in force",
);
const REGISTRATION_NOT_IN_FORCE: Code = Code::new(
    "flytning.registration_not_in_force",
    "manual registration {id} did not come into force",
);
const MOVE_CARRIED_OUT: Code = Code::new(
    "flytning.move_carried_out",
    "move {id} dated {date} to {to} carried out",
);
const MOVE_ABROAD_CARRIED_OUT: Code = Code::new(
    "flytning.move_abroad_carried_out",
    "move {id} dated {date} abroad carried out",
);
const MOVE_NOT_DUE: Code = Code::new("flytning.move_not_due", "move {id} is {status}");
const MOVE_GONE: Code = Code::new("flytning.move_gone", "move {id} is gone");

/// The count and detail line of one woken item, from what it did.
async fn report(
    ctx: &ActionContext<'_>,
    signal: &str,
    item: &Due,
    outcome: &SignalOutcome,
) -> Result<(&'static str, Message), ActionError> {
    let about = |code: Code| Message::new(code).with("id", item.id);
    if !outcome.failed.is_empty() {
        let failed: Vec<String> = outcome
            .failed
            .iter()
            .map(|(instance, error)| format!("instance {instance}: {error}"))
            .collect();
        return Ok((
            "fejlet",
            about(SIGNAL_FAILED)
                .with("signal", signal)
                .with("failures", failed.join("; ")),
        ));
    }
    if outcome.nobody_waited() {
        // An instance on a version from before the daily job waits for its own timer; one
        // cancelled by an admin waits for nothing.
        return Ok(("ikke_ventende", about(NOBODY_WAITED).with("signal", signal)));
    }
    Ok(match signal {
        rules::SIGNAL_EXPIRE => match store::manual(ctx.conn, item.id).await? {
            Some(r) if r.state == "ended" => (
                "udloebet",
                about(REGISTRATION_ENDED).with("municipality", r.municipality),
            ),
            _ => ("uaendret", about(REGISTRATION_CHANGED)),
        },
        rules::SIGNAL_ACTIVATE => match store::manual(ctx.conn, item.id).await? {
            Some(r) if r.state == "active" => (
                "aktiveret",
                about(REGISTRATION_IN_FORCE).with("municipality", r.municipality),
            ),
            _ => ("uaendret", about(REGISTRATION_NOT_IN_FORCE)),
        },
        _ => match store::move_by_id(ctx.conn, item.id).await? {
            Some(m) if m.status == "effected" => (
                "gennemfoert",
                match &m.to_municipality {
                    Some(to) if !m.abroad => about(MOVE_CARRIED_OUT)
                        .with("date", m.move_date)
                        .with("to", to),
                    _ => about(MOVE_ABROAD_CARRIED_OUT).with("date", m.move_date),
                },
            ),
            Some(m) => ("uaendret", about(MOVE_NOT_DUE).with("status", m.status)),
            None => ("uaendret", about(MOVE_GONE)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_is_where_the_run_stands_and_how_much_it_handled() {
        let output = Output {
            phase: 2,
            after_id: 31,
            more: true,
            handled: 200,
        };
        assert_eq!(
            serde_json::to_value(output).expect("JSON"),
            json!({ "phase": 2, "after_id": 31, "more": true, "handled": 200 })
        );
    }
}
