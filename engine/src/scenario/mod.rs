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
use serde_json::{Map, Value};

use crate::clock::ManualClock;
use crate::definition::SourceFile;
use crate::registry::Registry;
use crate::runtime::{Engine, EngineOptions};
use crate::store;

mod expect;
mod format;
mod steps;

use expect::check_all;
pub use expect::{count_matches, field_matches, require_keys, value_text};
use format::{ScenarioFile, as_written, shorten};
use steps::run_step;

/// What packages plug into scenarios; defined with the rest of what they plug in.
pub use crate::registry::{Expectation, Fixture};

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
            let at = crate::definition::yaml_diagnostic(&file.path, &e);
            return ScenarioResult::not_run(
                file,
                "file",
                format!(
                    "{}:{}:{}: the scenario file does not parse: {}",
                    at.file, at.line, at.column, at.message
                ),
            );
        }
    };
    let base = std::path::Path::new(&file.path)
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let mut story = Story::default();
    let setup = Setup {
        file,
        definitions,
        registry,
        url,
        base: &base,
        sources,
    };
    let failure = run(&scenario, &setup, &mut story).await.err();
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

/// What a scenario runs with: its file, the package's definitions and registry, the
/// database, and where the files its steps name are read from.
struct Setup<'a> {
    file: &'a SourceFile,
    definitions: &'a [SourceFile],
    registry: &'a Registry,
    url: &'a str,
    /// The scenario's folder: paths in steps are relative to it.
    base: &'a std::path::Path,
    sources: Sources<'a>,
}

async fn run(s: &ScenarioFile, setup: &Setup<'_>, story: &mut Story) -> Result<(), String> {
    let &Setup {
        file,
        definitions,
        registry,
        url,
        base,
        sources,
    } = setup;
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
        .releases()
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
        let done = run_step(&context, step.value()).await;
        let part = format!("step {}", i + 1);
        let (line, column) = step.line_col();
        let what = as_written(&file.text, (line, column));
        story
            .tell(&engine, part.clone(), what.clone(), at, done)
            .await
            .map_err(|e| format!("{part} ({}:{line}:{column}) {what}: {e}", file.path))?;
    }
    let at = engine.clock().now();
    let settled = engine
        .jobs()
        .run_due()
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    story
        .tell(&engine, "settle".into(), String::new(), at, settled)
        .await?;
    let placed: Vec<_> = s
        .expect
        .iter()
        .map(|e| (e.value(), Some(e.line_col())))
        .collect();
    let checked = check_all(&engine, &placed).await;
    let expected = short(&Value::Array(
        s.expect
            .iter()
            .map(|e| Value::Object(e.value().clone()))
            .collect(),
    ));
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
    shorten(&value.to_string())
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
