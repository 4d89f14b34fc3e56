//! `manual`: a task for a caseworker with a form; the submitted form's values become
//! variables, and the first `on: submit` branch that holds chooses where to go.

use serde_json::Value;

use super::{Edge, Kind, RestKind};
use crate::definition::model::Branch;
use crate::definition::raw::{Pos, RawManual, RawState};
use crate::definition::transition::{Ctx, Effect, Event};
use crate::definition::validate::Checker;
use crate::error::TransitionError;
use crate::expr::{Expr, ExprError, Scope};
use crate::form::Form;
use crate::instance::Holding;
use crate::timer::IsoDuration;

#[derive(Debug)]
pub struct Manual {
    pub task: TaskSpec,
    pub form: Form,
    pub on_submit: Vec<Branch>,
}

#[derive(Debug)]
pub struct TaskSpec {
    /// Handlebars source of the title.
    pub title: String,
    pub kind: String,
    pub assign: Option<Expr>,
    /// See `other_municipality` of the YAML's `assign`.
    pub assign_elsewhere: bool,
    pub due: Option<IsoDuration>,
}

impl Manual {
    pub(in crate::definition) fn check(
        raw: &RawManual,
        state: &RawState,
        id: &Pos<String>,
        cx: &mut Checker,
    ) -> Self {
        cx.template(&raw.title);
        // The branches may read `form.NAME` of this form's fields only.
        cx.form_fields = Some(
            raw.form
                .fields
                .iter()
                .map(|f| f.name.value().clone())
                .collect(),
        );
        let manual = Self {
            task: TaskSpec {
                title: raw.title.value().clone(),
                kind: raw
                    .kind
                    .as_ref()
                    .map_or_else(|| id.value().clone(), |k| k.value().clone()),
                assign: raw
                    .assign
                    .as_ref()
                    .and_then(|a| cx.expr(&a.municipality, &[])),
                assign_elsewhere: raw.assign.as_ref().is_some_and(|a| a.other_municipality),
                due: raw.due.as_ref().and_then(|d| cx.duration(d)),
            },
            form: cx.form(&raw.form),
            on_submit: cx.branches(
                state.on.as_ref().map_or(&[][..], |o| &o.submit[..]),
                &["form", "actor"],
                id,
            ),
        };
        cx.form_fields = None;
        manual
    }
}

impl Kind for Manual {
    fn name(&self) -> &'static str {
        "manual"
    }

    fn targets(&self) -> Vec<&str> {
        Branch::targets(&self.on_submit)
    }

    fn holdings(&self) -> &'static [Holding] {
        &[Holding::Task]
    }

    fn rest(&self) -> RestKind {
        RestKind::Manual
    }

    fn label(&self) -> String {
        format!("manual: {}", self.task.kind)
    }

    fn edges(&self) -> Vec<Edge<'_>> {
        Branch::edges(&self.on_submit, "submit")
    }

    fn enter(&self, cx: &mut Ctx<'_>, id: &str, scope: &Scope) -> Result<Vec<Effect>, ExprError> {
        Ok(vec![Effect::CreateTask {
            state: id.to_owned(),
            kind: self.task.kind.clone(),
            title_template: self.task.title.clone(),
            municipality: self
                .task
                .assign
                .as_ref()
                .map(|a| a.eval_string(scope))
                .transpose()?,
            due_at: self.task.due.map(|d| d.after(cx.now(), cx.timezone())),
        }])
    }

    fn take(&self, cx: &mut Ctx<'_>, _id: &str, event: &Event) -> Result<(), TransitionError> {
        let Event::Submitted { form, actor } = event else {
            return Err(cx.not_accepted(event));
        };
        cx.vars().extend(form.clone());
        let actor = serde_json::to_value(actor).unwrap_or(Value::Null);
        // Later steps (an action recording who registered something) need the person.
        cx.vars().insert("submitted_by".into(), actor.clone());
        let scope = cx
            .scope()
            .with("form", Value::Object(form.clone()))
            .with("actor", actor);
        let target = Branch::choose(&self.on_submit, &scope);
        cx.follow(target, event.trigger())
    }
}
