//! Finding definition and scenario files on disk.

use std::path::{Path, PathBuf};

use crate::definition::SourceFile;

/// YAML files under `root` (or `root` itself), sorted, scenario files excluded or only.
fn yaml_files(root: &Path, scenarios: bool) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if root.is_file() {
        out.push(root.to_path_buf());
        return Ok(out);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) && is_scenario(&path) == scenarios
                && !is_release_material(&path)
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A package's `releases/` folder keeps what belongs to releases rather than to the current
/// definitions: definitions of earlier releases (for go-live scenarios) and migration plans.
/// Neither is deployed with the package.
fn is_release_material(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "releases")
}

/// Scenario files live in a `scenarios/` folder.
fn is_scenario(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "scenarios")
}

fn read_all(paths: Vec<PathBuf>) -> Result<Vec<SourceFile>, String> {
    paths
        .into_iter()
        .map(|p| {
            std::fs::read_to_string(&p)
                .map(|text| SourceFile {
                    path: p.display().to_string(),
                    text,
                })
                .map_err(|e| format!("{}: {e}", p.display()))
        })
        .collect()
}

/// Process definition files under `root`.
pub fn definition_files(root: &Path) -> Result<Vec<SourceFile>, String> {
    let paths = yaml_files(root, false).map_err(|e| format!("{}: {e}", root.display()))?;
    read_all(paths)
}

/// Scenario files under `root`; a file named directly counts as a scenario.
pub fn scenario_files(root: &Path) -> Result<Vec<SourceFile>, String> {
    let paths = if root.is_file() {
        vec![root.to_path_buf()]
    } else {
        yaml_files(root, true).map_err(|e| format!("{}: {e}", root.display()))?
    };
    read_all(paths)
}
