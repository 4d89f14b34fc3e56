//! The pure transition function: `(definition, snapshot, event) -> Transition`.
//!
//! No I/O and no clock reads: everything it needs is in the [`Snapshot`], everything it wants
//! done comes back as [`Effect`]s, which the executor applies in the same transaction. States
//! that need no outside work (decisions, `set`, `emit`, end) are passed through here in one
//! call; the function stops at the first state that waits for something (an action result, a
//! person, a timer, a message, a child) and says so with an effect.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::definition::{Branch, ProcessDefinition, State, StepKind, WaitSpec};
use crate::error::TransitionError;
use crate::expr::{ExprError, Scope, eval_object};
use crate::instance::{Actor, Holding, IncidentCause, InstanceStatus, WorkKind};
use crate::timer::until_instant;

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

struct Ctx<'a> {
    def: &'a ProcessDefinition,
    snapshot: &'a Snapshot,
    t: &'a mut Transition,
    consumed: Consumed,
}

impl Ctx<'_> {
    fn scope(&self) -> Scope {
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

    fn not_accepted(&self, event: &Event) -> TransitionError {
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
        let state_id = state.id.clone();
        match (&state.kind, &event) {
            (StepKind::Automatic { action, input, .. }, Event::StepDue { attempt }) => {
                let action = action.clone();
                match eval_object(input, &self.scope()) {
                    Ok(input) => self.t.effects.push(Effect::RunAction {
                        state: state_id,
                        action,
                        input: Value::Object(input),
                        attempt: *attempt,
                    }),
                    Err(e) => {
                        self.incident(IncidentCause::Action(action), &e.to_string(), *attempt)
                    }
                }
                Ok(())
            }
            (StepKind::Automatic { next, .. }, Event::ActionCompleted { output }) => {
                if let Value::Object(fields) = output {
                    self.t.vars.extend(fields.clone());
                }
                let next = next.clone();
                self.go(next, event.trigger())
            }
            (
                StepKind::Automatic { action, retry, .. },
                Event::ActionFailed {
                    error,
                    retryable,
                    attempt,
                },
            ) => {
                if *retryable && *attempt < retry.max_attempts {
                    let factor = 1u64 << (attempt - 1).min(16);
                    let delay = retry.backoff.approx_millis().saturating_mul(factor);
                    let at = self.snapshot.now
                        + chrono::Duration::milliseconds(
                            i64::try_from(delay).unwrap_or(i64::MAX / 4),
                        );
                    self.t.effects.push(Effect::ScheduleStep {
                        state: state_id,
                        at,
                        attempt: attempt + 1,
                    });
                } else {
                    let action = action.clone();
                    self.incident(IncidentCause::Action(action), error, *attempt);
                }
                Ok(())
            }
            (StepKind::Manual { on_submit, .. }, Event::Submitted { form, actor }) => {
                self.t.vars.extend(form.clone());
                // Later steps (an action recording who registered something) need the person.
                self.t.vars.insert(
                    "submitted_by".into(),
                    serde_json::to_value(actor).unwrap_or(Value::Null),
                );
                let scope = self
                    .scope()
                    .with("form", Value::Object(form.clone()))
                    .with("actor", serde_json::to_value(actor).unwrap_or(Value::Null));
                let target = self.choose(on_submit, &scope);
                self.follow(target, event.trigger())
            }
            (
                StepKind::Wait {
                    wait: WaitSpec::After(_) | WaitSpec::Until { .. },
                    next,
                },
                Event::TimerFired,
            )
            | (StepKind::Call { next, .. }, Event::ChildCompleted) => {
                let next = next.clone();
                self.go(next, event.trigger())
            }
            (
                StepKind::Wait {
                    wait: WaitSpec::Message { .. },
                    next,
                },
                Event::MessageReceived { msg },
            ) => {
                self.t.vars.insert("msg".into(), msg.clone());
                let next = next.clone();
                self.go(next, event.trigger())
            }
            (
                StepKind::Wait {
                    wait: WaitSpec::Signal { .. },
                    next,
                },
                Event::Signalled { data },
            ) => {
                self.t.vars.insert("signal".into(), data.clone());
                let next = next.clone();
                self.go(next, event.trigger())
            }
            (
                StepKind::Wait {
                    wait:
                        WaitSpec::Signal {
                            deadline: Some(_), ..
                        },
                    next,
                },
                Event::TimerFired,
            ) => {
                let next = next.clone();
                self.go(next, event.trigger())
            }
            _ => Err(self.not_accepted(&event)),
        }
    }

    fn choose(&self, branches: &[Branch], scope: &Scope) -> Result<Option<String>, ExprError> {
        for b in branches {
            match &b.when {
                None => return Ok(Some(b.goto.clone())),
                Some(when) if when.eval_bool(scope)? => return Ok(Some(b.goto.clone())),
                Some(_) => {}
            }
        }
        Ok(None)
    }

    /// Goes to the chosen branch, or records why none could be chosen.
    fn follow(
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
        for &holding in left.holdings() {
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

    fn incident(&mut self, cause: IncidentCause, error: &str, attempts: u32) {
        self.t.status = InstanceStatus::Incident;
        self.t.effects.push(Effect::Incident {
            state: self.t.state.clone(),
            cause,
            error: error.to_owned(),
            attempts,
        });
    }

    /// Enters `to` and keeps going through states that need nothing from outside.
    fn go(&mut self, mut to: String, mut trigger: &'static str) -> Result<(), TransitionError> {
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
            match &state.kind {
                StepKind::Decision { branches } => match self.choose(branches, &self.scope()) {
                    Ok(Some(next)) => {
                        to = next;
                        trigger = "decision";
                    }
                    other => return self.follow(other, "decision"),
                },
                _ => return Ok(()),
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
                self.t.effects.extend(effects);
                if matches!(state.kind, StepKind::End) {
                    self.t.status = InstanceStatus::Completed;
                }
                Ok(())
            }
            Err(e) => {
                self.t.vars = saved;
                Err(e)
            }
        }
    }

    /// The timer of an `after` or `until` wait entered now.
    fn timer(&self, state: &str, wait: &WaitSpec, scope: &Scope) -> Result<Effect, ExprError> {
        let at = match wait {
            WaitSpec::After(d) => d.after(self.snapshot.now, self.def.timezone),
            WaitSpec::Until { until, at, zone } => {
                let value = until.eval_string(scope)?;
                until_instant(&value, *at, *zone).map_err(|message| ExprError {
                    source_text: until.source().to_owned(),
                    message,
                })?
            }
            // Validation allows only timers here (a signal's deadline).
            WaitSpec::Message { .. } | WaitSpec::Signal { .. } => {
                return Err(ExprError {
                    source_text: state.to_owned(),
                    message: "a deadline must be `after` or `until`".into(),
                });
            }
        };
        Ok(Effect::ScheduleTimer {
            state: state.to_owned(),
            at,
        })
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
        let id = state.id.clone();
        let now = self.snapshot.now;
        let effect = match &state.kind {
            StepKind::Automatic {
                run_async: true, ..
            } => Some(Effect::ScheduleStep {
                state: id,
                at: now,
                attempt: 1,
            }),
            StepKind::Automatic { action, input, .. } => Some(Effect::RunAction {
                state: id,
                action: action.clone(),
                input: Value::Object(eval_object(input, &scope)?),
                attempt: 1,
            }),
            StepKind::Manual { task, .. } => Some(Effect::CreateTask {
                state: id,
                kind: task.kind.clone(),
                title_template: task.title.clone(),
                municipality: task
                    .assign
                    .as_ref()
                    .map(|a| a.eval_string(&scope))
                    .transpose()?,
                due_at: task.due.map(|d| d.after(now, self.def.timezone)),
            }),
            StepKind::Decision { .. } => None,
            StepKind::Wait {
                wait:
                    WaitSpec::Signal {
                        name,
                        key,
                        deadline,
                    },
                ..
            } => {
                if let Some(deadline) = deadline {
                    effects.push(self.timer(&id, deadline, &scope)?);
                }
                Some(Effect::Subscribe {
                    state: id,
                    message_type: name.clone(),
                    key: key.eval_string(&scope)?,
                })
            }
            StepKind::Wait {
                wait:
                    WaitSpec::Message {
                        message_type, key, ..
                    },
                ..
            } => Some(Effect::Subscribe {
                state: id,
                message_type: message_type.clone(),
                key: key.eval_string(&scope)?,
            }),
            StepKind::Wait { wait, .. } => Some(self.timer(&id, wait, &scope)?),
            StepKind::Call {
                process,
                subject,
                vars,
                ..
            } => Some(Effect::StartChild {
                state: id,
                process: process.clone(),
                subject: match subject {
                    Some(s) => s.eval_string(&scope)?,
                    None => self
                        .snapshot
                        .subject
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                },
                vars: eval_object(vars, &scope)?,
            }),
            StepKind::End => Some(Effect::Complete),
        };
        effects.extend(effect);
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
