//! Read-only questions people ask of the engine: a subject's overview.

use sea_orm::TransactionTrait;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::Engine;
use super::commands::manual_form;
use crate::error::{EngineError, Result};
use crate::form::{FieldErrors, Form};
use crate::instance::{Actor, Task};
use crate::registry::SubjectOverview;

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
    /// The overview of subject `id` of `kind` from the package that knows that kind;
    /// "not found" when the kind has no provider or the subject does not exist.
    pub async fn subject_overview(&self, kind: &str, id: &str) -> Result<SubjectOverview> {
        let provider = self
            .registry
            .subject_provider(kind)
            .ok_or_else(|| EngineError::not_found("subject kind", kind))?;
        let conn = self.db.begin().await?;
        let overview = provider.overview(&conn, id).await.map_err(|e| {
            tracing::error!(subject = id, kind, error = %e, "subject overview failed");
            EngineError::SubjectUnavailable {
                kind: kind.to_owned(),
            }
        })?;
        conn.rollback().await?;
        overview.ok_or_else(|| EngineError::not_found("subject", id))
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
