//! Running due work: timers that fire, async steps, retries. Claimed in batches and committed
//! per batch, each item in a savepoint of its own so one bad item does not undo the others.

use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait as _;

use super::Engine;
use super::execute::Txn;
use super::transition::Event;
use crate::error::{EngineError, Result, TransitionError};
use crate::store::{self, ClaimedWork};

impl Engine {
    /// Runs everything due now; returns how many work items were handled.
    #[tracing::instrument(skip(self))]
    pub async fn run_due(&self) -> Result<usize> {
        let mut handled = 0;
        loop {
            let now = self.clock.now();
            let lease = chrono::Duration::from_std(self.options.lease)
                .unwrap_or(chrono::Duration::minutes(5));
            let claimed = store::claim_due(
                &self.db,
                now,
                now + lease,
                &self.options.node,
                self.options.batch_size,
            )
            .await?;
            if claimed.is_empty() {
                break;
            }
            let conn = self.begin_write().await?;
            let mut released = 0;
            for item in &claimed {
                let savepoint = conn.begin().await?;
                match self.handle_work(&savepoint, item, now).await {
                    Ok(()) => {
                        store::finish(&savepoint, item.id).await?;
                        savepoint.commit().await?;
                    }
                    Err(EngineError::Transition(TransitionError::Conflict { .. })) => {
                        // Someone changed the instance meanwhile; the work stays and is tried again.
                        savepoint.rollback().await?;
                        store::release(&conn, item.id, item.run_at).await?;
                        released += 1;
                    }
                    Err(EngineError::Store(e)) => {
                        savepoint.rollback().await?;
                        return Err(EngineError::Store(e));
                    }
                    Err(e) => {
                        // The work no longer fits the instance (it moved on, or the definition
                        // refuses the event); dropping it is the only way it cannot fire twice.
                        tracing::warn!(work = item.id, instance = %item.instance_id, error = %e, "dropping work that no longer applies");
                        savepoint.rollback().await?;
                        store::finish(&conn, item.id).await?;
                    }
                }
            }
            conn.commit().await?;
            handled += claimed.len() - released;
            if released == claimed.len() {
                break;
            }
        }
        Ok(handled)
    }

    async fn handle_work(
        &self,
        conn: &sea_orm::DatabaseTransaction,
        item: &ClaimedWork,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some((instance, _)) = store::instance(conn, item.instance_id).await? else {
            return Ok(());
        };
        if instance.state != item.state {
            return Ok(());
        }
        let (def, mut row) = self.load_active(conn, item.instance_id).await?;
        let event = match item.kind.as_str() {
            "timer" => Event::TimerFired,
            _ => Event::StepDue {
                attempt: u32::try_from(item.attempts).unwrap_or(1).max(1),
            },
        };
        let mut tx = Txn::new(conn, now);
        self.drive(&mut tx, &def, &mut row, event, None).await?;
        tx.flush().await
    }

    /// Moves a manual clock to `target`, stopping at every due time on the way and running
    /// what falls due there, in time order. Refused on the real clock.
    #[tracing::instrument(skip(self))]
    pub async fn advance_to(&self, target: DateTime<Utc>) -> Result<usize> {
        let manual = self.clock.as_manual().ok_or_else(|| {
            EngineError::Forbidden(
                "the clock can be moved only when running with --clock manual".into(),
            )
        })?;
        let mut handled = self.run_due().await?;
        while let Some(due) = store::next_due_at(&self.db, self.clock.now()).await? {
            if due > target || due <= self.clock.now() {
                break;
            }
            manual.set(due).map_err(EngineError::Forbidden)?;
            handled += self.run_due().await?;
        }
        manual.set(target).map_err(EngineError::Forbidden)?;
        handled += self.run_due().await?;
        Ok(handled)
    }
}
