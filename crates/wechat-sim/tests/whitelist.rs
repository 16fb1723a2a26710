//! `card/testwhitelist/set` (reference §3.2): whitelisted testers receive and activate a card still
//! in review; everyone else gets 40078, and a refused card stays closed to all.

#[cfg(test)]
mod common;

use common::{form, good_answers, member_card, s, Ready, TestSim};
use serde_json::{json, Value};

/// An account with a pending (not yet reviewed) jump-type card and its form.
async fn pending(t: &TestSim) -> Ready {
    let account = t.create_account(json!({"mini_program": {}})).await;
    let token = t.token(&account).await;
    let card_id = s(
        &t.api(&token, "card/create", member_card()).await,
        "card_id",
    );
    let v = t
        .api(
            &token,
            "card/membercard/activateuserform/set",
            form(&card_id),
        )
        .await;
    assert_eq!(v["errcode"], 0, "{v}");
    Ready {
        account,
        token,
        card_id,
    }
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

async fn whitelist(t: &TestSim, r: &Ready, body: Value) -> Value {
    t.api(&r.token, "card/testwhitelist/set", body).await
}

async fn submit(t: &TestSim, encrypt_card_id: &str, user: &str) -> Value {
    t.post_json(
        "component/submit",
        &json!({"encrypt_card_id": encrypt_card_id, "user": user, "answers": good_answers()}),
    )
    .await
}

async fn geturl(t: &TestSim, r: &Ready) -> Value {
    t.api(
        &r.token,
        "card/membercard/activate/geturl",
        json!({"card_id": r.card_id}),
    )
    .await
}

#[tokio::test]
async fn a_whitelisted_tester_opens_a_card_in_review_and_everyone_else_gets_40078() {
    let t = TestSim::start().await;
    let r = pending(&t).await;
    assert_eq!(
        geturl(&t, &r).await["errcode"],
        40078,
        "no whitelist: a card in review has no activation URL"
    );
    let by_openid = openid(&t, &r, "tess").await;
    let v = whitelist(&t, &r, json!({"openid": [by_openid], "username": ["tom"]})).await;
    assert_eq!(v, json!({"errcode": 0, "errmsg": "ok"}));

    let url = geturl(&t, &r).await;
    assert_eq!(url["errcode"], 0, "{url}");
    let (encrypt_card_id, _, _) = common::parse_geturl(&s(&url, "url"));

    let stranger = submit(&t, &encrypt_card_id, "stranger").await;
    assert_eq!(stranger["errcode"], 40078, "{stranger}");
    let html = t
        .http
        .get(t.url(&format!(
            "component?encrypt_card_id={}&user=stranger",
            urlencoding::encode(&encrypt_card_id)
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"fatal\"") && html.contains("40078"));
    assert!(!html.contains("<form"));
    let html = t
        .http
        .get(t.url(&format!(
            "component?encrypt_card_id={}&user=tom",
            urlencoding::encode(&encrypt_card_id)
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<form") && html.contains("手机号"), "{html}");

    // Whitelisted by WeChat id (the user name) and by openid.
    for user in ["tom", "tess"] {
        let extra = submit(&t, &encrypt_card_id, user).await;
        assert_eq!(extra["card_id"], r.card_id.as_str(), "{user}: {extra}");
        let code = s(
            &t.api(
                &r.token,
                "card/code/decrypt",
                json!({"encrypt_code": s(&extra, "code")}),
            )
            .await,
            "code",
        );
        let info = t
            .api(
                &r.token,
                "card/membercard/activatetempinfo/get",
                json!({"activate_ticket": s(&extra, "activate_ticket")}),
            )
            .await;
        assert_eq!(info["errcode"], 0, "{info}");
        let activate = json!({"membership_number": code, "code": code, "card_id": r.card_id});
        let v = t
            .api(&r.token, "card/membercard/activate", activate.clone())
            .await;
        assert_eq!(v["errcode"], 0, "{user}: {v}");
        let v = t.api(&r.token, "card/membercard/activate", activate).await;
        assert_eq!(v["errcode"], 40056, "activation stays single");
    }
    let state = t.control(reqwest::Method::GET, "state", None).await.1;
    assert_eq!(
        state["test_whitelists"][s(&r.account, "app_id")],
        json!({"openid": [by_openid], "username": ["tom"]})
    );

    // A new set replaces the list: tom is out.
    let v = whitelist(&t, &r, json!({"username": ["tina"]})).await;
    assert_eq!(v["errcode"], 0);
    assert_eq!(submit(&t, &encrypt_card_id, "tim").await["errcode"], 40078);
    assert!(submit(&t, &encrypt_card_id, "tina")
        .await
        .get("activate_ticket")
        .is_some());
}

#[tokio::test]
async fn a_refused_card_stays_closed_to_whitelisted_testers() {
    let t = TestSim::start().await;
    let r = pending(&t).await;
    whitelist(&t, &r, json!({"username": ["tom"]})).await;
    let (encrypt_card_id, _, _) = common::parse_geturl(&s(&geturl(&t, &r).await, "url"));
    t.control_post(
        &format!("cards/{}/refuse", r.card_id),
        json!({"reason": "测试"}),
    )
    .await;
    assert_eq!(submit(&t, &encrypt_card_id, "tom").await["errcode"], 40078);
    assert_eq!(geturl(&t, &r).await["errcode"], 40078);
}

#[tokio::test]
async fn the_whitelist_body_token_and_openids_are_checked() {
    let t = TestSim::start().await;
    let r = pending(&t).await;
    let other = pending(&t).await;
    let path = format!("card/testwhitelist/set?access_token={}", r.token);
    assert_eq!(t.post_raw(&path, "{\"openid\":").await["errcode"], 47001);
    assert_eq!(t.post_raw(&path, "[]").await["errcode"], 47001);
    assert_eq!(t.post_raw(&path, "").await["errcode"], 44002);
    for body in [
        json!({"openid": "o123"}),
        json!({"openid": [1]}),
        json!({"username": [null]}),
    ] {
        assert_eq!(
            whitelist(&t, &r, body.clone()).await["errcode"],
            47001,
            "{body}"
        );
    }
    assert_eq!(whitelist(&t, &r, json!({})).await["errcode"], 41011);

    let foreign = openid(&t, &other, "tess").await;
    assert_eq!(
        whitelist(&t, &r, json!({"openid": [foreign]})).await["errcode"],
        40003,
        "another account's openid"
    );
    let own = openid(&t, &r, "tess").await;
    for bad in [&own[..27], "tess", "oXXXXXXXXXXXXXXXXXXXXXXXXXXX"] {
        assert_eq!(
            whitelist(&t, &r, json!({"openid": [own, bad]})).await["errcode"],
            40003,
            "{bad}"
        );
    }

    let users: Vec<String> = (0..6).map(|i| format!("u{i}")).collect();
    let mut openids = Vec::new();
    for i in 0..5 {
        openids.push(openid(&t, &r, &format!("o{i}")).await);
    }
    assert_eq!(
        whitelist(&t, &r, json!({"openid": openids, "username": users})).await["errcode"],
        45021,
        "11 entries"
    );
    assert_eq!(
        whitelist(&t, &r, json!({"openid": openids, "username": &users[..5]})).await["errcode"],
        0,
        "10 entries"
    );
    assert_eq!(
        t.sim
            .test_whitelist(&s(&r.account, "app_id"))
            .username
            .len(),
        5
    );

    let v = t
        .post_json("card/testwhitelist/set", &json!({"username": ["tom"]}))
        .await;
    assert_eq!(v["errcode"], 41001);
    let mini = s(&r.account["mini_program"], "app_id");
    let mini_secret = s(&r.account["mini_program"], "app_secret");
    let mini_token = s(
        &t.get_json(&format!(
            "cgi-bin/token?grant_type=client_credential&appid={mini}&secret={mini_secret}"
        ))
        .await,
        "access_token",
    );
    let v = t
        .api(
            &mini_token,
            "card/testwhitelist/set",
            json!({"username": ["tom"]}),
        )
        .await;
    assert_eq!(v["errcode"], 48001, "a mini-program token");
    let v = t
        .post_json(
            "card/testwhitelist/set?access_token=not-a-token",
            &json!({"username": ["tom"]}),
        )
        .await;
    assert!(
        [40001, 40014].contains(&v["errcode"].as_i64().unwrap()),
        "{v}"
    );
}
