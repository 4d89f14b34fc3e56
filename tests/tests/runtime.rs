//! The durable runtime end to end, on SQLite and PostgreSQL.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use forlob_engine::runtime::{InboundMessage, MessageOutcome};
use forlob_engine::store::{self, InstanceFilter, TaskFilter};
use forlob_engine::{
    Action, ActionContext, ActionError, Actor, EngineError, InstanceStatus, ManualClock,
};
use serde_json::{Map, Value, json};
use support::{Backend, TestApp, at};

fn form(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn system() -> Actor {
    Actor::system()
}

async fn open_tasks(app: &TestApp) -> Vec<forlob_engine::instance::Task> {
    store::tasks(
        app.engine.db(),
        &TaskFilter {
            status: Some(forlob_engine::instance::TaskStatus::Open),
            ..TaskFilter::default()
        },
    )
    .await
    .expect("tasks")
}

async fn an_automatic_process_runs_to_its_end_with_a_history_row_per_state(backend: Backend) {
    let app = TestApp::builder(backend).build().await;
    let vars = form(&[("to", json!("147"))]);
    let id = app
        .engine
        .commands()
        .start_instance("demo-move-out", "0101501234", vars, &system())
        .await
        .expect("starts");
    let (instance, _) = store::instance(app.engine.db(), id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(instance.status, InstanceStatus::Completed);
    assert_eq!(instance.variables["steps"], json!(3));
    let history = store::history(app.engine.db(), id).await.expect("history");
    let path: Vec<&str> = history.iter().map(|h| h.to_state.as_str()).collect();
    assert_eq!(path, ["register", "route", "transfer", "close", "done"]);
    let events = store::events(app.engine.db(), "0101501234")
        .await
        .expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "demo-moved");
    assert_eq!(events[0].data, json!({"to": "147"}));
}

async fn two_caseworkers_completing_one_task_get_one_success_and_one_conflict(backend: Backend) {
    let app = Arc::new(TestApp::builder(backend).build().await);
    app.engine
        .commands()
        .start_instance("demo-move-out-human", "0101501234", Map::new(), &system())
        .await
        .expect("starts");
    let task = open_tasks(&app).await.remove(0);
    let mut handles = Vec::new();
    for who in ["anna", "bo"] {
        let app = app.clone();
        handles.push(tokio::spawn(async move {
            let actor = Actor::caseworker(who, "101");
            app.engine
                .commands()
                .complete_task(task.id, &form(&[("decision", json!("approve"))]), &actor)
                .await
        }));
    }
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.expect("joins"));
    }
    let wins = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e.status() == 409))
        .count();
    assert_eq!((wins, conflicts), (1, 1), "{results:?}");
    let (instance, _) = store::instance(app.engine.db(), task.instance_id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(instance.status, InstanceStatus::Completed);
    let history = store::history(app.engine.db(), task.instance_id)
        .await
        .expect("history");
    assert_eq!(
        history.iter().filter(|h| h.trigger == "submit").count(),
        1,
        "the form was applied once"
    );
}

async fn a_wrong_form_gets_per_field_errors_and_changes_nothing(backend: Backend) {
    let app = TestApp::builder(backend).build().await;
    app.engine
        .commands()
        .start_instance("demo-move-out-human", "0101501234", Map::new(), &system())
        .await
        .expect("starts");
    let task = open_tasks(&app).await.remove(0);
    let actor = Actor::caseworker("anna", "101");
    let err = app
        .engine
        .commands()
        .complete_task(
            task.id,
            &form(&[("decision", json!("maybe")), ("extra", json!(1))]),
            &actor,
        )
        .await
        .expect_err("refused");
    let EngineError::Invalid(errors) = err else {
        panic!("expected field errors, got {err}")
    };
    assert!(
        errors["decision"].to_string().contains("not one of"),
        "{errors:?}"
    );
    assert!(errors.contains_key("extra"), "{errors:?}");
    let missing = app
        .engine
        .commands()
        .complete_task(task.id, &Map::new(), &actor)
        .await
        .expect_err("refused");
    assert!(
        matches!(&missing, EngineError::Invalid(e) if e["decision"] == "required"),
        "{missing}"
    );
    assert_eq!(open_tasks(&app).await.len(), 1, "the task is still open");
}

async fn a_caseworker_of_another_municipality_cannot_see_that_a_task_exists(backend: Backend) {
    let app = TestApp::builder(backend).build().await;
    app.engine
        .commands()
        .start_instance("demo-move-out-human", "0101501234", Map::new(), &system())
        .await
        .expect("starts");
    let task = open_tasks(&app).await.remove(0);
    let stranger = Actor::caseworker("eve", "147");
    let err = app
        .engine
        .commands()
        .complete_task(task.id, &form(&[("decision", json!("approve"))]), &stranger)
        .await
        .expect_err("refused");
    assert_eq!(err.status(), 404, "{err}");
}

async fn a_manual_start_is_refused_where_the_guard_says_no(backend: Backend) {
    let app = TestApp::builder(backend).build().await;
    let designer = Actor {
        id: "d".into(),
        municipality: None,
        role: forlob_engine::Role::Designer.into(),
        via: forlob_engine::Via::Api,
    };
    let err = app
        .engine
        .commands()
        .start_instance("demo-move-out", "0101501234", Map::new(), &designer)
        .await
        .expect_err("refused");
    assert_eq!(err.status(), 403, "{err}");
    let none = store::instances(app.engine.db(), &InstanceFilter::default())
        .await
        .expect("instances");
    assert!(none.is_empty(), "nothing was written");
}

async fn a_message_is_applied_once_and_a_stray_one_becomes_a_dead_letter(backend: Backend) {
    let app = TestApp::builder(backend).build().await;
    let msg = InboundMessage {
        message_id: "m1".into(),
        message_type: "demo.move".into(),
        data: json!({"person": "0101501234", "to": "147"}),
    };
    let first = app.engine.commands().deliver(&msg).await.expect("accepted");
    assert!(
        matches!(first, MessageOutcome::Accepted { ref started, .. } if started.len() == 1),
        "{first:?}"
    );
    let again = app
        .engine
        .commands()
        .deliver(&msg)
        .await
        .expect("deduplicated");
    assert_eq!(
        again,
        MessageOutcome::Duplicate {
            first_outcome: "accepted".into()
        }
    );
    let instances = store::instances(app.engine.db(), &InstanceFilter::default())
        .await
        .expect("instances");
    assert_eq!(instances.len(), 1);

    let stray = InboundMessage {
        message_id: "m2".into(),
        message_type: "nobody.listens".into(),
        data: json!({"x": 1}),
    };
    let outcome = app.engine.commands().deliver(&stray).await.expect("kept");
    assert!(
        matches!(outcome, MessageOutcome::DeadLetter { ref reason } if reason.contains("nobody.listens")),
        "{outcome:?}"
    );
    let broken = InboundMessage {
        message_id: "m3".into(),
        message_type: "demo.move".into(),
        data: json!({"wrong": true}),
    };
    assert!(matches!(
        app.engine.commands().deliver(&broken).await.expect("kept"),
        MessageOutcome::DeadLetter { .. }
    ));
    let letters = store::dead_letters(app.engine.db()).await.expect("letters");
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].payload, json!({"x": 1}));
}

const TIMER: &str = r#"
id: reminder
initial: wait
states:
  wait:
    wait: { until: "vars.day", at: "04:00", zone: Europe/Copenhagen }
    next: remind
  remind:
    emit: [ { kind: reminded } ]
    automatic: { action: demo.record, input: { step: "'remind'" } }
    next: done
  done: { end: true }
"#;

async fn a_timer_due_while_down_fires_once_after_restart(backend: Backend) {
    let app = TestApp::builder(backend).with_process(TIMER).build().await;
    let vars = form(&[("day", json!("2025-06-03"))]);
    let id = app
        .engine
        .commands()
        .start_instance("reminder", "0101501234", vars, &system())
        .await
        .expect("starts");
    assert_eq!(
        app.engine.jobs().run_due().await.expect("runs"),
        0,
        "not due yet"
    );
    // The node is down over the due time; a new one starts later.
    let later = Arc::new(ManualClock::new(at("2025-06-03T09:00:00+02:00")));
    let restarted = app.restart(support::registry(), later).await;
    assert_eq!(restarted.jobs().run_due().await.expect("runs"), 1);
    assert_eq!(
        restarted.jobs().run_due().await.expect("runs"),
        0,
        "fired once"
    );
    let (instance, _) = store::instance(restarted.db(), id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(instance.status, InstanceStatus::Completed);
    assert_eq!(
        store::events(restarted.db(), "0101501234")
            .await
            .expect("events")
            .len(),
        1
    );
}

async fn two_nodes_sharing_one_database_fire_each_timer_exactly_once(backend: Backend) {
    let app = TestApp::builder(backend).with_process(TIMER).build().await;
    let count = 300;
    for i in 0..count {
        app.engine
            .commands()
            .start_instance(
                "reminder",
                &format!("p{i}"),
                form(&[("day", json!("2025-06-03"))]),
                &system(),
            )
            .await
            .expect("starts");
    }
    let due = Arc::new(ManualClock::new(at("2025-06-03T05:00:00+02:00")));
    let node_a = app.restart(support::registry(), due.clone()).await;
    let node_b = app.restart(support::registry(), due).await;
    let (a, b) = tokio::join!(node_a.jobs().run_due(), node_b.jobs().run_due());
    let (a, b) = (a.expect("node a runs"), b.expect("node b runs"));
    assert_eq!(a + b, count, "a={a} b={b}");
    let completed = store::instances(
        node_a.db(),
        &InstanceFilter {
            status: Some(InstanceStatus::Completed),
            limit: Some(10_000),
            ..InstanceFilter::default()
        },
    )
    .await
    .expect("instances");
    assert_eq!(completed.len(), count);
    for i in [0, count / 2, count - 1] {
        assert_eq!(
            store::events(node_a.db(), &format!("p{i}"))
                .await
                .expect("events")
                .len(),
            1,
            "p{i} reminded once"
        );
    }
}

async fn advancing_the_clock_fires_timers_at_their_time_in_order(backend: Backend) {
    let app = TestApp::builder(backend).with_process(TIMER).build().await;
    for (subject, day) in [("b", "2025-06-05"), ("a", "2025-06-04")] {
        app.engine
            .commands()
            .start_instance("reminder", subject, form(&[("day", json!(day))]), &system())
            .await
            .expect("starts");
    }
    app.engine
        .jobs()
        .advance_to(at("2025-06-04T12:00:00+02:00"))
        .await
        .expect("advances");
    assert_eq!(
        store::events(app.engine.db(), "a")
            .await
            .expect("events")
            .len(),
        1
    );
    assert!(
        store::events(app.engine.db(), "b")
            .await
            .expect("events")
            .is_empty(),
        "b is not due yet"
    );
    app.engine
        .jobs()
        .advance_to(at("2025-06-06T00:00:00+02:00"))
        .await
        .expect("advances");
    let b = store::events(app.engine.db(), "b").await.expect("events");
    assert_eq!(
        b[0].at,
        at("2025-06-05T04:00:00+02:00"),
        "fired at its due time, not at the target"
    );
}

/// Knows persons whose number starts with 01; every other subject does not exist.
struct Persons;

#[async_trait]
impl forlob_engine::registry::SubjectProvider for Persons {
    async fn load(
        &self,
        _conn: &sea_orm::DatabaseTransaction,
        id: &str,
    ) -> Result<Option<Value>, ActionError> {
        Ok(id
            .starts_with("01")
            .then(|| json!({ "name": format!("Person {id}") })))
    }
}

async fn a_message_for_an_unknown_subject_is_kept_as_a_dead_letter_and_a_start_is_refused(
    backend: Backend,
) {
    let app = TestApp::builder(backend)
        .with_registry(|r| {
            r.register_subject("demo-person", Arc::new(Persons));
        })
        .build()
        .await;
    let msg = InboundMessage {
        message_id: "m9".into(),
        message_type: "demo.move".into(),
        data: json!({"person": "9999999999", "to": "147"}),
    };
    let outcome = app.engine.commands().deliver(&msg).await.expect("kept");
    assert!(
        matches!(&outcome, MessageOutcome::DeadLetter { reason } if reason.contains("unknown demo-person 9999999999")),
        "{outcome:?}"
    );
    let err = app
        .engine
        .commands()
        .start_instance(
            "demo-move-out",
            "9999999999",
            Map::new(),
            &Actor::caseworker("a", "101"),
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, EngineError::Invalid(e) if e.contains_key("subject")),
        "{err}"
    );
    let known = InboundMessage {
        message_id: "m10".into(),
        message_type: "demo.move".into(),
        data: json!({"person": "0101501234", "to": "147"}),
    };
    assert!(matches!(
        app.engine
            .commands()
            .deliver(&known)
            .await
            .expect("accepted"),
        MessageOutcome::Accepted { .. }
    ));
}

/// A register that can be switched off.
struct Switchable {
    down: Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait]
impl forlob_engine::registry::SubjectProvider for Switchable {
    async fn load(
        &self,
        _conn: &sea_orm::DatabaseTransaction,
        id: &str,
    ) -> Result<Option<Value>, ActionError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(ActionError::retryable("register timed out"));
        }
        Ok(Some(json!({ "name": format!("Person {id}") })))
    }
}

const GREETING: &str = r#"
id: greeting
initial: wait
states:
  wait:
    wait: { after: P1D }
    next: greet
  greet:
    emit: [ { kind: greeted, data: { name: "subject.name" } } ]
    automatic: { action: demo.record, input: { step: "'greet'" } }
    next: done
  done: { end: true }
"#;

async fn a_timer_whose_register_is_down_waits_and_fires_when_it_is_back(backend: Backend) {
    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = down.clone();
    let app = TestApp::builder(backend)
        .with_registry(move |r| {
            r.register_subject("person", Arc::new(Switchable { down: flag }));
        })
        .with_process(GREETING)
        .build()
        .await;
    let id = app
        .engine
        .commands()
        .start_instance("greeting", "0101501234", Map::new(), &system())
        .await
        .expect("starts");
    down.store(true, Ordering::SeqCst);
    app.engine
        .jobs()
        .advance_to(at("2025-06-03T10:00:00+02:00"))
        .await
        .expect("advances");
    let (instance, _) = store::instance(app.engine.db(), id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(
        (instance.state.as_str(), instance.status),
        ("wait", InstanceStatus::Active),
        "kept, not dropped"
    );
    assert!(
        store::incidents(app.engine.db(), true)
            .await
            .expect("incidents")
            .is_empty()
    );
    down.store(false, Ordering::SeqCst);
    app.engine
        .jobs()
        .advance_to(at("2025-06-03T10:01:00+02:00"))
        .await
        .expect("advances");
    let (instance, _) = store::instance(app.engine.db(), id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(instance.status, InstanceStatus::Completed);
    let events = store::events(app.engine.db(), "0101501234")
        .await
        .expect("events");
    assert_eq!(events[0].data, json!({"name": "Person 0101501234"}));
}

async fn a_node_runs_work_of_a_version_another_node_deployed(backend: Backend) {
    let app = TestApp::builder(backend).with_process(TIMER).build().await;
    let node_b = app.restart(support::registry(), app.clock.clone()).await;
    let v2 = forlob_engine::definition::SourceFile {
        path: "reminder.yaml".into(),
        text: format!("{TIMER}# v2\n"),
    };
    assert_eq!(
        node_b.releases().deploy(&[v2]).await.expect("deploys")[0].version,
        2
    );
    let id = node_b
        .commands()
        .start_instance(
            "reminder",
            "p",
            form(&[("day", json!("2025-06-03"))]),
            &system(),
        )
        .await
        .expect("starts");
    // Node A never deployed v2 itself; its worker must still fire the v2 timer.
    app.engine
        .jobs()
        .advance_to(at("2025-06-03T05:00:00+02:00"))
        .await
        .expect("advances");
    let (instance, _) = store::instance(app.engine.db(), id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(
        (instance.version, instance.status),
        (2, InstanceStatus::Completed)
    );
}

const BY_PERSON: &str = r#"
id: by-person
initial: wait
states:
  wait:
    wait: { message: { type: register.changed, correlate: "msg.cpr" } }
    next: done
  done: { end: true }
"#;
const BY_CASE: &str = r#"
id: by-case
initial: wait
states:
  wait:
    wait: { message: { type: register.changed, correlate: "msg.case", key: "vars.case" } }
    next: done
  done: { end: true }
"#;

async fn a_message_wakes_only_instances_whose_own_key_matches(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_process(BY_PERSON)
        .with_process(BY_CASE)
        .build()
        .await;
    let person = app
        .engine
        .commands()
        .start_instance("by-person", "111", Map::new(), &system())
        .await
        .expect("starts");
    let case = app
        .engine
        .commands()
        .start_instance("by-case", "333", form(&[("case", json!("222"))]), &system())
        .await
        .expect("starts");
    // The person key of this message equals the case key of the other process: it must not
    // wake the case instance.
    let msg = InboundMessage {
        message_id: "c1".into(),
        message_type: "register.changed".into(),
        data: json!({"cpr": "222", "case": "999"}),
    };
    assert!(matches!(
        app.engine.commands().deliver(&msg).await.expect("kept"),
        MessageOutcome::DeadLetter { .. }
    ));
    let msg = InboundMessage {
        message_id: "c2".into(),
        message_type: "register.changed".into(),
        data: json!({"cpr": "111", "case": "222"}),
    };
    let outcome = app.engine.commands().deliver(&msg).await.expect("accepted");
    let MessageOutcome::Accepted { resumed, .. } = outcome else {
        panic!("accepted expected: {outcome:?}")
    };
    assert_eq!(resumed.len(), 2);
    assert!(resumed.contains(&person) && resumed.contains(&case));
}

struct Flaky {
    calls: Arc<AtomicU32>,
    /// Once set, the register answers again.
    mended: Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait]
impl Action for Flaky {
    type Input = Value;
    type Output = Value;

    fn name(&self) -> &'static str {
        "test.flaky"
    }

    async fn run(&self, _ctx: &ActionContext<'_>, _input: Value) -> Result<Value, ActionError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.mended.load(Ordering::SeqCst) {
            return Ok(Value::Null);
        }
        Err(ActionError::retryable("register timed out"))
    }
}

const FLAKY: &str = r#"
id: flaky
initial: call
states:
  call:
    automatic: { action: test.flaky, retry: { max: 3, backoff: PT1M } }
    next: done
  done: { end: true }
"#;

async fn a_failing_step_is_retried_with_backoff_then_becomes_an_incident(backend: Backend) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let app = TestApp::builder(backend)
        .with_registry(move |r| {
            r.register_action(Flaky {
                calls: counter,
                mended: Arc::default(),
            });
        })
        .with_process(FLAKY)
        .build()
        .await;
    let id = app
        .engine
        .commands()
        .start_instance("flaky", "x", Map::new(), &system())
        .await
        .expect("starts despite the failure");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    app.engine
        .jobs()
        .advance_to(at("2025-06-02T09:00:59+02:00"))
        .await
        .expect("advances");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "backoff not over");
    app.engine
        .jobs()
        .advance_to(at("2025-06-02T10:00:00+02:00"))
        .await
        .expect("advances");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let (instance, _) = store::instance(app.engine.db(), id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(instance.status, InstanceStatus::Incident);
    let incidents = store::incidents(app.engine.db(), true)
        .await
        .expect("incidents");
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].attempts, 3);
    assert!(incidents[0].error.contains("register timed out"));
}

/// Writes a row named by its input (a received message, for want of a table of its own), then
/// fails while its name is listed.
struct Note {
    failing: Arc<std::sync::Mutex<Vec<String>>>,
}

#[async_trait]
impl Action for Note {
    type Input = Value;
    type Output = Value;

    fn name(&self) -> &'static str {
        "test.note"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Value) -> Result<Value, ActionError> {
        let id = input["id"].as_str().unwrap_or_default().to_owned();
        store::record_message(ctx.conn, &id, "test.note", &json!({}), "done", ctx.now)
            .await
            .map_err(|e| ActionError::permanent(e.to_string()))?;
        if self.failing.lock().expect("not poisoned").contains(&id) {
            return Err(ActionError::retryable(format!("{id}: register down")));
        }
        Ok(Value::Null)
    }
}

const NOTES: &str = r#"
id: notes
initial: first
states:
  first:
    automatic: { action: test.note, input: { id: "'first-' + subject.id" } }
    next: second
  second:
    automatic: { action: test.note, input: { id: "'second-' + subject.id" }, retry: { max: 2, backoff: PT1M } }
    next: third
  third:
    automatic: { action: test.note, input: { id: "'third-' + subject.id" } }
    next: done
  done: { end: true }
"#;

/// Which of `subject`'s notes (see [`Note`]) are stored.
async fn notes_of(app: &TestApp, subject: &str) -> Vec<&'static str> {
    let mut kept = Vec::new();
    for step in ["first", "second", "third"] {
        let id = format!("{step}-{subject}");
        if store::recorded_message(app.engine.db(), &id)
            .await
            .expect("reads")
            .is_some()
        {
            kept.push(step);
        }
    }
    kept
}

/// Actions that write run in savepoints of one transaction: a failing one's writes are undone
/// and what came before it, and what the transition writes after it, stay. Due work runs
/// each item in a savepoint too, so in one chunk a retry that fails again leaves nothing of
/// itself while the one beside it that succeeds keeps everything.
async fn a_failing_action_undoes_only_its_own_writes(backend: Backend) {
    let failing = Arc::new(std::sync::Mutex::new(vec![
        "second-a".to_owned(),
        "second-c".to_owned(),
    ]));
    let listed = failing.clone();
    let app = TestApp::builder(backend)
        .with_registry(move |r| {
            r.register_action(Note { failing: listed });
        })
        .with_process(NOTES)
        .build()
        .await;
    let mut ids = std::collections::HashMap::new();
    for subject in ["a", "b", "c"] {
        let id = app
            .engine
            .commands()
            .start_instance("notes", subject, Map::new(), &system())
            .await
            .expect("starts despite a failing step");
        ids.insert(subject, id);
    }
    assert_eq!(
        notes_of(&app, "a").await,
        ["first"],
        "the failed attempt left nothing"
    );
    assert_eq!(notes_of(&app, "b").await, ["first", "second", "third"]);
    assert_eq!(notes_of(&app, "c").await, ["first"]);
    failing
        .lock()
        .expect("not poisoned")
        .retain(|id| id != "second-a");
    app.engine
        .jobs()
        .advance_to(at("2025-06-02T10:00:00+02:00"))
        .await
        .expect("advances");
    assert_eq!(notes_of(&app, "a").await, ["first", "second", "third"]);
    assert_eq!(
        notes_of(&app, "c").await,
        ["first"],
        "the second failure left nothing"
    );
    // Every work item was finished with its transition (or the incident's), none left over.
    assert_eq!(
        store::next_due_at(app.engine.db(), at("2030-01-01T00:00:00Z"))
            .await
            .expect("reads"),
        None
    );
    // `c`'s incident was written by its transition after the action failed, and stayed.
    for (subject, expected) in [
        ("a", InstanceStatus::Completed),
        ("b", InstanceStatus::Completed),
        ("c", InstanceStatus::Incident),
    ] {
        let (instance, _) = store::instance(app.engine.db(), ids[subject])
            .await
            .expect("reads")
            .expect("exists");
        assert_eq!(instance.status, expected, "{subject}");
    }
    let incidents = store::incidents(app.engine.db(), true)
        .await
        .expect("incidents");
    assert_eq!(incidents.len(), 1);
    assert!(
        incidents[0].error.contains("second-c: register down"),
        "{incidents:?}"
    );
}

async fn an_admin_retries_an_incident_once_its_cause_is_mended(backend: Backend) {
    let (app, id, incident_id, mended) = flaky_incident(backend).await;
    let admin = admin();
    mended.store(true, Ordering::SeqCst);
    assert_eq!(
        app.engine
            .operations()
            .retry_incident(incident_id, &admin, "")
            .await
            .expect("retried"),
        id
    );
    // Handled once: a second retry, e.g. from a colleague's stale page, is a conflict.
    let again = app
        .engine
        .operations()
        .retry_incident(incident_id, &admin, "")
        .await
        .expect_err("handled already");
    assert_eq!(again.status(), 409);
    let missing = app
        .engine
        .operations()
        .retry_incident(incident_id + 1000, &admin, "")
        .await
        .expect_err("no such incident");
    assert_eq!(missing.status(), 404);
    app.engine.jobs().run_due().await.expect("runs");
    let (instance, _) = store::instance(app.engine.db(), id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(instance.status, InstanceStatus::Completed);
    let history = store::history(app.engine.db(), id).await.expect("history");
    let retry = history
        .iter()
        .find(|h| h.trigger == "retry")
        .expect("the retry is in the history");
    assert_eq!(retry.actor.as_deref(), Some("ada"));
    assert!(
        store::incidents(app.engine.db(), true)
            .await
            .expect("incidents")
            .is_empty()
    );
}

/// A FLAKY instance in incident, ready for an admin, and the switch that mends its cause.
async fn flaky_incident(
    backend: Backend,
) -> (TestApp, uuid::Uuid, i64, Arc<std::sync::atomic::AtomicBool>) {
    let mended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let switch = mended.clone();
    let app = TestApp::builder(backend)
        .with_registry(move |r| {
            r.register_action(Flaky {
                calls: Arc::default(),
                mended: switch,
            });
        })
        .with_process(FLAKY)
        .build()
        .await;
    let id = app
        .engine
        .commands()
        .start_instance("flaky", "x", Map::new(), &system())
        .await
        .expect("starts");
    app.engine
        .jobs()
        .advance_to(at("2025-06-02T10:00:00+02:00"))
        .await
        .expect("advances");
    let incident = store::incidents(app.engine.db(), true)
        .await
        .expect("incidents")
        .pop()
        .expect("one incident");
    (app, id, incident.id, mended)
}

fn admin() -> forlob_engine::Actor {
    forlob_engine::Actor {
        id: "ada".into(),
        municipality: None,
        role: forlob_engine::Role::Admin.into(),
        via: forlob_engine::Via::Api,
    }
}

async fn an_admin_skips_a_failed_step_into_a_state_of_the_same_version(backend: Backend) {
    let (app, id, incident, _) = flaky_incident(backend).await;
    let refused = app
        .engine
        .operations()
        .skip_incident(incident, "nowhere", &admin(), "")
        .await
        .expect_err("no such state");
    assert_eq!(refused.status(), 422);
    // Refused means untouched: the incident is still there to act on.
    assert_eq!(
        store::incidents(app.engine.db(), true)
            .await
            .expect("incidents")
            .len(),
        1
    );
    app.engine
        .operations()
        .skip_incident(incident, "done", &admin(), "")
        .await
        .expect("skipped");
    let (instance, _) = store::instance(app.engine.db(), id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(instance.status, InstanceStatus::Completed);
    assert_eq!(instance.state, "done");
    let history = store::history(app.engine.db(), id).await.expect("history");
    let skip = history.last().expect("moves");
    assert_eq!(
        (skip.trigger.as_str(), skip.actor.as_deref()),
        ("skip", Some("ada"))
    );
    let again = app
        .engine
        .operations()
        .cancel_incident(incident, &admin(), "")
        .await
        .expect_err("handled already");
    assert_eq!(again.status(), 409);
}

/// A decision that cannot read its variable (an amount typed as text) leaves the instance in
/// an incident; an admin corrects the variable and retries in one step.
const GRANT: &str = r#"
id: grant
initial: decide
states:
  decide:
    decision:
      - { when: "vars.amount > 1000", goto: large }
      - { otherwise: small }
  large: { end: true }
  small: { end: true }
"#;

async fn an_incident_from_a_bad_variable_is_repaired_by_correcting_it(backend: Backend) {
    let app = TestApp::builder(backend).with_process(GRANT).build().await;
    let vars: Map<String, Value> = [("amount".to_owned(), json!("1.500 kr."))]
        .into_iter()
        .collect();
    let id = app
        .engine
        .commands()
        .start_instance("grant", "x", vars, &system())
        .await
        .expect("starts");
    let incident = store::incidents(app.engine.db(), true)
        .await
        .expect("incidents")
        .pop()
        .expect("the decision failed");
    let corrected = |pairs: &[(&str, Value)]| -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    };
    // A variable the definition never reads is a typo; no reason, no edit.
    for (variables, reason, field) in [
        (
            corrected(&[("amout", json!(1500))]),
            "typed as text",
            "variables",
        ),
        (corrected(&[("amount", json!(1500))]), " ", "reason"),
    ] {
        let refused = app
            .engine
            .operations()
            .retry_incident_with_variables(incident.id, &admin(), &variables, reason, false)
            .await
            .expect_err("refused");
        assert!(
            matches!(&refused, forlob_engine::EngineError::Invalid(e) if e.contains_key(field)),
            "{refused:?}"
        );
    }
    app.engine
        .operations()
        .retry_incident_with_variables(
            incident.id,
            &admin(),
            // A variable only a package's code reads is added when the admin says so.
            &corrected(&[("amount", json!(1500)), ("handled", json!(0))]),
            "typed as text",
            true,
        )
        .await
        .expect("repaired");
    let (instance, _) = store::instance(app.engine.db(), id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(
        (
            instance.status,
            instance.state.as_str(),
            &instance.variables["amount"]
        ),
        (InstanceStatus::Completed, "large", &json!(1500))
    );
    let history = store::history(app.engine.db(), id).await.expect("history");
    let edit = history
        .iter()
        .find(|h| h.trigger == "variables")
        .expect("the edit is in the history");
    assert_eq!(
        edit.data.as_ref().map(|d| d["changed"].clone()),
        Some(json!(["amount", "handled"]))
    );
}

async fn an_admin_cancels_an_instance_in_incident(backend: Backend) {
    let (app, id, incident, _) = flaky_incident(backend).await;
    app.engine
        .operations()
        .cancel_incident(incident, &admin(), "")
        .await
        .expect("cancelled");
    let (instance, _) = store::instance(app.engine.db(), id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(instance.status, InstanceStatus::Cancelled);
    assert!(instance.ended_at.is_some());
    let history = store::history(app.engine.db(), id).await.expect("history");
    assert_eq!(history.last().map(|h| h.trigger.as_str()), Some("cancel"));
    // Nothing is left to run for it.
    assert_eq!(app.engine.jobs().run_due().await.expect("runs"), 0);
}

const BROKEN_ENTRY: &str = r#"
id: broken-entry
start: { manual: {} }
initial: start
states:
  start:
    set: { y: "vars.missing.field" }
    automatic: { action: test.flaky }
    next: done
  done: { end: true }
"#;

async fn retrying_a_failed_entry_enters_the_state_again(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_registry(|r| {
            r.register_action(Flaky {
                calls: Arc::default(),
                mended: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            });
        })
        .with_process(BROKEN_ENTRY)
        .build()
        .await;
    let id = app
        .engine
        .commands()
        .start_instance("broken-entry", "x", Map::new(), &system())
        .await
        .expect("starts into an incident");
    let first = store::incidents(app.engine.db(), true)
        .await
        .expect("incidents")
        .pop()
        .expect("the entry failed");
    assert_eq!(
        first.cause,
        forlob_engine::instance::IncidentCause::Definition
    );
    app.engine
        .operations()
        .retry_incident(first.id, &admin(), "")
        .await
        .expect("retried");
    app.engine.jobs().run_due().await.expect("runs");
    // Entering again fails the same way: a new incident, never an instance left "active"
    // with nothing to do.
    let (instance, _) = store::instance(app.engine.db(), id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(instance.status, InstanceStatus::Incident);
    let open = store::incidents(app.engine.db(), true)
        .await
        .expect("incidents");
    assert_eq!(open.len(), 1);
    assert_ne!(open[0].id, first.id);
    let history = store::history(app.engine.db(), id).await.expect("history");
    assert!(
        history
            .iter()
            .any(|h| h.trigger == "skip" && h.actor.as_deref() == Some("ada"))
    );
}

const LISTENER: &str = r#"
id: listener
start: { manual: {} }
initial: wait
states:
  wait:
    wait: { message: { type: ping, correlate: "msg.who" } }
    next: done
  done: { end: true }
"#;

async fn a_message_that_came_too_early_is_replayed_from_the_dead_letters(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_process(LISTENER)
        .build()
        .await;
    let early = InboundMessage {
        message_id: "p-1".into(),
        message_type: "ping".into(),
        data: json!({ "who": "s1" }),
    };
    assert!(matches!(
        app.engine.commands().deliver(&early).await.expect("kept"),
        MessageOutcome::DeadLetter { .. }
    ));
    let letter = store::dead_letters(app.engine.db())
        .await
        .expect("letters")
        .pop()
        .expect("one dead letter");
    let id = app
        .engine
        .commands()
        .start_instance("listener", "s1", Map::new(), &system())
        .await
        .expect("starts");
    let outcome = app
        .engine
        .operations()
        .replay_dead_letter(letter.id, &admin())
        .await
        .expect("replayed");
    assert!(
        matches!(&outcome, MessageOutcome::Accepted { resumed, .. } if resumed == &vec![id]),
        "{outcome:?}"
    );
    assert!(
        store::dead_letters(app.engine.db())
            .await
            .expect("letters")
            .is_empty()
    );
    // The same message from the sender is still a duplicate, and the letter is gone.
    assert!(matches!(
        app.engine.commands().deliver(&early).await.expect("seen"),
        MessageOutcome::Duplicate { .. }
    ));
    let gone = app
        .engine
        .operations()
        .replay_dead_letter(letter.id, &admin())
        .await
        .expect_err("replayed already");
    assert_eq!(gone.status(), 404);
    let (instance, _) = store::instance(app.engine.db(), id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(instance.status, InstanceStatus::Completed);
}

const PARENT: &str = r#"
id: parent
replaces: [old-parent]
start: { manual: {} }
initial: delegate
states:
  delegate:
    call: { process: child, vars: { n: "1" } }
    next: notify
  notify:
    follow_up: [ { process: check, municipality: "'101'" } ]
    automatic: { action: demo.record, input: { step: "'notify'" } }
    next: done
  done: { end: true }
"#;
const CHILD: &str = "id: child\ninitial: e\nstates:\n  e: { end: true }\n";
const CHECK: &str = r#"
id: check
initial: look
states:
  look:
    manual: { title: "Check {{subject.id}}", assign: { municipality: "vars.municipality" }, form: { fields: [] } }
    on: { submit: [ { goto: done } ] }
  done: { end: true }
"#;

async fn calls_and_follow_ups_start_their_own_instances_and_former_ids_route_to_the_new_process(
    backend: Backend,
) {
    let app = TestApp::builder(backend)
        .with_process(PARENT)
        .with_process(CHILD)
        .with_process(CHECK)
        .build()
        .await;
    let id = app
        .engine
        .commands()
        .start_instance("old-parent", "0101501234", Map::new(), &admin())
        .await
        .expect("routes to parent");
    let (parent, _) = store::instance(app.engine.db(), id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(parent.process_id, "parent");
    assert_eq!(
        parent.status,
        InstanceStatus::Completed,
        "the child ended at once and the parent went on"
    );
    let tasks = open_tasks(&app).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        (tasks[0].kind.as_str(), tasks[0].municipality.as_deref()),
        ("look", Some("101"))
    );
    assert_eq!(tasks[0].title, "Check 0101501234");

    // A new version of the parent alone deploys: its children are already deployed. A
    // restart then loads both versions, each still referring to the deployed children.
    let v2 = forlob_engine::definition::SourceFile {
        path: "parent.yaml".into(),
        text: format!("{PARENT}# v2\n"),
    };
    let outcome = app
        .engine
        .releases()
        .deploy(&[v2])
        .await
        .expect("deploys alone");
    assert_eq!(outcome[0].version, 2);
    let restarted = app.restart(support::registry(), app.clock.clone()).await;
    assert_eq!(
        restarted.catalog().latest("old-parent").map(|(v, _)| v),
        Some(2)
    );
}

async fn an_invalid_definition_is_never_deployed_and_an_unchanged_one_keeps_its_version(
    backend: Backend,
) {
    let app = TestApp::builder(backend).build().await;
    let broken = forlob_engine::definition::SourceFile {
        path: "b.yaml".into(),
        text: "id: b\ninitial: x\nstates:\n  y: { end: true }\n".into(),
    };
    let err = app
        .engine
        .releases()
        .deploy(&[broken])
        .await
        .expect_err("refused");
    assert!(matches!(err, EngineError::Definition(_)), "{err}");
    assert!(app.engine.catalog().latest("b").is_none());
    let again = app
        .engine
        .releases()
        .deploy(&forlob_engine::demo::definitions())
        .await
        .expect("deploys");
    assert!(
        again.iter().all(|o| !o.changed && o.version == 1),
        "{again:?}"
    );
    let mut changed = forlob_engine::demo::definitions();
    changed[0]
        .text
        .push_str("\n# a comment changes the content\n");
    let outcome = app
        .engine
        .releases()
        .deploy(&changed[..1])
        .await
        .expect("deploys");
    assert_eq!((outcome[0].version, outcome[0].changed), (2, true));
    assert_eq!(
        store::definitions(app.engine.db())
            .await
            .expect("rows")
            .len(),
        3,
        "every version is kept"
    );
}

/// Signals the keys in its input, one by one, and returns what each did; with `fail` in its
/// input it fails after signalling.
struct Signal;

#[async_trait]
impl Action for Signal {
    type Input = Value;
    type Output = Value;

    fn name(&self) -> &'static str {
        "test.signal"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Value) -> Result<Value, ActionError> {
        let mut outcomes = Vec::new();
        for key in input["keys"].as_array().into_iter().flatten() {
            let outcome = ctx
                .signal(
                    "test.go",
                    key.as_str().unwrap_or_default(),
                    json!({ "from": ctx.subject }),
                )
                .await?;
            outcomes.push(json!({
                "resumed": outcome.resumed.len(),
                "failed": outcome.failed.len(),
            }));
        }
        if input["fail"] == json!(true) {
            return Err(ActionError::permanent("refused after signalling"));
        }
        Ok(json!({ "outcomes": outcomes }))
    }
}

const SIGNALLED: &str = r#"
id: signalled
initial: wait
states:
  wait:
    wait:
      signal: { name: test.go, key: "subject.id" }
      after: PT1H
    next: woken
  woken:
    decision:
      # Instance `a` woken by `boom` reads a variable it does not have: it cannot go on.
      - { when: "has(vars.signal) && vars.signal.from == 'boom' && subject.id == 'a' && vars.nothing.here == 1", goto: done }
      - { otherwise: done }
  done: { end: true }
"#;

const SENDER: &str = r#"
id: sender
initial: send
states:
  send:
    automatic: { action: test.signal, input: { keys: "vars.keys", fail: "has(vars.fail)" } }
    next: done
  done: { end: true }
"#;

async fn signal_app(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .with_registry(|r| {
            r.register_action(Signal);
        })
        .with_process(SIGNALLED)
        .with_process(SENDER)
        .build()
        .await
}

async fn send(app: &TestApp, subject: &str, keys: &[&str]) -> Value {
    let mut vars = Map::new();
    vars.insert("keys".into(), json!(keys));
    let id = app
        .engine
        .commands()
        .start_instance("sender", subject, vars, &system())
        .await
        .expect("sender starts");
    let (sender, _) = store::instance(app.engine.db(), id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(
        sender.status,
        InstanceStatus::Completed,
        "the sender never waits for what it woke"
    );
    sender.variables["outcomes"].clone()
}

async fn status_of(app: &TestApp, id: uuid::Uuid) -> InstanceStatus {
    store::instance(app.engine.db(), id)
        .await
        .expect("reads")
        .expect("exists")
        .0
        .status
}

async fn a_signal_wakes_exactly_the_instances_waiting_with_its_key_in_the_senders_transaction(
    backend: Backend,
) {
    let app = signal_app(backend).await;
    let mut started = Vec::new();
    for subject in ["a", "b"] {
        started.push(
            app.engine
                .commands()
                .start_instance("signalled", subject, Map::new(), &system())
                .await
                .expect("starts"),
        );
    }
    let (a, b) = (started[0], started[1]);
    let outcomes = send(&app, "job", &["a", "nobody"]).await;
    assert_eq!(
        outcomes,
        json!([{ "resumed": 1, "failed": 0 }, { "resumed": 0, "failed": 0 }])
    );
    assert_eq!(status_of(&app, a).await, InstanceStatus::Completed);
    assert_eq!(
        status_of(&app, b).await,
        InstanceStatus::Active,
        "another key"
    );
    let history = store::history(app.engine.db(), a).await.expect("history");
    let woken = history
        .iter()
        .find(|h| h.trigger == "signal")
        .expect("the signal is in the history");
    assert_eq!(woken.data, Some(json!({ "from": "job" })));
    // Its deadline went with it: nothing of `a` is left to fire.
    app.engine
        .jobs()
        .advance_to(at("2025-06-02T12:00:00+02:00"))
        .await
        .expect("advances");
    assert_eq!(
        store::history(app.engine.db(), a)
            .await
            .expect("history")
            .len(),
        history.len(),
        "a woken instance is not woken again by its deadline"
    );
    // Woken once: a second signal finds nobody waiting.
    let again = send(&app, "job", &["a"]).await;
    assert_eq!(again, json!([{ "resumed": 0, "failed": 0 }]));
}

/// An action that fails after its signal woke an instance takes the waking back with its own
/// writes: the woken instance still waits, and nothing of its move is in its history or the
/// timeline (in a shared commit those rows wait for the batch's end, and must go with the
/// savepoint that made them).
async fn a_signal_undone_with_its_failing_action_leaves_no_trace(backend: Backend) {
    let app = signal_app(backend).await;
    let a = app
        .engine
        .commands()
        .start_instance("signalled", "a", Map::new(), &system())
        .await
        .expect("starts");
    let history_before = store::history(app.engine.db(), a).await.expect("history");
    let timeline_before = store::events(app.engine.db(), "a").await.expect("events");
    let mut vars = Map::new();
    vars.insert("keys".into(), json!(["a"]));
    vars.insert("fail".into(), json!(true));
    let sender = app
        .engine
        .commands()
        .start_instance("sender", "job", vars, &system())
        .await
        .expect("the sender starts, and its failed step is an incident");
    assert_eq!(status_of(&app, sender).await, InstanceStatus::Incident);
    let (woken, _) = store::instance(app.engine.db(), a)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(
        (woken.state.as_str(), woken.status),
        ("wait", InstanceStatus::Active),
        "the waking went with the failed action"
    );
    let history = store::history(app.engine.db(), a).await.expect("history");
    assert_eq!(
        history.len(),
        history_before.len(),
        "no trace of the undone move: {history:?}"
    );
    assert!(history.iter().all(|h| h.trigger != "signal"));
    assert_eq!(
        store::events(app.engine.db(), "a")
            .await
            .expect("events")
            .len(),
        timeline_before.len()
    );
    // The signal can still wake it.
    let outcomes = send(&app, "job2", &["a"]).await;
    assert_eq!(outcomes, json!([{ "resumed": 1, "failed": 0 }]));
    let history = store::history(app.engine.db(), a).await.expect("history");
    assert_eq!(
        history.iter().filter(|h| h.trigger == "signal").count(),
        1,
        "{history:?}"
    );
}

async fn a_signal_wait_goes_on_at_its_deadline_and_a_late_signal_finds_nobody(backend: Backend) {
    let app = signal_app(backend).await;
    let id = app
        .engine
        .commands()
        .start_instance("signalled", "a", Map::new(), &system())
        .await
        .expect("starts");
    app.engine
        .jobs()
        .advance_to(at("2025-06-02T10:30:00+02:00"))
        .await
        .expect("advances past the deadline");
    assert_eq!(status_of(&app, id).await, InstanceStatus::Completed);
    let triggers: Vec<String> = store::history(app.engine.db(), id)
        .await
        .expect("history")
        .into_iter()
        .map(|h| h.trigger)
        .collect();
    assert!(triggers.contains(&"timer".to_owned()), "{triggers:?}");
    assert_eq!(
        send(&app, "job", &["a"]).await,
        json!([{ "resumed": 0, "failed": 0 }])
    );
}

async fn an_instance_that_fails_on_its_way_from_a_signal_is_an_incident_and_the_sender_goes_on(
    backend: Backend,
) {
    let app = signal_app(backend).await;
    let broken = app
        .engine
        .commands()
        .start_instance("signalled", "a", Map::new(), &system())
        .await
        .expect("starts");
    let fine = app
        .engine
        .commands()
        .start_instance("signalled", "b", Map::new(), &system())
        .await
        .expect("starts");
    // Woken by `boom`, `a` reads a variable it does not have on its way: its incident, in the
    // sender's transaction, while `b` and the sender go on.
    let outcomes = send(&app, "boom", &["a", "b"]).await;
    assert_eq!(
        outcomes,
        json!([{ "resumed": 1, "failed": 0 }, { "resumed": 1, "failed": 0 }])
    );
    assert_eq!(status_of(&app, broken).await, InstanceStatus::Incident);
    assert_eq!(status_of(&app, fine).await, InstanceStatus::Completed);
    let incidents = store::incidents(app.engine.db(), true)
        .await
        .expect("incidents");
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].instance_id, broken);
    assert!(
        incidents[0].error.contains("nothing"),
        "{}",
        incidents[0].error
    );
}

const RELAY: &str = r#"
id: relay
initial: wait
states:
  wait:
    wait:
      signal: { name: test.go, key: "'shared'" }
      after: PT1H
    next: pass-on
  pass-on:
    automatic: { action: test.signal, input: { keys: "['shared']" } }
    next: done
  done: { end: true }
"#;

/// An instance that leaves a signal wait no longer waits, even inside the transaction that
/// moves it on: when its next step sends the very signal it waited for, only the others with
/// that key wake, not itself (which would wake itself over and over, then fail as a loop).
async fn an_instance_leaving_a_signal_wait_is_not_woken_by_its_own_next_step(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_registry(|r| {
            r.register_action(Signal);
        })
        .with_process(RELAY)
        .build()
        .await;
    let first = app
        .engine
        .commands()
        .start_instance("relay", "a", Map::new(), &system())
        .await
        .expect("starts");
    app.engine
        .jobs()
        .advance_to(at("2025-06-02T09:30:00+02:00"))
        .await
        .expect("advances");
    let second = app
        .engine
        .commands()
        .start_instance("relay", "b", Map::new(), &system())
        .await
        .expect("starts");
    // The first one's deadline: it passes the signal on, which wakes the second.
    app.engine
        .jobs()
        .advance_to(at("2025-06-02T10:05:00+02:00"))
        .await
        .expect("advances past the first deadline");
    for id in [first, second] {
        assert_eq!(status_of(&app, id).await, InstanceStatus::Completed);
    }
    let mut outcomes = Vec::new();
    for id in [first, second] {
        let (instance, _) = store::instance(app.engine.db(), id)
            .await
            .expect("reads")
            .expect("exists");
        outcomes.push(instance.variables["outcomes"].clone());
    }
    assert_eq!(
        outcomes[0],
        json!([{ "resumed": 1, "failed": 0 }]),
        "the first woke the second, not itself"
    );
    assert_eq!(
        outcomes[1],
        json!([{ "resumed": 0, "failed": 0 }]),
        "nobody waits any more when the second passes it on"
    );
    assert!(
        store::incidents(app.engine.db(), true)
            .await
            .expect("incidents")
            .is_empty()
    );
}

const HOP: &str = r#"
id: hop
initial: wait
states:
  wait:
    wait: { signal: { name: test.go, key: "'shared'" } }
    next: listen
  listen:
    wait: { message: { type: ping, correlate: "msg.subject" } }
    next: done
  done: { end: true }
"#;

/// A signal wakes each instance it listed once, as it was then: one that a nested signal
/// (from an instance woken before it) already moved on is not woken again, and what it
/// waits for now, another wait, is left as it is.
async fn a_nested_signal_moves_a_listed_waiter_on_and_the_outer_one_leaves_it_be(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_registry(|r| {
            r.register_action(Signal);
        })
        .with_process(SENDER)
        .with_process(RELAY)
        .with_process(HOP)
        .build()
        .await;
    let relay = app
        .engine
        .commands()
        .start_instance("relay", "b", Map::new(), &system())
        .await
        .expect("starts");
    let hop = app
        .engine
        .commands()
        .start_instance("hop", "c", Map::new(), &system())
        .await
        .expect("starts");
    // The relay is woken first; its own step signals on and wakes the hop, which goes on
    // to wait for a message before the outer signal comes to it.
    let outcomes = send(&app, "a", &["shared"]).await;
    assert_eq!(outcomes, json!([{ "resumed": 1, "failed": 0 }]));
    assert_eq!(status_of(&app, relay).await, InstanceStatus::Completed);
    let (now, _) = store::instance(app.engine.db(), hop)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(now.state, "listen");
    assert_eq!(now.status, InstanceStatus::Active);
    // A message wait subscribes under the subject's id.
    let listening = store::subscriptions(app.engine.db(), "ping", "c")
        .await
        .expect("subscriptions");
    assert_eq!(
        listening.iter().map(|w| w.instance_id).collect::<Vec<_>>(),
        vec![hop],
        "it still waits for its message"
    );
}

/// Writers at once share group-committed transactions (SQLite) or run side by side
/// (PostgreSQL): a bad form among them fails alone with its own error, eight completions of
/// one task give one success and seven conflicts, and every other writer's work is there.
async fn writers_at_once_fail_alone_and_race_cleanly_in_a_shared_commit(backend: Backend) {
    let app = Arc::new(TestApp::builder(backend.clone()).build().await);
    for i in 0..24 {
        app.engine
            .commands()
            .start_instance(
                "demo-move-out-human",
                &format!("01015012{i:02}"),
                Map::new(),
                &system(),
            )
            .await
            .expect("starts");
    }
    let tasks = open_tasks(&app).await;
    assert_eq!(tasks.len(), 24);
    let contested = tasks[0].id;
    let mut handles = Vec::new();
    // Tasks 1..=16: even ones with a valid form, odd ones with a decision the form lacks.
    for (n, task) in tasks.iter().enumerate().skip(1).take(16) {
        let (app, id) = (app.clone(), task.id);
        let decision = if n % 2 == 0 { "approve" } else { "maybe" };
        handles.push(tokio::spawn(async move {
            let actor = Actor::caseworker(&format!("cw{n}"), "101");
            let result = app
                .engine
                .commands()
                .complete_task(id, &form(&[("decision", json!(decision))]), &actor)
                .await;
            (Some(n), result)
        }));
    }
    for who in 0..8 {
        let app = app.clone();
        handles.push(tokio::spawn(async move {
            let actor = Actor::caseworker(&format!("racer{who}"), "101");
            let result = app
                .engine
                .commands()
                .complete_task(contested, &form(&[("decision", json!("approve"))]), &actor)
                .await;
            (None, result)
        }));
    }
    let (mut wins, mut conflicts) = (0, 0);
    for handle in handles {
        match handle.await.expect("joins") {
            (Some(n), Ok(())) => assert_eq!(n % 2, 0, "task {n}'s bad form was taken"),
            (Some(n), Err(e)) => {
                assert_eq!(n % 2, 1, "task {n}'s good form failed: {e}");
                assert_eq!(e.status(), 422, "its own error: {e}");
            }
            (None, Ok(())) => wins += 1,
            (None, Err(e)) => {
                assert_eq!(e.status(), 409, "a racer's error: {e}");
                conflicts += 1;
            }
        }
    }
    assert_eq!((wins, conflicts), (1, 7));
    let still_open: std::collections::HashSet<_> =
        open_tasks(&app).await.into_iter().map(|t| t.id).collect();
    for (n, task) in tasks.iter().enumerate().skip(1).take(16) {
        assert_eq!(
            still_open.contains(&task.id),
            n % 2 == 1,
            "task {n}: only the bad forms leave their task open"
        );
    }
    assert!(!still_open.contains(&contested));
    let history = store::history(app.engine.db(), tasks[0].instance_id)
        .await
        .expect("history");
    assert_eq!(history.iter().filter(|h| h.trigger == "submit").count(), 1);
    if matches!(backend, Backend::Sqlite) {
        let stats = app.engine.commit_stats();
        assert!(
            stats.largest_batch >= 2,
            "writers queued together were committed together: {stats:?}"
        );
        assert!(stats.commits < stats.writers, "{stats:?}");
    }
}

/// A writer that wrote and then failed, or was cancelled, in a shared commit leaves nothing
/// behind and takes nobody's work with it; every writer that committed has its audit entry,
/// sealed at the batch's end with the others' into one chain. (That a part rolled back after
/// it deferred its entry leaves none is `committer`'s own test.)
async fn a_writer_failing_or_cancelled_after_writing_takes_only_its_own_work(backend: Backend) {
    use forlob_engine::audit::{AuditAction, AuditFilter, AuditRecord, AuditVerdict};
    use forlob_engine::runtime::BoxFuture;

    let app = Arc::new(TestApp::builder(backend.clone()).build().await);
    let writer = |app: Arc<TestApp>, id: String, fails: bool, slow: bool| async move {
        let target = id.clone();
        app.engine
            .audit()
            .recorded(
                &admin(),
                move |conn| -> BoxFuture<'_, forlob_engine::Result<()>> {
                    Box::pin(async move {
                        store::record_message(
                            conn,
                            &id,
                            "test.batch",
                            &json!({}),
                            "done",
                            at("2025-03-03T09:00:00Z"),
                        )
                        .await
                        .map_err(|e| EngineError::Store(forlob_engine::error::StoreError(e)))?;
                        if slow {
                            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                        }
                        if fails {
                            return Err(EngineError::Forbidden(
                                forlob_engine::message::Message::Written(
                                    "refused after writing".into(),
                                ),
                            ));
                        }
                        Ok(())
                    })
                },
                move |()| Some(AuditRecord::new(AuditAction::DeadLetterReplay).target(target)),
            )
            .await
    };
    let mut handles = Vec::new();
    for i in 0..24 {
        handles.push(tokio::spawn(writer(
            app.clone(),
            format!("m{i}"),
            i % 3 == 1,
            false,
        )));
    }
    // One that is cancelled while it holds its turn, with writers queued behind it.
    let cancelled = tokio::spawn(writer(app.clone(), "cancelled".into(), false, true));
    for i in 24..32 {
        handles.push(tokio::spawn(writer(
            app.clone(),
            format!("m{i}"),
            i % 3 == 1,
            false,
        )));
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    cancelled.abort();
    for (i, handle) in handles.into_iter().enumerate() {
        let result = handle.await.expect("joins");
        assert_eq!(result.is_err(), i % 3 == 1, "writer m{i}: {result:?}");
    }
    let _ = cancelled.await;
    for i in 0..32 {
        let kept = store::recorded_message(app.engine.db(), &format!("m{i}"))
            .await
            .expect("reads")
            .is_some();
        assert_eq!(
            kept,
            i % 3 != 1,
            "m{i}: only the failing writers' rows are gone"
        );
    }
    assert!(
        store::recorded_message(app.engine.db(), "cancelled")
            .await
            .expect("reads")
            .is_none(),
        "the cancelled writer was never answered, and its row was rolled back"
    );
    let recorded: std::collections::HashSet<String> = app
        .engine
        .audit()
        .audit_entries(
            &AuditFilter {
                action: Some(AuditAction::DeadLetterReplay.as_str().into()),
                limit: 100,
                ..AuditFilter::default()
            },
            &admin(),
            AuditAction::AuditRead,
        )
        .await
        .expect("reads the log")
        .into_iter()
        .filter_map(|e| e.target)
        .collect();
    let expected: std::collections::HashSet<String> = (0..32)
        .filter(|i| i % 3 != 1)
        .map(|i| format!("m{i}"))
        .collect();
    assert_eq!(
        recorded, expected,
        "only the committed writers are on record"
    );
    assert!(
        matches!(
            app.engine.audit().verify_audit().await.expect("verifies"),
            AuditVerdict::Intact { .. }
        ),
        "the entries sealed together form one chain"
    );
    if matches!(backend, Backend::Sqlite) {
        let stats = app.engine.commit_stats();
        assert!(stats.largest_batch >= 2, "{stats:?}");
    }
}

/// A flush's statements go to the database together (on SQLite as one text): an instance
/// changed since it was read fails the flush with a conflict naming that instance, also when
/// another instance of the same flush was current, and a current one is written with all its
/// rows.
async fn a_flush_names_the_instance_that_changed_since_it_was_read(backend: Backend) {
    use sea_orm::TransactionTrait;
    let app = TestApp::builder(backend).build().await;
    let mut rows = Vec::new();
    for subject in ["0101501234", "0202602345"] {
        let id = app
            .engine
            .commands()
            .start_instance("demo-move-out-human", subject, Map::new(), &system())
            .await
            .expect("starts");
        let (instance, parent_state) = store::instance(app.engine.db(), id)
            .await
            .expect("reads")
            .expect("exists");
        let mut row = store::InstanceRow::stored(instance, parent_state);
        row.variables = json!({ "flushed": true });
        rows.push(row);
    }
    let now = forlob_engine::Clock::now(app.clock.as_ref());
    let history = || forlob_engine::instance::HistoryEntry {
        from_state: Some("review".into()),
        to_state: "review".into(),
        trigger: "test".into(),
        actor: None,
        data: None,
        at: now,
    };
    let (current, stale) = (rows[0].clone(), {
        let mut stale = rows[1].clone();
        stale.row_version -= 1;
        stale
    });

    let txn = app.engine.db().begin().await.expect("begins");
    let mut writes = store::Writes::default();
    writes.instance(&current, now);
    writes.history(current.id, history());
    writes.instance(&stale, now);
    let error = writes
        .flush(&txn, now)
        .await
        .expect_err("the stale row conflicts");
    assert!(
        matches!(&error, EngineError::Transition(forlob_engine::error::TransitionError::Conflict { instance, .. }) if *instance == stale.id),
        "{error:?}"
    );
    txn.rollback().await.expect("rolls back");
    // The current row's update and history ran before the conflict was found: rolled back.
    let (unchanged, _) = store::instance(app.engine.db(), current.id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(unchanged.row_version, current.row_version);
    let history_before = store::history(app.engine.db(), current.id)
        .await
        .expect("history");
    assert!(history_before.iter().all(|h| h.trigger != "test"));

    let txn = app.engine.db().begin().await.expect("begins");
    let mut writes = store::Writes::default();
    writes.instance(&current, now);
    writes.history(current.id, history());
    writes
        .flush(&txn, now)
        .await
        .expect("a current row is written");
    txn.commit().await.expect("commits");
    let (after, _) = store::instance(app.engine.db(), current.id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(after.variables, json!({ "flushed": true }));
    assert_eq!(after.row_version, current.row_version + 1);
    let history = store::history(app.engine.db(), current.id)
        .await
        .expect("history");
    assert_eq!(history.last().map(|h| h.trigger.as_str()), Some("test"));
}

/// Statements run together keep their order and each its own bound values, and the first
/// failing one ends the run with its error.
async fn statements_run_together_keep_their_order_and_their_values(backend: Backend) {
    use sea_orm::Statement;
    use sea_orm::sea_query::{Alias, Expr, Query};
    let app = TestApp::builder(backend).build().await;
    let db = app.engine.db();
    let b = db.get_database_backend();
    let select = |n: i32, word: &str, extra: Option<&str>| {
        let mut query = Query::select();
        query
            .expr_as(Expr::val(n), "n")
            .expr_as(Expr::val(word), "word");
        if let Some(extra) = extra {
            query.expr_as(Expr::val(extra), "extra");
        }
        b.build(&query)
    };
    let rows = store::run_together(
        db,
        vec![
            select(1, "en", Some("ekstra")),
            select(2, "to", None),
            select(3, "tre", Some("mere")),
        ],
    )
    .await
    .expect("runs");
    let read: Vec<(i32, String)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get_by_index::<i32>(0).expect("n"),
                r.try_get_by_index::<String>(1).expect("word"),
            )
        })
        .collect();
    assert_eq!(
        read,
        [(1, "en".into()), (2, "to".into()), (3, "tre".into())]
    );
    // Outside a transaction each statement stands alone: the one before the failure is
    // kept, the one after it never ran.
    let event = |subject: &str| {
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new("events"))
            .columns(["subject", "process_id", "kind", "data", "at"].map(Alias::new))
            .values_panic([
                subject.into(),
                "test".into(),
                "run-together".into(),
                json!({}).into(),
                forlob_engine::Clock::now(app.clock.as_ref()).into(),
            ]);
        b.build(&insert)
    };
    let bad = Statement::from_string(b, "SELECT 1 FROM no_such_table");
    let error = store::run_together(db, vec![event("foer"), bad, event("efter")])
        .await
        .expect_err("a failing statement fails the run");
    assert!(error.to_string().contains("no_such_table"), "{error}");
    let events = |subject: &'static str| async move {
        store::events(db, subject).await.expect("events").len()
    };
    assert_eq!((events("foer").await, events("efter").await), (1, 0));
}

/// A start by hand is on record with its rows: one `instance.start` entry naming the new
/// instance, chained onto the log so that it verifies.
async fn a_start_is_audited_in_the_same_call_as_its_rows(backend: Backend) {
    let app = TestApp::builder(backend).build().await;
    let mut ids = Vec::new();
    for subject in ["0101501234", "0202602345"] {
        ids.push(
            app.engine
                .commands()
                .start_instance(
                    "demo-move-out",
                    subject,
                    form(&[("to", json!("147"))]),
                    &system(),
                )
                .await
                .expect("starts"),
        );
    }
    let entries = store::audit::audit_entries(
        app.engine.db(),
        &forlob_engine::audit::AuditFilter {
            action: Some("instance.start".into()),
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .expect("entries");
    let mut targets: Vec<String> = entries.iter().filter_map(|e| e.target.clone()).collect();
    targets.sort();
    let mut expected: Vec<String> = ids.iter().map(ToString::to_string).collect();
    expected.sort();
    assert_eq!(targets, expected);
    assert!(
        matches!(
            store::audit::verify_chain(app.engine.db(), 1000)
                .await
                .expect("verifies"),
            forlob_engine::audit::AuditVerdict::Intact { .. }
        ),
        "the chain holds"
    );
}

on_both_backends!(
    an_automatic_process_runs_to_its_end_with_a_history_row_per_state,
    a_flush_names_the_instance_that_changed_since_it_was_read,
    statements_run_together_keep_their_order_and_their_values,
    a_start_is_audited_in_the_same_call_as_its_rows,
    two_caseworkers_completing_one_task_get_one_success_and_one_conflict,
    a_wrong_form_gets_per_field_errors_and_changes_nothing,
    a_caseworker_of_another_municipality_cannot_see_that_a_task_exists,
    a_manual_start_is_refused_where_the_guard_says_no,
    a_message_is_applied_once_and_a_stray_one_becomes_a_dead_letter,
    a_message_for_an_unknown_subject_is_kept_as_a_dead_letter_and_a_start_is_refused,
    a_timer_due_while_down_fires_once_after_restart,
    a_timer_whose_register_is_down_waits_and_fires_when_it_is_back,
    a_node_runs_work_of_a_version_another_node_deployed,
    a_message_wakes_only_instances_whose_own_key_matches,
    two_nodes_sharing_one_database_fire_each_timer_exactly_once,
    advancing_the_clock_fires_timers_at_their_time_in_order,
    a_failing_step_is_retried_with_backoff_then_becomes_an_incident,
    a_failing_action_undoes_only_its_own_writes,
    an_admin_retries_an_incident_once_its_cause_is_mended,
    a_message_that_came_too_early_is_replayed_from_the_dead_letters,
    retrying_a_failed_entry_enters_the_state_again,
    an_admin_skips_a_failed_step_into_a_state_of_the_same_version,
    an_admin_cancels_an_instance_in_incident,
    an_incident_from_a_bad_variable_is_repaired_by_correcting_it,
    calls_and_follow_ups_start_their_own_instances_and_former_ids_route_to_the_new_process,
    an_invalid_definition_is_never_deployed_and_an_unchanged_one_keeps_its_version,
    a_signal_wakes_exactly_the_instances_waiting_with_its_key_in_the_senders_transaction,
    a_signal_wait_goes_on_at_its_deadline_and_a_late_signal_finds_nobody,
    a_signal_undone_with_its_failing_action_leaves_no_trace,
    an_instance_that_fails_on_its_way_from_a_signal_is_an_incident_and_the_sender_goes_on,
    an_instance_leaving_a_signal_wait_is_not_woken_by_its_own_next_step,
    a_nested_signal_moves_a_listed_waiter_on_and_the_outer_one_leaves_it_be,
    writers_at_once_fail_alone_and_race_cleanly_in_a_shared_commit,
    a_writer_failing_or_cancelled_after_writing_takes_only_its_own_work,
);

/// Whether a database error is worth another try is read from the database's own code, not
/// its wording: a row or file another transaction holds is; a broken unique key is not.
async fn a_lock_is_worth_another_try_and_a_broken_key_is_not(backend: Backend) {
    use forlob_engine::EngineOptions;
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let app = TestApp::builder(backend.clone()).build().await;
    let impatient = EngineOptions {
        busy_timeout: std::time::Duration::ZERO,
        ..EngineOptions::default()
    };
    let first = forlob_engine::runtime::connect(&app.db.url, &impatient)
        .await
        .expect("connects");
    let second = forlob_engine::runtime::connect(&app.db.url, &impatient)
        .await
        .expect("connects");
    first
        .execute_unprepared("CREATE TABLE probe (id INTEGER PRIMARY KEY)")
        .await
        .expect("a table");
    first
        .execute_unprepared("INSERT INTO probe (id) VALUES (1)")
        .await
        .expect("a row");
    let broken_key = first
        .execute_unprepared("INSERT INTO probe (id) VALUES (1)")
        .await
        .expect_err("the key is taken");
    assert!(!EngineError::from(broken_key).is_transient());

    let holder = first.begin().await.expect("begins");
    let locked = match backend {
        Backend::Sqlite => {
            holder
                .execute_unprepared("UPDATE probe SET id = 2")
                .await
                .expect("takes the write lock");
            second
                .execute_unprepared("UPDATE probe SET id = 3")
                .await
                .expect_err("SQLite is busy")
        }
        Backend::Postgres(_) => {
            holder
                .execute_unprepared("SELECT id FROM probe FOR UPDATE")
                .await
                .expect("locks the row");
            second
                .execute_unprepared("SELECT id FROM probe FOR UPDATE NOWAIT")
                .await
                .expect_err("the row is locked")
        }
    };
    assert!(EngineError::from(locked).is_transient());
    holder.rollback().await.expect("releases");
}

on_both_backends!(a_lock_is_worth_another_try_and_a_broken_key_is_not);

/// SQLite only: another process holding the write lock is what "locked" means there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_retried_then_refused_clearly_and_nothing_is_half_written() {
    use forlob_engine::{Engine, EngineOptions};
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let app = TestApp::builder(Backend::Sqlite).build().await;
    let options = EngineOptions {
        busy_timeout: std::time::Duration::from_millis(50),
        store_attempts: 3,
        ..EngineOptions::default()
    };
    let engine = Engine::start(&app.db.url, support::registry(), app.clock.clone(), options)
        .await
        .expect("starts");
    // Another writer holds the database.
    let other = forlob_engine::runtime::connect(&app.db.url, &EngineOptions::default())
        .await
        .expect("connects");
    let holder = other.begin().await.expect("begins");
    holder
        .execute_unprepared("DELETE FROM dead_letters")
        .await
        .expect("takes the write lock");

    let err = engine
        .commands()
        .start_instance("demo-move-out", "0101501234", Map::new(), &system())
        .await
        .expect_err("refused");
    assert!(
        matches!(err, EngineError::Unavailable { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(err.status(), 503);
    assert!(err.to_string().contains("nothing was changed"), "{err}");

    holder.rollback().await.expect("releases");
    assert!(
        store::instances(engine.db(), &InstanceFilter::default())
            .await
            .expect("reads")
            .is_empty(),
        "nothing half-written"
    );
    engine
        .commands()
        .start_instance("demo-move-out", "0101501234", Map::new(), &system())
        .await
        .expect("goes through once the lock is gone");
}

/// SQLite only: the writers of one node take turns before they take a connection, so none of
/// them waits in SQLite's busy handler (where it would hold a pooled connection the readers
/// need) and none fails as "busy" however short the busy timeout is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_of_one_node_take_turns_instead_of_failing_busy() {
    use forlob_engine::{Engine, EngineOptions};

    let app = TestApp::builder(Backend::Sqlite).build().await;
    let options = EngineOptions {
        busy_timeout: std::time::Duration::from_millis(1),
        store_attempts: 1,
        ..EngineOptions::default()
    };
    let engine = Arc::new(
        Engine::start(&app.db.url, support::registry(), app.clock.clone(), options)
            .await
            .expect("starts"),
    );
    let writers: Vec<_> = (0..40)
        .map(|i| {
            let engine = engine.clone();
            tokio::spawn(async move {
                engine
                    .commands()
                    .start_instance(
                        "demo-move-out",
                        &format!("01015{i:05}"),
                        Map::new(),
                        &system(),
                    )
                    .await
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("runs").expect("never busy");
    }
    let started = store::instances(engine.db(), &InstanceFilter::default())
        .await
        .expect("reads");
    assert_eq!(started.len(), 40);
}

/// A start whose guard reads a variable the caller did not give is the caller's to mend: 422
/// naming what is missing, not a 500.
async fn a_start_without_the_variables_its_guard_reads_is_refused_as_invalid(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_process(
            r#"
id: guarded-start
subject: demo-person
start:
  manual: { allowed: "vars.amount > 0" }
initial: done
states:
  done: { end: true }
"#,
        )
        .build()
        .await;
    // An admin: a caseworker would not see a subject no package vouches for.
    let err = app
        .engine
        .commands()
        .start_instance("guarded-start", "0101501234", Map::new(), &admin())
        .await
        .expect_err("refused");
    assert_eq!(err.status(), 422, "{err}");
    match err {
        EngineError::Invalid(fields) => {
            assert!(
                fields["variables"].to_string().contains("amount"),
                "{fields:?}"
            )
        }
        other => panic!("{other}"),
    }
    let vars: Map<String, Value> = [("amount".to_owned(), json!(5))].into_iter().collect();
    app.engine
        .commands()
        .start_instance("guarded-start", "0101501234", vars, &admin())
        .await
        .expect("starts with what it needs");
}

on_both_backends!(a_start_without_the_variables_its_guard_reads_is_refused_as_invalid);
