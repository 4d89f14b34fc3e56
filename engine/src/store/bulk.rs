//! Bulk loading of instances that wait in a manual step, each with its open task: how
//! `forlob bench --workload http` fills a database with a million open tasks in seconds, where
//! starting them one by one through the engine would take minutes.
//!
//! The rows are written as they are given, without running any transition: the caller
//! vouches that every instance is active in the manual state its task names, exactly as the
//! engine would have left it. Top-level instances only (no parent), and no history rows.

use sea_orm::ActiveValue::Set;
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, Statement, TransactionSession, TransactionTrait,
};

use super::entities::{instance, task};
use crate::instance::{ProcessInstance, Task};

/// Rows per INSERT: 15 columns a task keeps a statement at 15,000 bind parameters, under
/// SQLite's 32,766 and PostgreSQL's 65,535, while large enough that the per-statement cost
/// (measured in docs/benchmarks.md) is spread thin.
const ROWS_PER_STATEMENT: usize = 1000;

/// SQLite page cache while a batch is inserted. With the default 2 MiB, index pages are
/// written out (spilled to the WAL) and read back several times within one batch once the
/// indexes outgrow the cache. Measured loading 500,000 tasks: system time 12 s → 7 s, wall
/// time about a fifth less, for about 200 MB more memory while the batch runs.
const SQLITE_LOAD_CACHE_KIB: i64 = 256 * 1024;

/// Inserts the instances and their tasks in one transaction, in multi-row INSERTs.
pub async fn insert_waiting<C: TransactionTrait>(
    db: &C,
    rows: Vec<(ProcessInstance, Task)>,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    let sqlite = txn.get_database_backend() == DbBackend::Sqlite;
    // The cache size belongs to the pooled connection, so it is set back before the
    // transaction ends: later users of the connection get the size they were configured with.
    let cache_before = if sqlite {
        let before = pragma_i64(&txn, "cache_size").await?;
        set_cache_size(&txn, -SQLITE_LOAD_CACHE_KIB).await?;
        before
    } else {
        None
    };
    let (instances, tasks): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
    insert_chunks(&txn, instances, instance_model).await?;
    insert_chunks(&txn, tasks, task_model).await?;
    if let Some(before) = cache_before {
        set_cache_size(&txn, before).await?;
    }
    txn.commit().await
}

async fn pragma_i64<C: ConnectionTrait>(conn: &C, name: &str) -> Result<Option<i64>, DbErr> {
    let sql = format!("SELECT {name} AS n FROM pragma_{name}()");
    match conn
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
        .await?
    {
        Some(row) => Ok(Some(row.try_get("", "n")?)),
        None => Ok(None),
    }
}

async fn set_cache_size<C: ConnectionTrait>(conn: &C, size: i64) -> Result<(), DbErr> {
    // An integer formatted into the statement: PRAGMA takes no bind parameters.
    conn.execute_unprepared(&format!("PRAGMA cache_size = {size}"))
        .await?;
    Ok(())
}

/// After a bulk load on PostgreSQL: planner statistics and the visibility map, as autovacuum
/// would leave them a minute later. Without them the planner expects a handful of rows per
/// municipality and reads every open task of one for the inbox's first page (36 ms instead
/// of 0.2 ms measured). SQLite's planner keeps no statistics unless asked, so nothing is done
/// there. Runs outside any transaction (VACUUM refuses one).
pub async fn refresh_statistics<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared("VACUUM (ANALYZE) instances, tasks")
            .await?;
    }
    Ok(())
}

/// Bytes the database takes on disk (SQLite: pages in use and free, without the WAL;
/// PostgreSQL: the current database), for reports next to row counts.
pub async fn database_bytes<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT pg_database_size(current_database()) AS n",
        _ => "SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()",
    };
    let row = conn
        .query_one_raw(Statement::from_string(backend, sql))
        .await?;
    let n: i64 = match row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

async fn insert_chunks<C, T, A>(conn: &C, rows: Vec<T>, to_model: fn(T) -> A) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    A: sea_orm::ActiveModelTrait + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows
            .by_ref()
            .take(ROWS_PER_STATEMENT)
            .map(to_model)
            .collect();
        <A::Entity as EntityTrait>::insert_many(chunk)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

fn instance_model(i: ProcessInstance) -> instance::ActiveModel {
    instance::ActiveModel {
        id: Set(i.id),
        process_id: Set(i.process_id),
        version: Set(i.version),
        subject: Set(i.subject),
        state: Set(i.state),
        status: Set(i.status),
        variables: Set(i.variables),
        row_version: Set(i.row_version),
        parent_id: Set(i.parent_id),
        parent_state: Set(None),
        created_at: Set(i.created_at),
        updated_at: Set(i.updated_at),
        ended_at: Set(i.ended_at),
        started_in: Set(i.started_in),
    }
}

fn task_model(t: Task) -> task::ActiveModel {
    task::ActiveModel {
        id: Set(t.id),
        instance_id: Set(t.instance_id),
        process_id: Set(t.process_id),
        state: Set(t.state),
        kind: Set(t.kind),
        subject: Set(t.subject),
        title: Set(t.title),
        municipality: Set(t.municipality),
        status: Set(t.status),
        claimed_by: Set(t.claimed_by),
        due_at: Set(t.due_at),
        created_at: Set(t.created_at),
        completed_at: Set(t.completed_at),
        completed_by: Set(t.completed_by),
        data: Set(t.data),
    }
}
