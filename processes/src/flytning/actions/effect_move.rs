//! `flytning.effect_move`: carries out a planned move on its run (R1): the new residence, the
//! main rule (R2) with stops and follow-ups (R4–R6), a manual registration keeping
//! handleansvar (R11, R13, R17), and a move abroad ending it (R16).

use async_trait::async_trait;
use forlob_engine::{Action, ActionContext, ActionError};
use serde::{Deserialize, Serialize};

use crate::flytning::rules::{self, TransferOutput};
use crate::flytning::store;

pub(crate) struct EffectMove;

#[derive(Deserialize)]
pub(crate) struct Input {
    move_id: i64,
}

/// What carrying out the move did. Every key but `health_card_issuer` is there on every
/// path (null or false when it does not apply), so the YAML's guards can read them.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Output {
    #[serde(flatten)]
    transfer: TransferOutput,
    /// R19: a newer move superseded this one; nothing was done.
    superseded: bool,
    abroad: bool,
    /// A move abroad ended handleansvar.
    ended: bool,
    /// R11/R13: a manual registration keeps handleansvar.
    kept_by_manual: bool,
    moved_to: Option<String>,
    /// The municipality moved to is told when it is not the one keeping handleansvar.
    notify_moved_to: bool,
    manual_municipality: Option<String>,
    manual_period: Option<String>,
    manual_reason: Option<String>,
    manual_registrant: Option<String>,
    health_card_ordered: bool,
    /// Only when a manual registration keeps handleansvar: who issues the health card.
    #[serde(skip_serializing_if = "Option::is_none")]
    health_card_issuer: Option<String>,
}

#[async_trait]
impl Action for EffectMove {
    type Input = Input;
    type Output = Output;

    fn name(&self) -> &'static str {
        "flytning.effect_move"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Input) -> Result<Output, ActionError> {
        let planned = store::move_by_id(ctx.conn, input.move_id)
            .await?
            .ok_or_else(|| ActionError::permanent(format!("no move {}", input.move_id)))?;
        match planned.status.as_str() {
            "planned" => {}
            // R19: a newer move for the person superseded this one.
            "superseded" => {
                return Ok(Output {
                    superseded: true,
                    ..Output::default()
                });
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

        if planned.abroad {
            // R16 and Q9: status 80 ends handleansvar even under a manual registration,
            // which closes; the losing municipality gets the R4–R6 treatment.
            store::carry_out_move(ctx.conn, planned.id, &person.cpr, None, on, "80").await?;
            if let Some(manual) = store::current_manual(ctx.conn, &person.cpr).await? {
                store::set_manual_state(ctx.conn, manual.id, "closed").await?;
            }
            let transfer = rules::transfer(ctx.conn, &person, None, on, "abroad", ctx.now).await?;
            return Ok(Output {
                transfer: transfer.output(),
                abroad: true,
                ended: transfer.changed,
                ..Output::default()
            });
        }

        let to = planned.to_municipality.clone().ok_or_else(|| {
            ActionError::permanent(format!("move {} has no destination", planned.id))
        })?;
        store::carry_out_move(ctx.conn, planned.id, &person.cpr, Some(&to), on, "01").await?;
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
                Ok(Output {
                    kept_by_manual: true,
                    notify_moved_to: to != manual.municipality,
                    moved_to: Some(to),
                    manual_municipality: Some(manual.municipality),
                    manual_period: Some(period),
                    manual_reason: Some(manual.reason),
                    manual_registrant: Some(manual.registrant),
                    health_card_ordered: person.health_card,
                    health_card_issuer: Some(issuer),
                    ..Output::default()
                })
            }
            None => {
                // R2: the municipality moved to becomes handlekommune from this run.
                let transfer =
                    rules::transfer(ctx.conn, &person, Some(&to), on, "move", ctx.now).await?;
                Ok(Output {
                    transfer: transfer.output(),
                    moved_to: Some(to),
                    ..Output::default()
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::flytning::rules::{Transfer, transfer_output_json};

    /// The output of a path: what nothing done gives, with `changes` over it.
    fn expected(changes: Value) -> Value {
        let mut base = transfer_output_json(json!({
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
        }));
        if let (Value::Object(base), Value::Object(changes)) = (&mut base, changes) {
            base.extend(changes);
        }
        base
    }

    fn json_of(output: Output) -> Value {
        serde_json::to_value(output).expect("JSON")
    }

    fn transfer(to: Option<&str>) -> Transfer {
        Transfer {
            changed: true,
            losing: Some("101".into()),
            gaining: to.map(str::to_owned),
            stopped_benefits: 2,
            stopped_deductions: 1,
            outstanding_ore: 125_050,
            administration: true,
            institution: false,
        }
    }

    #[test]
    fn a_superseded_move_says_so_and_nothing_else() {
        let output = Output {
            superseded: true,
            ..Output::default()
        };
        assert_eq!(json_of(output), expected(json!({ "superseded": true })));
    }

    #[test]
    fn a_move_abroad_gives_the_transfer_flags_and_that_it_ended() {
        let transfer = transfer(None);
        let output = Output {
            transfer: transfer.output(),
            abroad: true,
            ended: transfer.changed,
            ..Output::default()
        };
        assert_eq!(
            json_of(output),
            expected(json!({
                "transferred": true,
                "losing": "101",
                "stopped_benefits": 2,
                "stopped_deductions": 1,
                "stopped_count": 3,
                "outstanding": "1250.50",
                "administration": true,
                "abroad": true,
                "ended": true,
            }))
        );
    }

    #[test]
    fn a_move_kept_by_a_manual_registration_names_it_and_the_health_card_issuer() {
        let output = Output {
            kept_by_manual: true,
            notify_moved_to: true,
            moved_to: Some("147".into()),
            manual_municipality: Some("101".into()),
            manual_period: Some("fra 2025-06-01".into()),
            manual_reason: Some("anbringelse".into()),
            manual_registrant: Some("101".into()),
            health_card_ordered: true,
            health_card_issuer: Some("101".into()),
            ..Output::default()
        };
        assert_eq!(
            json_of(output),
            expected(json!({
                "kept_by_manual": true,
                "notify_moved_to": true,
                "moved_to": "147",
                "manual_municipality": "101",
                "manual_period": "fra 2025-06-01",
                "manual_reason": "anbringelse",
                "manual_registrant": "101",
                "health_card_ordered": true,
                "health_card_issuer": "101",
            }))
        );
    }

    #[test]
    fn a_move_within_denmark_gives_the_transfer_flags_and_where_to() {
        let output = Output {
            transfer: transfer(Some("147")).output(),
            moved_to: Some("147".into()),
            ..Output::default()
        };
        assert_eq!(
            json_of(output),
            expected(json!({
                "transferred": true,
                "losing": "101",
                "gaining": "147",
                "stopped_benefits": 2,
                "stopped_deductions": 1,
                "stopped_count": 3,
                "outstanding": "1250.50",
                "administration": true,
                "moved_to": "147",
            }))
        );
    }
}
