//! `flytning.effect_move`: carries out a planned move on its run (R1): the new residence, the
//! main rule (R2) with stops and follow-ups (R4–R6), a manual registration keeping
//! handleansvar (R11, R13, R17), and a move abroad ending it (R16).

use async_trait::async_trait;
use forlob_engine::{Action, ActionContext, ActionError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::merged;
use crate::flytning::rules::{self, Transfer};
use crate::flytning::store;

pub(crate) struct EffectMove;

#[derive(Deserialize)]
pub(crate) struct Input {
    move_id: i64,
}

fn outcome(transfer: &Transfer, extra: Value) -> Value {
    let base = json!({
        "superseded": false,
        "abroad": false,
        "ended": false,
        "kept_by_manual": false,
        "moved_to": null,
        "notify_moved_to": false,
        "manual_municipality": null,
        "manual_period": null,
        "manual_reason": null,
        "manual_registrant": null,
        "health_card_ordered": false,
    });
    let mut map = transfer.output();
    if let Value::Object(base) = base {
        map.extend(base);
    }
    merged(map, extra)
}

#[async_trait]
impl Action for EffectMove {
    type Input = Input;
    type Output = Value;

    fn name(&self) -> &'static str {
        "flytning.effect_move"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Input) -> Result<Value, ActionError> {
        let planned = store::move_by_id(ctx.conn, input.move_id)
            .await?
            .ok_or_else(|| ActionError::permanent(format!("no move {}", input.move_id)))?;
        match planned.status.as_str() {
            "planned" => {}
            // R19: a newer move for the person superseded this one.
            "superseded" => {
                return Ok(outcome(&Transfer::default(), json!({ "superseded": true })));
            }
            other => {
                return Err(ActionError::permanent(format!(
                    "move {} is already {other}",
                    planned.id
                )));
            }
        }
        let person = store::person(ctx.conn, &planned.cpr)
            .await?
            .ok_or_else(|| ActionError::permanent(format!("no person {}", planned.cpr)))?;
        let on = rules::local_date(ctx.now);
        store::set_move_status(ctx.conn, planned.id, "effected").await?;

        if planned.abroad {
            // R16 and Q9: status 80 ends handleansvar even under a manual registration,
            // which closes; the losing municipality gets the R4–R6 treatment.
            store::set_residence(ctx.conn, &person.cpr, None, on, "80").await?;
            if let Some(manual) = store::current_manual(ctx.conn, &person.cpr).await? {
                store::set_manual_state(ctx.conn, manual.id, "closed").await?;
            }
            let transfer = rules::transfer(ctx.conn, &person, None, on, "abroad", ctx.now).await?;
            let ended = transfer.changed;
            return Ok(outcome(
                &transfer,
                json!({ "abroad": true, "ended": ended }),
            ));
        }

        let to = planned.to_municipality.clone().ok_or_else(|| {
            ActionError::permanent(format!("move {} has no destination", planned.id))
        })?;
        store::set_residence(ctx.conn, &person.cpr, Some(&to), on, "01").await?;
        match store::active_manual(ctx.conn, &person.cpr, on).await? {
            Some(manual) => {
                // R11/R13: the registration keeps handleansvar; nothing is stopped. R17: a
                // citizen with a health card gets a new one for the new address, issued by
                // the municipality that keeps handleansvar (Q8).
                let issuer = store::handlekommune(ctx.conn, &person.cpr)
                    .await?
                    .map_or_else(|| manual.municipality.clone(), |h| h.municipality);
                if person.health_card {
                    store::order_health_card(ctx.conn, &person.cpr, &issuer, Some(&to), ctx.now)
                        .await?;
                }
                let period = match manual.to_date {
                    Some(end) => format!("{} – {end}", manual.from_date),
                    None => format!("fra {}", manual.from_date),
                };
                Ok(outcome(
                    &Transfer::default(),
                    json!({
                        "kept_by_manual": true,
                        "moved_to": to,
                        "notify_moved_to": to != manual.municipality,
                        "manual_municipality": manual.municipality,
                        "manual_period": period,
                        "manual_reason": manual.reason,
                        "manual_registrant": manual.registrant,
                        "health_card_ordered": person.health_card,
                        "health_card_issuer": issuer,
                    }),
                ))
            }
            None => {
                // R2: the municipality moved to becomes handlekommune from this run.
                let transfer =
                    rules::transfer(ctx.conn, &person, Some(&to), on, "move", ctx.now).await?;
                Ok(outcome(&transfer, json!({ "moved_to": to })))
            }
        }
    }
}
