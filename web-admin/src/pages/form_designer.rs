//! The activation-form designer: WeChat's common fields (every `USER_FORM_INFO_FLAG_*`), free-text and
//! choice questions, required or optional, `can_modify`, the service statement and old-card binding
//! links; a preview that looks like the component; WeChat's limits enforced; saved locally and pushed
//! with `activateuserform/set`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use kaika_core::cards as card_use_cases;
use kaika_core::entity::{accounts, cards};
use kaika_wechat::card::{
    ActivateUserFormRequest, FormLink, RichField, RichFieldType, UserForm, UserFormField,
};
use kaika_wechat::limits;
use sea_orm::EntityTrait;

use kaika_core::problems::is_http_url;

use super::{render, see_other, too_long, Chrome, Done, FieldErrors};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::Fields;
use crate::state::AdminState;

/// Every common field, in the order the designer lists them (the canonical spellings).
pub const COMMON_FIELDS: [&str; 12] = [
    "USER_FORM_INFO_FLAG_MOBILE",
    "USER_FORM_INFO_FLAG_NAME",
    "USER_FORM_INFO_FLAG_SEX",
    "USER_FORM_INFO_FLAG_BIRTHDAY",
    "USER_FORM_INFO_FLAG_IDCARD",
    "USER_FORM_INFO_FLAG_EMAIL",
    "USER_FORM_INFO_FLAG_LOCATION",
    "USER_FORM_INFO_FLAG_EDUCATION_BACKGROUND",
    "USER_FORM_INFO_FLAG_CAREER",
    "USER_FORM_INFO_FLAG_INDUSTRY",
    "USER_FORM_INFO_FLAG_INCOME",
    "USER_FORM_INFO_FLAG_HABIT",
];

/// How many choice-question slots the designer offers (one more than a form may hold, so that the
/// limit is a message and not a missing input).
pub const RICH_SLOTS: usize = limits::MAX_FORM_RICH_FIELDS + 1;

/// Where a field goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Not asked.
    Off,
    /// In `required_form`.
    Required,
    /// In `optional_form`.
    Optional,
}

impl Place {
    fn parse(text: &str) -> Self {
        match text {
            "required" => Self::Required,
            "optional" => Self::Optional,
            _ => Self::Off,
        }
    }

    /// The form value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Required => "required",
            Self::Optional => "optional",
        }
    }
}

/// One choice question as edited.
#[derive(Debug, Clone)]
pub struct RichSlot {
    /// `FORM_FIELD_RADIO`, `FORM_FIELD_SELECT` or `FORM_FIELD_CHECK_BOX`.
    pub kind: String,
    /// The question.
    pub name: String,
    /// The choices, one per line.
    pub values: String,
    /// Where it goes.
    pub place: Place,
}

impl RichSlot {
    fn empty() -> Self {
        Self {
            kind: "FORM_FIELD_RADIO".into(),
            name: String::new(),
            values: String::new(),
            place: Place::Off,
        }
    }

    /// The non-empty choices.
    pub fn options(&self) -> Vec<String> {
        self.values
            .lines()
            .flat_map(|l| l.split([',', '，']))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// The whole designer state.
#[derive(Debug, Clone)]
pub struct Design {
    /// Each common field and where it goes.
    pub common: Vec<(&'static str, Place)>,
    /// Required free-text questions, one per line.
    pub custom_required: String,
    /// Optional free-text questions, one per line.
    pub custom_optional: String,
    /// The choice questions.
    pub rich: Vec<RichSlot>,
    /// `required_form.can_modify`.
    pub can_modify_required: bool,
    /// `optional_form.can_modify`.
    pub can_modify_optional: bool,
    /// Service statement link text and URL.
    pub service_name: String,
    /// Service statement URL.
    pub service_url: String,
    /// Old-card binding link text.
    pub bind_name: String,
    /// Old-card binding URL.
    pub bind_url: String,
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Design {
    /// The designer state of a stored form (an empty designer for none).
    pub fn from_request(form: Option<&ActivateUserFormRequest>) -> Self {
        let empty = UserForm::default();
        let required = form
            .and_then(|f| f.required_form.as_ref())
            .unwrap_or(&empty);
        let optional = form
            .and_then(|f| f.optional_form.as_ref())
            .unwrap_or(&empty);
        let common = COMMON_FIELDS
            .iter()
            .map(|name| {
                let field = UserFormField::parse(name);
                let place = if required.common_field_id_list.contains(&field) {
                    Place::Required
                } else if optional.common_field_id_list.contains(&field) {
                    Place::Optional
                } else {
                    Place::Off
                };
                (*name, place)
            })
            .collect();
        let mut rich: Vec<RichSlot> = required
            .rich_field_list
            .iter()
            .map(|r| (r, Place::Required))
            .chain(
                optional
                    .rich_field_list
                    .iter()
                    .map(|r| (r, Place::Optional)),
            )
            .map(|(r, place)| RichSlot {
                kind: r.field_type.as_str().to_owned(),
                name: r.name.clone(),
                values: r.values.join("\n"),
                place,
            })
            .collect();
        while rich.len() < RICH_SLOTS {
            rich.push(RichSlot::empty());
        }
        let link = |l: Option<&FormLink>| {
            l.map_or((String::new(), String::new()), |l| {
                (l.name.clone(), l.url.clone())
            })
        };
        let (service_name, service_url) = link(form.and_then(|f| f.service_statement.as_ref()));
        let (bind_name, bind_url) = link(form.and_then(|f| f.bind_old_card.as_ref()));
        Self {
            common,
            custom_required: required.custom_field_list.join("\n"),
            custom_optional: optional.custom_field_list.join("\n"),
            rich,
            can_modify_required: required.can_modify.unwrap_or(false),
            can_modify_optional: optional.can_modify.unwrap_or(false),
            service_name,
            service_url,
            bind_name,
            bind_url,
        }
    }

    /// The designer state of a posted form.
    pub fn from_fields(f: &Fields) -> Self {
        Self {
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

    fn user_form(&self, place: Place) -> Option<UserForm> {
        let form = UserForm {
            can_modify: Some(match place {
                Place::Required => self.can_modify_required,
                _ => self.can_modify_optional,
            }),
            common_field_id_list: self
                .common
                .iter()
                .filter(|(_, p)| *p == place)
                .map(|(name, _)| UserFormField::parse(name))
                .collect(),
            custom_field_list: lines(match place {
                Place::Required => &self.custom_required,
                _ => &self.custom_optional,
            }),
            rich_field_list: self
                .rich
                .iter()
                .filter(|r| r.place == place && !r.name.is_empty())
                .map(|r| RichField {
                    field_type: RichFieldType::parse(&r.kind),
                    name: r.name.clone(),
                    values: r.options(),
                })
                .collect(),
        };
        let empty = form.common_field_id_list.is_empty()
            && form.custom_field_list.is_empty()
            && form.rich_field_list.is_empty();
        (!empty).then_some(form)
    }

    /// The request for `activateuserform/set` (the card id is filled by the use case).
    pub fn to_request(&self) -> ActivateUserFormRequest {
        let link = |name: &str, url: &str| {
            (!name.is_empty() && !url.is_empty()).then(|| FormLink {
                name: name.to_owned(),
                url: url.to_owned(),
            })
        };
        ActivateUserFormRequest {
            card_id: String::new(),
            service_statement: link(&self.service_name, &self.service_url),
            bind_old_card: link(&self.bind_name, &self.bind_url),
            required_form: self.user_form(Place::Required),
            optional_form: self.user_form(Place::Optional),
        }
    }

    /// Checks WeChat's limits; every message next to its field.
    pub fn validate(&self, admin: &Admin) -> FieldErrors {
        let tr = &admin.tr;
        let mut errors = FieldErrors::new();
        for (field, text) in [
            ("custom_required", &self.custom_required),
            ("custom_optional", &self.custom_optional),
        ] {
            let n = lines(text).len();
            if n > limits::MAX_FORM_CUSTOM_FIELDS {
                errors.insert(
                    field.into(),
                    tr.fmt(
                        "form.err_too_many_custom",
                        &[
                            ("max", limits::MAX_FORM_CUSTOM_FIELDS.to_string()),
                            ("actual", n.to_string()),
                        ],
                    ),
                );
            }
        }
        for (i, slot) in self.rich.iter().enumerate() {
            if slot.place == Place::Off && slot.name.is_empty() {
                continue;
            }
            let len = slot.name.chars().count();
            if slot.name.is_empty() {
                errors.insert(format!("rich{i}_name"), tr.t("err.required").to_owned());
            } else if len > limits::RICH_FIELD_NAME.max_chars {
                errors.insert(
                    format!("rich{i}_name"),
                    too_long(tr, limits::RICH_FIELD_NAME.max_chars, len),
                );
            }
            if slot.place != Place::Off && slot.options().is_empty() {
                errors.insert(
                    format!("rich{i}_values"),
                    tr.t("form.err_no_options").to_owned(),
                );
            }
            if !matches!(
                slot.kind.as_str(),
                "FORM_FIELD_RADIO" | "FORM_FIELD_SELECT" | "FORM_FIELD_CHECK_BOX"
            ) {
                errors.insert(
                    format!("rich{i}_type"),
                    tr.t("form.err_rich_type").to_owned(),
                );
            }
        }
        for (field, place) in [
            ("rich_required", Place::Required),
            ("rich_optional", Place::Optional),
        ] {
            let n = self.rich.iter().filter(|r| r.place == place).count();
            if n > limits::MAX_FORM_RICH_FIELDS {
                errors.insert(
                    field.into(),
                    tr.fmt(
                        "form.err_too_many_rich",
                        &[
                            ("max", limits::MAX_FORM_RICH_FIELDS.to_string()),
                            ("actual", n.to_string()),
                        ],
                    ),
                );
            }
        }
        for (name_field, url_field, name, url) in [
            (
                "service_name",
                "service_url",
                &self.service_name,
                &self.service_url,
            ),
            ("bind_name", "bind_url", &self.bind_name, &self.bind_url),
        ] {
            if !url.is_empty() && !is_http_url(url) {
                errors.insert(url_field.into(), tr.t("err.url").to_owned());
            } else if !name.is_empty() && url.is_empty() {
                errors.insert(url_field.into(), tr.t("form.err_link_url").to_owned());
            }
            if name.is_empty() && !url.is_empty() {
                errors.insert(name_field.into(), tr.t("form.err_link_name").to_owned());
            }
        }
        if errors.is_empty() {
            // WeChat's own rules, as the client checks them before sending: a backstop.
            if let Err(list) = limits::check_user_form(&self.to_request()) {
                for e in list {
                    errors.insert("form".into(), e.to_string());
                }
            }
        }
        errors
    }

    /// The fields of one part of the preview.
    pub fn preview(&self, place: Place) -> Vec<PreviewField> {
        let mut out: Vec<PreviewField> = self
            .common
            .iter()
            .filter(|(_, p)| *p == place)
            .map(|(name, _)| PreviewField {
                label_key: format!("flag.{name}"),
                label: String::new(),
                kind: "text",
                options: Vec::new(),
            })
            .collect();
        let custom = match place {
            Place::Required => &self.custom_required,
            _ => &self.custom_optional,
        };
        out.extend(lines(custom).into_iter().map(|label| PreviewField {
            label_key: String::new(),
            label,
            kind: "text",
            options: Vec::new(),
        }));
        out.extend(
            self.rich
                .iter()
                .filter(|r| r.place == place && !r.name.is_empty())
                .map(|r| PreviewField {
                    label_key: String::new(),
                    label: r.name.clone(),
                    kind: match r.kind.as_str() {
                        "FORM_FIELD_SELECT" => "select",
                        "FORM_FIELD_CHECK_BOX" => "checkbox",
                        _ => "radio",
                    },
                    options: r.options(),
                }),
        );
        out
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
        required_preview: design.preview(Place::Required),
        optional_preview: design.preview(Place::Optional),
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
    let stored: Option<ActivateUserFormRequest> = card
        .activation_form
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok());
    let design = Design::from_request(stored.as_ref());
    let page = page(
        &state,
        &admin,
        card,
        design,
        FieldErrors::new(),
        done.done.as_deref(),
    )
    .await?;
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
    let design = Design::from_fields(&f);
    let mut errors = design.validate(&admin);
    if f.get("action") == "preview" {
        let page = page(&state, &admin, card, design, errors, None).await?;
        return render(&page, StatusCode::OK);
    }
    if errors.is_empty() {
        let account = accounts::Entity::find_by_id(card.account_id)
            .one(&state.db)
            .await?
            .ok_or(AdminError::NotFound)?;
        let client = state.clients.official_account(&account.app_id).await?;
        let request = design.to_request();
        match card_use_cases::set_activation_form(&state.db, &client, &card, &request).await {
            Ok(()) => {
                let before = card
                    .activation_form
                    .as_deref()
                    .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok());
                admin
                    .audit(
                        &state,
                        "card.activation_form",
                        format!("card:{}", card.id),
                        before,
                        serde_json::to_value(&request).ok(),
                    )
                    .await?;
                return Ok(see_other(&format!(
                    "/admin/cards/{}/form?done=form_saved",
                    card.id
                )));
            }
            Err(err) => {
                errors.insert("form".into(), err.to_string());
            }
        }
    }
    let page = page(&state, &admin, card, design, errors, None).await?;
    render(&page, StatusCode::UNPROCESSABLE_ENTITY)
}
