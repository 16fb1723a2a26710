//! One request to the simulated WeChat API: its parsed context, the success answer, request-body
//! parsing and field access with WeChat's errcodes, and WeChat-style JSON answers.

use std::collections::HashMap;

use actix_web::HttpResponse;
use serde_json::{Map, Value};

use crate::errors::WxError;
use crate::sim::Simulator;

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
