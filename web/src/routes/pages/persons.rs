//! A person's page: the package's overview (residence, acting municipality now and next,
//! manual registration, cases with benefits and deductions), the timeline of events, their
//! open tasks in the viewer's municipality, and starting a process for them by hand where the
//! definition allows the viewer to (R8, R10).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Utc};
use forlob_engine::registry::SubjectOverview;
use forlob_engine::store::{self, TaskFilter};
use forlob_engine::{EngineError, Role};
use serde::{Deserialize, Serialize};
use serde_json::Map;

use super::{SignedIn, SignedInAs, Workers};
use crate::error::AppError;
use crate::routes::api::Path;
use crate::routes::api::model::TaskView;
use crate::routes::api::persons::FoundPersons;
use crate::routes::api::persons::person;
use crate::routes::api::processes::{ProcessSummary, summaries};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/persons", get(find))
        .route("/persons/{id}", get(person_page))
        .route("/persons/{id}/start", post(start))
}

#[derive(Debug, Deserialize)]
struct FindQuery {
    q: Option<String>,
}

/// The search box: a CPR number (with or without the dash) leads to the person's page; a
/// name lists the persons of that name the viewer may see, with their birth dates.
async fn find(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Workers>,
    axum::extract::Query(query): axum::extract::Query<FindQuery>,
) -> Result<Response, AppError> {
    let q = query.q.unwrap_or_default();
    let q = q.trim();
    crate::routes::api::check_filters([("q", Some(q))], state.engine.limits().query)?;
    if q.is_empty() {
        return Ok(Redirect::to("/inbox").into_response());
    }
    if q.chars()
        .all(|c| c.is_ascii_digit() || c == '-' || c == ' ')
    {
        let id: String = q.chars().filter(char::is_ascii_digit).collect();
        return Ok(Redirect::to(&format!("/persons/{id}")).into_response());
    }
    let (status, found, problem) = match crate::routes::api::persons::find(&state, q, &caller).await
    {
        Ok(found) => (StatusCode::OK, Some(found), None),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => (
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(state.ui.text(chrome.lang, "persons.too_short")),
        ),
        Err(e) => return Err(e),
    };
    let title = state.ui.text(chrome.lang, "persons.found_title");
    let count = found.as_ref().map_or(0, |f| f.persons.len());
    let view = FoundPage {
        q,
        found,
        count,
        problem,
    };
    Ok((
        status,
        state.ui.page("persons_found", &chrome, &title, view)?,
    )
        .into_response())
}

async fn person_page(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    render(&state, &chrome, &caller, &id, None, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    chrome: &super::Chrome,
    caller: &crate::auth::Caller,
    id: &str,
    start_error: Option<String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    caller.require(&[Role::Caseworker, Role::Admin])?;
    let view = person(state, id, caller).await?;
    let tasks = store::tasks(
        state.engine.db(),
        &TaskFilter {
            subject: Some(id.to_owned()),
            status: Some(forlob_engine::instance::TaskStatus::Open),
            municipality: caller.actor().task_scope(),
            ..TaskFilter::default()
        },
    )
    .await?;
    let startable = summaries(state)
        .into_iter()
        .filter(|p| p.manual_start && p.subject_kind == crate::routes::api::persons::PERSON)
        .collect();
    // Newest first, each with its process's title rather than its id.
    let catalog = state.engine.catalog();
    let events = view
        .events
        .iter()
        .rev()
        .map(|e| EventRow {
            at: e.at,
            kind: event_name(&e.kind),
            process_title: catalog
                .latest(&e.process_id)
                .map_or_else(|| e.process_id.clone(), |(_, d)| d.title.clone()),
        })
        .collect();
    // Each task by its process's title, as in the inbox.
    let labels = super::kind_labels(state);
    let tasks = tasks
        .into_iter()
        .map(|t| PersonTask {
            kind_label: labels.get(&t.kind).cloned(),
            task: TaskView::from(t),
        })
        .collect();
    let title = view.overview.title.clone();
    let page_view = PersonPage {
        person: PersonId { id: view.id },
        overview: view.overview,
        events,
        tasks,
        startable,
        start_error,
    };
    let page = state.ui.page("person", chrome, &title, page_view)?;
    Ok((status, page).into_response())
}

#[derive(Debug, Deserialize)]
struct StartForm {
    process: String,
}

/// Starts the process for the person; on success, straight to the task it created for the
/// viewer's municipality, if any. A refusal (R8, R10) is shown on the person's page.
async fn start(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Workers>,
    Path(id): Path<String>,
    Form(form): Form<StartForm>,
) -> Result<Response, AppError> {
    let actor = caller.actor();
    match state
        .engine
        .commands()
        .start_instance(&form.process, &id, Map::new(), &actor)
        .await
    {
        Ok(instance) => {
            let tasks = store::tasks(
                state.engine.db(),
                &TaskFilter {
                    instance_id: Some(instance),
                    status: Some(forlob_engine::instance::TaskStatus::Open),
                    municipality: actor.task_scope(),
                    limit: Some(1),
                    ..TaskFilter::default()
                },
            )
            .await?;
            Ok(match tasks.first() {
                Some(task) => Redirect::to(&format!("/tasks/{}", task.id)).into_response(),
                None => Redirect::to(&format!("/persons/{id}")).into_response(),
            })
        }
        Err(EngineError::Forbidden(reason)) => {
            render(
                &state,
                &chrome,
                &caller,
                &id,
                Some(state.ui.message(chrome.lang, &reason)),
                StatusCode::FORBIDDEN,
            )
            .await
        }
        Err(EngineError::Invalid(errors)) => {
            let reason = state.ui.messages_joined(chrome.lang, &errors);
            render(
                &state,
                &chrome,
                &caller,
                &id,
                Some(reason),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

/// An event's kind as a phrase: the definitions name events in the users' language, as
/// slugs (`manuel-handlekommune-oprettet` is shown "Manuel handlekommune oprettet").
fn event_name(kind: &str) -> String {
    let words = kind.replace(['-', '_'], " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `persons_found`: the persons a name search found.
#[derive(Debug, Serialize)]
struct FoundPage<'a> {
    q: &'a str,
    found: Option<FoundPersons>,
    count: usize,
    /// Why nothing was searched (too short a name).
    problem: Option<String>,
}

/// `person`: one person's overview, timeline, open tasks and the processes to start.
#[derive(Debug, Serialize)]
struct PersonPage {
    person: PersonId,
    overview: SubjectOverview,
    /// Newest first.
    events: Vec<EventRow>,
    tasks: Vec<PersonTask>,
    /// The processes that may be started for a person by hand.
    startable: Vec<ProcessSummary>,
    /// Why a start was refused.
    start_error: Option<String>,
}

#[derive(Debug, Serialize)]
struct PersonId {
    id: String,
}

/// An event of the timeline, named in words, with its process's title.
#[derive(Debug, Serialize)]
struct EventRow {
    at: DateTime<Utc>,
    kind: String,
    process_title: String,
}

/// An open task with its process's title, as in the inbox.
#[derive(Debug, Serialize)]
struct PersonTask {
    #[serde(flatten)]
    task: TaskView,
    kind_label: Option<String>,
}
