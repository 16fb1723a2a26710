//! The crate's one error type, [`WechatError`], and the errcodes the domain acts on (reference §11).
//!
//! WeChat answers HTTP 200 with an `errcode` in the body; an absent `errcode` means 0 (success).
//! Match on [`WechatError::kind`] or [`codes`], never on `errmsg`, whose text changes (trace suffixes
//! such as `rid: …` or `hint: […]`).

use std::time::Duration;

use crate::limits::FieldTooLong;

/// Named errcodes from the reference.
pub mod codes {
    /// `system error`: busy, retry with back-off.
    pub const SYSTEM_BUSY: i64 = -1;
    /// `ok`.
    pub const OK: i64 = 0;
    /// `invalid credential`: wrong secret or a stale/unknown access_token. Refresh once.
    pub const INVALID_CREDENTIAL: i64 = 40001;
    /// `invalid grant_type`.
    pub const INVALID_GRANT_TYPE: i64 = 40002;
    /// `invalid openid`.
    pub const INVALID_OPENID: i64 = 40003;
    /// `invalid appid`.
    pub const INVALID_APPID: i64 = 40013;
    /// `invalid access_token`. Refresh once.
    pub const INVALID_ACCESS_TOKEN: i64 = 40014;
    /// `invalid code` (jscode2session: unknown js_code).
    pub const INVALID_JS_CODE: i64 = 40029;
    /// `\uxxxx` escapes are not allowed in the JSON body.
    pub const UNICODE_ESCAPE: i64 = 40033;
    /// `invalid serial code`: card code unknown or not of this card.
    pub const INVALID_SERIAL_CODE: i64 = 40056;
    /// `invalid card type`.
    pub const INVALID_CARD_TYPE: i64 = 40071;
    /// `invalid card id`.
    pub const INVALID_CARD_ID: i64 = 40073;
    /// `invalid encrypt code` (card/code/decrypt).
    pub const INVALID_ENCRYPT_CODE: i64 = 40075;
    /// `invalid card status`: not approved, or deleted.
    pub const INVALID_CARD_STATUS: i64 = 40078;
    /// `invalid code, this code has consumed.`
    pub const CODE_CONSUMED: i64 = 40099;
    /// `invalid DateInfo`: a card/update date change that does not contain the old range.
    pub const INVALID_DATE_INFO: i64 = 40100;
    /// `too many custom field!`
    pub const TOO_MANY_CUSTOM_FIELDS: i64 = 40124;
    /// `invalid appsecret`.
    pub const INVALID_APPSECRET: i64 = 40125;
    /// `invalid user-card status`: deleted, expired or set unavailable.
    pub const INVALID_USER_CARD_STATUS: i64 = 40127;
    /// `code been used` (jscode2session).
    pub const JS_CODE_USED: i64 = 40163;
    /// `invalid ip …, not in whitelist`.
    pub const IP_NOT_WHITELISTED: i64 = 40164;
    /// `code blocked` (jscode2session: high-risk user).
    pub const JS_CODE_BLOCKED: i64 = 40226;
    /// `access_token missing`.
    pub const ACCESS_TOKEN_MISSING: i64 = 41001;
    /// `missing required fields!`
    pub const MISSING_FIELD: i64 = 41011;
    /// `access_token expired`. Refresh once.
    pub const ACCESS_TOKEN_EXPIRED: i64 = 42001;
    /// `can not use balance, need authorize`.
    pub const BALANCE_UNAUTHORIZED: i64 = 43010;
    /// `reach max api daily quota limit`.
    pub const DAILY_QUOTA: i64 = 45009;
    /// `api minute-quota reach limit`.
    pub const MINUTE_QUOTA: i64 = 45011;
    /// `some argument may be out of length limit!`
    pub const FIELD_TOO_LONG: i64 = 45021;
    /// `maybe the update frequency is too often` (activate under load, Appendix B).
    pub const UPDATE_TOO_FREQUENT: i64 = 45061;
    /// `data format error`: malformed JSON.
    pub const DATA_FORMAT: i64 = 47001;
    /// `api unauthorized`.
    pub const API_UNAUTHORIZED: i64 = 48001;
    /// `invalid card type, need member card`.
    pub const NEED_MEMBER_CARD: i64 = 72003;
    /// `invalid activate_ticket`: wrong appid or a mangled ticket.
    pub const INVALID_ACTIVATE_TICKET: i64 = 72011;
    /// `activate_ticket has been expired` (also seen intermittently on fresh tickets).
    pub const ACTIVATE_TICKET_EXPIRED: i64 = 72012;
    /// `unauthorized create member card`.
    pub const MEMBER_CARD_UNAUTHORIZED: i64 = 72016;
    /// `need set wx_activate true`.
    pub const NEED_WX_ACTIVATE: i64 = 72026;
}

/// What went wrong, at the granularity the domain acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// -1: WeChat is busy; retried with back-off by the client.
    SystemBusy,
    /// 40001, 40014, 41001, 42001: the access token was refused; the client refreshes once and retries.
    AccessTokenInvalid,
    /// 40013, 40125, 40002: the AppID or AppSecret (or grant type) is wrong; a configuration problem.
    BadCredentials,
    /// 40164: the caller's IP is not whitelisted.
    IpNotWhitelisted,
    /// 45009, 45011: a daily or minute quota is exhausted.
    QuotaExceeded,
    /// 45061: calls on this code are too frequent.
    TooFrequent,
    /// 72011: the activate_ticket is not valid for this AppID (or was mangled in transit).
    InvalidTicket,
    /// 72012: the activate_ticket expired (retrying once may succeed, reference §13 #6).
    TicketExpired,
    /// 40029, 40163, 40226: the mini-program js_code is invalid, used or blocked.
    InvalidJsCode,
    /// 40056: the card code is unknown or not of this card (also: activating an active code).
    InvalidCode,
    /// 40075: the encrypted code could not be decrypted.
    InvalidEncryptCode,
    /// 40099: the code has been consumed.
    CodeConsumed,
    /// 40127: the user's card was deleted, expired or set unavailable.
    UserCardUnavailable,
    /// 40073: unknown card id.
    UnknownCard,
    /// 40078: card not approved, or deleted.
    CardNotApproved,
    /// 40071, 72003, 72026: the card is not of the type (or activation mode) this call needs.
    WrongCardType,
    /// 45021: a field is too long.
    FieldTooLong,
    /// 41011: a required field is missing.
    MissingField,
    /// 48001, 72016, 43010: the account lacks the permission.
    Unauthorized,
    /// Any other errcode.
    OtherApi,
    /// The request did not complete (connection, TLS, timeout).
    Transport,
    /// WeChat answered something that could not be decoded.
    Decode,
    /// The request was refused locally before sending (field lengths).
    Validation,
    /// The token store failed.
    TokenStore,
    /// The client is misconfigured.
    Config,
}

impl ErrorKind {
    /// Classifies an errcode.
    pub fn from_errcode(errcode: i64) -> Self {
        use codes::*;
        match errcode {
            SYSTEM_BUSY => ErrorKind::SystemBusy,
            INVALID_CREDENTIAL | INVALID_ACCESS_TOKEN | ACCESS_TOKEN_MISSING
            | ACCESS_TOKEN_EXPIRED => ErrorKind::AccessTokenInvalid,
            INVALID_APPID | INVALID_APPSECRET | INVALID_GRANT_TYPE => ErrorKind::BadCredentials,
            IP_NOT_WHITELISTED => ErrorKind::IpNotWhitelisted,
            DAILY_QUOTA | MINUTE_QUOTA => ErrorKind::QuotaExceeded,
            UPDATE_TOO_FREQUENT => ErrorKind::TooFrequent,
            INVALID_ACTIVATE_TICKET => ErrorKind::InvalidTicket,
            ACTIVATE_TICKET_EXPIRED => ErrorKind::TicketExpired,
            INVALID_JS_CODE | JS_CODE_USED | JS_CODE_BLOCKED => ErrorKind::InvalidJsCode,
            INVALID_SERIAL_CODE => ErrorKind::InvalidCode,
            INVALID_ENCRYPT_CODE => ErrorKind::InvalidEncryptCode,
            CODE_CONSUMED => ErrorKind::CodeConsumed,
            INVALID_USER_CARD_STATUS => ErrorKind::UserCardUnavailable,
            INVALID_CARD_ID => ErrorKind::UnknownCard,
            INVALID_CARD_STATUS => ErrorKind::CardNotApproved,
            INVALID_CARD_TYPE | NEED_MEMBER_CARD | NEED_WX_ACTIVATE => ErrorKind::WrongCardType,
            FIELD_TOO_LONG => ErrorKind::FieldTooLong,
            MISSING_FIELD => ErrorKind::MissingField,
            API_UNAUTHORIZED | MEMBER_CARD_UNAUTHORIZED | BALANCE_UNAUTHORIZED => {
                ErrorKind::Unauthorized
            }
            _ => ErrorKind::OtherApi,
        }
    }

    /// A stable snake_case name, for logs, metrics and API error codes.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::SystemBusy => "system_busy",
            ErrorKind::AccessTokenInvalid => "access_token_invalid",
            ErrorKind::BadCredentials => "bad_credentials",
            ErrorKind::IpNotWhitelisted => "ip_not_whitelisted",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::TooFrequent => "too_frequent",
            ErrorKind::InvalidTicket => "ticket_invalid",
            ErrorKind::TicketExpired => "ticket_expired",
            ErrorKind::InvalidJsCode => "js_code_invalid",
            ErrorKind::InvalidCode => "code_invalid",
            ErrorKind::InvalidEncryptCode => "encrypt_code_invalid",
            ErrorKind::CodeConsumed => "code_consumed",
            ErrorKind::UserCardUnavailable => "user_card_unavailable",
            ErrorKind::UnknownCard => "card_unknown",
            ErrorKind::CardNotApproved => "card_not_approved",
            ErrorKind::WrongCardType => "card_type_wrong",
            ErrorKind::FieldTooLong => "field_too_long",
            ErrorKind::MissingField => "field_missing",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::OtherApi => "wechat_error",
            ErrorKind::Transport => "transport",
            ErrorKind::Decode => "decode",
            ErrorKind::Validation => "validation",
            ErrorKind::TokenStore => "token_store",
            ErrorKind::Config => "config",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a WeChat call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WechatError {
    /// WeChat answered with a non-zero `errcode`.
    #[error("WeChat {endpoint} failed with errcode {errcode}: {errmsg}")]
    Api {
        /// The path called, e.g. `card/membercard/activate`.
        endpoint: String,
        /// The errcode.
        errcode: i64,
        /// The errmsg as returned (may carry a `rid:` suffix).
        errmsg: String,
    },
    /// The request did not complete (connection refused, TLS, reset).
    #[error("calling WeChat {endpoint} failed: {source}")]
    Transport {
        /// The path called.
        endpoint: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// No answer within the configured timeout.
    #[error("calling WeChat {endpoint} timed out after {timeout:?}")]
    Timeout {
        /// The path called.
        endpoint: String,
        /// The configured timeout.
        timeout: Duration,
    },
    /// A non-2xx HTTP status (WeChat itself answers 200 even for errors).
    #[error("WeChat {endpoint} answered HTTP {status}")]
    HttpStatus {
        /// The path called.
        endpoint: String,
        /// The status code.
        status: u16,
        /// The start of the body, for diagnosis.
        body_prefix: String,
    },
    /// The body could not be decoded into the expected shape.
    #[error("could not decode WeChat {endpoint} response: {message}")]
    Decode {
        /// The path called.
        endpoint: String,
        /// What failed.
        message: String,
        /// The start of the body, for diagnosis.
        body_prefix: String,
    },
    /// Refused locally: some fields exceed WeChat's length limits.
    #[error("{} field(s) too long: {}", .0.len(), field_list(.0))]
    Validation(Vec<FieldTooLong>),
    /// The token store failed.
    #[error("token store failed: {0}")]
    TokenStore(String),
    /// The client is misconfigured (e.g. an unparsable base URL).
    #[error("invalid WeChat client configuration: {0}")]
    Config(String),
}

fn field_list(fields: &[FieldTooLong]) -> String {
    fields
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl WechatError {
    /// The errcode, when WeChat answered with one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            WechatError::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// The endpoint called, when the error comes from a call.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            WechatError::Api { endpoint, .. }
            | WechatError::Transport { endpoint, .. }
            | WechatError::Timeout { endpoint, .. }
            | WechatError::HttpStatus { endpoint, .. }
            | WechatError::Decode { endpoint, .. } => Some(endpoint),
            _ => None,
        }
    }

    /// The classification the domain acts on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            WechatError::Api { errcode, .. } => ErrorKind::from_errcode(*errcode),
            WechatError::Transport { .. }
            | WechatError::Timeout { .. }
            | WechatError::HttpStatus { .. } => ErrorKind::Transport,
            WechatError::Decode { .. } => ErrorKind::Decode,
            WechatError::Validation(_) => ErrorKind::Validation,
            WechatError::TokenStore(_) => ErrorKind::TokenStore,
            WechatError::Config(_) => ErrorKind::Config,
        }
    }

    /// True when the access token was refused (40001, 40014, 41001, 42001).
    pub fn is_token_error(&self) -> bool {
        self.kind() == ErrorKind::AccessTokenInvalid
    }

    /// True when retrying the same request later may succeed: system busy, transport failures,
    /// quotas, throttling, and an expired activate ticket (reported to be intermittent).
    ///
    /// A timed-out *activate* must still not simply be repeated (reference Appendix B): check
    /// `userinfo/get` first.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::SystemBusy
                | ErrorKind::Transport
                | ErrorKind::QuotaExceeded
                | ErrorKind::TooFrequent
                | ErrorKind::TicketExpired
                | ErrorKind::AccessTokenInvalid
        )
    }

    pub(crate) fn api(endpoint: &str, errcode: i64, errmsg: impl Into<String>) -> Self {
        WechatError::Api {
            endpoint: endpoint.to_owned(),
            errcode,
            errmsg: errmsg.into(),
        }
    }

    pub(crate) fn decode(endpoint: &str, message: impl Into<String>, body: &[u8]) -> Self {
        WechatError::Decode {
            endpoint: endpoint.to_owned(),
            message: message.into(),
            body_prefix: body_prefix(body),
        }
    }
}

/// The first 512 bytes of a body, lossily decoded, for error messages.
pub(crate) fn body_prefix(body: &[u8]) -> String {
    let end = body.len().min(512);
    String::from_utf8_lossy(&body[..end]).into_owned()
}

/// Checks the errcode of a decoded body: absent, null or 0 is success; anything else is an
/// [`WechatError::Api`]. Numeric strings and floats are accepted.
pub fn check_errcode(endpoint: &str, body: &serde_json::Value) -> Result<(), WechatError> {
    let errcode = match body.get("errcode") {
        None | Some(serde_json::Value::Null) => 0,
        Some(v) => crate::de::value_to_i64(v).ok_or_else(|| {
            WechatError::decode(endpoint, format!("errcode is not a number: {v}"), b"")
        })?,
    };
    if errcode == codes::OK {
        return Ok(());
    }
    let errmsg = body
        .get("errmsg")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    Err(WechatError::api(endpoint, errcode, errmsg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_errcode_is_success() {
        assert!(check_errcode(
            "cgi-bin/token",
            &json!({"access_token":"t","expires_in":7200})
        )
        .is_ok());
        assert!(check_errcode("x", &json!({"errcode":0,"errmsg":"ok"})).is_ok());
        assert!(check_errcode("x", &json!({"errcode":"0"})).is_ok());
        assert!(check_errcode("x", &json!({"errcode":null})).is_ok());
    }

    #[test]
    fn non_zero_errcode_is_an_api_error_with_endpoint() {
        let err = check_errcode(
            "card/membercard/activatetempinfo/get",
            &json!({"errcode":72012,"errmsg":"activate_ticket has been expired rid: 64b09fbb-56b7faa9"}),
        )
        .unwrap_err();
        assert_eq!(err.errcode(), Some(72012));
        assert_eq!(err.kind(), ErrorKind::TicketExpired);
        assert_eq!(err.endpoint(), Some("card/membercard/activatetempinfo/get"));
        assert!(err.to_string().contains("72012"));
        assert!(err.is_retryable());
        let float = check_errcode("x", &json!({"errcode":40001.0})).unwrap_err();
        assert!(float.is_token_error());
        let string = check_errcode("x", &json!({"errcode":"-1"})).unwrap_err();
        assert_eq!(string.kind(), ErrorKind::SystemBusy);
        assert!(matches!(
            check_errcode("x", &json!({"errcode":"abc"})),
            Err(WechatError::Decode { .. })
        ));
    }

    #[test]
    fn errcodes_map_to_the_kinds_the_domain_acts_on() {
        let cases = [
            (-1, ErrorKind::SystemBusy),
            (40001, ErrorKind::AccessTokenInvalid),
            (40014, ErrorKind::AccessTokenInvalid),
            (42001, ErrorKind::AccessTokenInvalid),
            (45009, ErrorKind::QuotaExceeded),
            (72011, ErrorKind::InvalidTicket),
            (72012, ErrorKind::TicketExpired),
            (40056, ErrorKind::InvalidCode),
            (40099, ErrorKind::CodeConsumed),
            (40078, ErrorKind::CardNotApproved),
            (40073, ErrorKind::UnknownCard),
            (45021, ErrorKind::FieldTooLong),
            (41011, ErrorKind::MissingField),
            (40075, ErrorKind::InvalidEncryptCode),
            (40029, ErrorKind::InvalidJsCode),
            (40163, ErrorKind::InvalidJsCode),
            (40125, ErrorKind::BadCredentials),
            (99999, ErrorKind::OtherApi),
        ];
        for (code, kind) in cases {
            assert_eq!(ErrorKind::from_errcode(code), kind, "errcode {code}");
        }
        assert_eq!(ErrorKind::TicketExpired.as_str(), "ticket_expired");
        assert!(!WechatError::api("x", 40056, "").is_retryable());
        assert!(!WechatError::api("x", 72011, "").is_retryable());
    }
}
