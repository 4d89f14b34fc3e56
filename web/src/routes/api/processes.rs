//! Deployed process definitions (everyone signed in may list them; designers and admins read
//! their source and diagram) and manual starts (R8, R10 are the definitions' `allowed`).

use axum::extract::State;
use axum::http::StatusCode;
use forlob_engine::Role;
use forlob_engine::definition::ProcessDefinition;
use forlob_engine::store;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{Json, Path};
use crate::auth::Caller;
use crate::error::{AppError, ErrorBody, Result};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_processes))
        .routes(routes!(get_process))
        .routes(routes!(start_instance))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProcessSummary {
    pub id: String,
    /// The newest deployed version; new starts use it.
    pub version: i32,
    pub title: String,
    /// What an instance is about, e.g. `person`.
    pub subject_kind: String,
    /// Whether people may start it by hand (`POST /api/processes/{id}/instances`).
    pub manual_start: bool,
    /// Former ids whose starts and messages route here.
    pub replaces: Vec<String>,
}

/// The latest version of every deployed process.
pub(crate) fn summaries(state: &AppState) -> Vec<ProcessSummary> {
    state
        .engine
        .catalog()
        .latest_all()
        .into_iter()
        .map(|(version, d)| summary(version, &d))
        .collect()
}

fn summary(version: i32, d: &ProcessDefinition) -> ProcessSummary {
    ProcessSummary {
        id: d.id.clone(),
        version,
        title: d.title.clone(),
        subject_kind: d.subject_kind.clone(),
        manual_start: d.manual_start.is_some(),
        replaces: d.replaces.clone(),
    }
}

/// Deployed processes, newest version of each.
#[utoipa::path(get, path = "/processes", tag = "processes",
    responses((status = 200, body = Vec<ProcessSummary>), (status = 401, body = ErrorBody)))]
async fn list_processes(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<ProcessSummary>>> {
    Ok(Json(summaries(&state)))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VersionView {
    pub version: i32,
    pub hash: String,
    pub deployed_at: chrono::DateTime<chrono::Utc>,
    /// The YAML as deployed.
    pub source: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProcessDetail {
    #[serde(flatten)]
    pub summary: ProcessSummary,
    /// Mermaid `stateDiagram-v2` text of the newest version.
    pub diagram: String,
    /// Every deployed version, oldest first.
    pub versions: Vec<VersionView>,
}

/// A process's versions, YAML sources and diagram (designers and admins).
#[utoipa::path(get, path = "/processes/{id}", tag = "processes", params(("id" = String, Path, description = "process id")),
    responses((status = 200, body = ProcessDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_process(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProcessDetail>> {
    caller.require(&[Role::Designer, Role::Admin])?;
    Ok(Json(process_detail(&state, &id).await?))
}

pub(crate) async fn process_detail(state: &AppState, id: &str) -> Result<ProcessDetail> {
    let catalog = state.engine.catalog();
    let id = catalog.resolve_id(id).to_owned();
    let (version, def) = catalog
        .latest(&id)
        .ok_or_else(|| AppError::not_found(format!("no process `{id}`")))?;
    let versions = store::definition_versions(state.engine.db(), &id)
        .await?
        .into_iter()
        .map(|d| VersionView {
            version: d.version,
            hash: d.hash,
            deployed_at: d.deployed_at,
            source: d.source,
        })
        .collect();
    Ok(ProcessDetail {
        summary: summary(version, &def),
        diagram: def.mermaid(),
        versions,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartRequest {
    /// The subject's id, e.g. a CPR number.
    pub subject: String,
    /// Variables the process starts with.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Started {
    pub instance_id: Uuid,
}

/// Starts the process by hand for a subject, where the definition allows the caller to.
#[utoipa::path(post, path = "/processes/{id}/instances", tag = "processes",
    params(("id" = String, Path, description = "process id (or a former id it replaces)")),
    request_body = StartRequest,
    responses((status = 201, body = Started),
        (status = 403, description = "the definition does not let you start it (e.g. R8, R10)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "unknown subject or bad variables", body = ErrorBody)))]
async fn start_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(request): Json<StartRequest>,
) -> Result<(StatusCode, Json<Started>)> {
    caller.require(&[Role::Caseworker, Role::Admin])?;
    let subject = request.subject.trim();
    if subject.is_empty() {
        return Err(AppError::invalid([("subject", "give the subject's id")]));
    }
    let instance_id = state
        .engine
        .commands()
        .start_instance(&id, subject, request.variables, &caller.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(Started { instance_id })))
}

#[cfg(test)]
mod tests {
    #[test]
    fn start_requests_refuse_unknown_fields() {
        let parsed: Result<super::StartRequest, _> =
            serde_json::from_str(r#"{"subject": "1", "subjekt": "2"}"#);
        assert!(parsed.is_err());
    }
}
