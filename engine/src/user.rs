//! People who use forlob, their roles and credentials. Passwords are hashed by the caller
//! (the web layer owns argon2); tokens and session ids reach the store only as digests.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::instance::Actor;

/// What a user may do. Caseworkers work their municipality's inbox; admins see every
/// municipality and operate the engine; designers read definitions and diagrams;
/// integrations (a population register's feed) only deliver messages; auditors read the
/// audit log and nothing else; metrics (a Prometheus scraper) only read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Caseworker,
    Admin,
    Designer,
    Integration,
    Auditor,
    Metrics,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Caseworker,
        Role::Admin,
        Role::Designer,
        Role::Integration,
        Role::Auditor,
        Role::Metrics,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Caseworker => "caseworker",
            Self::Admin => "admin",
            Self::Designer => "designer",
            Self::Integration => "integration",
            Self::Auditor => "auditor",
            Self::Metrics => "metrics",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user as the rest of forlob sees it (never with the password hash).
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The caseworker's municipality (official code); `None` for admins and designers.
    pub municipality: Option<String>,
    /// Preferred language of the UI chrome (`da` or `en`); `None` follows the browser.
    pub locale: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl User {
    /// The engine's view of who acts: history and task records name the username.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.username.clone(),
            municipality: self.municipality.clone(),
            role: self.role.into(),
            via: crate::instance::Via::System,
        }
    }
}

/// A new user; the password hash is made by the caller.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub municipality: Option<String>,
    pub locale: Option<String>,
    pub password_hash: Option<String>,
}

/// An API token as listed to admins: its name and use, never the secret.
#[derive(Debug, Clone, Serialize)]
pub struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A live browser session: whose it is and the token its form posts must echo.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}
