//! Every scenario of the shipped packages, on SQLite and on PostgreSQL: the business rules
//! hold on both databases.

mod support;

use forlob_engine::definition::SourceFile;
use forlob_engine::registry::{OverviewSection, SubjectOverview};
use forlob_engine::runtime::InboundMessage;
use forlob_engine::store::{self, TaskFilter};
use forlob_engine::{Actor, EngineError, Registry, files, scenario};
use sea_orm::TransactionTrait;
use serde_json::{Map, Value, json};
use support::{Backend, TestApp, at};

fn registry() -> Registry {
    let mut registry = support::registry();
    forlob_processes::register(&mut registry);
    registry
}

fn definitions() -> Vec<SourceFile> {
    let mut all = forlob_engine::demo::definitions();
    all.extend(files::definition_files(&forlob_processes::processes_dir()).expect("definitions"));
    all
}

async fn every_package_scenario_passes(backend: Backend) {
    let scenarios = files::scenario_files(&forlob_processes::processes_dir()).expect("scenarios");
    assert!(
        scenarios.len() >= 19,
        "the rules have their scenarios: {}",
        scenarios.len()
    );
    let (definitions, registry) = (definitions(), registry());
    let mut failures = Vec::new();
    for file in &scenarios {
        let db = backend.fresh_db().await;
        let result = scenario::run_one_at(file, &definitions, &registry, &db.url).await;
        if let Some(why) = result.failure {
            failures.push(format!("{}: {why}", result.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

on_both_backends!(every_package_scenario_passes);

/// The KP 5.4 plan file shipped beside the package checks out against 5.3 and 5.4 as
/// deployed, and says exactly what "restart after release" works out by itself.
async fn the_go_live_plan_file_is_valid_and_matches_restart_after_release(backend: Backend) {
    let releases = forlob_processes::processes_dir().join("flytning/releases");
    let previous = std::fs::read_to_string(releases.join("kp-5.3/igangsaet-flytning-manuelt.yaml"))
        .expect("the 5.3 definition");
    let app = TestApp::builder(backend)
        .with_registry(forlob_processes::register)
        .with_process(&previous)
        .build()
        .await;
    app.engine
        .releases()
        .deploy(&definitions())
        .await
        .expect("5.4 deploys");
    let path = releases.join("kp-5.4.yaml");
    let file = SourceFile {
        path: path.display().to_string(),
        text: std::fs::read_to_string(&path).expect("the plan"),
    };
    let (request, positions) =
        forlob_engine::release::parse_plan(&file).unwrap_or_else(|d| panic!("{d:?}"));
    let plan = forlob_engine::release::resolve(&request, &app.engine.catalog())
        .unwrap_or_else(|e| panic!("{:#?}", positions.diagnostics(&e)));
    let restart = app
        .engine
        .releases()
        .restart_plan(&forlob_engine::runtime::RestartRequest {
            process: "igangsaet-flytning-manuelt".into(),
            ..Default::default()
        })
        .await
        .expect("restart plan");
    assert_eq!(
        (plan.process.as_str(), plan.to_version),
        ("registrer-fraflytning", 2)
    );
    assert_eq!(plan.from, restart.from);
    assert_eq!(plan.states, restart.states);
}

on_both_backends!(the_go_live_plan_file_is_valid_and_matches_restart_after_release);

#[test]
fn every_business_rule_has_a_scenario_named_after_it() {
    let scenarios = files::scenario_files(&forlob_processes::processes_dir()).expect("scenarios");
    let names: Vec<String> = scenarios
        .iter()
        .filter_map(|f| {
            std::path::Path::new(&f.path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .collect();
    let missing: Vec<String> = (1..=27)
        .map(|n| format!("r{n:02}_"))
        .filter(|prefix| !names.iter().any(|n| n.starts_with(prefix.as_str())))
        .collect();
    assert!(missing.is_empty(), "rules without a scenario: {missing:?}");
}

/// Loads the package's `persons` fixture, as a scenario's `given: persons` does.
async fn load_persons(app: &TestApp, persons: &Value) {
    let txn = app.engine.db().begin().await.expect("begin");
    app.engine
        .registry()
        .fixture("persons")
        .expect("the package loads persons")
        .load(&txn, persons, app.engine.clock().now())
        .await
        .expect("persons load");
    txn.commit().await.expect("commit");
}

fn section<'a>(overview: &'a SubjectOverview, heading: &str) -> &'a OverviewSection {
    overview
        .sections
        .iter()
        .find(|s| s.heading == heading)
        .unwrap_or_else(|| panic!("no section `{heading}` in {overview:#?}"))
}

fn fact<'a>(section: &'a OverviewSection, label: &str) -> &'a str {
    section
        .facts
        .iter()
        .find(|f| f.label == label)
        .map(|f| f.value.as_str())
        .unwrap_or_else(|| panic!("no fact `{label}` in {section:#?}"))
}

fn rows(section: &OverviewSection) -> Vec<Vec<&str>> {
    let table = section.table.as_ref().expect("the section has a table");
    table
        .rows
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect()
}

/// The Danish register is searched by name ignoring case, also for Danish capitals on SQLite
/// (whose `lower()` knows only ASCII), and a caseworker finds only whom they may see.
async fn danish_persons_are_found_by_name_within_what_the_viewer_may_see(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_registry(forlob_processes::register)
        .build()
        .await;
    let persons = json!([
        { "cpr": "0101501234", "name": "Åse Østergaard", "birth_date": "1950-01-01", "residence": 101 },
        { "cpr": "0202602345", "name": "Jens Østergaard", "birth_date": "1960-02-02", "residence": 147 },
        { "cpr": "0303703456", "name": "Maja Hansen", "birth_date": "1970-03-03", "residence": 101 },
        { "cpr": "0404804567", "name": "Ole Handleby", "birth_date": "1980-04-04", "residence": 147, "handlekommune": 101 },
    ]);
    load_persons(&app, &persons).await;
    // The packages' municipality lists name the codes the pages show.
    let registry = app.engine.registry();
    assert_eq!(registry.municipality_label("101"), Some("101 København"));
    assert_eq!(registry.municipality_label("2281"), Some("2281 Sundsvall"));
    assert_eq!(registry.municipality_label("9999"), None);
    // Sorted here: where Å sorts depends on the database's collation.
    let names = |found: forlob_engine::runtime::SubjectSearch| -> Vec<String> {
        let mut names: Vec<String> = found.hits.into_iter().map(|h| h.name).collect();
        names.sort();
        names
    };
    for query in [
        "østergaard",
        "Østergaard",
        "ØSTERGAARD",
        "stergaard",
        "gaard øster",
    ] {
        let all = app
            .engine
            .queries()
            .find_subjects("person", query, &Actor::system(), 10)
            .await
            .expect("search");
        assert_eq!(names(all), ["Jens Østergaard", "Åse Østergaard"], "{query}");
    }
    let mine = app
        .engine
        .queries()
        .find_subjects("person", "østergaard", &Actor::caseworker("cw", "101"), 10)
        .await
        .expect("search");
    assert_eq!(
        mine.hits[0].birth_date.map(|d| d.to_string()).as_deref(),
        Some("1950-01-01")
    );
    assert_eq!(names(mine), ["Åse Østergaard"]);
    // Two words, each matched on its own and ignoring case, Danish capitals too.
    let both = app
        .engine
        .queries()
        .find_subjects("person", "åse østergaard", &Actor::system(), 10)
        .await
        .expect("search");
    assert_eq!(names(both), ["Åse Østergaard"]);
    // A caseworker's search looks only where they may look: 147 finds its own Østergaard,
    // and `narrow` counts only what 147 may see.
    let theirs = app
        .engine
        .queries()
        .find_subjects("person", "gaard", &Actor::caseworker("cw", "147"), 1)
        .await
        .expect("search");
    assert_eq!(
        (names(theirs.clone()), theirs.narrow),
        (vec!["Jens Østergaard".to_owned()], false)
    );
    // Fifteen namesakes in 147 come first by name; 101's own is still found, and nothing
    // tells 101 that more exist elsewhere (a search of everyone, cut to its first hits,
    // would find none of 101's).
    let namesakes: Vec<Value> = (0..15)
        .map(|n| json!({ "cpr": format!("05058{n:05}"), "name": format!("Aage Skov {n:02}"), "birth_date": "1950-05-05", "residence": 147 }))
        .chain(std::iter::once(json!({ "cpr": "0606601234", "name": "Øjvind Skov", "birth_date": "1960-06-06", "residence": 101 })))
        .collect();
    load_persons(&app, &Value::Array(namesakes)).await;
    let own = app
        .engine
        .queries()
        .find_subjects("person", "skov", &Actor::caseworker("cw", "101"), 10)
        .await
        .expect("search");
    assert_eq!(
        (names(own.clone()), own.narrow),
        (vec!["Øjvind Skov".to_owned()], false)
    );
    let many = app
        .engine
        .queries()
        .find_subjects("person", "skov", &Actor::caseworker("cw", "147"), 10)
        .await
        .expect("search");
    assert_eq!((many.hits.len(), many.narrow), (10, true));
    // The package's own reach is searched in SQL: 101 acts for Ole, who lives in 147, and
    // finds him by name; so does 147, where he lives; 851 does not.
    for (municipality, found) in [("101", true), ("147", true), ("851", false)] {
        let ole = app
            .engine
            .queries()
            .find_subjects(
                "person",
                "handleby",
                &Actor::caseworker("cw", municipality),
                10,
            )
            .await
            .expect("search");
        assert_eq!(ole.hits.len() == 1, found, "{municipality}");
    }
    let wildcard = app
        .engine
        .queries()
        .find_subjects("person", "%%", &Actor::system(), 10)
        .await
        .expect("search");
    assert!(
        wildcard.hits.is_empty(),
        "LIKE's wildcards are searched as themselves"
    );
    let limited = app
        .engine
        .queries()
        .find_subjects("person", "gaard", &Actor::system(), 1)
        .await
        .expect("search");
    assert!(limited.narrow && limited.hits.len() == 1);
}

/// A caseworker's view of a person through the whole story: a manual registration for another
/// municipality (R12) that takes over on the next run and stops the old one's items (R4, R5),
/// then a move during the manual period that waits for it to end (R13, R15).
async fn person_overview_shows_handlekommune_manual_registration_and_cases(backend: Backend) {
    let mut builder = TestApp::builder(backend).with_registry(forlob_processes::register);
    for file in files::definition_files(&forlob_processes::processes_dir()).expect("definitions") {
        builder = builder.with_process(&file.text);
    }
    let app = builder.build().await;
    let cpr = "0101501234";
    let persons = json!([{
        "cpr": cpr, "name": "Anna Hansen", "birth_date": "1950-01-01", "residence": 101,
        "cpr_subscription": true, "under_administration": true,
        "institution": { "from": "2024-01-01" },
        "payments": [
            { "kind": "personligt-tillaeg", "amount": 1000, "due": "2025-06-20" },
            { "kind": "husleje-traek", "amount": 250.5, "due": "2025-06-20" },
        ],
    }]);
    load_persons(&app, &persons).await;

    let caseworker = Actor::caseworker("cw101", "101");
    app.engine
        .commands()
        .start_instance("bestem-handlekommune-manuelt", cpr, Map::new(), &caseworker)
        .await
        .expect("101 holds handleansvar and may register");
    let filter = TaskFilter {
        status: Some(forlob_engine::instance::TaskStatus::Open),
        subject: Some(cpr.into()),
        ..TaskFilter::default()
    };
    let tasks = store::tasks(app.engine.db(), &filter).await.expect("tasks");
    let task = tasks
        .iter()
        .find(|t| t.state == "registrering")
        .expect("the registration task is open");
    // With no manual registration yet, "Handling" offers only to create one.
    let task_form = app
        .engine
        .queries()
        .task_form(task.id, &caseworker)
        .await
        .expect("the form");
    let handling = &task_form.form.fields[0];
    let offered: Vec<String> =
        forlob_engine::form::Form::offered(handling, app.engine.registry(), &task_form.scope)
            .into_iter()
            .map(|c| c.label)
            .collect();
    assert_eq!(offered, ["Opret en manuel registrering"]);
    let form: Map<String, Value> = [
        ("handling", json!("opret")),
        ("kommune", json!("147")),
        ("fra", json!("2025-06-02")),
        ("til", json!("2025-12-31")),
        ("aarsag", json!("rsl-9-stk-3")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    app.engine
        .commands()
        .complete_task(task.id, &form, &caseworker)
        .await
        .expect("registers 147");

    // Before the run: 101 still holds it, and 147 is next.
    let overview = app
        .engine
        .queries()
        .subject_file("person", cpr, &forlob_engine::Actor::system())
        .await
        .expect("overview")
        .overview;
    assert_eq!(overview.title, "Anna Hansen (010150-1234)");
    // Tenancy: the residence municipality and the one registered to act (147) see her;
    // an unrelated municipality does not even learn that she exists.
    for (municipality, visible) in [("101", true), ("147", true), ("851", false)] {
        let seen = app
            .engine
            .queries()
            .subject_file("person", cpr, &Actor::caseworker("cw", municipality))
            .await;
        assert_eq!(seen.is_ok(), visible, "{municipality}: {seen:?}");
        if let Err(e) = seen {
            assert_eq!(e.status(), 404);
        }
    }
    let person = section(&overview, "Person");
    assert_eq!(fact(person, "Navn"), "Anna Hansen");
    assert_eq!(fact(person, "CPR-nummer"), "010150-1234");
    assert_eq!(fact(person, "Fødselsdato"), "1950-01-01");
    assert_eq!(fact(person, "Status"), "01 (aktiv, bopæl i Danmark)");
    assert_eq!(fact(person, "Bopælskommune"), "101 København");
    assert_eq!(fact(person, "CPR-abonnement"), "fra 2000-01-01");
    assert_eq!(fact(person, "Under administration"), "Ja");
    assert_eq!(fact(person, "Institutionsophold"), "fra 2024-01-01");
    let handlekommune = section(&overview, "Handlekommune");
    assert_eq!(
        fact(handlekommune, "Nuværende handlekommune"),
        "101 København fra 2000-01-01"
    );
    assert_eq!(
        fact(handlekommune, "Næste handlekommune"),
        "147 Frederiksberg fra 2025-06-03 (manuel registrering)"
    );
    let manual = section(&overview, "Manuel handlekommune");
    assert_eq!(fact(manual, "Kommune"), "147 Frederiksberg");
    assert_eq!(
        fact(manual, "Status"),
        "Afventer overdragelse ved næste kørsel"
    );
    assert_eq!(fact(manual, "Registreret af"), "101 København (cw101)");

    // The run gives 147 handleansvar and stops 101's items; then a move is reported.
    app.engine
        .jobs()
        .advance_to(at("2025-06-03T04:01:00+02:00"))
        .await
        .expect("the run");
    let message = InboundMessage {
        message_id: "m1".into(),
        message_type: "cpr.flytning".into(),
        data: json!({ "message_id": "m1", "cpr": cpr, "move_date": "2025-07-01", "from": 101, "to": 751 }),
    };
    app.engine
        .commands()
        .deliver(&message)
        .await
        .expect("accepted");

    let overview = app
        .engine
        .queries()
        .subject_file("person", cpr, &forlob_engine::Actor::system())
        .await
        .expect("overview")
        .overview;
    let handlekommune = section(&overview, "Handlekommune");
    assert_eq!(
        fact(handlekommune, "Nuværende handlekommune"),
        "147 Frederiksberg fra 2025-06-03"
    );
    assert_eq!(
        fact(handlekommune, "Næste handlekommune"),
        "751 Aarhus fra 2026-01-01 (manuel registrering udløber)",
        "the move waits for the manual period (R13, R15)"
    );
    let table = handlekommune.table.as_ref().expect("periods");
    assert_eq!(table.columns, ["Kommune", "Fra", "Til", "Grundlag"]);
    assert_eq!(
        rows(handlekommune),
        [
            ["147 Frederiksberg", "2025-06-03", "", "Manuel registrering"],
            [
                "101 København",
                "2000-01-01",
                "2025-06-02",
                "Startregistrering"
            ],
        ]
    );
    let manual = section(&overview, "Manuel handlekommune");
    assert_eq!(fact(manual, "Kommune"), "147 Frederiksberg");
    assert_eq!(fact(manual, "Fra"), "2025-06-02");
    assert_eq!(fact(manual, "Til"), "2025-12-31");
    assert_eq!(
        fact(manual, "Årsag"),
        "§ 9, stk. 3-4: ophold i boform, anbringelse"
    );
    assert_eq!(fact(manual, "Status"), "Aktiv");
    let cases = section(&overview, "Sager med ydelser og træk");
    let table = cases.table.as_ref().expect("cases");
    assert_eq!(
        table.columns,
        ["Sag", "Kommune", "Type", "Beløb", "Forfald", "Status"]
    );
    let found = rows(cases);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0][0].starts_with("Pension, personligt-tillaeg (sag "));
    assert_eq!(
        found[0][1..],
        [
            "101 København",
            "Ydelse (personligt-tillaeg)",
            "1.000,00 kr.",
            "2025-06-20",
            "Stoppet"
        ]
    );
    assert_eq!(
        found[1][1..],
        [
            "101 København",
            "Træk (husleje-traek)",
            "250,50 kr.",
            "2025-06-20",
            "Stoppet"
        ]
    );
    let events = section(&overview, "Hændelser på sager");
    let found = rows(events);
    assert_eq!(found.len(), 2, "one R5 event per stopped case: {found:?}");
    assert_eq!(
        found[0][1..],
        [
            "Mulige udeståender beregnet",
            "101 København",
            "1",
            "1.000,00 kr.",
            "2025-06-03"
        ]
    );
    let moves = section(&overview, "Planlagte flytninger");
    assert_eq!(
        rows(moves),
        [["2025-07-01", "101 København", "751 Aarhus", "2025-07-01"]]
    );

    let unknown = app
        .engine
        .queries()
        .subject_file("person", "0202029999", &forlob_engine::Actor::system())
        .await;
    assert!(
        matches!(unknown, Err(EngineError::NotFound { .. })),
        "{unknown:?}"
    );
}

on_both_backends!(person_overview_shows_handlekommune_manual_registration_and_cases);
on_both_backends!(danish_persons_are_found_by_name_within_what_the_viewer_may_see);

/// An admin cancels a move's instance while the move waits for its run: the move is cancelled
/// with it (the package's cancel hook, in the same transaction), so the run on its date does
/// not meet it; a move that was carried out stays carried out.
async fn cancelling_a_move_cancels_the_move_it_planned(backend: Backend) {
    let mut builder = TestApp::builder(backend).with_registry(forlob_processes::register);
    for file in files::definition_files(&forlob_processes::processes_dir()).expect("definitions") {
        builder = builder.with_process(&file.text);
    }
    let app = builder.build().await;
    let persons = json!([
        { "cpr": "0101500001", "name": "Cancelled Move", "birth_date": "1950-01-01", "residence": 101, "cpr_subscription": true },
        { "cpr": "0101500002", "name": "Kept Move", "birth_date": "1950-01-01", "residence": 101, "cpr_subscription": true },
    ]);
    load_persons(&app, &persons).await;
    for (id, cpr) in [("m1", "0101500001"), ("m2", "0101500002")] {
        let message = InboundMessage {
            message_id: id.into(),
            message_type: "cpr.flytning".into(),
            data: json!({ "message_id": id, "cpr": cpr, "move_date": "2025-07-01", "from": 101, "to": 147 }),
        };
        app.engine
            .commands()
            .deliver(&message)
            .await
            .expect("accepted");
    }
    let moves = store::instances(
        app.engine.db(),
        &store::InstanceFilter {
            process_id: Some("registrer-fraflytning".into()),
            ..store::InstanceFilter::default()
        },
    )
    .await
    .expect("instances");
    let cancelled = moves
        .iter()
        .find(|i| i.subject == "0101500001")
        .expect("the first move");
    let admin = Actor {
        id: "ops-anna".into(),
        municipality: None,
        role: forlob_engine::Role::Admin.into(),
        via: forlob_engine::Via::Api,
    };
    app.engine
        .operations()
        .cancel_instance(cancelled.id, &admin, "the citizen stays")
        .await
        .expect("cancels");
    assert_eq!(move_status(&app, "0101500001").await, "cancelled");
    assert_eq!(move_status(&app, "0101500002").await, "planned");

    app.engine
        .jobs()
        .advance_to(at("2025-07-01T05:00:00+02:00"))
        .await
        .expect("the run");
    assert_eq!(move_status(&app, "0101500001").await, "cancelled");
    assert_eq!(move_status(&app, "0101500002").await, "effected");
    let overview = |cpr: &'static str| {
        let engine = &app.engine;
        async move {
            let overview = engine
                .queries()
                .subject_file("person", cpr, &Actor::system())
                .await
                .expect("overview")
                .overview;
            fact(
                section(&overview, "Handlekommune"),
                "Nuværende handlekommune",
            )
            .to_owned()
        }
    };
    assert!(overview("0101500001").await.starts_with("101 "));
    assert!(overview("0101500002").await.starts_with("147 "));
}

async fn move_status(app: &TestApp, cpr: &str) -> String {
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.engine.db();
    let sql = format!("SELECT status FROM dk_moves WHERE cpr = '{cpr}' ORDER BY id DESC");
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("a move");
    row.try_get_by_index::<String>(0).expect("status")
}

on_both_backends!(cancelling_a_move_cancels_the_move_it_planned);

/// The Swedish jobs over a simulated register of 3,000 persons: the out-of-municipality
/// update touches only persons folkbokförda elsewhere, avisering then applies what it deferred,
/// and the search data find persons by name and personnummer.
async fn the_swedish_jobs_work_through_a_simulated_register(backend: Backend) {
    use forlob_engine::jobs::{LogbookFilter, RunStatus};
    use forlob_engine::runtime::RunRequest;
    use forlob_processes::folkbokforing::{DEFAULT_KOMMUN, search, simulate, store as se};

    let mut builder = TestApp::builder(backend).with_registry(forlob_processes::register);
    for file in files::definition_files(&forlob_processes::processes_dir()).expect("definitions") {
        builder = builder.with_process(&file.text);
    }
    let app = builder.build().await;
    let now = app.engine.clock().now();
    let persons = simulate::population(DEFAULT_KOMMUN, 3_000, 11, now.date_naive());
    let loaded = simulate::store(app.engine.db(), &persons, now - chrono::Duration::days(30))
        .await
        .expect("loads");
    assert_eq!(loaded.persons, 3_000);
    assert!(
        loaded.differing > 100,
        "the registers differ: {}",
        loaded.differing
    );
    let admin = Actor {
        id: "admin".into(),
        role: forlob_engine::Role::Admin.into(),
        municipality: None,
        via: forlob_engine::Via::Api,
    };
    let run = |process: &'static str| {
        let engine = &app.engine;
        let admin = admin.clone();
        async move {
            let run = engine
                .jobs()
                .run_job_now(
                    &RunRequest {
                        process: Some(process.into()),
                        confirmed: true,
                        ..RunRequest::default()
                    },
                    &admin,
                )
                .await
                .expect("starts");
            engine.jobs().run_due().await.expect("works");
            let (run, _) = engine.jobs().job_run(run.id, 0).await.expect("run");
            assert_eq!(run.status, RunStatus::Succeeded, "{process}: {run:?}");
            run
        }
    };
    let update = run("uppdatering-utomkommunala-personer").await;
    let outside = simulate::out_of_municipality(&persons, DEFAULT_KOMMUN) as i64;
    assert_eq!(update.progress_total, Some(outside));
    assert_eq!(update.progress_done, outside, "every chunk done");
    let count = |name: &str| update.counts.get(name).and_then(Value::as_i64).unwrap_or(0);
    assert_eq!(
        count("requested") + count("deferred") + count("excluded"),
        outside
    );
    assert!(
        count("deferred") > 0 && count("updated") > 0,
        "{:?}",
        update.counts
    );
    // A resident of the municipality whose record differs is not this job's business.
    let resident = persons
        .iter()
        .find(|p| {
            p.kommun == DEFAULT_KOMMUN && p.register.as_ref().is_some_and(|r| r.kommun != p.kommun)
        })
        .expect("a resident who moved away");
    let local = se::local_person(app.engine.db(), &resident.personnummer)
        .await
        .expect("reads")
        .expect("there");
    assert_eq!(local.kommun, DEFAULT_KOMMUN);
    let avisering = run("avisering").await;
    let asked = avisering
        .counts
        .get("requested")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    assert!(
        asked >= count("deferred"),
        "the deferred ones are applied: {:?}",
        avisering.counts
    );
    let local = se::local_person(app.engine.db(), &resident.personnummer)
        .await
        .expect("reads")
        .expect("there");
    assert_ne!(
        local.kommun, DEFAULT_KOMMUN,
        "avisering applied the notified move"
    );
    run("soka-personbearbetning").await;
    let first = &persons[0];
    let by_name = search::find(app.engine.db(), DEFAULT_KOMMUN, &first.name[..3], 500)
        .await
        .expect("searches");
    assert!(by_name.iter().any(|h| h.personnummer == first.personnummer));
    let by_pnr = search::find(
        app.engine.db(),
        DEFAULT_KOMMUN,
        &first.personnummer[..10],
        50,
    )
    .await
    .expect("searches");
    assert!(by_pnr.iter().any(|h| h.personnummer == first.personnummer));
    assert!(
        search::find(app.engine.db(), "0180", &first.name[..3], 50)
            .await
            .expect("searches")
            .is_empty(),
        "another municipality's register is not searched"
    );
    let logbook = app
        .engine
        .jobs()
        .logbook(&LogbookFilter {
            limit: 10,
            ..LogbookFilter::default()
        })
        .await
        .expect("logbook");
    assert_eq!(logbook.len(), 3);
}

on_both_backends!(the_swedish_jobs_work_through_a_simulated_register);
