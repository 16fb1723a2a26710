//! Sandbox mode: with no WeChat account configured, `kaika serve` mounts the WeChat simulator at `/sim`,
//! creates a sandbox account bound to it with a demo card and two channels, and serves `/sandbox`, a
//! browser page that plays the mini-program through the same `/api/v1` calls the real one makes.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use anyhow::Context as _;
use askama::Template;
use kaika_core::accounts::{self, AppId, MessageMode, MiniProgram, NewAccount, SecretText};
use kaika_core::activation_form::{self, Design, Place, RichSlot};
use kaika_core::card_face::CardColor;
use kaika_core::cards::{self as card_use_cases, NewMemberCard};
use kaika_core::channels::{self, OuterStr};
use kaika_core::db::Backend;
use kaika_core::entity::{cards, channels as channel_rows};
use kaika_wechat_sim::{AccountSpec, MessageMode as SimMode, MiniProgramSpec};
use kaika_wechat_sim::{SimConfig, Simulator};
use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;

use crate::config::{SandboxMode, Settings};
use crate::startup::Context;

const SESSION_COOKIE: &str = "kaika_sandbox";

/// The cookie holding `user`'s mini-program session: one per simulated user, so "my cards" and the way
/// back follow the user chosen on the page, not whoever opened a card last in this browser.
fn session_cookie(user: &str) -> String {
    format!("{SESSION_COOKIE}_{user}")
}

/// The sandbox's simulator and where this server can be reached.
#[derive(Clone, Debug)]
pub struct Sandbox {
    /// The in-process WeChat simulator.
    pub sim: Simulator,
    base_url: Arc<OnceLock<String>>,
    http: reqwest::Client,
    control_from_anywhere: bool,
}

impl Sandbox {
    /// A sandbox with a fresh simulator; cards are approved by the bootstrap, not after a delay.
    pub fn new() -> Self {
        Self {
            sim: Simulator::new(SimConfig::default()),
            base_url: Arc::default(),
            http: reqwest::Client::new(),
            control_from_anywhere: false,
        }
    }

    /// Lets peers other than loopback use the simulator's control API (`sandbox.control_from_anywhere`).
    #[must_use]
    pub fn with_control_from_anywhere(mut self, allowed: bool) -> Self {
        self.control_from_anywhere = allowed;
        self
    }

    /// Whether `peer` may use the simulator's control API (`/sim/control`): it can make accounts, move
    /// the clock and inject faults, so by default only from this machine.
    pub fn control_allowed_from(&self, peer: Option<std::net::SocketAddr>) -> bool {
        self.control_from_anywhere
            || peer.is_some_and(|addr| addr.ip().to_canonical().is_loopback())
    }

    /// Records the address the server is reachable at (known only after binding).
    pub fn set_base_url(&self, base_url: String) {
        let _ = self.base_url.set(base_url);
    }

    fn base_url(&self) -> &str {
        self.base_url
            .get()
            .map_or("http://127.0.0.1:8080", String::as_str)
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

/// The sandbox `kaika serve` runs, if any: only a process serving HTTP (a worker-only process has no
/// simulator to offer), only when [`wanted`].
pub async fn for_serve(ctx: &Context, settings: &Settings) -> anyhow::Result<Option<Sandbox>> {
    if !settings.role.serves_http()
        || !wanted(ctx, settings.sandbox, settings.database_url.backend()).await?
    {
        return Ok(None);
    }
    Ok(Some(Sandbox::new().with_control_from_anywhere(
        settings.sandbox_control_from_anywhere,
    )))
}

/// Once the server listens at `base`: sets up the sandbox ([`bootstrap`]) in the background and logs
/// where to walk the member journey.
pub fn set_up_in_background(ctx: &Context, sandbox: Sandbox, base: SocketAddr) {
    sandbox.set_base_url(format!("http://{base}"));
    let ctx = ctx.clone();
    tokio::spawn(async move {
        match bootstrap(&ctx, &sandbox).await {
            Ok(info) => tracing::info!(
                account = %info.app_id,
                cards = ?info.card_ids,
                "sandbox mode (no WeChat account configured): walk the member journey at http://{base}/sandbox; \
                 the WeChat simulator is at http://{base}/sim, the API document at http://{base}/api/v1/openapi.json"
            ),
            Err(err) => tracing::error!("the sandbox could not be set up: {err:#}"),
        }
    });
}

/// Whether `serve` runs in sandbox mode: allowed by the settings and no real account configured. With
/// `auto` on PostgreSQL (a deployment) it never starts on its own; the log says what to do instead.
pub async fn wanted(ctx: &Context, mode: SandboxMode, backend: Backend) -> anyhow::Result<bool> {
    if mode == SandboxMode::Off {
        return Ok(false);
    }
    let all = accounts::list(&ctx.db).await?;
    let only_sandbox = all.iter().all(|a| a.is_sandbox);
    Ok(match decide(mode, backend, only_sandbox) {
        Decision::Start => true,
        Decision::Skip => false,
        Decision::AskForAccount => {
            tracing::warn!(
                "no WeChat account is configured, and with PostgreSQL the sandbox does not start on its own: \
                 add an account (`kaika account add …`, or in the admin) or set KAIKA__SANDBOX__MODE=on to \
                 run the sandbox"
            );
            false
        }
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Start,
    Skip,
    AskForAccount,
}

fn decide(mode: SandboxMode, backend: Backend, only_sandbox: bool) -> Decision {
    match (mode, backend) {
        (SandboxMode::Off, _) => Decision::Skip,
        _ if !only_sandbox => Decision::Skip,
        (SandboxMode::Auto, Backend::Postgres) => Decision::AskForAccount,
        (SandboxMode::Auto | SandboxMode::On, _) => Decision::Start,
    }
}

/// `bytes` random bytes as lowercase hex (twice as many characters).
fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::thread_rng().fill(raw.as_mut_slice());
    hex::encode(raw)
}

fn random_aes_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..43)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// What the bootstrap set up, for the log and for tests.
#[derive(Debug, Clone)]
pub struct SandboxInfo {
    /// The sandbox official account's AppID.
    pub app_id: String,
    /// Its mini-program's AppID.
    pub mini_app_id: String,
    /// The demo cards (WeChat ids).
    pub card_ids: Vec<String>,
}

/// Creates (first run) or re-registers (later runs) the sandbox account, its demo card and channels, on
/// the simulator and in the database. Runs once the server is listening, because the card is created
/// through our own WeChat client talking to `/sim` over HTTP, exactly as with the real WeChat.
pub async fn bootstrap(ctx: &Context, sandbox: &Sandbox) -> anyhow::Result<SandboxInfo> {
    let base = sandbox.base_url().to_owned();
    let api_base_url = format!("{base}/sim");
    let existing = accounts::list(&ctx.db)
        .await?
        .into_iter()
        .find(|a| a.is_sandbox);
    let account = match existing {
        Some(summary) => {
            accounts::set_api_base_url(&ctx.db, &summary.app_id, &api_base_url).await?;
            ctx.clients.forget(&summary.app_id);
            accounts::load(&ctx.db, &ctx.master_key, &summary.app_id).await?
        }
        None => {
            let new = NewAccount {
                name: "Kaika 沙箱 (sandbox)".into(),
                app_id: AppId::parse(&format!("wx{}", random_hex(8)))?,
                app_secret: SecretText::new(random_hex(16)),
                callback_token: Alphanumeric.sample_string(&mut rand::thread_rng(), 32),
                encoding_aes_key: Some(SecretText::new(random_aes_key())),
                message_mode: MessageMode::Safe,
                mini_program: Some(MiniProgram {
                    app_id: AppId::parse(&format!("wx{}", random_hex(8)))?,
                    app_secret: SecretText::new(random_hex(16)),
                }),
                api_base_url: api_base_url.clone(),
                is_sandbox: true,
            };
            let added = accounts::add(&ctx.db, &ctx.master_key, new).await?;
            accounts::load(&ctx.db, &ctx.master_key, &added.app_id).await?
        }
    };
    let app_id = account.summary.app_id.clone();
    let mini_app_id = account
        .summary
        .mini_app_id
        .clone()
        .context("the sandbox account has no mini-program")?;
    if sandbox.sim.account(&app_id).is_none() {
        sandbox
            .sim
            .create_account(AccountSpec {
                app_id: Some(app_id.clone()),
                app_secret: Some(account.app_secret.expose().to_owned()),
                token: Some(account.callback_token.clone()),
                encoding_aes_key: account
                    .encoding_aes_key
                    .as_ref()
                    .map(|k| k.expose().to_owned()),
                message_mode: Some(SimMode::Safe),
                callback_url: Some(format!("{base}/wechat/{app_id}/callback")),
                mini_program: Some(MiniProgramSpec {
                    app_id: Some(mini_app_id.clone()),
                    app_secret: account
                        .mini_app_secret
                        .as_ref()
                        .map(|s| s.expose().to_owned()),
                }),
                // The demo shows stored value, a permission WeChat grants on application.
                balance_authorized: Some(true),
                ..Default::default()
            })
            .map_err(|e| anyhow::anyhow!("the simulator refused the sandbox account: {e}"))?;
    }
    let mut card_ids = Vec::new();
    let stored = cards::Entity::find_for_account(account.summary.id)
        .order_by_asc(cards::Column::Id)
        .all(&ctx.db)
        .await?;
    let client = ctx.clients.official_account(&app_id).await?;
    if stored.is_empty() {
        let card = card_use_cases::create(
            &ctx.db,
            &client,
            account.summary.id,
            &NewMemberCard {
                title: "开卡会员卡".into(),
                brand_name: "Kaika 咖啡".into(),
                color: CardColor::Color010,
                logo_url: format!("{base}/sandbox/logo.svg"),
                notice: "出示会员码享受会员价".into(),
                description: "沙箱演示卡：所有数据都在本机的模拟微信里。".into(),
                prerogative: "消费1元积1分，生日双倍积分".into(),
                welcome_bonus: 100,
                membership_prefix: "KK".into(),
                // The production page: members who activate from the simulated card bag land there.
                after_submit_url: format!("{base}{}", kaika_core::golive::ACTIVATE_PAGE_PATH),
                stored_value: Some(card_use_cases::StoredValue {
                    balance_rules: "到店充值，余额可抵扣消费".into(),
                }),
            },
        )
        .await?;
        card_use_cases::set_activation_form(&ctx.db, &client, &card, &demo_form().to_request())
            .await?;
        sandbox
            .sim
            .approve_card(&card.wechat_card_id)
            .map_err(|e| anyhow::anyhow!("the simulator could not approve the demo card: {e}"))?;
        card_use_cases::set_review_status(&ctx.db, &card.wechat_card_id, true, None).await?;
        for (tag, name) in [("store_front", "门店海报"), ("article", "公众号文章")] {
            channels::create(&ctx.db, card.id, &OuterStr::parse(tag)?, name).await?;
        }
        card_ids.push(card.wechat_card_id);
    } else {
        for card in stored {
            restore_card(sandbox, &app_id, &card)?;
            card_ids.push(card.wechat_card_id);
        }
    }
    Ok(SandboxInfo {
        app_id,
        mini_app_id,
        card_ids,
    })
}

/// After a restart the simulator (in memory) has forgotten the cards the database still holds.
fn restore_card(sandbox: &Sandbox, app_id: &str, card: &cards::Model) -> anyhow::Result<()> {
    if sandbox.sim.card(&card.wechat_card_id).is_some() {
        return Ok(());
    }
    let template = serde_json::json!({
        "base_info": {
            "logo_url": card.logo_url,
            "brand_name": card.brand_name,
            "code_type": "CODE_TYPE_QRCODE",
            "title": card.title,
            "color": card.color,
            "notice": "出示会员码享受会员价",
            "description": "沙箱演示卡",
            "date_info": {"type": "DATE_TYPE_PERMANENT"},
            "sku": {"quantity": 100_000_000},
        },
        "prerogative": "沙箱演示卡",
        "supply_bonus": true,
        "supply_balance": true,
        "wx_activate": true,
        "wx_activate_after_submit": true,
        "wx_activate_after_submit_url": format!(
            "{}{}",
            sandbox.base_url(),
            kaika_core::golive::ACTIVATE_PAGE_PATH
        ),
    });
    let form = card
        .activation_form
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok());
    sandbox
        .sim
        .restore_card(
            app_id,
            &card.wechat_card_id,
            template,
            card.review_status == "approved",
            form,
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "the simulator could not restore card {}: {e}",
                card.wechat_card_id
            )
        })
}

/// The demo activation form: mobile and name required, birthday optional, one choice question.
fn demo_form() -> Design {
    let mut design = Design::from_request(None);
    for (name, place) in &mut design.common {
        *place = match *name {
            "USER_FORM_INFO_FLAG_MOBILE" | "USER_FORM_INFO_FLAG_NAME" => Place::Required,
            "USER_FORM_INFO_FLAG_BIRTHDAY" => Place::Optional,
            _ => Place::Off,
        };
    }
    design.rich = vec![RichSlot {
        kind: "FORM_FIELD_RADIO".into(),
        name: "喜欢的咖啡".into(),
        values: "美式\n拿铁\n手冲".into(),
        place: Place::Required,
    }];
    design.can_modify_required = false;
    design.can_modify_optional = true;
    design.service_name = "会员守则".into();
    design.service_url = "https://example.invalid/terms".into();
    design
}

struct ChannelChoice {
    outer_str: String,
    name: String,
}

struct CardChoice {
    card_id: String,
    title: String,
    channels: Vec<ChannelChoice>,
}

#[derive(Template)]
#[template(path = "sandbox/index.html")]
struct IndexPage {
    cards: Vec<CardChoice>,
    members: Vec<MemberView>,
    user: String,
}

#[derive(Template)]
#[template(path = "sandbox/member.html")]
struct MemberPage {
    member: MemberView,
    user: String,
}

#[derive(Template)]
#[template(path = "sandbox/message.html")]
struct MessagePage {
    title: String,
    message: String,
    code: String,
}

struct MemberView {
    title: String,
    brand_name: String,
    color_hex: String,
    membership_number: String,
    code: String,
    points: i64,
    balance: String,
    answers: Vec<(String, String)>,
}

impl MemberView {
    fn from_json(v: &serde_json::Value) -> Self {
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let cents = v["balance_cents"].as_i64().unwrap_or(0);
        let mut answers = Vec::new();
        for field in v["form_answers"]["common_field_list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            answers.push((
                form_label(field["name"].as_str().unwrap_or_default()),
                field["value"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        for field in v["form_answers"]["custom_field_list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let mut value = field["value"].as_str().unwrap_or_default().to_owned();
            if let Some(list) = field["value_list"].as_array().filter(|l| !l.is_empty()) {
                value = list
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join("、");
            }
            answers.push((field["name"].as_str().unwrap_or_default().to_owned(), value));
        }
        Self {
            title: text("title"),
            brand_name: text("brand_name"),
            color_hex: text("color_hex"),
            membership_number: text("membership_number"),
            code: text("code"),
            points: v["points"].as_i64().unwrap_or(0),
            balance: kaika_core::display::yuan(cents),
            answers,
        }
    }
}

fn form_label(name: &str) -> String {
    match activation_form::common_field(name) {
        Some("USER_FORM_INFO_FLAG_MOBILE") => "手机号".into(),
        Some("USER_FORM_INFO_FLAG_NAME") => "姓名".into(),
        Some("USER_FORM_INFO_FLAG_BIRTHDAY") => "生日".into(),
        Some("USER_FORM_INFO_FLAG_SEX") => "性别".into(),
        _ => name.to_owned(),
    }
}

fn html(page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(err) => {
            tracing::error!(error = %err, "sandbox page failed to render");
            HttpResponse::InternalServerError().body("the page failed to render")
        }
    }
}

fn message(
    status: actix_web::http::StatusCode,
    title: &str,
    msg: &str,
    code: &str,
) -> HttpResponse {
    let page = MessagePage {
        title: title.into(),
        message: msg.into(),
        code: code.into(),
    };
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(_) => HttpResponse::build(status).body(msg.to_owned()),
    }
}

#[derive(Deserialize)]
pub(crate) struct UserQuery {
    #[serde(default)]
    user: Option<String>,
}

fn clean_user(user: Option<&str>) -> String {
    let user: String = user
        .unwrap_or("alice")
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
        .take(32)
        .collect();
    if user.is_empty() {
        "alice".into()
    } else {
        user
    }
}

pub(crate) async fn index(
    ctx: web::Data<Context>,
    sandbox: web::Data<Sandbox>,
    req: HttpRequest,
    query: web::Query<UserQuery>,
) -> HttpResponse {
    let user = clean_user(query.user.as_deref());
    let mut choices = Vec::new();
    let approved = cards::Entity::find()
        .filter(cards::Column::ReviewStatus.eq("approved"))
        .order_by_asc(cards::Column::Id)
        .all(&ctx.db)
        .await
        .unwrap_or_default();
    for card in approved {
        let channels = channel_rows::Entity::find_for_card(card.id)
            .filter(channel_rows::Column::ArchivedAt.is_null())
            .order_by_asc(channel_rows::Column::Id)
            .all(&ctx.db)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|c| ChannelChoice {
                outer_str: c.outer_str,
                name: c.name,
            })
            .collect();
        choices.push(CardChoice {
            card_id: card.wechat_card_id,
            title: card.title,
            channels,
        });
    }
    let members = match req.cookie(&session_cookie(&user)) {
        Some(cookie) => sandbox
            .http
            .get(format!("{}/api/v1/me/cards", sandbox.base_url()))
            .bearer_auth(cookie.value())
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success()),
        None => None,
    };
    let members = match members {
        Some(response) => response
            .json::<Vec<serde_json::Value>>()
            .await
            .unwrap_or_default()
            .iter()
            .map(MemberView::from_json)
            .collect(),
        None => Vec::new(),
    };
    html(&IndexPage {
        cards: choices,
        members,
        user,
    })
}

#[derive(Deserialize)]
pub(crate) struct OpenQuery {
    #[serde(default)]
    user: Option<String>,
    card: String,
    #[serde(default)]
    channel: Option<String>,
}

/// Plays the mini-program's part before the component: log in, fetch the parameters, "tap" the navigator.
pub(crate) async fn open(
    ctx: web::Data<Context>,
    sandbox: web::Data<Sandbox>,
    query: web::Query<OpenQuery>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let user = clean_user(query.user.as_deref());
    let base = sandbox.base_url().to_owned();
    let Some(app_id) = accounts::list(&ctx.db)
        .await
        .ok()
        .and_then(|all| all.into_iter().find(|a| a.is_sandbox))
        .and_then(|a| a.mini_app_id)
    else {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            "沙箱未就绪",
            "The sandbox is still starting.",
            "sandbox_not_ready",
        );
    };
    // wx.login in the simulator, then POST /api/v1/sessions like app.js does.
    let Ok(login) = sandbox.sim.mint_login_code(&app_id, &user) else {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            "沙箱未就绪",
            "The simulator has no sandbox account yet.",
            "sandbox_not_ready",
        );
    };
    let session = sandbox
        .http
        .post(format!("{base}/api/v1/sessions"))
        .json(&serde_json::json!({ "code": login.code }))
        .send()
        .await;
    let token = match session {
        Ok(r) if r.status().is_success() => r
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["token"].as_str().map(str::to_owned)),
        _ => None,
    };
    let Some(token) = token else {
        return message(
            StatusCode::BAD_GATEWAY,
            "登录失败",
            "POST /api/v1/sessions failed.",
            "login_failed",
        );
    };
    let channel = query.channel.clone().unwrap_or_default();
    let params = sandbox
        .http
        .get(format!(
            "{base}/api/v1/cards/{}/activation-params",
            urlencoding::encode(&query.card)
        ))
        .query(&[("channel", channel.as_str())])
        .bearer_auth(&token)
        .send()
        .await;
    let params = match params {
        Ok(r) => {
            let status = r.status();
            let body = r.json::<serde_json::Value>().await.unwrap_or_default();
            if !status.is_success() {
                return message(
                    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
                    "无法开卡",
                    body["message"]
                        .as_str()
                        .unwrap_or("the activation parameters were refused"),
                    body["code"].as_str().unwrap_or("error"),
                );
            }
            body
        }
        Err(_) => {
            return message(
                StatusCode::BAD_GATEWAY,
                "无法开卡",
                "GET activation-params failed.",
                "wechat_unavailable",
            )
        }
    };
    let extra = &params["extra_data"];
    let component = format!(
        "/sim/component?encrypt_card_id={}&outer_str={}&biz={}&user={}&return_url={}",
        urlencoding::encode(extra["encrypt_card_id"].as_str().unwrap_or_default()),
        urlencoding::encode(extra["outer_str"].as_str().unwrap_or_default()),
        urlencoding::encode(extra["biz"].as_str().unwrap_or_default()),
        urlencoding::encode(&user),
        urlencoding::encode(&format!("/sandbox/return?user={user}")),
    );
    let cookie = Cookie::build(session_cookie(&user), token)
        .path("/sandbox")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, component))
        .finish()
}

#[derive(Deserialize)]
pub(crate) struct ReturnQuery {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    activate_ticket: Option<String>,
    #[serde(default)]
    card_id: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// Plays `App.onShow` on the way back: post the ticket to `/api/v1/activations` and show the card.
pub(crate) async fn return_trip(
    sandbox: web::Data<Sandbox>,
    req: HttpRequest,
    query: web::Query<ReturnQuery>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let user = clean_user(query.user.as_deref());
    let (Some(ticket), Some(card_id), Some(code)) =
        (&query.activate_ticket, &query.card_id, &query.code)
    else {
        return message(
            StatusCode::OK,
            "还差一步",
            "You came back without finishing the form. Open the card again to complete it.",
            "not_finished",
        );
    };
    let Some(cookie) = req.cookie(&session_cookie(&user)) else {
        return message(
            StatusCode::UNAUTHORIZED,
            "会话已过期",
            "Start again from /sandbox.",
            "invalid_session",
        );
    };
    let response = sandbox
        .http
        .post(format!("{}/api/v1/activations", sandbox.base_url()))
        .bearer_auth(cookie.value())
        .json(&serde_json::json!({
            "activate_ticket": ticket,
            "card_id": card_id,
            "encrypt_code": code,
        }))
        .send()
        .await;
    match response {
        Ok(r) => {
            let status = r.status();
            let body = r.json::<serde_json::Value>().await.unwrap_or_default();
            if status.as_u16() == 200 {
                html(&MemberPage {
                    member: MemberView::from_json(&body),
                    user,
                })
            } else {
                message(
                    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
                    "开卡未完成",
                    body["message"]
                        .as_str()
                        .unwrap_or("the activation did not finish"),
                    body["code"].as_str().unwrap_or("error"),
                )
            }
        }
        Err(_) => message(
            StatusCode::BAD_GATEWAY,
            "开卡未完成",
            "POST /api/v1/activations failed.",
            "error",
        ),
    }
}

pub(crate) async fn logo() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(include_str!("../templates/sandbox/logo.svg"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_starts_by_itself_only_on_sqlite() {
        use Decision::{AskForAccount, Skip, Start};
        use SandboxMode::{Auto, Off, On};
        let cases = [
            (Auto, Backend::Sqlite, true, Start),
            (Auto, Backend::Postgres, true, AskForAccount),
            (On, Backend::Postgres, true, Start),
            (On, Backend::Sqlite, true, Start),
            (Off, Backend::Sqlite, true, Skip),
            (Off, Backend::Postgres, true, Skip),
            (Auto, Backend::Sqlite, false, Skip),
            (Auto, Backend::Postgres, false, Skip),
            (On, Backend::Postgres, false, Skip),
        ];
        for (mode, backend, only_sandbox, expected) in cases {
            assert_eq!(
                decide(mode, backend, only_sandbox),
                expected,
                "{mode:?} on {backend:?}, only sandbox accounts: {only_sandbox}"
            );
        }
    }

    #[test]
    fn the_control_api_answers_loopback_unless_opened() {
        let sandbox = Sandbox::new();
        let local = "127.0.0.1:5000".parse().ok();
        let local6 = "[::1]:5000".parse().ok();
        let mapped = "[::ffff:127.0.0.1]:5000".parse().ok();
        let remote = "192.0.2.7:5000".parse().ok();
        assert!(sandbox.control_allowed_from(local));
        assert!(sandbox.control_allowed_from(local6));
        assert!(sandbox.control_allowed_from(mapped));
        assert!(!sandbox.control_allowed_from(remote));
        assert!(!sandbox.control_allowed_from(None));
        let open = Sandbox::new().with_control_from_anywhere(true);
        assert!(open.control_allowed_from(remote));
    }
}
