//! `forlob bench --workload folkbokforing`: one "Uppdatering utomkommunala personer" run over
//! a person register of `--persons` synthetic persons (default 100,000), as the scheduler
//! would start it, worked by this process as a node would. Prints the run's time and counts.

use std::sync::Arc;
use std::time::Instant;

use forlob_engine::jobs::RunStatus;
use forlob_engine::runtime::RunRequest;
use forlob_engine::{Actor, Engine, EngineOptions, SystemClock};
use forlob_processes::folkbokforing::{DEFAULT_KOMMUN, simulate};
use serde_json::{Value, json};

use super::{BenchArgs, peak_rss_mb};

const JOB: &str = "uppdatering-utomkommunala-personer";

pub(super) async fn run(args: &BenchArgs) -> anyhow::Result<std::process::ExitCode> {
    let tmp = tempfile::tempdir()?;
    let url = super::database_url(args, &tmp, "bench-folkbokforing.db");
    let engine = Engine::start(
        &url,
        crate::cli::registry(&forlob_web::config::Config::default()),
        Arc::new(SystemClock),
        EngineOptions::default(),
    )
    .await?;
    engine
        .releases()
        .deploy(&crate::cli::shipped_definitions(None, false)?)
        .await?;
    let today = engine.clock().now().date_naive();
    let loading = Instant::now();
    let persons = simulate::population(DEFAULT_KOMMUN, args.persons, 7, today);
    let outside = simulate::out_of_municipality(&persons, DEFAULT_KOMMUN);
    let loaded = simulate::store(
        engine.db(),
        &persons,
        engine.clock().now() - chrono::Duration::days(30),
    )
    .await?;
    drop(persons);
    let load_seconds = loading.elapsed().as_secs_f64();
    eprintln!(
        "loaded {} persons ({outside} out of municipality, {} differing from the register) in {load_seconds:.1} s",
        loaded.persons, loaded.differing
    );
    let mode = if args.direct { "direkt" } else { "kir" };
    let started = Instant::now();
    let run = engine
        .jobs()
        .run_job_now(
            &RunRequest {
                process: Some(JOB.into()),
                parameters: [("mode".to_owned(), json!(mode))].into_iter().collect(),
                ..RunRequest::default()
            },
            &Actor::system(),
        )
        .await?;
    let finished = loop {
        engine.jobs().run_due().await?;
        let (now, _) = engine.jobs().job_run(run.id, 0).await?;
        if now.status != RunStatus::Running {
            break now;
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        finished.status == RunStatus::Succeeded,
        "the run ended {}: {:?}",
        finished.status.as_str(),
        finished.reason
    );
    let figures = json!({
        "workload": "folkbokforing",
        "job": JOB,
        "mode": mode,
        "persons": loaded.persons,
        "out_of_municipality": outside,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "persons_per_s": (outside as f64 / seconds).round(),
        "counts": Value::Object(finished.counts),
        "load_seconds": (load_seconds * 10.0).round() / 10.0,
        "peak_rss_mb": peak_rss_mb(),
        "db": if forlob_web::config::is_postgres_url(&url) { "postgres" } else { "sqlite" },
    });
    super::print_figures(figures);
    Ok(std::process::ExitCode::SUCCESS)
}
