//! Event pushes: signed plain pushes, encrypted safe pushes, retries, and member-side events,
//! checked by a receiver that verifies with `kaika_wechat::crypto` (reference §9, §10).

#[cfg(test)]
mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::receiver::{tag, Receiver};
use common::{s, TestSim};
use kaika_wechat::crypto::{msg_signature, signature, verify_signature, MessageCrypt};
use kaika_wechat_sim::SimConfig;
use serde_json::json;

async fn received(rx: &Receiver, n: usize) -> Vec<common::receiver::Received> {
    for _ in 0..200 {
        let all = rx.all();
        if all.len() >= n {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("expected {n} deliveries, got {}", rx.all().len());
}

#[tokio::test]
async fn a_plain_push_carries_a_valid_signature_and_the_official_fields() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    let r = t.ready(Some(&rx.url), "plain").await;
    // card_pass_check from the approval in `ready` arrives first.
    let extra = t.open_card(&r, "alice", "guide").await;
    let all = received(&rx, 2).await;
    let got = all
        .iter()
        .find(|d| tag(&d.body, "Event").as_deref() == Some("user_get_card"))
        .unwrap();
    let token = s(&r.account, "token");
    let q = &got.query;
    assert!(verify_signature(
        &q["signature"],
        &signature(&token, &q["timestamp"], &q["nonce"])
    ));
    assert!(!q.contains_key("msg_signature"));
    let xml = &got.body;
    assert!(
        xml.contains("<Event> <![CDATA[user_get_card]]> </Event>"),
        "spaced like the official sample: {xml}"
    );
    assert_eq!(
        tag(xml, "ToUserName").unwrap(),
        s(&r.account, "original_id")
    );
    assert_eq!(tag(xml, "FromUserName").unwrap(), q["openid"]);
    assert_eq!(tag(xml, "CardId").unwrap(), r.card_id);
    assert_eq!(tag(xml, "OuterStr").unwrap(), "guide");
    assert_eq!(tag(xml, "IsGiveByFriend").unwrap(), "0");
    assert_eq!(tag(xml, "CreateTime").unwrap(), q["timestamp"]);
    let code = tag(xml, "UserCardCode").unwrap();
    let decrypted = t
        .api(
            &r.token,
            "card/code/decrypt",
            json!({"encrypt_code": extra["code"]}),
        )
        .await;
    assert_eq!(decrypted["code"], code.as_str());
    let record = &t.settled_pushes("user_get_card", 1).await[0];
    assert_eq!(record["outcome"], "delivered");
    assert_eq!(record["attempts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_safe_push_is_encrypted_and_carries_msg_signature() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    let r = t.ready(Some(&rx.url), "safe").await;
    t.open_card(&r, "bob", "").await;
    let all = received(&rx, 2).await;
    let (token, key, app_id) = (
        s(&r.account, "token"),
        s(&r.account, "encoding_aes_key"),
        s(&r.account, "app_id"),
    );
    let crypt = MessageCrypt::new(&key, &app_id).unwrap();
    let mut events = Vec::new();
    for d in &all {
        let q = &d.query;
        assert_eq!(q["encrypt_type"], "aes");
        assert!(verify_signature(
            &q["signature"],
            &signature(&token, &q["timestamp"], &q["nonce"])
        ));
        assert!(
            tag(&d.body, "Event").is_none(),
            "safe mode sends ciphertext only"
        );
        assert_eq!(
            tag(&d.body, "ToUserName").unwrap(),
            s(&r.account, "original_id")
        );
        let encrypt = tag(&d.body, "Encrypt").unwrap();
        assert!(verify_signature(
            &q["msg_signature"],
            &msg_signature(&token, &q["timestamp"], &q["nonce"], &encrypt)
        ));
        let xml = crypt.decrypt(&encrypt).unwrap();
        events.push(tag(&xml, "Event").unwrap());
    }
    events.sort();
    assert_eq!(events, ["card_pass_check", "user_get_card"]);
}

#[tokio::test]
async fn a_compatible_push_has_both_the_clear_fields_and_encrypt() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    let r = t.ready(Some(&rx.url), "compatible").await;
    let d = &received(&rx, 1).await[0];
    assert_eq!(tag(&d.body, "Event").unwrap(), "card_pass_check");
    let crypt =
        MessageCrypt::new(&s(&r.account, "encoding_aes_key"), &s(&r.account, "app_id")).unwrap();
    let inner = crypt.decrypt(&tag(&d.body, "Encrypt").unwrap()).unwrap();
    assert_eq!(tag(&inner, "CardId").unwrap(), r.card_id);
    assert!(d.query.contains_key("msg_signature"));
}

#[tokio::test]
async fn failed_deliveries_are_retried_up_to_three_times() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    rx.behaviour.fail_first.store(2, Ordering::SeqCst);
    let r = t.ready(Some(&rx.url), "plain").await;
    let record = &t.settled_pushes("card_pass_check", 1).await[0];
    assert_eq!(record["outcome"], "delivered");
    let attempts = record["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0]["status"], 500);
    let all = received(&rx, 3).await;
    assert!(
        all.iter().all(|d| d.body == all[0].body),
        "retries resend the same message"
    );

    rx.behaviour.fail_first.store(10, Ordering::SeqCst);
    t.control_post(&format!("cards/{}/approve", r.card_id), json!({}))
        .await;
    let records = t.settled_pushes("card_pass_check", 2).await;
    assert_eq!(records[1]["outcome"], "failed");
    assert_eq!(records[1]["attempts"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_slow_callback_times_out_and_is_retried() {
    let t = TestSim::with(SimConfig {
        push_timeout: Duration::from_millis(200),
        ..SimConfig::for_tests(9)
    })
    .await;
    let rx = Receiver::start().await;
    rx.behaviour.sleep_ms.store(600, Ordering::SeqCst);
    t.ready(Some(&rx.url), "plain").await;
    let record = &t.settled_pushes("card_pass_check", 1).await[0];
    assert_eq!(record["outcome"], "failed");
    let attempts = record["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert!(attempts[0]["error"]
        .as_str()
        .unwrap()
        .contains("no answer within 200 ms"));
}

#[tokio::test]
async fn a_garbage_reply_is_recorded_as_bad_reply_without_retry() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    *rx.behaviour.reply.lock().unwrap() = Some("{\"ok\":true}".into());
    t.ready(Some(&rx.url), "plain").await;
    let record = &t.settled_pushes("card_pass_check", 1).await[0];
    assert_eq!(record["outcome"], "bad_reply");
    assert_eq!(record["attempts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn updateuser_and_member_actions_push_their_events() {
    let t = TestSim::start().await;
    let rx = Receiver::start().await;
    let a = t.create_account(json!({"callback_url": rx.url})).await;
    let token = t.token(&a).await;
    let mut card = common::member_card();
    card["card"]["member_card"]["base_info"]["need_push_on_view"] = json!(true);
    card["card"]["member_card"]["base_info"]["get_limit"] = json!(5);
    let card_id = s(&t.api(&token, "card/create", card).await, "card_id");
    t.control_post(&format!("cards/{card_id}/approve"), json!({}))
        .await;
    t.api(
        &token,
        "card/membercard/activateuserform/set",
        common::form(&card_id),
    )
    .await;
    let r = common::Ready {
        account: a,
        token,
        card_id,
    };
    let extra = t.open_card(&r, "carol", "shop").await;
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
        json!({"card_id": r.card_id, "code": code, "bonus": 50, "add_bonus": 50}),
    )
    .await;
    t.api(
        &r.token,
        "card/membercard/updateuser",
        json!({"card_id": r.card_id, "code": code, "bonus": 50}),
    )
    .await;
    let view = t
        .control_post(&format!("codes/{code}/view"), json!({}))
        .await;
    assert_eq!(view["pushed"], true);
    t.control_post(
        &format!("codes/{code}/consume"),
        json!({"location_name": "一号店"}),
    )
    .await;
    let code2 = s(
        &t.api(
            &r.token,
            "card/code/decrypt",
            json!({"encrypt_code": t.open_card(&r, "carol", "").await["code"]}),
        )
        .await,
        "code",
    );
    t.control_post(&format!("codes/{code2}/delete"), json!({}))
        .await;

    let update = &t.settled_pushes("update_member_card", 1).await;
    assert_eq!(update.len(), 1, "an update without a change pushes nothing");
    let xml = update[0]["xml"].as_str().unwrap();
    assert_eq!(tag(xml, "ModifyBonus").unwrap(), "50");
    assert_eq!(tag(xml, "ModifyBalance").unwrap(), "0");
    let viewed = &t.settled_pushes("user_view_card", 1).await[0];
    assert_eq!(
        tag(viewed["xml"].as_str().unwrap(), "OuterStr").unwrap(),
        "shop"
    );
    let consumed = &t.settled_pushes("user_consume_card", 1).await[0];
    assert_eq!(
        tag(consumed["xml"].as_str().unwrap(), "LocationName").unwrap(),
        "一号店"
    );
    assert_eq!(
        tag(consumed["xml"].as_str().unwrap(), "ConsumeSource").unwrap(),
        "FROM_MOBILE_HELPER"
    );
    let deleted = &t.settled_pushes("user_del_card", 1).await[0];
    assert_eq!(deleted["code"], code2.as_str());
    let events: Vec<String> = received(&rx, 7)
        .await
        .iter()
        .filter_map(|d| tag(&d.body, "Event"))
        .collect();
    for e in [
        "card_pass_check",
        "user_get_card",
        "update_member_card",
        "user_view_card",
        "user_consume_card",
        "user_del_card",
    ] {
        assert!(
            events.iter().any(|x| x == e),
            "{e} not received: {events:?}"
        );
    }
}
