//! Editing a member card on WeChat (`card/update`): the face, the points and balance options, the
//! custom cells and fields, each checked against WeChat's limits next to its field. The rules and the
//! request are [`kaika_core::card_face`]'s.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use kaika_core::card_face::{self, CardEdit, EditStart, BONUS_FIELDS};
use kaika_core::entity::cards;

use super::cards::{face_of, upload_image};
use super::{messages, render, see_other, Chrome, FieldErrors};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::{read_multipart, Fields};
use crate::state::AdminState;

/// The edit form as posted.
fn card_edit(f: &Fields) -> CardEdit {
    CardEdit {
        face: face_of(f),
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

/// `GET /admin/cards/{id}/edit`.
#[derive(Debug, Template)]
#[template(path = "cards/edit.html")]
pub struct CardEditPage {
    chrome: Chrome,
    card: cards::Model,
    form: CardEdit,
    /// The form as WeChat had it when the page was drawn (supply flags already on cannot go off).
    original: CardEdit,
    errors: FieldErrors,
    palette: Vec<(&'static str, &'static str)>,
    /// WeChat could not be asked: the form shows the local copy only.
    offline: Option<String>,
}

impl CardEditPage {
    fn limit(&self, field: &str) -> usize {
        card_face::max_chars(field)
    }

    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }

    fn error_of(&self, prefix: &str, middle: &str, suffix: &str) -> Option<&String> {
        self.errors.get(&format!("{prefix}{middle}{suffix}"))
    }
}

async fn edit_page(
    state: &AdminState,
    admin: &Admin,
    start: &EditStart,
    form: CardEdit,
    errors: FieldErrors,
) -> Result<CardEditPage, AdminError> {
    Ok(CardEditPage {
        chrome: Chrome::load(state, admin, "cards", None).await?,
        card: start.card.clone(),
        form,
        original: start.form.clone(),
        errors,
        palette: card_face::palette(),
        offline: start.offline.clone(),
    })
}

/// `GET /admin/cards/{id}/edit`.
pub async fn edit_form(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let start = card_face::start_edit(&state.db, &state.clients, *id).await?;
    let page = edit_page(
        &state,
        &admin,
        &start,
        start.form.clone(),
        FieldErrors::new(),
    )
    .await?;
    render(&page, StatusCode::OK)
}

/// The logo and the face image chosen in the form, uploaded through `media/uploadimg` into the form.
async fn upload_images(
    state: &AdminState,
    admin: &Admin,
    app_id: &str,
    fields: &Fields,
    form: &mut CardEdit,
) -> Result<FieldErrors, AdminError> {
    let mut errors = FieldErrors::new();
    let logo = &mut form.face.logo_url;
    upload_image(state, admin, app_id, fields, "logo", logo, &mut errors).await?;
    let background = &mut form.background_pic_url;
    upload_image(
        state,
        admin,
        app_id,
        fields,
        "background",
        background,
        &mut errors,
    )
    .await?;
    Ok(errors)
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
    let start = card_face::start_edit(&state.db, &state.clients, *id).await?;
    let preview = fields.get("action") == "preview";
    let (form, errors) = posted_edit(&state, &admin, &start, &fields, preview).await?;
    let mut page = edit_page(&state, &admin, &start, form, errors).await?;
    if preview {
        return render(&page, StatusCode::OK);
    } else if !page.errors.is_empty() {
        return render(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    match card_face::update(&state.db, &state.clients, &start, &page.form, &admin.by()).await? {
        Ok((card, send_check)) => Ok(see_other(&updated(card.id, send_check))),
        Err(err) => {
            page.errors.insert("form".into(), err.to_string());
            render(&page, StatusCode::BAD_GATEWAY)
        }
    }
}

/// The edit form as posted with its images uploaded, and what is wrong with it (a preview is not
/// checked).
async fn posted_edit(
    state: &AdminState,
    admin: &Admin,
    start: &EditStart,
    fields: &Fields,
    preview: bool,
) -> Result<(CardEdit, FieldErrors), AdminError> {
    let mut form = card_edit(fields);
    let mut errors = upload_images(state, admin, &start.app_id, fields, &mut form).await?;
    if !preview {
        errors.extend(messages(&admin.tr, form.check()));
    }
    Ok((form, errors))
}

/// Where an edited card goes next, saying whether WeChat reviews the change.
fn updated(card_id: i64, send_check: bool) -> String {
    let done = if send_check {
        "done=card_updated_review"
    } else {
        "done=card_updated"
    };
    format!("/admin/cards/{card_id}?{done}")
}
