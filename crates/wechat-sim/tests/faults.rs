//! Fault injection through `control/faults`: next-N, seeded probability, delays, dropped
//! connections, and push duplication, delay and reordering.

#[cfg(test)]
mod common;

use std::time::{Duration, Instant};

use common::receiver::{tag, Receiver};
use common::{s, TestSim};
use kaika_wechat_sim::SimConfig;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn batchget(t: &TestSim, token: &str) -> i64 {
    t.api(token, "card/batchget", json!({"count": 1})).await["errcode"]
        .as_i64()
        .unwrap_or(i64::MIN)
}

#[tokio::test]
async fn next_n_faults_answer_the_errcode_n_times_then_stop() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({})).await;
    let token = t.token(&a).await;
    let (status, rule) = t
        .control(Method::POST, "faults", Some(json!({"path": "card/batchget", "fault": {"kind": "errcode", "errcode": -1}, "next": 2})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(rule["remaining"], 2);
    let v = t.api(&token, "card/batchget", json!({"count": 1})).await;
    assert_eq!(v["errcode"], -1);
    assert!(s(&v, "errmsg").starts_with("system error"));
    assert_eq!(batchget(&t, &token).await, -1);
    assert_eq!(batchget(&t, &token).await, 0);
    let (_, list) = t.control(Method::GET, "faults", None).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn token_quota_and_ticket_errcodes_can_be_injected() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    for (path, errcode) in [
        ("card/batchget", 40001),
        ("card/batchget", 42001),
        ("cgi-bin/token", 45009),
        ("card/membercard/activatetempinfo/get", 72011),
        ("card/membercard/activatetempinfo/get", 72012),
    ] {
        t.control_post(
            "faults",
            json!({"path": path, "fault": {"kind": "errcode", "errcode": errcode}, "next": 1}),
        )
        .await;
        let v = if path == "cgi-bin/token" {
            t.get_json(&format!(
                "cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
                s(&r.account, "app_id"),
                s(&r.account, "app_secret")
            ))
            .await
        } else {
            t.api(&r.token, path, json!({"count": 1, "activate_ticket": "x"}))
                .await
        };
        assert_eq!(v["errcode"], errcode, "{path}");
    }
    assert_eq!(batchget(&t, &r.token).await, 0);
}

async fn pattern(seed: u64) -> Vec<i64> {
    let t = TestSim::with(SimConfig::for_tests(seed)).await;
    let a = t.create_account(json!({})).await;
    let token = t.token(&a).await;
    t.control_post(
        "faults",
        json!({"path": "/card/batchget", "fault": {"kind": "errcode", "errcode": -1}, "probability": 0.3, "seed": 1234}),
    )
    .await;
    let mut out = Vec::new();
    for _ in 0..40 {
        out.push(batchget(&t, &token).await);
    }
    out
}

#[tokio::test]
async fn probabilistic_faults_repeat_exactly_with_the_same_seed() {
    let first = pattern(1).await;
    let second = pattern(2).await;
    assert_eq!(
        first, second,
        "the rule's own seed decides, whatever else the simulator does"
    );
    let failures = first.iter().filter(|e| **e == -1).count();
    assert!((4..=20).contains(&failures), "{failures} of 40 at p=0.3");
}

#[tokio::test]
async fn a_delayed_activate_takes_effect_although_the_client_timed_out() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    let extra = t.open_card(&r, "alice", "").await;
    let code = s(
        &t.api(
            &r.token,
            "card/code/decrypt",
            json!({"encrypt_code": extra["code"]}),
        )
        .await,
        "code",
    );
    t.control_post("faults", json!({"path": "card/membercard/activate", "fault": {"kind": "delay", "ms": 1500}, "next": 1}))
        .await;
    let timed_out = t
        .http
        .post(t.url(&format!(
            "card/membercard/activate?access_token={}",
            r.token
        )))
        .json(&json!({"membership_number": code, "code": code}))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(timed_out.unwrap_err().is_timeout());
    let info = t
        .api(
            &r.token,
            "card/membercard/userinfo/get",
            json!({"card_id": r.card_id, "code": code}),
        )
        .await;
    assert_eq!(
        info["has_active"], true,
        "ask userinfo/get instead of repeating (Appendix B)"
    );
    let again = t
        .api(
            &r.token,
            "card/membercard/activate",
            json!({"membership_number": code, "code": code}),
        )
        .await;
    assert_eq!(again["errcode"], 40056);
}

async fn dropped(t: &TestSim, token: &str) -> bool {
    let result = t
        .http
        .post(t.url(&format!("card/create?access_token={token}")))
        .json(&common::member_card())
        .send()
        .await;
    match result {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    }
}

#[tokio::test]
async fn a_dropped_connection_gives_the_client_no_answer() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({})).await;
    let token = t.token(&a).await;
    t.control_post(
        "faults",
        json!({"path": "card/create", "fault": {"kind": "drop"}, "next": 1}),
    )
    .await;
    assert!(dropped(&t, &token).await);
    let v = t.api(&token, "card/batchget", json!({"count": 50})).await;
    assert_eq!(v["total_num"], 0, "without apply, the call did nothing");
    t.control_post(
        "faults",
        json!({"path": "card/create", "fault": {"kind": "drop", "apply": true}, "next": 1}),
    )
    .await;
    assert!(dropped(&t, &token).await);
    let v = t.api(&token, "card/batchget", json!({"count": 50})).await;
    assert_eq!(
        v["total_num"], 1,
        "with apply, the card exists although the answer was lost"
    );
}

#[tokio::test]
async fn delete_clears_faults_and_bad_rules_are_refused() {
    let t = TestSim::start().await;
    let a = t.create_account(json!({})).await;
    let token = t.token(&a).await;
    t.control_post(
        "faults",
        json!({"path": "*", "fault": {"kind": "errcode", "errcode": -1}}),
    )
    .await;
    assert_eq!(batchget(&t, &token).await, -1);
    assert_eq!(batchget(&t, &token).await, -1);
    let (status, _) = t.control(Method::DELETE, "faults", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(batchget(&t, &token).await, 0);
    for bad in [
        json!({"path": "card/get", "fault": {"kind": "reorder"}}),
        json!({"push": "user_get_card", "fault": {"kind": "errcode", "errcode": -1}}),
        json!({"path": "card/get", "fault": {"kind": "delay", "ms": 1}, "next": 1, "probability": 0.5}),
        json!({"path": "card/get", "fault": {"kind": "explode"}}),
    ] {
        let (status, v) = t.control(Method::POST, "faults", Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} -> {v}");
    }
}

#[tokio::test]
async fn pushes_can_be_duplicated() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    t.control_post(
        "faults",
        json!({"push": "card_pass_check", "fault": {"kind": "duplicate"}, "next": 1}),
    )
    .await;
    t.ready(Some(&rx.url), "plain").await;
    let records = t.settled_pushes("card_pass_check", 2).await;
    assert_eq!(records[1]["duplicate_of"], records[0]["id"]);
    assert!(records.iter().all(|r| r["outcome"] == "delivered"));
    let all = rx.all();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].body, all[1].body);
    assert_eq!(all[0].query, all[1].query);
}

#[tokio::test]
async fn pushes_can_be_delayed_and_reordered() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    let r = t.ready(Some(&rx.url), "plain").await;
    t.settled_pushes("card_pass_check", 1).await;
    t.control_post(
        "faults",
        json!({"push": "user_get_card", "fault": {"kind": "reorder"}, "next": 1}),
    )
    .await;
    let extra = t.open_card(&r, "alice", "").await;
    let code = s(
        &t.api(
            &r.token,
            "card/code/decrypt",
            json!({"encrypt_code": extra["code"]}),
        )
        .await,
        "code",
    );
    t.api(
        &r.token,
        "card/membercard/activate",
        json!({"membership_number": code, "code": code}),
    )
    .await;
    t.api(
        &r.token,
        "card/membercard/updateuser",
        json!({"card_id": r.card_id, "code": code, "add_bonus": 5}),
    )
    .await;
    t.settled_pushes("user_get_card", 1).await;
    t.settled_pushes("update_member_card", 1).await;
    let order: Vec<String> = rx
        .all()
        .iter()
        .filter_map(|d| tag(&d.body, "Event"))
        .collect();
    assert_eq!(
        order,
        ["card_pass_check", "update_member_card", "user_get_card"]
    );

    t.control_post(
        "faults",
        json!({"push": "update_member_card", "fault": {"kind": "delay", "ms": 400}, "next": 1}),
    )
    .await;
    let asked = Instant::now();
    t.api(
        &r.token,
        "card/membercard/updateuser",
        json!({"card_id": r.card_id, "code": code, "add_bonus": 1}),
    )
    .await;
    let records = t.settled_pushes("update_member_card", 2).await;
    assert_eq!(records[1]["outcome"], "delivered");
    let all = rx.all();
    assert_eq!(all.len(), 4);
    let held = all[3].at.duration_since(asked);
    assert!(
        held >= Duration::from_millis(400),
        "the push was held back by the delay: it arrived after {held:?}"
    );
}

#[tokio::test]
async fn a_held_push_is_released_when_nothing_overtakes_it() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    t.control_post(
        "faults",
        json!({"push": "*", "fault": {"kind": "reorder"}, "next": 1}),
    )
    .await;
    t.ready(Some(&rx.url), "plain").await;
    let records: Vec<Value> = t.settled_pushes("card_pass_check", 1).await;
    assert_eq!(records[0]["outcome"], "delivered");
}
