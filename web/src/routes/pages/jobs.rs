//! The admin's job pages: the schedule table with "Start job" (start date, start time,
//! weekday boxes, the job's parameters), "Remove" and "Run now" per row, the next firing and
//! R27 warnings; the logbook; one run with its progress (refreshed while it runs) and details.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::Form;
use forlob_engine::form::FieldTexts;
use forlob_engine::instance::Incident;
use forlob_engine::jobs::{DetailFilter, LogbookFilter, RunStatus};
use forlob_engine::runtime::RunRequest;
use forlob_engine::schedule::{Misfire, Overlap, ScheduleRequest};
use forlob_engine::store;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::admin::admin;
use super::confirm::{Ask, Confirmation};
use super::{Admins, Chrome, SignedIn, SignedInAs, done};
use crate::error::AppError;
use crate::routes::api::Path;
use crate::routes::api::jobs::{JobRunView, JobView, ScheduleView, jobs, schedule_views};
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
    render(
        &state,
        &chrome,
        choice.job,
        Answer::default(),
        StatusCode::OK,
    )
    .await
}

/// The "Start job" form's fields as typed, shown again after a refusal; all empty at first
/// (strict templates read every field the form shows).
#[derive(Debug, Default, Serialize)]
struct Entered {
    label: String,
    start_date: String,
    start_time: String,
    weekdays: Vec<String>,
    cron: String,
    /// The job's parameters by name, as typed (`p.NAME`).
    params: BTreeMap<String, String>,
    misfire: String,
    overlap: String,
}

/// What a post of "Start job" shows besides the table: the form as entered with why it was
/// refused, or the warnings of a schedule made all the same (R27).
#[derive(Debug, Default)]
struct Answer {
    entered: Entered,
    errors: FieldTexts,
    /// Fields under "more" are shown when one of them is wrong.
    more_open: bool,
    added_with_warnings: Option<Vec<String>>,
}

/// `admin_jobs`: the schedule table and the "Start job" form for the chosen job.
#[derive(Debug, Serialize)]
struct JobsPage<'a> {
    jobs: &'a [JobView],
    /// The chosen job; none when no job is deployed.
    job: Option<&'a JobView>,
    chosen: Option<String>,
    params: Vec<ParameterField>,
    errors: FieldTexts,
    entered: Entered,
    more_open: bool,
    schedules: Vec<ScheduleRow>,
    weekdays: Vec<WeekdayBox>,
    /// The form's default start date: today where the job runs.
    today: String,
    /// Only after a schedule was made with warnings.
    #[serde(skip_serializing_if = "Option::is_none")]
    added_with_warnings: Option<Vec<String>>,
}

/// A job parameter as the form shows it: the value entered (or the default), its error.
#[derive(Debug, Serialize)]
struct ParameterField {
    name: String,
    label: String,
    /// A choice's options; empty for a text field.
    options: Vec<ParameterOption>,
    value: String,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct ParameterOption {
    value: String,
    label: String,
    selected: bool,
}

/// One weekday box of the form.
#[derive(Debug, Serialize)]
struct WeekdayBox {
    day: &'static str,
    checked: bool,
}

/// A row of the schedule table: the API's view, and the question an exceptional job asks
/// again before "Run now".
#[derive(Debug, Serialize)]
struct ScheduleRow {
    #[serde(flatten)]
    schedule: ScheduleView,
    confirm: Option<String>,
}

/// The schedule table and the "Start job" form for the chosen job (default the first).
async fn render(
    state: &AppState,
    chrome: &Chrome,
    chosen: Option<String>,
    answer: Answer,
    status: StatusCode,
) -> Result<Response, AppError> {
    state.engine.refresh_catalog().await?;
    let all = jobs(state);
    let chosen = chosen
        .filter(|c| all.iter().any(|j| &j.process == c))
        .or_else(|| all.first().map(|j| j.process.clone()));
    let job = all.iter().find(|j| Some(&j.process) == chosen.as_ref());
    let Answer {
        entered,
        errors,
        more_open,
        added_with_warnings,
    } = answer;
    let weekdays = WEEKDAYS
        .iter()
        .map(|day| WeekdayBox {
            day,
            checked: entered.weekdays.iter().any(|m| m == day),
        })
        .collect();
    let params = job
        .map(|j| {
            j.parameters
                .iter()
                .map(|p| {
                    let value = entered
                        .params
                        .get(&p.name)
                        .cloned()
                        .or_else(|| {
                            p.default
                                .as_ref()
                                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        })
                        .unwrap_or_default();
                    let options = p
                        .options
                        .iter()
                        .zip(&p.option_labels)
                        .map(|(o, label)| ParameterOption {
                            value: o.clone(),
                            label: label.clone(),
                            selected: *o == value,
                        })
                        .collect();
                    ParameterField {
                        name: p.name.clone(),
                        label: p.label.clone().unwrap_or_else(|| p.name.clone()),
                        options,
                        value,
                        error: errors.get(&format!("parameters.{}", p.name)).cloned(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let say = |warnings: &[forlob_engine::message::Message]| {
        warnings
            .iter()
            .map(|w| state.ui.message(chrome.lang, w))
            .collect()
    };
    let schedules = schedule_views(state, say)
        .await?
        .into_iter()
        .map(|schedule| {
            let confirm = all
                .iter()
                .find(|j| j.process == schedule.process)
                .and_then(|j| j.confirm.clone());
            ScheduleRow { schedule, confirm }
        })
        .collect();
    let today = job
        .and_then(|j| j.time_zone.parse::<chrono_tz::Tz>().ok())
        .map_or_else(
            || state.engine.clock().now().date_naive(),
            |zone| state.engine.clock().now().with_timezone(&zone).date_naive(),
        )
        .to_string();
    let title = state.ui.text(chrome.lang, "jobs.title");
    let view = JobsPage {
        jobs: &all,
        job,
        chosen,
        params,
        errors,
        entered,
        more_open,
        schedules,
        weekdays,
        today,
        added_with_warnings,
    };
    let mut response = state
        .ui
        .page("admin_jobs", chrome, &title, view)?
        .into_response();
    *response.status_mut() = status;
    Ok(response)
}

/// "Start job" as posted: repeated `weekdays`, the job's parameters as `p.NAME`.
#[derive(Debug, Default)]
struct ScheduleForm {
    process: String,
    confirmed: bool,
    entered: Entered,
}

impl ScheduleForm {
    fn read(pairs: Vec<(String, String)>) -> Self {
        let mut form = Self::default();
        let entered = &mut form.entered;
        for (key, value) in pairs {
            match key.as_str() {
                "process" => form.process = value,
                "label" => entered.label = value,
                "start_date" => entered.start_date = value,
                "start_time" => entered.start_time = value,
                "weekdays" => entered.weekdays.push(value),
                "cron" => entered.cron = value,
                "misfire" => entered.misfire = value,
                "overlap" => entered.overlap = value,
                "confirmed" => form.confirmed = true,
                other => {
                    if let Some(name) = other.strip_prefix("p.") {
                        entered.params.insert(name.to_owned(), value);
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
    let ScheduleForm {
        process,
        confirmed,
        entered,
    } = ScheduleForm::read(pairs);
    let non_empty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    // A choice the form does not offer is refused, not replaced by the default.
    let mut refused = forlob_engine::form::FieldErrors::new();
    let misfire = Misfire::from_form(&entered.misfire).unwrap_or_else(|m| {
        refused.insert("misfire".into(), m);
        Misfire::default()
    });
    let overlap = Overlap::from_form(&entered.overlap).unwrap_or_else(|m| {
        refused.insert("overlap".into(), m);
        Overlap::default()
    });
    let by_cron = !entered.cron.trim().is_empty();
    let request = ScheduleRequest {
        process: process.clone(),
        label: non_empty(&entered.label),
        start_date: non_empty(&entered.start_date),
        start_time: non_empty(&entered.start_time).filter(|_| !by_cron),
        weekdays: if by_cron {
            Vec::new()
        } else {
            entered.weekdays.clone()
        },
        cron: non_empty(&entered.cron),
        time_zone: None,
        parameters: parameters(&state, &process, &entered.params),
        misfire,
        overlap,
        confirmed,
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
            let warnings = made
                .warnings
                .iter()
                .map(|w| state.ui.message(chrome.lang, w))
                .collect();
            let answer = Answer {
                added_with_warnings: Some(warnings),
                ..Answer::default()
            };
            render(&state, &chrome, Some(process), answer, StatusCode::CREATED).await
        }
        Err(forlob_engine::EngineError::Invalid(errors)) => {
            let answer = Answer {
                more_open: ["cron", "label", "misfire", "overlap"]
                    .iter()
                    .any(|field| errors.contains_key(*field)),
                errors: state.ui.messages(chrome.lang, &errors),
                entered,
                added_with_warnings: None,
            };
            render(
                &state,
                &chrome,
                Some(process),
                answer,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// The job's parameters from the form's `p.NAME` fields, typed by their declaration.
fn parameters(
    state: &AppState,
    process: &str,
    fields: &BTreeMap<String, String>,
) -> Map<String, Value> {
    let pairs = fields
        .iter()
        .map(|(name, text)| (name.as_str(), text.as_str()));
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
    let view = LogbookPage {
        runs: runs.into_iter().map(RunRow::from).collect(),
        older,
        process: query.process,
        jobs: jobs(&state),
    };
    let title = state.ui.text(chrome.lang, "jobs.logbook");
    Ok(state
        .ui
        .page("admin_logbook", &chrome, &title, view)?
        .into_response())
}

/// `admin_logbook`: the runs, newest first, a page at a time.
#[derive(Debug, Serialize)]
struct LogbookPage {
    runs: Vec<RunRow>,
    /// The id to show runs before, when there may be older ones.
    older: Option<i64>,
    /// The job filtered by.
    process: Option<String>,
    jobs: Vec<JobView>,
}

/// A run for the pages: the API's view plus what the templates show directly.
#[derive(Debug, Serialize)]
struct RunRow {
    #[serde(flatten)]
    run: JobRunView,
    /// How far it got, of a run that knows its total.
    percent: Option<i64>,
    running: bool,
    /// How long it took (so far).
    minutes: Option<i64>,
}

impl From<forlob_engine::jobs::JobRun> for RunRow {
    fn from(run: forlob_engine::jobs::JobRun) -> Self {
        let percent = match run.progress_total {
            Some(total) if total > 0 => Some((run.progress_done * 100 / total).clamp(0, 100)),
            _ => None,
        };
        Self {
            percent,
            running: run.status == RunStatus::Running,
            minutes: run.duration().map(|d| d.num_minutes()),
            run: JobRunView::from(run),
        }
    }
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
    let kinds = store::jobs::job_run_detail_kinds(state.engine.db(), id)
        .await?
        .into_iter()
        .map(|(kind, n)| DetailKind {
            selected: filter.kind.as_deref() == Some(kind.as_str()),
            kind,
            n,
        })
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
    let title = format!("{} {}", state.ui.text(chrome.lang, "jobs.run"), run.id);
    let view = RunPage {
        failed: matches!(run.status, RunStatus::Failed),
        run: RunRow::from(run),
        cut: details.len() as u64 == PAGE_DETAILS,
        details: details
            .iter()
            .map(|d| DetailRow {
                kind: d.kind.clone(),
                subject: d.subject.clone(),
                text: state.ui.detail_text(chrome.lang, d),
            })
            .collect(),
        incidents,
        kinds,
        filter: DetailFilterView {
            kind: filter.kind,
            q: filter.text,
        },
        csv,
    };
    Ok(state
        .ui
        .page("admin_job_run", &chrome, &title, view)?
        .into_response())
}

/// `admin_job_run`: one run, its incidents and its details (filtered).
#[derive(Debug, Serialize)]
struct RunPage {
    run: RunRow,
    details: Vec<DetailRow>,
    incidents: Vec<Incident>,
    failed: bool,
    /// The kinds of the run's details with how many of each, for the filter.
    kinds: Vec<DetailKind>,
    filter: DetailFilterView,
    /// The details as filtered, as CSV.
    csv: String,
    /// More details than the page shows.
    cut: bool,
}

#[derive(Debug, Serialize)]
struct DetailRow {
    kind: String,
    subject: Option<String>,
    /// In the reader's language.
    text: String,
}

#[derive(Debug, Serialize)]
struct DetailKind {
    kind: String,
    n: u64,
    selected: bool,
}

/// The details' filter as the form shows it again.
#[derive(Debug, Serialize)]
struct DetailFilterView {
    kind: Option<String>,
    q: Option<String>,
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
