//! Scenario kinds of the package: `given: se_persons` (a local person with the register's
//! record of them), `given: se_register_outage`, and the expectation `se_person`.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use forlob_engine::scenario::{Expectation, Fixture, require_keys, value_text};
use sea_orm::{ActiveValue::Set, DatabaseConnection, DatabaseTransaction, EntityTrait};
use serde::Deserialize;
use serde_json::Value;

use super::entities::outage;
use super::simulate::{self, Record, SimPerson};
use super::store;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GivenPerson {
    pnr: Value,
    name: String,
    birth_date: NaiveDate,
    kommun: Value,
    #[serde(default)]
    omrade: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    child_until: Option<NaiveDate>,
    #[serde(default)]
    linked_to: Vec<Value>,
    #[serde(default)]
    guardians: Vec<Value>,
    /// What Skatteverket has where it differs from the local record; `null`: not registered.
    #[serde(default = "same")]
    register: Option<GivenRecord>,
}

fn same() -> Option<GivenRecord> {
    Some(GivenRecord::default())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GivenRecord {
    name: Option<String>,
    kommun: Option<Value>,
    omrade: Option<String>,
}

pub(crate) struct Persons;

#[async_trait]
impl Fixture for Persons {
    async fn load(
        &self,
        conn: &DatabaseTransaction,
        value: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let given: Vec<GivenPerson> =
            serde_json::from_value(value.clone()).map_err(|e| format!("se_persons: {e}"))?;
        let persons: Vec<SimPerson> = given
            .into_iter()
            .map(|g| {
                let kommun = value_text(&g.kommun);
                let texts = |v: Vec<Value>| v.iter().map(value_text).collect::<Vec<_>>();
                let guardians = texts(g.guardians);
                let register = g.register.map(|r| Record {
                    name: r.name.unwrap_or_else(|| g.name.clone()),
                    kommun: r.kommun.as_ref().map_or_else(|| kommun.clone(), value_text),
                    omrade: r.omrade.or_else(|| g.omrade.clone()),
                    guardians: guardians.clone(),
                });
                SimPerson {
                    personnummer: value_text(&g.pnr),
                    name: g.name,
                    birth_date: g.birth_date,
                    kommun,
                    omrade: g.omrade,
                    roles: g.roles,
                    child_until: g.child_until,
                    linked_to: texts(g.linked_to),
                    guardians,
                    register,
                }
            })
            .collect();
        // Last brought up to date a month before the scenario starts.
        simulate::store(conn, &persons, now - chrono::Duration::days(30))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GivenOutage {
    from: DateTime<chrono::FixedOffset>,
    until: DateTime<chrono::FixedOffset>,
}

/// The register does not answer from `from` until `until`.
pub(crate) struct RegisterOutage;

#[async_trait]
impl Fixture for RegisterOutage {
    async fn load(
        &self,
        conn: &DatabaseTransaction,
        value: &Value,
        _now: DateTime<Utc>,
    ) -> Result<(), String> {
        let given: GivenOutage = serde_json::from_value(value.clone())
            .map_err(|e| format!("se_register_outage: {e}"))?;
        outage::Entity::insert(outage::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            from_at: Set(given.from.with_timezone(&Utc)),
            until_at: Set(given.until.with_timezone(&Utc)),
        })
        .exec_without_returning(conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    }
}

/// `se_person: { pnr, kommun?, name?, omrade?, pending? }`: the local record as it is now.
pub(crate) struct Person;

const KEYS: &[&str] = &["pnr", "kommun", "name", "omrade", "pending"];

#[async_trait]
impl Expectation for Person {
    async fn check(
        &self,
        conn: &DatabaseConnection,
        spec: &Value,
        _now: DateTime<Utc>,
    ) -> Result<(), String> {
        require_keys(spec, KEYS)?;
        let pnr = spec
            .get("pnr")
            .map(value_text)
            .ok_or("se_person needs `pnr`")?;
        let person = store::local_person(conn, &pnr)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no person {pnr} in the person register"))?;
        let pending = store::is_pending(conn, &pnr)
            .await
            .map_err(|e| e.to_string())?;
        let actual = [
            ("kommun", Some(person.kommun.clone())),
            ("name", Some(person.name.clone())),
            ("omrade", person.omrade.clone()),
            ("pending", Some(pending.to_string())),
        ];
        let wrong: Vec<String> = actual
            .iter()
            .filter_map(|(key, value)| {
                let want = spec.get(*key)?;
                let want = match want {
                    Value::Null => None,
                    other => Some(value_text(other)),
                };
                (want != *value).then(|| {
                    format!(
                        "{key}: expected {}, found {}",
                        want.as_deref().unwrap_or("none"),
                        value.as_deref().unwrap_or("none")
                    )
                })
            })
            .collect();
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    }
}
