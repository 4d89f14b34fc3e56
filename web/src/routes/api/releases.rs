//! Releases (admins): restarting or migrating in-flight instances onto a new version, with a
//! dry run first, and the status of a running migration (docs/releases.md).
//!
//! A migration may move 100,000 instances: the request records it and answers 202 at once;
//! the work runs on the server (and resumes at the next start if the server stops), and
//! `GET /api/admin/migrations/{id}` tells how far it is.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use forlob_engine::Role;
use forlob_engine::audit::{AuditAction, AuditRecord};
use forlob_engine::definition::SourceFile;
use forlob_engine::release::{MappingRequest, MigrationPlan, PlanRequest};
use forlob_engine::runtime::{MigrationPreview, MigrationStatus, RestartRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::admin::ReasonRequest;
use super::{Json, OptionalJson, Path};
use crate::auth::Caller;
use crate::error::{ErrorBody, Result};
use crate::state::AppState;

const ADMINS: &[Role] = &[Role::Admin];
/// Instances a dry-run answer lists one by one; the groups count them all.
const PREVIEW_ITEMS: usize = 500;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(release_impact))
        .routes(routes!(restart_instances))
        .routes(routes!(start_migration))
        .routes(routes!(list_migrations))
        .routes(routes!(get_migration))
        .routes(routes!(resume_migration))
        .routes(routes!(undo_migration))
        .routes(routes!(abandon_migration))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RestartBody {
    /// The process, or a former id of it (`igangsaet-flytning-manuelt`).
    pub process: String,
    /// Only instances on this version (default: every older version of the lineage).
    pub from_version: Option<i32>,
    /// Only instances in these states.
    #[serde(default)]
    pub states: Vec<String>,
    /// Where restarted instances start again (default: the new version's initial state).
    pub to_state: Option<String>,
    /// Allow dropping live timers of states the new version no longer has.
    #[serde(default)]
    pub drop_timers: bool,
    /// Give the new tasks due dates from the new version (default: a task made anew keeps
    /// the due date of the task of the same kind it replaces).
    #[serde(default)]
    pub new_due_dates: bool,
    #[serde(default)]
    pub reason: String,
    /// Answer what would happen and change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MappingBody {
    /// Re-enter this state of the target version (its automatic path runs).
    pub restart: Option<String>,
    /// Move to this state of the target version, keeping tasks, timers and subscriptions.
    pub move_to: Option<String>,
    #[serde(default)]
    pub drop_timers: bool,
    /// `restart` only: new due dates for the new tasks instead of keeping the old ones.
    #[serde(default)]
    pub new_due_dates: bool,
}

/// A migration plan, as in a plan file (docs/releases.md).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanBody {
    #[serde(default)]
    pub name: String,
    pub process: String,
    pub to_version: Option<i32>,
    pub from_process: Option<String>,
    #[serde(default)]
    pub from_versions: Vec<i32>,
    #[serde(default)]
    pub reason: String,
    /// Source state → what becomes of its instances.
    pub states: BTreeMap<String, MappingBody>,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GroupView {
    pub from_process: String,
    pub from_version: i32,
    pub from_state: String,
    /// `restart`, `move_to`, or null: the state is not in the plan and its instances stay.
    pub operation: Option<String>,
    pub to_state: Option<String>,
    pub instances: u64,
    pub open_tasks: u64,
    pub timers: u64,
    /// Instances they called and wait for that their restart cancels.
    pub children_cancelled: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PreviewItemView {
    pub instance_id: Uuid,
    pub subject: String,
    pub from_process: String,
    pub from_version: i32,
    pub from_state: String,
    pub operation: Option<String>,
    pub to_state: Option<String>,
    pub tasks_cancelled: Vec<String>,
    pub tasks_kept: Vec<String>,
    pub timers_kept: Vec<DateTime<Utc>>,
    pub timers_dropped: Vec<DateTime<Utc>>,
    /// Instances it called that its restart cancels.
    pub children_cancelled: Vec<Uuid>,
}

/// What a plan would do, instance by instance, without changing anything.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PreviewView {
    pub name: String,
    pub process: String,
    pub to_version: i32,
    pub groups: Vec<GroupView>,
    /// The instances, at most 500; `instances` is the whole number.
    pub items: Vec<PreviewItemView>,
    pub instances: usize,
}

impl From<MigrationPreview> for PreviewView {
    fn from(p: MigrationPreview) -> Self {
        let instances = p.items.len();
        Self {
            name: p.plan.name,
            process: p.plan.process,
            to_version: p.plan.to_version,
            groups: p
                .groups
                .into_iter()
                .map(|g| GroupView {
                    from_process: g.from_process,
                    from_version: g.from_version,
                    from_state: g.from_state,
                    operation: g.operation.map(|o| o.as_str().to_owned()),
                    to_state: g.to_state,
                    instances: g.instances,
                    open_tasks: g.open_tasks,
                    timers: g.timers,
                    children_cancelled: g.children_cancelled,
                })
                .collect(),
            items: p
                .items
                .into_iter()
                .take(PREVIEW_ITEMS)
                .map(|i| PreviewItemView {
                    instance_id: i.instance_id,
                    subject: i.subject,
                    from_process: i.from_process,
                    from_version: i.from_version,
                    from_state: i.from_state,
                    operation: i.operation.map(|o| o.as_str().to_owned()),
                    to_state: i.to_state,
                    tasks_cancelled: i.tasks_cancelled,
                    tasks_kept: i.tasks_kept,
                    timers_kept: i.timers_kept,
                    timers_dropped: i.timers_dropped,
                    children_cancelled: i.children_cancelled,
                })
                .collect(),
            instances,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProblemView {
    pub instance_id: Uuid,
    pub from_process: String,
    pub from_version: i32,
    pub from_state: String,
    /// `skipped`, `failed` or `kept`.
    pub status: String,
    pub message: Option<String>,
}

/// A migration and how far it is.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MigrationView {
    pub id: i64,
    pub name: String,
    pub process: String,
    pub to_version: i32,
    pub reason: String,
    pub actor: String,
    /// `running`, `finished`, `abandoned`, `undoing` or `undone`.
    pub status: String,
    pub total: i64,
    /// Items per status: `pending`, `done`, `skipped`, `failed`; after an undo `undone` and
    /// `kept`.
    pub counts: BTreeMap<String, i64>,
    pub problems: Vec<ProblemView>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The admin who abandoned it, and why.
    pub abandoned_by: Option<String>,
    pub abandon_reason: String,
    /// The admin who undid it, and why.
    pub undone_by: Option<String>,
    pub undo_reason: String,
}

impl From<MigrationStatus> for MigrationView {
    fn from(s: MigrationStatus) -> Self {
        let m = s.migration;
        Self {
            id: m.id,
            name: m.name,
            process: m.process_id,
            to_version: m.to_version,
            reason: m.reason,
            actor: m.actor,
            status: m.status.as_str().to_owned(),
            total: m.total,
            counts: s.counts,
            problems: s
                .problems
                .into_iter()
                .map(|p| ProblemView {
                    instance_id: p.instance_id,
                    from_process: p.from_process,
                    from_version: p.from_version,
                    from_state: p.from_state,
                    status: p.status,
                    message: p.message,
                })
                .collect(),
            created_at: m.created_at,
            finished_at: m.finished_at,
            abandoned_by: m.abandoned_by,
            abandon_reason: m.abandon_reason,
            undone_by: m.undone_by,
            undo_reason: m.undo_reason,
        }
    }
}

/// The answer to a restart or a migration: a dry run's preview, or the migration started.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum MigrationAnswer {
    Preview(PreviewView),
    Started(MigrationView),
}

/// Restart after release: instances of older versions of a process (and its former ids) go
/// onto the newest version. Manual states restart in its automatic path; waits the new version
/// also has keep their timers (R19). With `dry_run` nothing changes; otherwise the migration
/// starts (202) and runs on the server.
#[utoipa::path(post, path = "/admin/instances/restart", tag = "releases", request_body = RestartBody,
    responses((status = 200, description = "dry run", body = PreviewView),
        (status = 202, description = "started", body = MigrationView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "a migration of the process is running", body = ErrorBody),
        (status = 422, description = "the plan is refused", body = ErrorBody)))]
async fn restart_instances(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<RestartBody>,
) -> Result<(StatusCode, Json<MigrationAnswer>)> {
    caller.require(ADMINS)?;
    let request = RestartRequest {
        process: body.process,
        from_version: body.from_version,
        states: body.states,
        to_state: body.to_state,
        drop_timers: body.drop_timers,
        new_due_dates: body.new_due_dates,
        reason: body.reason,
    };
    let plan = state.engine.releases().restart_plan(&request).await?;
    answer(&state, &caller, plan, body.dry_run).await
}

/// Migrates instances by a plan (as a plan file would give it). With `dry_run` nothing
/// changes; otherwise the migration starts (202) and runs on the server.
#[utoipa::path(post, path = "/admin/migrations", tag = "releases", request_body = PlanBody,
    responses((status = 200, description = "dry run", body = PreviewView),
        (status = 202, description = "started", body = MigrationView),
        (status = 403, body = ErrorBody),
        (status = 409, description = "a migration of the process is running", body = ErrorBody),
        (status = 422, description = "the plan is refused", body = ErrorBody)))]
async fn start_migration(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<PlanBody>,
) -> Result<(StatusCode, Json<MigrationAnswer>)> {
    caller.require(ADMINS)?;
    let request = PlanRequest {
        name: body.name,
        process: body.process,
        to_version: body.to_version,
        from_process: body.from_process,
        from_versions: body.from_versions,
        reason: body.reason,
        states: body
            .states
            .into_iter()
            .map(|(state, m)| {
                (
                    state,
                    MappingRequest {
                        restart: m.restart,
                        move_to: m.move_to,
                        drop_timers: m.drop_timers,
                        new_due_dates: m.new_due_dates,
                    },
                )
            })
            .collect(),
    };
    let plan = state.engine.releases().resolve_plan(&request).await?;
    answer(&state, &caller, plan, body.dry_run).await
}

async fn answer(
    state: &AppState,
    caller: &Caller,
    plan: MigrationPlan,
    dry_run: bool,
) -> Result<(StatusCode, Json<MigrationAnswer>)> {
    if dry_run {
        let preview = state.engine.releases().preview_migration(&plan).await?;
        return Ok((
            StatusCode::OK,
            Json(MigrationAnswer::Preview(preview.into())),
        ));
    }
    let actor = caller.actor();
    let id = state
        .engine
        .releases()
        .start_migration(&plan, &actor)
        .await?;
    work_in_background(state, id, actor);
    let status = state.engine.releases().migration_status(id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MigrationAnswer::Started(status.into())),
    ))
}

/// Takes a finished or abandoned migration back, on the server: each instance that has not
/// moved on since is put back as it was; the others are listed as `kept` with why. The
/// migration is `undoing` (and holds its process's migration slot) until it is `undone`.
/// The body (a reason for the audit) may be left out.
#[utoipa::path(post, path = "/admin/migrations/{id}/undo", tag = "releases",
    params(("id" = i64, Path, description = "migration id")), request_body = Option<ReasonRequest>,
    responses((status = 202, body = MigrationView), (status = 404, body = ErrorBody),
        (status = 409, description = "running, undone already, or the process has another migration running",
            body = ErrorBody)))]
async fn undo_migration(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    OptionalJson(request): OptionalJson<ReasonRequest>,
) -> Result<(StatusCode, Json<MigrationView>)> {
    caller.require(ADMINS)?;
    state
        .engine
        .releases()
        .begin_undo(id, &caller.actor(), request.reason.trim())
        .await?;
    work_in_background(&state, id, caller.actor());
    Ok((
        StatusCode::ACCEPTED,
        Json(state.engine.releases().migration_status(id).await?.into()),
    ))
}

/// Ends a running migration where it is: its pending instances stay on their version (their
/// items are skipped with the reason), the instances it moved stay moved, and the process is
/// free for another migration. For a migration that cannot finish, e.g. its target version
/// was withdrawn.
#[utoipa::path(post, path = "/admin/migrations/{id}/abandon", tag = "releases",
    params(("id" = i64, Path, description = "migration id")), request_body = ReasonRequest,
    responses((status = 200, body = MigrationView), (status = 404, body = ErrorBody),
        (status = 409, description = "not running", body = ErrorBody)))]
async fn abandon_migration(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(request): Json<ReasonRequest>,
) -> Result<Json<MigrationView>> {
    caller.require(ADMINS)?;
    let status = state
        .engine
        .releases()
        .abandon_migration(id, &caller.actor(), request.reason.trim())
        .await?;
    Ok(Json(status.into()))
}

/// A definition file as it would be deployed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DefinitionFile {
    /// Shown in `file:line:col` errors.
    pub path: String,
    /// The YAML source.
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImpactRequest {
    pub files: Vec<DefinitionFile>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ImpactGroupView {
    pub process: String,
    pub version: i32,
    pub state: String,
    pub instances: u64,
    pub open_tasks: u64,
    pub timers: u64,
    /// The new version has a state of this name.
    pub in_new_version: bool,
}

/// What deploying one definition would change.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ImpactView {
    pub process: String,
    /// The version it would get; the current one when unchanged.
    pub version: i32,
    pub changed: bool,
    /// The process and version it follows (its own newest, or the process it replaces).
    pub follows: Option<FollowsView>,
    /// Unified diff of the YAML source against the version it follows.
    pub diff: String,
    /// The states it adds, removes and changes against the version it follows (all added
    /// for a new process). `wait`: what an instance resting there waits for changed.
    pub states: Vec<StateChangeView>,
    /// In-flight instances of its lineage per version and state.
    pub in_flight: Vec<ImpactGroupView>,
    /// States in-flight instances wait in that the new version lacks: a restart or a plan
    /// must say where they go.
    pub lost_states: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StateChangeView {
    pub state: String,
    /// `added`, `removed`, `wait` (what it waits for or holds changed) or `changed`.
    #[schema(value_type = String)]
    pub change: forlob_engine::release::StateChangeKind,
}

impl From<forlob_engine::runtime::DefinitionImpact> for ImpactView {
    fn from(i: forlob_engine::runtime::DefinitionImpact) -> Self {
        Self {
            process: i.process_id,
            version: i.version,
            changed: i.changed,
            follows: i
                .follows
                .map(|(process, version)| FollowsView { process, version }),
            diff: i.diff,
            states: i
                .states
                .into_iter()
                .map(|c| StateChangeView {
                    state: c.state,
                    change: c.change,
                })
                .collect(),
            in_flight: i
                .in_flight
                .into_iter()
                .map(|g| ImpactGroupView {
                    process: g.process_id,
                    version: g.version,
                    state: g.state,
                    instances: g.instances,
                    open_tasks: g.open_tasks,
                    timers: g.timers,
                    in_new_version: g.in_new_version,
                })
                .collect(),
            lost_states: i.lost_states,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FollowsView {
    pub process: String,
    pub version: i32,
}

/// The impact analysis of a release before it is deployed (what `forlob deploy --dry-run`
/// prints): per definition the version it would get, its diff, and the in-flight instances it
/// affects. Writes nothing; invalid definitions are refused as a deploy would refuse them.
#[utoipa::path(post, path = "/admin/releases/impact", tag = "releases", request_body = ImpactRequest,
    responses((status = 200, body = Vec<ImpactView>), (status = 403, body = ErrorBody),
        (status = 422, description = "invalid definitions, with `file:line:col` details", body = ErrorBody)))]
async fn release_impact(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<ImpactRequest>,
) -> Result<Json<Vec<ImpactView>>> {
    caller.require(ADMINS)?;
    let files: Vec<SourceFile> = request
        .files
        .into_iter()
        .map(|f| SourceFile {
            path: f.path,
            text: f.text,
        })
        .collect();
    let impacts = state.engine.releases().impact(&files).await?;
    Ok(Json(impacts.into_iter().map(Into::into).collect()))
}

/// Works a running migration, or an undo, on the server; a failure is logged and leaves it
/// resumable (a node's start resumes it, or `POST .../resume`).
pub(crate) fn work_in_background(state: &AppState, id: i64, actor: forlob_engine::Actor) {
    let engine = state.engine.clone();
    state.background.spawn(async move {
        if let Err(e) = engine
            .releases()
            .continue_migration(id, &actor, &|_| {})
            .await
        {
            tracing::error!(migration = id, error = %e, "migration stopped; resume it");
        }
    });
}

/// Continues migration `id` (or its undo) on the server if it is running or being undone.
pub(crate) async fn resume_in_background(
    state: &AppState,
    id: i64,
    actor: forlob_engine::Actor,
) -> Result<MigrationStatus> {
    let status = state.engine.releases().migration_status(id).await?;
    if status.migration.status.is_busy() {
        let record = AuditRecord::new(AuditAction::MigrationResume).target(id);
        state.engine.audit().record(&actor, vec![record]).await?;
        work_in_background(state, id, actor);
    }
    Ok(status)
}

/// Migrations, newest first (at most 100).
#[utoipa::path(get, path = "/admin/migrations", tag = "releases",
    responses((status = 200, body = Vec<MigrationView>), (status = 403, body = ErrorBody)))]
async fn list_migrations(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<MigrationView>>> {
    caller.require(ADMINS)?;
    let listed = state.engine.releases().migrations(100).await?;
    Ok(Json(listed.into_iter().map(Into::into).collect()))
}

/// A migration: its counts per item status and the instances it skipped or failed, with why.
#[utoipa::path(get, path = "/admin/migrations/{id}", tag = "releases",
    params(("id" = i64, Path, description = "migration id")),
    responses((status = 200, body = MigrationView), (status = 404, body = ErrorBody)))]
async fn get_migration(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<MigrationView>> {
    caller.require(ADMINS)?;
    Ok(Json(
        state.engine.releases().migration_status(id).await?.into(),
    ))
}

/// Continues a migration (or its undo) that stopped (a crash, a stopped server); a finished
/// one is left.
#[utoipa::path(post, path = "/admin/migrations/{id}/resume", tag = "releases",
    params(("id" = i64, Path, description = "migration id")),
    responses((status = 202, body = MigrationView), (status = 404, body = ErrorBody)))]
async fn resume_migration(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<MigrationView>)> {
    caller.require(ADMINS)?;
    let status = resume_in_background(&state, id, caller.actor()).await?;
    Ok((StatusCode::ACCEPTED, Json(status.into())))
}
