//! Every validation code has a fixture in tests/fixtures/invalid whose first lines say which
//! diagnostics it must produce (`# expect: LINE:COL CODE`); the test asserts exactly those.

use std::path::Path;

use forlob_engine::Registry;
use forlob_engine::definition::{CODES, SourceFile, load_set};

fn fixtures() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).expect("readable"),
            )
        })
        .collect()
}

fn expected(text: &str) -> Vec<(u64, u64, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|e| {
            let (pos, code) = e.split_once(' ').expect("`LINE:COL CODE`");
            let (line, col) = pos.split_once(':').expect("LINE:COL");
            (
                line.parse().expect("line"),
                col.parse().expect("col"),
                code.trim().to_owned(),
            )
        })
        .collect()
}

#[test]
fn each_fixture_reports_exactly_its_diagnostics_at_their_line_and_column() {
    let registry = forlob_engine::demo::registry();
    let mut failures = Vec::new();
    for (name, text) in fixtures() {
        let want = expected(&text);
        assert!(!want.is_empty(), "{name} has no `# expect:` line");
        let file = SourceFile {
            path: name.clone(),
            text,
        };
        let got: Vec<(u64, u64, String)> = match load_set(&[file], &registry) {
            Ok(_) => Vec::new(),
            Err(diags) => diags
                .iter()
                .map(|d| (d.line, d.column, d.code.to_owned()))
                .collect(),
        };
        if got != want {
            failures.push(format!("{name}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_code_has_a_fixture() {
    let covered: Vec<String> = fixtures()
        .iter()
        .flat_map(|(_, t)| expected(t))
        .map(|(_, _, c)| c)
        .collect();
    let missing: Vec<&str> = CODES
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| *c != "duplicate-process" && !covered.iter().any(|k| k == c))
        .collect();
    assert!(missing.is_empty(), "codes without a fixture: {missing:?}");
}

#[test]
fn two_files_with_one_process_id_are_refused() {
    let file = |path: &str| SourceFile {
        path: path.into(),
        text: "id: same\ninitial: a\nstates:\n  a: { end: true }\n".into(),
    };
    let diags = load_set(
        &[file("one.yaml"), file("two.yaml")],
        &forlob_engine::demo::registry(),
    )
    .expect_err("refused");
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code, "duplicate-process");
    assert_eq!(diags[0].file, "two.yaml");
    assert!(diags[0].message.contains("one.yaml"));
}

#[test]
fn diagnostics_print_as_path_line_col_code_message_and_hint() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/invalid/unknown-target.yaml"),
    )
    .expect("fixture");
    let diags = load_set(
        &[SourceFile {
            path: "lost.yaml".into(),
            text,
        }],
        &forlob_engine::demo::registry(),
    )
    .expect_err("refused");
    assert_eq!(
        diags[0].to_string(),
        "lost.yaml:7:11: error[unknown-target]: state `a` leads to `dne`, which does not exist\n  hint: did you mean `done`?"
    );
}

#[test]
fn the_shipped_definitions_validate() {
    let mut files = forlob_engine::demo::definitions();
    files.extend(
        forlob_engine::files::definition_files(&forlob_processes::processes_dir())
            .expect("processes folder"),
    );
    let mut registry = forlob_engine::demo::registry();
    forlob_processes::register(&mut registry);
    if let Err(diags) = load_set(&files, &registry) {
        panic!(
            "{}",
            diags
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// A definition that names no zone runs in the deployment's (`timezone`, set on the registry
/// by the binary); one that names its zone keeps it; the engine itself assumes none (UTC).
#[test]
fn a_definition_without_a_zone_takes_the_deployments() {
    let text = |zone: &str| SourceFile {
        path: "zoned.yaml".into(),
        text: format!("id: zoned\n{zone}initial: a\nstates:\n  a: {{ end: true }}\n"),
    };
    let zone_of = |file: SourceFile, registry: &Registry| {
        load_set(&[file], registry).expect("valid")[0].timezone
    };
    let mut stockholm = Registry::new();
    stockholm.set_default_timezone(chrono_tz::Europe::Stockholm);
    assert_eq!(zone_of(text(""), &stockholm), chrono_tz::Europe::Stockholm);
    assert_eq!(
        zone_of(text("timezone: Europe/Copenhagen\n"), &stockholm),
        chrono_tz::Europe::Copenhagen
    );
    assert_eq!(
        zone_of(text(""), &forlob_engine::demo::registry()),
        chrono_tz::UTC
    );
}

/// The engine's registry has no demo in it: a build that wants the demo processes registers
/// their action (the binary does, for databases that once ran `serve --demo`).
#[test]
fn the_demo_is_registered_only_by_those_who_ask_for_it() {
    let refused = load_set(&forlob_engine::demo::definitions(), &Registry::new())
        .expect_err("the demo action is unknown");
    assert!(
        refused.iter().any(|d| d.code == "unknown-action"),
        "{refused:?}"
    );
    assert!(
        load_set(
            &forlob_engine::demo::definitions(),
            &forlob_engine::demo::registry()
        )
        .is_ok()
    );
}
