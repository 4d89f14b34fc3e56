//! The audit page (admins and auditors): the log filtered by person, user, action and time,
//! newest first, paged; and the same selection as a CSV file. Each look is itself recorded.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use forlob_engine::audit::AuditAction;
use serde::Serialize;

use super::{AuditReaders, SignedInAs};
use crate::error::AppError;
use crate::routes::api::Query;
use crate::routes::api::audit::{AuditQuery, page};
use crate::state::AppState;

/// The most entries one CSV download holds; narrow the filters (or use `forlob audit
/// export`) for more.
const EXPORT_LIMIT: u64 = 10_000;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/audit", get(audit_page))
        .route("/admin/audit.csv", get(audit_csv))
}

async fn audit_page(
    State(state): State<AppState>,
    SignedInAs(chrome, caller, _): SignedInAs<AuditReaders>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, AppError> {
    let filter = query.filter(state.engine.limits(), state.engine.timezone())?;
    let found = page(&state, &caller, &filter).await?;
    // The same filters without the cursor: the links to the next page and to the CSV.
    let filters = serde_urlencoded::to_string([
        ("subject", query.subject.clone().unwrap_or_default()),
        ("actor", query.actor.clone().unwrap_or_default()),
        ("action", query.action.clone().unwrap_or_default()),
        ("from", query.from.clone().unwrap_or_default()),
        ("to", query.to.clone().unwrap_or_default()),
    ])
    .unwrap_or_default();
    let actions = AuditAction::ALL
        .iter()
        .map(|a| ActionChoice {
            value: a.as_str(),
            selected: query.action.as_deref() == Some(a.as_str()),
        })
        .collect();
    let entries = found
        .entries
        .into_iter()
        .map(|e| EntryRow {
            // The link to the same person's entries, encoded: an id is typed by anyone.
            subject_query: e
                .subject
                .as_ref()
                .map(|s| serde_urlencoded::to_string([("subject", s)]).unwrap_or_default()),
            at: e.at,
            actor: e.actor,
            role: e.role,
            municipality: e.municipality,
            action: e.action,
            subject: e.subject,
            target: e.target,
            via: e.via,
            detail: e.detail.to_string(),
        })
        .collect();
    let view = AuditPage {
        entries,
        next_cursor: found.next_cursor,
        filters,
        actions,
        search: AuditSearch {
            subject: query.subject,
            actor: query.actor,
            from: query.from,
            to: query.to,
        },
    };
    let title = state.ui.text(chrome.lang, "audit.title");
    Ok(state
        .ui
        .page("admin_audit", &chrome, &title, view)?
        .into_response())
}

/// `admin_audit`: a page of the audit log with its filters.
#[derive(Debug, Serialize)]
struct AuditPage {
    entries: Vec<EntryRow>,
    /// Where the next (older) page starts, when there is one.
    next_cursor: Option<i64>,
    /// The filters as a query string (without the cursor), for the links.
    filters: String,
    actions: Vec<ActionChoice>,
    search: AuditSearch,
}

/// An audit entry as the table shows it.
#[derive(Debug, Serialize)]
struct EntryRow {
    at: DateTime<Utc>,
    actor: String,
    role: String,
    municipality: Option<String>,
    action: String,
    subject: Option<String>,
    /// `subject=...`, the link to the same person's entries.
    subject_query: Option<String>,
    target: Option<String>,
    via: String,
    /// As stored (JSON text).
    detail: String,
}

/// An audited action the filter offers.
#[derive(Debug, Serialize)]
struct ActionChoice {
    value: &'static str,
    selected: bool,
}

/// The filter's text fields as given.
#[derive(Debug, Serialize)]
struct AuditSearch {
    subject: Option<String>,
    actor: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn audit_csv(
    State(state): State<AppState>,
    SignedInAs(_, caller, _): SignedInAs<AuditReaders>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, AppError> {
    let mut filter = query.filter(state.engine.limits(), state.engine.timezone())?;
    filter.limit = EXPORT_LIMIT;
    let entries = state
        .engine
        .audit()
        .audit_entries(&filter, &caller.actor(), AuditAction::AuditExport)
        .await?;
    let csv = crate::audit_export::to_csv(&entries).map_err(|e| AppError::internal(&e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"forlob-audit.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}
