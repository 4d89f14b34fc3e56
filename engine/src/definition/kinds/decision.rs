//! `decision`: passes on at once to the first branch whose condition holds; an instance
//! never rests here.

use super::{Edge, Kind, RestKind};
use crate::definition::model::Branch;
use crate::definition::raw::{Pos, RawBranch};
use crate::definition::transition::{Ctx, Effect, Event};
use crate::definition::validate::Checker;
use crate::error::TransitionError;
use crate::expr::{ExprError, Scope};
use crate::instance::Holding;

#[derive(Debug)]
pub struct Decision {
    pub branches: Vec<Branch>,
}

impl Decision {
    pub(in crate::definition) fn check(
        raw: &[RawBranch],
        id: &Pos<String>,
        cx: &mut Checker,
    ) -> Self {
        Self {
            branches: cx.branches(raw, &[], id),
        }
    }
}

impl Kind for Decision {
    fn name(&self) -> &'static str {
        "decision"
    }

    fn targets(&self) -> Vec<&str> {
        Branch::targets(&self.branches)
    }

    fn passes_on(&self) -> bool {
        true
    }

    fn holdings(&self) -> &'static [Holding] {
        &[]
    }

    fn rest(&self) -> RestKind {
        RestKind::Decision
    }

    fn edges(&self) -> Vec<Edge<'_>> {
        Branch::edges(&self.branches, "otherwise")
    }

    fn enter(
        &self,
        _cx: &mut Ctx<'_>,
        _id: &str,
        _scope: &Scope,
    ) -> Result<Vec<Effect>, ExprError> {
        Ok(Vec::new())
    }

    fn onward(&self, cx: &Ctx<'_>) -> Option<Result<Option<String>, ExprError>> {
        Some(Branch::choose(&self.branches, &cx.scope()))
    }

    /// Nothing: an instance is never resting in a decision when an event comes.
    fn take(&self, cx: &mut Ctx<'_>, _id: &str, event: &Event) -> Result<(), TransitionError> {
        Err(cx.not_accepted(event))
    }
}
