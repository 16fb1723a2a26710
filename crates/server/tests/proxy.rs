//! Behind a reverse proxy: whose `X-Forwarded-For` is believed (only a trusted proxy's), what the login
//! throttle and the rate limits key on, and the 429 `rate_limited` answer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    dead_code
)]

mod common;

use common::TestApp;
use kaika_core::admin_users::Role;
use kaika_server::sandbox::Sandbox;
use kaika_server::sandbox::SandboxInfo;
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use scraper::{Html, Selector};

const PASSWORD: &str = "a long enough password";

/// A cookie-keeping client that does not follow redirects.
fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// One admin login from a fresh client, with `forwarded_for` as its `X-Forwarded-For`.
async fn login_as(app: &TestApp, forwarded_for: &str, password: &str) -> StatusCode {
    let browser = client();
    let page = browser
        .get(app.url("/admin/login"))
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = Html::parse_document(&page)
        .select(&Selector::parse("input[name=csrf]").unwrap())
        .next()
        .and_then(|e| e.value().attr("value").map(str::to_owned))
        .expect("the login form has a CSRF token");
    browser
        .post(app.url("/admin/login"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[
            ("username", "owner"),
            ("password", password),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

async fn add_owner(app: &TestApp) {
    let hash = kaika_core::passwords::hash(PASSWORD).unwrap();
    kaika_core::admin_users::create_user(&app.app_db, "owner", &hash, Role::Owner)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_forged_forwarded_for_from_an_untrusted_peer_does_not_change_the_throttle_key() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    add_owner(&app).await;
    for i in 0..5 {
        let forged = format!("198.51.100.{}", i + 1);
        assert_eq!(
            login_as(&app, &forged, "wrong password!").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_as(&app, "198.51.100.77", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "every forged address is the loopback peer, whose attempts are spent"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_throttle_bucket() {
    let (app, _sandbox, _info) =
        TestApp::sandbox_with(&[("server.trusted_proxies", "127.0.0.1/32")]).await;
    add_owner(&app).await;
    for _ in 0..5 {
        assert_eq!(
            login_as(&app, "198.51.100.1", "wrong password!").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_as(&app, "198.51.100.1", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the attacker's address is locked"
    );
    assert_eq!(
        login_as(&app, "203.0.113.5", PASSWORD).await,
        StatusCode::SEE_OTHER,
        "another client behind the same proxy is not"
    );
}

async fn new_session(
    app: &TestApp,
    sandbox: &Sandbox,
    info: &SandboxInfo,
    user: &str,
    forwarded_for: &str,
) -> reqwest::Response {
    let code = sandbox
        .sim
        .mint_login_code(&info.mini_app_id, user)
        .unwrap()
        .code;
    app.client
        .post(app.url("/api/v1/sessions"))
        .header("x-forwarded-for", forwarded_for)
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sessions_beyond_the_burst_are_refused_with_retry_after_per_client_address() {
    let (app, sandbox, info) = TestApp::sandbox_with(&[
        ("server.trusted_proxies", "127.0.0.1/32"),
        ("rate_limit.sessions_per_minute", "1"),
        ("rate_limit.sessions_burst", "3"),
    ])
    .await;
    for i in 0..3 {
        let response = new_session(&app, &sandbox, &info, &format!("u{i}"), "198.51.100.1").await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let refused = new_session(&app, &sandbox, &info, "u3", "198.51.100.1").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert!(body["message"].is_string());
    let other = new_session(&app, &sandbox, &info, "u4", "203.0.113.5").await;
    assert_eq!(
        other.status(),
        StatusCode::OK,
        "another client behind the proxy has its own budget"
    );
}

#[tokio::test]
async fn the_after_submit_page_spends_the_activation_budget_of_the_client_address() {
    let (app, _sandbox, _info) = TestApp::sandbox_with(&[
        ("server.trusted_proxies", "127.0.0.1/32"),
        ("rate_limit.activations_per_minute", "1"),
        ("rate_limit.activations_burst", "2"),
    ])
    .await;
    let open = |forwarded_for: &'static str| {
        app.client
            .get(app.url("/m/activate?card_id=pNONE"))
            .header("x-forwarded-for", forwarded_for)
            .send()
    };
    for _ in 0..2 {
        let page = open("198.51.100.7").await.unwrap();
        assert_eq!(page.status(), StatusCode::BAD_REQUEST, "missing parameters");
    }
    let refused = open("198.51.100.7").await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let body = refused.text().await.unwrap();
    assert!(
        body.contains("rate_limited") && body.contains("请求过于频繁"),
        "{body}"
    );
    let other = open("203.0.113.9").await.unwrap();
    assert_eq!(
        other.status(),
        StatusCode::BAD_REQUEST,
        "another address has its own budget"
    );
}
