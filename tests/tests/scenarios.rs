//! The scenario runner: a passing story passes, a wrong expectation fails with a readable
//! account of what was expected and what was found.

use forlob_engine::definition::SourceFile;
use forlob_engine::scenario;

fn demo_scenarios() -> Vec<SourceFile> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/demo");
    forlob_engine::files::scenario_files(&dir.join("scenarios")).expect("demo scenarios")
}

#[tokio::test]
async fn the_demo_scenario_passes() {
    let results = scenario::run_all(
        &demo_scenarios(),
        &forlob_engine::demo::definitions(),
        &forlob_engine::demo::registry(),
    )
    .await;
    assert!(!results.is_empty());
    for r in results {
        assert!(
            r.failure.is_none(),
            "{}: {}",
            r.name,
            r.failure.unwrap_or_default()
        );
    }
}

#[tokio::test]
async fn a_failing_expectation_says_what_was_expected_and_what_was_found() {
    let file = SourceFile {
        path: "wrong.yaml".into(),
        text: r#"
scenario: expects a task that is not there
clock: 2025-06-02T09:00:00+02:00
steps:
  - start: { process: demo-move-out-human, subject: "0101501234", as: { role: admin } }
expect:
  - task: { municipality: 147, kind: review, status: open }
"#
        .into(),
    };
    let result = scenario::run_one(
        &file,
        &forlob_engine::demo::definitions(),
        &forlob_engine::demo::registry(),
    )
    .await;
    let failure = result.failure.expect("the scenario must fail");
    assert!(
        failure.contains("expected at least one, found none"),
        "{failure}"
    );
    assert!(
        failure.contains("review@101 (0101501234)"),
        "the tasks present are listed: {failure}"
    );
}

#[tokio::test]
async fn a_step_expected_to_be_refused_fails_when_it_succeeds() {
    let file = SourceFile {
        path: "refusal.yaml".into(),
        text: r#"
scenario: a refusal that does not happen
clock: 2025-06-02T09:00:00+02:00
steps:
  - start: { process: demo-move-out, subject: "0101501234", as: { role: admin } }
    expect_error: { status: 403 }
"#
        .into(),
    };
    let result = scenario::run_one(
        &file,
        &forlob_engine::demo::definitions(),
        &forlob_engine::demo::registry(),
    )
    .await;
    assert!(
        result
            .failure
            .expect("fails")
            .contains("expected a refusal with status 403")
    );
}

#[tokio::test]
async fn an_expectation_with_a_key_it_does_not_know_fails_instead_of_matching_everything() {
    let file = SourceFile {
        path: "typo.yaml".into(),
        text: r#"
scenario: a typo in an expectation
clock: 2025-06-02T09:00:00+02:00
steps:
  - start: { process: demo-move-out-human, subject: "0101501234", as: { role: admin } }
expect:
  - task: { state: nowhere }
"#
        .into(),
    };
    let result = scenario::run_one(
        &file,
        &forlob_engine::demo::definitions(),
        &forlob_engine::demo::registry(),
    )
    .await;
    let failure = result.failure.expect("fails");
    assert!(failure.contains("unknown key `state`"), "{failure}");
}
