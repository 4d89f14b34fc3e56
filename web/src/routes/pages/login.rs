//! Signing in and out, and the language setting. Passwords are checked with argon2; failed
//! attempts are limited per username and per address; a session is a random id in an
//! HttpOnly cookie whose digest is stored with the session's CSRF token.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use forlob_engine::audit::{AuditAction, AuditRecord};
use forlob_engine::store;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Chrome, Lang, Page, SignedIn};
use crate::auth::{self, Caller, LoginVerdict, SESSION_COOKIE};
use crate::error::AppError;
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/settings/language", post(set_language))
}

#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only paths of this site: never an open redirect to somewhere else. Browsers drop tabs
/// and newlines from URLs (`/\t/evil` becomes `//evil`), so only visible ASCII is allowed,
/// and the path may not begin with a second slash or a backslash.
fn local_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.into()
        }
        _ => "/".into(),
    }
}

async fn login_page(
    State(state): State<AppState>,
    chrome: Chrome,
    axum::extract::Query(query): axum::extract::Query<NextQuery>,
) -> Result<Response, AppError> {
    if chrome.caller.is_some() {
        return Ok(Redirect::to(&local_next(query.next.as_deref())).into_response());
    }
    let page = login_form(&state, &chrome, "", query.next.as_deref(), None)?;
    Ok(page.into_response())
}

fn login_form(
    state: &AppState,
    chrome: &Chrome,
    username: &str,
    next: Option<&str>,
    error: Option<String>,
) -> Result<Page, AppError> {
    state.ui.page(
        "login",
        chrome,
        "Log ind",
        LoginPage {
            username,
            next: local_next(next),
            error,
        },
    )
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    chrome: Chrome,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    if !same_origin(&headers) {
        return Err(AppError::forbidden(
            "the login form must be sent from this site",
        ));
    }
    let addr = connect.map(|Extension(ConnectInfo(a))| a.ip());
    let username = form.username.trim().to_lowercase();
    let refuse = |key: &str, status: StatusCode| -> Result<Response, AppError> {
        let text = state.ui.text(chrome.lang, key);
        let page = login_form(&state, &chrome, &username, form.next.as_deref(), Some(text))?;
        Ok((status, page).into_response())
    };
    match state.login_limiter.attempt(&username, addr) {
        LoginVerdict::Refused { retry_after } => {
            let mut response = refuse("login.too_many", StatusCode::TOO_MANY_REQUESTS)?;
            if let Ok(value) = retry_after.to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return Ok(response);
        }
        LoginVerdict::Check { delay } if !delay.is_zero() => tokio::time::sleep(delay).await,
        LoginVerdict::Check { .. } => {}
    }
    let candidate = store::login_candidate(state.engine.db(), &username).await?;
    let candidate_known = candidate.is_some();
    let verified = match candidate {
        Some((user, Some(hash))) => auth::verify_password(form.password.clone(), hash)
            .await
            .then_some(user),
        // Unknown users cost the same argon2 work, so timing does not tell who exists.
        _ => {
            let _ = auth::verify_password(form.password.clone(), DUMMY_HASH.into()).await;
            None
        }
    };
    let address = addr.map(|a| a.to_string());
    let Some(user) = verified else {
        // Who tried is whatever name was typed: cut, since anyone can type anything.
        let tried = forlob_engine::Actor {
            id: username.chars().take(MAX_RECORDED_NAME).collect(),
            municipality: None,
            role: forlob_engine::instance::ActorRole::Anonymous,
            via: forlob_engine::Via::Page,
        };
        let record = AuditRecord::new(AuditAction::SignInFailed)
            .detail(json!({ "address": address, "known_user": candidate_known }));
        state.engine.audit().record(&tried, vec![record]).await?;
        return refuse("login.failed", StatusCode::UNAUTHORIZED);
    };
    state.login_limiter.succeeded(&username, addr);
    let session = auth::new_secret();
    let now = state.engine.clock().now();
    let ttl = state.settings.session_ttl;
    let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(8));
    let digest = auth::digest(&session);
    let user_id = user.id;
    state
        .engine
        .audit()
        .recorded(
            &user.actor().through(forlob_engine::Via::Page),
            |conn| {
                Box::pin(async move {
                    let csrf = auth::new_secret();
                    Ok(store::insert_session(conn, &digest, user_id, &csrf, now, expires).await?)
                })
            },
            |_| Some(AuditRecord::new(AuditAction::SignIn).detail(json!({ "address": address }))),
        )
        .await?;
    let jar = jar.add(auth::session_cookie(
        session,
        state.settings.secure_cookies,
        ttl,
    ));
    Ok((jar, Redirect::to(&local_next(form.next.as_deref()))).into_response())
}

/// How much of a typed username a failed sign-in's audit entry keeps.
const MAX_RECORDED_NAME: usize = 64;

/// An argon2id hash of a random password, checked for unknown usernames.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$W8p3cxGRXYf0xbVK8MuV6ZgcEtDbpH9UoK4o2Zk+0WQ";

/// A browser sends Origin on posts; one naming another host is a cross-site login attempt.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split("://")
        .nth(1)
        .is_some_and(|origin_host| origin_host == host)
}

async fn logout(
    State(state): State<AppState>,
    caller: Option<Caller>,
    jar: CookieJar,
) -> Result<Response, AppError> {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        let digest = auth::digest(cookie.value());
        match caller {
            Some(caller) => {
                state
                    .engine
                    .audit()
                    .recorded(
                        &caller.actor(),
                        |conn| {
                            Box::pin(async move { Ok(store::delete_session(conn, &digest).await?) })
                        },
                        |_| Some(AuditRecord::new(AuditAction::SignOut)),
                    )
                    .await?;
            }
            None => store::delete_session(state.engine.db(), &digest).await?,
        }
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    Ok((jar, Redirect::to("/login")).into_response())
}

#[derive(Debug, Deserialize)]
struct LanguageForm {
    lang: String,
    next: Option<String>,
}

async fn set_language(
    State(state): State<AppState>,
    SignedIn(_, caller): SignedIn,
    Form(form): Form<LanguageForm>,
) -> Result<Redirect, AppError> {
    let lang = Lang::parse(&form.lang)
        .ok_or_else(|| AppError::invalid([("lang", "choose da, en or sv")]))?;
    store::set_locale(state.engine.db(), caller.user.id, Some(lang.code())).await?;
    Ok(Redirect::to(&local_next(form.next.as_deref())))
}

/// `login`: the sign-in form, again with the name typed and why it failed.
#[derive(Debug, Serialize)]
struct LoginPage<'a> {
    username: &'a str,
    /// Where to go after signing in (a local path).
    next: String,
    error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_next(Some("/inbox?kind=x")), "/inbox?kind=x");
        assert_eq!(local_next(Some("//evil.example")), "/");
        assert_eq!(local_next(Some("https://evil.example")), "/");
        assert_eq!(local_next(Some("/\\evil.example")), "/");
        assert_eq!(local_next(Some("/\t/evil.example")), "/");
        assert_eq!(local_next(Some("/\n/evil.example")), "/");
        assert_eq!(local_next(Some("/ /evil.example")), "/");
        assert_eq!(local_next(None), "/");
    }

    #[tokio::test]
    async fn the_dummy_hash_is_a_valid_argon2_hash() {
        // If it were malformed, unknown users would be answered faster than known ones.
        let parsed = argon2::password_hash::PasswordHash::new(DUMMY_HASH);
        assert!(parsed.is_ok());
    }
}
