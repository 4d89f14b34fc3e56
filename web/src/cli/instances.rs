//! `forlob instances list|show`: what is running, and the whole story of one instance.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use forlob_engine::store::{self, InstanceFilter, TaskFilter};
use serde_json::json;

use forlob_web::config::Config;

#[derive(Args)]
pub(crate) struct InstancesArgs {
    /// Database URL [default: from the configuration].
    #[arg(long, global = true)]
    db: Option<String>,
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
        /// active, completed, incident or cancelled.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// One instance as JSON: state, variables, history and its tasks.
    Show { id: uuid::Uuid },
}

pub(crate) async fn run(args: InstancesArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let url = args.db.clone().unwrap_or_else(|| config.db.clone());
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
            if let Some(s) = &status {
                anyhow::ensure!(
                    forlob_engine::InstanceStatus::parse(s).is_some(),
                    "unknown status `{s}`; use active, completed, incident or cancelled"
                );
            }
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
    }
    Ok(ExitCode::SUCCESS)
}
