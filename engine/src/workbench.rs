//! The designer's workbench: drafts of process definitions, checked and tried before anyone
//! deploys them: validated
//! against what is deployed (a draft may call a deployed process), and its scenarios run on a
//! throw-away in-memory database with the manual clock. Nothing here touches the engine's
//! own database.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::audit::{AuditAction, AuditRecord};
use crate::definition::{self, Diagnostic, SourceFile};
use crate::error::{EngineError, Result, TransitionError};
use crate::form::FieldErrors;
use crate::instance::Actor;
use crate::message::{Code, Message};
use crate::runtime::{DefinitionImpact, DeployOutcome, Engine};
use crate::scenario::{self, ScenarioResult};
use crate::store::drafts as store;

/// At most this many files in a draft, or in one check of one: a release, not a repository.
pub const MAX_DRAFT_FILES: usize = 100;

/// The most characters of one definition file in a draft (the largest shipped is ~8,000).
const MAX_FILE_CHARS: usize = 500_000;

/// At most this many scenarios in one try of a draft.
pub const MAX_DRAFT_SCENARIOS: usize = 50;

/// How long one scenario may run, and all of one try together: a scenario that advances its
/// clock through years of due work is stopped rather than holding a core.
const SCENARIO_TIME: std::time::Duration = std::time::Duration::from_secs(10);
const TRY_TIME: std::time::Duration = std::time::Duration::from_secs(25);

/// How long a try waits for the one before it: with its own time it stays within a request.
const TRY_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// One try of a draft at a time on this node: scenarios are CPU work in the server process,
/// and a second try waits rather than halving both.
static TRIES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// A designer's draft of a process: one numbered version of their work on it.
#[derive(Debug, Clone)]
pub struct Draft {
    pub id: i64,
    pub process_id: String,
    pub author: String,
    /// 1, 2, ... per author and process.
    pub version: i32,
    pub files: Vec<SourceFile>,
    pub note: String,
    pub created_at: DateTime<Utc>,
    /// The deployed version of each of its processes when it was saved (0: none deployed);
    /// a deploy since then refuses it.
    pub based_on: std::collections::BTreeMap<String, i32>,
    /// When its author (or an admin) asked for it to be deployed.
    pub deploy_asked_at: Option<DateTime<Utc>>,
    /// When, by whom and as which versions (`process vN, …`) it was deployed.
    pub deployed: Option<Deployed>,
}

/// A draft's deploy.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub at: DateTime<Utc>,
    pub by: String,
    pub versions: String,
}

impl TryFrom<store::DraftRow> for Draft {
    type Error = EngineError;

    fn try_from(row: store::DraftRow) -> Result<Self> {
        let unreadable = |why: String| {
            EngineError::from(sea_orm::DbErr::Custom(format!(
                "draft {} has unreadable files: {why}",
                row.id
            )))
        };
        let stored: Vec<Value> =
            serde_json::from_str(&row.files).map_err(|e| unreadable(e.to_string()))?;
        let text = |f: &Value, k: &str| {
            f.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| unreadable(format!("a file without `{k}`")))
        };
        let files = stored
            .iter()
            .map(|f| {
                Ok(SourceFile {
                    path: text(f, "path")?,
                    text: text(f, "text")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            id: row.id,
            process_id: row.process_id,
            author: row.author,
            version: row.version,
            files,
            note: row.note,
            created_at: row.created_at,
            based_on: row
                .based_on
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| unreadable(e.to_string()))?
                .unwrap_or_default(),
            deploy_asked_at: row.deploy_asked_at,
            deployed: row.deployed_at.map(|at| Deployed {
                at,
                by: row.deployed_by.unwrap_or_default(),
                versions: row.deployed_versions.unwrap_or_default(),
            }),
        })
    }
}

/// What a draft's validation found.
#[derive(Debug, Clone)]
pub struct DraftCheck {
    pub valid: bool,
    /// Every problem at its file, line and column; empty when valid.
    pub diagnostics: Vec<Diagnostic>,
    /// The draft's processes with their diagrams (Mermaid); empty when it is not valid.
    pub processes: Vec<DraftProcess>,
}

#[derive(Debug, Clone)]
pub struct DraftProcess {
    pub id: String,
    pub title: String,
    /// The states that ask a caseworker a form, in the definition's order.
    pub forms: Vec<String>,
    /// Former ids of the process (`replaces`).
    pub replaces: Vec<String>,
    /// The state machine as a Mermaid `stateDiagram-v2`.
    pub diagram: String,
}

/// A manual state's form of a draft, as a caseworker would see it.
#[derive(Debug, Clone)]
pub struct DraftForm {
    pub form: crate::form::Form,
    /// What the form shows: the values tried, or its defaults.
    pub values: serde_json::Map<String, Value>,
    /// The messages of the values tried, by field; empty when they pass or none were tried.
    pub errors: FieldErrors,
    /// What the form's expressions saw, for rendering its choices.
    pub scope: crate::expr::Scope,
}

/// A draft against what is deployed ([`Workbench::compare_draft`]).
#[derive(Debug, Clone)]
pub struct DraftComparison {
    pub draft: Draft,
    pub check: DraftCheck,
    /// Per process of the draft: diff, state changes, in-flight instances; empty when the
    /// draft is not valid.
    pub impacts: Vec<DefinitionImpact>,
}

/// What a draft's deploy did ([`Workbench::deploy_draft`]).
#[derive(Debug, Clone)]
pub struct DraftDeploy {
    /// The scenarios it was tried against.
    pub test: DraftTest,
    /// The versions deployed; none when a scenario failed and no reason overrode it.
    pub deployed: Option<Vec<DeployOutcome>>,
}

/// What an admin says with a draft's deploy.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeployRequest<'a> {
    /// Why it is deployed; kept in the audit log.
    pub reason: Option<&'a str>,
    /// Deploy although scenarios fail (needs a reason).
    pub overrides: bool,
}

/// The scenarios a draft is tried against.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tried<'a> {
    /// Scenario files sent with the draft.
    pub sent: &'a [SourceFile],
    /// The packages' own scenario files, with the packages' folder their paths are relative
    /// to (and below which they read what their steps name).
    pub shipped: Option<(&'a [SourceFile], &'a std::path::Path)>,
}

impl Tried<'_> {
    fn shipped_files(&self) -> &[SourceFile] {
        self.shipped.map_or(&[], |(files, _)| files)
    }
}

/// A draft tried against scenarios.
#[derive(Debug, Clone)]
pub struct DraftTest {
    pub check: DraftCheck,
    /// One result per scenario, in the order sent; none when the draft is not valid.
    pub results: Vec<ScenarioResult>,
}

/// The designer's workbench of an engine: drafts saved, checked, compared, tried against
/// scenarios and deployed. Ask the engine for it with [`Engine::workbench`].
#[derive(Clone, Copy)]
pub struct Workbench<'a> {
    engine: &'a Engine,
}

impl Engine {
    /// The designer's workbench: drafts and what is done with them.
    pub fn workbench(&self) -> Workbench<'_> {
        Workbench { engine: self }
    }
}

impl Engine {
    /// Files sent as a draft (or its scenarios) under `field`: at least one, at most `max`,
    /// each with a path (of the name limit) and a text of at most [`MAX_FILE_CHARS`]. One
    /// check for every way a draft comes in.
    fn check_sent(&self, errors: &mut FieldErrors, field: &str, files: &[SourceFile], max: usize) {
        let limits = &self.text_limits();
        if files.is_empty() {
            let code = if field == "scenarios" {
                Code::SCENARIOS_NEEDED
            } else {
                Code::DRAFT_WITHOUT_FILES
            };
            errors.insert(field.to_owned(), Message::new(code));
        } else if files.len() > max {
            errors.insert(
                field.to_owned(),
                Message::new(Code::TOO_MANY_FILES).with("max", max),
            );
        }
        for (i, file) in files.iter().enumerate() {
            let path = format!("{field}.{i}.path");
            if file.path.trim().is_empty() {
                errors.insert(path, Message::new(Code::REQUIRED));
            } else {
                crate::limits::check(errors, &path, &file.path, limits.name);
            }
            let text = format!("{field}.{i}.text");
            crate::limits::check(errors, &text, &file.text, MAX_FILE_CHARS);
        }
    }

    /// A 422 unless every `(field, files, max)` passes [`Engine::check_sent`].
    fn refuse_unless_fit(&self, sent: &[(&str, &[SourceFile], usize)]) -> Result<()> {
        let mut errors = FieldErrors::new();
        for (field, files, max) in sent {
            self.check_sent(&mut errors, field, files, *max);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Invalid(errors))
        }
    }

    fn checked(&self, files: &[SourceFile]) -> (DraftCheck, Vec<String>) {
        check_files(files, self.registry(), &self.catalog().known_ids())
    }
}

/// Validates `files` as one release: references to other processes resolve against these
/// files and `known` (what is deployed, or the package's other files); the draft's process
/// ids beside the check.
pub fn check_files(
    files: &[SourceFile],
    registry: &crate::Registry,
    known: &[String],
) -> (DraftCheck, Vec<String>) {
    match definition::load_set_with(files, registry, known) {
        Ok(defs) => {
            let ids = defs.iter().map(|d| d.id.clone()).collect();
            let processes = defs
                .iter()
                .map(|d| DraftProcess {
                    id: d.id.clone(),
                    title: d.title.clone(),
                    forms: d
                        .states
                        .iter()
                        .filter(|(_, s)| matches!(s.kind, crate::definition::StepKind::Manual(_)))
                        .map(|(id, _)| id.clone())
                        .collect(),
                    replaces: d.replaces.clone(),
                    diagram: d.mermaid(),
                })
                .collect();
            let check = DraftCheck {
                valid: true,
                diagnostics: Vec::new(),
                processes,
            };
            (check, ids)
        }
        Err(diagnostics) => (
            DraftCheck {
                valid: false,
                diagnostics,
                processes: Vec::new(),
            },
            Vec::new(),
        ),
    }
}

impl Workbench<'_> {
    /// Saves the next version of `actor`'s draft of `process_id`, audited (`draft.save`) in
    /// the same transaction. Nothing is validated beyond the limits: a draft may be broken,
    /// that is what drafts are for.
    pub async fn save_draft(
        self,
        process_id: &str,
        files: &[SourceFile],
        note: &str,
        actor: &Actor,
    ) -> Result<Draft> {
        let limits = &self.engine.text_limits();
        let mut errors = FieldErrors::new();
        let id = process_id.trim();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            let shown: String = id.chars().take(60).collect();
            errors.insert(
                "process".into(),
                Message::new(Code::NOT_A_PROCESS_ID).with("value", shown),
            );
        }
        crate::limits::check(&mut errors, "process", id, limits.name);
        crate::limits::check(&mut errors, "note", note, limits.reason);
        self.engine
            .check_sent(&mut errors, "files", files, MAX_DRAFT_FILES);
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }
        let stored = json!(
            files
                .iter()
                .map(|f| json!({ "path": f.path, "text": f.text }))
                .collect::<Vec<_>>()
        )
        .to_string();
        // What is deployed of the draft's processes now (its label's when the draft does not
        // parse): the draft is based on it.
        self.engine.refresh_catalog().await?;
        let (_, mut ids) = self.engine.checked(files);
        if ids.is_empty() {
            ids.push(id.to_owned());
        }
        let catalog = self.engine.catalog();
        let based_on: std::collections::BTreeMap<&str, i32> = ids
            .iter()
            .map(|p| (p.as_str(), catalog.latest(p).map_or(0, |(v, _)| v)))
            .collect();
        let based_on = json!(based_on).to_string();
        let now = self.engine.clock().now();
        let (author, id, note) = (actor.id.clone(), id.to_owned(), note.trim().to_owned());
        let saved = self
            .engine.audit().recorded(
                actor,
                |conn| {
                    Box::pin(async move {
                        let row = store::NewDraftRow {
                            process_id: &id,
                            author: &author,
                            files: &stored,
                            note: &note,
                            based_on: &based_on,
                        };
                        Ok(store::insert_draft(conn, row, now).await?)
                    })
                },
                |saved| {
                    saved.as_ref().map(|row| {
                        AuditRecord::new(AuditAction::DraftSave)
                            .target(row.id)
                            .detail(json!({ "process": row.process_id, "version": row.version, "files": files.len() }))
                    })
                },
            )
            .await?;
        let row = saved.ok_or_else(|| {
            TransitionError::Raced(format!(
                "another version of your draft of `{process_id}` was saved at the same moment; save again"
            ))
        })?;
        Draft::try_from(row)
    }

    /// Drafts, newest first: a designer's own, every author's for an admin; of one process
    /// when given; only those waiting for a deploy when `waiting`.
    pub async fn drafts(
        self,
        process_id: Option<&str>,
        waiting: bool,
        actor: &Actor,
        limit: u64,
    ) -> Result<Vec<Draft>> {
        let filter = store::DraftFilter {
            author: (!actor.sees_all()).then_some(actor.id.as_str()),
            process_id,
            waiting,
        };
        store::drafts(self.engine.db(), filter, limit)
            .await?
            .into_iter()
            .map(Draft::try_from)
            .collect()
    }

    /// One draft: a designer's own (another's is not found), any for an admin.
    pub async fn draft(self, id: i64, actor: &Actor) -> Result<Draft> {
        match store::draft_by_id(self.engine.db(), id).await? {
            Some(row) if actor.sees_all() || row.author == actor.id => Draft::try_from(row),
            _ => Err(EngineError::not_found("draft", id)),
        }
    }

    /// Asks an admin to deploy draft `id` (its author's or an admin's own ask), audited
    /// (`draft.ask_deploy`). A draft that is not valid is a 422, a deployed one a 409.
    pub async fn ask_deploy(self, id: i64, actor: &Actor) -> Result<Draft> {
        let draft = self.draft(id, actor).await?;
        // An admin's list holds only what could be deployed.
        let check = self.check_draft(&draft.files).await?;
        if !check.valid {
            return Err(crate::error::DefinitionError(check.diagnostics).into());
        }
        let now = self.engine.clock().now();
        let asked = self
            .engine.audit().recorded(
                actor,
                |conn| Box::pin(async move { Ok(store::ask_deploy(conn, id, now).await?) }),
                |asked| {
                    asked.then(|| {
                        AuditRecord::new(AuditAction::DraftAskDeploy)
                            .target(id)
                            .detail(json!({ "process": draft.process_id, "version": draft.version, "author": draft.author }))
                    })
                },
            )
            .await?;
        if !asked {
            return Err(TransitionError::Raced(format!("draft {id} is deployed already")).into());
        }
        self.draft(id, actor).await
    }

    /// Draft `id` against what is deployed: its validation and, when valid, for each of its
    /// processes the diff, the states it adds, removes and changes, and the in-flight
    /// instances it meets.
    pub async fn compare_draft(self, id: i64, actor: &Actor) -> Result<DraftComparison> {
        let draft = self.draft(id, actor).await?;
        let check = self.check_draft(&draft.files).await?;
        let impacts = if check.valid {
            self.engine.releases().impact(&draft.files).await?
        } else {
            Vec::new()
        };
        Ok(DraftComparison {
            draft,
            check,
            impacts,
        })
    }

    /// Deploys draft `id` (admins only) after trying it against the scenarios of every
    /// package under `packages` that defines one of its processes (or one they replace),
    /// whatever the draft is labelled: refused (nothing deployed, the results returned) when
    /// a scenario fails, unless `request.overrides` and a reason say why it may go anyway;
    /// refused with a 409 when a process of it was deployed since the draft was saved (the
    /// draft would undo that). The reason, the scenarios' outcome and whether it overrode
    /// failures go into the deploy's audit entry, and the draft is marked deployed in the same
    /// transaction.
    #[tracing::instrument(skip_all, fields(draft = id, actor = %actor.id))]
    pub async fn deploy_draft(
        self,
        id: i64,
        packages: Option<&std::path::Path>,
        request: &DeployRequest<'_>,
        actor: &Actor,
    ) -> Result<DraftDeploy> {
        let DeployRequest { reason, overrides } = *request;
        if actor.role != crate::user::Role::Admin {
            return Err(EngineError::Forbidden(Message::new(Code::ADMINS_DEPLOY)));
        }
        let draft = self.draft(id, actor).await?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let mut errors = FieldErrors::new();
        crate::limits::check(
            &mut errors,
            "reason",
            reason.unwrap_or_default(),
            self.engine.text_limits().reason,
        );
        if overrides && reason.is_none() {
            errors.insert("reason".into(), Message::new(Code::REASON_TO_OVERRIDE));
        }
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }
        if draft.deployed.is_some() {
            return Err(TransitionError::Raced(format!("draft {id} is deployed already")).into());
        }
        self.engine.refresh_catalog().await?;
        let catalog = self.engine.catalog();
        for (process, base) in &draft.based_on {
            let deployed = catalog.latest(process).map_or(0, |(v, _)| v);
            if deployed != *base {
                return Err(TransitionError::DraftOutdated {
                    process: process.clone(),
                    deployed,
                    based_on: *base,
                }
                .into());
            }
        }
        let (check, _) = self.engine.checked(&draft.files);
        if !check.valid {
            return Err(crate::error::DefinitionError(check.diagnostics).into());
        }
        let shipped = match packages {
            Some(root) => {
                let mut ids: Vec<&str> = vec![draft.process_id.as_str()];
                for p in &check.processes {
                    ids.push(&p.id);
                    ids.extend(p.replaces.iter().map(String::as_str));
                }
                crate::files::shipped_scenarios(root, Some(&ids))
                    .map_err(|e| EngineError::from(sea_orm::DbErr::Custom(e)))?
                    .into_iter()
                    .map(|s| s.file)
                    .collect()
            }
            None => Vec::new(),
        };
        let test = match packages.filter(|_| !shipped.is_empty()) {
            Some(root) => {
                let tried = Tried {
                    sent: &[],
                    shipped: Some((&shipped, root)),
                };
                self.test_draft(&draft.files, &tried).await?
            }
            None => DraftTest {
                check,
                results: Vec::new(),
            },
        };
        if !test.check.valid {
            return Err(crate::error::DefinitionError(test.check.diagnostics).into());
        }
        let failed: Vec<&str> = test
            .results
            .iter()
            .filter(|r| r.failure.is_some())
            .map(|r| r.file.as_str())
            .collect();
        if !failed.is_empty() && !overrides {
            return Ok(DraftDeploy {
                test,
                deployed: None,
            });
        }
        let mut detail = serde_json::Map::new();
        detail.insert("draft".into(), json!({ "process": draft.process_id, "author": draft.author, "version": draft.version }));
        detail.insert(
            "scenarios".into(),
            // `ran: 0` says plainly that nothing guarded this deploy.
            json!({ "ran": test.results.len(), "passed": test.results.len() - failed.len(), "failed": failed }),
        );
        if let Some(reason) = reason {
            detail.insert("reason".into(), json!(reason));
        }
        if !failed.is_empty() {
            detail.insert("overrode_failures".into(), json!(true));
        }
        let deployed = self
            .engine
            .deploy_recorded(&draft.files, actor, detail, Some(id))
            .await?;
        Ok(DraftDeploy {
            test,
            deployed: Some(deployed),
        })
    }

    /// The form of manual state `state` of process `process` in the draft `files`, as a
    /// caseworker would see it, with `values` checked when given (the messages by field).
    /// `None` when the draft is not valid or has no such form. Nothing is stored.
    pub async fn draft_form(
        self,
        files: &[SourceFile],
        process: &str,
        state: &str,
        values: Option<&serde_json::Map<String, Value>>,
        actor: &Actor,
    ) -> Result<Option<DraftForm>> {
        self.engine
            .refuse_unless_fit(&[("files", files, MAX_DRAFT_FILES)])?;
        self.engine.refresh_catalog().await?;
        let Ok(defs) = definition::load_set_with(
            files,
            self.engine.registry(),
            &self.engine.catalog().known_ids(),
        ) else {
            return Ok(None);
        };
        let Some(def) = defs.iter().find(|d| d.id == process) else {
            return Ok(None);
        };
        let Ok(form) = crate::runtime::manual_form(def, state) else {
            return Ok(None);
        };
        // No instance and no person: the form's expressions see empty variables and subject,
        // and what every form sees (today, now, reference data).
        let scope = self
            .engine
            .base_scope(def, self.engine.clock().now())
            .with("vars", json!({}))
            .with("subject", json!({}))
            .with("actor", serde_json::to_value(actor).unwrap_or(Value::Null));
        let (shown, errors) = match values {
            Some(values) => {
                match form.validate(
                    values,
                    &scope,
                    self.engine.registry(),
                    self.engine.text_limits(),
                ) {
                    Ok(_) => (values.clone(), FieldErrors::new()),
                    Err(errors) => (values.clone(), errors),
                }
            }
            None => (form.defaults(&scope), FieldErrors::new()),
        };
        Ok(Some(DraftForm {
            form: form.clone(),
            values: shown,
            errors,
            scope,
        }))
    }

    /// Validates `files` as one release would be: references to other processes resolve
    /// against these files and what is deployed.
    pub async fn check_draft(self, files: &[SourceFile]) -> Result<DraftCheck> {
        self.engine
            .refuse_unless_fit(&[("files", files, MAX_DRAFT_FILES)])?;
        self.engine.refresh_catalog().await?;
        Ok(self.engine.checked(files).0)
    }

    /// Runs scenarios against the deployed processes with `files` in place of the versions
    /// they replace, each on its own in-memory database: `tried.sent`, whose steps' files
    /// must be among `files` or the sent scenarios, by path, and `tried.shipped`, the
    /// packages' own (read below their folder).
    pub async fn test_draft(self, files: &[SourceFile], tried: &Tried<'_>) -> Result<DraftTest> {
        let mut errors = FieldErrors::new();
        self.engine
            .check_sent(&mut errors, "files", files, MAX_DRAFT_FILES);
        let shipped = tried.shipped_files();
        if !tried.sent.is_empty() || shipped.is_empty() {
            self.engine
                .check_sent(&mut errors, "scenarios", tried.sent, MAX_DRAFT_SCENARIOS);
        }
        if tried.sent.len() + shipped.len() > MAX_DRAFT_SCENARIOS {
            errors.insert(
                "scenarios".into(),
                Message::new(Code::TOO_MANY_FILES).with("max", MAX_DRAFT_SCENARIOS),
            );
        }
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }
        self.engine.refresh_catalog().await?;
        let (check, ids) = self.engine.checked(files);
        if !check.valid {
            return Ok(DraftTest {
                check,
                results: Vec::new(),
            });
        }
        // The release as it would be: every deployed process, the draft's in place of its own.
        let mut release: Vec<SourceFile> = self
            .engine
            .catalog()
            .latest_all()
            .into_iter()
            .filter(|(_, def)| !ids.contains(&def.id))
            .map(|(version, def)| SourceFile {
                path: format!("deployed/{}.v{version}.yaml", def.id),
                text: def.source.clone(),
            })
            .collect();
        release.extend(files.iter().cloned());
        let sent: Vec<SourceFile> = files.iter().chain(tried.sent).cloned().collect();
        // A try waits for the one before it, but not past what a request may take.
        let _turn = match tokio::time::timeout(TRY_WAIT, TRIES.acquire()).await {
            Ok(turn) => {
                turn.map_err(|e| EngineError::from(sea_orm::DbErr::Custom(e.to_string())))?
            }
            Err(_) => {
                return Err(TransitionError::Raced(
                    "another draft is being tried on this node; try again in a moment".into(),
                )
                .into());
            }
        };
        let started = std::time::Instant::now();
        let mut results = Vec::with_capacity(tried.sent.len() + shipped.len());
        let runs = tried
            .sent
            .iter()
            .map(|f| (f, scenario::Sources::Sent(&sent)))
            .chain(shipped.iter().map(|f| {
                let root = tried
                    .shipped
                    .map(|(_, root)| root)
                    .unwrap_or(std::path::Path::new(""));
                (f, scenario::Sources::Under(root))
            }));
        for (file, sources) in runs {
            let left = TRY_TIME.saturating_sub(started.elapsed());
            let run = scenario::run_in_memory(file, &release, self.engine.registry(), sources);
            let result = match tokio::time::timeout(left.min(SCENARIO_TIME), run).await {
                Ok(result) => result,
                Err(_) => ScenarioResult::not_run(
                    file,
                    "time",
                    if left < SCENARIO_TIME {
                        format!(
                            "not finished: the try's {} s were up; send fewer scenarios at once",
                            TRY_TIME.as_secs()
                        )
                    } else {
                        format!(
                            "stopped after {} s; a scenario that long is doing more than it says",
                            SCENARIO_TIME.as_secs()
                        )
                    },
                ),
            };
            results.push(result);
        }
        Ok(DraftTest { check, results })
    }
}
