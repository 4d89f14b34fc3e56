//! Command-line interface. Each subcommand is a small function over the engine.

mod audit;
mod bench;
mod demo;
mod incidents;
mod instances;
mod jobs;
mod register;
mod users;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use forlob_engine::definition::{self, SourceFile};
use forlob_engine::{Clock, Engine, ManualClock, Registry, SystemClock, files, scenario};

use forlob_web::config::{ClockKind, Config};

/// forlob: a durable process engine for public-sector case work.
#[derive(Parser)]
#[command(version, about, long_about = None)]
pub(crate) struct Cli {
    /// Configuration file; default ./forlob.toml when it exists.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server and the worker (SQLite at ./forlob.db unless --db says otherwise).
    Serve {
        /// Database URL [default: sqlite://forlob.db?mode=rwc, or FORLOB_DB / DATABASE_URL].
        #[arg(long)]
        db: Option<String>,
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<String>,
        /// Folder of process packages to deploy at start.
        #[arg(long)]
        processes: Option<PathBuf>,
        #[arg(long, value_enum)]
        clock: Option<ClockKind>,
        /// Workers running due timers and steps [default: 1 on SQLite, 4 on PostgreSQL].
        #[arg(long)]
        workers: Option<usize>,
        /// Synthetic persons loaded into an empty register [default: 3000; 0 for none].
        #[arg(long)]
        demo_persons: Option<usize>,
        /// Moves sent through the processes with the demo persons [default: 2000; 0 for none].
        #[arg(long)]
        demo_moves: Option<usize>,
        /// Also deploy the engine's demo processes (`demo-*`, for trying the engine out and
        /// the bench). Never on a production database: anyone may start them.
        #[arg(long)]
        demo: bool,
    },
    /// Check definitions; prints `path:line:col: error[CODE]: message`, exits 1 on any error.
    Validate {
        /// Files or folders; default the shipped processes and the engine demo. Processes
        /// they call that they do not define are looked up among the shipped ones.
        paths: Vec<PathBuf>,
        /// List the diagnostic codes and what they mean.
        #[arg(long)]
        explain: bool,
        /// `json`: the API's shape (`{valid, diagnostics, processes}`), for editors and CI.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run scenario files; prints a line per scenario and `N passed, N failed`.
    Test {
        /// Scenario files or folders (their `scenarios/` subfolders); default the processes.
        paths: Vec<PathBuf>,
        /// Folder of the definitions the scenarios run against.
        #[arg(long)]
        processes: Option<PathBuf>,
    },
    /// Deploy definitions; unchanged ones keep their version.
    Deploy {
        paths: Vec<PathBuf>,
        #[arg(long)]
        db: Option<String>,
        /// Show the diff of each changed definition and the in-flight instances it affects,
        /// and deploy nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the Mermaid state diagram of a process.
    Diagram {
        process: String,
        #[arg(long)]
        processes: Option<PathBuf>,
    },
    /// Print the JSON Schema of the process definition format.
    Schema,
    /// Bring the database schema up to date.
    Migrate {
        #[arg(long)]
        db: Option<String>,
    },
    /// List and inspect process instances.
    Instances(instances::InstancesArgs),
    /// Failed automatic steps: list them, retry, skip to a state, or cancel the instance.
    Incidents(incidents::IncidentsArgs),
    /// The simulated population register: synthetic persons and a move stream.
    Register(register::RegisterArgs),
    /// Add and list users (caseworkers, admins, designers) and their API tokens.
    Users(users::UsersArgs),
    /// Background jobs: list, schedule, remove, the logbook, run now.
    Jobs(jobs::JobsArgs),
    /// Measure throughput; prints one JSON line of figures.
    Bench(bench::BenchArgs),
    /// The audit log: who read which person's data, and every admin action; list, export as
    /// CSV, verify the hash chain, prune past the retention.
    Audit(audit::AuditArgs),
}

impl Cli {
    /// The database the command opens, if it opens one.
    fn database(&self, config: &Config) -> Option<String> {
        let or_config = |db: &Option<String>| Some(db.clone().unwrap_or_else(|| config.db.clone()));
        match &self.command {
            Command::Serve { db, .. } | Command::Deploy { db, .. } | Command::Migrate { db } => {
                or_config(db)
            }
            Command::Instances(args) => or_config(&args.db),
            Command::Incidents(args) => or_config(&args.db),
            Command::Register(args) => or_config(&args.db),
            Command::Users(args) => or_config(&args.db),
            Command::Jobs(args) => or_config(&args.db),
            Command::Audit(args) => or_config(&args.db),
            // Every workload's default is a fresh SQLite file.
            Command::Bench(args) => Some(args.db.clone().unwrap_or_else(|| "sqlite:".into())),
            // Scenarios run on SQLite in memory.
            Command::Test { .. } => Some("sqlite::memory:".into()),
            Command::Validate { .. } | Command::Diagram { .. } | Command::Schema => None,
        }
    }
}

/// Reads the configuration and applies `cpu_affinity` (`bench --cpu-affinity` over the
/// setting) for the database the command opens. `main` calls it before the async runtime
/// starts its threads, which inherit the CPU, and hands the configuration to [`run`].
pub(crate) fn prepare(cli: &Cli) -> anyhow::Result<Config> {
    let config = Config::load(cli.config.as_deref()).map_err(anyhow::Error::msg)?;
    config.check_timezone().map_err(anyhow::Error::msg)?;
    if let Some(db) = cli.database(&config) {
        let setting = match &cli.command {
            Command::Bench(args) => args.cpu_affinity.unwrap_or(config.cpu_affinity),
            _ => config.cpu_affinity,
        };
        let applied = forlob_web::affinity::apply(setting, &db).map_err(anyhow::Error::msg)?;
        // `serve` logs it with the rest of its start-up.
        if let Some(warning) = applied.warning
            && !matches!(cli.command, Command::Serve { .. })
        {
            eprintln!("forlob: warning: {warning}");
        }
    }
    Ok(config)
}

/// The engine on `url` with the real clock, for the commands that act on a database.
pub(crate) async fn open_engine(url: &str, config: &Config) -> anyhow::Result<Engine> {
    Engine::start(
        url,
        registry(config),
        Arc::new(SystemClock),
        config.engine_options(),
    )
    .await
    .with_context(|| format!("cannot open the database at {url}"))
}

/// Who the CLI acts as in the audit trail.
pub(crate) fn operator() -> forlob_engine::Actor {
    let name = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    forlob_engine::Actor {
        id: format!("cli:{name}"),
        role: forlob_engine::Role::Admin.into(),
        municipality: None,
        via: forlob_engine::Via::Cli,
    }
}

/// What this build plugs into the engine, with the deployment's zone. The demo action is
/// always there: it touches no table, and a database that once ran `serve --demo` keeps its
/// demo versions, which must load on every later start. The demo *processes*, which anyone
/// could start, are deployed only with `--demo` (see [`shipped_definitions`]).
pub(crate) fn registry(config: &Config) -> Registry {
    let mut registry = Registry::new();
    forlob_engine::demo::register(&mut registry);
    forlob_processes::register(&mut registry);
    registry.set_default_timezone(config.timezone());
    registry
}

/// The shipped definitions: the packages' folder, plus the engine's demo processes when
/// `demo` says so. Those are for tests, the bench and `serve --demo` only: any process a
/// caseworker may start can put work into an inbox, so a production database never gets them.
pub(crate) fn shipped_definitions(
    processes: Option<&Path>,
    demo: bool,
) -> anyhow::Result<Vec<SourceFile>> {
    let dir = processes.map_or_else(forlob_processes::processes_dir, Path::to_path_buf);
    let mut files = if demo {
        forlob_engine::demo::definitions()
    } else {
        Vec::new()
    };
    files.extend(files::definition_files(&dir).map_err(anyhow::Error::msg)?);
    Ok(files)
}

/// Runs the command with the configuration [`prepare`] read.
pub(crate) async fn run(cli: Cli, mut config: Config) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            db,
            listen,
            processes,
            clock,
            workers,
            demo_persons,
            demo_moves,
            demo,
        } => {
            config.demo_processes |= demo;
            config.demo_persons = demo_persons.unwrap_or(config.demo_persons);
            config.demo_moves = demo_moves.unwrap_or(config.demo_moves);
            config.db = db.unwrap_or(config.db);
            config.listen = listen.unwrap_or(config.listen);
            config.processes = processes.or(config.processes);
            config.workers = workers.or(config.workers);
            config.clock = clock.unwrap_or(config.clock);
            config.validate().map_err(anyhow::Error::msg)?;
            serve(&config).await
        }
        Command::Validate {
            paths,
            explain,
            format,
        } => validate(&paths, explain, format, &config),
        Command::Test { paths, processes } => test(&paths, processes.as_deref(), &config).await,
        Command::Deploy { paths, db, dry_run } => {
            config.db = db.unwrap_or(config.db);
            deploy(&paths, &config, dry_run).await
        }
        Command::Diagram { process, processes } => diagram(&process, processes.as_deref(), &config),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&definition::json_schema())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { db } => {
            config.db = db.unwrap_or(config.db);
            let conn =
                forlob_engine::runtime::connect(&config.db, &config.engine_options()).await?;
            forlob_engine::schema::migrate(&conn, &registry(&config)).await?;
            println!("database at {} is up to date", config.db);
            Ok(ExitCode::SUCCESS)
        }
        Command::Instances(args) => instances::run(args, &config).await,
        Command::Incidents(args) => incidents::run(args, &config).await,
        Command::Register(args) => register::run(args, &config).await,
        Command::Users(args) => users::run(args, &config).await,
        Command::Jobs(args) => jobs::run(args, &config).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Audit(args) => audit::run(args, &config).await,
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}

async fn serve(config: &Config) -> anyhow::Result<ExitCode> {
    init_tracing();
    let (db, listen) = (&config.db, &config.listen);
    if let Some(applied) = forlob_web::affinity::applied() {
        let setting = applied.setting;
        match (applied.cpu, &applied.warning) {
            (Some(cpu), _) => tracing::info!(
                cpu,
                cpu_affinity = %setting,
                "every thread on one CPU, so SQLite's hand-offs between them stay cheap; cpu_affinity = \"off\" gives the node every CPU"
            ),
            (None, Some(warning)) => tracing::warn!(cpu_affinity = %setting, "{warning}"),
            (None, None) => {
                tracing::info!(cpu_affinity = %setting, "threads spread over the CPUs");
            }
        }
    }
    let clock: Arc<dyn Clock> = match config.clock {
        ClockKind::Manual => Arc::new(ManualClock::new(chrono::Utc::now())),
        ClockKind::Real => Arc::new(SystemClock),
    };
    let engine = Engine::start(db, registry(config), clock, config.engine_options())
        .await
        .with_context(|| format!("cannot open the database at {db}"))?;
    let outcomes = engine
        .releases()
        .deploy(&shipped_definitions(
            config.processes.as_deref(),
            config.demo_processes,
        )?)
        .await?;
    for o in outcomes.iter().filter(|o| o.changed) {
        tracing::info!(process = %o.process_id, version = o.version, "deployed");
    }
    let logins = demo::seed(&engine, config).await?;
    let engine = Arc::new(engine);
    let cancel = tokio_util::sync::CancellationToken::new();
    let interval = std::time::Duration::from_millis(config.worker_interval_ms);
    let workers = forlob_web::spawn_workers(&engine, config.workers(), interval, &cancel);
    // A migration (or undo) a stop interrupted goes on: each item's outcome commits with its
    // instance's change, so nothing is done twice.
    let resuming = engine.clone();
    tokio::spawn(async move {
        match resuming.releases().resume_migrations().await {
            Ok(resumed) => {
                for status in resumed {
                    tracing::info!(
                        migration = status.migration.id,
                        done = status.count("done"),
                        "migration resumed and finished"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "a migration could not be resumed"),
        }
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!(
        "forlob is running at http://{listen}  (database: {db}, {} processes deployed)",
        outcomes.len()
    );
    for login in &logins {
        println!(
            "  demo login: {:<14} password {}  ({})",
            login.username, login.password, login.what
        );
    }
    if !logins.is_empty() {
        println!("  (passwords are shown this once; add users with `forlob users add`)");
    }
    let settings = config.web_settings();
    if settings.assets_dir.is_none() {
        println!(
            "warning: browser assets not found; run `bash scripts/assets.sh` (or use scripts/run.sh) for htmx, diagrams, the API page and the workbench"
        );
    }
    println!(
        "API: http://{listen}/api/docs — health: http://{listen}/healthz — press Ctrl-C to stop"
    );
    let app = forlob_web::router(forlob_web::AppState::new(engine, settings))
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let shutdown = cancel.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing requests and the current work batch");
            shutdown.cancel();
        })
        .await?;
    cancel.cancel();
    for worker in workers {
        worker.await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// How `forlob validate` prints what it found.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

fn validate(
    paths: &[PathBuf],
    explain: bool,
    format: Format,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    if explain {
        for (code, meaning) in definition::CODES {
            println!("{code:20} {meaning}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let files = if paths.is_empty() {
        shipped_definitions(None, true)?
    } else {
        let mut files = Vec::new();
        for path in paths {
            let found = files::definition_files(path).map_err(anyhow::Error::msg)?;
            if found.is_empty() {
                bail!(
                    "{}: no definition files (*.yaml outside scenarios/)",
                    path.display()
                );
            }
            files.extend(found);
        }
        files
    };
    // Given files may call the package's other processes: those resolve against what ships,
    // when the package's folder is there (an installed binary may have none).
    let known: Vec<String> = if paths.is_empty() {
        Vec::new()
    } else {
        shipped_definitions(None, false)
            .ok()
            .and_then(|shipped| definition::load_set(&shipped, &registry(config)).ok())
            .map(|defs| defs.into_iter().map(|d| d.id).collect())
            .unwrap_or_default()
    };
    if format == Format::Json {
        let (check, _) = forlob_engine::workbench::check_files(&files, &registry(config), &known);
        let valid = check.valid;
        println!(
            "{}",
            serde_json::to_string_pretty(&forlob_web::ValidationView::from(check))?
        );
        return Ok(if valid {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    match definition::load_set_with(&files, &registry(config), &known) {
        Ok(defs) => {
            println!(
                "{} definition(s) valid: {}",
                defs.len(),
                defs.iter()
                    .map(|d| d.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => {
            for d in &diagnostics {
                println!("{d}");
            }
            println!(
                "{} error(s) in {} file(s); nothing is valid until all are fixed",
                diagnostics.len(),
                files.len()
            );
            Ok(ExitCode::from(1))
        }
    }
}

async fn test(
    paths: &[PathBuf],
    processes: Option<&Path>,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let definitions = shipped_definitions(processes, true)?;
    let roots: Vec<PathBuf> = if paths.is_empty() {
        vec![processes.map_or_else(forlob_processes::processes_dir, Path::to_path_buf)]
    } else {
        paths.to_vec()
    };
    let mut scenarios = Vec::new();
    for root in &roots {
        scenarios.extend(files::scenario_files(root).map_err(anyhow::Error::msg)?);
    }
    if scenarios.is_empty() {
        let looked: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        eprintln!(
            "no scenario found in {}: a scenario is a YAML file in a `scenarios/` folder, or named on the command line",
            looked.join(", ")
        );
        return Ok(ExitCode::from(2));
    }
    let registry = registry(config);
    let (mut passed, mut failed) = (0, 0);
    for file in &scenarios {
        let result = scenario::run_one(file, &definitions, &registry).await;
        match &result.failure {
            None => {
                passed += 1;
                println!("ok     {} ({})", result.name, result.file);
            }
            Some(why) => {
                failed += 1;
                println!("FAILED {} ({})\n    {why}", result.name, result.file);
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn deploy(paths: &[PathBuf], config: &Config, dry_run: bool) -> anyhow::Result<ExitCode> {
    let files = if paths.is_empty() {
        shipped_definitions(None, false)?
    } else {
        let mut files = Vec::new();
        for p in paths {
            files.extend(files::definition_files(p).map_err(anyhow::Error::msg)?);
        }
        files
    };
    let engine = open_engine(&config.db, config).await?;
    // The impact is read before the deploy, so it shows what the new versions meet.
    let impacts = match engine.releases().impact(&files).await {
        Ok(impacts) => impacts,
        Err(forlob_engine::EngineError::Definition(e)) => return Ok(refused(&e)),
        Err(e) => return Err(e.into()),
    };
    for impact in impacts.iter().filter(|i| i.changed) {
        print_impact(impact);
    }
    if dry_run {
        let changed = impacts.iter().filter(|i| i.changed).count();
        println!(
            "dry run: {changed} of {} definition(s) would get a new version; nothing deployed",
            impacts.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    match engine.releases().deploy_by(&files, &operator()).await {
        Ok(outcomes) => {
            for o in outcomes {
                let what = if o.changed {
                    "deployed as"
                } else {
                    "unchanged, stays"
                };
                println!("{} {what} version {}", o.process_id, o.version);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(forlob_engine::EngineError::Definition(e)) => Ok(refused(&e)),
        Err(e) => Err(e.into()),
    }
}

/// A deploy refused for invalid definitions: each diagnostic, then the count.
fn refused(e: &forlob_engine::error::DefinitionError) -> ExitCode {
    for d in &e.0 {
        println!("{d}");
    }
    println!("nothing deployed: {} error(s)", e.0.len());
    ExitCode::from(1)
}

/// The diff of a changed definition and the in-flight instances it meets.
fn print_impact(impact: &forlob_engine::runtime::DefinitionImpact) {
    match &impact.follows {
        Some((process, v)) => println!(
            "{} v{}: changed (follows {process} v{v})",
            impact.process_id, impact.version
        ),
        None => println!("{} v{}: new", impact.process_id, impact.version),
    }
    if !impact.diff.is_empty() {
        for line in impact.diff.lines() {
            println!("    {line}");
        }
    }
    if impact.in_flight.is_empty() {
        return;
    }
    println!(
        "    in flight: {:<28} {:>3}  {:<24} {:>9} {:>7} {:>7}",
        "process", "v", "state", "instances", "tasks", "timers"
    );
    for g in &impact.in_flight {
        println!(
            "               {:<28} {:>3}  {:<24} {:>9} {:>7} {:>7}{}",
            g.process_id,
            g.version,
            g.state,
            g.instances,
            g.open_tasks,
            g.timers,
            if g.in_new_version {
                ""
            } else {
                "  (no such state in the new version)"
            }
        );
    }
    if !impact.lost_states.is_empty() {
        println!(
            "    states the new version lost: {}; `forlob instances restart {} --dry-run` shows where their instances would go",
            impact.lost_states.join(", "),
            impact.process_id
        );
    }
}

fn diagram(process: &str, processes: Option<&Path>, config: &Config) -> anyhow::Result<ExitCode> {
    let defs = definition::load_set(&shipped_definitions(processes, true)?, &registry(config))
        .map_err(|d| {
            anyhow::anyhow!(
                "definitions do not validate:\n{}",
                d.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })?;
    let def = defs
        .iter()
        .find(|d| d.id == process || d.replaces.iter().any(|r| r == process))
        .with_context(|| {
            format!(
                "no process `{process}`; known: {}",
                defs.iter()
                    .map(|d| d.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    print!("{}", def.mermaid());
    Ok(ExitCode::SUCCESS)
}
