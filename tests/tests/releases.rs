//! Releases on SQLite and PostgreSQL: renamed processes, migration plans, restart after
//! release, a dry run that writes nothing, a clean refusal of bad plans and of a second
//! migration at once, a resume after a node dies mid-migration; and an admin's operations on
//! one instance (suspend, resume, cancel); abandoning a migration and undoing one, each
//! holding the process's one migration slot; what a restart does to the instances a `call`
//! state waits for.

mod support;

use std::sync::Arc;

use forlob_engine::definition::SourceFile;
use forlob_engine::release::{self, MappingRequest, MigrationPhase, Operation, PlanRequest};
use forlob_engine::runtime::RestartRequest;
use forlob_engine::store::{self, InstanceFilter, TaskFilter};
use forlob_engine::{Actor, Engine, EngineError, EngineOptions, InstanceStatus, ManualClock};
use serde_json::{Map, Value, json};
use support::{Backend, TestApp, at};
use uuid::Uuid;

/// v1: a case is reviewed by a person, or first paused for ten days.
const CASE_V1: &str = r#"
id: rel-case
initial: route
states:
  route:
    decision:
      - { when: "has(vars.later) && vars.later", goto: pause }
      - { otherwise: review }
  pause: { wait: { after: P10D }, next: review }
  review:
    manual:
      title: Review
      kind: review
      assign: { municipality: "'101'" }
      form: { fields: [ { name: ok, type: checkbox, label: OK } ] }
    on: { submit: [ { goto: done } ] }
  done: { end: true }
"#;

/// v2: the review is automatic now; the pause stays.
const CASE_V2: &str = r#"
id: rel-case
initial: route
states:
  route:
    decision:
      - { when: "has(vars.later) && vars.later", goto: pause }
      - { otherwise: check }
  pause: { wait: { after: P10D }, next: check }
  check:
    set: { checked: "true" }
    decision: [ { otherwise: done } ]
  done: { end: true }
"#;

fn file(name: &str, text: &str) -> SourceFile {
    SourceFile {
        path: name.to_owned(),
        text: text.to_owned(),
    }
}

fn admin() -> Actor {
    Actor {
        id: "ops-anna".into(),
        municipality: None,
        role: forlob_engine::Role::Admin.into(),
        via: forlob_engine::Via::Api,
    }
}

fn vars(later: bool) -> Map<String, Value> {
    [("later".to_owned(), json!(later))].into_iter().collect()
}

/// Three instances waiting for a review and two paused, on v1; then v2 is deployed.
async fn released(backend: Backend) -> (TestApp, Vec<Uuid>, Vec<Uuid>) {
    let app = TestApp::builder(backend)
        .with_process(CASE_V1)
        .build()
        .await;
    let mut reviewing = Vec::new();
    let mut paused = Vec::new();
    for i in 0..5 {
        let later = i >= 3;
        let id = app
            .engine
            .commands()
            .start_instance("rel-case", &format!("p{i}"), vars(later), &Actor::system())
            .await
            .expect("starts");
        if later { &mut paused } else { &mut reviewing }.push(id);
    }
    let outcomes = app
        .engine
        .releases()
        .deploy(&[file("v2.yaml", CASE_V2)])
        .await
        .expect("v2 deploys");
    assert_eq!((outcomes[0].version, outcomes[0].changed), (2, true));
    (app, reviewing, paused)
}

async fn instance(engine: &Engine, id: Uuid) -> forlob_engine::instance::ProcessInstance {
    store::instance(engine.db(), id)
        .await
        .expect("reads")
        .expect("exists")
        .0
}

async fn timers_of(engine: &Engine, id: Uuid) -> Vec<chrono::DateTime<chrono::Utc>> {
    store::releases::holdings(engine.db(), &[id])
        .await
        .expect("holdings")
        .remove(&id)
        .unwrap_or_default()
        .timers()
        .collect()
}

async fn restart_after_release_restarts_manual_states_and_keeps_timers(backend: Backend) {
    let (app, reviewing, paused) = released(backend).await;
    let due_before = timers_of(&app.engine, paused[0]).await;
    assert_eq!(due_before.len(), 1);
    let request = RestartRequest {
        process: "rel-case".into(),
        reason: "release 2".into(),
        ..RestartRequest::default()
    };
    let plan = app
        .engine
        .releases()
        .restart_plan(&request)
        .await
        .expect("plan");
    assert_eq!(plan.states["review"].operation, Operation::Restart);
    assert_eq!(plan.states["review"].to, "route");
    assert_eq!(plan.states["pause"].operation, Operation::MoveTo);

    // The dry run tells per instance what would happen and writes nothing.
    let preview = app
        .engine
        .releases()
        .preview_migration(&plan)
        .await
        .expect("preview");
    assert_eq!(preview.items.len(), 5);
    let review = preview
        .groups
        .iter()
        .find(|g| g.from_state == "review")
        .expect("review group");
    assert_eq!((review.instances, review.open_tasks), (3, 3));
    let pause_item = preview
        .items
        .iter()
        .find(|i| i.instance_id == paused[0])
        .expect("listed");
    assert_eq!(pause_item.timers_kept, due_before);
    let review_item = preview
        .items
        .iter()
        .find(|i| i.instance_id == reviewing[0])
        .expect("listed");
    assert_eq!(review_item.tasks_cancelled, ["review"]);
    assert_eq!(instance(&app.engine, reviewing[0]).await.version, 1);
    assert!(
        store::releases::migrations(app.engine.db(), 10)
            .await
            .expect("reads")
            .is_empty()
    );

    let status = app
        .engine
        .releases()
        .migrate(&plan, &admin(), &|_| {})
        .await
        .expect("migrates");
    assert_eq!(status.count("done"), 5, "{:?}", status.counts);
    assert_eq!(status.migration.status, MigrationPhase::Finished);

    // The reviews went through v2's automatic path to its end; their tasks are cancelled.
    for id in &reviewing {
        let i = instance(&app.engine, *id).await;
        assert_eq!((i.version, i.status), (2, InstanceStatus::Completed));
        assert_eq!(i.variables["checked"], json!(true));
        let history = store::history(app.engine.db(), *id).await.expect("history");
        let restart = history
            .iter()
            .find(|h| h.trigger == "restart")
            .expect("a restart entry");
        assert_eq!(restart.actor.as_deref(), Some("ops-anna"));
        let data = restart.data.as_ref().expect("audit data");
        assert_eq!(data["reason"], json!("release 2"));
        assert_eq!(data["from"]["version"], json!(1));
        assert_eq!(data["to"]["version"], json!(2));
    }
    let open = store::tasks(
        app.engine.db(),
        &TaskFilter {
            status: Some(forlob_engine::instance::TaskStatus::Open),
            ..TaskFilter::default()
        },
    )
    .await
    .expect("tasks");
    assert!(open.is_empty(), "{open:?}");

    // The paused ones are on v2 with their timer's due time unchanged, and go on by v2.
    for id in &paused {
        let i = instance(&app.engine, *id).await;
        assert_eq!((i.version, i.state.as_str()), (2, "pause"));
        assert_eq!(timers_of(&app.engine, *id).await, due_before);
    }
    app.engine
        .jobs()
        .advance_to(at("2025-06-13T09:00:00+02:00"))
        .await
        .expect("advances");
    for id in &paused {
        let i = instance(&app.engine, *id).await;
        assert_eq!(i.status, InstanceStatus::Completed);
        assert_eq!(i.variables["checked"], json!(true), "ran v2's path");
    }

    // Running it again finds nothing left to do.
    let again = app
        .engine
        .releases()
        .restart_plan(&request)
        .await
        .expect("plan");
    let status = app
        .engine
        .releases()
        .migrate(&again, &admin(), &|_| {})
        .await
        .expect("migrates");
    assert_eq!(status.migration.total, 0);
}

async fn a_bad_plan_is_refused_at_its_place_and_changes_nothing(backend: Backend) {
    let (app, _, _) = released(backend).await;
    let text = "\
migration: bad
process: rel-case
from: { versions: [1] }
states:
  review: { restart: nowhere }
  pause: { restart: route }
  gone: { move_to: pause }
";
    let (request, positions) = release::parse_plan(&file("plans/bad.yaml", text)).expect("parses");
    let errors = release::resolve(&request, &app.engine.catalog()).expect_err("refused");
    let shown: Vec<String> = positions
        .diagnostics(&errors)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown.len(), 3, "{shown:#?}");
    assert!(
        shown[0].starts_with("plans/bad.yaml:5:22: error[plan-unknown-state]"),
        "{shown:#?}"
    );
    assert!(
        shown[1].starts_with("plans/bad.yaml:6:21: error[plan-drops-timer]"),
        "{shown:#?}"
    );
    assert!(
        shown[2].starts_with("plans/bad.yaml:7:3: error[plan-unknown-state]"),
        "{shown:#?}"
    );

    let missing_version = "migration: bad\nprocess: rel-case\nto_version: 7\nstates: { review: { restart: route } }\n";
    let (request, positions) =
        release::parse_plan(&file("v.yaml", missing_version)).expect("parses");
    let errors = release::resolve(&request, &app.engine.catalog()).expect_err("refused");
    let shown = positions.diagnostics(&errors)[0].to_string();
    assert!(
        shown.starts_with("v.yaml:3:13: error[plan-unknown-version]"),
        "{shown}"
    );

    let unknown_key = "migration: bad\nprocess: rel-case\nstates: { review: { restrat: route } }\n";
    let diagnostics = release::parse_plan(&file("k.yaml", unknown_key)).expect_err("refused");
    assert_eq!(diagnostics[0].code, "unknown-key", "{diagnostics:?}");

    // The engine's own entry answers a 422 with the field.
    let err = app
        .engine
        .releases()
        .resolve_plan(&request)
        .await
        .expect_err("refused");
    match err {
        EngineError::Invalid(fields) => assert!(fields.contains_key("to_version"), "{fields:?}"),
        other => panic!("{other}"),
    }
    let all = store::instances(app.engine.db(), &InstanceFilter::default())
        .await
        .expect("reads");
    assert!(all.iter().all(|i| i.version == 1));
}

async fn a_second_migration_of_a_process_at_once_is_a_conflict(backend: Backend) {
    let (app, _, _) = released(backend).await;
    let plan = app
        .engine
        .releases()
        .restart_plan(&RestartRequest {
            process: "rel-case".into(),
            ..RestartRequest::default()
        })
        .await
        .expect("plan");
    let first = app
        .engine
        .releases()
        .start_migration(&plan, &admin())
        .await
        .expect("starts");
    let err = app
        .engine
        .releases()
        .start_migration(&plan, &admin())
        .await
        .expect_err("refused while the first runs");
    assert_eq!(err.status(), 409);
    assert!(
        err.to_string().contains(&format!("migration {first}")),
        "{err}"
    );
    let status = app
        .engine
        .releases()
        .run_migration(first, &admin(), &|_| {})
        .await
        .expect("runs");
    assert_eq!(status.count("done"), 5);
    // Finished, the process is free for the next migration.
    app.engine
        .releases()
        .start_migration(&plan, &admin())
        .await
        .expect("a new one may start");
}

async fn an_instance_that_moved_on_after_selection_is_skipped_with_the_reason(backend: Backend) {
    let (app, reviewing, _) = released(backend).await;
    let plan = app
        .engine
        .releases()
        .restart_plan(&RestartRequest {
            process: "rel-case".into(),
            states: vec!["review".into()],
            ..RestartRequest::default()
        })
        .await
        .expect("plan");
    let id = app
        .engine
        .releases()
        .start_migration(&plan, &admin())
        .await
        .expect("starts");
    // A caseworker finishes one review between the selection and the run.
    let task = store::tasks(
        app.engine.db(),
        &TaskFilter {
            instance_id: Some(reviewing[0]),
            ..TaskFilter::default()
        },
    )
    .await
    .expect("tasks")
    .remove(0);
    let form: Map<String, Value> = [("ok".to_owned(), json!(true))].into_iter().collect();
    app.engine
        .commands()
        .complete_task(task.id, &form, &Actor::caseworker("cw", "101"))
        .await
        .expect("completes");
    let status = app
        .engine
        .releases()
        .run_migration(id, &admin(), &|_| {})
        .await
        .expect("runs");
    assert_eq!((status.count("done"), status.count("skipped")), (2, 1));
    assert_eq!(status.problems[0].instance_id, reviewing[0]);
    assert!(
        status.problems[0]
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("ended"),
        "{:?}",
        status.problems
    );
    let finished = instance(&app.engine, reviewing[0]).await;
    assert_eq!(
        (finished.version, finished.status),
        (1, InstanceStatus::Completed)
    );
}

async fn a_node_that_dies_mid_migration_is_resumed_without_doing_anything_twice(backend: Backend) {
    let (app, reviewing, paused) = released(backend).await;
    let small_batches = || EngineOptions {
        migration_batch: 2,
        ..EngineOptions::default()
    };
    let clock = Arc::new(ManualClock::new(at("2025-06-02T10:00:00+02:00")));
    let dying = Arc::new(
        Engine::start(
            &app.db.url,
            support::registry(),
            clock.clone(),
            small_batches(),
        )
        .await
        .expect("node starts"),
    );
    let plan = dying
        .releases()
        .restart_plan(&RestartRequest {
            process: "rel-case".into(),
            ..RestartRequest::default()
        })
        .await
        .expect("plan");
    let id = dying
        .releases()
        .start_migration(&plan, &admin())
        .await
        .expect("starts");
    // The node dies right after its first batch committed.
    let node = dying.clone();
    let died = tokio::spawn(async move {
        node.releases()
            .run_migration(id, &admin(), &|_| panic!("the node dies"))
            .await
    })
    .await;
    assert!(died.is_err(), "the run was cut off");
    let status = app
        .engine
        .releases()
        .migration_status(id)
        .await
        .expect("status");
    assert_eq!(
        (status.count("done"), status.count("pending")),
        (2, 3),
        "{:?}",
        status.counts
    );
    assert_eq!(status.migration.status, MigrationPhase::Running);

    // Another node starts and resumes it.
    let other = Engine::start(&app.db.url, support::registry(), clock, small_batches())
        .await
        .expect("node starts");
    let resumed = other.releases().resume_migrations().await.expect("resumes");
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].count("done"), 5);
    assert_eq!(resumed[0].migration.status, MigrationPhase::Finished);
    for id in reviewing.iter().chain(&paused) {
        let history = store::history(other.db(), *id).await.expect("history");
        let moves = history
            .iter()
            .filter(|h| h.trigger == "restart" || h.trigger == "migrate")
            .count();
        assert_eq!(moves, 1, "migrated exactly once: {history:?}");
        assert_eq!(instance(&other, *id).await.version, 2);
    }
}

async fn a_renamed_process_goes_on_from_its_predecessor_and_takes_its_starts(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_process(&CASE_V1.replace("id: rel-case", "id: old-case"))
        .build()
        .await;
    let old = app
        .engine
        .commands()
        .start_instance("old-case", "p1", vars(false), &Actor::system())
        .await
        .expect("starts");
    let renamed = CASE_V2.replace("id: rel-case", "id: new-case\nreplaces: [old-case]");
    let outcomes = app
        .engine
        .releases()
        .deploy(&[file("new.yaml", &renamed)])
        .await
        .expect("deploys");
    assert_eq!(outcomes[0].version, 2, "numbering goes on from old-case v1");
    // A start for the former id starts the new process; nothing new starts on the old one.
    let new = app
        .engine
        .commands()
        .start_instance("old-case", "p2", vars(false), &Actor::system())
        .await
        .expect("starts");
    let started = instance(&app.engine, new).await;
    assert_eq!(
        (started.process_id.as_str(), started.version),
        ("new-case", 2)
    );
    assert!(
        app.engine
            .catalog()
            .latest_all()
            .iter()
            .all(|(_, d)| d.id != "old-case"),
        "the retired process takes no messages"
    );
    // Its instance restarts into the new process by either name.
    let plan = app
        .engine
        .releases()
        .restart_plan(&RestartRequest {
            process: "old-case".into(),
            ..RestartRequest::default()
        })
        .await
        .expect("plan");
    assert_eq!(plan.from, [("old-case".to_owned(), 1)]);
    app.engine
        .releases()
        .migrate(&plan, &admin(), &|_| {})
        .await
        .expect("migrates");
    let moved = instance(&app.engine, old).await;
    assert_eq!(
        (moved.process_id.as_str(), moved.version, moved.status),
        ("new-case", 2, InstanceStatus::Completed)
    );
    // Renamed once more, naming only its direct predecessor: the first id still resolves.
    let third = CASE_V2.replace("id: rel-case", "id: newest-case\nreplaces: [new-case]");
    let outcomes = app
        .engine
        .releases()
        .deploy(&[file("newest.yaml", &third)])
        .await
        .expect("deploys");
    assert_eq!(outcomes[0].version, 3);
    let latest = app
        .engine
        .commands()
        .start_instance("old-case", "p3", vars(false), &Actor::system())
        .await
        .expect("starts");
    assert_eq!(
        instance(&app.engine, latest).await.process_id,
        "newest-case"
    );
}

async fn a_suspended_instance_holds_its_timer_and_task_until_resumed(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_process(CASE_V1)
        .build()
        .await;
    let start = |later: bool, who: &'static str| {
        let engine = &app.engine;
        async move {
            engine
                .commands()
                .start_instance("rel-case", who, vars(later), &Actor::system())
                .await
                .expect("starts")
        }
    };
    let paused = start(true, "p1").await;
    let reviewing = start(false, "p2").await;
    let due = timers_of(&app.engine, paused).await;
    for id in [paused, reviewing] {
        app.engine
            .operations()
            .suspend_instance(id, &admin(), "waiting for a court ruling")
            .await
            .expect("suspends");
    }
    let again = app
        .engine
        .operations()
        .suspend_instance(paused, &admin(), "")
        .await
        .expect_err("suspended already");
    assert_eq!(again.status(), 409);

    // Its timer falls due meanwhile and is held, with its due time.
    app.engine
        .jobs()
        .advance_to(at("2025-06-20T09:00:00+02:00"))
        .await
        .expect("advances");
    let held = instance(&app.engine, paused).await;
    assert_eq!(
        (held.status, held.state.as_str()),
        (InstanceStatus::Suspended, "pause")
    );
    assert_eq!(timers_of(&app.engine, paused).await, due);
    let task = store::tasks(
        app.engine.db(),
        &TaskFilter {
            instance_id: Some(reviewing),
            ..TaskFilter::default()
        },
    )
    .await
    .expect("tasks")
    .remove(0);
    let form: Map<String, Value> = [("ok".to_owned(), json!(true))].into_iter().collect();
    let refused = app
        .engine
        .commands()
        .complete_task(task.id, &form, &Actor::caseworker("cw", "101"))
        .await
        .expect_err("a suspended instance's task cannot be completed");
    assert_eq!(refused.status(), 409);

    // Resumed, the overdue timer runs at once and the task can be completed.
    for id in [paused, reviewing] {
        app.engine
            .operations()
            .resume_instance(id, &admin(), "ruling arrived")
            .await
            .expect("resumes");
    }
    app.engine.jobs().run_due().await.expect("runs");
    let moved = instance(&app.engine, paused).await;
    assert_eq!(
        (moved.status, moved.state.as_str()),
        (InstanceStatus::Active, "review")
    );
    app.engine
        .commands()
        .complete_task(task.id, &form, &Actor::caseworker("cw", "101"))
        .await
        .expect("completes");
    let history = store::history(app.engine.db(), paused)
        .await
        .expect("history");
    let audited: Vec<(&str, Option<&str>, Value)> = history
        .iter()
        .filter(|h| h.trigger == "suspend" || h.trigger == "resume")
        .map(|h| {
            (
                h.trigger.as_str(),
                h.actor.as_deref(),
                h.data.clone().unwrap_or_default()["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        audited,
        [
            (
                "suspend",
                Some("ops-anna"),
                json!("waiting for a court ruling")
            ),
            ("resume", Some("ops-anna"), json!("ruling arrived")),
        ]
    );
}

async fn a_suspended_instance_keeps_what_it_waits_for(backend: Backend) {
    const WAITING: &str = r#"
id: rel-wait
initial: vent
states:
  vent: { wait: { message: { type: rel.svar, correlate: "msg.person", key: "subject.id" } }, next: done }
  done: { end: true }
"#;
    let app = TestApp::builder(backend)
        .with_process(WAITING)
        .build()
        .await;
    let id = app
        .engine
        .commands()
        .start_instance("rel-wait", "p1", Map::new(), &Actor::system())
        .await
        .expect("starts");
    app.engine
        .operations()
        .suspend_instance(id, &admin(), "")
        .await
        .expect("suspends");
    let message = |message_id: &str| forlob_engine::runtime::InboundMessage {
        message_id: message_id.to_owned(),
        message_type: "rel.svar".into(),
        data: json!({ "person": "p1" }),
    };
    app.engine
        .commands()
        .deliver(&message("m1"))
        .await
        .expect("taken in");
    assert_eq!(
        instance(&app.engine, id).await.status,
        InstanceStatus::Suspended
    );
    app.engine
        .operations()
        .resume_instance(id, &admin(), "")
        .await
        .expect("resumes");
    // It still waits: the next message moves it on.
    app.engine
        .commands()
        .deliver(&message("m2"))
        .await
        .expect("taken in");
    assert_eq!(
        instance(&app.engine, id).await.status,
        InstanceStatus::Completed
    );
}

async fn cancelling_an_instance_ends_it_with_its_tasks_and_timers(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_process(CASE_V1)
        .build()
        .await;
    let mut ids = Vec::new();
    for (later, who) in [(true, "p1"), (false, "p2")] {
        ids.push(
            app.engine
                .commands()
                .start_instance("rel-case", who, vars(later), &Actor::system())
                .await
                .expect("starts"),
        );
    }
    for id in &ids {
        app.engine
            .operations()
            .cancel_instance(*id, &admin(), "moved abroad")
            .await
            .expect("cancels");
        let i = instance(&app.engine, *id).await;
        assert_eq!(i.status, InstanceStatus::Cancelled);
        assert!(i.ended_at.is_some());
        assert!(timers_of(&app.engine, *id).await.is_empty());
    }
    let tasks = store::tasks(app.engine.db(), &TaskFilter::default())
        .await
        .expect("tasks");
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        tasks[0].status,
        forlob_engine::instance::TaskStatus::Cancelled
    );
    let again = app
        .engine
        .operations()
        .cancel_instance(ids[0], &admin(), "")
        .await
        .expect_err("ended already");
    assert_eq!(again.status(), 409);
}

async fn the_impact_of_a_release_shows_its_diff_and_what_is_in_flight(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_process(CASE_V1)
        .build()
        .await;
    for i in 0..5 {
        app.engine
            .commands()
            .start_instance("rel-case", &format!("p{i}"), vars(i >= 3), &Actor::system())
            .await
            .expect("starts");
    }
    let impacts = app
        .engine
        .releases()
        .impact(&[file("v2.yaml", CASE_V2)])
        .await
        .expect("impact");
    let impact = &impacts[0];
    assert!(impact.changed);
    assert_eq!(impact.version, 2);
    assert_eq!(impact.follows, Some(("rel-case".to_owned(), 1)));
    assert!(
        impact.diff.contains("-      - { otherwise: review }"),
        "{}",
        impact.diff
    );
    assert!(
        impact.diff.contains("+      - { otherwise: check }"),
        "{}",
        impact.diff
    );
    let counts: Vec<(&str, u64, u64, u64, bool)> = impact
        .in_flight
        .iter()
        .map(|g| {
            (
                g.state.as_str(),
                g.instances,
                g.open_tasks,
                g.timers,
                g.in_new_version,
            )
        })
        .collect();
    assert_eq!(
        counts,
        [("pause", 2, 0, 2, true), ("review", 3, 3, 0, false)]
    );
    assert_eq!(impact.lost_states, ["review"]);
    // Nothing was deployed.
    assert_eq!(
        app.engine.catalog().latest("rel-case").expect("deployed").0,
        1
    );
    // The same files again, once deployed, are unchanged and show no diff.
    app.engine
        .releases()
        .deploy(&[file("v2.yaml", CASE_V2)])
        .await
        .expect("deploys");
    let again = app
        .engine
        .releases()
        .impact(&[file("v2.yaml", CASE_V2)])
        .await
        .expect("impact");
    assert!(!again[0].changed && again[0].diff.is_empty());
}

async fn a_finished_migration_is_undone_where_the_instances_have_not_moved_on(backend: Backend) {
    let (app, reviewing, paused) = released(backend).await;
    let tasks_before = store::tasks(app.engine.db(), &TaskFilter::default())
        .await
        .expect("tasks");
    let due = timers_of(&app.engine, paused[0]).await;
    let plan = app
        .engine
        .releases()
        .restart_plan(&RestartRequest {
            process: "rel-case".into(),
            ..RestartRequest::default()
        })
        .await
        .expect("plan");
    let migrated = app
        .engine
        .releases()
        .migrate(&plan, &admin(), &|_| {})
        .await
        .expect("migrates");
    let id = migrated.migration.id;
    // One instance moves on after the migration: the undo leaves it as it is.
    app.engine
        .operations()
        .suspend_instance(paused[1], &admin(), "")
        .await
        .expect("suspends");

    let undone = app
        .engine
        .releases()
        .undo_migration(id, &admin(), "", &|_| {})
        .await
        .expect("undoes");
    assert_eq!(undone.migration.status, MigrationPhase::Undone);
    assert_eq!(
        (undone.count("undone"), undone.count("kept")),
        (4, 1),
        "{:?}",
        undone.counts
    );
    assert_eq!(undone.problems[0].instance_id, paused[1]);
    for id in &reviewing {
        let i = instance(&app.engine, *id).await;
        assert_eq!(
            (i.version, i.state.as_str(), i.status),
            (1, "review", InstanceStatus::Active)
        );
        assert!(i.variables.get("checked").is_none(), "{}", i.variables);
        let history = store::history(app.engine.db(), *id).await.expect("history");
        assert_eq!(history.last().map(|h| h.trigger.as_str()), Some("undo"));
    }
    // The very tasks the restart cancelled are open again, and no others.
    let open: Vec<Uuid> = store::tasks(
        app.engine.db(),
        &TaskFilter {
            status: Some(forlob_engine::instance::TaskStatus::Open),
            ..TaskFilter::default()
        },
    )
    .await
    .expect("tasks")
    .into_iter()
    .map(|t| t.id)
    .collect();
    let mut expected: Vec<Uuid> = tasks_before.iter().map(|t| t.id).collect();
    expected.sort();
    let mut open_sorted = open.clone();
    open_sorted.sort();
    assert_eq!(open_sorted, expected);
    let back = instance(&app.engine, paused[0]).await;
    assert_eq!((back.version, back.state.as_str()), (1, "pause"));
    assert_eq!(timers_of(&app.engine, paused[0]).await, due);
    assert_eq!(instance(&app.engine, paused[1]).await.version, 2, "kept");

    let again = app
        .engine
        .releases()
        .undo_migration(id, &admin(), "", &|_| {})
        .await
        .expect_err("undone already");
    assert_eq!(again.status(), 409);
    // Back on v1, the paused one goes on by v1: its timer leads to a review.
    app.engine
        .jobs()
        .advance_to(at("2025-06-13T09:00:00+02:00"))
        .await
        .expect("advances");
    assert_eq!(instance(&app.engine, paused[0]).await.state, "review");
}

/// A child process a parent calls: one manual step.
const CHILD: &str = r#"
id: rel-child
initial: work
states:
  work:
    manual:
      title: Child work
      kind: child-work
      assign: { municipality: "'101'" }
      form: { fields: [ { name: ok, type: checkbox, label: OK } ] }
    on: { submit: [ { goto: done } ] }
  done: { end: true }
"#;

/// A parent that waits in `delegate` for the child it calls, and leaves a follow-up (an
/// instance of its own, for another office) on the way in.
const PARENT: &str = r#"
id: rel-parent
initial: delegate
states:
  delegate:
    follow_up: [ { process: rel-child, municipality: "'101'" } ]
    call: { process: rel-child, vars: { n: "1" } }
    next: done
  done: { end: true }
"#;

/// v2: the call passes another value; migrated instances may be put in `review` first.
const PARENT_V2: &str = r#"
id: rel-parent
initial: delegate
states:
  delegate:
    call: { process: rel-child, vars: { n: "2" } }
    next: done
  review:
    migration_entry: true
    manual:
      title: Review
      kind: review
      assign: { municipality: "'101'" }
      form: { fields: [ { name: ok, type: checkbox, label: OK } ] }
    on: { submit: [ { goto: delegate } ] }
  done: { end: true }
"#;

async fn parent_and_child(backend: Backend) -> (TestApp, Uuid, Uuid) {
    let app = TestApp::builder(backend)
        .with_process(CHILD)
        .with_process(PARENT)
        .build()
        .await;
    let parent = app
        .engine
        .commands()
        .start_instance("rel-parent", "p1", Map::new(), &Actor::system())
        .await
        .expect("starts");
    let child = called_by(&app.engine, parent).await[0].id;
    (app, parent, child)
}

/// The instances `parent` called (they carry `n`), not its follow-up.
async fn called_by(engine: &Engine, parent: Uuid) -> Vec<forlob_engine::instance::ProcessInstance> {
    let mut called = children_of(engine, parent).await;
    called.retain(|c| c.variables.get("n").is_some());
    called
}

async fn follow_up_of(engine: &Engine, parent: Uuid) -> forlob_engine::instance::ProcessInstance {
    children_of(engine, parent)
        .await
        .into_iter()
        .find(|c| c.variables.get("n").is_none())
        .expect("the follow-up")
}

async fn children_of(
    engine: &Engine,
    parent: Uuid,
) -> Vec<forlob_engine::instance::ProcessInstance> {
    store::instances(
        engine.db(),
        &InstanceFilter {
            process_id: Some("rel-child".into()),
            ..InstanceFilter::default()
        },
    )
    .await
    .expect("reads")
    .into_iter()
    .filter(|i| i.parent_id == Some(parent))
    .collect()
}

async fn complete_open_task_of(engine: &Engine, instance_id: Uuid) {
    let task = store::tasks(
        engine.db(),
        &TaskFilter {
            instance_id: Some(instance_id),
            status: Some(forlob_engine::instance::TaskStatus::Open),
            ..TaskFilter::default()
        },
    )
    .await
    .expect("tasks")
    .remove(0);
    let form: Map<String, Value> = [("ok".to_owned(), json!(true))].into_iter().collect();
    engine
        .commands()
        .complete_task(task.id, &form, &Actor::caseworker("cw", "101"))
        .await
        .expect("completes");
}

/// Deploys `PARENT_V2` and plans the parents waiting in `delegate` into its `review`.
async fn parents_into_review(engine: &Engine) -> release::MigrationPlan {
    engine
        .releases()
        .deploy(&[file("p2.yaml", PARENT_V2)])
        .await
        .expect("v2 deploys");
    engine
        .releases()
        .resolve_plan(&PlanRequest {
            process: "rel-parent".into(),
            states: [(
                "delegate".to_owned(),
                MappingRequest {
                    restart: Some("review".into()),
                    ..MappingRequest::default()
                },
            )]
            .into_iter()
            .collect(),
            ..PlanRequest::default()
        })
        .await
        .expect("plan")
}

async fn a_restart_out_of_a_call_cancels_the_instances_it_called(backend: Backend) {
    let (app, parent, old_child) = parent_and_child(backend).await;
    let plan = parents_into_review(&app.engine).await;
    // The dry run names the child the restart cancels.
    let preview = app
        .engine
        .releases()
        .preview_migration(&plan)
        .await
        .expect("preview");
    assert_eq!(preview.groups[0].children_cancelled, 1);
    assert_eq!(preview.items[0].children_cancelled, [old_child]);

    let status = app
        .engine
        .releases()
        .migrate(&plan, &admin(), &|_| {})
        .await
        .expect("migrates");
    assert_eq!(status.count("done"), 1, "{:?}", status.problems);
    let old = instance(&app.engine, old_child).await;
    assert_eq!(old.status, InstanceStatus::Cancelled);
    let history = store::history(app.engine.db(), old_child)
        .await
        .expect("history");
    let last = history.last().expect("an entry");
    assert_eq!(
        (last.trigger.as_str(), last.actor.as_deref()),
        ("cancel", Some("ops-anna"))
    );
    assert!(
        store::tasks(
            app.engine.db(),
            &TaskFilter {
                instance_id: Some(old_child),
                status: Some(forlob_engine::instance::TaskStatus::Open),
                ..TaskFilter::default()
            },
        )
        .await
        .expect("tasks")
        .is_empty(),
        "the cancelled child's task is closed"
    );
    // Its follow-up runs on its own and is left alone.
    assert_eq!(
        follow_up_of(&app.engine, parent).await.status,
        InstanceStatus::Active
    );
    // Cancelling a child cannot be taken back (the restart into `review` did nothing else),
    // so an undo keeps the parent as it is.
    let undone = app
        .engine
        .releases()
        .undo_migration(status.migration.id, &admin(), "", &|_| {})
        .await
        .expect("undo runs");
    assert_eq!(undone.count("kept"), 1, "{:?}", undone.counts);
    assert_eq!(instance(&app.engine, parent).await.state, "review");
    // Reviewed, the parent calls a child of v2, and that one moves it on.
    complete_open_task_of(&app.engine, parent).await;
    let new_child = called_by(&app.engine, parent)
        .await
        .into_iter()
        .find(|c| c.status == InstanceStatus::Active)
        .expect("a new child");
    assert_eq!(new_child.variables["n"], json!(2));
    complete_open_task_of(&app.engine, new_child.id).await;
    let done = instance(&app.engine, parent).await;
    assert_eq!((done.version, done.status), (2, InstanceStatus::Completed));
}

async fn a_cancelled_child_does_not_move_its_parent_on_and_a_cancelled_parent_takes_its_children(
    backend: Backend,
) {
    let (app, parent, child) = parent_and_child(backend).await;
    // While the parent is suspended, its child is cancelled: resuming the parent does not
    // take that as the child's work done.
    app.engine
        .operations()
        .suspend_instance(parent, &admin(), "")
        .await
        .expect("suspends");
    app.engine
        .operations()
        .cancel_instance(child, &admin(), "wrong child")
        .await
        .expect("cancels");
    app.engine
        .operations()
        .resume_instance(parent, &admin(), "")
        .await
        .expect("resumes");
    let waiting = instance(&app.engine, parent).await;
    assert_eq!(
        (waiting.state.as_str(), waiting.status),
        ("delegate", InstanceStatus::Active)
    );

    // A second parent is cancelled: the child it waits for is cancelled with it.
    let other = app
        .engine
        .commands()
        .start_instance("rel-parent", "p2", Map::new(), &Actor::system())
        .await
        .expect("starts");
    let its_child = called_by(&app.engine, other).await[0].id;
    app.engine
        .operations()
        .cancel_instance(other, &admin(), "duplicate case")
        .await
        .expect("cancels");
    let cancelled = instance(&app.engine, its_child).await;
    assert_eq!(cancelled.status, InstanceStatus::Cancelled);
    let history = store::history(app.engine.db(), its_child)
        .await
        .expect("history");
    let last = history.last().expect("an entry");
    assert_eq!(last.trigger, "cancel");
    assert_eq!(
        last.data.as_ref().and_then(|d| d["parent"].as_str()),
        Some(other.to_string().as_str())
    );
    assert_eq!(
        follow_up_of(&app.engine, other).await.status,
        InstanceStatus::Active,
        "a follow-up is not cancelled with the instance that left it"
    );
}

async fn an_abandoned_migration_leaves_its_pending_instances_and_frees_its_process(
    backend: Backend,
) {
    let (app, _, _) = released(backend).await;
    let small_batches = EngineOptions {
        migration_batch: 2,
        ..EngineOptions::default()
    };
    let clock = Arc::new(ManualClock::new(at("2025-06-02T10:00:00+02:00")));
    let node = Arc::new(
        Engine::start(&app.db.url, support::registry(), clock, small_batches)
            .await
            .expect("node starts"),
    );
    let plan = node
        .releases()
        .restart_plan(&RestartRequest {
            process: "rel-case".into(),
            ..RestartRequest::default()
        })
        .await
        .expect("plan");
    let id = node
        .releases()
        .start_migration(&plan, &admin())
        .await
        .expect("starts");
    // The node stops after its first batch; the admin gives the migration up.
    let stopping = node.clone();
    let stopped = tokio::spawn(async move {
        stopping
            .releases()
            .run_migration(id, &admin(), &|_| panic!("the node stops"))
            .await
    })
    .await;
    assert!(stopped.is_err());
    let abandoned = app
        .engine
        .releases()
        .abandon_migration(id, &admin(), "v2 is withdrawn")
        .await
        .expect("abandons");
    assert_eq!(abandoned.migration.status, MigrationPhase::Abandoned);
    assert_eq!(
        (abandoned.count("done"), abandoned.count("skipped")),
        (2, 3),
        "{:?}",
        abandoned.counts
    );
    let why = abandoned.problems[0].message.as_deref().unwrap_or_default();
    assert!(
        why.contains("ops-anna") && why.contains("v2 is withdrawn"),
        "{why}"
    );
    let versions = |all: &[forlob_engine::instance::ProcessInstance]| {
        let mut v: Vec<i32> = all.iter().map(|i| i.version).collect();
        v.sort_unstable();
        v
    };
    let all = store::instances(app.engine.db(), &InstanceFilter::default())
        .await
        .expect("reads");
    assert_eq!(versions(&all), [1, 1, 1, 2, 2]);
    // Resuming it does nothing more; abandoning it again is a conflict.
    let resumed = node
        .releases()
        .run_migration(id, &admin(), &|_| {})
        .await
        .expect("runs");
    assert_eq!(resumed.count("done"), 2);
    let again = app
        .engine
        .releases()
        .abandon_migration(id, &admin(), "")
        .await
        .expect_err("abandoned already");
    assert_eq!(again.status(), 409);
    // The two it moved are taken back by an undo.
    let undone = app
        .engine
        .releases()
        .undo_migration(id, &admin(), "", &|_| {})
        .await
        .expect("undoes");
    assert_eq!(undone.count("undone"), 2, "{:?}", undone.counts);
    let all = store::instances(app.engine.db(), &InstanceFilter::default())
        .await
        .expect("reads");
    assert_eq!(versions(&all), [1, 1, 1, 1, 1]);
    // The process is free for the next migration.
    app.engine
        .releases()
        .start_migration(&plan, &admin())
        .await
        .expect("a new one may start");
}

async fn an_undo_holds_the_process_like_a_migration_and_resumes_after_a_crash(backend: Backend) {
    let (app, _, _) = released(backend).await;
    let plan = app
        .engine
        .releases()
        .restart_plan(&RestartRequest {
            process: "rel-case".into(),
            ..RestartRequest::default()
        })
        .await
        .expect("plan");
    let id = app
        .engine
        .releases()
        .migrate(&plan, &admin(), &|_| {})
        .await
        .expect("migrates")
        .migration
        .id;
    // The undo is marked and its node dies before it does any work.
    app.engine
        .releases()
        .begin_undo(id, &admin(), "wrong target")
        .await
        .expect("undo begins");
    let err = app
        .engine
        .releases()
        .start_migration(&plan, &admin())
        .await
        .expect_err("the process is taken");
    assert_eq!(err.status(), 409);
    assert!(
        err.to_string().contains(&format!("migration {id}")),
        "{err}"
    );
    let twice = app
        .engine
        .releases()
        .begin_undo(id, &admin(), "")
        .await
        .expect_err("undoing already");
    assert_eq!(twice.status(), 409);
    assert_eq!(
        app.engine
            .releases()
            .migration_status(id)
            .await
            .expect("status")
            .migration
            .status,
        MigrationPhase::Undoing
    );
    // The next node's start resumes the undo.
    let resumed = app
        .engine
        .releases()
        .resume_migrations()
        .await
        .expect("resumes");
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].migration.status, MigrationPhase::Undone);
    assert_eq!(resumed[0].count("undone"), 5, "{:?}", resumed[0].counts);
    app.engine
        .releases()
        .start_migration(&plan, &admin())
        .await
        .expect("free again");
}

/// `wait` rests on message `pong` in v1 and v3 but on `ping` in v2.
fn pinger(version: u8) -> String {
    let message = if version == 2 { "ping" } else { "pong" };
    format!(
        r#"
id: rel-ping
initial: wait
states:
  wait:
    wait: {{ message: {{ type: {message}, correlate: "msg.who" }} }}
    next: done
  done: {{ end: true }}
"#
    )
}

async fn move_to_refuses_what_it_cannot_carry_over(backend: Backend) {
    let (app, _, _) = released(backend).await;
    // `move_to` keeps timers: asking it to drop them is a contradiction.
    let keep_and_drop = PlanRequest {
        process: "rel-case".into(),
        states: [(
            "pause".to_owned(),
            MappingRequest {
                move_to: Some("pause".into()),
                drop_timers: true,
                ..MappingRequest::default()
            },
        )]
        .into_iter()
        .collect(),
        ..PlanRequest::default()
    };
    let errors = release::resolve(&keep_and_drop, &app.engine.catalog()).expect_err("refused");
    assert_eq!(
        (errors[0].field.as_str(), errors[0].code),
        ("states.pause.drop_timers", "plan-bad-mapping")
    );

    for version in 1..=3 {
        app.engine
            .releases()
            .deploy(&[file("ping.yaml", &pinger(version))])
            .await
            .expect("deploys");
    }
    // A subscription to `ping` would never be woken by v3, which waits for `pong`.
    let from_v2 = PlanRequest {
        process: "rel-ping".into(),
        from_versions: vec![2],
        states: [(
            "wait".to_owned(),
            MappingRequest {
                move_to: Some("wait".into()),
                ..MappingRequest::default()
            },
        )]
        .into_iter()
        .collect(),
        ..PlanRequest::default()
    };
    let errors = release::resolve(&from_v2, &app.engine.catalog()).expect_err("refused");
    assert_eq!(errors[0].code, "plan-bad-mapping");
    assert!(
        errors[0].message.to_string().contains("`ping`")
            && errors[0].message.to_string().contains("`pong`"),
        "{}",
        errors[0].message
    );
    // Restart after release looks at every older version: v1 waits as v3 does, v2 does
    // not, so `wait` restarts (and subscribes anew) rather than keeping what it holds.
    let plan = app
        .engine
        .releases()
        .restart_plan(&RestartRequest {
            process: "rel-ping".into(),
            ..RestartRequest::default()
        })
        .await
        .expect("plan");
    assert_eq!(plan.states["wait"].operation, Operation::Restart);
    let only_v1 = app
        .engine
        .releases()
        .restart_plan(&RestartRequest {
            process: "rel-ping".into(),
            from_version: Some(1),
            ..RestartRequest::default()
        })
        .await
        .expect("plan");
    assert_eq!(only_v1.states["wait"].operation, Operation::MoveTo);
}

/// A package that will not let one child go: its work for `p2` is under way.
struct KeepsP2;

#[async_trait::async_trait]
impl forlob_engine::CancelHook for KeepsP2 {
    async fn cancelled(
        &self,
        ctx: &forlob_engine::CancelContext<'_>,
    ) -> Result<(), forlob_engine::ActionError> {
        if ctx.subject == "p2" {
            return Err(forlob_engine::ActionError::permanent(
                "a payment for p2 is under way",
            ));
        }
        Ok(())
    }
}

async fn one_refused_instance_fails_alone_and_the_rest_of_its_batch_moves(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_process(CHILD)
        .with_process(PARENT)
        .with_registry(|r| {
            r.register_cancel_hook("rel-child", Arc::new(KeepsP2));
        })
        .build()
        .await;
    let mut parents = Vec::new();
    for subject in ["p1", "p2", "p3"] {
        parents.push(
            app.engine
                .commands()
                .start_instance("rel-parent", subject, Map::new(), &Actor::system())
                .await
                .expect("starts"),
        );
    }
    let plan = parents_into_review(&app.engine).await;
    // All three are one batch: p2's refusal sends it item by item.
    let status = app
        .engine
        .releases()
        .migrate(&plan, &admin(), &|_| {})
        .await
        .expect("migrates");
    assert_eq!(
        (status.count("done"), status.count("failed")),
        (2, 1),
        "{:?}",
        status.counts
    );
    assert_eq!(status.problems[0].instance_id, parents[1]);
    let why = status.problems[0].message.as_deref().unwrap_or_default();
    assert!(why.contains("a payment for p2 is under way"), "{why}");
    // Nothing of p2's restart was written: it waits on v1 for its child, which runs on.
    let kept = instance(&app.engine, parents[1]).await;
    assert_eq!((kept.version, kept.state.as_str()), (1, "delegate"));
    assert_eq!(
        called_by(&app.engine, parents[1]).await[0].status,
        InstanceStatus::Active
    );
    for moved in [parents[0], parents[2]] {
        let i = instance(&app.engine, moved).await;
        assert_eq!((i.version, i.state.as_str()), (2, "review"));
        assert_eq!(
            called_by(&app.engine, moved).await[0].status,
            InstanceStatus::Cancelled
        );
    }
}

/// A package that refuses every cancel of its process: it shows whether its hook ran.
struct RefusesAll;

#[async_trait::async_trait]
impl forlob_engine::CancelHook for RefusesAll {
    async fn cancelled(
        &self,
        _: &forlob_engine::CancelContext<'_>,
    ) -> Result<(), forlob_engine::ActionError> {
        Err(forlob_engine::ActionError::permanent("the case is locked"))
    }
}

async fn a_renamed_processs_cancel_hook_covers_the_instances_of_its_former_id(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_process(&CASE_V1.replace("id: rel-case", "id: old-case"))
        .with_registry(|r| {
            r.register_cancel_hook("new-case", Arc::new(RefusesAll));
        })
        .build()
        .await;
    let old = app
        .engine
        .commands()
        .start_instance("old-case", "p1", vars(false), &Actor::system())
        .await
        .expect("starts");
    let renamed = CASE_V2.replace("id: rel-case", "id: new-case\nreplaces: [old-case]");
    app.engine
        .releases()
        .deploy(&[file("new.yaml", &renamed)])
        .await
        .expect("deploys");
    let refused = app
        .engine
        .operations()
        .cancel_instance(old, &admin(), "")
        .await
        .expect_err("the package refuses");
    assert_eq!(refused.status(), 422);
    assert!(
        refused.to_string().contains("the case is locked"),
        "{refused}"
    );
    assert_eq!(
        instance(&app.engine, old).await.status,
        InstanceStatus::Active
    );
}

/// v1 and v2 of a review due in five days; v2 changes its form, so instances restart.
const DUE_V1: &str = r#"
id: rel-due
initial: review
states:
  review:
    manual:
      title: Review
      kind: review
      assign: { municipality: "'101'" }
      due: P5D
      form: { fields: [ { name: ok, type: checkbox, label: OK } ] }
    on: { submit: [ { goto: done } ] }
  done: { end: true }
"#;

/// The due date of `id`'s open task.
async fn due_of(engine: &Engine, id: Uuid) -> chrono::DateTime<chrono::Utc> {
    let open = store::tasks(
        engine.db(),
        &TaskFilter {
            status: Some(forlob_engine::instance::TaskStatus::Open),
            ..TaskFilter::default()
        },
    )
    .await
    .expect("tasks");
    let task = open
        .into_iter()
        .find(|t| t.instance_id == id)
        .expect("an open task");
    task.due_at.expect("a due date")
}

/// A restart that makes a task anew keeps the due date of the task of the same kind it
/// replaced (a caseworker's deadline does not move because of a release), unless the plan
/// asks for new due dates (`new_due_dates`), and `move_to` refuses that option.
async fn a_restart_keeps_a_tasks_due_date_unless_the_plan_asks_for_new_ones(backend: Backend) {
    let app = TestApp::builder(backend).with_process(DUE_V1).build().await;
    let start = forlob_engine::Clock::now(app.clock.as_ref());
    let mut ids = Vec::new();
    for i in 0..2 {
        // An hour apart, so each has its own deadline and none can take the other's.
        app.clock
            .set(start + chrono::Duration::hours(i))
            .expect("the clock moves on");
        ids.push(
            app.engine
                .commands()
                .start_instance("rel-due", &format!("d{i}"), Map::new(), &Actor::system())
                .await
                .expect("starts"),
        );
    }
    let v2 = DUE_V1.replace("label: OK", "label: Godkendt");
    app.engine
        .releases()
        .deploy(&[file("v2.yaml", &v2)])
        .await
        .expect("v2 deploys");
    let later = start + chrono::Duration::days(2);
    app.clock.set(later).expect("the clock moves on");
    let mut first_due = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let due = due_of(&app.engine, *id).await;
        assert_eq!(
            due,
            start + chrono::Duration::days(5) + chrono::Duration::hours(i as i64)
        );
        first_due.push(due);
    }

    let restart = |new_due_dates: bool, state: &str| RestartRequest {
        process: "rel-due".into(),
        states: vec![state.to_owned()],
        new_due_dates,
        reason: "form wording".into(),
        ..RestartRequest::default()
    };
    let plan = app
        .engine
        .releases()
        .restart_plan(&restart(false, "review"))
        .await
        .expect("plan");
    let status = app
        .engine
        .releases()
        .migrate(&plan, &admin(), &|_| {})
        .await
        .expect("migrates");
    assert_eq!(status.count("done"), 2, "{:?}", status.counts);
    for (id, due) in ids.iter().zip(&first_due) {
        let i = instance(&app.engine, *id).await;
        assert_eq!((i.version, i.state.as_str()), (2, "review"));
        assert_eq!(due_of(&app.engine, *id).await, *due, "the deadline stays");
    }

    // v3, restarted with new due dates: five days from now.
    let v3 = DUE_V1.replace("label: OK", "label: Godkendt af sagsbehandler");
    app.engine
        .releases()
        .deploy(&[file("v3.yaml", &v3)])
        .await
        .expect("v3 deploys");
    let plan = app
        .engine
        .releases()
        .restart_plan(&restart(true, "review"))
        .await
        .expect("plan");
    assert!(plan.states["review"].new_due_dates);
    app.engine
        .releases()
        .migrate(&plan, &admin(), &|_| {})
        .await
        .expect("migrates");
    for id in &ids {
        assert_eq!(
            due_of(&app.engine, *id).await,
            later + chrono::Duration::days(5)
        );
    }

    // `move_to` keeps tasks as they are: asking it for new due dates is refused at its field.
    let refused = app
        .engine
        .releases()
        .resolve_plan(&PlanRequest {
            process: "rel-due".into(),
            states: [(
                "review".to_owned(),
                MappingRequest {
                    move_to: Some("review".into()),
                    new_due_dates: true,
                    ..MappingRequest::default()
                },
            )]
            .into_iter()
            .collect(),
            ..PlanRequest::default()
        })
        .await;
    let message = format!("{refused:?}");
    assert!(message.contains("new_due_dates"), "{message}");
}

on_both_backends!(
    a_restart_keeps_a_tasks_due_date_unless_the_plan_asks_for_new_ones,
    a_renamed_processs_cancel_hook_covers_the_instances_of_its_former_id,
    one_refused_instance_fails_alone_and_the_rest_of_its_batch_moves,
    a_restart_out_of_a_call_cancels_the_instances_it_called,
    a_cancelled_child_does_not_move_its_parent_on_and_a_cancelled_parent_takes_its_children,
    an_abandoned_migration_leaves_its_pending_instances_and_frees_its_process,
    an_undo_holds_the_process_like_a_migration_and_resumes_after_a_crash,
    move_to_refuses_what_it_cannot_carry_over,
    a_suspended_instance_keeps_what_it_waits_for,
    a_finished_migration_is_undone_where_the_instances_have_not_moved_on,
    the_impact_of_a_release_shows_its_diff_and_what_is_in_flight,
    a_suspended_instance_holds_its_timer_and_task_until_resumed,
    cancelling_an_instance_ends_it_with_its_tasks_and_timers,
    restart_after_release_restarts_manual_states_and_keeps_timers,
    a_bad_plan_is_refused_at_its_place_and_changes_nothing,
    a_second_migration_of_a_process_at_once_is_a_conflict,
    an_instance_that_moved_on_after_selection_is_skipped_with_the_reason,
    a_node_that_dies_mid_migration_is_resumed_without_doing_anything_twice,
    a_renamed_process_goes_on_from_its_predecessor_and_takes_its_starts,
);
