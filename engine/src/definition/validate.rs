//! Turns raw YAML structs into a `ProcessDefinition`, collecting every diagnostic on the way.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use super::SourceFile;
use super::diagnostic::Diagnostic;
use super::model::*;
use super::raw::*;
use crate::expr::{Expr, ROOT_NAMES};
use crate::form::{Choices, Field, Form, Required};
use crate::registry::Registry;
use crate::timer::{IsoDuration, parse_time_of_day};

const DEFAULT_TIMEZONE: chrono_tz::Tz = chrono_tz::Europe::Copenhagen;

/// Names in scope everywhere in a process.
const ALWAYS: &[&str] = &["vars", "subject", "today", "now", "ref"];

pub(super) fn load_set(
    files: &[SourceFile],
    registry: &Registry,
    known_elsewhere: &[String],
) -> Result<Vec<ProcessDefinition>, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let mut defs = Vec::new();
    let mut references = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for file in files {
        let mut checker = Checker {
            file: &file.path,
            registry,
            diagnostics: Vec::new(),
            reads_subject: false,
            form_fields: None,
            lines: Vec::new(),
            process_refs: Vec::new(),
        };
        if let Some(def) = checker.load(&file.text) {
            if let Some(first) = seen.insert(def.id.clone(), file.path.clone()) {
                checker.report_at(
                    1,
                    1,
                    "duplicate-process",
                    format!("process `{}` is also defined in {first}", def.id),
                    None,
                );
            }
            defs.push(def);
        }
        references.extend(checker.process_refs);
        diagnostics.extend(checker.diagnostics);
    }
    // follow_up and call must name a process of the set, one it replaces, or one deployed.
    let known: HashSet<&str> = defs
        .iter()
        .flat_map(|d| std::iter::once(d.id.as_str()).chain(d.replaces.iter().map(String::as_str)))
        .chain(known_elsewhere.iter().map(String::as_str))
        .collect();
    for r in references {
        if !known.contains(r.process.as_str()) {
            diagnostics.push(Diagnostic {
                file: r.file,
                line: r.line,
                column: r.column,
                code: "unknown-process",
                message: format!(
                    "state `{}` starts process `{}`, which is not defined",
                    r.state, r.process
                ),
                hint: Some("validate or deploy it together with the process it refers to".into()),
            });
        }
    }
    if diagnostics.is_empty() {
        Ok(defs)
    } else {
        Err(diagnostics)
    }
}

/// A `follow_up` or `call` naming another process, checked once the whole set is read.
struct ProcessRef {
    file: String,
    line: u64,
    column: u64,
    state: String,
    process: String,
}

struct Checker<'a> {
    file: &'a str,
    registry: &'a Registry,
    diagnostics: Vec<Diagnostic>,
    reads_subject: bool,
    /// The fields of the form of the manual state being checked, for `form.NAME` references.
    form_fields: Option<Vec<String>>,
    /// The file's lines, to point inside quoted scalars.
    lines: Vec<String>,
    process_refs: Vec<ProcessRef>,
}

impl Checker<'_> {
    fn report_at(
        &mut self,
        line: u64,
        column: u64,
        code: &'static str,
        message: String,
        hint: Option<String>,
    ) {
        self.diagnostics.push(Diagnostic {
            file: self.file.to_owned(),
            line,
            column,
            code,
            message,
            hint,
        });
    }

    fn report<T>(&mut self, at: &Pos<T>, code: &'static str, message: String, hint: Option<&str>) {
        let (line, column) = at.line_col();
        self.report_at(line, column, code, message, hint.map(str::to_owned));
    }

    /// Line and column of the character `offset` characters into a scalar's text, skipping
    /// the opening quote of a quoted scalar.
    fn inside(&self, raw: &Pos<String>, offset: usize) -> (u64, u64) {
        let (line, column) = raw.line_col();
        let quoted = self
            .lines
            .get(line.saturating_sub(1) as usize)
            .and_then(|l| l.chars().nth(column.saturating_sub(1) as usize))
            .is_some_and(|c| c == '"' || c == '\'');
        (line, column + u64::from(quoted) + offset as u64)
    }

    fn report_inside(
        &mut self,
        raw: &Pos<String>,
        needle: &str,
        code: &'static str,
        message: String,
        hint: Option<String>,
    ) {
        let offset = raw
            .value()
            .find(needle)
            .map_or(0, |i| raw.value()[..i].chars().count());
        let (line, column) = self.inside(raw, offset);
        self.report_at(line, column, code, message, hint);
    }

    fn load(&mut self, text: &str) -> Option<ProcessDefinition> {
        self.lines = text.lines().map(str::to_owned).collect();
        let raw: RawProcess = match serde_saphyr::from_str_with_options(text, super::yaml_options())
        {
            Ok(raw) => raw,
            Err(err) => {
                self.report_yaml_error(&err);
                return None;
            }
        };
        self.build(raw, text)
    }

    fn report_yaml_error(&mut self, err: &serde_saphyr::Error) {
        let (line, column) = err
            .location()
            .map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
        let rendered = err.to_string();
        let message = strip_location(&rendered);
        let syntax = matches!(
            err,
            serde_saphyr::Error::ExternalMessage { .. }
                | serde_saphyr::Error::Eof { .. }
                | serde_saphyr::Error::MultipleDocuments { .. }
        );
        let (code, hint) = if syntax {
            (
                "yaml-syntax",
                Some("the file is not well-formed YAML at this point"),
            )
        } else if message.contains("unknown field") {
            (
                "unknown-key",
                Some("check the spelling; `forlob schema` prints every key the format has"),
            )
        } else if message.contains("duplicate") {
            ("duplicate-key", Some("ids must be unique within a mapping"))
        } else {
            (
                "schema",
                Some("see docs/process-format.md for the shape of each key"),
            )
        };
        self.report_at(line, column, code, message, hint.map(str::to_owned));
    }

    /// Compiles an expression and checks the names it reads against those in scope here.
    fn expr(&mut self, raw: &RawExpr, scope: &[&str]) -> Option<Expr> {
        let text = raw.value().as_str();
        match Expr::parse(text) {
            Ok(expr) => {
                for name in expr.root_names() {
                    if name == "subject" {
                        self.reads_subject = true;
                    }
                    if !ALWAYS.contains(&name.as_str()) && !scope.contains(&name.as_str()) {
                        let known = ROOT_NAMES.iter().any(|(n, _)| *n == name);
                        let message = if known {
                            format!("`{name}` is not available in this expression")
                        } else {
                            format!("unknown name `{name}` in `{text}`")
                        };
                        let mut names: Vec<&str> = ALWAYS.iter().chain(scope).copied().collect();
                        names.sort_unstable();
                        self.report_inside(
                            raw,
                            &name,
                            "unknown-name",
                            message,
                            Some(format!("names in scope here: {}", names.join(", "))),
                        );
                    }
                }
                if let Some(fields) = self.form_fields.clone().filter(|_| scope.contains(&"form")) {
                    for name in expr.fields_of("form") {
                        if !fields.contains(&name) {
                            let hint = format!("the form's fields: {}", fields.join(", "));
                            self.report_inside(
                                raw,
                                &format!("form.{name}"),
                                "unknown-name",
                                format!("the form has no field `{name}`"),
                                Some(hint),
                            );
                        }
                    }
                }
                Some(expr)
            }
            Err(e) => {
                let (line, column) = self.inside(raw, e.column.saturating_sub(1) as usize);
                self.report_at(
                    line,
                    column,
                    "expression-syntax",
                    format!("`{text}` does not parse: {}", e.message),
                    Some(
                        "expressions are CEL, e.g. `form.kind != 'stop' && vars.count < 19`".into(),
                    ),
                );
                None
            }
        }
    }

    fn exprs(
        &mut self,
        entries: &IndexMap<String, RawExpr>,
        scope: &[&str],
    ) -> Vec<(String, Expr)> {
        entries
            .iter()
            .filter_map(|(name, raw)| Some((name.clone(), self.expr(raw, scope)?)))
            .collect()
    }

    fn duration(&mut self, raw: &Pos<String>) -> Option<IsoDuration> {
        IsoDuration::parse(raw.value())
            .map_err(|message| self.report(raw, "bad-duration", message, None))
            .ok()
    }

    fn timezone(&mut self, raw: &Pos<String>) -> Option<chrono_tz::Tz> {
        raw.value()
            .parse::<chrono_tz::Tz>()
            .map_err(|_| {
                self.report(
                    raw,
                    "unknown-timezone",
                    format!("`{}` is not an IANA time zone", raw.value()),
                    Some("e.g. Europe/Copenhagen or Europe/Stockholm"),
                )
            })
            .ok()
    }

    fn template(&mut self, raw: &Pos<String>) {
        if let Err(e) = handlebars::Template::compile(raw.value()) {
            let offset = e.pos().map_or(0, |(_, c)| c.saturating_sub(1));
            let (line, column) = self.inside(raw, offset);
            self.report_at(
                line,
                column,
                "template-syntax",
                format!("template does not parse: {}", e.reason()),
                None,
            );
        }
        if raw.value().contains("subject.") {
            self.reads_subject = true;
        }
    }

    fn build(&mut self, raw: RawProcess, text: &str) -> Option<ProcessDefinition> {
        let timezone = raw
            .timezone
            .as_ref()
            .and_then(|z| self.timezone(z))
            .unwrap_or(DEFAULT_TIMEZONE);
        let manual_start = raw.start.manual.as_ref().map(|m| ManualStart {
            allowed: m.allowed.as_ref().and_then(|a| self.expr(a, &["actor"])),
            refusal: m.refusal.as_ref().map(text_of),
        });
        let message_start = raw.start.message.as_ref().and_then(|m| {
            Some(MessageStart {
                message_type: m.message_type.value().clone(),
                subject: self.expr(&m.subject, &["msg"])?,
                when: m.when.as_ref().and_then(|w| self.expr(w, &["msg"])),
                vars: self.exprs(&m.vars, &["msg"]),
            })
        });
        let mut states = IndexMap::new();
        for (id, raw_state) in &raw.states {
            if let Some(state) = self.state(id, raw_state, timezone) {
                states.insert(id.value().clone(), state);
            }
        }
        if !raw.states.contains_key(&raw.initial)
            && !raw.states.keys().any(|k| k.value() == raw.initial.value())
        {
            self.report(
                &raw.initial,
                "unknown-target",
                format!("initial state `{}` does not exist", raw.initial.value()),
                None,
            );
        }
        self.check_targets(&raw);
        if self.diagnostics.is_empty() {
            self.check_graph(&raw, &states);
        }
        if !self.diagnostics.is_empty() {
            return None;
        }
        Some(ProcessDefinition {
            id: raw.id.value().clone(),
            version: raw.version.as_ref().map(|v| *v.value()),
            title: raw
                .title
                .as_ref()
                .map_or_else(|| raw.id.value().clone(), text_of),
            replaces: raw.replaces.iter().map(|r| r.value().clone()).collect(),
            subject_kind: raw
                .subject
                .as_ref()
                .map_or_else(|| "person".to_owned(), |s| s.value().clone()),
            timezone,
            manual_start,
            message_start,
            initial: raw.initial.value().clone(),
            states,
            reads_subject: self.reads_subject,
            source: text.to_owned(),
            hash: hex(&Sha256::digest(text.as_bytes())),
        })
    }

    fn state(&mut self, id: &Pos<String>, raw: &RawState, zone: chrono_tz::Tz) -> Option<State> {
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
                state: id.value().clone(),
                process: process.value().clone(),
            });
        }
        let follow_up = raw
            .follow_up
            .iter()
            .filter_map(|f| {
                Some(FollowUp {
                    process: f.process.value().clone(),
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
            if self.registry.action(a.action.value()).is_none() {
                let known: Vec<&str> = self.registry.action_names().collect();
                self.report(
                    &a.action,
                    "unknown-action",
                    format!("action `{}` is not registered", a.action.value()),
                    Some(&format!("registered actions: {}", known.join(", "))),
                );
            }
            let retry = a
                .retry
                .as_ref()
                .map_or_else(RetryPolicy::default, |r| RetryPolicy {
                    max_attempts: (*r.max.value()).max(1),
                    backoff: r
                        .backoff
                        .as_ref()
                        .and_then(|b| self.duration(b))
                        .unwrap_or(RetryPolicy::default().backoff),
                });
            StepKind::Automatic {
                action: a.action.value().clone(),
                input: self.exprs(&a.input, &[]),
                retry,
                run_async: a.run_async,
                next,
            }
        } else if let Some(m) = &raw.manual {
            self.template(&m.title);
            self.form_fields = Some(
                m.form
                    .fields
                    .iter()
                    .map(|f| f.name.value().clone())
                    .collect(),
            );
            let manual = StepKind::Manual {
                task: TaskSpec {
                    title: m.title.value().clone(),
                    kind: m
                        .kind
                        .as_ref()
                        .map_or_else(|| id.value().clone(), |k| k.value().clone()),
                    assign: m
                        .assign
                        .as_ref()
                        .and_then(|a| self.expr(&a.municipality, &[])),
                    due: m.due.as_ref().and_then(|d| self.duration(d)),
                },
                form: self.form(&m.form),
                on_submit: self.branches(
                    raw.on.as_ref().map_or(&[][..], |o| &o.submit[..]),
                    &["form", "actor"],
                    id,
                ),
            };
            self.form_fields = None;
            manual
        } else if let Some(d) = &raw.decision {
            StepKind::Decision {
                branches: self.branches(d.value(), &[], id),
            }
        } else if let Some(w) = &raw.wait {
            StepKind::Wait {
                wait: self.wait(id, w, zone)?,
                next,
            }
        } else if let Some(c) = &raw.call {
            StepKind::Call {
                process: c.process.value().clone(),
                subject: c.subject.as_ref().and_then(|s| self.expr(s, &[])),
                vars: self.exprs(&c.vars, &[]),
                next,
            }
        } else {
            StepKind::End
        };
        Some(State {
            id: id.value().clone(),
            title: raw.title.as_ref().map(text_of),
            kind,
            set,
            emit,
            follow_up,
        })
    }

    fn branches(&mut self, raw: &[RawBranch], scope: &[&str], state: &Pos<String>) -> Vec<Branch> {
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
        out
    }

    fn wait(
        &mut self,
        id: &Pos<String>,
        raw: &RawWait,
        default_zone: chrono_tz::Tz,
    ) -> Option<WaitSpec> {
        let set = [
            raw.after.is_some(),
            raw.until.is_some(),
            raw.message.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if set != 1 {
            self.report(
                id,
                "bad-wait",
                format!(
                    "wait state `{}` needs exactly one of after, until, message",
                    id.value()
                ),
                None,
            );
            return None;
        }
        if let Some(after) = &raw.after {
            return Some(WaitSpec::After(self.duration(after)?));
        }
        if let Some(until) = &raw.until {
            let at = match &raw.at {
                Some(at) => parse_time_of_day(at.value())
                    .map_err(|m| self.report(at, "bad-time", m, None))
                    .ok()?,
                None => chrono::NaiveTime::MIN,
            };
            let zone = match &raw.zone {
                Some(z) => self.timezone(z)?,
                None => default_zone,
            };
            return Some(WaitSpec::Until {
                until: self.expr(until, &[])?,
                at,
                zone,
            });
        }
        let m = raw.message.as_ref()?;
        let key = match &m.key {
            Some(k) => self.expr(k, &[])?,
            None => Expr::parse("subject.id").ok()?,
        };
        Some(WaitSpec::Message {
            message_type: m.message_type.value().clone(),
            correlate: self.expr(&m.correlate, &["msg"])?,
            key,
        })
    }

    fn form(&mut self, raw: &RawForm) -> Form {
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
                Options::List(list) => Choices::List(list.clone()),
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
            });
        }
        let mut controls = std::collections::BTreeMap::new();
        for (field_type, template) in &raw.controls {
            self.template(template);
            controls.insert(field_type.clone(), template.value().clone());
        }
        Form { fields, controls }
    }

    fn check_targets(&mut self, raw: &RawProcess) {
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

    fn check_graph(&mut self, raw: &RawProcess, states: &IndexMap<String, State>) {
        let mut reachable = BTreeSet::new();
        let mut queue = VecDeque::from([raw.initial.value().as_str()]);
        while let Some(id) = queue.pop_front() {
            if reachable.insert(id)
                && let Some(state) = states.get(id)
            {
                queue.extend(state.kind.targets());
            }
        }
        let mut reaches_end: BTreeSet<&str> = states
            .values()
            .filter(|s| matches!(s.kind, StepKind::End))
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
        for id in raw.states.keys() {
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

fn kind_name(raw: &RawState) -> &'static str {
    if raw.manual.is_some() {
        "manual"
    } else if raw.decision.is_some() {
        "decision"
    } else {
        "end"
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

/// Text for people: the plain string, or Danish, then English, then any translation.
pub(crate) fn text_of(text: &Text) -> String {
    match text {
        Text::Plain(s) => s.clone(),
        Text::Translated(map) => ["da", "sv", "en"]
            .iter()
            .find_map(|l| map.get(*l))
            .or_else(|| map.values().next())
            .cloned()
            .unwrap_or_default(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The saphyr message without its own trailing location, which the diagnostic already has.
fn strip_location(rendered: &str) -> String {
    let first = rendered.lines().next().unwrap_or(rendered);
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_owned(),
        None => first.to_owned(),
    }
}
