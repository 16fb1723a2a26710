//! `/api/v1`: the JSON API the mini-program (and the sandbox page) calls. Each handler extracts, calls one
//! use case of kaika-core and maps the result; errors are `{"code", "message"}` with stable codes.

use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use kaika_core::activation::ActivationRequest;
use kaika_core::entity::{accounts, cards, members};
use kaika_core::sessions::{self, MiniSession};
use kaika_core::{cards as card_use_cases, CoreError};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::client_ip;
use crate::error::{api_error, ApiCode, ApiError, ErrorBody, ErrorCode, MemberErrorCode};
use crate::rate_limit::RateLimits;
use crate::startup::Context;
use kaika_core::Refusal;

/// The OpenAPI document of `/api/v1`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Kaika API",
        version = "1",
        description = "The mini-program API (`/api/v1`, a session token from `POST /api/v1/sessions` as \
                       `Authorization: Bearer …`) and the integration API (`/api/v1/integration`, an API \
                       key). Every error is `{\"code\": …, \"message\": …}` with a stable code."
    ),
    servers((url = "/", description = "this Kaika")),
    paths(
        create_session,
        list_cards,
        activation_params,
        activate,
        my_cards,
        my_card,
        my_ledger
    ),
    components(schemas(
        LoginRequest,
        SessionResponse,
        CardOfferDto,
        ComponentParamsDto,
        ExtraDataDto,
        ActivationBody,
        MemberCardDto,
        ErrorBody,
        ErrorCode,
        MemberErrorCode
    )),
    modifiers(&SessionScheme)
)]
pub struct ApiDoc;

/// The `session` security scheme: the bearer token `POST /api/v1/sessions` hands out.
struct SessionScheme;

impl utoipa::Modify for SessionScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "the token of POST /api/v1/sessions (wx.login code → session)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The whole OpenAPI document: the mini-program API and the integration API.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::integration::IntegrationDoc::openapi());
    doc
}

pub(crate) async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// The logged-in mini-program user, from `Authorization: Bearer <token>`.
#[derive(Debug)]
pub struct Member(pub MiniSession);

impl FromRequest for Member {
    type Error = ApiError;
    type Future = futures::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        let ctx = req.app_data::<web::Data<Context>>().cloned();
        Box::pin(async move {
            let invalid = || {
                ApiError::new(
                    ApiCode::InvalidSession,
                    "log in again: the session is missing, unknown or expired",
                )
            };
            let (Some(token), Some(ctx)) = (token, ctx) else {
                return Err(invalid());
            };
            match sessions::authenticate(&ctx.db, &token).await {
                Ok(Some(session)) => Ok(Member(session)),
                Ok(None) => Err(invalid()),
                Err(err) => Err(api_error(err)),
            }
        })
    }
}

/// `POST /api/v1/sessions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The code from `wx.login`.
    pub code: String,
    /// The mini-program's AppID; needed only when several accounts have a mini-program.
    #[serde(default)]
    pub app_id: Option<String>,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// The bearer token (64 hex characters, 256 random bits).
    pub token: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// The user's mini-program openid: what a tester gives the merchant for the test whitelist.
    pub openid: String,
}

/// Logs a mini-program user in with a `wx.login` code.
#[utoipa::path(post, path = "/api/v1/sessions", request_body = LoginRequest,
    responses((status = 200, body = SessionResponse), (status = 400, body = ErrorBody),
              (status = 429, body = ErrorBody, description = "rate_limited; see Retry-After"),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn create_session(
    ctx: web::Data<Context>,
    limits: web::Data<RateLimits>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    limits.session(client_ip::of(&req))?;
    let code = body.code.trim();
    if code.is_empty() || code.len() > 128 || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::new(
            Refusal::InvalidLoginCode,
            "code must be the value wx.login returned",
        ));
    }
    let account = mini_program_account(&ctx, body.app_id.as_deref()).await?;
    let client = ctx
        .clients
        .mini_program(&account.app_id)
        .await
        .map_err(api_error)?;
    let login = client
        .jscode2session(code)
        .await
        .map_err(|e| api_error(e.into()))?;
    let (token, expires_at) =
        sessions::create(&ctx.db, account.id, &login.openid, login.unionid.as_deref())
            .await
            .map_err(api_error)?;
    Ok(HttpResponse::Ok().json(SessionResponse {
        token,
        expires_at,
        openid: login.openid,
    }))
}

async fn mini_program_account(
    ctx: &Context,
    app_id: Option<&str>,
) -> Result<accounts::Model, ApiError> {
    let candidates = accounts::Entity::find()
        .filter(accounts::Column::MiniAppId.is_not_null())
        .all(&ctx.db)
        .await
        .map_err(|e| api_error(e.into()))?;
    let chosen: Vec<_> = match app_id {
        Some(app_id) => candidates
            .into_iter()
            .filter(|a| a.mini_app_id.as_deref() == Some(app_id) || a.app_id == app_id)
            .collect(),
        None => candidates,
    };
    match chosen.len() {
        1 => Ok(chosen
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::new(ApiCode::AccountNotFound, "no such mini-program"))?),
        0 => Err(ApiError::new(
            ApiCode::AccountNotFound,
            "no account has this mini-program",
        )),
        _ => Err(ApiError::new(
            ApiCode::AppIdRequired,
            "several mini-programs are configured: send app_id",
        )),
    }
}

/// A card the member can open.
#[derive(Debug, Serialize, ToSchema)]
pub struct CardOfferDto {
    /// WeChat's card id.
    pub card_id: String,
    /// Title.
    pub title: String,
    /// Brand name.
    pub brand_name: String,
    /// WeChat palette name.
    pub color: String,
    /// The colour as `#rrggbb`.
    pub color_hex: String,
    /// Logo URL.
    pub logo_url: String,
    /// Whether the caller already holds this card.
    pub held: bool,
}

/// Lists the cards the member can open.
#[utoipa::path(get, path = "/api/v1/cards", security(("session" = [])),
    responses((status = 200, body = [CardOfferDto]), (status = 401, body = ErrorBody)))]
pub(crate) async fn list_cards(
    ctx: web::Data<Context>,
    member: Member,
) -> Result<HttpResponse, ApiError> {
    let offers = card_use_cases::offers(&ctx.db, member.0.account_id, &member.0.mini_openid)
        .await
        .map_err(api_error)?;
    let body: Vec<CardOfferDto> = offers
        .into_iter()
        .map(|o| CardOfferDto {
            card_id: o.card_id,
            title: o.title,
            brand_name: o.brand_name,
            color: o.color,
            color_hex: o.color_hex,
            logo_url: o.logo_url,
            held: o.held,
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Query of the activation parameters.
#[derive(Debug, Deserialize)]
pub(crate) struct ParamsQuery {
    #[serde(default)]
    channel: Option<String>,
}

/// What to give the card-opening component.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentParamsDto {
    /// Always `wxeb490c6f9b154ef9`.
    pub app_id: String,
    /// The navigator's `extra-data`.
    pub extra_data: ExtraDataDto,
}

/// `extraData` of the card-opening component.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExtraDataDto {
    /// Decoded `encrypt_card_id`.
    pub encrypt_card_id: String,
    /// The channel tag.
    pub outer_str: String,
    /// Decoded `biz`.
    pub biz: String,
}

async fn member_card(
    ctx: &Context,
    session: &MiniSession,
    card_id: &str,
) -> Result<cards::Model, ApiError> {
    cards::Entity::find_by_wechat_id(card_id)
        .filter(cards::Column::AccountId.eq(session.account_id))
        .one(&ctx.db)
        .await
        .map_err(|e| api_error(e.into()))?
        .ok_or_else(|| ApiError::new(Refusal::CardNotFound, "no such card for this mini-program"))
}

/// The parameters of `<navigator target="miniProgram" app-id="wxeb490c6f9b154ef9" extra-data="…">`.
#[utoipa::path(get, path = "/api/v1/cards/{card_id}/activation-params", security(("session" = [])),
    params(("card_id" = String, Path, description = "WeChat card id"),
           ("channel" = Option<String>, Query, description = "the channel's outer_str")),
    responses((status = 200, body = ComponentParamsDto), (status = 404, body = ErrorBody),
              (status = 410, body = ErrorBody),
              (status = 429, body = ErrorBody, description = "rate_limited; see Retry-After"),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn activation_params(
    ctx: web::Data<Context>,
    limits: web::Data<RateLimits>,
    req: HttpRequest,
    member: Member,
    path: web::Path<String>,
    query: web::Query<ParamsQuery>,
) -> Result<HttpResponse, ApiError> {
    limits.activation(
        client_ip::of(&req),
        Some((member.0.account_id, &member.0.mini_openid)),
    )?;
    let card = member_card(&ctx, &member.0, &path).await?;
    let account = accounts::Entity::find_by_id(card.account_id)
        .one(&ctx.db)
        .await
        .map_err(|e| api_error(e.into()))?
        .ok_or_else(|| ApiError::new(Refusal::CardNotFound, "no such card"))?;
    let client = ctx
        .clients
        .official_account(&account.app_id)
        .await
        .map_err(api_error)?;
    let channel = query.channel.as_deref().unwrap_or_default().trim();
    let params = card_use_cases::component_params(
        &ctx.db,
        &client,
        &ctx.params_flights,
        &card,
        channel,
        &member.0.mini_openid,
    )
    .await
    .map_err(api_error)?;
    Ok(HttpResponse::Ok().json(ComponentParamsDto {
        app_id: params.app_id.to_owned(),
        extra_data: ExtraDataDto {
            encrypt_card_id: params.extra_data.encrypt_card_id,
            outer_str: params.extra_data.outer_str,
            biz: params.extra_data.biz,
        },
    }))
}

/// `POST /api/v1/activations`: what `App.onShow` received in `referrerInfo.extraData`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivationBody {
    /// `extraData.activate_ticket`.
    pub activate_ticket: String,
    /// `extraData.card_id`.
    pub card_id: String,
    /// `extraData.code` (the encrypted code).
    pub encrypt_code: String,
}

/// A member's card.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberCardDto {
    /// WeChat's card id.
    pub card_id: String,
    /// Title.
    pub title: String,
    /// Brand name.
    pub brand_name: String,
    /// The card colour as `#rrggbb`.
    pub color_hex: String,
    /// Logo URL.
    pub logo_url: String,
    /// Membership number.
    pub membership_number: Option<String>,
    /// The card code (shown as barcode and QR code).
    pub code: String,
    /// Points.
    pub points: i64,
    /// Balance in cents.
    pub balance_cents: i64,
    /// Level, if the merchant uses levels.
    pub level: Option<String>,
    /// `active`, `claimed` or `deleted`.
    pub status: String,
    /// The activation form answers.
    #[schema(value_type = Object)]
    pub form_answers: serde_json::Value,
    /// When the card was activated.
    pub activated_at: Option<DateTime<Utc>>,
}

fn member_dto(member: members::Model, card: &cards::Model) -> MemberCardDto {
    MemberCardDto {
        card_id: card.wechat_card_id.clone(),
        title: card.title.clone(),
        brand_name: card.brand_name.clone(),
        color_hex: card_use_cases::color_hex(&card.color),
        logo_url: card.logo_url.clone(),
        membership_number: member.membership_number,
        code: member.code,
        points: member.points,
        balance_cents: member.balance_cents,
        level: member.level,
        status: member.status,
        form_answers: member
            .form_answers
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or(serde_json::Value::Null),
        activated_at: member.activated_at,
    }
}

/// Activates the card behind a ticket. Idempotent per ticket.
#[utoipa::path(post, path = "/api/v1/activations", security(("session" = [])), request_body = ActivationBody,
    responses((status = 200, body = MemberCardDto),
              (status = 202, body = ErrorBody, description = "activation_in_progress; see Retry-After"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody, description = "rate_limited; see Retry-After"),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn activate(
    ctx: web::Data<Context>,
    limits: web::Data<RateLimits>,
    req: HttpRequest,
    member: Member,
    body: web::Json<ActivationBody>,
) -> Result<HttpResponse, ApiError> {
    limits.activation(
        client_ip::of(&req),
        Some((member.0.account_id, &member.0.mini_openid)),
    )?;
    let request = ActivationRequest {
        activate_ticket: body.activate_ticket.clone(),
        card_id: body.card_id.clone(),
        encrypt_code: body.encrypt_code.clone(),
    };
    match ctx.activator.submit(&member.0, &request).await {
        Ok(stored) => {
            let card = member_card(&ctx, &member.0, &body.card_id).await?;
            Ok(HttpResponse::Ok().json(member_dto(stored, &card)))
        }
        Err(CoreError::InProgress) => Ok(HttpResponse::Accepted()
            .insert_header(("Retry-After", "2"))
            .json(ErrorBody {
                code: "activation_in_progress".into(),
                message: "the activation is still running; ask again shortly".into(),
            })),
        Err(err) => Err(api_error(err)),
    }
}

/// The member's cards.
#[utoipa::path(get, path = "/api/v1/me/cards", security(("session" = [])),
    responses((status = 200, body = [MemberCardDto]), (status = 401, body = ErrorBody)))]
pub(crate) async fn my_cards(
    ctx: web::Data<Context>,
    member: Member,
) -> Result<HttpResponse, ApiError> {
    let held = kaika_core::members::held_by(&ctx.db, &member.0.mini_openid)
        .await
        .map_err(api_error)?;
    let body: Vec<MemberCardDto> = held
        .into_iter()
        .filter(|(_, card)| card.account_id == member.0.account_id)
        .map(|(m, card)| member_dto(m, &card))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// One of the member's cards.
#[utoipa::path(get, path = "/api/v1/me/cards/{card_id}", security(("session" = [])),
    params(("card_id" = String, Path, description = "WeChat card id")),
    responses((status = 200, body = MemberCardDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn my_card(
    ctx: web::Data<Context>,
    member: Member,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let card = member_card(&ctx, &member.0, &path).await?;
    let held = held_member(&ctx, &member.0, &card).await?;
    Ok(HttpResponse::Ok().json(member_dto(held, &card)))
}

/// The member's points and balance history on one card, newest first, cursor-paged.
#[utoipa::path(get, path = "/api/v1/me/cards/{card_id}/ledger", security(("session" = [])),
    params(("card_id" = String, Path, description = "WeChat card id"), crate::integration::PageQuery),
    responses((status = 200, body = crate::integration::LedgerPageDto), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn my_ledger(
    ctx: web::Data<Context>,
    member: Member,
    path: web::Path<String>,
    query: web::Query<crate::integration::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let card = member_card(&ctx, &member.0, &path).await?;
    let held = held_member(&ctx, &member.0, &card).await?;
    let page = crate::integration::ledger_page(&ctx, held.id, &query).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The caller's membership of a card, or 404 `membership_not_found`.
async fn held_member(
    ctx: &Context,
    session: &MiniSession,
    card: &cards::Model,
) -> Result<members::Model, ApiError> {
    members::Entity::find_for_card(card.id)
        .filter(members::Column::MiniOpenid.eq(session.mini_openid.clone()))
        .one(&ctx.db)
        .await
        .map_err(|e| api_error(e.into()))?
        .ok_or_else(|| ApiError::new(ApiCode::MembershipNotFound, "you do not hold this card yet"))
}
