//! Who is asking: the session cookie, the CSRF token, roles, and the refusal of cross-site posts.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage as _, HttpRequest, HttpResponse};
use futures::future::LocalBoxFuture;
use kaika_core::admin_users::AdminUser;
use kaika_core::audit::AuditEntry;
use subtle::ConstantTimeEq as _;

use crate::error::AdminError;
use crate::i18n::{Lang, Tr, LANG_COOKIE};
use crate::state::AdminState;

/// The session cookie (HttpOnly, SameSite=Strict, path `/admin`, Secure behind https).
pub const SESSION_COOKIE: &str = "kaika_admin";
/// The login form's double-submit CSRF cookie (before there is a session).
pub const LOGIN_CSRF_COOKIE: &str = "kaika_admin_login";

/// The language of a request: the `kaika_lang` cookie, Chinese by default.
pub fn lang_of(req: &HttpRequest) -> Tr {
    Tr::new(
        req.cookie(LANG_COOKIE)
            .map_or(Lang::Zh, |c| Lang::parse(c.value())),
    )
}

/// Where a request came from: the client's address and whether it used https, as the server worked
/// them out from the socket and the proxies it trusts. The server's middleware puts it into the
/// request's extensions; the admin never reads forwarding headers itself, since anyone can send them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOrigin {
    /// The client's address.
    pub ip: std::net::IpAddr,
    /// Whether the client used https.
    pub https: bool,
}

/// The client's address (the login throttle's key): the server's [`ClientOrigin`], or the socket's peer
/// when the admin runs without the server's middleware.
pub fn client_ip(req: &HttpRequest) -> String {
    if let Some(origin) = req.extensions().get::<ClientOrigin>() {
        return origin.ip.to_string();
    }
    req.peer_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
}

/// Whether the request came over https, as the server's [`ClientOrigin`] says.
pub fn is_https(req: &HttpRequest) -> bool {
    req.extensions()
        .get::<ClientOrigin>()
        .is_some_and(|origin| origin.https)
}

/// A cookie scoped to `/admin`, HttpOnly, SameSite=Strict, Secure behind https.
pub fn admin_cookie<'c>(req: &HttpRequest, name: &'c str, value: String) -> Cookie<'c> {
    Cookie::build(name, value)
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(is_https(req))
        .finish()
}

/// A cookie that deletes `name`.
pub fn removal_cookie<'c>(req: &HttpRequest, name: &'c str) -> Cookie<'c> {
    let mut cookie = admin_cookie(req, name, String::new());
    cookie.set_max_age(time::Duration::ZERO);
    cookie
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A logged-in admin, extracted from the session cookie; pages that need one redirect to the login
/// page without it.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Who.
    pub user: AdminUser,
    /// The session's CSRF token, put into every form.
    pub csrf: String,
    /// The request's language.
    pub tr: Tr,
    /// The client address.
    pub ip: String,
    /// The session cookie's value.
    pub token: String,
}

impl Admin {
    /// `admin:<username>`, for the audit log and the ledger.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.user.username)
    }

    /// Who acts, for the audit entries core's use cases write.
    pub fn by(&self) -> kaika_core::audit::Actor {
        kaika_core::audit::Actor {
            name: self.actor(),
            ip: Some(self.ip.clone()),
        }
    }

    /// Refuses viewers.
    pub fn require_operator(&self) -> Result<(), AdminError> {
        if self.user.role.can_operate() {
            Ok(())
        } else {
            Err(AdminError::Forbidden)
        }
    }

    /// Refuses everyone but owners.
    pub fn require_owner(&self) -> Result<(), AdminError> {
        if self.user.role.is_owner() {
            Ok(())
        } else {
            Err(AdminError::Forbidden)
        }
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), AdminError> {
        if same_token(token, &self.csrf) {
            Ok(())
        } else {
            Err(AdminError::Csrf)
        }
    }

    /// Writes one audit entry for this admin.
    pub async fn audit(
        &self,
        state: &AdminState,
        action: &str,
        target: String,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<(), AdminError> {
        kaika_core::audit::record(
            &state.db,
            AuditEntry {
                actor: self.actor(),
                action: action.to_owned(),
                target,
                before,
                after,
                ip: Some(self.ip.clone()),
            },
        )
        .await?;
        Ok(())
    }
}

impl FromRequest for Admin {
    type Error = AdminError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AdminState>>().cloned();
        let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        let tr = lang_of(req);
        let ip = client_ip(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| AdminError::Internal("admin state missing".into()))?;
            let token = token.ok_or(AdminError::LoginRequired)?;
            let session =
                kaika_core::admin_users::authenticate(&state.db, &token, state.settings.sessions)
                    .await?
                    .ok_or(AdminError::LoginRequired)?;
            Ok(Admin {
                user: session.user,
                csrf: session.csrf_token,
                tr,
                ip,
                token,
            })
        })
    }
}

fn header<'r>(req: &'r ServiceRequest, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Whether a state-changing request comes from another site: the browser says so (`Sec-Fetch-Site`), or
/// its `Origin` names another host than the one it was sent to.
fn is_cross_site(req: &ServiceRequest) -> bool {
    if matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS") {
        return false;
    }
    if header(req, "sec-fetch-site") == Some("cross-site") {
        return true;
    }
    match (header(req, "origin"), header(req, "host")) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            origin_host != host
        }
        _ => false,
    }
}

/// Middleware: refuses cross-site posts with 403 before any handler runs (SameSite=Strict already keeps
/// the session cookie off them; this also covers the login form).
pub async fn refuse_cross_site_posts(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if is_cross_site(&req) {
        tracing::warn!(path = %req.path(), "refused a cross-site admin request");
        let response = HttpResponse::Forbidden()
            .content_type("text/plain; charset=utf-8")
            .body("跨站请求已拒绝 / cross-site request refused");
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
