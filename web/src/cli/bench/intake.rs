//! `forlob bench --workload intake`: `--messages` move messages (`cpr.flytning`, about 2 %
//! repeats, as the simulation sends them) delivered by `--concurrency` senders over a
//! register of twice as many persons. Prints the throughput and the latency of one delivery,
//! each answered only after its commit.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use forlob_engine::runtime::MessageOutcome;
use forlob_processes::flytning::simulate;
use serde_json::json;

use super::{BenchArgs, peak_rss_mb};
use crate::cli::register;

/// The day the messages are dated and delivered (a Monday, 09:00 UTC on a manual clock), so
/// runs compare whatever today's date is.
const DAY: (i32, u32, u32) = (2026, 11, 30);

pub(super) async fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let url = super::database_url(args, &tmp, "bench-intake.db");
    let is_pg = forlob_web::config::is_postgres_url(&url);
    let concurrency = args.concurrency.unwrap_or(if is_pg { 8 } else { 1 }).max(1);
    let messages = args.messages.max(1);
    let date = chrono::NaiveDate::from_ymd_opt(DAY.0, DAY.1, DAY.2).unwrap_or_default();
    let at = date.and_hms_opt(9, 0, 0).unwrap_or_default().and_utc();
    let config = forlob_web::config::Config::default();
    let engine = Arc::new(register::engine(&url, &config, at).await?);
    let persons = messages * 2;
    if simulate::population_size(engine.db()).await? == 0 {
        register::populate(&engine, persons, 1).await?;
    }
    let stream = simulate::MoveStream::new(persons, 1).day(date, messages);
    let started = Instant::now();
    let Delivered {
        mut latencies,
        duplicates,
    } = deliver_all(&engine, &stream, concurrency).await?;
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        let at = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len());
        (latencies[at - 1] * 1000.0).round() / 1000.0
    };
    let figures = json!({
        "workload": "intake",
        "messages": messages,
        "duplicates": duplicates,
        "persons": persons,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "messages_per_s": (messages as f64 / seconds).round(),
        "ms_per_message": (seconds * 1000.0 / messages as f64 * 1000.0).round() / 1000.0,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "peak_rss_mb": peak_rss_mb(),
        "db": if is_pg { "postgres" } else { "sqlite" },
        "concurrency": concurrency,
        "writers_per_commit": super::writers_per_commit(&engine),
    });
    super::print_figures(figures);
    Ok(ExitCode::SUCCESS)
}

/// What the senders were answered.
pub(super) struct Delivered {
    /// Milliseconds of each delivery, in no order.
    pub latencies: Vec<f64>,
    pub duplicates: usize,
}

/// Delivers `messages` through `concurrency` senders, each answered only after its commit.
pub(super) async fn deliver_all(
    engine: &Arc<forlob_engine::Engine>,
    messages: &[forlob_engine::runtime::InboundMessage],
    concurrency: usize,
) -> anyhow::Result<Delivered> {
    let per_sender = messages.len().div_ceil(concurrency.max(1)).max(1);
    let mut senders = Vec::new();
    for part in messages.chunks(per_sender).map(<[_]>::to_vec) {
        let engine = engine.clone();
        senders.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(part.len());
            let mut duplicates = 0_usize;
            for message in &part {
                let sent = Instant::now();
                let outcome = engine.commands().deliver(message).await?;
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                if matches!(outcome, MessageOutcome::Duplicate { .. }) {
                    duplicates += 1;
                }
            }
            anyhow::Ok((latencies, duplicates))
        }));
    }
    let mut delivered = Delivered {
        latencies: Vec::with_capacity(messages.len()),
        duplicates: 0,
    };
    for sender in senders {
        let (latencies, duplicates) = sender.await??;
        delivered.latencies.extend(latencies);
        delivered.duplicates += duplicates;
    }
    Ok(delivered)
}
