//! Credentials: cgi-bin/token, stable_token, rotation, expiry, quotas (reference §2).

#[cfg(test)]
mod common;

use common::{s, TestSim};
use serde_json::json;

async fn token_call(t: &TestSim, appid: &str, secret: &str) -> serde_json::Value {
    t.get_json(&format!(
        "cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}"
    ))
    .await
}

async fn card_get(t: &TestSim, token: &str) -> i64 {
    let v = t
        .api(token, "card/batchget", json!({"offset": 0, "count": 10}))
        .await;
    v["errcode"].as_i64().unwrap_or(i64::MIN)
}

#[tokio::test]
async fn token_success_has_no_errcode_and_a_long_opaque_token() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({})).await;
    let v = token_call(&t, &s(&a, "app_id"), &s(&a, "app_secret")).await;
    assert!(v.get("errcode").is_none(), "{v}");
    assert_eq!(v["expires_in"], 7200);
    assert!(s(&v, "access_token").len() >= 100);
}

#[tokio::test]
async fn token_rejects_unknown_appid_wrong_secret_and_grant_type() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({})).await;
    let v = token_call(&t, "wx0000000000000000", &s(&a, "app_secret")).await;
    assert_eq!(v["errcode"], 40013);
    assert!(s(&v, "errmsg").starts_with("invalid appid rid: "), "{v}");
    let v = token_call(&t, &s(&a, "app_id"), "0123456789abcdef0123456789abcdef").await;
    assert_eq!(v["errcode"], 40125);
    let v = t
        .get_json(&format!(
            "cgi-bin/token?grant_type=password&appid={}&secret={}",
            s(&a, "app_id"),
            s(&a, "app_secret")
        ))
        .await;
    assert_eq!(v["errcode"], 40002);
    let v = t
        .get_json(&format!(
            "cgi-bin/token?grant_type=client_credential&appid={}",
            s(&a, "app_id")
        ))
        .await;
    assert_eq!(v["errcode"], 41004);
}

#[tokio::test]
async fn wrong_secret_can_answer_the_older_40001() {
    let t = TestSim::with(kaika_wechat_sim::SimConfig {
        wrong_secret_errcode: 40001,
        ..kaika_wechat_sim::SimConfig::for_tests(1)
    })
    .await;
    let a = t.create_account(json!({})).await;
    let v = token_call(&t, &s(&a, "app_id"), "nope").await;
    assert_eq!(v["errcode"], 40001);
}

#[tokio::test]
async fn token_endpoint_requires_get() {
    let t = TestSim::start().await;
    let v = t
        .post_raw("cgi-bin/token?grant_type=client_credential", "")
        .await;
    assert_eq!(v["errcode"], 43001);
}

#[tokio::test]
async fn daily_quota_answers_45009_until_clear_quota() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({"daily_token_quota": 2})).await;
    let (id, secret) = (s(&a, "app_id"), s(&a, "app_secret"));
    token_call(&t, &id, &secret).await;
    let token = s(&token_call(&t, &id, &secret).await, "access_token");
    let v = token_call(&t, &id, &secret).await;
    assert_eq!(v["errcode"], 45009);
    let v = t
        .api(&token, "cgi-bin/clear_quota", json!({"appid": id}))
        .await;
    assert_eq!(v["errcode"], 0, "{v}");
    assert!(token_call(&t, &id, &secret)
        .await
        .get("access_token")
        .is_some());
}

#[tokio::test]
async fn a_new_token_retires_the_old_one_after_the_300_second_overlap() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({})).await;
    let first = t.token(&a).await;
    let second = t.token(&a).await;
    assert_ne!(first, second);
    assert_eq!(
        card_get(&t, &first).await,
        0,
        "old token works during the overlap"
    );
    t.advance(299).await;
    assert_eq!(card_get(&t, &first).await, 0);
    t.advance(2).await;
    assert_eq!(
        card_get(&t, &first).await,
        40001,
        "old token is no longer the latest"
    );
    assert_eq!(card_get(&t, &second).await, 0);
}

#[tokio::test]
async fn only_one_old_token_survives_a_rotation() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({})).await;
    let first = t.token(&a).await;
    let second = t.token(&a).await;
    let _third = t.token(&a).await;
    assert_eq!(card_get(&t, &first).await, 40001);
    assert_eq!(card_get(&t, &second).await, 0);
}

#[tokio::test]
async fn tokens_expire_after_7200_seconds_with_42001() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({})).await;
    let token = t.token(&a).await;
    t.advance(7199).await;
    assert_eq!(card_get(&t, &token).await, 0);
    t.advance(1).await;
    assert_eq!(card_get(&t, &token).await, 42001);
}

#[tokio::test]
async fn unknown_or_missing_tokens_are_refused() {
    let t = TestSim::start().await;
    let v = t.post_json("card/batchget", &json!({"count": 1})).await;
    assert_eq!(v["errcode"], 41001);
    let fake = "8_".to_owned() + &"A".repeat(130);
    assert_eq!(card_get(&t, &fake).await, 40001);
    assert_eq!(card_get(&t, "bad%20token").await, 40014);
}

#[tokio::test]
async fn a_mini_program_token_cannot_call_card_apis() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({"mini_program": {}})).await;
    let mini = &a["mini_program"];
    let token = s(
        &token_call(&t, &s(mini, "app_id"), &s(mini, "app_secret")).await,
        "access_token",
    );
    assert_eq!(card_get(&t, &token).await, 48001);
}

#[tokio::test]
async fn ip_whitelist_refuses_other_callers_with_40164() {
    let t = TestSim::start().await;
    let a = t
        .create_account(json!({"ip_whitelist": ["10.1.2.3"]}))
        .await;
    let v = token_call(&t, &s(&a, "app_id"), &s(&a, "app_secret")).await;
    assert_eq!(v["errcode"], 40164);
    assert!(s(&v, "errmsg").contains("127.0.0.1"));
}

async fn stable(t: &TestSim, a: &serde_json::Value, force: bool) -> serde_json::Value {
    t.post_json(
        "cgi-bin/stable_token",
        &json!({"grant_type": "client_credential", "appid": a["app_id"], "secret": a["app_secret"], "force_refresh": force}),
    )
    .await
}

#[tokio::test]
async fn stable_token_repeats_the_same_token_and_is_isolated_from_cgi_bin_token() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({})).await;
    let one = stable(&t, &a, false).await;
    t.advance(100).await;
    let two = stable(&t, &a, false).await;
    assert_eq!(one["access_token"], two["access_token"]);
    assert_eq!(two["expires_in"], 7100);
    let basic = t.token(&a).await;
    let _another_basic = t.token(&a).await;
    t.advance(301).await;
    assert_eq!(card_get(&t, &basic).await, 40001);
    assert_eq!(
        card_get(&t, &s(&one, "access_token")).await,
        0,
        "basic rotations leave stable tokens alone"
    );
}

#[tokio::test]
async fn stable_token_renews_in_the_last_five_minutes_and_both_work() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({})).await;
    let old = s(&stable(&t, &a, false).await, "access_token");
    t.advance(7200 - 299).await;
    let renewed = stable(&t, &a, false).await;
    assert_ne!(s(&renewed, "access_token"), old);
    assert!(renewed["expires_in"].as_i64().unwrap() >= 300);
    assert_eq!(card_get(&t, &old).await, 0);
    t.advance(299).await;
    assert_eq!(card_get(&t, &old).await, 42001);
}

#[tokio::test]
async fn stable_token_force_refresh_invalidates_the_previous_token_but_not_twice_in_30_seconds() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({})).await;
    let old = s(&stable(&t, &a, false).await, "access_token");
    let forced = s(&stable(&t, &a, true).await, "access_token");
    assert_ne!(old, forced);
    assert_eq!(card_get(&t, &old).await, 40001);
    let again = s(&stable(&t, &a, true).await, "access_token");
    assert_eq!(
        again, forced,
        "a forced refresh within 30 s does not refresh"
    );
    t.advance(30).await;
    assert_ne!(s(&stable(&t, &a, true).await, "access_token"), forced);
}

#[tokio::test]
async fn stable_token_wants_json() {
    let t = TestSim::start().await;
    let v = t
        .post_raw("cgi-bin/stable_token", "grant_type=client_credential")
        .await;
    assert_eq!(v["errcode"], 47001);
    let v = t.post_raw("cgi-bin/stable_token", "").await;
    assert_eq!(v["errcode"], 44002);
}
