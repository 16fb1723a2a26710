//! The routing table of the simulated WeChat API: each endpoint with its method, the token it wants
//! and its handler; dispatch applies faults and answers as WeChat does.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::Method;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use crate::api;
use crate::errors::WxError;
use crate::faults::FaultKind;
use crate::request::{error_json, json_response, parse_query, ApiCtx, ApiResult, Auth, Reply};
use crate::sim::{lock, Simulator};

pub(crate) struct Endpoint {
    pub path: &'static str,
    pub get: bool,
    pub auth: Auth,
    /// Success answers carry no `errcode`/`errmsg` (reference §1: `cgi-bin/token`, `jscode2session`).
    pub bare: bool,
    pub handler: fn(&Simulator, &ApiCtx<'_>) -> ApiResult,
}

const fn ep(
    path: &'static str,
    get: bool,
    auth: Auth,
    bare: bool,
    handler: fn(&Simulator, &ApiCtx<'_>) -> ApiResult,
) -> Endpoint {
    Endpoint {
        path,
        get,
        auth,
        bare,
        handler,
    }
}

pub(crate) static ENDPOINTS: &[Endpoint] = &[
    ep(
        "cgi-bin/token",
        true,
        Auth::None,
        true,
        api::token::get_token,
    ),
    ep(
        "cgi-bin/stable_token",
        false,
        Auth::None,
        true,
        api::token::stable_token,
    ),
    ep(
        "cgi-bin/clear_quota",
        false,
        Auth::Any,
        false,
        api::token::clear_quota,
    ),
    ep(
        "sns/jscode2session",
        true,
        Auth::None,
        true,
        api::token::jscode2session,
    ),
    ep(
        "cgi-bin/media/uploadimg",
        false,
        Auth::OfficialAccount,
        true,
        api::misc::uploadimg,
    ),
    ep(
        "wxa/getwxacodeunlimit",
        false,
        Auth::MiniProgram,
        false,
        api::misc::wxacode_unlimit,
    ),
    ep(
        "card/create",
        false,
        Auth::OfficialAccount,
        false,
        api::cards::create,
    ),
    ep(
        "card/get",
        false,
        Auth::OfficialAccount,
        false,
        api::cards::get,
    ),
    ep(
        "card/batchget",
        false,
        Auth::OfficialAccount,
        false,
        api::cards::batchget,
    ),
    ep(
        "card/update",
        false,
        Auth::OfficialAccount,
        false,
        api::cards::update,
    ),
    ep(
        "card/delete",
        false,
        Auth::OfficialAccount,
        false,
        api::cards::delete,
    ),
    ep(
        "card/modifystock",
        false,
        Auth::OfficialAccount,
        false,
        api::cards::modifystock,
    ),
    ep(
        "card/testwhitelist/set",
        false,
        Auth::OfficialAccount,
        false,
        api::cards::testwhitelist_set,
    ),
    ep(
        "card/membercard/activateuserform/set",
        false,
        Auth::OfficialAccount,
        false,
        api::cards::set_form,
    ),
    ep(
        "card/membercard/activate/geturl",
        false,
        Auth::OfficialAccount,
        false,
        api::cards::geturl,
    ),
    ep(
        "card/code/decrypt",
        false,
        Auth::OfficialAccount,
        false,
        api::members::decrypt,
    ),
    ep(
        "card/membercard/activatetempinfo/get",
        false,
        Auth::OfficialAccount,
        false,
        api::members::tempinfo,
    ),
    ep(
        "card/membercard/activate",
        false,
        Auth::OfficialAccount,
        false,
        api::members::activate,
    ),
    ep(
        "card/code/get",
        false,
        Auth::OfficialAccount,
        false,
        api::members::code_get,
    ),
    ep(
        "card/code/unavailable",
        false,
        Auth::OfficialAccount,
        false,
        api::members::code_unavailable,
    ),
    ep(
        "card/user/getcardlist",
        false,
        Auth::OfficialAccount,
        false,
        api::members::getcardlist,
    ),
    ep(
        "card/membercard/userinfo/get",
        false,
        Auth::OfficialAccount,
        false,
        api::members::userinfo,
    ),
    ep(
        "card/membercard/updateuser",
        false,
        Auth::OfficialAccount,
        false,
        api::members::updateuser,
    ),
];

fn reply_response(sim: &Simulator, result: ApiResult, bare: bool) -> HttpResponse {
    match result {
        Ok(Reply::Json(mut map)) => {
            if !bare {
                let mut head = Map::new();
                head.insert("errcode".into(), 0.into());
                head.insert("errmsg".into(), "ok".into());
                head.append(&mut map);
                map = head;
            }
            json_response(&Value::Object(map))
        }
        Ok(Reply::Png(bytes)) => HttpResponse::Ok().content_type("image/png").body(bytes),
        Err(e) => json_response(&error_json(sim, &e)),
    }
}

/// A body that fails at once, so actix closes the connection instead of finishing the answer.
struct Dropped;

impl MessageBody for Dropped {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "simulated dropped connection",
        ))))
    }
}

fn dropped_response() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Connection", "close"))
        .body(Dropped)
}

fn process(sim: &Simulator, ep: &Endpoint, req: &HttpRequest, body: &[u8]) -> ApiResult {
    if ep.get && req.method() != Method::GET {
        return Err(WxError::new(43001));
    }
    if !ep.get && req.method() != Method::POST {
        return Err(WxError::new(43002));
    }
    let query = parse_query(req.query_string());
    let app_id = if ep.auth == Auth::None {
        String::new()
    } else {
        let token = query
            .get("access_token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| WxError::new(41001))?;
        let st = sim.state();
        let app_id = api::token::check_token(&st, token, sim.now())?;
        let is_account = st.accounts.contains_key(&app_id);
        let allowed = match ep.auth {
            Auth::OfficialAccount => is_account,
            Auth::MiniProgram => !is_account,
            Auth::Any | Auth::None => true,
        };
        if !allowed {
            return Err(WxError::new(48001));
        }
        app_id
    };
    let ctx = ApiCtx {
        query,
        body,
        content_type: req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        peer_ip: req.peer_addr().map(|a| a.ip().to_string()),
        app_id,
    };
    (ep.handler)(sim, &ctx)
}

async fn dispatch(
    sim: Simulator,
    ep: &'static Endpoint,
    req: HttpRequest,
    body: Bytes,
) -> HttpResponse {
    sim.count_call(ep.path);
    sim.run_due_reviews();
    let fault = lock(&sim.inner.faults).take_api(ep.path);
    match &fault {
        Some(FaultKind::Errcode { errcode, errmsg }) => {
            let mut e = WxError::new(*errcode);
            if let Some(m) = errmsg {
                e.errmsg.clone_from(m);
            }
            return json_response(&error_json(&sim, &e));
        }
        Some(FaultKind::Drop { apply: false }) => return dropped_response(),
        _ => {}
    }
    let response = reply_response(&sim, process(&sim, ep, &req, &body), ep.bare);
    match fault {
        Some(FaultKind::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            response
        }
        Some(FaultKind::Drop { apply: true }) => dropped_response(),
        _ => response,
    }
}

/// Registers every WeChat endpoint (relative paths, so the caller picks the prefix).
pub(crate) fn register(cfg: &mut web::ServiceConfig) {
    for ep in ENDPOINTS {
        cfg.route(
            &format!("/{}", ep.path),
            web::route().to(
                move |sim: web::Data<Simulator>, req: HttpRequest, body: Bytes| {
                    dispatch(sim.get_ref().clone(), ep, req, body)
                },
            ),
        );
    }
}
