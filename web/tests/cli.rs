//! The `forlob` command as a user runs it: exit codes, diagnostics, closing lines.

use std::process::{Command, Output};

fn forlob(args: &[&str]) -> Output {
    forlob_with(args, &[])
}

/// `forlob` with these environment variables set.
fn forlob_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_forlob"))
        .args(args)
        // A setting in the shell that runs the tests is not the tests' business.
        .env_remove("FORLOB_CPU_AFFINITY")
        .envs(env.iter().copied())
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("forlob runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn validate_prints_every_problem_and_exits_1() {
    let out = forlob(&[
        "validate",
        "tests/fixtures/invalid/unknown-target.yaml",
        "tests/fixtures/invalid/bad-wait.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("tests/fixtures/invalid/unknown-target.yaml:7:11: error[unknown-target]"),
        "{text}"
    );
    assert!(text.contains("  hint: did you mean `done`?"), "{text}");
    assert!(
        text.contains("bad-wait.yaml:5:3: error[bad-wait]"),
        "{text}"
    );
    assert!(text.contains("2 error(s) in 2 file(s)"), "{text}");
}

#[test]
fn validate_in_json_gives_the_apis_shape_and_one_file_may_call_the_packages_others() {
    let out = forlob(&[
        "validate",
        "--format",
        "json",
        "tests/fixtures/invalid/unknown-target.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let found: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(found["valid"], false);
    assert_eq!(
        found["diagnostics"][0],
        serde_json::json!({
            "path": "tests/fixtures/invalid/unknown-target.yaml", "line": 7, "column": 11,
            "code": "unknown-target", "message": found["diagnostics"][0]["message"],
            "hint": "did you mean `done`?",
            "explain": "a goto, next or initial names a state that does not exist",
        })
    );
    // One definition of the package: the process it calls is the package's, not missing.
    let one = forlob(&[
        "validate",
        "--format",
        "json",
        "processes/flytning/registrer-fraflytning.yaml",
    ]);
    assert_eq!(one.status.code(), Some(0), "{}", stdout(&one));
    let found: serde_json::Value = serde_json::from_str(&stdout(&one)).expect("JSON");
    assert_eq!(found["valid"], true);
    assert_eq!(found["processes"][0]["id"], "registrer-fraflytning");
    assert!(
        found["processes"][0]["diagram"]
            .as_str()
            .is_some_and(|d| d.starts_with("stateDiagram-v2"))
    );
}

#[test]
fn test_that_finds_no_scenario_says_so_and_fails() {
    let out = forlob(&["test", "tests/fixtures/invalid"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no scenario found in tests/fixtures/invalid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn validate_of_the_shipped_definitions_exits_0() {
    let out = forlob(&["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("definition(s) valid"));
}

#[test]
fn test_prints_a_line_per_scenario_and_the_closing_count() {
    let out = forlob(&["test", "engine/demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).trim_end().ends_with("1 passed, 0 failed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn schema_is_json_describing_states() {
    let out = forlob(&["schema"]);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(schema["properties"]["states"].is_object(), "{schema}");
    assert!(
        schema["required"]
            .as_array()
            .expect("required")
            .iter()
            .any(|r| r == "initial")
    );
}

#[test]
fn diagram_prints_mermaid_and_names_known_processes_on_a_typo() {
    let out = forlob(&["diagram", "demo-move-out"]);
    assert!(
        stdout(&out).starts_with("stateDiagram-v2\n    [*] --> register"),
        "{}",
        stdout(&out)
    );
    let typo = forlob(&["diagram", "demo-move"]);
    assert!(!typo.status.success());
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("known: demo-move-out"),
        "{:?}",
        typo
    );
}

#[test]
fn bench_prints_one_json_line_and_instances_lists_what_it_ran() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
    let out = forlob(&["bench", "--instances", "20", "--db", &url]);
    assert!(out.status.success(), "{out:?}");
    let figures: serde_json::Value =
        serde_json::from_str(stdout(&out).trim()).expect("one JSON line");
    for key in [
        "instances",
        "seconds",
        "instances_per_s",
        "transitions_per_s",
        "peak_rss_mb",
        "db",
    ] {
        assert!(figures.get(key).is_some(), "{key} missing in {figures}");
    }
    assert_eq!(figures["instances"], 20);
    let list = forlob(&["instances", "list", "--db", &url, "--status", "completed"]);
    assert!(
        stdout(&list).contains("20 instance(s)"),
        "{}",
        stdout(&list)
    );
    let id = stdout(&list)
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .expect("an id")
        .to_owned();
    let show = forlob(&["instances", "show", &id, "--db", &url]);
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).expect("JSON");
    assert_eq!(shown["instance"]["status"], "completed");
    assert!(shown["history"].as_array().expect("history").len() >= 4);
    let bad = forlob(&["instances", "list", "--db", &url, "--status", "sleeping"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown status `sleeping`"));
}

#[test]
fn jobs_are_scheduled_listed_run_and_logged_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("jobs.db").display());
    assert!(forlob(&["deploy", "--db", &db]).status.success());
    let made = forlob(&[
        "jobs",
        "--db",
        &db,
        "schedule",
        "maanedskoersel",
        "--cron",
        "0 5 * * 5#1",
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let text = stdout(&made);
    assert!(text.contains("added: Månedskørsel"), "{text}");
    assert!(
        text.contains("first firing: ") && text.contains(" Fri 05:00 "),
        "{text}"
    );
    let listed = stdout(&forlob(&["jobs", "--db", &db, "list"]));
    assert!(listed.contains("maanedskoersel"), "{listed}");
    assert!(listed.contains("cron 0 5 * * 5#1"), "{listed}");
    let refused = forlob(&[
        "jobs",
        "--db",
        &db,
        "schedule",
        "maanedskoersel",
        "--time",
        "25:00",
        "--days",
        "fri",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    let errors = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        errors.contains("start_time: `25:00` is not a time of day"),
        "{errors}"
    );
    let too_often = forlob(&[
        "jobs",
        "--db",
        &db,
        "schedule",
        "maanedskoersel",
        "--cron",
        "*/10 * * * * *",
    ]);
    assert_eq!(too_often.status.code(), Some(2));
    let errors = String::from_utf8_lossy(&too_often.stderr).into_owned();
    assert!(
        errors.contains("cron: fires 10 second(s) apart"),
        "{errors}"
    );
    let started = forlob(&["jobs", "--db", &db, "run-now", "maanedskoersel"]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let log = stdout(&forlob(&["jobs", "--db", &db, "log"]));
    assert!(
        log.contains("maanedskoersel") && log.contains("manual"),
        "{log}"
    );
}

#[test]
fn a_release_is_previewed_deployed_and_its_plan_checked_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("f.db").display());
    let v1 = dir.path().join("case.yaml");
    let text = "id: cli-case\ninitial: review\nstates:\n  review: { wait: { after: P1D }, next: done }\n  done: { end: true }\n";
    std::fs::write(&v1, text).expect("writes");
    let path = v1.to_string_lossy().into_owned();
    let out = forlob(&["deploy", &path, "--db", &db]);
    assert!(
        stdout(&out).contains("cli-case deployed as version 1"),
        "{}",
        stdout(&out)
    );

    std::fs::write(&v1, text.replace("P1D", "P2D")).expect("writes");
    let out = forlob(&["deploy", &path, "--db", &db, "--dry-run"]);
    let shown = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("cli-case v2: changed (follows cli-case v1)"),
        "{shown}"
    );
    assert!(
        shown.contains("-  review: { wait: { after: P1D }, next: done }"),
        "{shown}"
    );
    assert!(
        shown.contains("+  review: { wait: { after: P2D }, next: done }"),
        "{shown}"
    );
    assert!(shown.contains("nothing deployed"), "{shown}");
    let out = forlob(&["deploy", &path, "--db", &db]);
    assert!(
        stdout(&out).contains("cli-case deployed as version 2"),
        "{}",
        stdout(&out)
    );

    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        "migration: p\nprocess: cli-case\nstates:\n  review: { restart: nowhere }\n",
    )
    .expect("writes");
    let out = forlob(&["instances", "migrate", &plan.to_string_lossy(), "--db", &db]);
    assert_eq!(out.status.code(), Some(1));
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        errors.contains("plan.yaml:4:22: error[plan-unknown-state]"),
        "{errors}"
    );
    let out = forlob(&["instances", "restart", "cli-case", "--dry-run", "--db", &db]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("nothing is changed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn incidents_are_listed_and_an_unknown_one_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("f.db").display());
    let out = forlob(&["incidents", "--db", &db]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("no open incidents"),
        "{}",
        stdout(&out)
    );
    let out = forlob(&["incidents", "skip", "41", "--to", "done", "--db", &db]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("incident `41` not found"), "{said}");
    // A migration that does not exist cannot be abandoned either.
    let out = forlob(&["instances", "migrations", "7", "--abandon", "--db", &db]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("migration `7` not found"), "{said}");
    // A reason with nothing to give it to is refused, not dropped.
    let out = forlob(&["instances", "migrations", "7", "--reason", "x", "--db", &db]);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--undo") || said.contains("--abandon"),
        "{said}"
    );
}

/// The deployment's zone is checked before any command runs: a wrong one would move every
/// date, so it stops the command with the setting's name; the demo's action is known to
/// every build (a database that once ran `serve --demo` keeps its demo versions).
#[test]
fn a_wrong_zone_stops_every_command_and_the_demo_validates() {
    let out = Command::new(env!("CARGO_BIN_EXE_forlob"))
        .args(["validate", "engine/demo"])
        .env("FORLOB_TIMEZONE", "Mars/Olympus")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("forlob runs");
    assert_ne!(out.status.code(), Some(0));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("timezone `Mars/Olympus`"), "{said}");
    let out = forlob(&["validate", "engine/demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// Runs `forlob bench` with `args`, expects success, and returns its JSON line of figures.
fn bench_figures(args: &[&str]) -> serde_json::Value {
    figures_of(&forlob(&[&["bench"], args].concat()))
}

/// The one JSON line of figures a bench that succeeded printed last.
fn figures_of(out: &Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(out);
    serde_json::from_str(text.lines().last().unwrap_or_default()).expect("a JSON line")
}

#[test]
fn the_intake_bench_delivers_every_message_and_prints_one_line_of_figures() {
    let figures = bench_figures(&[
        "--workload",
        "intake",
        "--messages",
        "60",
        "--concurrency",
        "2",
    ]);
    assert_eq!(figures["workload"], "intake", "{figures}");
    assert_eq!(figures["messages"], 60, "{figures}");
    assert_eq!(figures["persons"], 120, "{figures}");
    assert_eq!(figures["concurrency"], 2, "{figures}");
    assert!(
        figures["messages_per_s"].as_f64().is_some_and(|n| n > 0.0)
            && figures["p50_ms"].as_f64() <= figures["p99_ms"].as_f64(),
        "{figures}"
    );
}

#[test]
fn the_daily_run_bench_carries_out_the_days_moves_and_checks_the_invariants() {
    let figures = bench_figures(&[
        "--workload",
        "daily-run",
        "--moves",
        "40",
        "--concurrency",
        "2",
    ]);
    assert_eq!(figures["workload"], "daily-run", "{figures}");
    assert_eq!(figures["messages"], 40, "{figures}");
    assert_eq!(figures["persons"], 80, "{figures}");
    assert_eq!(figures["invariants_ok"], true, "{figures}");
    // Repeats and a person's second move merge, so fewer items than messages, never none.
    assert!(
        figures["moves"]
            .as_u64()
            .is_some_and(|n| (1..=40).contains(&n))
            && figures["moves_per_s"].as_f64().is_some_and(|n| n > 0.0),
        "{figures}"
    );
}

#[test]
fn acks_are_refused_for_a_workload_that_would_not_write_them() {
    let out = forlob(&[
        "bench",
        "--workload",
        "intake",
        "--acks",
        "/tmp/unused-acks",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--acks is for the auto and human"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A field of a `/proc/.../status` file.
#[cfg(target_os = "linux")]
fn status_field(status: &str, name: &str) -> Option<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_owned())
}

/// Each thread of process `pid`: its name and the CPUs it may run on, as /proc lists them
/// ("0-1", "1").
#[cfg(target_os = "linux")]
fn threads_of(pid: u32) -> Vec<(String, String)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the server's threads")
        .filter_map(|entry| {
            let status = std::fs::read_to_string(entry.ok()?.path().join("status")).ok()?;
            Some((
                status_field(&status, "Name:")?,
                status_field(&status, "Cpus_allowed_list:")?,
            ))
        })
        .collect()
}

#[test]
#[cfg(target_os = "linux")]
fn on_sqlite_serve_keeps_every_thread_on_one_cpu_unless_the_setting_is_off() {
    use std::io::BufRead as _;
    let own = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| status_field(&s, "Cpus_allowed_list:"))
        .expect("this process's CPUs");
    if own.parse::<usize>().is_ok() {
        // One CPU allowed: pinned and spread look alike, so this would check nothing.
        eprintln!("skipped: this test may run on CPU {own} only");
        return;
    }
    for setting in ["auto", "off"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("f.db").display());
        let mut server = Command::new(env!("CARGO_BIN_EXE_forlob"))
            .args(["serve", "--db", &url, "--listen", "127.0.0.1:0"])
            .args(["--demo-persons", "0", "--demo-moves", "0"])
            .env("FORLOB_CPU_AFFINITY", setting)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("forlob serve starts");
        let stdout = server.stdout.take().expect("stdout");
        let running = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.starts_with("forlob is running"));
        // Read before it stops: the database's connection threads are there by now.
        let threads = threads_of(server.id());
        server.kill().expect("stops");
        server.wait().expect("stopped");
        assert!(running, "{setting}: the server did not start");
        let named = |prefix: &str| {
            threads
                .iter()
                .filter(|(n, _)| n.starts_with(prefix))
                .count()
        };
        assert!(
            named("sqlx-sqlite") >= 1,
            "{setting}: SQLite's connection threads: {threads:?}"
        );
        let cpus: Vec<&String> = threads.iter().map(|(_, cpus)| cpus).collect();
        if setting == "auto" {
            let first = cpus[0];
            assert!(
                first.parse::<usize>().is_ok() && cpus.iter().all(|c| *c == first),
                "auto on SQLite: every thread on one and the same CPU: {threads:?}"
            );
            // Pinned before the runtime started, so tokio sized its pool by one CPU.
            assert_eq!(named("tokio-rt-worker"), 1, "one worker: {threads:?}");
        } else {
            assert!(
                cpus.iter().all(|c| **c == own),
                "off: every thread may run where this test may ({own}): {threads:?}"
            );
            assert!(named("tokio-rt-worker") >= 2, "a worker a CPU: {threads:?}");
        }
    }
}

/// `forlob bench` of one `auto` instance with `FORLOB_CPU_AFFINITY` set to `setting`.
fn bench_with_affinity(setting: &str, extra: &[&str]) -> Output {
    let args = [&["bench", "--workload", "auto", "--instances", "1"], extra].concat();
    forlob_with(&args, &[("FORLOB_CPU_AFFINITY", setting)])
}

#[test]
#[cfg(target_os = "linux")]
fn the_bench_says_which_cpu_it_ran_on_and_follows_the_setting_and_its_flag() {
    let cpu = |out: &Output| figures_of(out)["cpu"].clone();
    assert!(
        cpu(&bench_with_affinity("auto", &[])).is_u64(),
        "auto on SQLite: one CPU"
    );
    assert!(
        cpu(&bench_with_affinity("off", &[])).is_null(),
        "the setting from the environment: spread"
    );
    assert!(
        cpu(&bench_with_affinity("off", &["--cpu-affinity", "auto"])).is_u64(),
        "the flag over the setting"
    );
}

#[test]
#[cfg(target_os = "linux")]
fn a_cpu_the_process_may_not_use_is_refused_before_anything_runs() {
    let out = bench_with_affinity("auto", &["--cpu-affinity", "4000"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cpu_affinity = 4000: this process may run only on CPU"),
        "{stderr}"
    );
    assert!(stdout(&out).is_empty(), "nothing ran: {}", stdout(&out));
}

#[test]
fn a_bad_cpu_affinity_setting_or_flag_is_refused_with_what_it_takes() {
    let out = bench_with_affinity("sometimes", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cpu_affinity `sometimes` is none of auto, off or a CPU number"),
        "{stderr}"
    );
    let out = forlob(&["bench", "--cpu-affinity", "some"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses a bad flag");
}
