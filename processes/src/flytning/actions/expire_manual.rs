//! `flytning.expire_manual`: on the run after a registration's last day (Q7) handleansvar
//! goes to the residence municipality of that day, with R4–R6 (R15). A registration that was
//! changed or ended meanwhile is left to whoever changed it.

use async_trait::async_trait;
use forlob_engine::{Action, ActionContext, ActionError};
use serde::{Deserialize, Serialize};

use crate::flytning::rules::{self, Transfer, TransferOutput};
use crate::flytning::store;

pub(crate) struct ExpireManual;

#[derive(Deserialize)]
pub(crate) struct Input {
    registration: i64,
    til: String,
}

/// The transfer's flags, and whether the registration ended now.
#[derive(Debug, Serialize)]
pub(crate) struct Output {
    #[serde(flatten)]
    transfer: TransferOutput,
    expired: bool,
}

#[async_trait]
impl Action for ExpireManual {
    type Input = Input;
    type Output = Output;

    fn name(&self) -> &'static str {
        "flytning.expire_manual"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Input) -> Result<Output, ActionError> {
        let registration = store::manual(ctx.conn, input.registration)
            .await?
            .ok_or_else(|| {
                ActionError::permanent(format!("no registration {}", input.registration))
            })?;
        let still_so = registration.state == "active"
            && registration.to_date.map(|d| d.to_string()).as_deref() == Some(input.til.as_str());
        if !still_so {
            return Ok(Output {
                transfer: Transfer::default().output(),
                expired: false,
            });
        }
        let person = store::person(ctx.conn, &registration.cpr)
            .await?
            .ok_or_else(|| ActionError::permanent(format!("no person {}", registration.cpr)))?;
        store::set_manual_state(ctx.conn, registration.id, "ended").await?;
        let on = rules::local_date(ctx.now);
        let residence = person.residence.clone();
        let transfer = rules::transfer(
            ctx.conn,
            &person,
            residence.as_deref(),
            on,
            "expiry",
            ctx.now,
        )
        .await?;
        Ok(Output {
            transfer: transfer.output(),
            expired: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::flytning::rules::transfer_output_json;

    #[test]
    fn the_output_is_the_transfer_flags_and_whether_it_expired() {
        let transfer = Transfer {
            changed: true,
            losing: Some("101".into()),
            gaining: Some("147".into()),
            ..Transfer::default()
        };
        let output = Output {
            transfer: transfer.output(),
            expired: true,
        };
        assert_eq!(
            serde_json::to_value(output).expect("JSON"),
            transfer_output_json(json!({
                "transferred": true,
                "losing": "101",
                "gaining": "147",
                "expired": true,
            }))
        );
    }
}
