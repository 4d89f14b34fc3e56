//! `forlob incidents`: automatic steps that failed for good, and what an admin does about
//! them (retry, skip to a state, cancel the instance), as the incidents page and the API do.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use forlob_engine::store;

use forlob_web::config::Config;

#[derive(Args)]
pub(crate) struct IncidentsArgs {
    /// Database URL [default: from the configuration].
    #[arg(long, global = true)]
    pub(super) db: Option<String>,
    #[command(subcommand)]
    command: Option<IncidentsCommand>,
}

#[derive(Subcommand)]
enum IncidentsCommand {
    /// Open incidents, newest first (the default).
    List {
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Run the failed step again (the cause has been mended).
    Retry { incident: i64 },
    /// Leave the failed step and go on in another state of the instance's version.
    Skip {
        incident: i64,
        /// The state to go on in.
        #[arg(long)]
        to: String,
        /// Why, for the audit log.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// End the instance as cancelled, with its tasks, timers and the instances it called.
    Cancel {
        incident: i64,
        /// Why, for the instance's history and the audit log.
        #[arg(long, default_value = "")]
        reason: String,
    },
}

pub(crate) async fn run(args: IncidentsArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let url = args.db.unwrap_or_else(|| config.db.clone());
    let engine = super::open_engine(&url, config).await?;
    let actor = super::operator();
    let (incident, instance, what) =
        match args.command.unwrap_or(IncidentsCommand::List { limit: 50 }) {
            IncidentsCommand::List { limit } => {
                let open = store::recent_incidents(engine.db(), limit).await?;
                if open.is_empty() {
                    println!("no open incidents");
                }
                for i in open {
                    println!(
                        "{:>6}  {}  {}  {}  {} attempt(s)  {}",
                        i.id,
                        i.created_at.format("%Y-%m-%d %H:%M:%S"),
                        i.instance_id,
                        i.state,
                        i.attempts,
                        i.error
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            IncidentsCommand::Retry { incident } => (
                incident,
                engine
                    .operations()
                    .retry_incident(incident, &actor, "")
                    .await?,
                "retried".to_owned(),
            ),
            IncidentsCommand::Skip {
                incident,
                to,
                reason,
            } => (
                incident,
                engine
                    .operations()
                    .skip_incident(incident, &to, &actor, reason.trim())
                    .await?,
                format!("skipped to `{to}`"),
            ),
            IncidentsCommand::Cancel { incident, reason } => (
                incident,
                engine
                    .operations()
                    .cancel_incident(incident, &actor, reason.trim())
                    .await?,
                "cancelled".to_owned(),
            ),
        };
    println!("incident {incident} {what}; instance {instance}");
    Ok(ExitCode::SUCCESS)
}
