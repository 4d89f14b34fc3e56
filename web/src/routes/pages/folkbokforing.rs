//! "Sök person": the search-persons page of a Swedish municipality's person register, read
//! from the data the daily `soka-personbearbetning` job builds.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use forlob_processes::folkbokforing::search::PersonHit;
use serde::{Deserialize, Serialize};

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
            SearchPage {
                q: query,
                searched: query.chars().count() >= 2,
                kommun,
                hits,
                too_short,
            },
        )?
        .into_response())
}

/// `se_persons`: the search box and what it found.
#[derive(Debug, Serialize)]
struct SearchPage<'a> {
    q: &'a str,
    /// The register searched (a municipality's code).
    kommun: String,
    hits: Vec<PersonHit>,
    /// The query was long enough to search.
    searched: bool,
    /// A query too short to search (one character).
    too_short: bool,
}
