//! The audit log's table: appending in the caller's transaction, reading pages, walking the
//! chain, pruning. See `crate::audit` for the invariants.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Statement,
};

use super::entities::audit_entry;
use crate::audit::{AuditAction, AuditEntry, AuditFilter, AuditRecord, AuditVerdict};
use crate::instance::Actor;

/// The PostgreSQL advisory lock that makes appends take turns (any fixed number, distinct
/// from the migrations' 7215061).
const APPEND_LOCK: i64 = 7_215_062;

fn to_entry(m: audit_entry::Model) -> AuditEntry {
    AuditEntry {
        id: m.id,
        at: m.at,
        actor: m.actor,
        role: m.role,
        municipality: m.municipality,
        action: m.action,
        subject: m.subject,
        target: m.target,
        via: m.via,
        detail: m.detail,
        prev_hash: m.prev_hash,
        hash: m.hash,
    }
}

/// Appends `records` by `actor` at `now` in the caller's transaction, chained after the
/// newest entry. On PostgreSQL appends take turns on an advisory lock held to the end of the
/// transaction; on SQLite the caller's write transaction already is the only writer.
pub async fn append<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    records: Vec<AuditRecord>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    append_each(conn, records.into_iter().map(|r| (actor, r)).collect(), now).await
}

/// [`append`] for entries of several actors (the reads a group commit writes together).
/// The newest entry is read every time, under the lock: a head remembered between commits
/// could be overtaken by another process's appends and a prune, unseen.
pub async fn append_each<C: ConnectionTrait>(
    conn: &C,
    entries: Vec<(&Actor, AuditRecord)>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if let Some(insert) = sealed_insert(conn, entries, now).await? {
        conn.execute_raw(insert).await?;
    }
    Ok(())
}

/// The INSERT that appends `entries` after the newest entry, read now (under the lock on
/// PostgreSQL); `None` for no entries. Run it in the same transaction before anything else
/// appends, as a start does with its flush ([`super::Writes::run_after`]).
pub async fn sealed_insert<C: ConnectionTrait>(
    conn: &C,
    entries: Vec<(&Actor, AuditRecord)>,
    now: DateTime<Utc>,
) -> Result<Option<Statement>, DbErr> {
    if entries.is_empty() {
        return Ok(None);
    }
    let backend = conn.get_database_backend();
    if backend == DbBackend::Postgres {
        conn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({APPEND_LOCK})"))
            .await?;
    }
    let newest: Option<(i64, String)> = audit_entry::Entity::find()
        .select_only()
        .column(audit_entry::Column::Id)
        .column(audit_entry::Column::Hash)
        .order_by_desc(audit_entry::Column::Id)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    let rows = sealed_rows(&entries, now, newest.unwrap_or((0, String::new())));
    Ok(Some(audit_entry::Entity::insert_many(rows).build(backend)))
}

/// The rows of `entries` chained after `head` (the newest entry's id and hash).
fn sealed_rows(
    entries: &[(&Actor, AuditRecord)],
    now: DateTime<Utc>,
    head: (i64, String),
) -> Vec<audit_entry::ActiveModel> {
    let (mut id, mut prev) = head;
    let mut rows = Vec::with_capacity(entries.len());
    for (actor, record) in entries {
        id += 1;
        let entry = AuditEntry::sealed(id, now, actor, record.clone(), prev);
        prev = entry.hash.clone();
        rows.push(audit_entry::ActiveModel {
            id: Set(entry.id),
            at: Set(entry.at),
            actor: Set(entry.actor),
            role: Set(entry.role),
            municipality: Set(entry.municipality),
            action: Set(entry.action),
            subject: Set(entry.subject),
            target: Set(entry.target),
            via: Set(entry.via),
            detail: Set(entry.detail),
            prev_hash: Set(entry.prev_hash),
            hash: Set(entry.hash),
        });
    }
    rows
}

/// A page of entries, newest first.
pub async fn audit_entries<C: ConnectionTrait>(
    conn: &C,
    filter: &AuditFilter,
) -> Result<Vec<AuditEntry>, DbErr> {
    let mut query = audit_entry::Entity::find();
    if let Some(subject) = &filter.subject {
        query = query.filter(audit_entry::Column::Subject.eq(subject.clone()));
    }
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_entry::Column::Actor.eq(actor.clone()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_entry::Column::Action.eq(action.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_entry::Column::At.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_entry::Column::At.lt(to));
    }
    if let Some(before) = filter.before {
        query = query.filter(audit_entry::Column::Id.lt(before));
    }
    Ok(query
        .order_by_desc(audit_entry::Column::Id)
        .limit(filter.limit)
        .all(conn)
        .await?
        .into_iter()
        .map(to_entry)
        .collect())
}

/// Walks the whole chain, oldest first, `page` entries a query. The first entry must start
/// the chain (no previous hash) or be the one the newest prune named as the first it kept.
pub async fn verify_chain<C: ConnectionTrait>(conn: &C, page: u64) -> Result<AuditVerdict, DbErr> {
    let anchor = prune_anchor(conn).await?;
    let mut previous: Option<AuditEntry> = None;
    let mut checked = 0u64;
    loop {
        let mut query = audit_entry::Entity::find();
        if let Some(p) = &previous {
            query = query.filter(audit_entry::Column::Id.gt(p.id));
        }
        let rows = query
            .order_by_asc(audit_entry::Column::Id)
            .limit(page)
            .all(conn)
            .await?;
        if rows.is_empty() {
            break;
        }
        for entry in rows.into_iter().map(to_entry) {
            if let Some(reason) = misfit(&entry, previous.as_ref(), anchor.as_ref()) {
                return Ok(AuditVerdict::Broken {
                    id: entry.id,
                    reason,
                });
            }
            checked += 1;
            previous = Some(entry);
        }
    }
    Ok(AuditVerdict::Intact {
        entries: checked,
        head: previous.map(|e| e.hash).unwrap_or_default(),
    })
}

/// Why `entry` does not fit after `previous` (or at the start, given the prune anchor).
fn misfit(
    entry: &AuditEntry,
    previous: Option<&AuditEntry>,
    anchor: Option<&(i64, String)>,
) -> Option<String> {
    if entry.hash != entry.computed_hash() {
        return Some("its content does not match its hash: the entry was changed".into());
    }
    match previous {
        Some(p) if entry.id != p.id + 1 => Some(format!(
            "entries {} to {} are missing after entry {}",
            p.id + 1,
            entry.id - 1,
            p.id
        )),
        Some(p) if entry.prev_hash != p.hash => Some(format!(
            "it does not follow entry {}: an entry before it was changed, removed or moved",
            p.id
        )),
        Some(_) => None,
        None => match anchor {
            Some((first, hash)) if entry.id == *first && entry.prev_hash == *hash => None,
            Some((first, _)) => Some(format!(
                "the oldest entry should be {first}, as the newest prune recorded: entries \
                 were removed at the start"
            )),
            None if entry.id == 1 && entry.prev_hash.is_empty() => None,
            None => Some("the oldest entries were removed (no prune recorded it)".into()),
        },
    }
}

/// The first entry the newest prune kept and that entry's previous hash.
async fn prune_anchor<C: ConnectionTrait>(conn: &C) -> Result<Option<(i64, String)>, DbErr> {
    let newest = audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq(AuditAction::AuditPrune.as_str()))
        .order_by_desc(audit_entry::Column::Id)
        .one(conn)
        .await?;
    Ok(newest.and_then(|m| {
        let detail: serde_json::Value = serde_json::from_str(&m.detail).ok()?;
        Some((
            detail.get("first_kept")?.as_i64()?,
            detail.get("first_kept_prev_hash")?.as_str()?.to_owned(),
        ))
    }))
}

/// Deletes the entries before the oldest one not older than `before`, always keeping the
/// newest entry so the chain goes on;
/// returns how many went and the first kept entry (its id and previous hash), which the
/// caller records in the prune's own entry.
pub async fn prune_before<C: ConnectionTrait>(
    conn: &C,
    before: DateTime<Utc>,
) -> Result<(u64, Option<(i64, String)>), DbErr> {
    let newest: Option<i64> = audit_entry::Entity::find()
        .select_only()
        .column(audit_entry::Column::Id)
        .order_by_desc(audit_entry::Column::Id)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    let Some(newest) = newest else {
        return Ok((0, None));
    };
    // By id, not by time: the chain is cut at one place, just before the oldest entry that is
    // still within the retention, so an entry with an odd time (another node's clock) never
    // takes newer ones with it.
    let first_recent: Option<i64> = audit_entry::Entity::find()
        .select_only()
        .column(audit_entry::Column::Id)
        .filter(audit_entry::Column::At.gte(before))
        .order_by_asc(audit_entry::Column::Id)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    let keep_from = first_recent.unwrap_or(newest).min(newest);
    let deleted = audit_entry::Entity::delete_many()
        .filter(audit_entry::Column::Id.lt(keep_from))
        .exec(conn)
        .await?
        .rows_affected;
    let first: Option<(i64, String)> = audit_entry::Entity::find()
        .select_only()
        .column(audit_entry::Column::Id)
        .column(audit_entry::Column::PrevHash)
        .order_by_asc(audit_entry::Column::Id)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    Ok((deleted, first))
}

/// How many entries there are.
pub async fn audit_count<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    audit_entry::Entity::find().count(conn).await
}
