//! The deployed definitions, every version, in memory. Replaced whole on deploy.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::ConnectionTrait;

use super::Engine;
use crate::definition::{self, ProcessDefinition, SourceFile};
use crate::error::{DefinitionError, EngineError, Result};
use crate::registry::Registry;
use crate::store;

#[derive(Default)]
pub struct Catalog {
    versions: HashMap<(String, i32), Arc<ProcessDefinition>>,
    latest: HashMap<String, i32>,
    /// Former ids (`replaces`) to the id that replaced them.
    aliases: HashMap<String, String>,
    /// The newest `definitions` row loaded; a larger one in the store means a reload.
    max_row_id: i64,
}

/// Where a definition goes if it is deployed now.
pub struct Placement {
    /// Its version: the newest one when unchanged, else the next number.
    pub version: i32,
    /// False when the content equals the newest version of its id.
    pub changed: bool,
    /// No version of its own id is deployed yet.
    pub first: bool,
    /// The version it follows: its own newest, or for the first version of a renamed process
    /// the newest of the process it replaces.
    pub follows: Option<(i32, Arc<ProcessDefinition>)>,
}

/// What deploying one definition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployOutcome {
    pub process_id: String,
    pub version: i32,
    /// False when the content equals the latest version, which is then kept as it is.
    pub changed: bool,
}

impl Catalog {
    pub(super) async fn load<C: ConnectionTrait>(conn: &C, registry: &Registry) -> Result<Self> {
        let stored = store::definitions(conn).await?;
        // Every stored id and the ids they replace: a version may name any of them.
        let mut known: Vec<String> = stored.iter().map(|d| d.process_id.clone()).collect();
        known.extend(stored.iter().flat_map(|d| d.replaces.iter().cloned()));
        let mut catalog = Self::default();
        // Each version validates on its own: versions of one process are not duplicates.
        for row in &stored {
            let file = SourceFile {
                path: format!("<deployed {} v{}>", row.process_id, row.version),
                text: row.source.clone(),
            };
            let def = definition::load_set_with(std::slice::from_ref(&file), registry, &known)
                .map_err(DefinitionError)?
                .remove(0);
            catalog.insert(def, row.version);
            catalog.max_row_id = catalog.max_row_id.max(row.row_id);
        }
        Ok(catalog)
    }

    pub fn max_row_id(&self) -> i64 {
        self.max_row_id
    }

    /// Ids of every deployed process and of those they replace.
    pub fn known_ids(&self) -> Vec<String> {
        self.latest
            .keys()
            .chain(self.aliases.keys())
            .cloned()
            .collect()
    }

    fn insert(&mut self, def: ProcessDefinition, version: i32) {
        for former in &def.replaces {
            self.aliases.insert(former.clone(), def.id.clone());
        }
        let latest = self.latest.entry(def.id.clone()).or_insert(version);
        *latest = (*latest).max(version);
        self.versions
            .insert((def.id.clone(), version), Arc::new(def));
    }

    /// The id a start for `id` goes to: the process that replaced it, or itself. A replaced
    /// process is retired: its instances keep running on it, but nothing new starts on it.
    pub fn resolve_id<'a>(&'a self, id: &'a str) -> &'a str {
        // A process renamed twice (A → B → C, C replacing only B) still resolves A to C;
        // the bound guards against a cycle of `replaces`.
        let mut current = id;
        for _ in 0..16 {
            match self.aliases.get(current) {
                Some(next) if next != current => current = next,
                _ => break,
            }
        }
        current
    }

    /// Whether a deployed process replaces `id`.
    pub fn is_retired(&self, id: &str) -> bool {
        self.aliases.contains_key(id)
    }

    /// The ids whose instances belong to `id`'s lineage: itself and every id it replaced,
    /// transitively (a process renamed twice keeps both former ids).
    pub fn lineage(&self, id: &str) -> Vec<String> {
        let id = self.resolve_id(id);
        let mut ids = vec![id.to_owned()];
        let mut i = 0;
        while i < ids.len() {
            let current = ids[i].clone();
            for (former, target) in &self.aliases {
                if *target == current && !ids.contains(former) {
                    ids.push(former.clone());
                }
            }
            i += 1;
        }
        ids
    }

    /// The newest version of a process (or of the one replacing it).
    pub fn latest(&self, id: &str) -> Option<(i32, Arc<ProcessDefinition>)> {
        let id = self.resolve_id(id);
        let version = *self.latest.get(id)?;
        self.versions
            .get(&(id.to_owned(), version))
            .map(|d| (version, d.clone()))
    }

    /// Where `def` goes if deployed now; one rule for deploys and their previews.
    pub fn placement(&self, def: &ProcessDefinition) -> Placement {
        let own = self
            .version_of(&def.id)
            .and_then(|v| Some((v, self.version(&def.id, v)?)));
        if let Some((version, existing)) = &own
            && existing.hash == def.hash
        {
            return Placement {
                version: *version,
                changed: false,
                first: false,
                follows: own,
            };
        }
        // A renamed process goes on from its predecessor's numbering, so its history reads
        // "v1 of the old name, v2 of the new".
        let follows = own.clone().or_else(|| {
            def.replaces
                .iter()
                .filter_map(|former| Some((self.version_of(former)?, former)))
                .max()
                .and_then(|(v, former)| Some((v, self.version(former, v)?)))
        });
        let next = follows.as_ref().map_or(1, |(v, _)| v + 1);
        Placement {
            version: def
                .version
                .map_or(next, |v| i32::try_from(v).unwrap_or(next).max(next)),
            changed: true,
            first: own.is_none(),
            follows,
        }
    }

    /// The newest version deployed under exactly this id (a retired id included).
    pub fn version_of(&self, id: &str) -> Option<i32> {
        self.latest.get(id).copied()
    }

    pub fn version(&self, id: &str, version: i32) -> Option<Arc<ProcessDefinition>> {
        self.versions.get(&(id.to_owned(), version)).cloned()
    }

    /// Every deployed version, process by process.
    pub fn all(&self) -> Vec<(i32, Arc<ProcessDefinition>)> {
        let mut all: Vec<_> = self
            .versions
            .iter()
            .map(|((_, v), d)| (*v, d.clone()))
            .collect();
        all.sort_by(|a, b| a.1.id.cmp(&b.1.id).then(a.0.cmp(&b.0)));
        all
    }

    /// The newest version of every process that is not retired.
    pub fn latest_all(&self) -> Vec<(i32, Arc<ProcessDefinition>)> {
        let mut ids: Vec<&String> = self
            .latest
            .keys()
            .filter(|id| !self.is_retired(id))
            .collect();
        ids.sort();
        ids.into_iter().filter_map(|id| self.latest(id)).collect()
    }
}

impl Engine {
    /// Validates all files together and stores a new version of each changed definition, in
    /// one transaction: either every changed definition is deployed, or none is. The engine
    /// itself deploys (a node's start); see [`Engine::deploy_by`] for a person.
    pub async fn deploy(&self, files: &[SourceFile]) -> Result<Vec<DeployOutcome>> {
        self.deploy_by(files, &crate::instance::Actor::system())
            .await
    }

    /// [`Engine::deploy`] by `actor`: a deploy that changes anything is recorded in the audit
    /// log, in its transaction, with the versions it stored.
    #[tracing::instrument(skip_all, fields(files = files.len(), actor = %actor.id))]
    pub async fn deploy_by(
        &self,
        files: &[SourceFile],
        actor: &crate::instance::Actor,
    ) -> Result<Vec<DeployOutcome>> {
        self.deploy_recorded(files, actor, serde_json::Map::new(), None)
            .await
    }

    /// [`Engine::deploy_by`] with more said in its audit entry (`detail`), and, for a draft's
    /// deploy, draft `draft` marked deployed in the same transaction (a 409 when it was
    /// deployed meanwhile; then nothing is).
    pub(super) async fn deploy_recorded(
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
        let (_turn, txn) = self.begin_write().await?;
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
