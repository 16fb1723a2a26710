//! `/wechat/{app_id}/callback` as deployed: the handshake vectors, every bad input answered with its 4xx,
//! a slow worker that does not slow the answer, arbitrary bytes without a 5xx, and the WeChat simulator
//! pushing every event with duplicates, delays and reordering to the same final state.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

mod common;

use kaika_core::jobs::Rounds as _;
use std::time::{Duration, Instant};

use common::TestApp;
use kaika_core::accounts::{self, AppId, MessageMode, NewAccount, SecretText};
use kaika_core::clients::Clients;
use kaika_core::entity::{cards, members, wechat_events};
use kaika_core::events::{self, Worker, WorkerSettings};
use kaika_core::stats;
use kaika_wechat::crypto::{self, MessageCrypt};
use kaika_wechat::event::EncryptedEnvelope;
use kaika_wechat::ClientConfig;
use kaika_wechat_sim::{AccountSpec, FaultKind, FaultSpec, MiniProgramSpec, SimConfig, Simulator};
use rand::{Rng as _, SeedableRng as _};
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set};
use serde_json::json;

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const TOKEN: &str = "kaikatoken";

async fn add_account(
    app: &TestApp,
    app_id: &str,
    token: &str,
    key: &str,
    mode: MessageMode,
    api: &str,
) -> i64 {
    accounts::add(
        &app.app_db,
        &app.master_key,
        NewAccount {
            name: "测试".into(),
            app_id: AppId::parse(app_id).unwrap(),
            app_secret: SecretText::new("0123456789abcdef0123456789abcdef"),
            callback_token: token.into(),
            encoding_aes_key: Some(SecretText::new(key)),
            message_mode: mode,
            mini_program: None,
            api_base_url: api.into(),
            is_sandbox: false,
        },
    )
    .await
    .unwrap()
    .id
}

fn worker(app: &TestApp, settings: WorkerSettings) -> Worker {
    let clients = Clients::new(
        app.app_db.clone(),
        app.master_key.clone(),
        ClientConfig::default(),
    );
    Worker::new(app.app_db.clone(), clients, settings)
}

async fn stored(app: &TestApp) -> Vec<wechat_events::Model> {
    wechat_events::Entity::find()
        .order_by_asc(wechat_events::Column::Id)
        .all(&app.app_db)
        .await
        .unwrap()
}

fn now() -> String {
    chrono::Utc::now().timestamp().to_string()
}

fn get_card_xml(from: &str, time: &str, card: &str, code: &str, outer: &str) -> String {
    format!("<xml><ToUserName><![CDATA[gh_t]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_get_card]]></Event><CardId><![CDATA[{card}]]></CardId><IsGiveByFriend>0</IsGiveByFriend><UserCardCode><![CDATA[{code}]]></UserCardCode><OuterStr><![CDATA[{outer}]]></OuterStr><IsRestoreMemberCard>0</IsRestoreMemberCard></xml>")
}

/// A safe-mode push: the query and the body.
fn safe_push(app_id: &str, xml: &str) -> (String, String) {
    let crypt = MessageCrypt::new(KEY, app_id).unwrap();
    let envelope = EncryptedEnvelope::seal(&crypt, "gh_t", xml);
    let ts = now();
    let sig = crypto::signature(TOKEN, &ts, "99");
    let msg_sig = crypto::msg_signature(TOKEN, &ts, "99", &envelope.encrypt);
    (
        format!("signature={sig}&timestamp={ts}&nonce=99&openid=o&encrypt_type=aes&msg_signature={msg_sig}"),
        envelope.to_xml(),
    )
}

async fn post(
    app: &TestApp,
    app_id: &str,
    query: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    let resp = app
        .client
        .post(app.url(&format!("/wechat/{app_id}/callback?{query}")))
        .header("content-type", "text/xml")
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn the_handshake_answers_the_reference_vectors_over_http() {
    let app = TestApp::spawn().await;
    add_account(
        &app,
        "wx0123456789abcdef",
        "AAAAA",
        KEY,
        MessageMode::Plain,
        "http://x",
    )
    .await;
    let resp = app
        .get("/wechat/wx0123456789abcdef/callback?signature=f464b24fc39322e44b38aa78f5edd27bd1441696&timestamp=1714036504&nonce=1514711492&echostr=4375120948345356249")
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "4375120948345356249");
    let resp = app
        .get("/wechat/wx0123456789abcdef/callback?signature=0000&timestamp=1714036504&nonce=1514711492&echostr=4375120948345356249")
        .await;
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "invalid_signature");
    // Vector B: safe-mode echostr, checked with msg_signature and decrypted.
    add_account(
        &app,
        "wx49f0ab532d5d035a",
        "123456",
        "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
        MessageMode::Safe,
        "http://x",
    )
    .await;
    let resp = app
        .get("/wechat/wx49f0ab532d5d035a/callback?msg_signature=dd6b9c95b495b3f7e2901bfbc76c664930ffdb96&timestamp=1411443780&nonce=437374425&echostr=4ByGGj%2BsVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1%2BbXFXDQQb1o6co6Yh9Bv41n7hOchLF6p%2BQ%3D%3D")
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "5927782489442352469");
    let resp = app
        .get("/wechat/wx9999999999999999/callback?echostr=1")
        .await;
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "account_not_found");
}

#[tokio::test]
async fn bad_pushes_get_their_4xx_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let app_id = "wxb11529c136998cb6";
    add_account(&app, app_id, TOKEN, KEY, MessageMode::Safe, "http://x").await;
    let xml = get_card_xml("oUser", &now(), "pCard", "100000000001", "shop1");
    let (query, body) = safe_push(app_id, &xml);
    let (other_query, other_body) = {
        let crypt = MessageCrypt::new(KEY, "wx1111111111111111").unwrap();
        let env = EncryptedEnvelope::seal(&crypt, "gh_t", &xml);
        let ts = now();
        let sig = crypto::msg_signature(TOKEN, &ts, "1", &env.encrypt);
        (
            format!("timestamp={ts}&nonce=1&encrypt_type=aes&msg_signature={sig}"),
            env.to_xml(),
        )
    };
    let wrong_sig = query.replace("msg_signature=", "msg_signature=0");
    // (name, AppID in the path, query, body, status, code)
    type Case<'a> = (&'a str, &'a str, String, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "wrong msg_signature",
            app_id,
            wrong_sig,
            body.clone().into_bytes(),
            401,
            "invalid_signature",
        ),
        (
            "another AppID inside",
            app_id,
            other_query,
            other_body.into_bytes(),
            403,
            "app_id_mismatch",
        ),
        (
            "no query",
            app_id,
            String::new(),
            body.clone().into_bytes(),
            400,
            "missing_parameter",
        ),
        (
            "not XML",
            app_id,
            query.clone(),
            b"{\"json\": true}".to_vec(),
            400,
            "invalid_xml",
        ),
        (
            "entity declaration",
            app_id,
            query.clone(),
            b"<!DOCTYPE x [<!ENTITY a 'b'>]><xml><Encrypt>&a;</Encrypt></xml>".to_vec(),
            400,
            "invalid_xml",
        ),
        (
            "huge",
            app_id,
            query.clone(),
            vec![b'<'; 200 * 1024],
            413,
            "body_too_large",
        ),
        (
            "unknown account",
            "wx9999999999999999",
            query.clone(),
            body.clone().into_bytes(),
            404,
            "account_not_found",
        ),
        (
            "not an AppID",
            "..%2F..%2Fetc",
            query.clone(),
            body.clone().into_bytes(),
            404,
            "account_not_found",
        ),
    ];
    for (name, target, q, b, status, code) in cases {
        let (got, text) = post(&app, target, &q, b).await;
        assert_eq!(got, status, "{name}: {text}");
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{name}: {text}"));
        assert_eq!(v["code"], code, "{name}");
    }
    assert!(stored(&app).await.is_empty());
    let (status, text) = post(&app, app_id, &query, body.clone()).await;
    assert_eq!((status, text.as_str()), (200, "success"));
    let (status, text) = post(&app, app_id, &query, body).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "success"),
        "a duplicate is acknowledged"
    );
    assert_eq!(stored(&app).await.len(), 1);
}

#[tokio::test]
async fn arbitrary_bytes_never_get_a_server_error() {
    let app = TestApp::spawn().await;
    let app_id = "wxb11529c136998cb6";
    add_account(&app, app_id, TOKEN, KEY, MessageMode::Safe, "http://x").await;
    let (query, body) = safe_push(app_id, &get_card_xml("o", &now(), "pCard", "1", ""));
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261126);
    for i in 0..300 {
        let mut bytes = body.clone().into_bytes();
        match i % 4 {
            0 => bytes = (0..rng.gen_range(0..600)).map(|_| rng.gen()).collect(),
            1 => {
                for _ in 0..rng.gen_range(1..8) {
                    let at = rng.gen_range(0..bytes.len());
                    bytes[at] = rng.gen();
                }
            }
            2 => bytes.truncate(rng.gen_range(0..bytes.len())),
            _ => {
                let at = rng.gen_range(0..bytes.len());
                let junk: Vec<u8> = (0..rng.gen_range(1..40)).map(|_| rng.gen()).collect();
                bytes.splice(at..at, junk);
            }
        }
        let (status, text) = post(&app, app_id, &query, bytes).await;
        assert!((200..500).contains(&status), "case {i}: {status} {text}");
    }
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_slow_or_stopped_worker_does_not_slow_the_answer_to_wechat() {
    let app = TestApp::spawn().await;
    let app_id = "wxb11529c136998cb6";
    // A WeChat that accepts connections and never answers: the worker's userinfo/get hangs until the
    // client's timeout, while pushes keep arriving and must be answered at once.
    let blackhole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let blackhole_url = format!("http://{}", blackhole.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = blackhole.accept().await {
            held.push(stream);
        }
    });
    add_account(&app, app_id, TOKEN, KEY, MessageMode::Safe, &blackhole_url).await;
    let card = "pSlowCard0000000000000000001";
    kaika_core::testing::seed_card(&app.app_db, app_id, card).await;
    let submit = |code: &str| {
        format!("<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o{code}]]></FromUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[submit_membercard_user_info]]></Event><CardId><![CDATA[{card}]]></CardId><UserCardCode><![CDATA[{code}]]></UserCardCode></xml>", now())
    };
    let slow = worker(
        &app,
        WorkerSettings {
            concurrency: 8,
            ..WorkerSettings::default()
        },
    );
    let (q, b) = safe_push(app_id, &submit("100000000001"));
    post(&app, app_id, &q, b).await;
    let busy = tokio::spawn(async move { slow.run_once().await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while events::get(&app.app_db, 1).await.unwrap().status != "processing" {
        assert!(
            Instant::now() < deadline,
            "the worker never claimed the event"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for i in 0..40 {
        let (q, b) = safe_push(app_id, &submit(&format!("1000000001{i:02}")));
        let (status, text) = post(&app, app_id, &q, b).await;
        assert_eq!((status, text.as_str()), (200, "success"));
    }
    // Every answer above came while the worker was still waiting on WeChat (its client gives up after
    // 10 s): answering a push does not wait for the worker.
    let held = events::get(&app.app_db, 1).await.unwrap();
    assert_eq!(
        held.status, "processing",
        "the worker is still stuck on WeChat"
    );
    assert!(!busy.is_finished());
    busy.abort();
    assert_eq!(stored(&app).await.len(), 41);
}

// ------------------------------------------------------------------------------------------------
// The simulator pushing real events
// ------------------------------------------------------------------------------------------------

const SIM_APP: &str = "wx5a5a5a5a5a5a5a5a";

fn member_card_json() -> serde_json::Value {
    json!({"card": {"card_type": "MEMBER_CARD", "member_card": {
        "background_pic_url": "https://mmbiz.qpic.cn/mmbiz/xxx/0",
        "base_info": {
            "logo_url": "http://mmbiz.qpic.cn/mmbiz/yyy/0", "brand_name": "示例店", "code_type": "CODE_TYPE_QRCODE",
            "title": "示例会员卡", "color": "Color010", "notice": "使用时出示此卡", "description": "不可与其他优惠同享",
            "date_info": {"type": "DATE_TYPE_PERMANENT"}, "sku": {"quantity": 100000000}, "get_limit": 1,
            "use_custom_code": false, "can_give_friend": false, "service_phone": "020-88888888",
            "need_push_on_view": true
        },
        "prerogative": "会员享受9折", "supply_bonus": true, "supply_balance": false,
        "wx_activate": true, "wx_activate_after_submit": true,
        "wx_activate_after_submit_url": "https://example.com/activate",
        "discount": 10
    }}})
}

struct SimRun {
    app: TestApp,
    sim: Simulator,
    card_id: i64,
}

impl SimRun {
    async fn snapshot(&self) -> String {
        let members: Vec<String> = members::Entity::find_for_card(self.card_id)
            .order_by_asc(members::Column::Code)
            .all(&self.app.app_db)
            .await
            .unwrap()
            .into_iter()
            .map(|m| {
                format!(
                    "{} {} {:?} {:?}",
                    m.code, m.status, m.oa_openid, m.outer_str
                )
            })
            .collect();
        let card = cards::Entity::find_by_id(self.card_id)
            .one(&self.app.app_db)
            .await
            .unwrap()
            .unwrap();
        let mut funnel = Vec::new();
        for channel in ["", "guide", "shop"] {
            funnel.push(
                stats::totals(&self.app.app_db, self.card_id, channel)
                    .await
                    .unwrap(),
            );
        }
        let views = events::views(&self.app.app_db, self.card_id, None)
            .await
            .unwrap();
        let changes = events::unreconciled_changes(&self.app.app_db, self.card_id)
            .await
            .unwrap()
            .len();
        format!(
            "{members:?} review={} funnel={funnel:?} views={views} changes={changes}",
            card.review_status
        )
    }
}

/// Three members open the card through the simulated component; one views it, one is consumed, one
/// deletes it, and their points change; with `faults` every push type is duplicated, delayed or
/// reordered.
async fn simulated_journey(faults: bool) -> SimRun {
    let app = TestApp::spawn().await;
    let sim = Simulator::new(SimConfig::for_tests(7));
    let served = kaika_wechat_sim::spawn(sim.clone()).await.unwrap();
    let account = sim
        .create_account(AccountSpec {
            app_id: Some(SIM_APP.into()),
            message_mode: Some(kaika_wechat_sim::MessageMode::Safe),
            callback_url: Some(app.url(&format!("/wechat/{SIM_APP}/callback"))),
            mini_program: Some(MiniProgramSpec::default()),
            ..AccountSpec::default()
        })
        .unwrap();
    add_account(
        &app,
        SIM_APP,
        &account.token,
        &account.encoding_aes_key,
        MessageMode::Safe,
        &served.base_url,
    )
    .await;
    let http = reqwest::Client::new();
    let api = |path: &str, token: &str| format!("{}/{path}?access_token={token}", served.base_url);
    let token: serde_json::Value = http
        .get(format!(
            "{}/cgi-bin/token?grant_type=client_credential&appid={SIM_APP}&secret={}",
            served.base_url, account.app_secret
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let created: serde_json::Value = http
        .post(api("card/create", &token))
        .json(&member_card_json())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wechat_card_id = created["card_id"].as_str().unwrap().to_owned();
    let (_, card_id) = kaika_core::testing::seed_card(&app.app_db, SIM_APP, &wechat_card_id).await;
    let mut pending: cards::ActiveModel = cards::Entity::find_by_id(card_id)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap()
        .into();
    pending.review_status = Set("pending".into());
    pending.update(&app.app_db).await.unwrap();
    if faults {
        for (event, fault) in [
            ("user_get_card", FaultKind::Duplicate),
            ("user_del_card", FaultKind::Reorder),
            ("user_view_card", FaultKind::Delay { ms: 300 }),
            ("update_member_card", FaultKind::Duplicate),
            ("user_consume_card", FaultKind::Reorder),
            ("card_not_pass_check", FaultKind::Reorder),
        ] {
            sim.add_fault(FaultSpec {
                path: None,
                push: Some(event.into()),
                fault,
                next: None,
                probability: None,
                seed: None,
            })
            .unwrap();
        }
    }
    let form: serde_json::Value = http
        .post(api("card/membercard/activateuserform/set", &token))
        .json(&json!({"card_id": wechat_card_id,
                      "required_form": {"can_modify": false, "common_field_id_list": ["USER_FORM_INFO_FLAG_MOBILE"]}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(form["errcode"], 0, "{form}");
    sim.refuse_card(&wechat_card_id, "图片不清晰").unwrap();
    // The review after a fix comes later (at the same second a refusal would win).
    sim.advance_clock(Duration::from_secs(60));
    sim.approve_card(&wechat_card_id).unwrap();
    let mut codes = Vec::new();
    for (user, channel) in [("alice", "guide"), ("bob", "shop"), ("carol", "")] {
        let url: serde_json::Value = http
            .post(api("card/membercard/activate/geturl", &token))
            .json(&json!({"card_id": wechat_card_id, "outer_str": channel}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let url = url["url"]
            .as_str()
            .unwrap()
            .split('#')
            .next()
            .unwrap()
            .to_owned();
        let mut found = std::collections::HashMap::new();
        for seg in url
            .split_once('?')
            .unwrap()
            .1
            .split('&')
            .filter(|s| !s.is_empty())
        {
            let (k, v) = seg.split_once('=').unwrap();
            found.insert(k.to_owned(), urlencoding_decode(v));
        }
        let extra: serde_json::Value = http
            .post(format!("{}/component/submit", served.base_url))
            .json(&json!({"encrypt_card_id": found["encrypt_card_id"], "outer_str": found["outer_str"],
                          "biz": found["biz"], "user": user,
                          "answers": {"USER_FORM_INFO_FLAG_MOBILE": "13800138000"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let decrypted: serde_json::Value = http
            .post(api("card/code/decrypt", &token))
            .json(&json!({"encrypt_code": extra["code"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        codes.push(
            decrypted["code"]
                .as_str()
                .unwrap_or_else(|| panic!("{extra} {decrypted}"))
                .to_owned(),
        );
    }
    sim.member_views_card(&codes[0]).unwrap();
    let updated: serde_json::Value = http
        .post(api("card/membercard/updateuser", &token))
        .json(&json!({"card_id": wechat_card_id, "code": codes[0], "bonus": 30, "add_bonus": 30}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["errcode"], 0, "{updated}");
    sim.member_consumes_card(&codes[1], "FROM_API", "一号店")
        .unwrap();
    sim.member_deletes_card(&codes[2]).unwrap();
    // Settle: every push answered, then the worker applies what was stored.
    let w = worker(
        &app,
        WorkerSettings {
            retry_base: Duration::from_millis(20),
            ..WorkerSettings::default()
        },
    );
    for _ in 0..200 {
        let pending = sim
            .pushes()
            .into_iter()
            .filter(|p| p.outcome == kaika_wechat_sim::PushOutcome::Pending)
            .count();
        w.drain().await.unwrap();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w.drain().await.unwrap();
    for push in sim.pushes() {
        assert_eq!(
            push.outcome,
            kaika_wechat_sim::PushOutcome::Delivered,
            "{push:?}"
        );
    }
    served.handle.stop(true).await;
    SimRun { app, sim, card_id }
}

#[tokio::test]
async fn simulated_pushes_with_duplicates_delays_and_reordering_reach_the_same_final_state() {
    let calm = simulated_journey(false).await;
    let reference = calm.snapshot().await;
    assert!(reference.contains("review=approved"), "{reference}");
    assert!(reference.contains("views=1 changes=1"), "{reference}");
    assert!(reference.contains("deleted"), "{reference}");
    let rough = simulated_journey(true).await;
    assert!(rough.sim.pushes().iter().any(|p| p.duplicate_of.is_some()));
    let duplicates = stored(&rough.app).await.len();
    assert_eq!(
        duplicates,
        stored(&calm.app).await.len(),
        "duplicates were stored twice"
    );
    assert_eq!(rough.snapshot().await, reference);
}

fn urlencoding_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn a_plain_mode_query_replayed_with_another_body_is_refused() {
    let app = TestApp::spawn().await;
    let app_id = "wx5555555555555555";
    add_account(&app, app_id, TOKEN, KEY, MessageMode::Plain, "http://x").await;
    let ts = now();
    let signature = crypto::signature(TOKEN, &ts, "4242");
    let query = format!("signature={signature}&timestamp={ts}&nonce=4242&openid=o");
    let genuine = get_card_xml("oAlice", &ts, "pCard", "100000000001", "shop1");
    assert_eq!(
        post(&app, app_id, &query, genuine.clone()).await,
        (200, "success".into())
    );
    // WeChat re-sending the same push with the same query is answered and deduplicated.
    assert_eq!(
        post(&app, app_id, &query, genuine).await,
        (200, "success".into())
    );
    // A captured query with a forged body, inside the timestamp window.
    let forged = get_card_xml("oMallory", &ts, "pCard", "100000000666", "shop1");
    let (status, text) = post(&app, app_id, &query, forged).await;
    assert_eq!(status, 401, "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["code"], "replayed_nonce");
    let events = stored(&app).await;
    assert_eq!(events.len(), 1, "only the genuine push is stored");
    assert_eq!(events[0].from_user_name, "oAlice");
    // Another nonce, signed by WeChat, is a new push.
    let signature = crypto::signature(TOKEN, &ts, "4243");
    let next = format!("signature={signature}&timestamp={ts}&nonce=4243&openid=o");
    let xml = get_card_xml("oBob", &ts, "pCard", "100000000002", "shop1");
    assert_eq!(
        post(&app, app_id, &next, xml).await,
        (200, "success".into())
    );
    assert_eq!(stored(&app).await.len(), 2);
}

/// The query of a plain-mode push (plain mode signs the query only).
fn plain_push(timestamp: &str, nonce: &str) -> String {
    let sig = crypto::signature(TOKEN, timestamp, nonce);
    format!("signature={sig}&timestamp={timestamp}&nonce={nonce}&openid=o")
}

async fn refusal_count(app: &TestApp, account_id: i64, code: &str) -> i64 {
    events::refusals(&app.app_db, account_id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.code == code)
        .map_or(0, |r| r.count)
}

#[tokio::test]
async fn each_push_says_whether_it_is_encrypted_whatever_mode_kaika_stores() {
    let app = TestApp::spawn().await;
    // The merchant switched WeChat's console to safe mode before Kaika: encrypted pushes still land.
    let plain_stored = "wxb11529c136998cb6";
    add_account(
        &app,
        plain_stored,
        TOKEN,
        KEY,
        MessageMode::Plain,
        "http://x",
    )
    .await;
    let (query, body) = safe_push(
        plain_stored,
        &get_card_xml("oA", &now(), "pCard", "100000000001", ""),
    );
    assert_eq!(
        post(&app, plain_stored, &query, body).await,
        (200, "success".to_owned())
    );
    // And the other way round: a safe-mode account receiving signed plain pushes.
    let safe_stored = "wx2222222222222222";
    add_account(&app, safe_stored, TOKEN, KEY, MessageMode::Safe, "http://x").await;
    let xml = get_card_xml("oB", &now(), "pCard", "100000000002", "");
    let (status, text) = post(&app, safe_stored, &plain_push(&now(), "7"), xml).await;
    assert_eq!((status, text.as_str()), (200, "success"));
    let rows = stored(&app).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].encrypted, Some(true));
    assert_eq!(rows[0].status, "pending");
    assert_eq!(rows[1].encrypted, Some(false));

    // Encrypted pushes to an account that has no EncodingAESKey: refused, named, counted.
    let keyless = "wx3333333333333333";
    let keyless_id = accounts::add(
        &app.app_db,
        &app.master_key,
        NewAccount {
            name: "无密钥".into(),
            app_id: AppId::parse(keyless).unwrap(),
            app_secret: SecretText::new("0123456789abcdef0123456789abcdef"),
            callback_token: TOKEN.into(),
            encoding_aes_key: None,
            message_mode: MessageMode::Plain,
            mini_program: None,
            api_base_url: "http://x".into(),
            is_sandbox: false,
        },
    )
    .await
    .unwrap()
    .id;
    for code in ["100000000003", "100000000004"] {
        let (query, body) = safe_push(keyless, &get_card_xml("oC", &now(), "pCard", code, ""));
        let (status, text) = post(&app, keyless, &query, body).await;
        assert_eq!(status, 403, "{text}");
        assert!(text.contains("mode_mismatch"), "{text}");
    }
    assert_eq!(refusal_count(&app, keyless_id, "mode_mismatch").await, 2);
    assert_eq!(stored(&app).await.len(), 2, "refused pushes are not stored");
}

#[tokio::test]
async fn verified_pushes_that_cannot_be_applied_are_kept_as_failed_and_acknowledged() {
    let app = TestApp::spawn().await;
    let app_id = "wxb11529c136998cb6";
    let account_id = add_account(&app, app_id, TOKEN, KEY, MessageMode::Safe, "http://x").await;

    // A flag WeChat never sends (IsGiveByFriend=7): verified, so kept with the reason.
    let odd = get_card_xml("oA", &now(), "pCard", "100000000001", "")
        .replace("<IsGiveByFriend>0", "<IsGiveByFriend>7");
    let (query, body) = safe_push(app_id, &odd);
    assert_eq!(
        post(&app, app_id, &query, body.clone()).await,
        (200, "success".to_owned())
    );
    // WeChat's re-send of the same push is absorbed.
    assert_eq!(
        post(&app, app_id, &query, body).await,
        (200, "success".to_owned())
    );
    // A ciphertext that decrypts to something that is not XML at all.
    let (query, body) = safe_push(app_id, "not xml at all");
    assert_eq!(post(&app, app_id, &query, body).await.0, 200);
    // A genuine push an hour late (this server's clock, or WeChat's, is off): kept, not applied.
    let late = get_card_xml("oB", &now(), "pCard", "100000000002", "");
    let crypt = MessageCrypt::new(KEY, app_id).unwrap();
    let envelope = EncryptedEnvelope::seal(&crypt, "gh_t", &late);
    let ts = (chrono::Utc::now().timestamp() - 3600).to_string();
    let sig = crypto::msg_signature(TOKEN, &ts, "5", &envelope.encrypt);
    let late_query = format!("timestamp={ts}&nonce=5&encrypt_type=aes&msg_signature={sig}");
    assert_eq!(
        post(&app, app_id, &late_query, envelope.to_xml()).await,
        (200, "success".to_owned())
    );

    let rows = stored(&app).await;
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert!(rows.iter().all(|r| r.status == "failed"), "{rows:#?}");
    let error = |i: usize| rows[i].last_error.clone().unwrap_or_default();
    assert!(error(0).contains("IsGiveByFriend"), "{}", error(0));
    assert_eq!(rows[0].user_card_code.as_deref(), Some("100000000001"));
    assert!(error(1).starts_with("not applicable"), "{}", error(1));
    assert!(error(2).contains("timestamp"), "{}", error(2));
    // The late push kept its event identity: the same push on time is a duplicate, not a second row.
    let (query, body) = safe_push(app_id, &late);
    assert_eq!(post(&app, app_id, &query, body).await.0, 200);
    assert_eq!(stored(&app).await.len(), 3);
    // An admin's retry applies it like any event (it then fails on the unknown card, with a reason).
    let retried = events::retry(&app.app_db, rows[2].id).await.unwrap();
    assert_eq!(retried.status, "pending");

    // Unauthenticated requests are still refused, not stored, and counted per cause.
    let wrong = safe_push(app_id, &late)
        .0
        .replace("msg_signature=", "msg_signature=0");
    let envelope_body = safe_push(app_id, &late).1;
    for _ in 0..2 {
        assert_eq!(
            post(&app, app_id, &wrong, envelope_body.clone()).await.0,
            401
        );
    }
    // Plain mode does not sign the body: a late plain push proves nothing and is refused.
    let plain = get_card_xml("oC", &now(), "pCard", "100000000003", "");
    let old = (chrono::Utc::now().timestamp() - 3600).to_string();
    let (status, text) = post(&app, app_id, &plain_push(&old, "8"), plain).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("stale_timestamp"), "{text}");
    assert_eq!(stored(&app).await.len(), 3);
    assert_eq!(
        refusal_count(&app, account_id, "invalid_signature").await,
        2
    );
    assert_eq!(refusal_count(&app, account_id, "stale_timestamp").await, 1);
    let last = events::last_push(&app.app_db, account_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.id, rows[2].id);
}
