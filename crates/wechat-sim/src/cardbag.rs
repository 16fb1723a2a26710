//! Activation from the card bag (卡包): the way back for a member who received a jump-type card but
//! never activated it, for example because they backed out of the component and the merchant never
//! called `membercard/activate` (reference §13 #3).
//!
//! In WeChat the member opens the card in their card bag, taps activate, fills in the card's form
//! and is sent to the card's `wx_activate_after_submit_url` with `activate_ticket`, `encrypt_code`,
//! `card_id` and `openid` in the query. The simulator plays that page. It issues no new code: the
//! ticket is minted for the code the member already holds, in the same way as the component's
//! (`crate::api::members::mint_ticket`), so `activatetempinfo/get`, `code/decrypt` and `activate`
//! answer exactly as after the component.

use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use serde_json::{json, Value};

use crate::api::cards::{card_open_to, is_one_tap};
use crate::api::members::{check_usable, mint_ticket};
use crate::errors::WxError;
use crate::form::{
    answers_from_form, answers_from_json, entered, field_views, form_fields, render, Entered,
    FieldView, FormField,
};
use crate::model::{Answers, Card};
use crate::request::{json_response, parse_form, parse_query};
use crate::sim::{secs, Simulator, State};

/// Why the card bag offers no activation.
#[derive(Debug)]
enum Refusal {
    /// What WeChat itself would answer: 41011/41012 missing parameter, 40073 unknown card, 40078
    /// card in review (not whitelisted), refused or deleted, 72026 no activation form.
    Wx(WxError),
    /// Not a jump-type one-tap card: there is no after-submit URL to send the member to.
    NotJumpType,
    /// The member holds no usable code of the card (never received, deleted, consumed, expired).
    NoCode,
    /// The member's code is active already: the card bag shows no activate button.
    AlreadyActivated,
}

impl Refusal {
    /// The JSON answer's errcode: [D] the card bag is WeChat's UI, not an API, so these are the
    /// simulator's choice. 40056 is what `activate` answers for an unknown or already active code
    /// (Appendix B); 45030 (`limit cardid, not support this function`) for a card that cannot do it.
    fn error(&self) -> WxError {
        match self {
            Refusal::Wx(e) => e.clone(),
            Refusal::NotJumpType => WxError::with_detail(
                45030,
                "(only jump-type cards, with a wx_activate_after_submit_url, redirect after the form)",
            ),
            Refusal::NoCode => {
                WxError::with_detail(40056, "(the member holds no usable code of this card)")
            }
            Refusal::AlreadyActivated => {
                WxError::with_detail(40056, "(the member's code is already activated)")
            }
        }
    }

    /// What the page says.
    fn message(&self) -> String {
        let e = self.error();
        let hint = match self {
            Refusal::Wx(e) => match e.errcode {
                40073 => "这张卡不存在 (unknown card_id)",
                40078 => "卡券未通过审核 (the card is not approved; a card in review opens only for the test whitelist)",
                72026 => "该卡未设置开卡字段 (no activateuserform/set)",
                _ => "请求不完整 (card_id and user are required)",
            },
            Refusal::NotJumpType => {
                "该卡不是跳转型一键激活卡 (only jump-type cards, with a wx_activate_after_submit_url, redirect after the form)"
            }
            Refusal::NoCode => {
                "你的卡包里没有这张卡 (the member holds no usable code of this card: invalid serial code)"
            }
            Refusal::AlreadyActivated => "会员卡已激活 (this card is already activated)",
        };
        format!("{hint} ({}: {})", e.errcode, e.errmsg)
    }
}

/// A member's not yet activated code of a jump-type card.
struct Held {
    card: Card,
    code: String,
    openid: String,
    encrypt_code: String,
    after_submit_url: String,
}

/// Finds `user`'s code of `card_id` that the card bag would offer to activate.
fn find(st: &mut State, card_id: &str, user: &str, now: i64) -> Result<Held, Refusal> {
    if card_id.is_empty() {
        return Err(Refusal::Wx(WxError::new(41012)));
    }
    if user.is_empty() {
        return Err(Refusal::Wx(WxError::new(41011)));
    }
    let card = st
        .cards
        .get(card_id)
        .cloned()
        .ok_or_else(|| Refusal::Wx(WxError::new(40073)))?;
    card_open_to(st, &card, user).map_err(Refusal::Wx)?;
    if !is_one_tap(&card) || !card.is_jump_type() {
        return Err(Refusal::NotJumpType);
    }
    if card.form.is_none() {
        return Err(Refusal::Wx(WxError::new(72026)));
    }
    let openid = st.openid_for(&card.app_id, user);
    let usable: Vec<_> = st
        .member_codes
        .get(&(card.card_id.clone(), openid.clone()))
        .into_iter()
        .flatten()
        .filter_map(|code| st.codes.get(code))
        .filter(|c| check_usable(&card, c, now).is_ok())
        .collect();
    let waiting = usable
        .iter()
        .find(|c| !c.has_active)
        .ok_or(if usable.is_empty() {
            Refusal::NoCode
        } else {
            Refusal::AlreadyActivated
        })?;
    Ok(Held {
        code: waiting.code.clone(),
        encrypt_code: waiting.encrypt_code.clone(),
        after_submit_url: card
            .member_card
            .get("wx_activate_after_submit_url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned(),
        openid,
        card,
    })
}

/// `url` with `params` percent-encoded and appended to its query (before any fragment).
fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let mut out = base.to_owned();
    for (k, v) in params {
        let sep = match out.split_once('?') {
            None => "?",
            Some((_, q)) if q.is_empty() || q.ends_with('&') => "",
            Some(_) => "&",
        };
        out = format!("{out}{sep}{k}={}", urlencoding::encode(v));
    }
    if let Some(f) = fragment {
        out = format!("{out}#{f}");
    }
    out
}

/// Mints a ticket for the member's waiting code with their new answers and returns where WeChat
/// sends the browser. The code's stored answers become the new ones.
fn submit(sim: &Simulator, card_id: &str, user: &str, answers: Answers) -> Result<String, Refusal> {
    let now = sim.now();
    let expires_at = now + secs(sim.config().ticket_ttl);
    let mut st = sim.state();
    let held = find(&mut st, card_id, user, now)?;
    if let Some(c) = st.codes.get_mut(&held.code) {
        c.answers = answers.clone();
    }
    let ticket = mint_ticket(
        &mut st,
        &held.card,
        held.code,
        held.openid.clone(),
        answers,
        expires_at,
    );
    Ok(with_query(
        &held.after_submit_url,
        &[
            ("activate_ticket", &ticket),
            ("encrypt_code", &held.encrypt_code),
            ("card_id", &held.card.card_id),
            ("openid", &held.openid),
        ],
    ))
}

/// The form fields of the member's waiting code's card, or why there is none.
fn fields_for(
    sim: &Simulator,
    card_id: &str,
    user: &str,
) -> Result<(Card, Vec<FormField>), Refusal> {
    let now = sim.now();
    let held = find(&mut sim.state(), card_id, user, now)?;
    let fields = held.card.form.as_ref().map(form_fields).unwrap_or_default();
    Ok((held.card, fields))
}

#[derive(Template)]
#[template(path = "cardbag.html")]
struct Page {
    title: String,
    brand: String,
    fatal: Option<String>,
    errors: Vec<String>,
    fields: Vec<FieldView>,
    card_id: String,
    user: String,
}

impl Page {
    fn new(card_id: &str, user: &str) -> Self {
        Page {
            title: String::new(),
            brand: String::new(),
            fatal: None,
            errors: Vec::new(),
            fields: Vec::new(),
            card_id: card_id.to_owned(),
            user: user.to_owned(),
        }
    }

    fn refused(mut self, r: &Refusal) -> HttpResponse {
        self.fatal = Some(r.message());
        render(&self, StatusCode::OK)
    }

    fn with_card(mut self, card: &Card, fields: &[FormField], entered: &Entered) -> Self {
        self.title = card.title();
        self.brand = card
            .base("brand_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.fields = field_views(fields, entered);
        self
    }
}

/// `GET cardbag?card_id=…&user=…`: the activation form of the member's waiting code.
async fn page(sim: web::Data<Simulator>, req: HttpRequest) -> HttpResponse {
    let q = parse_query(req.query_string());
    let get = |k: &str| q.get(k).map_or("", |v| v.trim());
    let (card_id, user) = (get("card_id"), get("user"));
    let page = Page::new(card_id, user);
    match fields_for(&sim, card_id, user) {
        Err(r) => page.refused(&r),
        Ok((card, fields)) => render(
            &page.with_card(&card, &fields, &Entered::new()),
            StatusCode::OK,
        ),
    }
}

/// `POST cardbag` from the HTML form: validates the answers as the component does, then answers
/// 303 to the after-submit URL.
async fn submit_form(sim: web::Data<Simulator>, body: Bytes) -> HttpResponse {
    let pairs = parse_form(&body);
    let entered = entered(&pairs);
    let get = |k: &str| {
        entered
            .get(k)
            .and_then(|v| v.first())
            .map_or("", |v| v.trim())
    };
    let (card_id, user) = (get("card_id"), get("user"));
    let page = Page::new(card_id, user);
    let (card, fields) = match fields_for(&sim, card_id, user) {
        Ok(found) => found,
        Err(r) => return page.refused(&r),
    };
    let page = page.with_card(&card, &fields, &entered);
    let answers = match answers_from_form(&fields, &entered) {
        Ok(a) => a,
        Err(errors) => {
            return render(&Page { errors, ..page }, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    match submit(&sim, card_id, user, answers) {
        Ok(url) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, url))
            .finish(),
        Err(r) => page.refused(&r),
    }
}

/// `POST cardbag/submit` with JSON `{card_id, user, answers}` (answers as for `component/submit`)
/// → `{"redirect": "<after-submit URL with the four parameters>"}` or `{errcode, errmsg}` (with
/// `errors` when answers are wrong).
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
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
    };
    let (card_id, user) = (text("card_id"), text("user"));
    let (_, fields) = match fields_for(&sim, card_id, user) {
        Ok(found) => found,
        Err(r) => return error(&r.error(), None),
    };
    let given = body
        .get("answers")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let answers = match answers_from_json(&fields, &given) {
        Ok(a) => a,
        Err(details) => return error(&WxError::new(41011), Some(details)),
    };
    match submit(&sim, card_id, user, answers) {
        Ok(url) => json_response(&json!({"redirect": url})),
        Err(r) => error(&r.error(), None),
    }
}

pub(crate) fn register(cfg: &mut web::ServiceConfig) {
    cfg.route("/cardbag", web::get().to(page))
        .route("/cardbag", web::post().to(submit_form))
        .route("/cardbag/submit", web::post().to(submit_json));
}

#[cfg(test)]
mod tests {
    use super::with_query;

    #[test]
    fn parameters_are_encoded_and_appended_before_the_fragment() {
        let p = [("activate_ticket", "a+b/c="), ("openid", "o1")];
        assert_eq!(
            with_query("https://x.example/a", &p),
            "https://x.example/a?activate_ticket=a%2Bb%2Fc%3D&openid=o1"
        );
        assert_eq!(
            with_query("https://x.example/a?from=wx#top", &p),
            "https://x.example/a?from=wx&activate_ticket=a%2Bb%2Fc%3D&openid=o1#top"
        );
        assert_eq!(
            with_query("https://x.example/a?", &p[1..]),
            "https://x.example/a?openid=o1"
        );
    }
}
