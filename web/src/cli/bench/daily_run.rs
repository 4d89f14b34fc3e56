//! `forlob bench --workload daily-run`: the 04:00 run that carries out the day's moves.
//! `--moves` move messages (`cpr.flytning`, with the simulation's repeats and moves abroad),
//! all dated for the run's day, are delivered the day before by `--concurrency` senders over
//! a register of twice as many persons; then the clock moves to 04:00 and the run is timed
//! until its last move is carried out. The simulation's invariants are checked afterwards,
//! and a broken one fails the bench.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use forlob_processes::flytning::simulate;
use serde_json::json;

use super::{BenchArgs, peak_rss_mb};
use crate::cli::register;

/// The day of the run (a Tuesday); the messages arrive on the Monday before, 09:00 UTC on a
/// manual clock, so runs compare whatever today's date is.
const RUN_DAY: (i32, u32, u32) = (2026, 12, 1);

pub(super) async fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let url = super::database_url(args, &tmp, "bench-daily-run.db");
    let is_pg = forlob_web::config::is_postgres_url(&url);
    let concurrency = args.concurrency.unwrap_or(16).max(1);
    let moves = args.moves.max(1);
    let run_day =
        chrono::NaiveDate::from_ymd_opt(RUN_DAY.0, RUN_DAY.1, RUN_DAY.2).unwrap_or_default();
    let day_before = run_day.pred_opt().unwrap_or(run_day);
    let at = day_before
        .and_hms_opt(9, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let config = forlob_web::config::Config::default();
    let engine = Arc::new(register::engine(&url, &config, at).await?);
    if simulate::population_size(engine.db()).await? != 0 {
        anyhow::bail!("the daily-run bench needs an empty database; {url} has a register");
    }
    let persons = moves * 2;
    register::populate(&engine, persons, 1).await?;
    let mut messages = simulate::MoveStream::new(persons, 1).day(day_before, moves);
    for message in &mut messages {
        message.data["move_date"] = json!(run_day.to_string());
    }
    let delivering = Instant::now();
    super::intake::deliver_all(&engine, &messages, concurrency).await?;
    let delivery_seconds = delivering.elapsed().as_secs_f64();
    eprintln!(
        "  {} messages delivered in {delivery_seconds:.1} s",
        messages.len()
    );

    // What falls due overnight before the run (none of it the run's) is not timed.
    let night = run_day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    engine.jobs().advance_to(night).await?;
    let started = Instant::now();
    let handled = simulate::run_daily(&engine, run_day).await?;
    let seconds = started.elapsed().as_secs_f64();
    let broken = simulate::check_invariants(engine.db()).await?;
    for rule in &broken {
        eprintln!("BROKEN: {rule}");
    }
    let figures = json!({
        "workload": "daily-run",
        "moves": handled,
        "messages": messages.len(),
        "persons": persons,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "moves_per_s": (handled as f64 / seconds).round(),
        "delivery_seconds": (delivery_seconds * 1000.0).round() / 1000.0,
        "peak_rss_mb": peak_rss_mb(),
        "db": if is_pg { "postgres" } else { "sqlite" },
        "invariants_ok": broken.is_empty(),
    });
    super::print_figures(figures);
    Ok(if broken.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
