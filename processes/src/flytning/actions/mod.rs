//! The package's actions, one per file. The YAML says when they run; these say how.
//!
//! Each action's output is a typed `Output`, whose JSON becomes the instance's variables. It
//! has the same keys whatever the action decided (null or false where they do not apply), so
//! the guards in the YAML can read them without tripping over a missing one; the few keys
//! left out on some path say so where they are declared.

mod activate_manual;
mod create_item;
pub(crate) mod daily_run;
mod effect_move;
mod expire_manual;
mod monthly_run;
mod plan_move;
mod register_manual;
mod stop_manual;
mod undo_manual;

use chrono::NaiveDate;
use forlob_engine::Registry;
use serde::Serialize;
use serde_json::Value;

use crate::flytning::rules;

pub(crate) fn register(registry: &mut Registry) {
    registry
        .register_action(plan_move::PlanMove)
        .register_action(create_item::CreateItem)
        .register_action(effect_move::EffectMove)
        .register_action(register_manual::RegisterManual)
        .register_action(activate_manual::ActivateManual)
        .register_action(expire_manual::ExpireManual)
        .register_action(stop_manual::StopManual)
        .register_action(undo_manual::UndoManual)
        .register_action(monthly_run::MonthlyRun)
        .register_action(daily_run::DailyRun);
}

/// A municipality code given as text or number.
pub(crate) fn code(value: &Option<Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// When a manual registration ends and handleansvar goes back (Q7, R15): its last day, the
/// run after it and that run's safety net, for the YAML's timers. All null for a
/// registration without an end.
#[derive(Debug, Serialize)]
pub(crate) struct Expiry {
    til: Option<String>,
    expire_at: Option<String>,
    expire_deadline_at: Option<String>,
}

impl Expiry {
    /// The expiry of a registration whose last day, inclusive, is `til`.
    pub(crate) fn after(til: Option<NaiveDate>) -> Expiry {
        let next = til.and_then(|t| t.checked_add_days(chrono::Days::new(1)));
        Expiry {
            til: til.map(|t| t.to_string()),
            expire_at: next.map(|d| rules::run_at(d, rules::Phase::Registrations)),
            expire_deadline_at: next.map(|d| rules::safety_net(d, rules::Phase::Registrations)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_expiry_is_the_run_after_the_last_day_or_all_null() {
        let til = NaiveDate::from_ymd_opt(2025, 6, 30).expect("date");
        assert_eq!(
            serde_json::to_value(Expiry::after(Some(til))).expect("JSON"),
            json!({
                "til": "2025-06-30",
                "expire_at": "2025-07-01T02:00:00+00:00",
                "expire_deadline_at": "2025-07-02T10:00:00+00:00",
            })
        );
        assert_eq!(
            serde_json::to_value(Expiry::after(None)).expect("JSON"),
            json!({ "til": null, "expire_at": null, "expire_deadline_at": null })
        );
    }
}
