//! The admin's pages: instances (search, detail with history, variables and the diagram with
//! the current state highlighted), incidents (retry), dead letters, users and tokens.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use forlob_engine::runtime::InstanceOperation;
use forlob_engine::store::InstanceOrder;
use forlob_engine::{InstanceStatus, Role, store};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::confirm::{Ask, Confirmation};
use super::{Admins, Chrome, SignedIn, SignedInAs, done, list_link, page_range, sort_headers};
use crate::auth::Caller;
use crate::error::AppError;
use crate::routes::api::admin::{
    DeadLetterQuery, InstanceQuery, LIST_LIMIT, instance_detail, instance_page,
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
    let processes: Vec<_> = summaries(&state)
        .into_iter()
        .map(
            |p| json!({ "id": p.id, "selected": search.process.as_deref() == Some(p.id.as_str()) }),
        )
        .collect();
    let statuses: Vec<_> = ["active", "incident", "suspended", "completed", "cancelled"]
        .iter()
        .map(|s| json!({ "value": s, "selected": search.status.as_deref() == Some(*s) }))
        .collect();
    let (_, municipalities) = store::task_sources(db, None, None).await?;
    let municipalities: Vec<_> = municipalities
        .iter()
        .map(|m| json!({ "code": m, "label": super::municipality_label(&state, m), "selected": search.municipality.as_deref() == Some(m.as_str()) }))
        .collect();
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
    let data = json!({
        "instances": found.into_iter().map(InstanceView::from).collect::<Vec<_>>(),
        "processes": processes,
        "statuses": statuses,
        "municipalities": municipalities,
        "columns": columns,
        "search": {
            "state": search.state,
            "subject": search.subject,
            "version": get("version"),
            "started_from": search.started_from,
            "started_to": search.started_to,
            "sort": search.sort,
        },
        "total": total,
        "range": page_range(offset, shown),
        "prev": (offset > 0).then(|| link(&[("offset", offset.saturating_sub(INSTANCES_PAGE).to_string())])),
        "next": (offset + shown < total).then(|| link(&[("offset", (offset + shown).to_string())])),
    });
    let title = state.ui.text(chrome.lang, "admin.instances");
    Ok(state
        .ui
        .page("admin_instances", &chrome, &title, data)?
        .into_response())
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
#[derive(Debug, serde::Serialize)]
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
        "active" => json!({ "suspend": true, "cancel": true }),
        "suspended" => json!({ "resume": true, "cancel": true }),
        _ => serde_json::Value::Null,
    };
    // Each open incident offers to correct the variables first; a refused edit keeps its text.
    let incidents: Vec<Value> = incidents
        .into_iter()
        .map(|incident| {
            let mut view = serde_json::to_value(&incident).unwrap_or_default();
            let edit = match &refused {
                Some(r) if r.incident == incident.id => json!(r),
                _ => json!({ "variables": variables, "reason": "", "problem": null, "unread": false }),
            };
            view["edit"] = edit;
            view
        })
        .collect();
    let status = if refused.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let data = json!({
        "detail": detail,
        "variables": variables,
        "incidents": incidents,
        "states": states,
        "operations": operations,
    });
    let title = format!("{} {}", detail.instance.process_id, detail.instance.subject);
    Ok((
        status,
        state.ui.page("admin_instance", chrome, &title, data)?,
    )
        .into_response())
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
    let mut shown = Vec::with_capacity(open.len());
    for incident in open {
        let version = versions.get(&incident.instance_id);
        let states: Vec<String> = version
            .and_then(|(process, v)| catalog.version(process, *v))
            .map(|d| d.states.keys().cloned().collect())
            .unwrap_or_default();
        let mut view = serde_json::to_value(&incident).unwrap_or_default();
        view["process"] = json!(version.map(|(process, v)| format!("{process} v{v}")));
        view["states"] = json!(states);
        shown.push(view);
    }
    let title = state.ui.text(chrome.lang, "admin.incidents");
    Ok(state
        .ui
        .page(
            "admin_incidents",
            &chrome,
            &title,
            json!({ "incidents": shown }),
        )?
        .into_response())
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
            json!({ "letters": letters, "next": next, "first": query.cursor.is_none() }),
        )?
        .into_response())
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
            json!({ "letter": {
                "id": d.id,
                "message_id": d.message_id,
                "message_type": d.message_type,
                "payload": payload,
                "reason": d.reason,
                "received_at": d.received_at,
            } }),
        )?
        .into_response())
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
    render_users(
        &state,
        &chrome,
        json!({ "created": { "username": username, "token": secret } }),
        StatusCode::CREATED,
    )
    .await
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
    render_users(&state, &chrome, json!({}), StatusCode::OK).await
}

async fn render_users(
    state: &AppState,
    chrome: &Chrome,
    extra: serde_json::Value,
    status: StatusCode,
) -> Result<Response, AppError> {
    let all = store::users(state.engine.db()).await?;
    let tokens = store::tokens(state.engine.db()).await?;
    let users: Vec<_> = all
        .into_iter()
        .map(|u| {
            let mine: Vec<_> = tokens
                .iter()
                .filter(|t| t.user_id == u.id && t.revoked_at.is_none())
                .map(|t| {
                    json!({
                        "id": t.id,
                        "name": t.name,
                        "created_at": t.created_at,
                        "last_used_at": t.last_used_at,
                    })
                })
                .collect();
            json!({
                "username": u.username,
                "display_name": u.display_name,
                "role": u.role.as_str(),
                "municipality": u.municipality,
                "disabled": u.disabled,
                "tokens": mine,
            })
        })
        .collect();
    // Strict templates: the form's keys exist even before anything was entered.
    let mut data = json!({
        "users": users,
        "roles": forlob_engine::Role::ALL.map(forlob_engine::Role::as_str),
        "created": null,
        "errors": {},
        "entered": { "username": "", "display_name": "", "role": "caseworker", "municipality": "" },
    });
    if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    let title = state.ui.text(chrome.lang, "admin.users");
    let page = state.ui.page("admin_users", chrome, &title, data)?;
    Ok((status, page).into_response())
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
            render_users(
                &state,
                &chrome,
                json!({ "created": { "username": user.username, "token": token } }),
                StatusCode::CREATED,
            )
            .await
        }
        Err(e)
            if e.status == StatusCode::UNPROCESSABLE_ENTITY || e.status == StatusCode::CONFLICT =>
        {
            let errors = match &e.messages {
                Some(messages) => state.ui.messages(chrome.lang, messages),
                None => [("username".to_owned(), e.message.clone())].into(),
            };
            render_users(
                &state,
                &chrome,
                json!({ "errors": errors, "entered": { "username": form.username, "display_name": form.display_name, "role": form.role, "municipality": form.municipality } }),
                e.status,
            )
            .await
        }
        Err(e) => Err(e),
    }
}
