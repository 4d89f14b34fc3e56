//! Migrating in-flight instances onto another version (docs/plans/releases.md): previewing a
//! plan, starting it (the item set is fixed in one transaction), and working its items in
//! batches, each instance in a savepoint of its own with its audit entry and its item's
//! outcome. A crash leaves items pending; running the migration again resumes it.

use super::WriteTxn;
use super::facades::Releases;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::Engine;
use super::execute::Txn;
use super::operations::cancel_children;
use crate::audit::{AuditAction, AuditRecord};
use crate::definition::StepKind;
use crate::definition::transition::Event;
use crate::error::{EngineError, Result, TransitionError};
use crate::instance::{Actor, HistoryEntry, InstanceStatus};
use crate::message::{Code, Message};
use crate::release::{self, MappingRequest, MigrationPhase, MigrationPlan, Operation, PlanRequest};
use crate::store::InstanceRow;
use crate::store::releases::{self as rel, ItemOutcome, MigrationItem, MigrationRow};
use crate::store::{self};

/// Instances read per page when previewing or selecting.
const PAGE: u64 = 1000;
/// Passes over items that hit a concurrent change before they are given up as failed.
const CONFLICT_PASSES: usize = 3;

/// What a migration would do to one instance.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewItem {
    pub instance_id: Uuid,
    pub subject: String,
    pub from_process: String,
    pub from_version: i32,
    pub from_state: String,
    pub status: InstanceStatus,
    /// `None`: the plan does not map its state; it stays on its version.
    pub operation: Option<Operation>,
    pub to_state: Option<String>,
    pub tasks_cancelled: Vec<String>,
    pub tasks_kept: Vec<String>,
    pub timers_kept: Vec<DateTime<Utc>>,
    pub timers_dropped: Vec<DateTime<Utc>>,
    /// Instances it called that a restart cancels (a `move_to` keeps them waited for).
    pub children_cancelled: Vec<Uuid>,
}

/// Instances per source state and what becomes of them.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewGroup {
    pub from_process: String,
    pub from_version: i32,
    pub from_state: String,
    pub operation: Option<Operation>,
    pub to_state: Option<String>,
    pub instances: u64,
    pub open_tasks: u64,
    pub timers: u64,
    /// Instances they called and wait for that their restart cancels.
    pub children_cancelled: u64,
}

/// A dry run: what the plan would do, read without writing anything.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationPreview {
    pub plan: MigrationPlan,
    pub groups: Vec<PreviewGroup>,
    pub items: Vec<PreviewItem>,
}

/// Where a migration stands.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationStatus {
    pub migration: MigrationRow,
    /// Items per status: `pending`, `done`, `skipped`, `failed`; after an undo `undone` and
    /// `kept`.
    pub counts: BTreeMap<String, i64>,
    /// Items skipped or failed, with why (the first 100).
    pub problems: Vec<MigrationItem>,
}

impl MigrationStatus {
    pub fn count(&self, status: &str) -> i64 {
        self.counts.get(status).copied().unwrap_or(0)
    }
}

/// "Restart after release": which instances of a process restart in the newest version.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RestartRequest {
    /// The process (or a former id of it).
    pub process: String,
    /// Only instances on this version (default: every older version of the lineage).
    #[serde(default)]
    pub from_version: Option<i32>,
    /// Only instances in these states (default: every state they can rest in).
    #[serde(default)]
    pub states: Vec<String>,
    /// Where restarted instances start again (default: the new version's initial state).
    #[serde(default)]
    pub to_state: Option<String>,
    /// Live timers in states the new version lost may be dropped.
    #[serde(default)]
    pub drop_timers: bool,
    /// The new tasks get due dates from the new version instead of keeping those of the
    /// tasks of the same kind they replace.
    #[serde(default)]
    pub new_due_dates: bool,
    #[serde(default)]
    pub reason: String,
}

/// Progress of a running migration, after each batch.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub handled: u64,
    pub total: u64,
}

impl Engine {
    /// One batch. First all of it in one transaction, its writes flushed together (most of a
    /// migration's cost is per-statement round trips); if anything in it fails, that
    /// transaction is rolled back and the batch is done again item by item, each in a
    /// savepoint of its own, so one failing instance is recorded as failed alone and one that
    /// met a concurrent change stays pending for the next pass (or fails on the last).
    async fn migrate_batch(
        &self,
        migration: &MigrationRow,
        plan: &MigrationPlan,
        def: &std::sync::Arc<crate::definition::ProcessDefinition>,
        batch: &[MigrationItem],
        actor: &Actor,
        last_pass: bool,
    ) -> Result<()> {
        let ids: Vec<Uuid> = batch.iter().map(|i| i.instance_id).collect();
        {
            let conn = self.begin_write().await?;
            match self
                .migrate_batch_at_once(&conn, migration, plan, def, batch, &ids, actor)
                .await
            {
                Ok(true) => return self.commit(conn).await,
                Ok(false) => {
                    conn.rollback().await?;
                    // Abandoned meanwhile: its items are taken, there is nothing to redo.
                    let now = migration_row(&self.db, migration.id).await?;
                    if now.status != MigrationPhase::Running {
                        return Ok(());
                    }
                }
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => {
                    tracing::info!(migration = migration.id, error = %e, "batch goes item by item");
                    conn.rollback().await?;
                }
            }
        }
        let conn = self.begin_write().await?;
        // What changes meanwhile (PostgreSQL) changes the row version, and the item's flush
        // then meets a conflict and is tried again.
        let mut instances = rel::instances_by_id(&conn, &ids).await?;
        let mut holdings = rel::holdings(&conn, &ids).await?;
        for item in batch {
            let savepoint = conn.begin().await?;
            let found = instances.remove(&item.instance_id);
            let held = holdings.remove(&item.instance_id).unwrap_or_default();
            let mut tx = Txn::new(&savepoint, self.clock.now());
            let result = match self
                .migrate_item(&mut tx, migration, plan, def, found, held, actor)
                .await
            {
                Ok(outcome) => match tx.flush().await {
                    Ok(()) => rel::set_item(&savepoint, item.id, "pending", outcome)
                        .await
                        .map_err(EngineError::from),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(true) => savepoint.commit().await?,
                // Another runner of this migration recorded the item first.
                Ok(false) => savepoint.rollback().await?,
                // Only what another try may mend stops the batch (and is retried); any
                // other error, a database one included, is this item's alone.
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => {
                    savepoint.rollback().await?;
                    let conflict =
                        matches!(e, EngineError::Transition(TransitionError::Conflict { .. }));
                    if conflict && !last_pass {
                        continue;
                    }
                    tracing::warn!(migration = migration.id, instance = %item.instance_id, error = %e, "instance not migrated");
                    rel::set_item(
                        &conn,
                        item.id,
                        "pending",
                        ItemOutcome {
                            status: "failed",
                            operation: None,
                            to_state: None,
                            before: None,
                            row_version_after: None,
                            message: Some(if conflict {
                                "the instance kept changing while it was migrated; run the migration again".into()
                            } else {
                                e.to_string()
                            }),
                        },
                    )
                    .await?;
                }
            }
        }
        self.commit(conn).await
    }

    /// The whole batch in `conn` with one flush; `false` when an item was recorded by another
    /// runner first (the caller rolls back and goes item by item).
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; the batch and its ids are passed together"
    )]
    async fn migrate_batch_at_once(
        &self,
        conn: &WriteTxn,
        migration: &MigrationRow,
        plan: &MigrationPlan,
        def: &std::sync::Arc<crate::definition::ProcessDefinition>,
        batch: &[MigrationItem],
        ids: &[Uuid],
        actor: &Actor,
    ) -> Result<bool> {
        let mut instances = rel::instances_by_id(conn, ids).await?;
        let mut holdings = rel::holdings(conn, ids).await?;
        let mut tx = Txn::new(conn, self.clock.now());
        let mut outcomes = Vec::with_capacity(batch.len());
        for item in batch {
            let found = instances.remove(&item.instance_id);
            let held = holdings.remove(&item.instance_id).unwrap_or_default();
            let ran_before = tx.beyond_instance;
            let outcome = self
                .migrate_item(&mut tx, migration, plan, def, found, held, actor)
                .await?;
            outcomes.push((item.id, outcome));
            // What later items' actions may look for (a subscription a signal wakes, an
            // instance an action reads) must be in the database, as it would be item by item:
            // flush whenever an item subscribed or ran an action or started an instance.
            if tx.writes.has_waits() || tx.beyond_instance > ran_before {
                tx.flush_so_far().await?;
            }
        }
        tx.flush().await?;
        for (id, outcome) in outcomes {
            if !rel::set_item(conn, id, "pending", outcome).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Migrates one instance into `tx` (its writes are flushed by the caller) and answers
    /// what to record of its item.
    #[expect(
        clippy::too_many_arguments,
        reason = "two call sites; the batch's reads are passed in"
    )]
    async fn migrate_item<'p>(
        &self,
        tx: &mut Txn<'_>,
        migration: &MigrationRow,
        plan: &'p MigrationPlan,
        def: &std::sync::Arc<crate::definition::ProcessDefinition>,
        found: Option<(crate::instance::ProcessInstance, Option<String>)>,
        held: rel::Holdings,
        actor: &Actor,
    ) -> Result<ItemOutcome<'p>> {
        let (conn, now) = (tx.conn, tx.now);
        let outcome = |status, why: String| ItemOutcome {
            status,
            operation: None,
            to_state: None,
            before: None,
            row_version_after: None,
            message: Some(why),
        };
        let Some((instance, parent_state)) = found else {
            let why = "the instance no longer exists".to_owned();
            return Ok(outcome("skipped", why));
        };
        if !rel::MIGRATABLE.contains(&instance.status) {
            let why = if instance.status == InstanceStatus::Suspended {
                "the instance is suspended; resume it and migrate it then".to_owned()
            } else {
                format!("the instance has ended ({})", instance.status.as_str())
            };
            return Ok(outcome("skipped", why));
        }
        if !plan.covers(&instance.process_id, instance.version) {
            let why = format!(
                "the instance is on {} v{} now",
                instance.process_id, instance.version
            );
            return Ok(outcome("skipped", why));
        }
        let Some(mapping) = plan.states.get(&instance.state) else {
            let why = format!(
                "the instance is in `{}` now, which the plan does not map",
                instance.state
            );
            return Ok(outcome("skipped", why));
        };
        let mut before = json!({
            "process_id": instance.process_id,
            "version": instance.version,
            "state": instance.state,
            "status": instance.status,
            "variables": instance.variables,
            "holdings": held,
        });
        let audit = json!({
            "migration": migration.id,
            "name": migration.name,
            "reason": migration.reason,
            "from": { "process": instance.process_id, "version": instance.version, "state": instance.state },
            "to": { "process": plan.process, "version": plan.to_version, "state": mapping.to },
        });
        let mut row = InstanceRow::stored(instance, parent_state);
        let from_state = row.state.clone();
        let beyond_before = tx.beyond_instance;
        match mapping.operation {
            Operation::MoveTo => {
                rel::carry_over(
                    conn,
                    row.id,
                    &plan.process,
                    plan.to_version,
                    &from_state,
                    &mapping.to,
                )
                .await?;
                tx.writes.history(
                    row.id,
                    HistoryEntry {
                        from_state: Some(from_state),
                        to_state: mapping.to.clone(),
                        trigger: "migrate".into(),
                        actor: Some(actor.id.clone()),
                        data: Some(audit),
                        at: now,
                    },
                );
                row.process_id = plan.process.clone();
                row.version = plan.to_version;
                row.state = mapping.to.clone();
                tx.writes.instance(&row, now);
            }
            Operation::Restart => {
                if row.status == InstanceStatus::Incident {
                    store::resolve_incidents_of(
                        conn,
                        row.id,
                        crate::instance::IncidentStatus::Restarted,
                        now,
                    )
                    .await?;
                }
                rel::drop_holdings(conn, row.id, &held, now).await?;
                if held.children_of(&from_state).next().is_some() {
                    let why = format!(
                        "its parent was restarted by migration {} ({})",
                        migration.id, migration.name
                    );
                    let state = Some(from_state.as_str());
                    tx.beyond_instance +=
                        cancel_children(tx, self, row.id, state, actor, &why).await?;
                }
                row.process_id = plan.process.clone();
                row.version = plan.to_version;
                row.status = InstanceStatus::Active;
                let event = Event::Restarted {
                    to: mapping.to.clone(),
                    audit,
                };
                if !mapping.new_due_dates {
                    tx.kept_due = held
                        .due
                        .iter()
                        .map(|(kind, at)| (row.id, kind.clone(), *at))
                        .collect();
                }
                let driven = self.drive(tx, def, &mut row, event, Some(actor)).await;
                // Not carried to the next item of the batch.
                tx.kept_due.clear();
                driven?;
            }
        }
        before["beyond_instance"] = json!(tx.beyond_instance - beyond_before);
        let row_version_after = row.row_version + 1;
        Ok(ItemOutcome {
            status: "done",
            operation: Some(mapping.operation.as_str()),
            to_state: Some(&mapping.to),
            before: Some(before),
            row_version_after: Some(row_version_after),
            message: None,
        })
    }
}

pub(super) async fn migration_row<C: sea_orm::ConnectionTrait>(
    conn: &C,
    id: i64,
) -> Result<MigrationRow> {
    rel::migration(conn, id)
        .await?
        .ok_or_else(|| EngineError::not_found("migration", id))
}

/// The 409 for a process whose one migration slot another migration (or undo) holds.
pub(super) async fn slot_taken(conn: &DatabaseTransaction, process: &str) -> Result<EngineError> {
    Ok(match rel::running_migration(conn, process).await? {
        Some(holder) => TransitionError::MigrationRunning {
            process: process.to_owned(),
            migration: holder.id,
            phase: holder.status,
        }
        .into(),
        // The holder ended between our attempt and this read (or has not committed yet).
        None => TransitionError::Raced(format!(
            "another migration of `{process}` was just starting or ending; try again"
        ))
        .into(),
    })
}

impl Releases<'_> {
    /// Checks a plan against the deployed versions (also those another node deployed).
    pub async fn resolve_plan(self, request: &PlanRequest) -> Result<MigrationPlan> {
        self.check_plan_texts(&request.name, &request.reason)?;
        self.engine.refresh_catalog().await?;
        release::resolve(request, &self.engine.catalog())
            .map_err(|errors| EngineError::Invalid(release::field_errors(&errors)))
    }

    /// A plan's name and reason against the length limits (422 per field); checked when a
    /// plan is resolved and again when a migration starts, whatever made the plan.
    pub fn check_plan_texts(self, name: &str, reason: &str) -> Result<()> {
        let limits = &self.engine.options.text_limits;
        let mut errors = crate::form::FieldErrors::new();
        crate::limits::check(&mut errors, "name", name, limits.name);
        crate::limits::check(&mut errors, "reason", reason, limits.reason);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Invalid(errors))
        }
    }

    /// The plan of "restart after release": instances in manual states restart at the new
    /// version's `to_state`; instances resting in a state the new version also has, resting
    /// alike, keep it with what they hold (a timer keeps its due time, R19); the others
    /// restart. Checked like any plan, so a live timer is never dropped unasked.
    pub async fn restart_plan(self, request: &RestartRequest) -> Result<MigrationPlan> {
        crate::limits::require_fits(
            "reason",
            &request.reason,
            self.engine.options.text_limits.reason,
        )?;
        self.engine.refresh_catalog().await?;
        let catalog = self.engine.catalog();
        let (newest, target) = catalog
            .latest(&request.process)
            .ok_or_else(|| EngineError::not_found("process", &request.process))?;
        let to_state = request
            .to_state
            .clone()
            .unwrap_or_else(|| target.initial.clone());
        let lineage = catalog.lineage(&target.id);
        // Per state name, whether its instances keep their state: only if in every older
        // version that has it, it is not manual and rests as the new version's does.
        let mut keeps: indexmap::IndexMap<String, bool> = indexmap::IndexMap::new();
        for (version, def) in catalog.all() {
            let older = def.id != target.id || version < newest;
            let asked = request.from_version.is_none_or(|v| v == version);
            if !lineage.contains(&def.id) || !older || !asked {
                continue;
            }
            for state in def.states.values() {
                let rests = state.kind.rests();
                let wanted = request.states.is_empty() || request.states.contains(&state.id);
                if !rests || !wanted {
                    continue;
                }
                let kept = !matches!(state.kind, StepKind::Manual(_))
                    && target
                        .state(&state.id)
                        .is_some_and(|t| release::rests_alike(state, t, &catalog));
                *keeps.entry(state.id.clone()).or_insert(kept) &= kept;
            }
        }
        let states: indexmap::IndexMap<String, MappingRequest> = keeps
            .into_iter()
            .map(|(state, kept)| {
                let mapping = if kept {
                    MappingRequest {
                        move_to: Some(state.clone()),
                        ..MappingRequest::default()
                    }
                } else {
                    MappingRequest {
                        restart: Some(to_state.clone()),
                        drop_timers: request.drop_timers,
                        new_due_dates: request.new_due_dates,
                        ..MappingRequest::default()
                    }
                };
                (state, mapping)
            })
            .collect();
        for asked in &request.states {
            if !states.contains_key(asked) {
                return Err(EngineError::invalid(
                    "states",
                    Message::new(Code::NO_RESTING_STATE)
                        .with("process", &target.id)
                        .with("state", asked),
                ));
            }
        }
        let plan = PlanRequest {
            name: format!("restart {} into v{newest}", target.id),
            process: target.id.clone(),
            to_version: Some(newest),
            from_process: None,
            from_versions: request.from_version.into_iter().collect(),
            reason: request.reason.clone(),
            states,
        };
        release::resolve(&plan, &catalog)
            .map_err(|errors| EngineError::Invalid(release::field_errors(&errors)))
    }

    /// What `plan` would do to each instance it selects, without writing anything.
    pub async fn preview_migration(self, plan: &MigrationPlan) -> Result<MigrationPreview> {
        let mut items = Vec::new();
        let mut groups: BTreeMap<(String, i32, String), PreviewGroup> = BTreeMap::new();
        let mut after = None;
        loop {
            let page = rel::unfinished_instances(&self.engine.db, &plan.from, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            let ids: Vec<Uuid> = page.iter().map(|i| i.id).collect();
            let holdings = rel::holdings(&self.engine.db, &ids).await?;
            for instance in page {
                let held = holdings.get(&instance.id).cloned().unwrap_or_default();
                let mapping = plan.states.get(&instance.state);
                let kinds: Vec<String> = held.tasks.iter().map(|(_, k)| k.clone()).collect();
                let timers: Vec<DateTime<Utc>> = held.timers().collect();
                let keeps = mapping.is_some_and(|m| m.operation == Operation::MoveTo);
                let group = groups
                    .entry((
                        instance.process_id.clone(),
                        instance.version,
                        instance.state.clone(),
                    ))
                    .or_insert_with(|| PreviewGroup {
                        from_process: instance.process_id.clone(),
                        from_version: instance.version,
                        from_state: instance.state.clone(),
                        operation: mapping.map(|m| m.operation),
                        to_state: mapping.map(|m| m.to.clone()),
                        instances: 0,
                        open_tasks: 0,
                        timers: 0,
                        children_cancelled: 0,
                    });
                group.instances += 1;
                group.open_tasks += kinds.len() as u64;
                group.timers += timers.len() as u64;
                let restarts = mapping.is_some_and(|m| m.operation == Operation::Restart);
                let children_cancelled: Vec<Uuid> = if restarts {
                    held.children_of(&instance.state).collect()
                } else {
                    Vec::new()
                };
                group.children_cancelled += children_cancelled.len() as u64;
                let (tasks_kept, tasks_cancelled, timers_kept, timers_dropped) = match mapping {
                    None => (kinds, Vec::new(), timers, Vec::new()),
                    Some(_) if keeps => (kinds, Vec::new(), timers, Vec::new()),
                    Some(_) => (Vec::new(), kinds, Vec::new(), timers),
                };
                items.push(PreviewItem {
                    instance_id: instance.id,
                    subject: instance.subject,
                    from_process: instance.process_id,
                    from_version: instance.version,
                    from_state: instance.state,
                    status: instance.status,
                    operation: mapping.map(|m| m.operation),
                    to_state: mapping.map(|m| m.to.clone()),
                    tasks_cancelled,
                    tasks_kept,
                    timers_kept,
                    timers_dropped,
                    children_cancelled,
                });
            }
        }
        Ok(MigrationPreview {
            plan: plan.clone(),
            groups: groups.into_values().collect(),
            items,
        })
    }

    /// Records a migration and the instances it will move (those in mapped states now), in
    /// one transaction; a 409 when the process has a migration running.
    pub async fn start_migration(self, plan: &MigrationPlan, actor: &Actor) -> Result<i64> {
        self.check_plan_texts(&plan.name, &plan.reason)?;
        self.engine.retrying(|| async {
            let conn = self.engine.begin_write().await?;
            let now = self.engine.clock.now();
            let new = rel::NewMigration {
                name: &plan.name,
                process_id: &plan.process,
                to_version: plan.to_version,
                plan: serde_json::to_value(plan).unwrap_or_default(),
                reason: &plan.reason,
                actor: &actor.id,
                now,
            };
            let Some(id) = rel::insert_migration(&conn, new).await? else {
                return Err(slot_taken(&conn, &plan.process).await?);
            };
            let mut selected = Vec::new();
            let mut after = None;
            loop {
                let page = rel::unfinished_instances(&conn, &plan.from, after, PAGE).await?;
                let Some(last) = page.last() else { break };
                after = Some(last.id);
                selected.extend(
                    page.into_iter()
                        .filter(|i| plan.states.contains_key(&i.state))
                        .map(|i| (i.id, i.process_id, i.version, i.state)),
                );
            }
            rel::insert_items(&conn, id, &selected).await?;
            let record = AuditRecord::new(AuditAction::MigrationStart)
                .target(id)
                .detail(json!({
                    "name": plan.name,
                    "process": plan.process,
                    "to_version": plan.to_version,
                    "instances": selected.len(),
                    "reason": plan.reason,
                }));
            self.engine.commit_recorded(conn, actor, record).await?;
            tracing::info!(migration = id, process = %plan.process, instances = selected.len(), "migration started");
            Ok(id)
        })
        .await
    }

    /// Works the pending items of migration `id` in batches until none is left, then marks
    /// it finished. Resumes a migration a crash interrupted; one in any other phase than
    /// running is left as it is.
    pub async fn run_migration(
        self,
        id: i64,
        actor: &Actor,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<MigrationStatus> {
        let row = migration_row(&self.engine.db, id).await?;
        if row.status == MigrationPhase::Running {
            let plan: MigrationPlan = serde_json::from_value(row.plan.clone())
                .map_err(|e| EngineError::not_found("migration plan", format!("{id} ({e})")))?;
            let def = self
                .engine
                .definition_version(&plan.process, plan.to_version)
                .await?
                .ok_or_else(|| {
                    EngineError::not_found(
                        "definition",
                        format!("{} v{}", plan.process, plan.to_version),
                    )
                })?;
            let total = u64::try_from(row.total).unwrap_or(0);
            // A resumed migration starts from what is done already.
            let pending = rel::item_counts(&self.engine.db, id)
                .await?
                .get("pending")
                .copied();
            let mut handled =
                total.saturating_sub(u64::try_from(pending.unwrap_or(0)).unwrap_or(0));
            for pass in 1..=CONFLICT_PASSES {
                let mut after = 0;
                loop {
                    let batch = rel::items_with_status(
                        &self.engine.db,
                        id,
                        "pending",
                        after,
                        self.engine.options.migration_batch,
                    )
                    .await?;
                    let Some(last) = batch.last() else { break };
                    after = last.id;
                    let last_pass = pass == CONFLICT_PASSES;
                    self.engine
                        .retrying(|| {
                            self.engine
                                .migrate_batch(&row, &plan, &def, &batch, actor, last_pass)
                        })
                        .await?;
                    // Counted here, not read back: a count over the items after every
                    // batch made a 100,000-instance migration quadratic. An item left pending
                    // by a conflict is counted once more on the next pass; the bar is capped.
                    handled = (handled + batch.len() as u64).min(total);
                    progress(Progress { handled, total });
                }
                if rel::items_with_status(&self.engine.db, id, "pending", 0, 1)
                    .await?
                    .is_empty()
                {
                    break;
                }
            }
            let conn = self.engine.begin_write().await?;
            // Not if an admin abandoned it meanwhile: it stays abandoned.
            let finished = rel::end_migration(
                &conn,
                id,
                MigrationPhase::Running,
                MigrationPhase::Finished,
                self.engine.clock.now(),
            )
            .await?;
            self.engine.commit(conn).await?;
            if finished {
                tracing::info!(migration = id, "migration finished");
            }
        }
        self.migration_status(id).await
    }

    pub async fn migration_status(self, id: i64) -> Result<MigrationStatus> {
        let migration = migration_row(&self.engine.db, id).await?;
        Ok(MigrationStatus {
            counts: rel::item_counts(&self.engine.db, id).await?,
            problems: rel::unsuccessful_items(&self.engine.db, id, 100).await?,
            migration,
        })
    }

    /// The newest `limit` migrations with their counts, read in one query; the items that did
    /// not go through are read only for the migrations that have some.
    pub async fn migrations(self, limit: u64) -> Result<Vec<MigrationStatus>> {
        let rows = rel::migrations(&self.engine.db, limit).await?;
        let ids: Vec<i64> = rows.iter().map(|m| m.id).collect();
        let mut counts = rel::items_counts(&self.engine.db, &ids).await?;
        let mut listed = Vec::with_capacity(rows.len());
        for migration in rows {
            let counts = counts.remove(&migration.id).unwrap_or_default();
            let troubled = ["skipped", "failed", "kept"]
                .iter()
                .any(|s| counts.get(*s).copied().unwrap_or(0) > 0);
            let problems = if troubled {
                rel::unsuccessful_items(&self.engine.db, migration.id, 100).await?
            } else {
                Vec::new()
            };
            listed.push(MigrationStatus {
                migration,
                counts,
                problems,
            });
        }
        Ok(listed)
    }

    /// Resolves, starts and runs a plan: what the CLI and the API call.
    pub async fn migrate(
        self,
        plan: &MigrationPlan,
        actor: &Actor,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<MigrationStatus> {
        let id = self.start_migration(plan, actor).await?;
        self.run_migration(id, actor, progress).await
    }

    /// Works migration `id` on from where it is: its items if it is running, its undo if it
    /// is being undone; any other phase is left as it is. What a resume after a crash, the
    /// CLI's `--resume` and the server's background work call.
    pub async fn continue_migration(
        self,
        id: i64,
        actor: &Actor,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<MigrationStatus> {
        if migration_row(&self.engine.db, id).await?.status == MigrationPhase::Undoing {
            self.run_undo(id, actor, progress).await
        } else {
            self.run_migration(id, actor, progress).await
        }
    }

    /// Runs every migration (and undo) a crash left running (a node's start-up).
    pub async fn resume_migrations(self) -> Result<Vec<MigrationStatus>> {
        let mut resumed = Vec::new();
        for row in rel::running_migrations(&self.engine.db).await? {
            tracing::info!(migration = row.id, "resuming migration");
            let actor = Actor {
                id: row.actor.clone(),
                municipality: None,
                role: crate::user::Role::Admin.into(),
                via: crate::instance::Via::System,
            };
            resumed.push(self.continue_migration(row.id, &actor, &|_| {}).await?);
        }
        Ok(resumed)
    }
}
