//! Member cards: the list with review status, creation with a live preview and WeChat's limits checked
//! next to each field, logo upload through `media/uploadimg`, the welcome bonus, the review refresh, and
//! the import of cards that already exist on the account. Editing is in [`super::card_edit`].

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

pub(super) fn palette() -> Vec<(&'static str, &'static str)> {
    PALETTE
        .iter()
        .map(|name| (*name, CardColor::parse(name).hex().unwrap_or("#63b359")))
        .collect()
}

pub(super) fn limit_table() -> HashMap<&'static str, usize> {
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
pub(super) async fn upload_image(
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
