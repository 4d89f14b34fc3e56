//! `flytning.stop_manual`: ends the current registration today (R10 "stop"); handleansvar
//! goes back on the next run (R15). A registration not yet in force is simply undone.

use async_trait::async_trait;
use forlob_engine::{Action, ActionContext, ActionError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::flytning::{rules, store};

pub(crate) struct StopManual;

#[derive(Deserialize)]
pub(crate) struct Input {}

#[async_trait]
impl Action for StopManual {
    type Input = Input;
    type Output = Value;

    fn name(&self) -> &'static str {
        "flytning.stop_manual"
    }

    async fn run(&self, ctx: &ActionContext<'_>, _input: Input) -> Result<Value, ActionError> {
        let registration = store::current_manual(ctx.conn, ctx.subject)
            .await?
            .ok_or_else(|| ActionError::permanent("there is no registration to stop"))?;
        if registration.state == "pending" {
            store::set_manual_state(ctx.conn, registration.id, "undone").await?;
            rules::undone(ctx, registration.id).await?;
            return Ok(
                json!({ "registration": registration.id, "was_pending": true, "til": null, "expire_at": null, "expire_deadline_at": null }),
            );
        }
        let today = rules::local_date(ctx.now);
        store::set_manual_to(ctx.conn, registration.id, Some(today)).await?;
        let next = today
            .checked_add_days(chrono::Days::new(1))
            .unwrap_or(today);
        Ok(json!({
            "registration": registration.id,
            "was_pending": false,
            "til": today.to_string(),
            "expire_at": rules::run_at(next, rules::Phase::Registrations),
            "expire_deadline_at": rules::safety_net(next, rules::Phase::Registrations),
        }))
    }
}
