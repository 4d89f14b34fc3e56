//! Every scenario of the shipped packages, on SQLite and on PostgreSQL: the business rules
//! hold on both databases.

mod support;

use forlob_engine::definition::SourceFile;
use forlob_engine::{Registry, files, scenario};
use support::Backend;

fn registry() -> Registry {
    let mut registry = Registry::new();
    forlob_processes::register(&mut registry);
    registry
}

fn definitions() -> Vec<SourceFile> {
    let mut all = forlob_engine::demo::definitions();
    all.extend(files::definition_files(&forlob_processes::processes_dir()).expect("definitions"));
    all
}

async fn every_package_scenario_passes(backend: Backend) {
    let scenarios = files::scenario_files(&forlob_processes::processes_dir()).expect("scenarios");
    assert!(
        scenarios.len() >= 19,
        "the rules have their scenarios: {}",
        scenarios.len()
    );
    let (definitions, registry) = (definitions(), registry());
    let mut failures = Vec::new();
    for file in &scenarios {
        let db = backend.fresh_db().await;
        let result = scenario::run_one_at(file, &definitions, &registry, &db.url).await;
        if let Some(why) = result.failure {
            failures.push(format!("{}: {why}", result.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

on_both_backends!(every_package_scenario_passes);

#[test]
fn every_business_rule_has_a_scenario_named_after_it() {
    let scenarios = files::scenario_files(&forlob_processes::processes_dir()).expect("scenarios");
    let names: Vec<String> = scenarios
        .iter()
        .filter_map(|f| {
            std::path::Path::new(&f.path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .collect();
    let missing: Vec<String> = (1..=19)
        .map(|n| format!("r{n:02}_"))
        .filter(|prefix| !names.iter().any(|n| n.starts_with(prefix.as_str())))
        .collect();
    assert!(missing.is_empty(), "rules without a scenario: {missing:?}");
}
