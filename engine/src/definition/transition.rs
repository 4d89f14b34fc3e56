//! The pure transition function: `(definition, snapshot, event) -> Transition`.
//!
//! No I/O and no clock reads: everything it needs is in the [`Snapshot`], everything it wants
//! done comes back as [`Effect`]s, which the executor applies in the same transaction. States
//! that need no outside work (decisions, `set`, `emit`, end) are passed through here in one
//! call; the function stops at the first state that waits for something (an action result, a
//! person, a timer, a message, a child) and says so with an effect.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::definition::{ProcessDefinition, State};
use crate::error::TransitionError;
use crate::expr::{ExprError, Scope, eval_object};
use crate::instance::{Actor, Holding, IncidentCause, InstanceStatus, WorkKind};

/// What happened to an instance.
#[derive(Debug, Clone)]
pub enum Event {
    /// A new instance enters its initial state.
    Start,
    /// An async step or a retry came due; run attempt `attempt`.
    StepDue {
        attempt: u32,
    },
    ActionCompleted {
        output: Value,
    },
    ActionFailed {
        error: String,
        retryable: bool,
        attempt: u32,
    },
    /// A person submitted the validated form of the current manual state.
    Submitted {
        form: Map<String, Value>,
        actor: Actor,
    },
    TimerFired,
    MessageReceived {
        msg: Value,
    },
    /// An action signalled the signal the current wait state waits for, with its key.
    Signalled {
        data: Value,
    },
    ChildCompleted,
    /// An admin moves the instance to `to` (skipping a failed step, say), whatever it waits for.
    Moved {
        to: String,
    },
    /// A migration restarts the instance in `to` of the version it is now on; `audit` is the
    /// history entry's data (which migration, why, from where).
    Restarted {
        to: String,
        audit: Value,
    },
}

impl Event {
    pub fn trigger(&self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::StepDue { .. } => "step",
            Self::ActionCompleted { .. } => "action",
            Self::ActionFailed { .. } => "action-failed",
            Self::Submitted { .. } => "submit",
            Self::TimerFired => "timer",
            Self::MessageReceived { .. } => "message",
            Self::Signalled { .. } => "signal",
            Self::ChildCompleted => "child",
            Self::Moved { .. } => "skip",
            Self::Restarted { .. } => "restart",
        }
    }
}

/// The instance as the transition sees it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Empty for a new instance.
    pub state: String,
    pub vars: Map<String, Value>,
    /// `subject.*`: at least `{"id": ...}`.
    pub subject: std::sync::Arc<Value>,
    pub now: DateTime<Utc>,
    pub references: std::sync::Arc<Value>,
}

/// What the event itself used up of what the state held, so leaving need not give it up
/// again: the entry point that took the event closed or deleted it already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consumed {
    Nothing,
    One(Holding),
    /// A migration took what the instance held (and keeps it for an undo).
    Everything,
}

impl Consumed {
    fn by(event: &Event) -> Self {
        match event {
            // The command completed the task with its claim check.
            Event::Submitted { .. } => Self::One(Holding::Task),
            // The worker deletes the work item it ran in the same transaction.
            Event::TimerFired => Self::One(Holding::Work(WorkKind::Timer)),
            Event::StepDue { .. } | Event::ActionCompleted { .. } | Event::ActionFailed { .. } => {
                Self::One(Holding::Work(WorkKind::Step))
            }
            Event::Restarted { .. } => Self::Everything,
            Event::Start
            | Event::MessageReceived { .. }
            | Event::Signalled { .. }
            | Event::ChildCompleted
            | Event::Moved { .. } => Self::Nothing,
        }
    }

    fn covers(self, holding: Holding) -> bool {
        match self {
            Self::Nothing => false,
            Self::One(h) => h == holding,
            Self::Everything => true,
        }
    }
}

/// Something to do in the transaction of the transition.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// The instance left `state`: give up what it held there (close its task as cancelled,
    /// delete its due work or its subscription). Comes before the effects of the states
    /// entered after it.
    Release {
        state: String,
        holding: Holding,
    },
    RunAction {
        state: String,
        action: String,
        input: Value,
        attempt: u32,
    },
    /// Run the state's action later on the worker pool (async step or retry).
    ScheduleStep {
        state: String,
        at: DateTime<Utc>,
        attempt: u32,
    },
    CreateTask {
        state: String,
        kind: String,
        title_template: String,
        municipality: Option<String>,
        due_at: Option<DateTime<Utc>>,
    },
    ScheduleTimer {
        state: String,
        at: DateTime<Utc>,
    },
    Subscribe {
        state: String,
        message_type: String,
        key: String,
    },
    Emit {
        kind: String,
        data: Value,
    },
    StartFollowUp {
        /// The state that declared the follow-up.
        state: String,
        process: String,
        municipality: String,
        vars: Map<String, Value>,
    },
    StartChild {
        state: String,
        process: String,
        subject: String,
        vars: Map<String, Value>,
    },
    Incident {
        state: String,
        cause: IncidentCause,
        error: String,
        attempts: u32,
    },
    /// The instance reached an end state.
    Complete,
}

/// One state change, for the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    pub from: Option<String>,
    pub to: String,
    pub trigger: &'static str,
}

#[derive(Debug, Clone)]
pub struct Transition {
    pub state: String,
    pub vars: Map<String, Value>,
    pub status: InstanceStatus,
    pub moves: Vec<Move>,
    pub effects: Vec<Effect>,
}

/// A runaway loop of decisions without a waiting state: a definition bug, stopped here.
const MAX_STATES_PER_TRANSITION: usize = 1000;

pub fn apply(
    def: &ProcessDefinition,
    snapshot: &Snapshot,
    event: Event,
) -> Result<Transition, TransitionError> {
    let mut t = Transition {
        state: snapshot.state.clone(),
        vars: snapshot.vars.clone(),
        status: InstanceStatus::Active,
        moves: Vec::new(),
        effects: Vec::new(),
    };
    let mut ctx = Ctx {
        def,
        snapshot,
        t: &mut t,
        consumed: Consumed::by(&event),
    };
    ctx.handle(event)?;
    Ok(t)
}

/// The transition under way, as the step kinds see it (`definition::kinds`).
pub(crate) struct Ctx<'a> {
    def: &'a ProcessDefinition,
    snapshot: &'a Snapshot,
    t: &'a mut Transition,
    consumed: Consumed,
}

impl Ctx<'_> {
    /// The event's time.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.snapshot.now
    }

    /// The definition's zone, for durations in days and local dates.
    pub(crate) fn timezone(&self) -> chrono_tz::Tz {
        self.def.timezone
    }

    pub(crate) fn subject(&self) -> &Value {
        &self.snapshot.subject
    }

    /// The instance's variables as the transition leaves them.
    pub(crate) fn vars(&mut self) -> &mut Map<String, Value> {
        &mut self.t.vars
    }

    pub(crate) fn push(&mut self, effect: Effect) {
        self.t.effects.push(effect);
    }

    /// What expressions see: `vars`, `subject`, `today`, `now`, `ref`.
    pub(crate) fn scope(&self) -> Scope {
        let local_now = self.snapshot.now.with_timezone(&self.def.timezone);
        Scope::new()
            .with("vars", Value::Object(self.t.vars.clone()))
            .with("subject", self.snapshot.subject.clone())
            .with(
                "today",
                Value::String(local_now.format("%Y-%m-%d").to_string()),
            )
            .with("now", Value::String(self.snapshot.now.to_rfc3339()))
            .with("ref", self.snapshot.references.clone())
    }

    pub(crate) fn not_accepted(&self, event: &Event) -> TransitionError {
        TransitionError::NotAccepted {
            process: self.def.id.clone(),
            state: self.t.state.clone(),
            event: event.trigger().to_owned(),
        }
    }

    fn handle(&mut self, event: Event) -> Result<(), TransitionError> {
        if matches!(event, Event::Start) {
            if !self.t.state.is_empty() {
                return Err(self.not_accepted(&event));
            }
            let initial = self.def.initial.clone();
            return self.go(initial, event.trigger());
        }
        if let Event::Moved { to } | Event::Restarted { to, .. } = &event {
            return self.go(to.clone(), event.trigger());
        }
        let def = self.def;
        let Some(state) = def.state(&self.t.state) else {
            return Err(self.not_accepted(&event));
        };
        state.kind.kind().take(self, &state.id, &event)
    }

    /// Goes to the chosen branch, or records why none could be chosen.
    pub(crate) fn follow(
        &mut self,
        target: Result<Option<String>, ExprError>,
        trigger: &'static str,
    ) -> Result<(), TransitionError> {
        match target {
            Ok(Some(to)) => self.go(to, trigger),
            Ok(None) => {
                let state = self.t.state.clone();
                self.incident(
                    IncidentCause::Definition,
                    &format!("no branch of state `{state}` matched"),
                    1,
                );
                Ok(())
            }
            Err(e) => {
                self.incident(IncidentCause::Definition, &e.to_string(), 1);
                Ok(())
            }
        }
    }

    /// Gives up what `left` held, but for what the event used up. Only the state the
    /// instance rested in can hold anything: the states passed through in one transition
    /// (decisions) hold nothing, and the effects of one entered and left here are still data.
    fn release(&mut self, left: &State) {
        for &holding in left.kind.holdings() {
            if !self.consumed.covers(holding) {
                self.t.effects.push(Effect::Release {
                    state: left.id.clone(),
                    holding,
                });
            }
        }
        // Only the first state left rested on what the event used up.
        self.consumed = Consumed::Nothing;
    }

    pub(crate) fn incident(&mut self, cause: IncidentCause, error: &str, attempts: u32) {
        self.t.status = InstanceStatus::Incident;
        self.t.effects.push(Effect::Incident {
            state: self.t.state.clone(),
            cause,
            error: error.to_owned(),
            attempts,
        });
    }

    /// Enters `to` and keeps going through states that need nothing from outside.
    pub(crate) fn go(
        &mut self,
        mut to: String,
        mut trigger: &'static str,
    ) -> Result<(), TransitionError> {
        for _ in 0..MAX_STATES_PER_TRANSITION {
            let from = (!self.t.state.is_empty()).then(|| self.t.state.clone());
            if let Some(left) = from.as_deref().and_then(|id| self.def.state(id)) {
                self.release(left);
            }
            self.t.moves.push(Move {
                from,
                to: to.clone(),
                trigger,
            });
            self.t.state = to.clone();
            let def = self.def;
            let Some(state) = def.state(&to) else {
                return Err(TransitionError::UnknownState {
                    process: def.id.clone(),
                    state: to,
                });
            };
            if let Err(e) = self.enter(state) {
                self.incident(IncidentCause::Definition, &e.to_string(), 1);
                return Ok(());
            }
            match state.kind.kind().onward(self) {
                None => return Ok(()),
                Some(Ok(Some(next))) => {
                    to = next;
                    trigger = "decision";
                }
                Some(other) => return self.follow(other, "decision"),
            }
        }
        self.incident(
            IncidentCause::Definition,
            "more than 1000 states entered without waiting: a loop of decisions?",
            1,
        );
        Ok(())
    }

    /// Runs a state's entry work and the effect of its kind. All or nothing: when an
    /// expression fails, no event, follow-up or variable of the state is kept.
    fn enter(&mut self, state: &State) -> Result<(), ExprError> {
        let saved = self.t.vars.clone();
        match self.entry_effects(state) {
            Ok(effects) => {
                if effects.contains(&Effect::Complete) {
                    self.t.status = InstanceStatus::Completed;
                }
                self.t.effects.extend(effects);
                Ok(())
            }
            Err(e) => {
                self.t.vars = saved;
                Err(e)
            }
        }
    }

    fn entry_effects(&mut self, state: &State) -> Result<Vec<Effect>, ExprError> {
        let mut effects = Vec::new();
        for (name, expr) in &state.set {
            let value = expr.eval(&self.scope())?;
            self.t.vars.insert(name.clone(), value);
        }
        let scope = self.scope();
        for emit in &state.emit {
            if let Some(when) = &emit.when
                && !when.eval_bool(&scope)?
            {
                continue;
            }
            let data = eval_object(&emit.data, &scope)?;
            effects.push(Effect::Emit {
                kind: emit.kind.clone(),
                data: Value::Object(data),
            });
        }
        for f in &state.follow_up {
            if let Some(when) = &f.when
                && !when.eval_bool(&scope)?
            {
                continue;
            }
            effects.push(Effect::StartFollowUp {
                state: state.id.clone(),
                process: f.process.clone(),
                municipality: f.municipality.eval_string(&scope)?,
                vars: eval_object(&f.vars, &scope)?,
            });
        }
        effects.extend(state.kind.kind().enter(self, &state.id, &scope)?);
        Ok(effects)
    }
}

#[cfg(test)]
impl Effect {
    /// What an instance holds once this effect is written (the tests' model of the store).
    fn makes(&self) -> Option<Holding> {
        match self {
            Self::CreateTask { .. } => Some(Holding::Task),
            Self::ScheduleTimer { .. } => Some(Holding::Work(WorkKind::Timer)),
            Self::ScheduleStep { .. } => Some(Holding::Work(WorkKind::Step)),
            Self::Subscribe { .. } => Some(Holding::Subscription),
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "transition_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "transition_props.rs"]
mod props;
