//! Helpers for black-box tests: a simulator on a loopback port and a WeChat-shaped HTTP client.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

pub mod receiver;

use std::time::Duration;

use kaika_wechat_sim::{spawn, SimConfig, Simulator, SpawnedSimulator};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub struct TestSim {
    pub base: String,
    pub sim: Simulator,
    pub http: reqwest::Client,
    pub server: SpawnedSimulator,
}

impl TestSim {
    pub async fn start() -> Self {
        Self::with(SimConfig::for_tests(42)).await
    }

    pub async fn with(config: SimConfig) -> Self {
        let server = spawn(Simulator::new(config)).await.expect("bind simulator");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Self {
            base: server.base_url.clone(),
            sim: server.sim.clone(),
            http,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "WeChat answers HTTP 200");
        resp.json().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Value {
        self.post_raw(path, &body.to_string()).await
    }

    pub async fn post_raw(&self, path: &str, body: &str) -> Value {
        let resp = self
            .http
            .post(self.url(path))
            .header("Content-Type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "WeChat answers HTTP 200");
        resp.json().await.unwrap()
    }

    /// A card API call with the token in the query, as WeChat expects.
    pub async fn api(&self, token: &str, path: &str, body: Value) -> Value {
        self.post_json(&format!("{path}?access_token={token}"), &body)
            .await
    }

    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.url(&format!("control/{path}")));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn control_post(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.control(reqwest::Method::POST, path, Some(body)).await;
        assert!(status.is_success(), "control/{path}: {status} {v}");
        v
    }

    pub async fn create_account(&self, spec: Value) -> Value {
        let (status, v) = self
            .control(reqwest::Method::POST, "accounts", Some(spec))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v
    }

    pub async fn token(&self, account: &Value) -> String {
        let v = self
            .get_json(&format!(
                "cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
                s(account, "app_id"),
                s(account, "app_secret")
            ))
            .await;
        v["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {v}"))
            .to_owned()
    }

    pub async fn advance(&self, seconds: u64) {
        self.control_post("clock/advance", json!({"seconds": seconds}))
            .await;
    }

    /// An account with a mini-program, its token, and an approved jump-type card with a form.
    pub async fn ready(&self, callback_url: Option<&str>, mode: &str) -> Ready {
        let account = self
            .create_account(
                json!({"mini_program": {}, "callback_url": callback_url, "message_mode": mode}),
            )
            .await;
        let token = self.token(&account).await;
        let created = self.api(&token, "card/create", member_card()).await;
        assert_eq!(created["errcode"], 0, "{created}");
        let card_id = s(&created, "card_id");
        self.control_post(&format!("cards/{card_id}/approve"), json!({}))
            .await;
        let form = self
            .api(
                &token,
                "card/membercard/activateuserform/set",
                form(&card_id),
            )
            .await;
        assert_eq!(form["errcode"], 0, "{form}");
        Ready {
            account,
            token,
            card_id,
        }
    }

    /// An account without a callback URL and an approved one-tap card that is *not* jump type (no
    /// after-submit URL): the component activates it at once and hands nothing back.
    pub async fn ready_non_jump(&self) -> Ready {
        let account = self.create_account(json!({})).await;
        let token = self.token(&account).await;
        let mut card = member_card();
        card["card"]["member_card"]
            .as_object_mut()
            .unwrap()
            .remove("wx_activate_after_submit_url");
        card["card"]["member_card"]["wx_activate_after_submit"] = json!(false);
        let card_id = s(&self.api(&token, "card/create", card).await, "card_id");
        self.control_post(&format!("cards/{card_id}/approve"), json!({}))
            .await;
        self.api(
            &token,
            "card/membercard/activateuserform/set",
            form(&card_id),
        )
        .await;
        Ready {
            account,
            token,
            card_id,
        }
    }

    /// geturl, then the extraData a client derives from it (reference §5 algorithm).
    pub async fn extra_data(&self, r: &Ready, outer_str: &str) -> (String, String, String) {
        let v = self
            .api(
                &r.token,
                "card/membercard/activate/geturl",
                json!({"card_id": r.card_id, "outer_str": outer_str}),
            )
            .await;
        assert_eq!(v["errcode"], 0, "{v}");
        parse_geturl(&s(&v, "url"))
    }

    /// Opens the card through the JSON component endpoint with valid answers.
    pub async fn open_card(&self, r: &Ready, user: &str, outer_str: &str) -> Value {
        let (encrypt_card_id, outer, biz) = self.extra_data(r, outer_str).await;
        self.post_json(
            "component/submit",
            &json!({
                "encrypt_card_id": encrypt_card_id, "outer_str": outer, "biz": biz, "user": user,
                "answers": good_answers(),
            }),
        )
        .await
    }

    /// Waits until `n` pushes with `event` exist and none of them is pending.
    pub async fn settled_pushes(&self, event: &str, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let (_, v) = self
                .control(reqwest::Method::GET, &format!("pushes?event={event}"), None)
                .await;
            let list = v.as_array().cloned().unwrap_or_default();
            if list.len() >= n && list.iter().all(|p| p["outcome"] != "pending") {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("pushes of {event} did not settle");
    }
}

pub struct Ready {
    pub account: Value,
    pub token: String,
    pub card_id: String,
}

pub fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
        .to_owned()
}

/// Reference §5: drop the fragment, split on `&`, skip empty segments, split at the first `=`,
/// percent-decode once without turning `+` into a space.
pub fn parse_geturl(url: &str) -> (String, String, String) {
    let url = url.split('#').next().unwrap();
    let query = url.split_once('?').unwrap().1;
    let mut found = std::collections::HashMap::new();
    for seg in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = seg.split_once('=').unwrap();
        found.insert(k.to_owned(), urlencoding::decode(v).unwrap().into_owned());
    }
    (
        found["encrypt_card_id"].clone(),
        found["outer_str"].clone(),
        found["biz"].clone(),
    )
}

pub fn member_card() -> Value {
    json!({"card": {"card_type": "MEMBER_CARD", "member_card": {
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
    }}})
}

pub fn form(card_id: &str) -> Value {
    json!({
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
    })
}

pub fn good_answers() -> Value {
    json!({
        "USER_FORM_INFO_FLAG_MOBILE": "13800138000",
        "兴趣": "钢琴", "喜好": "韩寒", "职业": ["赛车手", "旅行家"],
        "喜欢的电影": "<b>花样年华</b>"
    })
}
