//! A hook for whoever counts calls to WeChat (the server's Prometheus metrics): each HTTP call with
//! its outcome and latency, and each access-token fetch. The client stays free of any metrics library.

use std::time::Duration;

use crate::error::WechatError;

/// Told about every call a [`crate::WechatClient`] makes. The default methods do nothing.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// One HTTP call to `endpoint` (e.g. `card/membercard/activate`) answered with `outcome`, after
    /// `elapsed`. Retries are separate calls.
    fn wechat_call(&self, endpoint: &str, outcome: CallOutcome, elapsed: Duration) {
        let _ = (endpoint, outcome, elapsed);
    }

    /// One access-token fetch (`cgi-bin/stable_token` or `cgi-bin/token`) succeeded or failed.
    fn token_refresh(&self, app_id: &str, succeeded: bool) {
        let _ = (app_id, succeeded);
    }
}

/// An observer that ignores everything: the default of a client.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ignore;

impl Observer for Ignore {}

/// How one HTTP call to WeChat ended, as a low-cardinality label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// `errcode` 0 or absent.
    Ok,
    /// WeChat answered with this non-zero `errcode`.
    Errcode(i64),
    /// No answer in time.
    Timeout,
    /// A connection error or an HTTP status other than 2xx.
    Transport,
    /// An answer that does not parse.
    Decode,
}

impl CallOutcome {
    /// The outcome of a call that returned `result`.
    pub fn of<T>(result: &Result<T, WechatError>) -> Self {
        match result {
            Ok(_) => CallOutcome::Ok,
            Err(WechatError::Api { errcode, .. }) => CallOutcome::Errcode(*errcode),
            Err(WechatError::Timeout { .. }) => CallOutcome::Timeout,
            Err(WechatError::Decode { .. }) => CallOutcome::Decode,
            Err(_) => CallOutcome::Transport,
        }
    }

    /// The label value: `0` for success, the errcode, or `timeout`, `transport`, `decode`.
    pub fn label(self) -> String {
        match self {
            CallOutcome::Ok => "0".to_owned(),
            CallOutcome::Errcode(code) => code.to_string(),
            CallOutcome::Timeout => "timeout".to_owned(),
            CallOutcome::Transport => "transport".to_owned(),
            CallOutcome::Decode => "decode".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_have_short_labels() {
        assert_eq!(CallOutcome::of::<()>(&Ok(())).label(), "0");
        let api = WechatError::Api {
            endpoint: "card/get".into(),
            errcode: 40001,
            errmsg: "invalid credential".into(),
        };
        assert_eq!(CallOutcome::of::<()>(&Err(api)).label(), "40001");
        let timeout = WechatError::Timeout {
            endpoint: "card/get".into(),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(CallOutcome::of::<()>(&Err(timeout)).label(), "timeout");
    }
}
