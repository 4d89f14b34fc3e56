//! HTTP through `router(state).oneshot(request)`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use forlob_engine::{Engine, EngineOptions, ManualClock, Registry};
use tower::ServiceExt;

#[tokio::test]
async fn healthz_answers_ok_while_the_database_answers() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let engine = Engine::start(
        "sqlite::memory:",
        Registry::new(),
        clock,
        EngineOptions::default(),
    )
    .await
    .expect("starts");
    let app = forlob_web::router(forlob_web::AppState::new(
        Arc::new(engine),
        forlob_web::WebSettings::default(),
    ));
    let response = app
        .oneshot(
            Request::get("/healthz")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("responds");
    assert_eq!(response.status(), StatusCode::OK);
}
