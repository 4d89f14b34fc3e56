//! `forlob jobs list|schedule|remove|log|run-now`: the schedule table and the logbook from
//! the command line, with the same checks as the API and the admin UI.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use forlob_engine::jobs::{JobRun, LogbookFilter, RunStatus};
use forlob_engine::runtime::RunRequest;
use forlob_engine::schedule::{Misfire, Overlap, ScheduleRequest};
use forlob_engine::{Engine, EngineError};

use super::operator;
use forlob_web::config::Config;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};
use uuid::Uuid;

#[derive(Args)]
pub(crate) struct JobsArgs {
    /// Database URL [default: the configured one].
    #[arg(long, global = true)]
    pub(super) db: Option<String>,
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Subcommand)]
enum JobsCommand {
    /// The jobs there are, and the schedule table with each schedule's next firing.
    List,
    /// Add a schedule: a start time and weekdays, or a cron expression.
    Schedule {
        /// The job's process id, e.g. uppdatering-utomkommunala-personer.
        process: String,
        /// HH:MM in the schedule's zone.
        #[arg(long, conflicts_with = "cron")]
        time: Option<String>,
        /// Weekdays, comma separated: mon,tue,wed,thu,fri,sat,sun.
        #[arg(long, value_delimiter = ',', requires = "time")]
        days: Vec<String>,
        /// A cron expression instead of --time and --days, e.g. "0 5 * * 5#1".
        #[arg(long)]
        cron: Option<String>,
        /// First day it may fire, YYYY-MM-DD [default: today].
        #[arg(long)]
        start_date: Option<String>,
        /// IANA time zone [default: the job's].
        #[arg(long)]
        zone: Option<String>,
        /// A parameter of the job, NAME=VALUE; repeat for more.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Name of the row [default: the job's title].
        #[arg(long)]
        label: Option<String>,
        /// Firings missed while no node ran: latest, skip or all.
        #[arg(long, value_parser = ["latest", "skip", "all"], default_value = "latest")]
        misfire: String,
        /// A firing while the previous run goes on: skip or queue.
        #[arg(long, value_parser = ["skip", "queue"], default_value = "skip")]
        overlap: String,
        /// Confirm an exceptional job without being asked.
        #[arg(long)]
        yes: bool,
    },
    /// Remove a schedule: it fires no more; a run in progress goes on.
    Remove {
        id: Uuid,
        /// Why, for the audit log.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// The logbook, newest first; with a run id, that run and its details.
    Log {
        run: Option<i64>,
        #[arg(long)]
        process: Option<String>,
        #[arg(long, default_value_t = 30)]
        limit: u64,
    },
    /// Run a job now (or a schedule's job, with --schedule).
    RunNow {
        /// The job's process id.
        #[arg(required_unless_present = "schedule")]
        process: Option<String>,
        #[arg(long, conflicts_with = "process")]
        schedule: Option<Uuid>,
        /// A parameter of the job, NAME=VALUE; repeat for more.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Confirm an exceptional job without being asked.
        #[arg(long)]
        yes: bool,
        /// Work the run here until it ends, with a progress bar (as a node would; safe beside
        /// a running server).
        #[arg(long)]
        wait: bool,
    },
}

pub(crate) async fn run(args: JobsArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let url = args.db.unwrap_or_else(|| config.db.clone());
    let engine = super::open_engine(&url, config).await?;
    match dispatch(&engine, args.command).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => match e.downcast_ref::<EngineError>() {
            Some(EngineError::Invalid(fields)) => {
                eprintln!("refused:");
                for (field, message) in fields {
                    eprintln!("  {field}: {message}");
                }
                Ok(ExitCode::from(2))
            }
            _ => Err(e),
        },
    }
}

async fn dispatch(engine: &Engine, command: JobsCommand) -> anyhow::Result<()> {
    match command {
        JobsCommand::List => list(engine).await,
        JobsCommand::Schedule {
            process,
            time,
            days,
            cron,
            start_date,
            zone,
            params,
            label,
            misfire,
            overlap,
            yes,
        } => {
            let parameters = parameters(engine, &process, &params)?;
            let confirmed = confirm(engine, &process, yes)?;
            let request = ScheduleRequest {
                process,
                label,
                start_date,
                start_time: time,
                weekdays: days,
                cron,
                time_zone: zone,
                parameters,
                misfire: Misfire::from_form(&misfire)
                    .map_err(|m| anyhow::anyhow!("--misfire: {m}"))?,
                overlap: Overlap::from_form(&overlap)
                    .map_err(|m| anyhow::anyhow!("--overlap: {m}"))?,
                confirmed,
            };
            let made = engine.jobs().create_schedule(&request, &operator()).await?;
            let s = &made.schedule;
            println!("schedule {} added: {}", s.id, s.label);
            if let Some(next) = s.next_fire_at {
                println!("  first firing: {}", local(next, &s.time_zone));
            }
            for warning in &made.warnings {
                println!("  warning: {warning}");
            }
            Ok(())
        }
        JobsCommand::Remove { id, reason } => {
            engine
                .jobs()
                .remove_schedule(id, &operator(), reason.trim())
                .await?;
            println!("schedule {id} removed; it fires no more");
            Ok(())
        }
        JobsCommand::Log { run: Some(id), .. } => show_run(engine, id).await,
        JobsCommand::Log {
            run: None,
            process,
            limit,
        } => log(engine, process, limit).await,
        JobsCommand::RunNow {
            process,
            schedule,
            params,
            yes,
            wait,
        } => {
            let job = match (&process, schedule) {
                (Some(process), _) => process.clone(),
                (None, Some(id)) => engine.jobs().schedule(id).await?.process,
                (None, None) => unreachable!("clap requires one of them"),
            };
            let parameters = parameters(engine, &job, &params)?;
            let confirmed = confirm(engine, &job, yes)?;
            let run = engine
                .jobs()
                .run_job_now(
                    &RunRequest {
                        process,
                        schedule,
                        parameters,
                        confirmed,
                    },
                    &operator(),
                )
                .await?;
            println!("run {} of {} started", run.id, run.process);
            if wait {
                follow(engine, run.id).await
            } else {
                Ok(())
            }
        }
    }
}

/// NAME=VALUE pairs, typed by the job's declaration.
fn parameters(
    engine: &Engine,
    process: &str,
    pairs: &[String],
) -> anyhow::Result<Map<String, Value>> {
    let split: Vec<(&str, &str)> = pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .with_context(|| format!("`{pair}` is not NAME=VALUE"))
        })
        .collect::<anyhow::Result<_>>()?;
    let catalog = engine.catalog();
    Ok(
        match catalog.latest(process).and_then(|(_, d)| {
            d.job
                .as_ref()
                .map(|j| j.read_parameters(split.iter().copied()))
        }) {
            Some(read) => read,
            // Not a job: the engine's check says so.
            None => Map::new(),
        },
    )
}

/// An exceptional job's text, confirmed by `--yes` or at the terminal.
fn confirm(engine: &Engine, process: &str, yes: bool) -> anyhow::Result<bool> {
    let text = engine
        .catalog()
        .latest(process)
        .and_then(|(_, d)| d.job.as_ref().and_then(|j| j.confirm.clone()));
    let Some(text) = text else {
        return Ok(false);
    };
    if yes {
        return Ok(true);
    }
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "{text}\nThis job runs only when confirmed: add --yes"
    );
    eprint!("{text}\nType yes to go on: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    anyhow::ensure!(
        answer.trim().eq_ignore_ascii_case("yes"),
        "not confirmed; nothing was started"
    );
    Ok(true)
}

async fn list(engine: &Engine) -> anyhow::Result<()> {
    let catalog = engine.catalog();
    println!("jobs:");
    for (_, def) in catalog.latest_all() {
        let Some(job) = &def.job else {
            continue;
        };
        let params: Vec<String> = job
            .parameters
            .iter()
            .map(|(name, p)| match &p.default {
                Some(Value::String(text)) => format!("{name}={text}"),
                Some(default) => format!("{name}={default}"),
                None => name.clone(),
            })
            .collect();
        println!("  {:<40} {}  {}", def.id, def.title, params.join(" "));
    }
    let schedules = engine.jobs().schedules_with_warnings().await?;
    println!("\nschedules:");
    if schedules.is_empty() {
        println!("  none; add one with `forlob jobs schedule PROCESS --time HH:MM --days mon,...`");
    }
    for (s, warnings) in schedules {
        let when = match (&s.start_time, s.weekdays.is_empty()) {
            (Some(time), false) => format!("{time} {}", s.weekdays.join(",")),
            _ => format!("cron {}", s.cron),
        };
        let next = s
            .next_fire_at
            .map_or_else(|| "-".to_owned(), |n| local(n, &s.time_zone));
        println!("  {}  {:<30} {:<28} next {next}", s.id, s.label, when);
        for warning in warnings {
            println!("    warning: {warning}");
        }
    }
    Ok(())
}

async fn log(engine: &Engine, process: Option<String>, limit: u64) -> anyhow::Result<()> {
    let runs = engine
        .jobs()
        .logbook(&LogbookFilter {
            process,
            limit,
            ..LogbookFilter::default()
        })
        .await?;
    println!(
        "{:>6}  {:<36} {:<16} {:<8} {:<20} {:>9}  counts",
        "run", "job", "status", "trigger", "fired (UTC)", "minutes"
    );
    for run in runs {
        println!(
            "{:>6}  {:<36} {:<16} {:<8} {:<20} {:>9}  {}",
            run.id,
            run.process,
            run.status.as_str(),
            run.trigger,
            run.fire_at.format("%Y-%m-%d %H:%M"),
            run.duration()
                .map_or_else(|| "-".into(), |d| d.num_minutes().to_string()),
            counts(&run)
        );
    }
    Ok(())
}

async fn show_run(engine: &Engine, id: i64) -> anyhow::Result<()> {
    let (run, details) = engine.jobs().job_run(id, 1000).await?;
    println!("run {} of {}: {}", run.id, run.process, run.status.as_str());
    println!("  fired    {}", run.fire_at);
    if let Some(started) = run.started_at {
        println!("  started  {started}");
    }
    if let Some(ended) = run.ended_at {
        println!("  ended    {ended}");
    }
    if let Some(reason) = &run.reason {
        println!("  reason   {reason}");
    }
    println!("  progress {}", progress(&run));
    println!("  counts   {}", counts(&run));
    for d in details {
        println!(
            "  {:<10} {:<16} {}",
            d.kind,
            d.subject.unwrap_or_default(),
            d.message
        );
    }
    Ok(())
}

/// Works the run's steps here until it ends, with a progress bar.
async fn follow(engine: &Engine, id: i64) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}")
            .context("progress bar template")?,
    );
    loop {
        engine.jobs().run_due().await?;
        let (run, _) = engine.jobs().job_run(id, 0).await?;
        if let Some(total) = run.progress_total {
            bar.set_length(u64::try_from(total).unwrap_or(0));
        }
        bar.set_position(u64::try_from(run.progress_done).unwrap_or(0));
        bar.set_message(counts(&run));
        if run.status != RunStatus::Running {
            bar.finish_and_clear();
            println!(
                "run {id} {} after {} s: {}",
                run.status.as_str(),
                run.duration().map_or(0, |d| d.num_seconds()),
                counts(&run)
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn counts(run: &JobRun) -> String {
    run.counts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn progress(run: &JobRun) -> String {
    match run.progress_total {
        Some(total) => format!("{} / {total}", run.progress_done),
        None => run.progress_done.to_string(),
    }
}

fn local(at: chrono::DateTime<chrono::Utc>, zone: &str) -> String {
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => at
            .with_timezone(&tz)
            .format("%Y-%m-%d %a %H:%M %Z")
            .to_string(),
        Err(_) => at.to_rfc3339(),
    }
}
