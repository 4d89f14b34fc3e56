//! Running due work: timers that fire, async steps, retries. Claimed in batches and committed
//! per batch, each item in a savepoint of its own so one bad item does not undo the others.

use super::facades::Jobs;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait as _;

use super::Engine;
use super::execute::Txn;
use crate::definition::transition::Event;
use crate::error::{EngineError, Result, TransitionError};
use crate::instance::{IncidentCause, WorkKind};
use crate::store::{self, ClaimedWork};

impl Engine {
    async fn handle_work(
        &self,
        conn: &super::WriteTxn,
        item: &ClaimedWork,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (def, mut row) = match self.load_active(conn, item.instance_id).await {
            Ok(loaded) => loaded,
            // The instance is gone; its work goes with it.
            Err(EngineError::NotFound {
                what: "instance", ..
            }) => return Ok(store::finish(conn, item.id).await?),
            Err(e) => return Err(e),
        };
        if row.state != item.state {
            // The instance left the state this timer or step was for.
            return Ok(store::finish(conn, item.id).await?);
        }
        let event = match item.kind {
            // A signal's deadline gives the subscription up as the wait is left: the signal
            // can no longer wake what moved on.
            WorkKind::Timer => Event::TimerFired,
            WorkKind::Step => Event::StepDue {
                attempt: u32::try_from(item.attempts).unwrap_or(1).max(1),
            },
        };
        let mut tx = Txn::new(conn, now);
        self.drive(&mut tx, &def, &mut row, event, None).await?;
        tx.writes
            .run_after(store::finishing(conn.get_database_backend(), item.id));
        tx.flush().await
    }
}

/// What to do with work whose transition failed.
enum WorkFailure {
    /// Its instance is suspended: keep it, held until the instance is resumed.
    Held,
    /// It no longer applies: drop it.
    Stale,
    /// Someone else changed the instance meanwhile: try again at once.
    Again,
    /// The database or a register is unavailable: try again later.
    Later,
    /// It will fail every time: stop the instance for an admin.
    Incident,
}

impl WorkFailure {
    fn of(error: &EngineError) -> Self {
        match error {
            EngineError::Transition(t) if t.is_suspended() => Self::Held,
            EngineError::Transition(
                TransitionError::NotAccepted { .. } | TransitionError::NotActive { .. },
            ) => Self::Stale,
            EngineError::Transition(TransitionError::Conflict { .. }) => Self::Again,
            // A definition this node has not loaded yet: the refresh at the next run finds it.
            EngineError::NotFound {
                what: "definition", ..
            } => Self::Later,
            e if e.is_transient() => Self::Later,
            _ => Self::Incident,
        }
    }
}

impl Jobs<'_> {
    /// Runs everything due now; returns how many work items were handled.
    #[tracing::instrument(skip(self))]
    pub async fn run_due(self) -> Result<usize> {
        self.engine.refresh_catalog().await?;
        let mut handled = 0;
        loop {
            // Each round seals the audit entries committed since (PostgreSQL), unless another
            // sealer is at it: an entry goes uncovered by the chain for about a tick, also
            // while a long run keeps this loop busy. A failure holds up no due work, but the
            // entries stay uncovered until a seal works.
            if let Err(e) =
                store::audit::seal_pending(&self.engine.db, store::audit::SealTurn::Skip).await
            {
                tracing::error!(error = %e, "sealing the audit log's pending entries failed; they are not covered by the chain until a seal succeeds");
            }
            let now = self.engine.clock.now();
            // Each round, so a firing is on time while a long job keeps this loop busy.
            handled += self.engine.fire_due_schedules(now).await?;
            let lease = chrono::Duration::from_std(self.engine.options.lease)
                .unwrap_or(chrono::Duration::minutes(5));
            // The claim commits on its own, so other nodes skip what this one leases.
            let claimed = {
                let conn = self.engine.begin_write().await?;
                let claimed = store::claim_due(
                    &conn,
                    now,
                    now + lease,
                    &self.engine.options.node,
                    self.engine.options.batch_size,
                )
                .await?;
                self.engine.commit(conn).await?;
                claimed
            };
            if claimed.is_empty() {
                // A run that just ended may let a queued firing of its schedule start; its
                // first steps are then due now too.
                let started = self.engine.start_queued_runs(now).await?;
                if started == 0 {
                    break;
                }
                handled += started;
                continue;
            }
            let conn = self.engine.begin_write().await?;
            let mut done = 0;
            for item in &claimed {
                let savepoint = conn.begin().await?;
                // Handled, it is finished (deleted) with the transition's own writes.
                let outcome = match self.engine.handle_work(&savepoint, item, now).await {
                    Ok(()) => {
                        savepoint.commit().await?;
                        done += 1;
                        continue;
                    }
                    Err(e) => {
                        savepoint.rollback().await?;
                        e
                    }
                };
                match WorkFailure::of(&outcome) {
                    WorkFailure::Held => {
                        // Suspended after this was claimed: it waits for the resume.
                        store::hold_work(&conn, Some(item.id), item.instance_id).await?;
                    }
                    WorkFailure::Stale => {
                        // The instance moved on (or ended): this timer or step no longer
                        // applies, and dropping it is what keeps it from firing late.
                        tracing::info!(work = item.id, instance = %item.instance_id, reason = %outcome, "dropping work that no longer applies");
                        store::finish(&conn, item.id).await?;
                        done += 1;
                    }
                    WorkFailure::Again => {
                        store::release(&conn, item.id, item.run_at).await?;
                    }
                    WorkFailure::Later => {
                        tracing::warn!(work = item.id, instance = %item.instance_id, error = %outcome, "work failed for now; retrying later");
                        store::release(&conn, item.id, now + chrono::Duration::seconds(30)).await?;
                    }
                    WorkFailure::Incident => {
                        tracing::error!(work = item.id, instance = %item.instance_id, error = %outcome, "work failed; incident");
                        store::mark_incident(
                            &conn,
                            item.instance_id,
                            &IncidentCause::Work(item.kind),
                            &outcome.to_string(),
                            now,
                        )
                        .await?;
                        store::finish(&conn, item.id).await?;
                        done += 1;
                    }
                }
            }
            self.engine.commit(conn).await?;
            handled += done;
            if done == 0 {
                // Everything was given back for now; the next tick tries again.
                break;
            }
        }
        Ok(handled)
    }

    /// Moves a manual clock to `target`, stopping at every due time on the way and running
    /// what falls due there, in time order. Refused on the real clock.
    #[tracing::instrument(skip(self))]
    pub async fn advance_to(self, target: DateTime<Utc>) -> Result<usize> {
        let manual = self.engine.clock.as_manual().ok_or_else(|| {
            EngineError::Forbidden(crate::message::Message::new(
                crate::message::Code::CLOCK_NOT_MANUAL,
            ))
        })?;
        let mut handled = self.run_due().await?;
        while let Some(due) = store::next_due_at(&self.engine.db, self.engine.clock.now()).await? {
            if due > target || due <= self.engine.clock.now() {
                break;
            }
            manual
                .set(due)
                .map_err(|e| EngineError::Forbidden(crate::message::Message::Written(e)))?;
            handled += self.run_due().await?;
        }
        manual
            .set(target)
            .map_err(|e| EngineError::Forbidden(crate::message::Message::Written(e)))?;
        handled += self.run_due().await?;
        Ok(handled)
    }
}
