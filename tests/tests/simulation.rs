//! A simulated month of moves for 10,000 persons, on each backend: the invariants of the
//! domain hold at the end (one acting municipality or none after a move abroad, no payment by
//! a municipality without handleansvar, one municipality per follow-up task, nothing twice for
//! a repeated message), and a daily run whose moves fill its chunks exactly carries out
//! every one of them (R1).

mod support;

use std::sync::Arc;

use chrono::NaiveDate;
use forlob_engine::store::{self, TaskFilter};
use forlob_engine::{Engine, EngineOptions, ManualClock, files};
use forlob_processes::flytning::simulate;
use support::Backend;

async fn a_simulated_month_keeps_the_invariants(backend: Backend) {
    let start = NaiveDate::from_ymd_opt(2025, 6, 2).expect("date");
    let (_db, engine) = flytning_engine(backend, start.and_hms_opt(0, 30, 0).expect("time")).await;
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

/// R1 at the edge of the daily run's chunks (50 items each, `flytning.daily_run`): 100
/// moves due on one run, one a person, fill two chunks exactly, so the run goes on with a third
/// that finds nothing left, and every move is carried out once and counted once.
async fn a_run_whose_moves_fill_its_chunks_exactly_carries_out_every_move(backend: Backend) {
    const MOVES: usize = 100;
    let run_day = NaiveDate::from_ymd_opt(2025, 6, 3).expect("date");
    let day_before = run_day.pred_opt().expect("date");
    let (_db, engine) =
        flytning_engine(backend, day_before.and_hms_opt(9, 0, 0).expect("time")).await;
    simulate::load_population(engine.db(), 0, 1_000, 5, day_before, |_| {})
        .await
        .expect("population");
    // One move a person, all dated for the run's day: none supersedes or repeats another.
    let mut seen = std::collections::HashSet::new();
    let messages: Vec<_> = simulate::MoveStream::new(1_000, 5)
        .day(day_before, 1_000)
        .into_iter()
        .filter(|m| seen.insert(m.data["cpr"].clone()))
        .take(MOVES)
        .map(|mut m| {
            m.data["move_date"] = serde_json::json!(run_day.to_string());
            m
        })
        .collect();
    assert_eq!(messages.len(), MOVES, "enough persons for the moves");
    for message in &messages {
        engine.commands().deliver(message).await.expect("delivered");
    }
    let planned = "SELECT COUNT(*) FROM dk_moves WHERE status = 'planned'";
    assert_eq!(count(&engine, planned).await, MOVES as i64);

    simulate::run_daily(&engine, run_day)
        .await
        .expect("the run");
    assert_eq!(count(&engine, planned).await, 0, "every move carried out");
    let effected = "SELECT COUNT(*) FROM dk_moves WHERE status = 'effected'";
    assert_eq!(count(&engine, effected).await, MOVES as i64);
    let filter = forlob_engine::jobs::LogbookFilter {
        process: Some("effektuer-flytninger".into()),
        limit: 1,
        ..Default::default()
    };
    let runs = engine.jobs().logbook(&filter).await.expect("logbook");
    let run = runs.first().expect("the run is in the logbook");
    assert_eq!(
        run.counts
            .get("gennemfoert")
            .and_then(serde_json::Value::as_u64),
        Some(MOVES as u64),
        "counted once each: {:?}",
        run.counts
    );
    let broken = simulate::check_invariants(engine.db())
        .await
        .expect("checks");
    assert!(broken.is_empty(), "{broken:?}");
}

/// An engine on a fresh database with the packages' processes deployed, its manual clock at
/// `now` (UTC); the database lives as long as the `TestDb`.
async fn flytning_engine(
    backend: Backend,
    now: chrono::NaiveDateTime,
) -> (support::TestDb, Engine) {
    let db = backend.fresh_db().await;
    let mut registry = support::registry();
    forlob_processes::register(&mut registry);
    let clock = Arc::new(ManualClock::new(now.and_utc()));
    let engine = Engine::start(&db.url, registry, clock, EngineOptions::default())
        .await
        .expect("starts");
    engine
        .releases()
        .deploy(&files::definition_files(&forlob_processes::processes_dir()).expect("definitions"))
        .await
        .expect("deploys");
    (db, engine)
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
on_both_backends!(a_run_whose_moves_fill_its_chunks_exactly_carries_out_every_move);
