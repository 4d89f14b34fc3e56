//! Length limits on free text (issue #14), on SQLite and PostgreSQL: a value over its limit is
//! a 422 naming the field with the limit, nothing of it is stored, and a value exactly at the
//! limit is taken. The limits are the defaults (docs/security.md, "Limits").

mod support;
mod web;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::Backend;
use web::{Browser, Web};

/// Asserts a 422 whose `details` name `field` with the limit's message.
fn assert_refused(reply: &web::Reply, field: &str, limit: usize) {
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{field}: {}",
        &reply.text[..reply.text.len().min(500)]
    );
    let body = reply.json();
    assert_eq!(body["error"], "invalid");
    let message = body["details"][field].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!("at most {limit} characters")),
        "{field}: {}",
        body["details"]
    );
}

async fn usernames(web: &Web) -> Vec<Value> {
    web.api(Method::GET, "/api/admin/users", Some(&web.admin), None)
        .await
        .json()
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["username"].clone())
        .collect()
}

async fn a_100k_character_display_name_is_refused_and_no_user_is_added(backend: Backend) {
    let web = Web::start(backend).await;
    let long = "a".repeat(100_000);
    let refused = web
        .api(
            Method::POST,
            "/api/admin/users",
            Some(&web.admin),
            Some(json!({ "username": "eva", "display_name": long, "role": "designer" })),
        )
        .await;
    assert_refused(&refused, "display_name", 200);
    assert!(!usernames(&web).await.contains(&json!("eva")));
    // The page refuses it the same way, with the message at the field.
    let mut admin = Browser::new(&web);
    admin.sign_in("admin").await;
    let csrf = admin.csrf("/admin/users").await;
    let page = admin
        .post(
            "/admin/users",
            &[
                ("_csrf", &csrf),
                ("username", "eva"),
                ("display_name", &long),
                ("role", "designer"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.text.contains("Højst 200 tegn"));
    assert!(!usernames(&web).await.contains(&json!("eva")));
    // 200 characters of two bytes each are 200 characters: taken.
    let at_limit = "Ø".repeat(200);
    let added = web
        .api(
            Method::POST,
            "/api/admin/users",
            Some(&web.admin),
            Some(json!({ "username": "eva", "display_name": at_limit, "role": "designer" })),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    assert_eq!(added.json()["user"]["display_name"], json!(at_limit));
}

async fn a_500_kb_textarea_is_refused_and_the_task_stays_open(backend: Backend) {
    let web = Web::start(backend).await;
    let task = web.case("0101501234", "101", "Sag").await;
    let path = format!("/api/tasks/{task}/complete");
    let refused = web
        .api(
            Method::POST,
            &path,
            Some(&web.cw101),
            Some(json!({ "decision": "approve", "note": "x".repeat(500_000) })),
        )
        .await;
    assert_refused(&refused, "note", 20_000);
    // The task page says so at the field, with the rest of the form as entered.
    let mut anna = Browser::new(&web);
    anna.sign_in("anna").await;
    let page_path = format!("/tasks/{task}");
    let csrf = anna.csrf(&page_path).await;
    let note = "y".repeat(500_000);
    let page = anna
        .post(
            &page_path,
            &[("_csrf", &csrf), ("decision", "approve"), ("note", &note)],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.text.contains("Højst 20000 tegn"));
    let open = web
        .api(
            Method::GET,
            &format!("/api/tasks/{task}"),
            Some(&web.cw101),
            None,
        )
        .await;
    assert_eq!(open.json()["task"]["status"], "open");
    let done = web
        .api(
            Method::POST,
            &path,
            Some(&web.cw101),
            Some(json!({ "decision": "approve", "note": "x".repeat(20_000) })),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
}

async fn an_over_long_cancel_reason_is_refused_and_the_instance_stays_active(backend: Backend) {
    let web = Web::start(backend).await;
    let task = web.case("0101501234", "101", "Sag").await;
    let instance = web
        .api(
            Method::GET,
            &format!("/api/tasks/{task}"),
            Some(&web.admin),
            None,
        )
        .await
        .json()["task"]["instance_id"]
        .as_str()
        .expect("instance")
        .to_owned();
    let cancel = |reason: String| {
        let path = format!("/api/admin/instances/{instance}/cancel");
        let web = &web;
        async move {
            web.api(
                Method::POST,
                &path,
                Some(&web.admin),
                Some(json!({ "reason": reason })),
            )
            .await
        }
    };
    assert_refused(&cancel("r".repeat(2_001)).await, "reason", 2_000);
    let status = || {
        let path = format!("/api/instances/{instance}");
        let web = &web;
        async move {
            web.api(Method::GET, &path, Some(&web.admin), None)
                .await
                .json()["instance"]["status"]
                .clone()
        }
    };
    assert_eq!(status().await, "active");
    let cancelled = cancel("r".repeat(2_000)).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
    assert_eq!(status().await, "cancelled");
}

async fn message_ids_and_types_over_their_limits_are_refused_and_not_kept(backend: Backend) {
    let web = Web::start(backend).await;
    let send = |message_id: String, message_type: String| {
        let web = &web;
        async move {
            web.api(
                Method::POST,
                "/api/messages",
                Some(&web.integration),
                Some(json!({ "message_id": message_id, "type": message_type, "data": {} })),
            )
            .await
        }
    };
    assert_refused(&send("m-1".into(), "t".repeat(101)).await, "type", 100);
    assert_refused(
        &send("Ø".repeat(201), "nobody.takes".into()).await,
        "message_id",
        200,
    );
    // At the limits, counted in characters (the id is 400 bytes): taken, as a dead letter,
    // since no process waits for the type.
    let taken = send("Ø".repeat(200), "t".repeat(100)).await;
    assert_eq!(taken.status, StatusCode::ACCEPTED, "{}", taken.text);
    assert_eq!(taken.json()["outcome"], "dead_letter");
    let letters = web
        .api(
            Method::GET,
            "/api/admin/dead-letters",
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(
        letters.json().as_array().map(Vec::len),
        Some(1),
        "only the message that fit is kept: {}",
        letters.text
    );
}

async fn names_labels_reasons_and_filters_over_their_limits_are_refused(backend: Backend) {
    let web = Web::start(backend).await;
    let admin = Some(web.admin.as_str());
    let token = web
        .api(
            Method::POST,
            "/api/admin/users/dina/tokens",
            admin,
            Some(json!({ "name": "n".repeat(201) })),
        )
        .await;
    assert_refused(&token, "name", 200);
    let token = web
        .api(
            Method::POST,
            "/api/admin/users/dina/tokens",
            admin,
            Some(json!({ "name": "n".repeat(200) })),
        )
        .await;
    assert_eq!(token.status, StatusCode::CREATED, "{}", token.text);
    let schedule = |label: String| {
        let web = &web;
        async move {
            web.api(
                Method::POST,
                "/api/schedules",
                Some(&web.admin),
                Some(
                    json!({ "process": "web-job", "label": label, "start_time": "10:00",
                             "weekdays": ["mon"] }),
                ),
            )
            .await
        }
    };
    assert_refused(&schedule("l".repeat(201)).await, "label", 200);
    let listed = web.api(Method::GET, "/api/schedules", admin, None).await;
    assert_eq!(
        listed.json().as_array().map(Vec::len),
        Some(0),
        "{}",
        listed.text
    );
    assert_eq!(schedule("l".repeat(200)).await.status, StatusCode::CREATED);
    let restart = web
        .api(
            Method::POST,
            "/api/admin/instances/restart",
            admin,
            Some(json!({ "process": "web-case", "reason": "r".repeat(2_001), "dry_run": true })),
        )
        .await;
    assert_refused(&restart, "reason", 2_000);
    let long = "1".repeat(201);
    for (path, field) in [
        (format!("/api/admin/audit?subject={long}"), "subject"),
        (format!("/api/instances?subject={long}"), "subject"),
    ] {
        let reply = web.api(Method::GET, &path, admin, None).await;
        assert_refused(&reply, field, 200);
    }
    let at_limit = web
        .api(
            Method::GET,
            &format!("/api/admin/audit?subject={}", "1".repeat(200)),
            admin,
            None,
        )
        .await;
    assert_eq!(at_limit.status, StatusCode::OK, "{}", at_limit.text);
}

on_both_backends!(
    a_100k_character_display_name_is_refused_and_no_user_is_added,
    a_500_kb_textarea_is_refused_and_the_task_stays_open,
    an_over_long_cancel_reason_is_refused_and_the_instance_stays_active,
    message_ids_and_types_over_their_limits_are_refused_and_not_kept,
    names_labels_reasons_and_filters_over_their_limits_are_refused,
);
