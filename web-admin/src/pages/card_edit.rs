//! Editing a member card on WeChat (`card/update`): the face, the points and balance options, the
//! custom cells and fields, each checked against WeChat's limits next to its field.

use std::collections::HashMap;

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use kaika_core::accounts::{self};

use kaika_core::cards::{self as card_use_cases};
use kaika_core::entity::cards;
use kaika_wechat::card::CardColor;
use kaika_wechat::limits;
use sea_orm::EntityTrait;

use super::cards::{limit_table, palette, upload_image, PALETTE};
use super::{check_text, is_http_url, render, see_other, Chrome, FieldErrors};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::{read_multipart, Fields};
use crate::state::AdminState;

/// The edit form's values, as typed (`card/update`: face, points and balance options, custom cells).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditForm {
    /// Title (≤ 9).
    pub title: String,
    /// Palette name.
    pub color: String,
    /// Logo URL.
    pub logo_url: String,
    /// Notice (≤ 16).
    pub notice: String,
    /// Description (≤ 1024).
    pub description: String,
    /// Privileges.
    pub prerogative: String,
    /// Face image URL.
    pub background_pic_url: String,
    /// Show points.
    pub supply_bonus: bool,
    /// Show the balance.
    pub supply_balance: bool,
    /// `bonus_rule` fields by name, as typed.
    pub bonus: Vec<(&'static str, String)>,
    /// Discount in percent off, as typed.
    pub discount: String,
    /// Entry row: name.
    pub cell_name: String,
    /// Entry row: tips (≤ 6).
    pub cell_tips: String,
    /// Entry row: link.
    pub cell_url: String,
    /// Value cells 1 to 3: (name, link).
    pub fields: [(String, String); 3],
}

/// The `bonus_rule` fields the form edits, in order.
pub const BONUS_FIELDS: [&str; 7] = [
    "cost_money_unit",
    "increase_bonus",
    "max_increase_bonus",
    "cost_bonus_unit",
    "reduce_money",
    "least_money_to_use_bonus",
    "max_reduce_bonus",
];

fn opt_num(n: Option<i64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

impl EditForm {
    /// The form of a card as WeChat has it (`card/get`), with the local row for what WeChat lacks.
    fn from_wechat(card: &cards::Model, wechat: &kaika_wechat::card::MemberCard) -> Self {
        let base = &wechat.base_info;
        let rule = wechat.bonus_rule.clone().unwrap_or_default();
        let color = CardColor::parse(base.color.as_str());
        let field = |f: &Option<kaika_wechat::card::CustomField>| {
            f.as_ref()
                .map(|f| {
                    (
                        f.name.clone().unwrap_or_default(),
                        f.url.clone().unwrap_or_default(),
                    )
                })
                .unwrap_or_default()
        };
        let cell = wechat.custom_cell1.clone().unwrap_or_default();
        Self {
            title: base.title.clone(),
            color: if PALETTE.contains(&color.as_str()) {
                color.as_str().to_owned()
            } else {
                card.color.clone()
            },
            logo_url: if base.logo_url.is_empty() {
                card.logo_url.clone()
            } else {
                base.logo_url.clone()
            },
            notice: base.notice.clone(),
            description: base.description.clone(),
            prerogative: wechat.prerogative.clone(),
            background_pic_url: wechat.background_pic_url.clone().unwrap_or_default(),
            supply_bonus: wechat.supply_bonus,
            supply_balance: wechat.supply_balance,
            bonus: vec![
                ("cost_money_unit", opt_num(rule.cost_money_unit)),
                ("increase_bonus", opt_num(rule.increase_bonus)),
                ("max_increase_bonus", opt_num(rule.max_increase_bonus)),
                ("cost_bonus_unit", opt_num(rule.cost_bonus_unit)),
                ("reduce_money", opt_num(rule.reduce_money)),
                (
                    "least_money_to_use_bonus",
                    opt_num(rule.least_money_to_use_bonus),
                ),
                ("max_reduce_bonus", opt_num(rule.max_reduce_bonus)),
            ],
            discount: opt_num(wechat.discount),
            cell_name: cell.name,
            cell_tips: cell.tips,
            cell_url: cell.url.unwrap_or_default(),
            fields: [
                field(&wechat.custom_field1),
                field(&wechat.custom_field2),
                field(&wechat.custom_field3),
            ],
        }
    }

    /// The form of a card from the local row alone (WeChat could not be asked).
    fn from_local(card: &cards::Model) -> Self {
        Self {
            title: card.title.clone(),
            color: card.color.clone(),
            logo_url: card.logo_url.clone(),
            bonus: BONUS_FIELDS.iter().map(|n| (*n, String::new())).collect(),
            ..Self::default()
        }
    }

    fn from_fields(f: &Fields) -> Self {
        Self {
            title: f.get("title"),
            color: f.get("color"),
            logo_url: f.get("logo_url"),
            notice: f.get("notice"),
            description: f.get("description"),
            prerogative: f.get("prerogative"),
            background_pic_url: f.get("background_pic_url"),
            supply_bonus: f.checked("supply_bonus"),
            supply_balance: f.checked("supply_balance"),
            bonus: BONUS_FIELDS
                .iter()
                .map(|n| (*n, f.get(&format!("bonus_{n}"))))
                .collect(),
            discount: f.get("discount"),
            cell_name: f.get("cell_name"),
            cell_tips: f.get("cell_tips"),
            cell_url: f.get("cell_url"),
            fields: [1, 2, 3].map(|i| {
                (
                    f.get(&format!("field{i}_name")),
                    f.get(&format!("field{i}_url")),
                )
            }),
        }
    }

    /// Characters typed in a field, for the counters.
    pub fn count(&self, field: &str) -> usize {
        limits::char_len(match field {
            "title" => &self.title,
            "notice" => &self.notice,
            "cell_tips" => &self.cell_tips,
            _ => &self.description,
        })
    }

    fn bonus_value(&self, name: &str) -> Option<i64> {
        self.bonus
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.trim().parse().ok())
    }

    fn bonus_rule(&self) -> kaika_wechat::card::BonusRule {
        kaika_wechat::card::BonusRule {
            cost_money_unit: self.bonus_value("cost_money_unit"),
            increase_bonus: self.bonus_value("increase_bonus"),
            max_increase_bonus: self.bonus_value("max_increase_bonus"),
            init_increase_bonus: None,
            cost_bonus_unit: self.bonus_value("cost_bonus_unit"),
            reduce_money: self.bonus_value("reduce_money"),
            least_money_to_use_bonus: self.bonus_value("least_money_to_use_bonus"),
            max_reduce_bonus: self.bonus_value("max_reduce_bonus"),
        }
    }

    fn cell(&self) -> kaika_wechat::card::CustomCell {
        kaika_wechat::card::CustomCell {
            name: self.cell_name.trim().to_owned(),
            tips: self.cell_tips.trim().to_owned(),
            url: Some(self.cell_url.trim().to_owned()).filter(|u| !u.is_empty()),
            ..Default::default()
        }
    }

    fn custom_field(&self, i: usize) -> Option<kaika_wechat::card::CustomField> {
        let (name, url) = self.fields.get(i)?;
        Some(kaika_wechat::card::CustomField {
            name: Some(name.trim().to_owned()).filter(|n| !n.is_empty()),
            url: Some(url.trim().to_owned()).filter(|u| !u.is_empty()),
            ..Default::default()
        })
    }

    /// What changed from `old` to this form, as `card/update` changes. The points and balance cells can
    /// only be switched on.
    pub fn changes_from(&self, old: &EditForm) -> card_use_cases::CardChanges {
        let changed = |new: &String, old: &String| (new != old).then(|| new.trim().to_owned());
        card_use_cases::CardChanges {
            title: changed(&self.title, &old.title),
            color: (self.color != old.color).then(|| CardColor::parse(&self.color)),
            logo_url: changed(&self.logo_url, &old.logo_url),
            notice: changed(&self.notice, &old.notice),
            description: changed(&self.description, &old.description),
            prerogative: changed(&self.prerogative, &old.prerogative),
            background_pic_url: changed(&self.background_pic_url, &old.background_pic_url),
            supply_bonus: (self.supply_bonus && !old.supply_bonus).then_some(true),
            supply_balance: (self.supply_balance && !old.supply_balance).then_some(true),
            bonus_rule: (self.bonus != old.bonus).then(|| self.bonus_rule()),
            discount: if self.discount != old.discount {
                self.discount.trim().parse().ok()
            } else {
                None
            },
            custom_cell1: (self.cell_name != old.cell_name
                || self.cell_tips != old.cell_tips
                || self.cell_url != old.cell_url)
                .then(|| self.cell()),
            custom_fields: [0, 1, 2].map(|i| {
                (self.fields.get(i) != old.fields.get(i))
                    .then(|| self.custom_field(i))
                    .flatten()
            }),
        }
    }

    /// A JSON view of the form for the audit log.
    fn audit_json(&self) -> serde_json::Value {
        serde_json::json!({
            "title": self.title, "color": self.color, "logo_url": self.logo_url,
            "notice": self.notice, "description": self.description, "prerogative": self.prerogative,
            "background_pic_url": self.background_pic_url, "supply_bonus": self.supply_bonus,
            "supply_balance": self.supply_balance,
            "bonus_rule": self.bonus.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
            "discount": self.discount,
            "custom_cell1": {"name": self.cell_name, "tips": self.cell_tips, "url": self.cell_url},
            "custom_fields": self.fields.iter().map(|(n, u)| serde_json::json!({"name": n, "url": u})).collect::<Vec<_>>(),
        })
    }
}

/// Checks the edit form against WeChat's limits; every message next to its field.
pub fn validate_edit(admin: &Admin, form: &EditForm) -> FieldErrors {
    let tr = &admin.tr;
    let mut errors = FieldErrors::new();
    check_text(
        tr,
        &mut errors,
        "title",
        &form.title,
        limits::TITLE.max_chars,
        true,
    );
    check_text(
        tr,
        &mut errors,
        "notice",
        &form.notice,
        limits::NOTICE.max_chars,
        true,
    );
    check_text(
        tr,
        &mut errors,
        "description",
        &form.description,
        limits::DESCRIPTION.max_chars,
        true,
    );
    check_text(
        tr,
        &mut errors,
        "prerogative",
        &form.prerogative,
        1024,
        true,
    );
    if !PALETTE.contains(&form.color.as_str()) {
        errors.insert("color".into(), tr.t("card.err_color").to_owned());
    }
    if form.logo_url.is_empty() {
        errors.insert("logo".into(), tr.t("card.err_logo_required").to_owned());
    }
    for (name, value) in &form.bonus {
        let value = value.trim();
        if !value.is_empty()
            && !value
                .parse::<i64>()
                .is_ok_and(|n| (0..=limits::MAX_SKU_QUANTITY).contains(&n))
        {
            errors.insert(format!("bonus_{name}"), tr.t("card.err_number").to_owned());
        }
    }
    let discount = form.discount.trim();
    if !discount.is_empty() && !discount.parse::<i64>().is_ok_and(|n| (0..=99).contains(&n)) {
        errors.insert("discount".into(), tr.t("card.err_discount").to_owned());
    }
    check_text(
        tr,
        &mut errors,
        "cell_tips",
        &form.cell_tips,
        limits::CUSTOM_CELL_TIPS.max_chars,
        false,
    );
    let cell_used = !form.cell_tips.trim().is_empty() || !form.cell_url.trim().is_empty();
    if cell_used && form.cell_name.trim().is_empty() {
        errors.insert("cell_name".into(), tr.t("err.required").to_owned());
    }
    if !form.cell_url.trim().is_empty() && !is_http_url(form.cell_url.trim()) {
        errors.insert("cell_url".into(), tr.t("err.url").to_owned());
    }
    for (i, (name, url)) in form.fields.iter().enumerate() {
        let n = i + 1;
        if !url.trim().is_empty() && !is_http_url(url.trim()) {
            errors.insert(format!("field{n}_url"), tr.t("err.url").to_owned());
        }
        if !url.trim().is_empty() && name.trim().is_empty() {
            errors.insert(format!("field{n}_name"), tr.t("err.required").to_owned());
        }
    }
    errors
}

/// `GET /admin/cards/{id}/edit`.
#[derive(Debug, Template)]
#[template(path = "cards/edit.html")]
pub struct CardEditPage {
    chrome: Chrome,
    card: cards::Model,
    form: EditForm,
    /// The form as WeChat had it when the page was drawn (supply flags already on cannot go off).
    original: EditForm,
    errors: FieldErrors,
    palette: Vec<(&'static str, &'static str)>,
    limits: HashMap<&'static str, usize>,
    /// WeChat could not be asked: the form shows the local copy only.
    offline: Option<String>,
}

impl CardEditPage {
    fn limit(&self, field: &str) -> usize {
        self.limits.get(field).copied().unwrap_or(0)
    }

    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }

    fn error_of(&self, prefix: &str, middle: &str, suffix: &str) -> Option<&String> {
        self.errors.get(&format!("{prefix}{middle}{suffix}"))
    }
}

/// The card, its account's AppID, and the form as WeChat has it (or the local copy and WeChat's error).
async fn load_for_edit(
    state: &AdminState,
    id: i64,
) -> Result<(cards::Model, String, EditForm, Option<String>), AdminError> {
    let card = cards::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AdminError::NotFound)?;
    let app_id = accounts::list(&state.db)
        .await?
        .into_iter()
        .find(|a| a.id == card.account_id)
        .map(|a| a.app_id)
        .ok_or(AdminError::NotFound)?;
    let client = state.clients.official_account(&app_id).await?;
    let (form, offline) = match client.get_card(&card.wechat_card_id).await {
        Ok(detail) => match detail.member_card {
            Some(mc) => (EditForm::from_wechat(&card, &mc), None),
            None => (
                EditForm::from_local(&card),
                Some("not a member card".to_owned()),
            ),
        },
        Err(err) => (EditForm::from_local(&card), Some(err.to_string())),
    };
    Ok((card, app_id, form, offline))
}

fn edit_limits() -> HashMap<&'static str, usize> {
    let mut table = limit_table();
    table.insert("cell_tips", limits::CUSTOM_CELL_TIPS.max_chars);
    table
}

/// `GET /admin/cards/{id}/edit`.
pub async fn edit_form(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let (card, _, form, offline) = load_for_edit(&state, *id).await?;
    let page = CardEditPage {
        chrome: Chrome::load(&state, &admin, "cards", None).await?,
        card,
        original: form.clone(),
        form,
        errors: FieldErrors::new(),
        palette: palette(),
        limits: edit_limits(),
        offline,
    };
    render(&page, StatusCode::OK)
}

/// `POST /admin/cards/{id}/edit` (multipart: logo and face image travel with the form). Sends what
/// changed with `card/update`; `action=preview` only redraws the preview.
pub async fn edit(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    payload: Multipart,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let fields = read_multipart(payload).await?;
    admin.check_csrf(&fields.get("csrf"))?;
    let (card, app_id, original, offline) = load_for_edit(&state, *id).await?;
    let mut form = EditForm::from_fields(&fields);
    let mut errors = FieldErrors::new();
    upload_image(
        &state,
        &admin,
        &app_id,
        &fields,
        "logo",
        &mut form.logo_url,
        &mut errors,
    )
    .await?;
    upload_image(
        &state,
        &admin,
        &app_id,
        &fields,
        "background",
        &mut form.background_pic_url,
        &mut errors,
    )
    .await?;
    let mut page = CardEditPage {
        chrome: Chrome::load(&state, &admin, "cards", None).await?,
        card,
        form,
        original,
        errors,
        palette: palette(),
        limits: edit_limits(),
        offline,
    };
    if fields.get("action") == "preview" {
        return render(&page, StatusCode::OK);
    }
    page.errors.extend(validate_edit(&admin, &page.form));
    if !page.errors.is_empty() {
        return render(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let changes = page.form.changes_from(&page.original);
    let client = state.clients.official_account(&app_id).await?;
    match card_use_cases::update(&state.db, &client, &page.card, &changes).await {
        Ok((card, send_check)) => {
            admin
                .audit(
                    &state,
                    "card.update",
                    format!("card:{}", card.id),
                    Some(page.original.audit_json()),
                    Some(page.form.audit_json()),
                )
                .await?;
            Ok(see_other(&format!(
                "/admin/cards/{}?done={}",
                card.id,
                if send_check {
                    "card_updated_review"
                } else {
                    "card_updated"
                }
            )))
        }
        Err(err) => {
            page.errors.insert("form".into(), err.to_string());
            render(&page, StatusCode::BAD_GATEWAY)
        }
    }
}
