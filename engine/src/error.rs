//! Engine errors, split by who has to act on them (see STYLE.md §11).

use crate::diagnostic::Diagnostic;
use crate::form::FieldErrors;

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Definitions that do not validate: nothing is deployed, the app refuses to start.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) in process definitions:\n{}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct DefinitionError(pub Vec<Diagnostic>);

/// The move asked for does not fit the instance as it is now: HTTP 409, or a form message.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    #[error(
        "instance {instance} changed meanwhile (expected version {expected}); reload and try again"
    )]
    Conflict { instance: uuid::Uuid, expected: i64 },
    #[error("task {task} is already {status}")]
    TaskClosed { task: uuid::Uuid, status: String },
    #[error("incident {incident} was handled already")]
    IncidentClosed { incident: i64 },
    #[error("task {task} is being worked on by {by}")]
    TaskClaimed { task: uuid::Uuid, by: String },
    #[error("state `{state}` of process `{process}` does not accept {event}")]
    NotAccepted {
        process: String,
        state: String,
        event: String,
    },
    /// The instance is in (or was sent to) a state its definition version does not have.
    #[error("process `{process}` has no state `{state}`")]
    UnknownState { process: String, state: String },
    #[error(
        "process `{process}` calls processes {depth} deep in one transaction; is it calling itself?"
    )]
    CallDepth { process: String, depth: usize },
    /// Another actor or node did this first (a schedule fired, a run started, removed).
    #[error("{0}")]
    Raced(String),
    /// A second migration of a process while one runs or is being undone (from this node or
    /// another).
    #[error(
        "migration {migration} of `{process}` is {phase}: a process has one migration or undo at a time; let it finish, or resume it with `forlob instances migrations {migration} --resume`"
    )]
    MigrationRunning {
        process: String,
        migration: i64,
        phase: crate::instance::MigrationPhase,
    },
    #[error("instance {instance} is {status}, not active")]
    NotActive {
        instance: uuid::Uuid,
        status: String,
    },
    /// A draft saved on an older version of a process than is deployed: deploying it would
    /// undo what was deployed since.
    #[error(
        "`{process}` v{deployed} was deployed after this draft was saved (on v{based_on}): the draft would undo it; open it in the workbench, compare, and save it again"
    )]
    DraftOutdated {
        process: String,
        deployed: i32,
        based_on: i32,
    },
    /// A message whose id was taken before with other content: nothing of it was done, and
    /// both contents are kept in a dead letter for an admin.
    #[error(
        "message {message_id} was received before with different content; this one was not taken and both are kept as dead letter {dead_letter}; send a new message under a new id"
    )]
    ConflictingDuplicate {
        message_id: String,
        dead_letter: i64,
    },
}

impl TransitionError {
    /// The instance is suspended: what it waits for and its due work are kept for the resume,
    /// not dropped as no longer applying.
    pub fn is_suspended(&self) -> bool {
        matches!(self, Self::NotActive { status, .. }
            if status == crate::instance::InstanceStatus::Suspended.as_str())
    }
}

/// A store failure: HTTP 500; the text is logged, never shown to users.
#[derive(Debug, thiserror::Error)]
#[error("store error: {0}")]
pub struct StoreError(#[from] pub sea_orm::DbErr);

/// Everything an engine entry point can answer with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    /// Submitted data is wrong: HTTP 422 with a message per field.
    #[error("the form has errors: {}", .0.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; "))]
    Invalid(FieldErrors),
    /// The actor may not do this: HTTP 403 with the reason.
    #[error("{0}")]
    Forbidden(crate::message::Message),
    /// A definition's expression failed at run time (a designer's bug, not the user's).
    #[error("{0}")]
    Expression(#[from] crate::expr::ExprError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The package's register of subjects failed; the details are logged, not shown.
    #[error(
        "the register of {kind} data could not be reached; nothing was changed, try again later"
    )]
    SubjectUnavailable { kind: String },
    /// COMMIT failed, so whether the change was stored is unknown; never retried blindly.
    #[error(
        "the database failed while committing; the change may or may not have been stored, check before trying again"
    )]
    CommitUnknown(#[source] StoreError),
    /// The audit entry of a read could not be written (it was written together with other
    /// reads' entries, and that write failed): the data is not handed out.
    #[error(
        "the access could not be recorded in the audit log, so nothing is shown; try again later"
    )]
    AuditUnavailable,
    /// The database has migrations this build does not know: a newer build made it, or one
    /// with a package this build leaves out. Nothing was migrated.
    #[error(
        "the database was migrated by another build: it has {}, which this build does not know (a newer build, or a package this build leaves out); start the build that made it",
        .migrations.join(", ")
    )]
    SchemaUnknown { migrations: Vec<String> },
    /// The database stayed busy or unreachable through every retry; nothing was written.
    #[error(
        "the database is busy or unreachable (gave up after {attempts} attempts); nothing was changed, try again later"
    )]
    Unavailable {
        attempts: u32,
        #[source]
        source: StoreError,
    },
}

impl From<sea_orm::DbErr> for EngineError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Store(StoreError(err))
    }
}

impl EngineError {
    /// Errors that may pass by themselves (a busy or lost database, an unreachable register):
    /// the same work may be tried again later.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(e) => is_transient_db(&e.0),
            Self::Unavailable { .. }
            | Self::SubjectUnavailable { .. }
            | Self::CommitUnknown(_)
            | Self::AuditUnavailable => true,
            _ => false,
        }
    }

    /// A 422 with one field's message.
    pub fn invalid(field: &str, message: crate::message::Message) -> Self {
        Self::Invalid([(field.to_owned(), message)].into())
    }

    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

impl EngineError {
    /// The HTTP status this error stands for; the web layer and scenario `expect_error` use it.
    pub fn status(&self) -> u16 {
        match self {
            Self::Definition(_) => 422,
            Self::Transition(_) => 409,
            Self::NotFound { .. } => 404,
            Self::Invalid(_) => 422,
            Self::Forbidden(_) => 403,
            Self::Expression(_) | Self::Store(_) | Self::SchemaUnknown { .. } => 500,
            Self::Unavailable { .. }
            | Self::SubjectUnavailable { .. }
            | Self::CommitUnknown(_)
            | Self::AuditUnavailable => 503,
        }
    }
}

/// A database error that another try may not meet: a lock, a lost or exhausted connection, a
/// serialization failure. Decided by the error's kind and the database's code, never by its
/// text (which a driver or a locale may word differently).
pub(crate) fn is_transient_db(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        // No connection, or a connection the driver lost, whatever it says went wrong
        // (sea-orm's own `Conn` texts, a dropped transaction say a bug, not a busy server).
        DbErr::ConnectionAcquire(_) | DbErr::Conn(RuntimeErr::SqlxError(_)) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            is_transient_sqlx(e)
        }
        _ => false,
    }
}

fn is_transient_sqlx(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
        Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if db
                .try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                // SQLSTATE: connection exceptions (class 08), serialization failure, deadlock,
                // lock not available, the server shutting down or starting, too many
                // connections, a session or transaction ended for idling.
                code.starts_with("08")
                    || matches!(
                        code.as_ref(),
                        "40001"
                            | "40P01"
                            | "55P03"
                            | "57P01"
                            | "57P02"
                            | "57P03"
                            | "57P05"
                            | "25P03"
                            | "53300"
                    )
            } else {
                // SQLite gives its extended result code; its low byte is the primary one:
                // SQLITE_BUSY (5) and SQLITE_LOCKED (6), whatever the extension.
                code.parse::<i32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
            }
        }
        _ => false,
    }
}
