//! The admin's errors and their HTTP answers (error pages are templates).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use kaika_core::{CoreError, Refusal};

use crate::i18n::{Lang, Tr};

/// Everything an admin handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No valid session: answered with a redirect to the login page.
    #[error("login required")]
    LoginRequired,
    /// The role may not do this.
    #[error("your role may not do this")]
    Forbidden,
    /// The form's CSRF token is wrong.
    #[error("the form expired or came from another site; reload the page and try again")]
    Csrf,
    /// No such page or thing.
    #[error("not found")]
    NotFound,
    /// A bad request.
    #[error("{0}")]
    BadRequest(String),
    /// A use case failed.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// Something of ours failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sea_orm::DbErr> for AdminError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Core(CoreError::Database(err))
    }
}

impl From<askama::Error> for AdminError {
    fn from(err: askama::Error) -> Self {
        Self::Internal(err.to_string())
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: &'static str,
    message: String,
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::LoginRequired => StatusCode::SEE_OTHER,
            Self::Forbidden | Self::Csrf => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Core(CoreError::Invalid { .. } | CoreError::Refused { .. }) => {
                StatusCode::BAD_REQUEST
            }
            Self::Core(CoreError::NotFound { .. }) => StatusCode::NOT_FOUND,
            Self::Core(CoreError::Conflict { .. }) => StatusCode::CONFLICT,
            Self::Core(CoreError::Wechat(_)) => StatusCode::BAD_GATEWAY,
            Self::Core(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status == StatusCode::SEE_OTHER {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/admin/login"))
                .finish();
        }
        let (title, message) = match self {
            Self::Forbidden => ("没有权限 / Forbidden", self.to_string()),
            Self::Csrf => ("表单已失效 / Form expired", self.to_string()),
            Self::NotFound | Self::Core(CoreError::NotFound { .. }) => {
                ("找不到 / Not found", self.to_string())
            }
            Self::Core(CoreError::Refused { refusal, .. }) => {
                ("请求未完成 / Request failed", refusal_sentence(*refusal))
            }
            Self::Core(CoreError::Database(_)) | Self::Internal(_) => {
                tracing::error!(error = %self, "admin request failed");
                ("出错了 / Something went wrong", "internal error".to_owned())
            }
            _ => ("请求未完成 / Request failed", self.to_string()),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            message,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{} {title}", status.as_u16()));
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}

/// A refusal in both languages of the admin, as the error page's title is.
fn refusal_sentence(refusal: Refusal) -> String {
    let key = refusal.i18n_key();
    format!(
        "{} / {}",
        Tr::new(Lang::Zh).t(&key),
        Tr::new(Lang::En).t(&key)
    )
}

/// Unknown admin paths.
pub async fn not_found() -> Result<HttpResponse, AdminError> {
    Err(AdminError::NotFound)
}
