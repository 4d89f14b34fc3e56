//! `forlob audit`: the audit log from the command line (admins on the server): list it,
//! export it as CSV, verify its chain, prune what is older than the retention. Listing and
//! exporting are recorded like any other look at the log.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use forlob_engine::audit::{AuditAction, AuditFilter, AuditVerdict};
use forlob_web::audit_export::{parse_instant, to_csv};
use forlob_web::config::Config;

#[derive(Args)]
pub(crate) struct AuditArgs {
    /// Database URL [default: from the configuration].
    #[arg(long, global = true)]
    pub(super) db: Option<String>,
    #[command(subcommand)]
    command: AuditCommand,
}

/// Which entries: every filter narrows.
#[derive(Args, Clone)]
struct Filters {
    /// A person (CPR number or personnummer).
    #[arg(long)]
    subject: Option<String>,
    /// A username.
    #[arg(long)]
    actor: Option<String>,
    /// An action, e.g. person.read, user.disable, sign_in.failed.
    #[arg(long)]
    action: Option<String>,
    /// From this day (YYYY-MM-DD, Danish time) or instant (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// To this day (inclusive) or instant (exclusive).
    #[arg(long)]
    to: Option<String>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Entries, newest first.
    List {
        #[command(flatten)]
        filters: Filters,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Entries as CSV, newest first, to a file or standard output.
    Export {
        #[command(flatten)]
        filters: Filters,
        /// The file to write [default: standard output].
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        #[arg(long, default_value_t = 1_000_000)]
        limit: u64,
    },
    /// Walk the hash chain: exit 1 and name the first entry that was changed, removed or
    /// moved; else print how many entries are intact and the newest hash (keep it elsewhere to
    /// detect a rewrite of the whole log).
    Verify,
    /// Delete entries older than the retention (`audit_retention_days`, default 5 years);
    /// the pruning is itself recorded, and `verify` starts from the first entry kept.
    Prune,
}

impl Filters {
    fn filter(self, limit: u64, zone: chrono_tz::Tz) -> anyhow::Result<AuditFilter> {
        if let Some(action) = &self.action
            && AuditAction::parse(action).is_none()
        {
            anyhow::bail!(
                "--action `{action}` is not an action; one of {}",
                AuditAction::ALL.map(AuditAction::as_str).join(", ")
            );
        }
        let instant = |name: &str, value: Option<String>, end: bool| {
            value
                .map(|v| {
                    parse_instant(&v, end, zone).with_context(|| {
                        format!(
                            "--{name} `{v}` is neither a day (2026-12-06) nor an instant (RFC 3339)"
                        )
                    })
                })
                .transpose()
        };
        Ok(AuditFilter {
            from: instant("from", self.from, false)?,
            to: instant("to", self.to, true)?,
            subject: self.subject,
            actor: self.actor,
            action: self.action,
            before: None,
            limit,
        })
    }
}

pub(crate) async fn run(args: AuditArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let url = args.db.unwrap_or_else(|| config.db.clone());
    let engine = super::open_engine(&url, config).await?;
    let actor = super::operator();
    match args.command {
        AuditCommand::List { filters, limit } => {
            let entries = engine
                .audit()
                .audit_entries(
                    &filters.filter(limit, engine.timezone())?,
                    &actor,
                    AuditAction::AuditRead,
                )
                .await?;
            if entries.is_empty() {
                println!("no audit entries match");
            }
            for e in entries {
                println!(
                    "{:>8}  {}  {:<16} {:<20} {:<12} {:<10} {}  {}",
                    e.id,
                    e.at.format("%Y-%m-%d %H:%M:%S"),
                    e.actor,
                    e.action,
                    e.subject.as_deref().unwrap_or("-"),
                    e.via,
                    e.target.as_deref().unwrap_or("-"),
                    e.detail
                );
            }
        }
        AuditCommand::Export {
            filters,
            out,
            limit,
        } => {
            let entries = engine
                .audit()
                .audit_entries(
                    &filters.filter(limit, engine.timezone())?,
                    &actor,
                    AuditAction::AuditExport,
                )
                .await?;
            let csv = to_csv(&entries)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, csv)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("wrote {} entries to {}", entries.len(), path.display());
                }
                None => std::io::stdout().write_all(csv.as_bytes())?,
            }
        }
        AuditCommand::Verify => match engine.audit().verify_audit().await? {
            AuditVerdict::Intact { entries, head } => {
                println!("audit log intact: {entries} entries; newest hash {head}");
            }
            AuditVerdict::Broken { id, reason } => {
                println!("audit log BROKEN at entry {id}: {reason}");
                return Ok(ExitCode::from(1));
            }
        },
        AuditCommand::Prune => {
            let deleted = engine.audit().prune_audit(&actor).await?;
            println!(
                "deleted {deleted} audit entries older than {} days",
                config.audit_retention_days
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
