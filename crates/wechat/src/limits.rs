//! WeChat's length limits, checked before any request (reference §3.1, §4, §7.3, §8.2, §11 45021).
//!
//! The reference states every limit in Chinese characters; these checks count **characters**
//! (`char`s), never bytes, so 9 CJK characters pass a 9-character limit although they are 27 bytes.
//! For ASCII text this is stricter than WeChat's byte counting (3 bytes per CJK character), which
//! is the safe side.

use crate::card::{ActivateUserFormRequest, BaseInfo, CustomCell, MemberCard, UserForm};
use crate::membercard::{ActivateRequest, UpdateUserRequest};

/// A maximum length, in characters, for one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldLimit {
    /// The JSON path of the field, e.g. `base_info.title`.
    pub field: &'static str,
    /// The most characters allowed.
    pub max_chars: usize,
}

/// `base_info.title`: 9.
pub const TITLE: FieldLimit = FieldLimit {
    field: "base_info.title",
    max_chars: 9,
};
/// `base_info.brand_name`: 12.
pub const BRAND_NAME: FieldLimit = FieldLimit {
    field: "base_info.brand_name",
    max_chars: 12,
};
/// `base_info.notice`: 16.
pub const NOTICE: FieldLimit = FieldLimit {
    field: "base_info.notice",
    max_chars: 16,
};
/// `base_info.description`: 1024.
pub const DESCRIPTION: FieldLimit = FieldLimit {
    field: "base_info.description",
    max_chars: 1024,
};
/// `custom_cell*.tips`: 6.
pub const CUSTOM_CELL_TIPS: FieldLimit = FieldLimit {
    field: "custom_cell.tips",
    max_chars: 6,
};
/// `init_custom_field_value1..3` of activate: 4 ("4 Chinese chars = 12 bytes").
pub const INIT_CUSTOM_FIELD_VALUE: FieldLimit = FieldLimit {
    field: "init_custom_field_value",
    max_chars: 4,
};
/// `record_bonus` of updateuser: 14.
pub const RECORD_BONUS: FieldLimit = FieldLimit {
    field: "record_bonus",
    max_chars: 14,
};
/// `record_balance` of updateuser: 14.
pub const RECORD_BALANCE: FieldLimit = FieldLimit {
    field: "record_balance",
    max_chars: 14,
};
/// A rich (choice) question's `name` in the activation form: string(32).
pub const RICH_FIELD_NAME: FieldLimit = FieldLimit {
    field: "rich_field_list.name",
    max_chars: 32,
};

/// At most this many free-text questions per form.
pub const MAX_FORM_CUSTOM_FIELDS: usize = 5;
/// At most this many choice questions per form.
pub const MAX_FORM_RICH_FIELDS: usize = 5;
/// `base_info.sku.quantity` at creation: 1..=100 000 000.
pub const MAX_SKU_QUANTITY: i64 = 100_000_000;
/// `card/batchget` page size.
pub const MAX_BATCHGET_COUNT: u32 = 50;

/// One field over its limit (or a list over its count).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} has {actual} (at most {max})")]
pub struct FieldTooLong {
    /// The JSON path of the field, e.g. `base_info.title` or `custom_cell2.tips`.
    pub field: String,
    /// The limit (characters, or items for lists, or the quantity bound).
    pub max: usize,
    /// What was found.
    pub actual: usize,
}

/// The length of `text` in characters (Unicode scalar values), the unit WeChat's limits use.
pub fn char_len(text: &str) -> usize {
    text.chars().count()
}

impl FieldLimit {
    /// Checks `value` against the limit.
    pub fn check(&self, value: &str) -> Result<(), FieldTooLong> {
        self.check_as(self.field, value)
    }

    fn check_as(&self, field: &str, value: &str) -> Result<(), FieldTooLong> {
        let actual = char_len(value);
        if actual > self.max_chars {
            Err(FieldTooLong {
                field: field.to_owned(),
                max: self.max_chars,
                actual,
            })
        } else {
            Ok(())
        }
    }
}

#[derive(Default)]
struct Collector(Vec<FieldTooLong>);

impl Collector {
    fn check(&mut self, limit: FieldLimit, value: &str) {
        if let Err(e) = limit.check(value) {
            self.0.push(e);
        }
    }

    fn check_as(&mut self, limit: FieldLimit, field: &str, value: &str) {
        if let Err(e) = limit.check_as(field, value) {
            self.0.push(e);
        }
    }

    fn check_opt(&mut self, limit: FieldLimit, field: &str, value: Option<&String>) {
        if let Some(v) = value {
            self.check_as(limit, field, v);
        }
    }

    fn count(&mut self, field: String, max: usize, actual: usize) {
        if actual > max {
            self.0.push(FieldTooLong { field, max, actual });
        }
    }

    fn finish(self) -> Result<(), Vec<FieldTooLong>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// Checks the four length-limited texts of a card face. Every violation is reported.
pub fn check_card_fields(
    title: &str,
    brand_name: &str,
    notice: &str,
    description: &str,
) -> Result<(), Vec<FieldTooLong>> {
    let mut c = Collector::default();
    c.check(TITLE, title);
    c.check(BRAND_NAME, brand_name);
    c.check(NOTICE, notice);
    c.check(DESCRIPTION, description);
    c.finish()
}

/// Checks `base_info` (title, brand name, notice, description, stock).
pub fn check_base_info(base: &BaseInfo) -> Result<(), Vec<FieldTooLong>> {
    let mut c = Collector::default();
    collect_base_info(&mut c, base);
    c.finish()
}

fn collect_base_info(c: &mut Collector, base: &BaseInfo) {
    c.check(TITLE, &base.title);
    c.check(BRAND_NAME, &base.brand_name);
    c.check(NOTICE, &base.notice);
    c.check(DESCRIPTION, &base.description);
    if base.sku.quantity > MAX_SKU_QUANTITY {
        c.0.push(FieldTooLong {
            field: "base_info.sku.quantity".into(),
            max: MAX_SKU_QUANTITY as usize,
            actual: usize::try_from(base.sku.quantity).unwrap_or(usize::MAX),
        });
    }
}

fn collect_cell(c: &mut Collector, name: &str, cell: Option<&CustomCell>) {
    if let Some(cell) = cell {
        c.check_as(CUSTOM_CELL_TIPS, &format!("{name}.tips"), &cell.tips);
    }
}

/// Checks a whole member card before `card/create`.
pub fn check_member_card(card: &MemberCard) -> Result<(), Vec<FieldTooLong>> {
    let mut c = Collector::default();
    collect_base_info(&mut c, &card.base_info);
    collect_cell(&mut c, "custom_cell1", card.custom_cell1.as_ref());
    collect_cell(&mut c, "custom_cell2", card.custom_cell2.as_ref());
    collect_cell(&mut c, "custom_cell3", card.custom_cell3.as_ref());
    c.finish()
}

fn collect_form(c: &mut Collector, name: &str, form: Option<&UserForm>) {
    let Some(form) = form else { return };
    c.count(
        format!("{name}.custom_field_list"),
        MAX_FORM_CUSTOM_FIELDS,
        form.custom_field_list.len(),
    );
    c.count(
        format!("{name}.rich_field_list"),
        MAX_FORM_RICH_FIELDS,
        form.rich_field_list.len(),
    );
    for (i, rich) in form.rich_field_list.iter().enumerate() {
        c.check_as(
            RICH_FIELD_NAME,
            &format!("{name}.rich_field_list[{i}].name"),
            &rich.name,
        );
    }
}

/// Checks an activation form before `activateuserform/set` (≤ 5 custom and ≤ 5 choice questions
/// per form, choice names ≤ 32 characters).
pub fn check_user_form(form: &ActivateUserFormRequest) -> Result<(), Vec<FieldTooLong>> {
    let mut c = Collector::default();
    collect_form(&mut c, "required_form", form.required_form.as_ref());
    collect_form(&mut c, "optional_form", form.optional_form.as_ref());
    c.finish()
}

/// Checks an activation before `card/membercard/activate` (initial custom field values ≤ 4).
pub fn check_activate(req: &ActivateRequest) -> Result<(), Vec<FieldTooLong>> {
    let mut c = Collector::default();
    c.check_opt(
        INIT_CUSTOM_FIELD_VALUE,
        "init_custom_field_value1",
        req.init_custom_field_value1.as_ref(),
    );
    c.check_opt(
        INIT_CUSTOM_FIELD_VALUE,
        "init_custom_field_value2",
        req.init_custom_field_value2.as_ref(),
    );
    c.check_opt(
        INIT_CUSTOM_FIELD_VALUE,
        "init_custom_field_value3",
        req.init_custom_field_value3.as_ref(),
    );
    c.finish()
}

/// Checks an update before `card/membercard/updateuser` (record texts ≤ 14).
pub fn check_update_user(req: &UpdateUserRequest) -> Result<(), Vec<FieldTooLong>> {
    let mut c = Collector::default();
    c.check_opt(RECORD_BONUS, "record_bonus", req.record_bonus.as_ref());
    c.check_opt(
        RECORD_BALANCE,
        "record_balance",
        req.record_balance.as_ref(),
    );
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{RichField, RichFieldType};

    #[test]
    fn nine_cjk_characters_fit_the_title_and_ten_do_not() {
        let nine = "会员卡会员卡会员卡";
        assert_eq!(nine.len(), 27);
        assert!(TITLE.check(nine).is_ok());
        let ten = "会员卡会员卡会员卡卡";
        let err = TITLE.check(ten).unwrap_err();
        assert_eq!(err.field, "base_info.title");
        assert_eq!((err.max, err.actual), (9, 10));
        assert!(TITLE.check("abcdefghi").is_ok());
        assert!(TITLE.check("abcdefghij").is_err());
        assert!(TITLE.check("").is_ok());
    }

    #[test]
    fn brand_notice_and_description_limits_count_characters() {
        assert!(BRAND_NAME.check(&"店".repeat(12)).is_ok());
        assert!(BRAND_NAME.check(&"店".repeat(13)).is_err());
        assert!(NOTICE.check(&"示".repeat(16)).is_ok());
        assert!(NOTICE.check(&"示".repeat(17)).is_err());
        assert!(DESCRIPTION.check(&"说".repeat(1024)).is_ok());
        assert!(DESCRIPTION.check(&"说".repeat(1025)).is_err());
        assert!(NOTICE.check("👍".repeat(16).as_str()).is_ok());
    }

    #[test]
    fn check_card_fields_reports_every_violation() {
        assert!(check_card_fields(
            "示例会员卡",
            "示例店",
            "使用时出示此卡",
            "不可与其他优惠同享"
        )
        .is_ok());
        let errs = check_card_fields(&"卡".repeat(10), &"店".repeat(13), "ok", "ok").unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["base_info.title", "base_info.brand_name"]);
        assert_eq!(errs[0].to_string(), "base_info.title has 10 (at most 9)");
    }

    #[test]
    fn member_card_checks_cells_and_stock() {
        let mut card = crate::card::tests::sketch_card();
        assert!(check_member_card(&card).is_ok());
        card.custom_cell2 = Some(CustomCell {
            name: "活动".into(),
            tips: "七个字的提示语".into(),
            ..CustomCell::default()
        });
        card.base_info.sku.quantity = MAX_SKU_QUANTITY + 1;
        let errs = check_member_card(&card).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["base_info.sku.quantity", "custom_cell2.tips"]);
    }

    #[test]
    fn forms_allow_five_questions_of_each_kind() {
        let mut form = crate::card::tests::form_sample();
        assert!(check_user_form(&form).is_ok());
        let optional = form.optional_form.as_mut().unwrap();
        optional.custom_field_list = (0..6).map(|i| format!("问题{i}")).collect();
        optional.rich_field_list = vec![RichField {
            field_type: RichFieldType::Radio,
            name: "问".repeat(33),
            values: vec![],
        }];
        let errs = check_user_form(&form).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "optional_form.custom_field_list",
                "optional_form.rich_field_list[0].name"
            ]
        );
    }

    #[test]
    fn activate_and_updateuser_texts_are_checked() {
        let ok = ActivateRequest {
            init_custom_field_value1: Some("黄金会员".into()),
            ..ActivateRequest::default()
        };
        assert!(check_activate(&ok).is_ok());
        let long = ActivateRequest {
            init_custom_field_value3: Some("钻石级会员".into()),
            ..ActivateRequest::default()
        };
        assert_eq!(
            check_activate(&long).unwrap_err()[0].field,
            "init_custom_field_value3"
        );
        let update = UpdateUserRequest {
            record_bonus: Some("消费30元，获得3积分".into()),
            record_balance: Some("购买焦糖玛琪朵一杯，扣除金额30元。".into()),
            ..UpdateUserRequest::default()
        };
        let errs = check_update_user(&update).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "record_balance");
    }
}
