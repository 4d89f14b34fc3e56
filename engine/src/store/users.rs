//! Users, API tokens and sessions. Secrets arrive here already digested (`*_hash`): the
//! store compares digests and never sees a token or a session id in the clear.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr as SqlExpr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, SqlErr, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use super::{api_token, session, user};
use crate::user::{ApiToken, NewUser, Role, Session, User};

fn to_user(m: user::Model) -> Result<User, DbErr> {
    let role = Role::parse(&m.role)
        .ok_or_else(|| DbErr::Custom(format!("user {} has unknown role `{}`", m.id, m.role)))?;
    Ok(User {
        id: m.id,
        username: m.username,
        display_name: m.display_name,
        role,
        municipality: m.municipality,
        locale: m.locale,
        disabled: m.disabled,
        created_at: m.created_at,
    })
}

/// Inserts a user and their first API token in one transaction; `None` when the username is
/// taken (the unique index decides, so two admins adding the same name at once get one user).
pub async fn insert_user_with_token<C: ConnectionTrait + TransactionTrait>(
    conn: &C,
    new: &NewUser,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<User>, DbErr> {
    // A savepoint inside the caller's transaction: a taken name fails one statement, which
    // PostgreSQL would otherwise hold against the whole transaction.
    let txn = conn.begin().await?;
    let user = match insert_user(&txn, new, now).await {
        Ok(user) => user,
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            txn.rollback().await?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    insert_token(&txn, user.id, "initial", token_hash, now).await?;
    txn.commit().await?;
    Ok(Some(user))
}

/// Inserts a user; a taken username fails on the unique index.
pub async fn insert_user<C: ConnectionTrait>(
    conn: &C,
    new: &NewUser,
    now: DateTime<Utc>,
) -> Result<User, DbErr> {
    let model = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        username: Set(new.username.clone()),
        display_name: Set(new.display_name.clone()),
        role: Set(new.role.as_str().to_owned()),
        municipality: Set(new.municipality.clone()),
        locale: Set(new.locale.clone()),
        password_hash: Set(new.password_hash.clone()),
        disabled: Set(false),
        created_at: Set(now),
    };
    let inserted = user::Entity::insert(model)
        .exec_with_returning(conn)
        .await?;
    to_user(inserted)
}

pub async fn user_by_username<C: ConnectionTrait>(
    conn: &C,
    username: &str,
) -> Result<Option<User>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(conn)
        .await?
        .map(to_user)
        .transpose()
}

/// The user and their password hash, for a login check; disabled users are not found.
pub async fn login_candidate<C: ConnectionTrait>(
    conn: &C,
    username: &str,
) -> Result<Option<(User, Option<String>)>, DbErr> {
    let Some(m) = user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .filter(user::Column::Disabled.eq(false))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let hash = m.password_hash.clone();
    Ok(Some((to_user(m)?, hash)))
}

/// The active caseworkers of `municipality`, by display name: who can be given its tasks.
pub async fn active_caseworkers<C: ConnectionTrait>(
    conn: &C,
    municipality: &str,
) -> Result<Vec<User>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Role.eq(Role::Caseworker.as_str()))
        .filter(user::Column::Municipality.eq(municipality))
        .filter(user::Column::Disabled.eq(false))
        .order_by_asc(user::Column::DisplayName)
        .all(conn)
        .await?
        .into_iter()
        .map(to_user)
        .collect()
}

pub async fn users<C: ConnectionTrait>(conn: &C) -> Result<Vec<User>, DbErr> {
    user::Entity::find()
        .order_by_asc(user::Column::Username)
        .all(conn)
        .await?
        .into_iter()
        .map(to_user)
        .collect()
}

/// Disables a user for good as far as their credentials go: in one transaction their live
/// tokens are revoked and their sessions deleted, so enabling them later brings none of
/// them back (an admin issues new tokens; the user signs in again). `false` when there is
/// no such user.
pub async fn disable_user<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    if !set_user_disabled(conn, id, true).await? {
        return Ok(false);
    }
    end_credentials(conn, id, now).await?;
    Ok(true)
}

/// Enables a disabled user again, with no live token and no session: one issued or signed
/// in while the disable was under way (a race with it) is ended here, so nothing from before
/// comes back (see [`disable_user`]).
pub async fn enable_user<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    if !set_user_disabled(conn, id, false).await? {
        return Ok(false);
    }
    end_credentials(conn, id, now).await?;
    Ok(true)
}

/// Revokes the user's live tokens and deletes their sessions.
async fn end_credentials<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, SqlExpr::value(now))
        .filter(api_token::Column::UserId.eq(id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    session::Entity::delete_many()
        .filter(session::Column::UserId.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

async fn set_user_disabled<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    disabled: bool,
) -> Result<bool, DbErr> {
    let result = user::Entity::update_many()
        .col_expr(user::Column::Disabled, SqlExpr::value(disabled))
        .filter(user::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn insert_token<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    name: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<ApiToken, DbErr> {
    let model = api_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        name: Set(name.to_owned()),
        token_hash: Set(token_hash.to_owned()),
        created_at: Set(now),
        last_used_at: Set(None),
        revoked_at: Set(None),
    };
    Ok(to_token(
        api_token::Entity::insert(model)
            .exec_with_returning(conn)
            .await?,
    ))
}

fn to_token(m: api_token::Model) -> ApiToken {
    ApiToken {
        id: m.id,
        user_id: m.user_id,
        name: m.name,
        created_at: m.created_at,
        last_used_at: m.last_used_at,
        revoked_at: m.revoked_at,
    }
}

pub async fn tokens<C: ConnectionTrait>(conn: &C) -> Result<Vec<ApiToken>, DbErr> {
    Ok(api_token::Entity::find()
        .order_by_asc(api_token::Column::CreatedAt)
        .all(conn)
        .await?
        .into_iter()
        .map(to_token)
        .collect())
}

/// The enabled user a live token belongs to. Records the token's use, but at most once a
/// minute and only then writing: on SQLite every UPDATE takes the one write lock, and every
/// API call reads a token, so reads must not turn into writes.
pub async fn user_by_token<C: ConnectionTrait>(
    conn: &C,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<User>, DbErr> {
    let Some(token) = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(token_hash))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let Some(user) = user::Entity::find_by_id(token.user_id)
        .filter(user::Column::Disabled.eq(false))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    if token
        .last_used_at
        .is_none_or(|at| at < now - chrono::Duration::minutes(1))
    {
        touch_token(conn, token.id, now).await?;
    }
    Ok(Some(to_user(user)?))
}

async fn touch_token<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    api_token::Entity::update_many()
        .col_expr(api_token::Column::LastUsedAt, SqlExpr::value(now))
        .filter(api_token::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(api_token::Column::LastUsedAt.is_null())
                .add(api_token::Column::LastUsedAt.lt(now - chrono::Duration::minutes(1))),
        )
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn revoke_token<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, SqlExpr::value(now))
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn insert_session<C: ConnectionTrait>(
    conn: &C,
    id_hash: &str,
    user_id: Uuid,
    csrf_token: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    // Expired sessions are swept on each login, which is often enough to keep the table small.
    session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lt(now))
        .exec(conn)
        .await?;
    session::Entity::insert(session::ActiveModel {
        id_hash: Set(id_hash.to_owned()),
        user_id: Set(user_id),
        csrf_token: Set(csrf_token.to_owned()),
        created_at: Set(now),
        expires_at: Set(expires_at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The live session with this id, and its enabled user.
pub async fn live_session<C: ConnectionTrait>(
    conn: &C,
    id_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, DbErr> {
    let Some(s) = session::Entity::find_by_id(id_hash.to_owned())
        .filter(session::Column::ExpiresAt.gt(now))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let user = user::Entity::find_by_id(s.user_id)
        .filter(user::Column::Disabled.eq(false))
        .one(conn)
        .await?;
    user.map(|u| {
        Ok(Session {
            user: to_user(u)?,
            csrf_token: s.csrf_token,
            expires_at: s.expires_at,
        })
    })
    .transpose()
}

pub async fn delete_session<C: ConnectionTrait>(conn: &C, id_hash: &str) -> Result<(), DbErr> {
    session::Entity::delete_by_id(id_hash.to_owned())
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn set_locale<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    locale: Option<&str>,
) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(
            user::Column::Locale,
            SqlExpr::value(locale.map(str::to_owned)),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(conn)
        .await?;
    Ok(())
}
