//! Drafts of process definitions, for designers' editors, CI and the workbench page:
//! validate them against what is deployed, and run scenarios against them on a throw-away
//! database. Nothing here is deployed or stored.

use axum::extract::State;
use forlob_engine::Role;
use forlob_engine::definition::{Diagnostic, SourceFile};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Json;
use super::releases::DefinitionFile;
use crate::auth::Caller;
use crate::error::{AppError, ErrorBody, Result};
use crate::state::AppState;

const DESIGNERS: &[Role] = &[Role::Designer, Role::Admin];

/// At most this many definition files and scenario files in one request: a release, not a
/// repository.
const MAX_FILES: usize = 100;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(validate_definitions))
        .routes(routes!(test_definitions))
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
    /// The draft's validation; scenarios run only when it is valid.
    pub validation: ValidationView,
    pub passed: usize,
    pub failed: usize,
    pub results: Vec<ScenarioResultView>,
}

fn sources(files: Vec<DefinitionFile>, field: &str) -> Result<Vec<SourceFile>> {
    if files.len() > MAX_FILES {
        return Err(AppError::invalid([(
            field,
            format!("at most {MAX_FILES} files in one request"),
        )]));
    }
    Ok(files
        .into_iter()
        .map(|f| SourceFile {
            path: f.path,
            text: f.text,
        })
        .collect())
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
    let files = sources(request.files, "files")?;
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
    let files = sources(request.files, "files")?;
    let scenarios = sources(request.scenarios, "scenarios")?;
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
    Ok(Json(TestView {
        validation: tried.check.into(),
        passed,
        failed: results.len() - passed,
        results,
    }))
}
