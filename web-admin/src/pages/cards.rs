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
use kaika_core::card_face::{self, CardFace, CardImage, ImageProblem, NewCardForm};
use kaika_core::cards::{self as card_use_cases, ReviewCheck};
use kaika_core::entity::cards;
use kaika_core::CoreError;
use sea_orm::{EntityTrait, QueryOrder};

use super::{base_url, message, messages, render, see_other, Chrome, Done, FieldErrors};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::{read_multipart, Fields, Upload, MAX_IMAGE_BYTES};
use crate::i18n::Tr;
use crate::state::AdminState;

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

/// The create form as posted.
fn new_card_form(f: &Fields) -> NewCardForm {
    NewCardForm {
        account: f.get("account"),
        face: face_of(f),
        brand_name: f.get("brand_name"),
        welcome_bonus: f.get("welcome_bonus"),
        membership_prefix: f.get("membership_prefix"),
        after_submit_url: f.get("after_submit_url"),
        stored_value: !f.get("stored_value").is_empty(),
        balance_rules: f.get("balance_rules"),
    }
}

/// The face both card forms post.
pub(super) fn face_of(f: &Fields) -> CardFace {
    CardFace {
        title: f.get("title"),
        color: f.get("color"),
        logo_url: f.get("logo_url"),
        notice: f.get("notice"),
        description: f.get("description"),
        prerogative: f.get("prerogative"),
    }
}

/// The create form with its preview.
#[derive(Debug, Template)]
#[template(path = "cards/new.html")]
pub struct CardFormPage {
    chrome: Chrome,
    form: NewCardForm,
    accounts: Vec<AccountSummary>,
    errors: FieldErrors,
    palette: Vec<(&'static str, &'static str)>,
}

impl CardFormPage {
    fn limit(&self, field: &str) -> usize {
        card_face::max_chars(field)
    }
}

async fn form_page(
    state: &AdminState,
    admin: &Admin,
    form: NewCardForm,
    errors: FieldErrors,
) -> Result<CardFormPage, AdminError> {
    Ok(CardFormPage {
        chrome: Chrome::load(state, admin, "cards", None).await?,
        form,
        accounts: accounts::list(&state.db).await?,
        errors,
        palette: card_face::palette(),
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
    let form = NewCardForm {
        account: accounts
            .first()
            .map(|a| a.app_id.clone())
            .unwrap_or_default(),
        face: CardFace {
            color: "Color010".into(),
            ..CardFace::default()
        },
        welcome_bonus: "0".into(),
        after_submit_url: default_after_submit_url(&state, &req),
        ..NewCardForm::default()
    };
    render(
        &form_page(&state, &admin, form, FieldErrors::new()).await?,
        StatusCode::OK,
    )
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
    let uploaded = match fields.upload(field) {
        _ if fields.oversized.as_deref() == Some(field) => Err(ImageProblem::TooLarge),
        None => return Ok(()),
        Some(upload) => card_face::upload_image(&state.clients, app_id, image_of(upload)).await?,
    };
    match uploaded {
        Ok(uploaded) => *url = uploaded,
        Err(problem) => {
            errors.insert(field.into(), image_message(&admin.tr, field, problem));
        }
    }
    Ok(())
}

fn image_of(upload: &Upload) -> CardImage {
    CardImage {
        file_name: upload.file_name.clone(),
        content_type: upload.content_type.clone(),
        bytes: upload.bytes.clone(),
    }
}

fn image_message(tr: &Tr, field: &str, problem: ImageProblem) -> String {
    match problem {
        ImageProblem::TooLarge => tr.fmt(
            &format!("card.err_{field}_size"),
            &[("max", (MAX_IMAGE_BYTES / 1024).to_string())],
        ),
        ImageProblem::NotPngOrJpeg => tr.t(&format!("card.err_{field}_type")).to_owned(),
        ImageProblem::Upload(err) => format!("{}: {err}", tr.t("card.err_upload")),
    }
}

/// The create form as posted, its account when it names one, and the logo uploaded (or why not).
async fn posted_card_form(
    state: &AdminState,
    admin: &Admin,
    fields: &Fields,
) -> Result<(NewCardForm, Option<AccountSummary>, FieldErrors), AdminError> {
    let mut form = new_card_form(fields);
    let account = card_face::account_of(&state.db, &form).await?;
    let mut upload_errors = FieldErrors::new();
    if account.is_some() {
        let (app_id, logo) = (form.account.clone(), &mut form.face.logo_url);
        upload_image(
            state,
            admin,
            &app_id,
            fields,
            "logo",
            logo,
            &mut upload_errors,
        )
        .await?;
    }
    Ok((form, account, upload_errors))
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
    let (form, account, upload_errors) = posted_card_form(&state, &admin, &fields).await?;
    if fields.get("action") == "preview" {
        let page = form_page(&state, &admin, form, upload_errors).await?;
        return render(&page, StatusCode::OK);
    }
    let problems = form.check(account.as_ref(), state.public_url.is_some());
    let mut errors = messages(&admin.tr, problems);
    errors.extend(upload_errors);
    let Some(account) = account.filter(|_| errors.is_empty()) else {
        let page = form_page(&state, &admin, form, errors).await?;
        return render(&page, StatusCode::UNPROCESSABLE_ENTITY);
    };
    match card_face::create(&state.db, &state.clients, &account, &form, &admin.by()).await? {
        Ok(card) => Ok(see_other(&created(card.id))),
        Err(err) => create_refused(&state, &admin, form, errors, err).await,
    }
}

/// Where a new card goes next: its activation form.
fn created(card_id: i64) -> String {
    format!("/admin/cards/{card_id}/form?done=card_created")
}

/// The create form sent back with why the card was not created: a missing stored-value permission
/// next to its checkbox, anything else above the form as WeChat's failure.
async fn create_refused(
    state: &AdminState,
    admin: &Admin,
    form: NewCardForm,
    mut errors: FieldErrors,
    err: CoreError,
) -> Result<HttpResponse, AdminError> {
    let status = match err {
        CoreError::Invalid {
            field: "stored_value",
            ..
        } => {
            let message = admin.tr.t("card.err_stored_value_permission");
            errors.insert("stored_value".into(), message.to_owned());
            StatusCode::UNPROCESSABLE_ENTITY
        }
        err => {
            errors.insert("form".into(), err.to_string());
            StatusCode::BAD_GATEWAY
        }
    };
    render(&form_page(state, admin, form, errors).await?, status)
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
    let account = page.account.as_ref().ok_or(AdminError::NotFound)?;
    let app_id = account.app_id.clone();
    match card_use_cases::refresh_review_of(&state.db, &state.clients, &app_id, &page.card).await {
        Ok(check) => Ok(see_other(&format!(
            "/admin/cards/{id}?{}",
            review_done(&check)
        ))),
        Err(err @ CoreError::Database(_)) => Err(err.into()),
        Err(err) => {
            let failed = format!("{}: {err}", admin.tr.t("card.refresh_failed"));
            page.errors.insert("refresh".into(), failed);
            render(&page, StatusCode::BAD_GATEWAY)
        }
    }
}

/// The message of what the refresh found.
fn review_done(check: &ReviewCheck) -> &'static str {
    match check {
        ReviewCheck::Pending => "done=review_pending",
        ReviewCheck::Approved => "done=review_approved",
        ReviewCheck::Refused(_) => "done=review_refused",
        ReviewCheck::Other(_) => "done=review_other",
    }
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
    let typed = f.get("welcome_bonus");
    match card_face::set_welcome_bonus(&state.db, &page.card, &typed, &admin.by()).await? {
        Ok(()) => Ok(see_other(&format!("/admin/cards/{id}?done=card_saved"))),
        Err(problem) => {
            page.welcome_bonus = typed;
            let text = message(&admin.tr, problem);
            page.errors.insert("welcome_bonus".into(), text);
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
