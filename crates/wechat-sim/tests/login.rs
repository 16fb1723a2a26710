//! Mini-program login: sns/jscode2session with codes minted by the control API (reference §2.3).

#[cfg(test)]
mod common;

use common::{s, TestSim};
use serde_json::{json, Value};

async fn login(t: &TestSim, a: &Value, code: &str) -> Value {
    let mini = &a["mini_program"];
    t.get_json(&format!(
        "sns/jscode2session?appid={}&secret={}&js_code={code}&grant_type=authorization_code",
        s(mini, "app_id"),
        s(mini, "app_secret")
    ))
    .await
}

async fn mint(t: &TestSim, a: &Value, user: &str) -> String {
    let v = t
        .control_post(
            "login-codes",
            json!({"app_id": a["mini_program"]["app_id"], "user": user}),
        )
        .await;
    s(&v, "code")
}

#[tokio::test]
async fn a_login_code_yields_the_users_openid_once() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({"mini_program": {}})).await;
    let code = mint(&t, &a, "alice").await;
    let v = login(&t, &a, &code).await;
    assert!(v.get("errcode").is_none(), "{v}");
    assert_eq!(s(&v, "openid").len(), 28);
    assert!(s(&v, "openid").starts_with('o'));
    assert_eq!(s(&v, "session_key").len(), 24);
    assert!(v.get("unionid").is_none());
    let again = login(&t, &a, &code).await;
    assert_eq!(again["errcode"], 40163);
}

#[tokio::test]
async fn the_same_user_keeps_one_openid_and_distinct_users_differ() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({"mini_program": {}})).await;
    let alice1 = s(&login(&t, &a, &mint(&t, &a, "alice").await).await, "openid");
    let alice2 = s(&login(&t, &a, &mint(&t, &a, "alice").await).await, "openid");
    let bob = s(&login(&t, &a, &mint(&t, &a, "bob").await).await, "openid");
    assert_eq!(alice1, alice2);
    assert_ne!(alice1, bob);
    let (_, oa) = t
        .control(
            reqwest::Method::GET,
            &format!("openid?app_id={}&user=alice", s(&a, "app_id")),
            None,
        )
        .await;
    assert_ne!(
        s(&oa, "openid"),
        alice1,
        "the official-account openid differs from the mini-program one"
    );
}

#[tokio::test]
async fn unknown_and_expired_codes_answer_40029() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({"mini_program": {}})).await;
    assert_eq!(login(&t, &a, "0a1b2c3d4e5f").await["errcode"], 40029);
    let code = mint(&t, &a, "alice").await;
    t.advance(301).await;
    assert_eq!(login(&t, &a, &code).await["errcode"], 40029);
}

#[tokio::test]
async fn login_checks_appid_secret_and_grant_type() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({"mini_program": {}})).await;
    let code = mint(&t, &a, "alice").await;
    let mini = &a["mini_program"];
    let bad_secret = t
        .get_json(&format!(
            "sns/jscode2session?appid={}&secret=00000000000000000000000000000000&js_code={code}&grant_type=authorization_code",
            s(mini, "app_id")
        ))
        .await;
    assert_eq!(bad_secret["errcode"], 40125);
    let oa_appid = t
        .get_json(&format!(
            "sns/jscode2session?appid={}&secret={}&js_code={code}&grant_type=authorization_code",
            s(&a, "app_id"),
            s(&a, "app_secret")
        ))
        .await;
    assert_eq!(
        oa_appid["errcode"], 40013,
        "the official account is not a mini-program"
    );
    let grant = t
        .get_json(&format!(
            "sns/jscode2session?appid={}&secret={}&js_code={code}&grant_type=client_credential",
            s(mini, "app_id"),
            s(mini, "app_secret")
        ))
        .await;
    assert_eq!(grant["errcode"], 40002);
    assert!(
        login(&t, &a, &code).await.get("openid").is_some(),
        "failed attempts do not use the code"
    );
}

#[tokio::test]
async fn open_platform_accounts_get_a_unionid_shared_by_the_user() {
    let t = TestSim::start().await;
    let a = t
        .create_account(json!({"mini_program": {}, "open_platform": true}))
        .await;
    let b = t
        .create_account(json!({"mini_program": {}, "open_platform": true}))
        .await;
    let ua = s(
        &login(&t, &a, &mint(&t, &a, "carol").await).await,
        "unionid",
    );
    let ub = s(
        &login(&t, &b, &mint(&t, &b, "carol").await).await,
        "unionid",
    );
    assert_eq!(ua, ub);
}
