//! Scenario files (`forlob test`): a business rule as a story with a clock.
//!
//! Each scenario runs on a fresh in-memory database with the manual clock: `given` loads
//! fixtures, `steps` deliver messages, start processes, complete tasks and move the clock (all
//! that falls due on the way runs, in time order), and `expect` checks the outcome. Packages
//! add fixture kinds (`persons`) and expectation kinds (`handlekommune`) through the registry.

use std::collections::hash_map::Entry;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait as _;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::clock::ManualClock;
use crate::definition::SourceFile;
use crate::error::EngineError;
use crate::instance::Actor;
use crate::registry::Registry;
use crate::runtime::{Engine, EngineOptions, InboundMessage};
use crate::store::{self, InstanceFilter, TaskFilter};

/// What packages plug into scenarios; defined with the rest of what they plug in.
pub use crate::registry::{Expectation, Fixture};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    scenario: String,
    clock: DateTime<chrono::FixedOffset>,
    /// Definitions of the release running before the package's, deployed at the start
    /// instead of the package (paths relative to the scenario file); a `deploy: package`
    /// step deploys the package later, as a release would.
    #[serde(default)]
    previous_release: Vec<String>,
    #[serde(default)]
    given: Map<String, Value>,
    #[serde(default)]
    steps: Vec<Value>,
    #[serde(default)]
    expect: Vec<Value>,
}

/// The result of one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub file: String,
    pub name: String,
    pub failure: Option<String>,
    /// The part that failed (`file`, `given`, `step 3`, `expect`); none when it passed.
    pub failed_at: Option<String>,
    /// What ran, in order, with the transitions each part made: the designer's view of the
    /// story up to where it failed.
    pub timeline: Vec<Moment>,
}

impl ScenarioResult {
    /// A scenario that did not get to run: `failure` says why.
    pub fn not_run(file: &SourceFile, part: &str, failure: String) -> Self {
        Self {
            file: file.path.clone(),
            name: file.path.clone(),
            failure: Some(failure),
            failed_at: Some(part.to_owned()),
            timeline: Vec::new(),
        }
    }
}

/// One part of a scenario as it ran: its fixtures, a step, the due work after the last step
/// (`settle`), or its expectations.
#[derive(Debug, Clone)]
pub struct Moment {
    /// `given`, `step 3`, `settle` or `expect`.
    pub part: String,
    /// The part as written, shortened.
    pub what: String,
    /// The scenario's clock when the part began.
    pub at: DateTime<Utc>,
    /// Why the part failed; none when it did what it said.
    pub failure: Option<String>,
    /// The instances' transitions the part made, in order, at most [`MAX_TOLD_TRANSITIONS`].
    pub transitions: Vec<Transition>,
    /// How many more transitions the part made than are told.
    pub left_out: usize,
}

/// A part's transitions told at most: a daily run over a register makes thousands.
pub const MAX_TOLD_TRANSITIONS: usize = 50;

/// One transition of one instance, as its history records it.
#[derive(Debug, Clone)]
pub struct Transition {
    pub process: String,
    pub subject: String,
    pub from: Option<String>,
    pub to: String,
    pub trigger: String,
    pub at: DateTime<Utc>,
}

/// Runs every scenario of `scenarios` against the processes of `definitions`.
pub async fn run_all(
    scenarios: &[SourceFile],
    definitions: &[SourceFile],
    registry: &Registry,
) -> Vec<ScenarioResult> {
    let mut results = Vec::new();
    for file in scenarios {
        results.push(run_one(file, definitions, registry).await);
    }
    results
}

/// Runs one scenario on a fresh in-memory SQLite database.
pub async fn run_one(
    file: &SourceFile,
    definitions: &[SourceFile],
    registry: &Registry,
) -> ScenarioResult {
    run_one_at(file, definitions, registry, "sqlite::memory:").await
}

/// Runs one scenario of the server's on a fresh in-memory SQLite database, the files its
/// steps name (a previous release, a plan file) read from `sources`.
pub async fn run_in_memory(
    file: &SourceFile,
    definitions: &[SourceFile],
    registry: &Registry,
    sources: Sources<'_>,
) -> ScenarioResult {
    run_with(file, definitions, registry, "sqlite::memory:", sources).await
}

/// Runs one scenario on the empty database at `url` (PostgreSQL in the integration tests).
pub async fn run_one_at(
    file: &SourceFile,
    definitions: &[SourceFile],
    registry: &Registry,
    url: &str,
) -> ScenarioResult {
    run_with(file, definitions, registry, url, Sources::Disk).await
}

/// Where the files a scenario's steps name are read from.
#[derive(Debug, Clone, Copy)]
pub enum Sources<'a> {
    /// The disk, relative to the scenario's folder (`forlob test`).
    Disk,
    /// Only these files, by their paths relative to the scenario's (a scenario sent to the
    /// server: never the server's disk).
    Sent(&'a [SourceFile]),
    /// The disk below this folder, the scenario's path and every path it reports relative to
    /// it (the packages' own scenarios).
    Under(&'a std::path::Path),
}

async fn run_with(
    file: &SourceFile,
    definitions: &[SourceFile],
    registry: &Registry,
    url: &str,
    sources: Sources<'_>,
) -> ScenarioResult {
    let parsed: Result<ScenarioFile, _> =
        serde_saphyr::from_str_with_options(&file.text, crate::definition::yaml_options());
    let scenario = match parsed {
        Ok(s) => s,
        Err(e) => {
            return ScenarioResult::not_run(
                file,
                "file",
                format!("the scenario file does not parse: {e}"),
            );
        }
    };
    let base = std::path::Path::new(&file.path)
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let mut story = Story::default();
    let failure = run(
        &scenario,
        definitions,
        registry,
        url,
        &base,
        sources,
        &mut story,
    )
    .await
    .err();
    ScenarioResult {
        file: file.path.clone(),
        name: scenario.scenario,
        failed_at: failure
            .as_ref()
            .map(|_| story.failed_at.clone().unwrap_or_else(|| "start".into())),
        failure,
        timeline: story.moments,
    }
}

/// The timeline of a scenario as it runs.
#[derive(Default)]
struct Story {
    moments: Vec<Moment>,
    /// The last history row told.
    seen: i64,
    /// The part that failed.
    failed_at: Option<String>,
    /// Instances' process and subject, by id.
    instances: std::collections::HashMap<uuid::Uuid, (String, String)>,
}

impl Story {
    /// Records `part` (begun at `at`) with the transitions made since the last part, and
    /// passes its outcome on.
    async fn tell<T>(
        &mut self,
        engine: &Engine,
        part: String,
        what: String,
        at: DateTime<Utc>,
        outcome: Result<T, String>,
    ) -> Result<T, String> {
        let (told, all, newest) =
            store::history_since(engine.db(), self.seen, MAX_TOLD_TRANSITIONS as u64)
                .await
                .map_err(|e| format!("{part}: the history cannot be read: {e}"))?;
        self.seen = newest;
        let mut transitions = Vec::with_capacity(told.len());
        for (instance, entry) in told {
            let (process, subject) = match self.instances.entry(instance) {
                Entry::Occupied(known) => known.get().clone(),
                Entry::Vacant(new) => {
                    let found = store::instance(engine.db(), instance)
                        .await
                        .map_err(|e| format!("{part}: the instances cannot be read: {e}"))?;
                    let named = found.map(|(i, _)| (i.process_id, i.subject));
                    new.insert(named.unwrap_or_default()).clone()
                }
            };
            transitions.push(Transition {
                process,
                subject,
                from: entry.from_state,
                to: entry.to_state,
                trigger: entry.trigger,
                at: entry.at,
            });
        }
        let left_out = usize::try_from(all).unwrap_or(usize::MAX) - transitions.len();
        let failure = outcome.as_ref().err().cloned();
        if failure.is_some() {
            self.failed_at = Some(part.clone());
        }
        self.moments.push(Moment {
            part,
            what,
            at,
            failure,
            transitions,
            left_out,
        });
        outcome
    }
}

async fn run(
    s: &ScenarioFile,
    definitions: &[SourceFile],
    registry: &Registry,
    url: &str,
    base: &std::path::Path,
    sources: Sources<'_>,
    story: &mut Story,
) -> Result<(), String> {
    let clock = Arc::new(ManualClock::new(s.clock.with_timezone(&Utc)));
    let engine = Engine::start(url, registry.clone(), clock, EngineOptions::default())
        .await
        .map_err(|e| format!("engine did not start: {e}"))?;
    let first = if s.previous_release.is_empty() {
        definitions.to_vec()
    } else {
        read_relative(base, sources, &s.previous_release)?
    };
    engine
        .deploy(&first)
        .await
        .map_err(|e| format!("definitions do not deploy: {e}"))?;
    let context = StepContext {
        engine: &engine,
        definitions,
        base,
        sources,
    };
    let now = engine.clock().now();
    let loaded = load_given(&engine, registry, &s.given, now).await;
    let given = short(&Value::Object(s.given.clone()));
    story
        .tell(&engine, "given".into(), given, now, loaded)
        .await?;
    for (i, step) in s.steps.iter().enumerate() {
        let at = engine.clock().now();
        let done = run_step(&context, step).await;
        let part = format!("step {}", i + 1);
        story
            .tell(&engine, part.clone(), short(step), at, done)
            .await
            .map_err(|e| format!("{part} {}: {e}", short(step)))?;
    }
    let at = engine.clock().now();
    let settled = engine
        .run_due()
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    story
        .tell(&engine, "settle".into(), String::new(), at, settled)
        .await?;
    let checked = check_all(&engine, &s.expect).await;
    let expected = short(&Value::Array(s.expect.clone()));
    story
        .tell(&engine, "expect".into(), expected, at, checked)
        .await
        .map_err(|e| format!("expect: {e}"))
}

/// Loads the scenario's fixtures in one transaction.
async fn load_given(
    engine: &Engine,
    registry: &Registry,
    given: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let txn = engine.db().begin().await.map_err(|e| e.to_string())?;
    for (kind, value) in given {
        let fixture = registry
            .fixture(kind)
            .ok_or_else(|| format!("given: no package provides fixtures of kind `{kind}`"))?;
        fixture
            .load(&txn, value, now)
            .await
            .map_err(|e| format!("given.{kind}: {e}"))?;
    }
    txn.commit().await.map_err(|e| e.to_string())
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 120 {
        format!(
            "{}…",
            &text[..text.char_indices().nth(117).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}

/// The actor of a step's `as` (a caseworker by default); an unknown role is the step's error.
fn actor_of(spec: Option<&Value>) -> Result<Actor, String> {
    let get = |k: &str| spec.and_then(|s| s.get(k)).map(value_text);
    let role = match get("role") {
        None => crate::user::Role::Caseworker.into(),
        Some(text) => crate::instance::ActorRole::parse(&text).ok_or_else(|| {
            format!("`as.role` `{text}` is not a role (caseworker, admin, designer, ...)")
        })?,
    };
    Ok(Actor {
        id: get("id").unwrap_or_else(|| "scenario".into()),
        municipality: get("municipality"),
        role,
        via: crate::instance::Via::System,
    })
}

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

/// What a step may use besides the engine: the package's definitions (a `deploy` step) and
/// the scenario's folder (paths in steps are relative to it).
struct StepContext<'a> {
    engine: &'a Engine,
    definitions: &'a [SourceFile],
    base: &'a std::path::Path,
    sources: Sources<'a>,
}

fn read_relative(
    base: &std::path::Path,
    sources: Sources<'_>,
    paths: &[String],
) -> Result<Vec<SourceFile>, String> {
    paths
        .iter()
        .map(|p| {
            let path = base.join(p);
            match sources {
                Sources::Disk => std::fs::read_to_string(&path)
                    .map(|text| SourceFile {
                        path: path.display().to_string(),
                        text,
                    })
                    .map_err(|e| format!("{}: {e}", path.display())),
                Sources::Under(root) => {
                    let inside = normalized(&path);
                    if inside.starts_with("..") || inside.is_absolute() {
                        return Err(format!("{}: outside the packages' folder", path.display()));
                    }
                    std::fs::read_to_string(root.join(&inside))
                        .map(|text| SourceFile {
                            path: inside.display().to_string(),
                            text,
                        })
                        .map_err(|_| format!("{}: no such file", inside.display()))
                }
                Sources::Sent(sent) => sent
                    .iter()
                    .find(|f| normalized(std::path::Path::new(&f.path)) == normalized(&path))
                    .cloned()
                    .ok_or_else(|| {
                        format!(
                            "{}: not among the files sent with the scenario",
                            path.display()
                        )
                    }),
            }
        })
        .collect()
}

/// `path` with `.` and `..` resolved by its words alone (the files sent need not exist on
/// any disk); a `..` that leaves the path's start is kept, so it matches no file sent below.
fn normalized(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                let above = matches!(
                    out.components().next_back(),
                    None | Some(Component::ParentDir)
                );
                if above {
                    out.push("..");
                } else {
                    out.pop();
                }
            }
            other => out.push(other),
        }
    }
    out
}

async fn run_step(context: &StepContext<'_>, step: &Value) -> Result<(), String> {
    let engine = context.engine;
    let Value::Object(map) = step else {
        return Err("a step is a mapping".into());
    };
    let expected_error = map
        .get("expect_error")
        .and_then(|e| e.get("status"))
        .and_then(Value::as_u64);
    let result: Result<(), EngineError> = if let Some(m) = map.get("message") {
        let data = m.get("data").cloned().unwrap_or(Value::Null);
        let message_id = m
            .get("message_id")
            .or_else(|| data.get("message_id"))
            .map(value_text)
            .unwrap_or_default();
        let message = InboundMessage {
            message_id,
            message_type: m.get("type").map(value_text).unwrap_or_default(),
            data,
        };
        engine.deliver(&message).await.map(|_| ())
    } else if let Some(a) = map.get("advance") {
        let target = match (a.get("to"), a.get("by")) {
            (Some(to), _) => parse_instant(to)?,
            (None, Some(by)) => {
                let d = crate::timer::IsoDuration::parse(&value_text(by))?;
                d.after(engine.clock().now(), chrono_tz::UTC)
            }
            _ => return Err("advance needs `to` or `by`".into()),
        };
        engine.advance_to(target).await.map(|_| ())
    } else if let Some(s) = map.get("start") {
        let process = s
            .get("process")
            .map(value_text)
            .ok_or("start needs `process`")?;
        let subject = s
            .get("subject")
            .map(value_text)
            .ok_or("start needs `subject`")?;
        let vars = s
            .get("vars")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        engine
            .start_instance(&process, &subject, vars, &actor_of(s.get("as"))?)
            .await
            .map(|_| ())
    } else if let Some(c) = map.get("complete") {
        let which = c
            .get("task")
            .map(value_text)
            .ok_or("complete needs `task` (a state id or task kind)")?;
        let subject = c.get("subject").map(value_text);
        let filter = TaskFilter {
            status: Some(crate::instance::TaskStatus::Open),
            subject: subject.clone(),
            ..TaskFilter::default()
        };
        let tasks = store::tasks(engine.db(), &filter)
            .await
            .map_err(|e| e.to_string())?;
        // The actor's own municipality's task first, when several municipalities have one;
        // else any, so that a step can show another municipality is refused.
        let actor = actor_of(c.get("as"))?;
        let named = |t: &&crate::instance::Task| t.state == which || t.kind == which;
        let task = tasks
            .iter()
            .filter(named)
            .find(|t| actor.municipality.is_some() && t.municipality == actor.municipality)
            .or_else(|| tasks.iter().find(named))
            .ok_or_else(|| {
                format!(
                    "no open task `{which}` for {}; open tasks: {}",
                    subject.unwrap_or_default(),
                    describe_tasks(&tasks)
                )
            })?;
        let form = c
            .get("form")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        engine.complete_task(task.id, &form, &actor).await
    } else if let Some(s) = map.get("schedule") {
        return schedule_step(engine, s, expected_error).await;
    } else if let Some(r) = map.get("remove_schedule") {
        let process = r
            .get("process")
            .map(value_text)
            .ok_or("remove_schedule needs `process`")?;
        let schedules = engine.schedules().await.map_err(|e| e.to_string())?;
        let mine: Vec<_> = schedules.iter().filter(|s| s.process == process).collect();
        if mine.is_empty() {
            return Err(format!("no schedule of `{process}` to remove"));
        }
        let mut result = Ok(());
        for schedule in mine {
            result = result.and(engine.remove_schedule(schedule.id, &admin(), "").await);
        }
        result
    } else if let Some(r) = map.get("run_job") {
        let request = crate::runtime::RunRequest {
            process: Some(
                r.get("process")
                    .map(value_text)
                    .ok_or("run_job needs `process`")?,
            ),
            schedule: None,
            parameters: r
                .get("parameters")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            confirmed: r.get("confirmed").and_then(Value::as_bool).unwrap_or(false),
        };
        engine.run_job_now(&request, &admin()).await.map(|_| ())
    } else if let Some(d) = map.get("deploy") {
        let files = match d {
            Value::String(s) if s == "package" => context.definitions.to_vec(),
            Value::Array(paths) => {
                let paths: Vec<String> = paths.iter().map(value_text).collect();
                read_relative(context.base, context.sources, &paths)?
            }
            _ => return Err("deploy is `package` or a list of definition files".into()),
        };
        engine.deploy(&files).await.map(|_| ())
    } else if let Some(r) = map.get("restart") {
        let mut request = r.clone();
        let expected = request.as_object_mut().and_then(|m| m.remove("expect"));
        let request: crate::runtime::RestartRequest =
            serde_json::from_value(request).map_err(|e| format!("restart: {e}"))?;
        match engine.restart_plan(&request).await {
            Ok(plan) => match engine.migrate(&plan, &admin(), &|_| {}).await {
                Ok(status) => return migration_counts(&status, expected.as_ref()),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    } else if let Some(m) = map.get("migrate") {
        let mut spec = m.clone();
        let expected = spec.as_object_mut().and_then(|m| m.remove("expect"));
        let path = spec
            .get("plan")
            .map(value_text)
            .ok_or("migrate needs `plan` (a plan file)")?;
        let file = read_relative(context.base, context.sources, &[path])?.remove(0);
        let (request, positions) = crate::release::parse_plan(&file).map_err(|d| {
            d.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let plan = match crate::release::resolve(&request, &engine.catalog()) {
            Ok(plan) => plan,
            Err(errors) => {
                let diagnostics = positions.diagnostics(&errors);
                return Err(diagnostics
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"));
            }
        };
        match engine.migrate(&plan, &admin(), &|_| {}).await {
            Ok(status) => return migration_counts(&status, expected.as_ref()),
            Err(e) => Err(e),
        }
    } else if let Some(e) = map.get("expect") {
        let list = e.as_array().cloned().unwrap_or_else(|| vec![e.clone()]);
        return check_all(engine, &list).await;
    } else {
        return Err(
            "unknown step; steps are message, advance, start, complete, schedule, remove_schedule, run_job, deploy, restart, migrate, expect"
                .into(),
        );
    };
    match (result, expected_error) {
        (Ok(()), None) => Ok(()),
        (Ok(()), Some(status)) => Err(format!(
            "expected a refusal with status {status}, but the step succeeded"
        )),
        (Err(e), Some(status)) if u64::from(e.status()) == status => Ok(()),
        (Err(e), Some(status)) => Err(format!("expected status {status}, got {}: {e}", e.status())),
        (Err(e), None) => Err(e.to_string()),
    }
}

/// `expect: { done: N, skipped: N, failed: N }` of a migration step: each given count exact.
fn migration_counts(
    status: &crate::runtime::MigrationStatus,
    expected: Option<&Value>,
) -> Result<(), String> {
    let Some(expected) = expected else {
        return Ok(());
    };
    require_keys(expected, &["done", "skipped", "failed"])?;
    for key in ["done", "skipped", "failed"] {
        if let Some(n) = expected.get(key).and_then(Value::as_i64)
            && status.count(key) != n
        {
            return Err(format!(
                "expected {n} instance(s) {key}, got {}; items: {:?}; problems: {:?}",
                status.count(key),
                status.counts,
                status
                    .problems
                    .iter()
                    .map(|p| format!(
                        "{} in {}: {}",
                        p.instance_id,
                        p.from_state,
                        p.message.clone().unwrap_or_default()
                    ))
                    .collect::<Vec<_>>()
            ));
        }
    }
    Ok(())
}

fn admin() -> Actor {
    Actor {
        id: "scenario-admin".into(),
        role: crate::user::Role::Admin.into(),
        municipality: None,
        via: crate::instance::Via::System,
    }
}

/// `schedule: { process, start_date, start_time, weekdays, cron, parameters, ... }` as an
/// admin's "Start job"; `warning: text` asks for an R27 warning holding the text, and
/// `warning: none` for no warning at all.
async fn schedule_step(
    engine: &Engine,
    spec: &Value,
    expected_error: Option<u64>,
) -> Result<(), String> {
    let mut request = spec.clone();
    let warning = request.as_object_mut().and_then(|m| m.remove("warning"));
    let request: crate::schedule::ScheduleRequest =
        serde_json::from_value(request).map_err(|e| format!("schedule: {e}"))?;
    match (
        engine.create_schedule(&request, &admin()).await,
        expected_error,
    ) {
        (Ok(made), None) => match warning.as_ref().map(value_text).as_deref() {
            None => Ok(()),
            Some("none") if made.warnings.is_empty() => Ok(()),
            Some("none") => Err(format!("expected no warning, got {:?}", made.warnings)),
            Some(text) if made.warnings.iter().any(|w| w.to_string().contains(text)) => Ok(()),
            Some(text) => Err(format!(
                "expected a warning with `{text}`, got {:?}",
                made.warnings
            )),
        },
        (Ok(_), Some(status)) => Err(format!(
            "expected a refusal with status {status}, but the schedule was made"
        )),
        (Err(e), Some(status)) if u64::from(e.status()) == status => Ok(()),
        (Err(e), _) => Err(e.to_string()),
    }
}

fn describe_tasks(tasks: &[crate::instance::Task]) -> String {
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

async fn check_all(engine: &Engine, expectations: &[Value]) -> Result<(), String> {
    let mut failures = Vec::new();
    for expectation in expectations {
        let Value::Object(map) = expectation else {
            failures.push(format!("{expectation}: an expectation is a mapping"));
            continue;
        };
        for (kind, spec) in map {
            if let Err(e) = check(engine, kind, spec).await {
                failures.push(format!("{kind} {}: {e}", short(spec)));
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
            let runs = engine.logbook(&filter).await.map_err(|e| e.to_string())?;
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

#[cfg(test)]
mod tests {
    use super::normalized;
    use std::path::Path;

    #[test]
    fn a_path_is_resolved_by_its_words_and_keeps_what_climbs_out() {
        let n = |p: &str| normalized(Path::new(p)).display().to_string();
        assert_eq!(n("drafts/scenarios/../plan.yaml"), "drafts/plan.yaml");
        assert_eq!(n("./a/./b.yaml"), "a/b.yaml");
        assert_eq!(n("../releases/x.yaml"), "../releases/x.yaml");
        // Out of the files sent: it can match none of them.
        assert_eq!(
            n("drafts/scenarios/../../../../etc/passwd"),
            "../../etc/passwd"
        );
    }
}
