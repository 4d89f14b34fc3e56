//! Tenancy, privacy and audit (issue #14), on SQLite and PostgreSQL: who may see a person,
//! that a hand start can neither reveal nor make visible a person, that tasks of a hand start
//! stay in the starter's municipality, and that the audit log records reads and admin
//! actions, in their transactions, with a chain `verify` checks.

mod support;
mod web;

use axum::http::{Method, StatusCode};
use forlob_engine::audit::{AuditAction, AuditFilter, AuditVerdict};
use forlob_engine::definition::SourceFile;
use forlob_engine::{Actor, store};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use support::Backend;
use web::{Browser, Web};

/// 0101501234 lives in 101 (see `TestPersons`); 4701501234 in 147; `x-nobody` does not exist.
const IN_101: &str = "0101501234";
const IN_147: &str = "4701501234";
const NOBODY: &str = "x-nobody";

/// A process a caseworker starts by hand whose task goes to 147 unless `other` says so.
fn elsewhere_process(id: &str, other: bool) -> String {
    format!(
        r#"
id: {id}
title: Sag til en anden kommune
subject: person
start:
  manual: {{ allowed: "true" }}
initial: review
states:
  review:
    manual:
      title: "Se på {{{{subject.id}}}}"
      assign: {{ municipality: "'147'", other_municipality: {other} }}
      form: {{ fields: [ {{ name: ok, type: checkbox }} ] }}
    on: {{ submit: [ {{ goto: done }} ] }}
  done: {{ end: true }}
"#
    )
}

async fn entries(web: &Web, filter: AuditFilter) -> Vec<forlob_engine::audit::AuditEntry> {
    store::audit::audit_entries(
        web.state.engine.db(),
        &AuditFilter {
            limit: 1_000,
            ..filter
        },
    )
    .await
    .expect("audit entries")
}

async fn entries_of(web: &Web, action: AuditAction) -> Vec<forlob_engine::audit::AuditEntry> {
    entries(
        web,
        AuditFilter {
            action: Some(action.as_str().into()),
            ..AuditFilter::default()
        },
    )
    .await
}

/// The body of an answer with the subject's id taken out: what tells two answers apart.
fn without(text: &str, id: &str) -> Value {
    serde_json::from_str(&text.replace(id, "<id>")).expect("JSON")
}

async fn a_hand_start_neither_reveals_nor_makes_visible_a_person(backend: Backend) {
    let web = Web::start(backend).await;
    let path = "/api/processes/web-case/instances";
    let start = |subject: &'static str| {
        web.api(
            Method::POST,
            path,
            Some(&web.cw147),
            Some(json!({ "subject": subject, "variables": { "kommune": "147", "title": "x" } })),
        )
    };
    // A person of 101 and nobody at all get the same answer: no oracle.
    let hidden = start(IN_101).await;
    let missing = start(NOBODY).await;
    assert_eq!(
        hidden.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        hidden.text
    );
    assert_eq!(missing.status, hidden.status);
    assert_eq!(
        without(&hidden.text, IN_101),
        without(&missing.text, NOBODY)
    );
    // Nothing was started, and the person stays invisible to 147 everywhere.
    let inbox = web
        .api(Method::GET, "/api/tasks", Some(&web.cw147), None)
        .await;
    assert_eq!(inbox.json()["total"], 0, "{}", inbox.text);
    let person = web
        .api(
            Method::GET,
            &format!("/api/persons/{IN_101}"),
            Some(&web.cw147),
            None,
        )
        .await;
    let nobody = web
        .api(
            Method::GET,
            &format!("/api/persons/{NOBODY}"),
            Some(&web.cw147),
            None,
        )
        .await;
    assert_eq!(person.status, StatusCode::NOT_FOUND);
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    assert_eq!(without(&person.text, IN_101), without(&nobody.text, NOBODY));
    let mut browser = Browser::new(&web);
    browser.sign_in("bo").await;
    let page = browser.get(&format!("/persons/{IN_101}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.text.contains("Person 0101501234"), "{}", page.text);

    // Every process that may be started by hand, tried by 147 for 101's person: never started.
    let processes = web
        .api(Method::GET, "/api/processes", Some(&web.cw147), None)
        .await
        .json();
    for process in processes.as_array().expect("a list") {
        if process["manual_start"] != true {
            continue;
        }
        let id = process["id"].as_str().expect("an id");
        let tried = web
            .api(
                Method::POST,
                &format!("/api/processes/{id}/instances"),
                Some(&web.cw147),
                Some(json!({ "subject": IN_101, "variables": { "kommune": "147" } })),
            )
            .await;
        assert_ne!(tried.status, StatusCode::CREATED, "{id}: {}", tried.text);
    }
    let person = web
        .api(
            Method::GET,
            &format!("/api/persons/{IN_101}"),
            Some(&web.cw147),
            None,
        )
        .await;
    assert_eq!(person.status, StatusCode::NOT_FOUND);
    // 101 itself may start it, and sees the person.
    let own = web
        .api(
            Method::POST,
            path,
            Some(&web.cw101),
            Some(json!({ "subject": IN_101, "variables": { "kommune": "101", "title": "x" } })),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text);
}

async fn a_task_shows_its_person_until_the_grace_period_after_it_closed(backend: Backend) {
    let web = Web::start(backend).await;
    let person = format!("/api/persons/{IN_101}");
    let seen = |token: &str| {
        let token = token.to_owned();
        let person = person.clone();
        let web = &web;
        async move {
            web.api(Method::GET, &person, Some(&token), None)
                .await
                .status
        }
    };
    assert_eq!(seen(&web.cw147).await, StatusCode::NOT_FOUND);
    // The process (here started by an admin) gives 147 a task about the person of 101.
    let task = web.case(IN_101, "147", "Opfølgning").await;
    assert_eq!(seen(&web.cw147).await, StatusCode::OK);
    let done = web
        .api(
            Method::POST,
            &format!("/api/tasks/{task}/complete"),
            Some(&web.cw147),
            Some(json!({ "decision": "approve" })),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    // Still within the grace period after the task closed (30 days by default) ...
    let now = web.state.engine.clock().now();
    web.clock
        .set(now + chrono::Duration::days(29))
        .expect("forward");
    assert_eq!(seen(&web.cw147).await, StatusCode::OK);
    // ... and no longer after it.
    web.clock
        .set(now + chrono::Duration::days(31))
        .expect("forward");
    assert_eq!(seen(&web.cw147).await, StatusCode::NOT_FOUND);
    // 101, where the person lives, sees them throughout.
    assert_eq!(seen(&web.cw101).await, StatusCode::OK);
}

async fn a_hand_start_keeps_its_tasks_in_the_starters_municipality(backend: Backend) {
    let web = Web::start(backend).await;
    web.state
        .engine
        .releases()
        .deploy(&[
            SourceFile {
                path: "stay.yaml".into(),
                text: elsewhere_process("to-147", false),
            },
            SourceFile {
                path: "allowed.yaml".into(),
                text: elsewhere_process("to-147-allowed", true),
            },
        ])
        .await
        .expect("deployed");
    let start = |process: &str| {
        let path = format!("/api/processes/{process}/instances");
        let web = &web;
        async move {
            web.api(
                Method::POST,
                &path,
                Some(&web.cw101),
                Some(json!({ "subject": IN_101 })),
            )
            .await
        }
    };
    let refused = start("to-147").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert!(
        refused.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("other_municipality")),
        "{}",
        refused.text
    );
    let inbox = web
        .api(Method::GET, "/api/tasks", Some(&web.cw147), None)
        .await;
    assert_eq!(inbox.json()["total"], 0);
    // A definition that says so may send the task on; an admin's start is not bound.
    let allowed = start("to-147-allowed").await;
    assert_eq!(allowed.status, StatusCode::CREATED, "{}", allowed.text);
    let by_admin = web
        .api(
            Method::POST,
            "/api/processes/to-147/instances",
            Some(&web.admin),
            Some(json!({ "subject": IN_101 })),
        )
        .await;
    assert_eq!(by_admin.status, StatusCode::CREATED, "{}", by_admin.text);
    let inbox = web
        .api(Method::GET, "/api/tasks", Some(&web.cw147), None)
        .await;
    assert_eq!(inbox.json()["total"], 2, "{}", inbox.text);
}

async fn every_look_at_a_person_is_recorded_before_it_is_shown(backend: Backend) {
    let web = Web::start(backend).await;
    let task = web.case(IN_147, "147", "Sag").await;
    let shown = web
        .api(
            Method::GET,
            &format!("/api/persons/{IN_147}"),
            Some(&web.cw147),
            None,
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    let refused = web
        .api(
            Method::GET,
            &format!("/api/persons/{IN_147}"),
            Some(&web.cw101),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let task_read = web
        .api(
            Method::GET,
            &format!("/api/tasks/{task}"),
            Some(&web.cw147),
            None,
        )
        .await;
    assert_eq!(task_read.status, StatusCode::OK);
    let mut browser = Browser::new(&web);
    browser.sign_in("bo").await;
    assert_eq!(
        browser.get(&format!("/persons/{IN_147}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        browser.get(&format!("/tasks/{task}")).await.status,
        StatusCode::OK
    );

    let reads = entries(
        &web,
        AuditFilter {
            subject: Some(IN_147.into()),
            action: Some(AuditAction::PersonRead.as_str().into()),
            ..AuditFilter::default()
        },
    )
    .await;
    // Newest first: the task page (with the person beside it), the person page, the API's
    // task, 101's refused look, 147's, and the admin's look at the instance (`web.case`).
    let seen: Vec<(String, String, Value)> = reads
        .iter()
        .map(|e| {
            let detail: Value = serde_json::from_str(&e.detail).expect("JSON");
            (e.actor.clone(), e.via.clone(), detail)
        })
        .collect();
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(seen[0].0, "bo");
    assert_eq!(seen[0].1, "page");
    assert_eq!(seen[0].2["shown"], "task");
    assert_eq!(seen[0].2["overview"], true);
    assert_eq!(seen[1].2["shown"], "overview_and_timeline");
    assert_eq!(seen[2].1, "api");
    assert_eq!(seen[2].2["shown"], "task");
    assert_eq!(seen[3].0, "anna");
    assert_eq!(seen[3].2["found"], false);
    assert_eq!(seen[4].0, "bo");
    assert_eq!(seen[4].2["found"], true);
    let reader = &reads[4];
    assert_eq!(reader.municipality.as_deref(), Some("147"));
    assert_eq!(reader.role, "caseworker");
    assert_eq!(seen[5].0, "admin");
    assert_eq!(seen[5].2["shown"], "instance");
    // The inbox lists names but is not a look-up of one person.
    let before = entries(&web, AuditFilter::default()).await.len();
    web.api(Method::GET, "/api/tasks", Some(&web.cw147), None)
        .await;
    assert_eq!(entries(&web, AuditFilter::default()).await.len(), before);
}

async fn admin_actions_and_sign_ins_are_recorded_with_their_change(backend: Backend) {
    let web = Web::start(backend).await;
    let task = web.case(IN_101, "101", "Sag").await;
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
    let shown = web
        .api(
            Method::GET,
            &format!("/api/instances/{instance}"),
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    let looks = entries_of(&web, AuditAction::PersonRead).await;
    assert_eq!(looks[0].target.as_deref(), Some(instance.as_str()));
    assert!(
        looks[0].detail.contains("\"instance\""),
        "{}",
        looks[0].detail
    );
    let cancel = format!("/api/admin/instances/{instance}/cancel");
    let body = json!({ "reason": "oprettet ved en fejl" });
    let first = web
        .api(Method::POST, &cancel, Some(&web.admin), Some(body.clone()))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    // A second cancel is refused and rolled back: it leaves no entry.
    let second = web
        .api(Method::POST, &cancel, Some(&web.admin), Some(body))
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.text);
    let cancels = entries_of(&web, AuditAction::InstanceCancel).await;
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].actor, "admin");
    assert_eq!(cancels[0].subject.as_deref(), Some(IN_101));
    assert_eq!(cancels[0].target.as_deref(), Some(instance.as_str()));
    assert!(cancels[0].detail.contains("oprettet ved en fejl"));

    let disabled = web
        .api(
            Method::POST,
            "/api/admin/users/bo/disable",
            Some(&web.admin),
            None,
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK);
    let added = web
        .api(
            Method::POST,
            "/api/admin/users",
            Some(&web.admin),
            Some(json!({ "username": "nina", "role": "caseworker", "municipality": "101" })),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let taken = web
        .api(
            Method::POST,
            "/api/admin/users",
            Some(&web.admin),
            Some(json!({ "username": "nina", "role": "caseworker", "municipality": "101" })),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(
        entries_of(&web, AuditAction::UserDisable).await[0]
            .target
            .as_deref(),
        Some("bo")
    );
    let adds = entries_of(&web, AuditAction::UserAdd).await;
    assert_eq!(
        adds.iter()
            .filter(|e| e.target.as_deref() == Some("nina"))
            .count(),
        1,
        "a refused add leaves no entry"
    );

    let mut browser = Browser::new(&web);
    let wrong = browser
        .post(
            "/login",
            &[("username", "anna"), ("password", "wrong-password")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    browser.sign_in("anna").await;
    let failed = entries_of(&web, AuditAction::SignInFailed).await;
    assert_eq!(failed[0].actor, "anna");
    assert_eq!(failed[0].role, "anonymous");
    let signed_in = entries_of(&web, AuditAction::SignIn).await;
    assert_eq!(signed_in[0].actor, "anna");
    assert_eq!(signed_in[0].via, "page");
    assert_eq!(
        web.state
            .engine
            .audit()
            .verify_audit()
            .await
            .expect("verified"),
        AuditVerdict::Intact {
            entries: entries(&web, AuditFilter::default()).await.len() as u64,
            head: entries(&web, AuditFilter::default()).await[0].hash.clone(),
        }
    );
}

async fn only_admins_and_auditors_read_the_audit_log(backend: Backend) {
    let web = Web::start(backend).await;
    web.case(IN_101, "101", "Sag").await;
    web.api(
        Method::GET,
        &format!("/api/persons/{IN_101}"),
        Some(&web.cw101),
        None,
    )
    .await;
    let path = format!("/api/admin/audit?subject={IN_101}&action=person.read");
    for (token, status) in [
        (&web.cw101, StatusCode::FORBIDDEN),
        (&web.designer, StatusCode::FORBIDDEN),
        (&web.integration, StatusCode::FORBIDDEN),
        (&web.admin, StatusCode::OK),
        (&web.auditor, StatusCode::OK),
    ] {
        let reply = web.api(Method::GET, &path, Some(token), None).await;
        assert_eq!(reply.status, status, "{}", reply.text);
    }
    let reply = web
        .api(Method::GET, &path, Some(&web.auditor), None)
        .await
        .json();
    assert_eq!(reply["entries"][0]["actor"], "anna");
    assert_eq!(
        reply["entries"][0]["detail"]["shown"],
        "overview_and_timeline"
    );
    // The auditor's own looks are recorded too.
    let looks = entries_of(&web, AuditAction::AuditRead).await;
    assert!(looks.iter().any(|e| e.actor == "ulla"), "{looks:?}");
    let bad = web
        .api(
            Method::GET,
            "/api/admin/audit?action=person.reed&from=igår",
            Some(&web.auditor),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.json()["details"]["action"].is_string() && bad.json()["details"]["from"].is_string()
    );
    // Paging: a page of one, then the next from its cursor.
    let first = web
        .api(
            Method::GET,
            "/api/admin/audit?limit=1",
            Some(&web.auditor),
            None,
        )
        .await
        .json();
    let cursor = first["next_cursor"].as_i64().expect("a next page");
    let next = web
        .api(
            Method::GET,
            &format!("/api/admin/audit?limit=1&cursor={cursor}"),
            Some(&web.auditor),
            None,
        )
        .await
        .json();
    assert!(next["entries"][0]["id"].as_i64().expect("an id") < cursor);
    // The page and its CSV.
    let mut browser = Browser::new(&web);
    browser.sign_in("ulla").await;
    let page = browser.get(&format!("/admin/audit?subject={IN_101}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("person.read") && page.text.contains("anna"),
        "{}",
        page.text
    );
    let csv = browser
        .get(&format!("/admin/audit.csv?subject={IN_101}"))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.text.starts_with("id,at,actor,role"), "{}", csv.text);
    let mut browser = Browser::new(&web);
    let signed = browser.sign_in("anna").await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.text);
    let refused = browser.get("/admin/audit").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
}

async fn verify_finds_an_edited_a_removed_and_a_reordered_entry(backend: Backend) {
    let web = Web::start(backend).await;
    let engine = &web.state.engine;
    let actor = Actor::system();
    for n in 0..5 {
        engine
            .audit()
            .record(
                &actor,
                vec![
                    forlob_engine::audit::AuditRecord::new(AuditAction::PersonRead)
                        .subject(format!("{n}")),
                ],
            )
            .await
            .expect("recorded");
    }
    // The five just recorded (the test users' additions came before), oldest first.
    let ids: Vec<i64> = entries(&web, AuditFilter::default())
        .await
        .iter()
        .take(5)
        .rev()
        .map(|e| e.id)
        .collect();
    let db = engine.db();
    let run = |sql: String| async move { db.execute_unprepared(&sql).await.expect("tampered") };
    let broken_at = |verdict: AuditVerdict| match verdict {
        AuditVerdict::Broken { id, .. } => id,
        intact => panic!("tampering went unseen: {intact:?}"),
    };
    assert!(matches!(
        engine.audit().verify_audit().await.expect("verified"),
        AuditVerdict::Intact { .. }
    ));

    // Edited: the subject of one entry changed.
    run(format!(
        "UPDATE audit_log SET subject = 'someone else' WHERE id = {}",
        ids[1]
    ))
    .await;
    assert_eq!(
        broken_at(engine.audit().verify_audit().await.expect("verified")),
        ids[1]
    );
    run(format!(
        "UPDATE audit_log SET subject = '1' WHERE id = {}",
        ids[1]
    ))
    .await;
    assert!(matches!(
        engine.audit().verify_audit().await.expect("verified"),
        AuditVerdict::Intact { .. }
    ));

    // Reordered: two entries swap places (ids), each with its own hash; swapped back, intact.
    let parked = ids[ids.len() - 1] + 100;
    let swap = |a: i64, b: i64| {
        let run = &run;
        async move {
            run(format!("UPDATE audit_log SET id = {parked} WHERE id = {a}")).await;
            run(format!("UPDATE audit_log SET id = {a} WHERE id = {b}")).await;
            run(format!("UPDATE audit_log SET id = {b} WHERE id = {parked}")).await;
        }
    };
    swap(ids[2], ids[3]).await;
    assert_eq!(
        broken_at(engine.audit().verify_audit().await.expect("verified")),
        ids[2]
    );
    swap(ids[2], ids[3]).await;
    assert!(matches!(
        engine.audit().verify_audit().await.expect("verified"),
        AuditVerdict::Intact { .. }
    ));

    // Removed: one in the middle.
    run(format!("DELETE FROM audit_log WHERE id = {}", ids[2])).await;
    assert_eq!(
        broken_at(engine.audit().verify_audit().await.expect("verified")),
        ids[3]
    );
}

async fn pruning_keeps_the_chain_verifiable_and_is_recorded(backend: Backend) {
    let web = Web::start(backend).await;
    let engine = &web.state.engine;
    web.api(
        Method::GET,
        &format!("/api/persons/{IN_101}"),
        Some(&web.cw101),
        None,
    )
    .await;
    let old = entries(&web, AuditFilter::default()).await.len();
    assert!(old > 0);
    // Six years on, everything before is past the five years' retention.
    let now = engine.clock().now();
    web.clock
        .set(now + chrono::Duration::days(6 * 365))
        .expect("forward");
    web.api(
        Method::GET,
        &format!("/api/persons/{IN_101}"),
        Some(&web.cw101),
        None,
    )
    .await;
    let deleted = engine
        .audit()
        .prune_audit(&Actor::system())
        .await
        .expect("pruned");
    assert_eq!(deleted as usize, old);
    let left = entries(&web, AuditFilter::default()).await;
    assert_eq!(left.len(), 2, "the new read and the prune: {left:?}");
    assert_eq!(left[0].action, "audit.prune");
    assert!(matches!(
        engine.audit().verify_audit().await.expect("verified"),
        AuditVerdict::Intact { entries: 2, .. }
    ));
    // Removing the oldest kept entry is seen: the prune named where the chain starts.
    engine
        .db()
        .execute_unprepared(&format!("DELETE FROM audit_log WHERE id = {}", left[1].id))
        .await
        .expect("tampered");
    assert!(matches!(
        engine.audit().verify_audit().await.expect("verified"),
        AuditVerdict::Broken { .. }
    ));
}

/// A process a caseworker starts by hand that calls a one-task child for `vars.other`.
const CALLER: &str = r#"
id: calls-another
title: Kalder en anden
subject: person
start:
  manual: { allowed: "true" }
initial: ask
states:
  ask:
    call: { process: child-task, subject: "vars.other" }
    next: done
  done: { end: true }
"#;

const CHILD: &str = r#"
id: child-task
title: Opgave
subject: person
initial: look
states:
  look:
    manual:
      title: "Se på {{subject.id}}"
      assign: { municipality: "'101'" }
      form: { fields: [ { name: ok, type: checkbox } ] }
    on: { submit: [ { goto: done } ] }
  done: { end: true }
"#;

async fn a_hand_start_cannot_call_a_process_for_a_person_its_municipality_does_not_see(
    backend: Backend,
) {
    let web = Web::start(backend).await;
    web.state
        .engine
        .releases()
        .deploy(&[
            SourceFile {
                path: "caller.yaml".into(),
                text: CALLER.into(),
            },
            SourceFile {
                path: "child.yaml".into(),
                text: CHILD.into(),
            },
        ])
        .await
        .expect("deployed");
    let start = |token: &str, other: &str| {
        let body = json!({ "subject": IN_101, "variables": { "other": other } });
        let token = token.to_owned();
        let web = &web;
        async move {
            web.api(
                Method::POST,
                "/api/processes/calls-another/instances",
                Some(&token),
                Some(body),
            )
            .await
        }
    };
    // 101 starts it for its own person, calling for a person of 147, or for nobody: both
    // refused alike, nothing started, the person of 147 still unseen by 101.
    let hidden = start(&web.cw101, IN_147).await;
    let missing = start(&web.cw101, NOBODY).await;
    assert_eq!(
        hidden.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        hidden.text
    );
    assert_eq!(missing.status, hidden.status);
    assert_eq!(hidden.json()["message"], missing.json()["message"]);
    let inbox = web
        .api(Method::GET, "/api/tasks", Some(&web.cw101), None)
        .await;
    assert_eq!(inbox.json()["total"], 0, "{}", inbox.text);
    let person = web
        .api(
            Method::GET,
            &format!("/api/persons/{IN_147}"),
            Some(&web.cw101),
            None,
        )
        .await;
    assert_eq!(person.status, StatusCode::NOT_FOUND);
    // For a person 101 sees, and for anyone when an admin starts it, the call goes ahead.
    assert_eq!(start(&web.cw101, IN_101).await.status, StatusCode::CREATED);
    assert_eq!(start(&web.admin, IN_147).await.status, StatusCode::CREATED);
}

async fn only_tasks_a_process_put_there_show_a_person(backend: Backend) {
    let web = Web::start(backend).await;
    let person = format!("/api/persons/{IN_147}");
    // The process (an admin's start) gives 101 a task about a person of 147: 101 sees them.
    let task = web.case(IN_147, "101", "Opfølgning").await;
    assert_eq!(
        web.api(Method::GET, &person, Some(&web.cw101), None)
            .await
            .status,
        StatusCode::OK
    );
    // Meanwhile 101 starts a case of its own for them and leaves it open ...
    let own = web
        .api(
            Method::POST,
            "/api/processes/web-case/instances",
            Some(&web.cw101),
            Some(json!({ "subject": IN_147, "variables": { "kommune": "101", "title": "Egen sag" } })),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text);
    let done = web
        .api(
            Method::POST,
            &format!("/api/tasks/{task}/complete"),
            Some(&web.cw101),
            Some(json!({ "decision": "approve" })),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    // ... which does not keep the person visible once the grace period is over.
    let now = web.state.engine.clock().now();
    web.clock
        .set(now + chrono::Duration::days(31))
        .expect("forward");
    assert_eq!(
        web.api(Method::GET, &person, Some(&web.cw101), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let inbox = web
        .api(Method::GET, "/api/tasks", Some(&web.cw101), None)
        .await;
    assert_eq!(
        inbox.json()["total"],
        1,
        "101's own case is still in its inbox"
    );
}

async fn concurrent_reads_are_committed_together_and_all_recorded(backend: Backend) {
    let web = Web::start(backend).await;
    let engine = web.state.engine.clone();
    let before = entries(&web, AuditFilter::default()).await.len();
    let mut reads = Vec::new();
    for n in 0..40 {
        let engine = engine.clone();
        reads.push(tokio::spawn(async move {
            let actor = Actor::caseworker(&format!("cw{n}"), "101");
            let records = (0..(n % 3 + 1))
                .map(|i| {
                    forlob_engine::audit::AuditRecord::new(AuditAction::PersonRead)
                        .subject(format!("{n}-{i}"))
                })
                .collect();
            engine.audit().record(&actor, records).await
        }));
    }
    for read in reads {
        read.await.expect("joined").expect("recorded");
    }
    let after = entries(&web, AuditFilter::default()).await;
    let expected: usize = (0..40).map(|n| n % 3 + 1).sum();
    assert_eq!(after.len(), before + expected);
    // Every reader's entries, under their own name.
    assert!(
        after
            .iter()
            .any(|e| e.actor == "cw39" && e.subject.as_deref() == Some("39-0"))
    );
    assert!(matches!(
        engine.audit().verify_audit().await.expect("verified"),
        AuditVerdict::Intact { .. }
    ));
}

/// How many of the audit entries still pending (not yet sealed) name `subject`; all of them
/// with `None`.
async fn pending_of(web: &Web, subject: Option<&str>) -> i64 {
    let db = web.state.engine.db();
    let sql = match subject {
        Some(s) => format!("SELECT COUNT(*) AS n FROM audit_pending WHERE subject = '{s}'"),
        None => "SELECT COUNT(*) AS n FROM audit_pending".to_owned(),
    };
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .expect("counts")
    .expect("a row")
    .try_get::<i64>("", "n")
    .expect("a count")
}

/// Writers do not take turns over the audit chain: on PostgreSQL an entry is committed with
/// its change, unsealed, while another writer's transaction with an entry of its own is still
/// open, and joins the chain (in the order the entries were sealed) before the log is read;
/// two sealers at once chain every entry once; a prune seals what is pending in its own
/// transaction. On SQLite the one writer seals as it appends and nothing is left pending.
async fn writers_append_to_the_audit_log_side_by_side_and_every_entry_joins_the_chain(
    backend: Backend,
) {
    use forlob_engine::audit::AuditRecord;
    use sea_orm::TransactionTrait;
    use store::audit::SealTurn;

    let postgres = matches!(backend, Backend::Postgres(_));
    let web = Web::start(backend).await;
    let engine = web.state.engine.clone();
    let read = |subject: &str| vec![AuditRecord::new(AuditAction::PersonRead).subject(subject)];
    if postgres {
        // An open transaction holding an entry of its own.
        let open = engine.db().begin().await.expect("begins");
        store::audit::append(
            &open,
            &Actor::system(),
            read("first-appended"),
            chrono::Utc::now(),
        )
        .await
        .expect("appends");
        // A second writer commits meanwhile instead of waiting for the first's commit.
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            engine
                .audit()
                .record(&Actor::system(), read("second-appended")),
        )
        .await
        .expect("not held up by the open transaction")
        .expect("recorded");
        assert_eq!(pending_of(&web, Some("second-appended")).await, 1);
        // Reading seals what is committed: the second is in the chain, the first not yet.
        let sealed = entries(&web, AuditFilter::default()).await;
        assert_eq!(sealed[0].subject.as_deref(), Some("second-appended"));
        assert_eq!(pending_of(&web, None).await, 0);
        open.commit().await.expect("commits");
        let sealed = entries(&web, AuditFilter::default()).await;
        assert_eq!(sealed[0].subject.as_deref(), Some("first-appended"));
        assert_eq!(sealed[1].subject.as_deref(), Some("second-appended"));
        assert_eq!(
            sealed[0].prev_hash, sealed[1].hash,
            "chained after the second"
        );
    }
    if postgres {
        // A tick leaves the sealing to a sealer at work (here: a transaction holding the
        // chain's lock, 7215062 in store::audit) instead of waiting for it.
        engine
            .audit()
            .record(&Actor::system(), read("while-busy"))
            .await
            .expect("recorded");
        let busy = engine.db().begin().await.expect("begins");
        busy.execute_unprepared("SELECT pg_advisory_xact_lock(7215062)")
            .await
            .expect("holds the lock");
        assert_eq!(
            store::audit::seal_pending(engine.db(), SealTurn::Skip)
                .await
                .expect("skips"),
            0
        );
        assert_eq!(pending_of(&web, Some("while-busy")).await, 1);
        busy.rollback().await.expect("lets go");
        assert_eq!(
            store::audit::seal_pending(engine.db(), SealTurn::Skip)
                .await
                .expect("seals"),
            1
        );
    }
    // More than one sealing round's worth, sealed by two sealers at once.
    let before = store::audit::audit_count(engine.db())
        .await
        .expect("counts");
    let conn = engine.db().begin().await.expect("begins");
    let many: Vec<AuditRecord> = (0..1_203)
        .flat_map(|n| read(&format!("many-{n}")))
        .collect();
    store::audit::append(&conn, &Actor::system(), many, chrono::Utc::now())
        .await
        .expect("appends");
    conn.commit().await.expect("commits");
    assert_eq!(
        store::audit::audit_count(engine.db())
            .await
            .expect("counts"),
        before + 1_203,
        "counted sealed or not"
    );
    assert_eq!(
        pending_of(&web, None).await,
        if postgres { 1_203 } else { 0 }
    );
    let (one, other) = tokio::join!(
        store::audit::seal_pending(engine.db(), SealTurn::Wait),
        store::audit::seal_pending(engine.db(), SealTurn::Wait)
    );
    assert_eq!(
        one.expect("seals") + other.expect("seals"),
        if postgres { 1_203 } else { 0 },
        "each entry sealed once"
    );
    assert_eq!(pending_of(&web, None).await, 0);
    // A prune with entries pending seals them in its own transaction, its entry with them.
    engine
        .audit()
        .record(&Actor::system(), read("before-the-prune"))
        .await
        .expect("recorded");
    engine
        .audit()
        .prune_audit(&Actor::system())
        .await
        .expect("prunes");
    assert_eq!(pending_of(&web, None).await, 0);
    match engine.audit().verify_audit().await.expect("verified") {
        AuditVerdict::Intact { entries, .. } => assert_eq!(entries, before + 1_203 + 2),
        broken => panic!("{broken:?}"),
    }
}

on_both_backends!(
    writers_append_to_the_audit_log_side_by_side_and_every_entry_joins_the_chain,
    concurrent_reads_are_committed_together_and_all_recorded,
    a_hand_start_cannot_call_a_process_for_a_person_its_municipality_does_not_see,
    only_tasks_a_process_put_there_show_a_person,
    a_hand_start_neither_reveals_nor_makes_visible_a_person,
    a_task_shows_its_person_until_the_grace_period_after_it_closed,
    a_hand_start_keeps_its_tasks_in_the_starters_municipality,
    every_look_at_a_person_is_recorded_before_it_is_shown,
    admin_actions_and_sign_ins_are_recorded_with_their_change,
    only_admins_and_auditors_read_the_audit_log,
    verify_finds_an_edited_a_removed_and_a_reordered_entry,
    pruning_keeps_the_chain_verifiable_and_is_recorded,
);
