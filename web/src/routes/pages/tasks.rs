//! The task page: the form of the manual step, rendered from the definition, with the
//! person's overview beside it. A form with errors comes back with the entered values and a
//! message at each wrong field (422); a task someone else completed first says so (409).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use forlob_engine::form::FieldErrors;
use forlob_engine::{EngineError, Role};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Chrome, SignedIn, form_values};
use crate::auth::Caller;
use crate::error::AppError;
use crate::routes::api::Path;
use crate::routes::api::model::TaskView;
use crate::routes::api::persons::PERSON;
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/tasks/{id}", get(task_page).post(submit))
}

async fn task_page(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    caller.require(&[Role::Caseworker, Role::Admin])?;
    render(
        &state,
        &chrome,
        &caller,
        id,
        None,
        &FieldErrors::new(),
        StatusCode::OK,
    )
    .await
}

async fn submit(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Path(id): Path<Uuid>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    caller.require(&[Role::Caseworker, Role::Admin])?;
    let values = form_values(pairs);
    match state
        .engine
        .complete_task(id, &values, &caller.actor())
        .await
    {
        Ok(()) => Ok(super::done("/inbox", "task.completed").into_response()),
        Err(EngineError::Invalid(mut errors)) => {
            // The engine's own "required" in the page's language; the definitions' messages
            // are already in theirs.
            for message in errors.values_mut() {
                if message == forlob_engine::form::REQUIRED {
                    *message = state.ui.text(chrome.lang, "task.required");
                }
            }
            render(
                &state,
                &chrome,
                &caller,
                id,
                Some(values),
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

/// The page of task `id`; `values` are what was entered (None: the form's defaults).
async fn render(
    state: &AppState,
    chrome: &Chrome,
    caller: &Caller,
    id: Uuid,
    values: Option<Map<String, Value>>,
    errors: &FieldErrors,
    status: StatusCode,
) -> Result<Response, AppError> {
    let actor = caller.actor();
    // The task and the person beside it: one look, recorded before anything is shown.
    let (task, overview) = state.engine.task_with_overview(id, PERSON, &actor).await?;
    let (form_html, process_title, task_view) = if task.status == "open" {
        let with_form = state.engine.task_form(id, &actor).await?;
        let values = values.unwrap_or(with_form.defaults);
        let html = state
            .engine
            .render_form(&with_form.form, &values, errors)
            .map_err(|e| AppError::internal(&e))?;
        (
            Some(html),
            Some(with_form.process_title),
            TaskView::from(with_form.task),
        )
    } else {
        (None, None, TaskView::from(task))
    };
    let data = json!({
        "task": task_view,
        "process_title": process_title,
        "form_html": form_html,
        "has_errors": !errors.is_empty(),
        "error_count": errors.len(),
        "overview": overview,
        "claimed_by_other": task_view.claimed_by.as_deref().is_some_and(|c| c != caller.user.username),
    });
    let page = state.ui.page("task", chrome, &task_view.title, data)?;
    Ok((status, page).into_response())
}
