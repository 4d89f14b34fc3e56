//! `wait`: rests until a timer (`after`, `until`), a message from outside, or an action's
//! signal (which may have a timer as its deadline), then goes to `next`.

use chrono::NaiveTime;
use chrono_tz::Tz;

use super::{Kind, RestKind};
use crate::definition::raw::{Pos, RawExpr, RawWait};
use crate::definition::transition::{Ctx, Effect, Event};
use crate::definition::validate::Checker;
use crate::error::TransitionError;
use crate::expr::{Expr, ExprError, Scope};
use crate::instance::{Holding, WorkKind};
use crate::timer::{IsoDuration, parse_time_of_day, until_instant};

#[derive(Debug)]
pub struct Wait {
    pub wait: WaitSpec,
    pub next: String,
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

impl Wait {
    pub(in crate::definition) fn check(
        raw: &RawWait,
        id: &Pos<String>,
        next: String,
        zone: Tz,
        cx: &mut Checker,
    ) -> Option<Self> {
        Some(Self {
            wait: WaitSpec::check(raw, id, zone, cx)?,
            next,
        })
    }

    /// The timer of an `after` or `until` wait entered now.
    fn timer(
        cx: &Ctx<'_>,
        state: &str,
        wait: &WaitSpec,
        scope: &Scope,
    ) -> Result<Effect, ExprError> {
        let at = match wait {
            WaitSpec::After(d) => d.after(cx.now(), cx.timezone()),
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
}

impl WaitSpec {
    fn check(raw: &RawWait, id: &Pos<String>, default_zone: Tz, cx: &mut Checker) -> Option<Self> {
        let timers = usize::from(raw.after.is_some()) + usize::from(raw.until.is_some());
        let others = usize::from(raw.message.is_some()) + usize::from(raw.signal.is_some());
        // A signal may carry one timer as its deadline; everything else is exactly one kind.
        let valid = match (&raw.signal, raw.message.is_some()) {
            (Some(_), false) => timers <= 1,
            _ => timers + others == 1,
        };
        if !valid {
            cx.report(
                id,
                "bad-wait",
                format!(
                    "wait state `{}` needs exactly one of after, until, message, signal \
                     (a signal may add one of after or until as its deadline)",
                    id.value()
                ),
                None,
            );
            return None;
        }
        let timer = Self::check_timer(raw, default_zone, cx);
        if let Some(signal) = &raw.signal {
            if signal.name.value().trim().is_empty() {
                cx.report(
                    &signal.name,
                    "bad-wait",
                    "a signal wait needs the signal's name, e.g. `flytning.effektuer`".into(),
                    None,
                );
                return None;
            }
            let deadline = match timer {
                None => None,
                Some(deadline) => Some(Box::new(deadline?)),
            };
            return Some(Self::Signal {
                name: signal.name.value().clone(),
                key: cx.expr(&signal.key, &[])?,
                deadline,
            });
        }
        if let Some(timer) = timer {
            return timer;
        }
        let m = raw.message.as_ref()?;
        let key = match &m.key {
            Some(k) => cx.expr(k, &[])?,
            None => Expr::parse("subject.id").ok()?,
        };
        Some(Self::Message {
            message_type: m.message_type.value().clone(),
            correlate: cx.message_expr(&m.correlate)?,
            key,
        })
    }

    /// The wait's `after` or `until` (with `at` and `zone`), if it has one; the inner `None`
    /// when it has one that does not check (reported).
    fn check_timer(raw: &RawWait, default_zone: Tz, cx: &mut Checker) -> Option<Option<Self>> {
        if let Some(after) = &raw.after {
            return Some(cx.duration(after).map(Self::After));
        }
        let until = raw.until.as_ref()?;
        Some(Self::check_until(until, raw, default_zone, cx))
    }

    fn check_until(
        until: &RawExpr,
        raw: &RawWait,
        default_zone: Tz,
        cx: &mut Checker,
    ) -> Option<Self> {
        let at = match &raw.at {
            Some(at) => parse_time_of_day(at.value())
                .map_err(|m| cx.report(at, "bad-time", m, None))
                .ok()?,
            None => NaiveTime::MIN,
        };
        let zone = match &raw.zone {
            Some(z) => cx.timezone(z)?,
            None => default_zone,
        };
        Some(Self::Until {
            until: cx.expr(until, &[])?,
            at,
            zone,
        })
    }
}

impl Kind for Wait {
    fn name(&self) -> &'static str {
        "wait"
    }

    fn targets(&self) -> Vec<&str> {
        vec![&self.next]
    }

    fn holdings(&self) -> &'static [Holding] {
        match &self.wait {
            WaitSpec::After(_) | WaitSpec::Until { .. } => &[Holding::Work(WorkKind::Timer)],
            WaitSpec::Message { .. } | WaitSpec::Signal { deadline: None, .. } => {
                &[Holding::Subscription]
            }
            WaitSpec::Signal {
                deadline: Some(_), ..
            } => &[Holding::Subscription, Holding::Work(WorkKind::Timer)],
        }
    }

    fn rest(&self) -> RestKind {
        match &self.wait {
            WaitSpec::After(_) | WaitSpec::Until { .. } => RestKind::Timer,
            WaitSpec::Message {
                message_type, key, ..
            } => RestKind::Message {
                message_type: message_type.clone(),
                key: key.source().to_owned(),
            },
            WaitSpec::Signal {
                name,
                key,
                deadline,
            } => RestKind::Signal {
                name: name.clone(),
                key: key.source().to_owned(),
                deadline: deadline.is_some(),
            },
        }
    }

    fn label(&self) -> String {
        match &self.wait {
            WaitSpec::Message { message_type, .. } => format!("wait for {message_type}"),
            WaitSpec::Signal { name, .. } => format!("wait for signal {name}"),
            WaitSpec::After(_) | WaitSpec::Until { .. } => "timer".to_owned(),
        }
    }

    fn enter(&self, cx: &mut Ctx<'_>, id: &str, scope: &Scope) -> Result<Vec<Effect>, ExprError> {
        Ok(match &self.wait {
            WaitSpec::Signal {
                name,
                key,
                deadline,
            } => {
                let mut effects = Vec::with_capacity(2);
                if let Some(deadline) = deadline {
                    effects.push(Self::timer(cx, id, deadline, scope)?);
                }
                effects.push(Effect::Subscribe {
                    state: id.to_owned(),
                    message_type: name.clone(),
                    key: key.eval_string(scope)?,
                });
                effects
            }
            WaitSpec::Message {
                message_type, key, ..
            } => vec![Effect::Subscribe {
                state: id.to_owned(),
                message_type: message_type.clone(),
                key: key.eval_string(scope)?,
            }],
            WaitSpec::After(_) | WaitSpec::Until { .. } => {
                vec![Self::timer(cx, id, &self.wait, scope)?]
            }
        })
    }

    fn take(&self, cx: &mut Ctx<'_>, _id: &str, event: &Event) -> Result<(), TransitionError> {
        match (&self.wait, event) {
            (
                WaitSpec::After(_)
                | WaitSpec::Until { .. }
                | WaitSpec::Signal {
                    deadline: Some(_), ..
                },
                Event::TimerFired,
            ) => {}
            (WaitSpec::Message { .. }, Event::MessageReceived { msg }) => {
                cx.vars().insert("msg".into(), msg.clone());
            }
            (WaitSpec::Signal { .. }, Event::Signalled { data }) => {
                cx.vars().insert("signal".into(), data.clone());
            }
            _ => return Err(cx.not_accepted(event)),
        }
        cx.go(self.next.clone(), event.trigger())
    }
}
