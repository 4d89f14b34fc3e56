//! "Söka personbearbetning": the data behind the search-persons page and API, rebuilt by the
//! daily `soka-personbearbetning` job from the person register, so a search reads one index
//! instead of the register's tables.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;

use super::entities::search;
use super::store::LocalPerson;

/// One hit of a search.
#[derive(Debug, Clone, Serialize)]
pub struct PersonHit {
    pub personnummer: String,
    pub name: String,
    /// Folkbokföringskommun.
    pub kommun: String,
    pub omrade: Option<String>,
    pub roles: String,
    /// When the job built this row: how fresh the answer is.
    pub built_at: DateTime<Utc>,
}

/// Lower case, so a search ignores case; Swedish letters stay as they are.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Persons of `register_kommun`'s person register whose name starts with `query` (any word of
/// it), or whose personnummer starts with it; at most `limit`, by name.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    register_kommun: &str,
    query: &str,
    limit: u64,
) -> Result<Vec<PersonHit>, DbErr> {
    // LIKE's own wildcards are not part of any name or personnummer: a search for `%%`
    // must not list the whole register.
    let query: String = query
        .trim()
        .chars()
        .filter(|c| *c != '%' && *c != '_')
        .collect();
    let query = query.as_str();
    if query.chars().count() < 2 {
        return Ok(Vec::new());
    }
    let key = name_key(query);
    let digits: String = query.chars().filter(char::is_ascii_digit).collect();
    let mut condition = sea_orm::Condition::any()
        .add(search::Column::NameKey.starts_with(&key))
        .add(search::Column::NameKey.contains(format!(" {key}")));
    if !digits.is_empty() {
        condition = condition.add(search::Column::Personnummer.starts_with(&digits));
    }
    Ok(search::Entity::find()
        .filter(search::Column::RegisterKommun.eq(register_kommun))
        .filter(condition)
        .order_by_asc(search::Column::NameKey)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|m| PersonHit {
            personnummer: m.personnummer,
            name: m.name,
            kommun: m.kommun,
            omrade: m.omrade,
            roles: m.roles,
            built_at: m.built_at,
        })
        .collect())
}

/// Starts a rebuild: the municipality's old rows go.
pub(crate) async fn clear<C: ConnectionTrait>(
    conn: &C,
    register_kommun: &str,
) -> Result<(), DbErr> {
    search::Entity::delete_many()
        .filter(search::Column::RegisterKommun.eq(register_kommun))
        .exec(conn)
        .await?;
    Ok(())
}

pub(crate) async fn add<C: ConnectionTrait>(
    conn: &C,
    register_kommun: &str,
    persons: &[LocalPerson],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if persons.is_empty() {
        return Ok(());
    }
    search::Entity::insert_many(persons.iter().map(|p| search::ActiveModel {
        personnummer: Set(p.personnummer.clone()),
        register_kommun: Set(register_kommun.to_owned()),
        name: Set(p.name.clone()),
        name_key: Set(name_key(&p.name)),
        kommun: Set(p.kommun.clone()),
        omrade: Set(p.omrade.clone()),
        roles: Set(p.roles.join(", ")),
        built_at: Set(now),
    }))
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(search::Column::Personnummer)
            .update_columns([
                search::Column::RegisterKommun,
                search::Column::Name,
                search::Column::NameKey,
                search::Column::Kommun,
                search::Column::Omrade,
                search::Column::Roles,
                search::Column::BuiltAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
