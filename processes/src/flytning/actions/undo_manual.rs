//! `flytning.undo_manual`: before the run that would carry it out, the registering
//! municipality may undo a registration for another municipality; nothing moves and that
//! municipality gets no task (R12).

use async_trait::async_trait;
use forlob_engine::{Action, ActionContext, ActionError};
use serde::{Deserialize, Serialize};

use crate::flytning::{rules, store};

pub(crate) struct UndoManual;

#[derive(Deserialize)]
pub(crate) struct Input {}

#[derive(Debug, Serialize)]
pub(crate) struct Output {
    registration: i64,
    /// Always true: a registration that cannot be undone is the action's error.
    undone: bool,
}

#[async_trait]
impl Action for UndoManual {
    type Input = Input;
    type Output = Output;

    fn name(&self) -> &'static str {
        "flytning.undo_manual"
    }

    async fn run(&self, ctx: &ActionContext<'_>, _input: Input) -> Result<Output, ActionError> {
        let registration = store::current_manual(ctx.conn, ctx.subject)
            .await?
            .filter(|r| r.state == "pending")
            .ok_or_else(|| {
                ActionError::permanent("there is no registration waiting for the run to undo")
            })?;
        store::set_manual_state(ctx.conn, registration.id, "undone").await?;
        // What waited for it to come into force ends now, with nothing transferred.
        rules::undone(ctx, registration.id).await?;
        Ok(Output {
            registration: registration.id,
            undone: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_output_names_the_undone_registration() {
        let output = Output {
            registration: 7,
            undone: true,
        };
        assert_eq!(
            serde_json::to_value(output).expect("JSON"),
            json!({ "registration": 7, "undone": true })
        );
    }
}
