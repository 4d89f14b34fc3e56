//! The validated, immutable process definition the runtime executes.
//!
//! Built only by `load` after every check passed, so the runtime may rely on it: every target
//! exists, every expression compiled, every action is registered. Shared as `Arc`.

use chrono_tz::Tz;
use indexmap::IndexMap;

use super::kinds::{Edge, StepKind};
use crate::expr::{Expr, ExprError, Scope};
pub use crate::schedule::{JobParameter, JobStart, ParameterKind, RUN_VARS};

#[derive(Debug)]
pub struct ProcessDefinition {
    pub id: String,
    /// The version the file asks for, if any; the deployed version is the store's.
    pub version: Option<u32>,
    pub title: String,
    pub replaces: Vec<String>,
    pub subject_kind: String,
    pub timezone: Tz,
    pub manual_start: Option<ManualStart>,
    pub message_start: Option<MessageStart>,
    /// Set for a background job, which the scheduler may start.
    pub job: Option<JobStart>,
    pub initial: String,
    pub states: IndexMap<String, State>,
    /// True when some expression or template reads `subject.*` beyond its id, so the runtime
    /// loads the subject's data only for processes that need it.
    pub reads_subject: bool,
    pub source: String,
    /// SHA-256 of the source, hex; deploy stores a new version only when it changes.
    pub hash: String,
}

#[derive(Debug)]
pub struct ManualStart {
    pub allowed: Option<Expr>,
    pub refusal: Option<String>,
}

#[derive(Debug)]
pub struct MessageStart {
    pub message_type: String,
    pub subject: Expr,
    pub when: Option<Expr>,
    pub vars: Vec<(String, Expr)>,
}

#[derive(Debug)]
pub struct State {
    pub id: String,
    pub title: Option<String>,
    pub kind: StepKind,
    pub set: Vec<(String, Expr)>,
    pub emit: Vec<Emit>,
    pub follow_up: Vec<FollowUp>,
    /// Some expression or template of this state reads `subject.*` beyond its id.
    pub reads_subject: bool,
}

#[derive(Debug)]
pub struct Branch {
    pub when: Option<Expr>,
    pub goto: String,
}

impl Branch {
    /// Where `branches` may lead, in their order.
    pub(crate) fn targets(branches: &[Self]) -> Vec<&str> {
        branches.iter().map(|b| b.goto.as_str()).collect()
    }

    /// The first of `branches` whose condition holds in `scope`.
    pub(crate) fn choose(branches: &[Self], scope: &Scope) -> Result<Option<String>, ExprError> {
        for b in branches {
            match &b.when {
                None => return Ok(Some(b.goto.clone())),
                Some(when) if when.eval_bool(scope)? => return Ok(Some(b.goto.clone())),
                Some(_) => {}
            }
        }
        Ok(None)
    }

    /// The diagram's arrows of `branches`, an unconditional one named `otherwise`.
    pub(crate) fn edges<'a>(branches: &'a [Self], otherwise: &str) -> Vec<Edge<'a>> {
        branches
            .iter()
            .map(|b| Edge {
                to: Some(&b.goto),
                guard: Some(
                    b.when
                        .as_ref()
                        .map_or(otherwise.to_owned(), |w| w.source().replace(':', " ")),
                ),
            })
            .collect()
    }
}

#[derive(Debug)]
pub struct Emit {
    pub kind: String,
    pub when: Option<Expr>,
    pub data: Vec<(String, Expr)>,
}

#[derive(Debug)]
pub struct FollowUp {
    pub process: String,
    pub when: Option<Expr>,
    pub municipality: Expr,
    pub vars: Vec<(String, Expr)>,
}

impl ProcessDefinition {
    pub fn state(&self, id: &str) -> Option<&State> {
        self.states.get(id)
    }

    /// Whether a transition from `state` (empty: a new instance) may read the subject: the state
    /// itself, the states it leads to, and on through decisions, up to the next state that
    /// waits. Loading the subject costs queries, so the runtime asks before it loads.
    pub fn subject_needed(&self, state: &str) -> bool {
        let mut queue: Vec<&str> = vec![if state.is_empty() {
            self.initial.as_str()
        } else {
            state
        }];
        let mut seen = std::collections::HashSet::new();
        let mut first = true;
        while let Some(id) = queue.pop() {
            if !seen.insert(id) {
                continue;
            }
            let Some(s) = self.states.get(id) else {
                continue;
            };
            if s.reads_subject {
                return true;
            }
            // From the state itself every target may be entered; beyond it, only through
            // decisions, which pass on without waiting.
            if first || s.kind.passes_on() {
                queue.extend(s.kind.targets());
            }
            first = false;
        }
        false
    }

    /// Mermaid `stateDiagram-v2` text of the state machine.
    /// The diagram with `current` drawn as the state the instance is in.
    pub fn mermaid_highlighting(&self, current: &str) -> String {
        let mut out = self.mermaid();
        if self.states.contains_key(current) {
            out.push_str("    classDef current fill:#ffe08a,stroke:#a15c00,stroke-width:3px\n");
            out.push_str(&format!("    class {} current\n", mermaid_node(current)));
        }
        out
    }

    pub fn mermaid(&self) -> String {
        let node = mermaid_node;
        let mut out = String::from("stateDiagram-v2\n");
        out.push_str(&format!("    [*] --> {}\n", node(&self.initial)));
        for state in self.states.values() {
            let kind = state.kind.kind();
            let label = format!("{} ({})", state.id, kind.label());
            out.push_str(&format!(
                "    {} : {}\n",
                node(&state.id),
                label.replace(':', " -")
            ));
            for edge in kind.edges() {
                let to = edge.to.map_or_else(|| "[*]".to_owned(), node);
                match edge.guard {
                    Some(guard) => {
                        out.push_str(&format!("    {} --> {to} : {guard}\n", node(&state.id)));
                    }
                    None => out.push_str(&format!("    {} --> {to}\n", node(&state.id))),
                }
            }
        }
        out
    }
}

/// Mermaid ids may not contain `-`; state ids often do.
fn mermaid_node(id: &str) -> String {
    id.replace('-', "_")
}
