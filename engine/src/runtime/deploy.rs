//! Deploying definitions: validated together, stored as new versions, loaded into the
//! [`Catalog`].

use super::Engine;
use super::facades::Releases;
use crate::catalog::{Catalog, DeployOutcome};
use crate::definition::{self, SourceFile};
use crate::error::{DefinitionError, EngineError, Result};
use crate::store;

impl Engine {
    /// [`Releases::deploy_by`] with more said in its audit entry (`detail`), and, for a draft's
    /// deploy, draft `draft` marked deployed in the same transaction (a 409 when it was
    /// deployed meanwhile; then nothing is).
    pub(crate) async fn deploy_recorded(
        &self,
        files: &[SourceFile],
        actor: &crate::instance::Actor,
        detail: serde_json::Map<String, serde_json::Value>,
        draft: Option<i64>,
    ) -> Result<Vec<DeployOutcome>> {
        // A refusal read from a group commit's batch (the draft deployed meanwhile) stands
        // only once that batch committed.
        super::committer::settled(self.deploy_in_turn(files, actor, detail, draft)).await
    }

    async fn deploy_in_turn(
        &self,
        files: &[SourceFile],
        actor: &crate::instance::Actor,
        mut detail: serde_json::Map<String, serde_json::Value>,
        draft: Option<i64>,
    ) -> Result<Vec<DeployOutcome>> {
        // A follow-up process deployed earlier satisfies a reference of these files; another
        // node may have deployed meanwhile, and versions are numbered after its.
        self.refresh_catalog().await?;
        let catalog = self.catalog();
        let defs = definition::load_set_with(files, &self.registry, &catalog.known_ids())
            .map_err(DefinitionError)?;
        let now = self.clock.now();
        let txn = self.begin_write().await?;
        let raced =
            |what: String| -> EngineError { crate::error::TransitionError::Raced(what).into() };
        // The draft first: a second admin deploying it at the same moment waits here for the
        // first's row lock and then finds it deployed.
        if let Some(draft) = draft
            && !crate::store::drafts::mark_deployed(&txn, draft, &actor.id, "", now).await?
        {
            return Err(raced(format!("draft {draft} was deployed meanwhile")));
        }
        let mut outcomes = Vec::new();
        for def in &defs {
            let placed = catalog.placement(def);
            if placed.changed {
                // Another node deployed a version of it since this one read the catalog: the
                // version number is taken, and this deploy would be of a stale picture.
                if let Err(e) = store::insert_definition(&txn, def, placed.version, now).await {
                    return Err(match e.sql_err() {
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => raced(format!(
                            "`{}` v{} was deployed meanwhile; compare again",
                            def.id, placed.version
                        )),
                        _ => e.into(),
                    });
                }
                if placed.first {
                    self.install_default_schedule(&txn, def, now).await?;
                }
            }
            outcomes.push(DeployOutcome {
                process_id: def.id.clone(),
                version: placed.version,
                changed: placed.changed,
            });
        }
        let changed: Vec<_> = outcomes
            .iter()
            .filter(|o| o.changed)
            .map(|o| serde_json::json!({ "process": o.process_id, "version": o.version }))
            .collect();
        if let Some(draft) = draft {
            let versions = outcomes
                .iter()
                .map(|o| format!("{} v{}", o.process_id, o.version))
                .collect::<Vec<_>>()
                .join(", ");
            crate::store::drafts::set_deployed_versions(&txn, draft, &versions).await?;
        }
        if changed.is_empty() && draft.is_none() {
            self.commit(txn).await?;
        } else {
            detail.insert("deployed".into(), serde_json::Value::Array(changed));
            let record = crate::audit::AuditRecord::new(crate::audit::AuditAction::Deploy)
                .detail(serde_json::Value::Object(detail));
            let record = match draft {
                Some(draft) => record.target(draft),
                None => record,
            };
            self.commit_recorded(txn, actor, record).await?;
        }
        let catalog = Catalog::load(&self.db, &self.registry).await?;
        self.set_catalog(catalog);
        Ok(outcomes)
    }
}

impl Releases<'_> {
    /// Validates all files together and stores a new version of each changed definition, in
    /// one transaction: either every changed definition is deployed, or none is. The engine
    /// itself deploys (a node's start); see [`Releases::deploy_by`] for a person.
    pub async fn deploy(self, files: &[SourceFile]) -> Result<Vec<DeployOutcome>> {
        self.deploy_by(files, &crate::instance::Actor::system())
            .await
    }

    /// [`Releases::deploy`] by `actor`: a deploy that changes anything is recorded in the audit
    /// log, in its transaction, with the versions it stored.
    #[tracing::instrument(skip_all, fields(files = files.len(), actor = %actor.id))]
    pub async fn deploy_by(
        self,
        files: &[SourceFile],
        actor: &crate::instance::Actor,
    ) -> Result<Vec<DeployOutcome>> {
        self.engine
            .deploy_recorded(files, actor, serde_json::Map::new(), None)
            .await
    }
}
