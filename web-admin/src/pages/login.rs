//! Logging in and out, and the language switch.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use kaika_core::admin_users::{log_in, LoginAttempt, LoginOutcome};
use serde::Deserialize;

use super::{render, see_other, Chrome};
use crate::auth::{
    admin_cookie, client_ip, lang_of, removal_cookie, same_token, Admin, LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
};
use crate::error::AdminError;
use crate::i18n::{Lang, LANG_COOKIE};
use crate::state::AdminState;

/// The login page.
#[derive(Debug, Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    chrome: Chrome,
    username: String,
    error: Option<String>,
}

fn new_login_token() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

fn login_page(
    req: &HttpRequest,
    status: StatusCode,
    username: String,
    error: Option<String>,
) -> Result<HttpResponse, AdminError> {
    let token = new_login_token();
    let page = LoginPage {
        chrome: Chrome::anonymous(lang_of(req), token.clone()),
        username,
        error,
    };
    let mut response = render(&page, status)?;
    response
        .add_cookie(&admin_cookie(req, LOGIN_CSRF_COOKIE, token))
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    Ok(response)
}

/// `GET /admin/login` (also when logged in: logging in again, maybe as someone else, replaces the
/// session).
pub async fn form(req: HttpRequest) -> Result<HttpResponse, AdminError> {
    login_page(&req, StatusCode::OK, String::new(), None)
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf: String,
}

/// `POST /admin/login`: throttled per username and address; a new session (and a new token) at every
/// login, the previous one of this browser ended.
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AdminState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AdminError> {
    check_login_csrf(&req, &form.csrf)?;
    let attempt = attempt(&req, form.into_inner());
    let username = attempt.username.clone();
    let (throttle, sessions) = (state.settings.throttle, state.settings.sessions);
    let (status, key) = match log_in(&state.db, throttle, sessions, attempt).await? {
        LoginOutcome::Locked => (StatusCode::TOO_MANY_REQUESTS, "login.locked"),
        LoginOutcome::Failed => (StatusCode::UNAUTHORIZED, "login.failed"),
        LoginOutcome::LoggedIn { session, .. } => {
            return logged_in(&req, &state, session.token);
        }
    };
    let error = lang_of(&req).t(key).to_owned();
    login_page(&req, status, username, Some(error))
}

/// The login form carries the token of its page's cookie (there is no session yet).
fn check_login_csrf(req: &HttpRequest, posted: &str) -> Result<(), AdminError> {
    let cookie_token = req
        .cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if cookie_token.is_empty() || !same_token(&cookie_token, posted) {
        return Err(AdminError::Csrf);
    }
    Ok(())
}

fn attempt(req: &HttpRequest, form: LoginForm) -> LoginAttempt {
    LoginAttempt {
        username: form.username.trim().to_owned(),
        password: form.password,
        ip: client_ip(req),
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        previous_session: req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()),
    }
}

/// To the dashboard with the session's cookie; the login page's token is spent.
fn logged_in(
    req: &HttpRequest,
    state: &AdminState,
    token: String,
) -> Result<HttpResponse, AdminError> {
    let mut response = see_other("/admin");
    let mut cookie = admin_cookie(req, SESSION_COOKIE, token);
    cookie.set_max_age(actix_web::cookie::time::Duration::seconds(
        state.settings.sessions.absolute.num_seconds(),
    ));
    response
        .add_cookie(&cookie)
        .and_then(|()| response.add_cookie(&removal_cookie(req, LOGIN_CSRF_COOKIE)))
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    Ok(response)
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The session's token.
    pub csrf: String,
}

fn to_login(req: &HttpRequest) -> Result<HttpResponse, AdminError> {
    let mut response = see_other("/admin/login");
    response
        .add_cookie(&removal_cookie(req, SESSION_COOKIE))
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    Ok(response)
}

/// `POST /admin/logout`: ends this session.
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AdminState>,
    admin: Admin,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AdminError> {
    admin.check_csrf(&form.csrf)?;
    kaika_core::admin_users::end_session(&state.db, &admin.token).await?;
    to_login(&req)
}

/// `POST /admin/logout-everywhere`: ends every session of this admin, on every browser.
pub async fn logout_everywhere(
    req: HttpRequest,
    state: web::Data<AdminState>,
    admin: Admin,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AdminError> {
    admin.check_csrf(&form.csrf)?;
    let ended = kaika_core::admin_users::end_all_sessions(&state.db, admin.user.id).await?;
    admin
        .audit(
            &state,
            "admin.logout_everywhere",
            format!("admin:{}", admin.user.id),
            None,
            Some(serde_json::json!({ "sessions_ended": ended })),
        )
        .await?;
    to_login(&req)
}

/// Where to go after switching the language.
#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// `GET /admin/lang/{zh|en}?next=…`: remembers the language in a cookie.
pub async fn switch_language(
    req: HttpRequest,
    lang: web::Path<String>,
    next: web::Query<Next>,
) -> Result<HttpResponse, AdminError> {
    let lang = Lang::parse(&lang);
    // Only our own pages: an open redirect would let other sites bounce users through us.
    let referer_path = req
        .headers()
        .get("referer")
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://"))
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()));
    let target = next
        .next
        .clone()
        .or(referer_path)
        .filter(|n| n.starts_with("/admin") && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/admin".to_owned());
    let mut response = see_other(&target);
    let mut cookie = admin_cookie(&req, LANG_COOKIE, lang.cookie_value().to_owned());
    cookie.set_max_age(actix_web::cookie::time::Duration::days(365));
    response
        .add_cookie(&cookie)
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    Ok(response)
}
