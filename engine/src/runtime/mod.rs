//! The durable runtime: the [`Engine`] applies events to instances, one transaction per
//! transition with all of its effects.
//!
//! Invariants:
//! - an instance row changes only through `Writes::flush`, which checks its row version, so
//!   two actors racing on one instance end with one commit and one `Conflict`;
//! - every state entered gets a history row in the same transaction as the entry;
//! - due work is leased, then finished in the transaction of the transition it causes, so a
//!   crash between the two leaves the work to be done again, never done twice.

mod audit;
mod commands;
mod committer;
mod deploy;
mod execute;
mod facades;
mod impact;
mod incidents;
mod messages;
mod migration_ends;
mod migrations;
mod operations;
mod queries;
mod scheduler;
mod signals;
mod visibility;
mod work;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, TransactionTrait};

pub use crate::catalog::{Catalog, DeployOutcome, Placement};
pub(crate) use commands::manual_form;
pub use committer::CommitStats;
pub(crate) use committer::WriteTxn;
pub use execute::BoxFuture;
pub use facades::{Audit, Commands, Jobs, Operations, Queries, Releases};
pub use impact::{DefinitionImpact, ImpactGroup};
pub use messages::{InboundMessage, MessageOutcome};
pub use migrations::{
    MigrationPreview, MigrationStatus, PreviewGroup, PreviewItem, Progress, RestartRequest,
};
pub use operations::InstanceOperation;
pub use queries::{SubjectFile, SubjectSearch, TaskForm};
pub use scheduler::{NewSchedule, RunRequest};

use crate::clock::Clock;
use crate::error::{EngineError, Result, is_transient_db};
use crate::registry::Registry;

const DAY: u64 = 24 * 3600;

/// SQLite's page cache of each connection, in KiB when negative: 64 MiB. With SQLite's default
/// (2 MiB) the writer read back from the file a page of every index it inserted into (the
/// instances' random ids land anywhere in their B-tree), and the daily run on a register of
/// 10,000 persons went about 18 % faster with the larger cache (8–36 % by round,
/// docs/benchmarks.md, "Session 25"). A connection's cache grows only as far as the pages it
/// touches, so the bound is `max_connections` × 64 MiB for a database larger than that.
const SQLITE_CACHE_SIZE: &str = "-65536";

/// Tuning of the runtime; defaults suit one node on SQLite.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Work items claimed and committed together.
    pub batch_size: u64,
    /// Writers grouped into one transaction on SQLite at most (group commit; each writer
    /// still has a savepoint of its own, and at low load a batch is one writer).
    pub group_max: u64,
    /// Instances a migration moves per transaction: more than `batch_size`, because a
    /// migration's writes are flushed together in multi-row statements and its commits are
    /// what a 100,000-instance restart waits for (docs/benchmarks.md).
    pub migration_batch: u64,
    /// How long a claim holds before another node may take the work over.
    pub lease: Duration,
    /// Connections in the pool (SQLite in memory always uses one). On SQLite each keeps a page
    /// cache of up to 64 MiB, so a database larger than that may take up to this many times
    /// 64 MiB of memory once its pages have all been read.
    pub max_connections: u32,
    /// Name of this node in leases.
    pub node: String,
    /// How long SQLite waits for another writer before a statement fails as busy.
    pub busy_timeout: Duration,
    /// Attempts of an operation that fails on a transient store error (busy, connection
    /// lost) before the caller gets `Unavailable`; the waits between them double from 20 ms.
    pub store_attempts: u32,
    /// A schedule's firing later than this (no node was running) is a misfire: its
    /// schedule's misfire policy decides whether it still runs.
    pub misfire_threshold: Duration,
    /// How long after its last task about a subject closed a caseworker's municipality still
    /// sees the subject (docs/security.md).
    pub visibility_grace: Duration,
    /// How long audit entries are kept before `forlob audit prune` may delete them.
    pub audit_retention: Duration,
    /// Two firings of a schedule must be at least this far apart; a schedule firing more
    /// often is refused (each firing is an instance, a transaction and a logbook row).
    pub schedule_min_interval: Duration,
    /// The longest names, reasons, form fields, message ids and types and queries accepted
    /// (docs/security.md, "Limits").
    pub text_limits: crate::limits::TextLimits,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            batch_size: 200,
            group_max: 64,
            migration_batch: 500,
            lease: Duration::from_secs(300),
            max_connections: 8,
            node: format!("node-{}", std::process::id()),
            busy_timeout: Duration::from_secs(10),
            store_attempts: 6,
            misfire_threshold: Duration::from_secs(60),
            visibility_grace: Duration::from_secs(30 * DAY),
            audit_retention: Duration::from_secs(5 * 365 * DAY + DAY),
            schedule_min_interval: crate::schedule::DEFAULT_MIN_INTERVAL,
            text_limits: crate::limits::TextLimits::default(),
        }
    }
}

pub struct Engine {
    db: DatabaseConnection,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    catalog: RwLock<Arc<Catalog>>,
    options: EngineOptions,
    titles: handlebars::Handlebars<'static>,
    forms: crate::form::FormRenderer,
    /// On SQLite, where this node's writers share group-committed transactions; see
    /// [`Engine::begin_write`]. PostgreSQL's writers each have a transaction of their own.
    committer: Option<committer::Committer>,
    /// Reads' audit entries waiting to be committed together (see [`Audit::record`]).
    audit_queue: audit::AuditQueue,
}

/// Opens the database named by `url` (`sqlite://path?mode=rwc`, `sqlite::memory:`,
/// `postgres://...`) with the settings the engine relies on.
pub async fn connect(url: &str, settings: &EngineOptions) -> Result<DatabaseConnection> {
    let busy_timeout = settings.busy_timeout;
    let mut options = ConnectOptions::new(url.to_owned());
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    options
        .sqlx_logging(false)
        .max_connections(if in_memory {
            1
        } else {
            settings.max_connections
        })
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .map_sqlx_sqlite_opts(move |o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            // WAL lets readers run beside the one writer; NORMAL loses no committed data on
            // a process crash (only on power loss, the last transactions); a busy writer
            // is waited for instead of failing at once.
            // Savepoints journal the pages they change; in memory that costs no file I/O.
            // (SQLite itself is built with the query planner stability guarantee, in
            // .cargo/config.toml, so statements are prepared once; a test checks it.)
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(busy_timeout)
                .foreign_keys(true)
                .pragma("temp_store", "memory")
                .pragma("cache_size", SQLITE_CACHE_SIZE)
        });
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        warn_without_stable_plans(&db).await?;
    }
    Ok(db)
}

/// Says so when this build's SQLite lacks the query planner stability guarantee (built
/// outside this repository, or with `LIBSQLITE3_FLAGS` set otherwise): everything still
/// works, but statements with a bound LIMIT are prepared again on every call.
async fn warn_without_stable_plans(db: &DatabaseConnection) -> Result<()> {
    if !has_stable_plans(db).await? {
        tracing::warn!(
            "SQLite was built without SQLITE_ENABLE_QPSG (see .cargo/config.toml); statements with a bound LIMIT are re-prepared on every call, which costs throughput"
        );
    }
    Ok(())
}

/// Whether SQLite was built with the query planner stability guarantee.
async fn has_stable_plans(db: &DatabaseConnection) -> Result<bool> {
    use sea_orm::{ConnectionTrait, Statement};
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT sqlite_compileoption_used('ENABLE_QPSG')",
        ))
        .await?;
    Ok(row
        .and_then(|r| r.try_get_by_index::<i64>(0).ok())
        .is_some_and(|used| used == 1))
}

impl Engine {
    /// Connects, migrates and loads every deployed definition. Fails when a stored definition
    /// no longer validates against the registry (an action was removed from the build).
    pub async fn start(
        url: &str,
        registry: Registry,
        clock: Arc<dyn Clock>,
        options: EngineOptions,
    ) -> Result<Self> {
        let db = connect(url, &options).await?;
        crate::schema::migrate(&db, &registry).await?;
        Self::with_connection(db, registry, clock, options).await
    }

    pub async fn with_connection(
        db: DatabaseConnection,
        registry: Registry,
        clock: Arc<dyn Clock>,
        options: EngineOptions,
    ) -> Result<Self> {
        let registry = Arc::new(registry);
        let catalog = Catalog::load(&db, &registry).await?;
        let mut titles = handlebars::Handlebars::new();
        // Titles are plain text in the database; whoever shows them as HTML escapes them.
        titles.register_escape_fn(handlebars::no_escape);
        let forms = crate::form::FormRenderer::new(registry.as_ref()).expect(
            "field type templates are fixed at build time and rendered by the packages' own tests",
        );
        let committer = (db.get_database_backend() == DbBackend::Sqlite)
            .then(|| committer::Committer::start(db.clone(), options.group_max));
        Ok(Self {
            db,
            registry,
            clock,
            catalog: RwLock::new(Arc::new(catalog)),
            options,
            titles,
            forms,
            committer,
            audit_queue: audit::AuditQueue::default(),
        })
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The deployment's zone: of definitions that name none, and of dates shown to people.
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.registry.default_timezone()
    }

    /// The length limits of free text this engine accepts; the web layer checks the inputs
    /// the engine does not own (user and token names) against the same ones.
    pub fn limits(&self) -> &crate::limits::TextLimits {
        &self.options.text_limits
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The length limits of free text this engine accepts.
    pub fn text_limits(&self) -> &crate::limits::TextLimits {
        &self.options.text_limits
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        // A poisoned lock still holds a complete catalog: it is replaced whole, never edited.
        self.catalog
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_catalog(&self, catalog: Catalog) {
        *self
            .catalog
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(catalog);
    }

    /// A write transaction. On SQLite the node's writers queue for the one committer,
    /// which groups them into shared transactions (runtime/committer.rs): queueing in the
    /// process instead of in SQLite's busy handler keeps readers from waiting behind sleeping
    /// writers, and a batch pays one commit. Writers of other processes on the same file are
    /// still waited for by the busy handler, since the write lock is taken at BEGIN.
    /// PostgreSQL locks rows, so each of its writers has a transaction of its own.
    pub(crate) async fn begin_write(&self) -> Result<WriteTxn> {
        match &self.committer {
            Some(committer) => committer.turn().await,
            None => Ok(WriteTxn::alone(self.db.begin().await?)),
        }
    }

    /// How the committer has grouped this node's writers so far (none on PostgreSQL).
    pub fn commit_stats(&self) -> CommitStats {
        self.committer
            .as_ref()
            .map(committer::Committer::stats)
            .unwrap_or_default()
    }

    /// Commits; a failure here leaves the outcome unknown, so it is never retried blindly.
    async fn commit(&self, conn: WriteTxn) -> Result<()> {
        conn.commit().await
    }

    /// Appends `record` by `actor` to the audit log in `conn`'s transaction and commits: an
    /// admin's change and its audit entry are stored together or not at all.
    async fn commit_recorded(
        &self,
        conn: WriteTxn,
        actor: &crate::instance::Actor,
        record: crate::audit::AuditRecord,
    ) -> Result<()> {
        conn.append_audit(vec![(actor, record)], self.clock.now())
            .await?;
        self.commit(conn).await
    }

    /// Reloads the catalog when another node deployed since it was loaded: one cheap query.
    pub async fn refresh_catalog(&self) -> Result<()> {
        let newest = crate::store::max_definition_id(&self.db).await?;
        if newest > self.catalog().max_row_id() {
            let catalog = Catalog::load(&self.db, &self.registry).await?;
            self.set_catalog(catalog);
        }
        Ok(())
    }

    /// Retries an operation that failed on a transient store error (a locked SQLite file, a
    /// dropped PostgreSQL connection) with exponential backoff, then gives the error up.
    async fn retrying<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let attempts = self.options.store_attempts.max(1);
        let mut delay = Duration::from_millis(20);
        let mut attempt = 1;
        loop {
            // An attempt that read a group commit's batch answers only once it committed.
            match committer::settled(op()).await {
                Err(EngineError::Store(e)) if is_transient_db(&e.0) && attempt < attempts => {
                    tracing::warn!(error = %e, ?delay, attempt, "transient store error; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(EngineError::Store(e)) if is_transient_db(&e.0) => {
                    tracing::error!(error = %e, attempts, "store unavailable; giving up");
                    return Err(EngineError::Unavailable {
                        attempts,
                        source: e,
                    });
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// `.cargo/config.toml` builds SQLite with the query planner stability guarantee; without
    /// it every statement with a bound LIMIT is prepared again on each call
    /// (docs/benchmarks.md, "Statements prepared once"), which no test would otherwise notice.
    #[tokio::test]
    async fn sqlite_is_built_with_the_query_planner_stability_guarantee() {
        let db = super::connect("sqlite::memory:", &super::EngineOptions::default())
            .await
            .expect("connects");
        assert!(super::has_stable_plans(&db).await.expect("asks SQLite"));
    }
}
