//! `Simulator::restore_card` and `PUT control/cards/{card_id}`: after a restart, a card kept in
//! Kaika's database is re-created with its id, so cached activation parameters, geturl, the
//! component and activation work again.

#![expect(
    clippy::unwrap_used,
    reason = "set-up helpers of an integration test: a panic is the failure report"
)]

use std::sync::Arc;

use kaika_wechat::{MemoryTokenStore, WechatClient};
use kaika_wechat_sim::{
    spawn, AccountSpec, CardStatus, MessageMode, MiniProgramSpec, SimConfig, SimError, Simulator,
    SpawnedSimulator,
};
use serde_json::{json, Value};

const APP_ID: &str = "wx1234567890abcdef";
const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// The account as the sandbox keeps it in its database: every credential explicit.
fn spec() -> AccountSpec {
    AccountSpec {
        app_id: Some(APP_ID.into()),
        app_secret: Some(SECRET.into()),
        token: Some("sandboxtoken".into()),
        encoding_aes_key: Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into()),
        message_mode: Some(MessageMode::Safe),
        callback_url: None,
        mini_program: Some(MiniProgramSpec {
            app_id: Some("wxfedcba0987654321".into()),
            app_secret: Some("fedcba9876543210fedcba9876543210".into()),
        }),
        ..AccountSpec::default()
    }
}

/// A fresh simulator (a "restart") with the account re-created from `spec()`.
async fn boot() -> SpawnedSimulator {
    let server = spawn(Simulator::new(SimConfig::for_tests(rand_seed())))
        .await
        .unwrap();
    server.sim.create_account(spec()).unwrap();
    server
}

/// A different seed per boot, so nothing restored can come from replaying the same draws.
fn rand_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(100);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn client(server: &SpawnedSimulator) -> WechatClient {
    WechatClient::new(
        server.base_url.clone(),
        APP_ID,
        SECRET,
        Arc::new(MemoryTokenStore::new()),
    )
    .unwrap()
}

fn member_card_json() -> Value {
    json!({
        "base_info": {
            "logo_url": "http://mmbiz.qpic.cn/mmbiz/yyy/0", "brand_name": "示例店", "code_type": "CODE_TYPE_QRCODE",
            "title": "示例会员卡", "color": "Color010", "notice": "使用时出示此卡", "description": "不可与其他优惠同享",
            "date_info": {"type": "DATE_TYPE_PERMANENT"}, "sku": {"quantity": 1000}, "get_limit": 1
        },
        "prerogative": "会员享受9折", "supply_bonus": true, "supply_balance": false,
        "wx_activate": true, "wx_activate_after_submit": true,
        "wx_activate_after_submit_url": "https://example.com/activate"
    })
}

fn form_json(card_id: Option<&str>) -> Value {
    let mut form = json!({
        "required_form": {
            "can_modify": false,
            "common_field_id_list": ["USER_FORM_INFO_FLAG_MOBILE"],
            "rich_field_list": [{"type": "FORM_FIELD_RADIO", "name": "兴趣", "values": ["钢琴", "舞蹈"]}]
        },
        "optional_form": {"custom_field_list": ["喜欢的电影"]}
    });
    if let Some(id) = card_id {
        form["card_id"] = json!(id);
    }
    form
}

async fn submit(server: &SpawnedSimulator, encrypt_card_id: &str, biz: &str, user: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}/component/submit", server.base_url))
        .json(&json!({
            "encrypt_card_id": encrypt_card_id, "outer_str": "shop-1", "biz": biz, "user": user,
            "answers": {"USER_FORM_INFO_FLAG_MOBILE": "13800138000", "兴趣": "钢琴"},
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Before the restart: a card created, given a form and approved through the WeChat API.
async fn first_life() -> (String, kaika_wechat::ActivationParams, String, Value, Value) {
    let server = boot().await;
    let c = client(&server);
    let card_id = c
        .create_member_card(&serde_json::from_value(member_card_json()).unwrap())
        .await
        .unwrap();
    c.set_activate_user_form(&serde_json::from_value(form_json(Some(&card_id))).unwrap())
        .await
        .unwrap();
    server.sim.approve_card(&card_id).unwrap();
    let params = c.activation_params(&card_id, Some("shop-1")).await.unwrap();
    let openid = server.sim.openid(APP_ID, "alice").unwrap();
    let card = server.sim.card(&card_id).unwrap();
    server.handle.stop(false).await;
    (
        card_id,
        params,
        openid,
        card.member_card,
        card.form.unwrap(),
    )
}

#[tokio::test]
async fn a_restored_card_activates_with_the_parameters_cached_before_the_restart() {
    let (card_id, cached, openid, member_card, form) = first_life().await;

    let server = boot().await;
    server
        .sim
        .restore_card(APP_ID, &card_id, member_card, true, Some(form))
        .unwrap();
    let c = client(&server);

    // The mini-program still holds the extraData fetched before the restart: it must work
    // before anyone calls geturl again.
    let extra = submit(&server, &cached.encrypt_card_id, &cached.biz, "alice").await;
    assert_eq!(extra["card_id"], card_id.as_str(), "{extra}");
    let code = c
        .decrypt_code(extra["code"].as_str().unwrap())
        .await
        .unwrap();
    let info = c
        .activate_temp_info(extra["activate_ticket"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(info.common_field_list[0].value, "13800138000");
    c.activate_member_card(&kaika_wechat::membercard::ActivateRequest {
        membership_number: "M1".into(),
        code: code.clone(),
        card_id: Some(card_id.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let got = c
        .get_code(&kaika_wechat::membercard::CodeGetRequest {
            card_id: Some(&card_id),
            code: &code,
            check_consume: None,
        })
        .await
        .unwrap();
    assert_eq!(
        got.openid, openid,
        "the same user keeps the same openid across restarts"
    );
    assert_eq!(got.outer_str.as_deref(), Some("shop-1"));

    // geturl answers the same parameters as before the restart.
    let fresh = c.activation_params(&card_id, Some("shop-1")).await.unwrap();
    assert_eq!(fresh, cached);

    // The card is listed and reads back as it was.
    let detail = c.get_card(&card_id).await.unwrap();
    let mc = detail.member_card.unwrap();
    assert_eq!(mc.base_info.title, "示例会员卡");
    assert_eq!(
        mc.base_info.status,
        Some(kaika_wechat::card::CardStatus::VerifyOk)
    );
    let list = c
        .batch_get_cards(&kaika_wechat::card::BatchGetRequest {
            offset: 0,
            count: 10,
            status_list: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(list.card_id_list, vec![card_id.clone()]);
    assert_eq!(
        server.sim.card(&card_id).unwrap().quantity,
        999,
        "stock from sku"
    );
}

#[tokio::test]
async fn a_card_restored_unapproved_waits_for_its_review() {
    let server = boot().await;
    let card_id = "pRESTORED0000000000000000001";
    server
        .sim
        .restore_card(
            APP_ID,
            card_id,
            member_card_json(),
            false,
            Some(form_json(None)),
        )
        .unwrap();
    let c = client(&server);
    let e = c.activate_geturl(card_id, None).await.unwrap_err();
    assert_eq!(e.errcode(), Some(40078), "{e}");
    server.sim.approve_card(card_id).unwrap();
    let params = c.activation_params(card_id, None).await.unwrap();
    let extra = submit(&server, &params.encrypt_card_id, &params.biz, "bob").await;
    assert!(extra.get("activate_ticket").is_some(), "{extra}");
    // The form got the card id filled in, as activateuserform/set stores it (an empty one too).
    let mut empty_id = form_json(None);
    empty_id["card_id"] = json!("");
    server
        .sim
        .restore_card(APP_ID, card_id, member_card_json(), true, Some(empty_id))
        .unwrap();
    assert_eq!(
        server.sim.card(card_id).unwrap().form.unwrap()["card_id"],
        card_id
    );
}

#[tokio::test]
async fn restoring_again_replaces_the_template_and_keeps_issued_codes() {
    let server = boot().await;
    let card_id = "pRESTORED0000000000000000002";
    server
        .sim
        .restore_card(
            APP_ID,
            card_id,
            member_card_json(),
            true,
            Some(form_json(None)),
        )
        .unwrap();
    let c = client(&server);
    let params = c.activation_params(card_id, None).await.unwrap();
    let extra = submit(&server, &params.encrypt_card_id, &params.biz, "carol").await;
    let code = c
        .decrypt_code(extra["code"].as_str().unwrap())
        .await
        .unwrap();

    let mut changed = member_card_json();
    changed["base_info"]["title"] = json!("金卡");
    changed["base_info"]["id"] = json!(card_id);
    changed["base_info"]["status"] = json!("CARD_STATUS_VERIFY_OK");
    server
        .sim
        .restore_card(
            APP_ID,
            card_id,
            changed,
            true,
            Some(form_json(Some(card_id))),
        )
        .unwrap();
    let card = server.sim.card(card_id).unwrap();
    assert_eq!(card.member_card["base_info"]["title"], "金卡");
    assert!(
        card.member_card["base_info"].get("id").is_none(),
        "card/get fields are dropped"
    );
    assert_eq!(card.status, CardStatus::VerifyOk);
    assert!(server.sim.issued_code(&code).is_some());
    assert!(c.member_user_info(card_id, &code).await.is_ok());
    assert_eq!(
        server.sim.snapshot()["cards"].as_array().unwrap().len(),
        1,
        "still one card"
    );
}

#[tokio::test]
async fn restore_refuses_what_card_create_and_the_form_would_refuse() {
    let server = boot().await;
    let sim = &server.sim;
    let id = "pRESTORED0000000000000000003";
    let invalid = |r: Result<(), SimError>| matches!(r, Err(SimError::Invalid(_)));

    assert_eq!(
        sim.restore_card("wx0000000000000000", id, member_card_json(), true, None),
        Err(SimError::UnknownAccount("wx0000000000000000".into()))
    );
    // The mini-program is not an official account.
    assert!(matches!(
        sim.restore_card("wxfedcba0987654321", id, member_card_json(), true, None),
        Err(SimError::UnknownAccount(_))
    ));
    assert!(invalid(sim.restore_card(
        APP_ID,
        "",
        member_card_json(),
        true,
        None
    )));
    assert!(invalid(sim.restore_card(APP_ID, id, json!([]), true, None)));
    assert!(invalid(sim.restore_card(
        APP_ID,
        id,
        json!({"prerogative": "x"}),
        true,
        None
    )));
    let mut long_title = member_card_json();
    long_title["base_info"]["title"] = json!("一二三四五六七八九十");
    assert!(invalid(
        sim.restore_card(APP_ID, id, long_title, true, None)
    ));
    let mut no_sku = member_card_json();
    no_sku["base_info"].as_object_mut().unwrap().remove("sku");
    assert!(invalid(sim.restore_card(APP_ID, id, no_sku, true, None)));
    // A form on a card that is not one-tap, a form for another card, a malformed form.
    let mut plain = member_card_json();
    plain["wx_activate"] = json!(false);
    assert!(invalid(sim.restore_card(
        APP_ID,
        id,
        plain.clone(),
        true,
        Some(form_json(None))
    )));
    assert!(invalid(sim.restore_card(
        APP_ID,
        id,
        member_card_json(),
        true,
        Some(form_json(Some("pOTHER")))
    )));
    assert!(invalid(sim.restore_card(
        APP_ID,
        id,
        member_card_json(),
        true,
        Some(json!({}))
    )));
    let mut bad_field = form_json(None);
    bad_field["required_form"]["common_field_id_list"] = json!(["USER_FORM_INFO_FLAG_SHOE_SIZE"]);
    assert!(invalid(sim.restore_card(
        APP_ID,
        id,
        member_card_json(),
        true,
        Some(bad_field)
    )));
    assert!(
        sim.card(id).is_none(),
        "nothing was stored by the refused calls"
    );
    // A card without a form is fine (it just cannot be opened yet), even when not one-tap.
    sim.restore_card(APP_ID, id, plain, true, None).unwrap();
    // Another account cannot take the id over.
    let other = sim.create_account(AccountSpec::default()).unwrap();
    assert!(invalid(sim.restore_card(
        &other.app_id,
        id,
        member_card_json(),
        true,
        None
    )));
}

#[tokio::test]
async fn the_control_api_restores_a_card_too() {
    let server = boot().await;
    let http = reqwest::Client::new();
    let url = format!(
        "{}/control/cards/pRESTORED0000000000000000004",
        server.base_url
    );
    let resp = http
        .put(&url)
        .json(&json!({"app_id": APP_ID, "member_card": member_card_json(), "approved": true, "form": form_json(None)}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "CARD_STATUS_VERIFY_OK");
    let params = client(&server)
        .activation_params("pRESTORED0000000000000000004", None)
        .await
        .unwrap();
    assert_eq!(v["encrypt_card_id"], params.encrypt_card_id.as_str());
    let resp = http
        .put(&url)
        .json(&json!({"app_id": "wx0000000000000000", "member_card": member_card_json()}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = http
        .put(&url)
        .json(&json!({"app_id": APP_ID, "member_card": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = http.put(&url).body("not json").send().await.unwrap();
    assert_eq!(resp.status(), 400);
}
