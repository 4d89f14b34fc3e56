//! Migration plans: which instances of which versions go onto which version, state by state
//! (docs/plans/releases.md). A plan is asked for as a [`PlanRequest`] (a YAML file beside the
//! definitions, the API, the CLI, or built by "restart after release") and checked against the
//! deployed versions into a [`MigrationPlan`] before anything is written.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
pub use crate::definition::RestKind;
use crate::definition::raw::Pos;
use crate::definition::{Diagnostic, ProcessDefinition, SourceFile, StepKind};
pub use crate::instance::MigrationPhase;
use crate::message::{Code, Message};

/// What becomes of each instance a migration selected: the words its counts are kept under.
pub const ITEM_STATUSES: &[&str] = &["pending", "done", "skipped", "failed", "undone", "kept"];

/// What happens to an instance in a mapped state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Open tasks cancelled, timers and subscriptions dropped, the target state entered as a
    /// transition would enter it (an automatic state's action runs).
    Restart,
    /// Moved without re-entering: variables, open tasks, timers (with their due time) and
    /// subscriptions are carried over to the target state.
    MoveTo,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::MoveTo => "move_to",
        }
    }
}

/// One state's mapping as asked for: exactly one of `restart` and `move_to`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_to: Option<String>,
    /// The plan knows the state's live timers are dropped (refused otherwise).
    #[serde(default)]
    pub drop_timers: bool,
    /// `restart` only: the tasks made anew take their due dates from the target version, not
    /// from the tasks of the same kind they replace (the default keeps those).
    #[serde(default)]
    pub new_due_dates: bool,
}

/// A plan as asked for, before it is checked against what is deployed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// A name for the logbook and the audit entries.
    #[serde(default)]
    pub name: String,
    /// The target process (or a former id of it).
    pub process: String,
    /// Default: the newest version of the target.
    #[serde(default)]
    pub to_version: Option<i32>,
    /// The process whose instances move; default the target and its former ids.
    #[serde(default)]
    pub from_process: Option<String>,
    /// Default: every version older than the target version.
    #[serde(default)]
    pub from_versions: Vec<i32>,
    #[serde(default)]
    pub reason: String,
    pub states: IndexMap<String, MappingRequest>,
}

/// One state's mapping, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub operation: Operation,
    pub to: String,
    pub drop_timers: bool,
    /// A restart's new tasks get due dates from the target version instead of keeping those
    /// of the tasks of the same kind they replace.
    #[serde(default)]
    pub new_due_dates: bool,
}

/// A plan checked against the deployed versions: every name in it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationPlan {
    pub name: String,
    pub process: String,
    pub to_version: i32,
    /// `(process id, version)` of every version whose instances move.
    pub from: Vec<(String, i32)>,
    pub reason: String,
    pub states: IndexMap<String, Mapping>,
}

impl MigrationPlan {
    pub fn covers(&self, process: &str, version: i32) -> bool {
        self.from.iter().any(|(p, v)| p == process && *v == version)
    }
}

/// A problem of a plan: the field it is in (`states.flytteopgave.restart`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub field: String,
    pub code: &'static str,
    pub message: Message,
}

/// Whether instances resting in `state` have a timer that a migration could drop.
pub fn has_timer(state: &crate::definition::State) -> bool {
    state
        .kind
        .holdings()
        .contains(&crate::instance::Holding::Work(
            crate::instance::WorkKind::Timer,
        ))
}

impl RestKind {
    /// How an instance rests in `state`, with a called process named by its current id, so a
    /// renamed child still matches.
    pub fn of(state: &crate::definition::State, catalog: &Catalog) -> Self {
        match state.kind.rest() {
            Self::Call { process } => Self::Call {
                process: catalog.resolve_id(&process).to_owned(),
            },
            other => other,
        }
    }
}

/// How a state of a new version differs from the version it follows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StateChange {
    pub state: String,
    pub change: StateChangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateChangeKind {
    /// Only the new version has it.
    Added,
    /// Only the old version has it: instances resting there need a plan.
    Removed,
    /// What an instance resting there holds or waits for changed (another kind of step, a
    /// timer of another length, another message): instances resting there keep the old
    /// wait until restarted or migrated.
    Wait,
    /// Something else changed (where it goes, what it sets, its form or action).
    Changed,
}

/// The states `new` adds, removes and changes against `old`: the new version's first, in its
/// order, then the removed ones.
pub fn state_changes(
    old: &crate::definition::ProcessDefinition,
    new: &crate::definition::ProcessDefinition,
    catalog: &Catalog,
) -> Vec<StateChange> {
    // Alike, and for a wait also the same wait (a timer of another length).
    let waits = |state: &crate::definition::State| {
        let wait = match &state.kind {
            StepKind::Wait(wait) => Some(format!("{:?}", wait.wait)),
            StepKind::Automatic(_)
            | StepKind::Manual(_)
            | StepKind::Decision(_)
            | StepKind::Call(_)
            | StepKind::End(_) => None,
        };
        (RestKind::of(state, catalog), wait)
    };
    let mut changes: Vec<StateChange> = new
        .states
        .iter()
        .filter_map(|(id, state)| {
            let change = match old.state(id) {
                None => StateChangeKind::Added,
                Some(before) if waits(before) != waits(state) => StateChangeKind::Wait,
                // The model's Debug shows every expression by its source: equal text, equal state.
                Some(before) if format!("{before:?}") != format!("{state:?}") => {
                    StateChangeKind::Changed
                }
                Some(_) => return None,
            };
            Some(StateChange {
                state: id.clone(),
                change,
            })
        })
        .collect();
    changes.extend(
        old.states
            .iter()
            .filter(|(id, _)| new.state(id).is_none())
            .map(|(id, _)| StateChange {
                state: id.clone(),
                change: StateChangeKind::Removed,
            }),
    );
    changes
}

/// Whether an instance resting in `a` could rest in `b` with what it holds.
pub fn rests_alike(
    a: &crate::definition::State,
    b: &crate::definition::State,
    catalog: &Catalog,
) -> bool {
    RestKind::of(a, catalog) == RestKind::of(b, catalog)
}

/// Checks `request` against the deployed versions.
pub fn resolve(request: &PlanRequest, catalog: &Catalog) -> Result<MigrationPlan, Vec<PlanError>> {
    let mut errors: Vec<PlanError> = Vec::new();
    let error = |errors: &mut Vec<PlanError>, field: &str, code: &'static str, message: Message| {
        errors.push(PlanError {
            field: field.to_owned(),
            code,
            message,
        });
    };
    let Some((newest, _)) = catalog.latest(&request.process) else {
        error(
            &mut errors,
            "process",
            "plan-unknown-process",
            Message::new(Code::UNKNOWN_PROCESS).with("process", &request.process),
        );
        return Err(errors);
    };
    let process = catalog.resolve_id(&request.process).to_owned();
    let to_version = request.to_version.unwrap_or(newest);
    let Some(target) = catalog.version(&process, to_version) else {
        error(
            &mut errors,
            "to_version",
            "plan-unknown-version",
            Message::new(Code::PLAN_UNKNOWN_VERSION)
                .with("process", &process)
                .with("version", to_version)
                .with("newest", newest),
        );
        return Err(errors);
    };
    let lineage = catalog.lineage(&process);
    let from_ids: Vec<String> = match &request.from_process {
        Some(id) if !lineage.contains(id) && catalog.version_of(id).is_none() => {
            error(
                &mut errors,
                "from_process",
                "plan-unknown-process",
                Message::new(Code::UNKNOWN_PROCESS).with("process", id),
            );
            return Err(errors);
        }
        Some(id) => vec![id.clone()],
        None => lineage,
    };
    let mut from: Vec<(String, i32, std::sync::Arc<ProcessDefinition>)> = Vec::new();
    for (version, def) in catalog.all() {
        if !from_ids.contains(&def.id) || (def.id == process && version == to_version) {
            continue;
        }
        let asked = request.from_versions.is_empty() && (def.id != process || version < to_version)
            || request.from_versions.contains(&version);
        if asked {
            from.push((def.id.clone(), version, def));
        }
    }
    for v in &request.from_versions {
        if !from.iter().any(|(_, version, _)| version == v) {
            error(
                &mut errors,
                "from_versions",
                "plan-unknown-version",
                Message::new(Code::PLAN_NO_SOURCE_VERSION)
                    .with("process", from_ids.join("`, `"))
                    .with("version", v)
                    .with("target", to_version),
            );
        }
    }
    if from.is_empty() && errors.is_empty() {
        error(
            &mut errors,
            "from_versions",
            "plan-unknown-version",
            Message::new(Code::PLAN_NO_OLDER_VERSION)
                .with("process", &process)
                .with("version", to_version),
        );
    }
    if request.states.is_empty() {
        error(
            &mut errors,
            "states",
            "plan-bad-mapping",
            Message::new(Code::PLAN_NO_STATE),
        );
    }
    let mut states = IndexMap::new();
    for (name, asked) in &request.states {
        let field = format!("states.{name}");
        let sources: Vec<_> = from
            .iter()
            .filter_map(|(id, v, def)| def.state(name).map(|s| (id, v, s)))
            .collect();
        if sources.is_empty() && !from.is_empty() {
            error(
                &mut errors,
                &field,
                "plan-unknown-state",
                Message::new(Code::PLAN_UNKNOWN_SOURCE_STATE)
                    .with("state", name)
                    .with(
                        "versions",
                        from.iter()
                            .map(|(id, v, _)| format!("{id} v{v}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
            );
            continue;
        }
        let (operation, to, to_field) = match (&asked.restart, &asked.move_to) {
            (Some(to), None) => (Operation::Restart, to, format!("{field}.restart")),
            (None, Some(to)) => (Operation::MoveTo, to, format!("{field}.move_to")),
            _ => {
                error(
                    &mut errors,
                    &field,
                    "plan-bad-mapping",
                    Message::new(Code::PLAN_RESTART_OR_MOVE).with("state", name),
                );
                continue;
            }
        };
        let Some(target_state) = target.state(to) else {
            error(
                &mut errors,
                &to_field,
                "plan-unknown-state",
                Message::new(Code::UNKNOWN_STATE)
                    .with("process", &process)
                    .with("version", to_version)
                    .with("state", to),
            );
            continue;
        };
        if matches!(target_state.kind, StepKind::End(_)) {
            error(
                &mut errors,
                &to_field,
                "plan-bad-mapping",
                Message::new(Code::PLAN_END_STATE).with("state", to),
            );
            continue;
        }
        if operation == Operation::MoveTo && asked.drop_timers {
            error(
                &mut errors,
                &format!("{field}.drop_timers"),
                "plan-bad-mapping",
                Message::new(Code::PLAN_MOVE_KEEPS_TIMERS)
                    .with("state", name)
                    .with("to", to),
            );
            continue;
        }
        if operation == Operation::MoveTo && asked.new_due_dates {
            error(
                &mut errors,
                &format!("{field}.new_due_dates"),
                "plan-bad-mapping",
                Message::new(Code::PLAN_MOVE_KEEPS_DUE_DATES)
                    .with("state", name)
                    .with("to", to),
            );
            continue;
        }
        let mut ok = true;
        for (id, v, source) in &sources {
            let (from_kind, to_kind) = (
                RestKind::of(source, catalog),
                RestKind::of(target_state, catalog),
            );
            if operation == Operation::MoveTo && from_kind != to_kind {
                error(
                    &mut errors,
                    &to_field,
                    "plan-bad-mapping",
                    Message::new(Code::PLAN_RESTS_DIFFERENTLY)
                        .with("state", name)
                        .with("source", format!("{id} v{v}"))
                        .with("from_kind", from_kind.to_string())
                        .with("to", to)
                        .with("to_kind", to_kind.to_string()),
                );
                ok = false;
            }
            let keeps_timer = operation == Operation::MoveTo && has_timer(target_state);
            if has_timer(source) && !keeps_timer && !asked.drop_timers {
                error(
                    &mut errors,
                    &to_field,
                    "plan-drops-timer",
                    Message::new(Code::PLAN_DROPS_TIMER)
                        .with("state", name)
                        .with("source", format!("{id} v{v}")),
                );
                ok = false;
            }
        }
        if ok {
            states.insert(
                name.clone(),
                Mapping {
                    operation,
                    to: to.clone(),
                    drop_timers: asked.drop_timers,
                    new_due_dates: asked.new_due_dates,
                },
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(MigrationPlan {
        name: if request.name.is_empty() {
            format!("{process}-v{to_version}")
        } else {
            request.name.clone()
        },
        process,
        to_version,
        from: from.into_iter().map(|(id, v, _)| (id, v)).collect(),
        reason: request.reason.clone(),
        states,
    })
}

/// A plan file as written; strings keep their place for diagnostics.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    migration: Pos<String>,
    process: Pos<String>,
    #[serde(default)]
    to_version: Option<Pos<i32>>,
    #[serde(default)]
    from: Option<RawFrom>,
    #[serde(default)]
    reason: Option<String>,
    states: IndexMap<Pos<String>, RawMapping>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFrom {
    #[serde(default)]
    process: Option<Pos<String>>,
    #[serde(default)]
    versions: Option<Pos<Vec<i32>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    #[serde(default)]
    restart: Option<Pos<String>>,
    #[serde(default)]
    move_to: Option<Pos<String>>,
    #[serde(default)]
    drop_timers: bool,
    #[serde(default)]
    new_due_dates: bool,
}

/// Reads a plan file into a request and the place of each field, for
/// [`PlanPositions::diagnostics`].
pub fn parse_plan(file: &SourceFile) -> Result<(PlanRequest, PlanPositions), Vec<Diagnostic>> {
    let raw: RawPlan =
        serde_saphyr::from_str_with_options(&file.text, crate::definition::yaml_options())
            .map_err(|e| vec![crate::definition::yaml_diagnostic(&file.path, &e)])?;
    let mut at = HashMap::new();
    at.insert("name".to_owned(), raw.migration.line_col());
    at.insert("process".to_owned(), raw.process.line_col());
    if let Some(v) = &raw.to_version {
        at.insert("to_version".to_owned(), v.line_col());
    }
    let mut request = PlanRequest {
        name: raw.migration.value().clone(),
        process: raw.process.value().clone(),
        to_version: raw.to_version.as_ref().map(|v| *v.value()),
        reason: raw.reason.unwrap_or_default(),
        ..PlanRequest::default()
    };
    if let Some(from) = &raw.from {
        if let Some(p) = &from.process {
            at.insert("from_process".to_owned(), p.line_col());
            request.from_process = Some(p.value().clone());
        }
        if let Some(v) = &from.versions {
            at.insert("from_versions".to_owned(), v.line_col());
            request.from_versions = v.value().clone();
        }
    }
    for (name, mapping) in raw.states {
        let key = format!("states.{}", name.value());
        at.insert(key.clone(), name.line_col());
        if let Some(to) = &mapping.restart {
            at.insert(format!("{key}.restart"), to.line_col());
        }
        if let Some(to) = &mapping.move_to {
            at.insert(format!("{key}.move_to"), to.line_col());
        }
        request.states.insert(
            name.value().clone(),
            MappingRequest {
                restart: mapping.restart.map(|p| p.value().clone()),
                move_to: mapping.move_to.map(|p| p.value().clone()),
                drop_timers: mapping.drop_timers,
                new_due_dates: mapping.new_due_dates,
            },
        );
    }
    Ok((
        request,
        PlanPositions {
            file: file.path.clone(),
            at,
        },
    ))
}

/// Where each field of a plan file was written.
#[derive(Debug, Clone, Default)]
pub struct PlanPositions {
    file: String,
    at: HashMap<String, (u64, u64)>,
}

impl PlanPositions {
    /// `errors` as `file:line:col` diagnostics; an error of a field the file does not have
    /// (a default that did not resolve) points at the nearest field it does have.
    pub fn diagnostics(&self, errors: &[PlanError]) -> Vec<Diagnostic> {
        errors
            .iter()
            .map(|e| {
                let mut field = e.field.as_str();
                let (line, column) = loop {
                    if let Some(at) = self.at.get(field) {
                        break *at;
                    }
                    match field.rfind('.') {
                        Some(i) => field = &field[..i],
                        None => break self.at.get("process").copied().unwrap_or((1, 1)),
                    }
                };
                Diagnostic {
                    file: self.file.clone(),
                    line,
                    column,
                    code: e.code,
                    message: e.message.to_string(),
                    hint: None,
                }
            })
            .collect()
    }
}

/// `errors` as the 422 field map of the API.
pub fn field_errors(errors: &[PlanError]) -> crate::form::FieldErrors {
    let mut fields = crate::form::FieldErrors::new();
    for e in errors {
        fields
            .entry(e.field.clone())
            .and_modify(|m| *m = m.clone().and(e.message.clone()))
            .or_insert_with(|| e.message.clone());
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::{StateChange, StateChangeKind, state_changes};
    use crate::catalog::Catalog;
    use crate::definition::{SourceFile, load_set};

    const BEFORE: &str = r#"
id: sag
subject: person
initial: vent
states:
  vent:
    wait: { after: P5D }
    next: vurder
  vurder:
    automatic: { action: demo.record, input: { step: "'vurder'" } }
    next: gammel
  gammel: { end: true }
"#;

    fn definition(text: &str) -> crate::definition::ProcessDefinition {
        let files = [SourceFile {
            path: "sag.yaml".into(),
            text: text.into(),
        }];
        load_set(&files, &crate::demo::registry())
            .expect("valid")
            .remove(0)
    }

    #[test]
    fn each_kind_of_state_change_is_told() {
        let after = BEFORE
            .replace("after: P5D", "after: P10D")
            .replace("next: gammel", "next: ny")
            .replace("  gammel: { end: true }\n", "  ny: { end: true }\n");
        let changes = state_changes(
            &definition(BEFORE),
            &definition(&after),
            &Catalog::default(),
        );
        let change = |state: &str, change| StateChange {
            state: state.into(),
            change,
        };
        assert_eq!(
            changes,
            [
                change("vent", StateChangeKind::Wait),
                change("vurder", StateChangeKind::Changed),
                change("ny", StateChangeKind::Added),
                change("gammel", StateChangeKind::Removed),
            ]
        );
        assert!(
            state_changes(
                &definition(BEFORE),
                &definition(BEFORE),
                &Catalog::default()
            )
            .is_empty()
        );
    }
}
