//! The admin's pages: instances (search, detail with history, variables and the diagram with
//! the current state highlighted), incidents (retry), dead letters, users and tokens.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use forlob_engine::{Role, store};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{Chrome, SignedIn};
use crate::auth::Caller;
use crate::error::AppError;
use crate::routes::api::admin::{InstanceQuery, instance_detail};
use crate::routes::api::model::InstanceView;
use crate::routes::api::processes::summaries;
use crate::state::AppState;
use crate::users::{self, UserSpec};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/instances", get(instances))
        .route("/admin/instances/{id}", get(instance))
        .route("/admin/incidents", get(incidents))
        .route("/admin/incidents/{id}/retry", post(retry))
        .route("/admin/dead-letters", get(dead_letters))
        .route("/admin/users", get(users_page).post(add_user))
}

fn admin(caller: &Caller) -> Result<(), AppError> {
    caller.require(&[Role::Admin])
}

#[derive(Debug, Default, Deserialize)]
struct SearchForm {
    process: Option<String>,
    state: Option<String>,
    status: Option<String>,
    subject: Option<String>,
    version: Option<String>,
}

async fn instances(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    axum::extract::Query(form): axum::extract::Query<SearchForm>,
) -> Result<Response, AppError> {
    admin(&caller)?;
    let version = match form
        .version
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        None => None,
        Some(v) => Some(
            v.parse::<i32>()
                .map_err(|_| AppError::invalid([("version", "give a version number, e.g. 2")]))?,
        ),
    };
    let query = InstanceQuery {
        process: form.process.clone(),
        state: form.state.clone(),
        status: form.status.clone(),
        subject: form.subject.clone(),
        version,
        limit: Some(200),
    };
    let found = store::instances(state.engine.db(), &query.filter()?).await?;
    let processes: Vec<_> = summaries(&state)
        .into_iter()
        .map(|p| json!({ "id": p.id, "selected": form.process.as_deref() == Some(p.id.as_str()) }))
        .collect();
    let statuses: Vec<_> = ["active", "incident", "completed", "cancelled"]
        .iter()
        .map(|s| json!({ "value": s, "selected": form.status.as_deref() == Some(*s) }))
        .collect();
    let data = json!({
        "instances": found.into_iter().map(InstanceView::from).collect::<Vec<_>>(),
        "processes": processes,
        "statuses": statuses,
        "search": { "state": form.state, "subject": form.subject, "version": form.version },
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
    axum::extract::Path(id): axum::extract::Path<Uuid>,
) -> Result<Response, AppError> {
    admin(&caller)?;
    let detail = instance_detail(&state, id).await?;
    let variables = serde_json::to_string_pretty(&detail.instance.variables).unwrap_or_default();
    let incidents: Vec<_> = store::incidents(state.engine.db(), true)
        .await?
        .into_iter()
        .filter(|i| i.instance_id == id)
        .collect();
    let data = json!({
        "detail": detail,
        "variables": variables,
        "incidents": incidents,
    });
    let title = format!("{} {}", detail.instance.process_id, detail.instance.subject);
    Ok(state
        .ui
        .page("admin_instance", &chrome, &title, data)?
        .into_response())
}

async fn incidents(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
) -> Result<Response, AppError> {
    admin(&caller)?;
    let open = store::incidents(state.engine.db(), true).await?;
    let title = state.ui.text(chrome.lang, "admin.incidents");
    Ok(state
        .ui
        .page(
            "admin_incidents",
            &chrome,
            &title,
            json!({ "incidents": open }),
        )?
        .into_response())
}

async fn retry(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Redirect, AppError> {
    admin(&caller)?;
    let instance = state.engine.retry_incident(id, &caller.actor()).await?;
    let done = state.ui.text(chrome.lang, "admin.retried");
    let query = serde_urlencoded::to_string([("done", done)]).unwrap_or_default();
    Ok(Redirect::to(&format!(
        "/admin/instances/{instance}?{query}"
    )))
}

async fn dead_letters(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
) -> Result<Response, AppError> {
    admin(&caller)?;
    let letters: Vec<_> = store::dead_letters(state.engine.db())
        .await?
        .into_iter()
        .rev()
        .take(500)
        .map(|d| {
            json!({
                "message_id": d.message_id,
                "message_type": d.message_type,
                "payload": d.payload.to_string(),
                "reason": d.reason,
                "received_at": d.received_at,
            })
        })
        .collect();
    let title = state.ui.text(chrome.lang, "admin.dead_letters");
    Ok(state
        .ui
        .page(
            "admin_dead_letters",
            &chrome,
            &title,
            json!({ "letters": letters }),
        )?
        .into_response())
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
            let mine: Vec<_> = tokens.iter().filter(|t| t.user_id == u.id).collect();
            json!({
                "username": u.username,
                "display_name": u.display_name,
                "role": u.role.as_str(),
                "municipality": u.municipality,
                "disabled": u.disabled,
                "tokens": mine.len(),
                "last_used": mine.iter().filter_map(|t| t.last_used_at).max(),
            })
        })
        .collect();
    // Strict templates: the form's keys exist even before anything was entered.
    let mut data = json!({
        "users": users,
        "roles": ["caseworker", "admin", "designer"],
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
    SignedIn(chrome, caller): SignedIn,
    Form(form): Form<NewUserForm>,
) -> Result<Response, AppError> {
    admin(&caller)?;
    let spec = UserSpec {
        username: form.username.clone(),
        display_name: form.display_name.clone(),
        role: form.role.clone(),
        municipality: form.municipality.clone(),
        password: form.password.filter(|p| !p.is_empty()),
    };
    match users::add(&state.engine, spec).await {
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
            let errors = e.field_errors().cloned().unwrap_or_else(|| {
                [("username".to_owned(), e.message.clone().into())]
                    .into_iter()
                    .collect()
            });
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
