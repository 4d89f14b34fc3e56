//! The engine's top-level modules depend on each other in one direction only: no module
//! reaches back into one that depends on it. A cycle makes every module in it changeable
//! only together (issue #17 found seven); this test names the first cycle a change brings.
//!
//! A dependency is a `crate::module` path outside comments and outside the module's own
//! `#[cfg(test)]` part (tests may reach anywhere).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level modules each module's sources name, by module.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("engine sources") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let relative = path.strip_prefix(&src).expect("under src");
            let top = relative
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .unwrap_or("")
                .trim_end_matches(".rs")
                .to_owned();
            let is_test_file = name.ends_with("_tests.rs") || name.ends_with("_props.rs");
            if !name.ends_with(".rs") || is_test_file || top == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable source");
            let named = deps.entry(top.clone()).or_default();
            for module in crate_paths(&text) {
                if module != top {
                    named.insert(module);
                }
            }
        }
    }
    deps
}

/// The modules `crate::module` paths name in `text` (also `crate::{a, b::c}`), but for
/// comments and the test part.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let code: String = code
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let module_at = |text: &str| -> String {
        text.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
            .collect()
    };
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The group's own items, split at its top-level commas.
            let mut depth = 0;
            let mut item_start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.insert(module_at(&group[item_start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(module_at(&group[item_start..i]));
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(module_at(rest));
        }
    }
    found.remove("");
    found
}

/// A path of modules that leads from `from` back to it, if there is one.
fn cycle_through(deps: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_owned()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().expect("a path is never empty");
        for next in deps.get(last).into_iter().flatten() {
            if next == from {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn no_engine_module_depends_on_one_that_depends_on_it() {
    let deps = dependencies();
    assert!(
        deps.contains_key("runtime") && deps["runtime"].contains("definition"),
        "the scan reads the engine's sources: {deps:?}"
    );
    for module in deps.keys() {
        if let Some(cycle) = cycle_through(&deps, module) {
            panic!(
                "a cycle of modules: {}; break it by moving what both need below both",
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn the_scan_finds_a_cycle_when_there_is_one() {
    let deps: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(m, d)| (m.to_owned(), d.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(
        cycle_through(&deps, "a"),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(cycle_through(&deps, "d"), None);
    assert_eq!(
        crate_paths("use crate::store; // crate::jobs\n#[cfg(test)]\nmod tests { crate::x }"),
        BTreeSet::from(["store".to_owned()])
    );
    assert_eq!(
        crate_paths("use crate::{\n    form::{A, B},\n    limits,\n};"),
        BTreeSet::from(["form".to_owned(), "limits".to_owned()])
    );
}
