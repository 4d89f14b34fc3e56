//! What cancelling a move's instance does to the move it planned: the move is cancelled with
//! it, so the daily run neither carries it out nor meets it again every night as a move
//! nobody waits for.

use async_trait::async_trait;
use forlob_engine::{ActionError, CancelContext, CancelHook};
use serde_json::Value;

use super::store;

/// The process whose instances plan moves.
pub(crate) const MOVE_PROCESS: &str = "registrer-fraflytning";

pub(crate) struct CancelMove;

#[async_trait]
impl CancelHook for CancelMove {
    async fn cancelled(&self, ctx: &CancelContext<'_>) -> Result<(), ActionError> {
        let Some(move_id) = ctx.vars.get("move_id").and_then(Value::as_i64) else {
            // Cancelled before its move was planned: nothing to close.
            return Ok(());
        };
        Ok(store::cancel_planned_move(ctx.conn, move_id).await?)
    }
}
