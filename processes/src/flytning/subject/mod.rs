//! The `person` subject: `subject.*` for processes about a person (what the simulated CPR and
//! KP know of them), and the overview a Danish caseworker reads on the person's page and beside
//! a task: who they are, their handlekommune now and next, the manual registration, their
//! cases with ydelser and træk, and the moves not yet carried out.

mod overview;

use async_trait::async_trait;
use forlob_engine::ActionError;
use forlob_engine::registry::{NameScope, SubjectHit, SubjectOverview, SubjectProvider};
use sea_orm::DatabaseTransaction;
use serde_json::{Value, json};

use super::store;
use overview::Record;

pub(crate) struct Persons;

#[async_trait]
impl SubjectProvider for Persons {
    async fn load(
        &self,
        conn: &DatabaseTransaction,
        id: &str,
    ) -> Result<Option<Value>, ActionError> {
        let Some(person) = store::person(conn, id).await? else {
            return Ok(None);
        };
        let handlekommune = store::handlekommune(conn, id)
            .await?
            .map(|h| h.municipality);
        let manual = store::current_manual(conn, id).await?.map(|m| {
            json!({
                "id": m.id,
                "municipality": m.municipality,
                "from": m.from_date.to_string(),
                "to": m.to_date.map(|d| d.to_string()),
                "reason": m.reason,
                "registrant": m.registrant,
                "state": m.state,
            })
        });
        Ok(Some(json!({
            "name": person.name,
            "birth_date": person.birth_date.to_string(),
            "status": person.status,
            "residence": person.residence,
            "handlekommune": handlekommune,
            "subscription_from": person.subscription_from.map(|d| d.to_string()),
            "subscription_to": person.subscription_to.map(|d| d.to_string()),
            "health_card": person.health_card,
            "under_administration": person.under_administration,
            "bopaelssamling": person.bopaelssamling,
            "manual": manual,
        })))
    }

    async fn find_by_name(
        &self,
        conn: &DatabaseTransaction,
        text: &str,
        scope: &NameScope,
        limit: u64,
    ) -> Result<Vec<SubjectHit>, ActionError> {
        Ok(store::persons_named(conn, text, scope, limit)
            .await?
            .into_iter()
            .map(|p| SubjectHit {
                id: p.cpr,
                name: p.name,
                birth_date: Some(p.birth_date),
            })
            .collect())
    }

    /// Where they live, who acts for them now or by a manual registration, who has a case
    /// about them, and where a planned move takes them (the receiving municipality prepares).
    /// Every query runs whether the person exists or not, so that the time the answer takes
    /// does not tell who exists (the engine answers both alike).
    async fn municipalities(
        &self,
        conn: &DatabaseTransaction,
        id: &str,
    ) -> Result<Vec<String>, ActionError> {
        let person = store::person(conn, id).await?;
        let mut found: Vec<String> = person.and_then(|p| p.residence).into_iter().collect();
        found.extend(
            store::handlekommune(conn, id)
                .await?
                .map(|h| h.municipality),
        );
        found.extend(
            store::open_manuals(conn, id)
                .await?
                .into_iter()
                .map(|m| m.municipality),
        );
        found.extend(
            store::cases(conn, id)
                .await?
                .into_iter()
                .map(|c| c.municipality),
        );
        for planned in store::planned_moves(conn, id).await? {
            found.extend(planned.from_municipality);
            found.extend(planned.to_municipality);
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    async fn overview(
        &self,
        conn: &DatabaseTransaction,
        id: &str,
    ) -> Result<Option<SubjectOverview>, ActionError> {
        let Some(record) = Record::load(conn, id).await? else {
            return Ok(None);
        };
        Ok(Some(record.overview()))
    }
}
