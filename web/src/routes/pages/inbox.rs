//! The caseworker's inbox: their municipality's tasks with filters (kind, process, due),
//! sorted by due date, counts per kind, paging, and claim/unclaim in place (htmx).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use forlob_engine::Role;
use serde_json::json;
use uuid::Uuid;

use super::{Page, SignedIn};
use crate::error::AppError;
use crate::routes::api::Path;
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
        sort: get("sort"),
        municipality: get("municipality"),
        limit: Some(50),
        offset: get("offset").and_then(|o| o.parse().ok()),
    };
    let filter = inbox_query.filter(&caller)?;
    let found = inbox(&state, &filter).await?;
    let offset = filter.offset.unwrap_or(0);
    let shown = found.tasks.len() as u64;
    let kinds: Vec<_> = found
        .counts
        .iter()
        .map(|(kind, n)| json!({ "kind": kind, "n": n, "selected": inbox_query.kind.as_deref() == Some(kind) }))
        .collect();
    let processes: Vec<_> = summaries(&state)
        .into_iter()
        .map(|p| json!({ "id": p.id, "title": p.title, "selected": inbox_query.process.as_deref() == Some(p.id.as_str()) }))
        .collect();
    let page_link = |to: u64| {
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| k != "offset")
            .cloned()
            .collect();
        pairs.push(("offset".into(), to.to_string()));
        format!(
            "/inbox?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    };
    let data = json!({
        "tasks": found.tasks,
        "kinds": kinds,
        "processes": processes,
        "total": found.total,
        "all_count": found.counts.values().sum::<u64>(),
        "filters": {
            "kind": inbox_query.kind,
            "process": inbox_query.process,
            "due_before": inbox_query.due_before,
            "sort_desc": inbox_query.sort.as_deref() == Some("-due"),
            "mine": inbox_query.claimed_by.as_deref() == Some("me"),
        },
        "range": { "from": if shown == 0 { 0 } else { offset + 1 }, "to": offset + shown },
        "prev": (offset > 0).then(|| page_link(offset.saturating_sub(50))),
        "next": (offset + shown < found.total).then(|| page_link(offset + shown)),
        "me": caller.user.username,
    });
    // htmx asks for the list only; restoring a page from history needs the whole page.
    let fragment = headers.contains_key("hx-request")
        && !headers.contains_key("hx-boosted")
        && !headers.contains_key("hx-history-restore-request");
    let template = if fragment { "inbox_list" } else { "inbox" };
    let title = state.ui.text(chrome.lang, "inbox.title");
    let mut response = state
        .ui
        .page(template, &chrome, &title, data)?
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
    let task = state.engine.claim_task(id, &caller.actor(), claim).await?;
    let task = crate::routes::api::model::TaskView::from(task);
    state.ui.fragment(
        "inbox_row",
        &chrome,
        json!({ "task": task, "me": caller.user.username }),
    )
}
