//! Members: the activation round trip (`activate/geturl`, `code/decrypt`, `activatetempinfo/get`,
//! `membercard/activate`), `code/get`, `userinfo/get` and `updateuser` (reference §5, §7, §8).

use serde::{Deserialize, Serialize};

use crate::de;
use crate::string_enum::string_enum;

/// `card/membercard/activate/geturl` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GetUrlRequest<'a> {
    /// The card.
    pub card_id: &'a str,
    /// Channel tag, echoed as `OuterStr` in `user_get_card`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outer_str: Option<&'a str>,
}

/// One built-in form answer (`{name, value}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommonFieldValue {
    /// A `USER_FORM_INFO_FLAG_*` name.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub name: String,
    /// The answer (may be masked, e.g. `15*****518`).
    #[serde(deserialize_with = "de::string_or_empty")]
    pub value: String,
}

/// One custom or choice answer. Radio/select answers are in `value`, check-box answers in
/// `value_list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomFieldValue {
    /// The question.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub name: String,
    /// Single answer.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub value: String,
    /// Multiple answers.
    #[serde(deserialize_with = "de::vec_or_empty")]
    pub value_list: Vec<String>,
}

/// The answers of the activation form (`info` of activatetempinfo/get, `user_info` of
/// userinfo/get). Both lists may be absent; they decode as empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FormAnswers {
    /// Built-in fields.
    #[serde(deserialize_with = "de::vec_or_empty")]
    pub common_field_list: Vec<CommonFieldValue>,
    /// Custom and choice questions.
    #[serde(deserialize_with = "de::vec_or_empty")]
    pub custom_field_list: Vec<CustomFieldValue>,
}

impl FormAnswers {
    /// The value of a built-in field by its `USER_FORM_INFO_FLAG_*` name (any accepted spelling).
    pub fn common(&self, field: &crate::card::UserFormField) -> Option<&str> {
        self.common_field_list
            .iter()
            .find(|f| crate::card::UserFormField::parse(&f.name) == *field)
            .map(|f| f.value.as_str())
    }
}

/// `card/membercard/activate` request (field order as in the reference sample).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActivateRequest {
    /// Welcome points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_bonus: Option<i64>,
    /// Text of the welcome-points record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_bonus_record: Option<String>,
    /// Initial balance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_balance: Option<i64>,
    /// Membership number shown on the card. Required.
    pub membership_number: String,
    /// The **decrypted** code. Required.
    pub code: String,
    /// The card (required for custom-code cards).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_id: Option<String>,
    /// Per-member face image (CDN URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background_pic_url: Option<String>,
    /// Initial value of custom field 1 (≤ 4 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_custom_field_value1: Option<String>,
    /// Initial value of custom field 2 (≤ 4 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_custom_field_value2: Option<String>,
    /// Initial value of custom field 3 (≤ 4 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_custom_field_value3: Option<String>,
    /// Validity start, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activate_begin_time: Option<i64>,
    /// Validity end, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activate_end_time: Option<i64>,
}

/// `card/code/get` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeGetRequest<'a> {
    /// The card (optional for unique codes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_id: Option<&'a str>,
    /// The plain code.
    pub code: &'a str,
    /// With `true`, a consumed code is an error 40099 instead of status `CONSUMED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_consume: Option<bool>,
}

string_enum! {
    /// `user_card_status` of code/get and userinfo/get.
    pub enum UserCardStatus {
        /// Usable (received or activated).
        Normal = "NORMAL",
        /// Consumed.
        Consumed = "CONSUMED",
        /// Expired.
        Expire = "EXPIRE",
        /// Being given to a friend.
        Gifting = "GIFTING",
        /// Given away.
        GiftSucc = "GIFT_SUCC",
        /// Gift not claimed in time.
        GiftTimeout = "GIFT_TIMEOUT",
        /// Deleted.
        Delete = "DELETE",
        /// Set unavailable.
        Unavailable = "UNAVAILABLE",
    }
}

/// `card` of a code/get answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CodeCard {
    /// The card.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub card_id: String,
    /// Validity start, Unix seconds.
    #[serde(deserialize_with = "de::opt_i64")]
    pub begin_time: Option<i64>,
    /// Validity end, Unix seconds.
    #[serde(deserialize_with = "de::opt_i64")]
    pub end_time: Option<i64>,
}

/// `card/code/get` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CodeInfo {
    /// The card and its validity.
    pub card: CodeCard,
    /// The holder's official-account openid.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub openid: String,
    /// Whether the code can be consumed now.
    #[serde(deserialize_with = "de::bool_or_false")]
    pub can_consume: bool,
    /// Status.
    pub user_card_status: Option<UserCardStatus>,
    /// The channel the card was received through.
    #[serde(deserialize_with = "de::opt_string")]
    pub outer_str: Option<String>,
}

/// `card/membercard/userinfo/get` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct MemberUserInfo {
    /// Official-account openid.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub openid: String,
    /// Nickname (often masked).
    #[serde(deserialize_with = "de::opt_string")]
    pub nickname: Option<String>,
    /// Membership number.
    #[serde(deserialize_with = "de::opt_string")]
    pub membership_number: Option<String>,
    /// Points.
    #[serde(deserialize_with = "de::opt_i64")]
    pub bonus: Option<i64>,
    /// Balance (decimals are rounded).
    #[serde(deserialize_with = "de::opt_i64")]
    pub balance: Option<i64>,
    /// `MALE` / `FEMALE`.
    #[serde(deserialize_with = "de::opt_string")]
    pub sex: Option<String>,
    /// Form answers (empty for auto-activated and jump-type cards).
    pub user_info: FormAnswers,
    /// Status.
    pub user_card_status: Option<UserCardStatus>,
    /// Whether `membercard/activate` has happened.
    #[serde(deserialize_with = "de::bool_or_false")]
    pub has_active: bool,
}

/// `notify_optional` of updateuser.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyOptional {
    /// Notify points changes (WeChat's default: true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_notify_bonus: Option<bool>,
    /// Notify balance changes (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_notify_balance: Option<bool>,
    /// Notify custom field 1 changes (default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_notify_custom_field1: Option<bool>,
    /// Notify custom field 2 changes (default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_notify_custom_field2: Option<bool>,
    /// Notify custom field 3 changes (default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_notify_custom_field3: Option<bool>,
}

/// `card/membercard/updateuser` request (field order as in the reference sample). Send the absolute
/// `bonus`/`balance` together with the `add_*` delta: the delta is what the notification shows, the
/// absolute what the card shows, and repeating the call is then harmless.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateUserRequest {
    /// The code. Required.
    pub code: String,
    /// The card. Required.
    pub card_id: String,
    /// Per-member face image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background_pic_url: Option<String>,
    /// Points record text (≤ 14 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_bonus: Option<String>,
    /// Absolute points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bonus: Option<i64>,
    /// Points delta.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_bonus: Option<i64>,
    /// Absolute balance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<i64>,
    /// Balance delta.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_balance: Option<i64>,
    /// Balance record text (≤ 14 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_balance: Option<String>,
    /// Custom field 1 value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_field_value1: Option<String>,
    /// Custom field 2 value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_field_value2: Option<String>,
    /// Custom field 3 value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_field_value3: Option<String>,
    /// Which changes notify the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_optional: Option<NotifyOptional>,
}

/// `card/membercard/updateuser` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct UpdateUserResponse {
    /// Points after the change.
    #[serde(deserialize_with = "de::opt_i64")]
    pub result_bonus: Option<i64>,
    /// Balance after the change (decimals are rounded).
    #[serde(deserialize_with = "de::opt_i64")]
    pub result_balance: Option<i64>,
    /// The holder's openid.
    #[serde(deserialize_with = "de::opt_string")]
    pub openid: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::UserFormField;

    #[test]
    fn activate_request_is_byte_compatible_with_the_reference_sample() {
        let req = ActivateRequest {
            init_bonus: Some(100),
            init_bonus_record: Some("旧积分同步".into()),
            init_balance: Some(200),
            membership_number: "AAA00000001".into(),
            code: "12312313".into(),
            card_id: Some("xxxx_card_id".into()),
            background_pic_url: Some("https://mmbiz.qlogo.cn/mmbiz/0?wx_fmt=jpeg".into()),
            init_custom_field_value1: Some("xxxxx".into()),
            ..ActivateRequest::default()
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"init_bonus":100,"init_bonus_record":"旧积分同步","init_balance":200,"membership_number":"AAA00000001","code":"12312313","card_id":"xxxx_card_id","background_pic_url":"https://mmbiz.qlogo.cn/mmbiz/0?wx_fmt=jpeg","init_custom_field_value1":"xxxxx"}"#
        );
    }

    #[test]
    fn updateuser_request_is_byte_compatible_with_the_reference_sample() {
        let req = UpdateUserRequest {
            code: "179011264953".into(),
            card_id: "p1Pj9jr90_SQRaVqYI239Ka1erkI".into(),
            background_pic_url: Some("https://mmbiz.qlogo.cn/mmbiz/0?wx_fmt=jpeg".into()),
            record_bonus: Some("消费30元，获得3积分".into()),
            bonus: Some(3000),
            add_bonus: Some(30),
            balance: Some(3000),
            add_balance: Some(-30),
            record_balance: Some("购买焦糖玛琪朵一杯，扣除金额30元。".into()),
            custom_field_value1: Some("xxxxx".into()),
            custom_field_value2: Some("xxxxx".into()),
            custom_field_value3: None,
            notify_optional: Some(NotifyOptional {
                is_notify_bonus: Some(true),
                is_notify_balance: Some(true),
                is_notify_custom_field1: Some(true),
                ..NotifyOptional::default()
            }),
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"code":"179011264953","card_id":"p1Pj9jr90_SQRaVqYI239Ka1erkI","background_pic_url":"https://mmbiz.qlogo.cn/mmbiz/0?wx_fmt=jpeg","record_bonus":"消费30元，获得3积分","bonus":3000,"add_bonus":30,"balance":3000,"add_balance":-30,"record_balance":"购买焦糖玛琪朵一杯，扣除金额30元。","custom_field_value1":"xxxxx","custom_field_value2":"xxxxx","notify_optional":{"is_notify_bonus":true,"is_notify_balance":true,"is_notify_custom_field1":true}}"#
        );
        let resp: UpdateUserResponse = serde_json::from_str(
            r#"{"errcode":0,"errmsg":"ok","result_bonus":100,"result_balance":200,"openid":"oFS7Fjl0WsZ9AMZqrI80nbIq8xrA"}"#,
        )
        .unwrap();
        assert_eq!(resp.result_bonus, Some(100));
        assert_eq!(resp.result_balance, Some(200));
        assert_eq!(resp.openid.as_deref(), Some("oFS7Fjl0WsZ9AMZqrI80nbIq8xrA"));
        let float: UpdateUserResponse =
            serde_json::from_str(r#"{"result_bonus":"100","result_balance":200.0}"#).unwrap();
        assert_eq!(
            (float.result_bonus, float.result_balance),
            (Some(100), Some(200))
        );
    }

    #[test]
    fn tempinfo_sample_decodes() {
        let json = r#"{"errcode":0,"errmsg":"ok","info":{"common_field_list":[{"name":"USER_FORM_INFO_FLAG_MOBILE","value":"15*****518"},{"name":"USER_FORM_INFO_FLAG_NAME","value":"HK"}],"custom_field_list":[{"name":"兴趣","value":"钢琴","value_list":[]},{"name":"职业","value":"","value_list":["赛车手","旅行家"]}]}}"#;
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        let info: FormAnswers = serde_json::from_value(v["info"].clone()).unwrap();
        assert_eq!(info.common(&UserFormField::Mobile), Some("15*****518"));
        assert_eq!(info.common(&UserFormField::Name), Some("HK"));
        assert_eq!(info.common(&UserFormField::Email), None);
        assert_eq!(info.custom_field_list[0].value, "钢琴");
        assert_eq!(
            info.custom_field_list[1].value_list,
            vec!["赛车手", "旅行家"]
        );
    }

    #[test]
    fn userinfo_sample_decodes_and_missing_user_info_is_empty() {
        let json = r#"{"errcode":0,"errmsg":"ok","openid":"obLatjjwDolFj******wNqRXw","nickname":"*******","membership_number":"658*****445","bonus":995,"sex":"MALE","user_info":{"common_field_list":[{"name":"USER_FORM_INFO_FLAG_MOBILE","value":"15*****518"},{"name":"USER_FORM_INFO_FLAG_EDUCATION_BACKGROUND","value":"研究生"}],"custom_field_list":[{"name":"职业","value":"","value_list":["赛车手","旅行家"]}]},"user_card_status":"NORMAL","has_active":false}"#;
        let info: MemberUserInfo = serde_json::from_str(json).unwrap();
        assert_eq!(info.openid, "obLatjjwDolFj******wNqRXw");
        assert_eq!(info.bonus, Some(995));
        assert_eq!(info.balance, None);
        assert_eq!(info.membership_number.as_deref(), Some("658*****445"));
        assert_eq!(info.user_card_status, Some(UserCardStatus::Normal));
        assert!(!info.has_active);
        assert_eq!(
            info.user_info.common(&UserFormField::EducationBackground),
            Some("研究生")
        );
        let bare: MemberUserInfo = serde_json::from_str(
            r#"{"errcode":0,"openid":"o","user_info":{"common_field_list":null},"has_active":"true","balance":"12.00"}"#,
        )
        .unwrap();
        assert!(bare.user_info.common_field_list.is_empty());
        assert!(bare.user_info.custom_field_list.is_empty());
        assert!(bare.has_active);
        assert_eq!(bare.balance, Some(12));
        let none: MemberUserInfo = serde_json::from_str(r#"{"openid":"o"}"#).unwrap();
        assert_eq!(none.user_info, FormAnswers::default());
    }

    #[test]
    fn code_get_answers_decode_with_string_booleans() {
        let json = r#"{"errcode":0,"errmsg":"ok","card":{"card_id":"pFS7Fjg8kV1IdDz01r4SQwMkuCKc","begin_time":1404205036,"end_time":1404205036},"openid":"oFS7Fjl0WsZ9AMZqrI80nbIq8xrA","can_consume":"true","user_card_status":"NORMAL","outer_str":"12b"}"#;
        let info: CodeInfo = serde_json::from_str(json).unwrap();
        assert_eq!(info.card.card_id, "pFS7Fjg8kV1IdDz01r4SQwMkuCKc");
        assert_eq!(info.card.begin_time, Some(1_404_205_036));
        assert!(info.can_consume);
        assert_eq!(info.user_card_status, Some(UserCardStatus::Normal));
        assert_eq!(info.outer_str.as_deref(), Some("12b"));
        let consumed: CodeInfo =
            serde_json::from_str(r#"{"card":{"card_id":"p"},"openid":"o","can_consume":false,"user_card_status":"CONSUMED"}"#)
                .unwrap();
        assert_eq!(consumed.user_card_status, Some(UserCardStatus::Consumed));
        let req = CodeGetRequest {
            card_id: Some("p"),
            code: "226009850808",
            check_consume: Some(true),
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"card_id":"p","code":"226009850808","check_consume":true}"#
        );
    }

    #[test]
    fn geturl_request_omits_absent_outer_str() {
        let with = GetUrlRequest {
            card_id: "pbLatji6o5g7hJh8Otuvux4y1ty0",
            outer_str: Some("123"),
        };
        assert_eq!(
            serde_json::to_string(&with).unwrap(),
            r#"{"card_id":"pbLatji6o5g7hJh8Otuvux4y1ty0","outer_str":"123"}"#
        );
        let without = GetUrlRequest {
            card_id: "p",
            outer_str: None,
        };
        assert_eq!(
            serde_json::to_string(&without).unwrap(),
            r#"{"card_id":"p"}"#
        );
    }
}
