//! `flytning.plan_move`: records a move when its CPR message (or a manual start) arrives,
//! works out which run carries it out (R1), supersedes older planned moves (R19), and tells
//! whether it needs manual handling (R7).

use async_trait::async_trait;
use forlob_engine::{Action, ActionContext, ActionError};
use serde::Deserialize;
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

#[async_trait]
impl Action for PlanMove {
    type Input = Input;
    type Output = Value;

    fn name(&self) -> &'static str {
        "flytning.plan_move"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Input) -> Result<Value, ActionError> {
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
            return Ok(json!({
                "ignored": true,
                "reason": format!("a move dated {latest} has already been carried out"),
                "manual_handling": false,
                "move_date": move_date.to_string(),
            }));
        }
        let received_at = input.received_at.unwrap_or(ctx.started_at);
        if let Some(newer) = store::move_received_after(ctx.conn, cpr, received_at).await? {
            // R19: a move carried over from before a release, planned only now, never
            // supersedes a move the citizen reported after it.
            return Ok(json!({
                "ignored": true,
                "reason": format!("a newer move (dated {newer}) supersedes it"),
                "manual_handling": false,
                "move_date": move_date.to_string(),
            }));
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
        Ok(json!({
            "ignored": false,
            "reason": null,
            "move_id": move_id,
            "move_date": move_date.to_string(),
            "effective_date": effective.to_string(),
            "effective_at": effective_at,
            "deadline_at": rules::safety_net(effective, rules::Phase::Moves),
            "to": to,
            "abroad": abroad,
            "superseded_moves": superseded.len(),
            // R7: only a move that keeps handleansvar for a citizen with a bopælssamling
            // subscription goes to a person.
            "manual_handling": kept_by_manual && person.bopaelssamling,
        }))
    }
}
