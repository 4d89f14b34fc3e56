//! Impact analysis of a release before it is deployed: for each definition that would get a
//! new version, the diff against the version it follows and the in-flight instances of its
//! lineage per version and state, with their open tasks and timers, and which of those states
//! the new version no longer has.

use super::facades::Releases;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::definition::{self, SourceFile};
use crate::error::{DefinitionError, Result};
use crate::store::releases as rel;

/// In-flight instances of one version and state.
#[derive(Debug, Clone, Serialize)]
pub struct ImpactGroup {
    pub process_id: String,
    pub version: i32,
    pub state: String,
    pub instances: u64,
    pub open_tasks: u64,
    pub timers: u64,
    /// The new version has a state of this name.
    pub in_new_version: bool,
}

/// What deploying one definition would change.
#[derive(Debug, Clone, Serialize)]
pub struct DefinitionImpact {
    pub process_id: String,
    /// The version it would get; the current one when unchanged.
    pub version: i32,
    pub changed: bool,
    /// `process vN` it follows (its own newest, or the process it replaces).
    pub follows: Option<(String, i32)>,
    /// Unified diff of the YAML source against the version it follows.
    pub diff: String,
    /// The states added, removed and changed against the version it follows.
    pub states: Vec<crate::release::StateChange>,
    pub in_flight: Vec<ImpactGroup>,
    /// States in-flight instances wait in that the new version does not have: a restart or a
    /// migration plan must say where they go.
    pub lost_states: Vec<String>,
}

impl Releases<'_> {
    /// What deploying `files` would change, without writing anything. Invalid files are the
    /// same refusal as a deploy's.
    pub async fn impact(self, files: &[SourceFile]) -> Result<Vec<DefinitionImpact>> {
        self.engine.refresh_catalog().await?;
        let catalog = self.engine.catalog();
        let defs = definition::load_set_with(files, &self.engine.registry, &catalog.known_ids())
            .map_err(DefinitionError)?;
        let mut impacts = Vec::new();
        for def in &defs {
            let placed = catalog.placement(def);
            let diff = match (&placed.follows, placed.changed) {
                (Some((v, old)), true) => similar::TextDiff::from_lines(&old.source, &def.source)
                    .unified_diff()
                    .context_radius(3)
                    .header(
                        &format!("{} v{v}", old.id),
                        &format!("{} v{}", def.id, placed.version),
                    )
                    .to_string(),
                _ => String::new(),
            };
            let states = match (&placed.follows, placed.changed) {
                (Some((_, old)), true) => crate::release::state_changes(old, def, &catalog),
                (None, _) => def
                    .states
                    .iter()
                    .map(|(id, _)| crate::release::StateChange {
                        state: id.clone(),
                        change: crate::release::StateChangeKind::Added,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let mut lineage = catalog.lineage(&def.id);
            for former in &def.replaces {
                if !lineage.contains(former) {
                    lineage.push(former.clone());
                }
            }
            let [instances, tasks, timers] = rel::in_flight(&self.engine.db, &lineage).await?;
            let mut groups: BTreeMap<(String, i32, String), ImpactGroup> = BTreeMap::new();
            for (row, column) in instances
                .into_iter()
                .map(|r| (r, 0))
                .chain(tasks.into_iter().map(|r| (r, 1)))
                .chain(timers.into_iter().map(|r| (r, 2)))
            {
                let group = groups
                    .entry((row.process_id.clone(), row.version, row.state.clone()))
                    .or_insert_with(|| ImpactGroup {
                        in_new_version: def.state(&row.state).is_some(),
                        process_id: row.process_id,
                        version: row.version,
                        state: row.state,
                        instances: 0,
                        open_tasks: 0,
                        timers: 0,
                    });
                let n = u64::try_from(row.n).unwrap_or(0);
                match column {
                    0 => group.instances = n,
                    1 => group.open_tasks = n,
                    _ => group.timers = n,
                }
            }
            let in_flight: Vec<ImpactGroup> = groups.into_values().collect();
            let mut lost_states: Vec<String> = in_flight
                .iter()
                .filter(|g| !g.in_new_version)
                .map(|g| g.state.clone())
                .collect();
            lost_states.dedup();
            impacts.push(DefinitionImpact {
                process_id: def.id.clone(),
                version: placed.version,
                changed: placed.changed,
                follows: placed.follows.map(|(v, d)| (d.id.clone(), v)),
                diff,
                states,
                in_flight,
                lost_states,
            });
        }
        Ok(impacts)
    }
}
