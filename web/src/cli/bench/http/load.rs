//! Filling the database for the HTTP bench: instances waiting in the review step, each with
//! its open task, written in bulk through `store::insert_waiting`.

use std::time::Instant;

use anyhow::Context;
use chrono::{TimeDelta, Utc};
use forlob_engine::instance::{ProcessInstance, Task};
use forlob_engine::store::{self, TaskFilter};
use forlob_engine::{Engine, InstanceStatus};
use serde_json::json;
use uuid::Uuid;

use super::{PROCESS, STATE};

/// Instances and tasks per load transaction: big enough that commits are rare, small enough
/// that one batch's rows take some tens of megabytes.
const LOAD_BATCH: usize = 20_000;

/// Open tasks found before the load, tasks loaded, and how long that took.
pub(in crate::cli::bench) struct Loaded {
    pub(in crate::cli::bench) open_before: u64,
    pub(in crate::cli::bench) loaded: u64,
    pub(in crate::cli::bench) seconds: f64,
}

/// Tops the database up to `wanted` open tasks of the bench process, so a kept database is
/// reused as it is and refilled with what the last run completed.
pub(in crate::cli::bench) async fn load(
    engine: &Engine,
    wanted: u64,
    version: i32,
    codes: &[String],
) -> anyhow::Result<Loaded> {
    let open_before: u64 = store::count_tasks_by_kind(
        engine.db(),
        &TaskFilter {
            process_id: Some(PROCESS.into()),
            status: Some(forlob_engine::instance::TaskStatus::Open),
            ..TaskFilter::default()
        },
    )
    .await?
    .into_iter()
    .map(|(_, n)| n)
    .sum();
    let missing = wanted.saturating_sub(open_before);
    let started = Instant::now();
    if missing > 0 {
        eprintln!("loading {missing} open tasks ({open_before} already there)");
    }
    let now = Utc::now();
    let mut rng = fastrand::Rng::with_seed(open_before);
    let mut done: u64 = 0;
    while done < missing {
        let batch = usize::try_from((missing - done).min(LOAD_BATCH as u64))
            .context("a load batch fits in memory")?;
        let rows = (0..batch)
            .map(|_| waiting_instance(&mut rng, version, codes, now))
            .collect();
        store::insert_waiting(engine.db(), rows).await?;
        let before = done;
        done += batch as u64;
        if done / 100_000 > before / 100_000 || done == missing {
            let s = started.elapsed().as_secs_f64();
            eprintln!(
                "  {done:>9} loaded, {s:.1} s ({:.0} tasks/s)",
                done as f64 / s
            );
        }
    }
    if missing > 0 {
        store::refresh_statistics(engine.db()).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    if missing > 0 {
        eprintln!("loaded {missing} tasks in {seconds:.1} s");
    }
    Ok(Loaded {
        open_before,
        loaded: missing,
        seconds,
    })
}

/// An instance as the engine leaves it after entering `review`, with its task: created some
/// time in the last 30 days, due five days later, so the inbox order (due date, then
/// creation) has no ties to break.
fn waiting_instance(
    rng: &mut fastrand::Rng,
    version: i32,
    codes: &[String],
    now: chrono::DateTime<Utc>,
) -> (ProcessInstance, Task) {
    let municipality = codes[rng.usize(..codes.len())].clone();
    let created_at = now - TimeDelta::milliseconds(rng.i64(0..30 * 86_400_000));
    let subject = format!("{:010}", rng.u64(..10_000_000_000));
    let instance = ProcessInstance {
        id: Uuid::now_v7(),
        process_id: PROCESS.into(),
        version,
        subject: subject.clone(),
        state: STATE.into(),
        status: InstanceStatus::Active,
        variables: json!({ "municipality": municipality }),
        row_version: 1,
        parent_id: None,
        created_at,
        updated_at: created_at,
        ended_at: None,
        started_in: None,
    };
    let task = Task {
        id: Uuid::now_v7(),
        instance_id: instance.id,
        process_id: PROCESS.into(),
        state: STATE.into(),
        kind: STATE.into(),
        title: format!("Review the case of {subject}"),
        subject,
        municipality: Some(municipality),
        status: forlob_engine::instance::TaskStatus::Open,
        claimed_by: None,
        due_at: Some(created_at + TimeDelta::days(5)),
        created_at,
        completed_at: None,
        completed_by: None,
        data: None,
    };
    (instance, task)
}
