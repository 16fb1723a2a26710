//! `GET /m/activate`: the after-submit page of cards (`wx_activate_after_submit_url`). WeChat sends
//! members here, from its in-app browser, when they activate from the card in their card bag or come back
//! after leaving the card component, with `activate_ticket`, `encrypt_code`, `card_id` and `openid` in
//! the query. The page activates through the same [`Activator`](kaika_core::activation::Activator) as
//! the mini-program API (one activation per ticket, the same 202 while it runs, the same refusal codes),
//! then shows the member's card. Loading the same URL again shows the result; it never activates twice.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use kaika_core::activation::{ActivationRequest, Submitter};
use kaika_core::cards as card_use_cases;
use kaika_core::entity::cards;
use kaika_core::CoreError;
use sea_orm::EntityTrait;

use crate::client_ip;
use crate::rate_limit::RateLimits;
use crate::startup::Context;

/// What the card face shows.
struct CardView {
    brand_name: String,
    title: String,
    color_hex: String,
    membership_number: String,
    points: i64,
    /// Yuan with two decimals, for cards with stored value.
    balance: Option<String>,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "m/activate.html")]
struct ActivatePage {
    heading: String,
    /// The stable code: `activated`, `activation_in_progress` or the refusal's code.
    code: String,
    message: String,
    card: Option<CardView>,
    pending: bool,
}

/// A refusal in words a member understands (the same sentences as the mini-program's).
fn sentence(code: &str) -> &'static str {
    match code {
        "missing_parameter" => "链接不完整，请从微信卡包里重新点击「激活会员卡」。",
        "ticket_invalid" => "开卡信息无效，请从微信卡包里重新激活。",
        "ticket_expired" => "开卡信息已过期，请从微信卡包里重新激活。",
        "ticket_conflict" => "这次开卡已由其他微信账号提交。",
        "code_invalid" => "会员卡号无效，请从微信卡包里重新激活。",
        "card_not_found" => "没有找到这张会员卡。",
        "card_misconfigured" => "商家的会员卡设置有误，请联系商家。",
        "wechat_unavailable" => "微信服务暂时繁忙，请稍后刷新本页。",
        "rate_limited" => "请求过于频繁，请稍等片刻再刷新本页。",
        "activate_refused" | "activation_failed" => {
            "开卡没有成功，商家会为你处理，请稍后在卡包中查看。"
        }
        _ => "出了点问题，请稍后重试。",
    }
}

fn render(status: StatusCode, page: &ActivatePage) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(body),
        Err(err) => {
            tracing::error!(error = %err, "the activation page did not render");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn refusal(status: StatusCode, code: &str) -> HttpResponse {
    render(
        status,
        &ActivatePage {
            heading: "会员卡未能激活".into(),
            code: code.to_owned(),
            message: sentence(code).to_owned(),
            card: None,
            pending: false,
        },
    )
}

/// Reads the four query parameters: percent-decoded once, `+` kept (tickets are Base64), the first
/// occurrence winning.
fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| {
            urlencoding::decode(value)
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| value.to_owned())
        })
    })
}

/// `GET /m/activate?activate_ticket=…&encrypt_code=…&card_id=…&openid=…`.
pub async fn activate(
    ctx: web::Data<Context>,
    limits: web::Data<RateLimits>,
    req: HttpRequest,
) -> HttpResponse {
    // The page spends the activation budget of the member's address, as the mini-program's calls do;
    // its `openid` parameter is not proof of anyone, so it is no key.
    if let Err(refused) = limits.activation(client_ip::of(&req), None) {
        let mut page = refusal(StatusCode::TOO_MANY_REQUESTS, refused.code());
        if let Some(secs) = refused.retry_after_secs() {
            page.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        return page;
    }
    let query = req.query_string();
    let value = |name| query_value(query, name).filter(|v| !v.trim().is_empty());
    let (Some(activate_ticket), Some(encrypt_code), Some(card_id)) = (
        value("activate_ticket"),
        value("encrypt_code"),
        value("card_id"),
    ) else {
        return refusal(StatusCode::BAD_REQUEST, "missing_parameter");
    };
    let request = ActivationRequest {
        activate_ticket,
        card_id,
        encrypt_code,
    };
    match ctx
        .activator
        .submit_from(Submitter::ActivatePage, &request)
        .await
    {
        Ok(member) => {
            let card = match cards::Entity::find_by_id(member.card_id).one(&ctx.db).await {
                Ok(Some(card)) => card,
                Ok(None) => return refusal(StatusCode::NOT_FOUND, "card_not_found"),
                Err(err) => {
                    tracing::error!(error = %err, "the activated member's card could not be read");
                    return refusal(StatusCode::SERVICE_UNAVAILABLE, "internal");
                }
            };
            let view = CardView {
                brand_name: card.brand_name.clone(),
                title: card.title.clone(),
                color_hex: card_use_cases::color_hex(&card.color),
                membership_number: member.membership_number.clone().unwrap_or(member.code),
                points: member.points,
                balance: card
                    .stored_value
                    .then(|| kaika_core::display::yuan_number(member.balance_cents)),
                status: match member.status.as_str() {
                    "active" => "已激活",
                    "deleted" => "已从卡包删除",
                    _ => "已领取",
                },
            };
            render(
                StatusCode::OK,
                &ActivatePage {
                    heading: "会员卡已激活".into(),
                    code: "activated".into(),
                    message: String::new(),
                    card: Some(view),
                    pending: false,
                },
            )
        }
        Err(CoreError::InProgress) => render(
            StatusCode::ACCEPTED,
            &ActivatePage {
                heading: "正在激活…".into(),
                code: "activation_in_progress".into(),
                message: "正在为你激活会员卡，本页会自动刷新。".into(),
                card: None,
                pending: true,
            },
        ),
        Err(err) => {
            let api = crate::error::api_error(err);
            let status = actix_web::ResponseError::status_code(&api);
            if status.is_server_error() {
                tracing::warn!(error = %api, "activation from the after-submit page failed");
            }
            refusal(status, api.code())
        }
    }
}
