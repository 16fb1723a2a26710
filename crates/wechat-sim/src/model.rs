//! What the simulated WeChat remembers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How an account's callback receives events (reference §10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageMode {
    /// 明文: XML in the clear, `signature` in the query.
    #[default]
    Plain,
    /// 兼容: the clear fields and an `Encrypt` element, both signatures.
    Compatible,
    /// 安全: only `ToUserName` and `Encrypt`, plus `msg_signature`.
    Safe,
}

/// The mini-program that belongs to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiniProgram {
    /// The mini-program's AppID (`wx…`).
    pub app_id: String,
    /// The mini-program's AppSecret.
    pub app_secret: String,
    /// Shared prefix of this mini-program's openids.
    pub id_prefix: String,
}

/// A simulated official account with its credentials and permissions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// The official account's AppID.
    pub app_id: String,
    /// The official account's AppSecret.
    pub app_secret: String,
    /// The callback Token used in signatures.
    pub token: String,
    /// The 43-character EncodingAESKey.
    pub encoding_aes_key: String,
    /// How events are delivered.
    pub message_mode: MessageMode,
    /// Where events are pushed; `None` records pushes without sending them.
    pub callback_url: Option<String>,
    /// The `gh_…` original id, used as `ToUserName` in pushes.
    pub original_id: String,
    /// The decimal bizuin; `biz` in geturl URLs is its Base64.
    pub bizuin: String,
    /// Shared prefix of this account's card ids and openids.
    pub id_prefix: String,
    /// The account's mini-program, if any.
    pub mini_program: Option<MiniProgram>,
    /// `cgi-bin/token` calls allowed per day (45009 beyond).
    pub daily_token_quota: u32,
    /// May create cards with `supply_balance` (43010 otherwise). A newly registered account may not.
    pub balance_authorized: bool,
    /// May create cards with `use_custom_code` (43009 otherwise). A newly registered account may not.
    pub custom_code_authorized: bool,
    /// May create member cards at all (72016 otherwise).
    pub member_card_authorized: bool,
    /// Bound to an Open Platform account: `unionid` appears in logins and pushes.
    pub open_platform: bool,
    /// Caller IPs allowed on the token endpoints; `None` allows all (40164 otherwise).
    pub ip_whitelist: Option<Vec<String>>,
}

/// The fields a caller may choose when creating an account; everything left out is generated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSpec {
    /// AppID; generated (`wx` + 16 hex) when absent.
    pub app_id: Option<String>,
    /// AppSecret; generated (32 hex) when absent.
    pub app_secret: Option<String>,
    /// Callback Token; generated when absent.
    pub token: Option<String>,
    /// EncodingAESKey (43 chars); generated when absent.
    pub encoding_aes_key: Option<String>,
    /// Message mode; plain when absent.
    pub message_mode: Option<MessageMode>,
    /// Callback URL for event pushes.
    pub callback_url: Option<String>,
    /// `gh_…` original id; generated when absent.
    pub original_id: Option<String>,
    /// The mini-program; `Some(default)` generates its AppID and AppSecret.
    pub mini_program: Option<MiniProgramSpec>,
    /// Daily token quota; the simulator default when absent.
    pub daily_token_quota: Option<u32>,
    /// Defaults to true.
    pub balance_authorized: Option<bool>,
    /// Defaults to false, as for most accounts.
    pub custom_code_authorized: Option<bool>,
    /// Defaults to true.
    pub member_card_authorized: Option<bool>,
    /// Defaults to false.
    pub open_platform: Option<bool>,
    /// Defaults to no whitelist.
    pub ip_whitelist: Option<Vec<String>>,
}

/// Mini-program part of an [`AccountSpec`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MiniProgramSpec {
    /// AppID; generated when absent.
    pub app_id: Option<String>,
    /// AppSecret; generated when absent.
    pub app_secret: Option<String>,
}

/// Changes to an existing account (control API `PATCH control/accounts/{app_id}`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountPatch {
    /// New callback URL (`""` removes it).
    pub callback_url: Option<String>,
    /// New message mode.
    pub message_mode: Option<MessageMode>,
    /// New callback Token.
    pub token: Option<String>,
    /// New EncodingAESKey.
    pub encoding_aes_key: Option<String>,
    /// New daily token quota.
    pub daily_token_quota: Option<u32>,
    /// A new AppSecret, as "reset" in WeChat's console does: token requests with the old one are
    /// refused from then on, while tokens already issued keep working until they expire.
    pub app_secret: Option<String>,
    /// New IP whitelist (`[]` allows none; use `null`-less omission to keep).
    pub ip_whitelist: Option<Vec<String>>,
}

/// An account's test whitelist (`card/testwhitelist/set`, reference §3.2): these members may
/// receive and activate its cards while they are still in review.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestWhitelist {
    /// Official-account openids, as set.
    pub openid: Vec<String>,
    /// WeChat ids, as set; a simulated user's WeChat id is their user name.
    pub username: Vec<String>,
}

/// Review status of a card (reference §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CardStatus {
    /// Pending review.
    #[serde(rename = "CARD_STATUS_NOT_VERIFY")]
    NotVerify,
    /// Refused.
    #[serde(rename = "CARD_STATUS_VERIFY_FAIL")]
    VerifyFail,
    /// Approved.
    #[serde(rename = "CARD_STATUS_VERIFY_OK")]
    VerifyOk,
    /// Deleted by the merchant.
    #[serde(rename = "CARD_STATUS_DELETE")]
    Delete,
}

impl CardStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CardStatus::NotVerify => "CARD_STATUS_NOT_VERIFY",
            CardStatus::VerifyFail => "CARD_STATUS_VERIFY_FAIL",
            CardStatus::VerifyOk => "CARD_STATUS_VERIFY_OK",
            CardStatus::Delete => "CARD_STATUS_DELETE",
        }
    }
}

/// A member card template.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    /// `p…`, 28 characters.
    pub card_id: String,
    /// Owning official account.
    pub app_id: String,
    /// The `member_card` object as created and updated.
    pub member_card: Value,
    /// Review status.
    pub status: CardStatus,
    /// Sim-clock time of creation.
    pub created_at: i64,
    /// Sim-clock time when the review passes by itself.
    pub review_due: Option<i64>,
    /// Remaining stock.
    pub quantity: i64,
    /// Stock ever added.
    pub total_quantity: i64,
    /// The form from `activateuserform/set`, as sent.
    pub form: Option<Value>,
    /// Stable `encrypt_card_id`, minted by the first geturl.
    pub encrypt_card_id: Option<String>,
}

impl Card {
    pub(crate) fn flag(&self, key: &str) -> bool {
        self.member_card
            .get(key)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub(crate) fn base(&self, key: &str) -> Option<&Value> {
        self.member_card.get("base_info").and_then(|b| b.get(key))
    }

    /// Jump type: the component hands `activate_ticket` back (reference §6.2 and §13 #4: a non-empty
    /// `wx_activate_after_submit_url` is what makes a card jump type).
    pub(crate) fn is_jump_type(&self) -> bool {
        self.member_card
            .get("wx_activate_after_submit_url")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    }

    pub(crate) fn title(&self) -> String {
        self.base("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }
}

/// State of one issued code (reference §8.3 statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CodeStatus {
    /// Received or activated.
    Normal,
    /// Consumed.
    Consumed,
    /// Deleted by the member.
    Delete,
    /// Made unavailable by the merchant.
    Unavailable,
}

/// One answer of the activation form: `value` for text/radio/select, `value_list` for check boxes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldAnswer {
    /// Field name: a `USER_FORM_INFO_FLAG_*` id or the custom/rich field's name.
    pub name: String,
    /// Single value.
    pub value: String,
    /// Check-box values (custom fields only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_list: Option<Vec<String>>,
}

/// Everything a member entered in the form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answers {
    /// `common_field_list`.
    pub common_field_list: Vec<FieldAnswer>,
    /// `custom_field_list` (custom text and rich fields).
    pub custom_field_list: Vec<FieldAnswer>,
}

/// A code issued to a member.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedCode {
    /// 12 digits.
    pub code: String,
    /// Its card.
    pub card_id: String,
    /// The card's account.
    pub app_id: String,
    /// The member's official-account openid.
    pub openid: String,
    /// The simulated user's name.
    pub user: String,
    /// Channel from geturl.
    pub outer_str: String,
    /// Sim-clock time of receipt.
    pub received_at: i64,
    /// Status.
    pub status: CodeStatus,
    /// Activated.
    pub has_active: bool,
    /// From `card/membercard/activate`.
    pub membership_number: Option<String>,
    /// Points.
    pub bonus: i64,
    /// Stored value (unit undocumented, reference §15).
    pub balance: f64,
    /// The form answers.
    pub answers: Answers,
    /// Whether `userinfo/get` shows `user_info` (not for jump-type cards, reference §13 #2).
    pub user_info_visible: bool,
    /// Base64 form of the code handed to the mini-program.
    pub encrypt_code: String,
    /// `custom_field_value1..3`.
    pub custom_field_values: [Option<String>; 3],
    /// Activation window end from `activate_end_time`, if set.
    pub active_until: Option<i64>,
}

/// A pending `activate_ticket`.
#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    /// The 108-character Base64 ticket.
    pub ticket: String,
    /// The account it belongs to.
    pub app_id: String,
    /// The card it was issued for.
    pub card_id: String,
    /// The code issued in the same submission.
    pub code: String,
    /// The member's openid.
    pub openid: String,
    /// Sim-clock expiry.
    pub expires_at: i64,
    /// What the member entered.
    pub answers: Answers,
}
