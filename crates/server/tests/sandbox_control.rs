//! The simulator's control API (`/sim/control`): absent outside sandbox mode, and in sandbox mode only
//! for loopback peers unless `sandbox.control_from_anywhere` opens it.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure must stop the test at once"
)]

mod common;

use common::TestApp;

/// This machine's address on the interface of its default route: a peer that is not loopback.
fn non_loopback_ip() -> std::net::IpAddr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    // A UDP connect sends nothing; it only picks the route and so the local address.
    socket
        .connect("198.51.100.1:9")
        .expect("this test needs a network interface other than loopback (a default route)");
    let ip = socket.local_addr().unwrap().ip();
    assert!(
        !ip.is_loopback() && !ip.is_unspecified(),
        "no non-loopback address: {ip}"
    );
    ip
}

/// The same path, requested from this machine's non-loopback address.
fn from_outside(app: &TestApp, path: &str) -> String {
    let port = app.base_url.rsplit(':').next().unwrap();
    format!("http://{}:{port}{path}", non_loopback_ip())
}

#[tokio::test]
async fn the_control_api_is_not_served_outside_sandbox_mode() {
    let app = TestApp::spawn().await;
    for path in ["/sim/control/state", "/sim/control/accounts"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "not_found", "{path}");
    }
    let posted = app
        .client
        .post(app.url("/sim/control/clock/advance"))
        .json(&serde_json::json!({ "seconds": 60 }))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 404);
}

#[tokio::test]
async fn the_control_api_answers_loopback_in_sandbox_mode() {
    let (app, _sandbox, info) = TestApp::sandbox().await;
    let response = app.get("/sim/control/accounts").await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(body.contains(&info.app_id), "{body}");
}

#[tokio::test]
async fn the_control_api_refuses_other_peers_with_403() {
    let (app, _sandbox, _info) = TestApp::sandbox_with(&[("server.listen", "0.0.0.0:0")]).await;
    let response = app
        .client
        .get(from_outside(&app, "/sim/control/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "sandbox_control_forbidden");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("KAIKA__SANDBOX__CONTROL_FROM_ANYWHERE"),
        "{body}"
    );
    let posted = app
        .client
        .post(from_outside(&app, "/sim/control/clock/advance"))
        .json(&serde_json::json!({ "seconds": 60 }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        posted.status(),
        403,
        "every method and path under /sim/control"
    );
    let demo = app
        .client
        .get(from_outside(&app, "/sandbox"))
        .send()
        .await
        .unwrap();
    assert_eq!(demo.status(), 200, "the rest of the sandbox answers anyone");
}

#[tokio::test]
async fn the_control_api_answers_anyone_when_configured() {
    let (app, _sandbox, _info) = TestApp::sandbox_with(&[
        ("server.listen", "0.0.0.0:0"),
        ("sandbox.control_from_anywhere", "true"),
    ])
    .await;
    let response = app
        .client
        .get(from_outside(&app, "/sim/control/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_bare_address_leads_to_the_sandbox_or_the_admin_and_no_page_links_the_control_api() {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let home = no_redirects.get(app.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 303);
    assert_eq!(home.headers()["location"], "/sandbox");
    let page = app.get("/sandbox").await.text().await.unwrap();
    assert!(!page.contains("/sim/control"), "{page}");
    assert!(page.contains("href=\"/admin\""), "{page}");

    let deployed = TestApp::spawn().await;
    let home = no_redirects.get(deployed.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 303);
    assert_eq!(home.headers()["location"], "/admin");
}
