//! Adding users, shared by `forlob users add`, the admin API and the demo set-up: one set of
//! rules for usernames, roles, municipalities and passwords.

use forlob_engine::audit::{AuditAction, AuditRecord};
use forlob_engine::form::FieldErrors;
use forlob_engine::message::{Code, Message};
use forlob_engine::user::NewUser;
use forlob_engine::{Actor, Engine, Role, User, store};
use serde_json::json;
use uuid::Uuid;

use crate::auth;
use crate::error::AppError;

/// A user to add, as given by a person (validated by [`add`]).
#[derive(Debug, Clone, Default)]
pub struct UserSpec {
    pub username: String,
    pub display_name: Option<String>,
    pub role: String,
    pub municipality: Option<String>,
    pub password: Option<String>,
}

pub const MIN_PASSWORD: usize = 8;

/// Usernames are identifiers typed at sign-in and shown in every audit entry: at most this
/// long, or the configured name limit when that is lower.
pub const MAX_USERNAME: usize = 64;

/// Checks the spec, stores the user (password hashed with argon2) and an API token for them,
/// and returns the token, which is shown this once. Every problem is reported at once, per
/// field; a taken username is a 409.
pub async fn add(engine: &Engine, spec: UserSpec, by: &Actor) -> Result<(User, String), AppError> {
    let mut errors = FieldErrors::new();
    let mut error = |field: &str, message| {
        errors.insert(field.to_owned(), message);
    };
    let limits = *engine.limits();
    let username = spec.username.trim().to_owned();
    let max_username = MAX_USERNAME.min(limits.name);
    let valid_name = (2..=max_username).contains(&username.chars().count())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !valid_name {
        error(
            "username",
            Message::new(Code::BAD_USERNAME)
                .with("min", 2)
                .with("max", max_username),
        );
    }
    if let Some(message) = spec
        .display_name
        .as_deref()
        .and_then(|d| forlob_engine::limits::too_long(d.trim(), limits.name))
    {
        error("display_name", message);
    }
    let role = Role::parse(spec.role.trim());
    if role.is_none() {
        error(
            "role",
            Message::new(Code::NOT_CHOICE)
                .with("value", &spec.role)
                .with("allowed", Role::ALL.map(Role::as_str).join(", ")),
        );
    }
    let municipality = spec
        .municipality
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty());
    match (&role, &municipality) {
        (Some(Role::Caseworker), None) => {
            error("municipality", Message::new(Code::MUNICIPALITY_NEEDED));
        }
        (_, Some(code)) if !known_municipality(engine, code) => error(
            "municipality",
            Message::new(Code::NOT_MUNICIPALITY).with("value", code),
        ),
        _ => {}
    }
    if let Some(password) = &spec.password
        && password.chars().count() < MIN_PASSWORD
    {
        error(
            "password",
            Message::new(Code::SHORT_PASSWORD).with("min", MIN_PASSWORD),
        );
    }
    let Some(role) = role.filter(|_| errors.is_empty()) else {
        return Err(AppError::fields(errors));
    };
    let password_hash = match spec.password {
        Some(password) => Some(
            auth::hash_password(password)
                .await
                .map_err(|e| AppError::internal(e.as_ref()))?,
        ),
        None => None,
    };
    let new = NewUser {
        display_name: spec
            .display_name
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| username.clone()),
        username: username.clone(),
        role,
        municipality,
        locale: None,
        password_hash,
    };
    let token = auth::new_secret();
    let digest = auth::digest(&token);
    let now = engine.clock().now();
    let stored = engine
        .audit()
        .recorded(
            by,
            |conn| {
                Box::pin(async move {
                    Ok(store::insert_user_with_token(conn, &new, &digest, now).await?)
                })
            },
            |stored| {
                stored.as_ref().map(|user| {
                    AuditRecord::new(AuditAction::UserAdd)
                        .target(&user.username)
                        .detail(json!({ "role": user.role, "municipality": user.municipality }))
                })
            },
        )
        .await?;
    let user = stored.ok_or_else(|| {
        let taken = Message::new(Code::USERNAME_TAKEN).with("name", &username);
        AppError::new(
            axum::http::StatusCode::CONFLICT,
            "username_taken",
            taken.to_string(),
        )
        .at_field("username", taken)
    })?;
    Ok((user, token))
}

/// Known when the packages register a `municipality` field type with its list; otherwise any
/// official-looking code (3 or 4 digits) is accepted.
fn known_municipality(engine: &Engine, code: &str) -> bool {
    match engine.registry().field_type("municipality") {
        Some(kind) if !kind.choices().is_empty() => kind.choices().iter().any(|c| c.value == code),
        _ => (3..=4).contains(&code.len()) && code.chars().all(|c| c.is_ascii_digit()),
    }
}

/// Issues another API token for `username`; the secret is returned this once.
pub async fn issue_token(
    engine: &Engine,
    username: &str,
    name: &str,
    by: &Actor,
) -> Result<(forlob_engine::user::ApiToken, String), AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::fields(
            [("name".to_owned(), Message::new(Code::TOKEN_NAME_NEEDED))].into(),
        ));
    }
    if let Some(message) = forlob_engine::limits::too_long(name, engine.limits().name) {
        return Err(AppError::fields([("name".to_owned(), message)].into()));
    }
    let user = store::user_by_username(engine.db(), username)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no user `{username}`")))?;
    // Else a token issued meanwhile would come alive with the enabling, which is exactly
    // what disabling for good rules out.
    if user.disabled {
        return Err(AppError::fields(
            [(
                "username".to_owned(),
                Message::new(Code::USER_DISABLED).with("name", username),
            )]
            .into(),
        ));
    }
    let secret = auth::new_secret();
    let digest = auth::digest(&secret);
    let now = engine.clock().now();
    let name = name.to_owned();
    let token = engine
        .audit()
        .recorded(
            by,
            |conn| {
                Box::pin(async move {
                    Ok(store::insert_token(conn, user.id, &name, &digest, now).await?)
                })
            },
            |token| {
                Some(
                    AuditRecord::new(AuditAction::TokenIssue)
                        .target(token.id)
                        .detail(json!({ "user": username, "name": token.name })),
                )
            },
        )
        .await?;
    Ok((token, secret))
}

/// Disables a user (their tokens are revoked and their sessions ended, for good) or enables
/// them again, with no live token: the admin issues new ones. An admin cannot disable
/// themselves, so there is always someone left to undo it.
pub async fn set_disabled(
    engine: &Engine,
    username: &str,
    disabled: bool,
    by: &Actor,
    reason: &str,
) -> Result<User, AppError> {
    forlob_engine::limits::require_fits("reason", reason, engine.limits().reason)?;
    if disabled && by.id == username {
        return Err(AppError::invalid([(
            "username",
            "you cannot disable yourself; ask another admin",
        )]));
    }
    let user = store::user_by_username(engine.db(), username)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no user `{username}`")))?;
    let id = user.id;
    let now = engine.clock().now();
    engine
        .audit()
        .recorded(
            by,
            |conn| {
                Box::pin(async move {
                    Ok(if disabled {
                        store::disable_user(conn, id, now).await?
                    } else {
                        store::enable_user(conn, id, now).await?
                    })
                })
            },
            |_| {
                Some(
                    AuditRecord::new(if disabled {
                        AuditAction::UserDisable
                    } else {
                        AuditAction::UserEnable
                    })
                    .target(username)
                    .reason(reason),
                )
            },
        )
        .await?;
    Ok(User { disabled, ..user })
}

/// Revokes API token `id`; `false` when it was revoked already (or never existed). Recorded
/// in the audit log with the revocation.
pub async fn revoke_token(
    engine: &Engine,
    id: Uuid,
    by: &Actor,
    reason: &str,
) -> Result<bool, AppError> {
    forlob_engine::limits::require_fits("reason", reason, engine.limits().reason)?;
    let now = engine.clock().now();
    Ok(engine
        .audit()
        .recorded(
            by,
            |conn| Box::pin(async move { Ok(store::revoke_token(conn, id, now).await?) }),
            |revoked| {
                revoked.then(|| {
                    AuditRecord::new(AuditAction::TokenRevoke)
                        .target(id)
                        .reason(reason)
                })
            },
        )
        .await?)
}
