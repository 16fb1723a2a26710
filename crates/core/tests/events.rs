//! Event ingestion and the event worker on the test database (SQLite, or PostgreSQL with
//! TEST_DATABASE_URL): reference vectors, bad input, every effect, order and duplicate independence,
//! retries, dead letters and concurrent workers.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

use kaika_core::jobs::Rounds as _;
use std::collections::BTreeMap;
use std::time::Duration;

use kaika_core::accounts::{self, AppId, MessageMode, NewAccount, SecretText};
use kaika_core::clients::Clients;
use kaika_core::entity::wechat_card_activity as card_activity;
use kaika_core::entity::wechat_events as event_rows;
use kaika_core::entity::{cards, members};
use kaika_core::events::{self, CallbackParams, IngestSettings, Receipt, Worker, WorkerSettings};
use kaika_core::secrets::MasterKey;
use kaika_core::stats;
use kaika_core::testing::{seed_card, seed_member, TestDb};
use kaika_core::CoreError;
use kaika_wechat::crypto::{self, MessageCrypt};
use kaika_wechat::event::{EncryptedEnvelope, Event};
use kaika_wechat::ClientConfig;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY_A: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_A: &str = "wxb11529c136998cb6";
const VECTOR_C: &str = "jn1L23DB+6ELqJ+6bruv2y+lXOr1Z9ql+KhajIuf4TYXeeAZLVM5kXN6ks165qLRY4VzC6TYt1wQLf6dCG4y9cw5dsZl0+oPOBNl7mLGYwuth7/eFBpMYDXaWBgKW0zd6COiLpmD+PGL1bJwbItZ73HEK9BJ44ccOb+TdrGjfCs4NuIRT29xpORvFmMcgfgTbDu6+E8yEOOWmyY5Da3IC1pGAci47DzjXnarXa+mMfzhnZhIbC0AOd6EFTJTN5DupFGuftJ/fwl2Qt+vvxYWD8FUsed8e8V/OWhWafE06INA2EOV0g1hkrotqPlWJB/kfgIpWiV39J3KyuEbaBo3jcj5AhyaMyS2GU0EmBtWgpR9uGE42DULGgB2yIGo4iOT+3te/ESQrU4llXjAhQ7HlmntIzWp40PV23rKb7z3jVS2YpRNcp+c6YarcnogMLZS8lUgXSmcw6YhkAhU6FyRc6quUbj+H68bgUfm33TZeGriW1AtpPGW1tczqqWjtrW4rGR0N4hNOUMikhjn83zcIrSySYaX2jltpu6bsrcKuYQ=";
const SUBMIT_C: &str = "<xml><ToUserName><![CDATA[gh_3fcea188bf78]]></ToUserName><FromUserName><![CDATA[obLatjlaNQKb8FqOvt1M1x1lIBFE]]></FromUserName><CreateTime>1432668700</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[submit_membercard_user_info]]></Event><CardId><![CDATA[pbLatjtZ7v1BG_ZnTjbW85GYc_E8]]></CardId><UserCardCode><![CDATA[018255396048]]></UserCardCode></xml>";

const CARD: &str = "pZI8Fjwsy5fVPRBeD78J4RmqVvBc";
const TOKEN: &str = "kaikatoken";

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

struct Setup {
    test_db: TestDb,
    key: MasterKey,
    card_id: i64,
    account_id: i64,
}

async fn setup_with(app_id: &str, token: &str, mode: MessageMode, api_base_url: &str) -> Setup {
    let test_db = TestDb::migrated().await;
    let key = MasterKey::generate();
    let account = accounts::add(
        &test_db.db,
        &key,
        NewAccount {
            name: "测试".into(),
            app_id: AppId::parse(app_id).unwrap(),
            app_secret: SecretText::new("0123456789abcdef0123456789abcdef"),
            callback_token: token.into(),
            encoding_aes_key: Some(SecretText::new(KEY_A)),
            message_mode: mode,
            mini_program: None,
            api_base_url: api_base_url.into(),
            is_sandbox: false,
        },
    )
    .await
    .unwrap();
    let (account_id, card_id) = seed_card(&test_db.db, app_id, CARD).await;
    assert_eq!(account_id, account.id);
    Setup {
        test_db,
        key,
        card_id,
        account_id,
    }
}

async fn setup() -> Setup {
    setup_with(APP_A, TOKEN, MessageMode::Safe, "http://127.0.0.1:9").await
}

impl Setup {
    fn worker(&self, settings: WorkerSettings) -> Worker {
        let clients = Clients::new(
            self.test_db.db.clone(),
            self.key.clone(),
            ClientConfig {
                timeout: Duration::from_secs(2),
                busy_retries: 0,
                ..ClientConfig::default()
            },
        );
        Worker::new(self.test_db.db.clone(), clients, settings)
    }

    async fn store(&self, xml: &str) -> Receipt {
        let event = Event::parse(xml).unwrap();
        events::store(&self.test_db.db, self.account_id, &event, xml)
            .await
            .unwrap()
    }

    async fn member(&self, code: &str) -> Option<members::Model> {
        members::Entity::find_for_card(self.card_id)
            .filter(members::Column::Code.eq(code))
            .one(&self.test_db.db)
            .await
            .unwrap()
    }

    async fn card(&self) -> cards::Model {
        cards::Entity::find_by_id(self.card_id)
            .one(&self.test_db.db)
            .await
            .unwrap()
            .unwrap()
    }

    async fn funnel(&self, channel: &str) -> [i64; 4] {
        stats::totals(&self.test_db.db, self.card_id, channel)
            .await
            .unwrap()
    }

    async fn event_rows(&self) -> Vec<event_rows::Model> {
        event_rows::Entity::find()
            .order_by_asc(event_rows::Column::Id)
            .all(&self.test_db.db)
            .await
            .unwrap()
    }

    /// Everything the effects can change, in a comparable form.
    async fn snapshot(&self) -> String {
        let members: Vec<_> = members::Entity::find_for_card(self.card_id)
            .order_by_asc(members::Column::Code)
            .all(&self.test_db.db)
            .await
            .unwrap()
            .into_iter()
            .map(|m| {
                format!(
                    "{} {} {:?} {:?} {:?} {:?}",
                    m.code, m.status, m.oa_openid, m.outer_str, m.unionid, m.membership_number
                )
            })
            .collect();
        let mut funnel = BTreeMap::new();
        for channel in ["", "shop1", "shop2"] {
            funnel.insert(channel, self.funnel(channel).await);
        }
        let activity: Vec<_> = card_activity::Entity::find()
            .all(&self.test_db.db)
            .await
            .unwrap()
            .into_iter()
            .map(|a| {
                format!(
                    "{} {} {:?} {} {} {}",
                    a.kind, a.code, a.outer_str, a.modify_bonus, a.modify_balance, a.occurred_at
                )
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let card = self.card().await;
        format!(
            "members {members:#?}\nfunnel {funnel:?}\nactivity {activity:#?}\nreview {} {:?}",
            card.review_status, card.refuse_reason
        )
    }
}

fn header(from: &str, time: i64, event: &str) -> String {
    format!("<ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>")
}

fn get_card(from: &str, time: i64, code: &str, outer: &str, restore: bool) -> String {
    format!(
        "<xml>{}<CardId><![CDATA[{CARD}]]></CardId><IsGiveByFriend>0</IsGiveByFriend><UserCardCode><![CDATA[{code}]]></UserCardCode><FriendUserName><![CDATA[]]></FriendUserName><OuterId>0</OuterId><OldUserCardCode><![CDATA[]]></OldUserCardCode><OuterStr><![CDATA[{outer}]]></OuterStr><IsRestoreMemberCard>{}</IsRestoreMemberCard><IsRecommendByFriend>0</IsRecommendByFriend><UnionId><![CDATA[u{from}]]></UnionId></xml>",
        header(from, time, "user_get_card"),
        u8::from(restore)
    )
}

fn gift(from: &str, time: i64, code: &str, old: &str, giver: &str) -> String {
    format!(
        "<xml>{}<CardId><![CDATA[{CARD}]]></CardId><IsGiveByFriend>1</IsGiveByFriend><UserCardCode><![CDATA[{code}]]></UserCardCode><FriendUserName><![CDATA[{giver}]]></FriendUserName><OldUserCardCode><![CDATA[{old}]]></OldUserCardCode><IsRestoreMemberCard>0</IsRestoreMemberCard></xml>",
        header(from, time, "user_get_card")
    )
}

fn code_event(event: &str, from: &str, time: i64, code: &str, extra: &str) -> String {
    format!(
        "<xml>{}<CardId><![CDATA[{CARD}]]></CardId><UserCardCode><![CDATA[{code}]]></UserCardCode>{extra}</xml>",
        header(from, time, event)
    )
}

fn review(pass: bool, time: i64, reason: &str) -> String {
    let event = if pass {
        "card_pass_check"
    } else {
        "card_not_pass_check"
    };
    format!(
        "<xml>{}<CardId><![CDATA[{CARD}]]></CardId><RefuseReason><![CDATA[{reason}]]></RefuseReason></xml>",
        header("oPlatform", time, event)
    )
}

fn fast_settings() -> WorkerSettings {
    WorkerSettings {
        retry_base: Duration::from_millis(10),
        retry_max: Duration::from_millis(40),
        max_attempts: 3,
        ..WorkerSettings::default()
    }
}

fn now() -> i64 {
    kaika_core::clock::now().timestamp()
}

/// A plain-mode query as WeChat signs it, with a nonce of its own (a query seen before with another
/// body is refused as a replay).
fn signed_plain(token: &str) -> CallbackParams {
    static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(42);
    let nonce = NONCE
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_string();
    let ts = now().to_string();
    CallbackParams {
        signature: Some(crypto::signature(token, &ts, &nonce)),
        timestamp: Some(ts),
        nonce: Some(nonce),
        ..CallbackParams::default()
    }
}

fn sealed(xml: &str, app_id: &str) -> (CallbackParams, String) {
    let crypt = MessageCrypt::new(KEY_A, app_id).unwrap();
    let envelope = EncryptedEnvelope::seal(&crypt, "gh_test", xml);
    let ts = now().to_string();
    let params = CallbackParams {
        signature: Some(crypto::signature(TOKEN, &ts, "7")),
        msg_signature: Some(crypto::msg_signature(TOKEN, &ts, "7", &envelope.encrypt)),
        timestamp: Some(ts),
        nonce: Some("7".into()),
        encrypt_type: Some("aes".into()),
        echostr: None,
    };
    (params, envelope.to_xml())
}

fn refused_code(err: CoreError) -> String {
    match err {
        CoreError::Refused { refusal, .. } => refusal.code().to_owned(),
        CoreError::NotFound { .. } => "not_found".to_owned(),
        other => format!("unexpected {other:?}"),
    }
}

// ------------------------------------------------------------------------------------------------
// Handshake and decryption against the reference's vectors
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn handshake_answers_the_reference_vectors() {
    let s = setup_with(
        "wx0123456789abcdef",
        "AAAAA",
        MessageMode::Plain,
        "http://x",
    )
    .await;
    let params = CallbackParams::from_query(
        "signature=f464b24fc39322e44b38aa78f5edd27bd1441696&timestamp=1714036504&nonce=1514711492&echostr=4375120948345356249",
    );
    let echo = events::handshake(&s.test_db.db, &s.key, "wx0123456789abcdef", &params)
        .await
        .unwrap();
    assert_eq!(echo, "4375120948345356249");
    let mut wrong = params.clone();
    wrong.signature = Some("f464b24fc39322e44b38aa78f5edd27bd1441697".into());
    let err = events::handshake(&s.test_db.db, &s.key, "wx0123456789abcdef", &wrong)
        .await
        .unwrap_err();
    assert_eq!(refused_code(err), "invalid_signature");

    // Vector B: an encrypted echostr checked with msg_signature and decrypted.
    let test_db = TestDb::migrated().await;
    let key = MasterKey::generate();
    accounts::add(
        &test_db.db,
        &key,
        NewAccount {
            name: "b".into(),
            app_id: AppId::parse("wx49f0ab532d5d035a").unwrap(),
            app_secret: SecretText::new("s"),
            callback_token: "123456".into(),
            encoding_aes_key: Some(SecretText::new(
                "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
            )),
            message_mode: MessageMode::Safe,
            mini_program: None,
            api_base_url: "http://x".into(),
            is_sandbox: false,
        },
    )
    .await
    .unwrap();
    let query = "msg_signature=dd6b9c95b495b3f7e2901bfbc76c664930ffdb96&timestamp=1411443780&nonce=437374425&echostr=4ByGGj%2BsVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1%2BbXFXDQQb1o6co6Yh9Bv41n7hOchLF6p%2BQ%3D%3D";
    let params = CallbackParams::from_query(query);
    let echo = events::handshake(&test_db.db, &key, "wx49f0ab532d5d035a", &params)
        .await
        .unwrap();
    assert_eq!(echo, "5927782489442352469");
    // The same with the `+` left raw in the query.
    let raw_plus = CallbackParams::from_query(&query.replace("%2B", "+"));
    assert_eq!(
        events::handshake(&test_db.db, &key, "wx49f0ab532d5d035a", &raw_plus)
            .await
            .unwrap(),
        "5927782489442352469"
    );
}

#[tokio::test]
async fn vector_c_is_verified_decrypted_and_stored_raw() {
    let s = setup_with(APP_A, "pamtest", MessageMode::Safe, "http://x").await;
    let body = format!("<xml><ToUserName><![CDATA[gh_3fcea188bf78]]></ToUserName><Encrypt><![CDATA[{VECTOR_C}]]></Encrypt></xml>");
    let params = CallbackParams::from_query(
        "signature=76480565cbe296026c53aaacd1ad523a1ddba24f&timestamp=1409304348&nonce=xxxxxx&encrypt_type=aes&msg_signature=08f51abc0b2fa752d7affdba9c19251f3909cefa",
    );
    let no_window = IngestSettings {
        timestamp_window: None,
    };
    let receipt = events::receive(
        &s.test_db.db,
        &s.key,
        APP_A,
        &params,
        body.as_bytes(),
        &no_window,
    )
    .await
    .unwrap();
    assert!(matches!(receipt, Receipt::Stored(_)));
    let rows = s.event_rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].raw_xml, SUBMIT_C);
    assert_eq!(rows[0].event, "submit_membercard_user_info");
    assert_eq!(
        rows[0].dedupe_key,
        "obLatjlaNQKb8FqOvt1M1x1lIBFE|1432668700|submit_membercard_user_info|pbLatjtZ7v1BG_ZnTjbW85GYc_E8|018255396048"
    );
    // The same push again is acknowledged and ignored.
    let again = events::receive(
        &s.test_db.db,
        &s.key,
        APP_A,
        &params,
        body.as_bytes(),
        &no_window,
    )
    .await
    .unwrap();
    assert_eq!(again, Receipt::Duplicate);
    assert_eq!(s.event_rows().await.len(), 1);
    // With the default window the 2014 timestamp is stale, but the signed ciphertext proves the push is
    // WeChat's and it keeps its event identity: the push stored before absorbs it.
    let late = events::receive(
        &s.test_db.db,
        &s.key,
        APP_A,
        &params,
        body.as_bytes(),
        &IngestSettings::default(),
    )
    .await
    .unwrap();
    assert_eq!(late, Receipt::Duplicate);
    assert_eq!(s.event_rows().await.len(), 1);
}

// ------------------------------------------------------------------------------------------------
// Bad input: refused with a code, nothing stored
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_bad_input_is_refused_with_its_code_and_stores_nothing() {
    let s = setup().await;
    let db = &s.test_db.db;
    let settings = IngestSettings::default();
    let xml = get_card("oUser", now(), "100000000001", "shop1", false);
    let (good_params, good_body) = sealed(&xml, APP_A);

    let mut cases: Vec<(&str, CallbackParams, Vec<u8>, &str)> = Vec::new();
    let mut p = good_params.clone();
    p.msg_signature = Some("0".repeat(40));
    cases.push((
        "wrong msg_signature",
        p,
        good_body.clone().into_bytes(),
        "invalid_signature",
    ));
    let mut p = good_params.clone();
    p.msg_signature = None;
    cases.push((
        "no msg_signature",
        p,
        good_body.clone().into_bytes(),
        "missing_parameter",
    ));
    let (other_params, other_body) = sealed(&xml, "wx1111111111111111");
    cases.push((
        "ciphertext for another AppID",
        other_params,
        other_body.into_bytes(),
        "app_id_mismatch",
    ));
    // Truncated Base64 and bad padding need a valid msg_signature over the damaged value to get past
    // the signature check.
    let encrypt = EncryptedEnvelope::parse(&good_body).unwrap().encrypt;
    let resign = |encrypt: &str| {
        let mut p = good_params.clone();
        p.msg_signature = Some(crypto::msg_signature(
            TOKEN,
            p.timestamp.as_deref().unwrap(),
            "7",
            encrypt,
        ));
        let body = EncryptedEnvelope {
            to_user_name: Some("gh".into()),
            encrypt: encrypt.to_owned(),
        }
        .to_xml();
        (p, body.into_bytes())
    };
    let (p, b) = resign(&encrypt[..encrypt.len() - 3]);
    cases.push(("truncated base64", p, b, "decrypt_failed"));
    let (p, b) = resign(&encrypt[..44]);
    cases.push(("not whole blocks", p, b, "decrypt_failed"));
    // In CBC the last byte of the previous block XORs into the pad byte: flipping it breaks the padding.
    let mut raw = base64_decode(&encrypt);
    let n = raw.len();
    raw[n - 17] ^= 0xff;
    let (p, b) = resign(&base64_encode(&raw));
    cases.push(("bad padding", p, b, "decrypt_failed"));
    let (p, _) = sealed(&xml, APP_A);
    cases.push(("not XML", p.clone(), b"hello".to_vec(), "invalid_xml"));
    cases.push((
        "not UTF-8",
        p.clone(),
        vec![0xff, 0xfe, 0x3c],
        "invalid_body",
    ));
    let xxe = br#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>"#;
    cases.push(("entity declaration", p.clone(), xxe.to_vec(), "invalid_xml"));
    let deep = format!("<xml>{}{}</xml>", "<a>".repeat(50), "</a>".repeat(50));
    cases.push(("deep nesting", p.clone(), deep.into_bytes(), "invalid_xml"));
    let huge = format!("<xml><Encrypt>{}</Encrypt></xml>", "A".repeat(70 * 1024));
    cases.push(("huge body", p.clone(), huge.into_bytes(), "body_too_large"));

    for (name, params, body, expected) in cases {
        let err = events::receive(db, &s.key, APP_A, &params, &body, &settings)
            .await
            .expect_err(name);
        assert_eq!(refused_code(err), expected, "{name}");
    }
    let err = events::receive(
        db,
        &s.key,
        "wx9999999999999999",
        &good_params,
        good_body.as_bytes(),
        &settings,
    )
    .await
    .unwrap_err();
    assert_eq!(refused_code(err), "not_found");
    let err = events::receive(
        db,
        &s.key,
        "../../etc",
        &good_params,
        good_body.as_bytes(),
        &settings,
    )
    .await
    .unwrap_err();
    assert_eq!(refused_code(err), "not_found");
    assert!(
        s.event_rows().await.is_empty(),
        "a refused push stored something"
    );

    // The good one goes through.
    let receipt = events::receive(
        db,
        &s.key,
        APP_A,
        &good_params,
        good_body.as_bytes(),
        &settings,
    )
    .await
    .unwrap();
    assert!(matches!(receipt, Receipt::Stored(_)));
}

#[tokio::test]
async fn plain_mode_checks_the_signature_and_unknown_events_are_stored_as_ignored() {
    let s = setup_with("wx0123456789abcdef", TOKEN, MessageMode::Plain, "http://x").await;
    let db = &s.test_db.db;
    let settings = IngestSettings::default();
    let xml = code_event("user_scan_product", "oUser", now(), "1", "");
    let receipt = events::receive(
        db,
        &s.key,
        "wx0123456789abcdef",
        &signed_plain(TOKEN),
        xml.as_bytes(),
        &settings,
    )
    .await
    .unwrap();
    assert!(matches!(receipt, Receipt::Ignored(_)));
    let err = events::receive(
        db,
        &s.key,
        "wx0123456789abcdef",
        &signed_plain("other"),
        xml.as_bytes(),
        &settings,
    )
    .await
    .unwrap_err();
    assert_eq!(refused_code(err), "invalid_signature");
    let err = events::receive(
        db,
        &s.key,
        "wx0123456789abcdef",
        &CallbackParams::default(),
        xml.as_bytes(),
        &settings,
    )
    .await
    .unwrap_err();
    assert_eq!(refused_code(err), "missing_parameter");
    let missing_field = format!("<xml>{}</xml>", header("oUser", now(), "user_del_card"));
    let kept = events::receive(
        db,
        &s.key,
        "wx0123456789abcdef",
        &signed_plain(TOKEN),
        missing_field.as_bytes(),
        &settings,
    )
    .await
    .unwrap();
    // Signed with the Token and fresh: WeChat's, so kept as failed with the reason, not refused.
    assert!(matches!(kept, Receipt::Unapplicable(_)), "{kept:?}");
    let rows = s.event_rows().await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].status, "ignored");
    assert_eq!(rows[1].status, "failed");
    assert!(rows[1]
        .last_error
        .as_deref()
        .unwrap()
        .contains("not applicable"));
    // The worker has nothing to do with it.
    let report = s.worker(fast_settings()).drain().await.unwrap();
    assert_eq!(report.claimed, 0);
}

// ------------------------------------------------------------------------------------------------
// Effects
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn user_get_card_creates_a_claimed_member_with_its_channel_counted_once() {
    let s = setup().await;
    let xml = get_card("oAlice", 1_700_000_000, "100000000001", "shop1", false);
    assert!(matches!(s.store(&xml).await, Receipt::Stored(_)));
    assert_eq!(s.store(&xml).await, Receipt::Duplicate);
    let report = s.worker(fast_settings()).drain().await.unwrap();
    assert_eq!(report.done, 1);
    let member = s.member("100000000001").await.unwrap();
    assert_eq!(member.status, "claimed");
    assert_eq!(member.oa_openid.as_deref(), Some("oAlice"));
    assert_eq!(member.unionid.as_deref(), Some("uoAlice"));
    assert_eq!(member.outer_str.as_deref(), Some("shop1"));
    assert_eq!(s.funnel("shop1").await, [0, 1, 0, 0]);
    // Replaying the applied event changes nothing.
    let id = s.event_rows().await[0].id;
    events::retry(&s.test_db.db, id).await.unwrap();
    s.worker(fast_settings()).drain().await.unwrap();
    assert_eq!(s.funnel("shop1").await, [0, 1, 0, 0]);
    let row = events::get(&s.test_db.db, id).await.unwrap();
    assert_eq!(row.status, "done");
    assert!(row.outcome.unwrap().contains("member"));
}

#[tokio::test]
async fn an_activated_member_stays_active_and_gains_its_channel_from_the_claim() {
    let s = setup().await;
    // The activation stored the member first (the lead's store_member path).
    seed_member(&s.test_db.db, s.card_id, "100000000002").await;
    s.store(&get_card(
        "o100000000002",
        1_700_000_000,
        "100000000002",
        "shop2",
        false,
    ))
    .await;
    s.worker(fast_settings()).drain().await.unwrap();
    let member = s.member("100000000002").await.unwrap();
    assert_eq!(member.status, "active");
    assert_eq!(member.outer_str.as_deref(), Some("shop2"));
    assert_eq!(s.funnel("shop2").await, [0, 1, 0, 0]);
}

#[tokio::test]
async fn deletion_restore_and_gift_are_applied() {
    let s = setup().await;
    let code = "100000000003";
    s.store(&get_card("oBob", 100, code, "shop1", false)).await;
    s.store(&code_event("user_del_card", "oBob", 200, code, ""))
        .await;
    s.worker(fast_settings()).drain().await.unwrap();
    assert_eq!(s.member(code).await.unwrap().status, "deleted");
    assert_eq!(s.funnel("shop1").await, [0, 1, 0, 1]);
    // The member re-adds the deleted card: not a second claim.
    s.store(&get_card("oBob", 300, code, "", true)).await;
    s.worker(fast_settings()).drain().await.unwrap();
    let member = s.member(code).await.unwrap();
    assert_eq!(member.status, "claimed");
    assert_eq!(member.outer_str.as_deref(), Some("shop1"));
    assert_eq!(s.funnel("shop1").await, [0, 1, 0, 1]);
    assert_eq!(s.funnel("").await, [0, 0, 0, 0]);
    // Bob gives the card to Carol: a new code for Carol, Bob's code is gone but not a deletion.
    s.store(&gift("oCarol", 400, "100000000004", code, "oBob"))
        .await;
    s.worker(fast_settings()).drain().await.unwrap();
    assert_eq!(s.member(code).await.unwrap().status, "deleted");
    let carol = s.member("100000000004").await.unwrap();
    assert_eq!(carol.status, "claimed");
    assert_eq!(carol.oa_openid.as_deref(), Some("oCarol"));
    assert_eq!(s.funnel("shop1").await, [0, 1, 0, 1]);
    assert_eq!(s.funnel("").await, [0, 1, 0, 0]);
}

#[tokio::test]
async fn view_consume_update_and_review_events_are_recorded() {
    let s = setup().await;
    let code = "100000000005";
    s.store(&code_event(
        "user_view_card",
        "oDan",
        10,
        code,
        "<OuterStr><![CDATA[shop1]]></OuterStr>",
    ))
    .await;
    s.store(&code_event(
        "user_view_card",
        "oDan",
        11,
        code,
        "<OuterStr><![CDATA[shop1]]></OuterStr>",
    ))
    .await;
    s.store(&code_event(
        "user_view_card",
        "oDan",
        11,
        code,
        "<OuterStr><![CDATA[shop1]]></OuterStr>",
    ))
    .await;
    s.store(&code_event(
        "update_member_card",
        "oDan",
        12,
        code,
        "<ModifyBonus>3</ModifyBonus><ModifyBalance>-100</ModifyBalance>",
    ))
    .await;
    s.store(&code_event("user_consume_card", "oDan", 13, code, "<ConsumeSource><![CDATA[FROM_API]]></ConsumeSource><LocationName><![CDATA[一号店]]></LocationName>")).await;
    s.store(&review(false, 20, "非法代制")).await;
    s.worker(fast_settings()).drain().await.unwrap();
    assert_eq!(
        events::views(&s.test_db.db, s.card_id, Some("shop1"))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        events::views(&s.test_db.db, s.card_id, None).await.unwrap(),
        2
    );
    let changes = events::unreconciled_changes(&s.test_db.db, s.card_id)
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].modify_bonus, changes[0].modify_balance),
        (3, -100)
    );
    let consume = card_activity::Entity::find()
        .filter(card_activity::Column::Kind.eq("user_consume_card"))
        .one(&s.test_db.db)
        .await
        .unwrap()
        .unwrap();
    assert!(consume.detail.unwrap().contains("一号店"));
    let card = s.card().await;
    assert_eq!(card.review_status, "refused");
    assert_eq!(card.refuse_reason.as_deref(), Some("非法代制"));
    // A later pass wins; an older refusal arriving late does not undo it.
    s.store(&review(true, 30, "非法代制")).await;
    s.store(&review(false, 25, "too late")).await;
    s.worker(fast_settings()).drain().await.unwrap();
    let card = s.card().await;
    assert_eq!(card.review_status, "approved");
    assert_eq!(card.refuse_reason, None);
}

/// A WeChat stand-in on loopback answering the token and `userinfo/get` (kaika-core has no simulator
/// dependency; the server's tests use the real simulator).
async fn fake_wechat(user_info: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() < end + 4 + length {
                        continue;
                    }
                    let body = if text.starts_with("POST /cgi-bin/stable_token")
                        || text.starts_with("GET /cgi-bin/token")
                    {
                        format!(
                            r#"{{"access_token":"{}","expires_in":7200}}"#,
                            "T".repeat(120)
                        )
                    } else if text.contains("/card/membercard/userinfo/get") {
                        user_info.to_owned()
                    } else {
                        r#"{"errcode":40001,"errmsg":"invalid credential"}"#.to_owned()
                    };
                    let reply = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                    stream.write_all(reply.as_bytes()).await.ok();
                    return;
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn submit_membercard_user_info_refreshes_the_member_from_userinfo_get() {
    let url = fake_wechat(r#"{"errcode":0,"errmsg":"ok","openid":"oErin","membership_number":"K00000042","bonus":0,"user_info":{"common_field_list":[{"name":"USER_FORM_INFO_FLAG_MOBILE","value":"13800138000"}]},"user_card_status":"NORMAL","has_active":true}"#).await;
    let s = setup_with(APP_A, TOKEN, MessageMode::Safe, &url).await;
    let code = "100000000006";
    s.store(&code_event(
        "submit_membercard_user_info",
        "oErin",
        50,
        code,
        "",
    ))
    .await;
    let report = s.worker(fast_settings()).drain().await.unwrap();
    assert_eq!(report.done, 1, "{:?}", s.event_rows().await);
    let member = s.member(code).await.unwrap();
    assert_eq!(member.oa_openid.as_deref(), Some("oErin"));
    assert_eq!(member.membership_number.as_deref(), Some("K00000042"));
    assert_eq!(member.status, "active");
    assert!(member.form_answers.unwrap().contains("13800138000"));
    // The claim arriving afterwards only adds the channel.
    s.store(&get_card("oErin", 40, code, "shop2", false)).await;
    s.worker(fast_settings()).drain().await.unwrap();
    let member = s.member(code).await.unwrap();
    assert_eq!(member.status, "active");
    assert_eq!(member.outer_str.as_deref(), Some("shop2"));
    assert_eq!(s.funnel("shop2").await, [0, 1, 0, 0]);
}

// ------------------------------------------------------------------------------------------------
// Order, duplicates, retries, dead letters, concurrency
// ------------------------------------------------------------------------------------------------

fn scenario() -> Vec<String> {
    vec![
        get_card("oA", 100, "200000000001", "shop1", false),
        code_event(
            "user_view_card",
            "oA",
            101,
            "200000000001",
            "<OuterStr><![CDATA[shop1]]></OuterStr>",
        ),
        code_event(
            "update_member_card",
            "oA",
            102,
            "200000000001",
            "<ModifyBonus>5</ModifyBonus><ModifyBalance>0</ModifyBalance>",
        ),
        code_event("user_del_card", "oA", 103, "200000000001", ""),
        get_card("oA", 104, "200000000001", "", true),
        get_card("oB", 100, "200000000002", "shop2", false),
        code_event("user_del_card", "oB", 150, "200000000002", ""),
        get_card("oC", 120, "200000000003", "shop1", false),
        gift("oD", 130, "200000000004", "200000000003", "oC"),
        code_event(
            "user_consume_card",
            "oD",
            140,
            "200000000004",
            "<ConsumeSource><![CDATA[FROM_API]]></ConsumeSource>",
        ),
        review(true, 90, ""),
        review(false, 95, "图片不清晰"),
    ]
}

/// A deterministic shuffle (xorshift), so that a failure can be replayed.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = items.to_vec();
    for i in (1..out.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = usize::try_from(state % (i as u64 + 1)).unwrap();
        out.swap(i, j);
    }
    out
}

#[tokio::test]
async fn any_order_with_duplicates_and_interleaved_processing_gives_the_same_final_state() {
    let events = scenario();
    let reference = {
        let s = setup().await;
        for xml in &events {
            s.store(xml).await;
        }
        s.worker(fast_settings()).drain().await.unwrap();
        s.snapshot().await
    };
    assert!(reference.contains("200000000001 claimed"), "{reference}");
    assert!(reference.contains("200000000002 deleted"), "{reference}");
    assert!(reference.contains("200000000003 deleted"), "{reference}");
    assert!(reference.contains("review refused"), "{reference}");
    for seed in 1..=6u64 {
        let s = setup().await;
        let worker = s.worker(WorkerSettings {
            concurrency: usize::try_from(seed % 3 + 1).unwrap(),
            ..fast_settings()
        });
        let mut order = shuffled(&events, seed);
        // Duplicates of some pushes, arriving later.
        order.extend(shuffled(&events, seed + 100).into_iter().take(4));
        for (i, xml) in order.iter().enumerate() {
            s.store(xml).await;
            // Apply as they come, every few pushes.
            if i % (seed as usize % 4 + 1) == 0 {
                worker.drain().await.unwrap();
            }
        }
        worker.drain().await.unwrap();
        assert_eq!(s.snapshot().await, reference, "seed {seed}");
    }
}

#[tokio::test]
async fn a_failing_event_is_retried_with_back_off_then_dead_lettered_without_blocking_others() {
    let s = setup().await;
    // An event for a card this account does not have fails until the attempts run out.
    let unknown = code_event("user_del_card", "oX", 10, "1", "").replace(CARD, "pUnknownCard");
    s.store(&unknown).await;
    s.store(&get_card("oY", 11, "300000000001", "shop1", false))
        .await;
    let worker = s.worker(WorkerSettings {
        retry_base: Duration::from_millis(300),
        retry_max: Duration::from_millis(500),
        ..fast_settings()
    });
    let first = worker.run_once().await.unwrap();
    assert_eq!((first.done, first.retrying), (1, 1));
    assert_eq!(s.member("300000000001").await.unwrap().status, "claimed");
    let failing = s.event_rows().await.remove(0);
    assert_eq!(failing.status, "pending");
    assert_eq!(failing.attempts, 1);
    assert!(failing.next_attempt_at > failing.updated_at);
    assert!(failing
        .last_error
        .as_deref()
        .unwrap()
        .contains("pUnknownCard"));
    // Not due yet: nothing to claim.
    assert_eq!(worker.run_once().await.unwrap().claimed, 0);
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        worker.run_once().await.unwrap();
        if events::get(&s.test_db.db, failing.id).await.unwrap().status == "failed" {
            break;
        }
    }
    let dead = events::get(&s.test_db.db, failing.id).await.unwrap();
    assert_eq!(dead.status, "failed");
    assert_eq!(dead.attempts, 3);
    let listed = events::list(
        &s.test_db.db,
        &events::EventFilter {
            status: Some("failed".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(listed.len(), 1);
    // Once the card exists, a retry applies it.
    seed_card(&s.test_db.db, APP_A, "pUnknownCard").await;
    assert_eq!(events::retry_failed(&s.test_db.db).await.unwrap(), 1);
    worker.drain().await.unwrap();
    assert_eq!(
        events::get(&s.test_db.db, failing.id).await.unwrap().status,
        "done"
    );
}

#[tokio::test]
async fn concurrent_workers_apply_each_event_exactly_once() {
    let s = setup().await;
    for i in 0..120 {
        let code = format!("4000000{:05}", i % 40);
        let xml = if i < 40 {
            get_card(&format!("o{code}"), 1000 + i, &code, "shop1", false)
        } else {
            code_event(
                "user_view_card",
                "oV",
                1000 + i,
                &code,
                "<OuterStr><![CDATA[shop1]]></OuterStr>",
            )
        };
        s.store(&xml).await;
    }
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let worker = s.worker(WorkerSettings {
                batch: 16,
                concurrency: 3,
                ..fast_settings()
            });
            tokio::spawn(async move { worker.drain().await })
        })
        .collect();
    let mut done = 0;
    for w in workers {
        done += w.await.unwrap().unwrap().done;
    }
    assert_eq!(done, 120);
    assert_eq!(s.funnel("shop1").await, [0, 40, 0, 0]);
    assert_eq!(
        events::views(&s.test_db.db, s.card_id, Some("shop1"))
            .await
            .unwrap(),
        80
    );
    assert!(s
        .event_rows()
        .await
        .iter()
        .all(|r| r.status == "done" && r.attempts == 1));
}

#[tokio::test]
async fn an_abandoned_claim_is_taken_over_after_its_lease_and_the_old_holder_cannot_commit() {
    let s = setup().await;
    let Receipt::Stored(id) = s
        .store(&get_card("oZ", 5, "500000000001", "shop1", false))
        .await
    else {
        panic!("not stored");
    };
    // A worker that crashed mid-way: claimed, lease expired.
    let row = events::get(&s.test_db.db, id).await.unwrap();
    let mut crashed: event_rows::ActiveModel = row.into();
    crashed.status = Set("processing".into());
    crashed.lease_holder = Set(Some("ghost".into()));
    crashed.lease_until = Set(Some(
        kaika_core::clock::now() - chrono::Duration::seconds(1),
    ));
    crashed.attempts = Set(1);
    crashed.update(&s.test_db.db).await.unwrap();
    let report = s.worker(fast_settings()).drain().await.unwrap();
    assert_eq!(report.done, 1);
    let row = events::get(&s.test_db.db, id).await.unwrap();
    assert_eq!((row.status.as_str(), row.attempts), ("done", 2));
    assert_eq!(s.funnel("shop1").await, [0, 1, 0, 0]);
    // An event held by a live worker cannot be retried from the CLI.
    let mut held: event_rows::ActiveModel = row.into();
    held.status = Set("processing".into());
    held.lease_until = Set(Some(
        kaika_core::clock::now() + chrono::Duration::seconds(60),
    ));
    held.update(&s.test_db.db).await.unwrap();
    let err = events::retry(&s.test_db.db, id).await.unwrap_err();
    assert_eq!(refused_code(err), "event_in_progress");
    assert_eq!(s.worker(fast_settings()).drain().await.unwrap().claimed, 0);
}

fn base64_decode(text: &str) -> Vec<u8> {
    // A tiny standard-alphabet decoder, to keep this test's dependencies to kaika-core's.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for b in text.bytes().filter(|b| *b != b'=') {
        let v = u32::try_from(ALPHABET.iter().position(|a| *a == b).unwrap()).unwrap();
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).unwrap());
        }
    }
    out
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(
                    ALPHABET[usize::try_from((n >> (18 - 6 * i)) & 63).unwrap()],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ------------------------------------------------------------------------------------------------
// Property: arbitrary bytes into the callback path never panic and are refused cleanly
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn arbitrary_bytes_and_parameters_are_refused_cleanly_never_panicking() {
    use rand::{Rng as _, SeedableRng as _};
    let s = setup().await;
    let db = &s.test_db.db;
    let settings = IngestSettings::default();
    let xml = get_card("oFuzz", now(), "900000000001", "shop1", false);
    let (params, body) = sealed(&xml, APP_A);
    let encrypt = EncryptedEnvelope::parse(&body).unwrap().encrypt;
    let crypt = MessageCrypt::new(KEY_A, APP_A).unwrap();
    let seed = std::env::var("EVENTS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_126u64);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    // The decryptor alone, fast: random Base64-alphabet strings and mutations of a real ciphertext.
    for _ in 0..20_000 {
        let text: String = if rng.gen_bool(0.5) {
            (0..rng.gen_range(0..200))
                .map(|_| char::from(B64[rng.gen_range(0..B64.len())]))
                .collect()
        } else {
            let mut bytes = encrypt.clone().into_bytes();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..bytes.len());
                bytes[at] = B64[rng.gen_range(0..B64.len())];
            }
            bytes.truncate(rng.gen_range(0..=bytes.len()));
            String::from_utf8(bytes).unwrap()
        };
        let _ = crypt.decrypt(&text);
        let _ = Event::parse(&text);
    }
    // The whole callback path, with the database.
    for i in 0..1500 {
        let mut bytes = body.clone().into_bytes();
        match i % 5 {
            0 => bytes = (0..rng.gen_range(0..400)).map(|_| rng.gen()).collect(),
            1 => {
                for _ in 0..rng.gen_range(1..6) {
                    let at = rng.gen_range(0..bytes.len());
                    bytes[at] = rng.gen();
                }
            }
            2 => bytes.truncate(rng.gen_range(0..bytes.len())),
            3 => {
                let at = rng.gen_range(0..bytes.len());
                let junk: Vec<u8> = (0..rng.gen_range(1..30)).map(|_| rng.gen()).collect();
                bytes.splice(at..at, junk);
            }
            _ => {
                // A correctly signed, arbitrary ciphertext-shaped value.
                let fake: String = (0..rng.gen_range(1..120))
                    .map(|_| char::from(B64[rng.gen_range(0..B64.len())]))
                    .collect();
                let ts = params.timestamp.clone().unwrap();
                let mut p = params.clone();
                p.msg_signature = Some(crypto::msg_signature(TOKEN, &ts, "7", &fake));
                let env = EncryptedEnvelope {
                    to_user_name: None,
                    encrypt: fake,
                };
                let result =
                    events::receive(db, &s.key, APP_A, &p, env.to_xml().as_bytes(), &settings)
                        .await;
                assert!(
                    matches!(result, Err(CoreError::Refused { .. })),
                    "case {i}: {result:?}"
                );
                continue;
            }
        }
        let query: String = if rng.gen_bool(0.1) {
            (0..rng.gen_range(0..80))
                .map(|_| char::from(rng.gen_range(32u8..127)))
                .collect()
        } else {
            String::new()
        };
        let p = if query.is_empty() {
            params.clone()
        } else {
            CallbackParams::from_query(&query)
        };
        match events::receive(db, &s.key, APP_A, &p, &bytes, &settings).await {
            Ok(_) | Err(CoreError::Refused { .. }) => {}
            Err(other) => panic!("case {i}: unexpected {other:?}"),
        }
    }
}
