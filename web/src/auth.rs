//! Who is calling: API tokens (`Authorization: Bearer ...`) and browser sessions (an HttpOnly
//! cookie), roles, CSRF protection of cookie-authenticated writes, and the login limiter.
//!
//! Secrets (tokens, session ids) are 256 random bits from the OS, shown once and stored only
//! as SHA-256 digests. Passwords are hashed with argon2id on the blocking pool, so a login
//! never stalls the async workers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use forlob_engine::{Role, User, store};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "forlob_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "_csrf";
/// The one address the role `metrics` may read.
pub const METRICS_PATH: &str = "/metrics";

/// A fresh secret: 32 bytes from the OS as 64 hex digits.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

pub fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// argon2 takes ~19 MiB and a core's worth of work per hash: at most this many run at once,
/// so a burst of sign-ins queues instead of exhausting memory.
fn hashing_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| tokio::sync::Semaphore::new(4))
}

/// argon2id with the crate's recommended parameters, off the async workers.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    let _permit = hashing_permits().acquire().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing the password failed: {e}"))
    })
    .await?
}

/// Whether `password` matches `hash`; a malformed hash never matches.
pub async fn verify_password(password: String, hash: String) -> bool {
    let Ok(_permit) = hashing_permits().acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Credential {
    Token,
    /// A browser session and the CSRF token its writes must carry.
    Session {
        csrf: String,
    },
}

/// The signed-in user of a request. Handlers take it as an extractor and check the role with
/// [`Caller::require`]; a request without valid credentials is a 401 before any handler runs.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub credential: Credential,
}

impl Caller {
    /// The engine's view of the caller: a token is the API, a browser session the pages.
    pub fn actor(&self) -> forlob_engine::Actor {
        self.user.actor().through(match self.credential {
            Credential::Token => forlob_engine::Via::Api,
            Credential::Session { .. } => forlob_engine::Via::Page,
        })
    }

    pub fn csrf(&self) -> &str {
        match &self.credential {
            Credential::Session { csrf } => csrf,
            Credential::Token => "",
        }
    }

    /// Refuses callers whose role is not among `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), AppError> {
        if roles.contains(&self.user.role) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "this needs the role {}; you are {}",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
                self.user.role
            )))
        }
    }
}

/// Resolves the caller from a bearer token or the session cookie; `None` when neither is
/// present or valid.
pub async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, AppError> {
    let now = state.engine.clock().now();
    if let Some(token) = bearer(headers) {
        let user = store::user_by_token(state.engine.db(), &digest(token), now).await?;
        return Ok(user.map(|user| Caller {
            user,
            credential: Credential::Token,
        }));
    }
    let jar = CookieJar::from_headers(headers);
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(
        store::live_session(state.engine.db(), &digest(cookie.value()), now)
            .await?
            .map(|s| Caller {
                user: s.user,
                credential: Credential::Session { csrf: s.csrf_token },
            }),
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let caller = match parts.extensions.get::<Caller>() {
            // Resolved already, e.g. by the CSRF check: the role's limits still apply.
            Some(caller) => caller.clone(),
            None => {
                let caller = resolve(state, &parts.headers)
                    .await?
                    .ok_or_else(AppError::unauthorized)?;
                parts.extensions.insert(caller.clone());
                caller
            }
        };
        // A scraper's token opens `/metrics` and nothing else, decided here once rather than
        // in every handler that lets any signed-in user read something.
        // The original URI: a nested router sees its path with the prefix taken off.
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or(parts.uri.path(), |uri| uri.path());
        if caller.user.role == Role::Metrics && path != METRICS_PATH {
            return Err(AppError::forbidden(
                "the role metrics may only read /metrics",
            ));
        }
        Ok(caller)
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, AppError> {
        match <Caller as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(caller) => Ok(Some(caller)),
            Err(e) if e.status == StatusCode::UNAUTHORIZED => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Middleware: a write (POST, PUT, PATCH, DELETE) authenticated by the session cookie must
/// carry the session's CSRF token, in the `X-CSRF-Token` header (htmx sends it on every
/// request) or as the `_csrf` field of a url-encoded form. Token-authenticated calls carry no
/// ambient credential, so they need none. One place, so no handler can forget it.
pub async fn csrf_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check_csrf(&state, request).await {
        Ok(request) => next.run(request).await,
        Err(error) => axum::response::IntoResponse::into_response(error),
    }
}

async fn check_csrf(state: &AppState, request: Request) -> Result<Request, AppError> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || bearer(request.headers()).is_some()
    {
        return Ok(request);
    }
    let Some(caller) = resolve(state, request.headers()).await? else {
        return Ok(request);
    };
    let expected = caller.csrf().to_owned();
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(caller);
    let header_token = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(token) = header_token {
        return if constant_time_eq(&token, &expected) {
            Ok(Request::from_parts(parts, body))
        } else {
            Err(csrf_refused())
        };
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(csrf_refused());
    }
    let bytes = axum::body::to_bytes(body, state.settings.body_limit)
        .await
        .map_err(|_| AppError::bad_request("the form is too large"))?;
    let found = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v);
    match found {
        Some(token) if constant_time_eq(&token, &expected) => {
            Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
        }
        _ => Err(csrf_refused()),
    }
}

fn csrf_refused() -> AppError {
    AppError::forbidden(
        "the form is stale or did not come from this site; reload the page and try again",
    )
    .with_code("csrf")
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The session cookie: HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site
/// posts), Secure when the site runs behind TLS.
pub fn session_cookie(value: String, secure: bool, max_age: Duration) -> Cookie<'static> {
    let mut cookie = Cookie::new(SESSION_COOKIE, value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_secure(secure);
    cookie.set_path("/");
    cookie.set_max_age(time::Duration::try_from(max_age).unwrap_or(time::Duration::hours(8)));
    cookie
}

/// Sign-in attempts, counted three ways within `window`, so that a flood against one user or
/// from one address does not lock other people out:
///
/// - per username *and* address: after `max_attempts` that username is refused (429) from
///   that address, whatever the password;
/// - per username over all addresses: after [`USER_FACTOR`] times as many, the username is
///   refused from everywhere (someone guesses from many addresses; its owner waits out the
///   window);
/// - per address over all usernames: after [`ADDRESS_FACTOR`] times as many, each further
///   attempt from it waits [`ADDRESS_DELAY`] before its password is checked, and is never
///   refused: one address may be a town hall's NAT, and a colleague's flood must not keep
///   everyone else behind it out.
///
/// An attempt counts before its password is checked, so a burst of concurrent guesses cannot
/// all slip through; a successful sign-in clears its username's counts. In memory, per node:
/// it slows guessing down, it is not an account lock.
pub struct LoginLimiter {
    max_attempts: u32,
    window: Duration,
    attempts: Mutex<HashMap<LimitKey, (u32, Instant)>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LimitKey {
    UserAt(String, Option<IpAddr>),
    User(String),
    Address(IpAddr),
}

/// How many more attempts one username may have over all addresses than from one.
pub const USER_FACTOR: u32 = 5;
/// How many more attempts one address may make over all usernames before it is slowed down.
pub const ADDRESS_FACTOR: u32 = 10;
/// How long each attempt from a slowed-down address waits: it makes guessing from there
/// slow without refusing anyone, and stays far below the request timeout.
pub const ADDRESS_DELAY: Duration = Duration::from_secs(1);

/// What the limiter says about one sign-in attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginVerdict {
    /// Check the password, after waiting this long (zero unless the address is slowed down).
    Check { delay: Duration },
    /// Refused: try again after this many seconds.
    Refused { retry_after: u64 },
}

impl LoginLimiter {
    pub fn new(max_attempts: u32, window: Duration) -> Self {
        Self {
            max_attempts,
            window,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt of `username` from `addr`, or refuses it.
    pub fn attempt(&self, username: &str, addr: Option<IpAddr>) -> LoginVerdict {
        self.attempt_at(username, addr, Instant::now())
    }

    fn attempt_at(&self, username: &str, addr: Option<IpAddr>, now: Instant) -> LoginVerdict {
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        attempts.retain(|_, (_, since)| now.duration_since(*since) < self.window);
        let user = username.to_lowercase();
        let refusing = [
            (LimitKey::UserAt(user.clone(), addr), self.max_attempts),
            (
                LimitKey::User(user),
                self.max_attempts.saturating_mul(USER_FACTOR),
            ),
        ];
        let retry_after = refusing
            .iter()
            .filter_map(|(key, limit)| attempts.get(key).filter(|(n, _)| n >= limit))
            .map(|(_, since)| {
                self.window
                    .saturating_sub(now.duration_since(*since))
                    .as_secs()
                    .max(1)
            })
            .max();
        if let Some(retry_after) = retry_after {
            return LoginVerdict::Refused { retry_after };
        }
        let mut delay = Duration::ZERO;
        if let Some(addr) = addr {
            let (n, _) = attempts.entry(LimitKey::Address(addr)).or_insert((0, now));
            if *n >= self.max_attempts.saturating_mul(ADDRESS_FACTOR) {
                delay = ADDRESS_DELAY;
            }
            *n = n.saturating_add(1);
        }
        for (key, _) in refusing {
            let (n, _) = attempts.entry(key).or_insert((0, now));
            *n = n.saturating_add(1);
        }
        LoginVerdict::Check { delay }
    }

    /// A correct password: the username's counts start again (the address's do not, or a
    /// guesser could reset them by signing in to an account of their own).
    pub fn succeeded(&self, username: &str, addr: Option<IpAddr>) {
        let user = username.to_lowercase();
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        attempts.remove(&LimitKey::UserAt(user.clone(), addr));
        attempts.remove(&LimitKey::User(user));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_digested() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), a);
    }

    #[tokio::test]
    async fn a_password_verifies_only_against_its_own_hash() {
        let hash = hash_password("correct horse".into()).await.expect("hashes");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), hash.clone()).await);
        assert!(!verify_password("wrong".into(), hash).await);
        assert!(!verify_password("x".into(), "not a hash".into()).await);
    }

    fn refused(verdict: LoginVerdict) -> bool {
        matches!(verdict, LoginVerdict::Refused { .. })
    }

    const CHECK: LoginVerdict = LoginVerdict::Check {
        delay: Duration::ZERO,
    };

    #[test]
    fn a_username_is_refused_from_one_address_after_repeated_attempts_there() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60));
        let (x, y) = (
            Some(IpAddr::from([10, 0, 0, 1])),
            Some(IpAddr::from([10, 0, 0, 2])),
        );
        for _ in 0..3 {
            assert_eq!(limiter.attempt("anna", x), CHECK);
        }
        assert!(refused(limiter.attempt("Anna", x)));
        // Others behind the same address (a NAT) may still sign in, and anna elsewhere.
        assert_eq!(limiter.attempt("bo", x), CHECK);
        assert_eq!(limiter.attempt("anna", y), CHECK);
    }

    #[test]
    fn a_username_guessed_from_many_addresses_is_refused_everywhere() {
        let limiter = LoginLimiter::new(2, Duration::from_secs(60));
        for i in 0..(2 * USER_FACTOR) {
            let addr = Some(IpAddr::from([10, 0, 1, u8::try_from(i).expect("small")]));
            assert_eq!(limiter.attempt("anna", addr), CHECK, "attempt {i}");
        }
        let fresh = Some(IpAddr::from([10, 0, 2, 1]));
        assert!(refused(limiter.attempt("anna", fresh)));
        assert_eq!(limiter.attempt("bo", fresh), CHECK);
        // The window passed: anna may try again.
        let later = Instant::now() + Duration::from_secs(61);
        assert_eq!(limiter.attempt_at("anna", fresh, later), CHECK);
    }

    #[test]
    fn a_busy_address_is_slowed_down_but_never_refused() {
        let limiter = LoginLimiter::new(2, Duration::from_secs(60));
        let town_hall = Some(IpAddr::from([10, 0, 0, 9]));
        for i in 0..(2 * ADDRESS_FACTOR) {
            assert_eq!(limiter.attempt(&format!("user{i}"), town_hall), CHECK);
        }
        for i in 0..50 {
            assert_eq!(
                limiter.attempt(&format!("other{i}"), town_hall),
                LoginVerdict::Check {
                    delay: ADDRESS_DELAY
                }
            );
        }
        // Another address is not slowed.
        assert_eq!(
            limiter.attempt("bo", Some(IpAddr::from([10, 0, 0, 8]))),
            CHECK
        );
    }

    #[test]
    fn a_correct_password_clears_the_usernames_counts() {
        let limiter = LoginLimiter::new(2, Duration::from_secs(60));
        let x = Some(IpAddr::from([10, 0, 0, 1]));
        limiter.attempt("anna", x);
        limiter.attempt("anna", x);
        assert!(refused(limiter.attempt("anna", x)));
        limiter.succeeded("anna", x);
        assert_eq!(limiter.attempt("anna", x), CHECK);
    }
}
