//! Questions people ask of the engine: a subject's overview and timeline (recorded in the
//! audit log), a task's form.

use super::facades::Queries;
use sea_orm::TransactionTrait;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Engine;
use super::commands::manual_form;
use crate::audit::{AuditAction, AuditRecord};
use crate::error::{EngineError, Result};
use crate::form::{FieldTexts, Form};
use crate::instance::{Actor, Task, TimelineEvent};
use crate::registry::{NameScope, SubjectHit, SubjectOverview};
use crate::store;

/// What a caseworker reads of a subject: the package's overview and the timeline.
#[derive(Debug, Clone)]
pub struct SubjectFile {
    pub overview: SubjectOverview,
    /// Oldest first.
    pub events: Vec<TimelineEvent>,
}

/// Subject ids per query of the inbox's search by name.
const NAME_CHUNK: usize = 500;

/// At most this many subjects an inbox search by name adds to the task query.
const NAMED_SUBJECTS: usize = 5_000;

/// What a search by name found that the searcher may see.
#[derive(Debug, Clone, Default)]
pub struct SubjectSearch {
    /// By name, at most the limit asked for.
    pub hits: Vec<SubjectHit>,
    /// More of those the searcher may see matched than were shown: narrow the search (a
    /// longer name, the CPR number).
    pub narrow: bool,
}

/// An open task with the form its manual step asks for.
#[derive(Debug, Clone)]
pub struct TaskForm {
    pub task: Task,
    /// The process's title (from its definition).
    pub process_title: String,
    pub form: Form,
    /// Initial values from the fields' `default` expressions.
    pub defaults: Map<String, Value>,
    /// What the form's expressions see now (`vars`, `subject`, `actor`, `today`): which
    /// options it offers ([`crate::form::Form::offered`]).
    pub scope: crate::expr::Scope,
}

impl Engine {
    /// The overview (and, with `with_events`, the timeline) of a subject `actor` may see;
    /// `None` for one they may not see and for one that does not exist alike. Not recorded:
    /// the callers above record what they show.
    async fn read_subject(
        &self,
        kind: &str,
        id: &str,
        actor: &Actor,
        with_events: bool,
    ) -> Result<Option<(SubjectOverview, Vec<TimelineEvent>)>> {
        let provider = self
            .registry
            .subject_provider(kind)
            .ok_or_else(|| EngineError::not_found("subject kind", kind))?;
        let conn = self.db.begin().await?;
        let unavailable = |e: crate::action::ActionError| {
            tracing::error!(subject = id, kind, error = %e, "subject overview failed");
            EngineError::SubjectUnavailable {
                kind: kind.to_owned(),
            }
        };
        let found = if self
            .may_see(&conn, kind, id, actor, self.clock.now())
            .await?
        {
            match provider.overview(&conn, id).await.map_err(unavailable)? {
                Some(overview) if with_events => {
                    // Only this kind's processes: a job run or a demo subject that shares
                    // the id has a timeline of its own.
                    let processes = self.processes_about(kind);
                    let mut events = store::events(&conn, id).await?;
                    events.retain(|e| processes.contains(&e.process_id));
                    Some((overview, events))
                }
                Some(overview) => Some((overview, Vec::new())),
                None => None,
            }
        } else {
            None
        };
        conn.rollback().await?;
        Ok(found)
    }
}

/// A package's search by name that failed: logged with its cause, answered as "the register
/// is unavailable" (nothing of the cause reaches the caller).
fn search_failed(kind: &str) -> impl FnOnce(crate::action::ActionError) -> EngineError + '_ {
    move |e| {
        tracing::error!(kind, error = %e, "subject search failed");
        EngineError::SubjectUnavailable {
            kind: kind.to_owned(),
        }
    }
}

impl Queries<'_> {
    /// One task, as the actor may see it.
    pub async fn task(self, task_id: Uuid, actor: &Actor) -> Result<crate::instance::Task> {
        self.engine
            .visible_task(&self.engine.db, task_id, actor)
            .await
    }

    /// A task `actor` may see, read to be shown on its own: a task names its person and
    /// holds what was submitted, so the look is recorded in the audit log first.
    pub async fn look_at_task(self, task_id: Uuid, actor: &Actor) -> Result<crate::instance::Task> {
        let task = self.task(task_id, actor).await?;
        self.engine
            .audit()
            .record(
                actor,
                vec![
                    AuditRecord::new(AuditAction::PersonRead)
                        .subject(task.subject.clone())
                        .target(task_id)
                        .detail(json!({ "shown": "task", "found": true })),
                ],
            )
            .await?;
        Ok(task)
    }

    /// The active caseworkers of `municipality` other than `actor`, to give a task to:
    /// `(username, display name)`, by name.
    pub async fn colleagues(
        self,
        municipality: &str,
        actor: &Actor,
    ) -> Result<Vec<(String, String)>> {
        Ok(store::active_caseworkers(&self.engine.db, municipality)
            .await?
            .into_iter()
            .filter(|u| u.username != actor.id)
            .map(|u| (u.username, u.display_name))
            .collect())
    }
    /// A subject's overview and timeline as `actor` may see them: admins every subject, a
    /// caseworker one of their municipality's (`may_see`). Any other is "not found", exactly
    /// like one that does not exist, so guessing ids tells nothing. Every look-up, shown or
    /// not, is recorded in the audit log before the answer is returned.
    pub async fn subject_file(self, kind: &str, id: &str, actor: &Actor) -> Result<SubjectFile> {
        let found = self.engine.read_subject(kind, id, actor, true).await?;
        let record = AuditRecord::new(AuditAction::PersonRead)
            .subject(id)
            .detail(json!({ "shown": "overview_and_timeline", "found": found.is_some() }));
        self.engine.audit().record(actor, vec![record]).await?;
        let (overview, events) = found.ok_or_else(|| EngineError::not_found("subject", id))?;
        Ok(SubjectFile { overview, events })
    }

    /// A task `actor` may see with the overview of its subject (of `kind`) beside it, as the
    /// task page shows them: one look, recorded in the audit log before it is returned. The
    /// overview is `None` when the actor may not see the subject (any more: a closed task past
    /// the grace period) or its register cannot be reached; the task is shown all the same.
    pub async fn task_with_overview(
        self,
        task_id: Uuid,
        kind: &str,
        actor: &Actor,
    ) -> Result<(Task, Option<SubjectOverview>)> {
        let task = self.task(task_id, actor).await?;
        let overview = match self
            .engine
            .read_subject(kind, &task.subject, actor, false)
            .await
        {
            Ok(found) => found.map(|(overview, _)| overview),
            // Already logged; a register that is down must not hide the task.
            Err(EngineError::SubjectUnavailable { .. } | EngineError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let record = AuditRecord::new(AuditAction::PersonRead)
            .subject(task.subject.clone())
            .target(task_id)
            .detail(json!({ "shown": "task", "overview": overview.is_some() }));
        self.engine.audit().record(actor, vec![record]).await?;
        Ok((task, overview))
    }

    /// Subjects of `kind` whose name contains `text` and that `actor` may see, at most
    /// `limit`, by name. The package searches only where the actor may look (an admin
    /// everywhere; a caseworker among the subjects that concern their municipality and
    /// those its tasks let it see), each hit is checked with `may_see` as a look-up by id
    /// is, and `narrow` says that more than `limit` of those matched: nothing in the answer
    /// or its time depends on subjects elsewhere. Recorded like the Swedish register
    /// search: one `person.search` entry per subject shown, so the log filtered by a CPR
    /// number shows who found them, and one without a subject when none was shown.
    pub async fn find_subjects(
        self,
        kind: &str,
        text: &str,
        actor: &Actor,
        limit: usize,
    ) -> Result<SubjectSearch> {
        crate::limits::require_fits("q", text, self.engine.options.text_limits.query)?;
        let provider = self
            .engine
            .registry
            .subject_provider(kind)
            .ok_or_else(|| EngineError::not_found("subject kind", kind))?;
        let conn = self.engine.db.begin().await?;
        let now = self.engine.clock.now();
        let scopes = if actor.sees_all() {
            vec![NameScope::All]
        } else if let Some(m) = actor
            .municipality
            .as_deref()
            .filter(|_| actor.is_caseworker())
        {
            let since = now
                .checked_sub_signed(
                    chrono::Duration::from_std(self.engine.options.visibility_grace)
                        .unwrap_or(chrono::Duration::MAX),
                )
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
            let by_task =
                store::sighted_subjects(&conn, m, &self.engine.processes_about(kind), since)
                    .await?;
            // In chunks, so an IN list stays within the databases' parameter limits.
            std::iter::once(NameScope::Concerning(m.to_owned()))
                .chain(
                    by_task
                        .chunks(NAME_CHUNK)
                        .map(|c| NameScope::Among(c.to_vec())),
                )
                .collect()
        } else {
            Vec::new()
        };
        let wanted = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
        let mut candidates: Vec<SubjectHit> = Vec::new();
        for scope in &scopes {
            let hits = provider
                .find_by_name(&conn, text, scope, wanted)
                .await
                .map_err(search_failed(kind))?;
            candidates.extend(hits);
        }
        candidates.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        candidates.dedup_by(|a, b| a.id == b.id);
        let mut found = SubjectSearch::default();
        for hit in candidates {
            if self
                .engine
                .may_see(&conn, kind, &hit.id, actor, now)
                .await?
            {
                if found.hits.len() == limit {
                    found.narrow = true;
                    break;
                }
                found.hits.push(hit);
            }
        }
        conn.rollback().await?;
        let shown: Vec<&str> = found.hits.iter().map(|h| h.id.as_str()).collect();
        let detail = json!({ "query": text, "kind": kind, "hits": shown.len() });
        self.engine
            .audit()
            .record(actor, crate::audit::search_records(&detail, &shown))
            .await?;
        Ok(found)
    }

    /// Which subjects of the tasks `tasks` lets through (all kinds, so the inbox's counts per
    /// kind see the same) have a name containing `text`: what the inbox's search adds to
    /// matching titles and ids (at most 5,000). The list is one the caller may see already
    /// (`tasks` carries its tenancy filter), so the search looks nowhere else, and it is not
    /// recorded per subject (it shows the tasks, not the persons).
    pub async fn subjects_named(
        self,
        text: &str,
        tasks: &store::TaskFilter,
    ) -> Result<Vec<String>> {
        let every_kind = store::TaskFilter {
            kind: None,
            ..tasks.clone()
        };
        let among = store::task_subjects(&self.engine.db, &every_kind).await?;
        let conn = self.engine.db.begin().await?;
        let mut ids = Vec::new();
        for (kind, provider) in self.engine.registry.subject_providers() {
            // In chunks, so an IN list stays within the databases' parameter limits.
            for chunk in among.chunks(NAME_CHUNK) {
                let scope = NameScope::Among(chunk.to_vec());
                let hits = provider
                    .find_by_name(&conn, text, &scope, chunk.len() as u64)
                    .await
                    .map_err(search_failed(kind))?;
                ids.extend(hits.into_iter().map(|h| h.id));
            }
        }
        conn.rollback().await?;
        ids.sort();
        ids.dedup();
        // The ids go into the task query as one IN list: bounded below the databases'
        // parameter limits (a very common name finds the first of them).
        ids.truncate(NAMED_SUBJECTS);
        Ok(ids)
    }

    /// Values of `task`'s form (what was submitted, or what someone typed) as the form shows
    /// them: each field's label and the value (a choice by its label), in the form's order;
    /// values the form does not name (it changed since) follow under their own names. Shown
    /// beside a task already read, so not recorded again.
    pub async fn labelled_values(
        self,
        task: &Task,
        data: &Map<String, Value>,
    ) -> Result<Vec<(String, String)>> {
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.engine.db.begin().await?;
        let loaded = self.engine.load_any(&conn, task.instance_id).await;
        conn.rollback().await?;
        let form = match &loaded {
            Ok((def, _)) => manual_form(def, &task.state).ok(),
            Err(_) => None,
        };
        let text = |value: &Value| match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let mut shown = Vec::new();
        let mut named = std::collections::HashSet::new();
        for field in form.map(|f| f.fields.as_slice()).unwrap_or_default() {
            let Some(value) = data.get(&field.name) else {
                continue;
            };
            named.insert(field.name.as_str());
            let value = text(value);
            let label = Form::choices_of(field, self.engine.registry.as_ref())
                .into_iter()
                .find(|c| c.value == value)
                .map_or(value, |c| c.label);
            shown.push((field.label.clone(), label));
        }
        for (name, value) in data {
            if !named.contains(name.as_str()) {
                shown.push((name.clone(), text(value)));
            }
        }
        Ok(shown)
    }

    /// The form of an open task the actor may see, with its defaults evaluated now.
    pub async fn task_form(self, task_id: Uuid, actor: &Actor) -> Result<TaskForm> {
        let conn = self.engine.db.begin().await?;
        let open = self
            .engine
            .open_task(&conn, task_id, actor, self.engine.clock.now())
            .await?;
        conn.rollback().await?;
        let form = manual_form(&open.def, &open.row.state)?;
        Ok(TaskForm {
            process_title: open.def.title.clone(),
            defaults: form.defaults(&open.scope),
            form: form.clone(),
            task: open.task,
            scope: open.scope,
        })
    }

    /// The HTML of a form's fields with these values and per-field errors (escaped), its
    /// choices as offered in `scope`.
    pub fn render_form(
        self,
        form: &Form,
        values: &Map<String, Value>,
        errors: &FieldTexts,
        scope: &crate::expr::Scope,
    ) -> std::result::Result<String, handlebars::RenderError> {
        self.engine
            .forms
            .render(form, values, errors, self.engine.registry.as_ref(), scope)
    }
}
