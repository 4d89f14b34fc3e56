//! "Sök person": the search-persons page of a Swedish municipality's person register, read
//! from the data the daily `soka-personbearbetning` job builds.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::SignedIn;
use crate::error::AppError;
use crate::routes::api::folkbokforing::{register_of, search_recorded};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/folkbokforing/persons", get(search_page))
}

#[derive(Debug, Default, Deserialize)]
struct SearchForm {
    #[serde(default)]
    q: String,
    kommun: Option<String>,
}

async fn search_page(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Query(form): Query<SearchForm>,
) -> Result<Response, AppError> {
    let kommun = register_of(&caller, form.kommun)?;
    let query = form.q.trim();
    let (hits, too_short) = if query.chars().count() >= 2 {
        (
            search_recorded(&state, &caller, &kommun, query, 100).await?,
            false,
        )
    } else {
        (Vec::new(), !query.is_empty())
    };
    let title = state.ui.text(chrome.lang, "se.title");
    Ok(state
        .ui
        .page(
            "se_persons",
            &chrome,
            &title,
            json!({
                "q": query,
                "kommun": kommun,
                "hits": hits,
                "searched": query.chars().count() >= 2,
                "too_short": too_short,
            }),
        )?
        .into_response())
}
