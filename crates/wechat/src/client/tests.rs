use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::fake::{Fake, Req, Resp};
use super::*;
use crate::card::tests::sketch_card;
use crate::token::MemoryTokenStore;

fn fast_config() -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(5),
        busy_base_delay: Duration::from_millis(1),
        busy_max_delay: Duration::from_millis(4),
        ..ClientConfig::default()
    }
}

/// Issues `token-N` from both token endpoints and answers card calls with `card`.
fn upstream(card: impl Fn(&Req, &str) -> Resp + Send + Sync + 'static) -> Fake {
    let issued = AtomicUsize::new(0);
    Fake::start(move |req| match req.path.as_str() {
        "cgi-bin/token" | "cgi-bin/stable_token" => {
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            std::thread::sleep(Duration::from_millis(20));
            Resp::json(json!({"access_token": format!("token-{n}"), "expires_in": 7200}))
        }
        _ => {
            let token = req.query.get("access_token").cloned().unwrap_or_default();
            card(req, &token)
        }
    })
}

fn client(fake: &Fake) -> WechatClient {
    WechatClient::with_config(
        fake.base_url.clone(),
        "wxappid",
        "top-secret",
        Arc::new(MemoryTokenStore::new()),
        fast_config(),
    )
    .unwrap()
}

fn ok(extra: serde_json::Value) -> Resp {
    let mut v = json!({"errcode": 0, "errmsg": "ok"});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    Resp::json(v)
}

#[tokio::test]
async fn the_token_is_fetched_once_and_sent_in_the_query_string() {
    let fake = upstream(|_, _| ok(json!({"code": "751234212312"})));
    let c = client(&fake);
    assert_eq!(
        c.decrypt_code("XXIzTtMqCxwOaawoE91+VJdsFmv7b8g0VZIZkqf4GWA60Fzpc8ksZ/5ZZ0DVkXdE")
            .await
            .unwrap(),
        "751234212312"
    );
    assert_eq!(c.decrypt_code("a").await.unwrap(), "751234212312");
    assert_eq!(fake.count("cgi-bin/stable_token"), 1);
    let token_req = fake.last("cgi-bin/stable_token");
    assert_eq!(
        token_req.json(),
        json!({"grant_type":"client_credential","appid":"wxappid","secret":"top-secret","force_refresh":false})
    );
    let call = fake.last("card/code/decrypt");
    assert_eq!(call.method, "POST");
    assert_eq!(
        call.query.get("access_token").map(String::as_str),
        Some("token-1")
    );
    assert!(call.content_type.starts_with("application/json"));
    assert_eq!(call.json(), json!({"encrypt_code": "a"}));
}

#[tokio::test]
async fn the_classic_token_endpoint_uses_get_with_credentials_in_the_query() {
    let fake = upstream(|_, _| ok(json!({})));
    let c = WechatClient::with_config(
        fake.base_url.clone(),
        "wxappid",
        "top-secret",
        Arc::new(MemoryTokenStore::new()),
        ClientConfig {
            token_endpoint: TokenEndpoint::Classic,
            ..fast_config()
        },
    )
    .unwrap();
    c.delete_card("pCard").await.unwrap();
    let req = fake.last("cgi-bin/token");
    assert_eq!(req.method, "GET");
    assert_eq!(
        req.query.get("grant_type").map(String::as_str),
        Some("client_credential")
    );
    assert_eq!(req.query.get("appid").map(String::as_str), Some("wxappid"));
    assert_eq!(
        req.query.get("secret").map(String::as_str),
        Some("top-secret")
    );
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_by_force_once_and_the_call_retried() {
    let fake = upstream(|_, token| {
        if token == "token-1" {
            Resp::json(
                json!({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest rid: 1"}),
            )
        } else {
            ok(
                json!({"url": "https://mp.weixin.qq.com/bizmall/activatemembercard?action=preshow&&encrypt_card_id=3%2Bm9&outer_str=guide&biz=MzU2ODQzMDM1MQ%3D%3D#wechat_redirect"}),
            )
        }
    });
    let c = client(&fake);
    let params = c.activation_params("pCard", Some("guide")).await.unwrap();
    assert_eq!(params.encrypt_card_id, "3+m9");
    assert_eq!(params.biz, "MzU2ODQzMDM1MQ==");
    assert_eq!(fake.count("card/membercard/activate/geturl"), 2);
    assert_eq!(fake.count("cgi-bin/stable_token"), 2);
    assert_eq!(
        fake.last("cgi-bin/stable_token").json()["force_refresh"],
        json!(true)
    );
    assert_eq!(
        fake.last("card/membercard/activate/geturl").json(),
        json!({"card_id": "pCard", "outer_str": "guide"})
    );
}

#[tokio::test]
async fn a_token_refused_twice_is_reported_after_one_retry() {
    for code in [40001, 40014, 42001] {
        let fake = upstream(move |_, _| Resp::json(json!({"errcode": code, "errmsg": "token"})));
        let c = client(&fake);
        let err = c.member_user_info("pCard", "123").await.unwrap_err();
        assert_eq!(err.errcode(), Some(code));
        assert_eq!(err.kind(), ErrorKind::AccessTokenInvalid);
        assert_eq!(fake.count("card/membercard/userinfo/get"), 2);
        assert_eq!(fake.count("cgi-bin/stable_token"), 2);
    }
}

#[tokio::test]
async fn system_busy_is_retried_with_bounded_back_off() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let fake = upstream(move |_, _| {
        if seen.fetch_add(1, Ordering::SeqCst) < 2 {
            Resp::json(json!({"errcode": -1, "errmsg": "system error"}))
        } else {
            ok(
                json!({"card": {"card_id": "p"}, "openid": "o", "can_consume": true, "user_card_status": "NORMAL"}),
            )
        }
    });
    let c = client(&fake);
    let info = c
        .get_code(&CodeGetRequest {
            card_id: Some("p"),
            code: "1",
            check_consume: Some(true),
        })
        .await
        .unwrap();
    assert!(info.can_consume);
    assert_eq!(fake.count("card/code/get"), 3);
}

#[tokio::test]
async fn system_busy_gives_up_after_the_configured_retries() {
    let fake = upstream(|_, _| Resp::json(json!({"errcode": -1, "errmsg": "system error"})));
    let c = client(&fake);
    let err = c.activate_temp_info("ticket").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SystemBusy);
    assert_eq!(fake.count("card/membercard/activatetempinfo/get"), 4);
}

#[test]
fn back_off_doubles_and_is_capped() {
    let cfg = ClientConfig::default();
    assert_eq!(cfg.busy_delay(0), Duration::from_secs(1));
    assert_eq!(cfg.busy_delay(1), Duration::from_secs(2));
    assert_eq!(cfg.busy_delay(2), Duration::from_secs(4));
    assert_eq!(cfg.busy_delay(3), Duration::from_secs(8));
    assert_eq!(cfg.busy_delay(10), Duration::from_secs(8));
    assert_eq!(cfg.busy_delay(u32::MAX), Duration::from_secs(8));
}

#[tokio::test]
async fn activate_is_never_retried_on_system_busy() {
    let fake = upstream(|_, _| Resp::json(json!({"errcode": -1, "errmsg": "system error"})));
    let c = client(&fake);
    let req = ActivateRequest {
        membership_number: "AAA00000001".into(),
        code: "12312313".into(),
        init_bonus: Some(100),
        ..ActivateRequest::default()
    };
    let err = c.activate_member_card(&req).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SystemBusy);
    assert_eq!(fake.count("card/membercard/activate"), 1);
    assert_eq!(
        fake.last("card/membercard/activate").json(),
        json!({"init_bonus":100,"membership_number":"AAA00000001","code":"12312313"})
    );
}

#[tokio::test]
async fn updateuser_with_deltas_only_is_not_retried_but_absolute_values_are() {
    let fake = upstream(|_, _| Resp::json(json!({"errcode": -1, "errmsg": "system error"})));
    let c = client(&fake);
    let delta_only = UpdateUserRequest {
        code: "1".into(),
        card_id: "p".into(),
        add_bonus: Some(30),
        ..UpdateUserRequest::default()
    };
    let err = c.update_member_user(&delta_only).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.errcode()),
        (ErrorKind::SystemBusy, Some(-1))
    );
    assert_eq!(fake.count("card/membercard/updateuser"), 1);
    let absolute = UpdateUserRequest {
        bonus: Some(3000),
        ..delta_only
    };
    let err = c.update_member_user(&absolute).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.errcode()),
        (ErrorKind::SystemBusy, Some(-1))
    );
    assert_eq!(fake.count("card/membercard/updateuser"), 5);
}

#[tokio::test]
async fn updateuser_answers_are_decoded() {
    let fake = upstream(|_, _| {
        ok(
            json!({"result_bonus": 100, "result_balance": 200, "openid": "oFS7Fjl0WsZ9AMZqrI80nbIq8xrA"}),
        )
    });
    let c = client(&fake);
    let resp = c
        .update_member_user(&UpdateUserRequest {
            code: "179011264953".into(),
            card_id: "p1Pj9jr90_SQRaVqYI239Ka1erkI".into(),
            bonus: Some(100),
            add_bonus: Some(30),
            record_bonus: Some("消费30元，获得3积分".into()),
            ..UpdateUserRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(resp.result_bonus, Some(100));
    assert_eq!(resp.result_balance, Some(200));
    let body = String::from_utf8(fake.last("card/membercard/updateuser").body).unwrap();
    assert!(
        body.contains("消费30元"),
        "Chinese must be sent raw: {body}"
    );
}

#[tokio::test]
async fn ticket_errors_surface_as_typed_kinds() {
    let fake = upstream(|req, _| match req.json()["activate_ticket"].as_str() {
        Some("expired") => {
            Resp::json(json!({"errcode": 72012, "errmsg": "activate_ticket has been expired"}))
        }
        _ => Resp::json(
            json!({"errcode": 72011, "errmsg": "invalid activate_ticket.Maybe this  ticket is not belong this AppId"}),
        ),
    });
    let c = client(&fake);
    assert_eq!(
        c.activate_temp_info("expired").await.unwrap_err().kind(),
        ErrorKind::TicketExpired
    );
    let err = c.activate_temp_info("bad").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidTicket);
    assert_eq!(err.endpoint(), Some("card/membercard/activatetempinfo/get"));
}

#[tokio::test]
async fn temp_info_sample_answer_is_decoded() {
    let fake = upstream(|_, _| {
        ok(
            json!({"info":{"common_field_list":[{"name":"USER_FORM_INFO_FLAG_MOBILE","value":"15*****518"}],"custom_field_list":[{"name":"职业","value":"","value_list":["赛车手","旅行家"]}]}}),
        )
    });
    let c = client(&fake);
    let ticket = "fDZv9eMQAFfrNr3XBoqhb8eUX67DFb6h8yXDelGSMDLfg2OAIGQcU7mEKecnWZBK++vm/tZxZJrbRkdJB/UmpVoJkEsbeH+OefcntAsYDKA=";
    let info = c.activate_temp_info(ticket).await.unwrap();
    assert_eq!(
        info.common(&crate::card::UserFormField::Mobile),
        Some("15*****518")
    );
    assert_eq!(
        info.custom_field_list[0].value_list,
        vec!["赛车手", "旅行家"]
    );
    assert_eq!(
        fake.last("card/membercard/activatetempinfo/get").json()["activate_ticket"],
        json!(ticket)
    );
}

#[tokio::test]
async fn create_sends_the_card_and_returns_its_id() {
    let fake = upstream(|_, _| ok(json!({"card_id": "p1Pj9jr90_SQRaVqYI239Ka1erkI"})));
    let c = client(&fake);
    let id = c.create_member_card(&sketch_card()).await.unwrap();
    assert_eq!(id, "p1Pj9jr90_SQRaVqYI239Ka1erkI");
    let sent = fake.last("card/create");
    let expected = serde_json::to_vec(&CreateCardRequest::member_card(&sketch_card())).unwrap();
    assert_eq!(sent.body, expected);
}

#[tokio::test]
async fn over_long_fields_are_refused_before_any_request() {
    let fake = upstream(|_, _| ok(json!({"card_id": "p"})));
    let c = client(&fake);
    let mut card = sketch_card();
    card.base_info.title = "十个字的会员卡名称啊".into();
    match c.create_member_card(&card).await {
        Err(WechatError::Validation(errs)) => assert_eq!(errs[0].field, "base_info.title"),
        other => panic!("expected validation error, got {other:?}"),
    }
    let long_update = MemberCardUpdate {
        base_info: Some(crate::card::BaseInfoUpdate {
            notice: Some("示".repeat(17)),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        c.update_card("p", &long_update).await.unwrap_err().kind(),
        ErrorKind::Validation
    );
    assert_eq!(fake.total(), 0);
}

#[tokio::test]
async fn card_get_batchget_update_and_form_round_trip() {
    let fake = upstream(|req, _| match req.path.as_str() {
        "card/get" => ok(
            json!({"card": {"card_type": "MEMBER_CARD", "member_card": {"base_info": {"id": "pCard", "title": "示例会员卡", "color": "#63b359", "status": "CARD_STATUS_NOT_VERIFY", "sku": {"quantity": 0, "total_quantity": 100}}, "prerogative": "p", "supply_bonus": true}}}),
        ),
        "card/batchget" => ok(json!({"card_id_list": ["pCard"], "total_num": 1})),
        "card/update" => ok(json!({"send_check": true})),
        _ => ok(json!({})),
    });
    let c = client(&fake);
    let detail = c.get_card("pCard").await.unwrap();
    assert_eq!(detail.card_type, "MEMBER_CARD");
    let mc = detail.member_card.unwrap();
    assert_eq!(mc.base_info.title, "示例会员卡");
    assert_eq!(
        mc.base_info.status,
        Some(crate::card::CardStatus::NotVerify)
    );
    assert_eq!(detail.raw["member_card"]["base_info"]["id"], json!("pCard"));
    let page = c
        .batch_get_cards(&BatchGetRequest {
            offset: 0,
            count: 50,
            status_list: vec![],
        })
        .await
        .unwrap();
    assert_eq!(page.card_id_list, vec!["pCard"]);
    assert!(c
        .batch_get_cards(&BatchGetRequest {
            offset: 0,
            count: 51,
            status_list: vec![]
        })
        .await
        .is_err());
    assert!(c
        .update_card("pCard", &MemberCardUpdate::default())
        .await
        .unwrap());
    c.set_activate_user_form(&crate::card::tests::form_sample())
        .await
        .unwrap();
    assert_eq!(
        fake.last("card/membercard/activateuserform/set").body,
        serde_json::to_vec(&crate::card::tests::form_sample()).unwrap()
    );
}

#[tokio::test]
async fn jscode2session_sends_the_login_code_and_decodes_the_session() {
    let fake = Fake::start(|req| match req.query.get("js_code").map(String::as_str) {
        Some("good") => Resp::json(
            json!({"session_key": "nzoqhc3OnwHzeTxJs+inbQ==", "openid": "oVBkZ0aYgDMDIywRdgPW8-joxXc4"}),
        ),
        Some("used") => Resp::json(json!({"errcode": 40163, "errmsg": "code been used, rid: 1"})),
        _ => Resp::json(json!({"errcode": 40029, "errmsg": "invalid code"})),
    });
    let c = client(&fake);
    let s = c.jscode2session("good").await.unwrap();
    assert_eq!(s.openid, "oVBkZ0aYgDMDIywRdgPW8-joxXc4");
    assert_eq!(s.session_key, "nzoqhc3OnwHzeTxJs+inbQ==");
    let req = fake.last("sns/jscode2session");
    assert_eq!(req.method, "GET");
    assert_eq!(req.query.get("appid").map(String::as_str), Some("wxappid"));
    assert_eq!(
        req.query.get("secret").map(String::as_str),
        Some("top-secret")
    );
    assert_eq!(
        req.query.get("grant_type").map(String::as_str),
        Some("authorization_code")
    );
    assert_eq!(
        c.jscode2session("used").await.unwrap_err().kind(),
        ErrorKind::InvalidJsCode
    );
    assert_eq!(
        c.jscode2session("other").await.unwrap_err().errcode(),
        Some(40029)
    );
    assert_eq!(fake.count("cgi-bin/stable_token"), 0);
}

#[tokio::test]
async fn images_upload_as_multipart_buffer() {
    let fake = upstream(|_, _| Resp::json(json!({"url": "http://mmbiz.qpic.cn/mmbiz/abc/0"})));
    let c = client(&fake);
    let url = c
        .upload_image("logo.png", "image/png", b"\x89PNG fake".to_vec())
        .await
        .unwrap();
    assert_eq!(url, "http://mmbiz.qpic.cn/mmbiz/abc/0");
    let req = fake.last("cgi-bin/media/uploadimg");
    assert!(req.content_type.starts_with("multipart/form-data"));
    let body = String::from_utf8_lossy(&req.body);
    assert!(body.contains(r#"name="buffer""#));
    assert!(body.contains(r#"filename="logo.png""#));
    assert!(body.contains("\u{FFFD}PNG fake") || body.contains("PNG fake"));
    assert_eq!(
        req.query.get("access_token").map(String::as_str),
        Some("token-1")
    );
}

#[tokio::test]
async fn wxacode_returns_image_bytes_or_the_json_error() {
    let fake = upstream(|req, _| {
        if req.json()["scene"] == json!("bad") {
            Resp::json(json!({"errcode": 41030, "errmsg": "invalid page rid: 1"}))
        } else {
            Resp {
                status: 200,
                content_type: "image/jpeg",
                body: vec![0xff, 0xd8, 0xff, 0x7b, 1, 2, 3],
                delay: Duration::ZERO,
            }
        }
    });
    let c = client(&fake);
    let img = c
        .wxa_code_unlimited(&WxaCodeRequest {
            scene: "ch=1".into(),
            page: Some("pages/index/index".into()),
            ..WxaCodeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(img.content_type, "image/jpeg");
    assert_eq!(img.bytes, vec![0xff, 0xd8, 0xff, 0x7b, 1, 2, 3]);
    let err = c
        .wxa_code_unlimited(&WxaCodeRequest {
            scene: "bad".into(),
            ..WxaCodeRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(41030));
}

#[tokio::test]
async fn http_failures_garbage_and_timeouts_are_typed() {
    let fake = upstream(|req, _| match req.json()["card_id"].as_str() {
        Some("500") => Resp {
            status: 502,
            content_type: "text/html",
            body: b"<html>bad gateway</html>".to_vec(),
            delay: Duration::ZERO,
        },
        Some("garbage") => Resp {
            status: 200,
            content_type: "application/json",
            body: b"{not json".to_vec(),
            delay: Duration::ZERO,
        },
        Some("slow") => Resp {
            delay: Duration::from_millis(800),
            ..ok(json!({}))
        },
        _ => ok(json!({})),
    });
    let c = WechatClient::with_config(
        fake.base_url.clone(),
        "wxappid",
        "top-secret",
        Arc::new(MemoryTokenStore::new()),
        ClientConfig {
            timeout: Duration::from_millis(300),
            ..fast_config()
        },
    )
    .unwrap();
    assert!(matches!(
        c.delete_card("500").await,
        Err(WechatError::HttpStatus { status: 502, .. })
    ));
    assert_eq!(
        c.delete_card("garbage").await.unwrap_err().kind(),
        ErrorKind::Decode
    );
    let err = c.delete_card("slow").await.unwrap_err();
    assert!(matches!(err, WechatError::Timeout { .. }), "{err:?}");
    c.delete_card("fine").await.unwrap();
}

#[tokio::test]
async fn connection_errors_do_not_leak_the_secret() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = WechatClient::with_config(
        format!("http://{addr}"),
        "wxappid",
        "top-secret",
        Arc::new(MemoryTokenStore::new()),
        ClientConfig {
            token_endpoint: TokenEndpoint::Classic,
            ..fast_config()
        },
    )
    .unwrap();
    let err = c.fetch_token().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    let text = format!("{err} {err:?}");
    assert!(!text.contains("top-secret"), "{text}");
    assert!(!format!("{c:?}").contains("top-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_calls_fetch_one_token_from_the_upstream() {
    let fake = upstream(|_, _| ok(json!({})));
    let store = Arc::new(MemoryTokenStore::new());
    store
        .save(
            "wxappid",
            &crate::token::AccessToken {
                token: "expired".into(),
                expires_at: chrono::Utc::now() - chrono::Duration::seconds(5),
            },
        )
        .await
        .unwrap();
    let c = WechatClient::with_config(fake.base_url.clone(), "wxappid", "s", store, fast_config())
        .unwrap();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.access_token().await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "token-1");
    }
    assert_eq!(fake.count("cgi-bin/stable_token"), 1);
}

#[test]
fn bad_configuration_is_refused() {
    let store = Arc::new(MemoryTokenStore::new());
    assert!(WechatClient::new("ftp://x", "a", "s", store.clone()).is_err());
    assert!(WechatClient::new(PRODUCTION_BASE_URL, "", "s", store.clone()).is_err());
    let c = WechatClient::new("http://127.0.0.1:1/sim/", "a", "s", store).unwrap();
    assert_eq!(c.base_url(), "http://127.0.0.1:1/sim");
}
