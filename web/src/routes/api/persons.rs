//! A person as a caseworker sees them: the package's overview (residence, acting
//! municipality now and next, manual registration, cases with benefits and deductions) and
//! the timeline of events.

use axum::extract::State;
use forlob_engine::Role;
use forlob_engine::registry::{SubjectHit, SubjectOverview};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::EventView;
use super::{Json, Path, Query};
use crate::auth::Caller;
use crate::error::{ErrorBody, Result};
use crate::state::AppState;

/// The subject kind the `/persons` resource shows.
pub(crate) const PERSON: &str = "person";

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(find_persons))
        .routes(routes!(get_person))
}

/// At most this many persons a search by name shows.
pub(crate) const FOUND_LIMIT: usize = 50;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct FindQuery {
    /// Part of a name, at least two characters (ignoring case).
    pub q: String,
}

/// Persons found by name.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FoundPersons {
    /// By name, at most 50, only persons the caller may see.
    pub persons: Vec<PersonHitView>,
    /// More matched than were shown: a longer name or the CPR number finds them.
    pub narrow: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PersonHitView {
    /// The CPR number.
    pub id: String,
    pub name: String,
    pub birth_date: Option<chrono::NaiveDate>,
}

impl From<SubjectHit> for PersonHitView {
    fn from(h: SubjectHit) -> Self {
        Self {
            id: h.id,
            name: h.name,
            birth_date: h.birth_date,
        }
    }
}

/// Persons whose name contains `q` that `caller` may see (the same rule as a look-up by
/// CPR); the search and each person shown are in the audit log (`person.search`).
pub(crate) async fn find(state: &AppState, q: &str, caller: &Caller) -> Result<FoundPersons> {
    let q = q.trim();
    if q.chars().filter(|c| *c != '%' && *c != '_').count() < 2 {
        return Err(crate::error::AppError::invalid([(
            "q",
            "give at least two letters of the name",
        )]));
    }
    let found = state
        .engine
        .queries()
        .find_subjects(PERSON, q, &caller.actor(), FOUND_LIMIT)
        .await?;
    Ok(FoundPersons {
        persons: found.hits.into_iter().map(PersonHitView::from).collect(),
        narrow: found.narrow,
    })
}

/// Persons by name, with birth date to tell namesakes apart; only those the caller may see.
#[utoipa::path(get, path = "/persons", tag = "persons", params(FindQuery),
    responses((status = 200, body = FoundPersons), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn find_persons(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<FindQuery>,
) -> Result<Json<FoundPersons>> {
    caller.require(&[Role::Caseworker, Role::Admin])?;
    Ok(Json(find(&state, &query.q, &caller).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PersonView {
    pub id: String,
    /// Sections of labelled facts and tables, in the package's language.
    #[schema(value_type = Object)]
    pub overview: SubjectOverview,
    /// The person's timeline, oldest first.
    pub events: Vec<EventView>,
}

/// The person as `caller` may see them: another municipality's citizen is 404, and the
/// look-up is in the audit log (see `Queries::subject_file`).
pub(crate) async fn person(state: &AppState, id: &str, caller: &Caller) -> Result<PersonView> {
    let file = state
        .engine
        .queries()
        .subject_file(PERSON, id, &caller.actor())
        .await?;
    Ok(PersonView {
        id: id.to_owned(),
        overview: file.overview,
        events: file.events.into_iter().map(EventView::from).collect(),
    })
}

/// Residence, acting municipality, manual registration, cases, and the timeline.
#[utoipa::path(get, path = "/persons/{id}", tag = "persons", params(("id" = String, Path, description = "CPR number")),
    responses((status = 200, body = PersonView), (status = 404, body = ErrorBody)))]
async fn get_person(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PersonView>> {
    caller.require(&[Role::Caseworker, Role::Admin])?;
    Ok(Json(person(&state, &id, &caller).await?))
}
