//! `flytning.register_manual`: records a manual acting municipality (R10). The own
//! municipality holds at once (R11); another municipality is pending until the next run
//! (R12, Q6).

use async_trait::async_trait;
use forlob_engine::{Action, ActionContext, ActionError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::code;
use crate::flytning::{rules, store};

pub(crate) struct RegisterManual;

#[derive(Deserialize)]
pub(crate) struct Input {
    handling: String,
    kommune: Option<Value>,
    fra: Option<String>,
    til: Option<String>,
    aarsag: Option<String>,
    submitted_by: Value,
}

#[async_trait]
impl Action for RegisterManual {
    type Input = Input;
    type Output = Value;

    fn name(&self) -> &'static str {
        "flytning.register_manual"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Input) -> Result<Value, ActionError> {
        let cpr = ctx.subject;
        let til = input.til.as_deref().map(rules::parse_date).transpose()?;
        // Q7: the end date is inclusive; handleansvar goes back on the run the day after.
        let expiry = til.and_then(|t| t.checked_add_days(chrono::Days::new(1)));
        let expire_at = expiry.map(|d| rules::run_at(d, rules::Phase::Registrations));
        let expire_deadline_at = expiry.map(|d| rules::safety_net(d, rules::Phase::Registrations));
        // R10: only the current handlekommune registers. The form checks this too; here it
        // holds even if handleansvar moved between opening the task and submitting it.
        let current = store::handlekommune(ctx.conn, cpr)
            .await?
            .map(|h| h.municipality);
        let registrant = input
            .submitted_by
            .get("municipality")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if current.as_deref() != Some(registrant) {
            return Err(ActionError::permanent(format!(
                "{registrant} is not the citizen's handlekommune ({}) and may not register one",
                current.as_deref().unwrap_or("none")
            )));
        }
        let existing = store::current_manual(ctx.conn, cpr).await?;
        if input.handling == "rediger" {
            let existing = existing
                .ok_or_else(|| ActionError::permanent("there is no registration to edit"))?;
            store::set_manual_to(ctx.conn, existing.id, til).await?;
            return Ok(json!({
                "registration": existing.id,
                "own": existing.state == "active",
                "pending": existing.state == "pending",
                "activate_at": rules::run_at(rules::run_date(ctx.now, rules::local_date(ctx.now)), rules::Phase::Registrations),
                "activate_deadline_at": rules::safety_net(rules::run_date(ctx.now, rules::local_date(ctx.now)), rules::Phase::Registrations),
                "til": til.map(|t| t.to_string()),
                "expire_at": expire_at,
                "expire_deadline_at": expire_deadline_at,
            }));
        }
        let kommune =
            code(&input.kommune).ok_or_else(|| ActionError::permanent("no municipality given"))?;
        let fra = rules::parse_date(input.fra.as_deref().unwrap_or_default())?;
        let own = current.as_deref() == Some(kommune.as_str());
        let user = input
            .submitted_by
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let id = store::insert_manual(
            ctx.conn,
            store::NewRegistration {
                cpr,
                municipality: &kommune,
                from: fra,
                to: til,
                reason: input.aarsag.as_deref().unwrap_or_default(),
                registrant,
                registrant_user: user,
                state: if own { "active" } else { "pending" },
                at: ctx.now,
            },
        )
        .await?;
        if own {
            // In force at once, so it replaces what was there now; one for another
            // municipality replaces it only when it comes into force (it may be undone).
            store::replace_other_manuals(ctx.conn, cpr, id).await?;
        }
        Ok(json!({
            "registration": id,
            "own": own,
            "pending": !own,
            "activate_at": rules::run_at(rules::run_date(ctx.now, fra), rules::Phase::Registrations),
            "activate_deadline_at": rules::safety_net(rules::run_date(ctx.now, fra), rules::Phase::Registrations),
            "til": til.map(|t| t.to_string()),
            "expire_at": expire_at,
            "expire_deadline_at": expire_deadline_at,
        }))
    }
}
