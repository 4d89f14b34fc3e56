//! The engine's entry points to the audit log: recording what is not part of another
//! transaction (reads, sign-ins), reading it, verifying its chain, pruning it.

use sea_orm::{DatabaseTransaction, TransactionTrait as _};

use super::Engine;
use super::execute::BoxFuture;
use crate::audit::{AuditAction, AuditEntry, AuditFilter, AuditRecord, AuditVerdict};
use crate::error::Result;
use crate::instance::Actor;
use crate::store;

/// Entries `verify` reads per query.
const VERIFY_PAGE: u64 = 1_000;

impl Engine {
    /// Records `records` by `actor` in a transaction of their own and returns once it is
    /// committed: a read is recorded before its data is handed out.
    pub async fn record(&self, actor: &Actor, records: Vec<AuditRecord>) -> Result<()> {
        self.retrying(|| async {
            let (_turn, conn) = self.begin_write().await?;
            store::audit::append(&conn, actor, records.clone(), self.clock.now()).await?;
            self.commit(conn).await
        })
        .await
    }

    /// Runs `change` in a write transaction of its own and appends the audit record `record`
    /// makes of its outcome in the same transaction: for admin actions whose writes are plain
    /// store calls (users, tokens). Both commit together or neither does.
    pub async fn recorded<T, C, R>(&self, actor: &Actor, change: C, record: R) -> Result<T>
    where
        C: for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Result<T>>,
        R: FnOnce(&T) -> Option<AuditRecord>,
    {
        let (_turn, conn) = self.begin_write().await?;
        let outcome = change(&conn).await?;
        if let Some(record) = record(&outcome) {
            store::audit::append(&conn, actor, vec![record], self.clock.now()).await?;
        }
        self.commit(conn).await?;
        Ok(outcome)
    }

    /// A page of audit entries, newest first; the look itself is recorded (an audit entry
    /// names persons too).
    pub async fn audit_entries(
        &self,
        filter: &AuditFilter,
        reader: &Actor,
        action: AuditAction,
    ) -> Result<Vec<AuditEntry>> {
        let entries = store::audit::audit_entries(&self.db, filter).await?;
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
    pub async fn verify_audit(&self) -> Result<AuditVerdict> {
        let conn = self.db.begin().await?;
        let verdict = store::audit::verify_chain(&conn, VERIFY_PAGE).await?;
        conn.rollback().await?;
        Ok(verdict)
    }

    /// Deletes the entries older than the retention (`audit_retention`) and records that it
    /// did, with the first entry kept, where `verify` starts from then on. Returns how many
    /// entries went.
    pub async fn prune_audit(&self, actor: &Actor) -> Result<u64> {
        let retention = chrono::Duration::from_std(self.options.audit_retention)
            .unwrap_or(chrono::Duration::MAX);
        self.retrying(|| async {
            let (_turn, conn) = self.begin_write().await?;
            let now = self.clock.now();
            let before = now
                .checked_sub_signed(retention)
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
            let (deleted, first) = store::audit::prune_before(&conn, before).await?;
            let (first_kept, first_kept_prev_hash) = first.unwrap_or((1, String::new()));
            store::audit::append(
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
            self.commit(conn).await?;
            Ok(deleted)
        })
        .await
    }
}
