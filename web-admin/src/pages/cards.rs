//! Member cards: the list with review status, creation with a live preview and WeChat's limits checked
//! next to each field, logo upload through `media/uploadimg`, the welcome bonus, and the import of cards
//! that already exist on the account (`card/batchget` + `card/get`).

use std::collections::HashMap;

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use kaika_core::accounts::{self, AccountSummary};

use kaika_core::cards::{self as card_use_cases, NewMemberCard, ReviewCheck, StoredValue};
use kaika_core::entity::cards;
use kaika_core::CoreError;
use kaika_wechat::card::CardColor;
use kaika_wechat::limits;
use sea_orm::{EntityTrait, QueryOrder};

use super::{base_url, check_text, is_http_url, render, see_other, Chrome, Done, FieldErrors};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::{read_multipart, Fields, MAX_IMAGE_BYTES};
use crate::state::AdminState;

/// WeChat's card colours, in palette order.
pub const PALETTE: [&str; 14] = [
    "Color010", "Color020", "Color030", "Color040", "Color050", "Color060", "Color070", "Color080",
    "Color081", "Color082", "Color090", "Color100", "Color101", "Color102",
];

/// `GET /admin/cards`.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "cards/list.html")]
pub struct CardsPage {
    chrome: Chrome,
    cards: Vec<cards::Model>,
    accounts: HashMap<i64, AccountSummary>,
    account_list: Vec<AccountSummary>,
}

impl CardsPage {
    fn account_name(&self, id: &i64) -> String {
        self.accounts
            .get(id)
            .map(|a| a.name.clone())
            .unwrap_or_default()
    }
}

/// `GET /admin/cards`.
pub async fn list(
    state: web::Data<AdminState>,
    admin: Admin,
    done: web::Query<Done>,
) -> Result<CardsPage, AdminError> {
    let account_list = accounts::list(&state.db).await?;
    Ok(CardsPage {
        chrome: Chrome::load(&state, &admin, "cards", done.done.as_deref()).await?,
        cards: cards::Entity::find()
            .order_by_asc(cards::Column::Id)
            .all(&state.db)
            .await?,
        accounts: account_list.iter().map(|a| (a.id, a.clone())).collect(),
        account_list,
    })
}

/// The card form's values, as typed.
#[derive(Debug, Clone, Default)]
pub struct CardForm {
    /// The account's AppID.
    pub account: String,
    /// Title (≤ 9).
    pub title: String,
    /// Brand (≤ 12).
    pub brand_name: String,
    /// Palette name.
    pub color: String,
    /// Uploaded logo's URL.
    pub logo_url: String,
    /// Notice (≤ 16).
    pub notice: String,
    /// Description (≤ 1024).
    pub description: String,
    /// Privileges.
    pub prerogative: String,
    /// Welcome points, as typed.
    pub welcome_bonus: String,
    /// Membership number prefix.
    pub membership_prefix: String,
    /// Where WeChat sends the member after the form.
    pub after_submit_url: String,
    /// Stored value asked for (the checkbox).
    pub stored_value: bool,
    /// The balance rules shown on a card with stored value.
    pub balance_rules: String,
}

impl CardForm {
    fn from_fields(f: &Fields) -> Self {
        Self {
            account: f.get("account"),
            title: f.get("title"),
            brand_name: f.get("brand_name"),
            color: f.get("color"),
            logo_url: f.get("logo_url"),
            notice: f.get("notice"),
            description: f.get("description"),
            prerogative: f.get("prerogative"),
            welcome_bonus: f.get("welcome_bonus"),
            membership_prefix: f.get("membership_prefix"),
            after_submit_url: f.get("after_submit_url"),
            stored_value: !f.get("stored_value").is_empty(),
            balance_rules: f.get("balance_rules"),
        }
    }

    /// Characters typed in a field, for the counters.
    pub fn count(&self, field: &str) -> usize {
        limits::char_len(match field {
            "title" => &self.title,
            "brand_name" => &self.brand_name,
            "notice" => &self.notice,
            _ => &self.description,
        })
    }
}

/// The create form with its preview.
#[derive(Debug, Template)]
#[template(path = "cards/new.html")]
pub struct CardFormPage {
    chrome: Chrome,
    form: CardForm,
    accounts: Vec<AccountSummary>,
    errors: FieldErrors,
    palette: Vec<(&'static str, &'static str)>,
    limits: HashMap<&'static str, usize>,
}

impl CardFormPage {
    fn limit(&self, field: &str) -> usize {
        self.limits.get(field).copied().unwrap_or(0)
    }
}

fn palette() -> Vec<(&'static str, &'static str)> {
    PALETTE
        .iter()
        .map(|name| (*name, CardColor::parse(name).hex().unwrap_or("#63b359")))
        .collect()
}

fn limit_table() -> HashMap<&'static str, usize> {
    HashMap::from([
        ("title", limits::TITLE.max_chars),
        ("brand_name", limits::BRAND_NAME.max_chars),
        ("notice", limits::NOTICE.max_chars),
        ("description", limits::DESCRIPTION.max_chars),
    ])
}

async fn form_page(
    state: &AdminState,
    admin: &Admin,
    form: CardForm,
    errors: FieldErrors,
) -> Result<CardFormPage, AdminError> {
    Ok(CardFormPage {
        chrome: Chrome::load(state, admin, "cards", None).await?,
        form,
        accounts: accounts::list(&state.db).await?,
        errors,
        palette: palette(),
        limits: limit_table(),
    })
}

/// Where members go after the activation form: Kaika's activation page at the public URL when it is
/// set, otherwise the sandbox demo page of this server (only sandbox accounts may use it).
fn default_after_submit_url(state: &AdminState, req: &HttpRequest) -> String {
    match &state.public_url {
        Some(url) => url.activate_page_url(),
        None => format!("{}/sandbox", base_url(req)),
    }
}

/// `GET /admin/cards/new`.
pub async fn new_form(
    req: HttpRequest,
    state: web::Data<AdminState>,
    admin: Admin,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let accounts = accounts::list(&state.db).await?;
    let form = CardForm {
        account: accounts
            .first()
            .map(|a| a.app_id.clone())
            .unwrap_or_default(),
        color: "Color010".into(),
        welcome_bonus: "0".into(),
        after_submit_url: default_after_submit_url(&state, &req),
        ..CardForm::default()
    };
    render(
        &form_page(&state, &admin, form, FieldErrors::new()).await?,
        StatusCode::OK,
    )
}

/// Checks the form against WeChat's limits; every message in the admin's language, next to its field.
pub fn validate(admin: &Admin, form: &CardForm) -> FieldErrors {
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
        "brand_name",
        &form.brand_name,
        limits::BRAND_NAME.max_chars,
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
    match form.welcome_bonus.parse::<i64>() {
        Ok(n) if (0..=100_000_000).contains(&n) => {}
        _ => {
            errors.insert("welcome_bonus".into(), tr.t("card.err_bonus").to_owned());
        }
    }
    let prefix_ok = form.membership_prefix.len() <= 8
        && form
            .membership_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric());
    if !prefix_ok {
        errors.insert(
            "membership_prefix".into(),
            tr.t("card.err_prefix").to_owned(),
        );
    }
    if !is_http_url(&form.after_submit_url) {
        errors.insert("after_submit_url".into(), tr.t("err.url").to_owned());
    }
    if form.account.is_empty() {
        errors.insert("account".into(), tr.t("card.err_account").to_owned());
    }
    if form.stored_value {
        check_text(
            tr,
            &mut errors,
            "balance_rules",
            &form.balance_rules,
            1024,
            true,
        );
    }
    errors
}

/// Uploads the chosen logo (if any) through the account's `media/uploadimg`, and keeps its URL in the
/// form so that a later submit does not upload it again.
async fn upload_logo(
    state: &AdminState,
    admin: &Admin,
    fields: &Fields,
    form: &mut CardForm,
    errors: &mut FieldErrors,
) -> Result<(), AdminError> {
    let app_id = form.account.clone();
    upload_image(
        state,
        admin,
        &app_id,
        fields,
        "logo",
        &mut form.logo_url,
        errors,
    )
    .await
}

/// Uploads the image of file field `field` (`logo` or `background`), if one was chosen, through the
/// account's `media/uploadimg` and puts its URL in `url`; a wrong type or size is reported under the
/// field with the `card.err_<field>_…` messages.
async fn upload_image(
    state: &AdminState,
    admin: &Admin,
    app_id: &str,
    fields: &Fields,
    field: &str,
    url: &mut String,
    errors: &mut FieldErrors,
) -> Result<(), AdminError> {
    if fields.oversized.as_deref() == Some(field) {
        errors.insert(
            field.into(),
            admin.tr.fmt(
                &format!("card.err_{field}_size"),
                &[("max", (MAX_IMAGE_BYTES / 1024).to_string())],
            ),
        );
        return Ok(());
    }
    let Some(upload) = fields.upload(field) else {
        return Ok(());
    };
    if !matches!(upload.content_type.as_str(), "image/png" | "image/jpeg") {
        errors.insert(
            field.into(),
            admin.tr.t(&format!("card.err_{field}_type")).to_owned(),
        );
        return Ok(());
    }
    let client = state.clients.official_account(app_id).await?;
    match client
        .upload_image(
            &upload.file_name,
            &upload.content_type,
            upload.bytes.clone(),
        )
        .await
    {
        Ok(uploaded) => *url = uploaded,
        Err(err) => {
            errors.insert(
                field.into(),
                format!("{}: {err}", admin.tr.t("card.err_upload")),
            );
        }
    }
    Ok(())
}

/// `POST /admin/cards` (multipart: the logo travels with the form). `action=preview` only redraws the
/// preview (the page works without JavaScript); otherwise the card is created on WeChat.
pub async fn create(
    state: web::Data<AdminState>,
    admin: Admin,
    payload: Multipart,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let fields = read_multipart(payload).await?;
    admin.check_csrf(&fields.get("csrf"))?;
    let mut form = CardForm::from_fields(&fields);
    let mut upload_errors = FieldErrors::new();
    let account = accounts::list(&state.db)
        .await?
        .into_iter()
        .find(|a| a.app_id == form.account);
    if account.is_some() {
        upload_logo(&state, &admin, &fields, &mut form, &mut upload_errors).await?;
    }
    if fields.get("action") == "preview" {
        let page = form_page(&state, &admin, form, upload_errors).await?;
        return render(&page, StatusCode::OK);
    }
    let mut errors = validate(&admin, &form);
    errors.extend(upload_errors);
    let Some(account) = account else {
        errors.insert("account".into(), admin.tr.t("card.err_account").to_owned());
        let page = form_page(&state, &admin, form, errors).await?;
        return render(&page, StatusCode::UNPROCESSABLE_ENTITY);
    };
    // A real account's members must land on Kaika's activation page, which needs the public address.
    if !account.is_sandbox && state.public_url.is_none() {
        errors.insert(
            "after_submit_url".into(),
            admin.tr.t("card.err_public_url_missing").to_owned(),
        );
    }
    if !errors.is_empty() {
        let page = form_page(&state, &admin, form, errors).await?;
        return render(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let new = NewMemberCard {
        title: form.title.clone(),
        brand_name: form.brand_name.clone(),
        color: CardColor::parse(&form.color),
        logo_url: form.logo_url.clone(),
        notice: form.notice.clone(),
        description: form.description.clone(),
        prerogative: form.prerogative.clone(),
        welcome_bonus: form.welcome_bonus.parse().unwrap_or(0),
        membership_prefix: form.membership_prefix.clone(),
        after_submit_url: form.after_submit_url.clone(),
        stored_value: form.stored_value.then(|| StoredValue {
            balance_rules: form.balance_rules.trim().to_owned(),
        }),
    };
    let client = state.clients.official_account(&account.app_id).await?;
    match card_use_cases::create(&state.db, &client, account.id, &new).await {
        Ok(card) => {
            admin
                .audit(
                    &state,
                    "card.create",
                    format!("card:{}", card.id),
                    None,
                    Some(serde_json::json!({
                        "wechat_card_id": card.wechat_card_id,
                        "title": card.title,
                        "brand_name": card.brand_name,
                        "color": card.color,
                        "logo_url": card.logo_url,
                        "welcome_bonus": card.welcome_bonus,
                    })),
                )
                .await?;
            Ok(see_other(&format!(
                "/admin/cards/{}/form?done=card_created",
                card.id
            )))
        }
        // The account lacks the stored-value permission: said next to the checkbox.
        Err(CoreError::Invalid {
            field: "stored_value",
            ..
        }) => {
            errors.insert(
                "stored_value".into(),
                admin.tr.t("card.err_stored_value_permission").to_owned(),
            );
            let page = form_page(&state, &admin, form, errors).await?;
            render(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(err) => {
            errors.insert("form".into(), err.to_string());
            let page = form_page(&state, &admin, form, errors).await?;
            render(&page, StatusCode::BAD_GATEWAY)
        }
    }
}

/// `GET /admin/cards/{id}`.
#[derive(Debug, Template)]
#[template(path = "cards/detail.html")]
pub struct CardPage {
    chrome: Chrome,
    card: cards::Model,
    account: Option<AccountSummary>,
    welcome_bonus: String,
    errors: FieldErrors,
}

async fn card_page(
    state: &AdminState,
    admin: &Admin,
    id: i64,
    done: Option<&str>,
) -> Result<CardPage, AdminError> {
    let card = cards::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AdminError::NotFound)?;
    let account = accounts::list(&state.db)
        .await?
        .into_iter()
        .find(|a| a.id == card.account_id);
    Ok(CardPage {
        chrome: Chrome::load(state, admin, "cards", done).await?,
        welcome_bonus: card.welcome_bonus.to_string(),
        card,
        account,
        errors: FieldErrors::new(),
    })
}

/// `GET /admin/cards/{id}`.
pub async fn detail(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<HttpResponse, AdminError> {
    let page = card_page(&state, &admin, *id, done.done.as_deref()).await?;
    render(&page, StatusCode::OK)
}

/// `POST /admin/cards/{id}/refresh-review`: asks WeChat (`card/get`) where the card is in review, records
/// it, and says what was found. A failed call is shown next to the button.
pub async fn refresh_review(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let mut page = card_page(&state, &admin, *id, None).await?;
    let app_id = page
        .account
        .as_ref()
        .map(|a| a.app_id.clone())
        .ok_or(AdminError::NotFound)?;
    let checked = match state.clients.official_account(&app_id).await {
        Ok(client) => card_use_cases::refresh_review(&state.db, &client, &page.card).await,
        Err(err) => Err(err),
    };
    let found = match checked {
        Ok(ReviewCheck::Pending) => "done=review_pending",
        Ok(ReviewCheck::Approved) => "done=review_approved",
        Ok(ReviewCheck::Refused(_)) => "done=review_refused",
        Ok(ReviewCheck::Other(_)) => "done=review_other",
        Err(err @ CoreError::Database(_)) => return Err(err.into()),
        Err(err) => {
            page.errors.insert(
                "refresh".into(),
                format!("{}: {err}", admin.tr.t("card.refresh_failed")),
            );
            return render(&page, StatusCode::BAD_GATEWAY);
        }
    };
    Ok(see_other(&format!("/admin/cards/{id}?{found}")))
}

/// `POST /admin/cards/{id}`: the welcome bonus (a local setting, credited at activation).
pub async fn update(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let mut page = card_page(&state, &admin, *id, None).await?;
    let before = page.card.welcome_bonus;
    match f.get("welcome_bonus").parse::<i64>() {
        Ok(bonus) if (0..=100_000_000).contains(&bonus) => {
            kaika_core::cards::set_welcome_bonus(&state.db, *id, bonus).await?;
            admin
                .audit(
                    &state,
                    "card.welcome_bonus",
                    format!("card:{id}"),
                    Some(serde_json::json!({ "welcome_bonus": before })),
                    Some(serde_json::json!({ "welcome_bonus": bonus })),
                )
                .await?;
            Ok(see_other(&format!("/admin/cards/{id}?done=card_saved")))
        }
        _ => {
            page.welcome_bonus = f.get("welcome_bonus");
            page.errors.insert(
                "welcome_bonus".into(),
                admin.tr.t("card.err_bonus").to_owned(),
            );
            render(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

/// `POST /admin/cards/import`: stores the account's cards that are on WeChat but not here.
pub async fn import(
    state: web::Data<AdminState>,
    admin: Admin,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let app_id = f.get("account");
    let account = accounts::list(&state.db)
        .await?
        .into_iter()
        .find(|a| a.app_id == app_id)
        .ok_or(AdminError::NotFound)?;
    let client = state.clients.official_account(&app_id).await?;
    let imported = card_use_cases::import_from_wechat(&state.db, &client, account.id).await?;
    admin
        .audit(
            &state,
            "card.import",
            format!("account:{app_id}"),
            None,
            Some(serde_json::json!({ "imported": imported })),
        )
        .await?;
    Ok(see_other("/admin/cards?done=cards_imported"))
}

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
