//! Forms of manual steps: the field model, server-side validation and HTML rendering.
//!
//! Validation runs in two passes. First each submitted value is parsed by its field type
//! (`2025-06-02` into a date, `"on"` into `true`); then `required` and `check` expressions are
//! evaluated with the whole parsed form in scope, because one field's rule often reads another
//! (`samtykke` is required when `aarsag` is `rsl-9-stk-9`). Every failing field gets its own
//! message, so a caseworker sees all problems at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use handlebars::Handlebars;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::expr::{Expr, Scope};
use crate::limits::TextLimits;
use crate::message::{Code, Message};

#[derive(Debug, Clone)]
pub struct Form {
    pub fields: Vec<Field>,
    /// Per-form control templates by field type, overriding the registered ones.
    pub controls: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub field_type: String,
    pub label: String,
    pub help: Option<String>,
    pub required: Required,
    pub check: Option<Expr>,
    pub message: Option<String>,
    pub options: Option<Choices>,
    pub default: Option<Expr>,
    /// The designer's limit on the value's length in characters (`max_length`); the
    /// server's limit for the field type applies as well ([`Form::max_length`]).
    pub max_length: Option<usize>,
}

#[derive(Debug, Clone)]
pub enum Required {
    Always,
    Never,
    When(Expr),
}

/// Where a choice field's options come from.
#[derive(Debug, Clone)]
pub enum Choices {
    List(Vec<Listed>),
    /// Reference data registered by a package, by name (`ref.rsl9_reasons` → `rsl9_reasons`).
    Reference(String),
}

/// An option the definition lists, offered while its condition (if any) holds.
#[derive(Debug, Clone)]
pub struct Listed {
    pub value: String,
    pub label: String,
    pub when: Option<Expr>,
}

/// One option of a choice: the stored value and what people see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

pub use crate::message::FieldErrors;

/// Per-field messages as a reader sees them (in their language), keyed by field name.
pub type FieldTexts = BTreeMap<String, String>;

/// A kind of form field. The engine ships text, textarea, number, date, choice and checkbox;
/// packages register their own (e.g. `municipality`).
pub trait FieldType: Send + Sync {
    /// Turns a submitted, non-empty value into its stored form, or says what is wrong with it
    /// (by code, so each reader gets it in their language).
    fn parse(&self, raw: &Value, ctx: &FieldContext<'_>) -> Result<Value, Message>;

    /// The fixed choices of the type, if it has any.
    fn choices(&self) -> Vec<Choice> {
        Vec::new()
    }

    /// Handlebars source of the input control. It sees `field`, `value` (as text), `checked`
    /// (the value is `true`), `error` and `choices`.
    fn template(&self) -> &'static str {
        r#"<input id="f-{{field.name}}"{{#if error}} aria-invalid="true" aria-describedby="e-{{field.name}}"{{/if}} name="{{field.name}}" type="text" value="{{value}}"{{#if field.required}} required{{/if}}>"#
    }
}

/// What a field type may consult while parsing.
pub struct FieldContext<'a> {
    pub field: &'a Field,
    pub choices: &'a [Choice],
    /// Today in the process time zone, `YYYY-MM-DD`.
    pub today: &'a str,
}

fn as_text(raw: &Value) -> String {
    match raw {
        Value::String(s) => s.trim().to_owned(),
        other => other.to_string(),
    }
}

struct TextField {
    multiline: bool,
}

impl FieldType for TextField {
    fn parse(&self, raw: &Value, _ctx: &FieldContext<'_>) -> Result<Value, Message> {
        match raw {
            Value::String(s) => Ok(Value::String(s.clone())),
            Value::Number(_) | Value::Bool(_) => Ok(Value::String(raw.to_string())),
            _ => Err(Message::new(Code::NOT_TEXT)),
        }
    }

    fn template(&self) -> &'static str {
        if self.multiline {
            r#"<textarea id="f-{{field.name}}"{{#if error}} aria-invalid="true" aria-describedby="e-{{field.name}}"{{/if}} name="{{field.name}}" rows="4">{{value}}</textarea>"#
        } else {
            r#"<input id="f-{{field.name}}"{{#if error}} aria-invalid="true" aria-describedby="e-{{field.name}}"{{/if}} name="{{field.name}}" type="text" value="{{value}}">"#
        }
    }
}

struct NumberField;

impl FieldType for NumberField {
    fn parse(&self, raw: &Value, _ctx: &FieldContext<'_>) -> Result<Value, Message> {
        match raw {
            Value::Number(_) => Ok(raw.clone()),
            Value::String(s) => {
                let s = s.trim().replace(',', ".");
                if let Ok(i) = s.parse::<i64>() {
                    Ok(json!(i))
                } else {
                    s.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .map(|f| json!(f))
                        .ok_or_else(|| Message::new(Code::NOT_NUMBER).with("value", &s))
                }
            }
            other => Err(Message::new(Code::NOT_NUMBER).with("value", other)),
        }
    }

    fn template(&self) -> &'static str {
        r#"<input id="f-{{field.name}}"{{#if error}} aria-invalid="true" aria-describedby="e-{{field.name}}"{{/if}} name="{{field.name}}" type="number" step="any" value="{{value}}">"#
    }
}

struct DateField;

impl FieldType for DateField {
    fn parse(&self, raw: &Value, ctx: &FieldContext<'_>) -> Result<Value, Message> {
        let text = as_text(raw);
        if text == "today" {
            return Ok(Value::String(ctx.today.to_owned()));
        }
        chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
            .map_err(|_| Message::new(Code::NOT_DATE).with("value", &text))
    }

    fn template(&self) -> &'static str {
        r#"<input id="f-{{field.name}}"{{#if error}} aria-invalid="true" aria-describedby="e-{{field.name}}"{{/if}} name="{{field.name}}" type="date" value="{{value}}">"#
    }
}

struct ChoiceField;

impl FieldType for ChoiceField {
    fn parse(&self, raw: &Value, ctx: &FieldContext<'_>) -> Result<Value, Message> {
        let text = as_text(raw);
        if ctx.choices.iter().any(|c| c.value == text) {
            Ok(Value::String(text))
        } else {
            // Named as people see them; the value sent is quoted as it was.
            let allowed: Vec<&str> = ctx.choices.iter().map(|c| c.label.as_str()).collect();
            Err(Message::new(Code::NOT_CHOICE)
                .with("value", &text)
                .with("allowed", crate::message::listing(&allowed)))
        }
    }

    fn template(&self) -> &'static str {
        r#"<select id="f-{{field.name}}"{{#if error}} aria-invalid="true" aria-describedby="e-{{field.name}}"{{/if}} name="{{field.name}}"><option value=""></option>{{#each choices}}<option value="{{this.value}}"{{#if (eq this.value ../value)}} selected{{/if}}>{{this.label}}</option>{{/each}}</select>"#
    }
}

struct CheckboxField;

impl FieldType for CheckboxField {
    fn parse(&self, raw: &Value, _ctx: &FieldContext<'_>) -> Result<Value, Message> {
        match raw {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::String(s) if matches!(s.as_str(), "on" | "true" | "yes") => {
                Ok(Value::Bool(true))
            }
            Value::String(s) if matches!(s.as_str(), "off" | "false" | "no") => {
                Ok(Value::Bool(false))
            }
            _ => Err(Message::new(Code::NOT_CHECKBOX)),
        }
    }

    fn template(&self) -> &'static str {
        r#"<input id="f-{{field.name}}"{{#if error}} aria-invalid="true" aria-describedby="e-{{field.name}}"{{/if}} name="{{field.name}}" type="checkbox"{{#if checked}} checked{{/if}}>"#
    }
}

/// The field types every engine has.
pub fn builtin_field_types() -> Vec<(&'static str, Arc<dyn FieldType>)> {
    vec![
        ("text", Arc::new(TextField { multiline: false })),
        ("textarea", Arc::new(TextField { multiline: true })),
        ("number", Arc::new(NumberField)),
        ("date", Arc::new(DateField)),
        ("choice", Arc::new(ChoiceField)),
        ("checkbox", Arc::new(CheckboxField)),
    ]
}

/// A field's rule that could not be evaluated: the definition's fault, said as such.
fn rule_failed(error: &crate::expr::ExprError) -> Message {
    Message::new(Code::RULE_FAILED).with("error", error)
}

fn is_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(_) => false,
    }
}

/// What forms look up by name: field types and reference data. The registry provides
/// them; forms know only this much of it.
pub trait FieldCatalog {
    fn field_type(&self, name: &str) -> Option<&Arc<dyn FieldType>>;
    /// Every field type by name, for the renderer's templates.
    fn field_types(&self) -> Vec<(&str, &Arc<dyn FieldType>)>;
    /// The reference data `name`; empty when there is none.
    fn reference(&self, name: &str) -> &[Choice];
}

impl Form {
    /// The choices a field offers: its own list, its reference data, or its type's set.
    pub fn choices_of(field: &Field, fields: &dyn FieldCatalog) -> Vec<Choice> {
        match &field.options {
            Some(Choices::List(listed)) => listed
                .iter()
                .map(|l| Choice {
                    value: l.value.clone(),
                    label: l.label.clone(),
                })
                .collect(),
            Some(Choices::Reference(name)) => fields.reference(name).to_vec(),
            None => fields
                .field_type(&field.field_type)
                .map(|t| t.choices())
                .unwrap_or_default(),
        }
    }

    /// The choices a field offers now, in `scope` (`vars`, `subject`, `actor`, `today`): a
    /// listed option whose `when` does not hold is left out, and so is one whose `when`
    /// cannot be evaluated (logged as a warning).
    pub fn offered(field: &Field, fields: &dyn FieldCatalog, scope: &Scope) -> Vec<Choice> {
        match &field.options {
            Some(Choices::List(listed)) => listed
                .iter()
                .filter(|l| {
                    l.when.as_ref().is_none_or(|when| {
                        when.eval_bool(scope).unwrap_or_else(|e| {
                            // The definition's fault: the option is not offered, and the
                            // log says why, so a designer finds the typo.
                            tracing::warn!(field = %field.name, option = %l.value, error = %e, "an option's `when` could not be evaluated");
                            false
                        })
                    })
                })
                .map(|l| Choice {
                    value: l.value.clone(),
                    label: l.label.clone(),
                })
                .collect(),
            _ => Self::choices_of(field, fields),
        }
    }

    /// The most characters `field` accepts: the server's limit for a `textarea`, or for
    /// one-line text (every other type), lowered by the field's own `max_length`.
    pub fn max_length(field: &Field, limits: &TextLimits) -> usize {
        let server = if field.field_type == "textarea" {
            limits.textarea
        } else {
            limits.text
        };
        field.max_length.map_or(server, |own| own.min(server))
    }

    /// Validates a submission; `scope` carries `today`, `vars`, `subject`, `actor`.
    /// Returns the parsed values, with absent optional fields as `null`. A text longer than
    /// its field accepts ([`Form::max_length`]) is refused before it is parsed.
    pub fn validate(
        &self,
        submitted: &Map<String, Value>,
        scope: &Scope,
        fields: &dyn FieldCatalog,
        limits: &TextLimits,
    ) -> Result<Map<String, Value>, FieldErrors> {
        let mut errors = FieldErrors::new();
        for name in submitted.keys() {
            if !self.fields.iter().any(|f| &f.name == name) {
                errors.insert(name.clone(), Message::new(Code::NO_SUCH_FIELD));
            }
        }
        let today = scope
            .get("today")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut parsed = Map::new();
        for field in &self.fields {
            let raw = submitted.get(&field.name);
            let too_long = match raw {
                Some(Value::String(text)) => {
                    crate::limits::too_long(text, Self::max_length(field, limits))
                }
                _ => None,
            };
            if let Some(message) = too_long {
                errors.insert(field.name.clone(), message);
                continue;
            }
            let value = if is_empty(raw) {
                Value::Null
            } else {
                let Some(field_type) = fields.field_type(&field.field_type) else {
                    errors.insert(
                        field.name.clone(),
                        Message::new(Code::UNKNOWN_FIELD_TYPE).with("type", &field.field_type),
                    );
                    continue;
                };
                let choices = Self::offered(field, fields, scope);
                let ctx = FieldContext {
                    field,
                    choices: &choices,
                    today: &today,
                };
                match raw.map(|r| field_type.parse(r, &ctx)) {
                    Some(Ok(v)) => v,
                    Some(Err(message)) => {
                        errors.insert(field.name.clone(), message);
                        Value::Null
                    }
                    None => Value::Null,
                }
            };
            parsed.insert(field.name.clone(), value);
        }
        let scope = scope.clone().with("form", Value::Object(parsed.clone()));
        for field in &self.fields {
            if errors.contains_key(&field.name) {
                continue;
            }
            let value = parsed.get(&field.name);
            let required = match &field.required {
                Required::Always => Ok(true),
                Required::Never => Ok(false),
                Required::When(expr) => expr.eval_bool(&scope),
            };
            match required {
                Ok(true) if is_empty(value) || value == Some(&Value::Bool(false)) => {
                    errors.insert(field.name.clone(), Message::new(Code::REQUIRED));
                    continue;
                }
                Err(e) => {
                    errors.insert(field.name.clone(), rule_failed(&e));
                    continue;
                }
                _ => {}
            }
            if let (Some(check), false) = (&field.check, is_empty(value)) {
                match check.eval_bool(&scope) {
                    Ok(true) => {}
                    Ok(false) => {
                        let message = field.message.clone().map_or_else(
                            || Message::new(Code::CHECK_FAILED).with("rule", check.source()),
                            Message::Written,
                        );
                        errors.insert(field.name.clone(), message);
                    }
                    Err(e) => {
                        errors.insert(field.name.clone(), rule_failed(&e));
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(parsed)
        } else {
            Err(errors)
        }
    }

    /// Initial values of the fields that have a `default`.
    pub fn defaults(&self, scope: &Scope) -> Map<String, Value> {
        self.fields
            .iter()
            .filter_map(|f| {
                let value = f.default.as_ref()?.eval(scope).ok()?;
                Some((f.name.clone(), value))
            })
            .collect()
    }
}

/// Renders forms as HTML. Strict handlebars, HTML-escaped; one partial per field type, which
/// a package overrides by registering a type of the same name.
pub struct FormRenderer {
    handlebars: Handlebars<'static>,
}

const FIELD_WRAPPER: &str = r#"<div class="field{{#if error}} has-error{{/if}}"><label for="f-{{field.name}}">{{field.label}}{{#if field.required}} <span class="required-mark" aria-hidden="true">*</span>{{/if}}{{#if field.conditional}} <span class="required-mark" aria-hidden="true">(*)</span>{{/if}}</label>{{{control}}}{{#if field.help}}<small>{{field.help}}</small>{{/if}}{{#if error}}<p class="error" id="e-{{field.name}}" role="alert">{{error}}</p>{{/if}}</div>"#;

impl FormRenderer {
    pub fn new(fields: &dyn FieldCatalog) -> Result<Self, handlebars::TemplateError> {
        let mut handlebars = Handlebars::new();
        handlebars.set_strict_mode(true);
        handlebars.register_template_string("field", FIELD_WRAPPER)?;
        for (name, field_type) in fields.field_types() {
            handlebars.register_template_string(&format!("field-{name}"), field_type.template())?;
        }
        Ok(Self { handlebars })
    }

    /// HTML of all fields with the given values and per-field messages (in the reader's
    /// language); choices as offered in `scope` ([`Form::offered`]).
    pub fn render(
        &self,
        form: &Form,
        values: &Map<String, Value>,
        errors: &FieldTexts,
        fields: &dyn FieldCatalog,
        scope: &Scope,
    ) -> Result<String, handlebars::RenderError> {
        let mut html = String::new();
        for field in &form.fields {
            let mut data = json!({
                "field": {
                    "name": field.name,
                    "type": field.field_type,
                    "label": field.label,
                    "help": field.help,
                    "required": matches!(field.required, Required::Always),
                    // Required only when another field says so (`required: "form.x == 'y'"`).
                    "conditional": matches!(field.required, Required::When(_)),
                },
                "value": values.get(&field.name).map(|v| match v { Value::String(s) => s.clone(), Value::Null => String::new(), other => other.to_string() }).unwrap_or_default(),
                // Text "false" is truthy in handlebars: checkboxes get a real boolean.
                "checked": match values.get(&field.name) {
                    Some(Value::Bool(b)) => *b,
                    // A re-rendered browser post carries the checkbox as text.
                    Some(Value::String(s)) => matches!(s.as_str(), "on" | "true"),
                    _ => false,
                },
                "error": errors.get(&field.name),
                "choices": Form::offered(field, fields, scope),
            });
            // The control is rendered (and escaped) by its own template, then placed unescaped.
            let control = match form.controls.get(&field.field_type) {
                Some(own) => self.handlebars.render_template(own, &data)?,
                None => self
                    .handlebars
                    .render(&format!("field-{}", field.field_type), &data)?,
            };
            data["control"] = Value::String(control);
            html.push_str(&self.handlebars.render("field", &data)?);
        }
        Ok(html)
    }
}
