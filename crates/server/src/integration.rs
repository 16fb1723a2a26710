//! `/api/v1/integration`: the API other systems (tills, shops, CRMs) call with an API key
//! (`Authorization: Bearer kk_…`): find members, credit and debit points or balance with an
//! `Idempotency-Key`, reverse entries, read ledgers and the sync state of a member's card.

use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use kaika_core::api_keys::{self, ApiKey, Authentication, Scope};
use kaika_core::entity::{cards, ledger_entries, members, outbox as jobs};
use kaika_core::ledger::{
    self, LedgerKind, LedgerLimits, MemberLookup, NewEntry, Reason, Reversal,
};
use kaika_core::{outbox, CoreError};
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::{api_error, ApiCode, ApiError, ErrorBody, ErrorCode};
use crate::startup::Context;
use kaika_core::Refusal;

/// The OpenAPI document of `/api/v1/integration` (merged into `/api/v1/openapi.json`).
#[derive(Debug, OpenApi)]
#[openapi(
    paths(find_members, get_member, credit, debit, member_ledger, member_sync, reverse),
    components(schemas(
        IntegrationMemberDto,
        LedgerChangeBody,
        ReversalBody,
        LedgerEntryDto,
        LedgerPageDto,
        SyncJobDto,
        ErrorBody
    )),
    modifiers(&ApiKeyScheme)
)]
pub struct IntegrationDoc;

struct ApiKeyScheme;

impl utoipa::Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

fn bad(code: impl Into<ErrorCode>, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message).with_status(StatusCode::BAD_REQUEST)
}

/// The API key of a request, from `Authorization: Bearer kk_…` (or `X-Api-Key: kk_…`).
#[derive(Debug)]
pub struct IntegrationKey(pub ApiKey);

impl IntegrationKey {
    fn require(&self, scope: Scope) -> Result<&ApiKey, ApiError> {
        if self.0.allows(scope) {
            Ok(&self.0)
        } else {
            Err(ApiError::new(
                ApiCode::InsufficientScope,
                format!("this API key lacks the scope {}", scope.as_str()),
            ))
        }
    }
}

impl FromRequest for IntegrationKey {
    type Error = ApiError;
    type Future = futures::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let headers = req.headers();
        let presented = headers
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(|t| t.trim().to_owned());
        let ctx = req.app_data::<web::Data<Context>>().cloned();
        Box::pin(async move {
            let unauthorized = |code, message: &str| ApiError::new(code, message);
            let (Some(key), Some(ctx)) = (presented, ctx) else {
                return Err(unauthorized(
                    ApiCode::InvalidApiKey,
                    "send an API key: Authorization: Bearer kk_…",
                ));
            };
            match api_keys::authenticate(&ctx.db, &key).await {
                Ok(Authentication::Valid(key)) => Ok(IntegrationKey(key)),
                Ok(Authentication::Revoked) => Err(unauthorized(
                    ApiCode::ApiKeyRevoked,
                    "this API key was revoked",
                )),
                Ok(Authentication::Unknown) => {
                    Err(unauthorized(ApiCode::InvalidApiKey, "unknown API key"))
                }
                Err(err) => Err(api_error(err)),
            }
        })
    }
}

/// Maps ledger refusals to their status; everything else as in `/api/v1`.
fn ledger_error(err: CoreError) -> ApiError {
    match err {
        CoreError::Conflict { .. } => ApiError::new(
            ApiCode::IdempotencyKeyReused,
            "this Idempotency-Key was used with another request body",
        ),
        CoreError::Invalid { field, message } => {
            bad(ApiCode::InvalidRequest, format!("{field}: {message}"))
        }
        other => api_error(other),
    }
}

fn internal(err: sea_orm::DbErr) -> ApiError {
    api_error(err.into())
}

/// A member as other systems see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationMemberDto {
    /// Kaika's member id (used in the other paths).
    pub id: i64,
    /// WeChat's card id.
    pub card_id: String,
    /// The card code.
    pub code: String,
    /// The membership number.
    pub membership_number: Option<String>,
    /// The mobile number from the activation form.
    pub mobile: Option<String>,
    /// `active`, `claimed` or `deleted`; only active members have points and balance changed.
    pub status: String,
    /// Points.
    pub points: i64,
    /// Balance in cents.
    pub balance_cents: i64,
    /// When the card was activated.
    pub activated_at: Option<DateTime<Utc>>,
}

fn member_dto(member: members::Model, card: &cards::Model) -> IntegrationMemberDto {
    IntegrationMemberDto {
        mobile: ledger::mobile_of(&member),
        id: member.id,
        card_id: card.wechat_card_id.clone(),
        code: member.code,
        membership_number: member.membership_number,
        status: member.status,
        points: member.points,
        balance_cents: member.balance_cents,
        activated_at: member.activated_at,
    }
}

async fn load_member(
    ctx: &Context,
    member_id: i64,
) -> Result<(members::Model, cards::Model), ApiError> {
    members::Entity::find_by_id(member_id)
        .find_also_related(cards::Entity)
        .one(&ctx.db)
        .await
        .map_err(internal)?
        .and_then(|(m, c)| c.map(|c| (m, c)))
        .ok_or_else(|| ApiError::new(ApiCode::MemberNotFound, format!("no member {member_id}")))
}

/// How to find members: exactly one of `code`, `membership_number`, `mobile`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FindQuery {
    /// The card code.
    code: Option<String>,
    /// The membership number.
    membership_number: Option<String>,
    /// The mobile number from the activation form.
    mobile: Option<String>,
    /// Only this card (WeChat card id).
    card_id: Option<String>,
}

/// Finds members by card code, membership number or mobile.
#[utoipa::path(get, path = "/api/v1/integration/members", params(FindQuery), security(("api_key" = [])),
    responses((status = 200, body = [IntegrationMemberDto]), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn find_members(
    ctx: web::Data<Context>,
    key: IntegrationKey,
    query: web::Query<FindQuery>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::MembersRead)?;
    let query = query.into_inner();
    let lookup = match (query.code, query.membership_number, query.mobile) {
        (Some(v), None, None) => MemberLookup::Code(v),
        (None, Some(v), None) => MemberLookup::MembershipNumber(v),
        (None, None, Some(v)) => MemberLookup::Mobile(v),
        _ => {
            return Err(bad(
                ApiCode::InvalidLookup,
                "give exactly one of code, membership_number, mobile",
            ))
        }
    };
    let card = match &query.card_id {
        Some(id) => Some(
            cards::Entity::find_by_wechat_id(id)
                .one(&ctx.db)
                .await
                .map_err(internal)?
                .ok_or_else(|| ApiError::new(Refusal::CardNotFound, "no such card"))?,
        ),
        None => None,
    };
    let found = ledger::find_members(&ctx.db, &lookup, card.as_ref().map(|c| c.id))
        .await
        .map_err(|err| match err {
            CoreError::Invalid { message, .. } => bad(ApiCode::InvalidLookup, message),
            other => api_error(other),
        })?;
    let mut body = Vec::with_capacity(found.len());
    for member in found {
        let (member, card) = load_member(&ctx, member.id).await?;
        body.push(member_dto(member, &card));
    }
    Ok(HttpResponse::Ok().json(body))
}

/// One member with its totals.
#[utoipa::path(get, path = "/api/v1/integration/members/{member_id}", security(("api_key" = [])),
    params(("member_id" = i64, Path, description = "Kaika's member id")),
    responses((status = 200, body = IntegrationMemberDto), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_member(
    ctx: web::Data<Context>,
    key: IntegrationKey,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::MembersRead)?;
    let (member, card) = load_member(&ctx, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(member_dto(member, &card)))
}

/// A credit or a debit. The amount is positive; the path says which way it goes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerChangeBody {
    /// `points` or `balance` (cents).
    pub kind: String,
    /// A positive integer, at most the configured per-entry limit.
    #[schema(value_type = i64, minimum = 1)]
    pub amount: serde_json::Number,
    /// `purchase`, `redemption`, `adjustment`, `import` or `expiry`.
    pub reason: String,
    /// Free text (at most 500 characters), kept in the ledger.
    #[serde(default)]
    pub note: Option<String>,
}

/// A ledger entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntryDto {
    /// Entry id.
    pub id: i64,
    /// The member.
    pub member_id: i64,
    /// `points` or `balance`.
    pub kind: String,
    /// The signed change (balance in cents).
    pub amount: i64,
    /// The member's total right after this entry.
    pub resulting_total: i64,
    /// Why.
    pub reason: String,
    /// Free text.
    pub note: Option<String>,
    /// `system`, `admin:<name>` or `api_key:<name>`.
    pub actor: String,
    /// The idempotency key it was written with.
    pub idempotency_key: String,
    /// The entry this one reverses.
    pub reverses_id: Option<i64>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

impl From<ledger_entries::Model> for LedgerEntryDto {
    fn from(e: ledger_entries::Model) -> Self {
        Self {
            id: e.id,
            member_id: e.member_id,
            kind: e.kind,
            amount: e.amount,
            resulting_total: e.resulting_total,
            reason: e.reason,
            note: e.note,
            actor: e.actor,
            idempotency_key: e.idempotency_key,
            reverses_id: e.reverses_id,
            created_at: e.created_at,
        }
    }
}

fn idempotency_key(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get("idempotency-key")
        .ok_or_else(|| {
            bad(
                ApiCode::IdempotencyKeyRequired,
                "send an Idempotency-Key header (1 to 128 printable ASCII characters)",
            )
        })?
        .to_str()
        .map_err(|_| bad(ApiCode::InvalidIdempotencyKey, "must be printable ASCII"))?
        .trim();
    if value.is_empty()
        || value.len() > ledger::MAX_IDEMPOTENCY_KEY_LEN
        || !value.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(bad(
            ApiCode::InvalidIdempotencyKey,
            "must be 1 to 128 printable ASCII characters without spaces",
        ));
    }
    Ok(value.to_owned())
}

fn check_note(note: Option<String>) -> Result<Option<String>, ApiError> {
    match note {
        Some(n) if n.chars().count() > 500 => {
            Err(bad(ApiCode::InvalidNote, "at most 500 characters"))
        }
        Some(n) if n.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// Validates a change: known kind and reason, a positive integer within the limit.
fn parse_change(
    body: LedgerChangeBody,
    limits: &LedgerLimits,
) -> Result<(LedgerKind, i64, Reason, Option<String>), ApiError> {
    let kind = LedgerKind::parse(&body.kind)
        .ok_or_else(|| bad(ApiCode::InvalidKind, "kind must be points or balance"))?;
    let reason = Reason::parse(&body.reason)
        .filter(|r| r.is_external())
        .ok_or_else(|| {
            bad(
                ApiCode::InvalidReason,
                "reason must be purchase, redemption, adjustment, import or expiry",
            )
        })?;
    let amount = match (
        body.amount.as_i64(),
        body.amount.as_u64(),
        body.amount.as_f64(),
    ) {
        (Some(a), _, _) if a <= 0 => {
            return Err(bad(
                ApiCode::AmountNotPositive,
                "amount must be greater than zero",
            ))
        }
        (Some(a), _, _) => a,
        (None, Some(_), _) => {
            return Err(bad(
                Refusal::AmountTooLarge,
                "amount does not fit in 64 bits",
            ))
        }
        (None, None, Some(f)) if f <= 0.0 => {
            return Err(bad(
                ApiCode::AmountNotPositive,
                "amount must be greater than zero",
            ))
        }
        (None, None, Some(f)) if f.fract() == 0.0 && f >= 9.2e18 => {
            return Err(bad(
                Refusal::AmountTooLarge,
                "amount does not fit in 64 bits",
            ))
        }
        _ => {
            return Err(bad(
                ApiCode::AmountNotInteger,
                "amount must be an integer (balance in cents)",
            ))
        }
    };
    limits
        .check(kind, amount)
        .map_err(|err| bad(Refusal::AmountTooLarge, err.to_string()))?;
    Ok((kind, amount, reason, check_note(body.note)?))
}

async fn change(
    ctx: &Context,
    req: &HttpRequest,
    key: &IntegrationKey,
    member_id: i64,
    body: LedgerChangeBody,
    limits: &LedgerLimits,
    sign: i64,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::LedgerWrite)?;
    let idempotency_key = idempotency_key(req)?;
    let (kind, amount, reason, note) = parse_change(body, limits)?;
    let entry = NewEntry {
        member_id,
        kind,
        amount: amount * sign,
        reason,
        note,
        actor: key.actor(),
        idempotency_key,
    };
    let recorded = ledger::record(&ctx.db, &entry)
        .await
        .map_err(|err| match err {
            CoreError::NotFound { .. } => {
                ApiError::new(ApiCode::MemberNotFound, format!("no member {member_id}"))
            }
            other => ledger_error(other),
        })?;
    Ok(HttpResponse::Created()
        .insert_header(("Idempotent-Replayed", recorded.replayed.to_string()))
        .json(LedgerEntryDto::from(recorded.entry)))
}

/// Credits points or balance. The same `Idempotency-Key` with the same body answers the original
/// entry (`Idempotent-Replayed: true`); with another body, 409 `idempotency_key_reused`.
#[utoipa::path(post, path = "/api/v1/integration/members/{member_id}/credits", security(("api_key" = [])),
    request_body = LedgerChangeBody,
    params(("member_id" = i64, Path, description = "Kaika's member id"),
           ("Idempotency-Key" = String, Header, description = "1 to 128 printable ASCII characters, unique per member")),
    responses((status = 201, body = LedgerEntryDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn credit(
    ctx: web::Data<Context>,
    req: HttpRequest,
    key: IntegrationKey,
    path: web::Path<i64>,
    limits: web::Data<LedgerLimits>,
    body: web::Json<LedgerChangeBody>,
) -> Result<HttpResponse, ApiError> {
    change(
        &ctx,
        &req,
        &key,
        path.into_inner(),
        body.into_inner(),
        &limits,
        1,
    )
    .await
}

/// Debits points or balance; a debit beyond the total is refused (422 `insufficient_points` or
/// `insufficient_balance`). Idempotent as credits are.
#[utoipa::path(post, path = "/api/v1/integration/members/{member_id}/debits", security(("api_key" = [])),
    request_body = LedgerChangeBody,
    params(("member_id" = i64, Path, description = "Kaika's member id"),
           ("Idempotency-Key" = String, Header, description = "1 to 128 printable ASCII characters, unique per member")),
    responses((status = 201, body = LedgerEntryDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn debit(
    ctx: web::Data<Context>,
    req: HttpRequest,
    key: IntegrationKey,
    path: web::Path<i64>,
    limits: web::Data<LedgerLimits>,
    body: web::Json<LedgerChangeBody>,
) -> Result<HttpResponse, ApiError> {
    change(
        &ctx,
        &req,
        &key,
        path.into_inner(),
        body.into_inner(),
        &limits,
        -1,
    )
    .await
}

/// Why an entry is reversed.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReversalBody {
    /// Free text (at most 500 characters).
    #[serde(default)]
    pub note: Option<String>,
}

/// Reverses an entry with a new entry of the opposite amount (at most once per entry).
#[utoipa::path(post, path = "/api/v1/integration/entries/{entry_id}/reversal", security(("api_key" = [])),
    request_body = ReversalBody,
    params(("entry_id" = i64, Path, description = "the entry to reverse"),
           ("Idempotency-Key" = String, Header, description = "1 to 128 printable ASCII characters")),
    responses((status = 201, body = LedgerEntryDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn reverse(
    ctx: web::Data<Context>,
    req: HttpRequest,
    key: IntegrationKey,
    path: web::Path<i64>,
    body: web::Json<ReversalBody>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::LedgerWrite)?;
    let entry_id = path.into_inner();
    let reversal = Reversal {
        entry_id,
        note: check_note(body.into_inner().note)?,
        actor: key.actor(),
        idempotency_key: idempotency_key(&req)?,
    };
    let recorded = ledger::reverse(&ctx.db, &reversal)
        .await
        .map_err(|err| match err {
            CoreError::NotFound { .. } => {
                ApiError::new(ApiCode::EntryNotFound, format!("no entry {entry_id}"))
            }
            other => ledger_error(other),
        })?;
    Ok(HttpResponse::Created()
        .insert_header(("Idempotent-Replayed", recorded.replayed.to_string()))
        .json(LedgerEntryDto::from(recorded.entry)))
}

/// A page of the ledger.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Entries per page, 1 to 200 (default 50).
    limit: Option<u64>,
}

/// One page of a member's ledger, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerPageDto {
    /// The entries.
    pub entries: Vec<LedgerEntryDto>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// A member's ledger, newest first, cursor-paged.
#[utoipa::path(get, path = "/api/v1/integration/members/{member_id}/ledger", security(("api_key" = [])),
    params(("member_id" = i64, Path, description = "Kaika's member id"), PageQuery),
    responses((status = 200, body = LedgerPageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn member_ledger(
    ctx: web::Data<Context>,
    key: IntegrationKey,
    path: web::Path<i64>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::LedgerRead)?;
    let (member, _) = load_member(&ctx, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ledger_page(&ctx, member.id, &query).await?))
}

/// One cursor-paged page of a member's ledger (shared with the mini-program's `/me` endpoint).
pub(crate) async fn ledger_page(
    ctx: &Context,
    member_id: i64,
    query: &PageQuery,
) -> Result<LedgerPageDto, ApiError> {
    let before = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
            bad(
                ApiCode::InvalidCursor,
                "use next_cursor of the previous page",
            )
        })?),
    };
    let limit = match query.limit {
        None => 50,
        Some(l @ 1..=200) => l,
        Some(_) => return Err(bad(ApiCode::InvalidLimit, "limit must be 1 to 200")),
    };
    let page = ledger::entries_page(&ctx.db, member_id, before, limit)
        .await
        .map_err(api_error)?;
    Ok(LedgerPageDto {
        entries: page.entries.into_iter().map(LedgerEntryDto::from).collect(),
        next_cursor: page.next_before.map(|id| id.to_string()),
    })
}

/// One `updateuser` job that mirrors a change onto the WeChat card.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncJobDto {
    /// Job id.
    pub id: i64,
    /// The entry it mirrors (none for a reconciliation's correction).
    pub entry_id: Option<i64>,
    /// `entry` or `correction`.
    pub purpose: String,
    /// `pending`, `sending`, `sent` or `failed`.
    pub status: String,
    /// Sends tried.
    pub attempts: i32,
    /// The error of the last failed send.
    pub last_error: Option<String>,
    /// Absolute points sent.
    pub points_total: Option<i64>,
    /// Absolute balance sent (cents).
    pub balance_total: Option<i64>,
    /// When the next send may happen.
    pub next_attempt_at: DateTime<Utc>,
    /// When WeChat accepted it.
    pub sent_at: Option<DateTime<Utc>>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
}

impl From<jobs::Model> for SyncJobDto {
    fn from(j: jobs::Model) -> Self {
        Self {
            id: j.id,
            entry_id: j.entry_id,
            purpose: j.purpose,
            status: j.status,
            attempts: j.attempts,
            last_error: j.last_error,
            points_total: j.points_total,
            balance_total: j.balance_total,
            next_attempt_at: j.next_attempt_at,
            sent_at: j.sent_at,
            created_at: j.created_at,
        }
    }
}

/// The latest 50 sync jobs of a member's card, newest first: what reached WeChat, what waits, what
/// failed and why.
#[utoipa::path(get, path = "/api/v1/integration/members/{member_id}/sync", security(("api_key" = [])),
    params(("member_id" = i64, Path, description = "Kaika's member id")),
    responses((status = 200, body = [SyncJobDto]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn member_sync(
    ctx: web::Data<Context>,
    key: IntegrationKey,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::LedgerRead)?;
    let (member, _) = load_member(&ctx, path.into_inner()).await?;
    let filter = outbox::JobFilter {
        member_id: Some(member.id),
        ..outbox::JobFilter::default()
    };
    let rows = outbox::list(&ctx.db, &filter).await.map_err(api_error)?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(SyncJobDto::from).collect::<Vec<_>>()))
}
