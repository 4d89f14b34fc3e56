//! `flytning.stop_manual`: ends the current registration today (R10 "stop"); handleansvar
//! goes back on the next run (R15). A registration not yet in force is simply undone.

use async_trait::async_trait;
use forlob_engine::{Action, ActionContext, ActionError};
use serde::{Deserialize, Serialize};

use super::Expiry;
use crate::flytning::{rules, store};

pub(crate) struct StopManual;

#[derive(Deserialize)]
pub(crate) struct Input {}

/// The registration stopped, and when handleansvar goes back: the run after today, or
/// nothing (all null) for one that was only pending and is undone.
#[derive(Debug, Serialize)]
pub(crate) struct Output {
    registration: i64,
    was_pending: bool,
    #[serde(flatten)]
    expiry: Expiry,
}

#[async_trait]
impl Action for StopManual {
    type Input = Input;
    type Output = Output;

    fn name(&self) -> &'static str {
        "flytning.stop_manual"
    }

    async fn run(&self, ctx: &ActionContext<'_>, _input: Input) -> Result<Output, ActionError> {
        let registration = store::current_manual(ctx.conn, ctx.subject)
            .await?
            .ok_or_else(|| ActionError::permanent("there is no registration to stop"))?;
        if registration.state == "pending" {
            store::set_manual_state(ctx.conn, registration.id, "undone").await?;
            rules::undone(ctx, registration.id).await?;
            return Ok(Output {
                registration: registration.id,
                was_pending: true,
                expiry: Expiry::after(None),
            });
        }
        let today = rules::local_date(ctx.now);
        store::set_manual_to(ctx.conn, registration.id, Some(today)).await?;
        Ok(Output {
            registration: registration.id,
            was_pending: false,
            expiry: Expiry::after(Some(today)),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_stopped_registration_expires_after_today_and_an_undone_one_not_at_all() {
        let today = chrono::NaiveDate::from_ymd_opt(2025, 6, 30).expect("date");
        let stopped = Output {
            registration: 7,
            was_pending: false,
            expiry: Expiry::after(Some(today)),
        };
        assert_eq!(
            serde_json::to_value(stopped).expect("JSON"),
            json!({
                "registration": 7,
                "was_pending": false,
                "til": "2025-06-30",
                "expire_at": "2025-07-01T02:00:00+00:00",
                "expire_deadline_at": "2025-07-02T10:00:00+00:00",
            })
        );
        let undone = Output {
            registration: 7,
            was_pending: true,
            expiry: Expiry::after(None),
        };
        assert_eq!(
            serde_json::to_value(undone).expect("JSON"),
            json!({
                "registration": 7,
                "was_pending": true,
                "til": null,
                "expire_at": null,
                "expire_deadline_at": null,
            })
        );
    }
}
