//! What a scenario expects to find, the engine's kinds and the helpers packages' kinds use.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::runtime::Engine;
use crate::store::{self, InstanceFilter, TaskFilter};

use super::format::{Expected, shorten};

/// Codes and ids are compared as text: YAML writes `101` and `"101"` alike.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_instant(value: &Value) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(&value_text(value))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{value}` is not an RFC 3339 date-time"))
}

pub(super) fn describe_tasks(tasks: &[crate::instance::Task]) -> String {
    if tasks.is_empty() {
        return "none".into();
    }
    tasks
        .iter()
        .map(|t| {
            format!(
                "{}@{} ({})",
                t.kind,
                t.municipality.clone().unwrap_or_default(),
                t.subject
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks every expectation and reports all that fail, each with its line when known.
pub(super) async fn check_all(
    engine: &Engine,
    expectations: &[(&Expected, Option<(u64, u64)>)],
) -> Result<(), String> {
    let mut failures = Vec::new();
    for &(expectation, at) in expectations {
        let place = at.map_or_else(String::new, |(line, _)| format!("line {line}: "));
        for (kind, spec) in expectation {
            if let Err(e) = check(engine, kind, spec).await {
                failures.push(format!("{place}{kind} {}: {e}", shorten(&spec.to_string())));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n    "))
    }
}

/// `count` is exact when given; otherwise at least one must match. For packages' expectations too.
pub fn count_matches(found: usize, spec: &Value) -> Result<(), String> {
    match spec.get("count").and_then(Value::as_u64) {
        Some(n) if found as u64 != n => Err(format!("expected {n}, found {found}")),
        None if found == 0 => Err("expected at least one, found none".into()),
        _ => Ok(()),
    }
}

/// An expectation is a mapping of only the keys its kind understands: a key it would ignore
/// (a typo) would let a wrong test pass. For packages' expectations too.
pub fn require_keys(spec: &Value, understood: &[&str]) -> Result<(), String> {
    let Value::Object(map) = spec else {
        return Err("an expectation is a mapping of keys to values".into());
    };
    match map.keys().find(|k| !understood.contains(&k.as_str())) {
        Some(unknown) => Err(format!(
            "unknown key `{unknown}`; understood: {}",
            understood.join(", ")
        )),
        None => Ok(()),
    }
}

/// Whether `actual` is what `spec[key]` asks for; a key the spec leaves out matches anything.
pub fn field_matches(spec: &Value, key: &str, actual: Option<&str>) -> bool {
    spec.get(key)
        .is_none_or(|want| actual == Some(value_text(want).as_str()))
}

/// The keys each built-in expectation understands; any other key is a mistake in the
/// scenario, and silently ignoring it would let a wrong test pass.
const EXPECTATION_KEYS: &[(&str, &[&str])] = &[
    (
        "task",
        &[
            "municipality",
            "kind",
            "subject",
            "status",
            "process",
            "count",
        ],
    ),
    ("event", &["subject", "kind", "count"]),
    (
        "instance",
        &["process", "version", "subject", "state", "status", "count"],
    ),
    ("dead_letter", &["type", "message_id", "count"]),
    ("incident", &["state", "count"]),
    (
        "logbook",
        &["process", "status", "trigger", "fired", "counts", "count"],
    ),
];

async fn check(engine: &Engine, kind: &str, spec: &Value) -> Result<(), String> {
    let db = engine.db();
    if let Some((_, keys)) = EXPECTATION_KEYS.iter().find(|(k, _)| *k == kind) {
        require_keys(spec, keys)?;
    }
    match kind {
        "task" => {
            let tasks = store::tasks(
                db,
                &TaskFilter {
                    limit: Some(100_000),
                    ..TaskFilter::default()
                },
            )
            .await
            .map_err(|e| e.to_string())?;
            let matching = tasks
                .iter()
                .filter(|t| {
                    field_matches(spec, "municipality", t.municipality.as_deref())
                        && field_matches(spec, "kind", Some(&t.kind))
                        && field_matches(spec, "subject", Some(&t.subject))
                        && field_matches(spec, "status", Some(t.status.as_str()))
                        && field_matches(spec, "process", Some(&t.process_id))
                })
                .count();
            count_matches(matching, spec)
                .map_err(|e| format!("{e}; tasks present: {}", describe_tasks(&tasks)))
        }
        "event" => {
            let subject = spec
                .get("subject")
                .map(value_text)
                .ok_or("event needs `subject`")?;
            let events = store::events(db, &subject)
                .await
                .map_err(|e| e.to_string())?;
            let matching = events
                .iter()
                .filter(|e| field_matches(spec, "kind", Some(&e.kind)))
                .count();
            let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
            count_matches(matching, spec)
                .map_err(|e| format!("{e}; timeline: [{}]", kinds.join(", ")))
        }
        "instance" => {
            let filter = InstanceFilter {
                process_id: spec.get("process").map(value_text),
                subject: spec.get("subject").map(value_text),
                limit: Some(100_000),
                ..InstanceFilter::default()
            };
            let instances = store::instances(db, &filter)
                .await
                .map_err(|e| e.to_string())?;
            let matching = instances
                .iter()
                .filter(|i| {
                    field_matches(spec, "state", Some(&i.state))
                        && field_matches(spec, "status", Some(i.status.as_str()))
                        && field_matches(spec, "version", Some(&i.version.to_string()))
                })
                .count();
            let found: Vec<String> = instances
                .iter()
                .map(|i| {
                    format!(
                        "{} v{}:{} ({})",
                        i.process_id,
                        i.version,
                        i.state,
                        i.status.as_str()
                    )
                })
                .collect();
            count_matches(matching, spec)
                .map_err(|e| format!("{e}; instances: [{}]", found.join(", ")))
        }
        "dead_letter" => {
            let letters = store::dead_letters(db).await.map_err(|e| e.to_string())?;
            let matching = letters
                .iter()
                .filter(|l| {
                    field_matches(spec, "type", Some(&l.message_type))
                        && field_matches(spec, "message_id", l.message_id.as_deref())
                })
                .count();
            count_matches(matching, spec)
        }
        "incident" => {
            let incidents = store::incidents(db, true)
                .await
                .map_err(|e| e.to_string())?;
            let matching = incidents
                .iter()
                .filter(|i| field_matches(spec, "state", Some(&i.state)))
                .count();
            count_matches(matching, spec)
        }
        "logbook" => {
            let filter = crate::jobs::LogbookFilter {
                process: spec.get("process").map(value_text),
                limit: 10_000,
                ..crate::jobs::LogbookFilter::default()
            };
            let runs = engine
                .jobs()
                .logbook(&filter)
                .await
                .map_err(|e| e.to_string())?;
            let matching = runs
                .iter()
                .filter(|r| {
                    field_matches(spec, "status", Some(r.status.as_str()))
                        && field_matches(spec, "trigger", Some(&r.trigger))
                        && spec.get("fired").is_none_or(|want| {
                            parse_instant(want).is_ok_and(|want| want == r.fire_at)
                        })
                        && spec
                            .get("counts")
                            .and_then(Value::as_object)
                            .is_none_or(|want| want.iter().all(|(k, n)| r.counts.get(k) == Some(n)))
                })
                .count();
            let found: Vec<String> = runs
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {} {}",
                        r.process,
                        r.fire_at.to_rfc3339(),
                        r.status.as_str(),
                        Value::Object(r.counts.clone())
                    )
                })
                .collect();
            count_matches(matching, spec)
                .map_err(|e| format!("{e}; logbook: [{}]", found.join(", ")))
        }
        other => {
            let expectation = engine
                .registry()
                .expectation(other)
                .ok_or_else(|| "unknown expectation kind; the engine has task, event, instance, dead_letter, incident, logbook".to_owned())?;
            expectation.check(db, spec, engine.clock().now()).await
        }
    }
}
