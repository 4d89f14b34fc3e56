//! `forlob bench`: throughput of the engine on the demo move-out, durable on a real database,
//! ([`http`]) latency of the API under caseworkers working through a full inbox, and
//! ([`folkbokforing`]) the Swedish out-of-municipality update over 100,000 persons, and
//! ([`restart`]) restarting 100,000 in-flight instances after a release, and ([`intake`])
//! move messages delivered by concurrent senders, and ([`daily_run`]) the 04:00 run carrying
//! out a day's moves.

mod daily_run;
mod folkbokforing;
mod http;
mod intake;
mod restart;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use forlob_engine::store::{self, TaskFilter};
use forlob_engine::{Actor, Engine, EngineOptions, SystemClock};
use serde_json::{Map, Value, json};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Workload {
    /// start → automatic → decision → automatic → automatic → end, one transaction each.
    Auto,
    /// As auto with one manual step, completed through the engine API.
    Human,
    /// Caseworkers reading their inbox and completing tasks over HTTP, on a database of
    /// `--tasks` open tasks; prints latency percentiles.
    Http,
    /// One "Uppdatering utomkommunala personer" run over `--persons` synthetic persons.
    Folkbokforing,
    /// Restart after release: `--instances` instances waiting in a manual step on v1 are
    /// restarted into v2 (each task cancelled and made anew, audited); prints the time.
    Restart,
    /// `--messages` move messages delivered by `--concurrency` senders over a register of
    /// twice as many persons; prints messages/s and the latency of one delivery.
    Intake,
    /// The 04:00 run carrying out `--moves` moves due on one day, over a register of twice as
    /// many persons (messages delivered the day before by `--concurrency` senders, default
    /// 16); prints moves/s and checks the simulation's invariants.
    DailyRun,
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    #[arg(long, value_enum, default_value = "auto")]
    workload: Workload,
    #[arg(long, default_value_t = 10_000)]
    instances: usize,
    /// Database; default a fresh SQLite file in a temporary folder.
    #[arg(long)]
    pub(super) db: Option<String>,
    /// Concurrent starters; default 1 on SQLite (one writer) and 8 on PostgreSQL.
    #[arg(long)]
    concurrency: Option<usize>,
    /// http: open tasks in the database before the run (topped up when a kept one has fewer).
    #[arg(long, default_value_t = 1_000_000)]
    tasks: u64,
    /// http: concurrent caseworkers, each with their own connection and token.
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// http: completions in all, then stop [default: run for --seconds].
    #[arg(long, conflicts_with = "seconds")]
    requests: Option<usize>,
    /// http: how long the caseworkers work [default: 30].
    #[arg(long)]
    seconds: Option<f64>,
    /// http: pause of each caseworker after a completion, in milliseconds (±50 %, so they
    /// drift apart) [default: 0, as fast as the server answers].
    #[arg(long, default_value_t = 0)]
    think_ms: u64,
    /// http: keep the default SQLite file (in the temporary folder) and reuse its tasks next
    /// time, so a million tasks are loaded once. A --db database is always kept.
    #[arg(long)]
    keep_db: bool,
    /// folkbokforing: persons in the municipality's person register.
    #[arg(long, default_value_t = 100_000)]
    persons: usize,
    /// folkbokforing: the direct Skatteverket integration (R23) instead of KIR.
    #[arg(long)]
    direct: bool,
    /// intake: move messages to deliver.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// daily-run: moves due on the run's day.
    #[arg(long, default_value_t = 10_000)]
    moves: usize,
    /// auto, human: append the subject of each start to this file, a line each, as soon as
    /// the start is answered; a crash test checks afterwards that each is there exactly once.
    #[arg(long, value_name = "FILE")]
    acks: Option<std::path::PathBuf>,
    /// auto (on SQLite every thread on one CPU, as `serve` does), off, or a CPU number;
    /// off measures the threads spread over the CPUs [default: the cpu_affinity setting].
    /// The figures' `cpu` says which CPU the bench ran on (null: spread).
    #[arg(long, value_name = "auto|off|CPU")]
    pub(super) cpu_affinity: Option<forlob_web::affinity::CpuAffinity>,
}

/// The engine a bench runs on: the packages' registry and the configured defaults, real clock.
async fn open_engine(url: &str) -> anyhow::Result<Arc<Engine>> {
    let config = forlob_web::config::Config::default();
    let engine = Engine::start(
        url,
        super::registry(&config),
        Arc::new(SystemClock),
        config.engine_options(),
    )
    .await
    .with_context(|| format!("cannot open the database at {url}"))?;
    Ok(Arc::new(engine))
}

/// The database a bench runs on: `--db`, or a fresh SQLite file `file` in `tmp`.
fn database_url(args: &BenchArgs, tmp: &tempfile::TempDir, file: &str) -> String {
    args.db
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", tmp.path().join(file).display()))
}

/// Prints a workload's figures as its one JSON line, with the CPU its threads ran on.
fn print_figures(mut figures: Value) {
    if let Value::Object(fields) = &mut figures {
        let cpu = forlob_web::affinity::applied().and_then(|a| a.cpu);
        fields.insert("cpu".into(), json!(cpu));
    }
    println!("{figures}");
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| (kb / 1024.0 * 10.0).round() / 10.0)
}

pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.acks.is_some() && !matches!(args.workload, Workload::Auto | Workload::Human) {
        // Other workloads would ignore it, and a crash test reading the file would find
        // nothing acknowledged and check nothing.
        anyhow::bail!("--acks is for the auto and human workloads, whose starts it lists");
    }
    let process = match args.workload {
        Workload::Auto => "demo-move-out",
        Workload::Human => "demo-move-out-human",
        Workload::Http => return http::run(&args).await,
        Workload::Folkbokforing => return folkbokforing::run(&args).await,
        Workload::Restart => return restart::run(&args).await,
        Workload::Intake => return intake::run(&args).await,
        Workload::DailyRun => return daily_run::run(&args).await,
    };
    let tmp = tempfile::tempdir()?;
    let url = database_url(&args, &tmp, "bench.db");
    let is_pg = forlob_web::config::is_postgres_url(&url);
    let concurrency = args.concurrency.unwrap_or(if is_pg { 8 } else { 1 }).max(1);
    let engine = Arc::new(
        Engine::start(
            &url,
            super::registry(&forlob_web::config::Config::default()),
            Arc::new(SystemClock),
            EngineOptions::default(),
        )
        .await?,
    );
    engine
        .releases()
        .deploy(&forlob_engine::demo::definitions())
        .await?;
    let history_before = count_history(&engine).await?;
    let acks = match &args.acks {
        Some(path) => Some(Arc::new(std::sync::Mutex::new(std::io::LineWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?,
        )))),
        None => None,
    };
    let started = Instant::now();
    let per_worker = args.instances.div_ceil(concurrency);
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let engine = engine.clone();
        let acks = acks.clone();
        let from = w * per_worker;
        let to = ((w + 1) * per_worker).min(args.instances);
        workers.push(tokio::spawn(async move {
            let actor = Actor::system();
            for i in from..to {
                let vars: Map<String, Value> = [(
                    "to".to_owned(),
                    json!(if i % 10 == 0 { "abroad" } else { "147" }),
                )]
                .into_iter()
                .collect();
                let subject = format!("bench-{i}");
                engine
                    .commands()
                    .start_instance(process, &subject, vars, &actor)
                    .await?;
                if let Some(acks) = &acks {
                    use std::io::Write as _;
                    let mut file = acks
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    writeln!(file, "{subject}")?;
                }
            }
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await??;
    }
    if matches!(args.workload, Workload::Human) {
        complete_all(&engine, concurrency).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let transitions = count_history(&engine).await? - history_before;
    let figures = json!({
        "workload": if matches!(args.workload, Workload::Human) { "human" } else { "auto" },
        "instances": args.instances,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "instances_per_s": (args.instances as f64 / seconds).round(),
        "transitions_per_s": (transitions as f64 / seconds).round(),
        "peak_rss_mb": peak_rss_mb(),
        "db": if is_pg { "postgres" } else { "sqlite" },
        "concurrency": concurrency,
        "writers_per_commit": writers_per_commit(&engine),
    });
    print_figures(figures);
    Ok(ExitCode::SUCCESS)
}

/// How many writers a commit carried on average (group commit, SQLite); 1 on PostgreSQL,
/// whose writers commit alone.
fn writers_per_commit(engine: &Engine) -> f64 {
    let stats = engine.commit_stats();
    if stats.commits == 0 {
        return 1.0;
    }
    (stats.writers as f64 / stats.commits as f64 * 100.0).round() / 100.0
}

async fn count_history(engine: &Engine) -> anyhow::Result<u64> {
    Ok(store::count_history(engine.db()).await?)
}

async fn complete_all(engine: &Arc<Engine>, concurrency: usize) -> anyhow::Result<()> {
    let tasks = store::tasks(
        engine.db(),
        &TaskFilter {
            status: Some(forlob_engine::instance::TaskStatus::Open),
            limit: Some(u64::MAX >> 1),
            ..TaskFilter::default()
        },
    )
    .await?;
    let ids: Vec<uuid::Uuid> = tasks.into_iter().map(|t| t.id).collect();
    let chunk = ids.len().div_ceil(concurrency).max(1);
    let mut workers = Vec::new();
    for part in ids.chunks(chunk).map(<[uuid::Uuid]>::to_vec) {
        let engine = engine.clone();
        workers.push(tokio::spawn(async move {
            let actor = Actor::caseworker("bench", "101");
            let form: Map<String, Value> = [("decision".to_owned(), json!("approve"))]
                .into_iter()
                .collect();
            for id in part {
                engine.commands().complete_task(id, &form, &actor).await?;
            }
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await??;
    }
    Ok(())
}
