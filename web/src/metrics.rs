//! `/metrics` in the Prometheus text format: HTTP latencies recorded by a middleware, and the
//! engine's figures (instances by state, open tasks, work queue depth and lag, transitions)
//! read from the shared database at scrape time, so every node reports the same truth and
//! no counter is lost when a node restarts.
//!
//! The figures say how much work each municipality has and where instances stand, so the page
//! needs a bearer token (or session) of role `metrics` (a scraper's own user, which may read
//! nothing else) or `admin`: anonymous callers get 401, other roles 403.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use forlob_engine::{Role, store};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::auth::Caller;
use crate::error::Result;
use crate::state::AppState;

const HTTP_DURATION: &str = "forlob_http_request_duration_seconds";

/// The process-wide recorder (the `metrics` facade has one per process by design); installed
/// when the first router is built, so no request goes unrecorded.
pub(crate) fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(HTTP_DURATION.into()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ],
            )
            .expect("the bucket list is a non-empty constant")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only when another recorder is installed already (a test harness): then this
        // handle renders nothing for HTTP, and the engine figures below are still served.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Records each request's latency under its route pattern (not the raw path, which would
/// give one series per task id).
pub(crate) async fn track_latency(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // Only known methods become label values: a client inventing methods must not create
    // series without end.
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    metrics::histogram!(
        HTTP_DURATION,
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .record(started.elapsed().as_secs_f64());
    response
}

pub(crate) async fn metrics_page(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response> {
    caller.require(&[Role::Metrics, Role::Admin])?;
    let now = state.engine.clock().now();
    let stats = store::engine_stats(state.engine.db(), now).await?;
    let mut out = prometheus().render();
    let mut gauge = |name: &str, help: &str, kind: &str, rows: Vec<(String, f64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, value) in rows {
            out.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    gauge(
        "forlob_instances_active",
        "Active instances per process and state.",
        "gauge",
        stats
            .active_by_state
            .iter()
            .map(|(p, s, n)| {
                (
                    format!("{{process=\"{}\",state=\"{}\"}}", escape(p), escape(s)),
                    *n as f64,
                )
            })
            .collect(),
    );
    gauge(
        "forlob_instances",
        "Instances per status.",
        "gauge",
        stats
            .by_status
            .iter()
            .map(|(s, n)| (format!("{{status=\"{}\"}}", escape(s)), *n as f64))
            .collect(),
    );
    gauge(
        "forlob_tasks_open",
        "Open tasks per municipality.",
        "gauge",
        stats
            .open_tasks
            .iter()
            .map(|(m, n)| (format!("{{municipality=\"{}\"}}", escape(m)), *n as f64))
            .collect(),
    );
    gauge(
        "forlob_work_queue_due",
        "Timers and steps due now and not yet run.",
        "gauge",
        vec![(String::new(), stats.work_due as f64)],
    );
    gauge(
        "forlob_work_queue_total",
        "Timers and steps waiting, due or not.",
        "gauge",
        vec![(String::new(), stats.work_total as f64)],
    );
    // Seconds since `t`, or 0 when there is nothing waiting.
    let age = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
    };
    gauge(
        "forlob_work_queue_lag_seconds",
        "How long the oldest due work item has waited.",
        "gauge",
        vec![(String::new(), age(stats.oldest_due))],
    );
    gauge(
        "forlob_audit_unsealed",
        "Audit entries committed but not yet sealed into the hash chain (PostgreSQL).",
        "gauge",
        vec![(String::new(), stats.audit_unsealed as f64)],
    );
    gauge(
        "forlob_audit_unsealed_age_seconds",
        "Age of the oldest unsealed audit entry by its time stamp: above a minute, sealing fails.",
        "gauge",
        vec![(String::new(), age(stats.oldest_unsealed))],
    );
    gauge(
        "forlob_transitions_total",
        "Committed transitions (the history's highest id; rate() gives transitions per second).",
        "counter",
        vec![(String::new(), stats.transitions as f64)],
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

/// Label values may not carry raw quotes, backslashes or newlines.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
