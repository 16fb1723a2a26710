//! The WeChat simulator as a benchmark target: an account, a token and an approved card set up over
//! HTTP, and the raw-HTTP operations (token requests, a full activation round) the benchmarks time.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use kaika_wechat::ActivationParams;
use kaika_wechat_sim::{AccountSpec, MiniProgramSpec, Simulator};
use serde_json::{json, Value};

use crate::{Outcome, Steps};

/// What every scenario needs: where the simulator is and the credentials set up in it.
#[derive(Debug, Clone)]
pub struct Target {
    /// HTTP client.
    pub http: reqwest::Client,
    /// Simulator base URL.
    pub base: String,
    /// Official account AppID.
    pub app_id: String,
    /// Its AppSecret.
    pub secret: String,
    /// Mini-program AppID.
    pub mini_app_id: String,
    /// Its AppSecret.
    pub mini_secret: String,
    /// An access token.
    pub token: String,
    /// The approved card.
    pub card_id: String,
    /// Its geturl parameters.
    pub params: ActivationParams,
}

/// An account (with a mini-program and no token quota to speak of), a token, and an approved
/// jump-type card with a form, all made over HTTP except the review, plus the geturl parameters.
pub async fn set_up(sim: &Simulator, base: String, concurrency: usize) -> anyhow::Result<Target> {
    let account = sim.create_account(AccountSpec {
        mini_program: Some(MiniProgramSpec::default()),
        daily_token_quota: Some(u32::MAX),
        ..AccountSpec::default()
    })?;
    let mini = account.mini_program.clone().context("no mini-program")?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency.max(1))
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut target = Target {
        http,
        base,
        app_id: account.app_id.clone(),
        secret: account.app_secret.clone(),
        mini_app_id: mini.app_id,
        mini_secret: mini.app_secret,
        token: String::new(),
        card_id: String::new(),
        params: ActivationParams {
            encrypt_card_id: String::new(),
            outer_str: String::new(),
            biz: String::new(),
        },
    };
    let token = post(
        &target,
        "cgi-bin/stable_token",
        &json!({
            "grant_type": "client_credential", "appid": target.app_id, "secret": target.secret
        }),
    )
    .await
    .map_err(|e| anyhow!(e))?;
    target.token = text(&token, "access_token").map_err(|e| anyhow!(e))?;
    let created = api(&target, "card/create", &member_card())
        .await
        .map_err(|e| anyhow!(e))?;
    target.card_id = text(&created, "card_id").map_err(|e| anyhow!(e))?;
    sim.approve_card(&target.card_id)?;
    api(
        &target,
        "card/membercard/activateuserform/set",
        &form(&target.card_id),
    )
    .await
    .map_err(|e| anyhow!(e))?;
    let url = api(
        &target,
        "card/membercard/activate/geturl",
        &json!({"card_id": target.card_id, "outer_str": "bench"}),
    )
    .await
    .map_err(|e| anyhow!(e))?;
    target.params = ActivationParams::from_url(&text(&url, "url").map_err(|e| anyhow!(e))?)?;
    Ok(target)
}

/// One `GET cgi-bin/token`.
pub async fn classic_token(t: &Target) -> Outcome {
    let v = answer(
        t.http
            .get(format!("{}/cgi-bin/token", t.base))
            .query(&[
                ("grant_type", "client_credential"),
                ("appid", t.app_id.as_str()),
                ("secret", t.secret.as_str()),
            ])
            .send()
            .await,
    )
    .await?;
    text(&v, "access_token").map(|_| Steps::new())
}

/// One `POST cgi-bin/stable_token`.
pub async fn stable_token(t: &Target) -> Outcome {
    let v = post(
        t,
        "cgi-bin/stable_token",
        &json!({
            "grant_type": "client_credential", "appid": t.app_id, "secret": t.secret
        }),
    )
    .await?;
    text(&v, "access_token").map(|_| Steps::new())
}

/// One new member, from `wx.login` to an activated card.
pub async fn activation_round(t: &Target, user: &str) -> Outcome {
    let mut steps = Steps::new();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str, steps: &mut Steps| {
        let now = Instant::now();
        steps.push((name, now - clock));
        clock = now;
    };

    let minted = post(
        t,
        "control/login-codes",
        &json!({"app_id": t.mini_app_id, "user": user}),
    )
    .await?;
    lap("mint login code", &mut steps);
    let session = answer(
        t.http
            .get(format!("{}/sns/jscode2session", t.base))
            .query(&[
                ("appid", t.mini_app_id.as_str()),
                ("secret", t.mini_secret.as_str()),
                ("js_code", text(&minted, "code")?.as_str()),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await,
    )
    .await?;
    text(&session, "openid")?;
    lap("jscode2session", &mut steps);
    let extra = post(
        t,
        "component/submit",
        &json!({
            "encrypt_card_id": t.params.encrypt_card_id,
            "outer_str": t.params.outer_str,
            "biz": t.params.biz,
            "user": user,
            "answers": {"USER_FORM_INFO_FLAG_MOBILE": "13800138000", "兴趣": "钢琴"},
        }),
    )
    .await?;
    lap("component/submit", &mut steps);
    let code = text(
        &api(
            t,
            "card/code/decrypt",
            &json!({"encrypt_code": text(&extra, "code")?}),
        )
        .await?,
        "code",
    )?;
    lap("card/code/decrypt", &mut steps);
    let info = api(
        t,
        "card/membercard/activatetempinfo/get",
        &json!({"activate_ticket": text(&extra, "activate_ticket")?}),
    )
    .await?;
    if info["info"]["common_field_list"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        return Err(format!("activatetempinfo/get without answers: {info}"));
    }
    lap("activatetempinfo/get", &mut steps);
    api(
        t,
        "card/code/get",
        &json!({"card_id": t.card_id, "code": code}),
    )
    .await?;
    lap("card/code/get", &mut steps);
    api(
        t,
        "card/membercard/activate",
        &json!({"membership_number": format!("M{code}"), "code": code, "card_id": t.card_id, "init_bonus": 100}),
    )
    .await?;
    lap("membercard/activate", &mut steps);
    Ok(steps)
}

/// A card API call with the access token in the query.
async fn api(t: &Target, path: &str, body: &Value) -> Result<Value, String> {
    post(t, &format!("{path}?access_token={}", t.token), body).await
}

async fn post(t: &Target, path: &str, body: &Value) -> Result<Value, String> {
    answer(
        t.http
            .post(format!("{}/{path}", t.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await,
    )
    .await
}

/// The JSON answer, or an error for a transport failure, a non-2xx status or a non-zero errcode.
async fn answer(sent: reqwest::Result<reqwest::Response>) -> Result<Value, String> {
    let response = sent.map_err(|e| format!("transport: {e}"))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| format!("body: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON ({e})"))?;
    match v.get("errcode").and_then(Value::as_i64) {
        None | Some(0) => Ok(v),
        Some(_) => Err(v.to_string()),
    }
}

fn text(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("no {key} in {v}"))
}

fn member_card() -> Value {
    json!({"card": {"card_type": "MEMBER_CARD", "member_card": {
        "base_info": {
            "logo_url": "http://mmbiz.qpic.cn/mmbiz/yyy/0", "brand_name": "示例店", "code_type": "CODE_TYPE_QRCODE",
            "title": "示例会员卡", "color": "Color010", "notice": "使用时出示此卡", "description": "不可与其他优惠同享",
            "date_info": {"type": "DATE_TYPE_PERMANENT"}, "sku": {"quantity": 100000000}, "get_limit": 1
        },
        "prerogative": "会员享受9折", "supply_bonus": true, "supply_balance": false,
        "wx_activate": true, "wx_activate_after_submit": true,
        "wx_activate_after_submit_url": "https://example.com/activate"
    }}})
}

fn form(card_id: &str) -> Value {
    json!({
        "card_id": card_id,
        "required_form": {
            "common_field_id_list": ["USER_FORM_INFO_FLAG_MOBILE"],
            "rich_field_list": [{"type": "FORM_FIELD_RADIO", "name": "兴趣", "values": ["钢琴", "舞蹈"]}]
        }
    })
}
