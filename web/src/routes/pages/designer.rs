//! The designer's pages: deployed definitions and their versions, the YAML source, the
//! validation result of the deployed set, the Mermaid diagram rendered in the browser, and
//! the workbench where a definition is edited as a draft, checked while typed and saved.

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use forlob_engine::Role;
use serde::Serialize;

use super::SignedIn;
use crate::error::AppError;
use crate::routes::api::Path;
use crate::routes::api::definitions::DraftSummaryView;
use crate::routes::api::processes::{ProcessDetail, ProcessSummary, process_detail, summaries};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/designer", get(list))
        .route("/designer/processes/{id}", get(process))
        .route("/designer/workbench", get(workbench))
        .route(
            "/designer/workbench/form",
            axum::routing::post(workbench_form),
        )
}

/// The form of one manual state of the draft in the workbench, as the caseworker will see it;
/// with `try`, the values entered are checked as a submit would check them. An HTML fragment
/// for the workbench's preview; nothing is stored.
async fn workbench_form(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    caller.require(&[Role::Designer, Role::Admin])?;
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (text, process, step) = (field("text"), field("process"), field("state"));
    crate::routes::api::check_filters(
        [
            ("process", Some(process.as_str())),
            ("state", Some(step.as_str())),
        ],
        state.engine.limits().query,
    )?;
    // The values tried come prefixed `v.` (the workbench adds it), apart from the draft itself.
    let tried = field("try") == "1";
    let values: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix("v.")?.to_owned(),
                serde_json::Value::String(v.clone()),
            ))
        })
        .collect();
    let files = [forlob_engine::definition::SourceFile {
        path: format!("{process}.yaml"),
        text,
    }];
    let shown = state
        .engine
        .workbench()
        .draft_form(
            &files,
            &process,
            &step,
            tried.then_some(&values),
            &caller.actor(),
        )
        .await?;
    let Some(shown) = shown else {
        return Ok(state
            .ui
            .fragment(
                "designer_workbench_form",
                &chrome,
                WorkbenchForm::Missing { missing: true },
            )?
            .into_response());
    };
    let texts = state.ui.messages(chrome.lang, &shown.errors);
    let html = state
        .engine
        .queries()
        .render_form(&shown.form, &shown.values, &texts, &shown.scope)
        .map_err(|e| AppError::internal(&e))?;
    let view = WorkbenchForm::Shown {
        form_html: html,
        state: step,
        tried,
        passed: tried && shown.errors.is_empty(),
        failed: shown.errors.len(),
    };
    Ok(state
        .ui
        .fragment("designer_workbench_form", &chrome, view)?
        .into_response())
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkbenchQuery {
    /// A deployed process to start from; none: a new one.
    process: Option<String>,
    /// A saved draft to go on with (the caller's own, any for an admin).
    draft: Option<i64>,
}

/// A new process as the workbench starts it: a small valid definition (a test checks it).
const NEW_PROCESS: &str = r#"id: ny-proces
title: Ny proces
subject: person
initial: vurdering
states:
  vurdering:
    manual:
      title: "Vurdér sagen"
      form:
        fields:
          - { name: afgoerelse, type: choice, options: [ja, nej], required: true, label: Afgørelse }
    on:
      submit:
        - { goto: afsluttet }
  afsluttet: { end: true }
"#;

/// The scenario the workbench's second editor starts with: one person, one start, one
/// expectation; the designer's to change.
const OWN_SCENARIO: &str = r#"scenario: Mit scenarie
clock: 2026-01-05T09:00:00+01:00
given:
  persons:
    - { cpr: "0101501234", name: Test Person, birth_date: 1950-01-01, residence: 101, cpr_subscription: true }
steps:
  - start: { process: PROCESS, subject: "0101501234", as: { municipality: 101 } }
expect:
  - instance: { process: PROCESS, count: 1 }
"#;

/// The workbench: the process's newest deployed YAML (or a new one) in the editor, checked
/// by the server while the designer types, its diagram beside it, saved as a draft.
async fn workbench(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Query(query): Query<WorkbenchQuery>,
) -> Result<Response, AppError> {
    caller.require(&[Role::Designer, Role::Admin])?;
    let draft = match query.draft {
        Some(id) => Some(state.engine.workbench().draft(id, &caller.actor()).await?),
        None => None,
    };
    let (id, text, title) = match query.process.as_deref().filter(|p| !p.is_empty()) {
        _ if draft.is_some() => {
            let draft = draft.as_ref().expect("a draft");
            let title = state
                .engine
                .catalog()
                .latest(&draft.process_id)
                .map_or_else(|| draft.process_id.clone(), |(_, d)| d.title.clone());
            let text = draft
                .files
                .first()
                .map(|f| f.text.clone())
                .unwrap_or_default();
            (draft.process_id.clone(), text, title)
        }
        Some(asked) => {
            let (_, def) =
                state.engine.catalog().latest(asked).ok_or_else(|| {
                    AppError::not_found(format!("no process `{asked}` is deployed"))
                })?;
            (def.id.clone(), def.source.clone(), def.title.clone())
        }
        None => (
            "ny-proces".to_owned(),
            NEW_PROCESS.to_owned(),
            state.ui.text(chrome.lang, "workbench.new"),
        ),
    };
    let page_title = format!(
        "{} · {title}",
        state.ui.text(chrome.lang, "workbench.title")
    );
    let view = WorkbenchPage {
        file: format!("{id}.yaml"),
        own_scenario: OWN_SCENARIO.replace("PROCESS", &id),
        process: id,
        process_title: title,
        text,
        draft: draft.map(DraftSummaryView::from),
        may_deploy: caller.user.role == Role::Admin,
    };
    Ok(state
        .ui
        .page("designer_workbench", &chrome, &page_title, view)?
        .into_response())
}

async fn list(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
) -> Result<Response, AppError> {
    caller.require(&[Role::Designer, Role::Admin])?;
    let title = state.ui.text(chrome.lang, "designer.title");
    let actor = caller.actor();
    let summary = |drafts: Vec<forlob_engine::workbench::Draft>| {
        drafts
            .into_iter()
            .map(DraftSummaryView::from)
            .collect::<Vec<_>>()
    };
    let waiting = summary(
        state
            .engine
            .workbench()
            .drafts(None, true, &actor, 200)
            .await?,
    );
    let recent = summary(
        state
            .engine
            .workbench()
            .drafts(None, false, &actor, 20)
            .await?,
    );
    Ok(state
        .ui
        .page(
            "designer",
            &chrome,
            &title,
            DesignerPage {
                processes: summaries(&state),
                waiting,
                drafts: recent,
            },
        )?
        .into_response())
}

async fn process(
    State(state): State<AppState>,
    SignedIn(chrome, caller): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    caller.require(&[Role::Designer, Role::Admin])?;
    let mut detail = process_detail(&state, &id).await?;
    // Newest first: the version a designer is about to change.
    detail.versions.reverse();
    // Every deployed version was validated before it was stored; show that verdict with the
    // number of states so a designer sees what the engine sees.
    let (states, manual) = state
        .engine
        .catalog()
        .latest(&detail.summary.id)
        .map(|(_, d)| (d.states.len(), d.manual_start.is_some()))
        .unwrap_or_default();
    let title = detail.summary.title.clone();
    let view = ProcessPage {
        process: detail,
        states,
        manual,
    };
    Ok(state
        .ui
        .page("designer_process", &chrome, &title, view)?
        .into_response())
}

/// `designer_workbench_form`: the form of a draft's state as a task would show it, and how
/// the values tried fared; or that the draft has no such state.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum WorkbenchForm {
    Missing {
        missing: bool,
    },
    Shown {
        form_html: String,
        /// The state whose form this is.
        state: String,
        /// Values were tried (checked as a submit would check them).
        tried: bool,
        passed: bool,
        /// How many fields were refused.
        failed: usize,
    },
}

/// `designer_workbench`: a draft (or a deployed process) in the editor.
#[derive(Debug, Serialize)]
struct WorkbenchPage {
    process: String,
    process_title: String,
    /// Not `path`: the layout's `path` is the page's address, for the language switch.
    file: String,
    text: String,
    draft: Option<DraftSummaryView>,
    may_deploy: bool,
    /// A scenario to start from.
    own_scenario: String,
}

/// `designer`: the deployed processes and the drafts.
#[derive(Debug, Serialize)]
struct DesignerPage {
    processes: Vec<ProcessSummary>,
    /// Drafts waiting for an admin's deploy.
    waiting: Vec<DraftSummaryView>,
    drafts: Vec<DraftSummaryView>,
}

/// `designer_process`: one process with its versions.
#[derive(Debug, Serialize)]
struct ProcessPage {
    process: ProcessDetail,
    /// How many states the latest version has.
    states: usize,
    /// The latest version can be started by hand.
    manual: bool,
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_new_process_starts_valid() {
        let mut registry = forlob_engine::Registry::new();
        forlob_processes::register(&mut registry);
        let file = forlob_engine::definition::SourceFile {
            path: "ny-proces.yaml".into(),
            text: super::NEW_PROCESS.into(),
        };
        let (check, ids) = forlob_engine::workbench::check_files(&[file], &registry, &[]);
        assert!(check.valid, "{:?}", check.diagnostics);
        assert_eq!(ids, ["ny-proces"]);
    }
}
