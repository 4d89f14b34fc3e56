//! The inbox: list, read, claim and complete tasks. Tenancy is part of every query (the
//! engine filters by the caller's municipality in SQL), so a task of another municipality is
//! answered exactly like one that does not exist.

use std::collections::BTreeMap;

use axum::extract::State;
use forlob_engine::Role;
use forlob_engine::TextLimits;
use forlob_engine::form::{Form, Required};
use forlob_engine::instance::TaskStatus;
use forlob_engine::store::{self, TaskFilter, TaskOrder, TaskText};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::TaskView;
use super::{Json, Path, Query};
use crate::auth::Caller;
use crate::error::{AppError, ErrorBody, Result};
use crate::state::AppState;

const WORKERS: &[Role] = &[Role::Caseworker, Role::Admin];
const DEFAULT_PAGE: u64 = 50;
const MAX_PAGE: u64 = 500;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks))
        .routes(routes!(get_task))
        .routes(routes!(claim_task))
        .routes(routes!(unclaim_task))
        .routes(routes!(take_over_task))
        .routes(routes!(assign_task))
        .routes(routes!(complete_task))
}

/// Filters and order of the inbox.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct InboxQuery {
    /// `open` (default), `completed`, `cancelled` or `all`.
    pub status: Option<String>,
    /// Only tasks of this kind.
    pub kind: Option<String>,
    /// Only tasks of this process.
    pub process: Option<String>,
    /// Only tasks due before this date (YYYY-MM-DD) or instant (RFC 3339).
    pub due_before: Option<String>,
    /// Only tasks claimed by this user; `me` for the caller.
    pub claimed_by: Option<String>,
    /// Free text: tasks whose title or CPR number contains it, or whose person's name does.
    pub q: Option<String>,
    /// `due` (soonest first, default), `title`, `kind`, `subject` or `claimed_by`; with a
    /// leading `-` reversed (`-due`: latest first).
    pub sort: Option<String>,
    /// Admins only: one municipality's tasks (caseworkers always see their own).
    pub municipality: Option<String>,
    /// Page size, 1..=500 (default 50).
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// A page of the inbox and the counts per kind of everything the filter matches.

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Inbox {
    pub tasks: Vec<TaskView>,
    /// Matching tasks per kind (ignoring the `kind` filter, so a filter bar can show them all).
    pub counts: BTreeMap<String, u64>,
    /// Matching tasks in all (with the `kind` filter).
    pub total: u64,
}

impl InboxQuery {
    /// The engine filter for this query as `caller` may run it, or a 422 naming the bad field.
    pub(crate) fn filter(
        &self,
        caller: &Caller,
        limits: &TextLimits,
        zone: chrono_tz::Tz,
    ) -> Result<TaskFilter> {
        let mut errors = BTreeMap::new();
        let text = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        if let Some(message) = text.and_then(|q| forlob_engine::limits::too_long(q, limits.query)) {
            errors.insert("q", message.to_string());
        }
        let status = match self.status.as_deref().unwrap_or("open") {
            "all" => None,
            other => match TaskStatus::parse(other) {
                Some(status) => Some(status),
                None => {
                    errors.insert(
                        "status",
                        format!("`{other}` is not one of open, completed, cancelled, all"),
                    );
                    None
                }
            },
        };
        let due_before = match self.due_before.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            // A date means the start of that day where the inbox's users are.
            Some(text) => crate::audit_export::parse_instant(text, false, zone).or_else(|| {
                errors.insert(
                    "due_before",
                    format!("`{text}` is not a date (YYYY-MM-DD) or an RFC 3339 instant"),
                );
                None
            }),
        };
        let sort = self.sort.as_deref().unwrap_or("due");
        let descending = sort.starts_with('-');
        let order = TaskOrder::parse(sort.trim_start_matches('-')).unwrap_or_else(|| {
            let names: Vec<_> = TaskOrder::ALL.iter().map(|o| o.as_str()).collect();
            errors.insert(
                "sort",
                format!(
                    "`{sort}` is not one of {}, each with or without a leading `-`",
                    names.join(", ")
                ),
            );
            TaskOrder::Due
        });
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            errors.insert("limit", format!("must be between 1 and {MAX_PAGE}"));
        }
        if self.offset.is_some_and(|o| o > 1_000_000) {
            errors.insert(
                "offset",
                "must be at most 1000000; narrow the filter".into(),
            );
        }
        // Tenancy: a caseworker's own municipality, whatever they ask for.
        let municipality = match caller.actor().task_scope() {
            Some(own) => Some(own),
            None => self.municipality.clone().filter(|m| !m.is_empty()),
        };
        if !errors.is_empty() {
            return Err(AppError::invalid(errors));
        }
        let non_empty = |o: &Option<String>| o.clone().filter(|s| !s.is_empty());
        Ok(TaskFilter {
            municipality,
            status,
            kind: non_empty(&self.kind),
            process_id: non_empty(&self.process),
            due_before,
            claimed_by: non_empty(&self.claimed_by).map(|c| {
                if c == "me" {
                    caller.user.username.clone()
                } else {
                    c
                }
            }),
            text: text.map(|q| TaskText {
                text: q.to_owned(),
                subjects: Vec::new(),
            }),
            order,
            descending,
            offset: self.offset,
            limit: Some(limit),
            ..TaskFilter::default()
        })
    }
}

/// The inbox page and its counts for a filter.
pub(crate) async fn inbox(state: &AppState, filter: &TaskFilter) -> Result<Inbox> {
    let db = state.engine.db();
    // A search also finds the tasks about persons of that name.
    let mut filter = filter.clone();
    if let Some(text) = filter.text.as_ref().map(|t| t.text.clone()) {
        let named = state
            .engine
            .queries()
            .subjects_named(&text, &filter)
            .await?;
        if let Some(search) = &mut filter.text {
            search.subjects = named;
        }
    }
    let filter = &filter;
    let tasks = store::tasks(db, filter).await?;
    let all_kinds = TaskFilter {
        kind: None,
        ..filter.clone()
    };
    let counts: BTreeMap<String, u64> = store::count_tasks_by_kind(db, &all_kinds)
        .await?
        .into_iter()
        .collect();
    let total = match &filter.kind {
        Some(kind) => counts.get(kind).copied().unwrap_or(0),
        None => counts.values().sum(),
    };
    Ok(Inbox {
        tasks: tasks.into_iter().map(TaskView::from).collect(),
        counts,
        total,
    })
}

/// The caller's inbox: their municipality's tasks (admins: all, or `municipality`).
#[utoipa::path(get, path = "/tasks", tag = "tasks", params(InboxQuery),
    responses((status = 200, body = Inbox), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_tasks(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<InboxQuery>,
) -> Result<Json<Inbox>> {
    caller.require(WORKERS)?;
    let filter = query.filter(&caller, state.engine.limits(), state.engine.timezone())?;
    Ok(Json(inbox(&state, &filter).await?))
}

/// One field of a task's form.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FieldView {
    pub name: String,
    /// `text`, `textarea`, `number`, `date`, `choice`, `checkbox` or a package's type.
    #[serde(rename = "type")]
    pub field_type: String,
    pub label: String,
    pub help: Option<String>,
    /// `true`, `false`, or `conditional` (required depending on other answers).
    pub required: String,
    pub choices: Vec<ChoiceView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChoiceView {
    pub value: String,
    pub label: String,
}

/// A task, and for an open one the form it asks for.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskDetail {
    pub task: TaskView,
    pub process_title: Option<String>,
    pub form: Vec<FieldView>,
    /// Initial values of the form.
    #[schema(value_type = Object)]
    pub defaults: Map<String, Value>,
}

/// The form's fields as the API describes them, with the choices offered in `scope`.
pub(crate) fn form_fields(
    form: &Form,
    state: &AppState,
    scope: &forlob_engine::expr::Scope,
) -> Vec<FieldView> {
    form.fields
        .iter()
        .map(|f| FieldView {
            name: f.name.clone(),
            field_type: f.field_type.clone(),
            label: f.label.clone(),
            help: f.help.clone(),
            required: match f.required {
                Required::Always => "true",
                Required::Never => "false",
                Required::When(_) => "conditional",
            }
            .into(),
            choices: Form::offered(f, state.engine.registry(), scope)
                .into_iter()
                .map(|c| ChoiceView {
                    value: c.value,
                    label: c.label,
                })
                .collect(),
        })
        .collect()
}

/// A task with its form (open tasks) or its submitted data (closed ones).
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks", params(("id" = Uuid, Path, description = "task id")),
    responses((status = 200, body = TaskDetail), (status = 404, body = ErrorBody)))]
async fn get_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<TaskDetail>> {
    caller.require(WORKERS)?;
    let actor = caller.actor();
    let task = state.engine.queries().look_at_task(id, &actor).await?;
    if task.status != TaskStatus::Open {
        return Ok(Json(TaskDetail {
            task: task.into(),
            process_title: None,
            form: Vec::new(),
            defaults: Map::new(),
        }));
    }
    let with_form = state.engine.queries().task_form(id, &actor).await?;
    Ok(Json(TaskDetail {
        form: form_fields(&with_form.form, &state, &with_form.scope),
        process_title: Some(with_form.process_title),
        defaults: with_form.defaults,
        task: with_form.task.into(),
    }))
}

/// Takes the task, so colleagues see it is being worked on.
#[utoipa::path(post, path = "/tasks/{id}/claim", tag = "tasks", params(("id" = Uuid, Path, description = "task id")),
    responses((status = 200, body = TaskView), (status = 404, body = ErrorBody), (status = 409, description = "claimed by someone else, or closed", body = ErrorBody)))]
async fn claim_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<TaskView>> {
    caller.require(WORKERS)?;
    let task = state
        .engine
        .commands()
        .claim_task(id, &caller.actor(), true)
        .await?;
    Ok(Json(task.into()))
}

/// Gives the task back to the inbox.
#[utoipa::path(post, path = "/tasks/{id}/unclaim", tag = "tasks", params(("id" = Uuid, Path, description = "task id")),
    responses((status = 200, body = TaskView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn unclaim_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<TaskView>> {
    caller.require(WORKERS)?;
    let task = state
        .engine
        .commands()
        .claim_task(id, &caller.actor(), false)
        .await?;
    Ok(Json(task.into()))
}

/// Takes the task over from the colleague who claimed it (recorded in the audit log, naming
/// them); a task nobody holds is simply claimed.
#[utoipa::path(post, path = "/tasks/{id}/take-over", tag = "tasks", params(("id" = Uuid, Path, description = "task id")),
    responses((status = 200, body = TaskView), (status = 404, body = ErrorBody), (status = 409, description = "closed, or the claim changed hands meanwhile", body = ErrorBody)))]
async fn take_over_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<TaskView>> {
    caller.require(WORKERS)?;
    let task = state
        .engine
        .commands()
        .take_over_task(id, &caller.actor())
        .await?;
    Ok(Json(task.into()))
}

/// Whom to give a task to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignBody {
    /// Username of an active caseworker of the task's municipality.
    pub to: String,
}

/// Gives the task to a colleague of its municipality (recorded in the audit log). The task
/// must be free or the caller's; one a third colleague holds is a 409.
#[utoipa::path(post, path = "/tasks/{id}/assign", tag = "tasks", params(("id" = Uuid, Path, description = "task id")),
    request_body = AssignBody,
    responses((status = 200, body = TaskView), (status = 404, body = ErrorBody),
        (status = 409, description = "closed, or held by someone else", body = ErrorBody),
        (status = 422, description = "`to` is no active caseworker of the task's municipality", body = ErrorBody)))]
async fn assign_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<AssignBody>,
) -> Result<Json<TaskView>> {
    caller.require(WORKERS)?;
    let task = state
        .engine
        .commands()
        .assign_task(id, &caller.actor(), &body.to)
        .await?;
    Ok(Json(task.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Completed {
    pub task: TaskView,
}

/// Submits the task's form. The body is an object of the form's fields.
#[utoipa::path(post, path = "/tasks/{id}/complete", tag = "tasks", params(("id" = Uuid, Path, description = "task id")),
    request_body(content = Object, description = "the form's fields, e.g. {\"handling\": \"opret\", \"kommune\": \"101\"}"),
    responses((status = 200, body = Completed),
        (status = 404, body = ErrorBody),
        (status = 409, description = "completed by someone else first, or claimed by someone else", body = ErrorBody),
        (status = 422, description = "`details` holds a message per field", body = ErrorBody)))]
async fn complete_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(form): Json<Map<String, Value>>,
) -> Result<Json<Completed>> {
    caller.require(WORKERS)?;
    let actor = caller.actor();
    state
        .engine
        .commands()
        .complete_task(id, &form, &actor)
        .await?;
    let task = state.engine.queries().task(id, &actor).await?;
    Ok(Json(Completed { task: task.into() }))
}
