//! `flytning.activate_manual`: on the run after a registration for another municipality C,
//! C gets handleansvar (R12) with R4–R6 for the losing one; an undone registration moves
//! nothing.

use async_trait::async_trait;
use forlob_engine::{Action, ActionContext, ActionError};
use serde::{Deserialize, Serialize};

use crate::flytning::rules::{self, Transfer, TransferOutput};
use crate::flytning::store;

pub(crate) struct ActivateManual;

#[derive(Deserialize)]
pub(crate) struct Input {
    registration: i64,
}

/// The transfer's flags, and whether the registration came into force.
#[derive(Debug, Serialize)]
pub(crate) struct Output {
    #[serde(flatten)]
    transfer: TransferOutput,
    activated: bool,
    /// Undone before its run: nothing moves, and the YAML ends quietly.
    undone: bool,
}

#[async_trait]
impl Action for ActivateManual {
    type Input = Input;
    type Output = Output;

    fn name(&self) -> &'static str {
        "flytning.activate_manual"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Input) -> Result<Output, ActionError> {
        let registration = store::manual(ctx.conn, input.registration)
            .await?
            .ok_or_else(|| {
                ActionError::permanent(format!("no registration {}", input.registration))
            })?;
        if registration.state != "pending" {
            let undone = registration.state == "undone";
            return Ok(Output {
                transfer: Transfer::default().output(),
                activated: false,
                undone,
            });
        }
        let person = store::person(ctx.conn, &registration.cpr)
            .await?
            .ok_or_else(|| ActionError::permanent(format!("no person {}", registration.cpr)))?;
        let on = rules::local_date(ctx.now);
        if registration.to_date.is_some_and(|end| end < on) {
            // Its period ended before it could come into force: nothing moves.
            store::set_manual_state(ctx.conn, registration.id, "ended").await?;
            return Ok(Output {
                transfer: Transfer::default().output(),
                activated: false,
                undone: false,
            });
        }
        store::set_manual_state(ctx.conn, registration.id, "active").await?;
        store::replace_other_manuals(ctx.conn, &registration.cpr, registration.id).await?;
        let transfer = rules::transfer(
            ctx.conn,
            &person,
            Some(&registration.municipality),
            on,
            "manual",
            ctx.now,
        )
        .await?;
        Ok(Output {
            transfer: transfer.output(),
            activated: true,
            undone: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::flytning::rules::transfer_output_json;

    #[test]
    fn the_output_is_the_transfer_flags_and_whether_it_came_into_force() {
        let output = Output {
            transfer: Transfer::default().output(),
            activated: false,
            undone: true,
        };
        assert_eq!(
            serde_json::to_value(output).expect("JSON"),
            transfer_output_json(json!({ "activated": false, "undone": true }))
        );
    }
}
