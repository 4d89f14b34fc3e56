//! Checks of the state graph: targets exist, every state is reachable from `initial` and
//! can reach an end.

use std::collections::{BTreeSet, HashSet, VecDeque};

use indexmap::IndexMap;

use super::Checker;
use crate::definition::StepKind;
use crate::definition::model::*;
use crate::definition::raw::*;

impl Checker<'_> {
    pub(super) fn check_targets(&mut self, raw: &RawProcess) {
        let ids: HashSet<&str> = raw.states.keys().map(|k| k.value().as_str()).collect();
        let check = |this: &mut Self, target: &Pos<String>, from: &str| {
            if !ids.contains(target.value().as_str()) {
                let suggestion =
                    closest(target.value(), &ids).map(|s| format!("did you mean `{s}`?"));
                let (line, column) = target.line_col();
                this.report_at(
                    line,
                    column,
                    "unknown-target",
                    format!(
                        "state `{from}` leads to `{}`, which does not exist",
                        target.value()
                    ),
                    suggestion,
                );
            }
        };
        for (id, state) in &raw.states {
            let from = id.value();
            if let Some(next) = &state.next {
                check(self, next, from);
            }
            let branches = state
                .decision
                .iter()
                .flat_map(|d| d.value().iter())
                .chain(state.on.iter().flat_map(|o| o.submit.iter()));
            for b in branches {
                for target in b.goto.iter().chain(b.otherwise.iter()) {
                    check(self, target, from);
                }
            }
        }
    }

    pub(super) fn check_graph(&mut self, raw: &RawProcess, states: &IndexMap<String, State>) {
        let mut reachable = BTreeSet::new();
        // A migration entry is a second way in: what follows it is reachable too.
        let mut queue: VecDeque<&str> = std::iter::once(raw.initial.value().as_str())
            .chain(
                raw.states
                    .iter()
                    .filter(|(_, s)| s.migration_entry)
                    .map(|(id, _)| id.value().as_str()),
            )
            .collect();
        while let Some(id) = queue.pop_front() {
            if reachable.insert(id)
                && let Some(state) = states.get(id)
            {
                queue.extend(state.kind.targets());
            }
        }
        let mut reaches_end: BTreeSet<&str> = states
            .values()
            .filter(|s| matches!(s.kind, StepKind::End(_)))
            .map(|s| s.id.as_str())
            .collect();
        loop {
            let before = reaches_end.len();
            for state in states.values() {
                if state.kind.targets().iter().any(|t| reaches_end.contains(t)) {
                    reaches_end.insert(&state.id);
                }
            }
            if reaches_end.len() == before {
                break;
            }
        }
        let looping = instant_cycle(states);
        for id in raw.states.keys() {
            if looping.as_deref() == Some(id.value().as_str()) {
                self.report(
                    id,
                    "endless-loop",
                    format!("state `{}` is on a loop that never waits", id.value()),
                    Some("a loop of decisions and inline actions would run forever in one transaction; make a step of it `async: true`, or add a wait or a manual step"),
                );
            }
            if !reachable.contains(id.value().as_str()) {
                self.report(
                    id,
                    "unreachable-state",
                    format!(
                        "state `{}` cannot be reached from `{}`",
                        id.value(),
                        raw.initial.value()
                    ),
                    Some("remove it, or add a goto/next that leads to it"),
                );
            } else if !reaches_end.contains(id.value().as_str()) {
                self.report(id, "no-path-to-end", format!("no path leads from state `{}` to an end state", id.value()), Some("instances entering it could never finish; add a branch to an `end: true` state"));
            }
        }
    }
}

/// The closest id by edit distance, for "did you mean" hints.
fn closest<'a>(target: &str, ids: &HashSet<&'a str>) -> Option<&'a str> {
    ids.iter()
        .map(|id| (edit_distance(target, id), *id))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, id)| id)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// A state on a cycle made only of decisions and inline automatic steps, if there is one.
fn instant_cycle(states: &IndexMap<String, State>) -> Option<String> {
    let instant = |id: &str| {
        states.get(id).is_some_and(|s| match &s.kind {
            StepKind::Decision(_) => true,
            StepKind::Automatic(a) => !a.run_async,
            StepKind::Manual(_) | StepKind::Wait(_) | StepKind::Call(_) | StepKind::End(_) => false,
        })
    };
    // Depth-first search with colours: 1 on the current path, 2 done.
    fn visit<'a>(
        id: &'a str,
        states: &'a IndexMap<String, State>,
        instant: &dyn Fn(&str) -> bool,
        colour: &mut std::collections::HashMap<&'a str, u8>,
    ) -> Option<String> {
        colour.insert(id, 1);
        for next in states.get(id).map(|s| s.kind.targets()).unwrap_or_default() {
            if !instant(next) {
                continue;
            }
            match colour.get(next) {
                Some(1) => return Some(next.to_owned()),
                Some(_) => {}
                None => {
                    if let Some(found) = visit(next, states, instant, colour) {
                        return Some(found);
                    }
                }
            }
        }
        colour.insert(id, 2);
        None
    }
    let mut colour = std::collections::HashMap::new();
    for id in states.keys() {
        if instant(id)
            && !colour.contains_key(id.as_str())
            && let Some(found) = visit(id, states, &instant, &mut colour)
        {
            return Some(found);
        }
    }
    None
}
