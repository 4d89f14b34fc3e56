//! Person search of a Swedish municipality's person register, answered from the data the
//! daily `soka-personbearbetning` job builds.

use axum::extract::State;
use chrono::{DateTime, Utc};
use forlob_engine::Role;
use forlob_engine::audit::search_records;
use forlob_processes::folkbokforing::search;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Json, Query};
use crate::auth::Caller;
use crate::error::{AppError, ErrorBody, Result};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_persons))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchQuery {
    /// The start of a name (first or last), or of a personnummer; at least two characters.
    pub q: String,
    /// Whose person register (a four-digit code); a caseworker's own municipality by default,
    /// and only that one.
    pub kommun: Option<String>,
    /// At most this many (1..=200, default 50).
    pub limit: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegisterPersonView {
    pub personnummer: String,
    pub name: String,
    /// Folkbokföringskommun.
    pub kommun: String,
    pub omrade: Option<String>,
    pub roles: String,
    /// When the search data were built: how fresh the answer is.
    pub built_at: DateTime<Utc>,
}

/// Whose person register `caller` searches: an admin any (default the package's), a
/// caseworker only their own municipality's.
pub(crate) fn register_of(caller: &Caller, asked: Option<String>) -> Result<String> {
    caller.require(&[Role::Caseworker, Role::Admin])?;
    let asked = asked.filter(|k| !k.trim().is_empty());
    match (caller.user.role, asked, caller.user.municipality.clone()) {
        (Role::Admin, Some(k), _) => Ok(k),
        (Role::Admin, None, _) => Ok(forlob_processes::folkbokforing::DEFAULT_KOMMUN.to_owned()),
        (_, Some(k), Some(own)) if k != own => Err(AppError::forbidden(
            "a caseworker searches only their own municipality's person register",
        )),
        (_, _, Some(own)) => Ok(own),
        (_, _, None) => Err(AppError::forbidden("no municipality")),
    }
}

/// Searches `kommun`'s person register for `caller` and records the search, its query and
/// its hits in the audit log before the hits are handed out (the API and the page both come
/// here).
pub(crate) async fn search_recorded(
    state: &AppState,
    caller: &Caller,
    kommun: &str,
    query: &str,
    limit: u64,
) -> Result<Vec<search::PersonHit>> {
    if let Some(message) = forlob_engine::limits::too_long(query, state.engine.limits().query) {
        return Err(AppError::invalid([("q", message)]));
    }
    let hits = search::find(state.engine.db(), kommun, query, limit).await?;
    // One entry per person found, in one commit (see `search_records`).
    let found: Vec<&str> = hits.iter().map(|h| h.personnummer.as_str()).collect();
    let detail = json!({ "query": query, "register": kommun, "hits": found.len() });
    state
        .engine
        .audit()
        .record(&caller.actor(), search_records(&detail, &found))
        .await?;
    Ok(hits)
}

/// Persons of the municipality's person register by name or personnummer.
#[utoipa::path(get, path = "/folkbokforing/persons", tag = "persons", params(SearchQuery),
    responses((status = 200, body = Vec<RegisterPersonView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn search_persons(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<SearchQuery>,
) -> Result<Json<Vec<RegisterPersonView>>> {
    let kommun = register_of(&caller, query.kommun)?;
    if query.q.trim().chars().count() < 2 {
        return Err(AppError::invalid([("q", "give at least two characters")]));
    }
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid([("limit", "must be between 1 and 200")]));
    }
    let hits = search_recorded(&state, &caller, &kommun, &query.q, limit).await?;
    Ok(Json(
        hits.into_iter()
            .map(|h| RegisterPersonView {
                personnummer: h.personnummer,
                name: h.name,
                kommun: h.kommun,
                omrade: h.omrade,
                roles: h.roles,
                built_at: h.built_at,
            })
            .collect(),
    ))
}
