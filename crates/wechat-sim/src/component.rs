//! The card-opening component (会员开卡组件) as a plain HTML page and a JSON endpoint (reference §6, §14).

use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::api::cards::card_open_to;
use crate::api::members::{receive, ExtraData, Receipt};
use crate::errors::{errmsg, WxError};
use crate::form::{
    answers_from_form, answers_from_json, entered, field_views, form_fields, render, Entered,
    FieldView, FormField,
};
use crate::request::{json_response, parse_form, parse_query};
use crate::sim::Simulator;

#[derive(Debug, Default, Clone)]
struct Params {
    encrypt_card_id: String,
    outer_str: String,
    biz: String,
    return_url: String,
    user: String,
}

impl Params {
    fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut p = Params::default();
        for (k, v) in pairs {
            let slot = match k {
                "encrypt_card_id" => &mut p.encrypt_card_id,
                "outer_str" => &mut p.outer_str,
                "biz" => &mut p.biz,
                "return_url" => &mut p.return_url,
                "user" => &mut p.user,
                _ => continue,
            };
            if slot.is_empty() {
                *slot = v.to_owned();
            }
        }
        p
    }
}

struct Resolved {
    card_id: String,
    title: String,
    brand: String,
    form: Option<Value>,
}

/// Finds the card behind `encrypt_card_id`, checking `biz` when given, and that `user` may open
/// it: an approved card is open to everyone, one still in review only to the account's test
/// whitelist (reference §3.2), a refused or deleted one to nobody (40078).
fn resolve(sim: &Simulator, p: &Params) -> Result<Resolved, WxError> {
    let mut st = sim.state();
    let card = st
        .encrypt_card_ids
        .get(&p.encrypt_card_id)
        .and_then(|id| st.cards.get(id))
        .cloned()
        .ok_or_else(|| WxError::new(40073))?;
    let account = st
        .accounts
        .get(&card.app_id)
        .ok_or_else(|| WxError::new(40073))?;
    if !p.biz.is_empty() && p.biz != STANDARD.encode(account.bizuin.as_bytes()) {
        return Err(WxError::new(40073));
    }
    card_open_to(&mut st, &card, p.user.trim())?;
    Ok(Resolved {
        card_id: card.card_id.clone(),
        title: card.title(),
        brand: card
            .base("brand_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        form: card.form.clone(),
    })
}

struct DoneView {
    message: String,
    extra: Option<ExtraData>,
}

#[derive(Template)]
#[template(path = "component.html")]
struct Page {
    title: String,
    brand: String,
    fatal: Option<String>,
    done: Option<DoneView>,
    errors: Vec<String>,
    fields: Vec<FieldView>,
    encrypt_card_id: String,
    outer_str: String,
    biz: String,
    return_url: String,
    user: String,
}

impl Page {
    fn new(p: &Params) -> Self {
        Page {
            title: String::new(),
            brand: String::new(),
            fatal: None,
            done: None,
            errors: Vec::new(),
            fields: Vec::new(),
            encrypt_card_id: p.encrypt_card_id.clone(),
            outer_str: p.outer_str.clone(),
            biz: p.biz.clone(),
            return_url: p.return_url.clone(),
            user: p.user.clone(),
        }
    }

    fn with_card(mut self, r: &Resolved, fields: &[FormField], entered: &Entered) -> Self {
        self.title.clone_from(&r.title);
        self.brand.clone_from(&r.brand);
        self.fields = field_views(fields, entered);
        self
    }

    fn respond(&self, status: StatusCode) -> HttpResponse {
        render(self, status)
    }
}

fn describe(e: &WxError) -> String {
    let hint = match e.errcode {
        40073 => "这张卡不存在或参数不属于该公众号 (unknown encrypt_card_id or biz)",
        40078 => {
            "卡券未通过审核 (the card is not approved; a card in review opens only for the test whitelist)"
        }
        72026 => {
            "该卡未开启一键激活或未设置开卡字段 (not a one-tap card, or no activateuserform/set)"
        }
        45033 => "已达领取上限 (get_limit reached)",
        45031 => "库存不足 (out of stock)",
        _ => errmsg(e.errcode),
    };
    format!("{} ({}: {})", hint, e.errcode, e.errmsg)
}

fn safe_return_url(url: &str) -> Option<&str> {
    (url.starts_with("http://") || url.starts_with("https://") || url.starts_with('/'))
        .then_some(url)
}

fn redirect_to(return_url: &str, extra: Option<&ExtraData>) -> HttpResponse {
    let mut target = return_url.to_owned();
    if let Some(x) = extra {
        let sep = if target.contains('?') { '&' } else { '?' };
        target = format!(
            "{target}{sep}activate_ticket={}&card_id={}&code={}",
            urlencoding::encode(&x.activate_ticket),
            urlencoding::encode(&x.card_id),
            urlencoding::encode(&x.code)
        );
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, target))
        .finish()
}

/// `GET component?encrypt_card_id=…&outer_str=…&biz=…&return_url=…&user=…`.
async fn page(sim: web::Data<Simulator>, req: HttpRequest) -> HttpResponse {
    let query = parse_query(req.query_string());
    let p = Params::from_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let page = Page::new(&p);
    match resolve(&sim, &p) {
        Err(e) => Page {
            fatal: Some(describe(&e)),
            ..page
        }
        .respond(StatusCode::OK),
        Ok(r) => {
            let Some(form) = &r.form else {
                let e = WxError::new(72026);
                return Page {
                    fatal: Some(describe(&e)),
                    ..page.with_card(&r, &[], &Entered::new())
                }
                .respond(StatusCode::OK);
            };
            page.with_card(&r, &form_fields(form), &Entered::new())
                .respond(StatusCode::OK)
        }
    }
}

/// `POST component` from the HTML form: validates, issues the card, and redirects (303) to
/// `return_url` with `activate_ticket`, `card_id` and the encrypted `code`.
async fn submit_form(sim: web::Data<Simulator>, body: Bytes) -> HttpResponse {
    let pairs = parse_form(&body);
    let p = Params::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let entered = entered(&pairs);
    let page = Page::new(&p);
    let r = match resolve(&sim, &p) {
        Ok(r) => r,
        Err(e) => {
            return Page {
                fatal: Some(describe(&e)),
                ..page
            }
            .respond(StatusCode::OK)
        }
    };
    let fields = r.form.as_ref().map(form_fields).unwrap_or_default();
    let page = page.with_card(&r, &fields, &entered);
    let answers = answers_from_form(&fields, &entered);
    let mut errors = match &answers {
        Ok(_) => Vec::new(),
        Err(e) => e.clone(),
    };
    if p.user.trim().is_empty() {
        errors.insert(0, "WeChat user (simulated): 必填 (required)".to_owned());
    }
    let answers = match answers {
        Ok(a) if errors.is_empty() => a,
        _ => return Page { errors, ..page }.respond(StatusCode::UNPROCESSABLE_ENTITY),
    };
    let receipt = Receipt {
        card_id: r.card_id.clone(),
        user: p.user.trim().to_owned(),
        outer_str: p.outer_str.clone(),
        answers,
    };
    match receive(&sim, receipt) {
        Err(e) => Page {
            fatal: Some(describe(&e)),
            ..page
        }
        .respond(StatusCode::OK),
        Ok(extra) => match safe_return_url(&p.return_url) {
            Some(url) => redirect_to(url, extra.as_ref()),
            None => {
                let message = if extra.is_some() {
                    "领取成功。extraData handed back to the mini-program:"
                } else {
                    "领取并激活成功 (card received and activated; no extraData for non-jump cards)."
                };
                Page {
                    done: Some(DoneView {
                        message: message.to_owned(),
                        extra,
                    }),
                    ..page
                }
                .respond(StatusCode::OK)
            }
        },
    }
}

/// `POST component/submit` with JSON `{encrypt_card_id, outer_str?, biz?, user, answers}`, where
/// `answers` maps a field's name (or `USER_FORM_INFO_FLAG_*` id) to a string or a list of strings.
async fn submit_json(sim: web::Data<Simulator>, body: Bytes) -> HttpResponse {
    let error = |e: &WxError, details: Option<Vec<String>>| {
        let mut v = json!({"errcode": e.errcode, "errmsg": e.errmsg});
        if let Some(d) = details {
            v["errors"] = json!(d);
        }
        json_response(&v)
    };
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return error(&WxError::new(47001), None);
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    let p = Params {
        encrypt_card_id: text("encrypt_card_id").to_owned(),
        outer_str: text("outer_str").to_owned(),
        biz: text("biz").to_owned(),
        return_url: String::new(),
        user: text("user").trim().to_owned(),
    };
    if p.user.is_empty() || p.encrypt_card_id.is_empty() {
        return error(
            &WxError::new(41011),
            Some(vec!["user and encrypt_card_id are required".into()]),
        );
    }
    let r = match resolve(&sim, &p) {
        Ok(r) => r,
        Err(e) => return error(&e, None),
    };
    let fields = r.form.as_ref().map(form_fields).unwrap_or_default();
    let given = body
        .get("answers")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let answers = answers_from_json(&fields, &given);
    let answers = match answers {
        Ok(a) => a,
        Err(details) => return error(&WxError::new(41011), Some(details)),
    };
    let receipt = Receipt {
        card_id: r.card_id,
        user: p.user,
        outer_str: p.outer_str,
        answers,
    };
    match receive(&sim, receipt) {
        Ok(Some(extra)) => json_response(&json!(extra)),
        Ok(None) => json_response(&json!({})),
        Err(e) => error(&e, None),
    }
}

pub(crate) fn register(cfg: &mut web::ServiceConfig) {
    cfg.route("/component", web::get().to(page))
        .route("/component", web::post().to(submit_form))
        .route("/component/submit", web::post().to(submit_json));
}
