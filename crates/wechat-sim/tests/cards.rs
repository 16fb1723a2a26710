//! Card templates: create validation, get, batchget, update, delete, review, uploads, wxa codes.

#[cfg(test)]
mod common;

use common::{member_card, s, TestSim};
use serde_json::{json, Value};

async fn setup(t: &TestSim) -> (Value, String) {
    let a = t.create_account(json!({"mini_program": {}})).await;
    let token = t.token(&a).await;
    (a, token)
}

fn parent<'a>(
    card: &'a mut Value,
    pointer: &'a str,
) -> (&'a mut serde_json::Map<String, Value>, &'a str) {
    let Some((parent, key)) = pointer.rsplit_once('/') else {
        panic!("{pointer} has no parent")
    };
    match card.pointer_mut(parent) {
        Some(Value::Object(map)) => (map, key),
        _ => panic!("{parent} is not an object"),
    }
}

fn with(mut card: Value, pointer: &str, value: Value) -> Value {
    let (map, key) = parent(&mut card, pointer);
    map.insert(key.to_owned(), value);
    card
}

fn without(mut card: Value, pointer: &str) -> Value {
    let (map, key) = parent(&mut card, pointer);
    map.remove(key);
    card
}

const BASE: &str = "/card/member_card/base_info";

#[tokio::test]
async fn create_returns_a_28_char_p_card_id_sharing_the_account_prefix() {
    let t = TestSim::start().await;
    let (a, token) = setup(&t).await;
    let v = t.api(&token, "card/create", member_card()).await;
    assert_eq!(v["errcode"], 0);
    assert_eq!(v["errmsg"], "ok");
    let card_id = s(&v, "card_id");
    assert_eq!(card_id.len(), 28);
    let (_, oa) = t
        .control(
            reqwest::Method::GET,
            &format!("openid?app_id={}&user=x", s(&a, "app_id")),
            None,
        )
        .await;
    assert_eq!(card_id[1..6], s(&oa, "openid")[1..6]);
    assert!(card_id.starts_with('p'));
}

#[tokio::test]
async fn create_rejects_missing_required_fields_with_41011() {
    let t = TestSim::start().await;
    let (_, token) = setup(&t).await;
    for field in [
        "logo_url",
        "brand_name",
        "title",
        "color",
        "notice",
        "description",
        "code_type",
        "sku",
        "date_info",
    ] {
        let v = t
            .api(
                &token,
                "card/create",
                without(member_card(), &format!("{BASE}/{field}")),
            )
            .await;
        assert_eq!(v["errcode"], 41011, "without {field}: {v}");
    }
    let v = t
        .api(
            &token,
            "card/create",
            without(member_card(), "/card/member_card/prerogative"),
        )
        .await;
    assert_eq!(v["errcode"], 41011);
    let v = t
        .api(
            &token,
            "card/create",
            json!({"card": {"card_type": "MEMBER_CARD"}}),
        )
        .await;
    assert_eq!(v["errcode"], 41011);
}

#[tokio::test]
async fn create_counts_length_limits_as_three_bytes_per_chinese_character() {
    let t = TestSim::start().await;
    let (_, token) = setup(&t).await;
    let nine = "会员卡会员卡会员卡";
    let v = t
        .api(
            &token,
            "card/create",
            with(member_card(), &format!("{BASE}/title"), json!(nine)),
        )
        .await;
    assert_eq!(v["errcode"], 0, "9 Chinese characters fit");
    let ten = format!("{nine}卡");
    let v = t
        .api(
            &token,
            "card/create",
            with(member_card(), &format!("{BASE}/title"), json!(ten)),
        )
        .await;
    assert_eq!(v["errcode"], 45021);
    let v = t
        .api(
            &token,
            "card/create",
            with(
                member_card(),
                &format!("{BASE}/brand_name"),
                json!("品".repeat(13)),
            ),
        )
        .await;
    assert_eq!(v["errcode"], 45021);
    let v = t
        .api(
            &token,
            "card/create",
            with(
                member_card(),
                "/card/member_card/custom_cell1",
                json!({"name": "x", "tips": "七个中文字符串", "url": "https://a"}),
            ),
        )
        .await;
    assert_eq!(v["errcode"], 45021);
}

#[tokio::test]
async fn create_rejects_other_card_types_and_malformed_values() {
    let t = TestSim::start().await;
    let (_, token) = setup(&t).await;
    let v = t
        .api(
            &token,
            "card/create",
            with(member_card(), "/card/card_type", json!("GROUPON")),
        )
        .await;
    assert_eq!(v["errcode"], 40071);
    let v = t
        .api(
            &token,
            "card/create",
            with(member_card(), &format!("{BASE}/code_type"), json!(1)),
        )
        .await;
    assert_eq!(
        v["errcode"], 47001,
        "code_type must be a string (JeffreySu/WeiXinMPSDK#1556)"
    );
    let v = t
        .api(
            &token,
            "card/create",
            with(member_card(), &format!("{BASE}/color"), json!("#63b359")),
        )
        .await;
    assert_eq!(v["errcode"], 47001);
    let v = t
        .api(
            &token,
            "card/create",
            with(member_card(), &format!("{BASE}/sku/quantity"), json!(0)),
        )
        .await;
    assert_eq!(v["errcode"], 40122);
    let v = t
        .api(
            &token,
            "card/create",
            with(
                member_card(),
                "/card/member_card/custom_field4",
                json!({"name": "x"}),
            ),
        )
        .await;
    assert_eq!(v["errcode"], 40124);
    let v = t
        .post_raw(&format!("card/create?access_token={token}"), "{\"card\": ")
        .await;
    assert_eq!(v["errcode"], 47001);
    let v = t
        .post_raw(&format!("card/create?access_token={token}"), "")
        .await;
    assert_eq!(v["errcode"], 44002);
}

#[tokio::test]
async fn create_checks_account_permissions() {
    let t = TestSim::start().await;
    // A newly registered account, as the default: neither stored value nor custom codes.
    let a = t.create_account(json!({})).await;
    let token = t.token(&a).await;
    let points_only = t.api(&token, "card/create", member_card()).await;
    assert_eq!(points_only["errcode"], 0, "{points_only}");
    let v = t
        .api(
            &token,
            "card/create",
            with(
                member_card(),
                "/card/member_card/supply_balance",
                json!(true),
            ),
        )
        .await;
    assert_eq!(v["errcode"], 43010);
    let v = t
        .api(
            &token,
            "card/create",
            with(
                member_card(),
                &format!("{BASE}/use_custom_code"),
                json!(true),
            ),
        )
        .await;
    assert_eq!(v["errcode"], 43009);
    // Once WeChat granted the permission, stored value is accepted.
    let granted = t.create_account(json!({"balance_authorized": true})).await;
    let token = t.token(&granted).await;
    let v = t
        .api(
            &token,
            "card/create",
            with(
                member_card(),
                "/card/member_card/supply_balance",
                json!(true),
            ),
        )
        .await;
    assert_eq!(v["errcode"], 0, "{v}");
    let b = t
        .create_account(json!({"member_card_authorized": false}))
        .await;
    let token = t.token(&b).await;
    assert_eq!(
        t.api(&token, "card/create", member_card()).await["errcode"],
        72016
    );
}

#[tokio::test]
async fn get_echoes_the_card_with_status_and_refuses_other_accounts_cards() {
    let t = TestSim::start().await;
    let (_, token) = setup(&t).await;
    let card_id = s(
        &t.api(&token, "card/create", member_card()).await,
        "card_id",
    );
    let v = t.api(&token, "card/get", json!({"card_id": card_id})).await;
    assert_eq!(v["errcode"], 0);
    let base = &v["card"]["member_card"]["base_info"];
    assert_eq!(base["status"], "CARD_STATUS_NOT_VERIFY");
    assert_eq!(base["id"], card_id.as_str());
    assert_eq!(base["title"], "示例会员卡");
    assert_eq!(base["sku"]["total_quantity"], 100000000);
    let (_, other) = setup(&t).await;
    assert_eq!(
        t.api(&other, "card/get", json!({"card_id": card_id})).await["errcode"],
        40073
    );
    assert_eq!(
        t.api(
            &token,
            "card/get",
            json!({"card_id": "pXXXXXXXXXXXXXXXXXXXXXXXXXXX"})
        )
        .await["errcode"],
        40073
    );
    assert_eq!(t.api(&token, "card/get", json!({})).await["errcode"], 41012);
}

#[tokio::test]
async fn review_passes_on_command_and_geturl_wants_an_approved_card() {
    let t = TestSim::start().await;
    let (_, token) = setup(&t).await;
    let card_id = s(
        &t.api(&token, "card/create", member_card()).await,
        "card_id",
    );
    let v = t
        .api(
            &token,
            "card/membercard/activate/geturl",
            json!({"card_id": card_id}),
        )
        .await;
    assert_eq!(v["errcode"], 40078, "not approved yet");
    t.control_post(&format!("cards/{card_id}/approve"), json!({}))
        .await;
    let v = t.api(&token, "card/get", json!({"card_id": card_id})).await;
    assert_eq!(
        v["card"]["member_card"]["base_info"]["status"],
        "CARD_STATUS_VERIFY_OK"
    );
    let v = t
        .api(
            &token,
            "card/membercard/activate/geturl",
            json!({"card_id": card_id}),
        )
        .await;
    assert_eq!(v["errcode"], 0);
}

#[tokio::test]
async fn review_passes_by_itself_after_the_configured_delay_on_the_simulated_clock() {
    let t = TestSim::with(kaika_wechat_sim::SimConfig {
        review_delay: Some(std::time::Duration::from_secs(3600)),
        ..kaika_wechat_sim::SimConfig::for_tests(3)
    })
    .await;
    let (_, token) = setup(&t).await;
    let card_id = s(
        &t.api(&token, "card/create", member_card()).await,
        "card_id",
    );
    t.advance(3600).await;
    let v = t.api(&token, "card/get", json!({"card_id": card_id})).await;
    assert_eq!(
        v["card"]["member_card"]["base_info"]["status"],
        "CARD_STATUS_VERIFY_OK"
    );
    let pushes = t.settled_pushes("card_pass_check", 1).await;
    assert_eq!(pushes[0]["card_id"], card_id.as_str());
    assert_eq!(pushes[0]["outcome"], "no_callback");
}

#[tokio::test]
async fn refusing_a_card_keeps_geturl_closed() {
    let t = TestSim::start().await;
    let (_, token) = setup(&t).await;
    let card_id = s(
        &t.api(&token, "card/create", member_card()).await,
        "card_id",
    );
    t.control_post(
        &format!("cards/{card_id}/refuse"),
        json!({"reason": "非法代制"}),
    )
    .await;
    let v = t
        .api(
            &token,
            "card/membercard/activate/geturl",
            json!({"card_id": card_id}),
        )
        .await;
    assert_eq!(v["errcode"], 40078);
    let p = t.settled_pushes("card_not_pass_check", 1).await;
    assert!(p[0]["xml"].as_str().unwrap().contains("非法代制"));
}

#[tokio::test]
async fn batchget_filters_by_status_and_pages() {
    let t = TestSim::start().await;
    let (_, token) = setup(&t).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(s(
            &t.api(&token, "card/create", member_card()).await,
            "card_id",
        ));
    }
    t.control_post(&format!("cards/{}/approve", ids[1]), json!({}))
        .await;
    let v = t
        .api(&token, "card/batchget", json!({"offset": 0, "count": 50}))
        .await;
    assert_eq!(v["total_num"], 3);
    let v = t
        .api(
            &token,
            "card/batchget",
            json!({"offset": 0, "count": 50, "status_list": ["CARD_STATUS_VERIFY_OK"]}),
        )
        .await;
    assert_eq!(v["card_id_list"], json!([ids[1]]));
    let v = t
        .api(&token, "card/batchget", json!({"offset": 1, "count": 1}))
        .await;
    assert_eq!(v["card_id_list"], json!([ids[1]]));
    assert_eq!(
        t.api(&token, "card/batchget", json!({"offset": 0, "count": 51}))
            .await["errcode"],
        45021
    );
}

#[tokio::test]
async fn update_reports_send_check_for_title_edits_and_refuses_fixed_fields() {
    let t = TestSim::start().await;
    let (_, token) = setup(&t).await;
    let card_id = s(
        &t.api(&token, "card/create", member_card()).await,
        "card_id",
    );
    let v = t
        .api(
            &token,
            "card/update",
            json!({"card_id": card_id, "member_card": {"base_info": {"notice": "新的提示"}}}),
        )
        .await;
    assert_eq!(
        v,
        json!({"errcode": 0, "errmsg": "ok", "send_check": false})
    );
    let v = t
        .api(
            &token,
            "card/update",
            json!({"card_id": card_id, "member_card": {"base_info": {"title": "新卡名"}}}),
        )
        .await;
    assert_eq!(v["send_check"], true);
    let got = t.api(&token, "card/get", json!({"card_id": card_id})).await;
    assert_eq!(got["card"]["member_card"]["base_info"]["title"], "新卡名");
    assert_eq!(
        got["card"]["member_card"]["base_info"]["notice"],
        "新的提示"
    );
    let v = t
        .api(
            &token,
            "card/update",
            json!({"card_id": card_id, "member_card": {"base_info": {"brand_name": "x"}}}),
        )
        .await;
    assert_eq!(v["errcode"], 47001);
    let v = t
        .api(
            &token,
            "card/update",
            json!({"card_id": card_id, "member_card": {"supply_bonus": false}}),
        )
        .await;
    assert_eq!(
        v["errcode"], 47001,
        "supply_bonus can only go false -> true"
    );
    let v = t
        .api(&token, "card/update", json!({"card_id": card_id, "member_card": {"base_info": {"date_info": {"type": "DATE_TYPE_FIX_TERM", "fixed_term": 30}}}}))
        .await;
    assert_eq!(v["errcode"], 40100);
}

#[tokio::test]
async fn deleted_cards_answer_40078() {
    let t = TestSim::start().await;
    let (_, token) = setup(&t).await;
    let card_id = s(
        &t.api(&token, "card/create", member_card()).await,
        "card_id",
    );
    assert_eq!(
        t.api(&token, "card/delete", json!({"card_id": card_id}))
            .await["errcode"],
        0
    );
    let v = t
        .api(
            &token,
            "card/membercard/activateuserform/set",
            common::form(&card_id),
        )
        .await;
    assert_eq!(v["errcode"], 40078);
    assert_eq!(
        t.api(&token, "card/delete", json!({"card_id": card_id}))
            .await["errcode"],
        40078
    );
}

#[tokio::test]
async fn the_activation_form_is_validated() {
    let t = TestSim::start().await;
    let (_, token) = setup(&t).await;
    let card_id = s(
        &t.api(&token, "card/create", member_card()).await,
        "card_id",
    );
    let mut bad = common::form(&card_id);
    bad["required_form"]["rich_field_list"][0]["type"] = json!("FORM_FIELD_SLIDER");
    assert_eq!(
        t.api(&token, "card/membercard/activateuserform/set", bad)
            .await["errcode"],
        47001
    );
    let mut bad = common::form(&card_id);
    bad["optional_form"]["custom_field_list"] = json!(["1", "2", "3", "4", "5", "6"]);
    assert_eq!(
        t.api(&token, "card/membercard/activateuserform/set", bad)
            .await["errcode"],
        45021
    );
    let mut bad = common::form(&card_id);
    bad["required_form"]["common_field_id_list"] = json!(["USER_FORM_INFO_FLAG_SHOE_SIZE"]);
    assert_eq!(
        t.api(&token, "card/membercard/activateuserform/set", bad)
            .await["errcode"],
        47001
    );
    let mut every_spelling = common::form(&card_id);
    every_spelling["optional_form"]["common_field_id_list"] = json!([
        "USER_FORM_INFO_FLAG_EDUCATION_BACKGRO",
        "USER_FORM_INFO_FLAG_EDUCATION_BACKGROUND",
        "USER_FORM_INFO_FLAG_DETAIL_LOCATION",
        "USER_FORM_INFO_FLAG_CAREER"
    ]);
    assert_eq!(
        t.api(
            &token,
            "card/membercard/activateuserform/set",
            every_spelling
        )
        .await["errcode"],
        0
    );
    let plain = with(member_card(), "/card/member_card/wx_activate", json!(false));
    let plain_id = s(&t.api(&token, "card/create", plain).await, "card_id");
    let v = t
        .api(
            &token,
            "card/membercard/activateuserform/set",
            common::form(&plain_id),
        )
        .await;
    assert_eq!(v["errcode"], 72026);
}

#[tokio::test]
async fn geturl_has_the_shape_of_reference_section_5() {
    let t = TestSim::start().await;
    let r = t.ready(None, "plain").await;
    let v = t
        .api(
            &r.token,
            "card/membercard/activate/geturl",
            json!({"card_id": r.card_id, "outer_str": "guide"}),
        )
        .await;
    let url = s(&v, "url");
    assert!(
        url.starts_with(
            "https://mp.weixin.qq.com/bizmall/activatemembercard?action=preshow&&encrypt_card_id="
        ),
        "{url}"
    );
    assert!(url.ends_with("%3D%3D#wechat_redirect"), "{url}");
    assert!(url.contains("&outer_str=guide&biz="));
    assert!(!url.contains('+'), "no literal + in the encoded URL");
    let (encrypt_card_id, outer, biz) = common::parse_geturl(&url);
    assert_eq!(encrypt_card_id.len(), 64);
    assert!(encrypt_card_id.contains('+') && encrypt_card_id.contains('/'));
    assert_eq!(outer, "guide");
    use base64::Engine as _;
    let bizuin = base64::engine::general_purpose::STANDARD
        .decode(&biz)
        .unwrap();
    assert_eq!(bizuin.len(), 10);
    assert!(bizuin.iter().all(u8::is_ascii_digit));
    let again = t
        .api(
            &r.token,
            "card/membercard/activate/geturl",
            json!({"card_id": r.card_id}),
        )
        .await;
    assert_eq!(
        common::parse_geturl(&s(&again, "url")).0,
        encrypt_card_id,
        "stable per card"
    );
}

#[tokio::test]
async fn uploadimg_takes_a_multipart_buffer_and_returns_a_cdn_url() {
    let t = TestSim::start().await;
    let (_, token) = setup(&t).await;
    let png = b"\x89PNG\r\n\x1a\n rest of a png".to_vec();
    let form = reqwest::multipart::Form::new().part(
        "buffer",
        reqwest::multipart::Part::bytes(png)
            .file_name("logo.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let v: Value = t
        .http
        .post(t.url(&format!("cgi-bin/media/uploadimg?access_token={token}")))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        s(&v, "url").starts_with("http://mmbiz.qpic.cn/mmbiz_png/"),
        "{v}"
    );
    let form = reqwest::multipart::Form::new().part(
        "buffer",
        reqwest::multipart::Part::bytes(b"GIF89a".to_vec()).file_name("a.gif"),
    );
    let v: Value = t
        .http
        .post(t.url(&format!("cgi-bin/media/uploadimg?access_token={token}")))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["errcode"], 40005);
    let v = t
        .post_raw(&format!("cgi-bin/media/uploadimg?access_token={token}"), "")
        .await;
    assert_eq!(v["errcode"], 41005);
}

#[tokio::test]
async fn wxa_code_is_a_png_for_a_mini_program_token_and_json_errors_otherwise() {
    let t = TestSim::start().await;
    let (a, oa_token) = setup(&t).await;
    let mini = &a["mini_program"];
    let v = t
        .get_json(&format!(
            "cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
            s(mini, "app_id"),
            s(mini, "app_secret")
        ))
        .await;
    let token = s(&v, "access_token");
    let resp = t
        .http
        .post(t.url(&format!("wxa/getwxacodeunlimit?access_token={token}")))
        .json(&json!({"scene": "ch=guide", "page": "pages/index/index"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "image/png");
    let bytes = resp.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(bytes.windows(14).any(|w| w == b"scene\0ch=guide"));
    let v = t
        .api(
            &token,
            "wxa/getwxacodeunlimit",
            json!({"scene": "x".repeat(33)}),
        )
        .await;
    assert_eq!(v["errcode"], 45021);
    let v = t
        .api(
            &token,
            "wxa/getwxacodeunlimit",
            json!({"page": "pages/index/index"}),
        )
        .await;
    assert_eq!(v["errcode"], 41011);
    let v = t
        .api(&oa_token, "wxa/getwxacodeunlimit", json!({"scene": "a"}))
        .await;
    assert_eq!(v["errcode"], 48001);
}

#[tokio::test]
async fn by_default_a_card_waits_in_review_and_without_a_callback_url_nothing_is_pushed() {
    let t = TestSim::with(kaika_wechat_sim::SimConfig {
        seed: Some(11),
        frozen_clock: true,
        ..kaika_wechat_sim::SimConfig::default()
    })
    .await;
    let (account, token) = setup(&t).await;
    let held = s(
        &t.api(&token, "card/create", member_card()).await,
        "card_id",
    );
    let refused = s(
        &t.api(&token, "card/create", member_card()).await,
        "card_id",
    );
    // Three days on the simulated clock: a newly registered account's review has not moved.
    t.advance(3 * 24 * 3600).await;
    let token = t.token(&account).await;
    let status = |v: &Value| v["card"]["member_card"]["base_info"]["status"].clone();
    let v = t.api(&token, "card/get", json!({"card_id": held})).await;
    assert_eq!(status(&v), "CARD_STATUS_NOT_VERIFY");
    t.control_post(&format!("cards/{held}/approve"), json!({}))
        .await;
    t.control_post(
        &format!("cards/{refused}/refuse"),
        json!({"reason": "logo"}),
    )
    .await;
    let v = t.api(&token, "card/get", json!({"card_id": held})).await;
    assert_eq!(status(&v), "CARD_STATUS_VERIFY_OK");
    let v = t.api(&token, "card/get", json!({"card_id": refused})).await;
    assert_eq!(status(&v), "CARD_STATUS_VERIFY_FAIL");
    // The account has no callback URL: the review outcome is only visible through card/get.
    let pushes = t.get_json("control/pushes").await;
    let pushes = pushes.as_array().unwrap();
    assert_eq!(pushes.len(), 2);
    for push in pushes {
        assert_eq!(push["outcome"], "no_callback", "{push}");
        assert_eq!(push["attempts"], json!([]), "nothing was sent: {push}");
    }
}
