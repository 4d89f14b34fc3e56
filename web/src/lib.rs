//! The forlob server: the REST API, the caseworker/admin/designer pages, and the background
//! worker that runs due work.
//!
//! [`router`] builds the whole HTTP surface from an [`AppState`]; `main` only binds it. Every
//! handler returns `Result<_, AppError>` ([`error`]): one mapping of engine errors to HTTP.

pub mod affinity;
pub mod audit_export;
pub mod auth;
pub mod config;
pub mod error;
mod metrics;
mod routes;
/// A draft's validation in the API's shape, for `forlob validate --format json`.
pub use routes::api::definitions::ValidationView;
pub mod state;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router, middleware};
use forlob_engine::Engine;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use state::{AppState, WebSettings};

use crate::error::AppError;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP surface: `/api/*` (JSON, OpenAPI at `/api/openapi.json`), the pages,
/// `/healthz`, `/metrics`, and the browser assets.
pub fn router(state: AppState) -> Router {
    metrics::prometheus();
    let (api, openapi) = routes::api::router().split_for_parts();
    let mut openapi = openapi;
    routes::api::add_common_responses(&mut openapi);
    let openapi = Arc::new(openapi);
    let api = api
        .route(
            "/api/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { Json(openapi.as_ref().clone()) }
            }),
        )
        .fallback(api_not_found);
    let settings = state.settings.clone();
    let app = Router::new()
        .merge(routes::pages::router(&state))
        .nest("/api", Router::new().fallback(api_not_found))
        .merge(api)
        .route("/healthz", get(healthz))
        .route(auth::METRICS_PATH, get(metrics::metrics_page))
        .fallback(routes::pages::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::csrf_guard,
        ));
    // Outermost first. Errors made by the layers inside `error_pages` (a timeout, a panic,
    // a too-large body) get the same JSON or page shape as the handlers' own. The security
    // headers go around all of it: `error_pages` replaces an error with a new response (a
    // page, or a redirect to the login), and the timeout, the body limit and compression make
    // or rewrite answers too, so headers set any further in would be lost on those answers.
    let app = app
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|request: &Request| {
                        let id = request
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %id)
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(CompressionLayer::new())
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    routes::pages::error_pages,
                ))
                .layer(CatchPanicLayer::custom(|_| {
                    AppError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "something went wrong on our side; it has been logged",
                    )
                    .into_response()
                }))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    settings.request_timeout,
                ))
                .layer(DefaultBodyLimit::max(settings.body_limit))
                .layer(middleware::from_fn(metrics::track_latency)),
        );
    with_security_headers(app).with_state(state)
}

/// Headers that keep the pages from being framed, sniffed or fed foreign scripts: every
/// script is our own or from the npm install (served from this origin), never inline. Set on
/// every answer, so this must be the outermost layer of the router.
fn with_security_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let set = |name: &'static str, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )
    };
    router
        .layer(set("x-content-type-options", "nosniff"))
        .layer(set("x-frame-options", "DENY"))
        .layer(set("referrer-policy", "same-origin"))
        .layer(set(
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        ))
}

async fn api_not_found(method: axum::http::Method, uri: axum::extract::OriginalUri) -> AppError {
    AppError::not_found(format!(
        "no API route {method} {}; the API is described at /api/openapi.json and browsable at /api/docs",
        uri.path()
    ))
}

/// Liveness and readiness: answers 200 only when the database answers.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.engine.db().ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
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
                match engine.jobs().run_due().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(handled = n, "ran due work"),
                    Err(e) => tracing::error!(error = %e, "running due work failed; will retry"),
                }
            }
        }
    }
}
