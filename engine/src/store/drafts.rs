//! Drafts of process definitions: numbered versions per author and process.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr,
};

use super::draft;

/// A stored draft as the store has it (the files as their JSON text).
pub type DraftRow = draft::Model;

/// Stores the next version of `author`'s draft of `process_id`; `None` when another save of
/// the same author and process took that version meanwhile (the unique index decides).
pub async fn insert_draft<C: ConnectionTrait>(
    conn: &C,
    process_id: &str,
    author: &str,
    files: &str,
    note: &str,
    now: DateTime<Utc>,
) -> Result<Option<DraftRow>, DbErr> {
    let newest: Option<i32> = draft::Entity::find()
        .select_only()
        .column(draft::Column::Version)
        .filter(draft::Column::Author.eq(author))
        .filter(draft::Column::ProcessId.eq(process_id))
        .order_by_desc(draft::Column::Version)
        .into_tuple()
        .one(conn)
        .await?;
    let row = draft::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        process_id: Set(process_id.to_owned()),
        author: Set(author.to_owned()),
        version: Set(newest.unwrap_or(0) + 1),
        files: Set(files.to_owned()),
        note: Set(note.to_owned()),
        created_at: Set(now),
    };
    match draft::Entity::insert(row).exec_with_returning(conn).await {
        Ok(stored) => Ok(Some(stored)),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Drafts, newest first: of one author (`None`: everyone's) and one process (`None`: all),
/// at most `limit`.
pub async fn drafts<C: ConnectionTrait>(
    conn: &C,
    author: Option<&str>,
    process_id: Option<&str>,
    limit: u64,
) -> Result<Vec<DraftRow>, DbErr> {
    let mut query = draft::Entity::find();
    if let Some(author) = author {
        query = query.filter(draft::Column::Author.eq(author));
    }
    if let Some(process_id) = process_id {
        query = query.filter(draft::Column::ProcessId.eq(process_id));
    }
    query
        .order_by_desc(draft::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

pub async fn draft_by_id<C: ConnectionTrait>(conn: &C, id: i64) -> Result<Option<DraftRow>, DbErr> {
    draft::Entity::find_by_id(id).one(conn).await
}
