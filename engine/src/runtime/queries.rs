//! Questions people ask of the engine: a subject's overview and timeline (recorded in the
//! audit log), a task's form.

use sea_orm::TransactionTrait;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Engine;
use super::commands::manual_form;
use crate::audit::{AuditAction, AuditRecord};
use crate::error::{EngineError, Result};
use crate::form::{FieldErrors, Form};
use crate::instance::{Actor, Task, TimelineEvent};
use crate::registry::SubjectOverview;
use crate::store;

/// What a caseworker reads of a subject: the package's overview and the timeline.
#[derive(Debug, Clone)]
pub struct SubjectFile {
    pub overview: SubjectOverview,
    /// Oldest first.
    pub events: Vec<TimelineEvent>,
}

/// An open task with the form its manual step asks for.
#[derive(Debug, Clone)]
pub struct TaskForm {
    pub task: Task,
    /// The process's title (from its definition).
    pub process_title: String,
    pub form: Form,
    /// Initial values from the fields' `default` expressions.
    pub defaults: Map<String, Value>,
}

impl Engine {
    /// The overview of subject `id` of `kind` shown beside task `task`, as `actor` may see it
    /// (see `may_see`); recorded in the audit log before it is
    /// returned.
    pub async fn subject_overview(
        &self,
        kind: &str,
        id: &str,
        actor: &Actor,
        task: Uuid,
    ) -> Result<SubjectOverview> {
        let (overview, _) = self
            .look_up(
                kind,
                id,
                actor,
                false,
                json!({ "shown": "beside_task", "task": task }),
            )
            .await?;
        Ok(overview)
    }

    /// A subject's overview and timeline as `actor` may see them: admins every subject, a
    /// caseworker one of their municipality's (`may_see`). Any other is "not found", exactly
    /// like one that does not exist, so guessing ids tells nothing. Every look-up, shown or
    /// not, is recorded in the audit log before the answer is returned.
    pub async fn subject_file(&self, kind: &str, id: &str, actor: &Actor) -> Result<SubjectFile> {
        let (overview, events) = self
            .look_up(
                kind,
                id,
                actor,
                true,
                json!({ "shown": "overview_and_timeline" }),
            )
            .await?;
        Ok(SubjectFile { overview, events })
    }

    async fn look_up(
        &self,
        kind: &str,
        id: &str,
        actor: &Actor,
        with_events: bool,
        detail: Value,
    ) -> Result<(SubjectOverview, Vec<TimelineEvent>)> {
        let provider = self
            .registry
            .subject_provider(kind)
            .ok_or_else(|| EngineError::not_found("subject kind", kind))?;
        let conn = self.db.begin().await?;
        let unavailable = |e: crate::action::ActionError| {
            tracing::error!(subject = id, kind, error = %e, "subject overview failed");
            EngineError::SubjectUnavailable {
                kind: kind.to_owned(),
            }
        };
        let found = if self
            .may_see(&conn, kind, id, actor, self.clock.now())
            .await?
        {
            match provider.overview(&conn, id).await.map_err(unavailable)? {
                Some(overview) if with_events => Some((overview, store::events(&conn, id).await?)),
                Some(overview) => Some((overview, Vec::new())),
                None => None,
            }
        } else {
            None
        };
        conn.rollback().await?;
        let mut detail = detail;
        detail["found"] = Value::Bool(found.is_some());
        self.record(
            actor,
            vec![
                AuditRecord::new(AuditAction::PersonRead)
                    .subject(id)
                    .detail(detail),
            ],
        )
        .await?;
        found.ok_or_else(|| EngineError::not_found("subject", id))
    }

    /// The form of an open task the actor may see, with its defaults evaluated now.
    pub async fn task_form(&self, task_id: Uuid, actor: &Actor) -> Result<TaskForm> {
        let conn = self.db.begin().await?;
        let open = self
            .open_task(&conn, task_id, actor, self.clock.now())
            .await?;
        conn.rollback().await?;
        let form = manual_form(&open.def, &open.row.state)?;
        Ok(TaskForm {
            process_title: open.def.title.clone(),
            defaults: form.defaults(&open.scope),
            form: form.clone(),
            task: open.task,
        })
    }

    /// The HTML of a form's fields with these values and per-field errors (escaped).
    pub fn render_form(
        &self,
        form: &Form,
        values: &Map<String, Value>,
        errors: &FieldErrors,
    ) -> std::result::Result<String, handlebars::RenderError> {
        self.forms.render(form, values, errors, &self.registry)
    }
}
