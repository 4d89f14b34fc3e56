//! Turns raw YAML structs into a `ProcessDefinition`, collecting every diagnostic on the way.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

mod graph;
mod states;

use super::SourceFile;
use super::model::*;
use super::raw::*;
use crate::diagnostic::Diagnostic;
use crate::expr::{Expr, ROOT_NAMES};
use crate::form::Choice;
use crate::registry::Registry;
use crate::schedule::{ScheduleContext, ScheduleRequest};
use crate::timer::IsoDuration;

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
                message: format!("{} process `{}`, which is not defined", r.by, r.process),
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

/// A `follow_up`, `call` or `finish_before` naming another process, checked once the whole
/// set is read.
struct ProcessRef {
    file: String,
    line: u64,
    column: u64,
    /// Who names it, as the message says it: "state `x` starts".
    by: String,
    process: String,
}

pub(in crate::definition) struct Checker<'a> {
    file: &'a str,
    pub(in crate::definition) registry: &'a Registry,
    diagnostics: Vec<Diagnostic>,
    reads_subject: bool,
    /// The fields of the form of the manual state being checked, for `form.NAME` references.
    pub(in crate::definition) form_fields: Option<Vec<String>>,
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

    pub(in crate::definition) fn report<T>(
        &mut self,
        at: &Pos<T>,
        code: &'static str,
        message: String,
        hint: Option<&str>,
    ) {
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
        let diagnostic = yaml_diagnostic(self.file, err);
        self.diagnostics.push(diagnostic);
    }

    /// Compiles an expression and checks the names it reads against those in scope here.
    pub(in crate::definition) fn expr(&mut self, raw: &RawExpr, scope: &[&str]) -> Option<Expr> {
        let allowed: Vec<&str> = ALWAYS.iter().chain(scope).copied().collect();
        self.expr_in(raw, &allowed)
    }

    /// An expression over an inbound message, evaluated before any instance exists: it sees
    /// the message, the date and reference data, but no variables or subject.
    pub(in crate::definition) fn message_expr(&mut self, raw: &RawExpr) -> Option<Expr> {
        self.expr_in(raw, &["msg", "today", "now", "ref"])
    }

    /// Compiles an expression that may read exactly the names in `allowed`.
    fn expr_in(&mut self, raw: &RawExpr, allowed: &[&str]) -> Option<Expr> {
        let scope = allowed;
        let text = raw.value().as_str();
        match Expr::parse(text) {
            Ok(expr) => {
                for name in expr.root_names() {
                    if name == "subject" {
                        self.reads_subject = true;
                    }
                    if !scope.contains(&name.as_str()) {
                        let known = ROOT_NAMES.iter().any(|(n, _)| *n == name);
                        let message = if known {
                            format!("`{name}` is not available in this expression")
                        } else {
                            format!("unknown name `{name}` in `{text}`")
                        };
                        let mut names: Vec<&str> = scope.to_vec();
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

    pub(in crate::definition) fn exprs(
        &mut self,
        entries: &IndexMap<String, RawExpr>,
        scope: &[&str],
    ) -> Vec<(String, Expr)> {
        entries
            .iter()
            .filter_map(|(name, raw)| Some((name.clone(), self.expr(raw, scope)?)))
            .collect()
    }

    pub(in crate::definition) fn duration(&mut self, raw: &Pos<String>) -> Option<IsoDuration> {
        IsoDuration::parse(raw.value())
            .map_err(|message| self.report(raw, "bad-duration", message, None))
            .ok()
    }

    pub(in crate::definition) fn timezone(&mut self, raw: &Pos<String>) -> Option<chrono_tz::Tz> {
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

    pub(in crate::definition) fn template(&mut self, raw: &Pos<String>) {
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

    fn job_start(
        &mut self,
        raw: &RawScheduleStart,
        process: &Pos<String>,
        zone: chrono_tz::Tz,
    ) -> JobStart {
        let mut parameters = IndexMap::new();
        for (name, p) in &raw.parameters {
            if RUN_VARS.contains(&name.value().as_str()) {
                self.report(
                    name,
                    "bad-parameter",
                    format!(
                        "`{}` is given to every run; a parameter cannot have its name",
                        name.value()
                    ),
                    Some("use it as vars.run_date / vars.fired_at without declaring it"),
                );
                continue;
            }
            let kind = match (p.kind.value().as_str(), &p.options) {
                ("string", None) => ParameterKind::String,
                ("integer", None) => ParameterKind::Integer,
                ("boolean", None) => ParameterKind::Boolean,
                ("date", None) => ParameterKind::Date,
                ("choice", Some(options)) => {
                    let choices: Vec<Choice> = match options.value() {
                        Options::List(list) => {
                            let listed = self.listed(options, list);
                            if listed.iter().any(|l| l.when.is_some()) {
                                self.report(
                                    options,
                                    "option-condition",
                                    "a job parameter's options have no `when`: a schedule has no subject to ask"
                                        .into(),
                                    Some("list every value the job can take"),
                                );
                            }
                            listed
                                .into_iter()
                                .map(|l| Choice {
                                    value: l.value,
                                    label: l.label,
                                })
                                .collect()
                        }
                        Options::Reference(name) => {
                            let name = name.strip_prefix("ref.").unwrap_or(name);
                            if !self.registry.has_reference(name) {
                                self.report(
                                    options,
                                    "unknown-reference",
                                    format!("no reference data named `{name}`"),
                                    Some("options are a list, or ref.NAME of data a package registers"),
                                );
                                continue;
                            }
                            self.registry.reference(name).to_vec()
                        }
                    };
                    if choices.is_empty() {
                        self.report(
                            options,
                            "bad-parameter",
                            "a choice needs at least one option".into(),
                            None,
                        );
                        continue;
                    }
                    ParameterKind::Choice(choices)
                }
                ("choice", None) => {
                    self.report(
                        &p.kind,
                        "bad-parameter",
                        "a choice needs `options`".into(),
                        Some("e.g. options: [kir, direkt]"),
                    );
                    continue;
                }
                ("string" | "integer" | "boolean" | "date", Some(options)) => {
                    self.report(
                        options,
                        "bad-parameter",
                        "only a choice has `options`".into(),
                        None,
                    );
                    continue;
                }
                (other, _) => {
                    self.report(
                        &p.kind,
                        "bad-parameter",
                        format!("unknown parameter type `{other}`"),
                        Some("one of string, integer, boolean, date, choice"),
                    );
                    continue;
                }
            };
            let default = match &p.default {
                Some(value) => match kind.check(value.value()) {
                    Ok(v) => Some(v),
                    Err(problem) => {
                        self.report(
                            value,
                            "bad-parameter",
                            format!("default of `{}` {problem}", name.value()),
                            None,
                        );
                        continue;
                    }
                },
                None => None,
            };
            parameters.insert(
                name.value().clone(),
                JobParameter {
                    kind,
                    label: p.label.as_ref().map(text_of),
                    default,
                },
            );
        }
        for process in &raw.finish_before {
            let (line, column) = process.line_col();
            self.process_refs.push(ProcessRef {
                file: self.file.to_owned(),
                line,
                column,
                by: "`finish_before` names".to_owned(),
                process: process.value().clone(),
            });
        }
        let mut job = JobStart {
            parameters,
            finish_before: raw
                .finish_before
                .iter()
                .map(|p| p.value().clone())
                .collect(),
            confirm: raw.confirm.as_ref().map(text_of),
            default_schedule: None,
        };
        if let Some(default) = &raw.default {
            job.default_schedule = self.default_schedule(default, &job, process, zone);
        }
        job
    }

    /// The default schedule as a request, checked as an admin's would be (`bad-schedule`
    /// at the field it is about).
    fn default_schedule(
        &mut self,
        raw: &RawDefaultSchedule,
        job: &JobStart,
        process: &Pos<String>,
        zone: chrono_tz::Tz,
    ) -> Option<ScheduleRequest> {
        let text = |p: &Option<Pos<String>>| p.as_ref().map(|p| p.value().clone());
        let mut errors = crate::form::FieldErrors::new();
        let misfire = policy("misfire", &raw.misfire, "latest, skip or all", &mut errors);
        let overlap = policy("overlap", &raw.overlap, "skip or queue", &mut errors);
        let request = ScheduleRequest {
            process: process.value().clone(),
            label: text(&raw.label),
            start_date: None,
            start_time: text(&raw.start_time),
            weekdays: raw
                .weekdays
                .as_ref()
                .map(|w| w.value().clone())
                .unwrap_or_default(),
            cron: text(&raw.cron),
            time_zone: text(&raw.time_zone),
            parameters: serde_json::Map::new(),
            misfire: misfire.unwrap_or_default(),
            overlap: overlap.unwrap_or_default(),
            confirmed: false,
        };
        // Any fixed day will do: what is checked does not depend on when it is deployed.
        let context = ScheduleContext {
            job: Some(job),
            title: process.value(),
            process_zone: zone,
            now: chrono::DateTime::UNIX_EPOCH,
            // How often a schedule may fire is the installation's setting, checked when the
            // definition is deployed and its default schedule installed.
            min_interval: std::time::Duration::ZERO,
        };
        if let Err(found) = crate::schedule::check(&request, &context) {
            errors.extend(found);
        }
        if errors.is_empty() {
            return Some(request);
        }
        // Reported in the order of the file, each at its field (the weekdays list as a whole).
        let mut found: Vec<_> = errors
            .into_iter()
            .map(|(field, message)| {
                let at = match field.as_str() {
                    "label" => raw.label.as_ref().map(Pos::line_col),
                    "start_time" => raw.start_time.as_ref().map(Pos::line_col),
                    "weekdays" => raw.weekdays.as_ref().map(Pos::line_col),
                    "cron" => raw.cron.as_ref().map(Pos::line_col),
                    "time_zone" => raw.time_zone.as_ref().map(Pos::line_col),
                    "misfire" => raw.misfire.as_ref().map(Pos::line_col),
                    "overlap" => raw.overlap.as_ref().map(Pos::line_col),
                    _ => None,
                };
                (at, field, message.to_string())
            })
            .collect();
        found.sort();
        for (at, field, message) in found {
            let message = format!("default schedule, {field}: {message}");
            match at {
                Some((line, column)) => self.report_at(line, column, "bad-schedule", message, None),
                None => self.report(process, "bad-schedule", message, None),
            }
        }
        None
    }

    fn build(&mut self, raw: RawProcess, text: &str) -> Option<ProcessDefinition> {
        let timezone = raw
            .timezone
            .as_ref()
            .and_then(|z| self.timezone(z))
            .unwrap_or_else(|| self.registry.default_timezone());
        let manual_start = raw.start.manual.as_ref().map(|m| ManualStart {
            allowed: m.allowed.as_ref().and_then(|a| self.expr(a, &["actor"])),
            refusal: m.refusal.as_ref().map(text_of),
        });
        let message_start = raw.start.message.as_ref().and_then(|m| {
            Some(MessageStart {
                message_type: m.message_type.value().clone(),
                subject: self.message_expr(&m.subject)?,
                when: m.when.as_ref().and_then(|w| self.message_expr(w)),
                vars: m
                    .vars
                    .iter()
                    .filter_map(|(name, raw)| Some((name.clone(), self.message_expr(raw)?)))
                    .collect(),
            })
        });
        let job = raw
            .start
            .schedule
            .as_ref()
            .map(|j| self.job_start(j, &raw.id, timezone));
        let mut states = IndexMap::new();
        for (id, raw_state) in &raw.states {
            // Which states read the subject, so the runtime loads it only where it is read.
            let earlier = std::mem::replace(&mut self.reads_subject, false);
            let state = self.state(id, raw_state, timezone);
            let this_one = self.reads_subject;
            self.reads_subject = earlier || this_one;
            if let Some(mut state) = state {
                state.reads_subject = this_one;
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
            job,
            initial: raw.initial.value().clone(),
            states,
            reads_subject: self.reads_subject,
            source: text.to_owned(),
            hash: hex(&Sha256::digest(text.as_bytes())),
        })
    }
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

/// The diagnostic of a YAML file that does not parse into the shape it should have: syntax,
/// an unknown key, a duplicate, or a value of the wrong type. Shared by every YAML format of
/// forlob (definitions, migration plans).
pub(crate) fn yaml_diagnostic(file: &str, err: &serde_saphyr::Error) -> Diagnostic {
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
            "the file is not well-formed YAML at this point",
        )
    } else if message.contains("unknown field") {
        (
            "unknown-key",
            "check the spelling; `forlob schema` prints every key the format has",
        )
    } else if message.contains("duplicate") {
        ("duplicate-key", "ids must be unique within a mapping")
    } else {
        (
            "schema",
            "see docs/process-format.md for the shape of each key",
        )
    };
    Diagnostic {
        file: file.to_owned(),
        line,
        column,
        code,
        message,
        hint: Some(hint.to_owned()),
    }
}

/// The saphyr message without its own trailing location, which the diagnostic already has.
fn strip_location(rendered: &str) -> String {
    let first = rendered.lines().next().unwrap_or(rendered);
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_owned(),
        None => first.to_owned(),
    }
}

/// A schedule policy (`misfire`, `overlap`) named in YAML, or the error for its field.
fn policy<T: serde::de::DeserializeOwned>(
    field: &str,
    raw: &Option<Pos<String>>,
    choices: &str,
    errors: &mut crate::form::FieldErrors,
) -> Option<T> {
    let raw = raw.as_ref()?;
    serde_json::from_value(serde_json::Value::String(raw.value().clone()))
        .map_err(|_| {
            errors.insert(
                field.to_owned(),
                crate::message::Message::new(crate::message::Code::NOT_CHOICE)
                    .with("value", raw.value())
                    .with("allowed", choices),
            );
        })
        .ok()
}
