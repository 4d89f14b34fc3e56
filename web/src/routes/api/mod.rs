//! The REST API (DESIGN §8): JSON in and out, bearer token or session, described by the
//! OpenAPI document served at `/api/openapi.json`. Each resource has its own file with its
//! handlers and router; this module merges them and owns the extractors whose rejections
//! become the API's JSON errors.

pub(crate) mod admin;
pub(crate) mod audit;
pub(crate) mod definitions;
pub(crate) mod folkbokforing;
pub(crate) mod jobs;
mod messages;
pub(crate) mod model;
pub(crate) mod persons;
pub(crate) mod processes;
pub(crate) mod releases;
pub(crate) mod tasks;

use axum::extract::FromRequest;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::AppError;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "forlob API",
        description = "Inbox, tasks, processes, instances, persons, messages and background jobs of the forlob process engine. Authenticate with `Authorization: Bearer <token>` (`forlob users add` prints one) or a browser session. A caseworker sees only their municipality's tasks: another municipality's task is 404. Errors are `{error, message, details}`.",
        license(name = "EUPL-1.2")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "tasks", description = "The inbox of human and follow-up tasks"),
        (name = "processes", description = "Deployed process definitions and manual starts"),
        (name = "instances", description = "Running and finished process instances (admins)"),
        (name = "persons", description = "A person's overview and timeline"),
        (name = "messages", description = "Inbound register messages"),
        (name = "admin", description = "Operating the engine"),
        (name = "jobs", description = "Background jobs: schedules, runs and their logbook (admins)"),
        (name = "releases", description = "Restarting and migrating in-flight instances after a release (admins)"),
        (name = "definitions", description = "Drafts of process definitions: validated and tried before a deploy (designers and admins)"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_default()
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// Documents, once for all operations, the answers any of them may give: no or a bad token,
/// a body or query that does not parse, a database that is away. Runs on the finished
/// document (the routes' paths exist only after the router is built).
pub(crate) fn add_common_responses(openapi: &mut utoipa::openapi::OpenApi) {
    {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |text: &str| {
            ResponseBuilder::new()
                .description(text)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                let mut add = |code: &str, text: &str| {
                    responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(text).into());
                };
                add("400", "the query or body does not parse");
                add("401", "no valid bearer token or session");
                add("403", "the caller's role may not do this");
                add(
                    "503",
                    "the database or a register is unavailable; nothing was changed",
                );
                if operation.request_body.is_some() {
                    add("413", "the body is larger than the server accepts");
                    add("415", "the body is not JSON");
                    add("422", "the body does not fit the operation");
                }
            }
        }
    }
}

/// The API's routes under `/api`, with the document they fill in.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api", resources())
}

fn resources() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(tasks::router())
        .merge(processes::router())
        .merge(admin::router())
        .merge(audit::router())
        .merge(persons::router())
        .merge(messages::router())
        .merge(jobs::router())
        .merge(releases::router())
        .merge(definitions::router())
        .merge(folkbokforing::router())
}

/// `axum::Json` whose rejections are the API's JSON errors.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub(crate) struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON body that may be left out: no body (or only white space) is `T::default()`, an
/// optional reason on a `POST` or `DELETE` that had no body before, so older clients keep
/// working. Any other body is read as [`Json`] is, with its errors (a body that is not
/// declared JSON is a 415, never silently ignored).
pub(crate) struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, AppError> {
        let (parts, body) = request.into_parts();
        let bytes = axum::body::Bytes::from_request(
            axum::extract::Request::from_parts(parts.clone(), body),
            state,
        )
        .await
        .map_err(|e| {
            let code = match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                _ => "bad_request",
            };
            AppError::new(e.status(), code, e.body_text())
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
        let Json(value) = Json::<T>::from_request(request, state).await?;
        Ok(Self(value))
    }
}

/// `axum::extract::Query` whose rejections are the API's JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub(crate) struct Query<T>(pub T);

/// `axum::extract::Path` whose rejections are the API's JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub(crate) struct Path<T>(pub T);

use axum::extract::FromRequestParts;

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let code = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
            _ => "bad_request",
        };
        AppError::new(
            status,
            code,
            format!("the JSON body is not valid: {}", rejection.body_text()),
        )
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        AppError::bad_request(format!(
            "the query string is not valid: {}",
            rejection.body_text()
        ))
    }
}

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        AppError::not_found(format!("no such resource: {}", rejection.body_text()))
    }
}

/// A 422 naming each filter longer than `max` characters (the `query` limit): filters are
/// matched in SQL and repeated in audit entries, so an endless one is refused up front.
pub(crate) fn check_filters<'a>(
    filters: impl IntoIterator<Item = (&'static str, Option<&'a str>)>,
    max: usize,
) -> Result<(), AppError> {
    let errors: Vec<(&str, String)> = filters
        .into_iter()
        .filter_map(|(field, value)| {
            forlob_engine::limits::too_long(value?, max).map(|message| (field, message.into()))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    /// utoipa names a schema component by its type's name alone: two types of one name in
    /// different modules become one component, and the document then describes one of them
    /// wrongly (the fuzz run found `/api/folkbokforing/persons` described by the Danish
    /// person search's hits). So every schema type of the API has a name of its own.
    #[test]
    fn every_schema_type_has_a_name_of_its_own() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![dir.join("error.rs")];
        for entry in std::fs::read_dir(dir.join("routes/api")).expect("the API's sources") {
            files.push(entry.expect("an entry").path());
        }
        let mut seen: std::collections::BTreeMap<String, String> = Default::default();
        let mut twice = Vec::new();
        for path in files {
            let text = std::fs::read_to_string(&path).expect("a source file");
            for piece in text.split("ToSchema").skip(1) {
                let Some(name) = piece
                    .split(['{', ';'])
                    .next()
                    .and_then(|head| {
                        head.split_whitespace()
                            .skip_while(|w| *w != "struct" && *w != "enum")
                            .nth(1)
                    })
                    .and_then(|word| word.split(['<', '(']).next())
                else {
                    continue;
                };
                let file = path.display().to_string();
                if let Some(other) = seen.insert(name.to_owned(), file.clone()) {
                    twice.push(format!("{name}: {other} and {file}"));
                }
            }
        }
        assert!(seen.len() > 20, "the scan finds the schema types: {seen:?}");
        assert!(twice.is_empty(), "{twice:#?}");
    }
}
