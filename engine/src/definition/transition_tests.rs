//! Table tests of the pure transition function: every accepted (state, event) pair and the
//! pairs that must be refused.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::*;
use crate::definition::StepKind;
use crate::definition::{ProcessDefinition, load};

const YAML: &str = r#"
id: table
subject: person
initial: work
states:
  work:
    automatic: { action: demo.record, input: { step: "'work'" }, retry: { max: 3, backoff: PT10S } }
    emit: [ { kind: started, data: { who: "subject.id" } }, { kind: never, when: "1 > 2" } ]
    next: route
  route:
    decision:
      - { when: "vars.steps > 5", goto: done }
      - { otherwise: review }
  review:
    manual:
      title: "Review {{subject.id}}"
      assign: { municipality: "'101'" }
      due: P5D
      form: { fields: [ { name: answer, type: choice, options: [yes, no], required: true } ] }
    on:
      submit:
        - { when: "form.answer == 'no'", goto: done }
        - { goto: pause }
  pause:
    wait: { after: P1D }
    next: listen
  listen:
    wait: { message: { type: ping, correlate: "msg.id" } }
    next: child
  child:
    call: { process: other }
    next: done
  done: { end: true }
"#;

fn def() -> ProcessDefinition {
    let other = "id: other\ninitial: e\nstates:\n  e: { end: true }\n";
    let files = [
        crate::definition::SourceFile {
            path: "t.yaml".into(),
            text: YAML.into(),
        },
        crate::definition::SourceFile {
            path: "o.yaml".into(),
            text: other.into(),
        },
    ];
    let _ = load;
    crate::definition::load_set(&files, &crate::demo::registry())
        .expect("valid table definition")
        .remove(0)
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-06-02T09:00:00+02:00")
        .expect("instant")
        .with_timezone(&Utc)
}

fn snap(state: &str, vars: Value) -> Snapshot {
    Snapshot {
        state: state.into(),
        vars: match vars {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        subject: json!({ "id": "0101501234" }).into(),
        now: now(),
        references: json!({}).into(),
    }
}

fn form(answer: &str) -> Event {
    Event::Submitted {
        form: [("answer".to_owned(), json!(answer))].into_iter().collect(),
        actor: Actor::caseworker("cw", "101"),
    }
}

#[test]
fn accepted_pairs_lead_where_the_definition_says() {
    let def = def();
    let cases: Vec<(&str, Value, Event, &str, InstanceStatus)> = vec![
        ("", json!({}), Event::Start, "work", InstanceStatus::Active),
        (
            "work",
            json!({}),
            Event::ActionCompleted {
                output: json!({"steps": 1}),
            },
            "review",
            InstanceStatus::Active,
        ),
        (
            "work",
            json!({}),
            Event::ActionCompleted {
                output: json!({"steps": 9}),
            },
            "done",
            InstanceStatus::Completed,
        ),
        (
            "review",
            json!({}),
            form("no"),
            "done",
            InstanceStatus::Completed,
        ),
        (
            "review",
            json!({}),
            form("yes"),
            "pause",
            InstanceStatus::Active,
        ),
        (
            "pause",
            json!({}),
            Event::TimerFired,
            "listen",
            InstanceStatus::Active,
        ),
        (
            "listen",
            json!({}),
            Event::MessageReceived {
                msg: json!({"id": "0101501234"}),
            },
            "child",
            InstanceStatus::Active,
        ),
        (
            "child",
            json!({}),
            Event::ChildCompleted,
            "done",
            InstanceStatus::Completed,
        ),
        (
            "work",
            json!({}),
            Event::StepDue { attempt: 2 },
            "work",
            InstanceStatus::Active,
        ),
    ];
    for (state, vars, event, to, status) in cases {
        let label = format!("{state} + {}", event.trigger());
        let t = apply(&def, &snap(state, vars), event).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(t.state, to, "{label}");
        assert_eq!(t.status, status, "{label}");
    }
}

#[test]
fn refused_pairs_are_typed_errors() {
    let def = def();
    let cases: Vec<(&str, Event)> = vec![
        ("work", Event::Start),
        ("work", form("yes")),
        ("work", Event::TimerFired),
        ("review", Event::TimerFired),
        ("review", Event::ActionCompleted { output: json!({}) }),
        ("pause", form("yes")),
        ("pause", Event::MessageReceived { msg: json!({}) }),
        ("listen", Event::TimerFired),
        ("done", Event::TimerFired),
        ("child", Event::TimerFired),
        ("nowhere", Event::TimerFired),
    ];
    for (state, event) in cases {
        let label = format!("{state} + {}", event.trigger());
        match apply(&def, &snap(state, json!({})), event) {
            Err(TransitionError::NotAccepted { .. }) => {}
            other => panic!("{label} must be refused, got {other:?}"),
        }
    }
}

#[test]
fn start_runs_entry_work_and_asks_for_the_action() {
    let t = apply(&def(), &snap("", json!({})), Event::Start).expect("starts");
    assert_eq!(
        t.moves,
        vec![Move {
            from: None,
            to: "work".into(),
            trigger: "start"
        }]
    );
    assert_eq!(
        t.effects[0],
        Effect::Emit {
            kind: "started".into(),
            data: json!({"who": "0101501234"})
        }
    );
    assert!(
        matches!(&t.effects[1], Effect::RunAction { action, attempt: 1, .. } if action == "demo.record")
    );
}

#[test]
fn a_chain_through_a_decision_records_every_move() {
    let t = apply(
        &def(),
        &snap("work", json!({})),
        Event::ActionCompleted {
            output: json!({"steps": 1}),
        },
    )
    .expect("moves");
    let path: Vec<(&str, &str)> = t.moves.iter().map(|m| (m.to.as_str(), m.trigger)).collect();
    assert_eq!(path, vec![("route", "action"), ("review", "decision")]);
    let Effect::CreateTask {
        municipality,
        due_at,
        ..
    } = &t.effects[0]
    else {
        panic!("a task is created: {:?}", t.effects);
    };
    assert_eq!(municipality.as_deref(), Some("101"));
    assert_eq!(*due_at, Some(now() + chrono::Duration::days(5)));
}

#[test]
fn a_retryable_failure_schedules_the_next_attempt_with_backoff_then_an_incident() {
    let def = def();
    let fail = |attempt| Event::ActionFailed {
        error: "register down".into(),
        retryable: true,
        attempt,
    };
    let t = apply(&def, &snap("work", json!({})), fail(1)).expect("retries");
    assert_eq!(
        t.effects,
        vec![Effect::ScheduleStep {
            state: "work".into(),
            at: now() + chrono::Duration::seconds(10),
            attempt: 2
        }]
    );
    let t = apply(&def, &snap("work", json!({})), fail(2)).expect("retries");
    assert_eq!(
        t.effects,
        vec![Effect::ScheduleStep {
            state: "work".into(),
            at: now() + chrono::Duration::seconds(20),
            attempt: 3
        }]
    );
    let t = apply(&def, &snap("work", json!({})), fail(3)).expect("gives up");
    assert_eq!(t.status, InstanceStatus::Incident);
    assert!(matches!(
        &t.effects[0],
        Effect::Incident { attempts: 3, .. }
    ));
}

#[test]
fn a_permanent_failure_is_an_incident_at_once() {
    let event = Event::ActionFailed {
        error: "bad input".into(),
        retryable: false,
        attempt: 1,
    };
    let t = apply(&def(), &snap("work", json!({})), event).expect("incident");
    assert_eq!(t.status, InstanceStatus::Incident);
}

#[test]
fn submitted_form_values_become_variables() {
    let t = apply(&def(), &snap("review", json!({})), form("yes")).expect("moves");
    assert_eq!(t.vars.get("answer"), Some(&json!("yes")));
    assert_eq!(
        t.effects,
        vec![Effect::ScheduleTimer {
            state: "pause".into(),
            at: now() + chrono::Duration::days(1)
        }]
    );
}

#[test]
fn a_message_wait_subscribes_with_the_instance_key() {
    let t = apply(&def(), &snap("pause", json!({})), Event::TimerFired).expect("moves");
    assert_eq!(
        t.effects,
        vec![Effect::Subscribe {
            state: "listen".into(),
            message_type: "ping".into(),
            key: "0101501234".into()
        }]
    );
}

#[test]
fn a_failing_guard_becomes_an_incident_not_a_panic() {
    // `vars.steps` is absent: the decision's guard cannot be evaluated.
    let t = apply(
        &def(),
        &snap("work", json!({})),
        Event::ActionCompleted { output: json!({}) },
    )
    .expect("incident");
    assert_eq!(t.status, InstanceStatus::Incident);
    assert_eq!(t.state, "route");
}

#[test]
fn the_subject_is_needed_only_up_to_the_next_waiting_state() {
    let yaml = r#"
id: lazy
initial: first
states:
  first:
    automatic: { action: demo.record }
    next: route
  route:
    decision: [ { when: "vars.x == 1", goto: greet }, { otherwise: quiet } ]
  greet:
    manual: { title: "Hello {{subject.name}}", form: { fields: [] } }
    on: { submit: [ { goto: quiet } ] }
  quiet:
    wait: { after: P1D }
    next: done
  done: { end: true }
"#;
    let def = crate::definition::load("lazy.yaml", yaml, &crate::demo::registry()).expect("valid");
    assert!(
        def.subject_needed(""),
        "a new instance may reach the greeting through the decision"
    );
    assert!(
        def.subject_needed("first"),
        "after the action the decision may lead to the greeting"
    );
    assert!(
        !def.subject_needed("quiet"),
        "nothing after the timer reads the subject"
    );
    assert!(def.subject_needed("greet"));
}

#[test]
fn an_admin_move_enters_the_target_with_its_entry_work_and_refuses_unknown_states() {
    let def = def();
    let t = apply(
        &def,
        &snap("work", json!({})),
        Event::Moved {
            to: "review".into(),
        },
    )
    .expect("moved");
    assert_eq!(t.state, "review");
    assert_eq!(t.moves.len(), 1);
    assert_eq!(t.moves[0].trigger, "skip");
    assert!(
        t.effects
            .iter()
            .any(|e| matches!(e, Effect::CreateTask { .. })),
        "entering a manual state creates its task"
    );
    let refused = apply(
        &def,
        &snap("work", json!({})),
        Event::Moved {
            to: "nowhere".into(),
        },
    );
    assert!(matches!(refused, Err(TransitionError::UnknownState { .. })));
}

/// A state and what it gave up.
type Released = (String, Holding);

/// The releases a transition asks for, in order.
fn releases(t: &Transition) -> Vec<Released> {
    t.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Release { state, holding } => Some((state.clone(), *holding)),
            _ => None,
        })
        .collect()
}

#[test]
fn leaving_a_state_gives_up_what_it_held_but_what_the_event_used_up() {
    let def = def();
    let task = |s: &str| (s.to_owned(), Holding::Task);
    let timer = |s: &str| (s.to_owned(), Holding::Work(WorkKind::Timer));
    let step = |s: &str| (s.to_owned(), Holding::Work(WorkKind::Step));
    let subscription = |s: &str| (s.to_owned(), Holding::Subscription);
    let cases: Vec<(&str, Event, Vec<Released>)> = vec![
        // The command closed the submitted task; the worker deletes the timer it ran.
        ("review", form("yes"), vec![]),
        ("pause", Event::TimerFired, vec![]),
        // A message leaves its subscription behind until the wait is left.
        (
            "listen",
            Event::MessageReceived {
                msg: json!({ "id": 1 }),
            },
            vec![subscription("listen")],
        ),
        // An admin's move takes the instance out of whatever it waited for.
        (
            "review",
            Event::Moved { to: "done".into() },
            vec![task("review")],
        ),
        (
            "pause",
            Event::Moved { to: "done".into() },
            vec![timer("pause")],
        ),
        (
            "work",
            Event::Moved { to: "done".into() },
            vec![step("work")],
        ),
        // Moved into the state it is in: the old holding goes before the new one comes.
        (
            "review",
            Event::Moved {
                to: "review".into(),
            },
            vec![task("review")],
        ),
        // A migration took the holdings itself, to keep them for an undo.
        (
            "review",
            Event::Restarted {
                to: "done".into(),
                audit: json!({}),
            },
            vec![],
        ),
        // Decisions and calls hold nothing.
        ("child", Event::ChildCompleted, vec![]),
    ];
    for (state, event, want) in cases {
        let trigger = event.trigger();
        let t = apply(&def, &snap(state, json!({ "steps": 1 })), event).expect("accepted");
        assert_eq!(releases(&t), want, "{state} on {trigger}");
        // Releases come before anything the states entered afterwards ask for.
        let first_other = t
            .effects
            .iter()
            .position(|e| !matches!(e, Effect::Release { .. }))
            .unwrap_or(t.effects.len());
        assert!(
            t.effects[first_other..]
                .iter()
                .all(|e| !matches!(e, Effect::Release { .. })),
            "{state} on {trigger}: {:?}",
            t.effects
        );
    }
}

#[test]
fn a_signal_wait_gives_up_its_deadline_when_signalled_and_its_subscription_at_the_deadline() {
    let yaml = r#"
id: signalled
initial: waiting
states:
  waiting:
    wait: { signal: { name: ready, key: "'k'" }, after: P1D }
    next: done
  done: { end: true }
"#;
    let def = crate::definition::load("s.yaml", yaml, &crate::demo::registry()).expect("valid");
    let signalled = apply(
        &def,
        &snap("waiting", json!({})),
        Event::Signalled { data: json!({}) },
    )
    .expect("accepted");
    assert_eq!(
        releases(&signalled),
        vec![
            ("waiting".to_owned(), Holding::Subscription),
            ("waiting".to_owned(), Holding::Work(WorkKind::Timer)),
        ]
    );
    let timed_out = apply(&def, &snap("waiting", json!({})), Event::TimerFired).expect("accepted");
    assert_eq!(
        releases(&timed_out),
        vec![("waiting".to_owned(), Holding::Subscription)]
    );
}

/// One state of each kind, and of each kind of wait: `(id, body, diagram word, entry effect)`.
const KIND_SAMPLES: &[(&str, &str, &str, &str)] = &[
    (
        "auto",
        "automatic: { action: demo.record, input: { step: \"'a'\" } }\n    next: done",
        "automatic",
        "RunAction",
    ),
    (
        "later",
        "automatic: { action: demo.record, input: { step: \"'a'\" }, async: true }\n    next: done",
        "automatic",
        "ScheduleStep",
    ),
    (
        "person",
        "manual:\n      title: \"t\"\n      form: { fields: [ { name: a, type: text } ] }\n    on: { submit: [ { goto: done } ] }",
        "manual",
        "CreateTask",
    ),
    (
        "pick",
        "decision: [ { otherwise: done } ]",
        "decision",
        "Complete",
    ),
    (
        "pause",
        "wait: { after: PT1H }\n    next: done",
        "timer",
        "ScheduleTimer",
    ),
    (
        "until",
        "wait: { until: \"'2030-01-01'\" }\n    next: done",
        "timer",
        "ScheduleTimer",
    ),
    (
        "letter",
        "wait: { message: { type: ping, correlate: \"'k'\" } }\n    next: done",
        "wait for ping",
        "Subscribe",
    ),
    (
        "nudge",
        "wait: { signal: { name: go, key: \"'k'\" } }\n    next: done",
        "wait for signal go",
        "Subscribe",
    ),
    (
        "nudge-or-day",
        "wait: { signal: { name: go, key: \"'k'\" }, after: P1D }\n    next: done",
        "wait for signal go",
        "Subscribe",
    ),
    (
        "child",
        "call: { process: other }\n    next: done",
        "call",
        "StartChild",
    ),
    ("done", "end: true", "end", "Complete"),
];

/// Which kind a state is, as a number; a match without a catch-all, so a new kind does not
/// compile until it has a sample above.
fn kind_index(kind: &StepKind) -> usize {
    match kind {
        StepKind::Automatic(_) => 0,
        StepKind::Manual(_) => 1,
        StepKind::Decision(_) => 2,
        StepKind::Wait(_) => 3,
        StepKind::Call(_) => 4,
        StepKind::End(_) => 5,
    }
}

#[test]
fn every_step_kind_is_known_to_the_validator_the_diagram_the_rest_comparison_and_the_transition() {
    let mut yaml = String::from("id: kinds\ninitial: start\nstates:\n  start:\n    decision:\n");
    for (id, ..) in KIND_SAMPLES {
        yaml.push_str(&format!(
            "      - {{ when: \"vars.pick == '{id}'\", goto: {id} }}\n"
        ));
    }
    yaml.push_str("      - { otherwise: done }\n");
    for (id, body, ..) in KIND_SAMPLES {
        yaml.push_str(&format!("  {id}:\n    {body}\n"));
    }
    let files = [
        crate::definition::SourceFile {
            path: "kinds.yaml".into(),
            text: yaml,
        },
        crate::definition::SourceFile {
            path: "other.yaml".into(),
            text: "id: other\ninitial: e\nstates:\n  e: { end: true }\n".into(),
        },
    ];
    // The validator takes every kind.
    let def = crate::definition::load_set(&files, &crate::demo::registry())
        .expect("every kind validates")
        .remove(0);
    let diagram = def.mermaid();
    let catalog = crate::catalog::Catalog::default();
    let mut kinds = std::collections::BTreeSet::new();
    let mut rests = Vec::new();
    for (id, _, word, entry) in KIND_SAMPLES {
        let state = def.state(id).expect("sampled");
        kinds.insert(kind_index(&state.kind));
        // The diagram names the kind.
        let node = id.replace('-', "_");
        assert!(
            diagram.contains(&format!("    {node} : {id} "))
                && diagram
                    .lines()
                    .any(|l| l.starts_with(&format!("    {node} : ")) && l.contains(word)),
            "{id} in the diagram as {word}:\n{diagram}"
        );
        // The executor enters it with its effect, and what it holds is what entering made.
        let t = apply(
            &def,
            &snap("", json!({})),
            Event::Moved { to: (*id).into() },
        )
        .expect("entered");
        let names: Vec<String> = t
            .effects
            .iter()
            .map(|e| {
                format!("{e:?}")
                    .split([' ', '{', '('])
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        assert!(
            names.iter().any(|n| n == entry),
            "{id} entered with {entry}: {names:?}"
        );
        let made: std::collections::BTreeSet<Holding> =
            t.effects.iter().filter_map(Effect::makes).collect();
        let rests_in = def.state(&t.state).expect("a state");
        let held: std::collections::BTreeSet<Holding> =
            rests_in.kind.holdings().iter().copied().collect();
        if !matches!(&rests_in.kind, StepKind::Automatic(a) if !a.run_async) {
            assert_eq!(made, held, "{id}: entering makes what resting there holds");
        }
        rests.push((id, crate::release::RestKind::of(state, &catalog)));
    }
    assert_eq!(kinds.len(), 6, "a sample of every kind");
    // The rest comparison tells every sample apart but those that rest alike.
    for (i, (a, ra)) in rests.iter().enumerate() {
        for (b, rb) in &rests[i + 1..] {
            let alike = ["auto", "later"].contains(a) && ["auto", "later"].contains(b)
                || ["pause", "until"].contains(a) && ["pause", "until"].contains(b);
            assert_eq!(ra == rb, alike, "{a} and {b} rest alike: {alike}");
        }
    }
}
