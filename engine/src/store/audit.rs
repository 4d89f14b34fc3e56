//! The audit log's table: appending in the caller's transaction, sealing, reading pages,
//! walking the chain, pruning. See `crate::audit` for the invariants.
//!
//! On PostgreSQL an entry is committed with its change in `audit_pending`, unsealed, and
//! [`seal_pending`] chains it: every node's due-work tick does, and so does every read of the
//! log (a page, `verify`) before it reads; a prune seals in its own transaction. Sealing at the
//! append took the chain's lock in every writer's transaction and held it to the commit, so
//! concurrent writers took turns over their commits (`auto` at concurrency 8 at half the rate
//! its statements allow, docs/benchmarks.md). The price: until it is sealed an entry is not
//! covered by a hash, so its removal or change in that window would go unseen by `verify`.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    IsolationLevel, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Statement, TransactionTrait,
};

use super::entities::{audit_entry, audit_pending};
use crate::audit::{AuditAction, AuditEntry, AuditFilter, AuditRecord, AuditVerdict};
use crate::instance::Actor;

/// The PostgreSQL advisory lock that makes sealers take turns (any fixed number, distinct
/// from the migrations' 7215061).
const APPEND_LOCK: i64 = 7_215_062;

/// How many pending entries one sealing transaction chains.
const SEAL_BATCH: u64 = 500;

fn unsealed_of(m: audit_pending::Model) -> AuditEntry {
    AuditEntry {
        id: 0,
        at: m.at,
        actor: m.actor,
        role: m.role,
        municipality: m.municipality,
        action: m.action,
        subject: m.subject,
        target: m.target,
        via: m.via,
        detail: m.detail,
        prev_hash: String::new(),
        hash: String::new(),
    }
}

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

/// Appends `records` by `actor` at `now` in the caller's transaction: sealed after the newest
/// entry on SQLite, whose caller's write transaction already is the only writer; unsealed on
/// PostgreSQL, for [`seal_pending`] to chain.
pub async fn append<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    records: Vec<AuditRecord>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let unsealed = records
        .into_iter()
        .map(|record| AuditEntry::unsealed(now, actor, record))
        .collect();
    append_unsealed(conn, unsealed).await
}

/// [`append`] for entries already made (of several actors, say).
pub async fn append_unsealed<C: ConnectionTrait>(
    conn: &C,
    unsealed: Vec<AuditEntry>,
) -> Result<(), DbErr> {
    if let Some(insert) = appending(conn, unsealed).await? {
        conn.execute_raw(insert).await?;
    }
    Ok(())
}

/// The INSERT that appends `entries` (see [`append`]); `None` for no entries. On SQLite the
/// newest entry is read now, every time (a head remembered between commits could be overtaken
/// by another process's appends and a prune, unseen), so run the INSERT in the same
/// transaction before anything else appends, as a start does with its flush
/// ([`super::Writes::run_after`]).
pub async fn appending<C: ConnectionTrait>(
    conn: &C,
    unsealed: Vec<AuditEntry>,
) -> Result<Option<Statement>, DbErr> {
    if unsealed.is_empty() {
        return Ok(None);
    }
    let backend = conn.get_database_backend();
    if backend == DbBackend::Postgres {
        let rows = unsealed.into_iter().map(pending_row);
        return Ok(Some(
            audit_pending::Entity::insert_many(rows).build(backend),
        ));
    }
    sealed_appending(conn, unsealed).await.map(Some)
}

/// The INSERT that chains `entries` after the newest entry at once, on either database; on
/// PostgreSQL only in a transaction that holds the chain's turn ([`seal_all_in_turn`]).
async fn sealed_appending<C: ConnectionTrait>(
    conn: &C,
    unsealed: Vec<AuditEntry>,
) -> Result<Statement, DbErr> {
    let rows = sealed_rows(conn, unsealed).await?;
    Ok(audit_entry::Entity::insert_many(rows).build(conn.get_database_backend()))
}

/// The rows of `unsealed` entries chained after the newest entry, read now: for a transaction
/// that is the only writer (SQLite) or holds the chain's turn (PostgreSQL).
pub(super) async fn sealed_rows<C: ConnectionTrait>(
    conn: &C,
    unsealed: Vec<AuditEntry>,
) -> Result<Vec<audit_entry::ActiveModel>, DbErr> {
    Ok(chained(unsealed, newest(conn).await?))
}

/// Takes the chain's turn to the end of the caller's transaction and seals everything
/// pending in it: for a change of the chain itself (a prune), which must see every committed
/// entry in the chain and whose own entry must be in the chain when it commits
/// ([`append_sealed`]). On PostgreSQL the transaction must be READ COMMITTED, so that what it
/// reads after the lock wait is what the sealer before it committed.
pub async fn seal_all_in_turn<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    take_turn(conn).await?;
    let mut sealed = 0;
    loop {
        let taken = seal_batch(conn).await?;
        sealed += taken;
        if taken < SEAL_BATCH {
            return Ok(sealed);
        }
    }
}

/// Appends `records` by `actor` sealed at once, in a transaction that holds the chain's turn
/// ([`seal_all_in_turn`]).
pub async fn append_sealed<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    records: Vec<AuditRecord>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let unsealed = records
        .into_iter()
        .map(|record| AuditEntry::unsealed(now, actor, record))
        .collect();
    conn.execute_raw(sealed_appending(conn, unsealed).await?)
        .await?;
    Ok(())
}

/// Takes the chain's turn for the rest of `conn`'s transaction: on PostgreSQL its advisory
/// lock, which sealers and prunes take turns on; SQLite's writer is alone anyway.
async fn take_turn<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({APPEND_LOCK})"))
            .await?;
    }
    Ok(())
}

/// Whether [`seal_pending`] waits for the chain's turn when another sealer has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealTurn {
    /// Wait, so everything committed before the call is sealed when it returns (a read).
    Wait,
    /// Leave it to the sealer at work (a node's tick: it holds up no due work).
    Skip,
}

/// Chains the entries committed unsealed (PostgreSQL) after the newest entry, in the order of
/// their commits' ids, and returns how many it sealed. Sealers on any node take turns on the
/// advisory lock, in transactions of their own of at most `SEAL_BATCH` entries; an entry
/// committed meanwhile is sealed by the next round. Nothing to do on SQLite.
pub async fn seal_pending(db: &DatabaseConnection, turn: SealTurn) -> Result<u64, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(0);
    }
    let mut sealed = 0;
    loop {
        // Without the lock first: most calls find nothing and need not wait for a sealer.
        let any = audit_pending::Entity::find()
            .select_only()
            .column(audit_pending::Column::Id)
            .order_by_asc(audit_pending::Column::Id)
            .limit(1)
            .into_tuple::<i64>()
            .one(db)
            .await?;
        if any.is_none() {
            return Ok(sealed);
        }
        // READ COMMITTED whatever the server's default: each statement after the lock must
        // see what the sealer before committed (a snapshot taken before the wait would not).
        let txn = db
            .begin_with_config(Some(IsolationLevel::ReadCommitted), None)
            .await?;
        match turn {
            SealTurn::Wait => take_turn(&txn).await?,
            SealTurn::Skip => {
                let got = txn
                    .query_one_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!("SELECT pg_try_advisory_xact_lock({APPEND_LOCK}) AS got"),
                    ))
                    .await?
                    .map(|row| row.try_get::<bool>("", "got"))
                    .transpose()?
                    .unwrap_or(false);
                if !got {
                    return Ok(sealed);
                }
            }
        }
        let taken = seal_batch(&txn).await?;
        txn.commit().await?;
        sealed += taken;
        if taken < SEAL_BATCH {
            return Ok(sealed);
        }
    }
}

/// Chains at most [`SEAL_BATCH`] pending entries, oldest first, in `txn`, which holds the
/// chain's turn; returns how many.
async fn seal_batch<C: ConnectionTrait>(txn: &C) -> Result<u64, DbErr> {
    let pending = audit_pending::Entity::find()
        .order_by_asc(audit_pending::Column::Id)
        .limit(SEAL_BATCH)
        .all(txn)
        .await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let taken = pending.len() as u64;
    // Exactly these: an entry with an id among theirs may still be uncommitted.
    let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
    let rows = chained(pending.into_iter().map(unsealed_of), newest(txn).await?);
    audit_entry::Entity::insert_many(rows).exec(txn).await?;
    audit_pending::Entity::delete_many()
        .filter(audit_pending::Column::Id.is_in(ids))
        .exec(txn)
        .await?;
    Ok(taken)
}

/// The newest entry's id and hash; `(0, "")` for an empty log.
async fn newest<C: ConnectionTrait>(conn: &C) -> Result<(i64, String), DbErr> {
    let newest: Option<(i64, String)> = audit_entry::Entity::find()
        .select_only()
        .column(audit_entry::Column::Id)
        .column(audit_entry::Column::Hash)
        .order_by_desc(audit_entry::Column::Id)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(newest.unwrap_or((0, String::new())))
}

/// The rows of `unsealed` entries chained after `head` (the newest entry's id and hash).
fn chained(
    unsealed: impl IntoIterator<Item = AuditEntry>,
    head: (i64, String),
) -> Vec<audit_entry::ActiveModel> {
    let (mut id, mut prev) = head;
    let mut rows = Vec::new();
    for entry in unsealed {
        id += 1;
        let entry = entry.seal(id, prev);
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

/// The pending row of an entry not yet sealed.
fn pending_row(entry: AuditEntry) -> audit_pending::ActiveModel {
    audit_pending::ActiveModel {
        id: NotSet,
        at: Set(entry.at),
        actor: Set(entry.actor),
        role: Set(entry.role),
        municipality: Set(entry.municipality),
        action: Set(entry.action),
        subject: Set(entry.subject),
        target: Set(entry.target),
        via: Set(entry.via),
        detail: Set(entry.detail),
    }
}

/// A page of entries, newest first; what is pending is sealed first.
pub async fn audit_entries(
    conn: &DatabaseConnection,
    filter: &AuditFilter,
) -> Result<Vec<AuditEntry>, DbErr> {
    seal_pending(conn, SealTurn::Wait).await?;
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

/// How many entries there are, sealed or pending (one statement: a seal moving entries
/// between the two tables is counted before or after, never half).
pub async fn audit_count<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT (SELECT COUNT(*) FROM audit_log) + (SELECT COUNT(*) FROM audit_pending) AS n",
        ))
        .await?;
    let n = row.map(|r| r.try_get::<i64>("", "n")).transpose()?;
    Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
}
