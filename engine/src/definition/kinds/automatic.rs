//! `automatic`: runs a registered action, inline or on the worker pool, retries what may
//! be retried with a doubling backoff, and goes to `next` with the action's output merged
//! into the variables.

use serde_json::Value;

use super::{Kind, RestKind};
use crate::definition::raw::RawAutomatic;
use crate::definition::transition::{Ctx, Effect, Event};
use crate::definition::validate::Checker;
use crate::error::TransitionError;
use crate::expr::{Expr, ExprError, Scope, eval_object};
use crate::instance::{Holding, IncidentCause, WorkKind};
use crate::timer::IsoDuration;

#[derive(Debug)]
pub struct Automatic {
    pub action: String,
    pub input: Vec<(String, Expr)>,
    pub retry: RetryPolicy,
    pub run_async: bool,
    pub next: String,
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

impl Automatic {
    pub(in crate::definition) fn check(raw: &RawAutomatic, next: String, cx: &mut Checker) -> Self {
        if cx.registry.action(raw.action.value()).is_none() {
            let known: Vec<&str> = cx.registry.action_names().collect();
            cx.report(
                &raw.action,
                "unknown-action",
                format!("action `{}` is not registered", raw.action.value()),
                Some(&format!("registered actions: {}", known.join(", "))),
            );
        }
        let retry = raw
            .retry
            .as_ref()
            .map_or_else(RetryPolicy::default, |r| RetryPolicy {
                max_attempts: (*r.max.value()).max(1),
                backoff: r
                    .backoff
                    .as_ref()
                    .and_then(|b| cx.duration(b))
                    .unwrap_or(RetryPolicy::default().backoff),
            });
        Self {
            action: raw.action.value().clone(),
            input: cx.exprs(&raw.input, &[]),
            retry,
            run_async: raw.run_async,
            next,
        }
    }

    /// Runs the action now with its input, or records why the input could not be computed.
    fn run(&self, cx: &mut Ctx<'_>, id: &str, attempt: u32) {
        match eval_object(&self.input, &cx.scope()) {
            Ok(input) => cx.push(Effect::RunAction {
                state: id.to_owned(),
                action: self.action.clone(),
                input: Value::Object(input),
                attempt,
            }),
            Err(e) => cx.incident(
                IncidentCause::Action(self.action.clone()),
                &e.to_string(),
                attempt,
            ),
        }
    }
}

impl Kind for Automatic {
    fn name(&self) -> &'static str {
        "automatic"
    }

    fn targets(&self) -> Vec<&str> {
        vec![&self.next]
    }

    fn holdings(&self) -> &'static [Holding] {
        &[Holding::Work(WorkKind::Step)]
    }

    fn rest(&self) -> RestKind {
        RestKind::Automatic
    }

    fn label(&self) -> String {
        format!("automatic: {}", self.action)
    }

    fn enter(&self, cx: &mut Ctx<'_>, id: &str, scope: &Scope) -> Result<Vec<Effect>, ExprError> {
        let effect = if self.run_async {
            Effect::ScheduleStep {
                state: id.to_owned(),
                at: cx.now(),
                attempt: 1,
            }
        } else {
            Effect::RunAction {
                state: id.to_owned(),
                action: self.action.clone(),
                input: Value::Object(eval_object(&self.input, scope)?),
                attempt: 1,
            }
        };
        Ok(vec![effect])
    }

    fn take(&self, cx: &mut Ctx<'_>, id: &str, event: &Event) -> Result<(), TransitionError> {
        match event {
            Event::StepDue { attempt } => {
                self.run(cx, id, *attempt);
                Ok(())
            }
            Event::ActionCompleted { output } => {
                if let Value::Object(fields) = output {
                    cx.vars().extend(fields.clone());
                }
                cx.go(self.next.clone(), event.trigger())
            }
            Event::ActionFailed {
                error,
                retryable,
                attempt,
            } => {
                if *retryable && *attempt < self.retry.max_attempts {
                    let factor = 1u64 << (attempt - 1).min(16);
                    let delay = self.retry.backoff.approx_millis().saturating_mul(factor);
                    let at = cx.now()
                        + chrono::Duration::milliseconds(
                            i64::try_from(delay).unwrap_or(i64::MAX / 4),
                        );
                    cx.push(Effect::ScheduleStep {
                        state: id.to_owned(),
                        at,
                        attempt: attempt + 1,
                    });
                } else {
                    cx.incident(IncidentCause::Action(self.action.clone()), error, *attempt);
                }
                Ok(())
            }
            _ => Err(cx.not_accepted(event)),
        }
    }
}
