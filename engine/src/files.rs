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

/// One of the packages' own scenario files.
#[derive(Debug, Clone)]
pub struct ShippedScenario {
    /// Its `scenario:` line.
    pub name: String,
    /// Path relative to the packages' folder (`flytning/scenarios/r10_….yaml`), and text.
    pub file: SourceFile,
}

/// The scenario files under `root` (the packages' folder), paths relative to it; of the
/// packages that define one of `processes` when given (none when no package does). A file
/// whose `scenario:` line cannot be read is listed under its path: running it says why.
pub fn shipped_scenarios(
    root: &Path,
    processes: Option<&[&str]>,
) -> Result<Vec<ShippedScenario>, String> {
    #[derive(serde::Deserialize)]
    struct Named {
        #[serde(default)]
        id: String,
        #[serde(default)]
        scenario: String,
    }
    let named = |text: &str| {
        serde_saphyr::from_str::<Named>(text).unwrap_or(Named {
            id: String::new(),
            scenario: String::new(),
        })
    };
    let mut packages = Vec::new();
    for entry in std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))? {
        let dir = entry.map_err(|e| e.to_string())?.path();
        if !dir.join("scenarios").is_dir() {
            continue;
        }
        let wanted = match processes {
            None => true,
            Some(ids) => definition_files(&dir)?
                .iter()
                .any(|f| ids.contains(&named(&f.text).id.as_str())),
        };
        if wanted {
            packages.push(dir);
        }
    }
    packages.sort();
    let mut out = Vec::new();
    for dir in packages {
        for file in scenario_files(&dir.join("scenarios"))? {
            let path = Path::new(&file.path)
                .strip_prefix(root)
                .map_err(|e| e.to_string())?
                .display()
                .to_string();
            let name = named(&file.text).scenario;
            out.push(ShippedScenario {
                name: if name.is_empty() { path.clone() } else { name },
                file: SourceFile {
                    path,
                    text: file.text,
                },
            });
        }
    }
    Ok(out)
}
