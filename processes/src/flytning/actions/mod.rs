//! The package's actions, one per file. The YAML says when they run; these say how.
//!
//! Every action returns the same keys whatever it decided, so the guards in the YAML can read
//! them without tripping over a missing one.

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

use forlob_engine::Registry;
use serde_json::Value;

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
