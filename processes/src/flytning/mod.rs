//! Danish moves and acting municipality (handlekommune), KP 5.4: rules R1–R19 of
//! `shared/domain.md`. The processes are YAML in `processes/flytning/`; this module holds what
//! they call: the actions (one per file), the `person` subject, the `municipality` field type,
//! the legal reasons as reference data, the check of `cpr.flytning` messages, and the scenario
//! fixtures and expectations.

mod actions;
mod cancel;
mod entities;
mod fields;
pub mod kommuner;
mod migrations;
mod rules;
mod scenario;
pub mod simulate;
mod store;
mod subject;

use std::sync::Arc;

use forlob_engine::Registry;

pub fn register(registry: &mut Registry) {
    actions::register(registry);
    registry
        .register_migrations(migrations::migrations)
        .register_subject("person", Arc::new(subject::Persons))
        .register_field_type("municipality", Arc::new(fields::Municipality))
        .register_reference("rsl9_reasons", fields::rsl9_reasons())
        .register_reference("dk_payment_kinds", fields::payment_kinds())
        .register_reference("dk_municipalities", kommuner::choices())
        .register_municipality_list("dk_municipalities")
        .register_messages(actions::daily_run::MESSAGES)
        .register_run_words(actions::daily_run::RUN_WORDS)
        .register_message_type("cpr.flytning", Arc::new(fields::CprFlytning))
        .register_cancel_hook(cancel::MOVE_PROCESS, Arc::new(cancel::CancelMove))
        .register_fixture("persons", Arc::new(scenario::Persons))
        .register_expectation("handlekommune", Arc::new(scenario::Handlekommune))
        .register_expectation("payment", Arc::new(scenario::Payment))
        .register_expectation(
            "manual_registration",
            Arc::new(scenario::ManualRegistration),
        )
        .register_expectation("health_card", Arc::new(scenario::HealthCard))
        .register_expectation("item", Arc::new(scenario::Item))
        .register_expectation("case_event", Arc::new(scenario::CaseEvent));
}
