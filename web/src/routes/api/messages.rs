//! Inbound register messages (e.g. `cpr.flytning`), taken exactly once by `message_id`.

use axum::extract::State;
use axum::http::StatusCode;
use forlob_engine::Role;
use forlob_engine::runtime::{InboundMessage, MessageOutcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::Json;
use crate::auth::Caller;
use crate::error::{AppError, ErrorBody, Result};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_message))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MessageRequest {
    /// The sender's id of this message; a second delivery with the same id changes nothing.
    pub message_id: String,
    /// e.g. `cpr.flytning`.
    #[serde(rename = "type")]
    pub message_type: String,
    /// e.g. `{"cpr": "0101501234", "move_date": "2025-06-03", "from": 101, "to": 147}`.
    #[schema(value_type = Object)]
    pub data: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct MessageReceipt {
    /// `accepted`, `duplicate` or `dead_letter`.
    pub outcome: String,
    pub started: Vec<Uuid>,
    pub resumed: Vec<Uuid>,
    /// Why no process took it (dead letters), or the first outcome (duplicates).
    pub reason: Option<String>,
}

/// Takes an inbound message. 202 when it was taken or set aside as a dead letter, 200 for a
/// duplicate (the same id and content); either way it is stored and will not be taken twice.
/// The same id with other content is a 409 `conflicting_duplicate`: it is not taken, and both
/// contents are kept in a dead letter (`details.dead_letter`).
#[utoipa::path(post, path = "/messages", tag = "messages", request_body = MessageRequest,
    responses((status = 202, body = MessageReceipt), (status = 200, description = "a duplicate", body = MessageReceipt),
        (status = 409, description = "the id was received before with other content", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_message(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<MessageRequest>,
) -> Result<(StatusCode, Json<MessageReceipt>)> {
    // A register's feed gets an `integration` token: it can deliver, and nothing else.
    caller.require(&[Role::Integration, Role::Admin])?;
    // Lengths are the engine's to check (`message_id`, `type`), so a replayed or scripted
    // delivery meets the same limits.
    let mut errors = Vec::new();
    if request.message_id.trim().is_empty() {
        errors.push(("message_id", "give the sender's id of the message"));
    }
    if request.message_type.trim().is_empty() {
        errors.push(("type", "give the message type, e.g. cpr.flytning"));
    }
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let message = InboundMessage {
        message_id: request.message_id,
        message_type: request.message_type,
        data: request.data,
    };
    let receipt = match state.engine.commands().deliver(&message).await? {
        MessageOutcome::Accepted { started, resumed } => (
            StatusCode::ACCEPTED,
            MessageReceipt {
                outcome: "accepted".into(),
                started,
                resumed,
                reason: None,
            },
        ),
        MessageOutcome::Duplicate { first_outcome } => (
            StatusCode::OK,
            MessageReceipt {
                outcome: "duplicate".into(),
                started: Vec::new(),
                resumed: Vec::new(),
                reason: Some(first_outcome),
            },
        ),
        MessageOutcome::DeadLetter { reason } => (
            StatusCode::ACCEPTED,
            MessageReceipt {
                outcome: "dead_letter".into(),
                started: Vec::new(),
                resumed: Vec::new(),
                reason: Some(reason),
            },
        ),
    };
    Ok((receipt.0, Json(receipt.1)))
}
