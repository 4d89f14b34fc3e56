//! Scenario kinds of the package: `given: persons` and the expectations `handlekommune`,
//! `payment`, `manual_registration`, `health_card`, `item` and `case_event`.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use forlob_engine::scenario::{
    Expectation, Fixture, count_matches, field_matches as matches, require_keys, value_text,
};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde::Deserialize;
use serde_json::Value;

use super::store::{self, Person};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GivenPerson {
    cpr: Value,
    name: String,
    birth_date: NaiveDate,
    #[serde(default)]
    residence: Option<Value>,
    #[serde(default)]
    handlekommune: Option<Value>,
    /// A CPR subscription since long before the scenario.
    #[serde(default)]
    cpr_subscription: bool,
    #[serde(default)]
    subscription_from: Option<NaiveDate>,
    #[serde(default)]
    health_card: bool,
    #[serde(default)]
    under_administration: bool,
    #[serde(default)]
    bopaelssamling: bool,
    #[serde(default)]
    institution: Option<Stay>,
    #[serde(default)]
    payments: Vec<GivenItem>,
    #[serde(default)]
    manual: Option<GivenManual>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Stay {
    from: NaiveDate,
    #[serde(default)]
    to: Option<NaiveDate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GivenItem {
    kind: String,
    amount: f64,
    due: NaiveDate,
    #[serde(default)]
    municipality: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GivenManual {
    municipality: Value,
    from: NaiveDate,
    #[serde(default)]
    to: Option<NaiveDate>,
    reason: String,
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
        let people: Vec<GivenPerson> =
            serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
        for p in people {
            let cpr = value_text(&p.cpr);
            let residence = p.residence.as_ref().map(value_text);
            let long_ago = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(p.birth_date);
            store::insert_person(
                conn,
                Person {
                    cpr: cpr.clone(),
                    name: p.name,
                    birth_date: p.birth_date,
                    status: "01".into(),
                    residence: residence.clone(),
                    subscription_from: p
                        .subscription_from
                        .or(p.cpr_subscription.then_some(long_ago)),
                    subscription_to: None,
                    health_card: p.health_card,
                    under_administration: p.under_administration,
                    bopaelssamling: p.bopaelssamling,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
            let holder = p.handlekommune.as_ref().map(value_text).or(residence);
            if let Some(holder) = &holder {
                store::set_handlekommune(conn, &cpr, Some(holder), long_ago, "initial")
                    .await
                    .map_err(|e| e.to_string())?;
            }
            if let Some(stay) = p.institution {
                store::insert_institution_stay(conn, &cpr, stay.from, stay.to)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            for item in p.payments {
                let municipality = item
                    .municipality
                    .as_ref()
                    .map(value_text)
                    .or_else(|| holder.clone())
                    .ok_or("a payment needs a municipality")?;
                let case_id = store::insert_case(
                    conn,
                    &cpr,
                    &municipality,
                    &format!("Pension, {}", item.kind),
                )
                .await
                .map_err(|e| e.to_string())?;
                let kind = super::fields::item_type_of(&item.kind);
                store::insert_item(
                    conn,
                    store::NewItem {
                        case_id,
                        cpr: &cpr,
                        municipality: &municipality,
                        kind,
                        item_type: &item.kind,
                        amount_ore: (item.amount * 100.0).round() as i64,
                        due_date: item.due,
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            }
            if let Some(m) = p.manual {
                store::insert_manual(
                    conn,
                    store::NewRegistration {
                        cpr: &cpr,
                        municipality: &value_text(&m.municipality),
                        from: m.from,
                        to: m.to,
                        reason: &m.reason,
                        registrant: holder.as_deref().unwrap_or_default(),
                        registrant_user: "fixture",
                        state: "active",
                        at: now,
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}

fn field<'a>(spec: &'a Value, key: &str) -> Option<&'a Value> {
    spec.get(key)
}

fn subject(spec: &Value) -> Result<String, String> {
    field(spec, "subject")
        .map(value_text)
        .ok_or_else(|| "`subject` is required".to_owned())
}

/// The engine's count rule, naming what was counted.
fn count_ok(found: usize, spec: &Value, what: &str) -> Result<(), String> {
    count_matches(found, spec).map_err(|e| format!("{e} {what}"))
}

/// `handlekommune: { subject, is: 147 }`, or `is: null` for none.
pub(crate) struct Handlekommune;

#[async_trait]
impl Expectation for Handlekommune {
    async fn check(
        &self,
        conn: &DatabaseConnection,
        spec: &Value,
        _now: DateTime<Utc>,
    ) -> Result<(), String> {
        require_keys(spec, &["subject", "is"])?;
        let cpr = subject(spec)?;
        let actual = store::handlekommune(conn, &cpr)
            .await
            .map_err(|e| e.to_string())?
            .map(|h| h.municipality);
        let expected = match field(spec, "is") {
            None | Some(Value::Null) => None,
            Some(v) => Some(value_text(v)),
        };
        if actual == expected {
            Ok(())
        } else {
            Err(format!(
                "expected {}, found {}",
                expected.as_deref().unwrap_or("none"),
                actual.as_deref().unwrap_or("none")
            ))
        }
    }
}

/// One stored row as an expectation sees it: its fields by key.
type Row = Vec<(&'static str, Option<String>)>;

/// Checks a row-counting expectation: the spec may name `subject`, `count` and the rows'
/// keys; the rows whose named fields all match are counted, and a miss lists what is there.
fn check_rows(spec: &Value, what: &str, keys: &[&str], rows: Vec<Row>) -> Result<(), String> {
    let understood: Vec<&str> = ["subject", "count"].iter().chain(keys).copied().collect();
    require_keys(spec, &understood)?;
    let found = rows
        .iter()
        .filter(|row| row.iter().all(|(k, v)| matches(spec, k, v.as_deref())))
        .count();
    count_ok(found, spec, what).map_err(|e| {
        let present: Vec<String> = rows
            .iter()
            .map(|row| {
                row.iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        format!("{e}; {what}: [{}]", present.join("; "))
    })
}

/// `payment: { subject, municipality, run, kind?, count? }`: what the monthly run produced.
pub(crate) struct Payment;

#[async_trait]
impl Expectation for Payment {
    async fn check(
        &self,
        conn: &DatabaseConnection,
        spec: &Value,
        _now: DateTime<Utc>,
    ) -> Result<(), String> {
        let cpr = subject(spec)?;
        let rows = store::payments(conn, &cpr)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|p| {
                vec![
                    ("municipality", Some(p.municipality)),
                    ("run", Some(p.run_date.to_string())),
                    ("kind", Some(p.kind)),
                ]
            })
            .collect();
        check_rows(spec, "payments", &["municipality", "run", "kind"], rows)
    }
}

/// `manual_registration: { subject, state?, municipality?, to?, count? }`.
pub(crate) struct ManualRegistration;

#[async_trait]
impl Expectation for ManualRegistration {
    async fn check(
        &self,
        conn: &DatabaseConnection,
        spec: &Value,
        _now: DateTime<Utc>,
    ) -> Result<(), String> {
        let cpr = subject(spec)?;
        let rows = store::manual_registrations(conn, &cpr)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|m| {
                vec![
                    ("state", Some(m.state)),
                    ("municipality", Some(m.municipality)),
                    ("to", m.to_date.map(|d| d.to_string())),
                ]
            })
            .collect();
        check_rows(
            spec,
            "registrations",
            &["state", "municipality", "to"],
            rows,
        )
    }
}

/// `health_card: { subject, issuer?, count? }`.
pub(crate) struct HealthCard;

#[async_trait]
impl Expectation for HealthCard {
    async fn check(
        &self,
        conn: &DatabaseConnection,
        spec: &Value,
        _now: DateTime<Utc>,
    ) -> Result<(), String> {
        let cpr = subject(spec)?;
        let rows = store::health_card_orders(conn, &cpr)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|o| vec![("issuer", Some(o.issuer))])
            .collect();
        check_rows(spec, "health card orders", &["issuer"], rows)
    }
}

/// `item: { subject, municipality?, status?, count? }`: planned benefits and deductions.
pub(crate) struct Item;

#[async_trait]
impl Expectation for Item {
    async fn check(
        &self,
        conn: &DatabaseConnection,
        spec: &Value,
        _now: DateTime<Utc>,
    ) -> Result<(), String> {
        let cpr = subject(spec)?;
        let rows = store::items(conn, &cpr)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|i| {
                vec![
                    ("municipality", Some(i.municipality)),
                    ("status", Some(i.status)),
                    ("type", Some(i.item_type)),
                ]
            })
            .collect();
        check_rows(spec, "items", &["municipality", "status", "type"], rows)
    }
}

/// `case_event: { subject, kind, count? }`: events on the person's cases (R5).
pub(crate) struct CaseEvent;

#[async_trait]
impl Expectation for CaseEvent {
    async fn check(
        &self,
        conn: &DatabaseConnection,
        spec: &Value,
        _now: DateTime<Utc>,
    ) -> Result<(), String> {
        require_keys(spec, &["subject", "kind", "count"])?;
        let cpr = subject(spec)?;
        let mut found = 0;
        for case_id in store::case_ids(conn, &cpr)
            .await
            .map_err(|e| e.to_string())?
        {
            found += store::case_events(conn, case_id)
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .filter(|e| matches(spec, "kind", Some(&e.kind)))
                .count();
        }
        count_ok(found, spec, "case events")
    }
}
