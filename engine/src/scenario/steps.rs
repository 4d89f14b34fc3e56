//! What each kind of step does to the engine, as an actor of the scenario.

use crate::error::EngineError;
use crate::instance::{Actor, Task, TaskStatus, Via};
use crate::release::{parse_plan, resolve};
use crate::runtime::{Engine, InboundMessage, MigrationStatus, RunRequest};
use crate::store::{self, TaskFilter};
use crate::user::Role;

use super::expect::{check_all, describe_tasks};
use super::format::{
    Act, AdvanceStep, As, CompleteStep, DeployStep, MigrationCounts, ScheduleStep, Step,
};
use super::{StepContext, read_relative};

/// Runs one step; a step with `expect_error` passes only when refused with that status.
pub(super) async fn run_step(context: &StepContext<'_>, step: &Step) -> Result<(), String> {
    let engine = context.engine;
    let expected_error = step.expect_error.as_ref().map(|e| e.status);
    let result: Result<(), EngineError> = match &step.act {
        Act::Message(m) => {
            let message_id = m
                .message_id
                .as_ref()
                .map(|id| id.0.clone())
                .or_else(|| m.data.get("message_id").map(super::value_text))
                .unwrap_or_default();
            let message = InboundMessage {
                message_id,
                message_type: m.message_type.0.clone(),
                data: m.data.clone(),
            };
            engine.commands().deliver(&message).await.map(|_| ())
        }
        Act::Advance(a) => {
            let target = advance_target(engine, a)?;
            engine.jobs().advance_to(target).await.map(|_| ())
        }
        Act::Start(s) => engine
            .commands()
            .start_instance(&s.process.0, &s.subject.0, s.vars.clone(), &actor(&s.actor))
            .await
            .map(|_| ()),
        Act::Complete(c) => complete(engine, c).await?,
        Act::Schedule(s) => return schedule(engine, s, expected_error).await,
        Act::RemoveSchedule(r) => {
            let schedules = engine.jobs().schedules().await.map_err(|e| e.to_string())?;
            let mine: Vec<_> = schedules
                .iter()
                .filter(|s| s.process == r.process.0)
                .collect();
            if mine.is_empty() {
                return Err(format!("no schedule of `{}` to remove", r.process.0));
            }
            let mut result = Ok(());
            for schedule in mine {
                result = result.and(
                    engine
                        .jobs()
                        .remove_schedule(schedule.id, &admin(), "")
                        .await,
                );
            }
            result
        }
        Act::RunJob(r) => {
            let request = RunRequest {
                process: Some(r.process.0.clone()),
                schedule: None,
                parameters: r.parameters.clone(),
                confirmed: r.confirmed,
            };
            engine
                .jobs()
                .run_job_now(&request, &admin())
                .await
                .map(|_| ())
        }
        Act::Deploy(d) => {
            let files = match d {
                DeployStep::Package => context.definitions.to_vec(),
                DeployStep::Files(paths) => read_relative(context.base, context.sources, paths)?,
            };
            engine.releases().deploy(&files).await.map(|_| ())
        }
        Act::Restart(r) => {
            let done = match engine.releases().restart_plan(&r.request).await {
                Ok(plan) => engine.releases().migrate(&plan, &admin(), &|_| {}).await,
                Err(e) => Err(e),
            };
            match done {
                Ok(status) if expected_error.is_none() => {
                    return migration_counts(&status, r.expect.as_ref());
                }
                other => other.map(|_| ()),
            }
        }
        Act::Migrate(m) => {
            let file = read_relative(context.base, context.sources, std::slice::from_ref(&m.plan))?
                .remove(0);
            let (request, positions) = parse_plan(&file).map_err(|d| lines(&d))?;
            let plan = resolve(&request, &engine.catalog())
                .map_err(|errors| lines(&positions.diagnostics(&errors)))?;
            match engine.releases().migrate(&plan, &admin(), &|_| {}).await {
                Ok(status) if expected_error.is_none() => {
                    return migration_counts(&status, m.expect.as_ref());
                }
                other => other.map(|_| ()),
            }
        }
        Act::Expect(list) => {
            let unplaced: Vec<_> = list.iter().map(|e| (e, None)).collect();
            return check_all(engine, &unplaced).await;
        }
    };
    match (result, expected_error) {
        (Ok(()), None) => Ok(()),
        (Ok(()), Some(status)) => Err(format!(
            "expected a refusal with status {status}, but the step succeeded"
        )),
        (Err(e), Some(status)) if e.status() == status => Ok(()),
        (Err(e), Some(status)) => Err(format!("expected status {status}, got {}: {e}", e.status())),
        (Err(e), None) => Err(e.to_string()),
    }
}

fn lines(diagnostics: &[crate::diagnostic::Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The instant the clock moves to: `to`, or `by` an ISO 8601 duration from now.
fn advance_target(
    engine: &Engine,
    advance: &AdvanceStep,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    match advance {
        AdvanceStep::To(to) => Ok(to.with_timezone(&chrono::Utc)),
        AdvanceStep::By(by) => {
            let d = crate::timer::IsoDuration::parse(&by.0)?;
            Ok(d.after(engine.clock().now(), chrono_tz::UTC))
        }
    }
}

/// Completes the open task the step names: the one of the actor's municipality first when
/// several municipalities have one, else any, so that a step can show another municipality
/// is refused.
async fn complete(engine: &Engine, step: &CompleteStep) -> Result<Result<(), EngineError>, String> {
    let which = &step.task.0;
    let subject = step.subject.as_ref().map(|s| s.0.clone());
    let filter = TaskFilter {
        status: Some(TaskStatus::Open),
        subject: subject.clone(),
        ..TaskFilter::default()
    };
    let tasks = store::tasks(engine.db(), &filter)
        .await
        .map_err(|e| e.to_string())?;
    let actor = actor(&step.actor);
    let named = |t: &&Task| &t.state == which || &t.kind == which;
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
    Ok(engine
        .commands()
        .complete_task(task.id, &step.form, &actor)
        .await)
}

/// The actor of a step's `as`: a caseworker named `scenario` by default.
fn actor(spec: &As) -> Actor {
    Actor {
        id: spec
            .id
            .as_ref()
            .map_or_else(|| "scenario".into(), |id| id.0.clone()),
        municipality: spec.municipality.as_ref().map(|m| m.0.clone()),
        role: spec.role.map_or_else(|| Role::Caseworker.into(), |r| r.0),
        via: Via::System,
    }
}

/// The actor of the steps an admin does (schedules, jobs, releases).
fn admin() -> Actor {
    Actor {
        id: "scenario-admin".into(),
        role: Role::Admin.into(),
        municipality: None,
        via: Via::System,
    }
}

/// A migration's or restart's `expect`: each count given is exact.
fn migration_counts(
    status: &MigrationStatus,
    expected: Option<&MigrationCounts>,
) -> Result<(), String> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let wanted = [
        ("done", expected.done),
        ("skipped", expected.skipped),
        ("failed", expected.failed),
    ];
    for (key, n) in wanted {
        if let Some(n) = n
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

/// An admin's "Start job"; `warning: text` asks for an R27 warning holding the text, and
/// `warning: none` for no warning at all.
async fn schedule(
    engine: &Engine,
    step: &ScheduleStep,
    expected_error: Option<u16>,
) -> Result<(), String> {
    match (
        engine.jobs().create_schedule(&step.request, &admin()).await,
        expected_error,
    ) {
        (Ok(made), None) => match step.warning.as_ref().map(|w| w.0.as_str()) {
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
        (Err(e), Some(status)) if e.status() == status => Ok(()),
        (Err(e), _) => Err(e.to_string()),
    }
}
