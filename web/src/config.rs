//! The server's configuration: defaults, then `forlob.toml` (or `--config FILE`), then
//! `FORLOB_*` environment variables (and `DATABASE_URL`), then command-line flags. Read and
//! validated once at start-up and passed down; nothing deeper reads the environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use forlob_engine::{EngineOptions, TextLimits};
use serde::{Deserialize, Serialize};

const DAY: u64 = 24 * 3600;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `sqlite://PATH?mode=rwc` or `postgres://user@host:port/db`.
    pub db: String,
    pub listen: String,
    /// Folder of process packages deployed at start; default the shipped ones.
    pub processes: Option<PathBuf>,
    /// `real`, or `manual` for training and demos (time moves only when told).
    pub clock: ClockKind,
    /// IANA zone of `today` and timers in definitions that name no `timezone:`, and of the
    /// dates people read and type (a day in a filter starts at midnight here).
    pub timezone: String,
    /// Workers running due timers and steps; default 1 on SQLite, 4 on PostgreSQL.
    pub workers: Option<usize>,
    pub worker_interval_ms: u64,
    pub batch_size: u64,
    /// Writers grouped into one transaction at most on SQLite (group commit).
    pub group_max: u64,
    /// `auto` (on SQLite, every thread on one CPU; on PostgreSQL, none pinned), `off`, or a CPU
    /// number (see [`crate::affinity`]).
    pub cpu_affinity: crate::affinity::CpuAffinity,
    pub lease_seconds: u64,
    pub max_connections: u32,
    pub busy_timeout_ms: u64,
    pub store_attempts: u32,
    /// Synthetic persons (with cases, benefits and deductions) loaded into an empty register at
    /// start, so a newcomer sees real work at once; 0 for none.
    pub demo_persons: usize,
    /// Move messages sent through the processes when demo data is first loaded, so the demo
    /// caseworker's inbox has work; 0 for none.
    pub demo_moves: usize,
    /// Deploy the engine's demo processes (`demo-*`) at start (`serve --demo`); never on a
    /// production database, since anyone may start them.
    pub demo_processes: bool,
    /// Where `scripts/assets.sh` installed the browser assets (`node_modules`);
    /// default `web/assets/node_modules` of the source tree, or `./node_modules`.
    pub assets_dir: Option<PathBuf>,
    /// Mark the session cookie `Secure`; set it when users reach forlob over HTTPS.
    pub secure_cookies: bool,
    /// How long a sign-in lasts.
    pub session_hours: u64,
    pub request_timeout_seconds: u64,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Sign-in attempts per username and address within 5 minutes before further ones are
    /// refused; five times as many per username over all addresses, and ten times as many
    /// per address only slow that address down (docs/web.md, "Login limiter").
    pub login_max_failures: u32,
    /// Days a caseworker's municipality still sees a person after its last task about them
    /// closed (docs/security.md).
    pub visibility_grace_days: u64,
    /// Days audit entries are kept; `forlob audit prune` deletes older ones.
    pub audit_retention_days: u64,
    /// Two firings of a schedule must be at least this many seconds apart; 0 allows any.
    pub schedule_min_interval_seconds: u64,
    /// The longest free text accepted, in characters (docs/security.md, "Limits"): names
    /// (display names, token names, schedule labels, plan names).
    pub max_name_chars: usize,
    /// Reasons of instance operations, restarts, migrations and their undoing.
    pub max_reason_chars: usize,
    /// One-line form fields (every type but `textarea`) and job text parameters.
    pub max_text_chars: usize,
    /// `textarea` form fields.
    pub max_textarea_chars: usize,
    /// Inbound messages' `message_id`.
    pub max_message_id_chars: usize,
    /// Inbound messages' `type`.
    pub max_message_type_chars: usize,
    /// Search queries and list filters (the audit log, instances).
    pub max_query_chars: usize,
}

/// Whether a database URL names SQLite (`sqlite://PATH`, `sqlite::memory:`).
pub fn is_sqlite_url(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// Whether a database URL names PostgreSQL (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres")
}

/// Which clock the engine runs on. A setting that is neither is refused when the
/// configuration is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClockKind {
    /// The system's clock.
    Real,
    /// Time moves only when an admin moves it, for training and demos.
    Manual,
}

impl Default for Config {
    fn default() -> Self {
        let engine = EngineOptions::default();
        Self {
            db: "sqlite://forlob.db?mode=rwc".into(),
            listen: "127.0.0.1:8080".into(),
            processes: None,
            clock: ClockKind::Real,
            timezone: "Europe/Copenhagen".into(),
            workers: None,
            worker_interval_ms: 1000,
            batch_size: engine.batch_size,
            group_max: engine.group_max,
            cpu_affinity: crate::affinity::CpuAffinity::default(),
            lease_seconds: engine.lease.as_secs(),
            max_connections: engine.max_connections,
            busy_timeout_ms: u64::try_from(engine.busy_timeout.as_millis()).unwrap_or(10_000),
            store_attempts: engine.store_attempts,
            demo_persons: 3_000,
            demo_moves: 2_000,
            demo_processes: false,
            assets_dir: None,
            secure_cookies: false,
            session_hours: 10,
            request_timeout_seconds: 30,
            body_limit_bytes: 1024 * 1024,
            login_max_failures: 5,
            visibility_grace_days: engine.visibility_grace.as_secs() / DAY,
            audit_retention_days: engine.audit_retention.as_secs() / DAY,
            schedule_min_interval_seconds: engine.schedule_min_interval.as_secs(),
            max_name_chars: engine.text_limits.name,
            max_reason_chars: engine.text_limits.reason,
            max_text_chars: engine.text_limits.text,
            max_textarea_chars: engine.text_limits.textarea,
            max_message_id_chars: engine.text_limits.message_id,
            max_message_type_chars: engine.text_limits.message_type,
            max_query_chars: engine.text_limits.query,
        }
    }
}

impl Config {
    /// Layers defaults, the file (`forlob.toml` when it exists, or `file`, which must) and the
    /// environment.
    pub fn load(file: Option<&Path>) -> Result<Self, String> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(format!("config file {} does not exist", path.display()));
            }
            Some(path) => figment = figment.merge(Toml::file(path)),
            None => figment = figment.merge(Toml::file("forlob.toml")),
        }
        figment = figment
            .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "db".into()))
            // The test harness's own switches share the prefix; they are not settings.
            .merge(Env::prefixed("FORLOB_").ignore(&[
                "TEST_POSTGRES",
                "REQUIRE_BROWSER",
                "REQUIRE_FUZZ",
                "SCREENSHOTS",
                "CHROMIUM",
                "CHROMEDRIVER",
            ]));
        figment.extract().map_err(|e| format!("configuration: {e}"))
    }

    /// Checks everything that can be checked before connecting, with messages an admin can act on.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if !(is_sqlite_url(&self.db)
            || self.db.starts_with("postgres://")
            || self.db.starts_with("postgresql://"))
        {
            problems.push(format!(
                "db `{}` is neither sqlite:... nor postgres://...",
                self.db
            ));
        }
        if self.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "listen `{}` is not an address like 127.0.0.1:8080",
                self.listen
            ));
        }
        if let Err(problem) = self.check_timezone() {
            problems.push(problem);
        }
        for (name, value) in [
            ("workers", self.workers.unwrap_or(1) as u64),
            ("worker_interval_ms", self.worker_interval_ms),
            ("batch_size", self.batch_size),
            ("group_max", self.group_max),
            ("lease_seconds", self.lease_seconds),
            ("max_connections", u64::from(self.max_connections)),
            ("store_attempts", u64::from(self.store_attempts)),
            ("session_hours", self.session_hours),
            ("request_timeout_seconds", self.request_timeout_seconds),
            ("body_limit_bytes", self.body_limit_bytes as u64),
            ("login_max_failures", u64::from(self.login_max_failures)),
            ("audit_retention_days", self.audit_retention_days),
            ("max_name_chars", self.max_name_chars as u64),
            ("max_reason_chars", self.max_reason_chars as u64),
            ("max_text_chars", self.max_text_chars as u64),
            ("max_textarea_chars", self.max_textarea_chars as u64),
            ("max_message_id_chars", self.max_message_id_chars as u64),
            ("max_message_type_chars", self.max_message_type_chars as u64),
            ("max_query_chars", self.max_query_chars as u64),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be at least 1"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Every command checks this first: a wrong zone would move every date.
    pub fn check_timezone(&self) -> Result<(), String> {
        match self.timezone.parse::<chrono_tz::Tz>() {
            Ok(_) => Ok(()),
            Err(_) => Err(format!(
                "timezone `{}` is not an IANA time zone (e.g. Europe/Copenhagen)",
                self.timezone
            )),
        }
    }

    /// The deployment's zone (UTC for a setting that is not one, which
    /// [`Config::check_timezone`] refuses before any command runs).
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    pub fn is_postgres(&self) -> bool {
        is_postgres_url(&self.db)
    }

    pub fn workers(&self) -> usize {
        self.workers
            .unwrap_or(if self.is_postgres() { 4 } else { 1 })
    }

    /// The folder of the browser assets: the configured one, else the source tree's
    /// `web/assets/node_modules`, else `./web/assets/node_modules`, if it exists.
    pub fn assets_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = &self.assets_dir {
            return Some(dir.clone());
        }
        [
            Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/node_modules"),
            PathBuf::from("web/assets/node_modules"),
        ]
        .into_iter()
        .find(|dir| dir.is_dir())
    }

    pub fn web_settings(&self) -> crate::WebSettings {
        crate::WebSettings {
            secure_cookies: self.secure_cookies,
            session_ttl: Duration::from_secs(self.session_hours * 3600),
            body_limit: self.body_limit_bytes,
            request_timeout: Duration::from_secs(self.request_timeout_seconds),
            assets_dir: self.assets_dir(),
            login_max_failures: self.login_max_failures,
            packages_dir: Some(
                self.processes
                    .clone()
                    .unwrap_or_else(forlob_processes::processes_dir),
            )
            .filter(|dir| dir.is_dir()),
            ..crate::WebSettings::default()
        }
    }

    /// The `max_*_chars` keys as the engine's limits.
    pub fn text_limits(&self) -> TextLimits {
        TextLimits {
            name: self.max_name_chars,
            reason: self.max_reason_chars,
            text: self.max_text_chars,
            textarea: self.max_textarea_chars,
            message_id: self.max_message_id_chars,
            message_type: self.max_message_type_chars,
            query: self.max_query_chars,
        }
    }

    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            batch_size: self.batch_size,
            group_max: self.group_max,
            lease: Duration::from_secs(self.lease_seconds),
            max_connections: self.max_connections,
            busy_timeout: Duration::from_millis(self.busy_timeout_ms),
            store_attempts: self.store_attempts,
            visibility_grace: Duration::from_secs(self.visibility_grace_days * DAY),
            audit_retention: Duration::from_secs(self.audit_retention_days * DAY),
            schedule_min_interval: Duration::from_secs(self.schedule_min_interval_seconds),
            text_limits: self.text_limits(),
            ..EngineOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_use_sqlite() {
        let config = Config::default();
        assert!(config.validate().is_ok());
        assert_eq!(config.workers(), 1);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let config = Config {
            db: "mysql://x".into(),
            listen: "everywhere".into(),
            batch_size: 0,
            ..Config::default()
        };
        let message = config.validate().expect_err("invalid");
        assert!(
            message.contains("mysql://x")
                && message.contains("everywhere")
                && message.contains("batch_size"),
            "{message}"
        );
    }

    #[test]
    fn text_limits_reach_the_engine_and_a_zero_is_refused() {
        let config = Config {
            max_textarea_chars: 500,
            ..Config::default()
        };
        let limits = config.engine_options().text_limits;
        assert_eq!(limits.textarea, 500);
        assert_eq!(limits.name, TextLimits::default().name);
        let config = Config {
            max_name_chars: 0,
            max_message_type_chars: 0,
            ..Config::default()
        };
        let message = config.validate().expect_err("a zero limit");
        assert!(
            message.contains("max_name_chars must be at least 1")
                && message.contains("max_message_type_chars"),
            "{message}"
        );
    }

    #[test]
    fn the_zone_is_copenhagen_unless_set_and_a_wrong_one_is_refused() {
        assert_eq!(Config::default().timezone(), chrono_tz::Europe::Copenhagen);
        let config = Config {
            timezone: "Europe/Stockholm".into(),
            ..Config::default()
        };
        assert_eq!(config.timezone(), chrono_tz::Europe::Stockholm);
        let config = Config {
            timezone: "Mars/Olympus".into(),
            ..Config::default()
        };
        let message = config.check_timezone().expect_err("no such zone");
        assert!(message.contains("Mars/Olympus"), "{message}");
        assert!(config.validate().is_err());
    }

    #[test]
    fn a_clock_that_is_neither_real_nor_manual_is_refused_when_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("forlob.toml");
        std::fs::write(&path, "clock = \"sometimes\"\n").expect("written");
        let message = Config::load(Some(&path)).expect_err("no such clock");
        assert!(message.contains("sometimes"), "{message}");
        std::fs::write(&path, "clock = \"manual\"\n").expect("written");
        assert_eq!(
            Config::load(Some(&path)).expect("read").clock,
            ClockKind::Manual
        );
    }

    #[test]
    fn the_file_is_layered_over_the_defaults() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("forlob.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:9000\"\nworkers = 3\n").expect("written");
        let config = Config::load(Some(&path)).expect("loads");
        assert_eq!(config.listen, "0.0.0.0:9000");
        assert_eq!(config.workers(), 3);
        assert_eq!(config.batch_size, Config::default().batch_size);
        std::fs::write(&path, "listn = \"typo\"\n").expect("written");
        assert!(
            Config::load(Some(&path))
                .expect_err("unknown key")
                .contains("listn")
        );
    }
}
