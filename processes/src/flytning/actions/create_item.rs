//! `flytning.create_item`: the current handlekommune creates a planned ydelse or træk on a
//! case of the citizen (R4's second half: a municipality that lost handleansvar creates none).

use async_trait::async_trait;
use forlob_engine::{Action, ActionContext, ActionError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::flytning::{fields, rules, store};

pub(crate) struct CreateItem;

#[derive(Deserialize)]
pub(crate) struct Input {
    /// A kind of `dk_payment_kinds`.
    art: String,
    /// Kroner, with øre as decimals.
    beloeb: f64,
    /// `YYYY-MM-DD`.
    forfald: String,
    /// The case's title: an existing case of the municipality with this title, or a new one.
    sag: String,
    submitted_by: Value,
}

/// The item created.
#[derive(Debug, Serialize)]
pub(crate) struct Output {
    /// `ydelse` or `traek`.
    item_type: &'static str,
    case_id: i64,
    amount_ore: i64,
}

#[async_trait]
impl Action for CreateItem {
    type Input = Input;
    type Output = Output;

    fn name(&self) -> &'static str {
        "flytning.create_item"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Input) -> Result<Output, ActionError> {
        let cpr = ctx.subject;
        let municipality = input
            .submitted_by
            .get("municipality")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // R4: only the current handlekommune. The start and the form check this too; here it
        // holds even if handleansvar moved between the submit and this step.
        let current = store::handlekommune(ctx.conn, cpr)
            .await?
            .map(|h| h.municipality);
        if current.as_deref() != Some(municipality) {
            return Err(ActionError::permanent(format!(
                "{municipality} is not the citizen's handlekommune ({}) and may not create ydelser or træk",
                current.as_deref().unwrap_or("none")
            )));
        }
        if !fields::payment_kinds().iter().any(|k| k.value == input.art) {
            return Err(ActionError::permanent(format!(
                "`{}` is not a kind of ydelse or træk",
                input.art
            )));
        }
        let amount_ore = (input.beloeb * 100.0).round();
        if !(1.0..=1e11).contains(&amount_ore) {
            return Err(ActionError::permanent(format!(
                "the amount {} kr. is not a positive amount",
                input.beloeb
            )));
        }
        let due = rules::parse_date(&input.forfald)?;
        let title = input.sag.trim();
        let case_id = match store::case_titled(ctx.conn, cpr, municipality, title).await? {
            Some(id) => id,
            None => store::insert_case(ctx.conn, cpr, municipality, title).await?,
        };
        let item_type = fields::item_type_of(&input.art);
        #[expect(clippy::cast_possible_truncation, reason = "bounded to 1e11 above")]
        let amount_ore = amount_ore as i64;
        store::insert_item(
            ctx.conn,
            store::NewItem {
                case_id,
                cpr,
                municipality,
                kind: item_type,
                item_type: &input.art,
                amount_ore,
                due_date: due,
            },
        )
        .await?;
        Ok(Output {
            item_type,
            case_id,
            amount_ore,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_output_is_the_item_created() {
        let output = Output {
            item_type: "ydelse",
            case_id: 3,
            amount_ore: 125_050,
        };
        assert_eq!(
            serde_json::to_value(output).expect("JSON"),
            json!({ "item_type": "ydelse", "case_id": 3, "amount_ore": 125_050 })
        );
    }
}
