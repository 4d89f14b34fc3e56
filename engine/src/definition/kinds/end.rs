//! `end: true`: the instance is completed.

use super::{Edge, Kind, RestKind};
use crate::definition::transition::{Ctx, Effect, Event};
use crate::error::TransitionError;
use crate::expr::{ExprError, Scope};
use crate::instance::Holding;

#[derive(Debug)]
pub struct End;

impl Kind for End {
    fn name(&self) -> &'static str {
        "end"
    }

    fn targets(&self) -> Vec<&str> {
        Vec::new()
    }

    /// A completed instance waits for nothing.
    fn rests(&self) -> bool {
        false
    }

    fn holdings(&self) -> &'static [Holding] {
        &[]
    }

    fn rest(&self) -> RestKind {
        RestKind::End
    }

    fn edges(&self) -> Vec<Edge<'_>> {
        vec![Edge {
            to: None,
            guard: None,
        }]
    }

    fn enter(
        &self,
        _cx: &mut Ctx<'_>,
        _id: &str,
        _scope: &Scope,
    ) -> Result<Vec<Effect>, ExprError> {
        Ok(vec![Effect::Complete])
    }

    /// Nothing: a completed instance takes no event.
    fn take(&self, cx: &mut Ctx<'_>, _id: &str, event: &Event) -> Result<(), TransitionError> {
        Err(cx.not_accepted(event))
    }
}
