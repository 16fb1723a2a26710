//! The JSON error body of every endpoint: `{"code": "...", "message": "..."}` with a stable code.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An error answered to an HTTP client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
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
            code: self.code,
            message: &self.message,
        })
    }
}

/// A resource of the JSON API: a method it does not serve answers the documented 405 body.
pub fn api_resource(path: &str) -> actix_web::Resource {
    actix_web::web::resource(path).default_service(actix_web::web::to(|| async {
        Err::<HttpResponse, ApiError>(ApiError::method_not_allowed())
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
