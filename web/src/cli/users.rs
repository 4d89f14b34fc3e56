//! `forlob users`: add users (printing their API token once) and list them.

use std::io::BufRead;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use forlob_engine::store;
use forlob_web::config::Config;
use forlob_web::users::{self, UserSpec};

#[derive(Args)]
pub(crate) struct UsersArgs {
    /// Database URL [default: the configured one].
    #[arg(long, global = true)]
    pub(super) db: Option<String>,
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add a user and print their API token (shown this once).
    Add {
        /// Login name [default: ROLE-MUNICIPALITY-xxxx].
        username: Option<String>,
        /// caseworker, admin, designer, integration (may only deliver messages), auditor (may
        /// only read the audit log) or metrics (may only read /metrics: the token a Prometheus
        /// scraper uses).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(forlob_engine::Role::ALL.map(forlob_engine::Role::as_str)))]
        role: String,
        /// Official municipality code; required for caseworkers.
        #[arg(long)]
        municipality: Option<String>,
        /// Name shown in the UI [default: the username].
        #[arg(long)]
        name: Option<String>,
        /// Read a password for the web UI from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
}

pub(crate) async fn run(args: UsersArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let url = args.db.unwrap_or_else(|| config.db.clone());
    let engine = super::open_engine(&url, config).await?;
    match args.command {
        UsersCommand::Add {
            username,
            role,
            municipality,
            name,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let username = username.unwrap_or_else(|| {
                let suffix = &forlob_web::auth::new_secret()[..4];
                format!(
                    "{role}-{}-{suffix}",
                    municipality.as_deref().unwrap_or("all")
                )
            });
            let spec = UserSpec {
                username,
                display_name: name,
                role,
                municipality,
                password,
            };
            match users::add(&engine, spec, &super::operator()).await {
                Ok((user, token)) => {
                    eprintln!(
                        "added {} ({}{}); API token, shown this once:",
                        user.username,
                        user.role,
                        user.municipality
                            .map(|m| format!(", municipality {m}"))
                            .unwrap_or_default()
                    );
                    println!("{token}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("forlob: {}", e.message);
                    if let Some(fields) = e.field_errors() {
                        for (field, message) in fields {
                            eprintln!("  {field}: {}", message.as_str().unwrap_or_default());
                        }
                    }
                    Ok(ExitCode::from(1))
                }
            }
        }
        UsersCommand::List => {
            let all = store::users(engine.db()).await?;
            println!("{:<28} {:<11} {:<6} name", "username", "role", "mun.");
            for u in all {
                println!(
                    "{:<28} {:<11} {:<6} {}{}",
                    u.username,
                    u.role,
                    u.municipality.unwrap_or_default(),
                    u.display_name,
                    if u.disabled { " (disabled)" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
