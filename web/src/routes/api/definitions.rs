//! Drafts of process definitions, for designers' editors, CI and the workbench page:
//! validate them against what is deployed, run scenarios against them on a throw-away
//! database, and keep them as numbered versions per author. Nothing here is deployed.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use forlob_engine::Role;
use forlob_engine::definition::{Diagnostic, SourceFile};
use forlob_engine::workbench::{Draft, Tried};
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
        .routes(routes!(list_shipped))
        .routes(routes!(definition_schema))
        .routes(routes!(save_draft, list_drafts))
        .routes(routes!(get_draft))
        .routes(routes!(compare_draft))
        .routes(routes!(ask_deploy))
        .routes(routes!(deploy_draft))
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
    #[serde(default)]
    pub scenarios: Vec<DefinitionFile>,
    /// The packages' own scenarios to run as well, by the paths
    /// `GET /api/definitions/scenarios` lists. At least one scenario in all; at most 50.
    #[serde(default)]
    pub shipped: Vec<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShippedQuery {
    /// Only the scenarios of the package that defines this process.
    pub process: Option<String>,
}

/// The packages' own scenario files.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ShippedList {
    pub scenarios: Vec<ShippedView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ShippedView {
    /// Relative to the packages' folder; what `shipped` of `POST /api/definitions/test` takes.
    pub path: String,
    /// Its `scenario:` line.
    pub name: String,
}

/// One problem of a draft, where it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiagnosticView {
    pub path: String,
    pub line: u64,
    pub column: u64,
    /// Stable code; `forlob validate --explain` lists them all.
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
    /// What the code means, as `forlob validate --explain` says it.
    pub explain: Option<String>,
}

impl From<Diagnostic> for DiagnosticView {
    fn from(d: Diagnostic) -> Self {
        Self {
            path: d.file,
            line: d.line,
            column: d.column,
            code: d.code.to_owned(),
            explain: forlob_engine::definition::CODES
                .iter()
                .find(|(code, _)| *code == d.code)
                .map(|(_, meaning)| (*meaning).to_owned()),
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

impl From<forlob_engine::workbench::DraftCheck> for ValidationView {
    fn from(check: forlob_engine::workbench::DraftCheck) -> Self {
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
    /// The part that failed: `file` (it does not parse), `start`, `given`, `step 3`,
    /// `settle` (the due work after the last step), `expect` or `time` (stopped).
    pub failed_at: Option<String>,
    /// What ran, in order, up to where it failed, with the transitions each part made.
    pub timeline: Vec<MomentView>,
}

/// One part of a scenario as it ran.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MomentView {
    /// `given`, `step 3`, `settle` or `expect`.
    pub part: String,
    /// The part as written, shortened.
    pub what: String,
    /// The scenario's clock when it began.
    pub at: DateTime<Utc>,
    pub failure: Option<String>,
    /// The instances' transitions it made (at most 50).
    pub transitions: Vec<TransitionView>,
    /// Transitions it made beyond those listed.
    pub left_out: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TransitionView {
    pub process: String,
    pub subject: String,
    pub from: Option<String>,
    pub to: String,
    pub trigger: String,
    pub at: DateTime<Utc>,
}

impl From<forlob_engine::scenario::ScenarioResult> for ScenarioResultView {
    fn from(r: forlob_engine::scenario::ScenarioResult) -> Self {
        Self {
            passed: r.failure.is_none(),
            name: r.name,
            path: r.file,
            failure: r.failure,
            failed_at: r.failed_at,
            timeline: r
                .timeline
                .into_iter()
                .map(|m| MomentView {
                    part: m.part,
                    what: m.what,
                    at: m.at,
                    failure: m.failure,
                    left_out: m.left_out,
                    transitions: m
                        .transitions
                        .into_iter()
                        .map(|t| TransitionView {
                            process: t.process,
                            subject: t.subject,
                            from: t.from,
                            to: t.to,
                            trigger: t.trigger,
                            at: t.at,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
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
    Ok(Json(
        state.engine.workbench().check_draft(&files).await?.into(),
    ))
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
    let shipped = shipped_files(&state, None, &request.shipped)?;
    let tried = state
        .engine
        .workbench()
        .test_draft(
            &files,
            &Tried {
                sent: &scenarios,
                shipped: state
                    .settings
                    .packages_dir
                    .as_deref()
                    .map(|root| (shipped.as_slice(), root)),
            },
        )
        .await?;
    Ok(Json(tried.into()))
}

impl From<forlob_engine::workbench::DraftTest> for TestView {
    fn from(tried: forlob_engine::workbench::DraftTest) -> Self {
        let results: Vec<ScenarioResultView> = tried.results.into_iter().map(Into::into).collect();
        let passed = results.iter().filter(|r| r.passed).count();
        let validation = ValidationView::from(tried.check);
        Self {
            ok: validation.valid && passed == results.len(),
            validation,
            passed,
            failed: results.len() - passed,
            results,
        }
    }
}

/// The JSON Schema of the definition format (what `forlob schema` prints), for the
/// workbench's completion and hover and for editors (a YAML language server can point at
/// it). Public, as the format's documentation is.
#[utoipa::path(get, path = "/definitions/schema", tag = "definitions",
    responses((status = 200, description = "a JSON Schema (draft 2020-12)", body = Object)))]
async fn definition_schema() -> Json<serde_json::Value> {
    Json(forlob_engine::definition::json_schema())
}

/// The packages' own scenario files: of the package that defines `process` when given, all
/// when not; `wanted` picks some by path (each must be one of them: a 422 names the first that
/// is not).
pub(crate) fn shipped_files(
    state: &AppState,
    process: Option<&str>,
    wanted: &[String],
) -> Result<Vec<SourceFile>> {
    if wanted.is_empty() && process.is_none() {
        return Ok(Vec::new());
    }
    let Some(root) = state.settings.packages_dir.as_deref() else {
        return match wanted.first() {
            Some(path) => Err(not_shipped(path)),
            None => Ok(Vec::new()),
        };
    };
    let all = forlob_engine::files::shipped_scenarios(
        root,
        process.map(|p| [p]).as_ref().map(|p| &p[..]),
    )
    .map_err(|e| crate::error::AppError::internal(&std::io::Error::other(e)))?;
    if wanted.is_empty() {
        return Ok(all.into_iter().map(|s| s.file).collect());
    }
    wanted
        .iter()
        .map(|path| {
            all.iter()
                .find(|s| &s.file.path == path)
                .map(|s| s.file.clone())
                .ok_or_else(|| not_shipped(path))
        })
        .collect()
}

fn not_shipped(path: &str) -> crate::error::AppError {
    let shown: String = path.chars().take(120).collect();
    let mut errors = forlob_engine::form::FieldErrors::new();
    errors.insert(
        "shipped".into(),
        forlob_engine::message::Message::new(forlob_engine::message::Code::NOT_SHIPPED)
            .with("path", shown),
    );
    crate::error::AppError::fields(errors)
}

/// The packages' own scenario files, which `POST /api/definitions/test` runs by path
/// (`shipped`): the package's that defines `process`, or every package's.
#[utoipa::path(get, path = "/definitions/scenarios", tag = "definitions", params(ShippedQuery),
    responses((status = 200, body = ShippedList), (status = 403, body = ErrorBody)))]
async fn list_shipped(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ShippedQuery>,
) -> Result<Json<ShippedList>> {
    caller.require(DESIGNERS)?;
    let Some(root) = state.settings.packages_dir.as_deref() else {
        return Ok(Json(ShippedList {
            scenarios: Vec::new(),
        }));
    };
    let process = query.process.as_deref().map(|p| [p]);
    let found = forlob_engine::files::shipped_scenarios(root, process.as_ref().map(|p| &p[..]))
        .map_err(|e| crate::error::AppError::internal(&std::io::Error::other(e)))?;
    Ok(Json(ShippedList {
        scenarios: found
            .into_iter()
            .map(|s| ShippedView {
                path: s.file.path,
                name: s.name,
            })
            .collect(),
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

/// What every view of a draft says about it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DraftHead {
    pub id: i64,
    pub process: String,
    pub author: String,
    /// 1, 2, ... per author and process.
    pub version: i32,
    pub note: String,
    pub created_at: DateTime<Utc>,
    /// When a deploy was asked for; an admin's list of waiting drafts shows it.
    pub deploy_asked_at: Option<DateTime<Utc>>,
    pub deployed_at: Option<DateTime<Utc>>,
    pub deployed_by: Option<String>,
    /// `process vN, …`: what the deploy made of it.
    pub deployed_versions: Option<String>,
}

impl DraftHead {
    fn of(d: &Draft) -> Self {
        Self {
            id: d.id,
            process: d.process_id.clone(),
            author: d.author.clone(),
            version: d.version,
            note: d.note.clone(),
            created_at: d.created_at,
            deploy_asked_at: d.deploy_asked_at,
            deployed_at: d.deployed.as_ref().map(|x| x.at),
            deployed_by: d.deployed.as_ref().map(|x| x.by.clone()),
            deployed_versions: d.deployed.as_ref().map(|x| x.versions.clone()),
        }
    }
}

/// A stored draft: one version of an author's work on a process.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DraftView {
    #[serde(flatten)]
    pub head: DraftHead,
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
            head: DraftHead::of(&d),
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
    /// Only drafts asked to be deployed and not deployed yet.
    #[serde(default)]
    pub waiting: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DraftList {
    /// Newest first: a designer's own, everyone's for an admin (at most 200), without their
    /// texts (`GET /api/drafts/{id}` has them).
    pub drafts: Vec<DraftSummaryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DraftSummaryView {
    #[serde(flatten)]
    pub head: DraftHead,
    /// The paths of its files.
    pub files: Vec<String>,
}

impl From<Draft> for DraftSummaryView {
    fn from(d: Draft) -> Self {
        Self {
            head: DraftHead::of(&d),
            files: d.files.into_iter().map(|f| f.path).collect(),
        }
    }
}

/// A draft against what is deployed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ComparisonView {
    pub draft: DraftSummaryView,
    pub validation: ValidationView,
    /// Per process of the draft: its diff against the deployed version, the states it adds,
    /// removes and changes, and the in-flight instances it meets; empty when not valid.
    pub definitions: Vec<super::releases::ImpactView>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeployDraftRequest {
    /// Why it is deployed; kept in the audit log with the deploy.
    pub reason: Option<String>,
    /// Deploy although scenarios fail; needs a `reason`. Without it a failing scenario
    /// refuses the deploy.
    #[serde(default)]
    pub override_failing_scenarios: bool,
}

/// A draft deployed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DraftDeployView {
    pub draft: DraftSummaryView,
    /// The versions it got (`changed: false` for a process it left as deployed).
    pub deployed: Vec<DeployedView>,
    /// The package's scenarios it was tried against.
    pub test: TestView,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeployedView {
    pub process: String,
    pub version: i32,
    pub changed: bool,
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
        .workbench()
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
        .workbench()
        .drafts(
            query.process.as_deref(),
            query.waiting,
            &caller.actor(),
            200,
        )
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
    Ok(Json(
        state
            .engine
            .workbench()
            .draft(id, &caller.actor())
            .await?
            .into(),
    ))
}

/// A draft against what is deployed: its validation, and per process the diff, the states
/// added, removed and changed, and the in-flight instances it meets (counts, no persons).
#[utoipa::path(get, path = "/drafts/{id}/compare", tag = "definitions", params(("id" = i64, Path)),
    responses((status = 200, body = ComparisonView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn compare_draft(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<ComparisonView>> {
    caller.require(DESIGNERS)?;
    let compared = state
        .engine
        .workbench()
        .compare_draft(id, &caller.actor())
        .await?;
    Ok(Json(ComparisonView {
        draft: compared.draft.into(),
        validation: compared.check.into(),
        definitions: compared.impacts.into_iter().map(Into::into).collect(),
    }))
}

/// Asks an admin to deploy the draft (audited as `draft.ask_deploy`): it appears in
/// `GET /api/drafts?waiting=true` and on the designer page until deployed.
#[utoipa::path(post, path = "/drafts/{id}/ask-deploy", tag = "definitions", params(("id" = i64, Path)),
    responses((status = 200, body = DraftSummaryView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "deployed already", body = ErrorBody),
        (status = 422, description = "the draft is not valid", body = ErrorBody)))]
async fn ask_deploy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<DraftSummaryView>> {
    caller.require(DESIGNERS)?;
    Ok(Json(
        state
            .engine
            .workbench()
            .ask_deploy(id, &caller.actor())
            .await?
            .into(),
    ))
}

/// Deploys the draft (admins), after running its package's scenarios against it on a
/// throw-away database: a failing scenario refuses the deploy with a 409 whose `details` are
/// the results, unless `override_failing_scenarios` and a `reason` say it may go anyway (the
/// reason is audited with the deploy either way).
/// In-flight instances stay on their version; restart or migrate them on the releases page.
#[utoipa::path(post, path = "/drafts/{id}/deploy", tag = "definitions", params(("id" = i64, Path)),
    request_body = DeployDraftRequest,
    responses((status = 200, body = DraftDeployView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "a scenario fails (details: the try), or deployed already", body = ErrorBody),
        (status = 422, description = "the draft is not valid", body = ErrorBody)))]
async fn deploy_draft(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(request): Json<DeployDraftRequest>,
) -> Result<Json<DraftDeployView>> {
    caller.require(&[Role::Admin])?;
    let actor = caller.actor();
    let done = state
        .engine
        .workbench()
        .deploy_draft(
            id,
            state.settings.packages_dir.as_deref(),
            &forlob_engine::workbench::DeployRequest {
                reason: request.reason.as_deref(),
                overrides: request.override_failing_scenarios,
            },
            &actor,
        )
        .await?;
    let test = TestView::from(done.test);
    let Some(deployed) = done.deployed else {
        return Err(crate::error::AppError::new(
            StatusCode::CONFLICT,
            "scenarios_fail",
            format!(
                "{} of {} scenarios fail against the draft; fix it, or deploy with `override_failing_scenarios` and a `reason`",
                test.failed,
                test.failed + test.passed
            ),
        )
        .with_details(serde_json::to_value(&test).unwrap_or_default()));
    };
    Ok(Json(DraftDeployView {
        draft: state.engine.workbench().draft(id, &actor).await?.into(),
        deployed: deployed
            .into_iter()
            .map(|d| DeployedView {
                process: d.process_id,
                version: d.version,
                changed: d.changed,
            })
            .collect(),
        test,
    }))
}
