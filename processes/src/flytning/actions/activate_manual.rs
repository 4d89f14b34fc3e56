//! `flytning.activate_manual`: on the run after a registration for another municipality C,
//! C gets handleansvar (R12) with R4–R6 for the losing one; an undone registration moves
//! nothing.

use async_trait::async_trait;
use forlob_engine::{Action, ActionContext, ActionError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::merged;
use crate::flytning::rules::{self, Transfer};
use crate::flytning::store;

pub(crate) struct ActivateManual;

#[derive(Deserialize)]
pub(crate) struct Input {
    registration: i64,
}

#[async_trait]
impl Action for ActivateManual {
    type Input = Input;
    type Output = Value;

    fn name(&self) -> &'static str {
        "flytning.activate_manual"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Input) -> Result<Value, ActionError> {
        let registration = store::manual(ctx.conn, input.registration)
            .await?
            .ok_or_else(|| {
                ActionError::permanent(format!("no registration {}", input.registration))
            })?;
        if registration.state != "pending" {
            let undone = registration.state == "undone";
            return Ok(merged(
                Transfer::default().output(),
                json!({ "activated": false, "undone": undone }),
            ));
        }
        let person = store::person(ctx.conn, &registration.cpr)
            .await?
            .ok_or_else(|| ActionError::permanent(format!("no person {}", registration.cpr)))?;
        let on = rules::local_date(ctx.now);
        if registration.to_date.is_some_and(|end| end < on) {
            // Its period ended before it could come into force: nothing moves.
            store::set_manual_state(ctx.conn, registration.id, "ended").await?;
            return Ok(merged(
                Transfer::default().output(),
                json!({ "activated": false, "undone": false }),
            ));
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
        Ok(merged(
            transfer.output(),
            json!({ "activated": true, "undone": false }),
        ))
    }
}
