//! Forms: server-side validation with a message per field, and HTML rendering that escapes
//! whatever people typed.

use forlob_engine::definition::{Manual, StepKind, load};
use forlob_engine::expr::Scope;
use forlob_engine::form::{FieldErrors, FieldTexts, Form, FormRenderer};
use forlob_engine::message::Code;
use serde_json::{Map, Value, json};

const YAML: &str = r#"
id: forms
initial: ask
states:
  ask:
    manual:
      title: Ask
      form:
        controls:
          textarea: '<textarea class="own" id="f-{{field.name}}" name="{{field.name}}">{{value}}</textarea>'
        fields:
          - { name: handling, type: choice, label: Handling, options: [opret, stop], required: true }
          - { name: kommune, type: text, label: Kommune, required: "form.handling != 'stop'" }
          - { name: fra, type: date, label: Fra, default: today, check: "form.fra == today", message: "Startdatoen skal være i dag" }
          - { name: til, type: date, label: Til, check: "form.til >= form.fra" }
          - { name: beloeb, type: number, label: Beløb }
          - { name: samtykke, type: checkbox, label: Samtykke, required: "form.handling == 'opret'" }
          - { name: note, type: textarea, label: Note, help: "Skriv kort" }
    on: { submit: [ { goto: done } ] }
  done: { end: true }
"#;

fn form() -> Form {
    let def = load("forms.yaml", YAML, &forlob_engine::demo::registry()).expect("valid");
    match &def.state("ask").expect("state").kind {
        StepKind::Manual(manual) => manual.form.clone(),
        other => panic!("manual expected, got {}", other.name()),
    }
}

fn scope() -> Scope {
    Scope::new()
        .with("today", json!("2025-06-02"))
        .with("vars", json!({}))
        .with("subject", json!({"id": "x"}))
}

fn submit(pairs: Value) -> Result<Map<String, Value>, FieldErrors> {
    form().validate(
        pairs.as_object().expect("object"),
        &scope(),
        &forlob_engine::demo::registry(),
        &forlob_engine::TextLimits::default(),
    )
}

#[test]
fn a_valid_submission_is_parsed_into_typed_values() {
    let values = submit(json!({
        "handling": "opret", "kommune": "147", "fra": "today", "til": "2025-12-31",
        "beloeb": "12,5", "samtykke": "on", "note": "ok"
    }))
    .expect("valid");
    assert_eq!(values["fra"], json!("2025-06-02"));
    assert_eq!(values["beloeb"], json!(12.5));
    assert_eq!(values["samtykke"], json!(true));
}

#[test]
fn every_wrong_field_gets_its_own_message() {
    let errors = submit(json!({
        "handling": "maybe", "fra": "2025-06-01", "til": "someday", "beloeb": "many"
    }))
    .expect_err("invalid");
    // As the API says them (in English); the pages put each code in the reader's language.
    let texts: std::collections::BTreeMap<_, _> =
        errors.iter().map(|(k, v)| (k, v.to_string())).collect();
    insta::assert_debug_snapshot!(texts, @r###"
    {
        "beloeb": "`many` is not a number",
        "fra": "Startdatoen skal være i dag",
        "handling": "`maybe` is not one of: opret, stop",
        "kommune": "required",
        "til": "`someday` is not a date; use YYYY-MM-DD",
    }
    "###);
}

#[test]
fn text_over_its_limit_is_refused_and_a_designer_may_lower_the_limit() {
    let yaml = YAML.replace(
        "{ name: kommune, type: text, label: Kommune,",
        "{ name: kommune, type: text, max_length: 4, label: Kommune,",
    );
    let def = load("forms.yaml", &yaml, &forlob_engine::demo::registry()).expect("valid");
    let StepKind::Manual(Manual { form, .. }) = &def.state("ask").expect("state").kind else {
        panic!("manual expected");
    };
    let limits = forlob_engine::TextLimits {
        textarea: 10,
        ..forlob_engine::TextLimits::default()
    };
    let submit = |kommune: &str, note: &str| {
        form.validate(
            json!({ "handling": "opret", "kommune": kommune, "samtykke": "on", "note": note })
                .as_object()
                .expect("object"),
            &scope(),
            &forlob_engine::demo::registry(),
            &limits,
        )
    };
    // At the limits, in characters: `æ` and `ø` are one each.
    assert!(submit("æøå1", "ø".repeat(10).as_str()).is_ok());
    let errors = submit("12345", &"x".repeat(11)).expect_err("both too long");
    assert_eq!(errors["kommune"], "at most 4 characters (this has 5)");
    assert_eq!(errors["note"], "at most 10 characters (this has 11)");
    // The designer's limit only lowers the server's: a `max_length` above it changes nothing.
    let generous = YAML.replace(
        "{ name: note, type: textarea,",
        "{ name: note, type: textarea, max_length: 100000,",
    );
    let def = load("forms.yaml", &generous, &forlob_engine::demo::registry()).expect("valid");
    let StepKind::Manual(Manual { form, .. }) = &def.state("ask").expect("state").kind else {
        panic!("manual expected");
    };
    let note = form.fields.iter().find(|f| f.name == "note").expect("note");
    assert_eq!(Form::max_length(note, &limits), 10);
}

#[test]
fn required_when_reads_the_other_fields() {
    let errors = submit(json!({"handling": "opret", "fra": "2025-06-02"})).expect_err("invalid");
    assert!(errors["kommune"].is(Code::REQUIRED), "{errors:?}");
    assert!(errors["samtykke"].is(Code::REQUIRED), "{errors:?}");
    assert!(
        submit(json!({"handling": "stop", "fra": "2025-06-02"})).is_ok(),
        "neither is required for stop"
    );
}

#[test]
fn a_check_comparing_two_dates_refuses_an_end_before_the_start() {
    let errors = submit(json!({"handling": "stop", "fra": "2025-06-02", "til": "2025-06-01"}))
        .expect_err("invalid");
    assert_eq!(errors["til"], "must satisfy form.til >= form.fra");
}

#[test]
fn rendering_escapes_typed_values_and_shows_errors_beside_their_fields() {
    let registry = forlob_engine::demo::registry();
    let renderer = FormRenderer::new(&registry).expect("templates compile");
    let mut values = form().defaults(&scope());
    values.insert("kommune".into(), json!("<script>alert(1)</script>"));
    values.insert("note".into(), json!("\"quoted\" & <b>bold</b>"));
    values.insert("samtykke".into(), json!(false));
    let errors: FieldTexts = [("handling".to_owned(), "required".to_owned())].into();
    let html = renderer
        .render(&form(), &values, &errors, &registry, &scope())
        .expect("renders");
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    assert!(
        html.contains(r#"<textarea class="own""#),
        "the form's own control is used: {html}"
    );
    assert!(
        html.contains(r#"value="2025-06-02""#),
        "the default is filled in"
    );
    insta::assert_snapshot!(html.replace("</div>", "</div>\n"));
}

/// "Handling" offers only what can be done for the person now: an option with a `when` is
/// left out of the rendered select while it does not hold, and refused if sent anyway; its
/// label is what people see, its value what is stored.
#[test]
fn an_option_is_offered_and_accepted_only_while_its_condition_holds() {
    let yaml = r#"
id: options
subject: person
initial: ask
states:
  ask:
    manual:
      title: Ask
      form:
        fields:
          - name: handling
            type: choice
            label: Handling
            required: true
            options:
              - { value: opret, label: Opret en registrering }
              - { value: stop, label: Stop registreringen, when: "subject.manual != null" }
    on: { submit: [ { goto: done } ] }
  done: { end: true }
"#;
    let registry = forlob_engine::demo::registry();
    let def = load("options.yaml", yaml, &registry).expect("valid");
    let StepKind::Manual(Manual { form, .. }) = &def.state("ask").expect("state").kind else {
        panic!("manual expected");
    };
    let field = &form.fields[0];
    let without = scope().with("subject", json!({ "id": "x", "manual": null }));
    let with = scope().with(
        "subject",
        json!({ "id": "x", "manual": { "state": "active" } }),
    );
    let values = |offered: Vec<forlob_engine::form::Choice>| -> Vec<String> {
        offered.into_iter().map(|c| c.value).collect()
    };
    assert_eq!(values(Form::offered(field, &registry, &without)), ["opret"]);
    assert_eq!(
        values(Form::offered(field, &registry, &with)),
        ["opret", "stop"]
    );
    // Every option keeps its label wherever a stored value is shown.
    assert_eq!(
        Form::choices_of(field, &registry)[1].label,
        "Stop registreringen"
    );
    let renderer = FormRenderer::new(&registry).expect("templates compile");
    let html = renderer
        .render(form, &Map::new(), &FieldTexts::new(), &registry, &without)
        .expect("renders");
    assert!(
        html.contains(r#"<option value="opret">Opret en registrering</option>"#)
            && !html.contains("stop"),
        "{html}"
    );
    let limits = forlob_engine::TextLimits::default();
    let sent = json!({ "handling": "stop" });
    let refused = form
        .validate(
            sent.as_object().expect("object"),
            &without,
            &registry,
            &limits,
        )
        .expect_err("not possible without a registration");
    assert_eq!(
        refused["handling"],
        "`stop` is not one of: Opret en registrering"
    );
    assert!(
        form.validate(sent.as_object().expect("object"), &with, &registry, &limits)
            .is_ok()
    );
}

#[test]
fn an_options_condition_is_checked_when_the_definition_is_loaded() {
    let yaml = r#"
id: options
initial: ask
states:
  ask:
    manual:
      title: Ask
      form:
        fields:
          - name: handling
            type: choice
            options:
              - { value: opret, when: "form.x == 1" }
              - opret
          - { name: antal, type: choice, options: [1, 2, 3] }
    on: { submit: [ { goto: done } ] }
  done: { end: true }
"#;
    let refused =
        load("options.yaml", yaml, &forlob_engine::demo::registry()).expect_err("invalid");
    let text: String = refused.iter().map(|d| format!("{d}\n")).collect();
    assert!(text.contains("duplicate-option"), "{text}");
    assert!(
        text.contains("`form`"),
        "an option's condition does not see the form: {text}"
    );
    assert_eq!(
        refused.len(),
        2,
        "numbers are options like any other: {text}"
    );
}
