//! The activation form as a member fills it in: the questions stored by `activateuserform/set`
//! (reference §4), the checks WeChat makes on the answers, and the field views the component page
//! and the card-bag page both draw (`templates/form_fields.html`).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;
use serde_json::{Map, Value};

use crate::api::cards::{COMMON_FIELDS, RICH_TYPES};
use crate::model::{Answers, FieldAnswer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Common,
    Text,
    Radio,
    Select,
    CheckBox,
}

/// One question of the activation form.
#[derive(Debug, Clone)]
pub(crate) struct FormField {
    /// The answer's `name`: a `USER_FORM_INFO_FLAG_*` id or the merchant's field name.
    pub name: String,
    pub label: String,
    pub kind: Kind,
    pub options: Vec<String>,
    pub required: bool,
}

/// The fields of a form stored by `activateuserform/set`, required ones first.
pub(crate) fn form_fields(form: &Value) -> Vec<FormField> {
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

/// The raw values a member entered, by input name (`f0`, `f1`, … in form order).
pub(crate) type Entered = HashMap<String, Vec<String>>;

/// Groups the pairs of an HTML form body by name, keeping repeated check-box values.
pub(crate) fn entered(pairs: &[(String, String)]) -> Entered {
    let mut entered = Entered::new();
    for (k, v) in pairs {
        entered.entry(k.clone()).or_default().push(v.clone());
    }
    entered
}

/// The input name of the `i`-th field.
fn input_name(i: usize) -> String {
    format!("f{i}")
}

/// Validates the answers of an HTML form (inputs `f0`, `f1`, … in the order of `fields`).
pub(crate) fn answers_from_form(
    fields: &[FormField],
    entered: &Entered,
) -> Result<Answers, Vec<String>> {
    let index: HashMap<&str, usize> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.as_str(), i))
        .collect();
    collect(fields, |f| {
        index
            .get(f.name.as_str())
            .and_then(|i| entered.get(&input_name(*i)))
            .cloned()
            .unwrap_or_default()
    })
}

/// Validates JSON answers: a field's name (or `USER_FORM_INFO_FLAG_*` id) → a string, a number or
/// a list of strings.
pub(crate) fn answers_from_json(
    fields: &[FormField],
    given: &Map<String, Value>,
) -> Result<Answers, Vec<String>> {
    collect(fields, |f| match given.get(&f.name) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => vec![],
    })
}

/// One choice of a radio, select or check-box field, as drawn.
#[derive(Debug)]
pub(crate) struct OptionView {
    pub value: String,
    pub checked: bool,
}

/// One field as drawn by `form_fields.html`, with what the member entered so far.
#[derive(Debug)]
pub(crate) struct FieldView {
    pub input: String,
    pub label: String,
    pub required: bool,
    pub kind: &'static str,
    pub options: Vec<OptionView>,
    pub value: String,
}

/// The views of `fields`, filled with `entered` (empty on a first visit).
pub(crate) fn field_views(fields: &[FormField], entered: &Entered) -> Vec<FieldView> {
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let input = input_name(i);
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
        .collect()
}

/// Renders a page as HTML with `status`.
pub(crate) fn render(page: &impl Template, status: StatusCode) -> HttpResponse {
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => HttpResponse::InternalServerError().body(format!("template error: {e}")),
    }
}
