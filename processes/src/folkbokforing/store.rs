//! The package's reads and writes: the simulated population register (with its outages), the
//! local person register, pending updates and the search data.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use forlob_engine::ActionError;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;

use super::entities::{local, outage, pending, registered};

/// A person as Skatteverket has them.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterPerson {
    pub personnummer: String,
    pub name: String,
    pub birth_date: NaiveDate,
    pub kommun: String,
    pub omrade: Option<String>,
    pub guardians: Vec<String>,
}

/// A person of the municipality's register.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalPerson {
    pub personnummer: String,
    pub name: String,
    pub birth_date: NaiveDate,
    pub kommun: String,
    pub omrade: Option<String>,
    /// `barn`, `elev`, `vardnadshavare`, `kopplad`, `personal`.
    pub roles: Vec<String>,
    /// The last day the person was a child or pupil; `None` while they still are one.
    pub child_until: Option<NaiveDate>,
    /// For a guardian or other linked person: the children they are linked to.
    pub linked_to: Vec<String>,
    pub guardians: Vec<String>,
    pub synced_at: Option<DateTime<Utc>>,
}

fn strings(value: Value) -> Vec<String> {
    serde_json::from_value(value).unwrap_or_default()
}

impl From<local::Model> for LocalPerson {
    fn from(m: local::Model) -> Self {
        Self {
            personnummer: m.personnummer,
            name: m.name,
            birth_date: m.birth_date,
            kommun: m.kommun,
            omrade: m.omrade,
            roles: strings(m.roles),
            child_until: m.child_until,
            linked_to: strings(m.linked_to),
            guardians: strings(m.guardians),
            synced_at: m.synced_at,
        }
    }
}

impl From<registered::Model> for RegisterPerson {
    fn from(m: registered::Model) -> Self {
        Self {
            personnummer: m.personnummer,
            name: m.name,
            birth_date: m.birth_date,
            kommun: m.kommun,
            omrade: m.omrade,
            guardians: strings(m.guardians),
        }
    }
}

/// Asks the register for `personnummer`s; a person it does not know is missing from the map.
/// While the register is down (an outage covers `now`) the answer is a retryable failure, so
/// the job's step is retried with its backoff and the run's earlier chunks stay done.
pub async fn ask_register<C: ConnectionTrait>(
    conn: &C,
    personnummer: &[String],
    now: DateTime<Utc>,
) -> Result<HashMap<String, RegisterPerson>, ActionError> {
    let down = outage::Entity::find()
        .filter(outage::Column::FromAt.lte(now))
        .filter(outage::Column::UntilAt.gt(now))
        .count(conn)
        .await?;
    if down > 0 {
        return Err(ActionError::retryable(
            "the population register (Skatteverket/KIR) did not answer",
        ));
    }
    if personnummer.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(registered::Entity::find()
        .filter(registered::Column::Personnummer.is_in(personnummer.iter().cloned()))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| (m.personnummer.clone(), RegisterPerson::from(m)))
        .collect())
}

/// Local persons after `after` in personnummer order, at most `limit`, filtered by `which`.
pub async fn local_chunk<C: ConnectionTrait>(
    conn: &C,
    which: Which<'_>,
    after: &str,
    limit: u64,
) -> Result<Vec<LocalPerson>, DbErr> {
    Ok(which
        .filter(local::Entity::find())
        .filter(local::Column::Personnummer.gt(after))
        .order_by_asc(local::Column::Personnummer)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(LocalPerson::from)
        .collect())
}

pub async fn count_local<C: ConnectionTrait>(conn: &C, which: Which<'_>) -> Result<u64, DbErr> {
    which.filter(local::Entity::find()).count(conn).await
}

/// Which local persons a job goes through.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    /// Folkbokförda in another municipality than this one (utomkommunala).
    OutsideOf(&'a str),
    /// Folkbokförda in this municipality.
    In(&'a str),
    All,
}

impl Which<'_> {
    fn filter(self, query: sea_orm::Select<local::Entity>) -> sea_orm::Select<local::Entity> {
        match self {
            Which::OutsideOf(kommun) => query.filter(local::Column::Kommun.ne(kommun)),
            Which::In(kommun) => query.filter(local::Column::Kommun.eq(kommun)),
            Which::All => query,
        }
    }
}

pub async fn local_persons<C: ConnectionTrait>(
    conn: &C,
    personnummer: &[String],
) -> Result<HashMap<String, LocalPerson>, DbErr> {
    if personnummer.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(local::Entity::find()
        .filter(local::Column::Personnummer.is_in(personnummer.iter().cloned()))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| (m.personnummer.clone(), LocalPerson::from(m)))
        .collect())
}

/// Persons avisering has to update: a pending update (R22), or a register record changed
/// since the person was last brought up to date (Skatteverket's change notification).
pub async fn notified_chunk<C: ConnectionTrait>(
    conn: &C,
    after: &str,
    limit: u64,
) -> Result<Vec<(LocalPerson, bool)>, DbErr> {
    let backend = conn.get_database_backend();
    let (gt, lim) = match backend {
        sea_orm::DbBackend::Postgres => ("$1", "$2"),
        _ => ("?", "?"),
    };
    let sql = format!(
        "SELECT l.personnummer AS pnr, p.personnummer IS NOT NULL AS pending \
         FROM se_personer l \
         LEFT JOIN se_pending_updates p ON p.personnummer = l.personnummer \
         LEFT JOIN se_folkbokforing r ON r.personnummer = l.personnummer \
         WHERE l.personnummer > {gt} \
           AND (p.personnummer IS NOT NULL OR (r.personnummer IS NOT NULL \
                AND (l.synced_at IS NULL OR r.changed_at > l.synced_at))) \
         ORDER BY l.personnummer LIMIT {lim}"
    );
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql,
            [after.into(), (limit as i64).into()],
        ))
        .await?;
    let mut flagged = Vec::with_capacity(rows.len());
    for row in rows {
        let pnr: String = row.try_get("", "pnr")?;
        let pending: bool = row.try_get("", "pending")?;
        flagged.push((pnr, pending));
    }
    let pnrs: Vec<String> = flagged.iter().map(|(p, _)| p.clone()).collect();
    let mut persons = local_persons(conn, &pnrs).await?;
    Ok(flagged
        .into_iter()
        .filter_map(|(pnr, pending)| Some((persons.remove(&pnr)?, pending)))
        .collect())
}

/// Brings a local person up to date with their register record; what changed, if anything.
pub async fn sync_person<C: ConnectionTrait>(
    conn: &C,
    person: &LocalPerson,
    record: &RegisterPerson,
    now: DateTime<Utc>,
) -> Result<Vec<String>, DbErr> {
    let mut changes = Vec::new();
    if person.name != record.name {
        changes.push(format!("namn {} → {}", person.name, record.name));
    }
    if person.kommun != record.kommun {
        changes.push(format!("kommun {} → {}", person.kommun, record.kommun));
    }
    if person.omrade != record.omrade {
        changes.push(format!(
            "område {} → {}",
            person.omrade.as_deref().unwrap_or("-"),
            record.omrade.as_deref().unwrap_or("-")
        ));
    }
    if person.guardians != record.guardians {
        changes.push("vårdnadshavare".to_owned());
    }
    local::Entity::update_many()
        .col_expr(local::Column::Name, Expr::value(record.name.clone()))
        .col_expr(local::Column::Kommun, Expr::value(record.kommun.clone()))
        .col_expr(local::Column::Omrade, Expr::value(record.omrade.clone()))
        .col_expr(
            local::Column::Guardians,
            Expr::value(Value::from(record.guardians.clone())),
        )
        .col_expr(local::Column::SyncedAt, Expr::value(Some(now)))
        .filter(local::Column::Personnummer.eq(person.personnummer.as_str()))
        .exec(conn)
        .await?;
    pending::Entity::delete_many()
        .filter(pending::Column::Personnummer.eq(person.personnummer.as_str()))
        .exec(conn)
        .await?;
    Ok(changes)
}

/// Only the area: `uppdatering-omrade-for-personer`.
pub async fn set_area<C: ConnectionTrait>(
    conn: &C,
    personnummer: &str,
    omrade: Option<&str>,
) -> Result<(), DbErr> {
    local::Entity::update_many()
        .col_expr(
            local::Column::Omrade,
            Expr::value(omrade.map(str::to_owned)),
        )
        .filter(local::Column::Personnummer.eq(personnummer))
        .exec(conn)
        .await?;
    Ok(())
}

/// Marks persons for the next avisering (R22); a person already waiting keeps their first
/// request, so a re-run adds nothing twice.
pub async fn defer<C: ConnectionTrait>(
    conn: &C,
    personnummer: &[String],
    reason: &str,
    run_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    if personnummer.is_empty() {
        return Ok(0);
    }
    let waiting = pending::Entity::find()
        .filter(pending::Column::Personnummer.is_in(personnummer.iter().cloned()))
        .count(conn)
        .await?;
    pending::Entity::insert_many(personnummer.iter().map(|p| pending::ActiveModel {
        personnummer: Set(p.clone()),
        reason: Set(reason.to_owned()),
        run_id: Set(run_id),
        requested_at: Set(now),
    }))
    .on_conflict(
        OnConflict::column(pending::Column::Personnummer)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(personnummer.len() as u64 - waiting)
}

pub async fn is_pending<C: ConnectionTrait>(conn: &C, personnummer: &str) -> Result<bool, DbErr> {
    Ok(pending::Entity::find_by_id(personnummer.to_owned())
        .one(conn)
        .await?
        .is_some())
}

pub async fn local_person<C: ConnectionTrait>(
    conn: &C,
    personnummer: &str,
) -> Result<Option<LocalPerson>, DbErr> {
    Ok(local::Entity::find_by_id(personnummer.to_owned())
        .one(conn)
        .await?
        .map(LocalPerson::from))
}
