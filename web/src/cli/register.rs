//! `forlob register populate|simulate`: the simulated CPR: a synthetic population, and a
//! stream of move messages run through the engine day by day on a manual clock.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use forlob_engine::{Engine, ManualClock};
use forlob_processes::flytning::simulate;
use forlob_web::config::Config;

#[derive(Args)]
pub(crate) struct RegisterArgs {
    /// Database URL [default: from the configuration].
    #[arg(long, global = true)]
    pub(super) db: Option<String>,
    #[command(subcommand)]
    command: RegisterCommand,
}

#[derive(Subcommand)]
enum RegisterCommand {
    /// Adds synthetic persons with acting municipality, cases, benefits and deductions.
    Populate {
        #[arg(long, default_value_t = 3_000)]
        persons: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Delivers a realistic move stream day by day (manual clock), runs each 04:00
    /// effectuation and the Friday monthly run; prints a JSON line per day and checks the
    /// invariants at the end.
    Simulate {
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Messages a day (the real stream is about 2,500 for all of Denmark).
        #[arg(long, default_value_t = 2_500)]
        per_day: usize,
        /// First day [default: today].
        #[arg(long)]
        start: Option<NaiveDate>,
        /// Persons to create first when the register is empty.
        #[arg(long, default_value_t = 10_000)]
        persons: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

pub(crate) async fn run(args: RegisterArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let url = args.db.clone().unwrap_or_else(|| config.db.clone());
    match args.command {
        RegisterCommand::Populate { persons, seed } => {
            let engine = engine(&url, config, chrono::Utc::now()).await?;
            populate(&engine, persons, seed).await?;
            Ok(ExitCode::SUCCESS)
        }
        RegisterCommand::Simulate {
            days,
            per_day,
            start,
            persons,
            seed,
        } => {
            let start = start.unwrap_or_else(|| chrono::Local::now().date_naive());
            let at = start.and_hms_opt(0, 30, 0).unwrap_or_default().and_utc();
            let engine = engine(&url, config, at).await?;
            let existing = simulate::population_size(engine.db()).await? as usize;
            if existing == 0 {
                populate(&engine, persons, seed).await?;
            }
            let size = existing.max(persons);
            let mut stream = simulate::MoveStream::new(size, seed);
            simulate::simulate_days(&engine, &mut stream, start, days, per_day, |day| {
                println!("{}", serde_json::to_string(day).unwrap_or_default());
            })
            .await?;
            let broken = simulate::check_invariants(engine.db()).await?;
            if broken.is_empty() {
                eprintln!("invariants hold");
                Ok(ExitCode::SUCCESS)
            } else {
                for rule in &broken {
                    eprintln!("BROKEN: {rule}");
                }
                Ok(ExitCode::from(1))
            }
        }
    }
}

pub(crate) async fn engine(
    url: &str,
    config: &Config,
    at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Engine> {
    let clock = Arc::new(ManualClock::new(at));
    let engine = Engine::start(url, super::registry(config), clock, config.engine_options())
        .await
        .with_context(|| format!("cannot open the database at {url}"))?;
    engine
        .releases()
        .deploy(&super::shipped_definitions(None, false)?)
        .await?;
    Ok(engine)
}

/// Loads `persons` more synthetic persons, numbered after those already there.
pub(crate) async fn populate(engine: &Engine, persons: usize, seed: u64) -> anyhow::Result<()> {
    let from = simulate::population_size(engine.db()).await? as usize;
    let today = engine.clock().now().date_naive();
    let started = std::time::Instant::now();
    simulate::load_population(engine.db(), from, persons, seed, today, |done| {
        if done % 20_000 == 0 || done == persons {
            eprintln!("  {done} / {persons} persons loaded");
        }
    })
    .await?;
    eprintln!(
        "loaded {persons} persons in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
