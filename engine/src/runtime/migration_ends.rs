//! Ending a migration other than by finishing it (docs/releases.md): abandoning a running
//! one, and undoing a finished or abandoned one instance by instance. Both are audited on the
//! migration; an undo holds the process's one migration slot while it runs.

use super::WriteTxn;
use super::facades::Releases;
use serde_json::json;

use super::Engine;
use super::execute::Txn;
use super::migrations::{MigrationStatus, Progress, migration_row, slot_taken};
use crate::audit::{AuditAction, AuditRecord};
use crate::error::{Result, TransitionError};
use crate::instance::{Actor, HistoryEntry, InstanceStatus};
use crate::release::{MigrationPhase, Operation};
use crate::store::InstanceRow;
use crate::store::releases::{self as rel, ItemOutcome, MigrationItem, MigrationRow};
use crate::store::{self};

impl Engine {
    async fn undo_batch(
        &self,
        migration: &MigrationRow,
        batch: &[MigrationItem],
        actor: &Actor,
    ) -> Result<()> {
        let conn = self.begin_write().await?;
        for item in batch {
            let savepoint = conn.begin().await?;
            let kept = match self.undo_item(&savepoint, migration, item, actor).await {
                Ok(None) => {
                    savepoint.commit().await?;
                    continue;
                }
                Ok(Some(why)) => why,
                // Only what another try may mend stops the batch (and is retried); any
                // other error, a database one included, is this item's alone.
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => e.to_string(),
            };
            savepoint.rollback().await?;
            rel::set_item(
                &conn,
                item.id,
                "done",
                ItemOutcome {
                    status: "kept",
                    operation: item.operation.as_deref(),
                    to_state: item.to_state.as_deref(),
                    before: item.before.clone(),
                    row_version_after: item.row_version_after,
                    message: Some(kept),
                },
            )
            .await?;
        }
        self.commit(conn).await
    }

    /// Puts one instance back; `Some(why)` when it is kept as it is.
    async fn undo_item(
        &self,
        conn: &WriteTxn,
        migration: &MigrationRow,
        item: &MigrationItem,
        actor: &Actor,
    ) -> Result<Option<String>> {
        let now = self.clock.now();
        let Some(before) = &item.before else {
            return Ok(Some(
                "nothing was recorded of it before the migration".into(),
            ));
        };
        let Some((instance, parent_state)) = store::instance(conn, item.instance_id).await? else {
            return Ok(Some("the instance no longer exists".into()));
        };
        if Some(instance.row_version) != item.row_version_after {
            return Ok(Some(format!(
                "the instance moved on after the migration (it is in `{}`, {})",
                instance.state,
                instance.status.as_str()
            )));
        }
        if before["beyond_instance"].as_u64().unwrap_or(0) > 0 {
            return Ok(Some(
                "its restart ran actions or started other instances, which the engine cannot take back".into(),
            ));
        }
        let held: rel::Holdings =
            serde_json::from_value(before["holdings"].clone()).unwrap_or_default();
        let text = |k: &str| before[k].as_str().unwrap_or_default().to_owned();
        let mut row = InstanceRow::stored(instance, parent_state);
        let (to_state, from_state) = (row.state.clone(), text("state"));
        row.process_id = text("process_id");
        row.version = before["version"]
            .as_i64()
            .and_then(|v| i32::try_from(v).ok())
            .unwrap_or(row.version);
        row.state = from_state.clone();
        row.variables = before["variables"].clone();
        row.status = InstanceStatus::parse(&text("status")).unwrap_or(InstanceStatus::Active);
        if item.operation.as_deref() == Some(Operation::MoveTo.as_str()) {
            rel::carry_over(
                conn,
                row.id,
                &row.process_id,
                row.version,
                &to_state,
                &from_state,
            )
            .await?;
        } else {
            rel::restore_holdings(conn, &row, &held, now).await?;
            if row.status == InstanceStatus::Incident {
                store::reopen_incidents_of(
                    conn,
                    row.id,
                    crate::instance::IncidentStatus::Restarted,
                )
                .await?;
            }
        }
        row.ended_at = None;
        let mut tx = Txn::new(conn, now);
        tx.writes.history(
            row.id,
            HistoryEntry {
                from_state: Some(to_state),
                to_state: from_state,
                trigger: "undo".into(),
                actor: Some(actor.id.clone()),
                data: Some(json!({ "migration": migration.id, "name": migration.name })),
                at: now,
            },
        );
        tx.writes.instance(&row, now);
        tx.flush().await?;
        // Whether the item was still `done` need not be checked: an undo holds the process's
        // slot, so no other runner undoes it, and the row-version check above stops a change.
        rel::set_item(
            conn,
            item.id,
            "done",
            ItemOutcome {
                status: "undone",
                operation: item.operation.as_deref(),
                to_state: item.to_state.as_deref(),
                before: item.before.clone(),
                row_version_after: item.row_version_after,
                message: None,
            },
        )
        .await?;
        Ok(None)
    }
}

impl Releases<'_> {
    /// Ends a running migration that is not to go on (its target version was withdrawn, or
    /// it keeps failing): its pending items are skipped with `reason`, the instances it moved
    /// stay moved (undo them if need be), and the process is free for another migration. A
    /// node working on it finds its batch's items taken (the batch is rolled back) and no
    /// pending ones after it. 409 unless it is running.
    pub async fn abandon_migration(
        self,
        id: i64,
        actor: &Actor,
        reason: &str,
    ) -> Result<MigrationStatus> {
        crate::limits::require_fits("reason", reason, self.engine.options.text_limits.reason)?;
        self.engine.retrying(|| async {
            let conn = self.engine.begin_write().await?;
            let now = self.engine.clock.now();
            let ended = rel::end_migration(
                &conn,
                id,
                MigrationPhase::Running,
                MigrationPhase::Abandoned,
                now,
            )
            .await?;
            if !ended {
                let row = migration_row(&conn, id).await?;
                return Err(TransitionError::Raced(format!(
                    "migration {id} is {}; only a running migration can be abandoned",
                    row.status
                ))
                .into());
            }
            let why = if reason.is_empty() {
                format!("the migration was abandoned by {}", actor.id)
            } else {
                format!("the migration was abandoned by {}: {reason}", actor.id)
            };
            rel::record_end(&conn, id, MigrationPhase::Abandoned, &actor.id, reason).await?;
            let skipped = rel::skip_pending_items(&conn, id, &why).await?;
            let record = AuditRecord::new(AuditAction::MigrationAbandon)
                .target(id)
                .detail(json!({ "reason": reason, "skipped": skipped }));
            self.engine.commit_recorded(conn, actor, record).await?;
            tracing::warn!(migration = id, actor = %actor.id, skipped, reason, "migration abandoned");
            Ok(())
        })
        .await?;
        self.migration_status(id).await
    }

    /// Takes a finished (or abandoned) migration back: [`Releases::begin_undo`], then
    /// [`Releases::run_undo`].
    pub async fn undo_migration(
        self,
        id: i64,
        actor: &Actor,
        reason: &str,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<MigrationStatus> {
        self.begin_undo(id, actor, reason).await?;
        self.run_undo(id, actor, progress).await
    }

    /// Marks a finished or abandoned migration as being undone. It takes its process's
    /// migration slot, so no migration of the process starts meanwhile and a second undo is
    /// refused: 409 for a migration in another phase or a process with a migration running.
    /// The admin and the reason are recorded on the migration.
    pub async fn begin_undo(self, id: i64, actor: &Actor, reason: &str) -> Result<()> {
        crate::limits::require_fits("reason", reason, self.engine.options.text_limits.reason)?;
        self.engine
            .retrying(|| async {
                let conn = self.engine.begin_write().await?;
                let row = migration_row(&conn, id).await?;
                let claimed = rel::claim_migration(
                    &conn,
                    id,
                    &MigrationPhase::UNDOABLE,
                    MigrationPhase::Undoing,
                    &row.process_id,
                )
                .await?;
                if claimed {
                    rel::record_end(&conn, id, MigrationPhase::Undoing, &actor.id, reason).await?;
                    let record = AuditRecord::new(AuditAction::MigrationUndo)
                        .target(id)
                        .detail(json!({ "process": row.process_id, "reason": reason }));
                    return self.engine.commit_recorded(conn, actor, record).await;
                }
                let row = migration_row(&conn, id).await?;
                if !row.status.can_undo() {
                    return Err(TransitionError::Raced(format!(
                    "migration {id} is {}; only a finished or abandoned migration can be undone",
                    row.status
                ))
                .into());
                }
                Err(slot_taken(&conn, &row.process_id).await?)
            })
            .await
    }

    /// Puts back each instance the migration moved that has not moved on since (version,
    /// state, variables, tasks, timers, subscriptions, incident), with a history entry. An
    /// instance that moved on, or whose restart ran an action (whose writes are the
    /// package's), is kept as it is and listed with why. Resumes an undo a crash interrupted;
    /// a migration not being undone is left as it is.
    pub async fn run_undo(
        self,
        id: i64,
        actor: &Actor,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<MigrationStatus> {
        let row = migration_row(&self.engine.db, id).await?;
        if row.status != MigrationPhase::Undoing {
            return self.migration_status(id).await;
        }
        let total = u64::try_from(
            rel::item_counts(&self.engine.db, id)
                .await?
                .get("done")
                .copied()
                .unwrap_or(0),
        )
        .unwrap_or(0);
        let mut handled = 0;
        let mut after = 0;
        loop {
            let batch = rel::items_with_status(
                &self.engine.db,
                id,
                "done",
                after,
                self.engine.options.batch_size,
            )
            .await?;
            let Some(last) = batch.last() else { break };
            after = last.id;
            self.engine
                .retrying(|| self.engine.undo_batch(&row, &batch, actor))
                .await?;
            handled += batch.len() as u64;
            progress(Progress { handled, total });
        }
        let conn = self.engine.begin_write().await?;
        // Another node resuming the same undo may have ended it first.
        let ended = rel::end_migration(
            &conn,
            id,
            MigrationPhase::Undoing,
            MigrationPhase::Undone,
            self.engine.clock.now(),
        )
        .await?;
        self.engine.commit(conn).await?;
        if ended {
            tracing::info!(migration = id, "migration undone");
        }
        self.migration_status(id).await
    }
}
