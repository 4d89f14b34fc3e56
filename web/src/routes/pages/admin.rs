//! The admin's pages: instances (search, detail with history, variables and the diagram with
//! the current state highlighted), incidents (retry), dead letters, users and tokens.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Utc};
use forlob_engine::form::FieldTexts;
use forlob_engine::instance::Incident;
use forlob_engine::runtime::InstanceOperation;
use forlob_engine::store::InstanceOrder;
use forlob_engine::{InstanceStatus, Role, store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::confirm::{Ask, Confirmation};
use super::{
    Admins, Chrome, MunicipalityChoice, PageRange, SignedIn, SignedInAs, SortHeader, done,
    list_link, municipality_choices, page_range, sort_headers,
};
use crate::auth::Caller;
use crate::error::AppError;
use crate::routes::api::admin::{
    DeadLetterQuery, DeadLetterSummaryView, InstanceDetail, InstanceQuery, LIST_LIMIT,
    instance_detail, instance_page,
};
use crate::routes::api::model::InstanceView;
use crate::routes::api::processes::summaries;
use crate::routes::api::{Path, Query};
use crate::state::AppState;
use crate::users::{self, UserSpec};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/instances", get(instances))
        .route("/admin/instances/{id}", get(instance))
        .route("/admin/incidents", get(incidents))
        .route("/admin/incidents/{id}/retry", post(retry))
        .route("/admin/incidents/{id}/variables", post(edit_variables))
        .route("/admin/incidents/{id}/skip", post(skip))
        .route("/admin/incidents/{id}/cancel", post(cancel))
        .route("/admin/instances/{id}/operate", post(operate))
        .route("/admin/dead-letters", get(dead_letters))
        .route("/admin/dead-letters/{id}", get(dead_letter))
        .route("/admin/dead-letters/{id}/replay", post(replay))
        .route("/admin/users", get(users_page).post(add_user))
        .route("/admin/users/{username}/tokens", post(new_token))
        .route("/admin/tokens/{id}/revoke", post(revoke))
        .route("/admin/users/{username}/disable", post(disable))
        .route("/admin/users/{username}/enable", post(enable))
}

pub(super) fn admin(caller: &Caller) -> Result<(), AppError> {
    caller.require(&[Role::Admin])
}

/// Instances a page at a time.
const INSTANCES_PAGE: u64 = 50;

/// The instance list: filters (process, version, state, status, subject, municipality,
/// started between), sortable columns, a page at a time with the total.
async fn instances(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    axum::extract::Query(query): axum::extract::Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    // Unknown parameters are ignored here (bookmarks outlive filters); the API refuses them.
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let version = match get("version") {
        None => None,
        Some(v) => Some(
            v.parse::<i32>()
                .map_err(|_| AppError::invalid([("version", "give a version number, e.g. 2")]))?,
        ),
    };
    let search = InstanceQuery {
        process: get("process"),
        state: get("state"),
        status: get("status"),
        subject: get("subject"),
        version,
        municipality: get("municipality"),
        started_from: get("started_from"),
        started_to: get("started_to"),
        sort: get("sort"),
        limit: Some(INSTANCES_PAGE),
        offset: get("offset").and_then(|o| o.parse().ok()),
    };
    let filter = search.filter(state.engine.limits(), state.engine.timezone())?;
    let db = state.engine.db();
    let (total, found) = instance_page(&state, &caller, &filter).await?;
    let offset = filter.offset.unwrap_or(0);
    let shown = found.len() as u64;
    let processes = summaries(&state)
        .into_iter()
        .map(|p| ProcessChoice {
            selected: search.process.as_deref() == Some(p.id.as_str()),
            id: p.id,
        })
        .collect();
    let statuses = ["active", "incident", "suspended", "completed", "cancelled"]
        .into_iter()
        .map(|value| StatusChoice {
            value,
            selected: search.status.as_deref() == Some(value),
        })
        .collect();
    let (_, municipalities) = store::task_sources(db, None, None).await?;
    let municipalities =
        municipality_choices(&state, &municipalities, search.municipality.as_deref());
    let link = |changes: &[(&str, String)]| list_link("/admin/instances", &query, changes);
    let columns = sort_headers(
        &[
            (InstanceOrder::Process.as_str(), "admin.process"),
            (InstanceOrder::Version.as_str(), "admin.version"),
            (InstanceOrder::Subject.as_str(), "admin.subject"),
            (InstanceOrder::State.as_str(), "admin.state"),
            (InstanceOrder::Status.as_str(), "admin.status"),
            (InstanceOrder::Started.as_str(), "admin.started"),
            (InstanceOrder::Updated.as_str(), "admin.updated"),
        ],
        filter.order.as_str(),
        filter.descending,
        |sort| link(&[("sort", sort)]),
    );
    let view = InstancesPage {
        instances: found.into_iter().map(InstanceView::from).collect(),
        processes,
        statuses,
        municipalities,
        columns,
        search: InstanceSearch {
            version: get("version"),
            state: search.state,
            subject: search.subject,
            started_from: search.started_from,
            started_to: search.started_to,
            sort: search.sort,
        },
        total,
        range: page_range(offset, shown),
        prev: (offset > 0)
            .then(|| link(&[("offset", offset.saturating_sub(INSTANCES_PAGE).to_string())])),
        next: (offset + shown < total).then(|| link(&[("offset", (offset + shown).to_string())])),
    };
    let title = state.ui.text(chrome.lang, "admin.instances");
    Ok(state
        .ui
        .page("admin_instances", &chrome, &title, view)?
        .into_response())
}

/// `admin_instances`: the instance list with its filters.
#[derive(Debug, Serialize)]
struct InstancesPage {
    instances: Vec<InstanceView>,
    processes: Vec<ProcessChoice>,
    statuses: Vec<StatusChoice>,
    municipalities: Vec<MunicipalityChoice>,
    columns: Vec<SortHeader>,
    search: InstanceSearch,
    /// How many instances the filters find.
    total: u64,
    range: PageRange,
    prev: Option<String>,
    next: Option<String>,
}

/// A process the instance filter offers.
#[derive(Debug, Serialize)]
struct ProcessChoice {
    id: String,
    selected: bool,
}

/// A status the instance filter offers.
#[derive(Debug, Serialize)]
struct StatusChoice {
    value: &'static str,
    selected: bool,
}

/// The instance filter's text fields as given.
#[derive(Debug, Serialize)]
struct InstanceSearch {
    state: Option<String>,
    subject: Option<String>,
    version: Option<String>,
    started_from: Option<String>,
    started_to: Option<String>,
    sort: Option<String>,
}

async fn instance(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    admin(&caller)?;
    render_instance(&state, &chrome, &caller, id, None).await
}

/// An edit of the variables that was refused, shown again in its form with why.
#[derive(Debug)]
struct RefusedEdit {
    incident: i64,
    variables: String,
    reason: String,
    problem: String,
    /// The refusal was a variable the definition never reads: offer to add it anyway.
    unread: bool,
}

async fn render_instance(
    state: &AppState,
    chrome: &Chrome,
    caller: &Caller,
    id: Uuid,
    refused: Option<RefusedEdit>,
) -> Result<Response, AppError> {
    let detail = instance_detail(state, id, caller).await?;
    let variables = serde_json::to_string_pretty(&detail.instance.variables).unwrap_or_default();
    let incidents = store::incidents_of(state.engine.db(), id, true).await?;
    // Where a skip may go: the states of the instance's own version.
    let states: Vec<String> = state
        .engine
        .catalog()
        .version(&detail.instance.process_id, detail.instance.version)
        .map(|d| d.states.keys().cloned().collect())
        .unwrap_or_default();
    // What an admin may do with the instance as it is now; an incident has its own actions.
    let operations = match detail.instance.status.as_str() {
        "active" => Some(Operations {
            suspend: true,
            resume: false,
            cancel: true,
        }),
        "suspended" => Some(Operations {
            suspend: false,
            resume: true,
            cancel: true,
        }),
        _ => None,
    };
    // Each open incident offers to correct the variables first; a refused edit keeps its text.
    let incidents = incidents
        .into_iter()
        .map(|incident| {
            let edit = match &refused {
                Some(r) if r.incident == incident.id => VariablesEdit {
                    variables: r.variables.clone(),
                    reason: r.reason.clone(),
                    problem: Some(r.problem.clone()),
                    unread: r.unread,
                },
                _ => VariablesEdit {
                    variables: variables.clone(),
                    reason: String::new(),
                    problem: None,
                    unread: false,
                },
            };
            IncidentWithEdit { incident, edit }
        })
        .collect();
    let status = if refused.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let title = format!("{} {}", detail.instance.process_id, detail.instance.subject);
    let view = InstancePage {
        detail,
        variables,
        incidents,
        states,
        operations,
    };
    Ok((
        status,
        state.ui.page("admin_instance", chrome, &title, view)?,
    )
        .into_response())
}

/// `admin_instance`: one instance with its history, incidents and operations.
#[derive(Debug, Serialize)]
struct InstancePage {
    detail: InstanceDetail,
    /// The variables as pretty JSON.
    variables: String,
    incidents: Vec<IncidentWithEdit>,
    /// Where a skip may go: the states of the instance's own version.
    states: Vec<String>,
    /// None for an instance with nothing to do (finished, or with an incident).
    operations: Option<Operations>,
}

/// The operations an instance offers; the template asks for each that is there.
#[derive(Debug, Serialize)]
struct Operations {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    suspend: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    resume: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cancel: bool,
}

/// An open incident with its form to correct the variables and retry.
#[derive(Debug, Serialize)]
struct IncidentWithEdit {
    #[serde(flatten)]
    incident: Incident,
    edit: VariablesEdit,
}

/// The "correct the variables" form: the variables as they are, or a refused edit as typed.
#[derive(Debug, Serialize)]
struct VariablesEdit {
    variables: String,
    reason: String,
    /// Why the edit was refused.
    problem: Option<String>,
    /// The refusal was a variable the definition never reads: offer to add it anyway.
    unread: bool,
}

#[derive(Debug, Deserialize)]
struct VariablesForm {
    variables: String,
    #[serde(default)]
    reason: String,
    /// The checkbox "add them anyway", offered once a new variable was refused.
    #[serde(default)]
    add_unread: Option<String>,
}

/// "Correct the variables and retry": the instance's variables as edited (a JSON object)
/// are set and the failed step retried in one transaction; what is refused (no JSON object,
/// a variable the definition never reads, no reason) comes back in the form with why.
async fn edit_variables(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    Path(id): Path<i64>,
    Form(form): Form<VariablesForm>,
) -> Result<Response, AppError> {
    let incident = store::incident(state.engine.db(), id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no incident {id}")))?;
    let refuse = |problem: String, unread: bool| RefusedEdit {
        incident: id,
        variables: form.variables.clone(),
        reason: form.reason.clone(),
        problem,
        unread,
    };
    let parsed = match serde_json::from_str::<Value>(&form.variables) {
        Ok(Value::Object(variables)) => Ok(variables),
        Ok(_) => Err(state.ui.text(chrome.lang, "incident.variables_not_object")),
        // Where the JSON breaks, in the page's words (serde's own are English).
        Err(e) => Err(forlob_engine::message::fill(
            &state.ui.text(chrome.lang, "incident.variables_not_json"),
            &[
                ("line", e.line().to_string()),
                ("column", e.column().to_string()),
            ],
        )),
    };
    let outcome = match parsed {
        Ok(variables) => {
            state
                .engine
                .operations()
                .retry_incident_with_variables(
                    id,
                    &caller.actor(),
                    &variables,
                    form.reason.trim(),
                    form.add_unread.is_some(),
                )
                .await
        }
        Err(problem) => {
            let refused = refuse(problem, false);
            return render_instance(
                &state,
                &chrome,
                &caller,
                incident.instance_id,
                Some(refused),
            )
            .await;
        }
    };
    match outcome {
        Ok(instance) => {
            Ok(done(&format!("/admin/instances/{instance}"), "admin.retried").into_response())
        }
        Err(forlob_engine::EngineError::Invalid(errors)) => {
            let unread = errors.contains_key("variables");
            let problem = state.ui.messages_joined(chrome.lang, &errors);
            let refused = refuse(problem, unread);
            render_instance(
                &state,
                &chrome,
                &caller,
                incident.instance_id,
                Some(refused),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn incidents(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
) -> Result<Response, AppError> {
    admin(&caller)?;
    let db = state.engine.db();
    let open = store::recent_incidents(db, LIST_LIMIT).await?;
    // Each incident with its process and the states a skip may go to (of its own version).
    let catalog = state.engine.catalog();
    let ids: Vec<Uuid> = open.iter().map(|i| i.instance_id).collect();
    let versions = store::instance_versions(db, &ids).await?;
    let shown = open
        .into_iter()
        .map(|incident| {
            let version = versions.get(&incident.instance_id);
            IncidentRow {
                process: version.map(|(process, v)| format!("{process} v{v}")),
                states: version
                    .and_then(|(process, v)| catalog.version(process, *v))
                    .map(|d| d.states.keys().cloned().collect())
                    .unwrap_or_default(),
                incident,
            }
        })
        .collect();
    let title = state.ui.text(chrome.lang, "admin.incidents");
    Ok(state
        .ui
        .page(
            "admin_incidents",
            &chrome,
            &title,
            IncidentsPage { incidents: shown },
        )?
        .into_response())
}

/// `admin_incidents`: the open incidents, newest first.
#[derive(Debug, Serialize)]
struct IncidentsPage {
    incidents: Vec<IncidentRow>,
}

/// An incident with its process and version, and the states a skip may go to.
#[derive(Debug, Serialize)]
struct IncidentRow {
    #[serde(flatten)]
    incident: Incident,
    /// `process vN`; none when the instance is gone.
    process: Option<String>,
    states: Vec<String>,
}

async fn retry(
    State(state): State<AppState>,
    SignedIn(_, caller): SignedIn,
    Path(id): Path<i64>,
) -> Result<Redirect, AppError> {
    admin(&caller)?;
    let instance = state
        .engine
        .operations()
        .retry_incident(id, &caller.actor(), "")
        .await?;
    Ok(done(
        &format!("/admin/instances/{instance}"),
        "admin.retried",
    ))
}

#[derive(Debug, Deserialize)]
struct SkipForm {
    to_state: String,
    #[serde(flatten)]
    confirmation: Confirmation,
}

/// What the confirmation of an action on incident `id` is about: the incident as the
/// incident list shows it. 404 for an incident that does not exist.
async fn incident_ask(
    state: &AppState,
    id: i64,
    what: &'static str,
    button: &'static str,
    action: &str,
    fields: Vec<(&'static str, String)>,
) -> Result<Ask, AppError> {
    let incident = store::incident(state.engine.db(), id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no incident {id}")))?;
    if incident.status != forlob_engine::instance::IncidentStatus::Open {
        return Err(forlob_engine::EngineError::from(
            forlob_engine::error::TransitionError::IncidentClosed { incident: id },
        )
        .into());
    }
    Ok(Ask {
        what,
        about: format!("#{id} · {} · {}", incident.state, incident.error),
        button,
        action: format!("/admin/incidents/{id}/{action}"),
        back: format!("/admin/instances/{}", incident.instance_id),
        fields,
    })
}

async fn skip(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    Path(id): Path<i64>,
    Form(form): Form<SkipForm>,
) -> Result<Response, AppError> {
    let to_state = form.to_state.trim();
    let ask = incident_ask(
        &state,
        id,
        "confirm.skip",
        "admin.skip",
        "skip",
        vec![("to_state", to_state.to_owned())],
    )
    .await?;
    let reason = match form.confirmation.reason(&state, &chrome, || ask) {
        Ok(reason) => reason,
        Err(page) => return Ok(*page),
    };
    let instance = state
        .engine
        .operations()
        .skip_incident(id, to_state, &caller.actor(), reason)
        .await?;
    Ok(done(&format!("/admin/instances/{instance}"), "admin.skipped").into_response())
}

async fn cancel(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    Path(id): Path<i64>,
    Form(form): Form<Confirmation>,
) -> Result<Response, AppError> {
    let ask = incident_ask(
        &state,
        id,
        "confirm.cancel_instance",
        "admin.cancel",
        "cancel",
        Vec::new(),
    )
    .await?;
    let reason = match form.reason(&state, &chrome, || ask) {
        Ok(reason) => reason,
        Err(page) => return Ok(*page),
    };
    let instance = state
        .engine
        .operations()
        .cancel_incident(id, &caller.actor(), reason)
        .await?;
    Ok(done(&format!("/admin/instances/{instance}"), "admin.cancelled").into_response())
}

#[derive(Debug, Deserialize)]
struct OperationForm {
    operation: String,
    #[serde(flatten)]
    confirmation: Confirmation,
}

async fn operate(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    Path(id): Path<Uuid>,
    Form(form): Form<OperationForm>,
) -> Result<Response, AppError> {
    let Some(operation) = InstanceOperation::parse(&form.operation) else {
        return Err(AppError::invalid([(
            "operation",
            format!("`{}` is not one of suspend, resume, cancel", form.operation),
        )]));
    };
    // Suspend and resume undo each other; a cancel is for good, so it is confirmed.
    let reason = if operation == InstanceOperation::Cancel {
        let (instance, _) = store::instance(state.engine.db(), id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("no instance {id}")))?;
        if !InstanceStatus::UNFINISHED.contains(&instance.status) {
            return Err(forlob_engine::EngineError::from(
                forlob_engine::error::TransitionError::NotActive {
                    instance: id,
                    status: instance.status.as_str().into(),
                },
            )
            .into());
        }
        let ask = || Ask {
            what: "confirm.cancel_instance",
            about: format!(
                "{} v{} · {} · {}",
                instance.process_id, instance.version, instance.subject, instance.state
            ),
            button: "admin.cancel",
            action: format!("/admin/instances/{id}/operate"),
            back: format!("/admin/instances/{id}"),
            fields: vec![("operation", operation.as_str().to_owned())],
        };
        match form.confirmation.reason(&state, &chrome, ask) {
            Ok(reason) => reason,
            Err(page) => return Ok(*page),
        }
    } else {
        form.confirmation.reason.trim()
    };
    state
        .engine
        .operations()
        .operate_instance(id, operation, &caller.actor(), reason)
        .await?;
    let said = match operation {
        InstanceOperation::Suspend => "admin.suspended",
        InstanceOperation::Resume => "admin.resumed",
        InstanceOperation::Cancel => "admin.cancelled",
    };
    Ok(done(&format!("/admin/instances/{id}"), said).into_response())
}

/// Dead letters a page at a time, each payload cut (a page of megabyte messages stays
/// small); each links to its own page with the whole payload.
async fn dead_letters(
    State(state): State<AppState>,
    SignedInAs(chrome, _, _): SignedInAs<Admins>,
    Query(query): Query<DeadLetterQuery>,
) -> Result<Response, AppError> {
    let (letters, next) = query.page(&state).await?;
    let title = state.ui.text(chrome.lang, "admin.dead_letters");
    Ok(state
        .ui
        .page(
            "admin_dead_letters",
            &chrome,
            &title,
            DeadLettersPage {
                letters,
                next,
                first: query.cursor.is_none(),
            },
        )?
        .into_response())
}

/// `admin_dead_letters`: a page of dead letters.
#[derive(Debug, Serialize)]
struct DeadLettersPage {
    letters: Vec<DeadLetterSummaryView>,
    /// The cursor of the next page, when there may be one.
    next: Option<i64>,
    /// This is the first page.
    first: bool,
}

/// One dead letter with its whole payload, and its replay button.
async fn dead_letter(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    admin(&caller)?;
    let d = store::dead_letter(state.engine.db(), id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no dead letter {id}")))?;
    let payload =
        serde_json::to_string_pretty(&d.payload).unwrap_or_else(|_| d.payload.to_string());
    let title = state.ui.text(chrome.lang, "admin.dead_letter");
    Ok(state
        .ui
        .page(
            "admin_dead_letter",
            &chrome,
            &title,
            DeadLetterPage {
                letter: DeadLetterView {
                    id: d.id,
                    message_id: d.message_id,
                    message_type: d.message_type,
                    payload,
                    reason: d.reason,
                    received_at: d.received_at,
                },
            },
        )?
        .into_response())
}

/// `admin_dead_letter`: one dead letter.
#[derive(Debug, Serialize)]
struct DeadLetterPage {
    letter: DeadLetterView,
}

#[derive(Debug, Serialize)]
struct DeadLetterView {
    id: i64,
    message_id: Option<String>,
    message_type: String,
    /// The whole payload as pretty JSON.
    payload: String,
    reason: String,
    received_at: DateTime<Utc>,
}

/// Delivers the letter again and says how it went on the dead-letter page.
async fn replay(
    State(state): State<AppState>,
    SignedIn(_, caller): SignedIn,
    Path(id): Path<i64>,
) -> Result<Redirect, AppError> {
    admin(&caller)?;
    let key = match state
        .engine
        .operations()
        .replay_dead_letter(id, &caller.actor())
        .await?
    {
        forlob_engine::runtime::MessageOutcome::Accepted { .. } => "admin.replayed",
        _ => "admin.replayed_dead",
    };
    Ok(done("/admin/dead-letters", key))
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    name: String,
}

async fn new_token(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    Path(username): Path<String>,
    Form(form): Form<TokenForm>,
) -> Result<Response, AppError> {
    let (_, secret) =
        users::issue_token(&state.engine, &username, &form.name, &caller.actor()).await?;
    let answer = UsersAnswer {
        created: Some(Created {
            username,
            token: secret,
        }),
        ..UsersAnswer::default()
    };
    render_users(&state, &chrome, answer, StatusCode::CREATED).await
}

async fn revoke(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    Path(id): Path<Uuid>,
    Form(form): Form<Confirmation>,
) -> Result<Response, AppError> {
    let db = state.engine.db();
    let token = store::tokens(db)
        .await?
        .into_iter()
        .find(|t| t.id == id && t.revoked_at.is_none())
        .ok_or_else(|| AppError::not_found(format!("no live token {id}")))?;
    let owner = store::users(db)
        .await?
        .into_iter()
        .find(|u| u.id == token.user_id)
        .map(|u| u.username)
        .unwrap_or_default();
    let ask = || Ask {
        what: "confirm.revoke_token",
        about: format!("{owner} · {}", token.name),
        button: "admin.revoke",
        action: format!("/admin/tokens/{id}/revoke"),
        back: "/admin/users".to_owned(),
        fields: Vec::new(),
    };
    let reason = match form.reason(&state, &chrome, ask) {
        Ok(reason) => reason,
        Err(page) => return Ok(*page),
    };
    if !users::revoke_token(&state.engine, id, &caller.actor(), reason).await? {
        return Err(AppError::not_found(format!("no live token {id}")));
    }
    Ok(done("/admin/users", "admin.revoked").into_response())
}

async fn disable(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    Path(username): Path<String>,
    Form(form): Form<Confirmation>,
) -> Result<Response, AppError> {
    let user = store::user_by_username(state.engine.db(), &username)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no user `{username}`")))?;
    let ask = || Ask {
        what: "confirm.disable_user",
        about: format!("{} · {}", user.username, user.display_name),
        button: "admin.disable",
        action: format!("/admin/users/{username}/disable"),
        back: "/admin/users".to_owned(),
        fields: Vec::new(),
    };
    let reason = match form.reason(&state, &chrome, ask) {
        Ok(reason) => reason,
        Err(page) => return Ok(*page),
    };
    users::set_disabled(&state.engine, &username, true, &caller.actor(), reason).await?;
    Ok(done("/admin/users", "admin.disabled_done").into_response())
}

async fn enable(
    State(state): State<AppState>,
    SignedIn(_, caller): SignedIn,
    Path(username): Path<String>,
) -> Result<Redirect, AppError> {
    admin(&caller)?;
    users::set_disabled(&state.engine, &username, false, &caller.actor(), "").await?;
    Ok(done("/admin/users", "admin.enabled_done"))
}

async fn users_page(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
) -> Result<Response, AppError> {
    admin(&caller)?;
    render_users(&state, &chrome, UsersAnswer::default(), StatusCode::OK).await
}

async fn render_users(
    state: &AppState,
    chrome: &Chrome,
    answer: UsersAnswer,
    status: StatusCode,
) -> Result<Response, AppError> {
    let all = store::users(state.engine.db()).await?;
    let tokens = store::tokens(state.engine.db()).await?;
    let users = all
        .into_iter()
        .map(|u| UserRow {
            tokens: tokens
                .iter()
                .filter(|t| t.user_id == u.id && t.revoked_at.is_none())
                .map(|t| TokenRow {
                    id: t.id,
                    name: t.name.clone(),
                    created_at: t.created_at,
                    last_used_at: t.last_used_at,
                })
                .collect(),
            role: u.role.as_str(),
            username: u.username,
            display_name: u.display_name,
            municipality: u.municipality,
            disabled: u.disabled,
        })
        .collect();
    let view = UsersPage {
        users,
        roles: forlob_engine::Role::ALL.map(forlob_engine::Role::as_str),
        created: answer.created,
        errors: answer.errors,
        entered: answer.entered,
    };
    let title = state.ui.text(chrome.lang, "admin.users");
    let page = state.ui.page("admin_users", chrome, &title, view)?;
    Ok((status, page).into_response())
}

/// What a post of the users page shows: the user or token just made, or the new-user form
/// as entered with why it was refused.
#[derive(Debug, Default)]
struct UsersAnswer {
    created: Option<Created>,
    errors: FieldTexts,
    entered: NewUserEntered,
}

/// `admin_users`: the users with their live tokens, and the new-user form.
#[derive(Debug, Serialize)]
struct UsersPage {
    users: Vec<UserRow>,
    roles: [&'static str; forlob_engine::Role::ALL.len()],
    /// A secret shown once.
    created: Option<Created>,
    errors: FieldTexts,
    entered: NewUserEntered,
}

#[derive(Debug, Serialize)]
struct UserRow {
    username: String,
    display_name: String,
    role: &'static str,
    municipality: Option<String>,
    disabled: bool,
    tokens: Vec<TokenRow>,
}

#[derive(Debug, Serialize)]
struct TokenRow {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

/// A user or token just made, with its token (shown once).
#[derive(Debug, Serialize)]
struct Created {
    username: String,
    token: String,
}

/// The new-user form as entered (the password is never shown again).
#[derive(Debug, Serialize)]
struct NewUserEntered {
    username: String,
    display_name: Option<String>,
    role: String,
    municipality: Option<String>,
}

impl Default for NewUserEntered {
    /// An empty form, for a case worker (the usual new user).
    fn default() -> Self {
        Self {
            username: String::new(),
            display_name: Some(String::new()),
            role: "caseworker".to_owned(),
            municipality: Some(String::new()),
        }
    }
}

#[derive(Debug, Deserialize)]
struct NewUserForm {
    username: String,
    display_name: Option<String>,
    role: String,
    municipality: Option<String>,
    password: Option<String>,
}

/// Adds a user; the API token is shown once on the page that answers.
async fn add_user(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    Form(form): Form<NewUserForm>,
) -> Result<Response, AppError> {
    let spec = UserSpec {
        username: form.username.clone(),
        display_name: form.display_name.clone(),
        role: form.role.clone(),
        municipality: form.municipality.clone(),
        password: form.password.filter(|p| !p.is_empty()),
    };
    match users::add(&state.engine, spec, &caller.actor()).await {
        Ok((user, token)) => {
            let answer = UsersAnswer {
                created: Some(Created {
                    username: user.username,
                    token,
                }),
                ..UsersAnswer::default()
            };
            render_users(&state, &chrome, answer, StatusCode::CREATED).await
        }
        Err(e)
            if e.status == StatusCode::UNPROCESSABLE_ENTITY || e.status == StatusCode::CONFLICT =>
        {
            let errors = match &e.messages {
                Some(messages) => state.ui.messages(chrome.lang, messages),
                None => [("username".to_owned(), e.message.clone())].into(),
            };
            let answer = UsersAnswer {
                created: None,
                errors,
                entered: NewUserEntered {
                    username: form.username,
                    display_name: form.display_name,
                    role: form.role,
                    municipality: form.municipality,
                },
            };
            render_users(&state, &chrome, answer, e.status).await
        }
        Err(e) => Err(e),
    }
}
