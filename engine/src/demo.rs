//! The engine's own small demo: one action and two processes of the move-out shape, used by
//! tests and `forlob bench` so both exercise the engine without any package.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::{Action, ActionContext, ActionError};
use crate::definition::SourceFile;
use crate::registry::Registry;

/// Records which steps ran, as a counter in the instance's variables. Touches no table, so a
/// run of these is a pure measure of the engine's own cost.
pub struct Record;

#[derive(Deserialize)]
pub struct RecordInput {
    step: String,
}

/// The counter and the step that ran last.
#[derive(Debug, Serialize)]
pub struct RecordOutput {
    steps: u64,
    last_step: String,
}

#[async_trait]
impl Action for Record {
    type Input = RecordInput;
    type Output = RecordOutput;

    fn name(&self) -> &'static str {
        "demo.record"
    }

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        input: RecordInput,
    ) -> Result<RecordOutput, ActionError> {
        let steps = ctx.vars.get("steps").and_then(Value::as_u64).unwrap_or(0);
        Ok(RecordOutput {
            steps: steps + 1,
            last_step: input.step,
        })
    }

    fn writes(&self) -> bool {
        false
    }
}

/// Registers the demo action. Not part of [`Registry::new`]: a build that wants the demo
/// (the binary, the bench, tests) says so.
pub fn register(registry: &mut Registry) {
    registry.register_action(Record);
}

/// A registry with only the built-ins and the demo action: what tests of the engine alone
/// run the demo processes with.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    register(&mut registry);
    registry
}

/// The demo definitions, as deployable files.
pub fn definitions() -> Vec<SourceFile> {
    vec![
        SourceFile {
            path: "engine/demo/move-out.yaml".into(),
            text: include_str!("../demo/move-out.yaml").into(),
        },
        SourceFile {
            path: "engine/demo/move-out-human.yaml".into(),
            text: include_str!("../demo/move-out-human.yaml").into(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_record_is_the_counter_and_the_last_step() {
        let output = RecordOutput {
            steps: 2,
            last_step: "review".into(),
        };
        assert_eq!(
            serde_json::to_value(output).expect("JSON"),
            json!({ "steps": 2, "last_step": "review" })
        );
    }
}
