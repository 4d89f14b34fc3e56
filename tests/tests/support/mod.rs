//! Test support: an engine on a fresh database of each backend, with a manual clock.
//!
//! SQLite always runs. PostgreSQL runs when FORLOB_TEST_POSTGRES names a server (CI sets it);
//! each test then gets a database of its own, created here and named after a fresh UUID.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use forlob_engine::definition::SourceFile;
use forlob_engine::{Engine, EngineOptions, ManualClock, Registry};
use sea_orm::ConnectionTrait;

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

/// A database for one test: its URL, and what keeps it alive.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    pub fn postgres() -> Option<Self> {
        std::env::var("FORLOB_TEST_POSTGRES")
            .ok()
            .filter(|u| !u.is_empty())
            .map(Backend::Postgres)
    }

    pub async fn fresh_db(&self) -> TestDb {
        match self {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir for the test database");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres(admin) => {
                let name = format!("forlob_test_{}", uuid::Uuid::now_v7().simple());
                let conn = forlob_engine::runtime::connect(
                    admin,
                    &forlob_engine::EngineOptions::default(),
                )
                .await
                .expect("FORLOB_TEST_POSTGRES must accept connections");
                conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                TestDb {
                    url: format!("{base}/{name}"),
                    _dir: None,
                }
            }
        }
    }
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test instant")
        .with_timezone(&Utc)
}

pub struct TestApp {
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    pub db: TestDb,
}

pub struct TestAppBuilder {
    backend: Backend,
    registry: Registry,
    processes: Vec<SourceFile>,
    clock: DateTime<Utc>,
}

/// A registry with the demo action (the tests' processes are the demo's), in the zone of the
/// shipped configuration (`timezone`): the tests' instants and due days were written in
/// Danish time.
pub fn registry() -> Registry {
    let mut registry = forlob_engine::demo::registry();
    registry.set_default_timezone(chrono_tz::Europe::Copenhagen);
    registry
}

impl TestApp {
    pub fn builder(backend: Backend) -> TestAppBuilder {
        TestAppBuilder {
            backend,
            registry: registry(),
            processes: forlob_engine::demo::definitions(),
            clock: at("2025-06-02T09:00:00+02:00"),
        }
    }

    /// A second engine on the same database, as after a restart.
    pub async fn restart(&self, registry: Registry, clock: Arc<ManualClock>) -> Engine {
        Engine::start(&self.db.url, registry, clock, EngineOptions::default())
            .await
            .expect("engine restarts")
    }
}

impl TestAppBuilder {
    pub fn with_process(mut self, yaml: &str) -> Self {
        self.processes.push(SourceFile {
            path: format!("test-{}.yaml", self.processes.len()),
            text: yaml.to_owned(),
        });
        self
    }

    /// Where the manual clock starts, RFC 3339.
    pub fn at(mut self, now: &str) -> Self {
        self.clock = at(now);
        self
    }

    pub fn with_registry(mut self, f: impl FnOnce(&mut Registry)) -> Self {
        f(&mut self.registry);
        self
    }

    pub async fn build(self) -> TestApp {
        let db = self.backend.fresh_db().await;
        let clock = Arc::new(ManualClock::new(self.clock));
        let engine = Engine::start(
            &db.url,
            self.registry,
            clock.clone(),
            EngineOptions::default(),
        )
        .await
        .expect("engine starts");
        engine
            .releases()
            .deploy(&self.processes)
            .await
            .expect("test processes deploy");
        TestApp { engine, clock, db }
    }
}

/// Runs an async test body on SQLite, and on PostgreSQL when it is configured; says loudly
/// when PostgreSQL is skipped.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::support::Backend::postgres() {
                    Some(backend) => super::$name(backend).await,
                    None => eprintln!(
                        "\n*** SKIPPED {} on PostgreSQL: set FORLOB_TEST_POSTGRES=postgres://user@host:port/db (CI does) ***\n",
                        stringify!($name)
                    ),
                }
            }
        }
    )*};
}
