//! `flytning.plan_move`: records a move when its CPR message (or a manual start) arrives,
//! works out which run carries it out (R1), supersedes older planned moves (R19), and tells
//! whether it needs manual handling (R7).

use async_trait::async_trait;
use forlob_engine::{Action, ActionContext, ActionError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::code;
use crate::flytning::{rules, store};

pub(crate) struct PlanMove;

#[derive(Deserialize)]
pub(crate) struct Input {
    move_date: String,
    #[serde(default)]
    from: Option<Value>,
    #[serde(default)]
    to: Option<Value>,
    #[serde(default)]
    abroad: Option<bool>,
    #[serde(default)]
    message_id: Option<String>,
    /// When the move was received, for a move carried over from an earlier release (R19);
    /// default when the instance was started (a restart keeps that, and a retry hours
    /// later does not make the move newer than one reported meanwhile).
    #[serde(default)]
    received_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Whether the move was planned, and if so when its run carries it out.
#[derive(Debug, Serialize)]
pub(crate) struct Output {
    ignored: bool,
    /// Why it was ignored; null when planned.
    reason: Option<String>,
    /// R7: it goes to a person.
    manual_handling: bool,
    move_date: String,
    /// Left out, every key of it, when the move was ignored.
    #[serde(flatten)]
    planned: Option<Planned>,
}

/// A planned move: the keys the YAML's timers and later steps read.
#[derive(Debug, Serialize)]
pub(crate) struct Planned {
    move_id: i64,
    effective_date: String,
    effective_at: String,
    deadline_at: String,
    /// Null for a move abroad.
    to: Option<String>,
    abroad: bool,
    superseded_moves: usize,
}

impl Output {
    fn ignored(reason: String, move_date: chrono::NaiveDate) -> Output {
        Output {
            ignored: true,
            reason: Some(reason),
            manual_handling: false,
            move_date: move_date.to_string(),
            planned: None,
        }
    }
}

#[async_trait]
impl Action for PlanMove {
    type Input = Input;
    type Output = Output;

    fn name(&self) -> &'static str {
        "flytning.plan_move"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Input) -> Result<Output, ActionError> {
        let cpr = ctx.subject;
        let person = store::person(ctx.conn, cpr)
            .await?
            .ok_or_else(|| ActionError::permanent(format!("no person {cpr}")))?;
        let move_date = rules::parse_date(&input.move_date)?;
        let abroad = input.abroad.unwrap_or(false);
        let to = code(&input.to);
        // A manual start (R8) is not checked like a message: check it here.
        match (abroad, &to) {
            (false, None) => {
                return Err(ActionError::permanent(
                    "a move needs a destination municipality or abroad: true",
                ));
            }
            (false, Some(code)) if crate::flytning::kommuner::find(code).is_none() => {
                return Err(ActionError::permanent(format!(
                    "{code} is not a Danish municipality code"
                )));
            }
            _ => {}
        }
        if let Some(latest) = store::latest_effected_move_date(ctx.conn, cpr).await?
            && latest > move_date
        {
            // An older move reported after a newer one (messages out of order): the newer
            // one stands, and the person's timeline says why this one was not carried out.
            return Ok(Output::ignored(
                format!("a move dated {latest} has already been carried out"),
                move_date,
            ));
        }
        let received_at = input.received_at.unwrap_or(ctx.started_at);
        if let Some(newer) = store::move_received_after(ctx.conn, cpr, received_at).await? {
            // R19: a move carried over from before a release, planned only now, never
            // supersedes a move the citizen reported after it.
            return Ok(Output::ignored(
                format!("a newer move (dated {newer}) supersedes it"),
                move_date,
            ));
        }
        let effective = rules::run_date(ctx.now, move_date);
        let effective_at = rules::run_at(effective, rules::Phase::Moves);
        let move_id = store::insert_move(
            ctx.conn,
            store::NewMove {
                cpr,
                message_id: input.message_id.as_deref(),
                from: code(&input.from).as_deref().or(person.residence.as_deref()),
                to: to.as_deref(),
                abroad,
                move_date,
                effective_date: effective,
                at: received_at,
            },
        )
        .await?;
        let superseded = store::supersede_planned(ctx.conn, cpr, move_id).await?;
        // R19: what waited for a superseded move's run ends now, with nothing carried out.
        for id in &superseded {
            ctx.signal(
                rules::SIGNAL_MOVE,
                &id.to_string(),
                json!({ "superseded_by": move_id }),
            )
            .await?;
        }
        let manual = store::active_manual(ctx.conn, cpr, effective).await?;
        let kept_by_manual = manual.is_some() && !abroad;
        Ok(Output {
            ignored: false,
            reason: None,
            // R7: only a move that keeps handleansvar for a citizen with a bopælssamling
            // subscription goes to a person.
            manual_handling: kept_by_manual && person.bopaelssamling,
            move_date: move_date.to_string(),
            planned: Some(Planned {
                move_id,
                effective_date: effective.to_string(),
                effective_at,
                deadline_at: rules::safety_net(effective, rules::Phase::Moves),
                to,
                abroad,
                superseded_moves: superseded.len(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn date(s: &str) -> chrono::NaiveDate {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn an_ignored_move_says_why_and_leaves_out_the_planned_keys() {
        let output = Output::ignored(
            "a newer move (dated 2025-07-01) supersedes it".into(),
            date("2025-06-01"),
        );
        assert_eq!(
            serde_json::to_value(output).expect("JSON"),
            json!({
                "ignored": true,
                "reason": "a newer move (dated 2025-07-01) supersedes it",
                "manual_handling": false,
                "move_date": "2025-06-01",
            })
        );
    }

    #[test]
    fn a_planned_move_has_a_null_reason_and_every_planned_key() {
        let output = Output {
            ignored: false,
            reason: None,
            manual_handling: true,
            move_date: "2025-06-01".into(),
            planned: Some(Planned {
                move_id: 4,
                effective_date: "2025-06-02".into(),
                effective_at: "2025-06-02T02:00:01+00:00".into(),
                deadline_at: "2025-06-03T10:00:01+00:00".into(),
                to: None,
                abroad: true,
                superseded_moves: 1,
            }),
        };
        assert_eq!(
            serde_json::to_value(output).expect("JSON"),
            json!({
                "ignored": false,
                "reason": null,
                "manual_handling": true,
                "move_date": "2025-06-01",
                "move_id": 4,
                "effective_date": "2025-06-02",
                "effective_at": "2025-06-02T02:00:01+00:00",
                "deadline_at": "2025-06-03T10:00:01+00:00",
                "to": null,
                "abroad": true,
                "superseded_moves": 1,
            })
        );
    }
}
