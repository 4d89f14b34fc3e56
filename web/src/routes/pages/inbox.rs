//! The caseworker's inbox: their municipality's tasks with a search (title, CPR number,
//! person's name) and filters (kind, process, due; an admin also the municipality), sorted by
//! any column, overdue and due-today tasks marked, counts per kind, paging, and
//! claim/unclaim in place (htmx).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use forlob_engine::Role;
use forlob_engine::instance::TaskStatus;
use forlob_engine::store::{self, TaskOrder};
use serde::Serialize;
use uuid::Uuid;

use super::{
    MunicipalityChoice, Page, PageRange, SignedIn, SortHeader, kind_labels, list_link,
    municipality_choices, municipality_label, page_range, sort_headers,
};
use crate::error::AppError;
use crate::routes::api::Path;
use crate::routes::api::model::TaskView;
use crate::routes::api::processes::summaries;
use crate::routes::api::tasks::{InboxQuery, inbox};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/inbox", get(inbox_page))
        .route("/tasks/{id}/claim", post(claim))
        .route("/tasks/{id}/unclaim", post(unclaim))
}

async fn inbox_page(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    caller.require(&[Role::Caseworker, Role::Admin])?;
    // Unknown parameters are ignored here (bookmarks outlive filters); the API refuses them.
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let inbox_query = InboxQuery {
        status: get("status"),
        kind: get("kind"),
        process: get("process"),
        due_before: get("due_before"),
        claimed_by: get("claimed_by"),
        q: get("q"),
        sort: get("sort"),
        municipality: get("municipality"),
        limit: Some(50),
        offset: get("offset").and_then(|o| o.parse().ok()),
    };
    let filter = inbox_query.filter(&caller, state.engine.limits(), state.engine.timezone())?;
    let found = inbox(&state, &filter).await?;
    let admin = caller.user.role == Role::Admin;
    let offset = filter.offset.unwrap_or(0);
    let shown = found.tasks.len() as u64;
    let labels = kind_labels(&state);
    let label_of = |kind: &str| labels.get(kind).cloned().unwrap_or_else(|| kind.to_owned());
    let kinds = found
        .counts
        .iter()
        .map(|(kind, n)| KindChoice {
            kind: kind.clone(),
            label: label_of(kind),
            n: *n,
            selected: inbox_query.kind.as_deref() == Some(kind),
        })
        .collect();
    // Only processes (and, for an admin, municipalities) that have given tasks here.
    let (sources, municipalities) = store::task_sources(
        state.engine.db(),
        caller.actor().task_scope().as_deref(),
        filter.status,
    )
    .await?;
    let titles = summaries(&state);
    let processes = sources
        .iter()
        .map(|id| ProcessChoice {
            id: id.clone(),
            title: titles
                .iter()
                .find(|p| &p.id == id)
                .map_or(id, |p| &p.title)
                .clone(),
            selected: inbox_query.process.as_deref() == Some(id.as_str()),
        })
        .collect();
    let municipalities =
        municipality_choices(&state, &municipalities, inbox_query.municipality.as_deref());
    let page_link = |to: u64| list_link("/inbox", &query, &[("offset", to.to_string())]);
    let columns = sort_headers(
        &[
            (TaskOrder::Title.as_str(), "inbox.col_title"),
            (TaskOrder::Kind.as_str(), "inbox.col_kind"),
            (TaskOrder::Subject.as_str(), "inbox.col_person"),
            (TaskOrder::Due.as_str(), "inbox.col_due"),
            (TaskOrder::ClaimedBy.as_str(), "inbox.col_claimed"),
        ],
        filter.order.as_str(),
        filter.descending,
        |sort| list_link("/inbox", &query, &[("sort", sort)]),
    );
    let now = state.engine.clock().now();
    let view = InboxPage {
        all_count: found.counts.values().sum::<u64>(),
        tasks: found
            .tasks
            .into_iter()
            .map(|task| row(&state, task, now))
            .collect(),
        columns,
        municipalities,
        admin,
        kinds,
        processes,
        total: found.total,
        filters: InboxFilters {
            mine: inbox_query.claimed_by.as_deref() == Some("me"),
            kind: inbox_query.kind,
            process: inbox_query.process,
            due_before: inbox_query.due_before,
            sort: inbox_query.sort,
            q: inbox_query.q,
        },
        range: page_range(offset, shown),
        prev: (offset > 0).then(|| page_link(offset.saturating_sub(50))),
        next: (offset + shown < found.total).then(|| page_link(offset + shown)),
        me: caller.user.username.clone(),
    };
    // htmx asks for the list only; restoring a page from history needs the whole page.
    let fragment = headers.contains_key("hx-request")
        && !headers.contains_key("hx-boosted")
        && !headers.contains_key("hx-history-restore-request");
    let template = if fragment { "inbox_list" } else { "inbox" };
    let title = state.ui.text(chrome.lang, "inbox.title");
    let mut response = state
        .ui
        .page(template, &chrome, &title, view)?
        .into_response();
    // One address answers with two bodies: caches must keep them apart.
    response
        .headers_mut()
        .insert(header::VARY, header::HeaderValue::from_static("HX-Request"));
    Ok(response)
}

async fn claim(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Path(id): Path<Uuid>,
) -> Result<Page, AppError> {
    set_claim(&state, chrome, caller, id, true).await
}

async fn unclaim(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Path(id): Path<Uuid>,
) -> Result<Page, AppError> {
    set_claim(&state, chrome, caller, id, false).await
}

/// Claims or releases and answers with the task's row, which htmx swaps in place.
async fn set_claim(
    state: &AppState,
    chrome: super::Chrome,
    caller: crate::auth::Caller,
    id: Uuid,
    claim: bool,
) -> Result<Page, AppError> {
    caller.require(&[Role::Caseworker, Role::Admin])?;
    let task = state
        .engine
        .commands()
        .claim_task(id, &caller.actor(), claim)
        .await?;
    let task = row(state, TaskView::from(task), state.engine.clock().now());
    state.ui.fragment(
        "inbox_row",
        &chrome,
        RowFragment {
            task,
            me: &caller.user.username,
            admin: caller.user.role == Role::Admin,
        },
    )
}

/// A task as its inbox row shows it: with `due`, `overdue` or `today` when it is open and
/// due before `now` or later on the same day (in the deployment's zone).
fn row(state: &AppState, task: TaskView, now: DateTime<Utc>) -> TaskRow {
    let zone = state.engine.timezone();
    let local = |t: DateTime<Utc>| t.with_timezone(&zone).date_naive();
    let due = task
        .due_at
        .filter(|_| task.status == TaskStatus::Open.as_str())
        .map(|due| {
            if due < now {
                "overdue"
            } else if local(due) == local(now) {
                "today"
            } else {
                "later"
            }
        });
    // The task's own process says what it is about (a kind may be shared by processes).
    let kind_label = state
        .engine
        .catalog()
        .latest(&task.process_id)
        .map(|(_, def)| def.title.clone());
    let label = task
        .municipality
        .as_deref()
        .map(|m| municipality_label(state, m));
    TaskRow {
        task,
        due,
        municipality_label: label,
        kind_label,
    }
}

/// `inbox` (and `inbox_list`, the list alone for htmx): the tasks with their filters.
#[derive(Debug, Serialize)]
struct InboxPage {
    tasks: Vec<TaskRow>,
    columns: Vec<SortHeader>,
    municipalities: Vec<MunicipalityChoice>,
    /// The viewer is an admin (sees every municipality's tasks).
    admin: bool,
    kinds: Vec<KindChoice>,
    processes: Vec<ProcessChoice>,
    /// How many tasks the filters find.
    total: u64,
    /// How many tasks of any kind.
    all_count: u64,
    filters: InboxFilters,
    range: PageRange,
    prev: Option<String>,
    next: Option<String>,
    /// The viewer's username.
    me: String,
}

/// `inbox_row`: one row, after a claim or release.
#[derive(Debug, Serialize)]
struct RowFragment<'a> {
    task: TaskRow,
    me: &'a str,
    admin: bool,
}

/// A task as a row of the inbox shows it.
#[derive(Debug, Serialize)]
struct TaskRow {
    #[serde(flatten)]
    task: TaskView,
    /// `overdue`, `today` or `later`, for an open task with a due date.
    due: Option<&'static str>,
    municipality_label: Option<String>,
    /// The title of the task's process.
    kind_label: Option<String>,
}

/// A kind of task the filter offers, with how many there are.
#[derive(Debug, Serialize)]
struct KindChoice {
    kind: String,
    label: String,
    n: u64,
    selected: bool,
}

/// A process the filter offers.
#[derive(Debug, Serialize)]
struct ProcessChoice {
    id: String,
    title: String,
    selected: bool,
}

/// The filter as given.
#[derive(Debug, Serialize)]
struct InboxFilters {
    kind: Option<String>,
    process: Option<String>,
    due_before: Option<String>,
    sort: Option<String>,
    q: Option<String>,
    /// Only the viewer's own tasks.
    mine: bool,
}
