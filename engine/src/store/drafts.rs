//! Drafts of process definitions: numbered versions per author and process.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};

use sea_orm::sea_query::Expr;

use super::draft;

/// A stored draft as the store has it (the files as their JSON text).
pub type DraftRow = draft::Model;

/// A draft as it is stored.
#[derive(Debug, Clone, Copy)]
pub struct NewDraftRow<'a> {
    pub process_id: &'a str,
    pub author: &'a str,
    /// The files as a JSON array of `{path, text}`.
    pub files: &'a str,
    pub note: &'a str,
    /// `{process: version}` deployed when it was saved, as JSON.
    pub based_on: &'a str,
}

/// Stores the next version of the author's draft of the process; `None` when another save
/// of the same author and process took that version meanwhile (the unique index decides).
pub async fn insert_draft<C: ConnectionTrait>(
    conn: &C,
    new: NewDraftRow<'_>,
    now: DateTime<Utc>,
) -> Result<Option<DraftRow>, DbErr> {
    let NewDraftRow {
        process_id,
        author,
        files,
        note,
        based_on,
    } = new;
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
        id: NotSet,
        process_id: Set(process_id.to_owned()),
        author: Set(author.to_owned()),
        version: Set(newest.unwrap_or(0) + 1),
        files: Set(files.to_owned()),
        note: Set(note.to_owned()),
        created_at: Set(now),
        based_on: Set(Some(based_on.to_owned())),
        deploy_asked_at: NotSet,
        deployed_at: NotSet,
        deployed_by: NotSet,
        deployed_versions: NotSet,
    };
    match draft::Entity::insert(row).exec_with_returning(conn).await {
        Ok(stored) => Ok(Some(stored)),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Marks draft `id` as asked to be deployed (again: the newest ask counts); false when it is
/// deployed already.
pub async fn ask_deploy<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = draft::Entity::update_many()
        .col_expr(draft::Column::DeployAskedAt, Expr::value(now))
        .filter(draft::Column::Id.eq(id))
        .filter(draft::Column::DeployedAt.is_null())
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Marks draft `id` as deployed by `by` as `versions`; false when it was deployed already (a
/// second admin at the same moment).
pub async fn mark_deployed<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    by: &str,
    versions: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = draft::Entity::update_many()
        .col_expr(draft::Column::DeployedAt, Expr::value(now))
        .col_expr(draft::Column::DeployedBy, Expr::value(by))
        .col_expr(draft::Column::DeployedVersions, Expr::value(versions))
        .filter(draft::Column::Id.eq(id))
        .filter(draft::Column::DeployedAt.is_null())
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Records what draft `id`'s deploy made of it (`process vN, …`), in the deploy's transaction.
pub async fn set_deployed_versions<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    versions: &str,
) -> Result<(), DbErr> {
    draft::Entity::update_many()
        .col_expr(draft::Column::DeployedVersions, Expr::value(versions))
        .filter(draft::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Which drafts a listing wants.
#[derive(Debug, Clone, Copy, Default)]
pub struct DraftFilter<'a> {
    /// Of one author; `None`: everyone's.
    pub author: Option<&'a str>,
    /// Of one process; `None`: all.
    pub process_id: Option<&'a str>,
    /// Only those asked to be deployed and not deployed yet.
    pub waiting: bool,
}

/// Drafts the filter wants, newest first, at most `limit`.
pub async fn drafts<C: ConnectionTrait>(
    conn: &C,
    filter: DraftFilter<'_>,
    limit: u64,
) -> Result<Vec<DraftRow>, DbErr> {
    let DraftFilter {
        author,
        process_id,
        waiting,
    } = filter;
    let mut query = draft::Entity::find();
    if waiting {
        query = query
            .filter(draft::Column::DeployAskedAt.is_not_null())
            .filter(draft::Column::DeployedAt.is_null());
    }
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
