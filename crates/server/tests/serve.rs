//! `kaika serve` as deployed: health, metrics, errors.

mod common;

use common::TestApp;

#[tokio::test]
async fn readyz_answers_ok_when_the_database_answers() {
    let app = TestApp::spawn().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
}

#[tokio::test]
async fn readyz_answers_503_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.app_db.clone().close().await.unwrap();
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["database"], "unavailable");
}

#[tokio::test]
async fn healthz_is_liveness_and_stays_ok_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.app_db.clone().close().await.unwrap();
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_answers_503_naming_a_pending_migration() {
    use kaika_core::migration::{Migrator, MigratorTrait};
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    Migrator::down(&app.test_db.db, Some(1)).await.unwrap();
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["migrations"], "pending");
    let last = Migrator::migrations().last().unwrap().name().to_owned();
    assert_eq!(body["pending"], serde_json::json!([last]), "{body}");
    assert_eq!(app.get("/healthz").await.status(), 200, "still alive");
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_show_the_pool() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        assert_eq!(app.get("/healthz").await.status(), 200);
    }
    assert_eq!(app.get("/no/such/path").await.status(), 404);
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"kaika_http_requests_total{method="GET",route="/healthz",status="200"} 3"#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(text.contains("kaika_http_request_duration_seconds_bucket"));
    assert!(text.contains(r#"kaika_db_pool_connections{state="open"}"#));
}

#[tokio::test]
async fn unknown_paths_get_a_json_error_with_a_stable_code() {
    let app = TestApp::spawn().await;
    let response = app.get("/nope").await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn the_server_stops_gracefully_on_request() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;
    assert!(app.client.get(app.url("/healthz")).send().await.is_err());
}
