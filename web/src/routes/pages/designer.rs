//! The designer's pages: deployed definitions and their versions, the YAML source, the
//! validation result of the deployed set, the Mermaid diagram rendered in the browser, and
//! the workbench where a definition is edited as a draft, checked while typed and saved.

use axum::Router;
use axum::extract::{Query, State};
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
        .route("/designer/workbench", get(workbench))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkbenchQuery {
    /// A deployed process to start from; none: a new one.
    process: Option<String>,
}

/// A new process as the workbench starts it: the smallest valid definition.
const NEW_PROCESS: &str = "id: ny-proces\ntitle: Ny proces\nsubject: person\ninitial: start\nstates:\n  start:\n    next: slut\n  slut: { end: true }\n";

/// The workbench: the process's newest deployed YAML (or a new one) in the editor, checked
/// by the server while the designer types, its diagram beside it, saved as a draft.
async fn workbench(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Query(query): Query<WorkbenchQuery>,
) -> Result<Response, AppError> {
    caller.require(&[Role::Designer, Role::Admin])?;
    let (id, text, title) = match query.process.as_deref().filter(|p| !p.is_empty()) {
        Some(asked) => {
            let (_, def) =
                state.engine.catalog().latest(asked).ok_or_else(|| {
                    AppError::not_found(format!("no process `{asked}` is deployed"))
                })?;
            (def.id.clone(), def.source.clone(), def.title.clone())
        }
        None => (
            "ny-proces".to_owned(),
            NEW_PROCESS.to_owned(),
            state.ui.text(chrome.lang, "workbench.new"),
        ),
    };
    let page_title = format!(
        "{} · {title}",
        state.ui.text(chrome.lang, "workbench.title")
    );
    let data = json!({
        "process": id,
        "process_title": title,
        "path": format!("{id}.yaml"),
        "text": text,
    });
    Ok(state
        .ui
        .page("designer_workbench", &chrome, &page_title, data)?
        .into_response())
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
