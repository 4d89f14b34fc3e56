//! `forlob bench --workload http`: caseworkers working through a full inbox over real HTTP.
//!
//! A database is filled with open tasks of a one-step review process spread over the
//! municipalities (bulk-loaded: starting a million instances through the engine would take
//! minutes), the server runs in-process on a loopback port, and each client is a caseworker
//! with their own keep-alive connection and API token who reads the inbox
//! (`GET /api/tasks?limit=50`), opens a task from it (`GET /api/tasks/{id}`: a look at a
//! person's data, recorded in the audit log before it is answered) and completes it
//! (`POST /api/tasks/{id}/complete`), which runs the engine's transition. Clients that share a municipality split its tasks by id,
//! so no two ever pick the same task: a 409 is not part of the workload but a finding, counted
//! apart from other errors, and like them it fails the run.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use forlob_engine::Engine;
use forlob_engine::definition::SourceFile;
use forlob_engine::store;
use forlob_web::users::{self, UserSpec};
use forlob_web::{AppState, WebSettings};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Barrier;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{BenchArgs, peak_rss_mb};

pub(super) mod load;

pub(super) const PROCESS: &str = "bench-inbox";
const STATE: &str = "review";
pub(super) const DEFINITION: &str = include_str!("bench-inbox.yaml");
const PAGE: usize = 50;
/// A client gives up after this many failed requests, so a broken server ends the run
/// instead of spinning.
const MAX_ERRORS_PER_CLIENT: u64 = 20;
/// Used when no package registers a `municipality` field type with its list.
const FALLBACK_MUNICIPALITIES: &[&str] = &["101", "147", "151", "153", "155", "157", "159"];

pub(super) async fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let url = match &args.db {
        Some(url) => url.clone(),
        None => {
            let path = if args.keep_db {
                std::env::temp_dir().join("forlob-bench-http.db")
            } else {
                tmp.path().join("bench-http.db")
            };
            eprintln!("database: {}", path.display());
            format!("sqlite://{}?mode=rwc", path.display())
        }
    };
    let is_pg = forlob_web::config::is_postgres_url(&url);
    let engine = super::open_engine(&url).await?;
    let deployed = engine
        .releases()
        .deploy(&[SourceFile {
            path: "web/src/cli/bench/bench-inbox.yaml".into(),
            text: DEFINITION.into(),
        }])
        .await?;
    let version = deployed
        .iter()
        .find(|o| o.process_id == PROCESS)
        .map(|o| o.version)
        .context("the bench definition deploys as `bench-inbox`")?;
    let codes = municipalities(&engine);

    let load = load::load(&engine, args.tasks, version, &codes).await?;
    let load_peak_rss_mb = peak_rss_mb();
    reset_peak_rss();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = forlob_web::router(AppState::new(engine.clone(), WebSettings::default()))
        .into_make_service_with_connect_info::<SocketAddr>();
    let stop = CancellationToken::new();
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );

    let clients = args.clients.max(1);
    let plan = Plan::from_args(args, clients);
    let caseworkers = caseworkers(&engine, clients, &codes).await?;
    eprintln!(
        "{clients} caseworkers in {} municipalities, {}",
        caseworkers
            .iter()
            .map(|c| c.municipality.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        match plan {
            Plan::Seconds(s) => format!("for {s} s"),
            Plan::Requests(n) => format!("{n} completions in all"),
        }
    );
    // Every client opens its connection and reads its inbox once before the clock starts:
    // otherwise the first, cold requests of all clients at once (new pool connections,
    // statements prepared) land in the tail of a short run.
    let ready = Arc::new(Barrier::new(clients + 1));
    let mut workers = Vec::new();
    for (i, caseworker) in caseworkers.into_iter().enumerate() {
        let quota = match plan {
            Plan::Requests(n) => Some(n / clients + usize::from(i < n % clients)),
            Plan::Seconds(_) => None,
        };
        let pace = Pace {
            duration: match plan {
                Plan::Seconds(s) => Some(Duration::from_secs_f64(s)),
                Plan::Requests(_) => None,
            },
            quota,
            think: Duration::from_millis(args.think_ms),
            seed: i as u64,
        };
        workers.push(tokio::spawn(work(addr, caseworker, pace, ready.clone())));
    }
    ready.wait().await;
    let started = Instant::now();
    let mut tally = Tally::default();
    for w in workers {
        tally.add(w.await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    stop.cancel();
    server.await??;

    if let Some(first) = &tally.first_error {
        eprintln!("first error: {first}");
    }
    let db_mb = store::database_bytes(engine.db()).await? as f64 / 1_048_576.0;
    let figures = json!({
        "workload": "http",
        "db": if is_pg { "postgres" } else { "sqlite" },
        "open_tasks": load.open_before + load.loaded,
        "loaded": load.loaded,
        "load_seconds": round(load.seconds, 2),
        "db_mb": round(db_mb, 0),
        "clients": clients,
        "think_ms": args.think_ms,
        "seconds": round(seconds, 2),
        "completed": tally.complete.len() - tally.conflicts as usize - tally.complete_errors as usize,
        "completed_per_s": round(tally.complete.len() as f64 / seconds, 0),
        "requests_per_s": round((tally.inbox.len() + tally.task.len() + tally.complete.len()) as f64 / seconds, 0),
        "inbox_ms": summary(&mut tally.inbox),
        "task_ms": summary(&mut tally.task),
        "complete_ms": summary(&mut tally.complete),
        "conflicts": tally.conflicts,
        "errors": tally.read_errors + tally.complete_errors,
        "pages_without_own_task": tally.no_task,
        "peak_rss_mb": peak_rss_mb(),
        "load_peak_rss_mb": load_peak_rss_mb,
    });
    super::print_figures(figures);
    Ok(
        if tally.read_errors + tally.complete_errors + tally.conflicts > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
}

#[derive(Clone, Copy)]
enum Plan {
    Seconds(f64),
    Requests(usize),
}

impl Plan {
    fn from_args(args: &BenchArgs, clients: usize) -> Self {
        match (args.requests, args.seconds) {
            (Some(n), _) => Self::Requests(n.max(clients)),
            (None, Some(s)) => Self::Seconds(s.max(0.1)),
            (None, None) => Self::Seconds(30.0),
        }
    }
}

/// The municipality codes the packages know (the users' municipality is checked against
/// them), in their order.
pub(super) fn municipalities(engine: &Engine) -> Vec<String> {
    let known: Vec<String> = engine
        .registry()
        .field_type("municipality")
        .map(|kind| kind.choices().into_iter().map(|c| c.value).collect())
        .unwrap_or_default();
    if known.is_empty() {
        FALLBACK_MUNICIPALITIES
            .iter()
            .map(|c| (*c).to_owned())
            .collect()
    } else {
        known
    }
}

struct Caseworker {
    municipality: String,
    token: String,
    /// Clients sharing the municipality, and this one's share of its tasks.
    sharers: u128,
    slot: u128,
}

/// One caseworker per client, client `i` in municipality `i mod n`; usernames carry a random
/// run id, so a kept database gets new users (tokens are shown only once).
async fn caseworkers(
    engine: &Engine,
    clients: usize,
    codes: &[String],
) -> anyhow::Result<Vec<Caseworker>> {
    // The random tail of a v7 id: runs that start in the same second get other names too.
    let id = Uuid::now_v7().simple().to_string();
    let run = &id[20..];
    let mut out = Vec::with_capacity(clients);
    for i in 0..clients {
        let (m, sharers, slot) = share(i, clients, codes.len());
        let municipality = codes[m].clone();
        let (_, token) = users::add(
            engine,
            UserSpec {
                username: format!("bench-{run}-{i}"),
                role: "caseworker".into(),
                municipality: Some(municipality.clone()),
                ..UserSpec::default()
            },
            &crate::cli::operator(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot add a bench caseworker: {}", e.message))?;
        out.push(Caseworker {
            municipality,
            token,
            sharers: sharers as u128,
            slot: slot as u128,
        });
    }
    Ok(out)
}

/// Client `i` of `clients` over `n` municipalities: the index of its municipality, how many
/// clients work there, and its slot among them (it completes the tasks whose id modulo the
/// number of sharers is its slot).
fn share(i: usize, clients: usize, n: usize) -> (usize, usize, usize) {
    let m = i % n;
    (m, clients / n + usize::from(m < clients % n), i / n)
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    inbox: Vec<Duration>,
    /// Reads of one task (recorded in the audit log).
    task: Vec<Duration>,
    complete: Vec<Duration>,
    conflicts: u64,
    read_errors: u64,
    complete_errors: u64,
    no_task: u64,
    first_error: Option<String>,
}

impl Tally {
    fn add(&mut self, other: Self) {
        self.inbox.extend(other.inbox);
        self.task.extend(other.task);
        self.complete.extend(other.complete);
        self.conflicts += other.conflicts;
        self.read_errors += other.read_errors;
        self.complete_errors += other.complete_errors;
        self.no_task += other.no_task;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn error(&mut self, what: String) {
        self.first_error.get_or_insert(what);
    }

    /// The body of a read answered 200; anything else is counted and noted as `what` failing.
    fn read_ok(
        &mut self,
        what: &str,
        answer: anyhow::Result<(StatusCode, axum::body::Bytes)>,
    ) -> Option<axum::body::Bytes> {
        let failure = match answer {
            Ok((StatusCode::OK, body)) => return Some(body),
            Ok((status, body)) => format!("{what}: {status}: {}", String::from_utf8_lossy(&body)),
            Err(e) => format!("{what}: {e:#}"),
        };
        self.read_errors += 1;
        self.error(failure);
        None
    }

    fn errors(&self) -> u64 {
        self.read_errors + self.complete_errors
    }
}

#[derive(Deserialize)]
struct InboxPage {
    tasks: Vec<TaskId>,
}

#[derive(Deserialize)]
struct TaskId {
    id: Uuid,
}

/// When a caseworker stops, and how long they think between tasks.
struct Pace {
    /// How long to work once all clients are ready.
    duration: Option<Duration>,
    quota: Option<usize>,
    think: Duration,
    seed: u64,
}

/// One caseworker's loop: read the inbox, open the first task of their share of it (a
/// recorded read), complete it.
async fn work(addr: SocketAddr, me: Caseworker, pace: Pace, ready: Arc<Barrier>) -> Tally {
    let Pace {
        duration,
        quota,
        think,
        seed,
    } = pace;
    let mut rng = fastrand::Rng::with_seed(seed);
    // One pooled connection: the client sends one request at a time, so it is kept alive
    // and reused for the whole run, as a browser or an integration would.
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .build_http();
    let bearer = format!("Bearer {}", me.token);
    let inbox_uri = format!("http://{addr}/api/tasks?limit={PAGE}");
    let form = json!({ "decision": "approve", "note": "bench" }).to_string();
    let mut tally = Tally::default();
    if let Err(e) = send(&client, Method::GET, &inbox_uri, &bearer, Body::empty()).await {
        tally.read_errors += 1;
        tally.error(format!("inbox (warm-up): {e:#}"));
    }
    ready.wait().await;
    let deadline = duration.map(|d| Instant::now() + d);
    if !think.is_zero() {
        // Start at a random point of the first pause, so clients do not act in step.
        tokio::time::sleep(think.mul_f64(rng.f64())).await;
    }
    loop {
        let out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
        let quota_met = quota.is_some_and(|q| tally.complete.len() >= q);
        if out_of_time || quota_met || tally.errors() >= MAX_ERRORS_PER_CLIENT {
            break;
        }
        let started = Instant::now();
        let page = send(&client, Method::GET, &inbox_uri, &bearer, Body::empty()).await;
        tally.inbox.push(started.elapsed());
        let Some(body) = tally.read_ok("inbox", page) else {
            continue;
        };
        let page = match serde_json::from_slice::<InboxPage>(&body) {
            Ok(page) => page,
            Err(e) => {
                tally.read_errors += 1;
                tally.error(format!("inbox: unexpected body: {e}"));
                continue;
            }
        };
        let Some(task) = page
            .tasks
            .iter()
            .find(|t| t.id.as_u128() % me.sharers == me.slot)
        else {
            if page.tasks.is_empty() {
                // The municipality's inbox is empty: nothing left to do.
                break;
            }
            tally.no_task += 1;
            continue;
        };
        let task_uri = format!("http://{addr}/api/tasks/{}", task.id);
        let started = Instant::now();
        let read = send(&client, Method::GET, &task_uri, &bearer, Body::empty()).await;
        tally.task.push(started.elapsed());
        if tally.read_ok("task", read).is_none() {
            continue;
        }
        let uri = format!("{task_uri}/complete");
        let started = Instant::now();
        let done = send(
            &client,
            Method::POST,
            &uri,
            &bearer,
            Body::from(form.clone()),
        )
        .await;
        tally.complete.push(started.elapsed());
        match done {
            Ok((StatusCode::OK, _)) => {}
            Ok((StatusCode::CONFLICT, body)) => {
                tally.conflicts += 1;
                tally.error(format!("complete: 409: {}", String::from_utf8_lossy(&body)));
            }
            Ok((status, body)) => {
                tally.complete_errors += 1;
                tally.error(format!(
                    "complete: {status}: {}",
                    String::from_utf8_lossy(&body)
                ));
            }
            Err(e) => {
                tally.complete_errors += 1;
                tally.error(format!("complete: {e:#}"));
            }
        }
        if !think.is_zero() {
            tokio::time::sleep(think.mul_f64(rng.f64() + 0.5)).await;
        }
    }
    tally
}

/// Sends a request and reads the whole response body: the latency a client sees.
async fn send(
    client: &Client<HttpConnector, Body>,
    method: Method,
    uri: &str,
    bearer: &str,
    body: Body,
) -> anyhow::Result<(StatusCode, axum::body::Bytes)> {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, bearer)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)?;
    let response = client.request(request).await?;
    let status = response.status();
    let body = axum::body::to_bytes(Body::new(response.into_body()), usize::MAX).await?;
    Ok((status, body))
}

/// Starts the peak-RSS mark afresh (Linux), so the figure of the run does not show the
/// loader's page cache; where that is not possible the figure covers both.
pub(super) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// p50, p90, p99 and max in milliseconds (nearest rank).
fn summary(samples: &mut [Duration]) -> Value {
    if samples.is_empty() {
        return Value::Null;
    }
    samples.sort_unstable();
    let at = |p: f64| {
        let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
        round(samples[rank - 1].as_secs_f64() * 1000.0, 1)
    };
    json!({
        "n": samples.len(),
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": at(1.0),
    })
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn clients_of_one_municipality_split_its_tasks_without_overlap() {
        for n in [1, 7, 98] {
            for clients in 1..=250 {
                let mut slots = vec![Vec::new(); n];
                for i in 0..clients {
                    let (m, sharers, slot) = share(i, clients, n);
                    slots[m].push((sharers, slot));
                }
                for taken in slots {
                    let sharers = taken.len();
                    let mut seen: Vec<usize> = taken
                        .iter()
                        .map(|&(s, slot)| {
                            assert_eq!(s, sharers, "{clients} clients over {n}");
                            slot
                        })
                        .collect();
                    seen.sort_unstable();
                    assert_eq!(seen, (0..sharers).collect::<Vec<_>>());
                }
            }
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=200).rev().map(Duration::from_millis).collect();
        let figures = summary(&mut samples);
        assert_eq!(figures["p50"], json!(100.0));
        assert_eq!(figures["p90"], json!(180.0));
        assert_eq!(figures["p99"], json!(198.0));
        assert_eq!(figures["max"], json!(200.0));
        assert_eq!(summary(&mut []), Value::Null);
    }

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    /// The whole bench on a small database: load, server, users, clients; every completion
    /// answered 200 (the run fails on any error or 409).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_run_completes_tasks_over_http_without_errors() {
        let dir = tempfile::tempdir().expect("a temporary folder can be made");
        let db = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
        let cli = Cli::parse_from([
            "bench",
            "--workload",
            "http",
            "--tasks",
            "400",
            "--clients",
            "3",
            "--requests",
            "12",
            "--db",
            &db,
        ]);
        let code = run(&cli.bench).await.expect("the bench runs");
        assert_eq!(code, ExitCode::SUCCESS);
        // Each completed task was opened first, and that look is on record.
        let conn = sea_orm::Database::connect(&db)
            .await
            .expect("the database opens");
        let reads = forlob_engine::store::audit::audit_entries(
            &conn,
            &forlob_engine::audit::AuditFilter {
                action: Some("person.read".into()),
                limit: 1_000,
                ..Default::default()
            },
        )
        .await
        .expect("the audit log reads");
        let completed: i64 = sea_orm::ConnectionTrait::query_one_raw(
            &conn,
            sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "SELECT count(*) AS n FROM tasks WHERE status = 'completed'",
            ),
        )
        .await
        .expect("the tasks count")
        .and_then(|row| row.try_get("", "n").ok())
        .expect("a count");
        assert!(completed > 0);
        assert_eq!(
            reads.len() as i64,
            completed,
            "one recorded look per completed task"
        );
        conn.close().await.expect("the database closes");
        // A second run on the same database tops it up instead of loading it again.
        let code = run(&cli.bench).await.expect("the bench runs again");
        assert_eq!(code, ExitCode::SUCCESS);
    }
}
