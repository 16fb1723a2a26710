//! The activation form a card asks members to fill in, as the admin's designer edits it: WeChat's
//! common fields (every `USER_FORM_INFO_FLAG_*`), free-text and choice questions, required or optional,
//! `can_modify`, the service statement and old-card binding links; WeChat's limits checked; the
//! `activateuserform/set` request built, sent and stored ([`save`]).

use kaika_wechat::card::{
    ActivateUserFormRequest, FormLink, RichField, RichFieldType, UserForm, UserFormField,
};
use kaika_wechat::limits;
use sea_orm::ConnectionTrait;

use crate::audit::Actor;
use crate::cards;
use crate::clients::Clients;
use crate::entity::cards as card_rows;
use crate::problems::{check_text, is_http_url, Problem, Problems};
use crate::CoreError;

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

/// The canonical name of a common field (as WeChat spells it in any of its forms), `None` for a
/// custom question.
pub fn common_field(name: &str) -> Option<&'static str> {
    let field = UserFormField::parse(name);
    COMMON_FIELDS
        .into_iter()
        .find(|canonical| UserFormField::parse(canonical) == field)
}

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
    /// The place a form value names (`required`, `optional`; anything else is off).
    pub fn parse(text: &str) -> Self {
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
    /// An unused slot.
    pub fn empty() -> Self {
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

/// The non-empty lines of a text area, trimmed.
pub fn lines(text: &str) -> Vec<String> {
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

    /// What is wrong with the design, by field.
    pub fn check(&self) -> Problems {
        let mut problems = Problems::new();
        for (field, text) in [
            ("custom_required", &self.custom_required),
            ("custom_optional", &self.custom_optional),
        ] {
            let n = lines(text).len();
            if n > limits::MAX_FORM_CUSTOM_FIELDS {
                let max = limits::MAX_FORM_CUSTOM_FIELDS;
                problems.insert(field.into(), Problem::TooManyQuestions { max, actual: n });
            }
        }
        for (i, slot) in self.rich.iter().enumerate() {
            if slot.place == Place::Off && slot.name.is_empty() {
                continue;
            }
            check_text(
                &mut problems,
                &format!("rich{i}_name"),
                &slot.name,
                limits::RICH_FIELD_NAME.max_chars,
                true,
            );
            if slot.place != Place::Off && slot.options().is_empty() {
                problems.insert(format!("rich{i}_values"), Problem::NoChoices);
            }
            if !matches!(
                slot.kind.as_str(),
                "FORM_FIELD_RADIO" | "FORM_FIELD_SELECT" | "FORM_FIELD_CHECK_BOX"
            ) {
                problems.insert(format!("rich{i}_type"), Problem::QuestionKind);
            }
        }
        for (field, place) in [
            ("rich_required", Place::Required),
            ("rich_optional", Place::Optional),
        ] {
            let n = self.rich.iter().filter(|r| r.place == place).count();
            if n > limits::MAX_FORM_RICH_FIELDS {
                let max = limits::MAX_FORM_RICH_FIELDS;
                problems.insert(
                    field.into(),
                    Problem::TooManyChoiceQuestions { max, actual: n },
                );
            }
        }
        self.check_links(&mut problems);
        if problems.is_empty() {
            // WeChat's own rules, as the client checks them before sending: a backstop.
            if let Err(list) = limits::check_user_form(&self.to_request()) {
                for e in list {
                    problems.insert("form".into(), Problem::Wechat(e.to_string()));
                }
            }
        }
        problems
    }

    fn check_links(&self, problems: &mut Problems) {
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
                problems.insert(url_field.into(), Problem::NotUrl);
            } else if !name.is_empty() && url.is_empty() {
                problems.insert(url_field.into(), Problem::LinkUrlMissing);
            }
            if name.is_empty() && !url.is_empty() {
                problems.insert(name_field.into(), Problem::LinkTextMissing);
            }
        }
    }
}

/// The design of a card's stored form (an empty designer for none).
pub fn design_of(card: &card_rows::Model) -> Design {
    let stored: Option<ActivateUserFormRequest> = card
        .activation_form
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok());
    Design::from_request(stored.as_ref())
}

/// Pushes a checked design to WeChat with `activateuserform/set`, stores it on the card and audits
/// it. The inner result is WeChat's refusal (shown on the form); the outer error is the account's,
/// its client's or the audit log's.
pub async fn save(
    db: &impl ConnectionTrait,
    clients: &Clients,
    card: &card_rows::Model,
    design: &Design,
    by: &Actor,
) -> Result<Result<(), CoreError>, CoreError> {
    let account = crate::accounts::of_card(db, card).await?;
    let client = clients.official_account(&account.app_id).await?;
    let request = design.to_request();
    if let Err(err) = cards::set_activation_form(db, &client, card, &request).await {
        return Ok(Err(err));
    }
    let before = card
        .activation_form
        .as_deref()
        .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok());
    let after = serde_json::to_value(&request).ok();
    let target = format!("card:{}", card.id);
    by.record(db, "card.activation_form", target, before, after)
        .await?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn design() -> Design {
        let mut design = Design::from_request(None);
        design.common[0].1 = Place::Required;
        design.rich[0] = RichSlot {
            kind: "FORM_FIELD_RADIO".into(),
            name: "喜欢的口味".into(),
            values: "甜\n咸，辣".into(),
            place: Place::Optional,
        };
        design
    }

    #[test]
    fn a_design_becomes_the_request_and_back() {
        let design = design();
        assert!(design.check().is_empty());
        let request = design.to_request();
        let optional = request.optional_form.clone().unwrap_or_default();
        assert_eq!(optional.rich_field_list[0].values, ["甜", "咸", "辣"]);
        let again = Design::from_request(Some(&request));
        assert_eq!(again.common[0].1, Place::Required);
        assert_eq!(again.rich[0].name, "喜欢的口味");
    }

    #[test]
    fn question_names_count_characters_and_links_need_both_parts() {
        let mut design = design();
        design.rich[0].name = "问".repeat(33);
        design.service_name = "服务声明".into();
        let problems = design.check();
        assert_eq!(
            problems.get("rich0_name"),
            Some(&Problem::TooLong {
                max: 32,
                actual: 33
            })
        );
        assert_eq!(problems.get("service_url"), Some(&Problem::LinkUrlMissing));
    }
}
