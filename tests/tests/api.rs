//! The REST API through `router(state).oneshot`, on SQLite and PostgreSQL: tenancy inside the
//! queries, clean 409s and 422s, roles, JSON errors, the OpenAPI document, messages, metrics.

mod support;
mod web;

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::Backend;
use web::Web;

async fn a_caseworker_of_147_can_neither_list_read_claim_nor_complete_a_task_of_101(
    backend: Backend,
) {
    let web = Web::start(backend).await;
    let task = web.case("0101501234", "101", "Sag i 101").await;
    let theirs = web
        .api(Method::GET, "/api/tasks", Some(&web.cw147), None)
        .await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert_eq!(theirs.json()["total"], 0, "{}", theirs.text);
    assert_eq!(theirs.json()["tasks"], json!([]));
    // Even asking for 101's inbox by name gives their own.
    let asked = web
        .api(
            Method::GET,
            "/api/tasks?municipality=101",
            Some(&web.cw147),
            None,
        )
        .await;
    assert_eq!(asked.json()["total"], 0);
    for (method, path, body) in [
        (Method::GET, format!("/api/tasks/{task}"), None),
        (Method::POST, format!("/api/tasks/{task}/claim"), None),
        (
            Method::POST,
            format!("/api/tasks/{task}/complete"),
            Some(json!({ "decision": "approve" })),
        ),
    ] {
        let reply = web.api(method, &path, Some(&web.cw147), body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.text
        );
        // The same answer as for a task that does not exist.
        assert_eq!(reply.json()["error"], "not_found");
    }
    let ours = web
        .api(Method::GET, "/api/tasks", Some(&web.cw101), None)
        .await;
    assert_eq!(ours.json()["total"], 1);
    assert_eq!(ours.json()["tasks"][0]["id"], task);
    assert_eq!(ours.json()["counts"]["review"], 1);
    let still_open = web
        .api(
            Method::GET,
            &format!("/api/tasks/{task}"),
            Some(&web.cw101),
            None,
        )
        .await;
    assert_eq!(still_open.json()["task"]["status"], "open");
    assert_eq!(still_open.json()["form"][0]["name"], "decision");
}

async fn a_task_completed_twice_at_once_gives_one_200_and_one_409(backend: Backend) {
    let web = Web::start(backend).await;
    let task = web.case("0101501234", "101", "Sag").await;
    let path = format!("/api/tasks/{task}/complete");
    let body = json!({ "decision": "approve", "amount": "10" });
    let (a, b) = tokio::join!(
        web.api(Method::POST, &path, Some(&web.cw101), Some(body.clone())),
        web.api(Method::POST, &path, Some(&web.admin), Some(body.clone())),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", a.text, b.text);
    let loser = if a.status == StatusCode::CONFLICT {
        a
    } else {
        b
    };
    assert_eq!(loser.json()["error"], "task_closed");
    assert_eq!(
        loser.json()["details"]["status"],
        "completed",
        "the 409 says what it is now"
    );
    let history = web
        .api(
            Method::GET,
            "/api/instances?process=web-case",
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(history.json()[0]["status"], "completed");
}

async fn a_form_with_errors_is_refused_with_422_and_a_message_per_field(backend: Backend) {
    let web = Web::start(backend).await;
    let task = web.case("0101501234", "101", "Sag").await;
    let reply = web
        .api(
            Method::POST,
            &format!("/api/tasks/{task}/complete"),
            Some(&web.cw101),
            Some(json!({ "decision": "maybe", "amount": "-5" })),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    let body = reply.json();
    assert_eq!(body["error"], "invalid");
    assert!(body["details"]["decision"].is_string(), "{body}");
    assert_eq!(body["details"]["amount"], "Beløbet kan ikke være negativt");
    assert_eq!(
        body["errors"], body["details"],
        "DESIGN §8 names them `errors`"
    );
    // Nothing changed: the task is still open.
    let task_now = web
        .api(
            Method::GET,
            &format!("/api/tasks/{task}"),
            Some(&web.cw101),
            None,
        )
        .await;
    assert_eq!(task_now.json()["task"]["status"], "open");
}

async fn a_claimed_task_is_closed_to_colleagues_until_given_back(backend: Backend) {
    let web = Web::start(backend).await;
    let task = web.case("0101501234", "101", "Sag").await;
    // A colleague in 101.
    let colleague = web.user("carl", "caseworker", Some("101")).await;
    let claim = format!("/api/tasks/{task}/claim");
    let claimed = web.api(Method::POST, &claim, Some(&web.cw101), None).await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.text);
    assert_eq!(claimed.json()["claimed_by"], "anna");
    // Claiming again is harmless for the holder, a 409 for anybody else.
    let again = web.api(Method::POST, &claim, Some(&web.cw101), None).await;
    assert_eq!(again.status, StatusCode::OK);
    let taken = web.api(Method::POST, &claim, Some(&colleague), None).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.json()["error"], "task_claimed");
    let complete = format!("/api/tasks/{task}/complete");
    let refused = web
        .api(
            Method::POST,
            &complete,
            Some(&colleague),
            Some(json!({ "decision": "approve" })),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    let mine = web
        .api(
            Method::GET,
            "/api/tasks?claimed_by=me",
            Some(&web.cw101),
            None,
        )
        .await;
    assert_eq!(mine.json()["total"], 1);
    // The colleague cannot give back someone else's claim.
    let unclaim = format!("/api/tasks/{task}/unclaim");
    let not_theirs = web
        .api(Method::POST, &unclaim, Some(&colleague), None)
        .await;
    assert_eq!(not_theirs.status, StatusCode::CONFLICT);
    let released = web
        .api(Method::POST, &unclaim, Some(&web.cw101), None)
        .await;
    assert_eq!(released.json()["claimed_by"], serde_json::Value::Null);
    let done = web
        .api(
            Method::POST,
            &complete,
            Some(&colleague),
            Some(json!({ "decision": "approve" })),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.json()["task"]["completed_by"], "carl");
}

async fn callers_need_a_valid_token_and_the_right_role(backend: Backend) {
    let web = Web::start(backend).await;
    let none = web.api(Method::GET, "/api/tasks", None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.json()["error"], "unauthorized");
    let forged = web
        .api(Method::GET, "/api/tasks", Some("0123abcd"), None)
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    for (token, path) in [
        (&web.designer, "/api/tasks"),
        (&web.cw101, "/api/instances"),
        (&web.cw101, "/api/admin/users"),
        (&web.cw101, "/api/processes/web-case"),
    ] {
        let reply = web.api(Method::GET, path, Some(token), None).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            reply.text
        );
        assert_eq!(reply.json()["error"], "forbidden");
    }
    let designer = web
        .api(
            Method::GET,
            "/api/processes/web-case",
            Some(&web.designer),
            None,
        )
        .await;
    assert_eq!(designer.status, StatusCode::OK);
    assert!(
        designer.json()["diagram"]
            .as_str()
            .is_some_and(|d| d.starts_with("stateDiagram-v2"))
    );
    assert_eq!(designer.json()["versions"][0]["version"], 1);
}

async fn starting_by_hand_follows_the_definitions_permission(backend: Backend) {
    let web = Web::start(backend).await;
    let path = "/api/processes/web-case/instances";
    // 471 lives in 147: a caseworker of 147 sees them, and the definition's rule decides.
    let other = web
        .api(
            Method::POST,
            path,
            Some(&web.cw147),
            Some(json!({ "subject": "471", "variables": { "kommune": "101", "title": "x" } })),
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert_eq!(
        other.json()["message"],
        "Kun din egen kommune kan oprette sagen"
    );
    let own = web
        .api(
            Method::POST,
            path,
            Some(&web.cw147),
            Some(json!({ "subject": "471", "variables": { "kommune": "147", "title": "x" } })),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text);
    let empty = web
        .api(
            Method::POST,
            path,
            Some(&web.cw147),
            Some(json!({ "subject": " " })),
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.json()["details"]["subject"].is_string());
    let unknown = web
        .api(
            Method::POST,
            "/api/processes/nope/instances",
            Some(&web.admin),
            Some(json!({ "subject": "1" })),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn bad_requests_get_json_errors_that_say_what_is_wrong(backend: Backend) {
    let web = Web::start(backend).await;
    let cases = [
        (
            Method::GET,
            "/api/tasks?sort=sideways",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/api/tasks?limit=0",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/api/tasks?due_before=tomorrow",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/api/tasks?colour=red",
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/api/tasks/not-a-uuid",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/api/instances?status=sleeping",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/api/no-such-thing",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/api/processes/web-case/instances",
            Some(json!({ "subjekt": "1" })),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (method, path, body, status) in cases {
        let reply = web.api(method, path, Some(&web.admin), body).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.text);
        let body = reply.json();
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{path}: {body}"
        );
        assert!(body.get("details").is_some(), "{path}: {body}");
    }
    let broken = web
        .send(
            axum::http::Request::post("/api/tasks/00000000-0000-0000-0000-000000000000/complete")
                .header("authorization", format!("Bearer {}", web.admin))
                .header("content-type", "application/json")
                .body(axum::body::Body::from("{not json"))
                .expect("request"),
        )
        .await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST, "{}", broken.text);
    assert_eq!(broken.json()["error"], "bad_request");
}

async fn messages_are_taken_once_by_their_id(backend: Backend) {
    let web = Web::start(backend).await;
    // Data that is no mapping of named values is refused at the field, never kept.
    for data in [json!(-1.5e-240), json!("x"), json!([1]), json!(null)] {
        let refused = web
            .api(
                Method::POST,
                "/api/messages",
                Some(&web.admin),
                Some(json!({ "message_id": "m-0", "type": "unknown.kind", "data": data })),
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{data}");
        assert!(
            refused.json()["errors"]["data"].is_string(),
            "{}",
            refused.text
        );
    }
    let message = json!({ "message_id": "m-1", "type": "unknown.kind", "data": { "x": 1 } });
    let first = web
        .api(
            Method::POST,
            "/api/messages",
            Some(&web.admin),
            Some(message.clone()),
        )
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);
    assert_eq!(first.json()["outcome"], "dead_letter");
    let again = web
        .api(
            Method::POST,
            "/api/messages",
            Some(&web.admin),
            Some(message),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["outcome"], "duplicate");
    let message_again = json!({ "message_id": "m-1", "type": "unknown.kind", "data": { "x": 1 } });
    let letters = web
        .api(
            Method::GET,
            "/api/admin/dead-letters",
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(letters.json().as_array().map(Vec::len), Some(1));
    // The same id with other content is not a duplicate to drop: 409, and both are kept.
    let changed = json!({ "message_id": "m-1", "type": "unknown.kind", "data": { "x": 2 } });
    let conflict = web
        .api(
            Method::POST,
            "/api/messages",
            Some(&web.admin),
            Some(changed.clone()),
        )
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.text);
    assert_eq!(conflict.json()["error"], "conflicting_duplicate");
    let letter = conflict.json()["details"]["dead_letter"].clone();
    let kept = web
        .api(
            Method::GET,
            &format!("/api/admin/dead-letters/{letter}"),
            Some(&web.admin),
            None,
        )
        .await
        .json();
    assert_eq!(
        kept["payload"]["first"]["data"],
        json!({ "x": 1 }),
        "{kept}"
    );
    assert_eq!(
        kept["payload"]["second"]["data"],
        json!({ "x": 2 }),
        "{kept}"
    );
    assert!(
        kept["reason"]
            .as_str()
            .is_some_and(|r| r.contains("conflicting duplicate"))
    );
    // The first content sent again is still a plain duplicate.
    let same = web
        .api(
            Method::POST,
            "/api/messages",
            Some(&web.admin),
            Some(message_again),
        )
        .await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(same.json()["outcome"], "duplicate");
    let caseworker = web
        .api(
            Method::POST,
            "/api/messages",
            Some(&web.cw101),
            Some(json!({ "message_id": "m-2", "type": "x", "data": {} })),
        )
        .await;
    assert_eq!(caseworker.status, StatusCode::FORBIDDEN);
    // A register's feed has an integration token: it delivers, and can do nothing else.
    let feed = web.user("cpr-feed", "integration", None).await;
    let delivered = web
        .api(
            Method::POST,
            "/api/messages",
            Some(&feed),
            Some(json!({ "message_id": "m-3", "type": "x", "data": {} })),
        )
        .await;
    assert_eq!(delivered.status, StatusCode::ACCEPTED);
    for path in ["/api/tasks", "/api/admin/users", "/api/instances"] {
        let refused = web.api(Method::GET, path, Some(&feed), None).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }
}

async fn dead_letters_are_listed_a_page_at_a_time_with_payloads_cut(backend: Backend) {
    let web = Web::start(backend).await;
    let big = "å".repeat(100_000);
    for i in 0..3 {
        let sent = web
            .api(
                Method::POST,
                "/api/messages",
                Some(&web.admin),
                Some(json!({ "message_id": format!("big-{i}"), "type": "nobody.takes", "data": { "blob": big, "i": i } })),
            )
            .await;
        assert_eq!(sent.json()["outcome"], "dead_letter", "{}", sent.text);
    }
    let first = web
        .api(
            Method::GET,
            "/api/admin/dead-letters?limit=2",
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert!(
        first.text.len() < 5_000,
        "the list is small: {} bytes",
        first.text.len()
    );
    let page = first.json();
    let page = page.as_array().expect("a list");
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["message_id"], "big-2", "newest first");
    for letter in page {
        assert!(letter.get("payload").is_none(), "{letter}");
        assert_eq!(
            letter["payload_preview"]
                .as_str()
                .map(|p| p.chars().count()),
            Some(200)
        );
        assert!(
            letter["payload_size"].as_i64().is_some_and(|n| n > 100_000),
            "{letter}"
        );
        assert_eq!(letter["payload_truncated"], true);
    }
    let last = page[1]["id"].as_i64().expect("id");
    let link = first.headers[axum::http::header::LINK]
        .to_str()
        .expect("ascii");
    assert!(
        link.contains(&format!("cursor={last}")) && link.contains("rel=\"next\""),
        "{link}"
    );
    let rest = web
        .api(
            Method::GET,
            &format!("/api/admin/dead-letters?limit=2&cursor={last}"),
            Some(&web.admin),
            None,
        )
        .await;
    let rest = rest.json();
    assert_eq!(rest.as_array().map(Vec::len), Some(1));
    assert_eq!(rest[0]["message_id"], "big-0");
    let whole = web
        .api(
            Method::GET,
            &format!("/api/admin/dead-letters/{}", rest[0]["id"]),
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(
        whole.json()["payload"]["blob"].as_str().map(str::len),
        Some(big.len())
    );
    for (path, token, status) in [
        (
            "/api/admin/dead-letters/999999",
            &web.admin,
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/admin/dead-letters/1",
            &web.cw101,
            StatusCode::FORBIDDEN,
        ),
        (
            "/api/admin/dead-letters?limit=0",
            &web.admin,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        assert_eq!(
            web.api(Method::GET, path, Some(token), None).await.status,
            status,
            "{path}"
        );
    }
}

async fn the_openapi_document_describes_every_route(backend: Backend) {
    let web = Web::start(backend).await;
    let doc = web.api(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc = doc.json();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/api/tasks",
        "/api/tasks/{id}",
        "/api/tasks/{id}/claim",
        "/api/tasks/{id}/unclaim",
        "/api/tasks/{id}/complete",
        "/api/processes",
        "/api/processes/{id}",
        "/api/processes/{id}/instances",
        "/api/instances",
        "/api/instances/{id}",
        "/api/persons/{id}",
        "/api/messages",
        "/api/admin/clock",
        "/api/admin/incidents",
        "/api/admin/incidents/{id}/retry",
        "/api/admin/incidents/{id}/skip",
        "/api/admin/incidents/{id}/cancel",
        "/api/admin/instances/{id}/suspend",
        "/api/admin/instances/{id}/resume",
        "/api/admin/instances/{id}/cancel",
        "/api/admin/instances/restart",
        "/api/admin/migrations",
        "/api/admin/migrations/{id}",
        "/api/admin/migrations/{id}/resume",
        "/api/admin/migrations/{id}/undo",
        "/api/admin/migrations/{id}/abandon",
        "/api/admin/releases/impact",
        "/api/admin/dead-letters",
        "/api/admin/users",
        "/api/jobs",
        "/api/jobs/{process}/runs",
        "/api/schedules",
        "/api/schedules/{id}",
        "/api/schedules/{id}/run",
        "/api/logbook",
        "/api/logbook/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "missing {path}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert_eq!(doc["info"]["title"], "forlob API");
    assert_eq!(doc["info"]["license"]["name"], "EUPL-1.2");
}

async fn the_manual_clock_moves_only_forward_and_only_for_admins(backend: Backend) {
    let web = Web::start(backend).await;
    let now = forlob_engine::Clock::now(web.clock.as_ref());
    let later = (now + chrono::Duration::days(1)).to_rfc3339();
    let moved = web
        .api(
            Method::POST,
            "/api/admin/clock",
            Some(&web.admin),
            Some(json!({ "advance_to": later })),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    let back = web
        .api(
            Method::POST,
            "/api/admin/clock",
            Some(&web.admin),
            Some(json!({ "advance_to": now.to_rfc3339() })),
        )
        .await;
    assert_eq!(back.status, StatusCode::UNPROCESSABLE_ENTITY);
    let caseworker = web
        .api(
            Method::POST,
            "/api/admin/clock",
            Some(&web.cw101),
            Some(json!({ "advance_to": later })),
        )
        .await;
    assert_eq!(caseworker.status, StatusCode::FORBIDDEN);
}

async fn metrics_report_tasks_instances_work_and_latencies(backend: Backend) {
    let postgres = matches!(backend, Backend::Postgres(_));
    let web = Web::start(backend).await;
    web.case("0101501234", "101", "Sag").await;
    web.api(Method::GET, "/api/tasks", Some(&web.cw101), None)
        .await;
    let metrics = web
        .api(Method::GET, "/metrics", Some(&web.admin), None)
        .await;
    assert_eq!(metrics.status, StatusCode::OK);
    for expected in [
        "forlob_tasks_open{municipality=\"101\"} 1",
        "forlob_instances_active{process=\"web-case\",state=\"review\"} 1",
        "forlob_work_queue_due",
        "forlob_work_queue_lag_seconds",
        "forlob_audit_unsealed",
        "forlob_audit_unsealed_age_seconds",
        "forlob_transitions_total",
        "forlob_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/tasks\",status=\"200\"",
    ] {
        assert!(
            metrics.text.contains(expected),
            "missing {expected} in\n{}",
            metrics.text
        );
    }
    // The accounts made for the test were audited; no worker ran, so on PostgreSQL their
    // entries still wait for a sealer, and on SQLite they were sealed as they were written.
    let unsealed: f64 = metrics
        .text
        .lines()
        .find_map(|line| line.strip_prefix("forlob_audit_unsealed "))
        .and_then(|value| value.trim().parse().ok())
        .expect("forlob_audit_unsealed has a value");
    assert_eq!(unsealed > 0.0, postgres, "{unsealed} unsealed");
}

async fn metrics_need_a_token_of_the_metrics_role_which_opens_nothing_else(backend: Backend) {
    let web = Web::start(backend).await;
    let added = web
        .api(
            Method::POST,
            "/api/admin/users",
            Some(&web.admin),
            Some(json!({ "username": "prometheus", "role": "metrics" })),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let scraper = added.json()["token"].as_str().expect("token").to_owned();
    let anonymous = web.api(Method::GET, "/metrics", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.json()["error"],
        "unauthorized",
        "JSON, not a login page"
    );
    for other in [&web.cw101, &web.designer] {
        let refused = web.api(Method::GET, "/metrics", Some(other), None).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
        assert!(!refused.text.contains("forlob_tasks_open"));
    }
    let scraped = web.api(Method::GET, "/metrics", Some(&scraper), None).await;
    assert_eq!(scraped.status, StatusCode::OK, "{}", scraped.text);
    assert!(scraped.text.contains("forlob_work_queue_due"));
    // The scraper's token reads nothing else, not even what any signed-in user may list.
    for path in ["/api/processes", "/api/tasks", "/api/admin/users", "/inbox"] {
        let refused = web.api(Method::GET, path, Some(&scraper), None).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            refused.text
        );
    }
}

async fn users_are_added_once_with_checked_fields(backend: Backend) {
    let web = Web::start(backend).await;
    let bad = web
        .api(
            Method::POST,
            "/api/admin/users",
            Some(&web.admin),
            Some(json!({ "username": "X Y", "role": "king", "password": "short" })),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let details = &bad.json()["details"];
    for field in ["username", "role", "password"] {
        assert!(details[field].is_string(), "{field}: {details}");
    }
    let no_municipality = web
        .api(
            Method::POST,
            "/api/admin/users",
            Some(&web.admin),
            Some(json!({ "username": "eva", "role": "caseworker" })),
        )
        .await;
    assert!(no_municipality.json()["details"]["municipality"].is_string());
    let added = web
        .api(
            Method::POST,
            "/api/admin/users",
            Some(&web.admin),
            Some(json!({ "username": "eva", "role": "caseworker", "municipality": "147" })),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let token = added.json()["token"].as_str().expect("token").to_owned();
    let works = web.api(Method::GET, "/api/tasks", Some(&token), None).await;
    assert_eq!(works.status, StatusCode::OK);
    let taken = web
        .api(
            Method::POST,
            "/api/admin/users",
            Some(&web.admin),
            Some(json!({ "username": "eva", "role": "admin" })),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
}

async fn incident_actions_are_for_admins_and_name_unknown_incidents(backend: Backend) {
    let web = Web::start(backend).await;
    for (path, body) in [
        ("/api/admin/incidents/999/retry", None),
        (
            "/api/admin/incidents/999/skip",
            Some(json!({ "to_state": "done" })),
        ),
        ("/api/admin/incidents/999/cancel", None),
    ] {
        let caseworker = web
            .api(Method::POST, path, Some(&web.cw101), body.clone())
            .await;
        assert_eq!(caseworker.status, StatusCode::FORBIDDEN, "{path}");
        let admin = web.api(Method::POST, path, Some(&web.admin), body).await;
        assert_eq!(
            admin.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            admin.text
        );
        assert!(
            admin.json()["message"]
                .as_str()
                .unwrap_or_default()
                .contains("999")
        );
    }
}

async fn a_revoked_token_stops_working_at_once(backend: Backend) {
    let web = Web::start(backend).await;
    let issued = web
        .api(
            Method::POST,
            "/api/admin/users/anna/tokens",
            Some(&web.admin),
            Some(json!({ "name": "laptop" })),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    let secret = issued.json()["secret"].as_str().expect("secret").to_owned();
    let id = issued.json()["token"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let works = web
        .api(Method::GET, "/api/tasks", Some(&secret), None)
        .await;
    assert_eq!(works.status, StatusCode::OK);
    let listed = web
        .api(Method::GET, "/api/admin/tokens", Some(&web.admin), None)
        .await;
    assert!(
        !listed.text.contains(&secret),
        "the secret is never shown again"
    );
    let revoked = web
        .api(
            Method::POST,
            &format!("/api/admin/tokens/{id}/revoke"),
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let refused = web
        .api(Method::GET, "/api/tasks", Some(&secret), None)
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // anna's first token still works.
    let first = web
        .api(Method::GET, "/api/tasks", Some(&web.cw101), None)
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let again = web
        .api(
            Method::POST,
            &format!("/api/admin/tokens/{id}/revoke"),
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let myself = web
        .api(
            Method::POST,
            "/api/admin/users/admin/disable",
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(myself.status, StatusCode::UNPROCESSABLE_ENTITY);
    let nobody = web
        .api(
            Method::POST,
            "/api/admin/users/nobody/tokens",
            Some(&web.admin),
            Some(json!({ "name": "x" })),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
}

async fn disabling_a_user_revokes_their_tokens_for_good(backend: Backend) {
    let web = Web::start(backend).await;
    let second = web
        .api(
            Method::POST,
            "/api/admin/users/anna/tokens",
            Some(&web.admin),
            Some(json!({ "name": "laptop" })),
        )
        .await;
    let second = second.json()["secret"].as_str().expect("secret").to_owned();
    // A reason that does not fit, or a body that is no JSON, changes nothing.
    let long = "x".repeat(web.state.engine.limits().reason + 1);
    let too_long = web
        .api(
            Method::POST,
            "/api/admin/users/anna/disable",
            Some(&web.admin),
            Some(serde_json::json!({ "reason": long })),
        )
        .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        too_long.json()["details"]["reason"].is_string(),
        "{}",
        too_long.text
    );
    let off = web
        .api(
            Method::POST,
            "/api/admin/users/anna/disable",
            Some(&web.admin),
            Some(serde_json::json!({ "reason": "fratrådt" })),
        )
        .await;
    assert_eq!(off.json()["disabled"], true);
    let audit = web
        .api(
            Method::GET,
            "/api/admin/audit?action=user.disable",
            Some(&web.admin),
            None,
        )
        .await
        .json();
    assert_eq!(audit["entries"][0]["detail"]["reason"], "fratrådt");
    for token in [&web.cw101, &second] {
        let refused = web.api(Method::GET, "/api/tasks", Some(token), None).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    }
    // No token can be issued to wake up with the user.
    let meanwhile = web
        .api(
            Method::POST,
            "/api/admin/users/anna/tokens",
            Some(&web.admin),
            Some(json!({ "name": "meanwhile" })),
        )
        .await;
    assert_eq!(meanwhile.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(meanwhile.json()["details"]["username"].is_string());
    let on = web
        .api(
            Method::POST,
            "/api/admin/users/anna/enable",
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(on.json()["disabled"], false);
    // Enabled again, with none of the old tokens: each is listed as revoked.
    for token in [&web.cw101, &second] {
        let refused = web.api(Method::GET, "/api/tasks", Some(token), None).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "an old token is back"
        );
    }
    let users = web
        .api(Method::GET, "/api/admin/users", Some(&web.admin), None)
        .await;
    let anna = users
        .json()
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "anna")
        .expect("anna")["id"]
        .clone();
    let tokens = web
        .api(Method::GET, "/api/admin/tokens", Some(&web.admin), None)
        .await;
    let annas: Vec<_> = tokens
        .json()
        .as_array()
        .expect("tokens")
        .iter()
        .filter(|t| t["user_id"] == anna)
        .cloned()
        .collect();
    assert_eq!(annas.len(), 2, "{annas:?}");
    assert!(
        annas.iter().all(|t| t["revoked_at"].is_string()),
        "{annas:?}"
    );
    // The admin issues a new one, which works.
    let fresh = web
        .api(
            Method::POST,
            "/api/admin/users/anna/tokens",
            Some(&web.admin),
            Some(json!({ "name": "after" })),
        )
        .await;
    assert_eq!(fresh.status, StatusCode::CREATED, "{}", fresh.text);
    let fresh = fresh.json()["secret"].as_str().expect("secret").to_owned();
    let works = web.api(Method::GET, "/api/tasks", Some(&fresh), None).await;
    assert_eq!(works.status, StatusCode::OK);
}

async fn a_failing_database_is_a_500_that_shows_no_database_text(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let web = Web::start(backend).await;
    web.state
        .engine
        .db()
        .execute_unprepared("DROP TABLE tasks")
        .await
        .expect("dropped");
    let reply = web
        .api(Method::GET, "/api/tasks", Some(&web.cw101), None)
        .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.json()["error"], "internal");
    let text = reply.text.to_lowercase();
    for leak in ["tasks", "table", "sql", "relation", "sqlite", "postgres"] {
        assert!(!text.contains(leak), "{leak} leaked: {}", reply.text);
    }
}

async fn a_person_is_shown_only_to_municipalities_it_concerns(backend: Backend) {
    let web = Web::start(backend).await;
    let theirs = web
        .api(
            Method::GET,
            "/api/persons/0101501234",
            Some(&web.cw147),
            None,
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let ours = web
        .api(
            Method::GET,
            "/api/persons/0101501234",
            Some(&web.cw101),
            None,
        )
        .await;
    assert_eq!(ours.status, StatusCode::OK, "{}", ours.text);
    assert_eq!(ours.json()["overview"]["title"], "0101501234");
    // A task of 147 about the person opens the person to 147.
    web.case("0101501234", "147", "Sag i 147").await;
    let now_theirs = web
        .api(
            Method::GET,
            "/api/persons/0101501234",
            Some(&web.cw147),
            None,
        )
        .await;
    assert_eq!(now_theirs.status, StatusCode::OK);
    assert!(now_theirs.json()["events"].is_array());
}

async fn admins_schedule_jobs_run_them_and_read_the_logbook(backend: Backend) {
    let web = Web::start(backend).await;
    let admin = Some(web.admin.as_str());
    let jobs = web.api(Method::GET, "/api/jobs", admin, None).await.json();
    let job = jobs
        .as_array()
        .and_then(|j| j.iter().find(|j| j["process"] == "web-job"))
        .expect("the job is listed");
    assert_eq!(job["parameters"][0]["name"], "mode");
    assert_eq!(job["parameters"][0]["options"], json!(["kir", "direkt"]));
    // The clock stands on 2025-06-02 (a Monday), 09:00 in Copenhagen.
    let made = web
        .api(
            Method::POST,
            "/api/schedules",
            admin,
            Some(
                json!({ "process": "web-job", "start_time": "10:00", "weekdays": ["mon", "wed"],
                         "parameters": { "mode": "direkt" } }),
            ),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let made = made.json();
    assert_eq!(made["next_fire_at"], "2025-06-02T08:00:00Z");
    assert_eq!(made["start_date"], "2025-06-02", "default: today");
    assert_eq!(made["parameters"]["mode"], "direkt");
    let id = made["id"].as_str().expect("id").to_owned();
    let listed = web
        .api(Method::GET, "/api/schedules", admin, None)
        .await
        .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    web.api(
        Method::POST,
        "/api/admin/clock",
        admin,
        Some(json!({ "advance_to": "2025-06-02T10:30:00+02:00" })),
    )
    .await;
    let runs = web
        .api(Method::GET, "/api/logbook", admin, None)
        .await
        .json();
    assert_eq!(runs[0]["status"], "succeeded", "{runs}");
    assert_eq!(runs[0]["trigger"], "schedule");
    let run_now = web
        .api(
            Method::POST,
            &format!("/api/schedules/{id}/run"),
            admin,
            Some(json!({})),
        )
        .await;
    assert_eq!(run_now.status, StatusCode::CREATED, "{}", run_now.text);
    let run_id = run_now.json()["id"].as_i64().expect("run id");
    let detail = web
        .api(Method::GET, &format!("/api/logbook/{run_id}"), admin, None)
        .await
        .json();
    assert_eq!(detail["run"]["trigger"], "manual");
    assert_eq!(detail["run"]["requested_by"], "admin");
    let removed = web
        .api(Method::DELETE, &format!("/api/schedules/{id}"), admin, None)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let again = web
        .api(Method::DELETE, &format!("/api/schedules/{id}"), admin, None)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let listed = web
        .api(Method::GET, "/api/schedules", admin, None)
        .await
        .json();
    assert_eq!(listed, json!([]));
}

async fn bad_schedules_get_a_message_per_field_and_jobs_are_for_admins(backend: Backend) {
    let web = Web::start(backend).await;
    let admin = Some(web.admin.as_str());
    let refused = web
        .api(
            Method::POST,
            "/api/schedules",
            admin,
            Some(
                json!({ "process": "web-job", "start_date": "2025-05-01", "start_time": "7 o'clock",
                         "weekdays": [], "parameters": { "mode": "sometimes" } }),
            ),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    let errors = &refused.json()["errors"];
    for field in ["start_date", "start_time", "weekdays", "parameters.mode"] {
        assert!(errors[field].is_string(), "{field}: {errors}");
    }
    let never = web
        .api(
            Method::POST,
            "/api/schedules",
            admin,
            Some(json!({ "process": "web-job", "cron": "0 0 31 2 *" })),
        )
        .await;
    assert_eq!(never.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        never.json()["errors"]["cron"]
            .as_str()
            .is_some_and(|m| m.contains("never fires"))
    );
    // Every second is too often for the default setting (once a minute at most).
    let every_second = web
        .api(
            Method::POST,
            "/api/schedules",
            admin,
            Some(json!({ "process": "web-job", "cron": "* * * * * *" })),
        )
        .await;
    assert_eq!(every_second.status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = every_second.json()["errors"]["cron"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("schedule_min_interval_seconds"),
        "{}",
        every_second.text
    );
    // The exceptional job asks for confirmation first, with its own words.
    let unconfirmed = web
        .api(
            Method::POST,
            "/api/jobs/web-full-fetch/runs",
            admin,
            Some(json!({})),
        )
        .await;
    assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unconfirmed.json()["errors"]["confirmed"]
            .as_str()
            .is_some_and(|m| m.contains("undtagelsestilfælde"))
    );
    let confirmed = web
        .api(
            Method::POST,
            "/api/jobs/web-full-fetch/runs",
            admin,
            Some(json!({ "confirmed": true })),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::CREATED, "{}", confirmed.text);
    let not_a_job = web
        .api(
            Method::POST,
            "/api/jobs/web-case/runs",
            admin,
            Some(json!({})),
        )
        .await;
    assert_eq!(not_a_job.status, StatusCode::UNPROCESSABLE_ENTITY);
    for token in [&web.cw101, &web.designer] {
        for (method, path) in [
            (Method::GET, "/api/schedules"),
            (Method::GET, "/api/logbook"),
            (Method::GET, "/api/jobs"),
        ] {
            let reply = web.api(method, path, Some(token), None).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
        }
    }
    assert_eq!(
        web.api(Method::GET, "/api/logbook/999", admin, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn an_admin_restarts_instances_after_a_release_with_a_dry_run_first(backend: Backend) {
    let web = Web::start(backend).await;
    let task = web.case("0101501234", "101", "Sag").await;
    let v2 = web::case_process_v2();
    // Before the deploy: what it would change, and a broken file refused at its place.
    let impact = web
        .api(
            Method::POST,
            "/api/admin/releases/impact",
            Some(&web.admin),
            Some(json!({ "files": [ { "path": "v2.yaml", "text": v2 } ] })),
        )
        .await;
    assert_eq!(impact.status, StatusCode::OK, "{}", impact.text);
    let impact = impact.json();
    assert_eq!(impact[0]["version"], 2, "{impact}");
    assert_eq!(impact[0]["changed"], true);
    assert!(
        impact[0]["diff"]
            .as_str()
            .unwrap_or_default()
            .contains("+title: { da: Sag til test (version 2) }"),
        "{impact}"
    );
    assert_eq!(impact[0]["in_flight"][0]["state"], "review", "{impact}");
    assert_eq!(impact[0]["in_flight"][0]["open_tasks"], 1, "{impact}");
    let broken = web
        .api(
            Method::POST,
            "/api/admin/releases/impact",
            Some(&web.admin),
            Some(json!({ "files": [ { "path": "bad.yaml", "text": "id: web-case\ninitial: nowhere\nstates: {}\n" } ] })),
        )
        .await;
    assert_eq!(
        broken.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        broken.text
    );
    let diagnostics = &broken.json()["details"]["diagnostics"];
    assert!(
        diagnostics[0]
            .as_str()
            .is_some_and(|d| d.starts_with("bad.yaml:")),
        "{diagnostics}"
    );
    web.deploy_case_v2().await;
    let body = json!({ "process": "web-case", "reason": "release 2", "dry_run": true });
    let refused = web
        .api(
            Method::POST,
            "/api/admin/instances/restart",
            Some(&web.cw101),
            Some(body.clone()),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let dry = web
        .api(
            Method::POST,
            "/api/admin/instances/restart",
            Some(&web.admin),
            Some(body),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.text);
    let preview = dry.json();
    assert_eq!(preview["instances"], 1);
    assert_eq!(preview["groups"][0]["from_state"], "review");
    assert_eq!(preview["groups"][0]["operation"], "restart");
    assert_eq!(preview["items"][0]["tasks_cancelled"], json!(["review"]));

    let started = web
        .api(
            Method::POST,
            "/api/admin/instances/restart",
            Some(&web.admin),
            Some(json!({ "process": "web-case", "reason": "release 2" })),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text);
    let id = started.json()["id"].as_i64().expect("migration id");
    let migration = async || {
        web.api(
            Method::GET,
            &format!("/api/admin/migrations/{id}"),
            Some(&web.admin),
            None,
        )
        .await
        .json()
    };
    web.settle().await;
    let status = migration().await;
    assert_eq!(status["status"], "finished", "{status}");
    assert_eq!(status["counts"]["done"], 1, "{status}");
    // The old task is gone; the instance waits on v2 with a new one.
    let old = web
        .api(
            Method::GET,
            &format!("/api/tasks/{task}"),
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(old.json()["task"]["status"], "cancelled", "{}", old.text);
    let listed = web
        .api(
            Method::GET,
            "/api/instances?process=web-case",
            Some(&web.admin),
            None,
        )
        .await
        .json();
    assert_eq!(listed[0]["version"], 2, "{listed}");
    // The admin page shows it with its progress.
    let page = web
        .send(
            axum::http::Request::get("/admin/migrations")
                .header("authorization", format!("Bearer {}", web.admin))
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    assert!(
        page.text.contains(&format!("id=\"migration-{id}\"")) && page.text.contains("1 / 1"),
        "{}",
        page.text
    );

    // Only a running migration can be abandoned; a finished one can be undone, once.
    let abandon = web
        .api(
            Method::POST,
            &format!("/api/admin/migrations/{id}/abandon"),
            Some(&web.admin),
            Some(json!({ "reason": "too late" })),
        )
        .await;
    assert_eq!(abandon.status, StatusCode::CONFLICT, "{}", abandon.text);
    let undo = web
        .api(
            Method::POST,
            &format!("/api/admin/migrations/{id}/undo"),
            Some(&web.admin),
            Some(json!({ "reason": "wrong release" })),
        )
        .await;
    assert_eq!(undo.status, StatusCode::ACCEPTED, "{}", undo.text);
    web.settle().await;
    let status = migration().await;
    assert_eq!(status["status"], "undone", "{status}");
    assert_eq!(status["counts"]["undone"], 1, "{status}");
    assert_eq!(
        (&status["undone_by"], &status["undo_reason"]),
        (&json!("admin"), &json!("wrong release")),
        "{status}"
    );
    let twice = web
        .api(
            Method::POST,
            &format!("/api/admin/migrations/{id}/undo"),
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.text);
    // A migration its node never worked (it went down) is abandoned, with who and why.
    let plan = web
        .state
        .engine
        .releases()
        .restart_plan(&forlob_engine::runtime::RestartRequest {
            process: "web-case".into(),
            ..Default::default()
        })
        .await
        .expect("plan");
    let stuck = web
        .state
        .engine
        .releases()
        .start_migration(&plan, &forlob_engine::Actor::system())
        .await
        .expect("starts");
    let abandoned = web
        .api(
            Method::POST,
            &format!("/api/admin/migrations/{stuck}/abandon"),
            Some(&web.admin),
            Some(json!({ "reason": "node lost" })),
        )
        .await;
    assert_eq!(abandoned.status, StatusCode::OK, "{}", abandoned.text);
    let abandoned = abandoned.json();
    assert_eq!(abandoned["status"], "abandoned", "{abandoned}");
    assert_eq!(abandoned["counts"]["skipped"], 1, "{abandoned}");
    assert_eq!(
        (&abandoned["abandoned_by"], &abandoned["abandon_reason"]),
        (&json!("admin"), &json!("node lost"))
    );

    let bad = web
        .api(
            Method::POST,
            "/api/admin/migrations",
            Some(&web.admin),
            Some(json!({ "process": "web-case", "from_versions": [9], "states": { "review": { "restart": "nowhere" } } })),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert!(bad.text.contains("states.review.restart"), "{}", bad.text);
    assert!(bad.text.contains("from_versions"), "{}", bad.text);
}

async fn an_admin_suspends_resumes_and_cancels_an_instance(backend: Backend) {
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
    let operate = |what: &'static str, token: String| {
        let path = format!("/api/admin/instances/{instance}/{what}");
        let web = &web;
        async move {
            web.api(
                Method::POST,
                &path,
                Some(&token),
                Some(json!({ "reason": "checking" })),
            )
            .await
        }
    };
    assert_eq!(
        operate("suspend", web.cw101.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        operate("suspend", web.admin.clone()).await.status,
        StatusCode::OK
    );
    let again = operate("suspend", web.admin.clone()).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    let form = json!({ "decision": "approve", "amount": 1 });
    let blocked = web
        .api(
            Method::POST,
            &format!("/api/tasks/{task}/complete"),
            Some(&web.cw101),
            Some(form.clone()),
        )
        .await;
    assert_eq!(blocked.status, StatusCode::CONFLICT, "{}", blocked.text);
    assert_eq!(
        operate("resume", web.admin.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        operate("cancel", web.admin.clone()).await.status,
        StatusCode::OK
    );
    let ended = operate("cancel", web.admin.clone()).await;
    assert_eq!(ended.status, StatusCode::CONFLICT, "{}", ended.text);
    let shown = web
        .api(
            Method::GET,
            &format!("/api/instances/{instance}"),
            Some(&web.admin),
            None,
        )
        .await
        .json();
    assert_eq!(shown["instance"]["status"], "cancelled");
    let triggers: Vec<&str> = shown["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["trigger"].as_str())
        .collect();
    assert!(
        triggers.ends_with(&["suspend", "resume", "cancel"]),
        "{triggers:?}"
    );
}

/// A draft that calls a deployed process: the call resolves against what is deployed.
const DRAFT: &str = r#"
id: web-draft
title: Kladde
subject: person
start: { manual: { allowed: "actor.role == 'admin'" } }
initial: ask
states:
  ask:
    call: { process: web-case, vars: { kommune: "'101'", title: "'Fra kladden'" } }
    next: done
  done: { end: true }
"#;

/// A designer validates a draft without deploying it: valid, with its diagram, when it
/// calls a deployed process; with a typo in a `goto`, a 200 that says where and what, with a
/// hint. Nothing is deployed either way.
async fn a_designer_validates_a_draft_against_what_is_deployed(backend: Backend) {
    let web = Web::start(backend).await;
    let validate = |text: String| {
        let web = &web;
        async move {
            web.api(
                Method::POST,
                "/api/definitions/validate",
                Some(&web.designer),
                Some(json!({ "files": [{ "path": "drafts/web-draft.yaml", "text": text }] })),
            )
            .await
        }
    };
    let valid = validate(DRAFT.to_owned()).await;
    assert_eq!(valid.status, StatusCode::OK, "{}", valid.text);
    let body = valid.json();
    assert_eq!(body["valid"], true, "{body}");
    assert_eq!(body["diagnostics"], json!([]));
    assert_eq!(body["processes"][0]["id"], "web-draft");
    assert!(
        body["processes"][0]["diagram"]
            .as_str()
            .is_some_and(|d| d.starts_with("stateDiagram-v2")),
        "{body}"
    );
    let typo = validate(DRAFT.replace("next: done", "next: dne")).await;
    assert_eq!(
        typo.status,
        StatusCode::OK,
        "an invalid draft is a validation too"
    );
    let body = typo.json();
    assert_eq!(body["valid"], false);
    let found = &body["diagnostics"][0];
    assert_eq!(found["path"], "drafts/web-draft.yaml");
    assert_eq!(
        (found["line"].as_u64(), found["column"].as_u64()),
        (Some(10), Some(11)),
        "{body}"
    );
    assert!(
        found["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{body}"
    );
    assert!(
        found["message"].as_str().is_some_and(|m| m.contains("dne")),
        "{body}"
    );
    assert!(
        found["hint"].as_str().is_some_and(|h| h.contains("done")),
        "did you mean: {body}"
    );
    assert_eq!(body["processes"], json!([]));
    // Not deployed.
    let listed = web
        .api(Method::GET, "/api/processes", Some(&web.designer), None)
        .await
        .json();
    assert!(!listed.to_string().contains("web-draft"), "{listed}");
    // Nothing sent is no validation: said at the field.
    let empty = web
        .api(
            Method::POST,
            "/api/definitions/validate",
            Some(&web.designer),
            Some(json!({ "files": [] })),
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        empty.json()["errors"]["files"].is_string(),
        "{}",
        empty.text
    );
    // A caseworker may not.
    let refused = web
        .api(
            Method::POST,
            "/api/definitions/validate",
            Some(&web.cw101),
            Some(json!({ "files": [] })),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

/// Scenarios run against a draft on a throw-away database: one that holds passes, one whose
/// expectation the draft breaks fails and says which, and one naming a file it was not sent
/// fails without reading the server's disk. The server's own database is untouched.
async fn a_designer_runs_scenarios_against_a_draft(backend: Backend) {
    let web = Web::start(backend).await;
    let scenario = |name: &str, expected: &str| {
        format!(
            r#"
scenario: {name}
clock: 2025-06-02T09:00:00+02:00
steps:
  - start: {{ process: web-draft, subject: "0101501234", as: {{ role: admin }} }}
expect:
  - task: {{ municipality: 101, status: open, count: {expected} }}
"#
        )
    };
    let reads_disk = r#"
scenario: reads a file it was not sent
clock: 2025-06-02T09:00:00+02:00
previous_release: [../../../../etc/passwd]
steps: []
"#;
    let before = web
        .api(Method::GET, "/api/tasks?status=all", Some(&web.admin), None)
        .await;
    assert_eq!(before.status, StatusCode::OK);
    // A draft of a deployed process takes its place: web-case's task now goes to 147.
    let to_147 = web::CASE_PROCESS.replace(
        r#"assign: { municipality: "vars.kommune" }"#,
        r#"assign: { municipality: "'147'" }"#,
    );
    assert_ne!(to_147, web::CASE_PROCESS);
    let tried = web
        .api(
            Method::POST,
            "/api/definitions/test",
            Some(&web.designer),
            Some(json!({
                "files": [
                    { "path": "drafts/web-draft.yaml", "text": DRAFT },
                    { "path": "drafts/web-case.yaml", "text": to_147 },
                ],
                "scenarios": [
                    { "path": "drafts/scenarios/holds.yaml", "text": scenario("the call gives a task", "1").replace("municipality: 101", "municipality: 147") },
                    { "path": "drafts/scenarios/breaks.yaml", "text": scenario("two tasks", "2") },
                    { "path": "drafts/scenarios/disk.yaml", "text": reads_disk },
                ],
            })),
        )
        .await;
    assert_eq!(tried.status, StatusCode::OK, "{}", tried.text);
    let body = tried.json();
    assert_eq!(body["validation"]["valid"], true, "{body}");
    assert_eq!(
        (body["passed"].as_u64(), body["failed"].as_u64()),
        (Some(1), Some(2)),
        "{body}"
    );
    let results = &body["results"];
    assert_eq!(results[0]["name"], "the call gives a task");
    assert_eq!(results[0]["passed"], true, "{body}");
    assert_eq!(results[1]["passed"], false);
    assert!(
        results[1]["failure"]
            .as_str()
            .is_some_and(|f| f.contains("expect") && f.contains("expected 2, found 0")),
        "says which expectation: {body}"
    );
    assert_eq!(results[1]["failed_at"], "expect", "{body}");
    let timeline = results[1]["timeline"].as_array().expect("a timeline");
    let parts: Vec<&str> = timeline.iter().filter_map(|m| m["part"].as_str()).collect();
    assert_eq!(parts, ["given", "step 1", "settle", "expect"], "{body}");
    let started = &timeline[1]["transitions"];
    assert!(
        started.as_array().is_some_and(|t| t
            .iter()
            .any(|t| t["process"] == "web-case" && t["to"] == "review")),
        "the step's transitions, the called process's too: {started}"
    );
    assert_eq!(body["ok"], false);
    assert!(
        results[2]["failure"]
            .as_str()
            .is_some_and(|f| f.contains("not among the files sent")),
        "{body}"
    );
    let after = web
        .api(Method::GET, "/api/tasks?status=all", Some(&web.admin), None)
        .await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(
        before.json(),
        after.json(),
        "the server's own data is untouched"
    );
    // Nothing to run is refused, not a green result that tried nothing.
    let nothing = web
        .api(
            Method::POST,
            "/api/definitions/test",
            Some(&web.designer),
            Some(json!({ "files": [{ "path": "drafts/web-draft.yaml", "text": DRAFT }], "scenarios": [] })),
        )
        .await;
    assert_eq!(
        nothing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        nothing.text
    );
}

/// A package of `web-case` with one scenario: the review goes to the municipality named.
fn package_of_web_case() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    let package = dir.path().join("pkg");
    std::fs::create_dir_all(package.join("scenarios")).expect("folders");
    std::fs::write(package.join("web-case.yaml"), web::CASE_PROCESS).expect("written");
    std::fs::write(
        package.join("scenarios/review_goes_to_101.yaml"),
        r#"
scenario: the review goes to the municipality named
clock: 2025-06-02T09:00:00+02:00
steps:
  - start: { process: web-case, subject: "0101501234", vars: { kommune: "101", title: Sag }, as: { role: admin } }
expect:
  - task: { municipality: 101, status: open, count: 1 }
"#,
    )
    .expect("written");
    dir
}

/// The package's own scenarios try a draft and guard its deploy: a designer lists those of the
/// package that defines the process and runs one by its path (a path not listed is a 422),
/// seeing where it failed; asks for a deploy; an admin finds the draft waiting, compares it
/// (diff, states changed, the in-flight instance it meets) and deploys it: refused with the
/// results while a scenario fails, deployed with a reason (audited with it), once. A designer
/// cannot deploy.
async fn the_package_scenarios_guard_a_drafts_deploy(backend: Backend) {
    let package = package_of_web_case();
    let web = Web::start_with(
        backend,
        forlob_web::WebSettings {
            packages_dir: Some(package.path().to_path_buf()),
            ..Default::default()
        },
    )
    .await;
    let listed = web
        .api(
            Method::GET,
            "/api/definitions/scenarios?process=web-case",
            Some(&web.designer),
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let path = "pkg/scenarios/review_goes_to_101.yaml";
    assert_eq!(
        listed.json()["scenarios"],
        json!([{ "path": path, "name": "the review goes to the municipality named" }])
    );
    let none = web
        .api(
            Method::GET,
            "/api/definitions/scenarios?process=web-job",
            Some(&web.designer),
            None,
        )
        .await;
    assert_eq!(none.json()["scenarios"], json!([]), "no package defines it");
    let to_147 = web::CASE_PROCESS.replace(
        r#"assign: { municipality: "vars.kommune" }"#,
        r#"assign: { municipality: "'147'" }"#,
    );
    let files = json!([{ "path": "web-case.yaml", "text": to_147 }]);
    let tried = web
        .api(
            Method::POST,
            "/api/definitions/test",
            Some(&web.designer),
            Some(json!({ "files": files, "shipped": [path] })),
        )
        .await;
    assert_eq!(tried.status, StatusCode::OK, "{}", tried.text);
    let body = tried.json();
    assert_eq!(
        (body["passed"].as_u64(), body["failed"].as_u64()),
        (Some(0), Some(1)),
        "{body}"
    );
    assert_eq!(body["results"][0]["path"], path);
    assert_eq!(body["results"][0]["failed_at"], "expect");
    for outside in ["../web-case.yaml", "pkg/web-case.yaml", "/etc/passwd"] {
        let refused = web
            .api(
                Method::POST,
                "/api/definitions/test",
                Some(&web.designer),
                Some(json!({ "files": files, "shipped": [outside] })),
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{outside}"
        );
        assert!(
            refused.json()["errors"]["shipped"].is_string(),
            "{}",
            refused.text
        );
    }

    let saved = web
        .api(
            Method::POST,
            "/api/drafts",
            Some(&web.designer),
            // Labelled otherwise: the deploy tries what the files define, not the label.
            Some(json!({ "process": "sag-til-147", "files": files, "note": "147 overtager" })),
        )
        .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.text);
    let id = saved.json()["id"].as_i64().expect("an id");
    // A colleague's draft of the same version, and a broken one nobody may ask to deploy.
    let colleague = web.user("dan", "designer", None).await;
    let stale = web
        .api(
            Method::POST,
            "/api/drafts",
            Some(&colleague),
            Some(json!({ "process": "web-case", "files": files })),
        )
        .await
        .json()["id"]
        .as_i64()
        .expect("an id");
    let broken = web
        .api(
            Method::POST,
            "/api/drafts",
            Some(&web.designer),
            Some(json!({ "process": "web-case", "files": [{ "path": "web-case.yaml", "text": "id: [" }] })),
        )
        .await
        .json()["id"]
        .as_i64()
        .expect("an id");
    let not_valid = web
        .api(
            Method::POST,
            &format!("/api/drafts/{broken}/ask-deploy"),
            Some(&web.designer),
            None,
        )
        .await;
    assert_eq!(
        not_valid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        not_valid.text
    );
    let waiting = |token: String| {
        let web = &web;
        async move {
            web.api(Method::GET, "/api/drafts?waiting=true", Some(&token), None)
                .await
                .json()["drafts"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .filter_map(|d| d["id"].as_i64())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        }
    };
    assert!(waiting(web.admin.clone()).await.is_empty(), "not asked yet");
    let asked = web
        .api(
            Method::POST,
            &format!("/api/drafts/{id}/ask-deploy"),
            Some(&web.designer),
            None,
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.text);
    assert!(asked.json()["deploy_asked_at"].is_string());
    assert_eq!(waiting(web.admin.clone()).await, [id]);
    let by_designer = web
        .api(
            Method::POST,
            &format!("/api/drafts/{id}/deploy"),
            Some(&web.designer),
            Some(json!({})),
        )
        .await;
    assert_eq!(by_designer.status, StatusCode::FORBIDDEN);

    // An instance waits in `review`: the comparison says the draft meets it.
    let started = web
        .api(
            Method::POST,
            "/api/processes/web-case/instances",
            Some(&web.admin),
            Some(json!({ "subject": "0101501234", "variables": { "kommune": "101", "title": "Sag" } })),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let compared = web
        .api(
            Method::GET,
            &format!("/api/drafts/{id}/compare"),
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(compared.status, StatusCode::OK, "{}", compared.text);
    let compared = compared.json();
    let web_case = &compared["definitions"][0];
    assert_eq!(web_case["process"], "web-case");
    assert_eq!(web_case["version"], 2, "{compared}");
    assert_eq!(
        web_case["states"],
        json!([{ "state": "review", "change": "changed" }])
    );
    assert!(
        web_case["diff"]
            .as_str()
            .is_some_and(|d| d.contains("+      assign: { municipality: \"'147'\" }")),
        "{compared}"
    );
    assert_eq!(web_case["in_flight"][0]["state"], "review");
    assert_eq!(web_case["in_flight"][0]["instances"], 1);

    let deploy = |reason: Option<&str>| {
        let web = &web;
        let body = match reason {
            Some(reason) => json!({ "reason": reason, "override_failing_scenarios": true }),
            None => json!({ "reason": "147 overtager" }),
        };
        async move {
            web.api(
                Method::POST,
                &format!("/api/drafts/{id}/deploy"),
                Some(&web.admin),
                Some(body),
            )
            .await
        }
    };
    let without_reason = web
        .api(
            Method::POST,
            &format!("/api/drafts/{id}/deploy"),
            Some(&web.admin),
            Some(json!({ "override_failing_scenarios": true })),
        )
        .await;
    assert_eq!(without_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(without_reason.json()["errors"]["reason"].is_string());
    let refused = deploy(None).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    let refusal = refused.json();
    assert_eq!(refusal["error"], "scenarios_fail");
    assert_eq!(refusal["details"]["failed"], 1, "{refusal}");
    assert_eq!(refusal["details"]["results"][0]["failed_at"], "expect");
    let processes = web
        .api(
            Method::GET,
            "/api/processes/web-case",
            Some(&web.admin),
            None,
        )
        .await
        .json();
    assert_eq!(processes["version"], 1, "nothing deployed: {processes}");

    let reason = "147 overtager alle sager fra 1. januar";
    let deployed = deploy(Some(reason)).await;
    assert_eq!(deployed.status, StatusCode::OK, "{}", deployed.text);
    let deployed = deployed.json();
    assert_eq!(
        deployed["deployed"],
        json!([{ "process": "web-case", "version": 2, "changed": true }])
    );
    assert_eq!(deployed["draft"]["deployed_versions"], "web-case v2");
    assert_eq!(deployed["draft"]["deployed_by"], "admin");
    assert!(
        waiting(web.admin.clone()).await.is_empty(),
        "deployed, not waiting"
    );
    let audit = web
        .api(
            Method::GET,
            "/api/admin/audit?action=definition.deploy",
            Some(&web.admin),
            None,
        )
        .await
        .json();
    let entry = &audit["entries"][0];
    assert_eq!(entry["detail"]["reason"], reason, "{audit}");
    assert_eq!(entry["detail"]["overrode_failures"], true, "{audit}");
    assert_eq!(
        entry["detail"]["scenarios"]["failed"],
        json!([path]),
        "{audit}"
    );
    assert_eq!(entry["detail"]["scenarios"]["ran"], 1, "{audit}");
    let asks = web
        .api(
            Method::GET,
            "/api/admin/audit?action=draft.ask_deploy",
            Some(&web.admin),
            None,
        )
        .await
        .json();
    assert_eq!(asks["entries"][0]["target"], id.to_string(), "{asks}");
    assert_eq!(entry["target"], id.to_string());
    assert_eq!(
        deploy(Some(reason)).await.status,
        StatusCode::CONFLICT,
        "once"
    );
    // The colleague's draft was saved on v1: deployed now, it would undo v2.
    let undoing = web
        .api(
            Method::POST,
            &format!("/api/drafts/{stale}/deploy"),
            Some(&web.admin),
            Some(json!({ "reason": reason, "override_failing_scenarios": true })),
        )
        .await;
    assert_eq!(undoing.status, StatusCode::CONFLICT, "{}", undoing.text);
    assert_eq!(
        undoing.json()["error"],
        "draft_outdated",
        "{}",
        undoing.text
    );
    assert_eq!(
        undoing.json()["details"],
        json!({ "process": "web-case", "deployed": 2, "based_on": 1 })
    );
    let again = web
        .api(
            Method::POST,
            &format!("/api/drafts/{id}/ask-deploy"),
            Some(&web.designer),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

/// A designer keeps drafts as numbered versions of their work on a process, each save
/// audited; a colleague designer does not see them, an admin sees everyone's; a draft without
/// files or with a malformed process id is refused at the field.
async fn drafts_are_kept_per_author_in_versions(backend: Backend) {
    let web = Web::start(backend).await;
    let save = |token: String, text: &'static str| {
        let web = &web;
        async move {
            web.api(
                Method::POST,
                "/api/drafts",
                Some(&token),
                Some(json!({
                    "process": "web-draft",
                    "files": [{ "path": "web-draft.yaml", "text": text }],
                    "note": "første udkast",
                })),
            )
            .await
        }
    };
    let first = save(web.designer.clone(), DRAFT).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.json()["version"], 1);
    assert_eq!(first.json()["author"], "dina");
    let second = save(web.designer.clone(), "id: broken: [").await;
    assert_eq!(second.status, StatusCode::CREATED, "a draft may be broken");
    assert_eq!(second.json()["version"], 2);
    let colleague = web.user("dan", "designer", None).await;
    let theirs = save(colleague.clone(), DRAFT).await;
    assert_eq!(theirs.json()["version"], 1, "versions are per author");
    let list = |token: String| {
        let web = &web;
        async move {
            web.api(
                Method::GET,
                "/api/drafts?process=web-draft",
                Some(&token),
                None,
            )
            .await
            .json()["drafts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        }
    };
    let own = list(web.designer.clone()).await;
    assert_eq!(
        own.iter()
            .map(|d| d["version"].as_i64())
            .collect::<Vec<_>>(),
        [Some(2), Some(1)],
        "newest first, only dina's"
    );
    assert_eq!(
        list(web.admin.clone()).await.len(),
        3,
        "an admin sees every author's"
    );
    let id = first.json()["id"].as_i64().expect("an id");
    let one = web
        .api(
            Method::GET,
            &format!("/api/drafts/{id}"),
            Some(&web.designer),
            None,
        )
        .await;
    assert_eq!(one.json()["files"][0]["text"], DRAFT);
    let not_theirs = web
        .api(
            Method::GET,
            &format!("/api/drafts/{id}"),
            Some(&colleague),
            None,
        )
        .await;
    assert_eq!(not_theirs.status, StatusCode::NOT_FOUND);
    let refused = web
        .api(
            Method::POST,
            "/api/drafts",
            Some(&web.designer),
            Some(json!({ "process": "Web Draft!", "files": [] })),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = &refused.json()["errors"];
    assert!(
        fields["process"].is_string() && fields["files"].is_string(),
        "{fields}"
    );
    let saves = web
        .api(
            Method::GET,
            "/api/admin/audit?action=draft.save",
            Some(&web.admin),
            None,
        )
        .await
        .json();
    assert_eq!(
        saves["entries"].as_array().map(Vec::len),
        Some(3),
        "{saves}"
    );
}

on_both_backends!(
    drafts_are_kept_per_author_in_versions,
    the_package_scenarios_guard_a_drafts_deploy,
    a_designer_validates_a_draft_against_what_is_deployed,
    a_designer_runs_scenarios_against_a_draft,
    an_admin_restarts_instances_after_a_release_with_a_dry_run_first,
    an_admin_suspends_resumes_and_cancels_an_instance,
    admins_schedule_jobs_run_them_and_read_the_logbook,
    bad_schedules_get_a_message_per_field_and_jobs_are_for_admins,
    a_person_is_shown_only_to_municipalities_it_concerns,
    a_failing_database_is_a_500_that_shows_no_database_text,
    a_revoked_token_stops_working_at_once,
    disabling_a_user_revokes_their_tokens_for_good,
    incident_actions_are_for_admins_and_name_unknown_incidents,
    a_caseworker_of_147_can_neither_list_read_claim_nor_complete_a_task_of_101,
    a_task_completed_twice_at_once_gives_one_200_and_one_409,
    a_form_with_errors_is_refused_with_422_and_a_message_per_field,
    a_claimed_task_is_closed_to_colleagues_until_given_back,
    callers_need_a_valid_token_and_the_right_role,
    starting_by_hand_follows_the_definitions_permission,
    bad_requests_get_json_errors_that_say_what_is_wrong,
    messages_are_taken_once_by_their_id,
    dead_letters_are_listed_a_page_at_a_time_with_payloads_cut,
    the_openapi_document_describes_every_route,
    the_manual_clock_moves_only_forward_and_only_for_admins,
    metrics_report_tasks_instances_work_and_latencies,
    metrics_need_a_token_of_the_metrics_role_which_opens_nothing_else,
    users_are_added_once_with_checked_fields,
);
