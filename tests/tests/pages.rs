//! The pages through `router.oneshot`: sign-in, CSRF, escaping, the helpful 404, the login
//! limiter, languages. (Flows in a real browser are in `browser.rs`.)

mod support;
mod web;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use forlob_engine::release::MigrationPhase;
use forlob_engine::store;
use support::Backend;
use web::{Browser, Reply, Web};

async fn a_caseworker_signs_in_and_completes_a_task_through_the_pages(backend: Backend) {
    let web = Web::start(backend).await;
    let task = web.case("0101501234", "101", "Gennemgå sagen").await;
    let mut browser = Browser::new(&web);
    let outside = browser.get("/inbox").await;
    assert_eq!(outside.status, StatusCode::SEE_OTHER);
    assert_eq!(outside.headers[header::LOCATION], "/login?next=%2Finbox");
    let signed_in = browser.sign_in("anna").await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers[header::LOCATION], "/inbox");
    let inbox = browser.get("/inbox").await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert!(inbox.text.contains("Gennemgå sagen"), "{}", inbox.text);
    assert!(inbox.text.contains(&format!("/tasks/{task}")));
    let path = format!("/tasks/{task}");
    let csrf = browser.csrf(&path).await;
    let wrong = browser
        .post(
            &path,
            &[("_csrf", &csrf), ("amount", "-5"), ("note", "mit notat")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.text.contains("Beløbet kan ikke være negativt"));
    assert!(
        wrong.text.contains("id=\"e-decision\""),
        "the missing choice is marked"
    );
    assert!(
        wrong.text.contains("Skal udfyldes"),
        "in the page's language"
    );
    assert!(wrong.text.contains("mit notat"), "entered values are kept");
    // The engine's own messages are in the page's language too, with what was typed.
    let not_a_number = browser
        .post(
            &path,
            &[
                ("_csrf", &csrf),
                ("decision", "approve"),
                ("amount", "tolv"),
            ],
        )
        .await;
    assert_eq!(not_a_number.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        not_a_number
            .text
            .contains("&quot;tolv&quot; er ikke et tal"),
        "{}",
        not_a_number.text
    );
    assert!(!not_a_number.text.contains("is not a number"));
    let done = browser
        .post(
            &path,
            &[("_csrf", &csrf), ("decision", "approve"), ("amount", "5")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let after = browser
        .get(done.headers[header::LOCATION].to_str().expect("ascii"))
        .await;
    assert!(after.text.contains("Opgaven er afsluttet."));
    assert!(
        !after.text.contains(&format!("/tasks/{task}")),
        "the task left the inbox"
    );
}

async fn a_form_post_without_the_sessions_csrf_token_is_refused(backend: Backend) {
    let web = Web::start(backend).await;
    let task = web.case("0101501234", "101", "Sag").await;
    let mut browser = Browser::new(&web);
    browser.sign_in("anna").await;
    let path = format!("/tasks/{task}");
    for form in [
        vec![("decision", "approve")],
        vec![("_csrf", "forged"), ("decision", "approve")],
    ] {
        let refused = browser.post(&path, &form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.text.contains("<html"), "a page, not JSON");
    }
    let task_now = web
        .api(
            Method::GET,
            &format!("/api/tasks/{task}"),
            Some(&web.cw101),
            None,
        )
        .await;
    assert_eq!(
        task_now.json()["task"]["status"],
        "open",
        "nothing was changed"
    );
}

async fn markup_in_titles_and_values_is_shown_as_text(backend: Backend) {
    let web = Web::start(backend).await;
    let task = web
        .case("0101501234", "101", "<script>alert('x')</script>")
        .await;
    let mut browser = Browser::new(&web);
    browser.sign_in("anna").await;
    let inbox = browser.get("/inbox").await;
    assert!(!inbox.text.contains("<script>alert"), "{}", inbox.text);
    assert!(inbox.text.contains("&lt;script&gt;alert"));
    let path = format!("/tasks/{task}");
    let csrf = browser.csrf(&path).await;
    let page = browser
        .post(
            &path,
            &[("_csrf", &csrf), ("note", "<img src=x onerror=alert(1)>")],
        )
        .await;
    assert!(!page.text.contains("<img src=x"));
    assert!(
        page.text.contains("&lt;img src"),
        "the value is kept, as text"
    );
}

async fn an_unknown_page_gets_a_helpful_404_in_the_viewers_language(backend: Backend) {
    let web = Web::start(backend).await;
    let mut browser = Browser::new(&web);
    let danish = browser.get("/no/such/page").await;
    assert_eq!(danish.status, StatusCode::NOT_FOUND);
    assert!(danish.text.contains("Siden findes ikke"));
    assert!(
        danish.text.contains("Der er ingen side på denne adresse."),
        "what happened, in Danish: {}",
        danish.text
    );
    assert!(
        danish.text.contains("href=\"/login\""),
        "a way on for a stranger"
    );
    // Signed in, the page has the viewer's menu and offers only their own pages.
    browser.sign_in("anna").await;
    let signed_in = browser.get("/no/such/page").await;
    assert!(
        signed_in.text.contains("<nav aria-label=")
            && signed_in.text.contains("<li><a href=\"/inbox\">"),
        "{}",
        signed_in.text
    );
    assert!(!signed_in.text.contains("<li><a href=\"/admin/instances\">"));
    let mut stranger = Browser::new(&web);
    stranger.lang = "en-GB,en;q=0.9";
    let english = stranger.get("/no/such/page").await;
    assert!(english.text.contains("Page not found"));
    let api = web.api(Method::GET, "/api/no/such", None, None).await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert!(
        api.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/api/no/such")
    );
}

async fn repeated_failed_sign_ins_are_slowed_down(backend: Backend) {
    let web = Web::start(backend).await;
    let browser = Browser::new(&web);
    for _ in 0..5 {
        let wrong = browser
            .post("/login", &[("username", "anna"), ("password", "guess")])
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.text.contains("Forkert brugernavn eller adgangskode."));
    }
    // Even the right password waits now.
    let limited = browser
        .post(
            "/login",
            &[("username", "anna"), ("password", "anna-password")],
        )
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    // Other users are not locked out by anna's attempts (this test has no client address).
    let mut other = Browser::new(&web);
    assert_eq!(other.sign_in("bo").await.status, StatusCode::SEE_OTHER);
}

/// A sign-in posted from `addr`, as the server sees it behind `into_make_service_with_connect_info`.
async fn sign_in_from(web: &Web, username: &str, password: &str, addr: [u8; 4]) -> StatusCode {
    let body = serde_urlencoded::to_string([("username", username), ("password", password)])
        .expect("form");
    let mut request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            addr, 40000,
        ))));
    web.send(request).await.status
}

async fn a_flood_against_one_user_or_from_one_address_locks_no_one_else_out(backend: Backend) {
    let settings = forlob_web::WebSettings {
        login_max_failures: 2,
        ..forlob_web::WebSettings::default()
    };
    let web = Web::start_with(backend, settings).await;
    let (x, y, z) = ([10, 0, 0, 1], [10, 0, 0, 2], [10, 0, 0, 3]);
    // anna is guessed at from X: after two failures she is refused there, even with the
    // right password.
    for _ in 0..2 {
        assert_eq!(
            sign_in_from(&web, "anna", "guess", x).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in_from(&web, "anna", "anna-password", x).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Her colleague behind the same address signs in, and so does anna from elsewhere.
    assert_eq!(
        sign_in_from(&web, "bo", "bo-password", x).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        sign_in_from(&web, "anna", "anna-password", y).await,
        StatusCode::SEE_OTHER
    );
    // Guessed at from many addresses (five times the per-address limit), anna is refused
    // everywhere until the window has passed; others are not.
    for i in 0..10u8 {
        let status = sign_in_from(&web, "anna", "guess", [10, 0, 1, i]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    assert_eq!(
        sign_in_from(&web, "anna", "anna-password", z).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sign_in_from(&web, "bo", "bo-password", z).await,
        StatusCode::SEE_OTHER
    );
    // Many usernames tried from X (past ten times the limit) only slow X down: a correct
    // password from there is still let in.
    for i in 0..20 {
        sign_in_from(&web, &format!("nobody{i}"), "guess", x).await;
    }
    assert_eq!(
        sign_in_from(&web, "dina", "dina-password", x).await,
        StatusCode::SEE_OTHER
    );
}

async fn the_ui_speaks_the_users_chosen_language(backend: Backend) {
    let web = Web::start(backend).await;
    let mut browser = Browser::new(&web);
    browser.sign_in("anna").await;
    assert!(browser.get("/inbox").await.text.contains("Indbakke"));
    let csrf = browser.csrf("/inbox").await;
    let switched = browser
        .post(
            "/settings/language",
            &[("_csrf", &csrf), ("lang", "en"), ("next", "/inbox")],
        )
        .await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    let english = browser.get("/inbox").await;
    assert!(english.text.contains("<h1>Inbox</h1>"), "{}", english.text);
    assert!(english.text.contains("lang=\"en\""));
    // A caseworker of a Swedish municipality who has chosen nothing (and whose browser names
    // none of ours) reads Swedish, and may choose another.
    forlob_web::users::add(
        &web.state.engine,
        forlob_web::users::UserSpec {
            username: "sara".into(),
            display_name: None,
            role: "caseworker".into(),
            municipality: Some("0180".into()),
            password: Some("sara-password".into()),
        },
        &forlob_engine::Actor::system(),
    )
    .await
    .expect("a Swedish caseworker is added");
    let mut sara = Browser::new(&web);
    sara.lang = "de-DE, de;q=0.9";
    sara.sign_in("sara").await;
    let swedish = sara.get("/inbox").await;
    assert!(swedish.text.contains("<h1>Inkorg</h1>"), "{}", swedish.text);
    assert!(swedish.text.contains("lang=\"sv\""));
    assert!(swedish.text.contains(">Dansk</button>") && swedish.text.contains(">English</button>"));
}

async fn signing_out_ends_the_session(backend: Backend) {
    let web = Web::start(backend).await;
    let mut browser = Browser::new(&web);
    browser.sign_in("anna").await;
    let csrf = browser.csrf("/inbox").await;
    let out = browser.post("/logout", &[("_csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    // The old cookie no longer opens anything.
    let after = browser.get("/inbox").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
}

async fn disabling_a_user_ends_their_sessions_for_good(backend: Backend) {
    let web = Web::start(backend).await;
    let mut anna = Browser::new(&web);
    anna.sign_in("anna").await;
    assert_eq!(anna.get("/inbox").await.status, StatusCode::OK);
    let mut admin = Browser::new(&web);
    admin.sign_in("admin").await;
    let csrf = admin.csrf("/admin/users").await;
    // The first post asks (with what it does, and whom), and anna is still in.
    let asked = admin
        .post("/admin/users/anna/disable", &[("_csrf", &csrf)])
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.text);
    assert!(
        asked.text.contains("Brugeren spærres") && asked.text.contains("anna · "),
        "{}",
        asked.text
    );
    assert_eq!(anna.get("/inbox").await.status, StatusCode::OK);
    let off = admin
        .post(
            "/admin/users/anna/disable",
            &[("_csrf", &csrf), ("confirmed", "1"), ("reason", "fratrådt")],
        )
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.text);
    let entry = the_one_audit_entry_of(&web, "user.disable").await;
    assert_eq!(entry[0]["detail"]["reason"], "fratrådt");
    let out = anna.get("/inbox").await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        out.headers[header::LOCATION]
            .to_str()
            .expect("ascii")
            .starts_with("/login")
    );
    let on = admin
        .post("/admin/users/anna/enable", &[("_csrf", &csrf)])
        .await;
    assert_eq!(on.status, StatusCode::SEE_OTHER, "{}", on.text);
    // The old session stays ended; signing in again works.
    assert_eq!(anna.get("/inbox").await.status, StatusCode::SEE_OTHER);
    assert_eq!(anna.sign_in("anna").await.status, StatusCode::SEE_OTHER);
    assert_eq!(anna.get("/inbox").await.status, StatusCode::OK);
}

async fn the_dead_letter_page_pages_and_links_to_each_whole_letter(backend: Backend) {
    let web = Web::start(backend).await;
    let big = "x".repeat(50_000);
    for i in 0..51 {
        web.api(
            Method::POST,
            "/api/messages",
            Some(&web.admin),
            Some(serde_json::json!({ "message_id": format!("m-{i}"), "type": "nobody.takes", "data": { "blob": big } })),
        )
        .await;
    }
    let mut admin = Browser::new(&web);
    admin.sign_in("admin").await;
    let list = admin.get("/admin/dead-letters").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.text.len() < 100_000,
        "the page is small: {} bytes",
        list.text.len()
    );
    assert!(
        !list.text.contains(">m-0<"),
        "the oldest is on the next page"
    );
    let next = list
        .text
        .split("<a href=\"/admin/dead-letters?cursor=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to the older letters");
    let older = admin
        .get(&format!("/admin/dead-letters?cursor={next}"))
        .await;
    assert!(older.text.contains(">m-0<"), "{}", older.text);
    let detail = older
        .text
        .split("<a href=\"/admin/dead-letters/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to the letter");
    let whole = admin.get(&format!("/admin/dead-letters/{detail}")).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert!(whole.text.contains(&big), "the whole payload");
    assert!(
        whole
            .text
            .contains(&format!("/admin/dead-letters/{detail}/replay"))
    );
}

async fn each_role_sees_its_own_pages(backend: Backend) {
    let web = Web::start(backend).await;
    let mut designer = Browser::new(&web);
    designer.sign_in("dina").await;
    let list = designer.get("/designer").await;
    assert!(list.text.contains("/designer/processes/web-case"));
    let process = designer.get("/designer/processes/web-case").await;
    assert!(process.text.contains("stateDiagram-v2"));
    assert!(
        process.text.contains("id: web-case"),
        "the YAML source is shown"
    );
    assert_eq!(designer.get("/inbox").await.status, StatusCode::FORBIDDEN);
    let mut admin = Browser::new(&web);
    admin.sign_in("admin").await;
    for page in [
        "/admin/instances",
        "/admin/incidents",
        "/admin/dead-letters",
        "/admin/users",
        "/admin/migrations",
    ] {
        assert_eq!(admin.get(page).await.status, StatusCode::OK, "{page}");
    }
    let mut caseworker = Browser::new(&web);
    caseworker.sign_in("anna").await;
    assert_eq!(
        caseworker.get("/admin/users").await.status,
        StatusCode::FORBIDDEN
    );
}

async fn the_person_page_shows_the_overview_open_tasks_and_refusals(backend: Backend) {
    let web = Web::start(backend).await;
    let task = web.case("0101501234", "101", "Sag om personen").await;
    let mut anna = Browser::new(&web);
    anna.sign_in("anna").await;
    let page = anna.get("/persons/0101501234").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Person 0101501234"), "the overview");
    assert!(
        page.text.contains(&format!("/tasks/{task}")),
        "101 sees its task"
    );
    // The case may be started only with a municipality given: the definition's refusal
    // is shown on the page.
    let csrf = anna.csrf("/persons/0101501234").await;
    let refused = anna
        .post(
            "/persons/0101501234/start",
            &[("_csrf", &csrf), ("process", "web-case")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused
            .text
            .contains("Kun din egen kommune kan oprette sagen")
    );
    let unknown = anna.get("/persons/nobody").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let search = anna.get("/persons?q=010150-1234").await;
    assert_eq!(search.headers[header::LOCATION], "/persons/0101501234");
    // 147 has nothing to do with the person: not found, like a person who does not exist.
    let mut bo = Browser::new(&web);
    bo.sign_in("bo").await;
    assert_eq!(
        bo.get("/persons/0101501234").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn every_answer_has_our_shape_and_safety_headers(backend: Backend) {
    let web = Web::start(backend).await;
    let mut anna = Browser::new(&web);
    anna.sign_in("anna").await;
    let bad_id = anna.get("/tasks/not-a-uuid").await;
    assert_eq!(bad_id.status, StatusCode::NOT_FOUND);
    assert!(bad_id.text.contains("<html"), "a page: {}", bad_id.text);
    let wrong_method = web
        .api(Method::DELETE, "/api/tasks", Some(&web.cw101), None)
        .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.json()["error"], "method_not_allowed");
    let page = anna.get("/inbox").await;
    for header in [
        "content-security-policy",
        "x-content-type-options",
        "x-frame-options",
        "x-request-id",
    ] {
        assert!(page.headers.contains_key(header), "{header} missing");
    }
    assert_eq!(page.headers["vary"], "HX-Request");
    // A crafted link cannot put its own words on a page: only our texts are shown.
    let crafted = anna.get("/inbox?done=Ring+straks+til+55+55+55+55").await;
    assert!(!crafted.text.contains("Ring straks"));
    let ours = anna.get("/inbox?done=task.completed").await;
    assert!(ours.text.contains("Opgaven er afsluttet."));
}

/// The four headers docs/web.md promises on every answer.
fn assert_security_headers(what: &str, reply: &Reply) {
    for (name, value) in [
        ("x-content-type-options", Some("nosniff")),
        ("x-frame-options", Some("DENY")),
        ("referrer-policy", Some("same-origin")),
        ("content-security-policy", None),
    ] {
        let found = reply.headers.get(name).map(|v| v.to_str().expect("ascii"));
        match (found, value) {
            (None, _) => panic!(
                "{what} ({}) lacks {name}: {:?}",
                reply.status, reply.headers
            ),
            (Some(found), Some(value)) => assert_eq!(found, value, "{what}: {name}"),
            (Some(found), None) => assert!(found.contains("script-src 'self'"), "{what}: {found}"),
        }
    }
}

async fn error_pages_redirects_and_outer_layers_carry_the_security_headers(backend: Backend) {
    let web = Web::start(backend).await;
    let anonymous = Browser::new(&web);
    let mut anna = Browser::new(&web);
    let signed_in = anna.sign_in("anna").await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_security_headers("the redirect after signing in", &signed_in);
    let mut cases: Vec<(&str, StatusCode, Reply)> = vec![
        (
            "an unknown page",
            StatusCode::NOT_FOUND,
            anonymous.get("/no/such/page").await,
        ),
        (
            "a page of another role",
            StatusCode::FORBIDDEN,
            anna.get("/admin/users").await,
        ),
        (
            "a redirect to the login",
            StatusCode::SEE_OTHER,
            anonymous.get("/inbox").await,
        ),
        (
            "a CSRF refusal",
            StatusCode::FORBIDDEN,
            anna.post("/logout", &[]).await,
        ),
    ];
    let wrong_method = Request::builder()
        .method(Method::DELETE)
        .uri("/inbox")
        .body(Body::empty())
        .expect("request");
    cases.push((
        "a page's 405",
        StatusCode::METHOD_NOT_ALLOWED,
        web.send(wrong_method).await,
    ));
    let api_405 = web
        .api(Method::DELETE, "/api/tasks", Some(&web.cw101), None)
        .await;
    cases.push(("the API's 405", StatusCode::METHOD_NOT_ALLOWED, api_405));
    let foreign = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::HOST, "forlob.example")
        .body(Body::from("username=anna&password=anna-password"))
        .expect("request");
    cases.push((
        "a login from another site",
        StatusCode::FORBIDDEN,
        web.send(foreign).await,
    ));
    let too_large = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "username=anna&password={}",
            "x".repeat(web.state.settings.body_limit + 1)
        )))
        .expect("request");
    cases.push((
        "a body over the limit",
        StatusCode::PAYLOAD_TOO_LARGE,
        web.send(too_large).await,
    ));
    cases.push((
        "an anonymous scrape",
        StatusCode::UNAUTHORIZED,
        web.api(Method::GET, "/metrics", None, None).await,
    ));
    let mut compressed = Request::get("/inbox")
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .expect("request");
    compressed.headers_mut().insert(
        header::COOKIE,
        anna.cookie
            .clone()
            .expect("signed in")
            .parse()
            .expect("cookie"),
    );
    let compressed = web.send(compressed).await;
    assert_eq!(compressed.headers[header::CONTENT_ENCODING], "gzip");
    cases.push(("a compressed page", StatusCode::OK, compressed));
    for (what, status, reply) in &cases {
        assert_eq!(reply.status, *status, "{what}: {}", reply.text);
        assert_security_headers(what, reply);
    }
}

async fn an_admin_starts_a_job_on_weekdays_runs_it_and_removes_it(backend: Backend) {
    let web = Web::start(backend).await;
    let mut browser = Browser::new(&web);
    browser.sign_in("admin").await;
    let page = browser.get("/admin/jobs?job=web-job").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("Start job") && page.text.contains("name=\"weekdays\" value=\"fri\"")
    );
    assert!(
        page.text.contains("<label for=\"p-mode\">Tilstand</label>"),
        "the parameter's label"
    );
    let csrf = browser.csrf("/admin/jobs").await;
    // No weekday marked and a time that is not one: refused, with what was entered kept.
    let refused = browser
        .post(
            "/admin/jobs",
            &[
                ("_csrf", &csrf),
                ("process", "web-job"),
                ("start_time", "10:00"),
                ("p.mode", "direkt"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.text.contains("Markér mindst én ugedag"),
        "{}",
        refused.text
    );
    assert!(
        refused.text.contains("value=\"10:00\""),
        "the time entered is kept"
    );
    assert!(
        refused.text.contains("<option value=\"direkt\" selected>"),
        "the parameter entered is kept"
    );
    let every_second = browser
        .post(
            "/admin/jobs",
            &[
                ("_csrf", &csrf),
                ("process", "web-job"),
                ("cron", "*/5 * * * * *"),
            ],
        )
        .await;
    assert_eq!(every_second.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        every_second.text.contains("schedule_min_interval_seconds"),
        "{}",
        every_second.text
    );
    // A choice the form does not offer is refused where it was made, never replaced by the
    // default; the other fields keep what was typed.
    let start = [
        ("_csrf", csrf.as_str()),
        ("process", "web-job"),
        ("start_date", "2025-06-02"),
        ("start_time", "10:00"),
        ("weekdays", "mon"),
        ("p.mode", "direkt"),
    ];
    let too_long = "x".repeat(10_000);
    let odd_fields = [
        ("misfire", "sometimes"),
        ("overlap", "queue"),
        ("label", too_long.as_str()),
    ];
    let odd = browser
        .post("/admin/jobs", &[&start[..], &odd_fields].concat())
        .await;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", odd.text);
    assert!(
        odd.text.contains("id=\"s-label-error\""),
        "the other fields' problems are told at once: {}",
        odd.text
    );
    assert!(odd.text.contains("id=\"s-misfire-error\""), "{}", odd.text);
    assert!(odd.text.contains("sometimes"), "the refused value is named");
    assert!(
        odd.text.contains("<details class=\"field\" open>"),
        "shown, not folded away"
    );
    assert!(
        odd.text.contains("<option value=\"queue\" selected>"),
        "the valid choice is kept"
    );
    let added = browser
        .post(
            "/admin/jobs",
            &[&start[..], &[("weekdays", "wed")]].concat(),
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.text);
    let table = browser
        .get(added.headers[header::LOCATION].to_str().expect("ascii"))
        .await;
    assert!(table.text.contains("Planen er tilføjet."), "the flash");
    assert!(table.text.contains("10:00 · man, ons"), "{}", table.text);
    assert!(
        table.text.contains("2025-06-02 10:00"),
        "the next run, in Danish time"
    );
    assert!(table.text.contains("mode=direkt"));
    let id = table
        .text
        .split("/admin/jobs/schedules/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a row with its actions")
        .to_owned();
    let ran = browser
        .post(
            &format!("/admin/jobs/schedules/{id}/run"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(ran.status, StatusCode::SEE_OTHER);
    let location = ran.headers[header::LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(location.starts_with("/admin/logbook/"), "{location}");
    let run = browser.get(&location).await;
    assert!(run.text.contains("startet manuelt"), "{}", run.text);
    let logbook = browser.get("/admin/logbook").await;
    assert!(logbook.text.contains("web-job"));
    let remove = format!("/admin/jobs/schedules/{id}/remove");
    let asked = browser.post(&remove, &[("_csrf", &csrf)]).await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.text.contains("Planen fjernes"), "{}", asked.text);
    assert!(
        !browser
            .get("/admin/jobs")
            .await
            .text
            .contains("Ingen planlagte job endnu"),
        "asking removed nothing"
    );
    let removed = browser
        .post(
            &remove,
            &[
                ("_csrf", &csrf),
                ("confirmed", "1"),
                ("reason", "erstattet af en ny plan"),
            ],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let entry = the_one_audit_entry_of(&web, "schedule.remove").await;
    assert_eq!(entry[0]["detail"]["reason"], "erstattet af en ny plan");
    assert!(
        browser
            .get("/admin/jobs")
            .await
            .text
            .contains("Ingen planlagte job endnu")
    );
    // The exceptional job asks before it runs: its own words beside a box to tick.
    let exceptional = browser.get("/admin/jobs?job=web-full-fetch").await;
    assert!(exceptional.text.contains("Kun i undtagelsestilfælde."));
    // Caseworkers do not see the jobs.
    let mut caseworker = Browser::new(&web);
    caseworker.sign_in("anna").await;
    assert_eq!(
        caseworker.get("/admin/jobs").await.status,
        StatusCode::FORBIDDEN
    );
}

async fn the_swedish_person_search_is_for_the_registers_own_staff(backend: Backend) {
    let web = Web::start(backend).await;
    let mut admin = Browser::new(&web);
    admin.sign_in("admin").await;
    let empty = admin.get("/folkbokforing/persons?q=An").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(
        empty.text.contains("Ingen person passer."),
        "{}",
        empty.text
    );
    let short = admin.get("/folkbokforing/persons?q=A").await;
    assert!(short.text.contains("Skriv mindst to tegn."));
    let markup = admin.get("/folkbokforing/persons?q=%3Cscript%3E").await;
    assert!(!markup.text.contains("<script>") && markup.text.contains("&lt;script&gt;"));
    // A caseworker of 101 may not search Sundsvall's register.
    let mut caseworker = Browser::new(&web);
    caseworker.sign_in("anna").await;
    let other = caseworker
        .get("/folkbokforing/persons?q=An&kommun=2281")
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
}

async fn an_admin_suspends_and_resumes_an_instance_from_its_page(backend: Backend) {
    let web = Web::start(backend).await;
    let task = web.case("0101501234", "101", "Sag").await;
    let detail = web
        .api(
            Method::GET,
            &format!("/api/tasks/{task}"),
            Some(&web.admin),
            None,
        )
        .await
        .json();
    let instance = detail["task"]["instance_id"]
        .as_str()
        .expect("instance")
        .to_owned();
    let page_of = format!("/admin/instances/{instance}");
    let mut admin = Browser::new(&web);
    admin.sign_in("admin").await;
    let page = admin.get(&page_of).await;
    assert!(
        page.text.contains("value=\"suspend\">Sæt på pause"),
        "{}",
        page.text
    );
    assert!(!page.text.contains("value=\"resume\""));
    let csrf = admin.csrf(&page_of).await;
    let action = format!("{page_of}/operate");
    let suspended = admin
        .post(
            &action,
            &[
                ("_csrf", &csrf),
                ("operation", "suspend"),
                ("reason", "klage"),
            ],
        )
        .await;
    assert_eq!(
        suspended.status,
        StatusCode::SEE_OTHER,
        "{}",
        suspended.text
    );
    let page = admin.get(&page_of).await;
    assert!(page.text.contains("status-suspended"), "{}", page.text);
    assert!(page.text.contains("value=\"resume\""));
    let unknown = admin
        .post(&action, &[("_csrf", &csrf), ("operation", "explode")])
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    let resumed = admin
        .post(&action, &[("_csrf", &csrf), ("operation", "resume")])
        .await;
    assert_eq!(resumed.status, StatusCode::SEE_OTHER, "{}", resumed.text);
    assert!(admin.get(&page_of).await.text.contains("status-active"));
    // A cancel is for good, so the button asks in a dialog (confirm.js); without it, the
    // first post is a page that says what will happen, carries the form, and changes nothing.
    assert!(
        admin
            .get(&page_of)
            .await
            .text
            .contains("value=\"cancel\" class=\"danger\" data-confirm=\"Forløbet annulleres")
    );
    let asked = admin
        .post(&action, &[("_csrf", &csrf), ("operation", "cancel")])
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.text);
    assert!(
        asked.text.contains("Forløbet annulleres")
            && asked.text.contains("web-case v1")
            && asked.text.contains(&format!("action=\"{action}\""))
            && asked.text.contains("name=\"operation\" value=\"cancel\"")
            && asked.text.contains("name=\"confirmed\" value=\"1\""),
        "{}",
        asked.text
    );
    assert!(admin.get(&page_of).await.text.contains("status-active"));
    // Confirmed without a reason: asked again, and still nothing happens.
    let bare = admin
        .post(
            &action,
            &[
                ("_csrf", &csrf),
                ("operation", "cancel"),
                ("confirmed", "1"),
                ("reason", "  "),
            ],
        )
        .await;
    assert_eq!(bare.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bare.text.contains("Skriv en årsag"), "{}", bare.text);
    assert!(admin.get(&page_of).await.text.contains("status-active"));
    let cancelled = admin
        .post(
            &action,
            &[
                ("_csrf", &csrf),
                ("operation", "cancel"),
                ("confirmed", "1"),
                ("reason", "oprettet ved en fejl"),
            ],
        )
        .await;
    assert_eq!(
        cancelled.status,
        StatusCode::SEE_OTHER,
        "{}",
        cancelled.text
    );
    let page = admin.get(&page_of).await;
    assert!(
        page.text.contains("status-cancelled")
            && page.text.contains("<td>oprettet ved en fejl</td>"),
        "the reason is in the history: {}",
        page.text
    );
    let entry = the_one_audit_entry_of(&web, "instance.cancel").await;
    assert_eq!(entry[0]["detail"]["reason"], "oprettet ved en fejl");
}

/// The restart form's button says dry run or restart; anything else is refused next to the
/// form, with the plan's own problems, where it used to be taken for a dry run.
async fn a_restart_action_the_form_does_not_offer_is_refused(backend: Backend) {
    let web = Web::start(backend).await;
    web.case("0101501234", "101", "Sag").await;
    web.deploy_case_v2().await;
    let mut admin = Browser::new(&web);
    admin.sign_in("admin").await;
    let csrf = admin.csrf("/admin/migrations").await;
    let odd = admin
        .post(
            "/admin/migrations/restart",
            &[
                ("_csrf", &csrf),
                ("process", "web-case"),
                ("reason", "release 2"),
                ("action", "restrat"),
            ],
        )
        .await;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", odd.text);
    assert!(
        odd.text.contains("id=\"restart-errors\"")
            && odd.text.contains(
                "<strong>Handling</strong>: &quot;restrat&quot; er ikke en af mulighederne: \
                 dry_run, restart"
            ),
        "under the field's label, naming the value and the choices: {}",
        odd.text
    );
    assert!(
        !odd.text.contains("id=\"preview\""),
        "no dry run is shown as if it had been asked for: {}",
        odd.text
    );
    assert!(
        odd.text
            .contains("name=\"reason\" maxlength=\"500\" value=\"release 2\""),
        "what was typed stays: {}",
        odd.text
    );
    // Everything wrong at once: the plan's own problems too.
    let both = admin
        .post(
            "/admin/migrations/restart",
            &[
                ("_csrf", &csrf),
                ("process", "web-case"),
                ("states", "nowhere"),
                ("action", "restrat"),
            ],
        )
        .await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        both.text.contains("<strong>Handling</strong>")
            && both
                .text
                .contains("<strong>Kun disse trin (kommasepareret)</strong>"),
        "{}",
        both.text
    );
    // A form sent without a button (Enter in a field) is still a dry run.
    let enter = admin
        .post(
            "/admin/migrations/restart",
            &[
                ("_csrf", &csrf),
                ("process", "web-case"),
                ("reason", "release 2"),
            ],
        )
        .await;
    assert_eq!(enter.status, StatusCode::OK, "{}", enter.text);
    assert!(enter.text.contains("id=\"preview\""), "{}", enter.text);
    assert!(
        web.state
            .engine
            .releases()
            .migrations(10)
            .await
            .expect("list")
            .is_empty(),
        "nothing started"
    );
}

async fn an_admin_restarts_after_a_release_from_the_migrations_page(backend: Backend) {
    let web = Web::start(backend).await;
    let task = web.case("0101501234", "101", "Sag").await;
    web.deploy_case_v2().await;
    let mut admin = Browser::new(&web);
    admin.sign_in("admin").await;
    let csrf = admin.csrf("/admin/migrations").await;
    // A state no older version has is refused next to the form, and nothing starts.
    let refused = admin
        .post(
            "/admin/migrations/restart",
            &[
                ("_csrf", &csrf),
                ("process", "web-case"),
                ("states", "nowhere"),
                ("action", "restart"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.text.contains("id=\"restart-errors\"") && refused.text.contains("nowhere"),
        "{}",
        refused.text
    );
    // In Danish, under the field's label on the form.
    assert!(
        refused
            .text
            .contains("<strong>Kun disse trin (kommasepareret)</strong>: Ingen ældre version"),
        "{}",
        refused.text
    );
    let unknown_version = admin
        .post(
            "/admin/migrations/restart",
            &[
                ("_csrf", &csrf),
                ("process", "web-case"),
                ("from_version", "9"),
                ("action", "dry_run"),
            ],
        )
        .await;
    assert!(
        unknown_version
            .text
            .contains("<strong>Fra version</strong>")
            && !unknown_version.text.contains("from_versions"),
        "{}",
        unknown_version.text
    );
    assert!(
        web.state
            .engine
            .releases()
            .migrations(10)
            .await
            .expect("list")
            .is_empty()
    );
    // The dry run shows what would happen and offers the restart itself.
    let dry = admin
        .post(
            "/admin/migrations/restart",
            &[
                ("_csrf", &csrf),
                ("process", "web-case"),
                ("reason", "release 2"),
                ("action", "dry_run"),
            ],
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.text);
    assert!(
        dry.text.contains("id=\"preview\"")
            && dry.text.contains("<td>review</td><td>genstartes</td>"),
        "{}",
        dry.text
    );
    // The restart button carries what the dry run was made of.
    let preview = dry.text.split("id=\"preview\"").nth(1).unwrap_or_default();
    assert!(
        preview.contains("name=\"reason\" value=\"release 2\"")
            && preview.contains("name=\"process\" value=\"web-case\"")
            && preview.contains("value=\"restart\""),
        "{preview}"
    );
    assert!(
        web.state
            .engine
            .releases()
            .migrations(10)
            .await
            .expect("list")
            .is_empty()
    );
    // Restarting many instances at once is confirmed: unconfirmed, the server asks, with the
    // count, and starts nothing.
    assert!(
        preview.contains("data-confirm=\"Forløbene genstartes"),
        "{preview}"
    );
    let restart = [
        ("_csrf", csrf.as_str()),
        ("process", "web-case"),
        ("reason", "release 2"),
        ("action", "restart"),
    ];
    let asked = admin.post("/admin/migrations/restart", &restart).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.text);
    assert!(
        asked.text.contains("web-case → v2 · 1 ")
            && asked.text.contains("name=\"action\" value=\"restart\"")
            && asked.text.contains(">release 2</textarea>"),
        "{}",
        asked.text
    );
    assert!(
        web.state
            .engine
            .releases()
            .migrations(10)
            .await
            .expect("list")
            .is_empty()
    );
    let started = admin
        .post(
            "/admin/migrations/restart",
            &[restart.as_slice(), &[("confirmed", "1")]].concat(),
        )
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.text);
    web.settle().await;
    let finished = web
        .state
        .engine
        .releases()
        .migrations(10)
        .await
        .expect("list")
        .remove(0);
    assert_eq!(finished.migration.status, MigrationPhase::Finished);
    assert_eq!(finished.count("done"), 1);
    let old = store::task(web.state.engine.db(), task.parse().expect("task id"))
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(old.status, forlob_engine::instance::TaskStatus::Cancelled);
    // A finished migration offers an undo, and the undo puts the task back.
    let page = admin.get("/admin/migrations").await;
    let undo = format!("/admin/migrations/{}/undo", finished.migration.id);
    assert!(page.text.contains(&undo), "{}", page.text);
    let undone = admin
        .post(
            &undo,
            &[
                ("_csrf", &csrf),
                ("confirmed", "1"),
                ("reason", "forkert version"),
            ],
        )
        .await;
    assert_eq!(undone.status, StatusCode::SEE_OTHER, "{}", undone.text);
    web.settle().await;
    let status = web
        .state
        .engine
        .releases()
        .migration_status(finished.migration.id)
        .await
        .expect("status");
    assert_eq!(status.migration.status, MigrationPhase::Undone);
    assert_eq!(
        (
            status.migration.undone_by.as_deref(),
            status.migration.undo_reason.as_str()
        ),
        (Some("admin"), "forkert version")
    );
    let back = store::task(web.state.engine.db(), task.parse().expect("task id"))
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(
        back.status,
        forlob_engine::instance::TaskStatus::Open,
        "the undo put the very task back"
    );
    let page = admin.get("/admin/migrations").await;
    assert!(page.text.contains("forkert version"), "{}", page.text);
    let again = admin.post(&undo, &[("_csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

/// A task a colleague holds is shown read-only with "Overtag"; taking it over is recorded with
/// whom it was taken from. A submit a colleague beat comes back as a 409 that says who, with
/// what was typed kept; a closed task shows what was submitted, by whom.
async fn a_held_task_is_read_only_until_taken_over_and_a_beaten_submit_keeps_the_input(
    backend: Backend,
) {
    let web = Web::start(backend).await;
    let task = web.case("0101501234", "101", "Gennemgå sagen").await;
    let path = format!("/tasks/{task}");
    let mut anna = Browser::new(&web);
    anna.sign_in("anna").await;
    let csrf = anna.csrf(&path).await;
    let claimed = web
        .api(
            Method::POST,
            &format!("/api/tasks/{task}/claim"),
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.text);

    let held = anna.get(&path).await;
    assert_eq!(held.status, StatusCode::OK);
    assert!(
        held.text.contains("Opgaven behandles af admin"),
        "{}",
        held.text
    );
    assert!(held.text.contains("<fieldset disabled>"), "read-only");
    assert!(held.text.contains("id=\"take-over\""));
    assert!(!held.text.contains("Afslut opgaven"), "no submit button");

    // Sent from a page loaded before the claim: refused, saying who, with the input kept.
    let beaten = anna
        .post(
            &path,
            &[
                ("_csrf", &csrf),
                ("decision", "approve"),
                ("note", "mit notat"),
            ],
        )
        .await;
    assert_eq!(beaten.status, StatusCode::CONFLICT);
    assert!(
        beaten.text.contains("admin har taget opgaven imens"),
        "{}",
        beaten.text
    );
    assert!(beaten.text.contains("mit notat"), "what was typed is kept");
    assert!(
        !beaten.text.contains("<fieldset disabled>"),
        "and goes along with the take-over"
    );

    // "Overtag opgaven" posts the task form: the typed values come back, editable now.
    let mine = anna
        .post(
            &format!("{path}/take-over"),
            &[
                ("_csrf", &csrf),
                ("decision", "approve"),
                ("note", "mit notat"),
            ],
        )
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
    assert!(mine.text.contains("Du har overtaget opgaven."));
    assert!(mine.text.contains("mit notat"));
    assert!(!mine.text.contains("<fieldset disabled>"));
    assert!(mine.text.contains("Afslut opgaven"));
    let entries = the_one_audit_entry_of(&web, "task.take_over").await;
    assert_eq!(entries[0]["actor"], "anna");
    assert_eq!(entries[0]["detail"]["from"], "admin");
    assert_eq!(entries[0]["subject"], "0101501234");

    // Completed by a colleague while anna typed: a 409, her input shown as not saved, and
    // what the colleague submitted, labelled as the form labels it.
    let other = web.case("0101501234", "101", "Anden sag").await;
    let other_path = format!("/tasks/{other}");
    let completed = web
        .api(
            Method::POST,
            &format!("/api/tasks/{other}/complete"),
            Some(&web.admin),
            Some(serde_json::json!({ "decision": "reject", "note": "afvist af admin" })),
        )
        .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.text);
    let late = anna
        .post(
            &other_path,
            &[
                ("_csrf", &csrf),
                ("decision", "approve"),
                ("note", "for sent"),
            ],
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert!(
        late.text.contains("Opgaven blev afsluttet af en kollega"),
        "{}",
        late.text
    );
    assert!(late.text.contains("Dine indtastninger blev ikke gemt"));
    assert!(late.text.contains("for sent"));
    let closed = anna.get(&other_path).await;
    assert_eq!(closed.status, StatusCode::OK);
    assert!(closed.text.contains("afsluttet, admin"), "{}", closed.text);
    assert!(
        closed.text.contains("<dt>Afgørelse</dt><dd>reject</dd>"),
        "{}",
        closed.text
    );
    assert!(closed.text.contains("afvist af admin"));
}

/// The audit log's entries of `action`, as the admin reads them, checked to be one.
async fn the_one_audit_entry_of(web: &Web, action: &str) -> serde_json::Value {
    let path = format!("/api/admin/audit?action={action}");
    let audit = web.api(Method::GET, &path, Some(&web.admin), None).await;
    let entries = audit.json()["entries"].clone();
    assert_eq!(entries.as_array().map(Vec::len), Some(1), "{}", audit.text);
    entries
}

/// A task goes to a colleague of its municipality only, from the task page or the API, and
/// the audit log says who gave it to whom; one a third colleague holds is not given away.
async fn a_task_is_given_to_a_colleague_of_its_municipality_and_no_one_else(backend: Backend) {
    let web = Web::start(backend).await;
    for username in ["carl", "dora", "erik"] {
        forlob_web::users::add(
            &web.state.engine,
            forlob_web::users::UserSpec {
                username: username.into(),
                display_name: Some(format!("{username} Kollega")),
                role: "caseworker".into(),
                municipality: Some("101".into()),
                password: None,
            },
            &forlob_engine::Actor::system(),
        )
        .await
        .expect("a colleague is added");
    }
    let task = web.case("0101501234", "101", "Gennemgå sagen").await;
    let assign = |to: &str| Some(serde_json::json!({ "to": to }));
    let api = format!("/api/tasks/{task}/assign");
    // Erik of 101 leaves: a disabled colleague can no longer be given tasks.
    let left = web
        .api(
            Method::POST,
            "/api/admin/users/erik/disable",
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(left.status, StatusCode::OK, "{}", left.text);
    // Someone of another municipality, a former colleague, an admin, and nobody at all are
    // refused alike.
    for stranger in ["bo", "erik", "admin", "nobody"] {
        let refused = web
            .api(Method::POST, &api, Some(&web.cw101), assign(stranger))
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.text
        );
        assert!(
            refused.json()["details"]["to"].is_string(),
            "{}",
            refused.text
        );
    }
    let unseen = web
        .api(Method::POST, &api, Some(&web.cw147), assign("carl"))
        .await;
    assert_eq!(
        unseen.status,
        StatusCode::NOT_FOUND,
        "147 does not see 101's task"
    );

    let path = format!("/tasks/{task}");
    let mut anna = Browser::new(&web);
    anna.sign_in("anna").await;
    let page = anna.get(&path).await;
    assert!(page.text.contains("id=\"assign\""), "{}", page.text);
    assert!(
        page.text
            .contains("<option value=\"carl\">carl Kollega (carl)</option>")
    );
    assert!(
        !page.text.contains("value=\"bo\""),
        "only colleagues of 101"
    );
    assert!(!page.text.contains("value=\"erik\""), "only active ones");
    assert!(!page.text.contains("value=\"anna\""), "not anna herself");
    let csrf = anna.csrf(&path).await;
    let given = anna
        .post(
            &format!("{path}/assign"),
            &[("_csrf", &csrf), ("to", "carl")],
        )
        .await;
    assert_eq!(given.status, StatusCode::SEE_OTHER, "{}", given.text);
    let inbox = anna
        .get(given.headers[header::LOCATION].to_str().expect("ascii"))
        .await;
    assert!(inbox.text.contains("Opgaven er tildelt din kollega."));
    let read = web
        .api(
            Method::GET,
            &format!("/api/tasks/{task}"),
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(read.json()["task"]["claimed_by"], "carl", "{}", read.text);

    // Carl holds it now: anna cannot pass it on to dora behind his back.
    let held = web
        .api(Method::POST, &api, Some(&web.cw101), assign("dora"))
        .await;
    assert_eq!(held.status, StatusCode::CONFLICT, "{}", held.text);

    let entries = the_one_audit_entry_of(&web, "task.assign").await;
    assert_eq!(entries[0]["actor"], "anna");
    assert_eq!(entries[0]["detail"]["to"], "carl");
    assert!(entries[0]["detail"]["from"].is_null());

    // Giving carl what is his changes nothing and records nothing; an admin may move his
    // claim to dora, and the entry names whose it was.
    let again = web
        .api(Method::POST, &api, Some(&web.cw101), assign("carl"))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    the_one_audit_entry_of(&web, "task.assign").await;
    let moved = web
        .api(Method::POST, &api, Some(&web.admin), assign("dora"))
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    assert_eq!(moved.json()["claimed_by"], "dora", "{}", moved.text);
    let path = "/api/admin/audit?action=task.assign";
    let audit = web.api(Method::GET, path, Some(&web.admin), None).await;
    let newest = audit.json()["entries"][0].clone();
    assert_eq!(newest["actor"], "admin");
    assert_eq!(newest["detail"]["from"], "carl");
    assert_eq!(newest["detail"]["to"], "dora");

    // An admin giving back dora's claim is on record too.
    let unclaim = format!("/api/tasks/{task}/unclaim");
    let freed = web
        .api(Method::POST, &unclaim, Some(&web.admin), None)
        .await;
    assert_eq!(freed.status, StatusCode::OK, "{}", freed.text);
    assert!(freed.json()["claimed_by"].is_null(), "{}", freed.text);
    let entries = the_one_audit_entry_of(&web, "task.release").await;
    assert_eq!(entries[0]["actor"], "admin");
    assert_eq!(entries[0]["detail"]["from"], "dora");
}

/// The rows of the inbox's list, as (title, CPR number) in the order shown.
fn inbox_rows(page: &str) -> Vec<(String, String)> {
    page.split("class=\"task-row\"")
        .skip(1)
        .map(|row| {
            let between = |start: &str, end: &str| {
                row.split(start)
                    .nth(1)
                    .and_then(|r| r.split(end).next())
                    .unwrap_or_default()
                    .to_owned()
            };
            let title = between("\">", "</a>");
            (title, between("<a href=\"/persons/", "\""))
        })
        .collect()
}

/// The inbox finds tasks by the person's name, the CPR number (typed with its dash) or a
/// word of the title, sorts by any column both ways, marks overdue and due-today tasks in
/// words, and offers only the processes that gave tasks; an admin also filters by municipality.
async fn the_inbox_finds_sorts_and_marks_what_is_due(backend: Backend) {
    let web = Web::start(backend).await;
    let start = web.state.engine.clock().now();
    let day = chrono::Duration::days(1);
    web.case("0101501234", "101", "Boligstøtte").await;
    web.clock.set(start + day).expect("forward");
    web.case("0404801234", "101", "Aktindsigt").await;
    web.clock.set(start + day * 2).expect("forward");
    web.case("0505501234", "101", "Kørsel").await;
    web.case("4703701234", "147", "Boligstøtte i 147").await;
    // Due in five days: the first is overdue, the second due later today, the third later.
    web.clock
        .set(start + day * 6 - chrono::Duration::minutes(1))
        .expect("forward");
    let mut anna = Browser::new(&web);
    anna.sign_in("anna").await;
    let all = anna.get("/inbox").await;
    assert_eq!(
        inbox_rows(&all.text),
        [
            ("Boligstøtte".to_owned(), "0101501234".to_owned()),
            ("Aktindsigt".to_owned(), "0404801234".to_owned()),
            ("Kørsel".to_owned(), "0505501234".to_owned()),
        ]
    );
    assert!(
        all.text.contains("class=\"badge due-overdue\"")
            && all.text.contains(">Overskredet</span>"),
        "{}",
        all.text
    );
    assert!(all.text.contains(">Forfalder i dag</span>"));
    // A kind is shown by its process's title, not its slug.
    assert!(
        all.text
            .contains("<span class=\"badge\" title=\"review\">Sag til test</span>")
            && all
                .text
                .contains(">Demo move-out with review / Sag til test (3)</option>"),
        "{}",
        all.text
    );
    assert_eq!(all.text.matches("aria-describedby=\"due-").count(), 2);
    // By the person's name, by the CPR number with its dash, by a word of the title.
    for (q, expected) in [
        ("østergaard", "0404801234"),
        ("010150-1234", "0101501234"),
        ("kørsel", "0505501234"),
    ] {
        let found = anna.get(&format!("/inbox?q={}", urlencode(q))).await;
        let rows = inbox_rows(&found.text);
        assert_eq!(rows.len(), 1, "{q}: {rows:?}");
        assert_eq!(rows[0].1, expected, "{q}");
    }
    // Another municipality's Jens Hansen is not found through 101's inbox.
    let jens = inbox_rows(&anna.get("/inbox?q=jens%20hansen").await.text);
    assert_eq!(jens.len(), 1, "{jens:?}");
    // Sorted by title, A to Å and back; the header says so to a screen reader.
    let by_title = anna.get("/inbox?sort=title").await;
    let titles: Vec<_> = inbox_rows(&by_title.text)
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(titles, ["Aktindsigt", "Boligstøtte", "Kørsel"]);
    assert!(
        by_title
            .text
            .contains("aria-sort=\"ascending\"><a href=\"/inbox?sort&#x3D;-title\""),
        "{}",
        by_title.text
    );
    let reversed = anna.get("/inbox?sort=-title").await;
    let titles: Vec<_> = inbox_rows(&reversed.text)
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(titles, ["Kørsel", "Boligstøtte", "Aktindsigt"]);
    assert!(reversed.text.contains("aria-sort=\"descending\""));
    let unknown = anna.get("/inbox?sort=colour").await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The process filter offers the process that gave tasks, not every deployed one.
    assert!(all.text.contains("<option value=\"web-case\""));
    assert!(
        !all.text.contains("<option value=\"web-job\""),
        "{}",
        all.text
    );
    // A caseworker has no municipality column or filter; an admin has both.
    assert!(!all.text.contains("id=\"municipality\""));
    let mut admin = Browser::new(&web);
    admin.sign_in("admin").await;
    let everyone = admin.get("/inbox").await;
    assert_eq!(inbox_rows(&everyone.text).len(), 4);
    assert!(everyone.text.contains("<option value=\"147\">147</option>"));
    let only_147 = admin.get("/inbox?municipality=147").await;
    let rows = inbox_rows(&only_147.text);
    assert_eq!(rows.len(), 1);
    assert!(only_147.text.contains("<td>147</td>"), "{}", only_147.text);
    // The API searches and sorts alike.
    let api = web
        .api(
            Method::GET,
            "/api/tasks?q=hansen&sort=-due",
            Some(&web.cw101),
            None,
        )
        .await;
    assert_eq!(api.json()["total"], 1, "{}", api.text);
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .unwrap_or_default()
        .trim_start_matches('=')
        .to_owned()
}

/// A person is found by name among those the viewer may see, with the birth date that tells
/// namesakes apart; every one shown is in the audit log. A CPR number still leads straight to
/// the person, and a search that finds nobody says so in Danish.
async fn a_person_is_found_by_name_among_those_the_viewer_may_see(backend: Backend) {
    let web = Web::start(backend).await;
    let mut anna = Browser::new(&web);
    anna.sign_in("anna").await;
    let found = anna.get("/persons?q=jens+hansen").await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    assert!(
        found
            .text
            .contains("href=\"/persons/0101501234\">Jens Hansen</a></td><td>1950-01-01</td>")
            && found
                .text
                .contains("href=\"/persons/0202601234\">Jens Hansen</a></td><td>1960-02-02</td>"),
        "{}",
        found.text
    );
    assert!(
        !found.text.contains("4703701234"),
        "147's citizen is not shown"
    );
    let searches = web
        .api(
            Method::GET,
            "/api/admin/audit?action=person.search",
            Some(&web.admin),
            None,
        )
        .await
        .json();
    let subjects: Vec<_> = searches["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["subject"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(subjects.len(), 2, "{searches}");
    assert!(
        subjects.contains(&"0101501234".to_owned()) && subjects.contains(&"0202601234".to_owned())
    );
    let cpr = anna.get("/persons?q=010150-1234").await;
    assert_eq!(cpr.status, StatusCode::SEE_OTHER);
    assert_eq!(cpr.headers[header::LOCATION], "/persons/0101501234");
    let nobody = anna.get("/persons?q=Hansen-Smith").await;
    assert_eq!(nobody.status, StatusCode::OK);
    assert!(
        nobody.text.contains("Ingen personer med det navn"),
        "{}",
        nobody.text
    );
    let short = anna.get("/persons?q=J").await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.text.contains("Skriv mindst to bogstaver"));
    // The API answers the same, with the birth date.
    let api = web
        .api(Method::GET, "/api/persons?q=hansen", Some(&web.cw147), None)
        .await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.text);
    assert_eq!(
        api.json()["persons"],
        serde_json::json!([{ "id": "4703701234", "name": "Jens Hansen", "birth_date": "1970-03-03" }])
    );
}

/// The admin's instance list comes a page at a time with the total, sorts by its columns, and
/// filters by municipality and by when instances started; the API pages alike, with the
/// total in `X-Total-Count`.
async fn the_instance_list_pages_sorts_and_filters(backend: Backend) {
    let web = Web::start(backend).await;
    let start = web.state.engine.clock().now();
    for n in 0..55 {
        let kommune = if n % 5 == 0 { "147" } else { "101" };
        web.case(&format!("01015{n:05}"), kommune, "Sag").await;
        web.clock
            .set(start + chrono::Duration::hours(n + 1))
            .expect("forward");
    }
    let mut admin = Browser::new(&web);
    admin.sign_in("admin").await;
    let first = admin.get("/admin/instances").await;
    assert!(first.text.contains("Viser 1–50 af 55"), "{}", first.text);
    assert_eq!(
        first
            .text
            .matches("<tr><td><a href=\"/admin/instances/")
            .count(),
        50
    );
    // Newest first by default; the next page has the five oldest.
    assert!(first.text.contains("aria-sort=\"descending\""));
    let next = first
        .text
        .split("rel=\"next\"")
        .next()
        .and_then(|before| before.rsplit("href=\"").next())
        .map(|href| {
            href.trim_end_matches("\" ")
                .replace("&amp;", "&")
                .replace("&#x3D;", "=")
        })
        .expect("a next link");
    let second = admin.get(&next).await;
    assert!(
        second.text.contains("Viser 51–55 af 55"),
        "{next}: {}",
        second.text
    );
    assert!(
        second.text.contains("<td>0101500000</td>"),
        "the oldest is last"
    );
    // Sorted by subject, A to Z: the first page starts with the lowest CPR number.
    let by_subject = admin.get("/admin/instances?sort=subject").await;
    let first_subject = by_subject
        .text
        .split("</a></td><td>1</td><td>")
        .nth(1)
        .and_then(|rest| rest.split("</td>").next())
        .unwrap_or_default();
    assert_eq!(first_subject, "0101500000");
    // Eleven of them went to 147; started within the first ten hours, two of those.
    // Looking instances up by a person's CPR number is a look at that person: recorded.
    let by_person = admin.get("/admin/instances?subject=0101500000").await;
    assert!(
        by_person.text.contains("Viser 1–1 af 1"),
        "{}",
        by_person.text
    );
    let search = the_one_audit_entry_of(&web, "person.search").await;
    assert_eq!(search[0]["subject"], "0101500000");
    let only_147 = admin.get("/admin/instances?municipality=147").await;
    assert!(
        only_147.text.contains("Viser 1–11 af 11"),
        "{}",
        only_147.text
    );
    let day = chrono::DateTime::parse_from_rfc3339(&start.to_rfc3339()).expect("an instant");
    let until = (start + chrono::Duration::hours(9) + chrono::Duration::minutes(30)).to_rfc3339();
    let early = web
        .api(
            Method::GET,
            &format!(
                "/api/instances?municipality=147&started_from={}&started_to={}&limit=1",
                urlencode(&day.to_rfc3339()),
                urlencode(&until)
            ),
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(early.status, StatusCode::OK, "{}", early.text);
    assert_eq!(early.headers["x-total-count"], "2");
    assert_eq!(early.json().as_array().map(Vec::len), Some(1));
    let bad = web
        .api(
            Method::GET,
            "/api/instances?sort=colour&started_from=yesterday",
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.json()["details"]["sort"].is_string()
            && bad.json()["details"]["started_from"].is_string()
    );
}

/// A job whose step fails: "Kør nu" does not say it started, the run's page says it failed,
/// why, and links the incident; once the incident is skipped, the run is shown as ended
/// after a skip, never as succeeded.
/// A job whose step fails (its parameter is not a number), scheduled and run by hand from
/// the jobs page by `admin`: the run page's address.
async fn a_failed_job_run(web: &Web, admin: &Browser<'_>) -> String {
    web.state
        .engine
        .releases()
        .deploy(&[forlob_engine::definition::SourceFile {
            path: "broken.yaml".into(),
            text: r#"
id: web-broken-job
title: Fejlende job
subject: job
start:
  schedule:
    parameters:
      limit: { type: string, default: "ti", label: Grænse }
initial: check
states:
  check:
    decision:
      - { when: "vars.limit > 10", goto: done }
      - { otherwise: done }
  done: { end: true }
"#
            .into(),
        }])
        .await
        .expect("the job deploys");
    let csrf = admin.csrf("/admin/jobs").await;
    let added = admin
        .post(
            "/admin/jobs",
            &[
                ("_csrf", &csrf),
                ("process", "web-broken-job"),
                ("start_date", "2025-06-02"),
                ("start_time", "10:00"),
                ("weekdays", "mon"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.text);
    let table = admin.get("/admin/jobs").await;
    let id = table
        .text
        .split("/admin/jobs/schedules/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a row with its actions")
        .to_owned();
    let ran = admin
        .post(
            &format!("/admin/jobs/schedules/{id}/run"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(ran.status, StatusCode::SEE_OTHER);
    ran.headers[header::LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned()
}

async fn a_failed_run_says_why_and_links_its_incident(backend: Backend) {
    let web = Web::start(backend).await;
    let mut admin = Browser::new(&web);
    admin.sign_in("admin").await;
    let location = a_failed_job_run(&web, &admin).await;
    assert!(
        !location.contains("done="),
        "no 'started' beside a failed run: {location}"
    );
    let run = admin.get(&location).await;
    assert!(
        run.text.contains("id=\"run-failed\"") && run.text.contains("Kørslen fejlede"),
        "{}",
        run.text
    );
    let incident = store::incidents(web.state.engine.db(), true)
        .await
        .expect("incidents")
        .pop()
        .expect("the step failed");
    assert!(
        run.text.contains(&format!(
            "href=\"/admin/instances/{}#incident-{}\"",
            incident.instance_id, incident.id
        )),
        "{}",
        run.text
    );
    web.state
        .engine
        .operations()
        .skip_incident(
            incident.id,
            "done",
            &forlob_engine::Actor::system(),
            "kendt fejl",
        )
        .await
        .expect("skipped");
    let after = admin.get(&location).await;
    assert!(!after.text.contains("id=\"run-failed\""));
    assert!(
        after.text.contains("status-ended_after_skip") && after.text.contains("sprunget over"),
        "{}",
        after.text
    );
    assert!(!after.text.contains("gennemført"));
    // The details are filtered by kind and by a text, and come as CSV, recorded.
    let line = |kind, subject, message| forlob_engine::jobs::JobRunDetailLine {
        kind,
        subject: Some(subject),
        message,
    };
    use forlob_engine::message::{Code, Message};
    // The package's code for the line (its catalogue text is the test's expectation).
    let updated = Code::new(
        "folkbokforing.updated_in_run",
        "updated during the run: {changes}",
    );
    let (anna, bjorn, formula) = (
        Message::new(updated).with("changes", "namn"),
        Message::written("namn: Björn"),
        Message::written("=HYPERLINK(\"x\")"),
    );
    store::jobs::add_details(
        web.state.engine.db(),
        incident.instance_id,
        &[
            line("updated", "198001011234", &anna),
            line("updated", "199002022345", &bjorn),
            line("deferred", "200003033456", &formula),
        ],
        web.state.engine.clock().now(),
    )
    .await
    .expect("details are written");
    let deferred = admin.get(&format!("{location}?kind=deferred")).await;
    assert!(
        deferred
            .text
            .contains("<option value=\"deferred\" selected>Udskudt (1)</option>")
            && deferred.text.contains("200003033456")
            && !deferred.text.contains("198001011234"),
        "{}",
        deferred.text
    );
    // A line with a code reads in the page's language; one without, as written.
    let all = admin.get(&location).await;
    assert!(
        all.text.contains("Opdateret under kørslen: namn") && all.text.contains("namn: Björn"),
        "{}",
        all.text
    );
    let bjorn = admin.get(&format!("{location}?q=bj%C3%B6rn")).await;
    assert!(bjorn.text.contains("199002022345") && !bjorn.text.contains("198001011234"));
    // Searching the details by a personnummer is a recorded look-up of that person.
    let by_id = admin.get(&format!("{location}?q=19900202-2345")).await;
    assert!(by_id.text.contains("199002022345") && !by_id.text.contains("198001011234"));
    let searches = web
        .api(
            Method::GET,
            "/api/admin/audit?action=person.search&subject=199002022345",
            Some(&web.admin),
            None,
        )
        .await
        .json();
    assert_eq!(
        searches["entries"].as_array().map(Vec::len),
        Some(1),
        "{searches}"
    );
    let csv = admin
        .get(&format!("{location}/details.csv?kind=deferred&q="))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let rows: Vec<&str> = csv.text.lines().collect();
    assert_eq!(rows.len(), 2, "{}", csv.text);
    assert!(
        rows[1].ends_with(",deferred,200003033456,\"'=HYPERLINK(\"\"x\"\")\""),
        "a formula is shown, never run: {}",
        rows[1]
    );
    let export = the_one_audit_entry_of(&web, "logbook.export").await;
    assert_eq!(export[0]["detail"]["rows"], 1);
}

/// What a page shows a person, roughly as a screen reader reads it: the text, and the
/// `title`, `aria-label`, `placeholder` and confirmation texts; without scripts, styles,
/// `<code>` (identifiers, expressions) and what is marked `lang="en"` on purpose (the
/// "English" language button, an error's technical details).
fn visible_text(html: &str) -> String {
    let mut rest = html.to_owned();
    for tag in ["script", "style", "code", "pre", "textarea"] {
        while let Some(open) = rest.find(&format!("<{tag}")) {
            let close = rest[open..]
                .find(&format!("</{tag}>"))
                .map_or(rest.len(), |at| open + at + tag.len() + 3);
            rest.replace_range(open..close, " ");
        }
    }
    while let Some(marked) = rest.find(" lang=\"en\"") {
        let open = rest[..marked].rfind('<').expect("inside a tag");
        let tag: String = rest[open + 1..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        let close = rest[open..]
            .find(&format!("</{tag}>"))
            .map_or(rest.len(), |at| open + at + tag.len() + 3);
        rest.replace_range(open..close, " ");
    }
    let mut text = String::new();
    let mut pieces = rest.split('<');
    text.push_str(pieces.next().unwrap_or_default());
    for piece in pieces {
        let (tag, after) = piece.split_once('>').unwrap_or((piece, ""));
        for attribute in ["title", "aria-label", "placeholder", "data-confirm"] {
            for value in tag.split(&format!(" {attribute}=\"")).skip(1) {
                text.push(' ');
                text.push_str(value.split('"').next().unwrap_or_default());
            }
        }
        text.push(' ');
        text.push_str(after);
    }
    text.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// English a Danish page must not show: every English UI text that differs from its Danish
/// one, and the fixed words of every engine and package message (what shows when a message
/// skips the catalogue).
fn english_phrases() -> Vec<String> {
    let read = |lang: &str| -> serde_json::Map<String, serde_json::Value> {
        let path = format!("{}/../web/i18n/{lang}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("the catalogue"))
            .expect("a JSON object")
    };
    let (en, da) = (read("en"), read("da"));
    let mut registry = support::registry();
    forlob_processes::register(&mut registry);
    let codes = forlob_engine::message::Code::ALL
        .iter()
        .chain(registry.messages())
        .map(|code| code.english());
    let texts = en
        .iter()
        .filter(|(key, text)| da.get(*key) != Some(*text))
        .filter_map(|(_, text)| text.as_str())
        .chain(codes);
    let mut phrases: Vec<String> = texts
        // The words between arguments and quoted names.
        .flat_map(|text| {
            text.split(['{', '}', '`', '"', '(', ')', ':', ';'])
                .map(|piece| piece.trim_matches(|c: char| !c.is_alphabetic()).to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|piece| piece.chars().filter(|c| c.is_alphabetic()).count() >= 5)
        .collect();
    // A word both languages use ("Status", "version", "Find person") is no sign of English.
    let danish: Vec<&str> = da.values().filter_map(|text| text.as_str()).collect();
    phrases.retain(|phrase| !danish.iter().any(|text| says(text, phrase)));
    phrases.sort();
    phrases.dedup();
    phrases
}

/// Whether `phrase` stands in `text` as whole words, ignoring case.
fn says(text: &str, phrase: &str) -> bool {
    let (text, phrase) = (text.to_lowercase(), phrase.to_lowercase());
    text.match_indices(&phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Every page a caseworker and an admin use, in Danish and with data on it (open and closed
/// tasks, a refused form, a failed job run with its incident, a migration, users, the audit
/// log, error pages), shows none of the English UI texts or engine message texts.
async fn every_page_in_danish_shows_no_english(backend: Backend) {
    let web = Web::start(backend).await;
    let closed = web.case("0101501234", "101", "Afsluttet sag").await;
    let restarted_open = web.case("0101501234", "101", "Genstartet sag").await;
    let completed = web
        .api(
            Method::POST,
            &format!("/api/tasks/{closed}/complete"),
            Some(&web.cw101),
            Some(serde_json::json!({ "decision": "approve", "amount": 5 })),
        )
        .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.text);
    let mut admin = Browser::new(&web);
    admin.sign_in("admin").await;
    let run = a_failed_job_run(&web, &admin).await;
    web.deploy_case_v2().await;
    let csrf = admin.csrf("/admin/migrations").await;
    let restarted = admin
        .post(
            "/admin/migrations/restart",
            &[
                ("_csrf", &csrf),
                ("process", "web-case"),
                ("reason", "release 2"),
                ("action", "restart"),
                ("confirmed", "1"),
            ],
        )
        .await;
    assert_eq!(
        restarted.status,
        StatusCode::SEE_OTHER,
        "{}",
        restarted.text
    );
    web.settle().await;
    // A task opened after the release, on its version.
    let open = web.case("0101501234", "101", "Gennemgå sagen").await;
    assert_ne!(open, restarted_open);
    let instance = web
        .api(
            Method::GET,
            &format!("/api/tasks/{closed}"),
            Some(&web.admin),
            None,
        )
        .await
        .json()["task"]["instance_id"]
        .as_str()
        .expect("the task's instance")
        .to_owned();
    let mut anna = Browser::new(&web);
    anna.sign_in("anna").await;
    let task_csrf = anna.csrf(&format!("/tasks/{open}")).await;
    let mut shown = Vec::new();
    for path in [
        "/inbox".to_owned(),
        format!("/tasks/{open}"),
        format!("/tasks/{closed}"),
        "/persons/0101501234".to_owned(),
        "/persons?q=Hansen".to_owned(),
        "/no-such-page".to_owned(),
    ] {
        shown.push((format!("anna {path}"), anna.get(&path).await));
    }
    // Refusals and error pages too: a page of another role, a colleague who is none, and
    // the sign-in page before anyone is signed in.
    shown.push((
        "anna /admin/users".to_owned(),
        anna.get("/admin/users").await,
    ));
    let not_a_colleague = anna
        .post(
            &format!("/tasks/{open}/assign"),
            &[("_csrf", &task_csrf), ("to", "nobody")],
        )
        .await;
    assert!(
        not_a_colleague
            .text
            .contains("Ingen aktiv sagsbehandler i kommune 101"),
        "the refusal's reason, in Danish: {}",
        not_a_colleague.text
    );
    shown.push(("anna's refused assignment".to_owned(), not_a_colleague));
    shown.push(("/login".to_owned(), Browser::new(&web).get("/login").await));
    let refused = anna
        .post(
            &format!("/tasks/{open}"),
            &[
                ("_csrf", &task_csrf),
                ("amount", "tolv"),
                ("note", &"x".repeat(30_000)),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    shown.push(("anna's refused form".to_owned(), refused));
    for path in [
        "/inbox".to_owned(),
        "/admin/instances".to_owned(),
        format!("/admin/instances/{instance}"),
        "/admin/incidents".to_owned(),
        "/admin/dead-letters".to_owned(),
        "/admin/users".to_owned(),
        "/admin/jobs".to_owned(),
        "/admin/logbook".to_owned(),
        run.clone(),
        "/admin/migrations".to_owned(),
        "/admin/audit".to_owned(),
        "/designer".to_owned(),
        "/designer/processes/web-case".to_owned(),
        "/designer/workbench?process=web-case".to_owned(),
        "/designer/workbench".to_owned(),
    ] {
        shown.push((format!("admin {path}"), admin.get(&path).await));
    }
    let jobs_csrf = admin.csrf("/admin/jobs").await;
    let no_weekday = admin
        .post(
            "/admin/jobs",
            &[
                ("_csrf", &jobs_csrf),
                ("process", "web-broken-job"),
                ("start_time", "25:00"),
            ],
        )
        .await;
    assert_eq!(no_weekday.status, StatusCode::UNPROCESSABLE_ENTITY);
    shown.push(("admin's refused schedule".to_owned(), no_weekday));
    let phrases = english_phrases();
    assert!(
        phrases.iter().any(|p| p == "is not a number"),
        "{phrases:?}"
    );
    let mut found = Vec::new();
    for (what, page) in &shown {
        assert!(
            page.text.contains("<html lang=\"da\">"),
            "{what} is a Danish page: {}",
            page.text
        );
        let expected = if what.contains("refused") {
            vec![StatusCode::UNPROCESSABLE_ENTITY]
        } else if what.contains("/no-such-page") {
            vec![StatusCode::NOT_FOUND]
        } else if what.contains("anna /admin/") {
            vec![StatusCode::FORBIDDEN]
        } else {
            vec![StatusCode::OK]
        };
        assert!(expected.contains(&page.status), "{what}: {}", page.status);
        let text = visible_text(&page.text);
        for phrase in &phrases {
            if says(&text, phrase) {
                found.push(format!("{what}: {phrase:?}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "English on Danish pages:\n{}",
        found.join("\n")
    );
}

on_both_backends!(
    every_page_in_danish_shows_no_english,
    a_failed_run_says_why_and_links_its_incident,
    the_instance_list_pages_sorts_and_filters,
    the_inbox_finds_sorts_and_marks_what_is_due,
    a_person_is_found_by_name_among_those_the_viewer_may_see,
    a_task_is_given_to_a_colleague_of_its_municipality_and_no_one_else,
    a_held_task_is_read_only_until_taken_over_and_a_beaten_submit_keeps_the_input,
    the_dead_letter_page_pages_and_links_to_each_whole_letter,
    a_flood_against_one_user_or_from_one_address_locks_no_one_else_out,
    disabling_a_user_ends_their_sessions_for_good,
    error_pages_redirects_and_outer_layers_carry_the_security_headers,
    an_admin_restarts_after_a_release_from_the_migrations_page,
    a_restart_action_the_form_does_not_offer_is_refused,
    an_admin_suspends_and_resumes_an_instance_from_its_page,
    the_swedish_person_search_is_for_the_registers_own_staff,
    an_admin_starts_a_job_on_weekdays_runs_it_and_removes_it,
    every_answer_has_our_shape_and_safety_headers,
    the_person_page_shows_the_overview_open_tasks_and_refusals,
    a_caseworker_signs_in_and_completes_a_task_through_the_pages,
    a_form_post_without_the_sessions_csrf_token_is_refused,
    markup_in_titles_and_values_is_shown_as_text,
    an_unknown_page_gets_a_helpful_404_in_the_viewers_language,
    repeated_failed_sign_ins_are_slowed_down,
    the_ui_speaks_the_users_chosen_language,
    signing_out_ends_the_session,
    each_role_sees_its_own_pages,
);
