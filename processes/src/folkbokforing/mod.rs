//! Swedish population-register jobs (Edlevo's "Uppdatering utomkommunala personer" and its
//! neighbours): rules R20–R27 of `shared/domain.md`. The jobs are YAML in
//! `processes/folkbokforing/`; this module holds their actions (one per file), the simulated
//! Skatteverket/KIR register and the municipality's person register, the scope rules, the
//! search data, and the scenario kinds.

mod actions;
mod entities;
pub mod kommuner;
mod migrations;
mod scenario;
pub mod scope;
pub mod search;
pub mod simulate;
pub mod store;

use std::sync::Arc;

use forlob_engine::Registry;

/// The municipality whose person register the demo and the jobs' defaults use: Sundsvall.
pub const DEFAULT_KOMMUN: &str = "2281";

pub fn register(registry: &mut Registry) {
    actions::register(registry);
    registry
        .register_migrations(migrations::migrations)
        .register_reference(
            "se_municipalities",
            crate::municipalities::choices(kommuner::all()),
        )
        .register_municipality_list("se_municipalities")
        .register_messages(actions::MESSAGES)
        .register_run_words(actions::RUN_WORDS)
        .register_fixture("se_persons", Arc::new(scenario::Persons))
        .register_fixture("se_register_outage", Arc::new(scenario::RegisterOutage))
        .register_expectation("se_person", Arc::new(scenario::Person));
}
