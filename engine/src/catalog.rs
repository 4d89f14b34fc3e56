//! The deployed definitions, every version, in memory. Replaced whole on deploy (the
//! engine's `deploy`, in `runtime/deploy.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::ConnectionTrait;

use crate::definition::{self, ProcessDefinition, SourceFile};
use crate::error::{DefinitionError, Result};
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
    pub(crate) async fn load<C: ConnectionTrait>(conn: &C, registry: &Registry) -> Result<Self> {
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
