//! The member's journey the activation benchmarks drive: what the mini-program does for a new member.

use std::time::Instant;

use kaika_server::sandbox::SandboxInfo;
use kaika_wechat_sim::Simulator;
use serde_json::{json, Value};

use crate::{Outcome, Steps};

/// Where a benchmark finds Kaika and the simulator.
#[derive(Debug, Clone)]
pub struct Kaika {
    /// The HTTP client of every simulated member.
    pub http: reqwest::Client,
    /// Kaika's API: one instance, or the proxy in front of several.
    pub api: String,
    /// The server that hosts the simulator (`/sim`).
    pub sim_base: String,
    /// The simulator, for minting login codes.
    pub sim: Simulator,
    /// The sandbox's account, mini-program and cards.
    pub info: SandboxInfo,
}

pub(crate) async fn json_of(sent: reqwest::Result<reqwest::Response>) -> Result<Value, String> {
    let response = sent.map_err(|e| format!("transport: {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| format!("body: {e}"))?;
    if status.as_u16() != 200
        || body
            .get("errcode")
            .and_then(Value::as_i64)
            .is_some_and(|e| e != 0)
    {
        return Err(format!("HTTP {status}: {body}"));
    }
    Ok(body)
}

/// One new member through the mini-program API: mint a `wx.login` code → `POST /api/v1/sessions` →
/// `GET …/activation-params` → the component (simulator) → `POST /api/v1/activations`, timed per step.
pub async fn kaika_round(k: &Kaika, user: &str) -> Outcome {
    let mut steps = Steps::new();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str, steps: &mut Steps| {
        let now = Instant::now();
        steps.push((name, now - clock));
        clock = now;
    };
    let code = k
        .sim
        .mint_login_code(&k.info.mini_app_id, user)
        .map_err(|e| e.to_string())?
        .code;
    let session = json_of(
        k.http
            .post(format!("{}/api/v1/sessions", k.api))
            .json(&json!({ "code": code }))
            .send()
            .await,
    )
    .await?;
    let token = session["token"].as_str().ok_or("no token")?.to_owned();
    lap("POST /api/v1/sessions", &mut steps);
    let params = json_of(
        k.http
            .get(format!(
                "{}/api/v1/cards/{}/activation-params?channel=store_front",
                k.api, k.info.card_ids[0]
            ))
            .bearer_auth(&token)
            .send()
            .await,
    )
    .await?;
    lap("GET activation-params", &mut steps);
    let extra = &params["extra_data"];
    let returned = json_of(
        k.http
            .post(format!("{}/sim/component/submit", k.sim_base))
            .json(&json!({
                "encrypt_card_id": extra["encrypt_card_id"],
                "outer_str": extra["outer_str"],
                "biz": extra["biz"],
                "user": user,
                "answers": {
                    "USER_FORM_INFO_FLAG_MOBILE": "13800138000",
                    "USER_FORM_INFO_FLAG_NAME": "Bench",
                    "喜欢的咖啡": "拿铁",
                },
            }))
            .send()
            .await,
    )
    .await?;
    lap("component (simulator)", &mut steps);
    let member = json_of(
        k.http
            .post(format!("{}/api/v1/activations", k.api))
            .bearer_auth(&token)
            .json(&json!({
                "activate_ticket": returned["activate_ticket"],
                "card_id": returned["card_id"],
                "encrypt_code": returned["code"],
            }))
            .send()
            .await,
    )
    .await?;
    if member["points"].as_i64() != Some(100) {
        return Err(format!("unexpected member {member}"));
    }
    lap("POST /api/v1/activations", &mut steps);
    Ok(steps)
}
