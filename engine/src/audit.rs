//! The audit log: who read which person's data, and every admin and designer action, in an
//! append-only table whose entries are chained by hashes.
//!
//! Invariants:
//! - a change and its entry commit in one transaction (the store's `append` runs inside the
//!   change's transaction); a read's entry commits before the data leaves the engine;
//! - entries join the chain one at a time, so ids follow the chain: entry `n` carries the
//!   hash of entry `n - 1`. SQLite's one writer seals each entry as it appends it. On
//!   PostgreSQL writers commit their entries unsealed (`audit_pending`), beside each other,
//!   and a sealer chains them shortly after under an advisory lock (`store::audit`), so the
//!   chain's order is the sealing order;
//! - an entry's hash covers its id, so an edited, a deleted and a reordered row all break
//!   the chain, which [`crate::runtime::Audit::verify_audit`] walks.

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::instance::Actor;

/// The most characters an entry keeps of a name, a subject or a target.
const MAX_FIELD: usize = 100;
/// The most characters an entry keeps of its details.
const MAX_DETAIL: usize = 10_000;

/// What happened, as the log names it. The names are stable: filters and exports use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuditAction {
    /// A person's data was shown (overview, timeline, beside a task).
    PersonRead,
    /// A search over persons, with its query and hits.
    PersonSearch,
    /// A start by hand (it is about a subject and may show it).
    InstanceStart,
    InstanceSuspend,
    InstanceResume,
    InstanceCancel,
    /// A caseworker took a task over from the colleague who had claimed it.
    TaskTakeOver,
    /// A task was given to a colleague of its municipality.
    TaskAssign,
    /// An admin gave back a task someone else had claimed.
    TaskRelease,
    IncidentRetry,
    IncidentSkip,
    IncidentCancel,
    DeadLetterReplay,
    UserAdd,
    UserDisable,
    UserEnable,
    TokenIssue,
    TokenRevoke,
    ScheduleAdd,
    ScheduleRemove,
    JobRunNow,
    /// A job run's details downloaded as CSV (they name persons).
    LogbookExport,
    DraftSave,
    /// A designer asked an admin to deploy a draft.
    DraftAskDeploy,
    Deploy,
    MigrationStart,
    MigrationResume,
    MigrationAbandon,
    MigrationUndo,
    ClockAdvance,
    SignIn,
    SignInFailed,
    SignOut,
    /// The audit log itself was read or exported.
    AuditRead,
    AuditExport,
    /// Entries older than the retention were deleted.
    AuditPrune,
}

impl AuditAction {
    pub const ALL: [Self; 36] = [
        Self::PersonRead,
        Self::PersonSearch,
        Self::InstanceStart,
        Self::InstanceSuspend,
        Self::InstanceResume,
        Self::InstanceCancel,
        Self::TaskTakeOver,
        Self::TaskAssign,
        Self::TaskRelease,
        Self::IncidentRetry,
        Self::IncidentSkip,
        Self::IncidentCancel,
        Self::DeadLetterReplay,
        Self::UserAdd,
        Self::UserDisable,
        Self::UserEnable,
        Self::TokenIssue,
        Self::TokenRevoke,
        Self::ScheduleAdd,
        Self::ScheduleRemove,
        Self::JobRunNow,
        Self::LogbookExport,
        Self::DraftSave,
        Self::DraftAskDeploy,
        Self::Deploy,
        Self::MigrationStart,
        Self::MigrationResume,
        Self::MigrationAbandon,
        Self::MigrationUndo,
        Self::ClockAdvance,
        Self::SignIn,
        Self::SignInFailed,
        Self::SignOut,
        Self::AuditRead,
        Self::AuditExport,
        Self::AuditPrune,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PersonRead => "person.read",
            Self::PersonSearch => "person.search",
            Self::InstanceStart => "instance.start",
            Self::InstanceSuspend => "instance.suspend",
            Self::InstanceResume => "instance.resume",
            Self::InstanceCancel => "instance.cancel",
            Self::TaskTakeOver => "task.take_over",
            Self::TaskAssign => "task.assign",
            Self::TaskRelease => "task.release",
            Self::IncidentRetry => "incident.retry",
            Self::IncidentSkip => "incident.skip",
            Self::IncidentCancel => "incident.cancel",
            Self::DeadLetterReplay => "dead_letter.replay",
            Self::UserAdd => "user.add",
            Self::UserDisable => "user.disable",
            Self::UserEnable => "user.enable",
            Self::TokenIssue => "token.issue",
            Self::TokenRevoke => "token.revoke",
            Self::ScheduleAdd => "schedule.add",
            Self::ScheduleRemove => "schedule.remove",
            Self::JobRunNow => "job.run_now",
            Self::LogbookExport => "logbook.export",
            Self::DraftSave => "draft.save",
            Self::DraftAskDeploy => "draft.ask_deploy",
            Self::Deploy => "definition.deploy",
            Self::MigrationStart => "migration.start",
            Self::MigrationResume => "migration.resume",
            Self::MigrationAbandon => "migration.abandon",
            Self::MigrationUndo => "migration.undo",
            Self::ClockAdvance => "clock.advance",
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in.failed",
            Self::SignOut => "sign_out",
            Self::AuditRead => "audit.read",
            Self::AuditExport => "audit.export",
            Self::AuditPrune => "audit.prune",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing to record: what, about which person (`subject`) or object (`target`), and the
/// details (a search's query and hits, a reason, what changed).
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub action: AuditAction,
    pub subject: Option<String>,
    pub target: Option<String>,
    pub detail: Value,
}

impl AuditRecord {
    pub fn new(action: AuditAction) -> Self {
        Self {
            action,
            subject: None,
            target: None,
            detail: json!({}),
        }
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn target(mut self, target: impl ToString) -> Self {
        self.target = Some(target.to_string());
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    /// Adds why the actor did it to the details (`detail.reason`), when they said.
    pub fn reason(mut self, reason: &str) -> Self {
        if !reason.is_empty() {
            if !self.detail.is_object() {
                self.detail = json!({});
            }
            self.detail["reason"] = json!(reason);
        }
        self
    }
}

/// The entries of a person search that showed `subjects`: one per subject shown (so the log
/// filtered by a person shows who found them), or one without a subject when none was
/// shown; each with the search's `detail`.
pub fn search_records(detail: &Value, subjects: &[&str]) -> Vec<AuditRecord> {
    let record = || AuditRecord::new(AuditAction::PersonSearch).detail(detail.clone());
    if subjects.is_empty() {
        vec![record()]
    } else {
        subjects.iter().map(|s| record().subject(*s)).collect()
    }
}

/// An entry as stored: the record, who and when, and its place in the chain.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The username (or `system`, `anonymous` for a failed sign-in's unknown name).
    pub actor: String,
    pub role: String,
    pub municipality: Option<String>,
    pub action: String,
    pub subject: Option<String>,
    pub target: Option<String>,
    /// `api`, `page`, `cli` or `system`.
    pub via: String,
    /// The details as stored (JSON text).
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// The entry `record` by `actor` at `at` becomes, before it has a place in the chain.
    pub(crate) fn unsealed(at: DateTime<Utc>, actor: &Actor, record: AuditRecord) -> Self {
        // What callers type (a looked-up id, a failed sign-in's name, a search) is cut, so the
        // log cannot be made to grow by anyone who can send a long string.
        let cut = |text: String| -> String {
            if text.chars().count() <= MAX_FIELD {
                text
            } else {
                text.chars().take(MAX_FIELD).collect()
            }
        };
        let mut detail = record.detail.to_string();
        if detail.chars().count() > MAX_DETAIL {
            detail =
                json!({ "cut": detail.chars().take(MAX_DETAIL).collect::<String>() }).to_string();
        }
        Self {
            id: 0,
            // Stored with microseconds on both databases: the hash must survive the trip.
            at: at.trunc_subsecs(6),
            actor: cut(actor.id.clone()),
            role: actor.role.as_str().to_owned(),
            municipality: actor.municipality.clone(),
            action: record.action.as_str().to_owned(),
            subject: record.subject.map(cut),
            target: record.target.map(cut),
            via: actor.via.as_str().to_owned(),
            detail,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    /// This entry as the `id`th of the chain, after `prev_hash`.
    pub(crate) fn seal(mut self, id: i64, prev_hash: String) -> Self {
        self.id = id;
        self.prev_hash = prev_hash;
        self.hash = self.computed_hash();
        self
    }

    /// The hash this entry must carry: SHA-256 over its fields (the id and the previous
    /// entry's hash among them) as one JSON array, so no two different entries share the text.
    pub fn computed_hash(&self) -> String {
        let canonical = json!([
            self.id,
            self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            self.actor,
            self.role,
            self.municipality,
            self.action,
            self.subject,
            self.target,
            self.via,
            self.detail,
            self.prev_hash,
        ]);
        let digest = Sha256::digest(canonical.to_string().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Filters of an audit search; `None` means any. Newest first, paged by `before` (an id).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub subject: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only entries with a smaller id (the cursor of the page before).
    pub before: Option<i64>,
    pub limit: u64,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AuditVerdict {
    /// Every entry is in place; `entries` checked, `head` the newest hash (note it elsewhere
    /// to detect a rewrite of the whole chain).
    Intact { entries: u64, head: String },
    /// The first entry that does not fit, and why.
    Broken { id: i64, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_parses_back_from_its_name() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(AuditAction::parse("person.reed"), None);
    }

    #[test]
    fn the_hash_changes_with_every_field_and_the_place_in_the_chain() {
        let actor = Actor::caseworker("kim", "101");
        let at = DateTime::parse_from_rfc3339("2026-12-06T10:00:00.1234567Z")
            .expect("a time")
            .with_timezone(&Utc);
        let record = || AuditRecord::new(AuditAction::PersonRead).subject("0101501234");
        let entry = AuditEntry::unsealed(at, &actor, record()).seal(1, String::new());
        assert_eq!(entry.hash, entry.computed_hash());
        assert_eq!(entry.at.timestamp_subsec_nanos(), 123_456_000);
        let moved = AuditEntry::unsealed(at, &actor, record()).seal(2, String::new());
        let later = AuditEntry::unsealed(at, &actor, record()).seal(1, entry.hash.clone());
        let other = AuditEntry::unsealed(at, &actor, record().subject("x")).seal(1, String::new());
        for changed in [moved, later, other] {
            assert_ne!(changed.hash, entry.hash);
        }
    }

    #[test]
    fn what_anyone_can_type_is_cut_and_still_sealed() {
        let actor = Actor::caseworker(&"n".repeat(100_000), "101");
        let record = AuditRecord::new(AuditAction::PersonSearch)
            .subject("1".repeat(100_000))
            .detail(json!({ "query": "q".repeat(100_000) }));
        let entry = AuditEntry::unsealed(Utc::now(), &actor, record).seal(1, String::new());
        assert_eq!(entry.actor.chars().count(), MAX_FIELD);
        assert_eq!(entry.subject.as_deref().map(str::len), Some(MAX_FIELD));
        assert!(entry.detail.len() < MAX_DETAIL + 100);
        assert!(serde_json::from_str::<serde_json::Value>(&entry.detail).is_ok());
        assert_eq!(entry.hash, entry.computed_hash());
    }
}
