//! The task page: the form of the manual step, rendered from the definition, with the
//! person's overview beside it. A form with errors comes back with the entered values and a
//! message at each wrong field (422). A task a colleague holds is shown read-only with a way
//! to take it over (recorded); a submit that a colleague beat (they claimed or completed the
//! task meanwhile) comes back as a 409 that says who, with the input kept. A closed task shows
//! what was submitted, by whom and when.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use forlob_engine::error::TransitionError;
use forlob_engine::form::FieldErrors;
use forlob_engine::instance::TaskStatus;
use forlob_engine::registry::SubjectOverview;
use forlob_engine::{EngineError, Role};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Chrome, SignedIn, SignedInAs, Workers, form_values};
use crate::auth::Caller;
use crate::error::AppError;
use crate::routes::api::Path;
use crate::routes::api::model::TaskView;
use crate::routes::api::persons::PERSON;
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/tasks/{id}", get(task_page).post(submit))
        .route("/tasks/{id}/take-over", axum::routing::post(take_over))
        .route("/tasks/{id}/assign", axum::routing::post(assign))
}

/// Why the page is shown again instead of going on: nothing, or a colleague's change.
enum Conflict {
    None,
    /// `by` claimed the task meanwhile; the input is kept in the form, to go along with a
    /// take-over.
    ClaimedBy(String),
    /// The task was closed meanwhile; the input is shown, but it was not saved.
    Closed(Map<String, Value>),
}

/// Takes the task over. The button belongs to the task form: after a beaten submit the
/// values typed are posted along and shown again, now editable; otherwise back to the page.
async fn take_over(
    State(state): State<AppState>,
    SignedIn(mut chrome, caller): SignedIn,
    Path(id): Path<Uuid>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    caller.require(&[Role::Caseworker, Role::Admin])?;
    state
        .engine
        .commands()
        .take_over_task(id, &caller.actor())
        .await?;
    let values = form_values(pairs);
    if values.is_empty() {
        return Ok(super::done(&format!("/tasks/{id}"), "task.taken_over").into_response());
    }
    chrome.flash = Some(state.ui.text(chrome.lang, "task.taken_over"));
    let shown = Shown {
        values: Some(values),
        errors: FieldErrors::new(),
        conflict: Conflict::None,
        status: StatusCode::OK,
    };
    render(&state, &chrome, &caller, id, shown).await
}

#[derive(serde::Deserialize)]
struct AssignForm {
    to: String,
}

/// Gives the task to a colleague, then back to the inbox.
async fn assign(
    State(state): State<AppState>,
    // The role before the form: a caller who may not assign learns nothing from a 422.
    SignedInAs(_chrome, caller, _): SignedInAs<Workers>,
    Path(id): Path<Uuid>,
    Form(form): Form<AssignForm>,
) -> Result<Response, AppError> {
    state
        .engine
        .commands()
        .assign_task(id, &caller.actor(), form.to.trim())
        .await?;
    Ok(super::done("/inbox", "task.assigned").into_response())
}

async fn task_page(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    caller.require(&[Role::Caseworker, Role::Admin])?;
    let shown = Shown {
        values: None,
        errors: FieldErrors::new(),
        conflict: Conflict::None,
        status: StatusCode::OK,
    };
    render(&state, &chrome, &caller, id, shown).await
}

async fn submit(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Path(id): Path<Uuid>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    caller.require(&[Role::Caseworker, Role::Admin])?;
    let values = form_values(pairs);
    let shown = match state
        .engine
        .commands()
        .complete_task(id, &values, &caller.actor())
        .await
    {
        Ok(()) => return Ok(super::done("/inbox", "task.completed").into_response()),
        Err(EngineError::Invalid(errors)) => Shown {
            values: Some(values),
            errors,
            conflict: Conflict::None,
            status: StatusCode::UNPROCESSABLE_ENTITY,
        },
        // A colleague was quicker: the page again, saying who, with nothing typed lost.
        Err(EngineError::Transition(TransitionError::TaskClaimed { by, .. })) => Shown {
            values: Some(values),
            errors: FieldErrors::new(),
            conflict: Conflict::ClaimedBy(by),
            status: StatusCode::CONFLICT,
        },
        Err(EngineError::Transition(TransitionError::TaskClosed { .. })) => Shown {
            values: None,
            errors: FieldErrors::new(),
            conflict: Conflict::Closed(values),
            status: StatusCode::CONFLICT,
        },
        Err(other) => return Err(other.into()),
    };
    render(&state, &chrome, &caller, id, shown).await
}

/// How the page is shown: the values in the form (None: the form's defaults), the errors at
/// its fields, a colleague's change that beat this caseworker, and the answer's status.
struct Shown {
    values: Option<Map<String, Value>>,
    errors: FieldErrors,
    conflict: Conflict,
    status: StatusCode,
}

/// The page of task `id` as `shown` says.
async fn render(
    state: &AppState,
    chrome: &Chrome,
    caller: &Caller,
    id: Uuid,
    shown: Shown,
) -> Result<Response, AppError> {
    let Shown {
        values,
        errors,
        conflict,
        status,
    } = shown;
    let actor = caller.actor();
    // The task and the person beside it: one look, recorded before anything is shown.
    let (task, overview) = state
        .engine
        .queries()
        .task_with_overview(id, PERSON, &actor)
        .await?;
    let (form_html, process_title, task_view) = if task.status == TaskStatus::Open {
        let with_form = state.engine.queries().task_form(id, &actor).await?;
        let values = values.unwrap_or(with_form.defaults);
        let html = state
            .engine
            .queries()
            .render_form(
                &with_form.form,
                &values,
                &state.ui.messages(chrome.lang, &errors),
                &with_form.scope,
            )
            .map_err(|e| AppError::internal(&e))?;
        (
            Some(html),
            Some(with_form.process_title),
            TaskView::from(with_form.task),
        )
    } else {
        (None, None, TaskView::from(task.clone()))
    };
    // What was submitted (closed task), and what this caseworker typed in vain (a colleague
    // closed it first), each as the form labels it.
    let submitted = match (task.status, &task.data) {
        (TaskStatus::Open, _) => Vec::new(),
        (_, Some(Value::Object(data))) => {
            state.engine.queries().labelled_values(&task, data).await?
        }
        _ => Vec::new(),
    };
    let claimed_by_other = task_view
        .claimed_by
        .as_deref()
        .is_some_and(|c| c != caller.user.username);
    // Colleagues to give an open task to, when it is free or the caller's.
    let colleagues = match (&form_html, &task.municipality) {
        (Some(_), Some(municipality)) if !claimed_by_other => state
            .engine
            .queries()
            .colleagues(municipality, &actor)
            .await?
            .into_iter()
            .map(|(username, name)| Colleague { username, name })
            .collect(),
        _ => Vec::new(),
    };
    let closed_by_me = task.status == TaskStatus::Completed
        && task.completed_by.as_deref() == Some(actor.id.as_str());
    let (claimed_now_by, unsaved) = match conflict {
        Conflict::None => (None, Vec::new()),
        Conflict::ClaimedBy(by) => (Some(by), Vec::new()),
        Conflict::Closed(typed) => (
            None,
            state
                .engine
                .queries()
                .labelled_values(&task, &typed)
                .await?,
        ),
    };
    let labelled = |pairs: Vec<(String, String)>| {
        pairs
            .into_iter()
            .map(|(label, value)| Labelled { label, value })
            .collect::<Vec<_>>()
    };
    let title = task_view.title.clone();
    let view = TaskPage {
        submitted: labelled(submitted),
        unsaved: labelled(unsaved),
        read_only: claimed_by_other && claimed_now_by.is_none(),
        colleagues,
        closed_by_me,
        claimed_now_by,
        task: task_view,
        process_title,
        form_html,
        has_errors: !errors.is_empty(),
        error_count: errors.len(),
        overview,
        claimed_by_other,
    };
    let page = state.ui.page("task", chrome, &title, view)?;
    Ok((status, page).into_response())
}

/// `task`: a task with its form (open) or what was submitted (closed), and the person beside it.
#[derive(Debug, Serialize)]
struct TaskPage {
    /// What was submitted, as the form labels it (a closed task).
    submitted: Vec<Labelled>,
    /// What this caseworker typed in vain: a colleague closed the task first.
    unsaved: Vec<Labelled>,
    read_only: bool,
    /// Colleagues to give the task to.
    colleagues: Vec<Colleague>,
    closed_by_me: bool,
    /// Who claimed the task while this caseworker had it open.
    claimed_now_by: Option<String>,
    task: TaskView,
    process_title: Option<String>,
    /// The form, of an open task.
    form_html: Option<String>,
    has_errors: bool,
    error_count: usize,
    overview: Option<SubjectOverview>,
    claimed_by_other: bool,
}

/// A value as its form labels it.
#[derive(Debug, Serialize)]
struct Labelled {
    label: String,
    value: String,
}

#[derive(Debug, Serialize)]
struct Colleague {
    username: String,
    name: String,
}
