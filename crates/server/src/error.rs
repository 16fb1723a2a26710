//! The JSON error body of every endpoint: `{"code": "...", "message": "..."}` with a stable code.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use kaika_core::CoreError;
use kaika_wechat::ErrorKind;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answered to an HTTP client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with a status, a stable code and a sentence for humans.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 404 for a path nothing serves.
    pub fn route_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "nothing is served at this path",
        )
    }

    /// 405 for a path served with other methods.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path is not served with this method",
        )
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(ErrorBody {
            code: self.code.to_owned(),
            message: self.message.clone(),
        })
    }
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
    actix_web::web::PathConfig::default().error_handler(|err, _req| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", err.to_string()).into()
    })
}

/// Query strings that do not parse answer the documented 400 body.
pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", err.to_string()).into()
    })
}

/// The error body of every endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine code, e.g. `invalid_session`, `ticket_expired`.
    pub code: String,
    /// A sentence for humans.
    pub message: String,
}

/// Maps a domain error to its HTTP answer.
pub fn api_error(err: CoreError) -> ApiError {
    match err {
        CoreError::Invalid { field, message } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("{field}: {message}"),
        ),
        CoreError::NotFound { what } => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        ),
        CoreError::Conflict { what } => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("{what} already exists"),
        ),
        CoreError::Refused { code, message } => {
            let status = match code {
                "card_not_found" | "channel_not_found" => StatusCode::NOT_FOUND,
                "channel_archived" => StatusCode::GONE,
                "ticket_conflict" | "card_not_approved" | "mini_program_not_configured" => {
                    StatusCode::CONFLICT
                }
                "wechat_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
                "card_misconfigured" => StatusCode::BAD_GATEWAY,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            ApiError::new(status, code, message)
        }
        CoreError::InProgress => ApiError::new(
            StatusCode::ACCEPTED,
            "activation_in_progress",
            "the activation is still running; ask again shortly",
        ),
        CoreError::Wechat(err) => match err.kind() {
            ErrorKind::InvalidJsCode => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_login_code",
                "the wx.login code is invalid or was already used",
            ),
            ErrorKind::InvalidTicket => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "ticket_invalid",
                err.to_string(),
            ),
            ErrorKind::TicketExpired => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "ticket_expired",
                err.to_string(),
            ),
            kind => {
                tracing::warn!(error = %err, kind = %kind, "WeChat call failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "wechat_unavailable",
                    "WeChat is not answering as expected; try again shortly",
                )
            }
        },
        CoreError::WrongMasterKey { .. } | CoreError::Database(_) => {
            tracing::error!(error = %err, "internal error");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "something went wrong on our side",
            )
        }
    }
}
