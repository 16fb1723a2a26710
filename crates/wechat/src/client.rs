//! [`WechatClient`]: one AppID's typed calls, with the access token in the query string, one forced
//! token refresh and retry on 40001/40014/42001, and bounded exponential back-off on -1.
//!
//! One client serves one AppID: the official account for the card APIs, the mini-program for
//! `jscode2session` and `getwxacodeunlimit`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::auth::{AccessTokenResponse, JsCodeSession, StableTokenRequest};
use crate::card::{
    ActivateUserFormRequest, BatchGetRequest, BatchGetResponse, CardDetail, CreateCardRequest,
    MemberCard, MemberCardUpdate, TestWhitelistRequest, UpdateCardRequest,
};
use crate::error::{body_prefix, check_errcode, ErrorKind, WechatError};
use crate::geturl::ActivationParams;
use crate::limits;
use crate::membercard::{
    ActivateRequest, CodeGetRequest, CodeInfo, FormAnswers, GetUrlRequest, MemberUserInfo,
    UpdateUserRequest, UpdateUserResponse,
};
use crate::observe::{CallOutcome, Ignore, Observer};
use crate::token::{TokenCache, TokenConfig, TokenFetcher, TokenStore};

/// WeChat's production API base URL.
pub const PRODUCTION_BASE_URL: &str = "https://api.weixin.qq.com";

/// Which endpoint issues access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenEndpoint {
    /// `POST cgi-bin/stable_token`: repeated calls return the same token, so other services of the
    /// same AppID are not logged out (reference §2.2). Forced refresh only after a rejection.
    #[default]
    Stable,
    /// `GET cgi-bin/token`: every call invalidates the previous token (reference §2.1).
    Classic,
}

/// Client settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Whole-request timeout (default 10 s).
    pub timeout: Duration,
    /// Token endpoint (default [`TokenEndpoint::Stable`]).
    pub token_endpoint: TokenEndpoint,
    /// Retries after errcode -1 (default 3; WxJava uses up to 5).
    pub busy_retries: u32,
    /// First back-off delay after -1, doubled each retry (default 1 s).
    pub busy_base_delay: Duration,
    /// Longest back-off delay (default 8 s).
    pub busy_max_delay: Duration,
    /// Token cache timing.
    pub token: TokenConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            token_endpoint: TokenEndpoint::default(),
            busy_retries: 3,
            busy_base_delay: Duration::from_secs(1),
            busy_max_delay: Duration::from_secs(8),
            token: TokenConfig::default(),
        }
    }
}

impl ClientConfig {
    /// The delay before busy retry number `attempt` (0-based): `base × 2^attempt`, capped.
    pub fn busy_delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt);
        self.busy_base_delay
            .saturating_mul(factor)
            .min(self.busy_max_delay)
    }
}

/// The raw HTTP layer shared by the client and its token fetcher. Holds the secret; `Debug` hides it.
struct Transport {
    http: reqwest::Client,
    base_url: String,
    app_id: String,
    app_secret: String,
    config: ClientConfig,
    observer: Arc<dyn Observer>,
}

enum Body {
    None,
    Json(Vec<u8>),
    Image {
        file_name: String,
        content_type: String,
        bytes: Vec<u8>,
    },
}

enum Reply {
    Json(serde_json::Value),
    Binary {
        content_type: String,
        bytes: Vec<u8>,
    },
}

impl Transport {
    fn url(&self, endpoint: &str) -> String {
        format!("{}/{}", self.base_url, endpoint)
    }

    /// Sends one request and classifies the answer, telling the observer. Never retries.
    async fn send(
        &self,
        endpoint: &str,
        query: &[(&str, &str)],
        body: &Body,
    ) -> Result<Reply, WechatError> {
        let started = Instant::now();
        let result = self.send_unobserved(endpoint, query, body).await;
        self.observer
            .wechat_call(endpoint, CallOutcome::of(&result), started.elapsed());
        result
    }

    async fn send_unobserved(
        &self,
        endpoint: &str,
        query: &[(&str, &str)],
        body: &Body,
    ) -> Result<Reply, WechatError> {
        let mut url = self.url(endpoint);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&urlencoding::encode(v));
        }
        let request = match body {
            Body::None => self.http.get(&url),
            Body::Json(bytes) => self
                .http
                .post(&url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/json; charset=utf-8",
                )
                .body(bytes.clone()),
            Body::Image {
                file_name,
                content_type,
                bytes,
            } => {
                let part = reqwest::multipart::Part::bytes(bytes.clone())
                    .file_name(file_name.clone())
                    .mime_str(content_type)
                    .map_err(|e| {
                        WechatError::Config(format!("bad content type: {}", e.without_url()))
                    })?;
                self.http
                    .post(&url)
                    .multipart(reqwest::multipart::Form::new().part("buffer", part))
            }
        };
        // The URL carries the access token or the AppSecret: strip it from every error.
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(endpoint, e))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(endpoint, e))?;
        if !status.is_success() {
            return Err(WechatError::HttpStatus {
                endpoint: endpoint.to_owned(),
                status: status.as_u16(),
                body_prefix: body_prefix(&bytes),
            });
        }
        let looks_json = content_type.contains("json")
            || content_type.starts_with("text/")
            || bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !looks_json {
            return Ok(Reply::Binary {
                content_type,
                bytes: bytes.to_vec(),
            });
        }
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| WechatError::decode(endpoint, e.to_string(), &bytes))?;
        if !value.is_object() {
            return Err(WechatError::decode(
                endpoint,
                "expected a JSON object",
                &bytes,
            ));
        }
        check_errcode(endpoint, &value)?;
        tracing::debug!(endpoint, "WeChat call succeeded");
        Ok(Reply::Json(value))
    }

    fn transport_error(&self, endpoint: &str, e: reqwest::Error) -> WechatError {
        if e.is_timeout() {
            WechatError::Timeout {
                endpoint: endpoint.to_owned(),
                timeout: self.config.timeout,
            }
        } else {
            WechatError::Transport {
                endpoint: endpoint.to_owned(),
                source: e.without_url(),
            }
        }
    }

    /// Retries errcode -1 with bounded exponential back-off.
    async fn send_with_busy_retry(
        &self,
        endpoint: &str,
        query: &[(&str, &str)],
        body: &Body,
    ) -> Result<Reply, WechatError> {
        let mut attempt = 0;
        loop {
            match self.send(endpoint, query, body).await {
                Err(e)
                    if e.kind() == ErrorKind::SystemBusy && attempt < self.config.busy_retries =>
                {
                    let delay = self.config.busy_delay(attempt);
                    tracing::warn!(endpoint, attempt, ?delay, "WeChat busy (-1); retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn fetch_classic_token(&self) -> Result<AccessTokenResponse, WechatError> {
        let endpoint = "cgi-bin/token";
        let query = [
            ("grant_type", "client_credential"),
            ("appid", self.app_id.as_str()),
            ("secret", self.app_secret.as_str()),
        ];
        let reply = self
            .send_with_busy_retry(endpoint, &query, &Body::None)
            .await?;
        decode_json(endpoint, reply)
    }

    async fn fetch_stable_token(
        &self,
        force_refresh: bool,
    ) -> Result<AccessTokenResponse, WechatError> {
        let endpoint = "cgi-bin/stable_token";
        let body = StableTokenRequest {
            grant_type: "client_credential",
            appid: &self.app_id,
            secret: &self.app_secret,
            force_refresh,
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| WechatError::Config(e.to_string()))?;
        let reply = self
            .send_with_busy_retry(endpoint, &[], &Body::Json(bytes))
            .await?;
        decode_json(endpoint, reply)
    }
}

fn decode_json<T: DeserializeOwned>(endpoint: &str, reply: Reply) -> Result<T, WechatError> {
    match reply {
        Reply::Json(value) => serde_json::from_value(value)
            .map_err(|e| WechatError::decode(endpoint, e.to_string(), b"")),
        Reply::Binary {
            content_type,
            bytes,
        } => Err(WechatError::decode(
            endpoint,
            format!("expected JSON, got {content_type}"),
            &bytes,
        )),
    }
}

#[async_trait]
impl TokenFetcher for Transport {
    async fn fetch(&self, force_refresh: bool) -> Result<AccessTokenResponse, WechatError> {
        let fetched = match self.config.token_endpoint {
            TokenEndpoint::Stable => self.fetch_stable_token(force_refresh).await,
            TokenEndpoint::Classic => self.fetch_classic_token().await,
        };
        self.observer.token_refresh(&self.app_id, fetched.is_ok());
        fetched
    }
}

/// An image answered by `wxa/getwxacodeunlimit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WxaCodeImage {
    /// The `Content-Type` WeChat sent (e.g. `image/jpeg`).
    pub content_type: String,
    /// The image.
    pub bytes: Vec<u8>,
}

/// `wxa/getwxacodeunlimit` request (mini-program code for unlimited scenes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WxaCodeRequest {
    /// Up to 32 visible characters passed to the page as `scene`.
    pub scene: String,
    /// Page path (no leading slash); default the home page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// Check that `page` exists (default true at WeChat).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_path: Option<bool>,
    /// `release`, `trial` or `develop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_version: Option<String>,
    /// Width in pixels (280–1280).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Automatic line colour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_color: Option<bool>,
    /// Transparent background.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_hyaline: Option<bool>,
}

#[derive(Deserialize)]
struct CardIdReply {
    #[serde(default, deserialize_with = "crate::de::string_or_empty")]
    card_id: String,
}

#[derive(Deserialize)]
struct UrlReply {
    #[serde(default, deserialize_with = "crate::de::string_or_empty")]
    url: String,
}

#[derive(Deserialize)]
struct CodeReply {
    #[serde(default, deserialize_with = "crate::de::string_or_empty")]
    code: String,
}

#[derive(Deserialize)]
struct TempInfoReply {
    #[serde(default)]
    info: FormAnswers,
}

#[derive(Deserialize)]
struct SendCheckReply {
    #[serde(default, deserialize_with = "crate::de::bool_or_false")]
    send_check: bool,
}

#[derive(Deserialize)]
struct Empty {}

/// A typed client for one AppID. Cheap to clone.
#[derive(Clone)]
pub struct WechatClient {
    transport: Arc<Transport>,
    tokens: Arc<TokenCache>,
}

impl std::fmt::Debug for WechatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatClient")
            .field("base_url", &self.transport.base_url)
            .field("app_id", &self.transport.app_id)
            .field("app_secret", &"<redacted>")
            .field("config", &self.transport.config)
            .finish()
    }
}

impl WechatClient {
    /// A client with default settings. `base_url` is [`PRODUCTION_BASE_URL`] in production or a
    /// simulator such as `http://127.0.0.1:PORT/sim`.
    pub fn new(
        base_url: impl Into<String>,
        app_id: impl Into<String>,
        app_secret: impl Into<String>,
        token_store: Arc<dyn TokenStore>,
    ) -> Result<Self, WechatError> {
        Self::with_config(
            base_url,
            app_id,
            app_secret,
            token_store,
            ClientConfig::default(),
        )
    }

    /// A client with explicit settings.
    pub fn with_config(
        base_url: impl Into<String>,
        app_id: impl Into<String>,
        app_secret: impl Into<String>,
        token_store: Arc<dyn TokenStore>,
        config: ClientConfig,
    ) -> Result<Self, WechatError> {
        Self::observed(
            base_url,
            app_id,
            app_secret,
            token_store,
            config,
            Arc::new(Ignore),
        )
    }

    /// A client with explicit settings that tells `observer` about every call and token fetch.
    pub fn observed(
        base_url: impl Into<String>,
        app_id: impl Into<String>,
        app_secret: impl Into<String>,
        token_store: Arc<dyn TokenStore>,
        config: ClientConfig,
        observer: Arc<dyn Observer>,
    ) -> Result<Self, WechatError> {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(WechatError::Config(format!(
                "base URL must start with http:// or https://, got {base_url:?}"
            )));
        }
        let app_id = app_id.into();
        if app_id.is_empty() {
            return Err(WechatError::Config("app id is empty".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| WechatError::Config(e.to_string()))?;
        let transport = Arc::new(Transport {
            http,
            base_url,
            app_id: app_id.clone(),
            app_secret: app_secret.into(),
            config: config.clone(),
            observer,
        });
        let tokens = Arc::new(TokenCache::new(
            app_id,
            token_store,
            transport.clone(),
            config.token,
        ));
        Ok(Self { transport, tokens })
    }

    /// The AppID.
    pub fn app_id(&self) -> &str {
        &self.transport.app_id
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.transport.base_url
    }

    /// The token cache (to force a refresh or inspect it).
    pub fn token_cache(&self) -> &TokenCache {
        &self.tokens
    }

    /// The current access token, refreshed if due.
    pub async fn access_token(&self) -> Result<String, WechatError> {
        self.tokens.access_token().await
    }

    /// `GET cgi-bin/token`, uncached. Prefer [`Self::access_token`].
    pub async fn fetch_token(&self) -> Result<AccessTokenResponse, WechatError> {
        self.transport.fetch_classic_token().await
    }

    /// `POST cgi-bin/stable_token`, uncached. Prefer [`Self::access_token`].
    pub async fn fetch_stable_token(
        &self,
        force_refresh: bool,
    ) -> Result<AccessTokenResponse, WechatError> {
        self.transport.fetch_stable_token(force_refresh).await
    }

    /// Runs an authenticated call: token in the query, one forced refresh and retry on a token
    /// error, back-off on -1 when `retry_busy`.
    async fn authed(
        &self,
        endpoint: &'static str,
        body: Body,
        retry_busy: bool,
    ) -> Result<Reply, WechatError> {
        let mut token = self.tokens.access_token().await?;
        let mut refreshed = false;
        loop {
            let query = [("access_token", token.as_str())];
            let result = if retry_busy {
                self.transport
                    .send_with_busy_retry(endpoint, &query, &body)
                    .await
            } else {
                self.transport.send(endpoint, &query, &body).await
            };
            match result {
                Err(e) if e.is_token_error() && !refreshed => {
                    tracing::warn!(endpoint, errcode = ?e.errcode(), "access token refused; refreshing once");
                    refreshed = true;
                    token = self.tokens.invalidate_and_refresh(&token).await?;
                }
                other => return other,
            }
        }
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        body: &B,
        retry_busy: bool,
    ) -> Result<T, WechatError> {
        let bytes = serde_json::to_vec(body).map_err(|e| WechatError::Config(e.to_string()))?;
        let reply = self.authed(endpoint, Body::Json(bytes), retry_busy).await?;
        decode_json(endpoint, reply)
    }

    /// `GET sns/jscode2session`: exchanges a mini-program `wx.login` code (this client must be the
    /// mini-program's).
    pub async fn jscode2session(&self, js_code: &str) -> Result<JsCodeSession, WechatError> {
        let endpoint = "sns/jscode2session";
        let t = &self.transport;
        let query = [
            ("appid", t.app_id.as_str()),
            ("secret", t.app_secret.as_str()),
            ("js_code", js_code),
            ("grant_type", "authorization_code"),
        ];
        let reply = t
            .send_with_busy_retry(endpoint, &query, &Body::None)
            .await?;
        decode_json(endpoint, reply)
    }

    /// `POST cgi-bin/media/uploadimg` (multipart field `buffer`): returns the CDN URL to use as
    /// `logo_url` or `background_pic_url`.
    pub async fn upload_image(
        &self,
        file_name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, WechatError> {
        let endpoint = "cgi-bin/media/uploadimg";
        let body = Body::Image {
            file_name: file_name.to_owned(),
            content_type: content_type.to_owned(),
            bytes,
        };
        let reply: UrlReply = decode_json(endpoint, self.authed(endpoint, body, true).await?)?;
        non_empty(endpoint, "url", reply.url)
    }

    /// `POST card/create` for a MEMBER_CARD, after the local length checks: returns the card id.
    pub async fn create_member_card(&self, card: &MemberCard) -> Result<String, WechatError> {
        limits::check_member_card(card).map_err(WechatError::Validation)?;
        let endpoint = "card/create";
        let reply: CardIdReply = self
            .post(endpoint, &CreateCardRequest::member_card(card), false)
            .await?;
        non_empty(endpoint, "card_id", reply.card_id)
    }

    /// `POST card/get`.
    pub async fn get_card(&self, card_id: &str) -> Result<CardDetail, WechatError> {
        let endpoint = "card/get";
        let value: serde_json::Value = self
            .post(endpoint, &serde_json::json!({ "card_id": card_id }), true)
            .await?;
        let raw = value
            .get("card")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        let card_type = raw
            .get("card_type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let member_card = match raw.get("member_card") {
            Some(mc) if !mc.is_null() => Some(
                serde_json::from_value(mc.clone())
                    .map_err(|e| WechatError::decode(endpoint, e.to_string(), b""))?,
            ),
            _ => None,
        };
        Ok(CardDetail {
            card_type,
            member_card,
            raw,
        })
    }

    /// `POST card/batchget` (count ≤ 50).
    pub async fn batch_get_cards(
        &self,
        request: &BatchGetRequest,
    ) -> Result<BatchGetResponse, WechatError> {
        if request.count > limits::MAX_BATCHGET_COUNT {
            return Err(WechatError::Validation(vec![limits::FieldTooLong {
                field: "count".into(),
                max: limits::MAX_BATCHGET_COUNT as usize,
                actual: request.count as usize,
            }]));
        }
        self.post("card/batchget", request, true).await
    }

    /// `POST card/update`: returns `send_check` (true = the changes go back to review).
    pub async fn update_card(
        &self,
        card_id: &str,
        changes: &MemberCardUpdate,
    ) -> Result<bool, WechatError> {
        if let Some(base) = &changes.base_info {
            let mut errors = Vec::new();
            for (limit, value) in [
                (limits::TITLE, &base.title),
                (limits::NOTICE, &base.notice),
                (limits::DESCRIPTION, &base.description),
            ] {
                if let Some(Err(e)) = value.as_deref().map(|v| limit.check(v)) {
                    errors.push(e);
                }
            }
            if !errors.is_empty() {
                return Err(WechatError::Validation(errors));
            }
        }
        let body = UpdateCardRequest {
            card_id,
            member_card: changes,
        };
        let reply: SendCheckReply = self.post("card/update", &body, false).await?;
        Ok(reply.send_check)
    }

    /// `POST card/delete`.
    pub async fn delete_card(&self, card_id: &str) -> Result<(), WechatError> {
        let _: Empty = self
            .post(
                "card/delete",
                &serde_json::json!({ "card_id": card_id }),
                false,
            )
            .await?;
        Ok(())
    }

    /// `POST card/testwhitelist/set`: replaces the account's testers.
    pub async fn set_test_whitelist(
        &self,
        request: &TestWhitelistRequest,
    ) -> Result<(), WechatError> {
        let _: Empty = self.post("card/testwhitelist/set", request, true).await?;
        Ok(())
    }

    /// `POST card/membercard/activateuserform/set`, after the local checks.
    pub async fn set_activate_user_form(
        &self,
        form: &ActivateUserFormRequest,
    ) -> Result<(), WechatError> {
        limits::check_user_form(form).map_err(WechatError::Validation)?;
        let _: Empty = self
            .post("card/membercard/activateuserform/set", form, true)
            .await?;
        Ok(())
    }

    /// `POST card/membercard/activate/geturl`: the raw URL.
    pub async fn activate_geturl(
        &self,
        card_id: &str,
        outer_str: Option<&str>,
    ) -> Result<String, WechatError> {
        let endpoint = "card/membercard/activate/geturl";
        let reply: UrlReply = self
            .post(endpoint, &GetUrlRequest { card_id, outer_str }, true)
            .await?;
        non_empty(endpoint, "url", reply.url)
    }

    /// `activate/geturl` parsed into the component's `extraData` (reference §5).
    pub async fn activation_params(
        &self,
        card_id: &str,
        outer_str: Option<&str>,
    ) -> Result<ActivationParams, WechatError> {
        let url = self.activate_geturl(card_id, outer_str).await?;
        ActivationParams::from_url(&url).map_err(|e| {
            WechatError::decode(
                "card/membercard/activate/geturl",
                e.to_string(),
                url.as_bytes(),
            )
        })
    }

    /// `POST card/code/decrypt`: the plain code. The encrypted code is sent exactly as received.
    pub async fn decrypt_code(&self, encrypt_code: &str) -> Result<String, WechatError> {
        let endpoint = "card/code/decrypt";
        let reply: CodeReply = self
            .post(
                endpoint,
                &serde_json::json!({ "encrypt_code": encrypt_code }),
                true,
            )
            .await?;
        non_empty(endpoint, "code", reply.code)
    }

    /// `POST card/membercard/activatetempinfo/get`: the form answers behind an `activate_ticket`.
    /// 72011/72012 come back as [`ErrorKind::InvalidTicket`] / [`ErrorKind::TicketExpired`].
    pub async fn activate_temp_info(
        &self,
        activate_ticket: &str,
    ) -> Result<FormAnswers, WechatError> {
        let reply: TempInfoReply = self
            .post(
                "card/membercard/activatetempinfo/get",
                &serde_json::json!({ "activate_ticket": activate_ticket }),
                true,
            )
            .await?;
        Ok(reply.info)
    }

    /// `POST card/membercard/activate`. Not idempotent at WeChat and never retried on -1 here
    /// (reference Appendix B): after a timeout or -1, ask [`Self::member_user_info`] whether it
    /// took effect.
    pub async fn activate_member_card(&self, request: &ActivateRequest) -> Result<(), WechatError> {
        limits::check_activate(request).map_err(WechatError::Validation)?;
        let _: Empty = self
            .post("card/membercard/activate", request, false)
            .await?;
        Ok(())
    }

    /// `POST card/code/get`.
    pub async fn get_code(&self, request: &CodeGetRequest<'_>) -> Result<CodeInfo, WechatError> {
        self.post("card/code/get", request, true).await
    }

    /// `POST card/membercard/userinfo/get`.
    pub async fn member_user_info(
        &self,
        card_id: &str,
        code: &str,
    ) -> Result<MemberUserInfo, WechatError> {
        self.post(
            "card/membercard/userinfo/get",
            &serde_json::json!({ "card_id": card_id, "code": code }),
            true,
        )
        .await
    }

    /// `POST card/membercard/updateuser`. Retried on -1 only when the request carries absolute
    /// `bonus`/`balance` for every delta it sends (so a repeat cannot double-apply).
    pub async fn update_member_user(
        &self,
        request: &UpdateUserRequest,
    ) -> Result<UpdateUserResponse, WechatError> {
        limits::check_update_user(request).map_err(WechatError::Validation)?;
        let absolute = (request.add_bonus.is_none() || request.bonus.is_some())
            && (request.add_balance.is_none() || request.balance.is_some());
        self.post("card/membercard/updateuser", request, absolute)
            .await
    }

    /// `POST wxa/getwxacodeunlimit` (this client must be the mini-program's): the image, or the
    /// JSON error as a [`WechatError`].
    pub async fn wxa_code_unlimited(
        &self,
        request: &WxaCodeRequest,
    ) -> Result<WxaCodeImage, WechatError> {
        let endpoint = "wxa/getwxacodeunlimit";
        let bytes = serde_json::to_vec(request).map_err(|e| WechatError::Config(e.to_string()))?;
        match self.authed(endpoint, Body::Json(bytes), true).await? {
            Reply::Binary {
                content_type,
                bytes,
            } if !bytes.is_empty() => Ok(WxaCodeImage {
                content_type,
                bytes,
            }),
            Reply::Binary { .. } => Err(WechatError::decode(endpoint, "empty image", b"")),
            Reply::Json(v) => Err(WechatError::decode(
                endpoint,
                "expected an image, got JSON without errcode",
                v.to_string().as_bytes(),
            )),
        }
    }
}

fn non_empty(endpoint: &str, field: &str, value: String) -> Result<String, WechatError> {
    if value.is_empty() {
        Err(WechatError::decode(
            endpoint,
            format!("missing {field}"),
            b"",
        ))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;
