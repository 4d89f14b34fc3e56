//! The audit log for admins and auditors: who read which person's data, and every admin
//! action, newest first, paged by a cursor. Reading it is itself recorded.

use axum::extract::State;
use chrono::{DateTime, Utc};
use forlob_engine::audit::{AuditAction, AuditEntry, AuditFilter};
use forlob_engine::{Role, TextLimits};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Json, Query};
use crate::auth::Caller;
use crate::error::{AppError, ErrorBody, Result};
use crate::state::AppState;

/// Who may read the audit log.
pub(crate) const READERS: &[Role] = &[Role::Admin, Role::Auditor];

/// Entries a page shows unless asked for fewer or more.
const PAGE: u64 = 100;
/// The most a page may hold.
const MAX_PAGE: u64 = 1_000;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// A person (CPR number or personnummer): entries about them.
    pub subject: Option<String>,
    /// A username: entries of what they did.
    pub actor: Option<String>,
    /// An action, e.g. `person.read`, `user.disable`, `sign_in.failed`.
    pub action: Option<String>,
    /// From this day (`YYYY-MM-DD`, Danish time) or instant (RFC 3339), inclusive.
    pub from: Option<String>,
    /// To this day (inclusive) or instant (exclusive).
    pub to: Option<String>,
    /// The `next_cursor` of the page before: entries older than it.
    pub cursor: Option<i64>,
    /// Entries per page (1..=1000, default 100).
    pub limit: Option<u64>,
}

/// A given, non-blank text.
fn text(o: &Option<String>) -> Option<&str> {
    o.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl AuditQuery {
    /// The engine's filter, or a 422 naming each wrong field (also one longer than
    /// `limits.query` characters: each filter is repeated in the `audit.read` entry).
    pub(crate) fn filter(&self, limits: &TextLimits, zone: chrono_tz::Tz) -> Result<AuditFilter> {
        super::check_filters(
            [
                ("subject", self.subject.as_deref()),
                ("actor", self.actor.as_deref()),
                ("action", self.action.as_deref()),
                ("from", self.from.as_deref()),
                ("to", self.to.as_deref()),
            ],
            limits.query,
        )?;
        let mut errors = Vec::new();
        let action = text(&self.action).map(str::to_owned);
        if let Some(a) = &action
            && AuditAction::parse(a).is_none()
        {
            errors.push((
                "action",
                format!(
                    "`{a}` is not an action; one of {}",
                    AuditAction::ALL.map(AuditAction::as_str).join(", ")
                ),
            ));
        }
        let mut instant = |field: &'static str, value: Option<&str>, end: bool| {
            let value = value?;
            let parsed = crate::audit_export::parse_instant(value, end, zone);
            if parsed.is_none() {
                errors.push((
                    field,
                    format!("`{value}` is neither a day (2026-12-06) nor an instant (RFC 3339)"),
                ));
            }
            parsed
        };
        let from = instant("from", text(&self.from), false);
        let to = instant("to", text(&self.to), true);
        let limit = self.limit.unwrap_or(PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            errors.push(("limit", format!("must be between 1 and {MAX_PAGE}")));
        }
        if !errors.is_empty() {
            return Err(AppError::invalid(errors));
        }
        Ok(AuditFilter {
            subject: text(&self.subject).map(str::to_owned),
            actor: text(&self.actor).map(str::to_owned),
            action,
            from,
            to,
            before: self.cursor,
            limit,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEntryView {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Username (`anonymous` role for a failed sign-in's typed name).
    pub actor: String,
    pub role: String,
    pub municipality: Option<String>,
    /// e.g. `person.read`, `instance.cancel`, `sign_in.failed`.
    pub action: String,
    /// The person concerned.
    pub subject: Option<String>,
    /// The object acted on (instance, incident, user, token, schedule, migration).
    pub target: Option<String>,
    /// `api`, `page`, `cli` or `system`.
    pub via: String,
    /// Details (a search's query and hits, a reason, what changed).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// This entry's hash; `prev_hash` is the one before's.
    pub hash: String,
    pub prev_hash: String,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        Self {
            detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::String(e.detail)),
            id: e.id,
            at: e.at,
            actor: e.actor,
            role: e.role,
            municipality: e.municipality,
            action: e.action,
            subject: e.subject,
            target: e.target,
            via: e.via,
            hash: e.hash,
            prev_hash: e.prev_hash,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntryView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<i64>,
}

/// The entries `filter` selects for `caller`, with the cursor of the next page; the look is
/// recorded.
pub(crate) async fn page(
    state: &AppState,
    caller: &Caller,
    filter: &AuditFilter,
) -> Result<AuditPage> {
    let entries = state
        .engine
        .audit()
        .audit_entries(filter, &caller.actor(), AuditAction::AuditRead)
        .await?;
    let next_cursor = (entries.len() as u64 == filter.limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(AuditPage {
        entries: entries.into_iter().map(AuditEntryView::from).collect(),
        next_cursor,
    })
}

/// The audit log, newest first: filter by person, user, action and time; page with `cursor`.
#[utoipa::path(get, path = "/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditPage>> {
    caller.require(READERS)?;
    let filter = query.filter(state.engine.limits(), state.engine.timezone())?;
    Ok(Json(page(&state, &caller, &filter).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wrong_field_is_named() {
        let query = AuditQuery {
            action: Some("person.reed".into()),
            from: Some("yesterday".into()),
            limit: Some(0),
            ..AuditQuery::default()
        };
        let err = query
            .filter(&TextLimits::default(), chrono_tz::UTC)
            .expect_err("three problems");
        let text = format!("{err:?}");
        assert!(text.contains("action") && text.contains("from") && text.contains("limit"));
    }

    #[test]
    fn a_filter_over_the_query_limit_is_refused_and_one_at_it_is_not() {
        let limits = TextLimits {
            query: 10,
            ..TextLimits::default()
        };
        let at = AuditQuery {
            actor: Some("a".repeat(10)),
            ..AuditQuery::default()
        };
        assert!(at.filter(&limits, chrono_tz::UTC).is_ok());
        let over = AuditQuery {
            subject: Some("1".repeat(11)),
            ..AuditQuery::default()
        };
        let text = format!(
            "{:?}",
            over.filter(&limits, chrono_tz::UTC).expect_err("too long")
        );
        assert!(
            text.contains("subject") && text.contains("at most 10 characters"),
            "{text}"
        );
    }
}
