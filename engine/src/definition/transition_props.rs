//! Property tests of the pure transition function over random definitions and event
//! sequences: `apply` is deterministic, and no event leaves an instance holding what its
//! state does not wait for, nor resting in a wait without what wakes it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::definition::ProcessDefinition;
use crate::definition::StepKind;

/// The kinds a random state may have; the last state is always the end.
const KINDS: u8 = 8;

/// A definition of `kinds.len() + 1` states `s0..`, each of the kind its number says. Each
/// goes on to the next, so every state is reachable; decisions and forms may also go back or
/// ahead to the state `targets` names. `None` when the validator refuses it (a loop of
/// decisions that never waits).
fn definition(kinds: &[u8], targets: &[usize]) -> Option<ProcessDefinition> {
    let n = kinds.len() + 1;
    let target = |i: usize, k: usize| {
        if k == 0 {
            format!("s{}", i + 1)
        } else {
            format!("s{}", targets[i % targets.len()] % n)
        }
    };
    let mut yaml = String::from("id: random\nsubject: person\ninitial: s0\nstates:\n");
    for (i, kind) in kinds.iter().enumerate() {
        let (next, other) = (target(i, 0), target(i, 1));
        let body = match kind % KINDS {
            0 => format!(
                "automatic: {{ action: demo.record, input: {{ step: \"'x'\" }}, retry: {{ max: 2, backoff: PT1S }} }}\n    next: {next}"
            ),
            1 => format!(
                "automatic: {{ action: demo.record, input: {{ step: \"'x'\" }}, async: true }}\n    next: {next}"
            ),
            2 => format!(
                "manual:\n      title: \"t\"\n      form: {{ fields: [ {{ name: a, type: text }} ] }}\n    on:\n      submit: [ {{ when: \"vars.steps > 2\", goto: {other} }}, {{ goto: {next} }} ]"
            ),
            3 => format!(
                "decision:\n      - {{ when: \"vars.steps > 1\", goto: {other} }}\n      - {{ otherwise: {next} }}"
            ),
            4 => format!("wait: {{ after: PT1H }}\n    next: {next}"),
            5 => format!(
                "wait: {{ message: {{ type: ping, correlate: \"'k'\" }} }}\n    next: {next}"
            ),
            6 => format!(
                "wait: {{ signal: {{ name: ready, key: \"'k'\" }}, after: P1D }}\n    next: {next}"
            ),
            _ => format!("wait: {{ signal: {{ name: ready, key: \"'k'\" }} }}\n    next: {next}"),
        };
        yaml.push_str(&format!("  s{i}:\n    {body}\n"));
    }
    yaml.push_str(&format!("  s{}: {{ end: true }}\n", n - 1));
    crate::definition::load("random.yaml", &yaml, &crate::demo::registry()).ok()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-06-02T09:00:00+02:00")
        .expect("instant")
        .with_timezone(&Utc)
}

/// What an instance holds after `effects`, given what it held.
fn after(mut held: BTreeSet<Holding>, effects: &[Effect]) -> BTreeSet<Holding> {
    for effect in effects {
        if let Effect::Release { holding, .. } = effect {
            held.remove(holding);
        }
        held.extend(effect.makes());
    }
    held
}

/// What wakes an instance resting in `state`: it must hold it, or it waits forever.
fn wakers(state: &State) -> Vec<Holding> {
    match &state.kind {
        StepKind::Manual(_) => vec![Holding::Task],
        StepKind::Wait(_) | StepKind::Automatic(_) => state.kind.holdings().to_vec(),
        StepKind::Decision(_) | StepKind::Call(_) | StepKind::End(_) => Vec::new(),
    }
}

/// The next event as the engine would deliver it: an inline action's outcome right after it
/// was asked for, else something that exists to wake the instance (the worker runs only due
/// work that is there, a person completes only an open task), or an admin's move.
fn next_event(held: &BTreeSet<Holding>, ran_action: bool, choice: u8, n: usize) -> Event {
    if ran_action {
        return if choice.is_multiple_of(3) {
            Event::ActionFailed {
                error: "boom".into(),
                retryable: choice.is_multiple_of(2),
                attempt: 1,
            }
        } else {
            Event::ActionCompleted {
                output: json!({ "steps": choice % 4 }),
            }
        };
    }
    let mut possible: Vec<Event> = held
        .iter()
        .map(|h| match h {
            Holding::Task => Event::Submitted {
                form: Map::new(),
                actor: Actor::caseworker("c", "101"),
            },
            Holding::Work(WorkKind::Timer) => Event::TimerFired,
            Holding::Work(WorkKind::Step) => Event::StepDue { attempt: 1 },
            Holding::Subscription if choice.is_multiple_of(2) => {
                Event::MessageReceived { msg: json!({}) }
            }
            Holding::Subscription => Event::Signalled { data: json!({}) },
        })
        .collect();
    possible.push(Event::Moved {
        to: format!("s{}", usize::from(choice) % n),
    });
    possible.swap_remove(usize::from(choice) % possible.len())
}

/// What the entry point that delivers `event` uses up before the transition runs.
fn used_up(held: &mut BTreeSet<Holding>, event: &Event) {
    match event {
        Event::Submitted { .. } => {
            held.remove(&Holding::Task);
        }
        Event::TimerFired => {
            held.remove(&Holding::Work(WorkKind::Timer));
        }
        Event::StepDue { .. } => {
            held.remove(&Holding::Work(WorkKind::Step));
        }
        Event::Restarted { .. } => held.clear(),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn apply_is_deterministic_and_never_holds_what_the_state_does_not_wait_for(
        kinds in prop::collection::vec(0..KINDS, 1..7),
        targets in prop::collection::vec(0usize..8, 2..16),
        choices in prop::collection::vec(any::<u8>(), 1..40),
    ) {
        let Some(def) = definition(&kinds, &targets) else {
            return Ok(());
        };
        let n = kinds.len() + 1;
        let mut state = String::new();
        let mut vars = Map::new();
        let mut held = BTreeSet::new();
        let mut event = Event::Start;
        for choice in choices {
            let snapshot = Snapshot {
                state: state.clone(),
                vars: vars.clone(),
                subject: json!({ "id": "0101501234" }).into(),
                now: now(),
                references: Value::Object(Map::new()).into(),
            };
            used_up(&mut held, &event);
            let first = apply(&def, &snapshot, event.clone());
            let again = apply(&def, &snapshot, event.clone());
            prop_assert_eq!(format!("{first:?}"), format!("{again:?}"), "apply is deterministic");
            let Ok(t) = first else {
                // Refused: nothing changed, and the engine would not have sent it.
                break;
            };
            held = after(held, &t.effects);
            let ran_action = t.effects.iter().any(|e| matches!(e, Effect::RunAction { .. }));
            let rests_in = def.state(&t.state).expect("a state of the definition");
            let allowed: BTreeSet<Holding> = rests_in.kind.holdings().iter().copied().collect();
            prop_assert!(
                held.is_subset(&allowed),
                "in `{}` ({:?}) it holds {:?}; effects {:?}",
                t.state, rests_in.kind, held, t.effects
            );
            if t.status == InstanceStatus::Active && !ran_action {
                for waker in wakers(rests_in) {
                    prop_assert!(
                        held.contains(&waker),
                        "resting in `{}` without {:?}: stuck", t.state, waker
                    );
                }
            }
            if t.status != InstanceStatus::Active {
                break;
            }
            state = t.state;
            vars = t.vars;
            event = next_event(&held, ran_action, choice, n);
        }
    }
}
