//! WeChat's errcodes (reference §2, §11) and the simulator's own error type.

/// A WeChat error answer: HTTP 200 with `errcode` and `errmsg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WxError {
    pub errcode: i64,
    pub errmsg: String,
}

impl WxError {
    pub(crate) fn new(errcode: i64) -> Self {
        Self {
            errcode,
            errmsg: errmsg(errcode).to_owned(),
        }
    }

    /// The same errcode with a detail appended, as WeChat sometimes does (`invalid ip 1.2.3.4 …`).
    pub(crate) fn with_detail(errcode: i64, detail: &str) -> Self {
        Self {
            errcode,
            errmsg: format!("{} {detail}", errmsg(errcode)),
        }
    }
}

/// The English errmsg WeChat sends for `errcode` (reference §11, R1 WxOpenErrorMsgEnum).
pub(crate) fn errmsg(errcode: i64) -> &'static str {
    match errcode {
        -1 => "system error",
        0 => "ok",
        40001 => "invalid credential, access_token is invalid or not latest",
        40002 => "invalid grant_type",
        40003 => "invalid openid",
        40005 => "invalid file type",
        40009 => "invalid image size",
        40013 => "invalid appid",
        40014 => "invalid access_token",
        40029 => "invalid code",
        40056 => "invalid serial code",
        40071 => "invalid card type",
        40073 => "invalid card id",
        40075 => "invalid encrypt code",
        40078 => "invalid card status",
        40079 => "invalid time",
        40099 => "invalid code, this code has consumed.",
        40100 => "invalid DateInfo, Make Sure OldDateInfoType==NewDateInfoType && NewBeginTime<=OldBeginTime && OldEndTime<= NewEndTime",
        40122 => "invalid card quantity",
        40124 => "too many custom field!",
        40125 => "invalid appsecret",
        40127 => "invalid user-card status! Hint: the card was given to user, but may be deleted or expired or set unavailable !",
        40163 => "code been used",
        40164 => "invalid ip, not in whitelist",
        41001 => "access_token missing",
        41002 => "appid missing",
        41004 => "appsecret missing",
        41005 => "media data missing",
        41008 => "missing code",
        41011 => "missing required fields! please check document and request json!",
        41012 => "missing card id",
        42001 => "access_token expired",
        43001 => "require GET method",
        43002 => "require POST method",
        43009 => "can not use custom code, need authorize",
        43010 => "can not use balance, need authorize",
        44002 => "empty post data",
        45009 => "reach max api daily quota limit",
        45011 => "api minute-quota reach limit mustslower retry next minute",
        45021 => "some argument may be out of length limit!",
        45030 => "limit cardid, not support this function",
        45031 => "stock is out of limit",
        45033 => "user get card num is out of get_limit",
        47001 => "data format error",
        48001 => "api unauthorized",
        48006 => "forbid to clear quota because of reaching the limit",
        72003 => "invalid card type, need member card",
        72011 => "invalid activate_ticket.Maybe this  ticket is not belong this AppId",
        72012 => "activate_ticket has been expired",
        72016 => "unauthorized create member card",
        72026 => "need set wx_activate true",
        _ => "simulated error",
    }
}

/// Why a control-API or library call on the simulator failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// An account with this AppID (or mini-program AppID) already exists.
    #[error("an account with app id {0} already exists")]
    DuplicateAccount(String),
    /// No account has this AppID (or mini-program AppID).
    #[error("no account with app id {0}")]
    UnknownAccount(String),
    /// The account has no mini-program, so it cannot mint login codes.
    #[error("account {0} has no mini-program")]
    NoMiniProgram(String),
    /// No card has this id.
    #[error("no card {0}")]
    UnknownCard(String),
    /// No issued code has this value.
    #[error("no issued code {0}")]
    UnknownCode(String),
    /// The request is not acceptable; the message says why.
    #[error("{0}")]
    Invalid(String),
}
