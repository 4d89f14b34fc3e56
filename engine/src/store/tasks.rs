//! Tasks: the inbox queries (with the tenancy filter in SQL), claims and completion.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr as SqlExpr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::{instance, task};
use crate::error::{EngineError, TransitionError};
use crate::instance::Task;

fn to_task(m: task::Model) -> Task {
    Task {
        id: m.id,
        instance_id: m.instance_id,
        process_id: m.process_id,
        state: m.state,
        kind: m.kind,
        subject: m.subject,
        title: m.title,
        municipality: m.municipality,
        status: m.status,
        claimed_by: m.claimed_by,
        due_at: m.due_at,
        created_at: m.created_at,
        completed_at: m.completed_at,
        completed_by: m.completed_by,
        data: m.data,
    }
}

pub async fn task<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Task>, DbErr> {
    Ok(task::Entity::find_by_id(id).one(conn).await?.map(to_task))
}

/// Whether `municipality` has a task about `subject` of one of `processes` that is open or
/// was closed at or after `since`, and that a process put there rather than a start by hand
/// of that municipality's own: such a task lets its caseworkers see the subject.
pub async fn task_grants_sight<C: ConnectionTrait>(
    conn: &C,
    municipality: &str,
    subject: &str,
    processes: &[String],
    since: DateTime<Utc>,
) -> Result<bool, DbErr> {
    if processes.is_empty() {
        return Ok(false);
    }
    let found = sight_granting(municipality, processes, since)
        .select_only()
        .column(task::Column::Id)
        .filter(task::Column::Subject.eq(subject))
        .limit(1)
        .into_tuple::<Uuid>()
        .one(conn)
        .await?;
    Ok(found.is_some())
}

/// The subjects `municipality`'s tasks let its caseworkers see (see [`task_grants_sight`]).
pub async fn sighted_subjects<C: ConnectionTrait>(
    conn: &C,
    municipality: &str,
    processes: &[String],
    since: DateTime<Utc>,
) -> Result<Vec<String>, DbErr> {
    if processes.is_empty() {
        return Ok(Vec::new());
    }
    sight_granting(municipality, processes, since)
        .select_only()
        .column(task::Column::Subject)
        .distinct()
        .into_tuple::<String>()
        .all(conn)
        .await
}

/// The tasks that let `municipality`'s caseworkers see their subjects.
fn sight_granting(
    municipality: &str,
    processes: &[String],
    since: DateTime<Utc>,
) -> sea_orm::Select<task::Entity> {
    task::Entity::find()
        .filter(task::Column::Municipality.eq(municipality))
        .filter(task::Column::ProcessId.is_in(processes.iter().cloned()))
        .filter(
            sea_orm::Condition::any()
                .add(task::Column::Status.eq(crate::instance::TaskStatus::Open))
                .add(task::Column::CompletedAt.gte(since)),
        )
        // Only tasks the process put there: not those of an instance a caseworker of the
        // same municipality started by hand (a primary-key look-up per candidate task).
        .filter(
            SqlExpr::exists(
                sea_orm::sea_query::Query::select()
                    .expr(SqlExpr::val(1))
                    .from(instance::Entity)
                    .and_where(ExprTrait::equals(
                        SqlExpr::col((instance::Entity, instance::Column::Id)),
                        (task::Entity, task::Column::InstanceId),
                    ))
                    .and_where(ExprTrait::eq(
                        SqlExpr::col((instance::Entity, instance::Column::StartedIn)),
                        municipality,
                    ))
                    .to_owned(),
            )
            .not(),
        )
}

/// Filters of a task search; `None` means any. `municipality` is the tenancy filter: callers
/// acting for a caseworker always set it, and it is applied in SQL, never after loading.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    pub id: Option<Uuid>,
    pub municipality: Option<String>,
    pub status: Option<crate::instance::TaskStatus>,
    pub kind: Option<String>,
    pub process_id: Option<String>,
    pub subject: Option<String>,
    pub instance_id: Option<Uuid>,
    /// Only tasks due before this instant (tasks without a due date are left out).
    pub due_before: Option<DateTime<Utc>>,
    pub claimed_by: Option<String>,
    /// Free text: in the title, the subject's id, or the subject's name.
    pub text: Option<TaskText>,
    /// What the list is sorted by; ties by creation, oldest first.
    pub order: TaskOrder,
    /// Reversed: the latest due date (or Z..A) first.
    pub descending: bool,
    pub offset: Option<u64>,
    pub limit: Option<u64>,
}

/// Free text an inbox search looks for: `text` in a task's title or subject id, or a subject
/// among `subjects` (those whose names matched, from `Queries::subjects_named`).
#[derive(Debug, Default, Clone)]
pub struct TaskText {
    pub text: String,
    pub subjects: Vec<String>,
}

/// The inbox's sort columns.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum TaskOrder {
    #[default]
    Due,
    Title,
    Kind,
    Subject,
    ClaimedBy,
}

impl TaskOrder {
    pub const ALL: [Self; 5] = [
        Self::Due,
        Self::Title,
        Self::Kind,
        Self::Subject,
        Self::ClaimedBy,
    ];

    /// Its name in a query string (`sort=title`, `sort=-title`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Due => "due",
            Self::Title => "title",
            Self::Kind => "kind",
            Self::Subject => "subject",
            Self::ClaimedBy => "claimed_by",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }

    fn column(self) -> task::Column {
        match self {
            Self::Due => task::Column::DueAt,
            Self::Title => task::Column::Title,
            Self::Kind => task::Column::Kind,
            Self::Subject => task::Column::Subject,
            Self::ClaimedBy => task::Column::ClaimedBy,
        }
    }
}

/// `column` contains every word of `text`, each ignoring case: `lower()` on both sides,
/// and, since SQLite's `lower()` knows only ASCII, also as typed and with a capital first
/// letter ("jens østergaard" finds "Jens Østergaard" on both databases). LIKE's wildcards in
/// `text` are searched for as themselves. A text without words matches nothing.
pub fn name_matches<C: ColumnTrait>(column: C, text: &str) -> sea_orm::Condition {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return sea_orm::Condition::all().add(SqlExpr::val(1).eq(0));
    }
    words
        .into_iter()
        .fold(sea_orm::Condition::all(), |all, word| {
            all.add(word_in(column, word))
        })
}

/// One word of [`name_matches`].
fn word_in<C: ColumnTrait>(column: C, word: &str) -> sea_orm::Condition {
    use sea_orm::sea_query::LikeExpr;
    let like = |text: &str| {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        LikeExpr::new(format!("%{escaped}%")).escape('\\')
    };
    let lower = word.to_lowercase();
    let mut letters = lower.chars();
    let capitalised: String = letters
        .next()
        .map(|first| first.to_uppercase().chain(letters).collect())
        .unwrap_or_default();
    let lowered = sea_orm::sea_query::Func::lower(SqlExpr::col(column.as_column_ref()));
    sea_orm::Condition::any()
        .add(SqlExpr::expr(lowered).like(like(&lower)))
        .add(SqlExpr::col(column.as_column_ref()).like(like(word)))
        .add(SqlExpr::col(column.as_column_ref()).like(like(&capitalised)))
}

fn filtered_tasks(filter: &TaskFilter) -> sea_orm::Select<task::Entity> {
    let mut query = task::Entity::find();
    if let Some(id) = filter.id {
        query = query.filter(task::Column::Id.eq(id));
    }
    if let Some(m) = &filter.municipality {
        query = query.filter(task::Column::Municipality.eq(m.clone()));
    }
    if let Some(s) = &filter.status {
        query = query.filter(task::Column::Status.eq(*s));
    }
    if let Some(k) = &filter.kind {
        query = query.filter(task::Column::Kind.eq(k.clone()));
    }
    if let Some(p) = &filter.process_id {
        query = query.filter(task::Column::ProcessId.eq(p.clone()));
    }
    if let Some(s) = &filter.subject {
        query = query.filter(task::Column::Subject.eq(s.clone()));
    }
    if let Some(i) = filter.instance_id {
        query = query.filter(task::Column::InstanceId.eq(i));
    }
    if let Some(before) = filter.due_before {
        query = query.filter(task::Column::DueAt.lt(before));
    }
    if let Some(c) = &filter.claimed_by {
        query = query.filter(task::Column::ClaimedBy.eq(c.clone()));
    }
    if let Some(search) = &filter.text {
        // A CPR number is typed with or without its dash; the id has none.
        let id: String = search.text.chars().filter(|c| *c != '-').collect();
        let mut any =
            sea_orm::Condition::any().add(name_matches(task::Column::Title, &search.text));
        if !id.trim().is_empty() {
            any = any.add(name_matches(task::Column::Subject, &id));
        }
        if !search.subjects.is_empty() {
            any = any.add(task::Column::Subject.is_in(search.subjects.clone()));
        }
        query = query.filter(any);
    }
    query
}

pub async fn tasks<C: ConnectionTrait>(conn: &C, filter: &TaskFilter) -> Result<Vec<Task>, DbErr> {
    let order = if filter.descending {
        sea_orm::Order::Desc
    } else {
        sea_orm::Order::Asc
    };
    // Tasks without a due date (or a claim) come last either way, on both databases; ties
    // keep the order they came in.
    let query = filtered_tasks(filter)
        .order_by_with_nulls(
            filter.order.column(),
            order,
            sea_orm::sea_query::NullOrdering::Last,
        )
        .order_by_asc(task::Column::CreatedAt)
        .order_by_asc(task::Column::Id);
    Ok(query
        .offset(filter.offset)
        .limit(filter.limit.unwrap_or(1000))
        .all(conn)
        .await?
        .into_iter()
        .map(to_task)
        .collect())
}

/// The processes and the municipalities that have given tasks of `status` (`None`: any) to
/// `municipality` (`None`: anyone), each sorted: what the inbox's filters offer, so none
/// offers a process or a municipality with nothing to show. Read from `ix_tasks_sources_due`.
pub async fn task_sources<C: ConnectionTrait>(
    conn: &C,
    municipality: Option<&str>,
    status: Option<crate::instance::TaskStatus>,
) -> Result<(Vec<String>, Vec<String>), DbErr> {
    let mut query = task::Entity::find()
        .select_only()
        .column(task::Column::ProcessId)
        .column(task::Column::Municipality)
        .distinct();
    if let Some(m) = municipality {
        query = query.filter(task::Column::Municipality.eq(m));
    }
    if let Some(s) = status {
        query = query.filter(task::Column::Status.eq(s));
    }
    let pairs: Vec<(String, Option<String>)> = query.into_tuple().all(conn).await?;
    let mut processes: Vec<String> = pairs.iter().map(|(p, _)| p.clone()).collect();
    let mut municipalities: Vec<String> = pairs.into_iter().filter_map(|(_, m)| m).collect();
    for list in [&mut processes, &mut municipalities] {
        list.sort();
        list.dedup();
    }
    Ok((processes, municipalities))
}

/// The distinct subjects of the tasks `filter` matches (its text, offset and limit aside):
/// where the inbox's search by name looks.
pub async fn task_subjects<C: ConnectionTrait>(
    conn: &C,
    filter: &TaskFilter,
) -> Result<Vec<String>, DbErr> {
    let filter = TaskFilter {
        text: None,
        ..filter.clone()
    };
    filtered_tasks(&filter)
        .select_only()
        .column(task::Column::Subject)
        .distinct()
        .into_tuple::<String>()
        .all(conn)
        .await
}

/// How many tasks match, per kind (the inbox's counts), ignoring offset and limit.
pub async fn count_tasks_by_kind<C: ConnectionTrait>(
    conn: &C,
    filter: &TaskFilter,
) -> Result<Vec<(String, u64)>, DbErr> {
    super::counts_by(conn, filtered_tasks(filter), task::Column::Kind).await
}

/// Takes an open task for `actor`, or gives it back (`claim == false`). Only open tasks of
/// the caller's municipality (`None`: any) are touched; `false` when nothing matched, and
/// the caller looks at the task to tell "not found" from "someone else has it".
pub async fn set_task_claim<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    municipality: Option<&str>,
    actor: &str,
    claim: bool,
) -> Result<bool, DbErr> {
    let mut update = task::Entity::update_many()
        .filter(task::Column::Id.eq(id))
        .filter(task::Column::Status.eq(crate::instance::TaskStatus::Open));
    if let Some(m) = municipality {
        update = update.filter(task::Column::Municipality.eq(m));
    }
    update = if claim {
        update
            .col_expr(task::Column::ClaimedBy, SqlExpr::value(actor))
            .filter(
                sea_orm::Condition::any()
                    .add(task::Column::ClaimedBy.is_null())
                    .add(task::Column::ClaimedBy.eq(actor)),
            )
    } else {
        let mut update = update.col_expr(
            task::Column::ClaimedBy,
            SqlExpr::value(Option::<String>::None),
        );
        // A caseworker gives back only their own claim; an admin (no municipality filter)
        // may release anybody's, e.g. for a colleague who is away.
        if municipality.is_some() {
            update = update.filter(task::Column::ClaimedBy.eq(actor));
        }
        update
    };
    Ok(update.exec(conn).await?.rows_affected == 1)
}

/// Moves the claim of an open task from `holder` (`None`: nobody holds it) to `to`; false
/// when the task is no longer open, not in `municipality`, or no longer `holder`'s (someone
/// was quicker).
pub async fn move_claim<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    municipality: Option<&str>,
    holder: Option<&str>,
    to: &str,
) -> Result<bool, DbErr> {
    let mut update = task::Entity::update_many()
        .col_expr(task::Column::ClaimedBy, SqlExpr::value(to))
        .filter(task::Column::Id.eq(id))
        .filter(task::Column::Status.eq(crate::instance::TaskStatus::Open))
        .filter(match holder {
            Some(holder) => task::Column::ClaimedBy.eq(holder),
            None => task::Column::ClaimedBy.is_null(),
        });
    if let Some(m) = municipality {
        update = update.filter(task::Column::Municipality.eq(m));
    }
    Ok(update.exec(conn).await?.rows_affected == 1)
}

/// Closes an open task. With `respect_claims`, only a task nobody else has claimed: the
/// claim is part of the UPDATE, so one taken a moment ago is not overridden. Nothing
/// matched means someone else was first (completed or claimed it): a 409 saying which.
pub async fn complete_task<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    actor: &str,
    respect_claims: bool,
    data: &Value,
    now: DateTime<Utc>,
) -> Result<(), EngineError> {
    let mut update = task::Entity::update_many()
        .col_expr(
            task::Column::Status,
            SqlExpr::value(crate::instance::TaskStatus::Completed),
        )
        .col_expr(task::Column::CompletedAt, SqlExpr::value(now))
        .col_expr(task::Column::CompletedBy, SqlExpr::value(actor))
        .col_expr(task::Column::Data, SqlExpr::value(data.clone()))
        .filter(task::Column::Id.eq(id))
        .filter(task::Column::Status.eq(crate::instance::TaskStatus::Open));
    if respect_claims {
        update = update.filter(
            sea_orm::Condition::any()
                .add(task::Column::ClaimedBy.is_null())
                .add(task::Column::ClaimedBy.eq(actor)),
        );
    }
    if update.exec(conn).await?.rows_affected == 1 {
        return Ok(());
    }
    let now_task = task::Entity::find_by_id(id).one(conn).await?;
    Err(match now_task {
        Some(t) if t.status == crate::instance::TaskStatus::Open => TransitionError::TaskClaimed {
            task: id,
            by: t.claimed_by.unwrap_or_default(),
        },
        Some(t) => TransitionError::TaskClosed {
            task: id,
            status: t.status.as_str().into(),
        },
        None => TransitionError::TaskClosed {
            task: id,
            status: "gone".into(),
        },
    }
    .into())
}
