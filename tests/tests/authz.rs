//! The authorization matrix: every operation of the OpenAPI document and every page route ×
//! anonymous, a caseworker of 101, a caseworker of 147, an integration, a designer, an
//! auditor, an admin and a metrics scraper, with the answer each must get, on SQLite and PostgreSQL. An
//! operation or page without a row fails the test: a new endpoint is not done until it says
//! who may use it.
//!
//! A cell is `-` (not signed in: 401, or for a page the way to the login page), `x` (refused:
//! 403) or `o` (let through: whatever the operation then answers, never 401, 403 or 5xx).
//! Ids in paths name nothing, so a let-through write changes nothing.

mod support;
mod web;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Map, Value, json};
use support::Backend;
use web::{Browser, Web};

/// The callers, in the order of a row's cells.
const CALLERS: [&str; 8] = [
    "anonymous",
    "caseworker 101",
    "caseworker 147",
    "integration",
    "designer",
    "auditor",
    "admin",
    "metrics",
];

/// Usernames of the signed-in callers (see `Web::start`), for the pages.
const USERS: [&str; 7] = ["anna", "bo", "ivan", "dina", "ulla", "admin", "mona"];

/// `METHOD /api/path` and who may call it.
const API: &[(&str, &str)] = &[
    ("GET /api/openapi.json", "o o o o o o o o"),
    ("GET /api/tasks", "- o o x x x o x"),
    ("GET /api/tasks/{id}", "- o o x x x o x"),
    ("POST /api/tasks/{id}/claim", "- o o x x x o x"),
    ("POST /api/tasks/{id}/unclaim", "- o o x x x o x"),
    ("POST /api/tasks/{id}/take-over", "- o o x x x o x"),
    ("POST /api/tasks/{id}/assign", "- o o x x x o x"),
    ("POST /api/tasks/{id}/complete", "- o o x x x o x"),
    ("GET /api/processes", "- o o o o o o x"),
    ("GET /api/processes/{id}", "- x x x o x o x"),
    ("POST /api/processes/{id}/instances", "- o o x x x o x"),
    ("GET /api/instances", "- x x x x x o x"),
    ("GET /api/instances/{id}", "- x x x x x o x"),
    ("GET /api/persons", "- o o x x x o x"),
    ("GET /api/persons/{id}", "- o o x x x o x"),
    ("GET /api/folkbokforing/persons", "- o o x x x o x"),
    ("POST /api/messages", "- x x o x x o x"),
    ("GET /api/admin/audit", "- x x x x o o x"),
    ("POST /api/admin/clock", "- x x x x x o x"),
    ("GET /api/admin/incidents", "- x x x x x o x"),
    ("POST /api/admin/incidents/{id}/retry", "- x x x x x o x"),
    ("POST /api/admin/incidents/{id}/skip", "- x x x x x o x"),
    ("POST /api/admin/incidents/{id}/cancel", "- x x x x x o x"),
    ("POST /api/admin/instances/{id}/suspend", "- x x x x x o x"),
    ("POST /api/admin/instances/{id}/resume", "- x x x x x o x"),
    ("POST /api/admin/instances/{id}/cancel", "- x x x x x o x"),
    ("POST /api/admin/instances/restart", "- x x x x x o x"),
    ("GET /api/admin/migrations", "- x x x x x o x"),
    ("POST /api/admin/migrations", "- x x x x x o x"),
    ("GET /api/admin/migrations/{id}", "- x x x x x o x"),
    ("POST /api/admin/migrations/{id}/resume", "- x x x x x o x"),
    ("POST /api/admin/migrations/{id}/undo", "- x x x x x o x"),
    ("POST /api/admin/migrations/{id}/abandon", "- x x x x x o x"),
    ("POST /api/admin/releases/impact", "- x x x x x o x"),
    ("POST /api/definitions/validate", "- x x x o x o x"),
    ("POST /api/definitions/test", "- x x x o x o x"),
    ("POST /api/drafts", "- x x x o x o x"),
    ("GET /api/drafts", "- x x x o x o x"),
    ("GET /api/drafts/{id}", "- x x x o x o x"),
    ("GET /api/drafts/{id}/compare", "- x x x o x o x"),
    ("POST /api/drafts/{id}/ask-deploy", "- x x x o x o x"),
    ("POST /api/drafts/{id}/deploy", "- x x x x x o x"),
    ("GET /api/definitions/scenarios", "- x x x o x o x"),
    ("GET /api/definitions/schema", "o o o o o o o o"),
    ("GET /api/admin/dead-letters", "- x x x x x o x"),
    ("GET /api/admin/dead-letters/{id}", "- x x x x x o x"),
    (
        "POST /api/admin/dead-letters/{id}/replay",
        "- x x x x x o x",
    ),
    ("GET /api/admin/tokens", "- x x x x x o x"),
    ("POST /api/admin/tokens/{id}/revoke", "- x x x x x o x"),
    ("GET /api/admin/users", "- x x x x x o x"),
    ("POST /api/admin/users", "- x x x x x o x"),
    (
        "POST /api/admin/users/{username}/disable",
        "- x x x x x o x",
    ),
    ("POST /api/admin/users/{username}/enable", "- x x x x x o x"),
    ("POST /api/admin/users/{username}/tokens", "- x x x x x o x"),
    ("GET /api/jobs", "- x x x x x o x"),
    ("POST /api/jobs/{process}/runs", "- x x x x x o x"),
    ("GET /api/schedules", "- x x x x x o x"),
    ("POST /api/schedules", "- x x x x x o x"),
    ("GET /api/schedules/{id}", "- x x x x x o x"),
    ("DELETE /api/schedules/{id}", "- x x x x x o x"),
    ("POST /api/schedules/{id}/run", "- x x x x x o x"),
    ("GET /api/logbook", "- x x x x x o x"),
    ("GET /api/logbook/{id}", "- x x x x x o x"),
];

/// `METHOD /path` of the pages and of the few plain routes, and who may use it.
const PAGES: &[(&str, &str)] = &[
    ("GET /", "- o o o o o o x"),
    ("GET /healthz", "o o o o o o o o"),
    ("GET /api/openapi.json", "o o o o o o o o"),
    ("GET /metrics", "- x x x x x o o"),
    ("GET /static/{*file}", "o o o o o o o o"),
    ("GET /assets/{*file}", "o o o o o o o o"),
    ("GET /api/docs", "o o o o o o o x"),
    ("GET /login", "o o o o o o o x"),
    ("POST /login", "o o o o o o o x"),
    ("POST /settings/language", "- o o o o o o x"),
    ("GET /inbox", "- o o x x x o x"),
    ("GET /tasks/{id}", "- o o x x x o x"),
    ("POST /tasks/{id}", "- o o x x x o x"),
    ("POST /tasks/{id}/claim", "- o o x x x o x"),
    ("POST /tasks/{id}/unclaim", "- o o x x x o x"),
    ("POST /tasks/{id}/take-over", "- o o x x x o x"),
    ("POST /tasks/{id}/assign", "- o o x x x o x"),
    ("GET /persons", "- o o x x x o x"),
    ("GET /persons/{id}", "- o o x x x o x"),
    ("POST /persons/{id}/start", "- o o x x x o x"),
    ("GET /folkbokforing/persons", "- o o x x x o x"),
    ("GET /designer", "- x x x o x o x"),
    ("GET /designer/processes/{id}", "- x x x o x o x"),
    ("GET /designer/workbench", "- x x x o x o x"),
    ("POST /designer/workbench/form", "- x x x o x o x"),
    ("GET /admin/audit", "- x x x x o o x"),
    ("GET /admin/audit.csv", "- x x x x o o x"),
    ("GET /admin/instances", "- x x x x x o x"),
    ("GET /admin/instances/{id}", "- x x x x x o x"),
    ("POST /admin/instances/{id}/operate", "- x x x x x o x"),
    ("GET /admin/incidents", "- x x x x x o x"),
    ("POST /admin/incidents/{id}/retry", "- x x x x x o x"),
    ("POST /admin/incidents/{id}/variables", "- x x x x x o x"),
    ("POST /admin/incidents/{id}/skip", "- x x x x x o x"),
    ("POST /admin/incidents/{id}/cancel", "- x x x x x o x"),
    ("GET /admin/dead-letters", "- x x x x x o x"),
    ("GET /admin/dead-letters/{id}", "- x x x x x o x"),
    ("POST /admin/dead-letters/{id}/replay", "- x x x x x o x"),
    ("GET /admin/users", "- x x x x x o x"),
    ("POST /admin/users", "- x x x x x o x"),
    ("POST /admin/users/{username}/tokens", "- x x x x x o x"),
    ("POST /admin/tokens/{id}/revoke", "- x x x x x o x"),
    ("POST /admin/users/{username}/disable", "- x x x x x o x"),
    ("POST /admin/users/{username}/enable", "- x x x x x o x"),
    ("GET /admin/jobs", "- x x x x x o x"),
    ("POST /admin/jobs", "- x x x x x o x"),
    ("POST /admin/jobs/schedules/{id}/remove", "- x x x x x o x"),
    ("POST /admin/jobs/schedules/{id}/run", "- x x x x x o x"),
    ("GET /admin/logbook", "- x x x x x o x"),
    ("GET /admin/logbook/{id}", "- x x x x x o x"),
    ("GET /admin/logbook/{id}/details.csv", "- x x x x x o x"),
    ("GET /admin/migrations", "- x x x x x o x"),
    ("POST /admin/migrations/restart", "- x x x x x o x"),
    ("POST /admin/migrations/{id}/abandon", "- x x x x x o x"),
    ("POST /admin/migrations/{id}/undo", "- x x x x x o x"),
    ("POST /admin/migrations/{id}/resume", "- x x x x x o x"),
    // Last: it ends the sessions the rows above use. Signing out sends everyone to the
    // login page (`-`).
    ("POST /logout", "- - - - - - - x"),
];

fn cells(row: &str) -> Vec<char> {
    let cells: Vec<char> = row.split_whitespace().flat_map(str::chars).collect();
    assert_eq!(
        cells.len(),
        CALLERS.len(),
        "row `{row}` needs a cell per caller"
    );
    cells
}

/// A value of `schema` that deserializes: required properties filled by type, enums by
/// their first value, `$ref`s followed.
fn example(schema: &Value, doc: &Value) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return example(&doc["components"]["schemas"][name], doc);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    for alternatives in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = schema[alternatives]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["type"] != "null").or_else(|| a.first()))
        {
            return example(first, doc);
        }
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds
            .iter()
            .find(|k| *k != "null")
            .and_then(Value::as_str)
            .unwrap_or("object"),
        Value::String(kind) => kind.as_str(),
        _ => "object",
    };
    match (kind, schema["format"].as_str()) {
        ("string", Some("uuid")) => json!(uuid::Uuid::now_v7()),
        ("string", Some("date-time")) => json!(chrono::Utc::now() + chrono::Duration::days(1)),
        ("string", Some("date")) => json!("2026-12-07"),
        ("string", _) => json!("matrix"),
        ("integer" | "number", _) => json!(1),
        ("boolean", _) => json!(false),
        ("array", _) => json!([]),
        _ => {
            let mut object = Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap_or_default();
                object.insert(name.into(), example(&schema["properties"][name], doc));
            }
            Value::Object(object)
        }
    }
}

/// The path with each `{param}` given a value of its declared type that names nothing.
fn concrete(path: &str, operation: &Value) -> String {
    let mut out = path.to_owned();
    for param in operation["parameters"].as_array().into_iter().flatten() {
        if param["in"] != "path" {
            continue;
        }
        let name = param["name"].as_str().unwrap_or_default();
        let value = match param["schema"]["type"].as_str() {
            Some("integer") => "987654321".to_owned(),
            _ if param["schema"]["format"] == "uuid" => uuid::Uuid::now_v7().to_string(),
            _ => "matrix-nothing".to_owned(),
        };
        out = out.replace(&format!("{{{name}}}"), &value);
    }
    // Required query parameters too, so that a refusal is the role's, not the query's.
    let required: Vec<(String, String)> = operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query" && p["required"] == true)
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_owned(),
                "matrix".to_owned(),
            )
        })
        .collect();
    if !required.is_empty() {
        out.push('?');
        out.push_str(&serde_urlencoded::to_string(required).expect("a query"));
    }
    out
}

/// What a caller got, and whether it fits the cell: `-` is a 401 or the way to the login page;
/// `x` a 403 for the role (not a missing CSRF token, which would hide the role check); `o`
/// anything else but 401, 403, the login page or a 5xx.
fn judge(expected: char, got: &Got, what: &str, caller: &str) -> Option<String> {
    let csrf = got.text.contains("\"error\":\"csrf\"") || got.text.contains("<code>csrf</code>");
    let fine = match expected {
        '-' => got.status == StatusCode::UNAUTHORIZED || got.to_login,
        'x' => got.status == StatusCode::FORBIDDEN && !csrf,
        _ => {
            got.status != StatusCode::UNAUTHORIZED
                && got.status != StatusCode::FORBIDDEN
                && !got.to_login
                && !got.status.is_server_error()
        }
    };
    (!fine).then(|| {
        format!(
            "{what} as {caller}: expected `{expected}`, got {}{}: {}",
            got.status,
            if got.to_login {
                " to the login page"
            } else {
                ""
            },
            got.text.chars().take(200).collect::<String>()
        )
    })
}

struct Got {
    status: StatusCode,
    to_login: bool,
    text: String,
}

impl From<web::Reply> for Got {
    fn from(reply: web::Reply) -> Self {
        let to_login = reply.status.is_redirection()
            && reply
                .headers
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .is_some_and(|l| l.starts_with("/login"));
        Self {
            status: reply.status,
            to_login,
            text: reply.text,
        }
    }
}

async fn every_api_operation_answers_each_role_as_the_matrix_says(backend: Backend) {
    let web = Web::start(backend).await;
    let doc = web
        .api(Method::GET, "/api/openapi.json", None, None)
        .await
        .json();
    let tokens = [
        None,
        Some(web.cw101.as_str()),
        Some(web.cw147.as_str()),
        Some(web.integration.as_str()),
        Some(web.designer.as_str()),
        Some(web.auditor.as_str()),
        Some(web.admin.as_str()),
        Some(web.metrics.as_str()),
    ];
    let rows: BTreeSet<&str> = API.iter().map(|(op, _)| *op).collect();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let op = format!("{} {path}", method.to_uppercase());
            let Some((_, row)) = API.iter().find(|(o, _)| *o == op) else {
                problems.push(format!("{op} has no row in the matrix"));
                continue;
            };
            let body = operation["requestBody"]["content"]["application/json"]["schema"]
                .as_object()
                .map(|schema| example(&Value::Object(schema.clone()), &doc));
            for ((caller, token), expected) in CALLERS.iter().zip(tokens).zip(cells(row)) {
                let method: Method = method.to_uppercase().parse().expect("a method");
                let reply = web
                    .api(method, &concrete(path, operation), token, body.clone())
                    .await;
                problems.extend(judge(expected, &reply.into(), &op, caller));
                checked += 1;
            }
        }
    }
    // The document itself is not among its own paths.
    for (token, expected) in tokens.iter().zip(cells(API[0].1)) {
        let reply = web
            .api(Method::GET, "/api/openapi.json", *token, None)
            .await;
        problems.extend(judge(expected, &reply.into(), API[0].0, "any caller"));
    }
    for row in rows {
        if row != "GET /api/openapi.json" {
            let (method, path) = row.split_once(' ').expect("METHOD path");
            let documented = doc["paths"][path].get(method.to_lowercase()).is_some();
            if !documented {
                problems.push(format!(
                    "{row} has a row but is not in the OpenAPI document"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {checked} cells:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        checked >= CALLERS.len() * 45,
        "only {checked} cells were checked"
    );
}

/// The page routes the router has, read from the source (axum does not list its routes).
fn page_routes() -> BTreeSet<String> {
    let web_src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/src");
    let mut files = vec![web_src.join("lib.rs")];
    for entry in std::fs::read_dir(web_src.join("routes/pages")).expect("pages folder") {
        files.push(entry.expect("an entry").path());
    }
    let sources: Vec<String> = files
        .iter()
        .chain(std::iter::once(&web_src.join("auth.rs")))
        .map(|f| std::fs::read_to_string(f).expect("source"))
        .collect();
    // A route may name its path by a constant (`auth::METRICS_PATH`): its value, from the source.
    let constant = |name: &str| {
        let short = name.rsplit("::").next().unwrap_or(name);
        sources.iter().find_map(|text| {
            let rest = text.split(&format!("const {short}: &str = \"")).nth(1)?;
            rest.split('"').next().map(str::to_owned)
        })
    };
    let mut routes = BTreeSet::new();
    for text in &sources[..files.len()] {
        for part in text.split(".route(").skip(1) {
            let part = part.trim_start();
            let parsed = if let Some(literal) = part.strip_prefix('"') {
                literal
                    .split_once('"')
                    .map(|(path, rest)| (path.to_owned(), rest))
            } else {
                part.split_once(',')
                    .and_then(|(name, rest)| Some((constant(name.trim())?, rest)))
            };
            // A route this reader cannot follow is a failure, never a route left unchecked.
            let Some((path, rest)) = parsed else {
                routes.insert(format!(
                    "UNREADABLE .route({})",
                    part.chars().take(60).collect::<String>()
                ));
                continue;
            };
            let handlers = rest.split_once(";\n").map_or(rest, |(h, _)| h);
            let mut found = false;
            for (marker, method) in [
                ("get(", "GET"),
                ("post(", "POST"),
                ("put(", "PUT"),
                ("delete(", "DELETE"),
                ("patch(", "PATCH"),
            ] {
                if handlers.contains(marker) {
                    routes.insert(format!("{method} {path}"));
                    found = true;
                }
            }
            if !found {
                routes.insert(format!("UNREADABLE handlers of {path}"));
            }
        }
    }
    routes
}

async fn every_page_answers_each_role_as_the_matrix_says(backend: Backend) {
    let web = Web::start(backend).await;
    let mut problems = Vec::new();
    let rows: BTreeSet<String> = PAGES.iter().map(|(p, _)| (*p).to_owned()).collect();
    for route in page_routes() {
        if !rows.contains(&route) {
            problems.push(format!("{route} has no row in the matrix"));
        }
    }
    for row in &rows {
        if !page_routes().contains(row) {
            problems.push(format!("{row} has a row but no route"));
        }
    }
    // A session per signed-in caller, with the CSRF token its pages carry.
    let mut sessions: Vec<Option<(String, String)>> = vec![None];
    for user in USERS {
        let mut browser = Browser::new(&web);
        let signed = browser.sign_in(user).await;
        assert_eq!(
            signed.status,
            StatusCode::SEE_OTHER,
            "{user}: {}",
            signed.text
        );
        // The page each role lands on carries the session's token (for htmx) in its layout;
        // an integration has no page, so it has none and can post no form.
        // The session's CSRF token as the store keeps it: every role's forms get the real
        // one, so a refusal is the role's, never the token's.
        let cookie = browser.cookie.clone().expect("a session");
        let id = cookie.split_once('=').expect("name=value").1;
        let csrf = forlob_engine::store::live_session(
            web.state.engine.db(),
            &forlob_web::auth::digest(id),
            web.state.engine.clock().now(),
        )
        .await
        .expect("the store answers")
        .expect("a live session")
        .csrf_token;
        sessions.push(Some((cookie, csrf)));
    }
    let mut checked = 0;
    for (route, row) in PAGES {
        let (method, path) = route.split_once(' ').expect("METHOD path");
        // Incidents, dead letters, job runs and migrations have numbers; the rest uuids.
        let numbered = ["incidents", "dead-letters", "logbook", "migrations"]
            .iter()
            .any(|kind| path.contains(kind));
        let id = if numbered {
            "987654321".to_owned()
        } else {
            uuid::Uuid::now_v7().to_string()
        };
        let path = path
            .replace("{*file}", "matrix/nothing.css")
            .replace("{id}", &id)
            .replace("{username}", "matrix-nothing");
        for ((caller, session), expected) in CALLERS.iter().zip(&sessions).zip(cells(row)) {
            let mut request = Request::builder()
                .method(method)
                .uri(&path)
                .header(header::ACCEPT, "text/html");
            let mut form = String::new();
            if let Some((cookie, csrf)) = session {
                request = request.header(header::COOKIE, cookie);
                form = serde_urlencoded::to_string([("_csrf", csrf)]).expect("form");
            }
            let request = if method == "POST" {
                request
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(form))
            } else {
                request.body(Body::empty())
            }
            .expect("a request");
            let reply = web.send(request).await;
            problems.extend(judge(expected, &reply.into(), route, caller));
            checked += 1;
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {checked} cells:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

on_both_backends!(
    every_api_operation_answers_each_role_as_the_matrix_says,
    every_page_answers_each_role_as_the_matrix_says,
);
