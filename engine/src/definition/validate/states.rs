//! Checks of each state: its kind, branches, waits and form.

use std::collections::HashSet;

use super::{Checker, ProcessRef, text_of};
use crate::definition::model::*;
use crate::definition::raw::*;
use crate::definition::{Automatic, Call, Decision, End, Manual, StepKind, Wait};
use crate::form::{Choices, Field, Form, Listed, Required};

impl Checker<'_> {
    pub(super) fn state(
        &mut self,
        id: &Pos<String>,
        raw: &RawState,
        zone: chrono_tz::Tz,
    ) -> Option<State> {
        let kinds = [
            raw.automatic.is_some(),
            raw.manual.is_some(),
            raw.decision.is_some(),
            raw.wait.is_some(),
            raw.call.is_some(),
            raw.end.as_ref().is_some_and(|e| *e.value()),
        ];
        let count = kinds.iter().filter(|k| **k).count();
        if count != 1 {
            let message = if count == 0 {
                format!("state `{}` has no kind", id.value())
            } else {
                format!("state `{}` has {count} kinds", id.value())
            };
            self.report(
                id,
                "state-kind",
                message,
                Some("give exactly one of automatic, manual, decision, wait, call, end: true"),
            );
            return None;
        }
        let set = self.exprs(&raw.set, &[]);
        let emit = raw
            .emit
            .iter()
            .map(|e| Emit {
                kind: e.kind.value().clone(),
                when: e.when.as_ref().and_then(|w| self.expr(w, &[])),
                data: self.exprs(&e.data, &[]),
            })
            .collect();
        let named = raw
            .follow_up
            .iter()
            .map(|f| &f.process)
            .chain(raw.call.as_ref().map(|c| &c.process));
        for process in named {
            let (line, column) = process.line_col();
            self.process_refs.push(ProcessRef {
                file: self.file.to_owned(),
                line,
                column,
                by: format!("state `{}` starts", id.value()),
                process: process.value().clone(),
            });
        }
        let follow_up = raw
            .follow_up
            .iter()
            .filter_map(|f| {
                Some(FollowUp {
                    process: f.process.value().clone(),
                    when: f.when.as_ref().and_then(|w| self.expr(w, &[])),
                    municipality: self.expr(&f.municipality, &[])?,
                    vars: self.exprs(&f.vars, &[]),
                })
            })
            .collect();
        let uses_next = raw.automatic.is_some() || raw.wait.is_some() || raw.call.is_some();
        if uses_next && raw.next.is_none() {
            self.report(
                id,
                "missing-next",
                format!("state `{}` needs `next`", id.value()),
                Some("name the state that follows, e.g. `next: done`"),
            );
        }
        if !uses_next && let Some(next) = &raw.next {
            self.report(
                next,
                "schema",
                format!("`next` has no meaning on a {} state", kind_name(raw)),
                Some("use `on: submit` for manual states and branches for decisions"),
            );
        }
        if raw.on.is_some() && raw.manual.is_none() {
            let (line, column) = id.line_col();
            self.report_at(
                line,
                column,
                "schema",
                "`on: submit` belongs to manual states only".into(),
                None,
            );
        }
        let next = raw
            .next
            .as_ref()
            .map(|n| n.value().clone())
            .unwrap_or_default();
        let kind = if let Some(a) = &raw.automatic {
            StepKind::Automatic(Automatic::check(a, next, self))
        } else if let Some(m) = &raw.manual {
            StepKind::Manual(Manual::check(m, raw, id, self))
        } else if let Some(d) = &raw.decision {
            StepKind::Decision(Decision::check(d.value(), id, self))
        } else if let Some(w) = &raw.wait {
            StepKind::Wait(Wait::check(w, id, next, zone, self)?)
        } else if let Some(c) = &raw.call {
            StepKind::Call(Call::check(c, next, self))
        } else {
            StepKind::End(End)
        };
        Some(State {
            id: id.value().clone(),
            title: raw.title.as_ref().map(text_of),
            kind,
            set,
            emit,
            follow_up,
            reads_subject: false,
        })
    }

    pub(in crate::definition) fn branches(
        &mut self,
        raw: &[RawBranch],
        scope: &[&str],
        state: &Pos<String>,
    ) -> Vec<Branch> {
        if raw.is_empty() {
            self.report(
                state,
                "bad-branch",
                format!("state `{}` has no branch to leave by", state.value()),
                Some("add e.g. `- { goto: next_state }`"),
            );
        }
        let mut out = Vec::new();
        for b in raw {
            let goto = match (&b.goto, &b.otherwise, &b.when) {
                (Some(g), None, _) | (None, Some(g), None) => g.value().clone(),
                (_, Some(o), _) => {
                    self.report(
                        o,
                        "bad-branch",
                        "`otherwise` stands alone: no `when` or `goto` beside it".into(),
                        None,
                    );
                    continue;
                }
                (None, None, _) => {
                    self.report(
                        state,
                        "bad-branch",
                        format!("a branch of `{}` has no `goto`", state.value()),
                        None,
                    );
                    continue;
                }
            };
            let when = b.when.as_ref().and_then(|w| self.expr(w, scope));
            out.push(Branch { when, goto });
        }
        if let Some(last) = raw.last()
            && let Some(when) = &last.when
        {
            self.report(
                when,
                "bad-branch",
                format!(
                    "the last branch of `{}` has a condition, so an instance could find no way out",
                    state.value()
                ),
                Some(
                    "end with an unconditional branch: `{ otherwise: state }` or `{ goto: state }`",
                ),
            );
        }
        out
    }

    pub(in crate::definition) fn form(&mut self, raw: &RawForm) -> Form {
        let mut names = HashSet::new();
        let mut fields = Vec::new();
        for f in &raw.fields {
            if !names.insert(f.name.value().clone()) {
                self.report(
                    &f.name,
                    "duplicate-field",
                    format!("field `{}` appears twice", f.name.value()),
                    None,
                );
            }
            if self.registry.field_type(f.field_type.value()).is_none() {
                let known: Vec<&str> = self.registry.field_types().map(|(n, _)| n).collect();
                self.report(
                    &f.field_type,
                    "unknown-field-type",
                    format!("field type `{}` is not registered", f.field_type.value()),
                    Some(&format!("known types: {}", known.join(", "))),
                );
            }
            let scope = ["form", "actor"];
            let required = match &f.required {
                None => Required::Never,
                Some(r) => match r.value() {
                    BoolOrExpr::Bool(true) => Required::Always,
                    BoolOrExpr::Bool(false) => Required::Never,
                    BoolOrExpr::Expr(text) => {
                        let raw = Pos(serde_saphyr::Spanned::new(
                            text.clone(),
                            r.0.referenced,
                            r.0.defined,
                        ));
                        self.expr(&raw, &scope)
                            .map_or(Required::Never, Required::When)
                    }
                },
            };
            let options = f.options.as_ref().map(|o| match o.value() {
                Options::List(list) => Choices::List(self.listed(o, list)),
                Options::Reference(name) => {
                    let name = name.strip_prefix("ref.").unwrap_or(name).to_owned();
                    if !self.registry.has_reference(&name) {
                        self.report(
                            o,
                            "unknown-reference",
                            format!("no reference data named `{name}`"),
                            Some("options are a list, or ref.NAME of data a package registers"),
                        );
                    }
                    Choices::Reference(name)
                }
            });
            if let Some(max) = f.max_length.as_ref().filter(|m| *m.value() == 0) {
                self.report(
                    max,
                    "bad-max-length",
                    "`max_length` must be at least 1".into(),
                    Some("leave it out to use the server's limit for the field type"),
                );
            }
            fields.push(Field {
                name: f.name.value().clone(),
                field_type: f.field_type.value().clone(),
                label: f
                    .label
                    .as_ref()
                    .map_or_else(|| f.name.value().clone(), text_of),
                help: f.help.as_ref().map(text_of),
                required,
                check: f.check.as_ref().and_then(|c| self.expr(c, &scope)),
                message: f.message.as_ref().map(text_of),
                options,
                default: f.default.as_ref().and_then(|d| self.expr(d, &["actor"])),
                max_length: f.max_length.as_ref().map(|m| *m.value()),
            });
        }
        let mut controls = std::collections::BTreeMap::new();
        for (field_type, template) in &raw.controls {
            self.template(template);
            controls.insert(field_type.clone(), template.value().clone());
        }
        Form { fields, controls }
    }
}

impl Checker<'_> {
    /// A field's listed options; an option's `when` is an expression over `vars`, `subject`,
    /// `actor` and `today` (not `form`: it decides what the form offers), reported at the
    /// field's `options`.
    pub(super) fn listed(&mut self, at: &Pos<Options>, list: &[RawOption]) -> Vec<Listed> {
        let mut seen = HashSet::new();
        let mut listed = Vec::new();
        for option in list {
            let (value, label, when) = match option {
                RawOption::Value(Scalar(value)) => (value.clone(), value.clone(), None),
                RawOption::Described(d) => (
                    d.value.clone(),
                    d.label.as_ref().map_or_else(|| d.value.clone(), text_of),
                    d.when.as_ref().and_then(|text| {
                        let raw = Pos(serde_saphyr::Spanned::new(
                            text.clone(),
                            at.0.referenced,
                            at.0.defined,
                        ));
                        self.expr(&raw, &["actor"])
                    }),
                ),
            };
            if !seen.insert(value.clone()) {
                self.report(
                    at,
                    "duplicate-option",
                    format!("option `{value}` is listed twice"),
                    None,
                );
            }
            listed.push(Listed { value, label, when });
        }
        listed
    }
}

fn kind_name(raw: &RawState) -> &'static str {
    if raw.manual.is_some() {
        "manual"
    } else if raw.decision.is_some() {
        "decision"
    } else {
        "end"
    }
}
