//! Contract tests: our client (`kaika-wechat`) against the simulator over loopback HTTP, for every
//! endpoint the client has: success, each documented errcode the client maps to an `ErrorKind`,
//! and the token rules (forced refresh, back-off, single flight, rotation overlap).
//!
//! The two crates were written apart from the same reference, so a test failing here means one of
//! them misreads it.

#![expect(
    clippy::unwrap_used,
    reason = "set-up helpers of an integration test: a panic is the failure report"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use kaika_wechat::card::{
    ActivateUserFormRequest, BaseInfoUpdate, BatchGetRequest, CardStatus, MemberCard,
    MemberCardUpdate, UserFormField,
};
use kaika_wechat::client::WxaCodeRequest;
use kaika_wechat::membercard::{
    ActivateRequest, CodeGetRequest, UpdateUserRequest, UserCardStatus,
};
use kaika_wechat::{
    ClientConfig, ErrorKind, MemoryTokenStore, TokenEndpoint, TokenStore, WechatClient, WechatError,
};
use kaika_wechat_sim::{
    spawn, Account, AccountSpec, FaultKind, FaultSpec, MiniProgramSpec, SimConfig, Simulator,
    SpawnedSimulator,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Shared set-up
// ---------------------------------------------------------------------------------------------

/// Short timeouts and back-off so that error paths run in milliseconds.
fn fast_config(endpoint: TokenEndpoint) -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(3),
        token_endpoint: endpoint,
        busy_retries: 3,
        busy_base_delay: Duration::from_millis(10),
        busy_max_delay: Duration::from_millis(40),
        ..ClientConfig::default()
    }
}

/// A simulator on a loopback port with one account (and its mini-program), and clients for both.
struct Env {
    server: SpawnedSimulator,
    sim: Simulator,
    account: Account,
    /// The official account's client (stable_token, the default).
    client: WechatClient,
    /// The mini-program's client.
    mini: WechatClient,
    http: reqwest::Client,
}

impl Env {
    async fn start() -> Self {
        Self::with_account(AccountSpec {
            mini_program: Some(MiniProgramSpec::default()),
            ..AccountSpec::default()
        })
        .await
    }

    async fn with_account(spec: AccountSpec) -> Self {
        let server = spawn(Simulator::new(SimConfig::for_tests(7)))
            .await
            .unwrap();
        let sim = server.sim.clone();
        let account = sim.create_account(spec).unwrap();
        let client = client_for(
            &server.base_url,
            &account.app_id,
            &account.app_secret,
            TokenEndpoint::Stable,
        );
        let mini = match &account.mini_program {
            Some(m) => client_for(
                &server.base_url,
                &m.app_id,
                &m.app_secret,
                TokenEndpoint::Stable,
            ),
            None => client.clone(),
        };
        Self {
            server,
            sim,
            account,
            client,
            mini,
            http: reqwest::Client::new(),
        }
    }

    /// Another client of the official account with its own token store (another process).
    fn client(&self, endpoint: TokenEndpoint) -> WechatClient {
        client_for(
            &self.server.base_url,
            &self.account.app_id,
            &self.account.app_secret,
            endpoint,
        )
    }

    /// A client of the official account with the given store and settings.
    fn client_with(&self, store: Arc<dyn TokenStore>, config: ClientConfig) -> WechatClient {
        WechatClient::with_config(
            self.server.base_url.clone(),
            self.account.app_id.clone(),
            self.account.app_secret.clone(),
            store,
            config,
        )
        .unwrap()
    }

    fn fault_next(&self, path: &str, fault: FaultKind, next: u32) {
        self.sim
            .add_fault(FaultSpec {
                path: Some(path.to_owned()),
                push: None,
                fault,
                next: Some(next),
                probability: None,
                seed: None,
            })
            .unwrap();
    }

    fn errcode_next(&self, path: &str, errcode: i64, next: u32) {
        self.fault_next(
            path,
            FaultKind::Errcode {
                errcode,
                errmsg: None,
            },
            next,
        );
    }

    fn calls(&self, path: &str) -> u64 {
        self.sim.api_calls(path)
    }

    /// Token fetches of either kind, as the simulator counted them.
    fn token_fetches(&self) -> u64 {
        self.calls("cgi-bin/token") + self.calls("cgi-bin/stable_token")
    }

    /// A jump-type one-tap card created through the client, approved, with its form set.
    async fn ready_card(&self) -> String {
        let card_id = self
            .client
            .create_member_card(&member_card())
            .await
            .unwrap();
        self.sim.approve_card(&card_id).unwrap();
        self.client
            .set_activate_user_form(&form(&card_id))
            .await
            .unwrap();
        card_id
    }

    /// geturl through the client, then the component as the member submits it (JSON variant).
    /// Returns `{activate_ticket, card_id, code}` as the mini-program receives them.
    async fn open_card(
        &self,
        client: &WechatClient,
        card_id: &str,
        user: &str,
        outer_str: &str,
    ) -> Value {
        let params = client
            .activation_params(card_id, Some(outer_str))
            .await
            .unwrap();
        let v: Value = self
            .http
            .post(format!("{}/component/submit", self.server.base_url))
            .json(&json!({
                "encrypt_card_id": params.encrypt_card_id,
                "outer_str": params.outer_str,
                "biz": params.biz,
                "user": user,
                "answers": {
                    "USER_FORM_INFO_FLAG_MOBILE": "13800138000",
                    "兴趣": "钢琴", "喜好": "韩寒", "职业": ["赛车手"],
                },
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v.get("activate_ticket").is_some(), "component answered {v}");
        v
    }

    /// A received (not yet activated) card: `(card_id, plain code, activate_ticket)`.
    async fn received(&self, user: &str) -> (String, String, String) {
        let card_id = self.ready_card().await;
        let extra = self.open_card(&self.client, &card_id, user, "shop-1").await;
        let code = self
            .client
            .decrypt_code(&str_of(&extra, "code"))
            .await
            .unwrap();
        (card_id, code, str_of(&extra, "activate_ticket"))
    }

    /// A received and activated card: `(card_id, plain code)`.
    async fn activated(&self, user: &str) -> (String, String) {
        let (card_id, code, _) = self.received(user).await;
        self.client
            .activate_member_card(&activation(&card_id, &code))
            .await
            .unwrap();
        (card_id, code)
    }
}

fn client_for(base: &str, app_id: &str, secret: &str, endpoint: TokenEndpoint) -> WechatClient {
    WechatClient::with_config(
        base,
        app_id,
        secret,
        Arc::new(MemoryTokenStore::new()),
        fast_config(endpoint),
    )
    .unwrap()
}

fn str_of(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
        .to_owned()
}

/// The §3.1 sample card: jump-type one-tap activation.
fn member_card() -> MemberCard {
    serde_json::from_value(json!({
        "background_pic_url": "https://mmbiz.qpic.cn/mmbiz/xxx/0",
        "base_info": {
            "logo_url": "http://mmbiz.qpic.cn/mmbiz/yyy/0", "brand_name": "示例店", "code_type": "CODE_TYPE_QRCODE",
            "title": "示例会员卡", "color": "Color010", "notice": "使用时出示此卡", "description": "不可与其他优惠同享",
            "date_info": {"type": "DATE_TYPE_PERMANENT"}, "sku": {"quantity": 100000000}, "get_limit": 1,
            "use_custom_code": false, "can_give_friend": false, "service_phone": "020-88888888"
        },
        "prerogative": "会员享受9折", "supply_bonus": true, "supply_balance": false,
        "wx_activate": true, "wx_activate_after_submit": true,
        "wx_activate_after_submit_url": "https://example.com/activate",
        "custom_field1": {"name_type": "FIELD_NAME_TYPE_LEVEL", "url": "https://example.com/level"},
        "discount": 10
    }))
    .unwrap()
}

/// The §4 sample form.
fn form(card_id: &str) -> ActivateUserFormRequest {
    serde_json::from_value(json!({
        "card_id": card_id,
        "service_statement": {"name": "会员守则", "url": "https://www.qq.com"},
        "required_form": {
            "can_modify": false,
            "common_field_id_list": ["USER_FORM_INFO_FLAG_MOBILE"],
            "rich_field_list": [
                {"type": "FORM_FIELD_RADIO", "name": "兴趣", "values": ["钢琴", "舞蹈", "足球"]},
                {"type": "FORM_FIELD_SELECT", "name": "喜好", "values": ["郭敬明", "韩寒", "南派三叔"]},
                {"type": "FORM_FIELD_CHECK_BOX", "name": "职业", "values": ["赛车手", "旅行家"]}
            ]
        },
        "optional_form": {
            "can_modify": false,
            "common_field_id_list": ["USER_FORM_INFO_FLAG_LOCATION", "USER_FORM_INFO_FLAG_BIRTHDAY"],
            "custom_field_list": ["喜欢的电影"]
        }
    }))
    .unwrap()
}

fn activation(card_id: &str, code: &str) -> ActivateRequest {
    ActivateRequest {
        membership_number: format!("M{code}"),
        code: code.to_owned(),
        card_id: Some(card_id.to_owned()),
        init_bonus: Some(100),
        init_bonus_record: Some("开卡赠送".into()),
        init_custom_field_value1: Some("白金".into()),
        ..ActivateRequest::default()
    }
}

/// Asserts an API error with this errcode and kind, from this endpoint.
fn assert_api_error<T: std::fmt::Debug>(
    r: Result<T, WechatError>,
    errcode: i64,
    kind: ErrorKind,
    endpoint: &str,
) {
    let e = match r {
        Ok(v) => panic!("expected errcode {errcode} from {endpoint}, got {v:?}"),
        Err(e) => e,
    };
    assert_eq!(e.errcode(), Some(errcode), "{e}");
    assert_eq!(e.kind(), kind, "{e}");
    assert_eq!(e.endpoint(), Some(endpoint), "{e}");
}

const PNG_1X1: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82";

// ---------------------------------------------------------------------------------------------
// Credentials: cgi-bin/token, stable_token, jscode2session
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn classic_token_is_issued_and_a_wrong_secret_is_bad_credentials() {
    let env = Env::start().await;
    let t = env.client.fetch_token().await.unwrap();
    assert!(t.access_token.len() >= 100);
    assert_eq!(t.expires_in, 7200);
    let wrong = client_for(
        &env.server.base_url,
        &env.account.app_id,
        "0123456789abcdef0123456789abcdef",
        TokenEndpoint::Classic,
    );
    assert_api_error(
        wrong.fetch_token().await,
        40125,
        ErrorKind::BadCredentials,
        "cgi-bin/token",
    );
    let unknown = client_for(
        &env.server.base_url,
        "wx0000000000000000",
        "x",
        TokenEndpoint::Classic,
    );
    assert_api_error(
        unknown.access_token().await,
        40013,
        ErrorKind::BadCredentials,
        "cgi-bin/token",
    );
}

#[tokio::test]
async fn stable_token_is_shared_until_forced_and_forcing_retires_the_old_one_at_once() {
    let env = Env::start().await;
    let a = env.client.fetch_stable_token(false).await.unwrap();
    let b = env
        .client(TokenEndpoint::Stable)
        .fetch_stable_token(false)
        .await
        .unwrap();
    assert_eq!(
        a.access_token, b.access_token,
        "stable_token answers the same token to every caller"
    );
    let forced = env.client.fetch_stable_token(true).await.unwrap();
    assert_ne!(forced.access_token, a.access_token);
    // The old token is refused at once: a raw call with it answers 40001.
    let v: Value = env
        .http
        .post(format!(
            "{}/card/batchget?access_token={}",
            env.server.base_url, a.access_token
        ))
        .body(r#"{"offset":0,"count":1}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["errcode"], 40001, "{v}");
    let wrong = client_for(
        &env.server.base_url,
        &env.account.app_id,
        "nope",
        TokenEndpoint::Stable,
    );
    assert_api_error(
        wrong.fetch_stable_token(false).await,
        40125,
        ErrorKind::BadCredentials,
        "cgi-bin/stable_token",
    );
}

#[tokio::test]
async fn jscode2session_resolves_a_minted_code_once() {
    let env = Env::start().await;
    let minted = env
        .sim
        .mint_login_code(&env.account.app_id, "alice")
        .unwrap();
    let session = env.mini.jscode2session(&minted.code).await.unwrap();
    assert_eq!(session.openid, minted.openid);
    assert!(!session.session_key.is_empty());
    assert_eq!(session.unionid, None, "not an Open Platform account");
    assert_api_error(
        env.mini.jscode2session(&minted.code).await,
        40163,
        ErrorKind::InvalidJsCode,
        "sns/jscode2session",
    );
    assert_api_error(
        env.mini
            .jscode2session("0123456789abcdefABCDEF0123456789")
            .await,
        40029,
        ErrorKind::InvalidJsCode,
        "sns/jscode2session",
    );
    // The official account's credentials are not a mini-program's.
    let code = env
        .sim
        .mint_login_code(&env.account.app_id, "alice")
        .unwrap();
    assert_api_error(
        env.client.jscode2session(&code.code).await,
        40013,
        ErrorKind::BadCredentials,
        "sns/jscode2session",
    );
}

// ---------------------------------------------------------------------------------------------
// Media and mini-program codes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn upload_image_answers_a_cdn_url_and_refuses_other_file_types() {
    let env = Env::start().await;
    let url = env
        .client
        .upload_image("logo.png", "image/png", PNG_1X1.to_vec())
        .await
        .unwrap();
    assert!(url.starts_with("http://mmbiz.qpic.cn/"), "{url}");
    let r = env
        .client
        .upload_image("logo.gif", "image/gif", b"GIF89a\x01\x00\x01\x00".to_vec())
        .await;
    assert_api_error(r, 40005, ErrorKind::OtherApi, "cgi-bin/media/uploadimg");
}

#[tokio::test]
async fn wxa_code_is_an_image_for_the_mini_program_and_errors_are_typed() {
    let env = Env::start().await;
    let request = WxaCodeRequest {
        scene: "ch=42".into(),
        page: Some("pages/index/index".into()),
        check_path: Some(false),
        ..WxaCodeRequest::default()
    };
    let image = env.mini.wxa_code_unlimited(&request).await.unwrap();
    assert_eq!(image.content_type, "image/png");
    assert!(image.bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    let long = WxaCodeRequest {
        scene: "x".repeat(33),
        ..WxaCodeRequest::default()
    };
    assert_api_error(
        env.mini.wxa_code_unlimited(&long).await,
        45021,
        ErrorKind::FieldTooLong,
        "wxa/getwxacodeunlimit",
    );
    // An official-account token is not a mini-program's.
    assert_api_error(
        env.client.wxa_code_unlimited(&request).await,
        48001,
        ErrorKind::Unauthorized,
        "wxa/getwxacodeunlimit",
    );
}

// ---------------------------------------------------------------------------------------------
// Card templates
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_get_and_batchget_a_member_card() {
    let env = Env::start().await;
    let card_id = env.client.create_member_card(&member_card()).await.unwrap();
    assert_eq!(card_id.len(), 28);
    assert!(card_id.starts_with('p'));
    let detail = env.client.get_card(&card_id).await.unwrap();
    assert_eq!(detail.card_type, "MEMBER_CARD");
    let mc = detail.member_card.unwrap();
    assert_eq!(mc.base_info.title, "示例会员卡");
    assert_eq!(mc.base_info.id.as_deref(), Some(card_id.as_str()));
    assert_eq!(mc.base_info.status, Some(CardStatus::NotVerify));
    assert_eq!(
        mc.wx_activate_after_submit_url.as_deref(),
        Some("https://example.com/activate")
    );
    let second = env.client.create_member_card(&member_card()).await.unwrap();
    let list = env
        .client
        .batch_get_cards(&BatchGetRequest {
            offset: 0,
            count: 10,
            status_list: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(list.total_num, 2);
    assert_eq!(list.card_id_list, vec![card_id.clone(), second]);
    env.sim.approve_card(&card_id).unwrap();
    let approved = env
        .client
        .batch_get_cards(&BatchGetRequest {
            offset: 0,
            count: 10,
            status_list: vec![CardStatus::VerifyOk],
        })
        .await
        .unwrap();
    assert_eq!(approved.card_id_list, vec![card_id]);
}

#[tokio::test]
async fn card_errors_map_to_their_kinds() {
    let env = Env::start().await;
    // 41011: prerogative is required; the client does not check it, the simulator does.
    let mut missing = member_card();
    missing.prerogative = String::new();
    assert_api_error(
        env.client.create_member_card(&missing).await,
        41011,
        ErrorKind::MissingField,
        "card/create",
    );
    // 43010: balance needs a permission this account lacks.
    let env2 = Env::with_account(AccountSpec {
        balance_authorized: Some(false),
        ..AccountSpec::default()
    })
    .await;
    let mut balance = member_card();
    balance.supply_balance = true;
    assert_api_error(
        env2.client.create_member_card(&balance).await,
        43010,
        ErrorKind::Unauthorized,
        "card/create",
    );
    // 40073: unknown card on get, update and delete.
    let unknown = "pAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_api_error(
        env.client.get_card(unknown).await,
        40073,
        ErrorKind::UnknownCard,
        "card/get",
    );
    assert_api_error(
        env.client
            .update_card(unknown, &MemberCardUpdate::default())
            .await,
        40073,
        ErrorKind::UnknownCard,
        "card/update",
    );
    assert_api_error(
        env.client.delete_card(unknown).await,
        40073,
        ErrorKind::UnknownCard,
        "card/delete",
    );
    // Another account's card is unknown too.
    let theirs = env2
        .client
        .create_member_card(&member_card())
        .await
        .unwrap();
    assert_api_error(
        env.client.get_card(&theirs).await,
        40073,
        ErrorKind::UnknownCard,
        "card/get",
    );
}

#[tokio::test]
async fn local_length_checks_send_nothing() {
    let env = Env::start().await;
    let mut long = member_card();
    long.base_info.title = "一二三四五六七八九十".into();
    let before = env.calls("card/create");
    let e = env.client.create_member_card(&long).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    let e = env
        .client
        .batch_get_cards(&BatchGetRequest {
            offset: 0,
            count: 51,
            status_list: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert_eq!(env.calls("card/create"), before);
    assert_eq!(env.calls("card/batchget"), 0);
}

#[tokio::test]
async fn update_reports_send_check_and_changes_the_card() {
    let env = Env::start().await;
    let card_id = env.client.create_member_card(&member_card()).await.unwrap();
    let changes = MemberCardUpdate {
        base_info: Some(BaseInfoUpdate {
            title: Some("金卡".into()),
            ..BaseInfoUpdate::default()
        }),
        prerogative: Some("会员享受8折".into()),
        ..MemberCardUpdate::default()
    };
    assert!(
        env.client.update_card(&card_id, &changes).await.unwrap(),
        "a title change is re-audited"
    );
    let mc = env
        .client
        .get_card(&card_id)
        .await
        .unwrap()
        .member_card
        .unwrap();
    assert_eq!(mc.base_info.title, "金卡");
    assert_eq!(mc.prerogative, "会员享受8折");
    assert_eq!(mc.base_info.brand_name, "示例店", "untouched fields stay");
    let phone_only = MemberCardUpdate {
        base_info: Some(BaseInfoUpdate {
            service_phone: Some("020-12345678".into()),
            ..BaseInfoUpdate::default()
        }),
        ..MemberCardUpdate::default()
    };
    assert!(!env.client.update_card(&card_id, &phone_only).await.unwrap());
}

#[tokio::test]
async fn delete_marks_the_card_deleted_and_activation_stops() {
    let env = Env::start().await;
    let card_id = env.ready_card().await;
    env.client.delete_card(&card_id).await.unwrap();
    let mc = env
        .client
        .get_card(&card_id)
        .await
        .unwrap()
        .member_card
        .unwrap();
    assert_eq!(mc.base_info.status, Some(CardStatus::Delete));
    assert_api_error(
        env.client.activation_params(&card_id, None).await,
        40078,
        ErrorKind::CardNotApproved,
        "card/membercard/activate/geturl",
    );
    assert_api_error(
        env.client.set_activate_user_form(&form(&card_id)).await,
        40078,
        ErrorKind::CardNotApproved,
        "card/membercard/activateuserform/set",
    );
}

#[tokio::test]
async fn activate_user_form_is_stored_and_needs_a_one_tap_card() {
    let env = Env::start().await;
    let card_id = env.client.create_member_card(&member_card()).await.unwrap();
    env.client
        .set_activate_user_form(&form(&card_id))
        .await
        .unwrap();
    let stored = env.sim.card(&card_id).unwrap().form.unwrap();
    assert_eq!(
        stored["required_form"]["common_field_id_list"],
        json!(["USER_FORM_INFO_FLAG_MOBILE"])
    );
    assert_eq!(
        stored["optional_form"]["custom_field_list"],
        json!(["喜欢的电影"])
    );
    assert_eq!(
        stored["required_form"]["rich_field_list"][2]["type"],
        "FORM_FIELD_CHECK_BOX"
    );
    let mut plain = member_card();
    plain.wx_activate = Some(false);
    plain.wx_activate_after_submit = None;
    plain.wx_activate_after_submit_url = None;
    let plain_id = env.client.create_member_card(&plain).await.unwrap();
    assert_api_error(
        env.client.set_activate_user_form(&form(&plain_id)).await,
        72026,
        ErrorKind::WrongCardType,
        "card/membercard/activateuserform/set",
    );
    assert_api_error(
        env.client
            .set_activate_user_form(&form("pAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
            .await,
        40073,
        ErrorKind::UnknownCard,
        "card/membercard/activateuserform/set",
    );
}

#[tokio::test]
async fn geturl_needs_an_approved_card_and_parses_into_the_components_extra_data() {
    let env = Env::start().await;
    let card_id = env.client.create_member_card(&member_card()).await.unwrap();
    env.client
        .set_activate_user_form(&form(&card_id))
        .await
        .unwrap();
    assert_api_error(
        env.client.activate_geturl(&card_id, None).await,
        40078,
        ErrorKind::CardNotApproved,
        "card/membercard/activate/geturl",
    );
    env.sim.approve_card(&card_id).unwrap();
    let url = env
        .client
        .activate_geturl(&card_id, Some("门店 1+2/3"))
        .await
        .unwrap();
    assert!(url.contains("action=preshow&&encrypt_card_id="), "{url}");
    assert!(url.ends_with("#wechat_redirect"), "{url}");
    let params = env
        .client
        .activation_params(&card_id, Some("门店 1+2/3"))
        .await
        .unwrap();
    assert_eq!(params.outer_str, "门店 1+2/3", "decoded once, + kept");
    assert_eq!(
        params.biz,
        env.sim.biz(&env.account.app_id).unwrap(),
        "biz keeps its == padding"
    );
    assert!(params.biz.ends_with('='));
    let held = env.sim.card(&card_id).unwrap().encrypt_card_id.unwrap();
    assert_eq!(params.encrypt_card_id, held);
    assert!(
        held.contains('+') && held.contains('/'),
        "the simulator mints ids that need care"
    );
    // Without outer_str the parameter is empty, not missing.
    assert_eq!(
        env.client
            .activation_params(&card_id, None)
            .await
            .unwrap()
            .outer_str,
        ""
    );
    assert_api_error(
        env.client
            .activate_geturl("pAAAAAAAAAAAAAAAAAAAAAAAAAAA", None)
            .await,
        40073,
        ErrorKind::UnknownCard,
        "card/membercard/activate/geturl",
    );
}

// ---------------------------------------------------------------------------------------------
// The member side: decrypt, activatetempinfo, activate, code/get, userinfo, updateuser
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_full_activation_round_through_the_client() {
    let env = Env::start().await;
    let card_id = env.ready_card().await;
    let extra = env
        .open_card(&env.client, &card_id, "alice", "shop-1")
        .await;
    assert_eq!(str_of(&extra, "card_id"), card_id);

    let code = env
        .client
        .decrypt_code(&str_of(&extra, "code"))
        .await
        .unwrap();
    assert_eq!(code.len(), 12);
    let issued = env.sim.issued_code(&code).unwrap();
    assert_eq!(issued.card_id, card_id);

    let info = env
        .client
        .activate_temp_info(&str_of(&extra, "activate_ticket"))
        .await
        .unwrap();
    assert_eq!(info.common(&UserFormField::Mobile), Some("13800138000"));
    let job = info
        .custom_field_list
        .iter()
        .find(|f| f.name == "职业")
        .unwrap();
    assert_eq!(job.value_list, vec!["赛车手".to_owned()]);

    let before = env.client.member_user_info(&card_id, &code).await.unwrap();
    assert!(!before.has_active);
    env.client
        .activate_member_card(&activation(&card_id, &code))
        .await
        .unwrap();

    let openid = env.sim.openid(&env.account.app_id, "alice").unwrap();
    let got = env
        .client
        .get_code(&CodeGetRequest {
            card_id: Some(&card_id),
            code: &code,
            check_consume: None,
        })
        .await
        .unwrap();
    assert_eq!(got.openid, openid);
    assert_eq!(got.card.card_id, card_id);
    assert!(got.can_consume);
    assert_eq!(got.user_card_status, Some(UserCardStatus::Normal));
    assert_eq!(got.outer_str.as_deref(), Some("shop-1"));

    let user = env.client.member_user_info(&card_id, &code).await.unwrap();
    assert!(user.has_active);
    assert_eq!(user.openid, openid);
    assert_eq!(
        user.membership_number.as_deref(),
        Some(format!("M{code}").as_str())
    );
    assert_eq!(user.bonus, Some(100));
    assert_eq!(user.user_card_status, Some(UserCardStatus::Normal));
    assert!(
        user.user_info.common_field_list.is_empty(),
        "jump-type cards keep the form out of userinfo/get"
    );

    let updated = env
        .client
        .update_member_user(&UpdateUserRequest {
            code: code.clone(),
            card_id: card_id.clone(),
            add_bonus: Some(20),
            record_bonus: Some("消费送积分".into()),
            ..UpdateUserRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(updated.result_bonus, Some(120));
    assert_eq!(updated.openid.as_deref(), Some(openid.as_str()));
    let absolute = env
        .client
        .update_member_user(&UpdateUserRequest {
            code: code.clone(),
            card_id: card_id.clone(),
            bonus: Some(7),
            ..UpdateUserRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(absolute.result_bonus, Some(7));
    assert_eq!(
        env.client
            .member_user_info(&card_id, &code)
            .await
            .unwrap()
            .bonus,
        Some(7)
    );
}

#[tokio::test]
async fn decrypt_refuses_an_unknown_encrypted_code() {
    let env = Env::start().await;
    assert_api_error(
        env.client
            .decrypt_code("bm90IGEgY29kZQ+/bm90IGEgY29kZQ==")
            .await,
        40075,
        ErrorKind::InvalidEncryptCode,
        "card/code/decrypt",
    );
}

#[tokio::test]
async fn activate_temp_info_ticket_errors() {
    let env = Env::start().await;
    let (_, _, ticket) = env.received("bob").await;
    let endpoint = "card/membercard/activatetempinfo/get";
    assert_api_error(
        env.client.activate_temp_info("bm90IGEgdGlja2V0").await,
        72011,
        ErrorKind::InvalidTicket,
        endpoint,
    );
    // Another account's client: the ticket is not for its AppID.
    let other = env.sim.create_account(AccountSpec::default()).unwrap();
    let other_client = client_for(
        &env.server.base_url,
        &other.app_id,
        &other.app_secret,
        TokenEndpoint::Stable,
    );
    assert_api_error(
        other_client.activate_temp_info(&ticket).await,
        72011,
        ErrorKind::InvalidTicket,
        endpoint,
    );
    // Intermittent 72012 on a fresh ticket (reference §13): typed and retryable, and the next try works.
    env.errcode_next(endpoint, 72012, 1);
    let e = env.client.activate_temp_info(&ticket).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TicketExpired);
    assert!(e.is_retryable());
    assert!(env.client.activate_temp_info(&ticket).await.is_ok());
    // Real expiry (the simulator's ticket lifetime is 1800 s).
    env.sim.advance_clock(Duration::from_secs(1801));
    assert_api_error(
        env.client.activate_temp_info(&ticket).await,
        72012,
        ErrorKind::TicketExpired,
        endpoint,
    );
}

#[tokio::test]
async fn activate_errors_and_no_retry_on_system_busy() {
    let env = Env::start().await;
    let (card_id, code, _) = env.received("carol").await;
    let endpoint = "card/membercard/activate";
    // 45021: membership_number is at most 32 Chinese characters (96 bytes); the client leaves it to WeChat.
    let mut long = activation(&card_id, &code);
    long.membership_number = "9".repeat(97);
    assert_api_error(
        env.client.activate_member_card(&long).await,
        45021,
        ErrorKind::FieldTooLong,
        endpoint,
    );
    // 41011: membership_number is required.
    let mut empty = activation(&card_id, &code);
    empty.membership_number = String::new();
    assert_api_error(
        env.client.activate_member_card(&empty).await,
        41011,
        ErrorKind::MissingField,
        endpoint,
    );
    // -1 on activate is not retried (Appendix B): one call, and nothing happened.
    env.errcode_next(endpoint, -1, 1);
    let before = env.calls(endpoint);
    assert_api_error(
        env.client
            .activate_member_card(&activation(&card_id, &code))
            .await,
        -1,
        ErrorKind::SystemBusy,
        endpoint,
    );
    assert_eq!(
        env.calls(endpoint),
        before + 1,
        "activate must not be retried on -1"
    );
    assert!(
        !env.client
            .member_user_info(&card_id, &code)
            .await
            .unwrap()
            .has_active
    );
    env.client
        .activate_member_card(&activation(&card_id, &code))
        .await
        .unwrap();
    // 40056: a second activation, and an unknown code.
    assert_api_error(
        env.client
            .activate_member_card(&activation(&card_id, &code))
            .await,
        40056,
        ErrorKind::InvalidCode,
        endpoint,
    );
    assert_api_error(
        env.client
            .activate_member_card(&activation(&card_id, "000000000000"))
            .await,
        40056,
        ErrorKind::InvalidCode,
        endpoint,
    );
}

#[tokio::test]
async fn code_get_userinfo_and_updateuser_code_errors() {
    let env = Env::start().await;
    let (card_id, code) = env.activated("dave").await;
    let unknown = CodeGetRequest {
        card_id: Some(&card_id),
        code: "000000000000",
        check_consume: None,
    };
    assert_api_error(
        env.client.get_code(&unknown).await,
        40056,
        ErrorKind::InvalidCode,
        "card/code/get",
    );
    assert_api_error(
        env.client.member_user_info(&card_id, "000000000000").await,
        40056,
        ErrorKind::InvalidCode,
        "card/membercard/userinfo/get",
    );
    // The code with another card of the account: 40056 as well.
    let other_card = env.client.create_member_card(&member_card()).await.unwrap();
    assert_api_error(
        env.client.member_user_info(&other_card, &code).await,
        40056,
        ErrorKind::InvalidCode,
        "card/membercard/userinfo/get",
    );
    // Consumed: 40099 by default, the status with check_consume false.
    env.sim
        .member_consumes_card(&code, "FROM_API", "一号店")
        .unwrap();
    let consumed = CodeGetRequest {
        card_id: Some(&card_id),
        code: &code,
        check_consume: None,
    };
    assert_api_error(
        env.client.get_code(&consumed).await,
        40099,
        ErrorKind::CodeConsumed,
        "card/code/get",
    );
    let info = env
        .client
        .get_code(&CodeGetRequest {
            check_consume: Some(false),
            ..consumed
        })
        .await
        .unwrap();
    assert_eq!(info.user_card_status, Some(UserCardStatus::Consumed));
    assert!(!info.can_consume);
    let update = UpdateUserRequest {
        code: code.clone(),
        card_id: card_id.clone(),
        bonus: Some(1),
        ..UpdateUserRequest::default()
    };
    assert_api_error(
        env.client.update_member_user(&update).await,
        40099,
        ErrorKind::CodeConsumed,
        "card/membercard/updateuser",
    );
}

#[tokio::test]
async fn updateuser_field_too_long_and_delta_not_retried_on_busy() {
    let env = Env::start().await;
    let (card_id, code) = env.activated("erin").await;
    let endpoint = "card/membercard/updateuser";
    // record_bonus: the client counts characters (≤ 14), so 43 ASCII characters are refused
    // locally and never sent.
    let long_record = UpdateUserRequest {
        code: code.clone(),
        card_id: card_id.clone(),
        add_bonus: Some(1),
        record_bonus: Some("x".repeat(43)),
        ..UpdateUserRequest::default()
    };
    let before = env.calls(endpoint);
    assert_eq!(
        env.client
            .update_member_user(&long_record)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
    assert_eq!(env.calls(endpoint), before);
    // 45021 from WeChat: custom_field_value1 over 4 Chinese characters (12 bytes); not checked locally.
    let long_value = UpdateUserRequest {
        code: code.clone(),
        card_id: card_id.clone(),
        custom_field_value1: Some("一二三四五".into()),
        ..UpdateUserRequest::default()
    };
    assert_api_error(
        env.client.update_member_user(&long_value).await,
        45021,
        ErrorKind::FieldTooLong,
        endpoint,
    );
    // A delta is not retried on -1 (a repeat could double-apply) …
    env.errcode_next(endpoint, -1, 1);
    let delta = UpdateUserRequest {
        code: code.clone(),
        card_id: card_id.clone(),
        add_bonus: Some(5),
        ..UpdateUserRequest::default()
    };
    let before = env.calls(endpoint);
    assert_api_error(
        env.client.update_member_user(&delta).await,
        -1,
        ErrorKind::SystemBusy,
        endpoint,
    );
    assert_eq!(env.calls(endpoint), before + 1);
    // … an absolute value is.
    env.errcode_next(endpoint, -1, 1);
    let absolute = UpdateUserRequest {
        code,
        card_id,
        bonus: Some(300),
        add_bonus: Some(200),
        ..UpdateUserRequest::default()
    };
    assert_eq!(
        env.client
            .update_member_user(&absolute)
            .await
            .unwrap()
            .result_bonus,
        Some(300)
    );
    assert_eq!(env.calls(endpoint), before + 3);
}

// ---------------------------------------------------------------------------------------------
// Token rules: forced refresh, back-off, quota, single flight, rotation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn token_errors_cause_one_forced_refresh_and_one_retry() {
    let env = Env::start().await;
    let card_id = env.client.create_member_card(&member_card()).await.unwrap();
    for errcode in [40001, 42001, 40014] {
        let token = env.client.access_token().await.unwrap();
        let (fetches, gets) = (env.token_fetches(), env.calls("card/get"));
        env.errcode_next("card/get", errcode, 1);
        env.client.get_card(&card_id).await.unwrap();
        assert_eq!(
            env.token_fetches(),
            fetches + 1,
            "errcode {errcode}: one forced refresh"
        );
        assert_eq!(
            env.calls("card/get"),
            gets + 2,
            "errcode {errcode}: one retry"
        );
        assert_ne!(
            env.client.access_token().await.unwrap(),
            token,
            "errcode {errcode}"
        );
        // stable_token refuses a second forced refresh within 30 s: move on.
        env.sim.advance_clock(Duration::from_secs(31));
    }
}

#[tokio::test]
async fn a_second_token_error_is_returned_not_retried_forever() {
    let env = Env::start().await;
    let card_id = env.client.create_member_card(&member_card()).await.unwrap();
    let fetches = env.token_fetches();
    env.errcode_next("card/get", 40001, 2);
    assert_api_error(
        env.client.get_card(&card_id).await,
        40001,
        ErrorKind::AccessTokenInvalid,
        "card/get",
    );
    assert_eq!(env.calls("card/get"), 2);
    assert_eq!(env.token_fetches(), fetches + 1);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_through_the_classic_endpoint() {
    let env = Env::start().await;
    let client = env.client(TokenEndpoint::Classic);
    let card_id = client.create_member_card(&member_card()).await.unwrap();
    assert_eq!(env.calls("cgi-bin/token"), 1);
    // The simulator's clock passes the token's 7200 s; the client's does not, so only WeChat's
    // 42001 tells it.
    env.sim.advance_clock(Duration::from_secs(7201));
    client.get_card(&card_id).await.unwrap();
    assert_eq!(env.calls("cgi-bin/token"), 2);
    assert_eq!(env.calls("card/get"), 2, "one refused call, one retry");
}

#[tokio::test]
async fn system_busy_is_retried_with_bounded_backoff() {
    let env = Env::start().await;
    let card_id = env.client.create_member_card(&member_card()).await.unwrap();
    env.errcode_next("card/get", -1, 2);
    let started = Instant::now();
    env.client.get_card(&card_id).await.unwrap();
    assert_eq!(env.calls("card/get"), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(30),
        "10 ms then 20 ms of back-off"
    );
    // Four answers of -1 exhaust the three retries.
    env.errcode_next("card/get", -1, 10);
    let started = Instant::now();
    assert_api_error(
        env.client.get_card(&card_id).await,
        -1,
        ErrorKind::SystemBusy,
        "card/get",
    );
    assert_eq!(env.calls("card/get"), 3 + 4);
    assert!(
        started.elapsed() >= Duration::from_millis(70),
        "10 + 20 + 40 ms"
    );
    // -1 on the token endpoint is retried as well.
    env.sim.clear_faults();
    env.errcode_next("cgi-bin/token", -1, 1);
    let classic = env.client(TokenEndpoint::Classic);
    classic.access_token().await.unwrap();
    assert_eq!(env.calls("cgi-bin/token"), 2);
}

#[tokio::test]
async fn daily_token_quota_is_quota_exceeded() {
    let env = Env::with_account(AccountSpec {
        daily_token_quota: Some(1),
        ..AccountSpec::default()
    })
    .await;
    env.client(TokenEndpoint::Classic)
        .access_token()
        .await
        .unwrap();
    let e = env
        .client(TokenEndpoint::Classic)
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(e.errcode(), Some(45009), "{e}");
    assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
    // The same errcode injected on stable_token.
    env.errcode_next("cgi-bin/stable_token", 45009, 1);
    assert_api_error(
        env.client.access_token().await,
        45009,
        ErrorKind::QuotaExceeded,
        "cgi-bin/stable_token",
    );
    assert!(
        env.client.access_token().await.is_ok(),
        "the injected quota error was one call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_callers_cause_one_token_fetch() {
    for endpoint in [TokenEndpoint::Classic, TokenEndpoint::Stable] {
        let env = Env::start().await;
        // A slow token answer keeps every caller waiting on the same refresh.
        let path = match endpoint {
            TokenEndpoint::Classic => "cgi-bin/token",
            TokenEndpoint::Stable => "cgi-bin/stable_token",
        };
        env.fault_next(path, FaultKind::Delay { ms: 200 }, 1);
        // Two "processes" sharing one token store, 100 callers each.
        let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
        let clients = [
            env.client_with(store.clone(), fast_config(endpoint)),
            env.client_with(store, fast_config(endpoint)),
        ];
        let calls = (0..200).map(|i| {
            let client = clients[i % 2].clone();
            async move {
                client
                    .batch_get_cards(&BatchGetRequest {
                        offset: 0,
                        count: 1,
                        status_list: Vec::new(),
                    })
                    .await
            }
        });
        for r in futures::future::join_all(calls).await {
            r.unwrap();
        }
        assert_eq!(
            env.token_fetches(),
            1,
            "{endpoint:?}: 200 callers, one fetch"
        );
        assert_eq!(env.calls("card/batchget"), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_callers_on_an_expired_token_cause_one_refresh() {
    let env = Env::start().await;
    let client = env.client(TokenEndpoint::Classic);
    client.access_token().await.unwrap();
    env.sim.advance_clock(Duration::from_secs(7201));
    env.fault_next("cgi-bin/token", FaultKind::Delay { ms: 100 }, 1);
    // The refusals are held back 200 ms, so that many callers send the expired token before the first
    // one learns it is refused (and drops it from the cache). How many do depends on scheduling.
    env.fault_next("card/batchget", FaultKind::Delay { ms: 200 }, 100);
    let calls = (0..100).map(|_| {
        let client = client.clone();
        async move {
            client
                .batch_get_cards(&BatchGetRequest {
                    offset: 0,
                    count: 1,
                    status_list: Vec::new(),
                })
                .await
        }
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(
        env.calls("cgi-bin/token"),
        2,
        "the first token, then one refresh for 100 refused callers"
    );
    // Every caller succeeded; each one refused with 42001 retried once with the refreshed token, and
    // at least the first caller was refused.
    let calls = env.calls("card/batchget");
    assert!(
        (101..=200).contains(&calls),
        "100 callers, each retried at most once: {calls} calls"
    );
}

#[tokio::test]
async fn classic_rotation_leaves_the_old_token_working_for_300_seconds() {
    let env = Env::start().await;
    let a = env.client(TokenEndpoint::Classic);
    let b = env.client(TokenEndpoint::Classic);
    let card_id = a.create_member_card(&member_card()).await.unwrap();
    let first = a.access_token().await.unwrap();
    // Another deployment fetches its own token: ours is superseded but keeps working 300 s.
    let second = b.access_token().await.unwrap();
    assert_ne!(first, second);
    env.sim.advance_clock(Duration::from_secs(299));
    a.get_card(&card_id).await.unwrap();
    assert_eq!(
        env.calls("cgi-bin/token"),
        2,
        "no refresh during the overlap"
    );
    assert_eq!(a.access_token().await.unwrap(), first);
    env.sim.advance_clock(Duration::from_secs(2));
    // Now 40001: `a` refreshes once (which in turn starts `b`'s overlap) and retries.
    a.get_card(&card_id).await.unwrap();
    assert_eq!(env.calls("cgi-bin/token"), 3);
    let third = a.access_token().await.unwrap();
    assert_ne!(third, first);
    b.get_card(&card_id).await.unwrap();
    assert_eq!(
        env.calls("cgi-bin/token"),
        3,
        "b's token is in its overlap, still accepted"
    );
}

#[tokio::test]
async fn stable_token_renews_in_its_last_300_seconds_and_the_old_one_lives_out_its_time() {
    let env = Env::start().await;
    let card_id = env.client.create_member_card(&member_card()).await.unwrap();
    let old = env.client.access_token().await.unwrap();
    env.sim.advance_clock(Duration::from_secs(7200 - 299));
    let renewed = env
        .client(TokenEndpoint::Stable)
        .fetch_stable_token(false)
        .await
        .unwrap();
    assert_ne!(renewed.access_token, old, "a new token in the last 300 s");
    assert_eq!(renewed.expires_in, 7200);
    let fetches = env.token_fetches();
    env.client.get_card(&card_id).await.unwrap();
    assert_eq!(env.token_fetches(), fetches, "the old token still works");
    env.sim.advance_clock(Duration::from_secs(300));
    // Expired at WeChat: 42001, one forced refresh, then it works.
    env.client.get_card(&card_id).await.unwrap();
    assert_eq!(env.token_fetches(), fetches + 1);
    assert_ne!(env.client.access_token().await.unwrap(), old);
}

// ---------------------------------------------------------------------------------------------
// Transport faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_delay_past_the_timeout_and_a_dropped_connection_are_transport_errors() {
    let env = Env::start().await;
    let card_id = env.client.create_member_card(&member_card()).await.unwrap();
    let impatient = env.client_with(
        Arc::new(MemoryTokenStore::new()),
        ClientConfig {
            timeout: Duration::from_millis(300),
            ..fast_config(TokenEndpoint::Stable)
        },
    );
    impatient.access_token().await.unwrap();
    env.fault_next("card/get", FaultKind::Delay { ms: 1000 }, 1);
    let e = impatient.get_card(&card_id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
    assert!(matches!(e, WechatError::Timeout { .. }), "{e}");
    env.fault_next("card/get", FaultKind::Drop { apply: false }, 1);
    let e = env.client.get_card(&card_id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
    assert!(e.is_retryable());
    // The secret and token never show in the message.
    assert!(!e.to_string().contains(&env.account.app_secret));
    env.client.get_card(&card_id).await.unwrap();
}
