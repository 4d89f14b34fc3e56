//! Group commit on SQLite: the writers of this node share one write transaction, each in a
//! savepoint of its own, and are answered only after that transaction committed.
//!
//! SQLite has one writer at a time, so its writers always took turns; what a turn cost was
//! its own `BEGIN` and `COMMIT`, and a commit writes every page the transaction changed to
//! the WAL. A batch pays that once for all of its members (docs/plans/throughput.md, step 3).
//!
//! How a batch runs: a writer asks for a turn ([`Committer::turn`]) and waits in the queue.
//! The committer task begins a transaction and lends it to the first writer, whole: at low
//! load a batch is that one writer, which pays at most one call more than a transaction of
//! its own (the deferred rows, below; none when all it writes is deferred). When the first
//! writer is done, every writer that queued meanwhile gets a savepoint of the same
//! transaction in turn, up to `group_max`, and then the committer commits once and tells every
//! member the outcome. A writer that fails (or is dropped) rolls back its savepoint and gets
//! its own error at once; the others go on. Nothing is answered before the commit.
//!
//! A later writer reads what the earlier ones of its batch wrote and have not committed yet,
//! so whatever it answers (a message is a duplicate, a task is already closed) stands only if
//! that batch commits. Its answer therefore waits for the batch's outcome even when it
//! leaves without writing: [`settled`] holds it back (every `Engine::retrying` attempt runs
//! inside it), and a batch that failed turns the answer into `CommitUnknown`.
//!
//! What no writer reads back before the commit (history, timeline rows, audit entries:
//! [`Deferred`]) waits in each writer's `WriteTxn` and goes to the committer with it, which
//! writes the whole batch's at once right before the COMMIT. A savepoint a writer makes
//! ([`WriteTxn::begin`]) keeps its own, handed up when it is released and dropped when it is
//! rolled back, so nothing of an undone part is written and rows keep the order of their parts.
//!
//! The writers run their own code on their own tasks with their own borrowed data; only the
//! transaction travels. The lent transaction and the writer's place in the batch are one
//! value, [`WriteTxn`], whose `Drop` rolls the savepoint back *before* the committer hears
//! that the writer left, so the committer never touches the connection while a member's
//! rollback is still to be queued.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot, watch};

use chrono::{DateTime, Utc};

use crate::audit::{AuditEntry, AuditRecord};
use crate::error::{EngineError, Result, StoreError};
use crate::instance::Actor;
use crate::store::{self, Deferred};

/// What a batch's commit came to, told to every member: `Err` carries the commit's error.
type Outcome = Option<std::result::Result<(), String>>;

tokio::task_local! {
    /// The outcome a writer's answer waits for: set when a later writer of a batch leaves
    /// its savepoint without committing (see the module's docs).
    static UNSETTLED: RefCell<Option<watch::Receiver<Outcome>>>;
}

/// Runs `attempt`, then, if it left a batch without committing, waits for that batch's
/// commit before answering: what it read of the batch stands only if the batch commits.
pub(crate) async fn settled<T>(attempt: impl Future<Output = Result<T>>) -> Result<T> {
    // Boxed: the attempts are large futures (a whole transition), and a scope around one
    // held inline made the stack of a debug build's deepest callers (scenarios run by the
    // workbench) overflow.
    let attempt = Box::pin(attempt);
    UNSETTLED
        .scope(RefCell::new(None), async {
            let answer = attempt.await;
            let pending = UNSETTLED.with(|slot| slot.borrow_mut().take());
            match pending {
                None => answer,
                Some(outcome) => match wait_for(outcome).await {
                    Ok(()) => answer,
                    Err(e) => Err(EngineError::CommitUnknown(StoreError(DbErr::Custom(
                        format!("answered from a batch whose commit failed ({e}); ask again"),
                    )))),
                },
            }
        })
        .await
}

/// Waits for a batch's outcome; `Err` when its commit failed or the committer stopped.
async fn wait_for(mut outcome: watch::Receiver<Outcome>) -> std::result::Result<(), String> {
    match outcome.wait_for(Option::is_some).await {
        Ok(result) => result.clone().unwrap_or(Ok(())),
        Err(_) => Err("the committer stopped before the commit".into()),
    }
}

/// A write transaction lent to one writer: the whole transaction (the first writer of a
/// batch, or a writer on PostgreSQL) or a savepoint of the batch's transaction, or a savepoint
/// the writer made in either. It is a connection like the transaction it holds; end it with
/// [`super::Engine::commit`] (a savepoint with [`WriteTxn::commit`]).
pub(crate) struct WriteTxn {
    /// `Some` until committed; taken first when dropped (see the module's docs).
    txn: Option<DatabaseTransaction>,
    seat: Seat,
    /// What this part of a batch leaves for the batch's end; `None` outside a batch, where a
    /// flush writes everything at once.
    deferred: Option<Arc<Mutex<Deferred>>>,
}

/// The writer's place: how its commit is carried out and where the outcome comes from.
enum Seat {
    /// A transaction of its own (PostgreSQL): committed by the writer.
    Alone,
    /// The batch's first writer, holding the whole transaction: gives it back to the
    /// committer when done.
    First {
        back: Option<oneshot::Sender<(DatabaseTransaction, Deferred)>>,
        outcome: watch::Receiver<Outcome>,
    },
    /// A later writer of the batch, in a savepoint: releases it and says so.
    Joined {
        back: Option<oneshot::Sender<Deferred>>,
        outcome: watch::Receiver<Outcome>,
    },
    /// A savepoint a writer made in its transaction: released into it, with what it deferred.
    Nested { into: Option<Arc<Mutex<Deferred>>> },
}

impl WriteTxn {
    pub(crate) fn alone(txn: DatabaseTransaction) -> Self {
        Self {
            txn: Some(txn),
            seat: Seat::Alone,
            deferred: None,
        }
    }

    /// A savepoint in this transaction, as a `WriteTxn` of its own (it shadows the
    /// transaction's `begin`, so every savepoint of a writer is one): what it defers is handed
    /// to this one when it is released and dropped when it is rolled back.
    pub(crate) async fn begin(&self) -> std::result::Result<WriteTxn, DbErr> {
        let savepoint = self.conn().begin().await?;
        Ok(WriteTxn {
            txn: Some(savepoint),
            seat: Seat::Nested {
                into: self.deferred.clone(),
            },
            deferred: self.deferred.as_ref().map(|_| Arc::default()),
        })
    }

    /// Where a flush in this transaction leaves what it defers; `None` when it writes all.
    /// Not to be held over an `await`.
    pub(crate) fn deferred(&self) -> Option<std::sync::MutexGuard<'_, Deferred>> {
        self.deferred.as_deref().map(lock)
    }

    /// Leaves `unsealed` audit entries for the batch's end, to be sealed with the batch's
    /// others; outside a batch gives them back, to be appended now.
    pub(crate) fn defer_audit(&self, unsealed: Vec<AuditEntry>) -> Option<Vec<AuditEntry>> {
        let Some(mut deferred) = self.deferred() else {
            return Some(unsealed);
        };
        for entry in unsealed {
            deferred.audit(entry);
        }
        None
    }

    /// Appends `records` by `actor` to the audit log in this transaction: at the batch's end
    /// in a batch, at once otherwise ([`store::audit::append_unsealed`]).
    pub(crate) async fn append_audit(
        &self,
        entries: Vec<(&Actor, AuditRecord)>,
        now: DateTime<Utc>,
    ) -> std::result::Result<(), DbErr> {
        let unsealed = entries
            .into_iter()
            .map(|(actor, record)| AuditEntry::unsealed(now, actor, record))
            .collect();
        match self.defer_audit(unsealed) {
            Some(unsealed) => store::audit::append_unsealed(self, unsealed).await,
            None => Ok(()),
        }
    }

    /// What this part deferred, taken out.
    fn take_deferred(&mut self) -> Deferred {
        self.deferred
            .as_ref()
            .map(|d| std::mem::take(&mut *lock(d)))
            .unwrap_or_default()
    }

    fn conn(&self) -> &DatabaseTransaction {
        self.txn
            .as_ref()
            .expect("a write transaction is used only until it is committed")
    }

    /// Commits this writer's part and waits until it is durable. A failure of the shared
    /// commit leaves the outcome unknown, as a lone commit's does.
    pub(crate) async fn commit(mut self) -> Result<()> {
        let txn = self
            .txn
            .take()
            .expect("a write transaction is committed once");
        let unknown = |e: DbErr| EngineError::CommitUnknown(StoreError(e));
        let deferred = self.take_deferred();
        let outcome = match &mut self.seat {
            Seat::Alone => return txn.commit().await.map_err(unknown),
            Seat::Nested { into } => {
                // A RELEASE: its part joins the transaction's, still to be committed.
                txn.commit().await.map_err(StoreError)?;
                if let Some(into) = into {
                    lock(into).append(deferred);
                }
                return Ok(());
            }
            Seat::First { back, outcome } => {
                let back = back.take().expect("the first writer gives back once");
                if back.send((txn, deferred)).is_err() {
                    // The committer is gone (the engine is shutting down): the transaction
                    // came back with the error and was rolled back when it was dropped here.
                    return Err(unknown(DbErr::Custom("the committer stopped".into())));
                }
                outcome
            }
            Seat::Joined { back, outcome } => {
                // RELEASE only merges the savepoint into the batch: not yet durable, and
                // when it fails this writer's part is rolled back on drop, nothing else.
                txn.commit().await.map_err(StoreError)?;
                let back = back.take().expect("a joined writer reports once");
                if back.send(deferred).is_err() {
                    return Err(unknown(DbErr::Custom("the committer stopped".into())));
                }
                outcome
            }
        };
        wait_for(outcome.clone())
            .await
            .map_err(|e| unknown(DbErr::Custom(e)))
    }
}

impl WriteTxn {
    /// Rolls this writer's part back: its transaction, or its savepoint of the batch's.
    pub(crate) async fn rollback(mut self) -> Result<()> {
        let txn = self.txn.take().expect("a write transaction is ended once");
        // The seat is dropped after the rollback ran, which is when the committer goes on.
        Ok(txn.rollback().await?)
    }
}

impl Drop for WriteTxn {
    fn drop(&mut self) {
        // The savepoint's (or transaction's) rollback is queued on the connection here,
        // before `seat` is dropped and with it the sender the committer waits on.
        drop(self.txn.take());
        if let Seat::Joined {
            back: Some(_),
            outcome,
        } = &self.seat
        {
            // Left without committing, after reading the batch: the answer waits for it.
            // Outside `settled` (or when the writer was cancelled) there is no one to tell.
            let _ = UNSETTLED.try_with(|slot| *slot.borrow_mut() = Some(outcome.clone()));
        }
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        self.conn()
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.conn().get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> std::result::Result<ExecResult, DbErr> {
        self.conn().execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> std::result::Result<ExecResult, DbErr> {
        self.conn().execute_unprepared(sql).await
    }

    async fn query_one_raw(
        &self,
        stmt: Statement,
    ) -> std::result::Result<Option<QueryResult>, DbErr> {
        self.conn().query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> std::result::Result<Vec<QueryResult>, DbErr> {
        self.conn().query_all_raw(stmt).await
    }
}

/// How many commits carried how many writers, since the engine started.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CommitStats {
    pub commits: u64,
    pub writers: u64,
    pub largest_batch: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    writers: AtomicU64,
    largest: AtomicU64,
}

/// A writer waiting for its turn: the committer lends it a transaction through `lend`.
struct Ticket {
    lend: oneshot::Sender<std::result::Result<WriteTxn, DbErr>>,
}

/// The handle writers queue on; the committer task ends when it is dropped.
pub(crate) struct Committer {
    queue: mpsc::UnboundedSender<Ticket>,
    counters: Arc<Counters>,
}

impl Committer {
    /// Starts the committer task of `db` (which must be SQLite), grouping at most
    /// `group_max` writers in one transaction.
    pub(crate) fn start(db: DatabaseConnection, group_max: u64) -> Self {
        let (queue, tickets) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(db, tickets, group_max.max(1), counters.clone()));
        Self { queue, counters }
    }

    /// Waits for this writer's turn and returns its transaction.
    pub(crate) async fn turn(&self) -> Result<WriteTxn> {
        let (lend, lent) = oneshot::channel();
        let stopped =
            || EngineError::Store(StoreError(DbErr::Custom("the committer stopped".into())));
        self.queue.send(Ticket { lend }).map_err(|_| stopped())?;
        match lent.await {
            Ok(result) => result.map_err(|e| EngineError::Store(StoreError(e))),
            Err(_) => Err(stopped()),
        }
    }

    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            writers: self.counters.writers.load(Ordering::Relaxed),
            largest_batch: self.counters.largest.load(Ordering::Relaxed),
        }
    }
}

/// The committer task: one batch after the other, until the engine is dropped.
async fn run(
    db: DatabaseConnection,
    mut tickets: mpsc::UnboundedReceiver<Ticket>,
    group_max: u64,
    counters: Arc<Counters>,
) {
    while let Some(first) = tickets.recv().await {
        let begun = db
            .begin_with_options(TransactionOptions {
                // The write lock is taken at BEGIN, so another process's writer queues on
                // the busy timeout instead of failing when a read lock would be upgraded.
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await;
        let txn = match begun {
            Ok(txn) => txn,
            Err(e) => {
                // The writer retries a transient error (busy) as it did its own BEGIN.
                let _ = first.lend.send(Err(e));
                continue;
            }
        };
        let (done, outcome) = watch::channel(None);
        let (back, given_back) = oneshot::channel();
        let lent = WriteTxn {
            txn: Some(txn),
            seat: Seat::First {
                back: Some(back),
                outcome: outcome.clone(),
            },
            deferred: Some(Arc::default()),
        };
        // A writer that is gone drops what it was lent, and with it the transaction.
        let _ = first.lend.send(Ok(lent));
        let Ok((txn, deferred)) = given_back.await else {
            // It failed: the whole transaction, which held only its work, was rolled back.
            continue;
        };
        let batch = Batch {
            txn,
            deferred,
            outcome: &outcome,
        };
        let result = batch
            .grow_and_commit(&mut tickets, group_max, &counters)
            .await;
        if let Err(e) = &result {
            tracing::error!(error = %e, "group commit failed; its writers are told the outcome is unknown");
        }
        let _ = done.send(Some(result));
    }
}

/// A batch after its first writer: the transaction and what its members left for its end.
struct Batch<'o> {
    txn: DatabaseTransaction,
    deferred: Deferred,
    outcome: &'o watch::Receiver<Outcome>,
}

impl Batch<'_> {
    /// Lends savepoints to the writers already queued, up to `group_max` writers in all, then
    /// writes what they deferred and commits. Every writer lent a turn counts, also one that
    /// fails or is dropped: a stream of failing writers must not keep a batch (and SQLite's
    /// write lock) open.
    async fn grow_and_commit(
        mut self,
        tickets: &mut mpsc::UnboundedReceiver<Ticket>,
        group_max: u64,
        counters: &Counters,
    ) -> std::result::Result<(), String> {
        let (mut turns, mut members) = (1_u64, 1_u64);
        while turns < group_max {
            let Ok(next) = tickets.try_recv() else { break };
            let savepoint = match self.txn.begin().await {
                Ok(savepoint) => savepoint,
                Err(e) => {
                    // A failed SAVEPOINT leaves the transaction's state in doubt: the batch is
                    // rolled back (dropping `txn`) and every member hears that it failed.
                    let _ = next.lend.send(Err(e));
                    return Err("a savepoint of the batch could not be made".into());
                }
            };
            turns += 1;
            let (back, released) = oneshot::channel();
            let lent = WriteTxn {
                txn: Some(savepoint),
                seat: Seat::Joined {
                    back: Some(back),
                    outcome: self.outcome.clone(),
                },
                deferred: Some(Arc::default()),
            };
            let _ = next.lend.send(Ok(lent));
            match released.await {
                Ok(deferred) => {
                    self.deferred.append(deferred);
                    members += 1;
                }
                Err(_) => still_open(&self.txn).await?,
            }
        }
        if !self.deferred.is_empty() {
            self.deferred.write(&self.txn).await.map_err(|e| {
                format!(
                    "writing the batch's history, timeline, audit entries and ended instances: {e}"
                )
            })?;
        }
        self.txn.commit().await.map_err(|e| e.to_string())?;
        counters.commits.fetch_add(1, Ordering::Relaxed);
        counters.writers.fetch_add(members, Ordering::Relaxed);
        counters.largest.fetch_max(members, Ordering::Relaxed);
        Ok(())
    }
}

/// The lock of a part's deferred rows; a writer that panicked holding it left whole rows.
fn lock(deferred: &Mutex<Deferred>) -> std::sync::MutexGuard<'_, Deferred> {
    deferred.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether the batch's transaction is still open after a writer left it without releasing its
/// savepoint. sqlx counts savepoints itself; a rollback misnested by an error in the middle of
/// making one (out of memory, I/O) could end the whole transaction under the members, and the
/// final COMMIT would then succeed on nothing. `BEGIN` fails inside a transaction, which is the
/// answer wanted; if it succeeds, the transaction was gone, and the batch fails as a whole.
/// A savepoint held open over the batch would tell the same, but it makes SQLite keep every
/// page the batch touches in its sub-journal (measured: a fifth of `auto`'s throughput).
async fn still_open(txn: &DatabaseTransaction) -> std::result::Result<(), String> {
    match txn.execute_unprepared("BEGIN").await {
        Err(_) => Ok(()),
        Ok(_) => {
            let _ = txn.execute_unprepared("ROLLBACK").await;
            Err("the batch's transaction ended under its writers".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    use super::*;
    use crate::audit::{AuditAction, AuditVerdict};
    use crate::instance::Actor;

    async fn note(conn: &WriteTxn, target: &str) {
        let record = AuditRecord::new(AuditAction::DeadLetterReplay).target(target);
        conn.append_audit(vec![(&Actor::system(), record)], Utc::now())
            .await
            .expect("appends");
    }

    /// What a part of a batch leaves for the batch's end is written with the batch when that
    /// part is released, in the order of the parts, and never when it is rolled back or
    /// dropped: the batch's first writer, a joined one, and a savepoint of each rolled back and
    /// one released. The entries of one batch form one chain after one read of the head.
    #[tokio::test]
    async fn a_batch_writes_what_its_released_parts_deferred_and_nothing_of_undone_ones() {
        let db = crate::runtime::connect("sqlite::memory:", &crate::EngineOptions::default())
            .await
            .expect("connects");
        crate::schema::migrate(&db, &crate::registry::Registry::new())
            .await
            .expect("migrates");
        let committer = Arc::new(Committer::start(db.clone(), 64));
        let first = committer.turn().await.expect("the first writer's turn");
        let joined = tokio::spawn({
            let committer = committer.clone();
            async move {
                let conn = committer.turn().await.expect("a joined writer's turn");
                let undone = conn.begin().await.expect("a savepoint");
                note(&undone, "joined, rolled back").await;
                undone.rollback().await.expect("rolls back");
                let kept = conn.begin().await.expect("a savepoint");
                note(&kept, "joined, released").await;
                kept.commit().await.expect("releases");
                note(&conn, "joined").await;
                conn.commit().await
            }
        });
        let dropped = tokio::spawn({
            let committer = committer.clone();
            async move {
                let conn = committer.turn().await.expect("a joined writer's turn");
                note(&conn, "dropped").await;
                // Leaves without committing, as a writer that fails does.
            }
        });
        // Both are queued behind the first writer, which holds the transaction.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let undone = first.begin().await.expect("a savepoint");
        note(&undone, "first, rolled back").await;
        drop(undone);
        note(&first, "first").await;
        first.commit().await.expect("the batch commits");
        joined
            .await
            .expect("joins")
            .expect("the joined writer commits");
        dropped.await.expect("joins");
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT target FROM audit_log ORDER BY id",
            ))
            .await
            .expect("reads");
        let targets: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String>("", "target").expect("a target"))
            .collect();
        assert_eq!(targets, ["first", "joined, released", "joined"]);
        assert_eq!(
            committer.stats().commits,
            1,
            "all three writers shared one commit"
        );
        assert!(matches!(
            store::audit::verify_chain(&db, 100)
                .await
                .expect("verifies"),
            AuditVerdict::Intact { entries: 3, .. }
        ));
    }
}
