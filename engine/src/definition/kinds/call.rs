//! `call`: starts a child instance of another process and goes to `next` when it completes.

use serde_json::Value;

use super::{Kind, RestKind};
use crate::definition::raw::RawCall;
use crate::definition::transition::{Ctx, Effect, Event};
use crate::definition::validate::Checker;
use crate::error::TransitionError;
use crate::expr::{Expr, ExprError, Scope, eval_object};
use crate::instance::Holding;

#[derive(Debug)]
pub struct Call {
    pub process: String,
    /// The child's subject; the parent's when absent.
    pub subject: Option<Expr>,
    pub vars: Vec<(String, Expr)>,
    pub next: String,
}

impl Call {
    pub(in crate::definition) fn check(raw: &RawCall, next: String, cx: &mut Checker) -> Self {
        Self {
            process: raw.process.value().clone(),
            subject: raw.subject.as_ref().and_then(|s| cx.expr(s, &[])),
            vars: cx.exprs(&raw.vars, &[]),
            next,
        }
    }
}

impl Kind for Call {
    fn name(&self) -> &'static str {
        "call"
    }

    fn targets(&self) -> Vec<&str> {
        vec![&self.next]
    }

    /// The child is its own instance: the parent holds nothing of its own while it waits.
    fn holdings(&self) -> &'static [Holding] {
        &[]
    }

    fn rest(&self) -> RestKind {
        RestKind::Call {
            process: self.process.clone(),
        }
    }

    fn enter(&self, cx: &mut Ctx<'_>, id: &str, scope: &Scope) -> Result<Vec<Effect>, ExprError> {
        let subject = match &self.subject {
            Some(s) => s.eval_string(scope)?,
            None => cx
                .subject()
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        };
        Ok(vec![Effect::StartChild {
            state: id.to_owned(),
            process: self.process.clone(),
            subject,
            vars: eval_object(&self.vars, scope)?,
        }])
    }

    fn take(&self, cx: &mut Ctx<'_>, _id: &str, event: &Event) -> Result<(), TransitionError> {
        match event {
            Event::ChildCompleted => cx.go(self.next.clone(), event.trigger()),
            _ => Err(cx.not_accepted(event)),
        }
    }
}
