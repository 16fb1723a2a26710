//! The card-opening component (会员开卡组件) as a plain HTML page and a JSON endpoint (reference §6, §14).

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::api::cards::{COMMON_FIELDS, RICH_TYPES};
use crate::api::members::{receive, ExtraData, Receipt};
use crate::errors::{errmsg, WxError};
use crate::http::{json_response, parse_form, parse_query};
use crate::model::{Answers, FieldAnswer};
use crate::sim::Simulator;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Common,
    Text,
    Radio,
    Select,
    CheckBox,
}

#[derive(Debug, Clone)]
struct FormField {
    /// The answer's `name`: a `USER_FORM_INFO_FLAG_*` id or the merchant's field name.
    name: String,
    label: String,
    kind: Kind,
    options: Vec<String>,
    required: bool,
}

/// The fields of a form stored by `activateuserform/set`, required ones first.
fn form_fields(form: &Value) -> Vec<FormField> {
    let mut out: Vec<FormField> = Vec::new();
    for (part, required) in [("required_form", true), ("optional_form", false)] {
        let Some(part) = form.get(part) else { continue };
        let strings = |key: &str| -> Vec<String> {
            part.get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        for id in strings("common_field_id_list") {
            let label = COMMON_FIELDS
                .iter()
                .find(|(k, _)| *k == id)
                .map_or(id.as_str(), |(_, l)| *l)
                .to_owned();
            out.push(FormField {
                name: id,
                label,
                kind: Kind::Common,
                options: vec![],
                required,
            });
        }
        for name in strings("custom_field_list") {
            out.push(FormField {
                label: name.clone(),
                name,
                kind: Kind::Text,
                options: vec![],
                required,
            });
        }
        for rich in part
            .get("rich_field_list")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = match rich.get("type").and_then(Value::as_str) {
                Some(t) if t == RICH_TYPES[0] => Kind::Radio,
                Some(t) if t == RICH_TYPES[1] => Kind::Select,
                _ => Kind::CheckBox,
            };
            let name = rich
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let options = rich
                .get("values")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            out.push(FormField {
                label: name.clone(),
                name,
                kind,
                options,
                required,
            });
        }
    }
    // A field listed in both parts counts once, as required.
    let mut seen = std::collections::HashSet::new();
    out.retain(|f| seen.insert(f.name.clone()));
    out
}

fn check_common(id: &str, value: &str) -> Result<(), String> {
    let ok = match id {
        "USER_FORM_INFO_FLAG_MOBILE" => {
            value.len() == 11 && value.starts_with('1') && value.bytes().all(|b| b.is_ascii_digit())
        }
        "USER_FORM_INFO_FLAG_EMAIL" => {
            value.contains('@') && !value.starts_with('@') && !value.ends_with('@')
        }
        "USER_FORM_INFO_FLAG_BIRTHDAY" => {
            chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
        }
        "USER_FORM_INFO_FLAG_SEX" => matches!(value, "MALE" | "FEMALE" | "男" | "女"),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(match id {
            "USER_FORM_INFO_FLAG_MOBILE" => {
                "请输入11位手机号 (11-digit mobile number starting with 1)"
            }
            "USER_FORM_INFO_FLAG_EMAIL" => "邮箱格式不正确 (invalid e-mail)",
            "USER_FORM_INFO_FLAG_BIRTHDAY" => "生日格式为 YYYY-MM-DD",
            _ => "性别: MALE / FEMALE",
        }
        .to_owned())
    }
}

/// Validates the answers (`answer(field)` gives the raw values) against the form.
fn collect(
    fields: &[FormField],
    answer: impl Fn(&FormField) -> Vec<String>,
) -> Result<Answers, Vec<String>> {
    let mut answers = Answers::default();
    let mut errors = Vec::new();
    for f in fields {
        let values: Vec<String> = answer(f)
            .into_iter()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            if f.required {
                errors.push(format!("{}: 必填 (required)", f.label));
            }
            continue;
        }
        let single = || -> Result<String, String> {
            match values.as_slice() {
                [one] => Ok(one.clone()),
                _ => Err(format!("{}: 只能填一个值 (one value only)", f.label)),
            }
        };
        let result = match f.kind {
            Kind::Common => single().and_then(|v| {
                check_common(&f.name, &v).map_err(|e| format!("{}: {e}", f.label))?;
                answers.common_field_list.push(FieldAnswer {
                    name: f.name.clone(),
                    value: v,
                    value_list: None,
                });
                Ok(())
            }),
            Kind::Text => single().map(|v| {
                answers.custom_field_list.push(FieldAnswer {
                    name: f.name.clone(),
                    value: v,
                    value_list: None,
                });
            }),
            Kind::Radio | Kind::Select => single().and_then(|v| {
                if !f.options.contains(&v) {
                    return Err(format!("{}: 不是可选项 (not an option)", f.label));
                }
                answers.custom_field_list.push(FieldAnswer {
                    name: f.name.clone(),
                    value: v,
                    value_list: Some(vec![]),
                });
                Ok(())
            }),
            Kind::CheckBox => {
                if values.iter().all(|v| f.options.contains(v)) {
                    answers.custom_field_list.push(FieldAnswer {
                        name: f.name.clone(),
                        value: String::new(),
                        value_list: Some(values.clone()),
                    });
                    Ok(())
                } else {
                    Err(format!("{}: 不是可选项 (not an option)", f.label))
                }
            }
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(answers)
    } else {
        Err(errors)
    }
}

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

/// Finds the card behind `encrypt_card_id`, checking `biz` when given.
fn resolve(sim: &Simulator, p: &Params) -> Result<Resolved, WxError> {
    let st = sim.state();
    let card = st
        .encrypt_card_ids
        .get(&p.encrypt_card_id)
        .and_then(|id| st.cards.get(id))
        .ok_or_else(|| WxError::new(40073))?;
    let account = st
        .accounts
        .get(&card.app_id)
        .ok_or_else(|| WxError::new(40073))?;
    if !p.biz.is_empty() && p.biz != STANDARD.encode(account.bizuin.as_bytes()) {
        return Err(WxError::new(40073));
    }
    if card.status != crate::model::CardStatus::VerifyOk {
        return Err(WxError::new(40078));
    }
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

struct OptionView {
    value: String,
    checked: bool,
}

struct FieldView {
    input: String,
    label: String,
    required: bool,
    kind: &'static str,
    options: Vec<OptionView>,
    value: String,
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

    fn with_card(
        mut self,
        r: &Resolved,
        fields: &[FormField],
        entered: &HashMap<String, Vec<String>>,
    ) -> Self {
        self.title.clone_from(&r.title);
        self.brand.clone_from(&r.brand);
        self.fields = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let input = format!("f{i}");
                let given = entered.get(&input).cloned().unwrap_or_default();
                FieldView {
                    label: f.label.clone(),
                    required: f.required,
                    kind: match f.kind {
                        Kind::Common | Kind::Text => "text",
                        Kind::Radio => "radio",
                        Kind::Select => "select",
                        Kind::CheckBox => "checkbox",
                    },
                    options: f
                        .options
                        .iter()
                        .map(|o| OptionView {
                            value: o.clone(),
                            checked: given.contains(o),
                        })
                        .collect(),
                    value: given.first().cloned().unwrap_or_default(),
                    input,
                }
            })
            .collect();
        self
    }

    fn respond(&self, status: actix_web::http::StatusCode) -> HttpResponse {
        match self.render() {
            Ok(html) => HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .body(html),
            Err(e) => HttpResponse::InternalServerError().body(format!("template error: {e}")),
        }
    }
}

fn describe(e: &WxError) -> String {
    let hint = match e.errcode {
        40073 => "这张卡不存在或参数不属于该公众号 (unknown encrypt_card_id or biz)",
        40078 => "卡券未通过审核 (the card is not approved)",
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
        .respond(actix_web::http::StatusCode::OK),
        Ok(r) => {
            let Some(form) = &r.form else {
                let e = WxError::new(72026);
                return Page {
                    fatal: Some(describe(&e)),
                    ..page.with_card(&r, &[], &HashMap::new())
                }
                .respond(actix_web::http::StatusCode::OK);
            };
            page.with_card(&r, &form_fields(form), &HashMap::new())
                .respond(actix_web::http::StatusCode::OK)
        }
    }
}

/// `POST component` from the HTML form: validates, issues the card, and redirects (303) to
/// `return_url` with `activate_ticket`, `card_id` and the encrypted `code`.
async fn submit_form(sim: web::Data<Simulator>, body: Bytes) -> HttpResponse {
    let pairs = parse_form(&body);
    let p = Params::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut entered: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in &pairs {
        entered.entry(k.clone()).or_default().push(v.clone());
    }
    let page = Page::new(&p);
    let r = match resolve(&sim, &p) {
        Ok(r) => r,
        Err(e) => {
            return Page {
                fatal: Some(describe(&e)),
                ..page
            }
            .respond(actix_web::http::StatusCode::OK)
        }
    };
    let fields = r.form.as_ref().map(form_fields).unwrap_or_default();
    let page = page.with_card(&r, &fields, &entered);
    let index: HashMap<&str, usize> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.as_str(), i))
        .collect();
    let answers = collect(&fields, |f| {
        index
            .get(f.name.as_str())
            .and_then(|i| entered.get(&format!("f{i}")))
            .cloned()
            .unwrap_or_default()
    });
    let mut errors = match &answers {
        Ok(_) => Vec::new(),
        Err(e) => e.clone(),
    };
    if p.user.trim().is_empty() {
        errors.insert(0, "WeChat user (simulated): 必填 (required)".to_owned());
    }
    let answers = match answers {
        Ok(a) if errors.is_empty() => a,
        _ => {
            return Page { errors, ..page }
                .respond(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY)
        }
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
        .respond(actix_web::http::StatusCode::OK),
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
                .respond(actix_web::http::StatusCode::OK)
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
    let answers = collect(&fields, |f| match given.get(&f.name) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => vec![],
    });
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
