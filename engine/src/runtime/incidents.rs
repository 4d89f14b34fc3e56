//! Acting on incidents: an admin retries the failed step once the cause is mended, skips it
//! by moving the instance to another state of its version, or cancels the instance. Each is
//! one transaction with an entry in the instance's history naming the admin, and each takes
//! the incident once: a second action on it (a colleague's stale page) is a 409.

use super::facades::Operations;
use std::sync::Arc;

use sea_orm::DatabaseTransaction;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Engine;
use super::execute::Txn;
use super::operations::cancel_row;
use crate::audit::{AuditAction, AuditRecord};
use crate::definition::ProcessDefinition;
use crate::definition::transition::Event;
use crate::error::{EngineError, Result, TransitionError};
use crate::instance::{
    Actor, HistoryEntry, Incident, IncidentCause, IncidentStatus, InstanceStatus, WorkKind,
};
use crate::message::{Code, Message};
use crate::store::{self, InstanceRow};

impl Engine {
    async fn retry_with(
        &self,
        incident_id: i64,
        actor: &Actor,
        edit: Option<(&Map<String, Value>, bool)>,
        reason: &str,
    ) -> Result<Uuid> {
        self.retrying(|| async {
            let conn = self.begin_write().await?;
            let now = self.clock.now();
            let (incident, def, mut row) = self
                .take_incident(&conn, incident_id, IncidentStatus::Retried)
                .await?;
            let mut record =
                incident_record(AuditAction::IncidentRetry, incident_id, &row).reason(reason);
            let mut corrected = None;
            if let Some((variables, add_unread)) = edit {
                let changed = changed_variables(&def, &row.variables, variables, add_unread)?;
                let names: Vec<&String> = changed.keys().collect();
                let mut entry = audit(&row.state, &row.state, "variables", actor, incident_id, now);
                entry.data =
                    Some(json!({ "incident": incident_id, "changed": names, "reason": reason }));
                corrected = Some(entry);
                record.detail["changed"] = Value::Object(changed);
                row.variables = Value::Object(variables.clone());
            }
            let kind = match &incident.cause {
                // Due work that failed runs again as the same kind; a failed action as a step.
                IncidentCause::Work(kind) => *kind,
                IncidentCause::Action(_) => WorkKind::Step,
                IncidentCause::Definition => {
                    row.status = InstanceStatus::Active;
                    let mut tx = Txn::new(&conn, now);
                    if let Some(entry) = corrected {
                        tx.writes.history(row.id, entry);
                    }
                    let event = Event::Moved {
                        to: row.state.clone(),
                    };
                    self.drive(&mut tx, &def, &mut row, event, Some(actor))
                        .await?;
                    tx.flush().await?;
                    self.commit_recorded(conn, actor, record).await?;
                    return Ok(row.id);
                }
            };
            row.status = InstanceStatus::Active;
            let mut tx = Txn::new(&conn, now);
            tx.writes.instance(&row, now);
            if let Some(entry) = corrected {
                tx.writes.history(row.id, entry);
            }
            tx.writes.history(
                row.id,
                audit(&row.state, &row.state, "retry", actor, incident_id, now),
            );
            tx.writes.work(row.id, kind, &row.state, now, 0, now);
            tx.flush().await?;
            self.commit_recorded(conn, actor, record).await?;
            Ok(row.id)
        })
        .await
    }

    /// Closes the open incident as `outcome` and loads its instance, which must still be in
    /// incident; 404 for an unknown incident, 409 for one handled already.
    async fn take_incident(
        &self,
        conn: &DatabaseTransaction,
        incident_id: i64,
        outcome: IncidentStatus,
    ) -> Result<(Incident, Arc<ProcessDefinition>, InstanceRow)> {
        let now = self.clock.now();
        let incident = store::incident(conn, incident_id)
            .await?
            .ok_or_else(|| EngineError::not_found("incident", incident_id))?;
        let closed = || {
            EngineError::Transition(TransitionError::IncidentClosed {
                incident: incident_id,
            })
        };
        if incident.status != IncidentStatus::Open
            || !store::resolve_incident(conn, incident_id, outcome, now).await?
        {
            return Err(closed());
        }
        let (def, row) = self.load_any(conn, incident.instance_id).await?;
        // The instance moved on some other way (e.g. an operation of #6): the incident has
        // nothing left to act on, which the admin is told as "handled already".
        if row.status != InstanceStatus::Incident {
            return Err(closed());
        }
        Ok((incident, def, row))
    }
}

fn audit(
    from: &str,
    to: &str,
    trigger: &str,
    actor: &Actor,
    incident_id: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> HistoryEntry {
    HistoryEntry {
        from_state: Some(from.to_owned()),
        to_state: to.to_owned(),
        trigger: trigger.to_owned(),
        actor: Some(actor.id.clone()),
        data: Some(serde_json::json!({ "incident": incident_id })),
        at,
    }
}

/// What an edit of an instance's variables from `before` to `after` changes, by name, each
/// with its value before and after (`null`: absent). A 422 for a new variable the definition
/// never reads.
fn changed_variables(
    def: &ProcessDefinition,
    before: &Value,
    after: &Map<String, Value>,
    add_unread: bool,
) -> Result<Map<String, Value>> {
    let empty = Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let read = variables_read(&def.source);
    let unknown: Vec<&String> = after
        .keys()
        .filter(|k| !before.contains_key(*k) && !read.contains(k.as_str()))
        .collect();
    if !unknown.is_empty() && !add_unread {
        let names: Vec<&str> = unknown.iter().map(|k| k.as_str()).collect();
        let mut known: Vec<&str> = read.iter().copied().collect();
        known.sort_unstable();
        return Err(EngineError::invalid(
            "variables",
            Message::new(Code::UNREAD_VARIABLES)
                .with("process", &def.id)
                .with("names", names.join(", "))
                .with("known", known.join(", ")),
        ));
    }
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    Ok(names
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| {
            let value = json!({ "before": before.get(k), "after": after.get(k) });
            (k.clone(), value)
        })
        .collect())
}

/// The names a definition's source reads as `vars.<name>` (in expressions and templates).
fn variables_read(source: &str) -> std::collections::BTreeSet<&str> {
    source
        .match_indices("vars.")
        .filter(|(at, _)| {
            // `vars.` itself, not the end of a longer name such as `myvars.`.
            source[..*at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
        })
        .filter_map(|(at, _)| {
            let rest = &source[at + "vars.".len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (end > 0).then(|| &rest[..end])
        })
        .collect()
}

/// The audit entry of an admin's action on incident `id` of `row`.
fn incident_record(action: AuditAction, id: i64, row: &InstanceRow) -> AuditRecord {
    AuditRecord::new(action)
        .subject(row.subject.clone())
        .target(id)
        .detail(json!({ "process": row.process_id, "instance": row.id }))
}

impl Operations<'_> {
    /// Puts the instance back to work. When an action failed, its step is due again now (a
    /// timer state's timer fires); when entering the state failed (an expression, a decision
    /// with no way on), the state is entered again, so its entry work runs once more.
    /// `reason` (may be empty) goes to the audit entry.
    #[tracing::instrument(skip(self, actor), fields(actor = %actor.id))]
    pub async fn retry_incident(
        self,
        incident_id: i64,
        actor: &Actor,
        reason: &str,
    ) -> Result<Uuid> {
        crate::limits::require_fits("reason", reason, self.engine.options.text_limits.reason)?;
        self.engine
            .retry_with(incident_id, actor, None, reason.trim())
            .await
    }

    /// Corrects the instance's variables to `variables` (the whole set), then retries as
    /// [`Operations::retry_incident`] does, in one transaction: an incident caused by a bad
    /// variable is repaired. `reason` is required. The history entry names the variables
    /// that changed, the audit entry holds each one's value before and after. A variable the
    /// instance did not have and the definition never reads (`vars.<name>` is nowhere in its
    /// source) is refused with a 422, most likely a typo, unless `add_unread` says to add it
    /// anyway (a package's action may read it from code).
    #[tracing::instrument(skip(self, actor, variables), fields(actor = %actor.id))]
    pub async fn retry_incident_with_variables(
        self,
        incident_id: i64,
        actor: &Actor,
        variables: &Map<String, Value>,
        reason: &str,
        add_unread: bool,
    ) -> Result<Uuid> {
        crate::limits::require_fits("reason", reason, self.engine.options.text_limits.reason)?;
        if reason.trim().is_empty() {
            return Err(EngineError::invalid(
                "reason",
                Message::new(Code::REASON_FOR_VARIABLES),
            ));
        }
        self.engine
            .retry_with(
                incident_id,
                actor,
                Some((variables, add_unread)),
                reason.trim(),
            )
            .await
    }

    /// Moves the instance past the failed step into `to_state` of its own version, entering
    /// it as a transition would (its task, timer or step); what the old state left open is
    /// closed. A state the version does not have is a 422.
    #[tracing::instrument(skip(self, actor), fields(actor = %actor.id))]
    pub async fn skip_incident(
        self,
        incident_id: i64,
        to_state: &str,
        actor: &Actor,
        reason: &str,
    ) -> Result<Uuid> {
        crate::limits::require_fits("reason", reason, self.engine.options.text_limits.reason)?;
        self.engine
            .retrying(|| async {
                let conn = self.engine.begin_write().await?;
                let now = self.engine.clock.now();
                let (_, def, mut row) = self
                    .engine
                    .take_incident(&conn, incident_id, IncidentStatus::Skipped)
                    .await?;
                if def.state(to_state).is_none() {
                    return Err(EngineError::invalid(
                        "to_state",
                        Message::new(Code::UNKNOWN_STATE)
                            .with("process", &def.id)
                            .with("version", row.version)
                            .with("state", to_state),
                    ));
                }
                // Leaving the state gives up what it held (a retry's due step, a task).
                row.status = InstanceStatus::Active;
                let mut tx = Txn::new(&conn, now);
                let event = Event::Moved {
                    to: to_state.to_owned(),
                };
                self.engine
                    .drive(&mut tx, &def, &mut row, event, Some(actor))
                    .await?;
                tx.flush().await?;
                let record = incident_record(AuditAction::IncidentSkip, incident_id, &row)
                .detail(
                    json!({ "process": row.process_id, "instance": row.id, "to_state": to_state }),
                )
                .reason(reason);
                self.engine.commit_recorded(conn, actor, record).await?;
                Ok(row.id)
            })
            .await
    }

    /// Ends the instance as cancelled, as an admin's cancel of the instance does (its tasks,
    /// timers, waits and the instances it called end with it; its package is told).
    #[tracing::instrument(skip(self, actor), fields(actor = %actor.id))]
    pub async fn cancel_incident(
        self,
        incident_id: i64,
        actor: &Actor,
        reason: &str,
    ) -> Result<Uuid> {
        crate::limits::require_fits("reason", reason, self.engine.options.text_limits.reason)?;
        self.engine
            .retrying(|| async {
                let conn = self.engine.begin_write().await?;
                let now = self.engine.clock.now();
                let (incident, _, mut row) = self
                    .engine
                    .take_incident(&conn, incident_id, IncidentStatus::Cancelled)
                    .await?;
                let mut tx = Txn::new(&conn, now);
                let why = match reason {
                    "" => format!("incident {incident_id} cancelled: {}", incident.error),
                    reason => format!(
                        "incident {incident_id} cancelled ({reason}): {}",
                        incident.error
                    ),
                };
                cancel_row(&mut tx, self.engine, &mut row, actor, &why).await?;
                tx.writes.instance(&row, now);
                let mut entry = audit(&row.state, &row.state, "cancel", actor, incident_id, now);
                if let (Some(data), false) = (entry.data.as_mut(), reason.is_empty()) {
                    data["reason"] = json!(reason);
                }
                tx.writes.history(row.id, entry);
                tx.flush().await?;
                let record =
                    incident_record(AuditAction::IncidentCancel, incident_id, &row).reason(reason);
                self.engine.commit_recorded(conn, actor, record).await?;
                Ok(row.id)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::variables_read;

    #[test]
    fn the_variables_a_definition_reads_are_found_in_expressions_and_templates() {
        let source = r#"
title: "Sag om {{vars.title}}"
when: "vars.amount > 0 && has(vars.kommune)"
other: "myvars.nope + vars"
"#;
        let read: Vec<&str> = variables_read(source).into_iter().collect();
        assert_eq!(read, ["amount", "kommune", "title"]);
    }
}
