//! `forlob instances list|show`: what is running, and the whole story of one instance;
//! `restart|migrate|resume|migrations`: moving in-flight instances onto a new version after
//! a release (docs/releases.md).

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use forlob_engine::definition::SourceFile;
use forlob_engine::release::{self, Operation};
use forlob_engine::runtime::{
    InstanceOperation, MigrationPreview, MigrationStatus, Progress, RestartRequest,
};
use forlob_engine::store::{self, InstanceFilter, TaskFilter};
use forlob_engine::{Engine, EngineError};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use forlob_web::config::Config;

#[derive(Args)]
pub(crate) struct InstancesArgs {
    /// Database URL [default: from the configuration].
    #[arg(long, global = true)]
    pub(super) db: Option<String>,
    #[command(subcommand)]
    command: InstancesCommand,
}

#[derive(Subcommand)]
enum InstancesCommand {
    /// Instances matching the filters, oldest first.
    List {
        #[arg(long)]
        process: Option<String>,
        #[arg(long)]
        state: Option<String>,
        /// active, completed, incident, cancelled or suspended.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// One instance as JSON: state, variables, history and its tasks.
    Show { id: uuid::Uuid },
    /// Restart after release: instances of older versions of PROCESS (and its former ids)
    /// go onto the newest version. Manual states restart in its automatic path; waits the new
    /// version also has keep their timers.
    Restart {
        /// The process, or a former id of it.
        process: String,
        /// Only instances on this version.
        #[arg(long)]
        from_version: Option<i32>,
        /// Only instances in this state (repeat for several).
        #[arg(long = "state")]
        states: Vec<String>,
        /// Where restarted instances start again [default: the new version's initial state].
        #[arg(long)]
        to_state: Option<String>,
        /// Allow dropping live timers of states the new version no longer has.
        #[arg(long)]
        drop_timers: bool,
        /// Give the new tasks due dates from the new version [default: a task made anew
        /// keeps the due date of the task of the same kind it replaces].
        #[arg(long)]
        new_due_dates: bool,
        /// Why, for the audit entry of each instance.
        #[arg(long, default_value = "")]
        reason: String,
        /// Print what would happen to each instance and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Migrate instances by a plan file (YAML beside the definitions; docs/releases.md).
    Migrate {
        plan: std::path::PathBuf,
        /// Overrides the plan's reason.
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        dry_run: bool,
    },
    /// Migrations, newest first, or one with its problems.
    #[command(group(clap::ArgGroup::new("ending").args(["undo", "abandon"])))]
    Migrations {
        id: Option<i64>,
        /// Continue the migration (or its undo) a crash or a stop interrupted, here, with a
        /// progress bar.
        #[arg(long, requires = "id", conflicts_with_all = ["undo", "abandon"])]
        resume: bool,
        /// Take the finished or abandoned migration back, for the instances that have not
        /// moved on since.
        #[arg(long, requires = "id", conflicts_with = "abandon")]
        undo: bool,
        /// End the running migration where it is: its pending instances stay on their
        /// version, the ones it moved stay moved (undo them with `--undo`).
        #[arg(long, requires = "id")]
        abandon: bool,
        /// Why it is abandoned or undone (recorded on the migration; an abandon also records
        /// it on each pending instance's item).
        #[arg(long, default_value = "", requires = "ending")]
        reason: String,
    },
    /// Stop an active instance: its timers and steps are held, its tasks cannot be completed.
    Suspend {
        id: uuid::Uuid,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Put a suspended instance back to work; held timers run at their due times.
    Resume {
        id: uuid::Uuid,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// End an unfinished instance as cancelled: its tasks cancelled, its timers dropped.
    Cancel {
        id: uuid::Uuid,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

pub(crate) async fn run(args: InstancesArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let url = args.db.clone().unwrap_or_else(|| config.db.clone());
    if !matches!(
        args.command,
        InstancesCommand::List { .. } | InstancesCommand::Show { .. }
    ) {
        let engine = super::open_engine(&url, config).await?;
        return operate(&engine, args.command).await;
    }
    let db = forlob_engine::runtime::connect(&url, &config.engine_options())
        .await
        .with_context(|| format!("cannot open the database at {url}"))?;
    match args.command {
        InstancesCommand::List {
            process,
            state,
            status,
            subject,
            limit,
        } => {
            let status = status
                .map(|s| {
                    forlob_engine::InstanceStatus::parse(&s).with_context(|| {
                        format!(
                            "unknown status `{s}`; use active, completed, incident, cancelled or suspended"
                        )
                    })
                })
                .transpose()?;
            let filter = InstanceFilter {
                process_id: process,
                state,
                status,
                subject,
                limit: Some(limit),
                ..InstanceFilter::default()
            };
            let instances = store::instances(&db, &filter).await?;
            println!(
                "{:<36}  {:<28} {:>3}  {:<16} {:<10} {:<20} created",
                "id", "process", "v", "subject", "status", "state"
            );
            for i in &instances {
                println!(
                    "{:<36}  {:<28} {:>3}  {:<16} {:<10} {:<20} {}",
                    i.id,
                    i.process_id,
                    i.version,
                    i.subject,
                    i.status.as_str(),
                    i.state,
                    i.created_at.format("%Y-%m-%d %H:%M:%S")
                );
            }
            println!("{} instance(s)", instances.len());
        }
        InstancesCommand::Show { id } => {
            let (instance, _) = store::instance(&db, id)
                .await?
                .with_context(|| format!("no instance {id}"))?;
            let history = store::history(&db, id).await?;
            let tasks = store::tasks(
                &db,
                &TaskFilter {
                    instance_id: Some(id),
                    ..TaskFilter::default()
                },
            )
            .await?;
            let shown = json!({ "instance": instance, "history": history, "tasks": tasks });
            println!("{}", serde_json::to_string_pretty(&shown)?);
        }
        _ => unreachable!("the other commands are served with an engine above"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn operate(engine: &Engine, command: InstancesCommand) -> anyhow::Result<ExitCode> {
    let actor = super::operator();
    let (plan, dry_run) = match command {
        InstancesCommand::Restart {
            process,
            from_version,
            states,
            to_state,
            drop_timers,
            new_due_dates,
            reason,
            dry_run,
        } => {
            let request = RestartRequest {
                process,
                from_version,
                states,
                to_state,
                drop_timers,
                new_due_dates,
                reason,
            };
            (
                engine
                    .releases()
                    .restart_plan(&request)
                    .await
                    .map_err(explain)?,
                dry_run,
            )
        }
        InstancesCommand::Migrate {
            plan,
            reason,
            dry_run,
        } => {
            let text = std::fs::read_to_string(&plan)
                .with_context(|| format!("cannot read {}", plan.display()))?;
            let file = SourceFile {
                path: plan.display().to_string(),
                text,
            };
            let (mut request, positions) = match release::parse_plan(&file) {
                Ok(parsed) => parsed,
                Err(diagnostics) => return Ok(report(&diagnostics)),
            };
            if let Some(reason) = reason {
                request.reason = reason;
            }
            engine
                .releases()
                .check_plan_texts(&request.name, &request.reason)
                .map_err(explain)?;
            engine.refresh_catalog().await?;
            match release::resolve(&request, &engine.catalog()) {
                Ok(plan) => (plan, dry_run),
                Err(errors) => return Ok(report(&positions.diagnostics(&errors))),
            }
        }
        InstancesCommand::Migrations {
            id: Some(id),
            undo: true,
            reason,
            ..
        } => {
            let status = engine
                .releases()
                .undo_migration(id, &actor, &reason, &*progress_bar()?)
                .await?;
            print_status(&status);
            return Ok(ExitCode::SUCCESS);
        }
        InstancesCommand::Migrations {
            id: Some(id),
            resume: true,
            ..
        } => {
            let record = forlob_engine::audit::AuditRecord::new(
                forlob_engine::audit::AuditAction::MigrationResume,
            )
            .target(id);
            engine.audit().record(&actor, vec![record]).await?;
            let status = engine
                .releases()
                .continue_migration(id, &actor, &*progress_bar()?)
                .await?;
            print_status(&status);
            return Ok(exit_code(&status));
        }
        InstancesCommand::Migrations {
            id: Some(id),
            abandon: true,
            reason,
            ..
        } => {
            print_status(
                &engine
                    .releases()
                    .abandon_migration(id, &actor, &reason)
                    .await?,
            );
            return Ok(ExitCode::SUCCESS);
        }
        InstancesCommand::Migrations { id: Some(id), .. } => {
            print_status(&engine.releases().migration_status(id).await?);
            return Ok(ExitCode::SUCCESS);
        }
        InstancesCommand::Suspend { id, reason } => {
            return operate_one(engine, id, InstanceOperation::Suspend, &reason).await;
        }
        InstancesCommand::Resume { id, reason } => {
            return operate_one(engine, id, InstanceOperation::Resume, &reason).await;
        }
        InstancesCommand::Cancel { id, reason } => {
            return operate_one(engine, id, InstanceOperation::Cancel, &reason).await;
        }
        InstancesCommand::Migrations { id: None, .. } => {
            let rows = store::releases::migrations(engine.db(), 50).await?;
            println!(
                "{:>5}  {:<10} {:<28} {:>3}  {:>8}  {:<20} name",
                "id", "status", "process", "v", "items", "started"
            );
            for m in rows {
                println!(
                    "{:>5}  {:<10} {:<28} {:>3}  {:>8}  {:<20} {}",
                    m.id,
                    m.status,
                    m.process_id,
                    m.to_version,
                    m.total,
                    m.created_at.format("%Y-%m-%d %H:%M:%S"),
                    m.name
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        InstancesCommand::List { .. } | InstancesCommand::Show { .. } => {
            unreachable!("served without an engine")
        }
    };
    if dry_run {
        let preview = engine.releases().preview_migration(&plan).await?;
        print_preview(&preview);
        return Ok(ExitCode::SUCCESS);
    }
    let id = engine
        .releases()
        .start_migration(&plan, &actor)
        .await
        .map_err(explain)?;
    println!(
        "migration {id}: {} ({} v{})",
        plan.name, plan.process, plan.to_version
    );
    let status = engine
        .releases()
        .run_migration(id, &actor, &*progress_bar()?)
        .await?;
    print_status(&status);
    Ok(exit_code(&status))
}

async fn operate_one(
    engine: &Engine,
    id: uuid::Uuid,
    operation: InstanceOperation,
    reason: &str,
) -> anyhow::Result<ExitCode> {
    engine
        .operations()
        .operate_instance(id, operation, &super::operator(), reason)
        .await?;
    println!("instance {id}: {} done", operation.as_str());
    Ok(ExitCode::SUCCESS)
}

/// An engine refusal as the one line a person reads (a 409 or a 422 with its fields).
fn explain(e: EngineError) -> anyhow::Error {
    match e {
        EngineError::Invalid(fields) => anyhow::anyhow!(
            "the plan is refused:\n{}",
            fields
                .iter()
                .map(|(k, v)| format!("  {k}: {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        other => other.into(),
    }
}

fn report(diagnostics: &[forlob_engine::definition::Diagnostic]) -> ExitCode {
    for d in diagnostics {
        eprintln!("{d}");
    }
    ExitCode::FAILURE
}

/// A progress bar fed after each batch; hidden when stderr is not a terminal.
fn progress_bar() -> anyhow::Result<Box<dyn Fn(Progress) + Sync>> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {per_sec} {eta}",
        )
        .context("progress bar template")?,
    );
    Ok(Box::new(move |p: Progress| {
        bar.set_length(p.total);
        bar.set_position(p.handled);
        if p.handled >= p.total {
            bar.finish_and_clear();
        }
    }))
}

fn print_preview(preview: &MigrationPreview) {
    let plan = &preview.plan;
    println!(
        "dry run of {}: onto {} v{}; nothing is changed",
        plan.name, plan.process, plan.to_version
    );
    println!(
        "{:<28} {:>3}  {:<24} {:<9} {:<24} {:>9} {:>7} {:>7} {:>8}",
        "from", "v", "state", "operation", "to state", "instances", "tasks", "timers", "cancels"
    );
    for g in &preview.groups {
        println!(
            "{:<28} {:>3}  {:<24} {:<9} {:<24} {:>9} {:>7} {:>7} {:>8}",
            g.from_process,
            g.from_version,
            g.from_state,
            g.operation.map_or("stays", Operation::as_str),
            g.to_state.as_deref().unwrap_or("-"),
            g.instances,
            g.open_tasks,
            g.timers,
            g.children_cancelled
        );
    }
    for item in preview.items.iter().take(50) {
        let what = match (&item.operation, &item.to_state) {
            (Some(op), Some(to)) => format!("{} {to}", op.as_str()),
            _ => format!("stays on v{}", item.from_version),
        };
        let mut notes = Vec::new();
        if !item.tasks_cancelled.is_empty() {
            notes.push(format!("cancels {}", item.tasks_cancelled.join(", ")));
        }
        if !item.tasks_kept.is_empty() && item.operation.is_some() {
            notes.push(format!("keeps {}", item.tasks_kept.join(", ")));
        }
        for at in &item.timers_kept {
            notes.push(format!("timer kept {}", at.to_rfc3339()));
        }
        for at in &item.timers_dropped {
            notes.push(format!("timer dropped {}", at.to_rfc3339()));
        }
        for child in &item.children_cancelled {
            notes.push(format!("cancels called instance {child}"));
        }
        println!(
            "  {} {:<14} {} -> {what} {}",
            item.instance_id,
            item.subject,
            item.from_state,
            notes.join("; ")
        );
    }
    if preview.items.len() > 50 {
        println!("  ... and {} more", preview.items.len() - 50);
    }
}

fn print_status(status: &MigrationStatus) {
    let m = &status.migration;
    println!(
        "migration {} {}: {} of {} item(s) done, {} skipped, {} failed, {} pending, {} undone, {} kept",
        m.id,
        m.status,
        status.count("done"),
        m.total,
        status.count("skipped"),
        status.count("failed"),
        status.count("pending"),
        status.count("undone"),
        status.count("kept"),
    );
    if let Some(by) = &m.abandoned_by {
        println!("  abandoned by {by}: {}", m.abandon_reason);
    }
    if let Some(by) = &m.undone_by {
        println!("  undone by {by}: {}", m.undo_reason);
    }
    for p in &status.problems {
        println!(
            "  {} {} {} v{} {}: {}",
            p.status,
            p.instance_id,
            p.from_process,
            p.from_version,
            p.from_state,
            p.message.as_deref().unwrap_or("")
        );
    }
}

fn exit_code(status: &MigrationStatus) -> ExitCode {
    if status.count("failed") > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
