//! `forlob bench --workload restart`: restart after release over `--instances` in-flight
//! instances (docs/releases.md). They are bulk-loaded waiting in the review step of v1 with
//! their open task, v2 is deployed, and one restart moves them all: each task is cancelled,
//! the instance re-enters `review` of v2 (a new task), with its audit entry, in batches.
//! Target: 100,000 instances in under 60 s on SQLite.

use std::process::ExitCode;
use std::time::Instant;

use forlob_engine::Actor;
use forlob_engine::definition::SourceFile;
use forlob_engine::runtime::RestartRequest;
use serde_json::json;

use super::http::{DEFINITION, PROCESS, load, municipalities, reset_peak_rss};
use super::{BenchArgs, peak_rss_mb};

pub(super) async fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let url = super::database_url(args, &tmp, "restart.db");
    let engine = super::open_engine(&url).await?;
    let release = |text: &str| {
        vec![SourceFile {
            path: "web/src/cli/bench/bench-inbox.yaml".into(),
            text: text.to_owned(),
        }]
    };
    let v1 = engine.releases().deploy(&release(DEFINITION)).await?[0].version;
    let codes = municipalities(&engine);
    let loaded = load::load(&engine, args.instances as u64, v1, &codes).await?;
    // v2: the same steps under a new title; what matters here is the restart's own cost.
    let next = DEFINITION.replace(
        "title: { en: \"Benchmark: a review in a municipality's inbox\" }",
        "title: { en: \"Benchmark: a review in a municipality's inbox (v2)\" }",
    );
    let v2 = engine.releases().deploy(&release(&next)).await?[0].version;
    anyhow::ensure!(v2 > v1, "the second release deploys as a new version");
    reset_peak_rss();

    let request = RestartRequest {
        process: PROCESS.into(),
        reason: "bench".into(),
        ..RestartRequest::default()
    };
    let plan = engine.releases().restart_plan(&request).await?;
    let dry = Instant::now();
    let preview = engine.releases().preview_migration(&plan).await?;
    let dry_run_seconds = dry.elapsed().as_secs_f64();
    let instances = preview.items.len();
    drop(preview);

    let actor = Actor {
        id: "bench".into(),
        municipality: None,
        role: forlob_engine::Role::Admin.into(),
        via: forlob_engine::Via::Cli,
    };
    let started = Instant::now();
    let status = engine
        .releases()
        .migrate(&plan, &actor, &|p| {
            if p.handled % 20_000 < 200 || p.handled == p.total {
                eprintln!(
                    "  {:>9} / {} restarted, {:.1} s",
                    p.handled,
                    p.total,
                    started.elapsed().as_secs_f64()
                );
            }
        })
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        status.count("done") as usize == instances,
        "every instance restarted: {:?}",
        status.counts
    );
    let figures = json!({
        "workload": "restart",
        "instances": instances,
        "load_seconds": (loaded.seconds * 10.0).round() / 10.0,
        "dry_run_seconds": (dry_run_seconds * 100.0).round() / 100.0,
        "seconds": (seconds * 100.0).round() / 100.0,
        "instances_per_s": (instances as f64 / seconds).round(),
        "peak_rss_mb": peak_rss_mb(),
        "db": if forlob_web::config::is_postgres_url(&url) { "postgres" } else { "sqlite" },
    });
    super::print_figures(figures);
    Ok(ExitCode::SUCCESS)
}
