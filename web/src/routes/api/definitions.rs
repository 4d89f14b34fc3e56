//! Drafts of process definitions, for designers' editors, CI and the workbench page:
//! validate them against what is deployed, run scenarios against them on a throw-away
//! database, and keep them as numbered versions per author. Nothing here is deployed.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use forlob_engine::Role;
use forlob_engine::definition::{Diagnostic, SourceFile};
use forlob_engine::runtime::Draft;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::releases::DefinitionFile;
use super::{Json, Path, Query};
use crate::auth::Caller;
use crate::error::{ErrorBody, Result};
use crate::state::AppState;

const DESIGNERS: &[Role] = &[Role::Designer, Role::Admin];

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(validate_definitions))
        .routes(routes!(test_definitions))
        .routes(routes!(save_draft, list_drafts))
        .routes(routes!(get_draft))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValidateRequest {
    /// The draft's definition files.
    pub files: Vec<DefinitionFile>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestRequest {
    /// The draft's definition files.
    pub files: Vec<DefinitionFile>,
    /// Scenario files (the format of `forlob test`) to run against the draft; the files their
    /// steps name (a previous release, a plan) are looked up among `files` and `scenarios`
    /// by their paths relative to the scenario's.
    pub scenarios: Vec<DefinitionFile>,
}

/// One problem of a draft, where it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiagnosticView {
    pub path: String,
    pub line: u64,
    pub column: u64,
    /// Stable code; `forlob validate --explain` says what each means.
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
}

impl From<Diagnostic> for DiagnosticView {
    fn from(d: Diagnostic) -> Self {
        Self {
            path: d.file,
            line: d.line,
            column: d.column,
            code: d.code.to_owned(),
            message: d.message,
            hint: d.hint,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DraftProcessView {
    pub id: String,
    pub title: String,
    /// The states that ask a caseworker a form.
    pub forms: Vec<String>,
    /// The state machine as a Mermaid `stateDiagram-v2`.
    pub diagram: String,
}

/// A validation: an invalid draft is a successful validation (200) that says why.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationView {
    pub valid: bool,
    pub diagnostics: Vec<DiagnosticView>,
    /// The draft's processes with their diagrams; empty when it is not valid.
    pub processes: Vec<DraftProcessView>,
}

impl From<forlob_engine::runtime::DraftCheck> for ValidationView {
    fn from(check: forlob_engine::runtime::DraftCheck) -> Self {
        Self {
            valid: check.valid,
            diagnostics: check.diagnostics.into_iter().map(Into::into).collect(),
            processes: check
                .processes
                .into_iter()
                .map(|p| DraftProcessView {
                    id: p.id,
                    title: p.title,
                    forms: p.forms,
                    diagram: p.diagram,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScenarioResultView {
    /// The scenario's own name (its `scenario:` line).
    pub name: String,
    pub path: String,
    pub passed: bool,
    /// The step or expectation that failed, and how.
    pub failure: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TestView {
    /// The draft is valid and every scenario passed: what CI checks.
    pub ok: bool,
    /// The draft's validation; scenarios run only when it is valid.
    pub validation: ValidationView,
    pub passed: usize,
    pub failed: usize,
    pub results: Vec<ScenarioResultView>,
}

/// The files of a request as the engine takes them (it checks their number and sizes).
fn sources(files: Vec<DefinitionFile>) -> Vec<SourceFile> {
    files
        .into_iter()
        .map(|f| SourceFile {
            path: f.path,
            text: f.text,
        })
        .collect()
}

/// Validates a draft as a deploy would, without deploying it: references to other processes
/// resolve against these files and what is deployed. 200 for a draft with problems too,
/// each at its `path:line:column` with a code and a hint.
#[utoipa::path(post, path = "/definitions/validate", tag = "definitions", request_body = ValidateRequest,
    responses((status = 200, body = ValidationView), (status = 403, body = ErrorBody),
        (status = 422, description = "too many files", body = ErrorBody)))]
async fn validate_definitions(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<ValidateRequest>,
) -> Result<Json<ValidationView>> {
    caller.require(DESIGNERS)?;
    let files = sources(request.files);
    Ok(Json(state.engine.check_draft(&files).await?.into()))
}

/// Runs scenario files against a draft, each on a fresh in-memory database with the manual
/// clock: the deployed processes with the draft's in place of their own. The server's
/// database is not touched, and a scenario reads no file of the server.
#[utoipa::path(post, path = "/definitions/test", tag = "definitions", request_body = TestRequest,
    responses((status = 200, body = TestView), (status = 403, body = ErrorBody),
        (status = 422, description = "too many files", body = ErrorBody)))]
async fn test_definitions(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<TestRequest>,
) -> Result<Json<TestView>> {
    caller.require(DESIGNERS)?;
    let files = sources(request.files);
    let scenarios = sources(request.scenarios);
    let tried = state.engine.test_draft(&files, &scenarios).await?;
    let results: Vec<ScenarioResultView> = tried
        .results
        .into_iter()
        .map(|r| ScenarioResultView {
            passed: r.failure.is_none(),
            name: r.name,
            path: r.file,
            failure: r.failure,
        })
        .collect();
    let passed = results.iter().filter(|r| r.passed).count();
    let validation = ValidationView::from(tried.check);
    Ok(Json(TestView {
        ok: validation.valid && passed == results.len(),
        validation,
        passed,
        failed: results.len() - passed,
        results,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDraft {
    /// The process the draft is of (a new one's id, or a deployed one's).
    pub process: String,
    pub files: Vec<DefinitionFile>,
    /// What changed, for the admin who deploys it.
    #[serde(default)]
    pub note: String,
}

/// A stored draft: one version of an author's work on a process.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DraftView {
    pub id: i64,
    pub process: String,
    pub author: String,
    /// 1, 2, ... per author and process.
    pub version: i32,
    pub note: String,
    pub created_at: DateTime<Utc>,
    pub files: Vec<DraftFileView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DraftFileView {
    pub path: String,
    pub text: String,
}

impl From<Draft> for DraftView {
    fn from(d: Draft) -> Self {
        Self {
            id: d.id,
            process: d.process_id,
            author: d.author,
            version: d.version,
            note: d.note,
            created_at: d.created_at,
            files: d
                .files
                .into_iter()
                .map(|f| DraftFileView {
                    path: f.path,
                    text: f.text,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DraftQuery {
    /// Only drafts of this process.
    pub process: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DraftList {
    /// Newest first: a designer's own, everyone's for an admin (at most 200), without their
    /// texts (`GET /api/drafts/{id}` has them).
    pub drafts: Vec<DraftSummaryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DraftSummaryView {
    pub id: i64,
    pub process: String,
    pub author: String,
    pub version: i32,
    pub note: String,
    pub created_at: DateTime<Utc>,
    /// The paths of its files.
    pub files: Vec<String>,
}

impl From<Draft> for DraftSummaryView {
    fn from(d: Draft) -> Self {
        Self {
            id: d.id,
            process: d.process_id,
            author: d.author,
            version: d.version,
            note: d.note,
            created_at: d.created_at,
            files: d.files.into_iter().map(|f| f.path).collect(),
        }
    }
}

/// Saves a draft as the next version of the caller's work on the process (audited as
/// `draft.save`). A draft may be invalid: it is stored, never run.
#[utoipa::path(post, path = "/drafts", tag = "definitions", request_body = NewDraft,
    responses((status = 201, body = DraftView), (status = 403, body = ErrorBody),
        (status = 409, description = "another version was saved at the same moment", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn save_draft(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<NewDraft>,
) -> Result<(StatusCode, Json<DraftView>)> {
    caller.require(DESIGNERS)?;
    let files = sources(request.files);
    let saved = state
        .engine
        .save_draft(&request.process, &files, &request.note, &caller.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(saved.into())))
}

/// Drafts, newest first: the caller's own (a designer) or everyone's (an admin).
#[utoipa::path(get, path = "/drafts", tag = "definitions", params(DraftQuery),
    responses((status = 200, body = DraftList), (status = 403, body = ErrorBody)))]
async fn list_drafts(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<DraftQuery>,
) -> Result<Json<DraftList>> {
    caller.require(DESIGNERS)?;
    super::check_filters(
        [("process", query.process.as_deref())],
        state.engine.limits().query,
    )?;
    let drafts = state
        .engine
        .drafts(query.process.as_deref(), &caller.actor(), 200)
        .await?;
    Ok(Json(DraftList {
        drafts: drafts.into_iter().map(Into::into).collect(),
    }))
}

/// One draft with its files; another designer's is not found.
#[utoipa::path(get, path = "/drafts/{id}", tag = "definitions", params(("id" = i64, Path)),
    responses((status = 200, body = DraftView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_draft(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<DraftView>> {
    caller.require(DESIGNERS)?;
    Ok(Json(state.engine.draft(id, &caller.actor()).await?.into()))
}
