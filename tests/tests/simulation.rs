//! A simulated month of moves for 10,000 persons, on each backend: the invariants of the
//! domain hold at the end (one acting municipality or none after a move abroad, no payment by
//! a municipality without handleansvar, one municipality per follow-up task, nothing twice for
//! a repeated message).

mod support;

use std::sync::Arc;

use chrono::NaiveDate;
use forlob_engine::store::{self, TaskFilter};
use forlob_engine::{Engine, EngineOptions, ManualClock, files};
use forlob_processes::flytning::simulate;
use support::Backend;

async fn a_simulated_month_keeps_the_invariants(backend: Backend) {
    let db = backend.fresh_db().await;
    let mut registry = support::registry();
    forlob_processes::register(&mut registry);
    let start = NaiveDate::from_ymd_opt(2025, 6, 2).expect("date");
    let clock = Arc::new(ManualClock::new(
        start.and_hms_opt(0, 30, 0).expect("time").and_utc(),
    ));
    let engine = Engine::start(&db.url, registry, clock, EngineOptions::default())
        .await
        .expect("starts");
    engine
        .releases()
        .deploy(&files::definition_files(&forlob_processes::processes_dir()).expect("definitions"))
        .await
        .expect("deploys");
    simulate::load_population(engine.db(), 0, 10_000, 3, start, |_| {})
        .await
        .expect("population");
    let mut stream = simulate::MoveStream::new(10_000, 3);
    let mut totals = (0, 0);
    simulate::simulate_days(&engine, &mut stream, start, 30, 120, |day| {
        totals.0 += day.accepted;
        totals.1 += day.duplicates;
    })
    .await
    .expect("a month runs");
    assert!(
        totals.0 > 3_000 && totals.1 > 20,
        "the month had moves and repeats: {totals:?}"
    );

    let broken = simulate::check_invariants(engine.db())
        .await
        .expect("checks");
    assert!(broken.is_empty(), "{broken:?}");
    // A repeated message adds no event: one move-planned event per recorded move.
    let planned_events = count(
        &engine,
        "SELECT COUNT(*) FROM events WHERE kind = 'fraflytning-planlagt'",
    )
    .await;
    let moves = count(&engine, "SELECT COUNT(*) FROM dk_moves").await;
    assert_eq!(planned_events, moves);
    let effected_events = count(
        &engine,
        "SELECT COUNT(*) FROM events WHERE kind = 'flytning-effektueret'",
    )
    .await;
    let effected = count(
        &engine,
        "SELECT COUNT(*) FROM dk_moves WHERE status = 'effected'",
    )
    .await;
    assert_eq!(effected_events, effected);

    let tasks = store::tasks(
        engine.db(),
        &TaskFilter {
            limit: Some(1_000_000),
            ..TaskFilter::default()
        },
    )
    .await
    .expect("tasks");
    assert!(
        tasks.iter().any(|t| t.kind == "okonomiske-udestaaender"),
        "the month produced follow-ups"
    );
    assert!(
        tasks.iter().all(|t| t.municipality.is_some()),
        "each follow-up belongs to a municipality"
    );
    let incidents = store::incidents(engine.db(), true)
        .await
        .expect("incidents");
    assert!(incidents.is_empty(), "{incidents:?}");
    let monthly = store::instances(
        engine.db(),
        &store::InstanceFilter {
            process_id: Some("maanedskoersel".into()),
            ..Default::default()
        },
    )
    .await
    .expect("instances");
    assert_eq!(
        monthly.len(),
        1,
        "the first Friday of June had its monthly run"
    );
}

async fn count(engine: &Engine, sql: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = engine.db();
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("row");
    row.try_get_by_index::<i64>(0).expect("count")
}

on_both_backends!(a_simulated_month_keeps_the_invariants);
