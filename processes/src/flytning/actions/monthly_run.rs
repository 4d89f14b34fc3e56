//! `flytning.monthly_run`: one chunk of the Friday monthly run (R9). It pays and requests
//! deductions for planned items of whoever is handlekommune when the run works on them; the
//! run starts after the 04:00 effectuation (Q3), so a move carried out that morning already
//! counts. Reading: a run on F pays what falls due up to the end of F's month; what falls due
//! later is paid by a later run, so a move before then still stops it (R4) and counts as an
//! outstanding amount (R5).

use async_trait::async_trait;
use chrono::{Datelike, Months, NaiveDate};
use forlob_engine::{Action, ActionContext, ActionError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::flytning::{rules, store};

pub(crate) struct MonthlyRun;

const CHUNK: u64 = 500;

#[derive(Deserialize)]
pub(crate) struct Input {
    run_date: String,
    #[serde(default)]
    after_id: i64,
}

/// Where the run stands after a chunk; the YAML passes it back in. The counts are the run's
/// totals so far.
#[derive(Debug, Serialize)]
pub(crate) struct Output {
    after_id: i64,
    more: bool,
    executed: u64,
    skipped: u64,
}

fn end_of_month(date: NaiveDate) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(date.year(), date.month(), 1).unwrap_or(date);
    first
        .checked_add_months(Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(date)
}

#[async_trait]
impl Action for MonthlyRun {
    type Input = Input;
    type Output = Output;

    fn name(&self) -> &'static str {
        "flytning.monthly_run"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Input) -> Result<Output, ActionError> {
        let run_date = rules::parse_date(&input.run_date)?;
        let until = end_of_month(run_date);
        let items = store::planned_due(ctx.conn, until, input.after_id, CHUNK).await?;
        let (mut executed, mut skipped) = (0u64, 0u64);
        for item in &items {
            let holder = store::handlekommune(ctx.conn, &item.cpr)
                .await?
                .map(|h| h.municipality);
            if holder.as_deref() == Some(item.municipality.as_str()) {
                store::execute_item(ctx.conn, item, run_date).await?;
                executed += 1;
            } else {
                // Never paid by a municipality without handleansvar.
                skipped += 1;
            }
        }
        let total =
            |key: &str, add: u64| ctx.vars.get(key).and_then(Value::as_u64).unwrap_or(0) + add;
        Ok(Output {
            after_id: items.last().map_or(input.after_id, |i| i.id),
            more: items.len() as u64 == CHUNK,
            executed: total("executed", executed),
            skipped: total("skipped", skipped),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_output_is_where_the_run_stands_and_its_totals() {
        let output = Output {
            after_id: 500,
            more: true,
            executed: 480,
            skipped: 20,
        };
        assert_eq!(
            serde_json::to_value(output).expect("JSON"),
            json!({ "after_id": 500, "more": true, "executed": 480, "skipped": 20 })
        );
    }

    #[test]
    fn a_run_pays_through_the_end_of_its_month() {
        let d = |s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        assert_eq!(end_of_month(d("2025-06-06")), d("2025-06-30"));
        assert_eq!(end_of_month(d("2025-12-05")), d("2025-12-31"));
    }
}
