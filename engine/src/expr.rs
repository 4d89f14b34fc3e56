//! The one expression language of process definitions: CEL (guards, computed values, checks).
//!
//! Expressions are compiled once when a definition is loaded and evaluated against a [`Scope`]
//! of JSON values. CEL has no loops and no I/O, so evaluating a designer's expression can
//! neither hang the engine nor touch the database.

use std::fmt;
use std::sync::{Arc, LazyLock};

use serde_json::{Map, Value};

/// The names an expression may start with, and what they hold.
pub const ROOT_NAMES: &[(&str, &str)] = &[
    ("vars", "the instance's variables"),
    ("subject", "the subject's data, `subject.id` its id"),
    (
        "actor",
        "the person acting: `actor.id`, `actor.municipality`, `actor.role`",
    ),
    ("form", "the submitted or edited form"),
    ("msg", "the data of an inbound message"),
    (
        "today",
        "today's date in the process time zone, `YYYY-MM-DD`",
    ),
    ("now", "the current instant, RFC 3339"),
    ("ref", "reference data registered by packages"),
];

/// A compiled CEL expression together with its source text.
#[derive(Clone)]
pub struct Expr {
    source: String,
    program: Arc<cel::Program>,
    /// The root names it reads: only these are converted into CEL values on evaluation.
    roots: Arc<[String]>,
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// A parse error with the 1-based column inside the expression text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprSyntaxError {
    pub column: u64,
    pub message: String,
}

/// Evaluation failed: a missing key, a type mismatch, a result of the wrong type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expression `{source_text}` failed: {message}")]
pub struct ExprError {
    pub source_text: String,
    pub message: String,
}

impl Expr {
    pub fn parse(source: &str) -> Result<Self, ExprSyntaxError> {
        match cel::Program::compile(source) {
            Ok(program) => {
                let mut roots: Vec<String> = program
                    .references()
                    .variables()
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                roots.sort();
                Ok(Self {
                    source: source.to_owned(),
                    program: Arc::new(program),
                    roots: roots.into(),
                })
            }
            Err(errors) => {
                let first = errors.errors.first();
                Err(ExprSyntaxError {
                    column: first.map_or(1, |e| e.pos.1.max(1) as u64),
                    message: first.map_or_else(|| errors.to_string(), |e| e.msg.clone()),
                })
            }
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The top-level names the expression reads (`vars`, `form`, ...).
    pub fn root_names(&self) -> Vec<String> {
        self.roots.to_vec()
    }

    /// The fields read directly below a root name: `form.a == form.b` gives `a`, `b` for `form`.
    pub fn fields_of(&self, root: &str) -> Vec<String> {
        fn walk(e: &cel::IdedExpr, root: &str, out: &mut Vec<String>) {
            use cel::common::ast::Expr as E;
            match &e.expr {
                E::Select(s) => {
                    if matches!(&s.operand.expr, E::Ident(name) if name == root) {
                        out.push(s.field.clone());
                    }
                    walk(&s.operand, root, out);
                }
                E::Call(c) => {
                    c.target.iter().for_each(|t| walk(t, root, out));
                    c.args.iter().for_each(|a| walk(a, root, out));
                }
                E::List(l) => l.elements.iter().for_each(|a| walk(a, root, out)),
                E::Comprehension(c) => {
                    for part in [
                        &c.iter_range,
                        &c.accu_init,
                        &c.loop_cond,
                        &c.loop_step,
                        &c.result,
                    ] {
                        walk(part, root, out);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(self.program.expression(), root, &mut out);
        out.sort();
        out.dedup();
        out
    }

    pub fn eval(&self, scope: &Scope) -> Result<Value, ExprError> {
        let context = scope.context(&self.roots);
        let result = self.program.execute(&context).map_err(|e| self.error(e))?;
        result.json().map_err(|e| self.error(e))
    }

    pub fn eval_bool(&self, scope: &Scope) -> Result<bool, ExprError> {
        match self.eval(scope)? {
            Value::Bool(b) => Ok(b),
            other => Err(self.error(format!("expected true or false, got {other}"))),
        }
    }

    /// Evaluates to a string; numbers are accepted and printed (municipality codes are often
    /// written as numbers in YAML and messages).
    pub fn eval_string(&self, scope: &Scope) -> Result<String, ExprError> {
        match self.eval(scope)? {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(self.error(format!("expected a string, got {other}"))),
        }
    }

    fn error(&self, message: impl fmt::Display) -> ExprError {
        ExprError {
            source_text: self.source.clone(),
            message: message.to_string(),
        }
    }
}

/// Evaluates a list of named expressions into a JSON object.
pub fn eval_object(
    entries: &[(String, Expr)],
    scope: &Scope,
) -> Result<Map<String, Value>, ExprError> {
    entries
        .iter()
        .map(|(name, expr)| Ok((name.clone(), expr.eval(scope)?)))
        .collect()
}

/// What an expression can see. Absent parts are simply not defined, so reading them is an
/// evaluation error rather than a silent null.
///
/// Values are shared (`Arc`): a transition builds many scopes over the same subject and
/// reference data, and none of them should copy those.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    values: Vec<Root>,
}

/// One root name of a scope, with its CEL form made on the first evaluation that reads it:
/// a state's guards, emits and follow-ups all read `vars`, and converting it for each of
/// them made a hash map per object each time (hashing fell from about 9 % to 5 % of the
/// daily run's profile; docs/benchmarks.md).
#[derive(Debug, Clone)]
struct Root {
    name: &'static str,
    value: Arc<Value>,
    /// The CEL form, or `None` inside if `cel::to_value` refused the value (it takes every
    /// JSON value, so this is only in case).
    cel: std::sync::OnceLock<Option<cel::Value>>,
}

/// CEL's standard library, declared once for the process. `cel::Context::default()`
/// declares it anew, and an evaluation that started from it spent about 5 % of a transition
/// on that (docs/plans/throughput.md).
static STANDARD_LIBRARY: LazyLock<Arc<cel::Env>> = LazyLock::new(|| Arc::new(cel::Env::stdlib()));

impl Scope {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets one root name; a later set of the same name replaces the earlier one.
    pub fn with(mut self, name: &'static str, value: impl Into<Arc<Value>>) -> Self {
        self.set(name, value);
        self
    }

    pub fn set(&mut self, name: &'static str, value: impl Into<Arc<Value>>) {
        let root = Root {
            name,
            value: value.into(),
            cel: std::sync::OnceLock::new(),
        };
        match self.values.iter_mut().find(|r| r.name == name) {
            Some(slot) => *slot = root,
            None => self.values.push(root),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.value.as_ref())
    }

    /// A CEL context holding only `roots`: converting a name the expression never reads
    /// (the reference data, a large subject) would be wasted work on every evaluation.
    fn context(&self, roots: &[String]) -> cel::Context<'_, '_> {
        let mut context = cel::Context::with_env(Arc::clone(&STANDARD_LIBRARY));
        for root in self
            .values
            .iter()
            .filter(|root| roots.iter().any(|r| r == root.name))
        {
            // CEL's maps, lists and strings are shared, so this clone copies no data (CEL
            // still makes its own value objects of it inside each execution).
            let cel = root
                .cel
                .get_or_init(|| cel::to_value(root.value.as_ref()).ok());
            if let Some(v) = cel {
                context.add_variable_from_value(root.name, v.clone());
            }
        }
        context
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn guards_read_nested_values() {
        let expr = Expr::parse("form.handling != 'stop' && vars.count < 19").expect("valid");
        let scope = Scope::new()
            .with("form", json!({"handling": "opret"}))
            .with("vars", json!({"count": 3}));
        assert!(expr.eval_bool(&scope).expect("evaluates"));
        assert_eq!(
            expr.root_names(),
            vec!["form".to_owned(), "vars".to_owned()]
        );
    }

    #[test]
    fn a_root_set_again_is_read_anew_and_not_from_its_earlier_cel_form() {
        let expr = Expr::parse("vars.count").expect("valid");
        let mut scope = Scope::new().with("vars", json!({"count": 1}));
        assert_eq!(expr.eval(&scope).expect("evaluates"), json!(1));
        assert_eq!(expr.eval(&scope).expect("again"), json!(1), "the same form");
        scope.set("vars", json!({"count": 5}));
        assert_eq!(expr.eval(&scope).expect("evaluates"), json!(5));
        let copy = scope.clone();
        scope.set("vars", json!({"count": 9}));
        assert_eq!(expr.eval(&copy).expect("the copy"), json!(5));
        assert_eq!(expr.eval(&scope).expect("evaluates"), json!(9));
    }

    #[test]
    fn dates_compare_as_iso_strings() {
        let expr = Expr::parse("form.til == null || form.til >= form.fra").expect("valid");
        let scope = Scope::new().with("form", json!({"fra": "2025-06-02", "til": "2025-06-01"}));
        assert!(!expr.eval_bool(&scope).expect("evaluates"));
    }

    #[test]
    fn fields_below_a_root_are_found_in_every_part_of_the_expression() {
        let expr = Expr::parse("form.a == 'x' || size(form.items) > 0 && vars.c").expect("valid");
        assert_eq!(
            expr.fields_of("form"),
            vec!["a".to_owned(), "items".to_owned()]
        );
        assert_eq!(expr.fields_of("vars"), vec!["c".to_owned()]);
    }

    #[test]
    fn syntax_errors_carry_a_column() {
        let err = Expr::parse("form.a ==").expect_err("incomplete");
        assert!(err.column >= 1, "{err:?}");
    }

    #[test]
    fn reading_an_absent_name_is_an_error_not_null() {
        let expr = Expr::parse("vars.x == 1").expect("valid");
        assert!(expr.eval(&Scope::new()).is_err());
    }

    #[test]
    fn numbers_are_accepted_where_a_code_is_expected() {
        let expr = Expr::parse("subject.handlekommune").expect("valid");
        let scope = Scope::new().with("subject", json!({"handlekommune": 101}));
        assert_eq!(expr.eval_string(&scope).expect("evaluates"), "101");
    }
}
