//! `flytning.register_manual`: records a manual acting municipality (R10). The own
//! municipality holds at once (R11); another municipality is pending until the next run
//! (R12, Q6).

use async_trait::async_trait;
use forlob_engine::{Action, ActionContext, ActionError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Expiry, code};
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

/// The registration made or edited, and when the YAML's timers go: the run that brings it
/// into force (with its safety net) and the run after its last day.
#[derive(Debug, Serialize)]
pub(crate) struct Output {
    registration: i64,
    /// In force at once: the own municipality (R11).
    own: bool,
    /// Waits for the next run: another municipality (R12).
    pending: bool,
    activate_at: String,
    activate_deadline_at: String,
    #[serde(flatten)]
    expiry: Expiry,
}

#[async_trait]
impl Action for RegisterManual {
    type Input = Input;
    type Output = Output;

    fn name(&self) -> &'static str {
        "flytning.register_manual"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Input) -> Result<Output, ActionError> {
        let cpr = ctx.subject;
        let til = input.til.as_deref().map(rules::parse_date).transpose()?;
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
            let run = rules::run_date(ctx.now, rules::local_date(ctx.now));
            return Ok(Output {
                registration: existing.id,
                own: existing.state == "active",
                pending: existing.state == "pending",
                activate_at: rules::run_at(run, rules::Phase::Registrations),
                activate_deadline_at: rules::safety_net(run, rules::Phase::Registrations),
                expiry: Expiry::after(til),
            });
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
        let run = rules::run_date(ctx.now, fra);
        Ok(Output {
            registration: id,
            own,
            pending: !own,
            activate_at: rules::run_at(run, rules::Phase::Registrations),
            activate_deadline_at: rules::safety_net(run, rules::Phase::Registrations),
            expiry: Expiry::after(til),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_output_is_the_registration_its_activation_and_its_expiry() {
        let til = chrono::NaiveDate::from_ymd_opt(2025, 6, 30).expect("date");
        let output = Output {
            registration: 7,
            own: false,
            pending: true,
            activate_at: "2025-06-03T02:00:00+00:00".into(),
            activate_deadline_at: "2025-06-04T10:00:00+00:00".into(),
            expiry: Expiry::after(Some(til)),
        };
        assert_eq!(
            serde_json::to_value(output).expect("JSON"),
            json!({
                "registration": 7,
                "own": false,
                "pending": true,
                "activate_at": "2025-06-03T02:00:00+00:00",
                "activate_deadline_at": "2025-06-04T10:00:00+00:00",
                "til": "2025-06-30",
                "expire_at": "2025-07-01T02:00:00+00:00",
                "expire_deadline_at": "2025-07-02T10:00:00+00:00",
            })
        );
    }

    #[test]
    fn a_registration_without_an_end_has_null_expiry_keys() {
        let output = Output {
            registration: 7,
            own: true,
            pending: false,
            activate_at: "2025-06-03T02:00:00+00:00".into(),
            activate_deadline_at: "2025-06-04T10:00:00+00:00".into(),
            expiry: Expiry::after(None),
        };
        assert_eq!(
            serde_json::to_value(output).expect("JSON"),
            json!({
                "registration": 7,
                "own": true,
                "pending": false,
                "activate_at": "2025-06-03T02:00:00+00:00",
                "activate_deadline_at": "2025-06-04T10:00:00+00:00",
                "til": null,
                "expire_at": null,
                "expire_deadline_at": null,
            })
        );
    }
}
