//! The scenario runner: a passing story passes, a wrong expectation fails with a readable
//! account of what was expected and what was found.

use forlob_engine::definition::SourceFile;
use forlob_engine::scenario;

fn demo_scenarios() -> Vec<SourceFile> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/demo");
    forlob_engine::files::scenario_files(&dir.join("scenarios")).expect("demo scenarios")
}

/// Runs one scenario written here against the demo processes.
async fn run_demo(path: &str, text: &str) -> scenario::ScenarioResult {
    let file = SourceFile {
        path: path.into(),
        text: text.into(),
    };
    scenario::run_one(
        &file,
        &forlob_engine::demo::definitions(),
        &forlob_engine::demo::registry(),
    )
    .await
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
    let result = run_demo(
        "wrong.yaml",
        r#"
scenario: expects a task that is not there
clock: 2025-06-02T09:00:00+02:00
steps:
  - start: { process: demo-move-out-human, subject: "0101501234", as: { role: admin } }
expect:
  - task: { municipality: 147, kind: review, status: open }
"#,
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
    let result = run_demo(
        "refusal.yaml",
        r#"
scenario: a refusal that does not happen
clock: 2025-06-02T09:00:00+02:00
steps:
  - start: { process: demo-move-out, subject: "0101501234", as: { role: admin } }
    expect_error: { status: 403 }
"#,
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
    let result = run_demo(
        "typo.yaml",
        r#"
scenario: a typo in an expectation
clock: 2025-06-02T09:00:00+02:00
steps:
  - start: { process: demo-move-out-human, subject: "0101501234", as: { role: admin } }
expect:
  - task: { state: nowhere }
"#,
    )
    .await;
    let failure = result.failure.expect("fails");
    assert!(failure.contains("unknown key `state`"), "{failure}");
}

#[tokio::test]
async fn a_step_that_does_not_fit_its_shape_stops_the_file_before_anything_runs() {
    let result = run_demo(
        "typo-step.yaml",
        r#"
scenario: a typo in a step
clock: 2025-06-02T09:00:00+02:00
steps:
  - start: { process: demo-move-out-human, subject: "0101501234", as: { role: admin } }
  - complete: { task: review, subjet: "0101501234" }
"#,
    )
    .await;
    assert_eq!(result.failed_at.as_deref(), Some("file"));
    assert!(result.timeline.is_empty(), "nothing ran");
    let failure = result.failure.expect("fails");
    assert!(
        failure.starts_with("typo-step.yaml:6:") && failure.contains("unknown field `subjet`"),
        "{failure}"
    );
}

#[tokio::test]
async fn a_failing_step_says_where_it_is_written_and_what_it_says() {
    let result = run_demo(
        "refused.yaml",
        r#"
scenario: a start nobody may make
clock: 2025-06-02T09:00:00+02:00
steps:
  - advance: { by: PT1H }
  - start: { process: demo-move-out-human, subject: "0101501234", as: { role: designer } }
"#,
    )
    .await;
    assert_eq!(result.failed_at.as_deref(), Some("step 2"));
    let failure = result.failure.expect("fails");
    assert!(
        failure.starts_with("step 2 (refused.yaml:6:5) start: { process: demo-move-out-human"),
        "{failure}"
    );
    let told = &result.timeline[2];
    assert_eq!(told.part, "step 2");
    assert!(told.what.starts_with("start: {"), "{}", told.what);
}

#[tokio::test]
async fn a_restart_expected_to_be_refused_fails_when_it_goes_through() {
    // The release before: the demo process as it is, but for a comment (another version).
    let definitions = forlob_engine::demo::definitions();
    let human = definitions
        .iter()
        .find(|f| f.text.contains("id: demo-move-out-human"))
        .expect("the demo's human process");
    let before = SourceFile {
        path: "old/human.yaml".into(),
        text: format!("# the release before\n{}", human.text),
    };
    let file = SourceFile {
        path: "restart.yaml".into(),
        text: r#"
scenario: a restart that is not refused
clock: 2025-06-02T09:00:00+02:00
previous_release: [old/human.yaml]
steps:
  - start: { process: demo-move-out-human, subject: "0101501234", as: { role: admin } }
  - deploy: package
  - restart: { process: demo-move-out-human, states: [review], expect: { done: 1 } }
    expect_error: { status: 409 }
"#
        .into(),
    };
    let result = scenario::run_in_memory(
        &file,
        &definitions,
        &forlob_engine::demo::registry(),
        scenario::Sources::Sent(std::slice::from_ref(&before)),
    )
    .await;
    assert_eq!(result.failed_at.as_deref(), Some("step 3"), "{result:?}");
    let failure = result.failure.expect("fails");
    assert!(
        failure.contains("expected a refusal with status 409, but the step succeeded"),
        "{failure}"
    );
}
