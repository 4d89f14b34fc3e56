//! The migrations page (admins): "restart after release" with its dry run, the migrations
//! with their progress, and abandoning or undoing one (docs/releases.md).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use forlob_engine::EngineError;
use forlob_engine::message::{Code, Message};
use forlob_engine::release::MigrationPhase;
use forlob_engine::runtime::{MigrationPreview, RestartRequest};
use serde::{Deserialize, Serialize};

use super::admin::admin;
use super::confirm::{Ask, Confirmation};
use super::{Admins, Chrome, SignedIn, SignedInAs, done};
use crate::error::AppError;
use crate::routes::api::Path;
use crate::routes::api::releases::{
    MigrationView, PreviewView, resume_in_background, work_in_background,
};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/migrations", get(migrations))
        .route("/admin/migrations/restart", post(restart))
        .route("/admin/migrations/{id}/abandon", post(abandon))
        .route("/admin/migrations/{id}/undo", post(undo))
        .route("/admin/migrations/{id}/resume", post(resume))
}

/// The restart form as typed: every field text, the empty ones meaning "the default".
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
struct RestartForm {
    #[serde(default)]
    process: String,
    #[serde(default)]
    from_version: String,
    /// Comma-separated state names.
    #[serde(default)]
    states: String,
    #[serde(default)]
    to_state: String,
    #[serde(default)]
    drop_timers: Option<String>,
    #[serde(default)]
    new_due_dates: Option<String>,
    #[serde(default)]
    reason: String,
    /// `dry_run` (the default) or `restart`.
    #[serde(default)]
    action: String,
    /// `1` once the admin confirmed the restart (see [`Confirmation`]).
    #[serde(default)]
    confirmed: String,
}

/// What the restart form's button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum RestartAction {
    /// Show what would happen (the default: also a form sent with Enter, without a button).
    #[default]
    DryRun,
    Restart,
}

impl RestartAction {
    const ALL: [Self; 2] = [Self::DryRun, Self::Restart];

    fn as_str(self) -> &'static str {
        match self {
            Self::DryRun => "dry_run",
            Self::Restart => "restart",
        }
    }

    /// As the form sends it: empty is a dry run, anything else must be one of them.
    fn from_form(text: &str) -> Result<Self, Message> {
        forlob_engine::message::choice_from_form(text, &Self::ALL, Self::as_str)
    }
}

impl RestartForm {
    fn request(&self) -> Result<RestartRequest, EngineError> {
        let from_version = match self.from_version.trim() {
            "" => None,
            text => Some(text.parse().map_err(|_| {
                EngineError::invalid(
                    "from_version",
                    Message::new(Code::NOT_WHOLE_NUMBER).with("value", text),
                )
            })?),
        };
        let text = |t: &str| Some(t.trim()).filter(|t| !t.is_empty()).map(str::to_owned);
        Ok(RestartRequest {
            process: self.process.trim().to_owned(),
            from_version,
            states: self.states.split(',').filter_map(text).collect(),
            to_state: text(&self.to_state),
            drop_timers: self.drop_timers.is_some(),
            new_due_dates: self.new_due_dates.is_some(),
            reason: self.reason.trim().to_owned(),
        })
    }
}

/// Migrations, newest first, with their progress; refreshes itself while one runs.
async fn migrations(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
) -> Result<Response, AppError> {
    admin(&caller)?;
    page(&state, &chrome, &RestartForm::default(), Outcome::Form).await
}

/// What the restart form led to, shown above the list.
enum Outcome {
    Form,
    Preview(MigrationPreview),
    Refused(forlob_engine::form::FieldErrors),
}

async fn page(
    state: &AppState,
    chrome: &Chrome,
    form: &RestartForm,
    outcome: Outcome,
) -> Result<Response, AppError> {
    let mut shown = Vec::new();
    for status in state.engine.releases().migrations(50).await? {
        let phase = status.migration.status;
        // An undo works through what the migration did; a migration through what it selected.
        let (handled, total) = if matches!(phase, MigrationPhase::Undoing | MigrationPhase::Undone)
        {
            let undone = status.count("undone") + status.count("kept");
            (undone, undone + status.count("done"))
        } else {
            let total = status.migration.total;
            (total - status.count("pending"), total)
        };
        let percent = if total > 0 {
            handled * 100 / total
        } else {
            100
        };
        shown.push(MigrationRow {
            migration: MigrationView::from(status),
            handled,
            of: total,
            percent,
            busy: phase.is_busy(),
            can_abandon: phase.can_abandon(),
            can_undo: phase.can_undo(),
        });
    }
    let busy = shown.iter().any(|m| m.busy);
    let mut processes: Vec<String> = state
        .engine
        .catalog()
        .latest_all()
        .into_iter()
        .map(|(_, def)| def.id.clone())
        .collect();
    processes.sort();
    let (status, preview, errors) = match outcome {
        Outcome::Form => (StatusCode::OK, None, None),
        Outcome::Preview(preview) => (StatusCode::OK, Some(PreviewView::from(preview)), None),
        Outcome::Refused(errors) => {
            // Each problem under the label of the form's field it is about, not the plan's
            // field name (`from_versions` is "Fra version" on this page).
            let shown = errors
                .iter()
                .map(|(field, message)| Problem {
                    label: plan_field_label(field)
                        .map_or_else(|| field.clone(), |key| state.ui.text(chrome.lang, key)),
                    message: state.ui.message(chrome.lang, message),
                })
                .collect();
            (StatusCode::UNPROCESSABLE_ENTITY, None, Some(shown))
        }
    };
    let title = state.ui.text(chrome.lang, "nav.migrations");
    let view = MigrationsPage {
        migrations: shown,
        busy,
        processes,
        form,
        preview,
        errors,
    };
    Ok((
        status,
        state.ui.page("admin_migrations", chrome, &title, view)?,
    )
        .into_response())
}

/// `admin_migrations`: the restart form (with its dry run or why it was refused) and the
/// migrations with their progress.
#[derive(Debug, Serialize)]
struct MigrationsPage<'a> {
    migrations: Vec<MigrationRow>,
    /// One of them is running: the page refreshes itself.
    busy: bool,
    /// The processes a restart may be for.
    processes: Vec<String>,
    /// The restart form as typed.
    form: &'a RestartForm,
    /// What the dry run found.
    preview: Option<PreviewView>,
    /// Why the restart was refused, field by field.
    errors: Option<Vec<Problem>>,
}

/// A migration with how far it got and what an admin may do with it now.
#[derive(Debug, Serialize)]
struct MigrationRow {
    #[serde(flatten)]
    migration: MigrationView,
    handled: i64,
    of: i64,
    percent: i64,
    busy: bool,
    can_abandon: bool,
    can_undo: bool,
}

/// A refusal of the restart form under the label of the field it is about.
#[derive(Debug, Serialize)]
struct Problem {
    label: String,
    message: String,
}

/// The UI text of the restart form's field a plan's field is entered in.
fn plan_field_label(field: &str) -> Option<&'static str> {
    let first = field.split('.').next().unwrap_or(field);
    Some(match first {
        "process" => "migrations.process",
        "from_process" | "from_version" | "from_versions" => "migrations.from_version",
        "to_version" => "admin.version",
        "states" => "migrations.states",
        "to_state" => "migrations.to_state",
        "name" => "migrations.name",
        "reason" => "confirm.reason",
        "action" => "migrations.action",
        _ => return None,
    })
}

/// "Restart after release" from the page: a dry run shows what would happen to each
/// instance; the restart itself starts the migration on the server and comes back to the list.
async fn restart(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    Form(form): Form<RestartForm>,
) -> Result<Response, AppError> {
    // A button the form does not have is refused, not taken for a dry run; with the plan's
    // own problems, so everything wrong is shown at once.
    let action = RestartAction::from_form(&form.action);
    let plan = match form.request() {
        Ok(request) => state.engine.releases().restart_plan(&request).await,
        Err(e) => Err(e),
    };
    let (plan, action) = match (plan, action) {
        (Ok(plan), Ok(action)) => (plan, action),
        (Err(EngineError::Invalid(mut errors)), action) => {
            if let Err(message) = action {
                errors.insert("action".to_owned(), message);
            }
            return page(&state, &chrome, &form, Outcome::Refused(errors)).await;
        }
        (Err(e), _) => return Err(e.into()),
        (Ok(_), Err(message)) => {
            let errors = [("action".to_owned(), message)].into();
            return page(&state, &chrome, &form, Outcome::Refused(errors)).await;
        }
    };
    if action == RestartAction::DryRun {
        let preview = state.engine.releases().preview_migration(&plan).await?;
        return page(&state, &chrome, &form, Outcome::Preview(preview)).await;
    }
    // The restart moves many instances at once: it is confirmed, with the dry run's count.
    let confirmation = Confirmation {
        reason: form.reason.clone(),
        confirmed: form.confirmed.clone(),
    };
    // The page without JavaScript names how many instances move, as the dialog does.
    let instances = if form.confirmed == "1" {
        None
    } else {
        Some(
            state
                .engine
                .releases()
                .preview_migration(&plan)
                .await?
                .items
                .len(),
        )
    };
    let moved = instances.map_or_else(String::new, |n| {
        format!(
            " · {n} {}",
            state.ui.text(chrome.lang, "migrations.instances")
        )
    });
    let ask = || {
        let field = |name: &'static str, value: &str| (name, value.to_owned());
        let mut fields = vec![
            field("process", &form.process),
            field("from_version", &form.from_version),
            field("states", &form.states),
            field("to_state", &form.to_state),
            field("action", "restart"),
        ];
        if form.drop_timers.is_some() {
            fields.push(field("drop_timers", "on"));
        }
        if form.new_due_dates.is_some() {
            fields.push(field("new_due_dates", "on"));
        }
        Ask {
            what: "confirm.restart",
            about: format!("{} → v{}{moved}", plan.process, plan.to_version),
            button: "migrations.start_restart",
            action: "/admin/migrations/restart".to_owned(),
            back: "/admin/migrations".to_owned(),
            fields,
        }
    };
    // The plan carries the reason already (the request was made from the same form).
    if let Err(page) = confirmation.reason(&state, &chrome, ask) {
        return Ok(*page);
    }
    let actor = caller.actor();
    let id = state
        .engine
        .releases()
        .start_migration(&plan, &actor)
        .await?;
    work_in_background(&state, id, actor);
    Ok(done("/admin/migrations", "migrations.started").into_response())
}

/// What the confirmation of ending or undoing migration `id` is about. 404 for one that
/// does not exist; 409 for one the action no longer applies to (nothing to confirm).
async fn migration_ask(
    state: &AppState,
    id: i64,
    what: &'static str,
    button: &'static str,
    action: &str,
) -> Result<Ask, AppError> {
    let status = state.engine.releases().migration_status(id).await?;
    let m = &status.migration;
    let applies = match action {
        "undo" => m.status.can_undo(),
        _ => m.status.can_abandon(),
    };
    if !applies {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "migration {id} cannot be {action}ed now: it is {}",
                m.status.as_str()
            ),
        ));
    }
    Ok(Ask {
        what,
        about: format!("#{id} · {} v{} · {}", m.process_id, m.to_version, m.name),
        button,
        action: format!("/admin/migrations/{id}/{action}"),
        back: "/admin/migrations".to_owned(),
        fields: Vec::new(),
    })
}

async fn abandon(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    Path(id): Path<i64>,
    Form(form): Form<Confirmation>,
) -> Result<Response, AppError> {
    let ask = migration_ask(
        &state,
        id,
        "confirm.abandon",
        "migrations.abandon",
        "abandon",
    )
    .await?;
    let reason = match form.reason(&state, &chrome, || ask) {
        Ok(reason) => reason,
        Err(page) => return Ok(*page),
    };
    state
        .engine
        .releases()
        .abandon_migration(id, &caller.actor(), reason)
        .await?;
    Ok(done("/admin/migrations", "migrations.abandoned").into_response())
}

async fn undo(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<Admins>,
    Path(id): Path<i64>,
    Form(form): Form<Confirmation>,
) -> Result<Response, AppError> {
    let ask = migration_ask(&state, id, "confirm.undo", "migrations.undo", "undo").await?;
    let reason = match form.reason(&state, &chrome, || ask) {
        Ok(reason) => reason,
        Err(page) => return Ok(*page),
    };
    let actor = caller.actor();
    state
        .engine
        .releases()
        .begin_undo(id, &actor, reason)
        .await?;
    work_in_background(&state, id, actor);
    Ok(done("/admin/migrations", "migrations.undo_started").into_response())
}

/// Continues a migration or an undo that stopped (its node went down, or it failed and the
/// cause is mended).
async fn resume(
    State(state): State<AppState>,
    SignedIn(_, caller): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    admin(&caller)?;
    resume_in_background(&state, id, caller.actor()).await?;
    Ok(done("/admin/migrations", "migrations.resumed").into_response())
}
