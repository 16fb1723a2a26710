//! The card-opening journey: component (HTML and JSON) → decrypt → activatetempinfo → activate →
//! code/get, userinfo, updateuser (reference §5–§8, Appendix B).

#[cfg(test)]
mod common;

use common::{good_answers, s, Ready, TestSim};
use serde_json::{json, Value};

async fn decrypt(t: &TestSim, r: &Ready, encrypt_code: &str) -> Value {
    t.api(
        &r.token,
        "card/code/decrypt",
        json!({"encrypt_code": encrypt_code}),
    )
    .await
}

async fn activate(t: &TestSim, r: &Ready, code: &str) -> Value {
    t.api(
        &r.token,
        "card/membercard/activate",
        json!({"membership_number": code, "code": code, "card_id": r.card_id, "init_bonus": 100, "init_bonus_record": "开卡赠送", "init_balance": 200}),
    )
    .await
}

#[tokio::test]
async fn json_component_flow_yields_a_ticket_and_code_the_backend_apis_accept() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    let extra = t.open_card(&r, "alice", "guide").await;
    let ticket = s(&extra, "activate_ticket");
    assert_eq!(ticket.len(), 108);
    assert!(ticket.contains('+') && ticket.ends_with('='));
    assert_eq!(s(&extra, "card_id"), r.card_id);
    let encrypt_code = s(&extra, "code");
    assert_eq!(encrypt_code.len(), 64);

    let d = decrypt(&t, &r, &encrypt_code).await;
    assert_eq!(d["errcode"], 0);
    let code = s(&d, "code");
    assert_eq!(code.len(), 12);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));

    let info = t
        .api(
            &r.token,
            "card/membercard/activatetempinfo/get",
            json!({"activate_ticket": ticket}),
        )
        .await;
    assert_eq!(info["errcode"], 0, "{info}");
    assert_eq!(
        info["info"]["common_field_list"],
        json!([{"name": "USER_FORM_INFO_FLAG_MOBILE", "value": "13800138000"}])
    );
    let custom = info["info"]["custom_field_list"].as_array().unwrap();
    assert!(custom.contains(&json!({"name": "兴趣", "value": "钢琴", "value_list": []})));
    assert!(
        custom.contains(&json!({"name": "职业", "value": "", "value_list": ["赛车手", "旅行家"]}))
    );
    assert!(custom
        .contains(&json!({"name": "喜欢的电影", "value": "<b>花样年华</b>", "value_list": []})));

    let before = t
        .api(
            &r.token,
            "card/membercard/userinfo/get",
            json!({"card_id": r.card_id, "code": code}),
        )
        .await;
    assert_eq!(before["has_active"], false);
    assert!(
        before.get("user_info").is_none(),
        "jump-type cards keep the form out of userinfo/get"
    );

    let got = t
        .api(
            &r.token,
            "card/code/get",
            json!({"card_id": r.card_id, "code": code}),
        )
        .await;
    assert_eq!(got["user_card_status"], "NORMAL");
    assert_eq!(got["outer_str"], "guide");
    let (_, oa) = t
        .control(
            reqwest::Method::GET,
            &format!("openid?app_id={}&user=alice", s(&r.account, "app_id")),
            None,
        )
        .await;
    assert_eq!(got["openid"], oa["openid"]);

    assert_eq!(
        activate(&t, &r, &code).await,
        json!({"errcode": 0, "errmsg": "ok"})
    );
    let after = t
        .api(
            &r.token,
            "card/membercard/userinfo/get",
            json!({"card_id": r.card_id, "code": code}),
        )
        .await;
    assert_eq!(after["has_active"], true);
    assert_eq!(after["membership_number"], code.as_str());
    assert_eq!(after["bonus"], 100);
    assert_eq!(after["balance"], 200);
    assert_eq!(after["nickname"], "alice");
}

#[tokio::test]
async fn activating_the_same_code_twice_fails_with_40056() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    let extra = t.open_card(&r, "bob", "").await;
    let code = s(&decrypt(&t, &r, &s(&extra, "code")).await, "code");
    assert_eq!(activate(&t, &r, &code).await["errcode"], 0);
    assert_eq!(activate(&t, &r, &code).await["errcode"], 40056);
}

#[tokio::test]
async fn activate_refuses_unknown_codes_missing_fields_and_foreign_cards() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    assert_eq!(activate(&t, &r, "000000000000").await["errcode"], 40056);
    let v = t
        .api(&r.token, "card/membercard/activate", json!({"code": "123"}))
        .await;
    assert_eq!(v["errcode"], 41011);
    let extra = t.open_card(&r, "bob", "").await;
    let code = s(&decrypt(&t, &r, &s(&extra, "code")).await, "code");
    let v = t
        .api(&r.token, "card/membercard/activate", json!({"membership_number": "1", "code": code, "card_id": "pXXXXXXXXXXXXXXXXXXXXXXXXXXX"}))
        .await;
    assert_eq!(v["errcode"], 40073);
    let v = t
        .api(&r.token, "card/membercard/activate", json!({"membership_number": "1", "code": code, "init_custom_field_value1": "五个中文字"}))
        .await;
    assert_eq!(
        v["errcode"], 45021,
        "init_custom_field_value ≤ 4 Chinese characters"
    );
}

#[tokio::test]
async fn tickets_expire_with_72012_and_belong_to_their_account() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    let other = t.ready(None, "plain").await;
    let extra = t.open_card(&r, "carol", "").await;
    let ticket = s(&extra, "activate_ticket");
    let v = t
        .api(
            &other.token,
            "card/membercard/activatetempinfo/get",
            json!({"activate_ticket": ticket}),
        )
        .await;
    assert_eq!(v["errcode"], 72011, "another AppId's token");
    let mangled = ticket.replace('+', " ");
    let v = t
        .api(
            &r.token,
            "card/membercard/activatetempinfo/get",
            json!({"activate_ticket": mangled}),
        )
        .await;
    assert_eq!(
        v["errcode"], 72011,
        "+ turned into a space (reference §13 #5)"
    );
    let encoded = urlencoding::encode(&ticket).into_owned();
    let v = t
        .api(
            &r.token,
            "card/membercard/activatetempinfo/get",
            json!({"activate_ticket": encoded}),
        )
        .await;
    assert_eq!(v["errcode"], 72011, "still percent-encoded");
    t.advance(1799).await;
    let v = t
        .api(
            &r.token,
            "card/membercard/activatetempinfo/get",
            json!({"activate_ticket": ticket}),
        )
        .await;
    assert_eq!(v["errcode"], 0);
    t.advance(1).await;
    let v = t
        .api(
            &r.token,
            "card/membercard/activatetempinfo/get",
            json!({"activate_ticket": ticket}),
        )
        .await;
    assert_eq!(v["errcode"], 72012);
}

#[tokio::test]
async fn decrypt_refuses_unknown_and_foreign_encrypted_codes_with_40075() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    let other = t.ready(None, "plain").await;
    let extra = t.open_card(&r, "dave", "").await;
    assert_eq!(
        decrypt(&t, &other, &s(&extra, "code")).await["errcode"],
        40075
    );
    assert_eq!(
        decrypt(
            &t,
            &r,
            "XXIzTtMqCxwOaawoE91+VJdsFmv7b8g0VZIZkqf4GWA60Fzpc8ksZ/5ZZ0DVkXdE"
        )
        .await["errcode"],
        40075
    );
}

#[tokio::test]
async fn get_limit_and_missing_answers_are_enforced_by_the_component() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    let (encrypt_card_id, _, biz) = t.extra_data(&r, "").await;
    let v = t
        .post_json(
            "component/submit",
            &json!({"encrypt_card_id": encrypt_card_id, "biz": biz, "user": "erin", "answers": {"兴趣": "篮球"}}),
        )
        .await;
    assert_eq!(v["errcode"], 41011);
    let errors = v["errors"].to_string();
    assert!(
        errors.contains("手机号") && errors.contains("兴趣") && errors.contains("职业"),
        "{errors}"
    );
    let bad_mobile = t
        .post_json(
            "component/submit",
            &json!({"encrypt_card_id": encrypt_card_id, "user": "erin", "answers": {"USER_FORM_INFO_FLAG_MOBILE": "12345", "兴趣": "钢琴", "喜好": "韩寒", "职业": ["旅行家"]}}),
        )
        .await;
    assert_eq!(bad_mobile["errcode"], 41011);
    assert!(t
        .open_card(&r, "erin", "")
        .await
        .get("activate_ticket")
        .is_some());
    assert_eq!(
        t.open_card(&r, "erin", "").await["errcode"],
        45033,
        "get_limit is 1"
    );
    let wrong_biz = t
        .post_json(
            "component/submit",
            &json!({"encrypt_card_id": encrypt_card_id, "biz": "MTIzNDU2Nzg5MA==", "user": "fay", "answers": good_answers()}),
        )
        .await;
    assert_eq!(wrong_biz["errcode"], 40073);
}

#[tokio::test]
async fn html_component_shows_the_form_escapes_input_and_redirects_with_extra_data() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    let (encrypt_card_id, outer, biz) = t.extra_data(&r, "ch<1>").await;
    let return_url = "https://mini.example/return?from=sim";
    let query = format!(
        "component?encrypt_card_id={}&outer_str={}&biz={}&return_url={}&user=gina",
        urlencoding::encode(&encrypt_card_id),
        urlencoding::encode(&outer),
        urlencoding::encode(&biz),
        urlencoding::encode(return_url)
    );
    let html = t
        .http
        .get(t.url(&query))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("示例会员卡"));
    for label in [
        "手机号",
        "兴趣",
        "钢琴",
        "喜好",
        "职业",
        "赛车手",
        "喜欢的电影",
        "详细地址",
        "生日",
    ] {
        assert!(html.contains(label), "{label} missing");
    }
    assert!(
        html.contains("type=\"radio\"")
            && html.contains("<select")
            && html.contains("type=\"checkbox\"")
    );
    assert!(
        html.contains("ch&#60;1&#62;") || html.contains("ch&lt;1&gt;"),
        "outer_str is escaped"
    );
    assert!(!html.contains("ch<1>"));

    // Field inputs are f0.. in form order: mobile, 兴趣, 喜好, 职业, then the optional ones.
    let missing = t
        .http
        .post(t.url("component"))
        .form(&[
            ("encrypt_card_id", encrypt_card_id.as_str()),
            ("outer_str", outer.as_str()),
            ("biz", biz.as_str()),
            ("return_url", return_url),
            ("user", "gina"),
            ("f0", "13800138000"),
            ("f6", "<script>alert(1)</script>"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 422);
    let page = missing.text().await.unwrap();
    assert!(
        page.contains("id=\"errors\"") && page.contains("兴趣: 必填"),
        "{page}"
    );
    assert!(
        !page.contains("<script>alert(1)</script>"),
        "entered values are escaped"
    );

    let ok = t
        .http
        .post(t.url("component"))
        .form(&[
            ("encrypt_card_id", encrypt_card_id.as_str()),
            ("outer_str", outer.as_str()),
            ("biz", biz.as_str()),
            ("return_url", return_url),
            ("user", "gina"),
            ("f0", "13800138000"),
            ("f1", "舞蹈"),
            ("f2", "南派三叔"),
            ("f3", "赛车手"),
            ("f3", "旅行家"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let location = ok.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://mini.example/return?from=sim&activate_ticket="),
        "{location}"
    );
    let q: std::collections::HashMap<String, String> = location
        .split_once('?')
        .unwrap()
        .1
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), urlencoding::decode(v).unwrap().into_owned())
        })
        .collect();
    assert_eq!(q["card_id"], r.card_id);
    let code = s(&decrypt(&t, &r, &q["code"]).await, "code");
    let info = t
        .api(
            &r.token,
            "card/membercard/activatetempinfo/get",
            json!({"activate_ticket": q["activate_ticket"]}),
        )
        .await;
    assert!(info["info"]["custom_field_list"]
        .as_array()
        .unwrap()
        .contains(&json!({"name": "职业", "value": "", "value_list": ["赛车手", "旅行家"]})));
    assert_eq!(activate(&t, &r, &code).await["errcode"], 0);
    let got = t
        .api(&r.token, "card/code/get", json!({"code": code}))
        .await;
    assert_eq!(got["outer_str"], "ch<1>");
}

#[tokio::test]
async fn the_component_page_explains_unapproved_cards() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    let (encrypt_card_id, _, _) = t.extra_data(&r, "").await;
    t.control_post(
        &format!("cards/{}/refuse", r.card_id),
        json!({"reason": "x"}),
    )
    .await;
    let html = t
        .http
        .get(t.url(&format!(
            "component?encrypt_card_id={}&user=h",
            urlencoding::encode(&encrypt_card_id)
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("id=\"fatal\"") && html.contains("40078"),
        "{html}"
    );
    assert!(!html.contains("<form"));
    let v = t
        .post_json(
            "component/submit",
            &json!({"encrypt_card_id": encrypt_card_id, "user": "h", "answers": good_answers()}),
        )
        .await;
    assert_eq!(v["errcode"], 40078);
}

#[tokio::test]
async fn non_jump_cards_activate_on_submit_and_hand_back_nothing() {
    let t = TestSim::start().await;
    let r = t.ready_non_jump().await;
    assert_eq!(t.open_card(&r, "ivan", "").await, json!({}));
    let pushes = t.settled_pushes("submit_membercard_user_info", 1).await;
    let code = s(&pushes[0], "code");
    let info = t
        .api(
            &r.token,
            "card/membercard/userinfo/get",
            json!({"card_id": r.card_id, "code": code}),
        )
        .await;
    assert_eq!(info["has_active"], true);
    assert_eq!(
        info["user_info"]["common_field_list"][0]["value"],
        "13800138000"
    );
}

#[tokio::test]
async fn updateuser_sets_absolutes_applies_deltas_and_reports_totals() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    let extra = t.open_card(&r, "judy", "").await;
    let code = s(&decrypt(&t, &r, &s(&extra, "code")).await, "code");
    activate(&t, &r, &code).await;
    let v = t
        .api(&r.token, "card/membercard/updateuser", json!({"card_id": r.card_id, "code": code, "add_bonus": 30, "record_bonus": "消费30元，获得3积分"}))
        .await;
    assert_eq!(v["result_bonus"], 130, "{v}");
    let v = t
        .api(&r.token, "card/membercard/updateuser", json!({"card_id": r.card_id, "code": code, "bonus": 3000, "add_bonus": 5, "balance": 150.5, "add_balance": -49.5}))
        .await;
    assert_eq!(v["result_bonus"], 3000, "the absolute value wins");
    assert_eq!(v["result_balance"], 150.5);
    assert_eq!(v["openid"].as_str().unwrap().len(), 28);
    let v = t
        .api(&r.token, "card/membercard/updateuser", json!({"card_id": r.card_id, "code": code, "add_bonus": 1, "record_bonus": "这是一条超过十四个汉字长度的积分记录"}))
        .await;
    assert_eq!(v["errcode"], 45021);
    let v = t
        .api(
            &r.token,
            "card/membercard/updateuser",
            json!({"card_id": r.card_id, "code": "999999999999", "add_bonus": 1}),
        )
        .await;
    assert_eq!(v["errcode"], 40056);
}

#[tokio::test]
async fn consumed_and_deleted_codes_answer_40099_and_40127() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    let code1 = s(
        &decrypt(&t, &r, &s(&t.open_card(&r, "k1", "").await, "code")).await,
        "code",
    );
    let code2 = s(
        &decrypt(&t, &r, &s(&t.open_card(&r, "k2", "").await, "code")).await,
        "code",
    );
    t.control_post(&format!("codes/{code1}/consume"), json!({}))
        .await;
    let v = t
        .api(
            &r.token,
            "card/code/get",
            json!({"code": code1, "check_consume": true}),
        )
        .await;
    assert_eq!(v["errcode"], 40099);
    let v = t
        .api(
            &r.token,
            "card/code/get",
            json!({"code": code1, "check_consume": false}),
        )
        .await;
    assert_eq!(v["user_card_status"], "CONSUMED");
    assert_eq!(v["can_consume"], false);
    t.control_post(&format!("codes/{code2}/delete"), json!({}))
        .await;
    let v = t
        .api(&r.token, "card/code/get", json!({"code": code2}))
        .await;
    assert_eq!(v["user_card_status"], "DELETE");
    assert_eq!(activate(&t, &r, &code2).await["errcode"], 40127);
    let v = t
        .api(
            &r.token,
            "card/membercard/updateuser",
            json!({"card_id": r.card_id, "code": code2, "add_bonus": 1}),
        )
        .await;
    assert_eq!(v["errcode"], 40127);
}
