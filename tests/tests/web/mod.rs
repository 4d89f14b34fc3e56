//! Test support for the HTTP surface: the router over a test engine, users of each role with
//! their tokens, and requests through `router.oneshot`.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use forlob_web::users::{self, UserSpec};
use forlob_web::{AppState, WebSettings};
use serde_json::Value;
use tower::ServiceExt;

use crate::support::{Backend, TestApp, TestDb};

/// A process people start by hand, whose one manual step goes to the municipality given in
/// `vars.kommune`, with a title from `vars.title` (to test escaping) and a checked form.
pub const CASE_PROCESS: &str = r#"
id: web-case
title: { da: Sag til test }
subject: person
start:
  manual:
    allowed: "actor.role == 'admin' || (has(vars.kommune) && vars.kommune == actor.municipality)"
    refusal: "Kun din egen kommune kan oprette sagen"
initial: review
states:
  review:
    manual:
      title: "{{vars.title}}"
      assign: { municipality: "vars.kommune" }
      due: P5D
      form:
        fields:
          - { name: decision, type: choice, options: [approve, reject], required: true, label: Afgørelse }
          - { name: amount, type: number, label: Beløb, check: "form.amount >= 0", message: "Beløbet kan ikke være negativt" }
          - { name: note, type: textarea, label: Bemærkning }
    on:
      submit:
        - { goto: done }
  done: { end: true }
"#;

/// A background job with a parameter, and an exceptional one that needs confirming.
pub const JOB_PROCESSES: [&str; 2] = [
    r#"
id: web-job
title: Natlig opdatering
subject: job
start:
  schedule:
    parameters:
      mode: { type: choice, options: [kir, direkt], default: kir, label: Tilstand }
initial: done
states:
  done: { end: true }
"#,
    r#"
id: web-full-fetch
title: Hent alle personer
subject: job
start:
  schedule:
    confirm: Henter alle personer fra registret. Kun i undtagelsestilfælde.
initial: done
states:
  done: { end: true }
"#,
];

/// Persons for the pages: anyone whose id starts with a digit exists, named after it; those
/// whose id starts with `47` live in 147, the others in 101.
pub struct TestPersons;

impl TestPersons {
    /// Where person `id` lives; `None` when there is no such person.
    pub fn residence(id: &str) -> Option<&'static str> {
        match id {
            _ if id.starts_with("47") => Some("147"),
            _ if id.starts_with(|c: char| c.is_ascii_digit()) => Some("101"),
            _ => None,
        }
    }
}

#[async_trait::async_trait]
impl forlob_engine::registry::SubjectProvider for TestPersons {
    async fn load(
        &self,
        _conn: &sea_orm::DatabaseTransaction,
        id: &str,
    ) -> Result<Option<Value>, forlob_engine::ActionError> {
        Ok(Self::residence(id)
            .map(|home| serde_json::json!({ "name": format!("Person {id}"), "residence": home })))
    }

    async fn municipalities(
        &self,
        _conn: &sea_orm::DatabaseTransaction,
        id: &str,
    ) -> Result<Vec<String>, forlob_engine::ActionError> {
        Ok(Self::residence(id).map(str::to_owned).into_iter().collect())
    }

    /// The named persons of [`NAMED`] within `scope`, by name.
    async fn find_by_name(
        &self,
        _conn: &sea_orm::DatabaseTransaction,
        text: &str,
        scope: &forlob_engine::registry::NameScope,
        limit: u64,
    ) -> Result<Vec<forlob_engine::registry::SubjectHit>, forlob_engine::ActionError> {
        use forlob_engine::registry::NameScope;
        let text = text.to_lowercase();
        let mut hits: Vec<_> = NAMED
            .iter()
            .filter(|(id, _, _)| match scope {
                NameScope::All => true,
                NameScope::Concerning(m) => Self::residence(id) == Some(m.as_str()),
                NameScope::Among(ids) => ids.iter().any(|i| i == id),
            })
            .filter(|(_, name, _)| name.to_lowercase().contains(&text))
            .map(|(id, name, born)| forlob_engine::registry::SubjectHit {
                id: (*id).to_owned(),
                name: (*name).to_owned(),
                birth_date: born.parse().ok(),
            })
            .collect();
        hits.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        hits.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(hits)
    }
}

/// Persons with names, for the searches by name: two Jens Hansens in 101 and one in 147.
pub const NAMED: &[(&str, &str, &str)] = &[
    ("0101501234", "Jens Hansen", "1950-01-01"),
    ("0202601234", "Jens Hansen", "1960-02-02"),
    ("4703701234", "Jens Hansen", "1970-03-03"),
    ("0404801234", "Hanne Østergaard", "1980-04-04"),
];

pub struct Web {
    pub router: Router,
    pub state: AppState,
    pub clock: Arc<forlob_engine::ManualClock>,
    _db: TestDb,
    pub admin: String,
    pub cw101: String,
    pub cw147: String,
    pub designer: String,
    pub integration: String,
    pub auditor: String,
    pub metrics: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

impl Web {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, WebSettings::default()).await
    }

    pub async fn start_with(backend: Backend, settings: WebSettings) -> Self {
        let TestApp { engine, clock, db } = TestApp::builder(backend)
            .with_process(CASE_PROCESS)
            .with_process(JOB_PROCESSES[0])
            .with_process(JOB_PROCESSES[1])
            .with_registry(|r| {
                // The web crate serves the Swedish package's person search: its tables are
                // there in every build, so they are here.
                forlob_processes::folkbokforing::register(r);
                r.register_subject("person", Arc::new(TestPersons));
            })
            .build()
            .await;
        let engine = Arc::new(engine);
        let mut tokens = Vec::new();
        for (username, role, municipality) in [
            ("admin", "admin", None),
            ("anna", "caseworker", Some("101")),
            ("bo", "caseworker", Some("147")),
            ("dina", "designer", None),
            ("ivan", "integration", None),
            ("ulla", "auditor", None),
            ("mona", "metrics", None),
        ] {
            let spec = UserSpec {
                username: username.into(),
                display_name: None,
                role: role.into(),
                municipality: municipality.map(Into::into),
                password: Some(format!("{username}-password")),
            };
            let (_, token) = users::add(&engine, spec, &forlob_engine::Actor::system())
                .await
                .expect("test user is valid");
            tokens.push(token);
        }
        let state = AppState::new(engine, settings);
        let [admin, cw101, cw147, designer, integration, auditor, metrics]: [String; 7] =
            tokens.try_into().expect("seven users");
        Self {
            router: forlob_web::router(state.clone()),
            state,
            clock,
            _db: db,
            admin,
            cw101,
            cw147,
            designer,
            integration,
            auditor,
            metrics,
        }
    }

    /// Adds a user and gives back their API token.
    pub async fn user(&self, username: &str, role: &str, municipality: Option<&str>) -> String {
        let spec = UserSpec {
            username: username.into(),
            role: role.into(),
            municipality: municipality.map(Into::into),
            ..Default::default()
        };
        users::add(&self.state.engine, spec, &forlob_engine::Actor::system())
            .await
            .expect("the test user is valid")
            .1
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// A JSON API call with a bearer token (or none).
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .expect("request");
        self.send(request).await
    }

    /// The test process's version 2 (only its title differs), and deploys it.
    #[allow(dead_code, reason = "only the release tests deploy a second version")]
    pub async fn deploy_case_v2(&self) -> String {
        let v2 = case_process_v2();
        self.state
            .engine
            .releases()
            .deploy(&[forlob_engine::definition::SourceFile {
                path: "v2.yaml".into(),
                text: v2.clone(),
            }])
            .await
            .expect("v2 deploys");
        v2
    }

    /// Waits until the work requests started in the background (a migration, an undo) is
    /// done: what a `202` answer promised has happened when this returns.
    #[allow(dead_code, reason = "not every test binary starts background work")]
    pub async fn settle(&self) {
        self.state.background.close();
        self.state.background.wait().await;
        self.state.background.reopen();
    }

    /// Starts the test process for `subject` with its task in `kommune`; the task's id.
    pub async fn case(&self, subject: &str, kommune: &str, title: &str) -> String {
        let started = self
            .api(
                Method::POST,
                "/api/processes/web-case/instances",
                Some(&self.admin),
                Some(serde_json::json!({ "subject": subject, "variables": { "kommune": kommune, "title": title } })),
            )
            .await;
        assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
        let instance = started.json()["instance_id"]
            .as_str()
            .expect("id")
            .to_owned();
        let detail = self
            .api(
                Method::GET,
                &format!("/api/instances/{instance}"),
                Some(&self.admin),
                None,
            )
            .await;
        detail.json()["open_tasks"][0]["id"]
            .as_str()
            .expect("the case has a task")
            .to_owned()
    }
}

/// The test process's version 2: only its title differs, so every state stays.
#[allow(dead_code, reason = "only the release tests use a second version")]
pub fn case_process_v2() -> String {
    CASE_PROCESS.replace(
        "title: { da: Sag til test }",
        "title: { da: Sag til test (version 2) }",
    )
}

/// A browser: keeps the session cookie and the page's CSRF token.
pub struct Browser<'a> {
    web: &'a Web,
    pub cookie: Option<String>,
    pub lang: &'a str,
}

impl<'a> Browser<'a> {
    pub fn new(web: &'a Web) -> Self {
        Self {
            web,
            cookie: None,
            lang: "da",
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        let mut request = Request::get(path).header(header::ACCEPT_LANGUAGE, self.lang);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.web
            .send(request.body(Body::empty()).expect("request"))
            .await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT_LANGUAGE, self.lang);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let body = serde_urlencoded::to_string(form).expect("form");
        self.web
            .send(request.body(Body::from(body)).expect("request"))
            .await
    }

    pub async fn sign_in(&mut self, username: &str) -> Reply {
        let password = format!("{username}-password");
        let reply = self
            .post(
                "/login",
                &[
                    ("username", username),
                    ("password", &password),
                    ("next", "/inbox"),
                ],
            )
            .await;
        if let Some(set) = reply.headers.get(header::SET_COOKIE) {
            let set = set.to_str().expect("ascii");
            assert!(
                set.contains("HttpOnly") && set.contains("SameSite=Lax"),
                "{set}"
            );
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        reply
    }

    /// The CSRF token of a page's forms.
    pub async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await;
        page.text
            .split("name=\"_csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the page has a form with a CSRF token")
            .to_owned()
    }
}
