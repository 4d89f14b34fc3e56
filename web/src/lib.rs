//! The forlob server: HTTP routes over the engine and the background worker that runs due
//! work. The full API and UI arrive with issue #4; this is the thin `serve` of the core.

pub mod config;

use std::sync::Arc;
use std::time::Duration;

use axum::{Json, Router, extract::State, routing::get};
use forlob_engine::Engine;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// Liveness and readiness: answers 200 only when the database answers.
async fn healthz(State(state): State<AppState>) -> (axum::http::StatusCode, Json<Value>) {
    match state.engine.db().ping().await {
        Ok(()) => (axum::http::StatusCode::OK, Json(json!({ "status": "ok" }))),
        Err(_) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "database unavailable" })),
        ),
    }
}

/// Starts `count` workers; on PostgreSQL several claim disjoint batches (SKIP LOCKED), on
/// SQLite one is enough since there is one writer.
pub fn spawn_workers(
    engine: &Arc<Engine>,
    count: usize,
    interval: Duration,
    cancel: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..count.max(1))
        .map(|_| tokio::spawn(run_worker(engine.clone(), interval, cancel.clone())))
        .collect()
}

/// Runs due work every `interval` until cancelled. Errors are logged and retried on the next
/// tick: a database that is briefly gone must not stop the worker for good.
pub async fn run_worker(engine: Arc<Engine>, interval: Duration, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = ticker.tick() => {
                match engine.run_due().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(handled = n, "ran due work"),
                    Err(e) => tracing::error!(error = %e, "running due work failed; will retry"),
                }
            }
        }
    }
}
