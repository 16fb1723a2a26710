//! Benchmark of the WeChat simulator (`kaika-wechat-sim`) alone: the ceiling that later
//! benchmarks of Kaika are measured against.
//!
//! Starts the simulator in process on a loopback port and drives it with raw HTTP (`reqwest`, no
//! `kaika-wechat` client, so the figures are the simulator's and not our client's):
//!
//! - `cgi-bin/token` and `cgi-bin/stable_token` requests per second;
//! - full activation rounds per second, one new simulated member per round: mint a login code
//!   (control API) → `sns/jscode2session` → `component/submit` → `card/code/decrypt` →
//!   `card/membercard/activatetempinfo/get` → `card/code/get` → `card/membercard/activate`.
//!
//! ```sh
//! cargo run --release -p kaika-bench --bin sim -- --concurrency 32 --duration 10
//! ```

use std::time::{Duration, Instant};

use actix_web::{App, HttpServer};
use anyhow::{anyhow, Context as _};
use clap::Parser;
use kaika_bench::{print_table, run, LoadArgs, Outcome, Steps, Summary};
use kaika_wechat::ActivationParams;
use kaika_wechat_sim::{AccountSpec, MiniProgramSpec, SimConfig, Simulator};
use serde_json::{json, Value};

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    about = "Requests per second and latency of the WeChat simulator's token and activation endpoints"
)]
struct Args {
    #[command(flatten)]
    load: LoadArgs,
    /// actix worker threads serving the simulator.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Scenarios to run (default: all): token, stable_token, activation.
    #[arg(long = "only", value_delimiter = ',')]
    only: Vec<String>,
}

/// What every scenario needs: where the simulator is and the credentials set up in it.
#[derive(Debug, Clone)]
struct Target {
    http: reqwest::Client,
    base: String,
    app_id: String,
    secret: String,
    mini_app_id: String,
    mini_secret: String,
    token: String,
    card_id: String,
    params: ActivationParams,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sim = Simulator::new(SimConfig {
        seed: Some(1),
        review_delay: None,
        ..SimConfig::default()
    });
    let served = sim.clone();
    let server = HttpServer::new(move || {
        let sim = served.clone();
        App::new().configure(move |c| kaika_wechat_sim::configure(c, sim))
    })
    .workers(args.workers.max(1))
    .disable_signals()
    .bind(("127.0.0.1", 0))?;
    let addr = *server.addrs().first().context("no address bound")?;
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);

    let target = set_up(&sim, format!("http://{addr}"), args.load.concurrency).await?;
    println!(
        "simulator on {addr} ({} actix workers); {} concurrent clients, {} s per scenario after {} s warm-up; raw HTTP (reqwest)",
        args.workers.max(1),
        args.load.concurrency,
        args.load.duration,
        args.load.warmup
    );
    let wants = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let mut rows: Vec<Summary> = Vec::new();
    let (c, w, d) = (
        args.load.concurrency,
        args.load.warmup(),
        args.load.duration(),
    );

    if wants("token") {
        let t = target.clone();
        let (total, _) = run("cgi-bin/token", c, w, d, move |_, _| {
            let t = t.clone();
            async move { classic_token(&t).await }
        })
        .await;
        rows.push(total);
    }
    if wants("stable_token") {
        let t = target.clone();
        let (total, _) = run("cgi-bin/stable_token", c, w, d, move |_, _| {
            let t = t.clone();
            async move { stable_token(&t).await }
        })
        .await;
        rows.push(total);
    }
    if wants("activation") {
        let t = target.clone();
        let (total, steps) = run(
            "activation round (7 requests)",
            c,
            w,
            d,
            move |worker, i| {
                let t = t.clone();
                async move { activation_round(&t, &format!("member-{worker}-{i}")).await }
            },
        )
        .await;
        rows.push(total);
        rows.extend(steps);
    }
    println!();
    print_table(&rows);
    let snapshot = sim.snapshot();
    println!(
        "\nsimulator state at the end: {} codes issued, {} tickets",
        snapshot["codes"].as_array().map_or(0, Vec::len),
        snapshot["tickets"].as_array().map_or(0, Vec::len),
    );
    handle.stop(false).await;
    Ok(())
}

/// An account (with a mini-program and no token quota to speak of), a token, and an approved
/// jump-type card with a form, all made over HTTP except the review, plus the geturl parameters.
async fn set_up(sim: &Simulator, base: String, concurrency: usize) -> anyhow::Result<Target> {
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

async fn classic_token(t: &Target) -> Outcome {
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

async fn stable_token(t: &Target) -> Outcome {
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
async fn activation_round(t: &Target, user: &str) -> Outcome {
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
