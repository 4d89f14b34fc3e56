//! The one error type of the web layer and its one mapping to HTTP.
//!
//! Every handler returns `Result<_, AppError>`. The response is JSON `{error, message, details}`;
//! page routes turn the same error into an HTML page in one middleware
//! (`routes::pages::error_pages`), so status codes and wording are decided here only. Store
//! and internal errors are logged with their whole chain and answered with a generic text: no
//! database error ever reaches a user.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use forlob_engine::EngineError;
use forlob_engine::error::TransitionError;
use serde::Serialize;
use serde_json::{Value, json};

/// What went wrong, in terms a client can act on.
#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    /// A stable machine-readable code: `not_found`, `conflict`, `invalid`, ...
    pub code: &'static str,
    pub message: String,
    /// Per-field messages for 422; other structured context otherwise.
    pub details: Value,
    /// The per-field messages by code, when they came as such: a page shows them in its
    /// reader's language (the JSON answer has their English text in `details`).
    pub messages: Option<forlob_engine::form::FieldErrors>,
}

/// The per-field messages of an error by code, carried (beside its [`ErrorBody`]) to the
/// page renderer, which says them in the viewer's language.
#[derive(Debug, Clone)]
pub struct FieldMessages(pub forlob_engine::form::FieldErrors);

/// The JSON body of every error; also carried to the page renderer as a response extension.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable code, e.g. `not_found`, `conflict`, `invalid`, `forbidden`, `unauthorized`.
    pub error: String,
    /// A sentence for people.
    pub message: String,
    /// For `invalid`: `{field: message}`; otherwise context or null.
    #[schema(value_type = Option<Object>)]
    pub details: Value,
    /// For `invalid` only: the same `{field: message}` as `details`, under the name DESIGN §8
    /// gives it (`422 {errors: {field: msg}}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub errors: Option<Value>,
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Null,
            messages: None,
        }
    }

    /// The error with `details` (context a client acts on, e.g. the scenario results of a
    /// refused deploy).
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// The error with `message` at `field`, for a page to show where it was typed (a taken
    /// username, a 409, is said at the username).
    pub fn at_field(mut self, field: &str, message: forlob_engine::message::Message) -> Self {
        self.messages
            .get_or_insert_with(Default::default)
            .insert(field.to_owned(), message);
        self
    }

    /// 422 with a message per field, each by code.
    pub fn fields(errors: forlob_engine::form::FieldErrors) -> Self {
        let mut invalid = Self::invalid(errors.iter().map(|(k, v)| (k.clone(), v.to_string())));
        invalid.messages = Some(errors);
        invalid
    }

    /// The same error under a more specific code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in, or send `Authorization: Bearer <token>`",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 422 with a message per field.
    pub fn invalid<K: Into<String>, V: Into<String>>(
        fields: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let details: serde_json::Map<String, Value> = fields
            .into_iter()
            .map(|(k, v)| (k.into(), Value::String(v.into())))
            .collect();
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid",
            message: "some fields are not valid".into(),
            details: Value::Object(details),
            messages: None,
        }
    }

    /// Something broke inside; the cause is logged here and the client learns only that.
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %error_chain(err), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; it has been logged",
        )
    }

    /// The field errors of a 422, if this is one.
    pub fn field_errors(&self) -> Option<&serde_json::Map<String, Value>> {
        (self.code == "invalid")
            .then(|| self.details.as_object())
            .flatten()
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code.to_owned(),
            message: self.message.clone(),
            details: self.details.clone(),
            errors: (self.code == "invalid").then(|| self.details.clone()),
        }
    }
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An engine error as the API answers it. The status is the engine's own
/// ([`EngineError::status`], which scenarios' `expect_error` read too): there is one map of
/// errors to statuses. This `match` adds only the code, message and details a client reads.
impl From<EngineError> for AppError {
    fn from(err: EngineError) -> Self {
        let status =
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut answer = match &err {
            EngineError::NotFound { .. } => Self::not_found(err.to_string()),
            EngineError::Invalid(fields) => Self::fields(fields.clone()),
            EngineError::Forbidden(reason) => {
                Self::forbidden(reason.to_string()).at_field("reason", reason.clone())
            }
            // A 409 says what the thing is now, so a client can reload or tell its user.
            EngineError::Transition(t) => {
                let (code, details) = match t {
                    TransitionError::TaskClosed { task, status } => {
                        ("task_closed", json!({ "task": task, "status": status }))
                    }
                    TransitionError::TaskClaimed { task, by } => {
                        ("task_claimed", json!({ "task": task, "claimed_by": by }))
                    }
                    TransitionError::Conflict { instance, .. } => {
                        ("conflict", json!({ "instance": instance }))
                    }
                    TransitionError::NotActive { instance, status } => (
                        "conflict",
                        json!({ "instance": instance, "status": status }),
                    ),
                    TransitionError::NotAccepted { process, state, .. } => {
                        ("conflict", json!({ "process": process, "state": state }))
                    }
                    TransitionError::IncidentClosed { incident } => {
                        ("conflict", json!({ "incident": incident }))
                    }
                    TransitionError::ConflictingDuplicate {
                        message_id,
                        dead_letter,
                    } => (
                        "conflicting_duplicate",
                        json!({ "message_id": message_id, "dead_letter": dead_letter }),
                    ),
                    TransitionError::MigrationRunning {
                        migration, phase, ..
                    } => (
                        "migration_running",
                        json!({ "migration": migration, "phase": phase.as_str() }),
                    ),
                    TransitionError::DraftOutdated {
                        process,
                        deployed,
                        based_on,
                    } => (
                        "draft_outdated",
                        json!({ "process": process, "deployed": deployed, "based_on": based_on }),
                    ),
                    _ => ("conflict", Value::Null),
                };
                let mut e = Self::new(status, code, err.to_string());
                e.details = details;
                e
            }
            EngineError::Definition(d) => {
                let mut e = Self::new(
                    status,
                    "invalid_definition",
                    format!("{} problem(s) in the definitions", d.0.len()),
                );
                // An object, as `details` always is: `{diagnostics: ["file:line:col: ..."]}`.
                e.details = json!({
                    "diagnostics": d.0.iter().map(ToString::to_string).collect::<Vec<_>>()
                });
                e
            }
            // These texts are written for users and hold no database detail.
            EngineError::Unavailable { .. }
            | EngineError::SubjectUnavailable { .. }
            | EngineError::CommitUnknown(_)
            | EngineError::AuditUnavailable => {
                tracing::warn!(error = %error_chain(&err), "service unavailable");
                Self::new(status, "unavailable", err.to_string())
            }
            EngineError::Expression(_)
            | EngineError::Store(_)
            | EngineError::SchemaUnknown { .. } => Self::internal(&err),
        };
        answer.status = status;
        answer
    }
}

impl From<forlob_engine::store::DbErr> for AppError {
    fn from(err: forlob_engine::store::DbErr) -> Self {
        Self::from(EngineError::from(err))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut response = (self.status, Json(&body)).into_response();
        response.extensions_mut().insert(body);
        // For an error page: what was wrong, by code, to say in the viewer's language.
        if let Some(messages) = self.messages {
            response.extensions_mut().insert(FieldMessages(messages));
        }
        response
    }
}
