//! People who use forlob, their roles and credentials. Passwords are hashed by the caller
//! (the web layer owns argon2); tokens and session ids reach the store only as digests.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
            via: Via::System,
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

/// Through what an actor reached the engine; recorded with each audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Via {
    /// The engine itself: timers, messages, jobs, scenarios.
    #[default]
    System,
    /// The REST API.
    Api,
    /// The web pages.
    Page,
    /// The `forlob` command line.
    Cli,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Api => "api",
            Self::Page => "page",
            Self::Cli => "cli",
        }
    }
}

/// What an actor acts as: a user's role, or the engine itself (timers, messages, jobs). Shown
/// to expressions (`actor.role`), history and the audit log as the role's name or `system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorRole {
    User(Role),
    System,
    /// Someone not signed in: who tried a failed sign-in, as the audit log records them.
    Anonymous,
}

impl ActorRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User(role) => role.as_str(),
            Self::System => "system",
            Self::Anonymous => "anonymous",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "system" => Some(Self::System),
            "anonymous" => Some(Self::Anonymous),
            _ => Role::parse(text).map(Self::User),
        }
    }
}

impl From<Role> for ActorRole {
    fn from(role: Role) -> Self {
        Self::User(role)
    }
}

impl PartialEq<Role> for ActorRole {
    fn eq(&self, role: &Role) -> bool {
        *self == Self::User(*role)
    }
}

impl Serialize for ActorRole {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ActorRole {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a role")))
    }
}

/// Who acts: a caseworker, an admin, or the system.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub municipality: Option<String>,
    pub role: ActorRole,
    /// Not part of what expressions see as `actor`: only the audit log records it.
    #[serde(skip)]
    pub via: Via,
}

impl Actor {
    pub fn system() -> Self {
        Self {
            id: "system".into(),
            municipality: None,
            role: ActorRole::System,
            via: Via::System,
        }
    }

    pub fn caseworker(id: &str, municipality: &str) -> Self {
        Self {
            id: id.into(),
            municipality: Some(municipality.into()),
            role: Role::Caseworker.into(),
            via: Via::System,
        }
    }

    /// Admins and the system see every municipality's work.
    pub fn sees_all(&self) -> bool {
        matches!(self.role, ActorRole::System | ActorRole::User(Role::Admin))
    }

    /// A caseworker of a municipality: the one role whose sight of subjects depends on the
    /// subject (see `Engine::may_see`).
    pub fn is_caseworker(&self) -> bool {
        self.role == Role::Caseworker && self.municipality.is_some()
    }

    /// The same actor acting through `via`.
    pub fn through(mut self, via: Via) -> Self {
        self.via = via;
        self
    }

    /// The municipality filter of every task query made for this actor: `None` (all) for
    /// admins and the system, else the actor's municipality. An actor with none (a designer)
    /// gets the empty code, which no task has, so they see no tasks rather than all.
    pub fn task_scope(&self) -> Option<String> {
        if self.sees_all() {
            None
        } else {
            Some(self.municipality.clone().unwrap_or_default())
        }
    }
}
