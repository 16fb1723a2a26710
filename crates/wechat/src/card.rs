//! Card templates: `card/create` (MEMBER_CARD), `card/get`, `card/batchget`, `card/update`,
//! `card/delete` and the one-tap form `card/membercard/activateuserform/set` (reference §3, §4).
//!
//! Request types serialise in the field order of the reference's samples, omit `None`, and write
//! Chinese as raw UTF-8. The same types decode `card/get` leniently (missing strings become empty,
//! numbers and booleans may be strings).

use serde::{Deserialize, Serialize};

use crate::de;
use crate::string_enum::string_enum;

string_enum! {
    /// `base_info.code_type`: how the code is shown (default QR code).
    #[derive(Default)]
    pub enum CodeType {
        /// Text only.
        Text = "CODE_TYPE_TEXT",
        /// Barcode with text.
        Barcode = "CODE_TYPE_BARCODE",
        /// QR code with text.
        #[default]
        QrCode = "CODE_TYPE_QRCODE",
        /// QR code only.
        OnlyQrCode = "CODE_TYPE_ONLY_QRCODE",
        /// Barcode only.
        OnlyBarcode = "CODE_TYPE_ONLY_BARCODE",
        /// No code.
        None = "CODE_TYPE_NONE",
    }
}

string_enum! {
    /// `base_info.color`. Requests use the name; `card/get` may echo the hex value, which is mapped
    /// back to the name. Defaults to `Color010`.
    #[derive(Default)]
    pub enum CardColor {
        /// #63b359
        #[default]
        Color010 = "Color010" | "#63b359" | "#63B359",
        /// #2c9f67
        Color020 = "Color020" | "#2c9f67" | "#2C9F67",
        /// #509fc9
        Color030 = "Color030" | "#509fc9" | "#509FC9",
        /// #5885cf
        Color040 = "Color040" | "#5885cf" | "#5885CF",
        /// #9062c0
        Color050 = "Color050" | "#9062c0" | "#9062C0",
        /// #d09a45
        Color060 = "Color060" | "#d09a45" | "#D09A45",
        /// #e4b138
        Color070 = "Color070" | "#e4b138" | "#E4B138",
        /// #ee903c
        Color080 = "Color080" | "#ee903c" | "#EE903C",
        /// #f08500
        Color081 = "Color081" | "#f08500" | "#F08500",
        /// #a9d92d
        Color082 = "Color082" | "#a9d92d" | "#A9D92D",
        /// #dd6549
        Color090 = "Color090" | "#dd6549" | "#DD6549",
        /// #cc463d
        Color100 = "Color100" | "#cc463d" | "#CC463D",
        /// #cf3e36
        Color101 = "Color101" | "#cf3e36" | "#CF3E36",
        /// #5E6671
        Color102 = "Color102" | "#5E6671" | "#5e6671",
    }
}

impl CardColor {
    /// The colour's hex value (`None` for `Other`).
    pub fn hex(&self) -> Option<&'static str> {
        Some(match self {
            CardColor::Color010 => "#63b359",
            CardColor::Color020 => "#2c9f67",
            CardColor::Color030 => "#509fc9",
            CardColor::Color040 => "#5885cf",
            CardColor::Color050 => "#9062c0",
            CardColor::Color060 => "#d09a45",
            CardColor::Color070 => "#e4b138",
            CardColor::Color080 => "#ee903c",
            CardColor::Color081 => "#f08500",
            CardColor::Color082 => "#a9d92d",
            CardColor::Color090 => "#dd6549",
            CardColor::Color100 => "#cc463d",
            CardColor::Color101 => "#cf3e36",
            CardColor::Color102 => "#5E6671",
            CardColor::Other(_) => return None,
        })
    }
}

string_enum! {
    /// `date_info.type`.
    pub enum DateType {
        /// Never expires (usual for member cards).
        Permanent = "DATE_TYPE_PERMANENT",
        /// Valid between `begin_timestamp` and `end_timestamp`.
        FixTimeRange = "DATE_TYPE_FIX_TIME_RANGE",
        /// Valid `fixed_term` days after receipt.
        FixTerm = "DATE_TYPE_FIX_TERM",
    }
}

string_enum! {
    /// `custom_field*.name_type` (spellings as WeChat has them, typos included).
    pub enum CustomFieldNameType {
        /// 等级
        Level = "FIELD_NAME_TYPE_LEVEL",
        /// 优惠券
        Coupon = "FIELD_NAME_TYPE_COUPON",
        /// 印花
        Stamp = "FIELD_NAME_TYPE_STAMP",
        /// 折扣
        Discount = "FIELD_NAME_TYPE_DISCOUNT",
        /// 成就 (sic, no final T)
        Achievement = "FIELD_NAME_TYPE_ACHIEVEMEN",
        /// 里程
        Mileage = "FIELD_NAME_TYPE_MILEAGE",
        /// 集点
        SetPoints = "FIELD_NAME_TYPE_SET_POINTS",
        /// 次数 (sic)
        Times = "FIELD_NAME_TYPE_TIMS",
    }
}

string_enum! {
    /// `base_info.status` / `card/batchget.status_list`.
    pub enum CardStatus {
        /// Pending review.
        NotVerify = "CARD_STATUS_NOT_VERIFY",
        /// Rejected.
        VerifyFail = "CARD_STATUS_VERIFY_FAIL" | "CARD_STATUS_VERIFY_FALL",
        /// Approved.
        VerifyOk = "CARD_STATUS_VERIFY_OK",
        /// Deleted by the merchant.
        Delete = "CARD_STATUS_DELETE" | "CARD_STATUS_USER_DELETE",
        /// Issued on the platform.
        Dispatch = "CARD_STATUS_DISPATCH" | "CARD_STATUS_USER_DISPATCH",
    }
}

string_enum! {
    /// `advanced_info.business_service`.
    pub enum BusinessService {
        /// 外卖服务
        Deliver = "BIZ_SERVICE_DELIVER",
        /// 停车位
        FreePark = "BIZ_SERVICE_FREE_PARK",
        /// 可带宠物
        WithPet = "BIZ_SERVICE_WITH_PET",
        /// 免费wifi
        FreeWifi = "BIZ_SERVICE_FREE_WIFI",
    }
}

string_enum! {
    /// `advanced_info.time_limit[].type`.
    pub enum TimeLimitType {
        /// Monday.
        Monday = "MONDAY",
        /// Tuesday.
        Tuesday = "TUESDAY",
        /// Wednesday.
        Wednesday = "WEDNESDAY",
        /// Thursday.
        Thursday = "THURSDAY",
        /// Friday.
        Friday = "FRIDAY",
        /// Saturday.
        Saturday = "SATURDAY",
        /// Sunday.
        Sunday = "SUNDAY",
    }
}

/// `base_info.date_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateInfo {
    /// The validity type.
    #[serde(rename = "type")]
    pub date_type: DateType,
    /// Unix seconds, for `DATE_TYPE_FIX_TIME_RANGE`.
    #[serde(
        default,
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub begin_timestamp: Option<i64>,
    /// Unix seconds, for `DATE_TYPE_FIX_TIME_RANGE`.
    #[serde(
        default,
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_timestamp: Option<i64>,
    /// Days valid after receipt, for `DATE_TYPE_FIX_TERM` (0 = same day).
    #[serde(
        default,
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub fixed_term: Option<i64>,
    /// Days until validity starts, for `DATE_TYPE_FIX_TERM`.
    #[serde(
        default,
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub fixed_begin_term: Option<i64>,
}

impl DateInfo {
    /// `DATE_TYPE_PERMANENT`.
    pub fn permanent() -> Self {
        Self {
            date_type: DateType::Permanent,
            begin_timestamp: None,
            end_timestamp: None,
            fixed_term: None,
            fixed_begin_term: None,
        }
    }
}

impl Default for DateInfo {
    fn default() -> Self {
        Self::permanent()
    }
}

/// `base_info.sku`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sku {
    /// Stock; 1..=100 000 000 at creation.
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub quantity: i64,
    /// Total issued (only in `card/get`).
    #[serde(
        default,
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_quantity: Option<i64>,
}

/// `base_info.pay_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayInfo {
    /// `swipe_card`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swipe_card: Option<SwipeCard>,
}

/// `base_info.pay_info.swipe_card`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwipeCard {
    /// Show the WeChat Pay quick-pay cell.
    #[serde(
        default,
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub is_swipe_card: Option<bool>,
}

/// `member_card.base_info`: the fields every card type shares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BaseInfo {
    /// Card id (only in `card/get`).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// Logo, a WeChat CDN URL (`cgi-bin/media/uploadimg`); 300×300 suggested. Required.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub logo_url: String,
    /// Merchant name, ≤ 12 characters. Required.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub brand_name: String,
    /// How the code is shown. Required; always a JSON string.
    pub code_type: CodeType,
    /// Card title, ≤ 9 characters. Required.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub title: String,
    /// Background colour. Required.
    pub color: CardColor,
    /// Notice shown when using the card, ≤ 16 characters. Required.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub notice: String,
    /// Usage notes, ≤ 1024 characters. Required.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub description: String,
    /// Validity. Required.
    pub date_info: DateInfo,
    /// Stock. Required.
    pub sku: Sku,
    /// Per-user receive limit (1 recommended for member cards).
    #[serde(
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub get_limit: Option<i64>,
    /// Merchant-supplied codes.
    #[serde(
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub use_custom_code: Option<bool>,
    /// Users may give the card to friends (set false for member cards).
    #[serde(
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub can_give_friend: Option<bool>,
    /// Customer service phone.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_phone: Option<String>,
    /// Only a specified user may receive the card.
    #[serde(
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub bind_openid: Option<bool>,
    /// Per-user use limit (default 50).
    #[serde(
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub use_limit: Option<i64>,
    /// The card can be shared (set false for member cards).
    #[serde(
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub can_share: Option<bool>,
    /// POI store ids.
    #[serde(
        deserialize_with = "de::vec_or_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub location_id_list: Vec<i64>,
    /// Valid in every store.
    #[serde(
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub use_all_locations: Option<bool>,
    /// Centre button title (shown only when activated).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub center_title: Option<String>,
    /// Centre button subtitle.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub center_sub_title: Option<String>,
    /// Centre button link.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub center_url: Option<String>,
    /// Centre button mini-program (`原始id@app`).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub center_app_brand_user_name: Option<String>,
    /// Centre button mini-program page.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub center_app_brand_pass: Option<String>,
    /// Custom entry name.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub custom_url_name: Option<String>,
    /// Custom entry link.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub custom_url: Option<String>,
    /// Custom entry subtitle.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub custom_url_sub_title: Option<String>,
    /// Custom entry mini-program.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub custom_app_brand_user_name: Option<String>,
    /// Custom entry mini-program page.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub custom_app_brand_pass: Option<String>,
    /// Marketing entry name.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub promotion_url_name: Option<String>,
    /// Marketing entry link.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub promotion_url: Option<String>,
    /// Marketing entry subtitle.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub promotion_url_sub_title: Option<String>,
    /// Marketing entry mini-program.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub promotion_app_brand_user_name: Option<String>,
    /// Marketing entry mini-program page.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub promotion_app_brand_pass: Option<String>,
    /// Activation mini-program (`原始id@app`).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub activate_app_brand_user_name: Option<String>,
    /// Activation mini-program page.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub activate_app_brand_pass: Option<String>,
    /// Push `user_view_card` when the user opens the card.
    #[serde(
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub need_push_on_view: Option<bool>,
    /// WeChat Pay quick-pay cell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pay_info: Option<PayInfo>,
    /// Pay and show the QR code in one cell.
    #[serde(
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub is_pay_and_qrcode: Option<bool>,
    /// Review status (only in `card/get`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<CardStatus>,
}

/// `custom_field1..3`: a value cell on the card face (level, coupons…).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomField {
    /// A predefined name (changes can trigger WeChat's template notice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_type: Option<CustomFieldNameType>,
    /// A free name (no notice).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// Link.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<String>,
    /// Mini-program (`原始id@app`).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub app_brand_user_name: Option<String>,
    /// Mini-program page.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub app_brand_pass: Option<String>,
}

/// `custom_cell1..3`: an entry row under the card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomCell {
    /// Entry name.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub name: String,
    /// Hint on the right, ≤ 6 characters.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub tips: String,
    /// Link.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<String>,
    /// Mini-program (`原始id@app`).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub app_brand_user_name: Option<String>,
    /// Mini-program page.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub app_brand_pass: Option<String>,
}

/// `bonus_rule`: points earning and spending (money in fen).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BonusRule {
    /// Spend this much (fen)…
    #[serde(
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cost_money_unit: Option<i64>,
    /// …to earn this many points.
    #[serde(
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub increase_bonus: Option<i64>,
    /// Most points per purchase.
    #[serde(
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_increase_bonus: Option<i64>,
    /// Points on activation.
    #[serde(
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub init_increase_bonus: Option<i64>,
    /// Spend this many points…
    #[serde(
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cost_bonus_unit: Option<i64>,
    /// …to take this much (fen) off.
    #[serde(
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub reduce_money: Option<i64>,
    /// Minimum purchase (fen) to use points.
    #[serde(
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub least_money_to_use_bonus: Option<i64>,
    /// Most points per purchase spent.
    #[serde(
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_reduce_bonus: Option<i64>,
}

/// `advanced_info.abstract`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Abstract {
    /// Summary text.
    #[serde(rename = "abstract", deserialize_with = "de::string_or_empty")]
    pub text: String,
    /// Cover images.
    #[serde(
        deserialize_with = "de::vec_or_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub icon_url_list: Vec<String>,
}

/// `advanced_info.text_image_list[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextImage {
    /// Image URL.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub image_url: String,
    /// Caption.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub text: String,
}

/// `advanced_info.time_limit[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeLimit {
    /// Weekday.
    #[serde(rename = "type")]
    pub day: TimeLimitType,
    /// Start hour.
    #[serde(
        default,
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub begin_hour: Option<i64>,
    /// Start minute.
    #[serde(
        default,
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub begin_minute: Option<i64>,
    /// End hour.
    #[serde(
        default,
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_hour: Option<i64>,
    /// End minute.
    #[serde(
        default,
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_minute: Option<i64>,
}

/// `advanced_info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdvancedInfo {
    /// Usage conditions (free-form object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_condition: Option<serde_json::Value>,
    /// Summary and cover.
    #[serde(rename = "abstract", skip_serializing_if = "Option::is_none")]
    pub abstract_info: Option<Abstract>,
    /// Picture-and-text details.
    #[serde(
        deserialize_with = "de::vec_or_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub text_image_list: Vec<TextImage>,
    /// Services offered.
    #[serde(
        deserialize_with = "de::vec_or_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub business_service: Vec<BusinessService>,
    /// Usable times.
    #[serde(
        deserialize_with = "de::vec_or_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub time_limit: Vec<TimeLimit>,
    /// Shareable to friends.
    #[serde(
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub share_friends: Option<bool>,
}

/// `member_card`: the whole MEMBER_CARD template (reference §3.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemberCard {
    /// Custom face image (WeChat CDN URL).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub background_pic_url: Option<String>,
    /// Shared fields. Required.
    pub base_info: BaseInfo,
    /// Privileges (特权说明). Required.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub prerogative: String,
    /// Show points. Always sent.
    #[serde(deserialize_with = "de::bool_or_false")]
    pub supply_bonus: bool,
    /// Show stored value (needs permission, else 43010). Always sent.
    #[serde(deserialize_with = "de::bool_or_false")]
    pub supply_balance: bool,
    /// One-tap activation with WeChat's form.
    #[serde(
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub wx_activate: Option<bool>,
    /// Jump-type one-tap activation (needed for `extraData` on the return trip).
    #[serde(
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub wx_activate_after_submit: Option<bool>,
    /// Where the user goes after the form; setting it makes the card jump type, irreversibly.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub wx_activate_after_submit_url: Option<String>,
    /// Value cell 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_field1: Option<CustomField>,
    /// Value cell 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_field2: Option<CustomField>,
    /// Value cell 3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_field3: Option<CustomField>,
    /// Discount: 10 means 10 % off.
    #[serde(
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub discount: Option<i64>,
    /// Activate on receipt (overrides every other activation mode).
    #[serde(
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub auto_activate: Option<bool>,
    /// API activation page (overrides one-tap).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub activate_url: Option<String>,
    /// Activation mini-program (`原始id@app`).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub activate_app_brand_user_name: Option<String>,
    /// Activation mini-program page.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub activate_app_brand_pass: Option<String>,
    /// External points page.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub bonus_url: Option<String>,
    /// Points cell mini-program.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub bonus_app_brand_user_name: Option<String>,
    /// Points cell mini-program page.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub bonus_app_brand_pass: Option<String>,
    /// External balance page.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub balance_url: Option<String>,
    /// Balance cell mini-program.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub balance_app_brand_user_name: Option<String>,
    /// Balance cell mini-program page.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub balance_app_brand_pass: Option<String>,
    /// Entry row 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_cell1: Option<CustomCell>,
    /// Entry row 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_cell2: Option<CustomCell>,
    /// Entry row 3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_cell3: Option<CustomCell>,
    /// Points clearing rule text.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub bonus_cleared: Option<String>,
    /// Points rule text.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub bonus_rules: Option<String>,
    /// Balance rule text.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub balance_rules: Option<String>,
    /// Structured points rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bonus_rule: Option<BonusRule>,
    /// Advanced information.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advanced_info: Option<AdvancedInfo>,
}

/// Body of `card/create`: `{"card":{"card_type":"MEMBER_CARD","member_card":{…}}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateCardRequest<'a> {
    /// The card envelope.
    pub card: CreateCardEnvelope<'a>,
}

/// The `card` object of [`CreateCardRequest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateCardEnvelope<'a> {
    /// Always `MEMBER_CARD` here.
    pub card_type: &'static str,
    /// The template.
    pub member_card: &'a MemberCard,
}

impl<'a> CreateCardRequest<'a> {
    /// Wraps a member card.
    pub fn member_card(member_card: &'a MemberCard) -> Self {
        Self {
            card: CreateCardEnvelope {
                card_type: "MEMBER_CARD",
                member_card,
            },
        }
    }
}

/// `card/get` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CardDetail {
    /// `card.card_type`, e.g. `MEMBER_CARD`.
    pub card_type: String,
    /// `card.member_card`, when the card is a member card.
    pub member_card: Option<MemberCard>,
    /// The whole `card` object, for fields this crate does not model.
    pub raw: serde_json::Value,
}

/// `card/testwhitelist/set` request: the testers who may take cards still in review (reference §3.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TestWhitelistRequest {
    /// Official-account openids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub openid: Vec<String>,
    /// WeChat IDs (微信号).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub username: Vec<String>,
}

/// `card/batchget` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchGetRequest {
    /// Start offset.
    pub offset: u32,
    /// Page size, ≤ 50.
    pub count: u32,
    /// Filter by status.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub status_list: Vec<CardStatus>,
}

/// `card/batchget` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BatchGetResponse {
    /// Card ids of this page.
    #[serde(deserialize_with = "de::vec_or_empty")]
    pub card_id_list: Vec<String>,
    /// Total cards matching.
    #[serde(deserialize_with = "de::i64_or_zero")]
    pub total_num: i64,
}

/// `base_info` subset accepted by `card/update` (all optional; title/description edits are
/// re-reviewed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BaseInfoUpdate {
    /// New logo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// New title (≤ 9 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New colour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<CardColor>,
    /// New notice (≤ 16 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// New description (≤ 1024 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New service phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_phone: Option<String>,
    /// New code type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_type: Option<CodeType>,
    /// New validity (must contain the old range, same type; else 40100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_info: Option<DateInfo>,
    /// New per-user receive limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub get_limit: Option<i64>,
    /// New giftability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_give_friend: Option<bool>,
    /// New shareability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_share: Option<bool>,
    /// New centre button title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub center_title: Option<String>,
    /// New centre button subtitle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub center_sub_title: Option<String>,
    /// New centre button link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub center_url: Option<String>,
    /// New custom entry name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_url_name: Option<String>,
    /// New custom entry link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_url: Option<String>,
    /// New custom entry subtitle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_url_sub_title: Option<String>,
    /// New marketing entry name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion_url_name: Option<String>,
    /// New marketing entry link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion_url: Option<String>,
    /// New marketing entry subtitle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion_url_sub_title: Option<String>,
    /// Push `user_view_card`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub need_push_on_view: Option<bool>,
}

/// `member_card` of a `card/update` request. Anything not modelled goes in `extra` (reference §13
/// #17 recommends raw JSON for updates).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MemberCardUpdate {
    /// Shared-field changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_info: Option<BaseInfoUpdate>,
    /// New face image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background_pic_url: Option<String>,
    /// New privileges text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prerogative: Option<String>,
    /// Only false → true is accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supply_bonus: Option<bool>,
    /// Only false → true is accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supply_balance: Option<bool>,
    /// New jump-after-submit URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wx_activate_after_submit_url: Option<String>,
    /// New value cell 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_field1: Option<CustomField>,
    /// New value cell 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_field2: Option<CustomField>,
    /// New value cell 3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_field3: Option<CustomField>,
    /// New entry row 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_cell1: Option<CustomCell>,
    /// New discount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount: Option<i64>,
    /// New points rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bonus_rule: Option<BonusRule>,
    /// Any other field, sent as given.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `card/update` request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateCardRequest<'a> {
    /// The card.
    pub card_id: &'a str,
    /// The changes.
    pub member_card: &'a MemberCardUpdate,
}

string_enum! {
    /// `common_field_id_list` values: WeChat's built-in form fields. All spellings seen in the
    /// sources are accepted when decoding; requests use the first.
    pub enum UserFormField {
        /// Mobile number.
        Mobile = "USER_FORM_INFO_FLAG_MOBILE",
        /// Sex.
        Sex = "USER_FORM_INFO_FLAG_SEX",
        /// Name.
        Name = "USER_FORM_INFO_FLAG_NAME",
        /// Birthday.
        Birthday = "USER_FORM_INFO_FLAG_BIRTHDAY",
        /// ID card.
        IdCard = "USER_FORM_INFO_FLAG_IDCARD",
        /// E-mail.
        Email = "USER_FORM_INFO_FLAG_EMAIL",
        /// Detailed address.
        Location = "USER_FORM_INFO_FLAG_LOCATION" | "USER_FORM_INFO_FLAG_DETAIL_LOCATION",
        /// Education (the full spelling, which responses use).
        EducationBackground = "USER_FORM_INFO_FLAG_EDUCATION_BACKGROUND" | "USER_FORM_INFO_FLAG_EDUCATION_BACKGRO",
        /// Occupation.
        Career = "USER_FORM_INFO_FLAG_CAREER",
        /// Industry.
        Industry = "USER_FORM_INFO_FLAG_INDUSTRY",
        /// Income.
        Income = "USER_FORM_INFO_FLAG_INCOME",
        /// Hobbies.
        Habit = "USER_FORM_INFO_FLAG_HABIT",
    }
}

string_enum! {
    /// `rich_field_list[].type`.
    pub enum RichFieldType {
        /// Single choice.
        Radio = "FORM_FIELD_RADIO",
        /// Drop-down.
        Select = "FORM_FIELD_SELECT",
        /// Multiple choice.
        CheckBox = "FORM_FIELD_CHECK_BOX",
    }
}

/// A `{name, url}` link in the activation form (`service_statement`, `bind_old_card`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormLink {
    /// Link text.
    pub name: String,
    /// Link target.
    pub url: String,
}

/// A choice question in the activation form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RichField {
    /// Question kind.
    #[serde(rename = "type")]
    pub field_type: RichFieldType,
    /// Question text (string(32)).
    pub name: String,
    /// Choices.
    pub values: Vec<String>,
}

/// `required_form` / `optional_form`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserForm {
    /// Users may edit these answers after activation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_modify: Option<bool>,
    /// Built-in fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub common_field_id_list: Vec<UserFormField>,
    /// Free-text questions (≤ 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_field_list: Vec<String>,
    /// Choice questions (≤ 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rich_field_list: Vec<RichField>,
}

/// `card/membercard/activateuserform/set` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivateUserFormRequest {
    /// The card.
    pub card_id: String,
    /// Terms link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_statement: Option<FormLink>,
    /// Old-member binding link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_old_card: Option<FormLink>,
    /// Required questions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_form: Option<UserForm>,
    /// Optional questions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional_form: Option<UserForm>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The §3.1 minimal request, compacted.
    const CREATE_SKETCH: &str = r#"{"card":{"card_type":"MEMBER_CARD","member_card":{"background_pic_url":"https://mmbiz.qpic.cn/mmbiz/xxx/0","base_info":{"logo_url":"http://mmbiz.qpic.cn/mmbiz/yyy/0","brand_name":"示例店","code_type":"CODE_TYPE_QRCODE","title":"示例会员卡","color":"Color010","notice":"使用时出示此卡","description":"不可与其他优惠同享","date_info":{"type":"DATE_TYPE_PERMANENT"},"sku":{"quantity":100000000},"get_limit":1,"use_custom_code":false,"can_give_friend":false,"service_phone":"020-88888888"},"prerogative":"会员享受9折","supply_bonus":true,"supply_balance":false,"wx_activate":true,"wx_activate_after_submit":true,"wx_activate_after_submit_url":"https://example.com/activate","custom_field1":{"name_type":"FIELD_NAME_TYPE_LEVEL","url":"https://example.com/level"},"discount":10}}}"#;

    pub(crate) fn sketch_card() -> MemberCard {
        MemberCard {
            background_pic_url: Some("https://mmbiz.qpic.cn/mmbiz/xxx/0".into()),
            base_info: BaseInfo {
                logo_url: "http://mmbiz.qpic.cn/mmbiz/yyy/0".into(),
                brand_name: "示例店".into(),
                code_type: CodeType::QrCode,
                title: "示例会员卡".into(),
                color: CardColor::Color010,
                notice: "使用时出示此卡".into(),
                description: "不可与其他优惠同享".into(),
                date_info: DateInfo::permanent(),
                sku: Sku {
                    quantity: 100_000_000,
                    total_quantity: None,
                },
                get_limit: Some(1),
                use_custom_code: Some(false),
                can_give_friend: Some(false),
                service_phone: Some("020-88888888".into()),
                ..BaseInfo::default()
            },
            prerogative: "会员享受9折".into(),
            supply_bonus: true,
            supply_balance: false,
            wx_activate: Some(true),
            wx_activate_after_submit: Some(true),
            wx_activate_after_submit_url: Some("https://example.com/activate".into()),
            custom_field1: Some(CustomField {
                name_type: Some(CustomFieldNameType::Level),
                url: Some("https://example.com/level".into()),
                ..CustomField::default()
            }),
            discount: Some(10),
            ..MemberCard::default()
        }
    }

    #[test]
    fn create_request_is_byte_compatible_with_the_reference_sketch() {
        let card = sketch_card();
        let body = serde_json::to_string(&CreateCardRequest::member_card(&card)).unwrap();
        assert_eq!(body, CREATE_SKETCH);
        assert!(!body.contains("\\u"), "Chinese must be raw UTF-8");
    }

    #[test]
    fn the_sketch_decodes_back_into_the_same_card() {
        let v: serde_json::Value = serde_json::from_str(CREATE_SKETCH).unwrap();
        let card: MemberCard = serde_json::from_value(v["card"]["member_card"].clone()).unwrap();
        assert_eq!(card, sketch_card());
    }

    #[test]
    fn card_get_answers_decode_leniently() {
        let json = r##"{"background_pic_url":"x","base_info":{"id":"pCard","logo_url":"l","brand_name":"b","code_type":"CODE_TYPE_TEXT","title":"t","color":"#63b359","notice":"n","description":"d","date_info":{"type":"DATE_TYPE_FIX_TIME_RANGE","begin_timestamp":"1397577600","end_timestamp":1472724261.0},"sku":{"quantity":"5","total_quantity":10},"use_custom_code":"false","can_share":"true","status":"CARD_STATUS_VERIFY_OK","new_field":1},"prerogative":"p","supply_bonus":"true","supply_balance":0,"custom_cell1":null,"unknown":[1]}"##;
        let card: MemberCard = serde_json::from_str(json).unwrap();
        assert_eq!(card.base_info.id.as_deref(), Some("pCard"));
        assert_eq!(card.base_info.color, CardColor::Color010);
        assert_eq!(card.base_info.code_type, CodeType::Text);
        assert_eq!(card.base_info.date_info.date_type, DateType::FixTimeRange);
        assert_eq!(
            card.base_info.date_info.begin_timestamp,
            Some(1_397_577_600)
        );
        assert_eq!(card.base_info.date_info.end_timestamp, Some(1_472_724_261));
        assert_eq!(card.base_info.sku.quantity, 5);
        assert_eq!(card.base_info.sku.total_quantity, Some(10));
        assert_eq!(card.base_info.use_custom_code, Some(false));
        assert_eq!(card.base_info.can_share, Some(true));
        assert_eq!(card.base_info.status, Some(CardStatus::VerifyOk));
        assert!(card.supply_bonus);
        assert!(!card.supply_balance);
        assert_eq!(card.custom_cell1, None);
    }

    #[test]
    fn unknown_enum_values_are_kept_and_known_ones_are_strings() {
        assert_eq!(
            CodeType::parse("CODE_TYPE_NEW"),
            CodeType::Other("CODE_TYPE_NEW".into())
        );
        assert_eq!(
            serde_json::to_string(&CodeType::None).unwrap(),
            r#""CODE_TYPE_NONE""#
        );
        assert_eq!(
            serde_json::to_string(&CodeType::Other("X".into())).unwrap(),
            r#""X""#
        );
        assert_eq!(
            CardStatus::parse("CARD_STATUS_VERIFY_FALL"),
            CardStatus::VerifyFail
        );
        assert_eq!(CardColor::parse("#5e6671"), CardColor::Color102);
        assert_eq!(CardColor::Color081.hex(), Some("#f08500"));
        assert_eq!(
            UserFormField::parse("USER_FORM_INFO_FLAG_EDUCATION_BACKGRO"),
            UserFormField::EducationBackground
        );
    }

    /// The §4 sample, compacted.
    const FORM_SAMPLE: &str = r#"{"card_id":"pbLatjnrwUUdZI641gKdTMJzHGfc","service_statement":{"name":"会员守则","url":"https://www.qq.com"},"bind_old_card":{"name":"老会员绑定","url":"https://www.qq.com"},"required_form":{"can_modify":false,"common_field_id_list":["USER_FORM_INFO_FLAG_MOBILE"],"rich_field_list":[{"type":"FORM_FIELD_RADIO","name":"兴趣","values":["钢琴","舞蹈","足球"]},{"type":"FORM_FIELD_SELECT","name":"喜好","values":["郭敬明","韩寒","南派三叔"]},{"type":"FORM_FIELD_CHECK_BOX","name":"职业","values":["赛车手","旅行家"]}]},"optional_form":{"can_modify":false,"common_field_id_list":["USER_FORM_INFO_FLAG_LOCATION","USER_FORM_INFO_FLAG_BIRTHDAY"],"custom_field_list":["喜欢的电影"]}}"#;

    pub(crate) fn form_sample() -> ActivateUserFormRequest {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        ActivateUserFormRequest {
            card_id: "pbLatjnrwUUdZI641gKdTMJzHGfc".into(),
            service_statement: Some(FormLink {
                name: "会员守则".into(),
                url: "https://www.qq.com".into(),
            }),
            bind_old_card: Some(FormLink {
                name: "老会员绑定".into(),
                url: "https://www.qq.com".into(),
            }),
            required_form: Some(UserForm {
                can_modify: Some(false),
                common_field_id_list: vec![UserFormField::Mobile],
                custom_field_list: vec![],
                rich_field_list: vec![
                    RichField {
                        field_type: RichFieldType::Radio,
                        name: "兴趣".into(),
                        values: strings(&["钢琴", "舞蹈", "足球"]),
                    },
                    RichField {
                        field_type: RichFieldType::Select,
                        name: "喜好".into(),
                        values: strings(&["郭敬明", "韩寒", "南派三叔"]),
                    },
                    RichField {
                        field_type: RichFieldType::CheckBox,
                        name: "职业".into(),
                        values: strings(&["赛车手", "旅行家"]),
                    },
                ],
            }),
            optional_form: Some(UserForm {
                can_modify: Some(false),
                common_field_id_list: vec![UserFormField::Location, UserFormField::Birthday],
                custom_field_list: strings(&["喜欢的电影"]),
                rich_field_list: vec![],
            }),
        }
    }

    #[test]
    fn activate_user_form_is_byte_compatible_with_the_reference_sample() {
        assert_eq!(serde_json::to_string(&form_sample()).unwrap(), FORM_SAMPLE);
        let back: ActivateUserFormRequest = serde_json::from_str(FORM_SAMPLE).unwrap();
        assert_eq!(back, form_sample());
    }

    #[test]
    fn update_and_batchget_requests_serialise_only_what_is_set() {
        let mut extra = serde_json::Map::new();
        extra.insert("bonus_cleared".into(), serde_json::json!("每年清零"));
        let update = MemberCardUpdate {
            base_info: Some(BaseInfoUpdate {
                title: Some("新卡名".into()),
                ..BaseInfoUpdate::default()
            }),
            supply_bonus: Some(true),
            extra,
            ..MemberCardUpdate::default()
        };
        let body = serde_json::to_string(&UpdateCardRequest {
            card_id: "pCard",
            member_card: &update,
        })
        .unwrap();
        assert_eq!(
            body,
            r#"{"card_id":"pCard","member_card":{"base_info":{"title":"新卡名"},"supply_bonus":true,"bonus_cleared":"每年清零"}}"#
        );
        let batch = BatchGetRequest {
            offset: 0,
            count: 10,
            status_list: vec![CardStatus::VerifyOk, CardStatus::Dispatch],
        };
        assert_eq!(
            serde_json::to_string(&batch).unwrap(),
            r#"{"offset":0,"count":10,"status_list":["CARD_STATUS_VERIFY_OK","CARD_STATUS_DISPATCH"]}"#
        );
        let resp: BatchGetResponse = serde_json::from_str(
            r#"{"errcode":0,"errmsg":"ok","card_id_list":["a","b"],"total_num":"2"}"#,
        )
        .unwrap();
        assert_eq!(resp.card_id_list, vec!["a", "b"]);
        assert_eq!(resp.total_num, 2);
    }
}
