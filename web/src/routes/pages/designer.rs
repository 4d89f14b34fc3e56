//! The designer's pages: deployed definitions and their versions, the YAML source, the
//! validation result of the deployed set, and the Mermaid diagram rendered in the browser.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use forlob_engine::Role;
use serde_json::json;

use super::SignedIn;
use crate::error::AppError;
use crate::routes::api::Path;
use crate::routes::api::processes::{process_detail, summaries};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/designer", get(list))
        .route("/designer/processes/{id}", get(process))
}

async fn list(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
) -> Result<Response, AppError> {
    caller.require(&[Role::Designer, Role::Admin])?;
    let title = state.ui.text(chrome.lang, "designer.title");
    Ok(state
        .ui
        .page(
            "designer",
            &chrome,
            &title,
            json!({ "processes": summaries(&state) }),
        )?
        .into_response())
}

async fn process(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    caller.require(&[Role::Designer, Role::Admin])?;
    let mut detail = process_detail(&state, &id).await?;
    // Newest first: the version a designer is about to change.
    detail.versions.reverse();
    // Every deployed version was validated before it was stored; show that verdict with the
    // number of states so a designer sees what the engine sees.
    let (states, manual) = state
        .engine
        .catalog()
        .latest(&detail.summary.id)
        .map(|(_, d)| (d.states.len(), d.manual_start.is_some()))
        .unwrap_or_default();
    let data = json!({ "process": detail, "states": states, "manual": manual });
    let title = detail.summary.title.clone();
    Ok(state
        .ui
        .page("designer_process", &chrome, &title, data)?
        .into_response())
}
