//! Incidents and dead letters: what an admin looks at and acts on.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr as SqlExpr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entities::{dead_letter, incident};
use crate::instance::{DeadLetter, DeadLetterSummary, Incident, IncidentCause, IncidentStatus};

pub async fn incidents<C: ConnectionTrait>(
    conn: &C,
    open_only: bool,
) -> Result<Vec<Incident>, DbErr> {
    let mut query = incident::Entity::find();
    if open_only {
        query = query.filter(incident::Column::Status.eq(IncidentStatus::Open));
    }
    Ok(query
        .order_by_asc(incident::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(to_incident)
        .collect())
}

fn to_incident(i: incident::Model) -> Incident {
    Incident {
        id: i.id,
        instance_id: i.instance_id,
        state: i.state,
        cause: IncidentCause::from_stored(&i.action),
        error: i.error,
        attempts: i.attempts,
        status: i.status,
        created_at: i.created_at,
    }
}

pub async fn incident<C: ConnectionTrait>(conn: &C, id: i64) -> Result<Option<Incident>, DbErr> {
    Ok(incident::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(to_incident))
}

/// Closes an open incident with `status`; `false` when it was not open any more (someone
/// handled it first).
pub async fn resolve_incident<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    status: IncidentStatus,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = incident::Entity::update_many()
        .col_expr(incident::Column::Status, SqlExpr::value(status))
        .col_expr(incident::Column::ResolvedAt, SqlExpr::value(now))
        .filter(incident::Column::Id.eq(id))
        .filter(incident::Column::Status.eq(IncidentStatus::Open))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Closes every open incident of an instance with `status` (a migration restarted it).
pub async fn resolve_incidents_of<C: ConnectionTrait>(
    conn: &C,
    instance_id: uuid::Uuid,
    status: IncidentStatus,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    incident::Entity::update_many()
        .col_expr(incident::Column::Status, SqlExpr::value(status))
        .col_expr(incident::Column::ResolvedAt, SqlExpr::value(now))
        .filter(incident::Column::InstanceId.eq(instance_id))
        .filter(incident::Column::Status.eq(IncidentStatus::Open))
        .exec(conn)
        .await?;
    Ok(())
}

/// Opens again the incidents of an instance closed as `status` (an undone restart).
pub async fn reopen_incidents_of<C: ConnectionTrait>(
    conn: &C,
    instance_id: uuid::Uuid,
    status: IncidentStatus,
) -> Result<(), DbErr> {
    incident::Entity::update_many()
        .col_expr(
            incident::Column::Status,
            SqlExpr::value(IncidentStatus::Open),
        )
        .col_expr(
            incident::Column::ResolvedAt,
            SqlExpr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(incident::Column::InstanceId.eq(instance_id))
        .filter(incident::Column::Status.eq(status))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn dead_letters<C: ConnectionTrait>(conn: &C) -> Result<Vec<DeadLetter>, DbErr> {
    Ok(dead_letter::Entity::find()
        .order_by_asc(dead_letter::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(to_dead_letter)
        .collect())
}

fn to_dead_letter(d: dead_letter::Model) -> DeadLetter {
    DeadLetter {
        id: d.id,
        message_id: d.message_id,
        message_type: d.message_type,
        payload: d.payload,
        reason: d.reason,
        received_at: d.received_at,
    }
}

pub async fn dead_letter<C: ConnectionTrait>(
    conn: &C,
    id: i64,
) -> Result<Option<DeadLetter>, DbErr> {
    Ok(dead_letter::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(to_dead_letter))
}

/// Removes a dead letter; `false` when it was gone already.
pub async fn delete_dead_letter<C: ConnectionTrait>(conn: &C, id: i64) -> Result<bool, DbErr> {
    Ok(dead_letter::Entity::delete_by_id(id)
        .exec(conn)
        .await?
        .rows_affected
        == 1)
}

/// The newest `limit` open incidents, newest first (what an admin's list shows).
pub async fn recent_incidents<C: ConnectionTrait>(
    conn: &C,
    limit: u64,
) -> Result<Vec<Incident>, DbErr> {
    Ok(incident::Entity::find()
        .filter(incident::Column::Status.eq(IncidentStatus::Open))
        .order_by_desc(incident::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(to_incident)
        .collect())
}

/// The incidents of one instance, oldest first: only the open ones, or all with how each
/// was closed.
pub async fn incidents_of<C: ConnectionTrait>(
    conn: &C,
    instance_id: uuid::Uuid,
    open_only: bool,
) -> Result<Vec<Incident>, DbErr> {
    let mut query = incident::Entity::find().filter(incident::Column::InstanceId.eq(instance_id));
    if open_only {
        query = query.filter(incident::Column::Status.eq(IncidentStatus::Open));
    }
    Ok(query
        .order_by_asc(incident::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(to_incident)
        .collect())
}

#[derive(Debug, FromQueryResult)]
struct DeadLetterRow {
    id: i64,
    message_id: Option<String>,
    message_type: String,
    payload_preview: Option<String>,
    payload_size: Option<i64>,
    reason: String,
    received_at: DateTime<Utc>,
}

/// Up to `limit` dead letters older than the letter `before` (all when `None`), newest first,
/// with only the first `preview_chars` characters of each payload. The payload is cut in the
/// database, so a page of megabyte messages does not travel whole to be cut here.
pub async fn dead_letters_page<C: ConnectionTrait>(
    conn: &C,
    before: Option<i64>,
    limit: u64,
    preview_chars: u32,
) -> Result<Vec<DeadLetterSummary>, DbErr> {
    // `CAST(.. AS TEXT)`, `substr` and `length` mean the same on SQLite and PostgreSQL
    // (characters, not bytes), for a `json` column of either; PostgreSQL's `length` is an
    // `integer`, cast to the `i64` the row reads.
    let mut query = dead_letter::Entity::find()
        .select_only()
        .column(dead_letter::Column::Id)
        .column(dead_letter::Column::MessageId)
        .column(dead_letter::Column::MessageType)
        .column_as(
            SqlExpr::cust(format!("substr(CAST(payload AS TEXT), 1, {preview_chars})")),
            "payload_preview",
        )
        .column_as(
            SqlExpr::cust("CAST(length(CAST(payload AS TEXT)) AS BIGINT)"),
            "payload_size",
        )
        .column(dead_letter::Column::Reason)
        .column(dead_letter::Column::ReceivedAt);
    if let Some(before) = before {
        query = query.filter(dead_letter::Column::Id.lt(before));
    }
    Ok(query
        .order_by_desc(dead_letter::Column::Id)
        .limit(limit)
        .into_model::<DeadLetterRow>()
        .all(conn)
        .await?
        .into_iter()
        .map(|d| DeadLetterSummary {
            id: d.id,
            message_id: d.message_id,
            message_type: d.message_type,
            payload_preview: d.payload_preview.unwrap_or_default(),
            payload_size: d.payload_size.unwrap_or_default(),
            reason: d.reason,
            received_at: d.received_at,
        })
        .collect())
}
