//! The step kinds of the process language, one module each.
//!
//! A kind's module owns all of its life: its validated shape and the check that builds it
//! from YAML (`check`), what entering it does, which events it takes and where they lead,
//! what an instance resting in it holds (and so gives up when it leaves), how a release
//! compares it with another version's state, and how the diagram draws it. [`StepKind`] is
//! the one enum over the kinds and [`StepKind::kind`] the one `match` that dispatches to
//! them, so a new kind is a new module, a variant, and that arm (ARCHITECTURE.md, "How to
//! add a step kind").

mod automatic;
mod call;
mod decision;
mod end;
mod manual;
mod wait;

pub use automatic::{Automatic, RetryPolicy};
pub use call::Call;
pub use decision::Decision;
pub use end::End;
pub use manual::{Manual, TaskSpec};
pub use wait::{Wait, WaitSpec};

use super::transition::{Ctx, Effect, Event};
use crate::error::TransitionError;
use crate::expr::{ExprError, Scope};
use crate::instance::Holding;

/// What a state does. One variant per state kind of the YAML.
#[derive(Debug)]
pub enum StepKind {
    Automatic(Automatic),
    Manual(Manual),
    Decision(Decision),
    Wait(Wait),
    Call(Call),
    End(End),
}

impl StepKind {
    /// The kind's behaviour. The only `match` over kinds that the engine needs.
    pub(crate) fn kind(&self) -> &dyn Kind {
        match self {
            Self::Automatic(k) => k,
            Self::Manual(k) => k,
            Self::Decision(k) => k,
            Self::Wait(k) => k,
            Self::Call(k) => k,
            Self::End(k) => k,
        }
    }

    /// The kind's key in the YAML.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// States this one can lead to, in declaration order.
    pub fn targets(&self) -> Vec<&str> {
        self.kind().targets()
    }

    /// Whether an instance entering this state goes on at once (a decision), so it never
    /// rests here.
    pub fn passes_on(&self) -> bool {
        self.kind().passes_on()
    }

    /// Whether an instance can rest here, waiting for something: every kind but one that
    /// passes on at once and the end.
    pub fn rests(&self) -> bool {
        self.kind().rests()
    }

    /// What an instance resting here holds, and gives up when it leaves. Asked on every
    /// state an instance leaves, so it allocates nothing.
    pub fn holdings(&self) -> &'static [Holding] {
        self.kind().holdings()
    }

    /// How an instance rests here, as a release compares it. A call names its process as the
    /// definition does; the release resolves renamed processes.
    pub fn rest(&self) -> RestKind {
        self.kind().rest()
    }
}

/// What every step kind does. Object safe, so [`StepKind::kind`] can hand out any of them;
/// building one from YAML is each kind's own `check`, since each reads its own YAML shape.
pub(crate) trait Kind: std::fmt::Debug {
    /// The kind's key in the YAML.
    fn name(&self) -> &'static str;

    /// States this one can lead to, in declaration order.
    fn targets(&self) -> Vec<&str>;

    /// See [`StepKind::passes_on`].
    fn passes_on(&self) -> bool {
        false
    }

    /// See [`StepKind::rests`].
    fn rests(&self) -> bool {
        !self.passes_on()
    }

    /// What an instance resting here holds: what entering made and leaving gives up.
    fn holdings(&self) -> &'static [Holding];

    /// How an instance rests here, for a release's comparison of versions.
    fn rest(&self) -> RestKind;

    /// What the diagram writes after the state's id, e.g. `automatic: demo.record`; the
    /// kind's name unless the kind says more.
    fn label(&self) -> String {
        self.name().to_owned()
    }

    /// The diagram's arrows out of the state.
    fn edges(&self) -> Vec<Edge<'_>> {
        self.targets()
            .into_iter()
            .map(|to| Edge {
                to: Some(to),
                guard: None,
            })
            .collect()
    }

    /// The effects of entering the state `id` (after its `set`, `emit` and follow-ups),
    /// with `scope` holding the variables as entering left them. An error undoes the entry.
    fn enter(&self, cx: &mut Ctx<'_>, id: &str, scope: &Scope) -> Result<Vec<Effect>, ExprError>;

    /// Where an instance goes on to at once after entering, without waiting: `None` when it
    /// rests here; `Some(Ok(None))` when no branch matched.
    fn onward(&self, _cx: &Ctx<'_>) -> Option<Result<Option<String>, ExprError>> {
        None
    }

    /// Takes `event` while resting in state `id`; refuses with [`Ctx::not_accepted`] what
    /// the kind does not wait for.
    fn take(&self, cx: &mut Ctx<'_>, id: &str, event: &Event) -> Result<(), TransitionError>;
}

/// An arrow of the diagram: to a state (`None`: out of the machine) with its guard's text.
#[derive(Debug)]
pub(crate) struct Edge<'a> {
    pub to: Option<&'a str>,
    pub guard: Option<String>,
}

/// How an instance rests in a state, down to what it waits for; a release's `move_to` joins
/// only states that rest alike, so what the instance holds (a task, a timer, a subscription
/// under its key, a child of a process, a due step) means the same in the target and is woken
/// the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestKind {
    Automatic,
    Manual,
    Decision,
    Call {
        process: String,
    },
    Timer,
    Message {
        message_type: String,
        key: String,
    },
    Signal {
        name: String,
        key: String,
        deadline: bool,
    },
    End,
}

/// As a plan's refusal names it (the admin's catalogue translates the whole message).
impl std::fmt::Display for RestKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Automatic => f.write_str("an automatic step"),
            Self::Manual => f.write_str("a manual step"),
            Self::Decision => f.write_str("a decision"),
            Self::Call { process } => write!(f, "a call of `{process}`"),
            Self::Timer => f.write_str("a timer wait"),
            Self::Message { message_type, key } => {
                write!(f, "a wait for message `{message_type}` keyed by `{key}`")
            }
            Self::Signal {
                name,
                key,
                deadline,
            } => write!(
                f,
                "a wait for signal `{name}` keyed by `{key}` {} deadline",
                if *deadline { "with a" } else { "without" }
            ),
            Self::End => f.write_str("an end state"),
        }
    }
}
