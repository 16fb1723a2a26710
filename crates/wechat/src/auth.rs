//! Credentials: `cgi-bin/token`, `cgi-bin/stable_token` and the mini-program login
//! `sns/jscode2session` (reference §2).

use serde::{Deserialize, Serialize};

use crate::de;

/// The answer of `cgi-bin/token` and `cgi-bin/stable_token`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct AccessTokenResponse {
    /// The token (reserve ≥ 512 characters of storage).
    #[serde(deserialize_with = "de::string_or_empty")]
    pub access_token: String,
    /// Seconds of validity (currently 7200; never hard-code it).
    #[serde(deserialize_with = "de::i64_or_zero")]
    pub expires_in: i64,
}

impl std::fmt::Debug for AccessTokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokenResponse")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Body of `cgi-bin/stable_token`.
#[derive(Clone, Serialize)]
pub struct StableTokenRequest<'a> {
    /// Always `client_credential`.
    pub grant_type: &'static str,
    /// AppID.
    pub appid: &'a str,
    /// AppSecret.
    pub secret: &'a str,
    /// `true` invalidates the previous token (20 per day, ≥ 30 s apart).
    pub force_refresh: bool,
}

impl std::fmt::Debug for StableTokenRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StableTokenRequest")
            .field("appid", &self.appid)
            .field("secret", &"<redacted>")
            .field("force_refresh", &self.force_refresh)
            .finish()
    }
}

/// The answer of `sns/jscode2session`. `session_key` must never leave the server; `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct JsCodeSession {
    /// The user's **mini-program** openid (not the official-account one).
    #[serde(deserialize_with = "de::string_or_empty")]
    pub openid: String,
    /// The session key.
    #[serde(deserialize_with = "de::string_or_empty")]
    pub session_key: String,
    /// Present when the mini-program is bound to an Open Platform account.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub unionid: Option<String>,
}

impl std::fmt::Debug for JsCodeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsCodeSession")
            .field("openid", &self.openid)
            .field("session_key", &"<redacted>")
            .field("unionid", &self.unionid)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers_decode_and_hide_the_token() {
        let t: AccessTokenResponse =
            serde_json::from_str(r#"{"access_token":"ACCESS_TOKEN","expires_in":7200}"#).unwrap();
        assert_eq!(t.access_token, "ACCESS_TOKEN");
        assert_eq!(t.expires_in, 7200);
        assert!(!format!("{t:?}").contains("ACCESS_TOKEN"));
    }

    #[test]
    fn jscode2session_sample_decodes_and_hides_the_session_key() {
        let s: JsCodeSession = serde_json::from_str(
            r#"{"session_key":"nzoqhc3OnwHzeTxJs+inbQ==","openid":"oVBkZ0aYgDMDIywRdgPW8-joxXc4"}"#,
        )
        .unwrap();
        assert_eq!(s.openid, "oVBkZ0aYgDMDIywRdgPW8-joxXc4");
        assert_eq!(s.session_key, "nzoqhc3OnwHzeTxJs+inbQ==");
        assert_eq!(s.unionid, None);
        assert!(!format!("{s:?}").contains("nzoqhc3"));
    }

    #[test]
    fn stable_token_body_matches_the_reference() {
        let body = StableTokenRequest {
            grant_type: "client_credential",
            appid: "APPID",
            secret: "APPSECRET",
            force_refresh: false,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"grant_type":"client_credential","appid":"APPID","secret":"APPSECRET","force_refresh":false}"#
        );
        assert!(!format!("{body:?}").contains("APPSECRET"));
    }
}
