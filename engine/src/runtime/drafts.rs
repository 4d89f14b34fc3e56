//! Drafts of process definitions, checked and tried before anyone deploys them: validated
//! against what is deployed (a draft may call a deployed process), and its scenarios run on a
//! throw-away in-memory database with the manual clock. Nothing here touches the engine's
//! own database.

use super::Engine;
use crate::definition::{self, Diagnostic, SourceFile};
use crate::error::Result;
use crate::scenario::{self, ScenarioResult};

/// What a draft's validation found.
#[derive(Debug, Clone)]
pub struct DraftCheck {
    pub valid: bool,
    /// Every problem at its file, line and column; empty when valid.
    pub diagnostics: Vec<Diagnostic>,
    /// The draft's processes with their diagrams (Mermaid); empty when it is not valid.
    pub processes: Vec<DraftProcess>,
}

#[derive(Debug, Clone)]
pub struct DraftProcess {
    pub id: String,
    pub title: String,
    /// The state machine as a Mermaid `stateDiagram-v2`.
    pub diagram: String,
}

/// A draft tried against scenarios.
#[derive(Debug, Clone)]
pub struct DraftTest {
    pub check: DraftCheck,
    /// One result per scenario, in the order sent; none when the draft is not valid.
    pub results: Vec<ScenarioResult>,
}

impl Engine {
    /// Validates `files` as one release would be: references to other processes resolve
    /// against these files and what is deployed.
    pub async fn check_draft(&self, files: &[SourceFile]) -> Result<DraftCheck> {
        self.refresh_catalog().await?;
        Ok(self.checked(files).0)
    }

    fn checked(&self, files: &[SourceFile]) -> (DraftCheck, Vec<String>) {
        check_files(files, &self.registry, &self.catalog().known_ids())
    }

    /// Runs `scenarios` against the deployed processes with `files` in place of the versions
    /// they replace, each on its own in-memory database. The files a scenario's steps name
    /// (a previous release, a plan) must be among `files` or `scenarios`, by path.
    pub async fn test_draft(
        &self,
        files: &[SourceFile],
        scenarios: &[SourceFile],
    ) -> Result<DraftTest> {
        self.refresh_catalog().await?;
        let (check, ids) = self.checked(files);
        if !check.valid {
            return Ok(DraftTest {
                check,
                results: Vec::new(),
            });
        }
        // The release as it would be: every deployed process, the draft's in place of its own.
        let mut release: Vec<SourceFile> = self
            .catalog()
            .latest_all()
            .into_iter()
            .filter(|(_, def)| !ids.contains(&def.id))
            .map(|(version, def)| SourceFile {
                path: format!("deployed/{}.v{version}.yaml", def.id),
                text: def.source.clone(),
            })
            .collect();
        release.extend(files.iter().cloned());
        let sent: Vec<SourceFile> = files.iter().chain(scenarios).cloned().collect();
        let mut results = Vec::with_capacity(scenarios.len());
        for file in scenarios {
            results.push(scenario::run_sent(file, &release, &self.registry, &sent).await);
        }
        Ok(DraftTest { check, results })
    }
}

/// Validates `files` as one release: references to other processes resolve against these
/// files and `known` (what is deployed, or the package's other files); the draft's process
/// ids beside the check.
pub fn check_files(
    files: &[SourceFile],
    registry: &crate::Registry,
    known: &[String],
) -> (DraftCheck, Vec<String>) {
    match definition::load_set_with(files, registry, known) {
        Ok(defs) => {
            let ids = defs.iter().map(|d| d.id.clone()).collect();
            let processes = defs
                .iter()
                .map(|d| DraftProcess {
                    id: d.id.clone(),
                    title: d.title.clone(),
                    diagram: d.mermaid(),
                })
                .collect();
            let check = DraftCheck {
                valid: true,
                diagnostics: Vec::new(),
                processes,
            };
            (check, ids)
        }
        Err(diagnostics) => (
            DraftCheck {
                valid: false,
                diagnostics,
                processes: Vec::new(),
            },
            Vec::new(),
        ),
    }
}
