//! Claiming durable work (due timers, async steps, retries) in batches.
//!
//! A claim sets a lease on the rows it takes, in one statement: on PostgreSQL the subquery
//! locks with `FOR UPDATE SKIP LOCKED`, so several nodes claim disjoint batches without
//! waiting on each other; SQLite has one writer and needs no skip. A node that dies holding a
//! lease loses it when the lease runs out, and another node takes the work over.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QueryTrait, Statement,
    sea_query::{Condition, Expr as SqlExpr},
};
use uuid::Uuid;

use super::work_item;
use crate::instance::WorkKind;

#[derive(Debug, Clone, FromQueryResult)]
pub struct ClaimedWork {
    pub id: i64,
    pub instance_id: Uuid,
    pub kind: WorkKind,
    pub state: String,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
}

/// Leases up to `limit` items due at `now` to `owner` until `lease_until`.
pub async fn claim_due<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    owner: &str,
    limit: u64,
) -> Result<Vec<ClaimedWork>, DbErr> {
    let backend = conn.get_database_backend();
    let statement = match backend {
        DbBackend::Postgres => Statement::from_sql_and_values(
            backend,
            "UPDATE work_items SET lease_until = $1, lease_owner = $2 \
             WHERE id IN (SELECT id FROM work_items \
                          WHERE run_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
                          ORDER BY run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING id, instance_id, kind, state, run_at, attempts",
            [
                lease_until.into(),
                owner.into(),
                now.into(),
                (limit as i64).into(),
            ],
        ),
        _ => Statement::from_sql_and_values(
            backend,
            "UPDATE work_items SET lease_until = ?, lease_owner = ? \
             WHERE id IN (SELECT id FROM work_items \
                          WHERE run_at <= ? AND (lease_until IS NULL OR lease_until < ?) \
                          ORDER BY run_at, id LIMIT ?) \
             RETURNING id, instance_id, kind, state, run_at, attempts",
            [
                lease_until.into(),
                owner.into(),
                now.into(),
                now.into(),
                (limit as i64).into(),
            ],
        ),
    };
    let mut claimed = ClaimedWork::find_by_statement(statement).all(conn).await?;
    // RETURNING gives no order; run due work oldest first.
    claimed.sort_by(|a, b| a.run_at.cmp(&b.run_at).then(a.id.cmp(&b.id)));
    Ok(claimed)
}

/// The earliest due time of work nobody holds or of a schedule's firing, if any.
pub async fn next_due_at<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let work = next_work_at(conn, now).await?;
    let firing = super::jobs::next_firing(conn).await?;
    Ok(work.into_iter().chain(firing).min())
}

async fn next_work_at<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    Ok(work_item::Entity::find()
        .filter(
            Condition::any()
                .add(work_item::Column::LeaseUntil.is_null())
                .add(work_item::Column::LeaseUntil.lt(now)),
        )
        .order_by_asc(work_item::Column::RunAt)
        .one(conn)
        .await?
        .map(|w| w.run_at))
}

/// Gives a claimed item back, to be taken again at `run_at`.
pub async fn release<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    run_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    work_item::Entity::update_many()
        .col_expr(
            work_item::Column::LeaseUntil,
            SqlExpr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            work_item::Column::LeaseOwner,
            SqlExpr::value(Option::<String>::None),
        )
        .col_expr(work_item::Column::RunAt, SqlExpr::value(run_at))
        .filter(work_item::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Removes a finished item.
pub async fn finish<C: ConnectionTrait>(conn: &C, id: i64) -> Result<(), DbErr> {
    conn.execute_raw(finishing(conn.get_database_backend(), id))
        .await?;
    Ok(())
}

/// The statement [`finish`] runs, for a caller that runs it with others.
pub fn finishing(backend: DbBackend, id: i64) -> Statement {
    work_item::Entity::delete_by_id(id).build(backend)
}

/// Who holds the work of a suspended instance: a lease nobody's claim ever expires.
pub const HELD_BY: &str = "suspended";

/// Far enough that no claim reaches it, near enough that both databases store it as text or
/// timestamp and read it back.
fn held_until() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("9999-12-31T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Holds the instance's work (or only item `id`) while the instance is suspended: no claim
/// takes it, and its due time is kept for the resume.
pub async fn hold_work<C: ConnectionTrait>(
    conn: &C,
    id: Option<i64>,
    instance_id: Uuid,
) -> Result<(), DbErr> {
    let mut update = work_item::Entity::update_many()
        .col_expr(work_item::Column::LeaseUntil, SqlExpr::value(held_until()))
        .col_expr(work_item::Column::LeaseOwner, SqlExpr::value(HELD_BY))
        .filter(work_item::Column::InstanceId.eq(instance_id));
    if let Some(id) = id {
        update = update.filter(work_item::Column::Id.eq(id));
    }
    update.exec(conn).await?;
    Ok(())
}

/// Gives the held work of a resumed instance back, each item at its own due time (overdue
/// work runs on the next claim).
pub async fn release_held<C: ConnectionTrait>(conn: &C, instance_id: Uuid) -> Result<(), DbErr> {
    work_item::Entity::update_many()
        .col_expr(
            work_item::Column::LeaseUntil,
            SqlExpr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            work_item::Column::LeaseOwner,
            SqlExpr::value(Option::<String>::None),
        )
        .filter(work_item::Column::InstanceId.eq(instance_id))
        .filter(work_item::Column::LeaseOwner.eq(HELD_BY))
        .exec(conn)
        .await?;
    Ok(())
}
