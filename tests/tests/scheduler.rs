//! The scheduler and the logbook, on a manual clock: firings on weekdays and cron, daylight
//! saving, missed firings after a downtime, overlapping runs, several nodes, refusals, a job
//! that fails half-way, and the R27 warning. Both databases.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Stockholm;
use forlob_engine::job_log::JobLog;
use forlob_engine::jobs::{JobRun, JobRunDetailLine, LogbookFilter, RunStatus};
use forlob_engine::runtime::RunRequest;
use forlob_engine::schedule::{Misfire, Overlap, ScheduleRequest};
use forlob_engine::{Action, ActionContext, ActionError, Actor, Engine, EngineError, Registry};
use serde::Deserialize;
use serde_json::{Value, json};
use support::{Backend, TestApp, at};

/// Ten persons in chunks of `batch`; person 7 is deferred, the others updated.
const NIGHTLY: &str = r#"
id: nightly-job
title: Nightly job
subject: job
timezone: Europe/Stockholm
start:
  schedule:
    parameters:
      mode: { type: choice, options: [kir, direkt], default: kir }
      batch: { type: integer, default: 3 }
    finish_before: [later-job]
initial: chunk
states:
  chunk:
    automatic:
      action: test.chunk
      input: { after: "has(vars.after) ? vars.after : 0", batch: "vars.batch" }
      async: true
      retry: { max: 3, backoff: PT1M }
    next: more
  more:
    decision:
      - { when: "vars.more", goto: chunk }
      - { otherwise: rest }
  rest:
    wait: { after: PT90M }
    next: done
  done: { end: true }
"#;

const LATER: &str = r#"
id: later-job
title: Later job
subject: job
timezone: Europe/Stockholm
start:
  schedule: {}
initial: done
states:
  done: { end: true }
"#;

const PERSONS: u32 = 10;

/// The chunk action; fails once, retryably, on the chunk starting after `fail_after` when set.
struct Chunk {
    fail_after: Option<u32>,
    failures: Arc<AtomicU32>,
}

#[derive(Deserialize)]
struct ChunkInput {
    after: u32,
    batch: u32,
}

#[async_trait]
impl Action for Chunk {
    type Input = ChunkInput;
    type Output = Value;

    fn name(&self) -> &'static str {
        "test.chunk"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: ChunkInput) -> Result<Value, ActionError> {
        if input.batch > 100 {
            return Err(ActionError::permanent(
                "the register refuses batches over 100",
            ));
        }
        let log = JobLog::of(ctx);
        let end = (input.after + input.batch).min(PERSONS);
        let subjects: Vec<String> = (input.after + 1..=end).map(|i| format!("p{i}")).collect();
        let (later, refreshed) = (
            forlob_engine::message::Message::written("over 19: updated at the next avisering"),
            forlob_engine::message::Message::written("refreshed from the register"),
        );
        let mut lines = Vec::new();
        let mut updated = 0;
        let mut deferred = 0;
        for (i, subject) in (input.after + 1..=end).zip(&subjects) {
            if i == 7 {
                deferred += 1;
                lines.push(JobRunDetailLine {
                    kind: "deferred",
                    subject: Some(subject),
                    message: &later,
                });
            } else {
                updated += 1;
                lines.push(JobRunDetailLine {
                    kind: "updated",
                    subject: Some(subject),
                    message: &refreshed,
                });
            }
        }
        // Written before the failure on purpose: the rollback must take them away.
        log.details(&lines).await?;
        log.count(&[("updated", updated), ("deferred", deferred)])
            .await?;
        if self.fail_after == Some(input.after) && self.failures.fetch_add(1, Ordering::SeqCst) == 0
        {
            return Err(ActionError::retryable("the register timed out"));
        }
        log.progress(i64::from(end), Some(i64::from(PERSONS)))
            .await?;
        Ok(json!({ "after": end, "more": end < PERSONS }))
    }
}

fn registry(fail_after: Option<u32>) -> impl FnOnce(&mut Registry) {
    move |r: &mut Registry| {
        r.register_action(Chunk {
            fail_after,
            failures: Arc::new(AtomicU32::new(0)),
        });
    }
}

async fn app(backend: Backend, now: &str, fail_after: Option<u32>) -> TestApp {
    TestApp::builder(backend)
        .with_registry(registry(fail_after))
        .with_process(NIGHTLY)
        .with_process(LATER)
        .at(now)
        .build()
        .await
}

fn admin() -> Actor {
    Actor {
        id: "admin-1".into(),
        role: forlob_engine::Role::Admin.into(),
        municipality: None,
        via: forlob_engine::Via::Api,
    }
}

fn weekly(process: &str, start_date: &str, time: &str, days: &[&str]) -> ScheduleRequest {
    ScheduleRequest {
        process: process.into(),
        start_date: Some(start_date.into()),
        start_time: Some(time.into()),
        weekdays: days.iter().map(|d| (*d).to_owned()).collect(),
        ..ScheduleRequest::default()
    }
}

const EVERY_DAY: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

async fn runs(engine: &Engine, process: &str) -> Vec<JobRun> {
    let mut runs = engine
        .jobs()
        .logbook(&LogbookFilter {
            process: Some(process.into()),
            limit: 1000,
            ..LogbookFilter::default()
        })
        .await
        .expect("logbook");
    runs.reverse();
    runs
}

fn local(at: DateTime<Utc>) -> String {
    at.with_timezone(&Stockholm)
        .format("%Y-%m-%d %a %H:%M %Z")
        .to_string()
}

async fn instance_of(engine: &Engine, id: uuid::Uuid) -> forlob_engine::instance::ProcessInstance {
    forlob_engine::store::instance(engine.db(), id)
        .await
        .expect("reads")
        .expect("the run's instance exists")
        .0
}

fn count(run: &JobRun, name: &str) -> i64 {
    run.counts.get(name).and_then(Value::as_i64).unwrap_or(0)
}

async fn r24_r26_a_weekly_schedule_runs_on_its_weekdays_and_each_run_is_in_the_logbook(
    backend: Backend,
) {
    // Monday 2025-06-02; the schedule is for Tuesdays and Thursdays at 02:30 (R24, Q13).
    let app = app(backend, "2025-06-02T09:00:00+02:00", None).await;
    let made = app
        .engine
        .jobs()
        .create_schedule(
            &weekly("nightly-job", "2025-06-02", "02:30", &["tue", "thu"]),
            &admin(),
        )
        .await
        .expect("schedule made");
    assert_eq!(
        made.schedule.next_fire_at.map(local).as_deref(),
        Some("2025-06-03 Tue 02:30 CEST")
    );
    assert_eq!(made.schedule.cron, "30 2 * * 2,4");
    app.engine
        .jobs()
        .advance_to(at("2025-06-06T12:00:00+02:00"))
        .await
        .expect("advances");
    let runs = runs(&app.engine, "nightly-job").await;
    let fired: Vec<String> = runs.iter().map(|r| local(r.fire_at)).collect();
    assert_eq!(
        fired,
        ["2025-06-03 Tue 02:30 CEST", "2025-06-05 Thu 02:30 CEST"]
    );
    for run in &runs {
        // R26: start, end, status, counts and details of each finished run.
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
        assert_eq!(run.trigger, "schedule");
        assert_eq!(run.started_at, Some(run.fire_at));
        assert_eq!(
            run.duration(),
            Some(chrono::Duration::minutes(90)),
            "ends when its last state ends"
        );
        assert_eq!((count(run, "updated"), count(run, "deferred")), (9, 1));
        assert_eq!((run.progress_done, run.progress_total), (10, Some(10)));
        let (_, details) = app.engine.jobs().job_run(run.id, 100).await.expect("run");
        assert_eq!(details.len(), 10);
        assert_eq!(
            details
                .iter()
                .filter(|d| d.kind == "deferred")
                .map(|d| d.subject.as_deref())
                .collect::<Vec<_>>(),
            [Some("p7")]
        );
        let instance =
            instance_of(&app.engine, run.instance_id.expect("started an instance")).await;
        assert_eq!(instance.variables["mode"], "kir", "the declared default");
        assert_eq!(instance.variables["batch"], 3);
    }
    let instance = instance_of(&app.engine, runs[1].instance_id.expect("instance")).await;
    assert_eq!(instance.variables["run_date"], "2025-06-05");
}

async fn a_0230_job_runs_once_on_both_daylight_saving_days(backend: Backend) {
    let app = app(backend, "2026-03-27T12:00:00+01:00", None).await;
    app.engine
        .jobs()
        .create_schedule(
            &weekly("later-job", "2026-03-27", "02:30", EVERY_DAY),
            &admin(),
        )
        .await
        .expect("schedule made");
    app.engine
        .jobs()
        .advance_to(at("2026-03-31T12:00:00+02:00"))
        .await
        .expect("spring");
    // Skip the summer quickly: a restart after a long pause runs the latest firing once.
    app.clock
        .set(at("2026-10-23T12:00:00+02:00"))
        .expect("clock moves");
    app.engine.jobs().run_due().await.expect("catches up");
    app.engine
        .jobs()
        .advance_to(at("2026-10-27T12:00:00+01:00"))
        .await
        .expect("autumn");
    let ran: Vec<String> = runs(&app.engine, "later-job")
        .await
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded && r.trigger == "schedule")
        .map(|r| local(r.fire_at))
        .collect();
    assert_eq!(
        ran,
        [
            "2026-03-28 Sat 02:30 CET",
            "2026-03-29 Sun 03:00 CEST", // 02:30 does not exist that day
            "2026-03-30 Mon 02:30 CEST",
            "2026-03-31 Tue 02:30 CEST",
            "2026-10-24 Sat 02:30 CEST",
            "2026-10-25 Sun 02:30 CEST", // 02:30 happens twice that day; the job runs once
            "2026-10-26 Mon 02:30 CET",
            "2026-10-27 Tue 02:30 CET",
        ]
    );
}

async fn missed_firings_follow_the_misfire_policy_after_a_downtime(backend: Backend) {
    let app = app(backend, "2025-06-02T09:00:00+02:00", None).await;
    let mut ids = Vec::new();
    for misfire in [Misfire::Latest, Misfire::Skip, Misfire::All] {
        let request = ScheduleRequest {
            misfire,
            label: Some(misfire.as_str().into()),
            ..weekly("later-job", "2025-06-02", "04:00", EVERY_DAY)
        };
        let made = app
            .engine
            .jobs()
            .create_schedule(&request, &admin())
            .await
            .expect("made");
        ids.push((misfire, made.schedule.id));
    }
    // No node runs from Monday morning until Thursday 09:00: three firings missed each.
    app.clock
        .set(at("2025-06-05T09:00:00+02:00"))
        .expect("clock moves");
    let restarted = app
        .restart(
            {
                let mut r = support::registry();
                registry(None)(&mut r);
                r
            },
            app.clock.clone(),
        )
        .await;
    restarted.jobs().run_due().await.expect("start-up run");
    for (misfire, id) in ids {
        let runs: Vec<JobRun> = runs(&restarted, "later-job")
            .await
            .into_iter()
            .filter(|r| r.schedule_id == Some(id))
            .collect();
        let summary: Vec<(String, &str, String)> = runs
            .iter()
            .map(|r| (local(r.fire_at), r.status.as_str(), r.trigger.clone()))
            .collect();
        let started = runs
            .iter()
            .filter(|r| r.status == RunStatus::Succeeded)
            .count();
        let missed = runs
            .iter()
            .filter(|r| r.status == RunStatus::Missed)
            .count();
        match misfire {
            Misfire::Latest => {
                assert_eq!((started, missed), (1, 2), "{summary:?}");
                let ran = runs
                    .iter()
                    .find(|r| r.status == RunStatus::Succeeded)
                    .expect("one ran");
                assert_eq!(local(ran.fire_at), "2025-06-05 Thu 04:00 CEST");
                assert_eq!(ran.trigger, "misfire");
            }
            Misfire::Skip => assert_eq!((started, missed), (0, 3), "{summary:?}"),
            Misfire::All => assert_eq!((started, missed), (3, 0), "{summary:?}"),
        }
        let schedule = restarted.jobs().schedule(id).await.expect("schedule");
        assert_eq!(
            schedule.next_fire_at.map(local).as_deref(),
            Some("2025-06-06 Fri 04:00 CEST"),
            "moves past the downtime"
        );
    }
    // Running again finds nothing to do: no firing starts twice.
    restarted.jobs().run_due().await.expect("again");
    assert_eq!(runs(&restarted, "later-job").await.len(), 9);
}

async fn a_firing_while_the_previous_run_goes_on_is_skipped_or_queued(backend: Backend) {
    // The nightly job takes 90 minutes; the schedules fire every hour.
    let app = app(backend, "2025-06-02T23:30:00+02:00", None).await;
    for overlap in [Overlap::Skip, Overlap::Queue] {
        let request = ScheduleRequest {
            process: "nightly-job".into(),
            cron: Some("0 * * * *".into()),
            overlap,
            label: Some(overlap.as_str().into()),
            ..ScheduleRequest::default()
        };
        app.engine
            .jobs()
            .create_schedule(&request, &admin())
            .await
            .expect("made");
    }
    app.engine
        .jobs()
        .advance_to(at("2025-06-03T02:10:00+02:00"))
        .await
        .expect("advances");
    let all = runs(&app.engine, "nightly-job").await;
    let labels: std::collections::HashMap<uuid::Uuid, String> = app
        .engine
        .jobs()
        .schedules()
        .await
        .expect("schedules")
        .into_iter()
        .map(|s| (s.id, s.label))
        .collect();
    let of = |label: &str| -> Vec<(String, &'static str, Option<String>)> {
        all.iter()
            .filter(|r| {
                r.schedule_id
                    .and_then(|id| labels.get(&id))
                    .map(String::as_str)
                    == Some(label)
            })
            .map(|r| (local(r.fire_at), r.status.as_str(), r.started_at.map(local)))
            .collect()
    };
    assert_eq!(
        of("skip"),
        [
            (
                "2025-06-03 Tue 00:00 CEST".to_owned(),
                "succeeded",
                Some("2025-06-03 Tue 00:00 CEST".to_owned())
            ),
            ("2025-06-03 Tue 01:00 CEST".to_owned(), "skipped", None),
            (
                "2025-06-03 Tue 02:00 CEST".to_owned(),
                "running",
                Some("2025-06-03 Tue 02:00 CEST".to_owned())
            ),
        ]
    );
    assert_eq!(
        of("queue"),
        [
            (
                "2025-06-03 Tue 00:00 CEST".to_owned(),
                "succeeded",
                Some("2025-06-03 Tue 00:00 CEST".to_owned())
            ),
            // Starts as soon as the run before it ends.
            (
                "2025-06-03 Tue 01:00 CEST".to_owned(),
                "running",
                Some("2025-06-03 Tue 01:30 CEST".to_owned())
            ),
            ("2025-06-03 Tue 02:00 CEST".to_owned(), "queued", None),
        ]
    );
}

async fn two_nodes_fire_each_schedule_exactly_once(backend: Backend) {
    let app = app(backend, "2025-06-02T09:00:30+02:00", None).await;
    for i in 0..20 {
        let request = ScheduleRequest {
            process: "later-job".into(),
            cron: Some("* * * * *".into()),
            label: Some(format!("every minute {i}")),
            ..ScheduleRequest::default()
        };
        app.engine
            .jobs()
            .create_schedule(&request, &admin())
            .await
            .expect("made");
    }
    let other = app
        .restart(
            {
                let mut r = support::registry();
                registry(None)(&mut r);
                r
            },
            app.clock.clone(),
        )
        .await;
    for minute in 1..=5 {
        app.clock
            .set(at(&format!("2025-06-02T09:0{minute}:00+02:00")))
            .expect("clock moves");
        let (a, b) = tokio::join!(app.engine.jobs().run_due(), other.jobs().run_due());
        a.expect("node a");
        b.expect("node b");
    }
    let runs = runs(&app.engine, "later-job").await;
    assert_eq!(runs.len(), 20 * 5, "one run per schedule and minute");
    let mut firings: Vec<_> = runs.iter().map(|r| (r.schedule_id, r.fire_at)).collect();
    firings.sort();
    firings.dedup();
    assert_eq!(firings.len(), 100, "no firing twice");
    assert!(runs.iter().all(|r| r.status == RunStatus::Succeeded));
}

async fn r25_removing_a_schedule_stops_its_firings_but_not_a_run_in_progress(backend: Backend) {
    let app = app(backend, "2025-06-02T09:00:00+02:00", None).await;
    let made = app
        .engine
        .jobs()
        .create_schedule(
            &weekly("nightly-job", "2025-06-02", "10:00", EVERY_DAY),
            &admin(),
        )
        .await
        .expect("made");
    app.engine
        .jobs()
        .advance_to(at("2025-06-02T10:30:00+02:00"))
        .await
        .expect("runs");
    app.engine
        .jobs()
        .remove_schedule(made.schedule.id, &admin(), "")
        .await
        .expect("removed");
    assert!(
        app.engine
            .jobs()
            .schedules()
            .await
            .expect("list")
            .is_empty()
    );
    let again = app
        .engine
        .jobs()
        .remove_schedule(made.schedule.id, &admin(), "")
        .await;
    assert_eq!(again.expect_err("twice").status(), 409);
    app.engine
        .jobs()
        .advance_to(at("2025-06-05T12:00:00+02:00"))
        .await
        .expect("advances");
    let runs = runs(&app.engine, "nightly-job").await;
    assert_eq!(runs.len(), 1, "no firing after the removal");
    assert_eq!(
        runs[0].status,
        RunStatus::Succeeded,
        "the run in progress ended"
    );
}

async fn bad_schedules_are_refused_with_a_message_per_field(backend: Backend) {
    let app = app(backend, "2025-06-02T09:00:00+02:00", None).await;
    let refused = |request: ScheduleRequest| {
        let engine = &app.engine;
        async move {
            match engine.jobs().create_schedule(&request, &admin()).await {
                Err(EngineError::Invalid(fields)) => fields,
                other => panic!("expected 422, got {other:?}"),
            }
        }
    };
    let fields = refused(weekly("no-such-job", "2025-06-02", "02:30", &["mon"])).await;
    assert!(
        fields["process"]
            .to_string()
            .contains("no process `no-such-job`"),
        "{fields:?}"
    );
    let fields = refused(weekly("demo-move-out", "2025-06-02", "02:30", &["mon"])).await;
    assert!(
        fields["process"]
            .to_string()
            .contains("not a background job"),
        "{fields:?}"
    );
    let fields = refused(ScheduleRequest {
        time_zone: Some("Europe/Atlantis".into()),
        parameters: [("batch".to_owned(), json!("many"))].into_iter().collect(),
        ..weekly("nightly-job", "2025-06-01", "25:00", &[])
    })
    .await;
    assert!(
        fields["time_zone"].to_string().contains("IANA"),
        "{fields:?}"
    );
    assert!(
        fields["start_time"].to_string().contains("HH:MM"),
        "{fields:?}"
    );
    assert!(
        fields["weekdays"]
            .to_string()
            .contains("at least one weekday"),
        "{fields:?}"
    );
    assert!(
        fields["parameters.batch"]
            .to_string()
            .contains("whole number"),
        "{fields:?}"
    );
    let fields = refused(weekly("nightly-job", "2025-06-01", "02:30", &["mon"])).await;
    assert!(
        fields["start_date"].to_string().contains("in the past"),
        "{fields:?}"
    );
    let fields = refused(weekly("nightly-job", "2025-06-02", "02:30", &["someday"])).await;
    assert!(
        fields["weekdays"].to_string().contains("not a weekday"),
        "{fields:?}"
    );
    let never = ScheduleRequest {
        process: "nightly-job".into(),
        cron: Some("0 0 30 2 *".into()),
        ..ScheduleRequest::default()
    };
    let fields = refused(never).await;
    assert!(
        fields["cron"].to_string().contains("never fires"),
        "{fields:?}"
    );
    let garbage = ScheduleRequest {
        process: "nightly-job".into(),
        cron: Some("every day at noon".into()),
        ..ScheduleRequest::default()
    };
    assert!(
        refused(garbage).await["cron"]
            .to_string()
            .contains("not a cron expression")
    );
    let fields = refused(ScheduleRequest {
        parameters: [
            ("mode".to_owned(), json!("sometimes")),
            ("colour".to_owned(), json!("blue")),
        ]
        .into_iter()
        .collect(),
        ..weekly("nightly-job", "2025-06-02", "02:30", &["mon"])
    })
    .await;
    assert!(
        fields["parameters.mode"]
            .to_string()
            .contains("not one of: kir, direkt"),
        "{fields:?}"
    );
    assert!(
        fields["parameters.colour"]
            .to_string()
            .contains("not a parameter"),
        "{fields:?}"
    );
    assert!(
        app.engine
            .jobs()
            .schedules()
            .await
            .expect("list")
            .is_empty(),
        "nothing stored"
    );
}

async fn a_run_that_fails_half_way_keeps_what_was_done_and_retries_without_doing_it_twice(
    backend: Backend,
) {
    // The register times out on the chunk after person 3: persons 1-3 are done and counted.
    let app = app(backend, "2025-06-02T09:00:00+02:00", Some(3)).await;
    let run = app
        .engine
        .jobs()
        .run_job_now(
            &RunRequest {
                process: Some("nightly-job".into()),
                parameters: [("mode".to_owned(), json!("direkt"))].into_iter().collect(),
                ..RunRequest::default()
            },
            &admin(),
        )
        .await
        .expect("runs now");
    assert_eq!(run.trigger, "manual");
    assert_eq!(run.requested_by.as_deref(), Some("admin-1"));
    app.engine.jobs().run_due().await.expect("first chunks");
    let (partway, _) = app.engine.jobs().job_run(run.id, 100).await.expect("run");
    assert_eq!(partway.status, RunStatus::Running);
    assert_eq!(
        (partway.progress_done, partway.progress_total),
        (3, Some(10))
    );
    assert_eq!(
        count(&partway, "updated"),
        3,
        "the failed chunk left no counts"
    );
    app.engine
        .jobs()
        .advance_to(at("2025-06-02T12:00:00+02:00"))
        .await
        .expect("retries after its backoff and ends");
    let (done, details) = app.engine.jobs().job_run(run.id, 100).await.expect("run");
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!((count(&done, "updated"), count(&done, "deferred")), (9, 1));
    assert_eq!(details.len(), 10, "each person once");
    let instance = instance_of(&app.engine, done.instance_id.expect("instance")).await;
    assert_eq!(instance.variables["mode"], "direkt");
    assert_eq!(instance.variables["run_date"], "2025-06-02");
}

async fn r27_a_schedule_that_would_overlap_a_later_job_gets_a_warning(backend: Backend) {
    let app = app(backend, "2025-06-02T09:00:00+02:00", None).await;
    let nightly = app
        .engine
        .jobs()
        .create_schedule(
            &weekly("nightly-job", "2025-06-02", "02:30", EVERY_DAY),
            &admin(),
        )
        .await
        .expect("made");
    assert!(nightly.warnings.is_empty());
    // Before any run the duration is unknown: no warning.
    let early = app
        .engine
        .jobs()
        .create_schedule(
            &weekly("later-job", "2025-06-02", "03:00", EVERY_DAY),
            &admin(),
        )
        .await
        .expect("made");
    assert!(early.warnings.is_empty(), "{:?}", early.warnings);
    app.engine
        .jobs()
        .advance_to(at("2025-06-03T06:00:00+02:00"))
        .await
        .expect("one nightly run of 90 minutes");
    // The nightly run takes 90 minutes from 02:30: a later job at 03:00 starts too early...
    let warned = app
        .engine
        .jobs()
        .create_schedule(
            &weekly("later-job", "2025-06-03", "03:00", EVERY_DAY),
            &admin(),
        )
        .await
        .expect("made all the same: a warning, never a block");
    assert_eq!(warned.warnings.len(), 1, "{:?}", warned.warnings);
    assert!(
        warned.warnings[0].to_string().contains("Nightly job")
            && warned.warnings[0].to_string().contains("Later job"),
        "{:?}",
        warned.warnings
    );
    // ... one at 04:30 does not; and the nightly schedule itself is warned about the 03:00 ones.
    let fine = app
        .engine
        .jobs()
        .create_schedule(
            &weekly("later-job", "2025-06-03", "04:30", EVERY_DAY),
            &admin(),
        )
        .await
        .expect("made");
    let nightly_now = app
        .engine
        .jobs()
        .schedule_warnings(&nightly.schedule)
        .await
        .expect("warnings");
    assert!(fine.warnings.is_empty(), "{:?}", fine.warnings);
    assert!(!nightly_now.is_empty());
}

async fn a_default_schedule_comes_with_the_first_version_only(backend: Backend) {
    const DAILY: &str = r#"
id: daily-job
title: Daily job
subject: job
timezone: Europe/Stockholm
start:
  schedule:
    default: { start_time: "04:00", weekdays: [mon, tue, wed, thu, fri, sat, sun] }
initial: done
states:
  done: { end: true }
"#;
    let app = TestApp::builder(backend).with_process(DAILY).build().await;
    let schedules = app.engine.jobs().schedules().await.expect("schedules");
    let [installed] = schedules.as_slice() else {
        panic!("one default schedule expected: {schedules:?}")
    };
    assert_eq!(installed.process, "daily-job");
    assert_eq!(installed.created_by, "deploy");
    assert_eq!(
        installed.next_fire_at,
        Some(at("2025-06-03T04:00:00+02:00")),
        "from the deploy day on, in the process's zone"
    );
    app.engine
        .jobs()
        .advance_to(at("2025-06-03T05:00:00+02:00"))
        .await
        .expect("advances");
    let runs = runs(&app.engine, "daily-job").await;
    assert_eq!(runs.len(), 1, "it fires like any schedule");

    // The admins' from now on: removed, it stays removed through a new version.
    app.engine
        .jobs()
        .remove_schedule(installed.id, &admin(), "")
        .await
        .expect("removed");
    app.engine
        .releases()
        .deploy(&[forlob_engine::definition::SourceFile {
            path: "daily-job.yaml".into(),
            text: DAILY.replace("Daily job", "Daily job, v2"),
        }])
        .await
        .expect("deploys");
    assert!(
        app.engine
            .jobs()
            .schedules()
            .await
            .expect("schedules")
            .is_empty(),
        "a later version brings no schedule back"
    );
}

/// Takes ten minutes of the manual clock per chunk, six chunks: a long job.
struct Slow {
    clock: Arc<std::sync::OnceLock<Arc<forlob_engine::ManualClock>>>,
}

#[async_trait]
impl Action for Slow {
    type Input = Value;
    type Output = Value;

    fn name(&self) -> &'static str {
        "test.slow"
    }

    async fn run(&self, ctx: &ActionContext<'_>, input: Value) -> Result<Value, ActionError> {
        let clock = self
            .clock
            .get()
            .ok_or_else(|| ActionError::permanent("no clock yet"))?;
        clock
            .set(ctx.now + chrono::Duration::minutes(10))
            .map_err(ActionError::permanent)?;
        let n = input["n"].as_u64().unwrap_or(0) + 1;
        Ok(json!({ "n": n, "more": n < 6 }))
    }
}

const SLOW: &str = r#"
id: slow-job
subject: job
timezone: Europe/Stockholm
start:
  schedule: {}
initial: chunk
states:
  chunk:
    automatic: { action: test.slow, input: { n: "has(vars.n) ? vars.n : 0" }, async: true }
    next: more
  more:
    decision:
      - { when: "vars.more", goto: chunk }
      - { otherwise: done }
  done: { end: true }
"#;

async fn a_firing_due_while_a_long_job_runs_starts_on_time(backend: Backend) {
    let clock = Arc::new(std::sync::OnceLock::new());
    let handle = clock.clone();
    let app = TestApp::builder(backend)
        .with_registry(move |r| {
            r.register_action(Slow { clock: handle });
        })
        .with_process(SLOW)
        .with_process(LATER)
        .at("2025-06-02T12:00:00+02:00")
        .build()
        .await;
    clock.set(app.clock.clone()).ok();
    for request in [
        weekly("slow-job", "2025-06-03", "02:00", EVERY_DAY),
        weekly("later-job", "2025-06-03", "02:30", EVERY_DAY),
    ] {
        app.engine
            .jobs()
            .create_schedule(&request, &admin())
            .await
            .expect("scheduled");
    }
    // One call keeps the node busy with the slow job from 02:00 to 03:00; the 02:30 firing
    // must not wait for it to end.
    app.engine
        .jobs()
        .advance_to(at("2025-06-03T01:59:00+02:00"))
        .await
        .expect("advances");
    app.clock
        .set(at("2025-06-03T02:00:00+02:00"))
        .expect("moves on");
    app.engine.jobs().run_due().await.expect("runs");
    let slow = runs(&app.engine, "slow-job").await;
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0].status, RunStatus::Succeeded);
    assert!(slow[0].ended_at >= Some(at("2025-06-03T02:50:00+02:00")));
    let later = runs(&app.engine, "later-job").await;
    assert_eq!(later.len(), 1, "fired during the slow run");
    let started = later[0].started_at.expect("started");
    assert!(
        started < at("2025-06-03T02:41:00+02:00"),
        "started at {}, not when the slow job let go",
        local(started)
    );
}

/// A run whose failed step an admin skipped ended, but did not succeed: the logbook says so.
async fn a_run_that_ends_after_its_failed_step_was_skipped_is_not_a_success(backend: Backend) {
    let app = app(backend, "2025-06-02T09:00:00+02:00", None).await;
    let run = app
        .engine
        .jobs()
        .run_job_now(
            &RunRequest {
                process: Some("nightly-job".into()),
                parameters: [("batch".to_owned(), json!(500))].into_iter().collect(),
                ..RunRequest::default()
            },
            &admin(),
        )
        .await
        .expect("runs now");
    app.engine
        .jobs()
        .run_due()
        .await
        .expect("the chunk fails for good");
    let (failed, _) = app.engine.jobs().job_run(run.id, 100).await.expect("run");
    assert_eq!(failed.status, RunStatus::Failed);
    let incident = forlob_engine::store::incidents(app.engine.db(), true)
        .await
        .expect("incidents")
        .pop()
        .expect("the failure is an incident");
    app.engine
        .operations()
        .skip_incident(incident.id, "done", &admin(), "")
        .await
        .expect("skips to the end");
    let (ended, _) = app.engine.jobs().job_run(run.id, 100).await.expect("run");
    assert_eq!(ended.status, RunStatus::EndedAfterSkip);
    assert_eq!(ended.status.as_str(), "ended_after_skip");
    assert_eq!(
        serde_json::to_value(ended.status).expect("serializes"),
        json!("ended_after_skip"),
        "the API says it as the CLI does"
    );
}

/// A parameter whose options are a package's reference data (the register's municipalities)
/// is checked when the schedule is saved: anything else is refused at the parameter, before
/// a run could fail on it.
async fn a_schedules_parameter_is_checked_against_the_packages_reference_data(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_registry(|r| {
            r.register_reference(
                "test_kommuner",
                ["2281 Sundsvall", "0180 Stockholm"]
                    .iter()
                    .map(|l| forlob_engine::form::Choice {
                        value: l[..4].to_owned(),
                        label: (*l).to_owned(),
                    })
                    .collect(),
            );
        })
        .with_process(
            r#"
id: register-job
subject: job
start:
  schedule:
    parameters:
      kommun: { type: choice, options: ref.test_kommuner, default: "2281" }
initial: done
states:
  done: { end: true }
"#,
        )
        .build()
        .await;
    let with = |kommun: &str| ScheduleRequest {
        parameters: [("kommun".to_owned(), json!(kommun))].into_iter().collect(),
        ..weekly("register-job", "2025-06-02", "04:00", EVERY_DAY)
    };
    let refused = app
        .engine
        .jobs()
        .create_schedule(&with("<script>alert(1)</script>"), &admin())
        .await
        .expect_err("not a municipality of the register");
    match &refused {
        forlob_engine::EngineError::Invalid(errors) => assert!(
            errors["parameters.kommun"]
                .to_string()
                .contains("not one of: 2281 Sundsvall, 0180 Stockholm"),
            "{errors:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        app.engine
            .jobs()
            .schedules()
            .await
            .expect("schedules")
            .is_empty()
    );
    app.engine
        .jobs()
        .create_schedule(&with("0180"), &admin())
        .await
        .expect("a municipality of the register");
}

on_both_backends!(
    a_schedules_parameter_is_checked_against_the_packages_reference_data,
    a_run_that_ends_after_its_failed_step_was_skipped_is_not_a_success,
    r24_r26_a_weekly_schedule_runs_on_its_weekdays_and_each_run_is_in_the_logbook,
    a_0230_job_runs_once_on_both_daylight_saving_days,
    missed_firings_follow_the_misfire_policy_after_a_downtime,
    a_firing_while_the_previous_run_goes_on_is_skipped_or_queued,
    two_nodes_fire_each_schedule_exactly_once,
    r25_removing_a_schedule_stops_its_firings_but_not_a_run_in_progress,
    bad_schedules_are_refused_with_a_message_per_field,
    a_run_that_fails_half_way_keeps_what_was_done_and_retries_without_doing_it_twice,
    r27_a_schedule_that_would_overlap_a_later_job_gets_a_warning,
    a_default_schedule_comes_with_the_first_version_only,
    a_firing_due_while_a_long_job_runs_starts_on_time,
);
