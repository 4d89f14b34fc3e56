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
        let files: Vec<SourceFile> = stored
            .iter()
            .map(|d| SourceFile {
                path: format!("<deployed {} v{}>", d.process_id, d.version),
                text: d.source.clone(),
            })
            .collect();
        let mut catalog = Self::default();
        // Each stored version validates on its own: versions of one process must not be
        // checked against each other as duplicates.
        for (file, row) in files.iter().zip(&stored) {
            let def = definition::load_set(std::slice::from_ref(file), registry)
                .or_else(|diags| {
                    // A version may refer to processes deployed in other rows.
                    let mut set = vec![file.clone()];
                    set.extend(files.iter().filter(|f| f.path != file.path).cloned());
                    definition::load_set(&set, registry).map_err(|_| diags)
                })
                .map_err(DefinitionError)?
                .into_iter()
                .find(|d| d.id == row.process_id)
                .ok_or_else(|| EngineError::not_found("definition", &row.process_id))?;
            catalog.insert(def, row.version);
        }
        Ok(catalog)
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

    /// The id a start for `id` goes to: itself, or the process that replaced it.
    pub fn resolve_id<'a>(&'a self, id: &'a str) -> &'a str {
        if self.latest.contains_key(id) {
            id
        } else {
            self.aliases.get(id).map_or(id, String::as_str)
        }
    }

    /// The newest version of a process (or of the one replacing it).
    pub fn latest(&self, id: &str) -> Option<(i32, Arc<ProcessDefinition>)> {
        let id = self.resolve_id(id);
        let version = *self.latest.get(id)?;
        self.versions
            .get(&(id.to_owned(), version))
            .map(|d| (version, d.clone()))
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

    /// The newest version of every process.
    pub fn latest_all(&self) -> Vec<(i32, Arc<ProcessDefinition>)> {
        let mut ids: Vec<&String> = self.latest.keys().collect();
        ids.sort();
        ids.into_iter().filter_map(|id| self.latest(id)).collect()
    }
}

impl Engine {
    /// Validates all files together and stores a new version of each changed definition, in
    /// one transaction: either every changed definition is deployed, or none is.
    pub async fn deploy(&self, files: &[SourceFile]) -> Result<Vec<DeployOutcome>> {
        // Validate against what is already deployed too, so a follow-up process deployed
        // earlier satisfies a reference.
        let catalog = self.catalog();
        let mut set: Vec<SourceFile> = files.to_vec();
        for (_, def) in catalog.latest_all() {
            let id = def.id.clone();
            let replaced = files.iter().any(|f| {
                definition::load_set(std::slice::from_ref(f), &self.registry)
                    .is_ok_and(|ds| ds.iter().any(|d| d.id == id))
            });
            if !replaced {
                set.push(SourceFile {
                    path: format!("<deployed {id}>"),
                    text: def.source.clone(),
                });
            }
        }
        let defs = definition::load_set(&set, &self.registry).map_err(DefinitionError)?;
        let now = self.clock.now();
        let txn = self.begin_write().await?;
        let mut outcomes = Vec::new();
        for def in defs.iter().take(files.len()) {
            let current = catalog.latest(&def.id).filter(|(_, d)| d.id == def.id);
            let outcome = match current {
                Some((version, existing)) if existing.hash == def.hash => DeployOutcome {
                    process_id: def.id.clone(),
                    version,
                    changed: false,
                },
                current => {
                    let next = current.map_or(1, |(v, _)| v + 1);
                    let version = def
                        .version
                        .map_or(next, |v| i32::try_from(v).unwrap_or(next).max(next));
                    store::insert_definition(&txn, def, version, now).await?;
                    DeployOutcome {
                        process_id: def.id.clone(),
                        version,
                        changed: true,
                    }
                }
            };
            outcomes.push(outcome);
        }
        txn.commit().await?;
        let catalog = Catalog::load(&self.db, &self.registry).await?;
        self.set_catalog(catalog);
        Ok(outcomes)
    }

    /// Deploys every `*.yaml` definition file under `dir` (scenario files are skipped).
    pub async fn deploy_dir(&self, dir: &std::path::Path) -> Result<Vec<DeployOutcome>> {
        let files = crate::files::definition_files(dir)
            .map_err(|e| EngineError::not_found("directory", e))?;
        if files.is_empty() {
            return Ok(Vec::new());
        }
        self.deploy(&files).await
    }
}
