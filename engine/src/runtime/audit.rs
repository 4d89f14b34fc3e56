//! The engine's entry points to the audit log: recording what is not part of another
//! transaction (reads, sign-ins), reading it, verifying its chain, pruning it.

use sea_orm::{DatabaseTransaction, DbBackend, IsolationLevel, TransactionTrait as _};

use super::WriteTxn;
use super::execute::BoxFuture;
use super::facades::Audit;
use crate::audit::{AuditAction, AuditEntry, AuditFilter, AuditRecord, AuditVerdict};
use crate::error::{EngineError, Result};
use crate::instance::Actor;
use crate::store;

/// Entries `verify` reads per query.
const VERIFY_PAGE: u64 = 1_000;

/// The entries of `batch`, each with its reader. A plain loop: an iterator of closures held
/// across the write's awaits would make the future too particular to be `Send`.
fn entries_of(batch: &[Pending]) -> Vec<(&Actor, AuditRecord)> {
    let mut entries = Vec::new();
    for pending in batch {
        for record in &pending.records {
            entries.push((&pending.actor, record.clone()));
        }
    }
    entries
}

/// A read's entries waiting for their commit, and where to say it happened.
pub(super) struct Pending {
    actor: Actor,
    records: Vec<AuditRecord>,
    done: tokio::sync::oneshot::Sender<Result<()>>,
}

/// A batch being written. If the caller writing it is dropped on the way (its client went
/// away), the entries still unanswered go back to the front of the queue for the next turn,
/// instead of failing every reader whose entries were in it. (Should the drop come during the
/// commit, an entry may then be written twice; never not at all.)
struct Taken<'q> {
    pending: Vec<Pending>,
    queue: &'q AuditQueue,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut queue = self
            .queue
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let later = std::mem::take(&mut *queue);
        queue.extend(self.pending.drain(..));
        queue.extend(later);
    }
}

/// The reads' entries not yet written, and the turn to write them (see [`Audit::record`]).
#[derive(Default)]
pub(super) struct AuditQueue {
    pending: std::sync::Mutex<Vec<Pending>>,
    turn: tokio::sync::Mutex<()>,
}

impl AuditQueue {
    fn push(&self, pending: Pending) {
        // A poisoned lock still holds whole entries: they are pushed and taken whole.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(pending);
    }

    /// Everything waiting, at most [`MAX_GROUP`] entries' worth; the rest waits for the next
    /// turn.
    fn take(&self) -> Vec<Pending> {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut entries = 0;
        let mut cut = 0;
        for p in pending.iter() {
            if cut > 0 && entries + p.records.len() > MAX_GROUP {
                break;
            }
            entries += p.records.len();
            cut += 1;
        }
        pending.drain(..cut).collect()
    }
}

/// The most entries one group commit writes (a multi-row INSERT of 12 columns each stays far
/// below SQLite's limit on bound values).
const MAX_GROUP: usize = 500;

impl Audit<'_> {
    /// Records `records` by `actor` and returns once they are committed: a read is recorded
    /// before its data is handed out.
    ///
    /// Group commit: the entries of reads that arrive while another write of the log is under
    /// way are written together, in one transaction, by whichever of them gets the turn
    /// next; each returns once the transaction holding its entries has committed. Under load
    /// many reads then cost one commit instead of one each (on SQLite every commit waits for
    /// the one writer).
    pub async fn record(self, actor: &Actor, records: Vec<AuditRecord>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let (done, mut outcome) = tokio::sync::oneshot::channel();
        self.engine.audit_queue.push(Pending {
            actor: actor.clone(),
            records,
            done,
        });
        let _turn = self.engine.audit_queue.turn.lock().await;
        loop {
            // Written meanwhile by the one whose turn it was.
            if let Ok(result) = outcome.try_recv() {
                return result;
            }
            let mut batch = Taken {
                pending: self.engine.audit_queue.take(),
                queue: &self.engine.audit_queue,
            };
            if batch.pending.is_empty() {
                return Err(EngineError::AuditUnavailable);
            }
            let written = self
                .engine
                .retrying(|| async {
                    let conn = self.engine.begin_write().await?;
                    conn.append_audit(entries_of(&batch.pending), self.engine.clock.now())
                        .await?;
                    self.engine.commit(conn).await
                })
                .await;
            for pending in std::mem::take(&mut batch.pending) {
                let result = match &written {
                    Ok(()) => Ok(()),
                    Err(_) => Err(EngineError::AuditUnavailable),
                };
                // A caller that gave up waiting (its request was dropped) needs no answer.
                let _ = pending.done.send(result);
            }
            // This caller's own entries were in the batch that failed: the cause, not a
            // summary. (A full batch may have left them for the next round of the loop.)
            if let Err(e) = written
                && outcome.try_recv().is_ok()
            {
                return Err(e);
            }
        }
    }

    /// Runs `change` in a write transaction of its own and appends the audit record `record`
    /// makes of its outcome in the same transaction: for admin actions whose writes are plain
    /// store calls (users, tokens). Both commit together or neither does.
    pub async fn recorded<T, C, R>(self, actor: &Actor, change: C, record: R) -> Result<T>
    where
        C: for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Result<T>>,
        R: FnOnce(&T) -> Option<AuditRecord>,
    {
        super::committer::settled(async {
            let conn = self.engine.begin_write().await?;
            let outcome = change(&conn).await?;
            if let Some(record) = record(&outcome) {
                conn.append_audit(vec![(actor, record)], self.engine.clock.now())
                    .await?;
            }
            self.engine.commit(conn).await?;
            Ok(outcome)
        })
        .await
    }

    /// A page of audit entries, newest first; the look itself is recorded (an audit entry
    /// names persons too).
    pub async fn audit_entries(
        self,
        filter: &AuditFilter,
        reader: &Actor,
        action: AuditAction,
    ) -> Result<Vec<AuditEntry>> {
        let entries = store::audit::audit_entries(&self.engine.db, filter).await?;
        let mut record = AuditRecord::new(action).detail(serde_json::json!({
            "subject": filter.subject,
            "actor": filter.actor,
            "action": filter.action,
            "from": filter.from,
            "to": filter.to,
            "before": filter.before,
            "entries": entries.len(),
        }));
        if let Some(subject) = &filter.subject {
            record = record.subject(subject.clone());
        }
        self.record(reader, vec![record]).await?;
        Ok(entries)
    }

    /// Walks the whole chain: the first entry that was changed, removed or moved, or that all
    /// are intact.
    /// What is pending is sealed first (PostgreSQL), so `verify` writes.
    pub async fn verify_audit(self) -> Result<AuditVerdict> {
        store::audit::seal_pending(&self.engine.db, store::audit::SealTurn::Wait).await?;
        // One snapshot for the prune's anchor and every page (PostgreSQL's default reads each
        // statement's own); SQLite's read transaction is one already.
        let conn = if self.engine.db.get_database_backend() == sea_orm::DbBackend::Postgres {
            self.engine
                .db
                .begin_with_config(
                    Some(sea_orm::IsolationLevel::RepeatableRead),
                    Some(sea_orm::AccessMode::ReadOnly),
                )
                .await?
        } else {
            self.engine.db.begin().await?
        };
        let verdict = store::audit::verify_chain(&conn, VERIFY_PAGE).await?;
        conn.rollback().await?;
        Ok(verdict)
    }

    /// Deletes the entries older than the retention (`audit_retention`) and records that it
    /// did, with the first entry kept, where `verify` starts from then on. Returns how many
    /// entries went.
    pub async fn prune_audit(self, actor: &Actor) -> Result<u64> {
        let retention = chrono::Duration::from_std(self.engine.options.audit_retention)
            .unwrap_or(chrono::Duration::MAX);
        self.engine
            .retrying(|| async {
                // On PostgreSQL READ COMMITTED whatever the server's default, as the sealing
                // below needs (`store::audit::seal_all_in_turn`).
                let conn = if self.engine.db.get_database_backend() == DbBackend::Postgres {
                    WriteTxn::alone(
                        self.engine
                            .db
                            .begin_with_config(Some(IsolationLevel::ReadCommitted), None)
                            .await?,
                    )
                } else {
                    self.engine.begin_write().await?
                };
                let now = self.engine.clock.now();
                let before = now
                    .checked_sub_signed(retention)
                    .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
                // The cut is made in the whole chain, pending entries sealed into it first,
                // and the prune's entry (where `verify` starts from) commits in the chain
                // with the cut: the prune holds the chain's turn to its commit.
                store::audit::seal_all_in_turn(&conn).await?;
                let (deleted, first) = store::audit::prune_before(&conn, before).await?;
                let (first_kept, first_kept_prev_hash) = first.unwrap_or((1, String::new()));
                store::audit::append_sealed(
                    &conn,
                    actor,
                    vec![
                        AuditRecord::new(AuditAction::AuditPrune).detail(serde_json::json!({
                            "older_than": before,
                            "deleted": deleted,
                            "first_kept": first_kept,
                            "first_kept_prev_hash": first_kept_prev_hash,
                        })),
                    ],
                    now,
                )
                .await?;
                self.engine.commit(conn).await?;
                Ok(deleted)
            })
            .await
    }
}
