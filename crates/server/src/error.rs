//! The JSON error body of every endpoint: `{"code": "...", "message": "..."}` with a stable code.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use kaika_core::refusal::{Audience, Refusal};
use kaika_core::CoreError;
use serde::Serialize;
use utoipa::ToSchema;

macro_rules! api_codes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $code:literal, $status:ident, $member:literal;)+) => {
        /// The server's own error codes: requests refused before (or besides) any domain rule.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ApiCode {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl ApiCode {
            /// Every code, in the table's order.
            pub const ALL: &'static [ApiCode] = &[$(ApiCode::$variant,)+];

            /// The stable machine code.
            pub const fn code(self) -> &'static str {
                match self {
                    $(ApiCode::$variant => $code,)+
                }
            }

            /// The status it is answered with.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(ApiCode::$variant => StatusCode::$status,)+
                }
            }

            /// Whether the mini-program's endpoints can answer it (so the mini-program needs a sentence).
            pub const fn reaches_members(self) -> bool {
                match self {
                    $(ApiCode::$variant => $member,)+
                }
            }
        }
    };
}

api_codes! {
    /// Nothing is served at this path.
    NotFound = "not_found", NOT_FOUND, false;
    /// The path is served with other methods.
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED, false;
    /// A path parameter does not parse.
    InvalidPath = "invalid_path", BAD_REQUEST, false;
    /// The query string does not parse.
    InvalidQuery = "invalid_query", BAD_REQUEST, false;
    /// The JSON body does not parse or does not match the schema.
    InvalidJson = "invalid_json", BAD_REQUEST, false;
    /// The body is not `application/json`.
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, false;
    /// A field broke a rule; the message names it.
    InvalidRequest = "invalid_request", BAD_REQUEST, true;
    /// The thing to create exists already.
    Conflict = "conflict", CONFLICT, false;
    /// The same activation is still running.
    ActivationInProgress = "activation_in_progress", ACCEPTED, true;
    /// The session token is missing, unknown or expired.
    InvalidSession = "invalid_session", UNAUTHORIZED, true;
    /// Something failed on Kaika's side.
    Internal = "internal", INTERNAL_SERVER_ERROR, true;
    /// No account has this mini-program (or AppID).
    AccountNotFound = "account_not_found", NOT_FOUND, true;
    /// The account's callback settings cannot be used.
    AccountMisconfigured = "account_misconfigured", INTERNAL_SERVER_ERROR, false;
    /// Several mini-programs are configured: the request must name one.
    AppIdRequired = "app_id_required", BAD_REQUEST, true;
    /// The member does not hold this card.
    MembershipNotFound = "membership_not_found", NOT_FOUND, true;
    /// A paging cursor that no page handed out.
    InvalidCursor = "invalid_cursor", BAD_REQUEST, true;
    /// A page size outside the allowed range.
    InvalidLimit = "invalid_limit", BAD_REQUEST, true;
    /// No member with this id.
    MemberNotFound = "member_not_found", NOT_FOUND, false;
    /// No ledger entry with this id.
    EntryNotFound = "entry_not_found", NOT_FOUND, false;
    /// The API key is missing or unknown.
    InvalidApiKey = "invalid_api_key", UNAUTHORIZED, false;
    /// The API key was revoked.
    ApiKeyRevoked = "api_key_revoked", UNAUTHORIZED, false;
    /// The API key lacks the scope the operation needs.
    InsufficientScope = "insufficient_scope", FORBIDDEN, false;
    /// A ledger change without an `Idempotency-Key` header.
    IdempotencyKeyRequired = "idempotency_key_required", BAD_REQUEST, false;
    /// The `Idempotency-Key` header is not 1 to 128 printable ASCII characters.
    InvalidIdempotencyKey = "invalid_idempotency_key", BAD_REQUEST, false;
    /// The `Idempotency-Key` was used with another request body.
    IdempotencyKeyReused = "idempotency_key_reused", CONFLICT, false;
    /// A note over 500 characters.
    InvalidNote = "invalid_note", BAD_REQUEST, false;
    /// A ledger kind other than points or balance.
    InvalidKind = "invalid_kind", BAD_REQUEST, false;
    /// A ledger reason the integration API may not use.
    InvalidReason = "invalid_reason", BAD_REQUEST, false;
    /// An amount of zero or less.
    AmountNotPositive = "amount_not_positive", BAD_REQUEST, false;
    /// An amount with a fraction.
    AmountNotInteger = "amount_not_integer", BAD_REQUEST, false;
    /// A member lookup without exactly one key.
    InvalidLookup = "invalid_lookup", BAD_REQUEST, false;
    /// Too many requests from this client (address or member); see `Retry-After`.
    RateLimited = "rate_limited", TOO_MANY_REQUESTS, true;
    /// The sandbox simulator's control API refused a peer other than loopback
    /// (`KAIKA__SANDBOX__CONTROL_FROM_ANYWHERE` opens it).
    SandboxControlForbidden = "sandbox_control_forbidden", FORBIDDEN, false;
}

/// Every stable code an endpoint can answer: the server's own or a domain refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Refused by the server itself.
    Api(ApiCode),
    /// Refused by a domain rule.
    Refused(Refusal),
}

impl ErrorCode {
    /// The stable machine code.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Api(code) => code.code(),
            Self::Refused(refusal) => refusal.code(),
        }
    }

    /// The status it is answered with unless the caller says otherwise.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Api(code) => code.status(),
            Self::Refused(refusal) => StatusCode::from_u16(refusal.http_status())
                .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
        }
    }

    /// Whether the mini-program's endpoints can answer it.
    pub fn reaches_members(self) -> bool {
        match self {
            Self::Api(code) => code.reaches_members(),
            Self::Refused(refusal) => refusal.audience() == Audience::Member,
        }
    }

    /// Every code, the server's own first.
    pub fn all() -> impl Iterator<Item = ErrorCode> {
        let api = ApiCode::ALL.iter().map(|code| Self::Api(*code));
        api.chain(Refusal::ALL.iter().map(|refusal| Self::Refused(*refusal)))
    }
}

impl From<ApiCode> for ErrorCode {
    fn from(code: ApiCode) -> Self {
        Self::Api(code)
    }
}

impl From<Refusal> for ErrorCode {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        code_schema(
            "Every stable error code: the server's own, then the domain's refusals.",
            Self::all(),
        )
    }
}

impl utoipa::ToSchema for ErrorCode {}

/// The codes the mini-program's endpoints can answer: the mini-program has a sentence for each.
#[derive(Debug)]
pub struct MemberErrorCode;

impl utoipa::PartialSchema for MemberErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        code_schema(
            "The error codes the mini-program's endpoints (sessions, cards, activation, me) can answer.",
            ErrorCode::all().filter(|code| code.reaches_members()),
        )
    }
}

impl utoipa::ToSchema for MemberErrorCode {}

fn code_schema(
    description: &str,
    codes: impl Iterator<Item = ErrorCode>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(codes.map(ErrorCode::code)))
        .into()
}

/// An error answered to an HTTP client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", code.code())]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error with its stable code (which decides the status) and a sentence for humans.
    pub fn new(code: impl Into<ErrorCode>, message: impl Into<String>) -> Self {
        let code = code.into();
        Self {
            status: code.status(),
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// The same error with a `Retry-After` header: when the client may try again, in seconds.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// When the client may try again, in seconds, if the error says.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_secs
    }

    /// The same error answered with another status (a code met while parsing, before the domain).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// 404 for a path nothing serves.
    pub fn route_not_found() -> Self {
        Self::new(ApiCode::NotFound, "nothing is served at this path")
    }

    /// 405 for a path served with other methods.
    pub fn method_not_allowed() -> Self {
        Self::new(
            ApiCode::MethodNotAllowed,
            "this path is not served with this method",
        )
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code.code()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_secs {
            response.insert_header(("Retry-After", secs.to_string()));
        }
        response.json(ErrorBody {
            code: self.code().to_owned(),
            message: self.message.clone(),
        })
    }
}

/// The answer for every path nothing else serves.
pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::route_not_found())
}

#[cfg(feature = "sandbox")]
pub(crate) async fn sandbox_control_forbidden() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ApiCode::SandboxControlForbidden,
        "the simulator's control API answers only this machine; set KAIKA__SANDBOX__CONTROL_FROM_ANYWHERE=true to open it",
    ))
}

/// A resource of the JSON API served with one method; any other method answers the documented 405 body
/// with an `Allow` header naming the one it serves.
pub fn api_route<F, Args>(
    path: &str,
    method: actix_web::http::Method,
    handler: F,
) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let allow = actix_web::http::header::HeaderValue::from_str(method.as_str())
        .unwrap_or(actix_web::http::header::HeaderValue::from_static("GET"));
    actix_web::web::resource(path)
        .route(actix_web::web::method(method).to(handler))
        .default_service(actix_web::web::to(move || {
            let allow = allow.clone();
            async move {
                let mut response = ApiError::method_not_allowed().error_response();
                response
                    .headers_mut()
                    .insert(actix_web::http::header::ALLOW, allow);
                response
            }
        }))
}

/// Path parameters that do not parse (`/members/abc` where a number is expected) answer the documented
/// 400 body.
pub fn path_config() -> actix_web::web::PathConfig {
    actix_web::web::PathConfig::default()
        .error_handler(|err, _req| ApiError::new(ApiCode::InvalidPath, err.to_string()).into())
}

/// Query strings that do not parse answer the documented 400 body.
pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default()
        .error_handler(|err, _req| ApiError::new(ApiCode::InvalidQuery, err.to_string()).into())
}

/// The error body of every endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine code, e.g. `invalid_session`, `ticket_expired`.
    #[schema(value_type = ErrorCode)]
    pub code: String,
    /// A sentence for humans.
    pub message: String,
}

/// Maps a domain error to its HTTP answer.
pub fn api_error(err: CoreError) -> ApiError {
    match err {
        CoreError::Invalid { field, message } => {
            ApiError::new(ApiCode::InvalidRequest, format!("{field}: {message}"))
        }
        CoreError::NotFound { what } => {
            ApiError::new(ApiCode::NotFound, format!("{what} not found"))
        }
        CoreError::Conflict { what } => {
            ApiError::new(ApiCode::Conflict, format!("{what} already exists"))
        }
        CoreError::Refused { refusal, message } => ApiError::new(refusal, message),
        CoreError::InProgress => ApiError::new(
            ApiCode::ActivationInProgress,
            "the activation is still running; ask again shortly",
        ),
        CoreError::Wechat(_) => match err.wechat_refusal() {
            Some(refusal @ Refusal::InvalidLoginCode) => {
                ApiError::new(refusal, "the wx.login code is invalid or was already used")
            }
            Some(refusal) => ApiError::new(refusal, err.to_string()),
            None => {
                tracing::warn!(error = %err, "WeChat call failed");
                ApiError::new(
                    Refusal::WechatUnavailable,
                    "WeChat is not answering as expected; try again shortly",
                )
            }
        },
        CoreError::WrongMasterKey { .. } | CoreError::Database(_) => {
            tracing::error!(error = %err, "internal error");
            ApiError::new(ApiCode::Internal, "something went wrong on our side")
        }
    }
}
