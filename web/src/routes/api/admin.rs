//! Operating the engine (admins): instances, incidents, dead letters, users and tokens, and
//! the manual clock.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use forlob_engine::Role;
use forlob_engine::audit::{AuditAction, AuditRecord};
use forlob_engine::instance::TaskStatus;
use forlob_engine::runtime::{InstanceOperation, MessageOutcome};
use forlob_engine::store::{self, InstanceFilter, InstanceOrder, TaskFilter};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::{HistoryView, InstanceView, TaskView};
use super::{Json, OptionalJson, Path, Query};
use crate::auth::Caller;
use crate::error::{AppError, ErrorBody, Result};
use crate::state::AppState;
use crate::users;

const ADMINS: &[Role] = &[Role::Admin];

/// The most incidents or dead letters a list shows (newest first); an admin works from the
/// top, and a longer list is a sign of one cause to mend rather than many to read.
pub(crate) const LIST_LIMIT: u64 = 500;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_instances))
        .routes(routes!(get_instance))
        .routes(routes!(list_incidents))
        .routes(routes!(retry_incident))
        .routes(routes!(skip_incident))
        .routes(routes!(cancel_incident))
        .routes(routes!(suspend_instance))
        .routes(routes!(resume_instance))
        .routes(routes!(cancel_instance))
        .routes(routes!(list_dead_letters))
        .routes(routes!(get_dead_letter))
        .routes(routes!(replay_dead_letter))
        .routes(routes!(list_tokens))
        .routes(routes!(issue_token))
        .routes(routes!(revoke_token))
        .routes(routes!(list_users, add_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(advance_clock))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstanceQuery {
    pub process: Option<String>,
    pub state: Option<String>,
    /// `active`, `completed`, `incident`, `cancelled` or `suspended`.
    pub status: Option<String>,
    pub subject: Option<String>,
    pub version: Option<i32>,
    /// Instances started in this municipality or with a task there.
    pub municipality: Option<String>,
    /// Started on or after this day (YYYY-MM-DD, Danish time) or instant (RFC 3339).
    pub started_from: Option<String>,
    /// Started on or before this day (the whole day) or before this instant.
    pub started_to: Option<String>,
    /// `started` (default: newest first as `-started`), `updated`, `process`, `version`,
    /// `subject`, `state` or `status`; a leading `-` reverses it.
    pub sort: Option<String>,
    /// At most this many (1..=1000, default 100).
    pub limit: Option<u64>,
    /// Skip this many (the page's start); the total is in `X-Total-Count`.
    pub offset: Option<u64>,
}

impl InstanceQuery {
    pub(crate) fn filter(
        &self,
        limits: &forlob_engine::TextLimits,
        zone: chrono_tz::Tz,
    ) -> Result<InstanceFilter> {
        super::check_filters(
            [
                ("process", self.process.as_deref()),
                ("state", self.state.as_deref()),
                ("status", self.status.as_deref()),
                ("subject", self.subject.as_deref()),
                ("municipality", self.municipality.as_deref()),
                ("sort", self.sort.as_deref()),
            ],
            limits.query,
        )?;
        let mut errors: Vec<(&str, String)> = Vec::new();
        let mut instant = |field: &'static str, text: &Option<String>, end: bool| {
            let text = text.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
            let parsed = crate::audit_export::parse_instant(text, end, zone);
            if parsed.is_none() {
                errors.push((
                    field,
                    format!("`{text}` is not a date (YYYY-MM-DD) or an RFC 3339 instant"),
                ));
            }
            parsed
        };
        let started_from = instant("started_from", &self.started_from, false);
        let started_before = instant("started_to", &self.started_to, true);
        let sort = self
            .sort
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("-started");
        let order = InstanceOrder::parse(sort.trim_start_matches('-'));
        if order.is_none() {
            let names: Vec<_> = InstanceOrder::ALL.iter().map(|o| o.as_str()).collect();
            errors.push((
                "sort",
                format!(
                    "`{sort}` is not one of {}, each with or without a leading `-`",
                    names.join(", ")
                ),
            ));
        }
        if self.offset.is_some_and(|o| o > 1_000_000) {
            errors.push((
                "offset",
                "must be at most 1000000; narrow the filter".into(),
            ));
        }
        if !errors.is_empty() {
            return Err(AppError::invalid(errors));
        }
        let non_empty = |o: &Option<String>| o.clone().filter(|s| !s.trim().is_empty());
        let status = match non_empty(&self.status) {
            None => None,
            Some(s) => match forlob_engine::InstanceStatus::parse(&s) {
                Some(status) => Some(status),
                None => {
                    return Err(AppError::invalid([(
                        "status",
                        format!(
                            "`{s}` is not one of active, completed, incident, cancelled, suspended"
                        ),
                    )]));
                }
            },
        };
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(AppError::invalid([("limit", "must be between 1 and 1000")]));
        }
        Ok(InstanceFilter {
            process_id: non_empty(&self.process),
            state: non_empty(&self.state),
            status,
            subject: non_empty(&self.subject),
            version: self.version,
            municipality: non_empty(&self.municipality),
            started_from,
            started_before,
            order: order.unwrap_or_default(),
            descending: sort.starts_with('-'),
            offset: self.offset,
            limit: Some(limit),
        })
    }
}

/// Instances by process, version, state, status, subject, municipality and when they
/// started, sorted and a page at a time; how many match in all is in `X-Total-Count`.
#[utoipa::path(get, path = "/instances", tag = "instances", params(InstanceQuery),
    responses((status = 200, body = Vec<InstanceView>,
        headers(("x-total-count" = u64, description = "instances matching the filter, all pages"))),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_instances(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<InstanceQuery>,
) -> Result<([(&'static str, String); 1], Json<Vec<InstanceView>>)> {
    caller.require(ADMINS)?;
    let filter = query.filter(state.engine.limits(), state.engine.timezone())?;
    let (total, found) = instance_page(&state, &caller, &filter).await?;
    Ok((
        [("x-total-count", total.to_string())],
        Json(found.into_iter().map(InstanceView::from).collect()),
    ))
}

/// How many instances `filter` matches and its page of them (API and page alike). A filter
/// by subject looks a person up, so it is recorded (`person.search`, naming the subject).
pub(crate) async fn instance_page(
    state: &AppState,
    caller: &Caller,
    filter: &InstanceFilter,
) -> Result<(u64, Vec<forlob_engine::instance::ProcessInstance>)> {
    let db = state.engine.db();
    let total = store::count_instances(db, filter).await?;
    let found = store::instances(db, filter).await?;
    if let Some(subject) = &filter.subject {
        let record = AuditRecord::new(AuditAction::PersonSearch)
            .subject(subject.clone())
            .detail(json!({ "shown": "instances", "hits": total }));
        state
            .engine
            .audit()
            .record(&caller.actor(), vec![record])
            .await?;
    }
    Ok((total, found))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InstanceDetail {
    pub instance: InstanceView,
    pub history: Vec<HistoryView>,
    pub open_tasks: Vec<TaskView>,
    /// Mermaid diagram of the instance's version with its current state highlighted.
    pub diagram: Option<String>,
}

/// An instance as an admin sees it (API and page alike): its variables and history hold what
/// was submitted about its subject, so the look is recorded in the audit log first.
pub(crate) async fn instance_detail(
    state: &AppState,
    id: Uuid,
    caller: &Caller,
) -> Result<InstanceDetail> {
    let db = state.engine.db();
    let (instance, _) = store::instance(db, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no instance {id}")))?;
    let record = AuditRecord::new(AuditAction::PersonRead)
        .subject(instance.subject.clone())
        .target(id)
        .detail(serde_json::json!({ "shown": "instance", "process": instance.process_id }));
    state
        .engine
        .audit()
        .record(&caller.actor(), vec![record])
        .await?;
    let history = store::history(db, id).await?;
    let open_tasks = store::tasks(
        db,
        &TaskFilter {
            instance_id: Some(id),
            status: Some(TaskStatus::Open),
            ..TaskFilter::default()
        },
    )
    .await?;
    let diagram = state
        .engine
        .catalog()
        .version(&instance.process_id, instance.version)
        .map(|d| d.mermaid_highlighting(&instance.state));
    Ok(InstanceDetail {
        instance: instance.into(),
        history: history.into_iter().map(Into::into).collect(),
        open_tasks: open_tasks.into_iter().map(Into::into).collect(),
        diagram,
    })
}

/// State, variables, history and open tasks of an instance.
#[utoipa::path(get, path = "/instances/{id}", tag = "instances", params(("id" = Uuid, Path, description = "instance id")),
    responses((status = 200, body = InstanceDetail), (status = 404, body = ErrorBody)))]
async fn get_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<InstanceDetail>> {
    caller.require(ADMINS)?;
    Ok(Json(instance_detail(&state, id, &caller).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IncidentView {
    pub id: i64,
    pub instance_id: Uuid,
    pub state: String,
    pub action: String,
    pub error: String,
    pub attempts: i32,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// Open incidents, newest first (at most 500): steps that failed after their retries.
#[utoipa::path(get, path = "/admin/incidents", tag = "admin",
    responses((status = 200, body = Vec<IncidentView>), (status = 403, body = ErrorBody)))]
async fn list_incidents(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<IncidentView>>> {
    caller.require(ADMINS)?;
    let incidents = store::recent_incidents(state.engine.db(), LIST_LIMIT).await?;
    Ok(Json(
        incidents
            .into_iter()
            .map(|i| IncidentView {
                id: i.id,
                instance_id: i.instance_id,
                state: i.state,
                action: i.cause.stored(),
                error: i.error,
                attempts: i.attempts,
                status: i.status.as_str().into(),
                created_at: i.created_at,
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Retried {
    /// The incident's instance (after a retry, active again: its step runs on the workers'
    /// next round).
    pub instance_id: Uuid,
}

/// A retry, with the instance's variables corrected first.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetryRequest {
    /// The instance's variables as they should be (the whole set), set in the retry's
    /// transaction; a new variable the definition never reads is refused (422).
    #[schema(value_type = Option<Object>)]
    pub variables: Option<serde_json::Map<String, serde_json::Value>>,
    /// Why, for the audit log; required with `variables`.
    #[serde(default)]
    pub reason: String,
    /// Add variables the definition never reads (a package's action may read them).
    #[serde(default)]
    pub add_unread: bool,
}

/// Puts the incident's instance back to work: its current step is due again. With
/// `variables`, the instance's variables are corrected first, in the same transaction (the
/// audit entry holds each changed one before and after). Audited in the instance's history
/// with the admin's name. The body may be left out.
#[utoipa::path(post, path = "/admin/incidents/{id}/retry", tag = "admin",
    params(("id" = i64, Path, description = "incident id")), request_body = Option<RetryRequest>,
    responses((status = 200, body = Retried), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "handled already", body = ErrorBody),
        (status = 422, description = "a variable the definition never reads, or no reason", body = ErrorBody)))]
async fn retry_incident(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    OptionalJson(request): OptionalJson<RetryRequest>,
) -> Result<Json<Retried>> {
    caller.require(ADMINS)?;
    let actor = caller.actor();
    let instance_id = match &request.variables {
        Some(variables) => {
            state
                .engine
                .operations()
                .retry_incident_with_variables(
                    id,
                    &actor,
                    variables,
                    request.reason.trim(),
                    request.add_unread,
                )
                .await?
        }
        None => {
            state
                .engine
                .operations()
                .retry_incident(id, &actor, request.reason.trim())
                .await?
        }
    };
    Ok(Json(Retried { instance_id }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SkipRequest {
    /// A state of the instance's own version to continue in.
    pub to_state: String,
    /// Why, for the audit log.
    #[serde(default)]
    pub reason: String,
}

/// Moves the incident's instance past the failed step into another state of its version,
/// entering it as a transition would. Audited with the admin's name.
#[utoipa::path(post, path = "/admin/incidents/{id}/skip", tag = "admin",
    params(("id" = i64, Path, description = "incident id")), request_body = SkipRequest,
    responses((status = 200, body = Retried), (status = 404, body = ErrorBody),
        (status = 409, description = "handled already", body = ErrorBody),
        (status = 422, description = "the version has no such state", body = ErrorBody)))]
async fn skip_incident(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(request): Json<SkipRequest>,
) -> Result<Json<Retried>> {
    caller.require(ADMINS)?;
    let instance_id = state
        .engine
        .operations()
        .skip_incident(
            id,
            request.to_state.trim(),
            &caller.actor(),
            request.reason.trim(),
        )
        .await?;
    Ok(Json(Retried { instance_id }))
}

/// Cancels the incident's instance: open tasks cancelled, timers and waits dropped. The body
/// (a reason for the history and the audit log) may be left out.
#[utoipa::path(post, path = "/admin/incidents/{id}/cancel", tag = "admin",
    params(("id" = i64, Path, description = "incident id")), request_body = Option<ReasonRequest>,
    responses((status = 200, body = Retried), (status = 404, body = ErrorBody),
        (status = 409, description = "handled already", body = ErrorBody)))]
async fn cancel_incident(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    OptionalJson(request): OptionalJson<ReasonRequest>,
) -> Result<Json<Retried>> {
    caller.require(ADMINS)?;
    let instance_id = state
        .engine
        .operations()
        .cancel_incident(id, &caller.actor(), request.reason.trim())
        .await?;
    Ok(Json(Retried { instance_id }))
}

async fn operate(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    request: &ReasonRequest,
    operation: InstanceOperation,
) -> Result<Json<Retried>> {
    caller.require(ADMINS)?;
    state
        .engine
        .operations()
        .operate_instance(id, operation, &caller.actor(), request.reason.trim())
        .await?;
    Ok(Json(Retried { instance_id: id }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonRequest {
    /// Why, for the instance's history.
    #[serde(default)]
    pub reason: String,
}

/// Stops an active instance: its timers and steps are held with their due times, its tasks
/// cannot be completed, messages and signals do not move it. Audited with the admin's name.
#[utoipa::path(post, path = "/admin/instances/{id}/suspend", tag = "admin",
    params(("id" = Uuid, Path, description = "instance id")), request_body = ReasonRequest,
    responses((status = 200, body = Retried), (status = 404, body = ErrorBody),
        (status = 409, description = "not active", body = ErrorBody)))]
async fn suspend_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(request): Json<ReasonRequest>,
) -> Result<Json<Retried>> {
    operate(&state, &caller, id, &request, InstanceOperation::Suspend).await
}

/// Puts a suspended instance back to work; held timers and steps run at their due times,
/// overdue ones at once. Audited with the admin's name.
#[utoipa::path(post, path = "/admin/instances/{id}/resume", tag = "admin",
    params(("id" = Uuid, Path, description = "instance id")), request_body = ReasonRequest,
    responses((status = 200, body = Retried), (status = 404, body = ErrorBody),
        (status = 409, description = "not suspended", body = ErrorBody)))]
async fn resume_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(request): Json<ReasonRequest>,
) -> Result<Json<Retried>> {
    operate(&state, &caller, id, &request, InstanceOperation::Resume).await
}

/// Ends an unfinished instance as cancelled: open tasks cancelled, timers and waits dropped,
/// open incidents closed. Audited with the admin's name.
#[utoipa::path(post, path = "/admin/instances/{id}/cancel", tag = "admin",
    params(("id" = Uuid, Path, description = "instance id")), request_body = ReasonRequest,
    responses((status = 200, body = Retried), (status = 404, body = ErrorBody),
        (status = 409, description = "ended already", body = ErrorBody)))]
async fn cancel_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(request): Json<ReasonRequest>,
) -> Result<Json<Retried>> {
    operate(&state, &caller, id, &request, InstanceOperation::Cancel).await
}

/// A dead letter in a list: its payload cut to [`PAYLOAD_PREVIEW`] characters; the whole one
/// is at `GET /api/admin/dead-letters/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeadLetterSummaryView {
    pub id: i64,
    pub message_id: Option<String>,
    pub message_type: String,
    /// The first characters of the payload's JSON text.
    pub payload_preview: String,
    /// The length of the payload's JSON text, in characters.
    pub payload_size: i64,
    /// The preview is not the whole payload.
    pub payload_truncated: bool,
    pub reason: String,
    pub received_at: DateTime<Utc>,
}

impl From<forlob_engine::instance::DeadLetterSummary> for DeadLetterSummaryView {
    fn from(d: forlob_engine::instance::DeadLetterSummary) -> Self {
        Self {
            payload_truncated: d.payload_size > i64::from(PAYLOAD_PREVIEW),
            id: d.id,
            message_id: d.message_id,
            message_type: d.message_type,
            payload_preview: d.payload_preview,
            payload_size: d.payload_size,
            reason: d.reason,
            received_at: d.received_at,
        }
    }
}

/// One dead letter, whole.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeadLetterView {
    pub id: i64,
    pub message_id: Option<String>,
    pub message_type: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub reason: String,
    pub received_at: DateTime<Utc>,
}

/// Characters of a payload a list shows.
pub(crate) const PAYLOAD_PREVIEW: u32 = 200;

/// Dead letters a page has unless `limit` says otherwise.
pub(crate) const DEAD_LETTER_PAGE: u64 = 50;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeadLetterQuery {
    /// At most this many (1..=500, default 50).
    pub limit: Option<u64>,
    /// The id of the last letter of the previous page: this page has the older ones.
    pub cursor: Option<i64>,
}

impl DeadLetterQuery {
    /// The page asked for (payloads cut) and the cursor of the next one, when this page is
    /// full: the API and the admin page list dead letters alike.
    pub(crate) async fn page(
        &self,
        state: &AppState,
    ) -> Result<(Vec<DeadLetterSummaryView>, Option<i64>)> {
        let limit = self.limit()?;
        let letters: Vec<DeadLetterSummaryView> =
            store::dead_letters_page(state.engine.db(), self.cursor, limit, PAYLOAD_PREVIEW)
                .await?
                .into_iter()
                .map(DeadLetterSummaryView::from)
                .collect();
        let next = letters
            .last()
            .filter(|_| letters.len() as u64 == limit)
            .map(|last| last.id);
        Ok((letters, next))
    }

    pub(crate) fn limit(&self) -> Result<u64> {
        let limit = self.limit.unwrap_or(DEAD_LETTER_PAGE);
        if (1..=LIST_LIMIT).contains(&limit) {
            Ok(limit)
        } else {
            Err(AppError::invalid([(
                "limit",
                format!("must be between 1 and {LIST_LIMIT}"),
            )]))
        }
    }
}

/// Messages no process could take, with the reason; newest first, a page at a time, each
/// payload cut to its first 200 characters (the whole letter is at
/// `/api/admin/dead-letters/{id}`). For the next page pass the last id as `cursor`; a full
/// page also carries a `Link: <...>; rel="next"` header.
#[utoipa::path(get, path = "/admin/dead-letters", tag = "admin", params(DeadLetterQuery),
    responses((status = 200, body = Vec<DeadLetterSummaryView>), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn list_dead_letters(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<DeadLetterQuery>,
) -> Result<impl IntoResponse> {
    caller.require(ADMINS)?;
    let (letters, next) = query.page(&state).await?;
    let limit = query.limit()?;
    let next = next.map(|cursor| {
        format!("</api/admin/dead-letters?limit={limit}&cursor={cursor}>; rel=\"next\"")
    });
    let mut response = Json(letters).into_response();
    if let Some(link) = next.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// One dead letter with its whole payload.
#[utoipa::path(get, path = "/admin/dead-letters/{id}", tag = "admin",
    params(("id" = i64, Path, description = "dead letter id")),
    responses((status = 200, body = DeadLetterView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_dead_letter(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<DeadLetterView>> {
    caller.require(ADMINS)?;
    let d = store::dead_letter(state.engine.db(), id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no dead letter {id}")))?;
    Ok(Json(DeadLetterView {
        id: d.id,
        message_id: d.message_id,
        message_type: d.message_type,
        payload: d.payload,
        reason: d.reason,
        received_at: d.received_at,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Replayed {
    /// `accepted`, or `dead_letter` again (with the new reason).
    pub outcome: String,
    pub started: Vec<Uuid>,
    pub resumed: Vec<Uuid>,
    pub reason: Option<String>,
}

/// Delivers a dead letter again (a message that came before its instance waited, say); it
/// leaves the list in the same transaction.
#[utoipa::path(post, path = "/admin/dead-letters/{id}/replay", tag = "admin",
    params(("id" = i64, Path, description = "dead letter id")),
    responses((status = 200, body = Replayed), (status = 404, description = "no such letter (or replayed already)", body = ErrorBody),
        (status = 422, description = "the message had no id", body = ErrorBody)))]
async fn replay_dead_letter(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Replayed>> {
    caller.require(ADMINS)?;
    let outcome = state
        .engine
        .operations()
        .replay_dead_letter(id, &caller.actor())
        .await?;
    Ok(Json(match outcome {
        MessageOutcome::Accepted { started, resumed } => Replayed {
            outcome: "accepted".into(),
            started,
            resumed,
            reason: None,
        },
        MessageOutcome::DeadLetter { reason } => Replayed {
            outcome: "dead_letter".into(),
            started: Vec::new(),
            resumed: Vec::new(),
            reason: Some(reason),
        },
        MessageOutcome::Duplicate { first_outcome } => Replayed {
            outcome: "duplicate".into(),
            started: Vec::new(),
            resumed: Vec::new(),
            reason: Some(first_outcome),
        },
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<forlob_engine::user::ApiToken> for TokenView {
    fn from(t: forlob_engine::user::ApiToken) -> Self {
        Self {
            id: t.id,
            user_id: t.user_id,
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// Every API token (never the secret): whose, when made, last used, revoked.
#[utoipa::path(get, path = "/admin/tokens", tag = "admin",
    responses((status = 200, body = Vec<TokenView>), (status = 403, body = ErrorBody)))]
async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TokenView>>> {
    caller.require(ADMINS)?;
    let tokens = store::tokens(state.engine.db()).await?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    /// What the token is for, e.g. `cpr-integration`.
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IssuedToken {
    pub token: TokenView,
    /// The secret; shown this once, only its digest is stored.
    pub secret: String,
}

/// Issues another API token for a user (e.g. for an integration, or to rotate one).
#[utoipa::path(post, path = "/admin/users/{username}/tokens", tag = "admin",
    params(("username" = String, Path, description = "the user")), request_body = TokenRequest,
    responses((status = 201, body = IssuedToken), (status = 404, body = ErrorBody),
        (status = 422, description = "no name, or the user is disabled", body = ErrorBody)))]
async fn issue_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    Json(request): Json<TokenRequest>,
) -> Result<(StatusCode, Json<IssuedToken>)> {
    caller.require(ADMINS)?;
    let (token, secret) =
        users::issue_token(&state.engine, &username, &request.name, &caller.actor()).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            token: token.into(),
            secret,
        }),
    ))
}

/// Revokes a token at once: the next call with it is a 401. The body (a reason for the audit
/// log) may be left out.
#[utoipa::path(post, path = "/admin/tokens/{id}/revoke", tag = "admin",
    params(("id" = Uuid, Path, description = "token id")), request_body = Option<ReasonRequest>,
    responses((status = 204, description = "revoked"), (status = 404, description = "no such live token", body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    OptionalJson(request): OptionalJson<ReasonRequest>,
) -> Result<StatusCode> {
    caller.require(ADMINS)?;
    if users::revoke_token(&state.engine, id, &caller.actor(), request.reason.trim()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found(format!("no live token {id}")))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserView {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    /// `caseworker`, `admin`, `designer`, `integration` or `metrics`.
    pub role: String,
    pub municipality: Option<String>,
    pub disabled: bool,
}

impl From<forlob_engine::User> for UserView {
    fn from(u: forlob_engine::User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            role: u.role.as_str().to_owned(),
            municipality: u.municipality,
            disabled: u.disabled,
        }
    }
}

/// Everyone who may sign in or call the API.
#[utoipa::path(get, path = "/admin/users", tag = "admin",
    responses((status = 200, body = Vec<UserView>), (status = 403, body = ErrorBody)))]
async fn list_users(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<UserView>>> {
    caller.require(ADMINS)?;
    let all = store::users(state.engine.db()).await?;
    Ok(Json(all.into_iter().map(UserView::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUserRequest {
    pub username: String,
    pub display_name: Option<String>,
    /// `caseworker`, `admin`, `designer`, `integration` or `metrics`.
    pub role: String,
    /// Required for caseworkers: the official municipality code, e.g. `147`.
    pub municipality: Option<String>,
    /// For signing in to the web UI; without one the user has only the API token.
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NewUserResponse {
    pub user: UserView,
    /// The API token; shown this once, only its digest is stored.
    pub token: String,
}

/// Adds a user and gives them an API token.
#[utoipa::path(post, path = "/admin/users", tag = "admin", request_body = NewUserRequest,
    responses((status = 201, body = NewUserResponse), (status = 403, body = ErrorBody),
        (status = 409, description = "the username is taken", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_user(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<NewUserRequest>,
) -> Result<(StatusCode, Json<NewUserResponse>)> {
    caller.require(ADMINS)?;
    let spec = users::UserSpec {
        username: request.username,
        display_name: request.display_name,
        role: request.role,
        municipality: request.municipality,
        password: request.password,
    };
    let (user, token) = users::add(&state.engine, spec, &caller.actor()).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewUserResponse {
            user: user.into(),
            token,
        }),
    ))
}

/// Disables a user: their tokens are revoked and their sessions ended, for good; enabling
/// them again brings none back. The body (a reason for the audit log) may be left out.
#[utoipa::path(post, path = "/admin/users/{username}/disable", tag = "admin",
    params(("username" = String, Path, description = "the user")), request_body = Option<ReasonRequest>,
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 422, description = "yourself", body = ErrorBody)))]
async fn disable_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    OptionalJson(request): OptionalJson<ReasonRequest>,
) -> Result<Json<UserView>> {
    caller.require(ADMINS)?;
    let user = users::set_disabled(
        &state.engine,
        &username,
        true,
        &caller.actor(),
        request.reason.trim(),
    )
    .await?;
    Ok(Json(user.into()))
}

/// Enables a disabled user again, with no live token: issue them a new one.
#[utoipa::path(post, path = "/admin/users/{username}/enable", tag = "admin",
    params(("username" = String, Path, description = "the user")),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
async fn enable_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<UserView>> {
    caller.require(ADMINS)?;
    let user = users::set_disabled(&state.engine, &username, false, &caller.actor(), "").await?;
    Ok(Json(user.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClockRequest {
    /// Where to move the manual clock (RFC 3339); everything due on the way runs, in order.
    pub advance_to: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClockMoved {
    pub now: DateTime<Utc>,
    /// Due timers and steps that ran on the way.
    pub handled: usize,
}

/// Moves the manual clock forward (only when serving with `--clock manual`).
#[utoipa::path(post, path = "/admin/clock", tag = "admin", request_body = ClockRequest,
    responses((status = 200, body = ClockMoved), (status = 403, description = "not an admin, or the clock is real", body = ErrorBody),
        (status = 422, description = "the time is in the past", body = ErrorBody)))]
async fn advance_clock(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<ClockRequest>,
) -> Result<Json<ClockMoved>> {
    caller.require(ADMINS)?;
    if state.engine.clock().as_manual().is_none() {
        return Err(AppError::forbidden(
            "the clock can be moved only when the server runs with --clock manual",
        ));
    }
    if request.advance_to < state.engine.clock().now() {
        return Err(AppError::invalid([(
            "advance_to",
            "is before the clock's current time; the clock only moves forward",
        )]));
    }
    let record = AuditRecord::new(AuditAction::ClockAdvance).detail(serde_json::json!({
        "from": state.engine.clock().now(),
        "to": request.advance_to,
    }));
    state
        .engine
        .audit()
        .record(&caller.actor(), vec![record])
        .await?;
    let handled = state.engine.jobs().advance_to(request.advance_to).await?;
    Ok(Json(ClockMoved {
        now: state.engine.clock().now(),
        handled,
    }))
}
