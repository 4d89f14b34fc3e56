//! Acting on incidents: an admin retries the failed step once the cause is mended.
//! (Skip and cancel arrive with the instance operations of issue #6.)

use uuid::Uuid;

use super::Engine;
use super::execute::Txn;
use crate::definition::{StepKind, WaitSpec};
use crate::error::{EngineError, Result, TransitionError};
use crate::instance::{Actor, HistoryEntry, InstanceStatus};
use crate::store;

impl Engine {
    /// Puts the instance of an open incident back to work: it becomes active again and its
    /// current state is due now (a step runs again, a timer fires). Audited in the instance's
    /// history with the actor. A second retry of the same incident is a 409.
    #[tracing::instrument(skip(self, actor), fields(actor = %actor.id))]
    pub async fn retry_incident(&self, incident_id: i64, actor: &Actor) -> Result<Uuid> {
        self.retrying(|| async {
            let conn = self.begin_write().await?;
            let now = self.clock.now();
            let incident = store::incident(&conn, incident_id)
                .await?
                .ok_or_else(|| EngineError::not_found("incident", incident_id))?;
            let closed = || {
                EngineError::Transition(TransitionError::IncidentClosed {
                    incident: incident_id,
                })
            };
            if incident.status != "open"
                || !store::resolve_incident(&conn, incident_id, "retried", now).await?
            {
                return Err(closed());
            }
            let instance_id = incident.instance_id;
            let (def, mut row) = self.load_any(&conn, instance_id).await?;
            if row.status != InstanceStatus::Incident {
                return Err(TransitionError::NotActive {
                    instance: instance_id,
                    status: row.status.as_str().into(),
                }
                .into());
            }
            let kind = match def.state(&row.state).map(|s| &s.kind) {
                Some(StepKind::Wait {
                    wait: WaitSpec::After(_) | WaitSpec::Until { .. },
                    ..
                }) => "timer",
                _ => "step",
            };
            row.status = InstanceStatus::Active;
            let mut tx = Txn::new(&conn, now);
            tx.writes.instance(&row, now);
            tx.writes.history(
                row.id,
                HistoryEntry {
                    from_state: Some(row.state.clone()),
                    to_state: row.state.clone(),
                    trigger: "retry".into(),
                    actor: Some(actor.id.clone()),
                    data: Some(serde_json::json!({ "incident": incident_id })),
                    at: now,
                },
            );
            tx.writes.work(row.id, kind, &row.state, now, 0, now);
            tx.flush().await?;
            self.commit(conn).await?;
            Ok(instance_id)
        })
        .await
    }
}
