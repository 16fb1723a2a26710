//! Activation from the card bag: a member who received a jump-type card but never activated it
//! fills in the form again and is sent to the card's `wx_activate_after_submit_url` with
//! `activate_ticket`, `encrypt_code`, `card_id` and `openid` (reference §6.2, §13 #3).

#![expect(
    clippy::unwrap_used,
    reason = "set-up helpers of an integration test: a panic is the failure report"
)]

#[cfg(test)]
mod common;

use std::collections::HashMap;

use common::{good_answers, s, Ready, TestSim};
use serde_json::{json, Value};

const AFTER_SUBMIT_URL: &str = "https://example.com/activate";

async fn html(t: &TestSim, path: &str) -> String {
    let resp = t.http.get(t.url(path)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

fn bag_path(r: &Ready, user: &str) -> String {
    format!(
        "cardbag?card_id={}&user={}",
        urlencoding::encode(&r.card_id),
        urlencoding::encode(user)
    )
}

/// The query of a redirect, split at `&` and the first `=`, each value percent-decoded once.
fn query_of(url: &str) -> (String, HashMap<String, String>) {
    let (base, query) = url.split_once('?').unwrap();
    let mut params = HashMap::new();
    for seg in query.split('&') {
        let (k, v) = seg.split_once('=').unwrap();
        let old = params.insert(k.to_owned(), urlencoding::decode(v).unwrap().into_owned());
        assert!(old.is_none(), "{k} twice in {url}");
    }
    (base.to_owned(), params)
}

async fn decrypt(t: &TestSim, r: &Ready, encrypt_code: &str) -> String {
    let v = t
        .api(
            &r.token,
            "card/code/decrypt",
            json!({"encrypt_code": encrypt_code}),
        )
        .await;
    s(&v, "code")
}

async fn openid(t: &TestSim, r: &Ready, user: &str) -> String {
    let (_, v) = t
        .control(
            reqwest::Method::GET,
            &format!("openid?app_id={}&user={user}", s(&r.account, "app_id")),
            None,
        )
        .await;
    s(&v, "openid")
}

/// The codes the merchant sees the member holding (`card/user/getcardlist`).
async fn held_codes(t: &TestSim, r: &Ready, user: &str) -> Vec<String> {
    let v = t
        .api(
            &r.token,
            "card/user/getcardlist",
            json!({"openid": openid(t, r, user).await, "card_id": r.card_id}),
        )
        .await;
    v["card_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| s(c, "code"))
        .collect()
}

async fn activate(t: &TestSim, r: &Ready, code: &str) -> Value {
    t.api(
        &r.token,
        "card/membercard/activate",
        json!({"membership_number": code, "code": code, "card_id": r.card_id}),
    )
    .await
}

/// Posts the card bag's HTML form with every field of the test form filled.
async fn submit_filled_form(t: &TestSim, card_id: &str, user: &str) -> reqwest::Response {
    t.http
        .post(t.url("cardbag"))
        .form(&[
            ("card_id", card_id),
            ("user", user),
            ("f0", "13900139000"),
            ("f1", "舞蹈"),
            ("f2", "南派三叔"),
            ("f3", "旅行家"),
        ])
        .send()
        .await
        .unwrap()
}

async fn bag_json(t: &TestSim, r: &Ready, user: &str, answers: Value) -> Value {
    t.post_json(
        "cardbag/submit",
        &json!({"card_id": r.card_id, "user": user, "answers": answers}),
    )
    .await
}

#[tokio::test]
async fn a_member_who_backed_out_activates_from_the_card_bag_and_lands_on_the_after_submit_url() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    // alice submits the component but never comes back: the merchant never activates.
    let extra = t.open_card(&r, "alice", "shop1").await;
    let held = held_codes(&t, &r, "alice").await;
    assert_eq!(held.len(), 1);
    assert_eq!(decrypt(&t, &r, &s(&extra, "code")).await, held[0]);

    let page = html(&t, &bag_path(&r, "alice")).await;
    assert!(page.contains("示例会员卡"), "{page}");
    assert!(page.contains("action=\"cardbag\""), "{page}");
    for label in ["手机号", "兴趣", "钢琴", "喜好", "职业", "喜欢的电影"] {
        assert!(page.contains(label), "{label} missing");
    }

    // Field inputs are f0.. in form order: mobile, 兴趣, 喜好, 职业, then the optional ones.
    let card_id = r.card_id.as_str();
    let missing = t
        .http
        .post(t.url("cardbag"))
        .form(&[
            ("card_id", card_id),
            ("user", "alice"),
            ("f0", "13800138000"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 422);
    let body = missing.text().await.unwrap();
    assert!(
        body.contains("id=\"errors\"") && body.contains("兴趣: 必填"),
        "{body}"
    );

    let resp = submit_filled_form(&t, card_id, "alice").await;
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let (base, q) = query_of(&location);
    assert_eq!(base, AFTER_SUBMIT_URL);
    let mut keys: Vec<&str> = q.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["activate_ticket", "card_id", "encrypt_code", "openid"]
    );
    assert_eq!(q["card_id"], r.card_id);
    assert_eq!(q["openid"], openid(&t, &r, "alice").await);
    assert_eq!(q["activate_ticket"].len(), 108);
    assert_ne!(
        q["activate_ticket"],
        s(&extra, "activate_ticket"),
        "a fresh ticket"
    );
    assert!(
        !location.contains('+') && !location.contains("=="),
        "values are percent-encoded: {location}"
    );

    let code = decrypt(&t, &r, &q["encrypt_code"]).await;
    assert_eq!(code, held[0], "the code alice already holds");
    assert_eq!(held_codes(&t, &r, "alice").await, held, "no new code");

    let info = t
        .api(
            &r.token,
            "card/membercard/activatetempinfo/get",
            json!({"activate_ticket": q["activate_ticket"]}),
        )
        .await;
    assert_eq!(info["errcode"], 0, "{info}");
    assert_eq!(
        info["info"]["common_field_list"],
        json!([{"name": "USER_FORM_INFO_FLAG_MOBILE", "value": "13900139000"}]),
        "the answers given in the card bag"
    );
    assert!(info["info"]["custom_field_list"]
        .as_array()
        .unwrap()
        .contains(&json!({"name": "兴趣", "value": "舞蹈", "value_list": []})));

    assert_eq!(
        activate(&t, &r, &code).await,
        json!({"errcode": 0, "errmsg": "ok"})
    );
    assert_eq!(activate(&t, &r, &code).await["errcode"], 40056);

    let again = html(&t, &bag_path(&r, "alice")).await;
    assert!(again.contains("already activated"), "{again}");
    assert!(!again.contains("<form"), "no activate button once active");
    let v = bag_json(&t, &r, "alice", good_answers()).await;
    assert_eq!(v["errcode"], 40056, "{v}");
    assert!(v["errmsg"].as_str().unwrap().contains("already activated"));
    let resp = submit_filled_form(&t, card_id, "alice").await;
    assert_eq!(resp.status(), 200, "no redirect once active");
    assert!(resp.text().await.unwrap().contains("already activated"));
}

#[tokio::test]
async fn the_json_card_bag_answers_the_redirect_for_the_code_the_member_holds() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    t.open_card(&r, "bob", "").await;
    let held = held_codes(&t, &r, "bob").await;

    let v = bag_json(&t, &r, "bob", good_answers()).await;
    let redirect = s(&v, "redirect");
    let (base, q) = query_of(&redirect);
    assert_eq!(base, AFTER_SUBMIT_URL);
    assert_eq!(decrypt(&t, &r, &q["encrypt_code"]).await, held[0]);
    assert_eq!(q["openid"], openid(&t, &r, "bob").await);
    // Visiting twice before activating gives two tickets for the same code; activation is once.
    let second = s(&bag_json(&t, &r, "bob", good_answers()).await, "redirect");
    let (_, q2) = query_of(&second);
    assert_ne!(q2["activate_ticket"], q["activate_ticket"]);
    assert_eq!(q2["encrypt_code"], q["encrypt_code"]);
    for ticket in [&q["activate_ticket"], &q2["activate_ticket"]] {
        let info = t
            .api(
                &r.token,
                "card/membercard/activatetempinfo/get",
                json!({"activate_ticket": ticket}),
            )
            .await;
        assert_eq!(info["errcode"], 0, "{info}");
    }
    assert_eq!(activate(&t, &r, &held[0]).await["errcode"], 0);
    assert_eq!(activate(&t, &r, &held[0]).await["errcode"], 40056);

    // Tickets from the card bag expire like the component's (ticket_ttl, 1800 s in tests).
    t.advance(1800).await;
    let info = t
        .api(
            &r.token,
            "card/membercard/activatetempinfo/get",
            json!({"activate_ticket": q["activate_ticket"]}),
        )
        .await;
    assert_eq!(info["errcode"], 72012);
}

#[tokio::test]
async fn the_card_bag_refuses_unknown_cards_members_without_a_code_and_bad_answers() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;

    let unknown = Ready {
        account: r.account.clone(),
        token: r.token.clone(),
        card_id: "pXXXXXXXXXXXXXXXXXXXXXXXXXXX".into(),
    };
    let page = html(&t, &bag_path(&unknown, "carol")).await;
    assert!(
        page.contains("id=\"fatal\"") && page.contains("40073"),
        "{page}"
    );
    assert!(!page.contains("<form"));
    assert_eq!(
        bag_json(&t, &unknown, "carol", good_answers()).await["errcode"],
        40073
    );

    // carol never received the card.
    let page = html(&t, &bag_path(&r, "carol")).await;
    assert!(
        page.contains("40056") && page.contains("no usable code"),
        "{page}"
    );
    assert!(!page.contains("<form"));
    let v = bag_json(&t, &r, "carol", good_answers()).await;
    assert_eq!(v["errcode"], 40056);
    assert!(
        v["errmsg"].as_str().unwrap().contains("no usable code"),
        "{v}"
    );

    // dave received it and deleted it from his card bag.
    let extra = t.open_card(&r, "dave", "").await;
    let code = decrypt(&t, &r, &s(&extra, "code")).await;
    t.control_post(&format!("codes/{code}/delete"), json!({}))
        .await;
    assert_eq!(
        bag_json(&t, &r, "dave", good_answers()).await["errcode"],
        40056
    );

    t.open_card(&r, "erin", "").await;
    let v = bag_json(&t, &r, "erin", json!({"兴趣": "篮球"})).await;
    assert_eq!(v["errcode"], 41011);
    let errors = v["errors"].to_string();
    assert!(
        errors.contains("手机号") && errors.contains("兴趣"),
        "{errors}"
    );
    assert_eq!(t.post_raw("cardbag/submit", "{").await["errcode"], 47001);
    assert_eq!(
        t.post_json("cardbag/submit", &json!({"card_id": r.card_id}))
            .await["errcode"],
        41011,
        "no user"
    );
    assert_eq!(
        t.post_json("cardbag/submit", &json!({"user": "erin"}))
            .await["errcode"],
        41012,
        "no card_id"
    );
}

#[tokio::test]
async fn only_jump_type_cards_redirect_from_the_card_bag() {
    let t = TestSim::start().await;
    let r = t.ready_non_jump().await;
    assert_eq!(t.open_card(&r, "ivan", "").await, json!({}));
    let page = html(&t, &bag_path(&r, "ivan")).await;
    assert!(
        page.contains("id=\"fatal\"") && page.contains("jump-type"),
        "{page}"
    );
    assert!(!page.contains("<form"));
    let v = bag_json(&t, &r, "ivan", good_answers()).await;
    assert_eq!(v["errcode"], 45030, "{v}");
    assert!(v.get("redirect").is_none());
}

#[tokio::test]
async fn a_whitelisted_tester_reaches_the_card_bag_of_a_card_in_review() {
    let t = TestSim::start().await;
    let account = t.create_account(json!({})).await;
    let token = t.token(&account).await;
    let card_id = s(
        &t.api(&token, "card/create", common::member_card()).await,
        "card_id",
    );
    t.api(
        &token,
        "card/membercard/activateuserform/set",
        common::form(&card_id),
    )
    .await;
    let v = t
        .api(
            &token,
            "card/testwhitelist/set",
            json!({"username": ["tom"]}),
        )
        .await;
    assert_eq!(v["errcode"], 0);
    let r = Ready {
        account,
        token,
        card_id,
    };
    t.open_card(&r, "tom", "").await;
    let v = bag_json(&t, &r, "tom", good_answers()).await;
    assert!(v.get("redirect").is_some(), "{v}");
    assert_eq!(
        bag_json(&t, &r, "stranger", good_answers()).await["errcode"],
        40078,
        "a card in review is closed to everyone else"
    );
}
