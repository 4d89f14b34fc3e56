//! The validated, immutable process definition the runtime executes.
//!
//! Built only by `load` after every check passed, so the runtime may rely on it: every target
//! exists, every expression compiled, every action is registered. Shared as `Arc`.

use chrono::NaiveTime;
use chrono_tz::Tz;
use indexmap::IndexMap;
use serde_json::Value;

use crate::expr::Expr;
use crate::form::Form;
use crate::timer::IsoDuration;

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

/// Variables every job run gets from its start (`run_date` is the firing's date in the
/// schedule's zone); no parameter may take these names.
pub const RUN_VARS: &[&str] = &["run_date", "fired_at"];

/// How a background job is started: its typed parameters and its ordering with other jobs.
#[derive(Debug)]
pub struct JobStart {
    pub parameters: IndexMap<String, JobParameter>,
    pub finish_before: Vec<String>,
    pub confirm: Option<String>,
    /// Installed when the job's first version is deployed; checked with the definition.
    pub default_schedule: Option<crate::schedule::ScheduleRequest>,
}

impl JobStart {
    /// Parameters as typed at a command line or in a web form, each read by its declared
    /// kind; empty ones are left out (the defaults apply) and undeclared ones stay text, for
    /// the schedule's check to name.
    pub fn read_parameters<'t>(
        &self,
        pairs: impl IntoIterator<Item = (&'t str, &'t str)>,
    ) -> serde_json::Map<String, Value> {
        pairs
            .into_iter()
            .filter(|(_, text)| !text.trim().is_empty())
            .map(|(name, text)| {
                let value = self.parameters.get(name).map_or_else(
                    || Value::String(text.to_owned()),
                    |p| p.kind.from_text(text),
                );
                (name.to_owned(), value)
            })
            .collect()
    }
}

#[derive(Debug)]
pub struct JobParameter {
    pub kind: ParameterKind,
    pub label: Option<String>,
    pub default: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterKind {
    String,
    Integer,
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// One of these (a list in the definition, or a package's reference data: `ref.NAME`).
    Choice(Vec<crate::form::Choice>),
}

impl ParameterKind {
    /// A value typed at a command line or in a web form, as this kind reads it; text that
    /// does not fit stays text, for [`ParameterKind::check`] to name what is wrong.
    pub fn from_text(&self, text: &str) -> Value {
        let text = text.trim();
        match self {
            Self::Integer => text
                .parse::<i64>()
                .map_or_else(|_| text.into(), Value::from),
            Self::Boolean => match text {
                "true" | "on" | "yes" => Value::Bool(true),
                "false" | "off" | "no" => Value::Bool(false),
                _ => text.into(),
            },
            _ => text.into(),
        }
    }

    /// The value as a run gets it, or what is wrong with it.
    pub fn check(&self, value: &Value) -> Result<Value, crate::message::Message> {
        use crate::message::{Code, Message};
        let fits = match (self, value) {
            (Self::String, Value::String(_)) | (Self::Boolean, Value::Bool(_)) => true,
            (Self::Integer, Value::Number(n)) => n.is_i64(),
            (Self::Date, Value::String(s)) => s.parse::<chrono::NaiveDate>().is_ok(),
            (Self::Choice(options), Value::String(s)) => options.iter().any(|o| &o.value == s),
            _ => false,
        };
        if fits {
            Ok(value.clone())
        } else {
            Err(match self {
                Self::String => Message::new(Code::NOT_TEXT),
                Self::Integer => Message::new(Code::NOT_WHOLE_NUMBER),
                Self::Boolean => Message::new(Code::NOT_BOOLEAN),
                Self::Date => Message::new(Code::NOT_DATE).with("value", shown(value)),
                Self::Choice(options) => {
                    let labels: Vec<&str> = options.iter().map(|o| o.label.as_str()).collect();
                    Message::new(Code::NOT_CHOICE)
                        .with("value", shown(value))
                        .with("allowed", crate::message::listing(&labels))
                }
            })
        }
    }
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

impl State {
    /// What an instance resting here holds, and gives up when it leaves. Asked on every
    /// state an instance leaves, so it allocates nothing.
    pub fn holdings(&self) -> &'static [crate::instance::Holding] {
        use crate::instance::{Holding, WorkKind};
        match &self.kind {
            StepKind::Automatic { .. } => &[Holding::Work(WorkKind::Step)],
            StepKind::Manual { .. } => &[Holding::Task],
            StepKind::Wait { wait, .. } => match wait {
                WaitSpec::After(_) | WaitSpec::Until { .. } => &[Holding::Work(WorkKind::Timer)],
                WaitSpec::Message { .. } => &[Holding::Subscription],
                WaitSpec::Signal { deadline: None, .. } => &[Holding::Subscription],
                WaitSpec::Signal {
                    deadline: Some(_), ..
                } => &[Holding::Subscription, Holding::Work(WorkKind::Timer)],
            },
            StepKind::Decision { .. } | StepKind::Call { .. } | StepKind::End => &[],
        }
    }
}

/// What a state does. One variant per state kind of the YAML.
#[derive(Debug)]
pub enum StepKind {
    Automatic {
        action: String,
        input: Vec<(String, Expr)>,
        retry: RetryPolicy,
        run_async: bool,
        next: String,
    },
    Manual {
        task: TaskSpec,
        form: Form,
        on_submit: Vec<Branch>,
    },
    Decision {
        branches: Vec<Branch>,
    },
    Wait {
        wait: WaitSpec,
        next: String,
    },
    Call {
        process: String,
        subject: Option<Expr>,
        vars: Vec<(String, Expr)>,
        next: String,
    },
    End,
}

impl StepKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Automatic { .. } => "automatic",
            Self::Manual { .. } => "manual",
            Self::Decision { .. } => "decision",
            Self::Wait { .. } => "wait",
            Self::Call { .. } => "call",
            Self::End => "end",
        }
    }

    /// States this one can lead to, in declaration order.
    pub fn targets(&self) -> Vec<&str> {
        match self {
            Self::Automatic { next, .. } | Self::Wait { next, .. } | Self::Call { next, .. } => {
                vec![next]
            }
            Self::Manual { on_submit, .. } => on_submit.iter().map(|b| b.goto.as_str()).collect(),
            Self::Decision { branches } => branches.iter().map(|b| b.goto.as_str()).collect(),
            Self::End => Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 means no retry.
    pub max_attempts: u32,
    pub backoff: IsoDuration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: IsoDuration {
                millis: 10_000,
                ..IsoDuration::default()
            },
        }
    }
}

#[derive(Debug)]
pub struct TaskSpec {
    /// Handlebars source of the title.
    pub title: String,
    pub kind: String,
    pub assign: Option<Expr>,
    /// See `other_municipality` of the YAML's `assign`.
    pub assign_elsewhere: bool,
    pub due: Option<IsoDuration>,
}

#[derive(Debug)]
pub struct Branch {
    pub when: Option<Expr>,
    pub goto: String,
}

#[derive(Debug)]
pub enum WaitSpec {
    After(IsoDuration),
    Until {
        until: Expr,
        at: NaiveTime,
        zone: Tz,
    },
    Message {
        message_type: String,
        correlate: Expr,
        key: Expr,
    },
    /// Woken by an action's signal `name` carrying the instance's `key`, or by the deadline
    /// (an `After` or `Until`), whichever comes first.
    Signal {
        name: String,
        key: Expr,
        deadline: Option<Box<WaitSpec>>,
    },
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
            if first || matches!(s.kind, StepKind::Decision { .. }) {
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
            let label = match &state.kind {
                StepKind::Automatic { action, .. } => format!("{} (automatic: {action})", state.id),
                StepKind::Manual { task, .. } => format!("{} (manual: {})", state.id, task.kind),
                StepKind::Wait {
                    wait: WaitSpec::Message { message_type, .. },
                    ..
                } => {
                    format!("{} (wait for {message_type})", state.id)
                }
                StepKind::Wait {
                    wait: WaitSpec::Signal { name, .. },
                    ..
                } => format!("{} (wait for signal {name})", state.id),
                StepKind::Wait {
                    wait: WaitSpec::After(_) | WaitSpec::Until { .. },
                    ..
                } => format!("{} (timer)", state.id),
                // Named by kind, so the compiler lists a new kind here.
                StepKind::Decision { .. } | StepKind::Call { .. } | StepKind::End => {
                    format!("{} ({})", state.id, state.kind.name())
                }
            };
            out.push_str(&format!(
                "    {} : {}\n",
                node(&state.id),
                label.replace(':', " -")
            ));
            match &state.kind {
                StepKind::Decision { branches } => {
                    for b in branches {
                        let guard = b
                            .when
                            .as_ref()
                            .map_or("otherwise".to_owned(), |w| w.source().replace(':', " "));
                        out.push_str(&format!(
                            "    {} --> {} : {}\n",
                            node(&state.id),
                            node(&b.goto),
                            guard
                        ));
                    }
                }
                StepKind::Manual { on_submit, .. } => {
                    for b in on_submit {
                        let guard = b
                            .when
                            .as_ref()
                            .map_or("submit".to_owned(), |w| w.source().replace(':', " "));
                        out.push_str(&format!(
                            "    {} --> {} : {}\n",
                            node(&state.id),
                            node(&b.goto),
                            guard
                        ));
                    }
                }
                StepKind::End => out.push_str(&format!("    {} --> [*]\n", node(&state.id))),
                StepKind::Automatic { .. } | StepKind::Wait { .. } | StepKind::Call { .. } => {
                    for t in state.kind.targets() {
                        out.push_str(&format!("    {} --> {}\n", node(&state.id), node(t)));
                    }
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

/// A submitted value as a message quotes it: text without its JSON quotes.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
