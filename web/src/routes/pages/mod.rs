//! The server-rendered UI: handlebars templates (strict, HTML-escaped, embedded in the
//! binary and read from disk in debug builds) with htmx for partial updates; no SPA build.
//!
//! Pages call the same engine functions as the API, with the same tenancy. Errors are the
//! API's [`AppError`], turned into a page (or an htmx fragment) by [`error_pages`]. The UI's
//! own words come in Danish and English (`i18n/*.json`, chosen by the user's setting or the
//! browser's Accept-Language); the processes' words (task titles, form labels) come from the
//! definitions as written.

mod admin;
mod audit;
mod confirm;
mod designer;
mod folkbokforing;
mod inbox;
mod jobs;
mod login;
mod persons;
mod releases;
mod tasks;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use forlob_engine::Role;
use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
};
use rust_embed::RustEmbed;
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::{self, Caller};
use crate::error::{AppError, ErrorBody};
use crate::routes::api::Path;
use crate::state::AppState;

#[derive(RustEmbed)]
#[folder = "templates/"]
struct Templates;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Static;

/// A language of the UI chrome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Da,
    En,
    /// For the users of Swedish municipalities (the `folkbokforing` package).
    Sv,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Self::Da => "da",
            Self::En => "en",
            Self::Sv => "sv",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        match code.trim().to_lowercase().split(['-', '_']).next() {
            Some("da") => Some(Self::Da),
            Some("en") => Some(Self::En),
            Some("sv") => Some(Self::Sv),
            _ => None,
        }
    }

    /// The first supported language of an Accept-Language header, by its q weights; Danish
    /// when the browser names none we have (the product's home).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::named_in(headers).unwrap_or(Self::Da)
    }

    /// The first supported language an Accept-Language header names, by its q weights.
    fn named_in(headers: &HeaderMap) -> Option<Self> {
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())?;
        let mut ranked: Vec<(f32, Lang)> = accept
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let lang = Self::parse(pieces.next()?)?;
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(1.0);
                // `q=0` says "not this one".
                (q > 0.0).then_some((q, lang))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.first().map(|(_, l)| *l)
    }
}

/// The templates and the UI's dictionaries, loaded once at start-up.
pub struct Ui {
    handlebars: Handlebars<'static>,
    texts: HashMap<&'static str, Dictionary>,
}

type Dictionary = HashMap<String, String>;

fn dictionaries() -> HashMap<&'static str, Dictionary> {
    let parse = |text: &str, lang: &str| -> Dictionary {
        serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("i18n/{lang}.json is a flat JSON object of strings: {e}"))
    };
    HashMap::from([
        ("da", parse(include_str!("../../../i18n/da.json"), "da")),
        ("en", parse(include_str!("../../../i18n/en.json"), "en")),
        ("sv", parse(include_str!("../../../i18n/sv.json"), "sv")),
    ])
}

/// The language a page is rendered in (`@root.lang`).
fn page_lang(ctx: &Context) -> &str {
    ctx.data()
        .get("lang")
        .and_then(Value::as_str)
        .unwrap_or("da")
}

/// A helper that puts a UI text in the page's language (`@root.lang`); its key is the
/// helper's parameters joined, after `prefix`.
///
/// - `{{t "key"}}` (`t`): with more parameters the key is their concatenation
///   (`{{t "status." status}}`). A missing key is an error, so a typo fails the page tests
///   rather than showing a blank.
/// - `{{word name}}` (`word`): what a job or migration counts, or files a detail line under
///   (`count.<name>`); the name itself for a word no package declared.
/// - `{{say "prefix." value}}` (`say`): a stored word people read (a role, an audited
///   action, a history entry's trigger) by its text, or as stored when there is none (a
///   word from an older version is shown, never breaks the page).
struct Translate {
    texts: HashMap<&'static str, Dictionary>,
    prefix: &'static str,
    /// Show the last parameter (the stored word) when there is no text, instead of failing
    /// the page.
    lenient: bool,
}

impl handlebars::HelperDef for Translate {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        if h.params().is_empty() {
            return Err(RenderErrorReason::ParamNotFoundForIndex("t", 0).into());
        }
        let given: String = h
            .params()
            .iter()
            .map(|p| p.value().as_str().unwrap_or_default())
            .collect();
        let key = format!("{}{given}", self.prefix);
        let lang = page_lang(ctx);
        let text = match self.texts.get(lang).and_then(|d| d.get(&key)) {
            Some(text) => text.as_str(),
            None if self.lenient => h
                .params()
                .last()
                .and_then(|p| p.value().as_str())
                .unwrap_or_default(),
            None => {
                return Err(
                    RenderErrorReason::Other(format!("no UI text `{key}` in {lang}")).into(),
                );
            }
        };
        out.write(&handlebars::html_escape(text))?;
        Ok(())
    }
}

impl Ui {
    /// The pages' templates and texts; instants are shown in `zone`, the deployment's.
    pub fn new(zone: chrono_tz::Tz) -> Self {
        let mut handlebars = Handlebars::new();
        handlebars.set_strict_mode(true);
        // Debug builds read templates from disk on every render: edit, reload, see.
        handlebars.set_dev_mode(cfg!(debug_assertions));
        handlebars
            .register_embed_templates_with_extension::<Templates>(".hbs")
            .expect("the embedded templates are checked by the page tests");
        let texts = dictionaries();
        handlebars.register_helper(
            "t",
            Box::new(Translate {
                texts: texts.clone(),
                prefix: "",
                lenient: false,
            }),
        );
        handlebars.register_helper(
            "say",
            Box::new(Translate {
                texts: texts.clone(),
                prefix: "",
                lenient: true,
            }),
        );
        handlebars.register_helper(
            "word",
            Box::new(Translate {
                texts: texts.clone(),
                prefix: "count.",
                lenient: true,
            }),
        );
        handlebars.register_helper("date", Box::new(LocalTime { zone }));
        handlebars.register_helper("eq", Box::new(equals));
        Self { handlebars, texts }
    }

    /// The UI text for `key`, if there is one.
    pub fn known_text(&self, lang: Lang, key: &str) -> Option<String> {
        self.texts.get(lang.code())?.get(key).cloned()
    }

    /// A UI text for handlers (e.g. a message placed in a page); the key itself if missing,
    /// which the dictionary test prevents.
    pub fn text(&self, lang: Lang, key: &str) -> String {
        self.texts
            .get(lang.code())
            .and_then(|d| d.get(key))
            .cloned()
            .unwrap_or_else(|| key.to_owned())
    }

    /// An engine's message in the reader's language: the catalogue's `msg.<code>` with the
    /// message's arguments, the engine's English where the catalogue has no text.
    pub fn message(&self, lang: Lang, message: &forlob_engine::message::Message) -> String {
        message.render(&|code| self.known_text(lang, &format!("msg.{}", code.key())))
    }

    /// A job run's detail line as the reader reads it: its code's text in their language, the
    /// stored English where the catalogue has none (or the line predates codes).
    pub fn detail_text(&self, lang: Lang, detail: &forlob_engine::jobs::JobRunDetail) -> String {
        let template = detail
            .code
            .as_deref()
            .and_then(|code| self.known_text(lang, &format!("msg.{code}")));
        detail.text(template.as_deref())
    }

    /// Every field's message in the reader's language.
    pub fn messages(
        &self,
        lang: Lang,
        errors: &forlob_engine::form::FieldErrors,
    ) -> forlob_engine::form::FieldTexts {
        errors
            .iter()
            .map(|(field, message)| (field.clone(), self.message(lang, message)))
            .collect()
    }

    /// All the messages of a refusal as one text in the reader's language, for a page that
    /// shows a refusal in one place rather than at its fields.
    pub fn messages_joined(&self, lang: Lang, errors: &forlob_engine::form::FieldErrors) -> String {
        errors
            .values()
            .map(|message| self.message(lang, message))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Renders `template` with the page's `data` (a view struct whose fields are what the
    /// template reads) and the chrome (user, language, CSRF token).
    pub fn page(
        &self,
        template: &str,
        chrome: &Chrome,
        title: &str,
        data: impl Serialize,
    ) -> Result<Page, AppError> {
        let layout = Layout {
            lang: chrome.lang.code(),
            title,
            user: chrome.caller.as_ref().map(|c| {
                let role = c.user.role;
                LayoutUser {
                    name: &c.user.display_name,
                    username: &c.user.username,
                    role: role.as_str(),
                    municipality: chrome
                        .municipality
                        .as_deref()
                        .or(c.user.municipality.as_deref()),
                    is_admin: role == Role::Admin,
                    reads_audit: matches!(role, Role::Admin | Role::Auditor),
                    is_designer: matches!(role, Role::Designer | Role::Admin),
                    is_caseworker: matches!(role, Role::Caseworker | Role::Admin),
                    // A Swedish municipality (four-digit code) searches its person register.
                    searches_se: role == Role::Admin
                        || c.user.municipality.as_ref().is_some_and(|m| m.len() == 4),
                }
            }),
            csrf: chrome.caller.as_ref().map_or("", |c| c.csrf()),
            flash: chrome.flash.as_deref(),
            path: &chrome.path,
            data,
        };
        let root = serde_json::to_value(layout).map_err(|e| AppError::internal(&e))?;
        self.handlebars
            .render(template, &root)
            .map(Page)
            .map_err(|e| AppError::internal(&e))
    }

    /// A fragment (no layout), for htmx swaps.
    pub fn fragment(
        &self,
        template: &str,
        chrome: &Chrome,
        data: impl Serialize,
    ) -> Result<Page, AppError> {
        self.page(template, chrome, "", data)
    }
}

/// What every page's layout reads (`@root`), with the page's own view beside it; a field of
/// the view of the same name wins (a page's view names none of these).
#[derive(Serialize)]
struct Layout<'a, T> {
    lang: &'static str,
    title: &'a str,
    /// The signed-in user; none on the sign-in page and for an error page's stranger.
    user: Option<LayoutUser<'a>>,
    /// The CSRF token every form posts; empty for nobody signed in.
    csrf: &'a str,
    /// A one-time message from the previous action.
    flash: Option<&'a str>,
    /// This page's path and query, to come back to after changing the language.
    path: &'a str,
    #[serde(flatten)]
    data: T,
}

/// The signed-in user as the layout shows them, and which menus they get.
#[derive(Serialize)]
struct LayoutUser<'a> {
    name: &'a str,
    username: &'a str,
    role: &'static str,
    /// The viewer's municipality as people know it ("101 København"), else its code.
    municipality: Option<&'a str>,
    is_admin: bool,
    reads_audit: bool,
    is_designer: bool,
    is_caseworker: bool,
    searches_se: bool,
}

/// `{{date at}}`: an instant in the deployment's zone, to the minute (what a caseworker needs).
struct LocalTime {
    zone: chrono_tz::Tz,
}

impl handlebars::HelperDef for LocalTime {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let text = h.param(0).and_then(|p| p.value().as_str()).unwrap_or("");
        let shown = chrono::DateTime::parse_from_rfc3339(text).map_or_else(
            |_| text.to_owned(),
            |t| {
                t.with_timezone(&self.zone)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            },
        );
        out.write(&handlebars::html_escape(&shown))?;
        Ok(())
    }
}

fn equals(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let same = match (h.param(0), h.param(1)) {
        (Some(a), Some(b)) => a.value() == b.value(),
        _ => false,
    };
    if same {
        out.write("true")?;
    }
    Ok(())
}

/// A rendered page.
pub struct Page(String);

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        Html(self.0).into_response()
    }
}

/// Who is looking and in which language; every page handler takes it.
#[derive(Clone)]
pub struct Chrome {
    pub caller: Option<Caller>,
    pub lang: Lang,
    /// A one-time message from the previous action (e.g. "task completed").
    pub flash: Option<String>,
    /// This page's path and query, to come back to after changing the language.
    pub path: String,
    /// The viewer's municipality as people know it ("101 København"), for the header.
    pub municipality: Option<String>,
}

impl FromRequestParts<AppState> for Chrome {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let caller =
            <Caller as axum::extract::OptionalFromRequestParts<AppState>>::from_request_parts(
                parts, state,
            )
            .await?;
        // The user's choice; else what the browser asks for; else Swedish for a Swedish
        // municipality (four-digit code) and Danish for everyone else.
        let lang = caller
            .as_ref()
            .and_then(|c| c.user.locale.as_deref())
            .and_then(Lang::parse)
            .or_else(|| Lang::named_in(&parts.headers))
            .unwrap_or_else(|| {
                let swedish = caller
                    .as_ref()
                    .and_then(|c| c.user.municipality.as_deref())
                    .is_some_and(|m| m.len() == 4);
                if swedish { Lang::Sv } else { Lang::Da }
            });
        // `?done=` names one of our own texts, so a crafted link cannot put words on a page.
        let flash = parts.uri.query().and_then(|q| {
            let key = serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                .ok()?
                .into_iter()
                .find(|(k, _)| k == "done")?
                .1;
            state.ui.known_text(lang, &key)
        });
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let municipality = caller
            .as_ref()
            .and_then(|c| c.user.municipality.as_deref())
            .map(|code| municipality_label(state, code));
        Ok(Self {
            caller,
            lang,
            flash,
            path,
            municipality,
        })
    }
}

/// A signed-in viewer; anyone else is sent to the login page and brought back afterwards.
pub(crate) struct SignedIn(pub Chrome, pub Caller);

/// Who a [`SignedInAs`] lets through.
pub(crate) trait Roles {
    const ROLES: &'static [forlob_engine::Role];
}

/// Admins only.
pub(crate) struct Admins;

impl Roles for Admins {
    const ROLES: &'static [forlob_engine::Role] = &[forlob_engine::Role::Admin];
}

/// Caseworkers and admins: those who work tasks and see persons.
pub(crate) struct Workers;

impl Roles for Workers {
    const ROLES: &'static [forlob_engine::Role] =
        &[forlob_engine::Role::Caseworker, forlob_engine::Role::Admin];
}

/// Admins and auditors: the readers of the audit log.
pub(crate) struct AuditReaders;

impl Roles for AuditReaders {
    const ROLES: &'static [forlob_engine::Role] =
        &[forlob_engine::Role::Admin, forlob_engine::Role::Auditor];
}

/// A signed-in viewer with one of `R`'s roles. An extractor, so the role is checked before
/// the request's body is read: a caller without it gets 403 whatever form they sent, never a
/// message about the form's fields.
pub(crate) struct SignedInAs<R>(pub Chrome, pub Caller, std::marker::PhantomData<R>);

impl<R: Roles> FromRequestParts<AppState> for SignedInAs<R> {
    type Rejection = SignInRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, SignInRejection> {
        let SignedIn(chrome, caller) = SignedIn::from_request_parts(parts, state).await?;
        caller.require(R::ROLES).map_err(SignInRejection::Error)?;
        Ok(Self(chrome, caller, std::marker::PhantomData))
    }
}

pub(crate) enum SignInRejection {
    Login(Redirect),
    Error(AppError),
}

impl IntoResponse for SignInRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Login(r) => r.into_response(),
            Self::Error(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = SignInRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, SignInRejection> {
        let chrome = Chrome::from_request_parts(parts, state)
            .await
            .map_err(SignInRejection::Error)?;
        match chrome.caller.clone() {
            Some(caller) => Ok(Self(chrome, caller)),
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
                Err(SignInRejection::Login(Redirect::to(&format!(
                    "/login?{query}"
                ))))
            }
        }
    }
}

pub(crate) fn router(_state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/static/{*file}", get(static_file))
        .route("/assets/{*file}", get(asset_file))
        .route("/api/docs", get(api_docs))
        .merge(login::router())
        .merge(inbox::router())
        .merge(tasks::router())
        .merge(persons::router())
        .merge(admin::router())
        .merge(audit::router())
        .merge(releases::router())
        .merge(jobs::router())
        .merge(folkbokforing::router())
        .merge(designer::router())
}

/// Each role starts where its work is.
async fn home(chrome: Chrome) -> Redirect {
    match chrome.caller.map(|c| c.user.role) {
        None => Redirect::to("/login"),
        Some(forlob_engine::Role::Caseworker) => Redirect::to("/inbox"),
        Some(forlob_engine::Role::Admin) => Redirect::to("/admin/instances"),
        Some(forlob_engine::Role::Designer) => Redirect::to("/designer"),
        Some(forlob_engine::Role::Integration) => Redirect::to("/api/docs"),
        Some(forlob_engine::Role::Auditor) => Redirect::to("/admin/audit"),
        Some(forlob_engine::Role::Metrics) => Redirect::to(auth::METRICS_PATH),
    }
}

async fn static_file(Path(file): Path<String>) -> Response {
    embedded::<Static>(&file)
}

fn embedded<E: RustEmbed>(file: &str) -> Response {
    match E::get(file) {
        Some(content) => (
            [
                (header::CONTENT_TYPE, content_type(file)),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            content.data.into_owned(),
        )
            .into_response(),
        None => AppError::not_found(format!("no file {file}")).into_response(),
    }
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Only these npm packages' files are served, from where `npm ci` installed them, and the
/// workbench's editor that `npm run build` bundles from CodeMirror (scripts/assets.sh).
const ASSET_PACKAGES: &[&str] = &["htmx.org", "mermaid", "swagger-ui-dist", "forlob-workbench"];

async fn asset_file(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let allowed = ASSET_PACKAGES
        .iter()
        .any(|p| file.starts_with(&format!("{p}/")))
        && !file.split('/').any(|part| part == ".." || part.is_empty());
    let Some(dir) = state.settings.assets_dir.as_ref().filter(|_| allowed) else {
        return AppError::not_found(format!(
            "no asset {file}; the browser assets are installed by `bash scripts/assets.sh`"
        ))
        .into_response();
    };
    // The npm packages change with their pinned versions; our own bundle with any build, and
    // its address has no version: the browser asks again each time.
    let cache = if file.starts_with("forlob-workbench/") {
        "no-cache"
    } else {
        "public, max-age=86400"
    };
    match tokio::fs::read(dir.join(&file)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type(&file)),
                (header::CACHE_CONTROL, cache),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => AppError::not_found(format!("no asset {file}")).into_response(),
    }
}

/// The browsable API (swagger-ui from npm, served locally).
async fn api_docs(State(state): State<AppState>, chrome: Chrome) -> Result<Page, AppError> {
    state.ui.page("api_docs", &chrome, "API", json!({}))
}

/// The helpful 404 page for unknown routes.
pub(crate) async fn not_found(uri: Uri) -> AppError {
    AppError::not_found(format!("there is no page at {}", uri.path())).with_code("no_page")
}

/// Middleware: every error leaves in the API's shape. An error from a page route becomes a
/// page in the viewer's language (for an htmx request, a message swapped into the page's
/// message area); API routes keep JSON. Errors made below our handlers (an extractor's
/// rejection, a timeout, a 405) arrive as bare text and are given the same shape here.
pub(crate) async fn error_pages(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // `/metrics` is read by scrapers, not people: its 401 stays a 401 in JSON, never a
    // redirect to the login page.
    let is_api =
        request.uri().path().starts_with("/api/") || request.uri().path() == auth::METRICS_PATH;
    let is_htmx = request.headers().contains_key("hx-request");
    // Kept to render an error page as the signed-in viewer sees pages (their menu, their
    // language); the session is looked up only when there is an error to show.
    let (uri, headers) = (request.uri().clone(), request.headers().clone());
    let response = next.run(request).await;
    let status = response.status();
    let messages = response
        .extensions()
        .get::<crate::error::FieldMessages>()
        .cloned();
    let body = match response.extensions().get::<ErrorBody>() {
        Some(_) if is_api => return response,
        Some(body) => body.clone(),
        None if is_bare_error(&response) => {
            let error = bare_error(response).await;
            if is_api {
                return error.into_response();
            }
            error.body()
        }
        None => return response,
    };
    if status == StatusCode::UNAUTHORIZED && !is_htmx {
        return Redirect::to("/login").into_response();
    }
    // A server error may be the database itself: then the page is shown to a stranger
    // rather than wait for a session look-up that cannot answer.
    let chrome = if status.is_server_error() {
        anonymous(&headers)
    } else {
        tokio::time::timeout(
            std::time::Duration::from_millis(500),
            viewer(&state, uri, headers.clone()),
        )
        .await
        .unwrap_or_else(|_| anonymous(&headers))
    };
    let template = if is_htmx { "error_fragment" } else { "error" };
    // What happened, in the viewer's language by the error's code; the server's own words
    // (English, for whoever reads the logs) stay behind "technical details".
    let summary = state
        .ui
        .known_text(chrome.lang, &format!("error.code.{}", body.error))
        .unwrap_or_else(|| state.ui.text(chrome.lang, "error.code.other"));
    // What was wrong with the input, each in the viewer's language (the field names are the
    // form's own, so only the messages are shown).
    let problems: Vec<String> = messages
        .map(|m| {
            m.0.values()
                .map(|message| state.ui.message(chrome.lang, message))
                .collect()
        })
        .unwrap_or_default();
    let view = ErrorPage {
        status: status.as_u16(),
        error: &body,
        summary,
        problems,
        is_not_found: status == StatusCode::NOT_FOUND,
    };
    // The tab's title in the viewer's language too, not the status line's English reason.
    let heading = if status == StatusCode::NOT_FOUND {
        "error.not_found"
    } else {
        "error.title"
    };
    let title = format!(
        "{} · {}",
        state.ui.text(chrome.lang, heading),
        status.as_u16()
    );
    match state.ui.page(template, &chrome, &title, view) {
        Ok(page) => {
            let mut response = (status, page).into_response();
            if is_htmx {
                // htmx does not swap error responses by default: say where the message goes.
                let headers = response.headers_mut();
                headers.insert("hx-retarget", header::HeaderValue::from_static("#messages"));
                headers.insert("hx-reswap", header::HeaderValue::from_static("innerHTML"));
            }
            response
        }
        Err(_) => (status, body.message).into_response(),
    }
}

/// `error` (and `error_fragment`, its message alone for htmx).
#[derive(Debug, Serialize)]
struct ErrorPage<'a> {
    status: u16,
    error: &'a ErrorBody,
    /// What happened, in the viewer's language.
    summary: String,
    /// What was wrong with the input, in the viewer's language.
    problems: Vec<String>,
    is_not_found: bool,
}

/// Who is looking at an error page, from the request's session cookie; anonymous (with the
/// browser's language) when there is none or it cannot be read.
async fn viewer(state: &AppState, uri: Uri, headers: HeaderMap) -> Chrome {
    let mut request = Request::new(axum::body::Body::empty());
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    let (mut parts, _) = request.into_parts();
    match Chrome::from_request_parts(&mut parts, state).await {
        Ok(chrome) => Chrome {
            flash: None,
            ..chrome
        },
        Err(_) => anonymous(&parts.headers),
    }
}

/// Nobody signed in, in the browser's language.
fn anonymous(headers: &HeaderMap) -> Chrome {
    Chrome {
        caller: None,
        lang: Lang::from_headers(headers),
        flash: None,
        path: "/".into(),
        municipality: None,
    }
}

/// An error response that is not ours: plain text or nothing at all.
fn is_bare_error(response: &Response) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.starts_with("text/plain"))
}

/// The [`AppError`] for a bare error response; a 4xx keeps its text (it describes the
/// request), a 5xx does not.
async fn bare_error(response: Response) -> AppError {
    let status = response.status();
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let (code, fallback) = match status {
        StatusCode::BAD_REQUEST => ("bad_request", "the request is not valid"),
        StatusCode::NOT_FOUND => ("not_found", "there is nothing here"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this address does not take that method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("too_large", "the request is larger than the server accepts")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "the body is not of a type this address takes",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid_body", "the body does not fit this address"),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => (
            "unavailable",
            "the server did not answer in time; nothing may have been changed, check before trying again",
        ),
        _ => ("error", "the request failed"),
    };
    let message = if status.is_client_error() && !text.is_empty() {
        text
    } else {
        fallback.to_owned()
    };
    AppError::new(status, code, message)
}

/// Where to go after an action, with the key of the text that says what was done.
pub(crate) fn done(path: &str, text_key: &str) -> Redirect {
    let query = serde_urlencoded::to_string([("done", text_key)]).unwrap_or_default();
    Redirect::to(&format!("{path}?{query}"))
}

/// Task kinds as people know them: the titles of the processes whose manual steps give tasks
/// of that kind ("Økonomiske udeståender" for `okonomiske-udestaaender`), joined by " / "
/// when several processes share a kind.
pub(crate) fn kind_labels(state: &AppState) -> HashMap<String, String> {
    let mut titles: HashMap<String, std::collections::BTreeSet<String>> = HashMap::new();
    for (_, def) in state.engine.catalog().latest_all() {
        for step in def.states.values() {
            if let forlob_engine::definition::StepKind::Manual(manual) = &step.kind {
                let task = &manual.task;
                titles
                    .entry(task.kind.clone())
                    .or_default()
                    .insert(def.title.clone());
            }
        }
    }
    titles
        .into_iter()
        .map(|(kind, titles)| (kind, titles.into_iter().collect::<Vec<_>>().join(" / ")))
        .collect()
}

/// A municipality code with its name where a package knows it ("101 København"), else the
/// code.
pub(crate) fn municipality_label(state: &AppState, code: &str) -> String {
    state
        .engine
        .registry()
        .municipality_label(code)
        .map_or_else(|| code.to_owned(), str::to_owned)
}

/// A link to the list at `path` as `query` shows it, with `changes` made; the page's
/// `offset` is dropped (a new order or filter starts on the first page) unless a change sets it.
pub(crate) fn list_link(
    path: &str,
    query: &[(String, String)],
    changes: &[(&str, String)],
) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| k != "offset" && changes.iter().all(|(c, _)| k != c))
        .cloned()
        .collect();
    pairs.extend(changes.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    format!(
        "{path}?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

/// "Viser 51–55" of a page: the first and last row shown, counted from 1.
#[derive(Debug, Serialize)]
pub(crate) struct PageRange {
    from: u64,
    to: u64,
}

/// The range of a page starting at `offset` with `shown` rows: 0–0 for an empty page (also
/// one past the end).
pub(crate) fn page_range(offset: u64, shown: u64) -> PageRange {
    if shown == 0 {
        PageRange { from: 0, to: 0 }
    } else {
        PageRange {
            from: offset + 1,
            to: offset + shown,
        }
    }
}

/// One header of a sortable table (`partial: sort_headers`).
#[derive(Debug, Serialize)]
pub(crate) struct SortHeader {
    /// The UI text's key of the column's name.
    label: &'static str,
    href: String,
    /// How the table is sorted by this column, for screen readers; null when it is not.
    aria_sort: Option<&'static str>,
}

/// The headers of a table sorted by one of its `columns` (`sort` key, label key): each links
/// to the list sorted by itself, the sorted one reversed, and the sorted one says how
/// (`aria_sort`, for screen readers; the template adds an arrow).
pub(crate) fn sort_headers(
    columns: &[(&str, &'static str)],
    sorted: &str,
    descending: bool,
    link: impl Fn(String) -> String,
) -> Vec<SortHeader> {
    columns
        .iter()
        .map(|(key, label)| {
            let this = *key == sorted;
            let next = if this && !descending {
                format!("-{key}")
            } else {
                (*key).to_owned()
            };
            SortHeader {
                label,
                href: link(next),
                aria_sort: this.then_some(if descending {
                    "descending"
                } else {
                    "ascending"
                }),
            }
        })
        .collect()
}

/// A municipality offered by a list's filter.
#[derive(Debug, Serialize)]
pub(crate) struct MunicipalityChoice {
    code: String,
    /// "101 København".
    label: String,
    selected: bool,
}

/// The municipalities of `codes` as a filter offers them, `chosen` selected.
pub(crate) fn municipality_choices(
    state: &AppState,
    codes: &[String],
    chosen: Option<&str>,
) -> Vec<MunicipalityChoice> {
    codes
        .iter()
        .map(|code| MunicipalityChoice {
            code: code.clone(),
            label: municipality_label(state, code),
            selected: chosen == Some(code.as_str()),
        })
        .collect()
}

/// Form posts arrive as text pairs; the engine's field types parse them like JSON strings.
pub(crate) fn form_values(pairs: Vec<(String, String)>) -> serde_json::Map<String, Value> {
    pairs
        .into_iter()
        .filter(|(k, _)| k != auth::CSRF_FIELD)
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_language_is_chosen_by_weight() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_LANGUAGE,
            "de;q=1.0, en-GB;q=0.8, da;q=0.9".parse().expect("header"),
        );
        assert_eq!(Lang::from_headers(&headers), Lang::Da);
        headers.insert(
            header::ACCEPT_LANGUAGE,
            "en-US,en;q=0.9".parse().expect("header"),
        );
        assert_eq!(Lang::from_headers(&headers), Lang::En);
        assert_eq!(Lang::from_headers(&HeaderMap::new()), Lang::Da);
    }

    #[test]
    fn every_language_has_every_ui_text() {
        let dicts = dictionaries();
        let da = &dicts["da"];
        let mut missing: Vec<String> = Vec::new();
        for (lang, dict) in &dicts {
            missing.extend(
                da.keys()
                    .filter(|k| !dict.contains_key(*k))
                    .map(|k| format!("{lang} lacks {k}")),
            );
            missing.extend(
                dict.keys()
                    .filter(|k| !da.contains_key(*k))
                    .map(|k| format!("da lacks {k} ({lang} has it)")),
            );
        }
        // Every message the engine can give has a text in every language, using only the
        // arguments the message has.
        for code in forlob_engine::message::Code::ALL {
            let key = format!("msg.{}", code.key());
            let given = forlob_engine::message::placeholders(code.english());
            for (lang, dict) in &dicts {
                match dict.get(&key) {
                    None => missing.push(format!("{lang} lacks {key}")),
                    Some(text) => {
                        let unknown: Vec<_> = forlob_engine::message::placeholders(text)
                            .into_iter()
                            .filter(|p| !given.contains(p))
                            .collect();
                        if !unknown.is_empty() {
                            missing.push(format!("{lang} {key} names {unknown:?}"));
                        }
                    }
                }
            }
        }
        // Every code and run word the packages declare, and every status a migration
        // counts, has a text too.
        let mut registry = forlob_engine::Registry::new();
        forlob_processes::register(&mut registry);
        for code in registry.messages() {
            let key = format!("msg.{}", code.key());
            let given = forlob_engine::message::placeholders(code.english());
            for (lang, dict) in &dicts {
                match dict.get(&key) {
                    None => missing.push(format!("{lang} lacks {key}")),
                    Some(text) if !forlob_engine::message::placeholders(text).is_subset(&given) => {
                        missing.push(format!("{lang} {key} names an argument it does not have"));
                    }
                    Some(_) => {}
                }
            }
        }
        let words = registry
            .run_words()
            .iter()
            .chain(forlob_engine::release::ITEM_STATUSES);
        for word in words {
            for (lang, dict) in &dicts {
                if !dict.contains_key(&format!("count.{word}")) {
                    missing.push(format!("{lang} lacks count.{word}"));
                }
            }
        }
        // Every audited action has a name people read.
        for action in forlob_engine::audit::AuditAction::ALL {
            for (lang, dict) in &dicts {
                if !dict.contains_key(&format!("audit_action.{}", action.as_str())) {
                    missing.push(format!("{lang} lacks audit_action.{}", action.as_str()));
                }
            }
        }
        // Every key a template uses exists.
        for file in Templates::iter() {
            let text = String::from_utf8(Templates::get(&file).expect("listed").data.into_owned())
                .expect("utf-8");
            for piece in text.split("{{t \"").skip(1) {
                let key = piece.split('"').next().unwrap_or_default();
                // A prefix (`{{t "status." status}}`) needs keys under it.
                let known = if key.ends_with('.') {
                    da.keys().any(|k| k.starts_with(key))
                } else {
                    da.contains_key(key)
                };
                if !known {
                    missing.push(format!("{file} uses unknown {key}"));
                }
            }
        }
        // Every key a page handler names (a flash, a confirmation, a title) exists: a string
        // literal `area.name` whose area is one of the dictionary's.
        let areas: std::collections::BTreeSet<&str> =
            da.keys().filter_map(|k| k.split('.').next()).collect();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes/pages");
        for entry in std::fs::read_dir(&dir).expect("the page handlers") {
            let path = entry.expect("an entry").path();
            let text = std::fs::read_to_string(&path).expect("a source file");
            for literal in text.split('"').skip(1).step_by(2) {
                let Some((area, rest)) = literal.split_once('.') else {
                    continue;
                };
                let is_key = areas.contains(area)
                    && !rest.is_empty()
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.');
                if is_key && !rest.ends_with('.') && !da.contains_key(literal) {
                    missing.push(format!("{} names unknown {literal}", path.display()));
                }
            }
        }
        assert!(missing.is_empty(), "{missing:#?}");
    }
}
