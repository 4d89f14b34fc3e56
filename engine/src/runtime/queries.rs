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
use crate::store;

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
    /// The overview of subject `id` of `kind` as `actor` may see it: admins see every
    /// subject; a caseworker one that concerns their municipality (the package says which
    /// do) or that their municipality has a task about. Any other is "not found", exactly
    /// like one that does not exist, so guessing ids tells nothing.
    pub async fn subject_overview(
        &self,
        kind: &str,
        id: &str,
        actor: &Actor,
    ) -> Result<SubjectOverview> {
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
        if let Some(municipality) = actor.task_scope() {
            let has_task = !store::tasks(
                &conn,
                &store::TaskFilter {
                    subject: Some(id.to_owned()),
                    municipality: Some(municipality.clone()),
                    status: None,
                    limit: Some(1),
                    ..store::TaskFilter::default()
                },
            )
            .await?
            .is_empty();
            let concerns = has_task
                || provider
                    .municipalities(&conn, id)
                    .await
                    .map_err(unavailable)?
                    .contains(&municipality);
            if !concerns {
                return Err(EngineError::not_found("subject", id));
            }
        }
        let overview = provider.overview(&conn, id).await.map_err(unavailable)?;
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
