//! Who may see a subject: the one answer the API, the pages, hand starts and the command line
//! all use. A caseworker sees a subject that concerns their municipality (the package says
//! which do) or that their municipality has a task about; nobody can make a subject visible
//! by starting something, because a hand start asks this first (see `start_instance`).

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;

use super::Engine;
use crate::error::{EngineError, Result};
use crate::instance::Actor;
use crate::store;

impl Engine {
    /// Whether `actor` may see subject `id` of `kind` at `now`:
    /// - admins and the system see every subject;
    /// - a caseworker sees one whose package names their municipality among those it
    ///   concerns (for a person: where they live, who acts for them, who has a case), or
    ///   about which their municipality has a task of a process about this kind of subject,
    ///   open or closed less than `visibility_grace` ago;
    /// - everyone else (designers, integrations, auditors) sees none.
    ///
    /// The same queries run whether the subject exists or not, so that neither the answer
    /// nor its timing tells a missing subject from one the actor may not see.
    pub(crate) async fn may_see(
        &self,
        conn: &DatabaseTransaction,
        kind: &str,
        id: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        if actor.sees_all() {
            return Ok(true);
        }
        let Some(municipality) = actor
            .municipality
            .as_deref()
            .filter(|_| actor.is_caseworker())
        else {
            return Ok(false);
        };
        let processes = self.processes_about(kind);
        let grace = chrono::Duration::from_std(self.options.visibility_grace)
            .unwrap_or(chrono::Duration::MAX);
        let since = now
            .checked_sub_signed(grace)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let by_task = store::task_grants_sight(conn, municipality, id, &processes, since).await?;
        let by_package = match self.registry.subject_provider(kind) {
            Some(provider) => provider
                .municipalities(conn, id)
                .await
                .map_err(|e| {
                    tracing::error!(subject = id, kind, error = %e, "visibility check failed");
                    EngineError::SubjectUnavailable {
                        kind: kind.to_owned(),
                    }
                })?
                .iter()
                .any(|m| m == municipality),
            None => false,
        };
        Ok(by_task || by_package)
    }

    /// Ids (current and former) of the deployed processes whose subject is of `kind`: only
    /// their tasks make a subject of that kind visible, so a task about a job run or a demo
    /// subject that happens to share an id with a person shows nothing of the person.
    pub(super) fn processes_about(&self, kind: &str) -> Vec<String> {
        let catalog = self.catalog();
        let mut ids: Vec<String> = catalog
            .all()
            .into_iter()
            .filter(|(_, def)| def.subject_kind == kind)
            .flat_map(|(_, def)| std::iter::once(def.id.clone()).chain(def.replaces.clone()))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}
