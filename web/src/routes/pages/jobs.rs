//! The admin's job pages: the schedule table with "Start job" (start date, start time,
//! weekday boxes, the job's parameters), "Remove" and "Run now" per row, the next firing and
//! R27 warnings; the logbook; one run with its progress (refreshed while it runs) and details.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::Form;
use forlob_engine::jobs::{DetailFilter, LogbookFilter, RunStatus};
use forlob_engine::runtime::RunRequest;
use forlob_engine::schedule::{Misfire, Overlap, ScheduleRequest};
use forlob_engine::store;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::admin::admin;
use super::confirm::{Ask, Confirmation};
use super::{Admins, Chrome, SignedIn, SignedInAs, done};
use crate::error::AppError;
use crate::routes::api::Path;
use crate::routes::api::jobs::{JobRunView, jobs, schedule_views};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/jobs", get(jobs_page).post(add_schedule))
        .route("/admin/jobs/schedules/{id}/remove", post(remove))
        .route("/admin/jobs/schedules/{id}/run", post(run_schedule))
        .route("/admin/logbook", get(logbook_page))
        .route("/admin/logbook/{id}", get(run_page))
        .route("/admin/logbook/{id}/details.csv", get(run_details_csv))
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Debug, Default, Deserialize)]
struct JobChoice {
    job: Option<String>,
}

async fn jobs_page(
    State(state): State<AppState>,
    SignedInAs(chrome, _, _): SignedInAs<Admins>,
    Query(choice): Query<JobChoice>,
) -> Result<Response, AppError> {
    render(&state, &chrome, choice.job, json!({}), StatusCode::OK).await
}

/// The schedule table and the "Start job" form for the chosen job (default the first).
async fn render(
    state: &AppState,
    chrome: &Chrome,
    chosen: Option<String>,
    extra: Value,
    status: StatusCode,
) -> Result<Response, AppError> {
    state.engine.refresh_catalog().await?;
    let all = jobs(state);
    let chosen = chosen
        .filter(|c| all.iter().any(|j| &j.process == c))
        .or_else(|| all.first().map(|j| j.process.clone()));
    let job = all.iter().find(|j| Some(&j.process) == chosen.as_ref());
    // Strict templates read every field the form shows; nothing entered yet is empty.
    let mut entered = json!({
        "label": "", "start_date": "", "start_time": "", "weekdays": [], "cron": "", "params": {},
        "misfire": "", "overlap": "",
    });
    if let (Some(defaults), Some(given)) = (
        entered.as_object_mut(),
        extra.get("entered").and_then(Value::as_object),
    ) {
        defaults.extend(given.clone());
    }
    let marked: Vec<String> = entered
        .get("weekdays")
        .and_then(Value::as_array)
        .map(|days| {
            days.iter()
                .filter_map(|d| d.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let weekdays: Vec<Value> = WEEKDAYS
        .iter()
        .map(|d| json!({ "day": d, "checked": marked.iter().any(|m| m == d) }))
        .collect();
    let errors = extra.get("errors").cloned().unwrap_or_else(|| json!({}));
    // Each parameter as the form shows it: the value entered (or the default), its error.
    let params: Vec<Value> = job
        .map(|j| {
            j.parameters
                .iter()
                .map(|p| {
                    let value = entered["params"]
                        .get(&p.name)
                        .or(p.default.as_ref())
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .unwrap_or_default();
                    let options: Vec<Value> = p
                        .options
                        .iter()
                        .zip(&p.option_labels)
                        .map(|(o, label)| json!({ "value": o, "label": label, "selected": *o == value }))
                        .collect();
                    json!({
                        "name": p.name,
                        "label": p.label.clone().unwrap_or_else(|| p.name.clone()),
                        "options": options,
                        "value": value,
                        "error": errors.get(format!("parameters.{}", p.name)),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    // A schedule of an exceptional job asks again before "Run now".
    let say = |warnings: &[forlob_engine::message::Message]| {
        warnings
            .iter()
            .map(|w| state.ui.message(chrome.lang, w))
            .collect()
    };
    let schedules: Vec<Value> = schedule_views(state, say)
        .await?
        .into_iter()
        .map(|view| {
            let confirm = all
                .iter()
                .find(|j| j.process == view.process)
                .and_then(|j| j.confirm.clone());
            let mut value = serde_json::to_value(view).unwrap_or(Value::Null);
            if let Some(map) = value.as_object_mut() {
                map.insert("confirm".into(), json!(confirm));
            }
            value
        })
        .collect();
    let title = state.ui.text(chrome.lang, "jobs.title");
    let mut data = json!({
        "jobs": all,
        "job": job,
        "params": params,
        "errors": errors,
        "entered": entered,
        "more_open": false,
        "chosen": chosen,
        "schedules": schedules,
        "weekdays": weekdays,
        // The form's default start date: today where the job runs.
        "today": job
            .and_then(|j| j.time_zone.parse::<chrono_tz::Tz>().ok())
            .map_or_else(
                || state.engine.clock().now().date_naive(),
                |zone| state.engine.clock().now().with_timezone(&zone).date_naive(),
            )
            .to_string(),
    });
    // `entered` was merged over its defaults above; the rest of `extra` goes on top.
    if let (Some(data), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
        data.extend(
            extra
                .iter()
                .filter(|(key, _)| key.as_str() != "entered")
                .map(|(key, value)| (key.clone(), value.clone())),
        );
    }
    let mut response = state
        .ui
        .page("admin_jobs", chrome, &title, data)?
        .into_response();
    *response.status_mut() = status;
    Ok(response)
}

/// "Start job" as posted: repeated `weekdays`, the job's parameters as `p.NAME`.
#[derive(Debug, Default)]
struct ScheduleForm {
    process: String,
    label: String,
    start_date: String,
    start_time: String,
    weekdays: Vec<String>,
    cron: String,
    misfire: String,
    overlap: String,
    confirmed: bool,
    params: Map<String, Value>,
}

impl ScheduleForm {
    fn read(pairs: Vec<(String, String)>) -> Self {
        let mut form = Self::default();
        for (key, value) in pairs {
            match key.as_str() {
                "process" => form.process = value,
                "label" => form.label = value,
                "start_date" => form.start_date = value,
                "start_time" => form.start_time = value,
                "weekdays" => form.weekdays.push(value),
                "cron" => form.cron = value,
                "misfire" => form.misfire = value,
                "overlap" => form.overlap = value,
                "confirmed" => form.confirmed = true,
                other => {
                    if let Some(name) = other.strip_prefix("p.") {
                        form.params.insert(name.to_owned(), Value::String(value));
                    }
                }
            }
        }
        form
    }
}

async fn add_schedule(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let form = ScheduleForm::read(pairs);
    let non_empty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    // A choice the form does not offer is refused, not replaced by the default.
    let mut refused = forlob_engine::form::FieldErrors::new();
    let misfire = Misfire::from_form(&form.misfire).unwrap_or_else(|m| {
        refused.insert("misfire".into(), m);
        Misfire::default()
    });
    let overlap = Overlap::from_form(&form.overlap).unwrap_or_else(|m| {
        refused.insert("overlap".into(), m);
        Overlap::default()
    });
    let request = ScheduleRequest {
        process: form.process.clone(),
        label: non_empty(&form.label),
        start_date: non_empty(&form.start_date),
        start_time: non_empty(&form.start_time).filter(|_| form.cron.trim().is_empty()),
        weekdays: if form.cron.trim().is_empty() {
            form.weekdays.clone()
        } else {
            Vec::new()
        },
        cron: non_empty(&form.cron),
        time_zone: None,
        parameters: parameters(&state, &form.process, &form.params),
        misfire,
        overlap,
        confirmed: form.confirmed,
    };
    let made = if refused.is_empty() {
        state
            .engine
            .jobs()
            .create_schedule(&request, &caller.actor())
            .await
    } else {
        // Everything wrong at once: the other fields' problems too.
        if let Err(forlob_engine::EngineError::Invalid(more)) =
            state.engine.jobs().check_schedule(&request)
        {
            refused.extend(more);
        }
        Err(forlob_engine::EngineError::Invalid(refused))
    };
    match made {
        Ok(made) if made.warnings.is_empty() => {
            Ok(done("/admin/jobs", "jobs.added").into_response())
        }
        // R27: made all the same, and the warning is shown where the admin is looking.
        Ok(made) => {
            render(
                &state,
                &chrome,
                Some(form.process),
                json!({ "added_with_warnings": made.warnings.iter().map(|w| state.ui.message(chrome.lang, w)).collect::<Vec<_>>() }),
                StatusCode::CREATED,
            )
            .await
        }
        Err(forlob_engine::EngineError::Invalid(errors)) => {
            let entered = json!({
                "label": form.label, "start_date": form.start_date, "start_time": form.start_time,
                "weekdays": form.weekdays, "cron": form.cron, "params": form.params,
                "misfire": form.misfire, "overlap": form.overlap,
            });
            // Fields under "more" are shown when one of them is wrong.
            let more_open = ["cron", "label", "misfire", "overlap"]
                .iter()
                .any(|field| errors.contains_key(*field));
            render(
                &state,
                &chrome,
                Some(form.process),
                json!({ "errors": state.ui.messages(chrome.lang, &errors), "entered": entered, "more_open": more_open }),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// The job's parameters from the form's `p.NAME` fields, typed by their declaration.
fn parameters(state: &AppState, process: &str, fields: &Map<String, Value>) -> Map<String, Value> {
    let pairs = fields
        .iter()
        .filter_map(|(name, text)| Some((name.as_str(), text.as_str()?)));
    state
        .engine
        .catalog()
        .latest(process)
        .and_then(|(_, d)| d.job.as_ref().map(|j| j.read_parameters(pairs)))
        .unwrap_or_default()
}

async fn remove(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    Path(id): Path<Uuid>,
    Form(form): Form<Confirmation>,
) -> Result<Response, AppError> {
    let schedule = state.engine.jobs().schedule(id).await?;
    if schedule.removed_at.is_some() {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("schedule {id} is removed already"),
        ));
    }
    let ask = || Ask {
        what: "confirm.remove_schedule",
        about: format!("{} · {}", schedule.process, schedule.label),
        button: "jobs.remove",
        action: format!("/admin/jobs/schedules/{id}/remove"),
        back: "/admin/jobs".to_owned(),
        fields: Vec::new(),
    };
    let reason = match form.reason(&state, &chrome, ask) {
        Ok(reason) => reason,
        Err(page) => return Ok(*page),
    };
    state
        .engine
        .jobs()
        .remove_schedule(id, &caller.actor(), reason)
        .await?;
    Ok(done("/admin/jobs", "jobs.removed").into_response())
}

#[derive(Debug, Default, Deserialize)]
struct RunForm {
    confirmed: Option<String>,
}

async fn run_schedule(
    State(state): State<AppState>,
    SignedInAs(_, caller, _): SignedInAs<Admins>,
    Path(id): Path<Uuid>,
    Form(form): Form<RunForm>,
) -> Result<Redirect, AppError> {
    let run = state
        .engine
        .jobs()
        .run_job_now(
            &RunRequest {
                schedule: Some(id),
                confirmed: form.confirmed.is_some(),
                ..RunRequest::default()
            },
            &caller.actor(),
        )
        .await?;
    // The run's page says how it went; "started" only for one that has not ended badly.
    let page = format!("/admin/logbook/{}", run.id);
    Ok(match run.status {
        RunStatus::Failed | RunStatus::Cancelled => Redirect::to(&page),
        RunStatus::Succeeded => done(&page, "jobs.run_succeeded"),
        _ => done(&page, "jobs.started"),
    })
}

#[derive(Debug, Default, Deserialize)]
struct LogbookQuery {
    process: Option<String>,
    before: Option<i64>,
}

const PAGE: u64 = 50;

async fn logbook_page(
    State(state): State<AppState>,
    SignedInAs(chrome, _, _): SignedInAs<Admins>,
    Query(query): Query<LogbookQuery>,
) -> Result<Response, AppError> {
    let runs = state
        .engine
        .jobs()
        .logbook(&LogbookFilter {
            process: query.process.clone().filter(|p| !p.is_empty()),
            before: query.before,
            limit: PAGE,
            ..LogbookFilter::default()
        })
        .await?;
    let older = (runs.len() as u64 == PAGE)
        .then(|| runs.last().map(|r| r.id))
        .flatten();
    let runs: Vec<Value> = runs.into_iter().map(run_json).collect();
    let title = state.ui.text(chrome.lang, "jobs.logbook");
    Ok(state
        .ui
        .page(
            "admin_logbook",
            &chrome,
            &title,
            json!({ "runs": runs, "older": older, "process": query.process, "jobs": jobs(&state) }),
        )?
        .into_response())
}

/// A run for the pages: the API's view plus what the templates show directly.
fn run_json(run: forlob_engine::jobs::JobRun) -> Value {
    let percent = match run.progress_total {
        Some(total) if total > 0 => Some((run.progress_done * 100 / total).clamp(0, 100)),
        _ => None,
    };
    let running = run.status == RunStatus::Running;
    let minutes = run.duration().map(|d| d.num_minutes());
    let mut value = serde_json::to_value(JobRunView::from(run)).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert("percent".into(), json!(percent));
        map.insert("running".into(), json!(running));
        map.insert("minutes".into(), json!(minutes));
    }
    value
}

/// The filter of a run's details: a kind, and a text in the subject or message.
#[derive(Debug, Default, Deserialize)]
struct DetailQuery {
    kind: Option<String>,
    q: Option<String>,
}

impl DetailQuery {
    fn filter(&self, state: &AppState) -> Result<DetailFilter, AppError> {
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        crate::routes::api::check_filters(
            [("kind", self.kind.as_deref()), ("q", self.q.as_deref())],
            state.engine.limits().query,
        )?;
        // A personnummer or CPR number is typed with its dash; the details have none.
        let text = given(&self.q).map(|q| {
            if q.chars().all(|c| c.is_ascii_digit() || c == '-') {
                q.replace('-', "")
            } else {
                q
            }
        });
        Ok(DetailFilter {
            kind: given(&self.kind),
            text,
        })
    }
}

/// Details a run's page shows at most; the CSV has them all (up to [`EXPORT_DETAILS`]).
const PAGE_DETAILS: u64 = 1000;
const EXPORT_DETAILS: u64 = 200_000;

async fn run_page(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Path(id): Path<i64>,
    Query(query): Query<DetailQuery>,
) -> Result<Response, AppError> {
    admin(&caller)?;
    let filter = query.filter(&state)?;
    let (run, details) = state
        .engine
        .jobs()
        .job_run_filtered(id, &filter, PAGE_DETAILS)
        .await?;
    // A search of the details (they name persons) is a look-up: recorded, naming the person
    // when the search is an id.
    if let Some(q) = &filter.text {
        let mut record =
            forlob_engine::audit::AuditRecord::new(forlob_engine::audit::AuditAction::PersonSearch)
                .target(id)
                .detail(json!({ "shown": "job_run_details", "query": q, "hits": details.len() }));
        if q.chars().all(|c| c.is_ascii_digit()) {
            record = record.subject(q.clone());
        }
        state
            .engine
            .audit()
            .record(&caller.actor(), vec![record])
            .await?;
    }
    let kinds: Vec<Value> = store::jobs::job_run_detail_kinds(state.engine.db(), id)
        .await?
        .into_iter()
        .map(|(kind, n)| json!({ "kind": kind, "n": n, "selected": filter.kind.as_deref() == Some(kind.as_str()) }))
        .collect();
    let csv = format!(
        "/admin/logbook/{id}/details.csv?{}",
        serde_urlencoded::to_string([
            ("kind", filter.kind.clone().unwrap_or_default()),
            ("q", filter.text.clone().unwrap_or_default()),
        ])
        .unwrap_or_default()
    );
    // The incidents of the run's instance: why it failed, and where to repair it.
    let incidents = match run.instance_id {
        Some(instance) => store::incidents_of(state.engine.db(), instance, false).await?,
        None => Vec::new(),
    };
    let failed = matches!(run.status, RunStatus::Failed);
    let title = format!("{} {}", state.ui.text(chrome.lang, "jobs.run"), run.id);
    let cut = details.len() as u64 == PAGE_DETAILS;
    let shown: Vec<Value> = details
        .iter()
        .map(|d| json!({ "kind": d.kind, "subject": d.subject, "text": state.ui.detail_text(chrome.lang, d) }))
        .collect();
    Ok(state
        .ui
        .page(
            "admin_job_run",
            &chrome,
            &title,
            json!({
                "run": run_json(run),
                "details": shown,
                "incidents": incidents,
                "failed": failed,
                "kinds": kinds,
                "filter": { "kind": filter.kind, "q": filter.text },
                "csv": csv,
                "cut": cut,
            }),
        )?
        .into_response())
}

/// A run's details (as filtered on its page) as CSV. They name persons, so the download is
/// recorded (`logbook.export`, with the filter and how many rows).
async fn run_details_csv(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    Path(id): Path<i64>,
    Query(query): Query<DetailQuery>,
) -> Result<Response, AppError> {
    let filter = query.filter(&state)?;
    let (run, details) = state
        .engine
        .jobs()
        .job_run_filtered(id, &filter, EXPORT_DETAILS)
        .await?;
    let record = forlob_engine::audit::AuditRecord::new(forlob_engine::audit::AuditAction::LogbookExport)
        .target(id)
        .detail(json!({ "process": run.process, "kind": filter.kind, "q": filter.text, "rows": details.len() }));
    state
        .engine
        .audit()
        .record(&caller.actor(), vec![record])
        .await?;
    // The message as the page shows it, in the reader's language; the kind as its key, which
    // a spreadsheet filters by.
    let rows = details.into_iter().map(|d| {
        let message = state.ui.detail_text(chrome.lang, &d);
        vec![
            d.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            d.kind,
            d.subject.unwrap_or_default(),
            message,
        ]
    });
    let csv = crate::audit_export::table(&["at", "kind", "subject", "message"], rows)
        .map_err(|e| AppError::internal(&e))?;
    let disposition = format!("attachment; filename=\"forlob-run-{id}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv,
    )
        .into_response())
}
