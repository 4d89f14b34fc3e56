//! Confirmation, with a reason, before a destructive or bulk action (cancel an instance or
//! an incident's instance, skip a failed step, remove a schedule, disable a user, revoke a
//! token, restart, undo or abandon a migration).
//!
//! The server decides: such a form acts only when it arrives with `confirmed=1` and a
//! reason. Anything less is answered with a confirmation page naming what will happen,
//! carrying the form's other fields, and asking for the reason; so without JavaScript
//! nothing destructive happens on a single click. With JavaScript, `static/confirm.js` asks
//! the same in a dialog on the page and sends both fields, and the server acts at once.
//! The reason goes to the instance's history and the audit entry.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::Chrome;
use crate::state::AppState;

/// The two fields a destructive form sends with its own.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Confirmation {
    /// Why, in the admin's words (the engine checks its length again).
    #[serde(default)]
    pub reason: String,
    /// `1` once the admin has seen what will happen and said yes.
    #[serde(default)]
    pub confirmed: String,
}

/// What the confirmation page says and where its form goes.
pub(crate) struct Ask {
    /// The UI text key of the sentence naming what will happen.
    pub what: &'static str,
    /// What it happens to, e.g. `flyt-ud v2 · 010203-1234 · vent-paa-svar`.
    pub about: String,
    /// The UI text key of the button's words.
    pub button: &'static str,
    /// The action's own path, posted to again.
    pub action: String,
    /// Where "Fortryd" leads back to.
    pub back: String,
    /// The action's other fields, carried as they were sent.
    pub fields: Vec<(&'static str, String)>,
}

impl Confirmation {
    /// The trimmed reason, once the form came confirmed and with a reason that fits; else
    /// the confirmation page (200 when it first asks, 422 when the reason is missing or too
    /// long), as the `Err` to answer with (boxed: a response is large).
    pub(crate) fn reason(
        &self,
        state: &AppState,
        chrome: &Chrome,
        ask: impl FnOnce() -> Ask,
    ) -> Result<&str, Box<Response>> {
        let reason = self.reason.trim();
        let problem = if self.confirmed != "1" {
            None
        } else if reason.is_empty() {
            Some(state.ui.text(chrome.lang, "confirm.reason_missing"))
        } else {
            match forlob_engine::limits::too_long(reason, state.engine.limits().reason) {
                None => return Ok(reason),
                Some(message) => Some(state.ui.message(chrome.lang, &message)),
            }
        };
        Err(Box::new(self.page(state, chrome, ask(), problem)))
    }

    fn page(
        &self,
        state: &AppState,
        chrome: &Chrome,
        ask: Ask,
        problem: Option<String>,
    ) -> Response {
        let status = if problem.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        let view = ConfirmPage {
            what: state.ui.text(chrome.lang, ask.what),
            about: ask.about,
            button: state.ui.text(chrome.lang, ask.button),
            action: ask.action,
            back: ask.back,
            fields: ask
                .fields
                .into_iter()
                .map(|(name, value)| HiddenField { name, value })
                .collect(),
            reason: &self.reason,
            problem,
            max_reason: state.engine.limits().reason,
        };
        let title = state.ui.text(chrome.lang, "confirm.title");
        match state.ui.page("confirm", chrome, &title, view) {
            Ok(page) => (status, page).into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// `confirm`: what will happen, the reason asked for, and the form's own fields carried on.
#[derive(Debug, Serialize)]
struct ConfirmPage<'a> {
    /// In the reader's language.
    what: String,
    about: String,
    button: String,
    action: String,
    back: String,
    fields: Vec<HiddenField>,
    reason: &'a str,
    /// Why the reason was not taken.
    problem: Option<String>,
    max_reason: usize,
}

/// A field of the confirmed form, sent again hidden.
#[derive(Debug, Serialize)]
struct HiddenField {
    name: &'static str,
    value: String,
}
