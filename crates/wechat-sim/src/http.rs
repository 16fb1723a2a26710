//! The WeChat-side HTTP surface: routing table, request parsing, WeChat-style answers, faults.

use std::collections::HashMap;
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
use crate::sim::{lock, Simulator};

/// Which token an endpoint wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// No `access_token` (the token and login endpoints).
    None,
    /// An official account's token (the card APIs).
    OfficialAccount,
    /// A mini-program's token (`wxa/*`).
    MiniProgram,
    /// Either.
    Any,
}

/// What a handler answers on success.
pub(crate) enum Reply {
    Json(Map<String, Value>),
    Png(Vec<u8>),
}

pub(crate) type ApiResult = Result<Reply, WxError>;

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

/// One parsed API request.
pub(crate) struct ApiCtx<'a> {
    pub query: HashMap<String, String>,
    pub body: &'a [u8],
    pub content_type: String,
    pub peer_ip: Option<String>,
    /// The AppID the `access_token` belongs to (empty for endpoints without one).
    pub app_id: String,
}

impl ApiCtx<'_> {
    /// A non-empty query parameter.
    pub(crate) fn q(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The body as a JSON object: 44002 when empty, 47001 when not a JSON object.
    pub(crate) fn json(&self) -> Result<Map<String, Value>, WxError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(WxError::new(44002));
        }
        match serde_json::from_slice::<Value>(self.body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(WxError::new(47001)),
        }
    }
}

/// Splits a query string on `&` and the first `=`, percent-decoding once and leaving `+` alone
/// (the decoding reference §5 asks of clients; WeChat's own parameters never contain spaces).
pub(crate) fn parse_query(q: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for seg in q.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
        let k = urlencoding::decode(k).map_or_else(|_| k.to_owned(), |c| c.into_owned());
        let v = urlencoding::decode(v).map_or_else(|_| v.to_owned(), |c| c.into_owned());
        map.entry(k).or_insert(v);
    }
    map
}

/// Decodes an `application/x-www-form-urlencoded` body (here `+` is a space), keeping repeats.
pub(crate) fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|s| !s.is_empty())
        .map(|seg| {
            let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
            let dec = |s: &str| {
                let s = s.replace('+', " ");
                urlencoding::decode(&s).map_or_else(|_| s.clone(), |c| c.into_owned())
            };
            (dec(k), dec(v))
        })
        .collect()
}

pub(crate) fn json_response(value: &Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json; encoding=utf-8")
        .body(value.to_string())
}

pub(crate) fn error_json(sim: &Simulator, e: &WxError) -> Value {
    let errmsg = if sim.config().errmsg_rid {
        format!("{} rid: {}", e.errmsg, sim.next_rid())
    } else {
        e.errmsg.clone()
    };
    serde_json::json!({"errcode": e.errcode, "errmsg": errmsg})
}

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

/// Field access on JSON request bodies with WeChat's errcodes: wrong type → 47001, missing → 41011.
pub(crate) mod fields {
    use serde_json::{Map, Value};

    use crate::errors::WxError;

    type Obj = Map<String, Value>;

    pub(crate) fn string<'a>(o: &'a Obj, key: &str) -> Result<Option<&'a str>, WxError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(WxError::new(47001)),
        }
    }

    pub(crate) fn req_string<'a>(o: &'a Obj, key: &str) -> Result<&'a str, WxError> {
        string(o, key)?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| WxError::new(41011))
    }

    pub(crate) fn card_id(o: &Obj) -> Result<&str, WxError> {
        string(o, "card_id")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| WxError::new(41012))
    }

    pub(crate) fn boolean(o: &Obj, key: &str) -> Result<Option<bool>, WxError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(WxError::new(47001)),
        }
    }

    pub(crate) fn int(o: &Obj, key: &str) -> Result<Option<i64>, WxError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| WxError::new(47001)),
            Some(_) => Err(WxError::new(47001)),
        }
    }

    pub(crate) fn number(o: &Obj, key: &str) -> Result<Option<f64>, WxError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| WxError::new(47001)),
            Some(_) => Err(WxError::new(47001)),
        }
    }

    pub(crate) fn object<'a>(o: &'a Obj, key: &str) -> Result<Option<&'a Obj>, WxError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(WxError::new(47001)),
        }
    }

    pub(crate) fn string_list(o: &Obj, key: &str) -> Result<Option<Vec<String>>, WxError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| WxError::new(47001))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(WxError::new(47001)),
        }
    }

    /// Limits are given in Chinese characters but WeChat counts UTF-8 bytes, three per CJK
    /// character (reference §3.1), so ASCII gets three times the room.
    pub(crate) fn check_len(s: &str, max_cjk: usize) -> Result<(), WxError> {
        if s.len() > max_cjk * 3 {
            Err(WxError::new(45021))
        } else {
            Ok(())
        }
    }

    /// A JSON number that prints as an integer when it is one.
    pub(crate) fn num_json(f: f64) -> Value {
        if f.fract() == 0.0 && f.abs() < 9.0e15 {
            Value::from(f as i64)
        } else {
            Value::from(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding_keeps_plus_and_splits_at_the_first_equals() {
        let q = parse_query(
            "action=preshow&&encrypt_card_id=3%2Bm9%2F&biz=MzU2ODQzMDM1MQ%3D%3D&x=a+b=c",
        );
        assert_eq!(q["encrypt_card_id"], "3+m9/");
        assert_eq!(q["biz"], "MzU2ODQzMDM1MQ==");
        assert_eq!(q["x"], "a+b=c");
    }

    #[test]
    fn form_decoding_turns_plus_into_space() {
        let f = parse_form(b"a=x+y&a=%2B&b=");
        assert_eq!(
            f,
            vec![
                ("a".into(), "x y".into()),
                ("a".into(), "+".into()),
                ("b".into(), String::new())
            ]
        );
    }
}
