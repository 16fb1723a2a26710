//! The activation-form designer: a preview that looks like the component, every rule and the request
//! in [`kaika_core::activation_form`]; saved locally and pushed with `activateuserform/set`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use kaika_core::activation_form::{
    self, lines, Design, Place, RichSlot, COMMON_FIELDS, RICH_SLOTS,
};
use kaika_core::entity::cards;
use sea_orm::EntityTrait;

use super::{messages, render, see_other, Chrome, Done, FieldErrors};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::Fields;
use crate::state::AdminState;

/// The design as posted.
fn design_of_fields(f: &Fields) -> Design {
    Design {
        common: COMMON_FIELDS
            .iter()
            .map(|name| (*name, Place::parse(&f.get(&format!("common_{name}")))))
            .collect(),
        custom_required: f.raw("custom_required"),
        custom_optional: f.raw("custom_optional"),
        rich: (0..RICH_SLOTS)
            .map(|i| RichSlot {
                kind: f.get(&format!("rich{i}_type")),
                name: f.get(&format!("rich{i}_name")),
                values: f.raw(&format!("rich{i}_values")),
                place: Place::parse(&f.get(&format!("rich{i}_place"))),
            })
            .collect(),
        can_modify_required: f.checked("can_modify_required"),
        can_modify_optional: f.checked("can_modify_optional"),
        service_name: f.get("service_name"),
        service_url: f.get("service_url"),
        bind_name: f.get("bind_name"),
        bind_url: f.get("bind_url"),
    }
}

/// The fields of one part of the preview: common fields, custom questions, then choice questions.
fn preview(design: &Design, place: Place) -> Vec<PreviewField> {
    let custom = match place {
        Place::Required => &design.custom_required,
        _ => &design.custom_optional,
    };
    let common = design.common.iter().filter(|(_, p)| *p == place);
    let rich = design.rich.iter().filter(|r| r.place == place);
    common
        .map(|(name, _)| PreviewField::text(format!("flag.{name}"), String::new()))
        .chain(
            lines(custom)
                .into_iter()
                .map(|label| PreviewField::text(String::new(), label)),
        )
        .chain(rich.filter(|r| !r.name.is_empty()).map(choice_field))
        .collect()
}

fn choice_field(r: &RichSlot) -> PreviewField {
    PreviewField {
        label_key: String::new(),
        label: r.name.clone(),
        kind: match r.kind.as_str() {
            "FORM_FIELD_SELECT" => "select",
            "FORM_FIELD_CHECK_BOX" => "checkbox",
            _ => "radio",
        },
        options: r.options(),
    }
}

impl PreviewField {
    fn text(label_key: String, label: String) -> Self {
        Self {
            label_key,
            label,
            kind: "text",
            options: Vec::new(),
        }
    }
}

/// One field of the preview.
#[derive(Debug, Clone)]
pub struct PreviewField {
    /// The catalogue key of a common field's label.
    pub label_key: String,
    /// The label of a custom or choice question.
    pub label: String,
    /// `text`, `radio`, `select` or `checkbox`.
    pub kind: &'static str,
    /// The choices.
    pub options: Vec<String>,
}

/// `GET /admin/cards/{id}/form`.
#[derive(Debug, Template)]
#[template(path = "cards/form_designer.html")]
pub struct DesignerPage {
    chrome: Chrome,
    card: cards::Model,
    design: Design,
    errors: FieldErrors,
    required_preview: Vec<PreviewField>,
    optional_preview: Vec<PreviewField>,
}

impl DesignerPage {
    fn slot_error(&self, slot: &usize, part: &str) -> Option<&String> {
        self.errors.get(&format!("rich{slot}_{part}"))
    }

    fn label(&self, field: &PreviewField) -> String {
        if field.label_key.is_empty() {
            field.label.clone()
        } else {
            self.chrome.t(&field.label_key).to_owned()
        }
    }
}

async fn page(
    state: &AdminState,
    admin: &Admin,
    card: cards::Model,
    design: Design,
    errors: FieldErrors,
    done: Option<&str>,
) -> Result<DesignerPage, AdminError> {
    Ok(DesignerPage {
        chrome: Chrome::load(state, admin, "cards", done).await?,
        required_preview: preview(&design, Place::Required),
        optional_preview: preview(&design, Place::Optional),
        card,
        design,
        errors,
    })
}

async fn find_card(state: &AdminState, id: i64) -> Result<cards::Model, AdminError> {
    cards::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AdminError::NotFound)
}

/// `GET /admin/cards/{id}/form`.
pub async fn show(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<HttpResponse, AdminError> {
    let card = find_card(&state, *id).await?;
    let design = activation_form::design_of(&card);
    let done = done.done.as_deref();
    let page = page(&state, &admin, card, design, FieldErrors::new(), done).await?;
    render(&page, StatusCode::OK)
}

/// `POST /admin/cards/{id}/form`: `action=preview` redraws the preview; otherwise the form is checked,
/// pushed to WeChat and stored.
pub async fn save(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let card = find_card(&state, *id).await?;
    let design = design_of_fields(&f);
    let mut errors = messages(&admin.tr, design.check());
    let preview = f.get("action") == "preview";
    if !preview && errors.is_empty() {
        let by = admin.by();
        match activation_form::save(&state.db, &state.clients, &card, &design, &by).await? {
            Ok(()) => return Ok(see_other(&saved(card.id))),
            Err(err) => errors.insert("form".into(), err.to_string()),
        };
    }
    let page = page(&state, &admin, card, design, errors, None).await?;
    let status = if preview {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(&page, status)
}

/// Where a saved form goes next: the designer again.
fn saved(card_id: i64) -> String {
    format!("/admin/cards/{card_id}/form?done=form_saved")
}
