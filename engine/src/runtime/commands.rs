//! The commands people give: start an instance, complete a task.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Engine;
use super::execute::{StartRequest, Txn};
use super::transition::Event;
use crate::definition::StepKind;
use crate::error::{EngineError, Result, TransitionError};
use crate::instance::Actor;
use crate::store;

impl Engine {
    /// Starts `process` (or the process replacing it) for `subject`, as `actor`. People may
    /// start only processes with a `start: manual`, and only where its `allowed` holds.
    #[tracing::instrument(skip(self, vars, actor), fields(actor = %actor.id))]
    pub async fn start_instance(
        &self,
        process: &str,
        subject: &str,
        vars: Map<String, Value>,
        actor: &Actor,
    ) -> Result<Uuid> {
        if self.catalog().latest(process).is_none() {
            self.refresh_catalog().await?;
        }
        let (version, def) = self
            .catalog()
            .latest(process)
            .ok_or_else(|| EngineError::not_found("process", process))?;
        self.retrying(|| async {
            let conn = self.begin_write().await?;
            let now = self.clock.now();
            // Whether people may start the process at all is answered before anything about
            // the subject, so a refusal does not tell whether the subject exists.
            let manual = match (actor.role.as_str(), &def.manual_start) {
                ("system", _) => None,
                (_, Some(manual)) => Some(manual),
                (_, None) => {
                    return Err(EngineError::Forbidden(format!(
                        "process `{}` is not started by hand",
                        def.id
                    )));
                }
            };
            let subject_data = self
                .subject_data(&conn, &def, subject)
                .await?
                .ok_or_else(|| {
                    EngineError::Invalid(
                        [(
                            "subject".to_owned(),
                            format!("no {} with id {subject}", def.subject_kind),
                        )]
                        .into(),
                    )
                })?;
            if let Some(allowed) = manual.and_then(|m| m.allowed.as_ref()) {
                let scope = self
                    .base_scope(&def, now)
                    .with("subject", subject_data)
                    .with("actor", serde_json::to_value(actor).unwrap_or(Value::Null))
                    .with("vars", Value::Object(vars.clone()));
                if !allowed.eval_bool(&scope)? {
                    let reason = manual
                        .and_then(|m| m.refusal.clone())
                        .unwrap_or_else(|| format!("you may not start `{}` for {subject}", def.id));
                    return Err(EngineError::Forbidden(reason));
                }
            }
            let mut tx = Txn::new(&conn, now);
            let request = StartRequest {
                def: def.clone(),
                version,
                subject: subject.to_owned(),
                vars: vars.clone(),
                parent: None,
                actor: Some(actor),
            };
            let row = self.start_in(&mut tx, request).await?;
            tx.flush().await?;
            self.commit(conn).await?;
            Ok(row.id)
        })
        .await
    }

    /// Completes a task with a submitted form. A caseworker sees only tasks of their own
    /// municipality: another municipality's task is "not found", not "forbidden", so its
    /// existence does not leak.
    #[tracing::instrument(skip(self, form, actor), fields(actor = %actor.id))]
    pub async fn complete_task(
        &self,
        task_id: Uuid,
        form: &Map<String, Value>,
        actor: &Actor,
    ) -> Result<()> {
        self.retrying(|| async {
            let conn = self.begin_write().await?;
            let now = self.clock.now();
            let task = store::task(&conn, task_id)
                .await?
                .ok_or_else(|| EngineError::not_found("task", task_id))?;
            // A task without a municipality belongs to nobody's inbox: only admins may act.
            if !actor.sees_all()
                && (task.municipality.is_none() || task.municipality != actor.municipality)
            {
                return Err(EngineError::not_found("task", task_id));
            }
            if task.status != "open" {
                return Err(TransitionError::TaskClosed {
                    task: task_id,
                    status: task.status,
                }
                .into());
            }
            let (def, mut row) = self.load_active(&conn, task.instance_id).await?;
            let Some(StepKind::Manual { form: spec, .. }) = def.state(&row.state).map(|s| &s.kind)
            else {
                return Err(TransitionError::NotAccepted {
                    process: def.id.clone(),
                    state: row.state.clone(),
                    event: "submit".into(),
                }
                .into());
            };
            let subject = self
                .subject_data(&conn, &def, &row.subject)
                .await?
                .unwrap_or_else(|| json!({ "id": row.subject }));
            let scope = self
                .base_scope(&def, now)
                .with("vars", row.variables.clone())
                .with("subject", subject)
                .with("actor", serde_json::to_value(actor).unwrap_or(Value::Null));
            let parsed = spec
                .validate(form, &scope, &self.registry)
                .map_err(EngineError::Invalid)?;
            store::complete_task(
                &conn,
                task_id,
                &actor.id,
                &Value::Object(parsed.clone()),
                now,
            )
            .await?;
            let mut tx = Txn::new(&conn, now);
            self.drive(
                &mut tx,
                &def,
                &mut row,
                Event::Submitted {
                    form: parsed,
                    actor: actor.clone(),
                },
                Some(actor),
            )
            .await?;
            tx.flush().await?;
            self.commit(conn).await?;
            Ok(())
        })
        .await
    }
}
