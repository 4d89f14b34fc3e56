//! A person as a caseworker sees them: the package's overview (residence, acting
//! municipality now and next, manual registration, cases with benefits and deductions) and
//! the timeline of events.

use axum::extract::State;
use forlob_engine::Role;
use forlob_engine::registry::SubjectOverview;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::EventView;
use super::{Json, Path};
use crate::auth::Caller;
use crate::error::{ErrorBody, Result};
use crate::state::AppState;

/// The subject kind the `/persons` resource shows.
pub(crate) const PERSON: &str = "person";

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_person))
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
/// look-up is in the audit log (see `Engine::subject_file`).
pub(crate) async fn person(state: &AppState, id: &str, caller: &Caller) -> Result<PersonView> {
    let file = state
        .engine
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
