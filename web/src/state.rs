//! What every handler shares: the engine, the web settings, the page renderer, the login
//! limiter. Cheap to clone (all `Arc`s).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use forlob_engine::Engine;

use crate::auth::LoginLimiter;
use crate::routes::pages::Ui;

/// The web layer's settings, taken from [`crate::config::Config`] once at start-up.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Mark the session cookie `Secure` (set when serving over TLS or behind a TLS proxy).
    pub secure_cookies: bool,
    pub session_ttl: Duration,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    pub request_timeout: Duration,
    /// Where `npm ci` put htmx, mermaid and swagger-ui-dist (`node_modules`).
    pub assets_dir: Option<PathBuf>,
    /// Sign-in attempts per username and address before further ones are refused (see
    /// [`crate::auth::LoginLimiter`]).
    pub login_max_failures: u32,
    pub login_window: Duration,
    /// The packages' folder (definitions and scenario files), where the workbench finds a
    /// process's scenarios; none when this installation has no package files.
    pub packages_dir: Option<PathBuf>,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            session_ttl: Duration::from_secs(10 * 3600),
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            assets_dir: None,
            login_max_failures: 5,
            login_window: Duration::from_secs(300),
            packages_dir: Some(forlob_processes::processes_dir()).filter(|dir| dir.is_dir()),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub settings: Arc<WebSettings>,
    pub ui: Arc<Ui>,
    pub login_limiter: Arc<LoginLimiter>,
    /// Work a request started and answered `202` for (a migration, an undo): tracked, so a
    /// test can wait for it to settle instead of polling.
    pub background: tokio_util::task::TaskTracker,
}

impl AppState {
    pub fn new(engine: Arc<Engine>, settings: WebSettings) -> Self {
        let login_limiter = Arc::new(LoginLimiter::new(
            settings.login_max_failures,
            settings.login_window,
        ));
        Self {
            ui: Arc::new(Ui::new(engine.timezone())),
            engine,
            settings: Arc::new(settings),
            login_limiter,
            background: tokio_util::task::TaskTracker::new(),
        }
    }
}
