//! Going live with a real account: Kaika's public address, and the checklist that tells a merchant what
//! to paste into WeChat's consoles and whether each part works.

use std::time::Duration;

use kaika_wechat::error::ErrorKind;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::accounts::{self, MessageMode};
use crate::cards;
use crate::clients::Clients;
use crate::entity::cards as card_rows;
use crate::secrets::MasterKey;
use crate::CoreError;

/// The path of the page WeChat sends members to after the activation form (the after-submit URL).
pub const ACTIVATE_PAGE_PATH: &str = "/m/activate";

/// Kaika's external address, as WeChat and members' phones reach it (`KAIKA__SERVER__PUBLIC_URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    /// Accepts an absolute `http(s)://host[:port][/prefix]` address without query or fragment; a
    /// trailing `/` is dropped.
    pub fn parse(text: &str) -> Result<Self, CoreError> {
        let text = text.trim().trim_end_matches('/');
        let invalid = |why: &str| {
            CoreError::invalid("public_url", format!("{text:?} is not a public URL: {why}"))
        };
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or_else(|| invalid("it must start with https://"))?;
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || host.contains('@') {
            return Err(invalid("it has no host"));
        }
        if text.contains(['?', '#', ' ']) {
            return Err(invalid("it may not have a query, a fragment or spaces"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The address, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is HTTPS (WeChat's server URL and the mini-program's request domain must be).
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// `https://host[:port]`: what the mini-program's request-domain list needs.
    pub fn origin(&self) -> &str {
        let scheme_end = self.0.find("://").map_or(0, |i| i + 3);
        match self.0[scheme_end..].find('/') {
            Some(slash) => &self.0[..scheme_end + slash],
            None => &self.0,
        }
    }

    /// The callback (server) URL of an account.
    pub fn callback_url(&self, app_id: &str) -> String {
        format!("{}/wechat/{app_id}/callback", self.0)
    }

    /// The after-submit URL of cards: [`ACTIVATE_PAGE_PATH`].
    pub fn activate_page_url(&self) -> String {
        format!("{}{ACTIVATE_PAGE_PATH}", self.0)
    }
}

impl std::fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How one checklist line stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    /// Works.
    Ok,
    /// Does not work; the detail says why and what to do.
    Failed,
    /// Cannot be told yet (e.g. no push has arrived).
    Unknown,
}

impl CheckState {
    /// `ok`, `failed` or `unknown`, for markup and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    /// Stable id: `public_url`, `server_url`, `message_mode`, `access_token`, `mini_program`, or
    /// `card` (one line per card).
    pub id: &'static str,
    /// What the line is about, when there are several of one id (the card's title).
    pub subject: Option<String>,
    /// How it stands.
    pub state: CheckState,
    /// One sentence: what was found, and what to do when it fails.
    pub detail: String,
    /// What to paste into WeChat's console for this line, if anything.
    pub paste: Vec<(&'static str, String)>,
}

impl CheckLine {
    fn new(id: &'static str, state: CheckState, detail: impl Into<String>) -> Self {
        Self {
            id,
            subject: None,
            state,
            detail: detail.into(),
            paste: Vec::new(),
        }
    }

    fn paste(mut self, what: &'static str, value: impl Into<String>) -> Self {
        self.paste.push((what, value.into()));
        self
    }
}

/// Checks the public URL: set, HTTPS, and answering `/healthz`.
async fn public_url_line(public_url: Option<&PublicUrl>) -> CheckLine {
    let Some(url) = public_url else {
        return CheckLine::new(
            "public_url",
            CheckState::Failed,
            "KAIKA__SERVER__PUBLIC_URL is not set: WeChat needs Kaika's HTTPS address for the server \
             URL and for the page members reach after the activation form",
        );
    };
    let probe = async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let response = client
            .get(format!("{url}/healthz"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("it answered {}", response.status()))
        }
    };
    match (url.is_https(), probe.await) {
        (true, Ok(())) => CheckLine::new(
            "public_url",
            CheckState::Ok,
            format!("{url} answers over HTTPS"),
        ),
        (false, _) => CheckLine::new(
            "public_url",
            CheckState::Failed,
            format!(
                "{url} is not HTTPS: WeChat calls server URLs and mini-programs request domains \
                 over HTTPS only; put Kaika behind an HTTPS reverse proxy and set the https:// address"
            ),
        ),
        (true, Err(why)) => CheckLine::new(
            "public_url",
            CheckState::Failed,
            format!("{url}/healthz does not answer from here ({why}): check DNS, the proxy and its certificate"),
        ),
    }
}

/// The whole checklist of one account. It calls WeChat (a token, `card/get` per card) and the public
/// URL, so it takes as long as they do; nothing in it changes data except the review status of cards,
/// refreshed from `card/get` on the way.
pub async fn checklist(
    db: &DatabaseConnection,
    key: &MasterKey,
    clients: &Clients,
    app_id: &str,
    public_url: Option<&PublicUrl>,
) -> Result<Vec<CheckLine>, CoreError> {
    let account = accounts::load(db, key, app_id).await?;
    let summary = &account.summary;
    let mut lines = vec![public_url_line(public_url).await];

    let callback_url = public_url.map_or_else(
        || format!("(set KAIKA__SERVER__PUBLIC_URL)/wechat/{app_id}/callback"),
        |url| url.callback_url(app_id),
    );
    let last_push = crate::events::last_push(db, summary.id).await?;
    let refusals = crate::events::refusals(db, summary.id).await?;
    let latest_refusal = refusals
        .first()
        .filter(|r| last_push.as_ref().is_none_or(|p| r.last_at > p.received_at));
    let server_line = match (&last_push, latest_refusal) {
        (_, Some(refusal)) => CheckLine::new(
            "server_url",
            CheckState::Failed,
            format!(
                "the last callback request was refused: {} ({} times, last {}): {}",
                refusal_cause(&refusal.code),
                refusal.count,
                refusal.last_at.format("%Y-%m-%d %H:%M UTC"),
                refusal.last_message
            ),
        ),
        (Some(push), None) => CheckLine::new(
            "server_url",
            CheckState::Ok,
            format!(
                "the last push arrived {} and passed verification",
                push.received_at.format("%Y-%m-%d %H:%M UTC")
            ),
        ),
        (None, None) => CheckLine::new(
            "server_url",
            CheckState::Unknown,
            "no push has arrived yet: WeChat sends one when a member takes a card",
        ),
    };
    lines.push(
        server_line
            .paste("server_url", callback_url)
            .paste("token", account.callback_token.clone()),
    );

    let mode = MessageMode::parse(&summary.message_mode)?;
    let mode_line = if mode != MessageMode::Plain && account.encoding_aes_key.is_none() {
        CheckLine::new(
            "message_mode",
            CheckState::Failed,
            format!(
                "Kaika is set to {} mode but has no EncodingAESKey: paste the console's key into the account",
                mode.as_str()
            ),
        )
    } else {
        match last_push.as_ref().and_then(|p| p.encrypted) {
            Some(true) if mode == MessageMode::Plain => CheckLine::new(
                "message_mode",
                CheckState::Failed,
                "WeChat sends encrypted pushes but Kaika is set to plain mode: pushes are accepted, \
                 set the mode to the console's (compatible or safe) so the checklist and replies agree",
            ),
            Some(false) if mode != MessageMode::Plain => CheckLine::new(
                "message_mode",
                CheckState::Failed,
                format!(
                    "WeChat sends plain pushes but Kaika is set to {} mode: pushes are accepted, but \
                     plain mode does not sign the body; choose safe mode in WeChat's console",
                    mode.as_str()
                ),
            ),
            Some(_) => CheckLine::new(
                "message_mode",
                CheckState::Ok,
                format!("pushes arrive as {} mode expects", mode.as_str()),
            ),
            None => CheckLine::new(
                "message_mode",
                CheckState::Unknown,
                format!(
                    "Kaika is set to {} mode; no push has arrived to compare",
                    mode.as_str()
                ),
            ),
        }
    };
    lines.push(mode_line.paste("message_mode", mode.as_str()));

    let client = clients.official_account(app_id).await?;
    let token_line = match client.access_token().await {
        Ok(_) => CheckLine::new(
            "access_token",
            CheckState::Ok,
            "WeChat hands out access tokens to this server",
        ),
        Err(err) => CheckLine::new("access_token", CheckState::Failed, token_advice(&err)),
    };
    lines.push(token_line);

    lines.push(match (&summary.mini_app_id, public_url) {
        (None, _) => CheckLine::new(
            "mini_program",
            CheckState::Failed,
            "no mini-program is set: members open cards from the mini-program, so add its AppID and \
             AppSecret to the account",
        ),
        (Some(mini), Some(url)) => CheckLine::new(
            "mini_program",
            CheckState::Ok,
            format!("mini-program {mini}: add Kaika's address to its request domains (request合法域名)"),
        )
        .paste("request_domain", url.origin()),
        (Some(mini), None) => CheckLine::new(
            "mini_program",
            CheckState::Unknown,
            format!("mini-program {mini}: its request domain is Kaika's public URL, which is not set"),
        ),
    });

    let cards = card_rows::Entity::find()
        .filter(card_rows::Column::AccountId.eq(summary.id))
        .order_by_asc(card_rows::Column::Id)
        .all(db)
        .await?;
    for card in cards {
        lines.push(card_line(db, &client, &card, public_url).await);
    }
    Ok(lines)
}

/// One card: where it is in review (refreshed from `card/get`) and whether its after-submit URL is
/// Kaika's activation page.
async fn card_line(
    db: &DatabaseConnection,
    client: &kaika_wechat::WechatClient,
    card: &card_rows::Model,
    public_url: Option<&PublicUrl>,
) -> CheckLine {
    let mut line = CheckLine::new("card", CheckState::Unknown, String::new());
    line.subject = Some(card.title.clone());
    let detail = match client.get_card(&card.wechat_card_id).await {
        Ok(detail) => detail,
        Err(err) => {
            line.state = CheckState::Failed;
            line.detail = format!("card/get failed: {err}");
            return line;
        }
    };
    let expected = public_url.map(PublicUrl::activate_page_url);
    let actual = detail
        .member_card
        .as_ref()
        .and_then(|member_card| member_card.wx_activate_after_submit_url.as_deref());
    let url_problem = match (actual, &expected) {
        (None, _) => Some("it has no after-submit URL, so the component returns nothing to the mini-program".to_owned()),
        (Some(actual), Some(expected)) if actual != expected => Some(format!(
            "its after-submit URL is {actual}, not {expected}: members who activate from the card bag land elsewhere"
        )),
        _ => None,
    };
    let review = cards::record_review(db, card, &detail).await;
    (line.state, line.detail) = match (review, url_problem) {
        (Err(err), _) => (CheckState::Failed, format!("card/get failed: {err}")),
        (Ok(_), Some(problem)) => (CheckState::Failed, problem),
        (Ok(cards::ReviewCheck::Approved), None) => (
            CheckState::Ok,
            "approved; the after-submit URL is Kaika's activation page".to_owned(),
        ),
        (Ok(cards::ReviewCheck::Pending), None) => (
            CheckState::Unknown,
            "in WeChat's review (up to 3 working days); testers on the whitelist can open it now"
                .to_owned(),
        ),
        (Ok(cards::ReviewCheck::Refused(reason)), None) => (CheckState::Failed, reason),
        (Ok(cards::ReviewCheck::Other(status)), None) => (
            CheckState::Failed,
            format!("WeChat reports the card as {status}"),
        ),
    };
    if let Some(expected) = expected {
        line.paste.push(("after_submit_url", expected));
    }
    line
}

/// What a refusal code means to a merchant.
pub fn refusal_cause(code: &str) -> &'static str {
    match code {
        "invalid_signature" => "the signature does not match: the Token differs from the console's",
        "mode_mismatch" => "WeChat encrypts but the account has no EncodingAESKey",
        "app_id_mismatch" => "the message was encrypted for another AppID",
        "decrypt_failed" => "the EncodingAESKey differs from the console's",
        "stale_timestamp" => "the timestamp is outside the window: check this server's clock",
        "replayed_nonce" => "a signed query came again with another body (a replay)",
        _ => "the request was malformed",
    }
}

/// What to do about a failed token fetch.
pub fn token_advice(wechat: &kaika_wechat::error::WechatError) -> String {
    match wechat.kind() {
        ErrorKind::BadCredentials => format!(
            "WeChat refused the AppID or AppSecret ({wechat}): copy the AppSecret again from the \
             console (开发 › 基本配置) into the account"
        ),
        ErrorKind::IpNotWhitelisted => format!(
            "WeChat refused this server's IP ({wechat}): add the IP WeChat saw to the IP whitelist \
             (开发 › 基本配置 › IP白名单)"
        ),
        _ => format!("no token: {wechat}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_absolute_and_lose_their_trailing_slash() {
        let url = PublicUrl::parse(" https://cards.example.com/kaika/ ").unwrap();
        assert_eq!(url.as_str(), "https://cards.example.com/kaika");
        assert!(url.is_https());
        assert_eq!(url.origin(), "https://cards.example.com");
        assert_eq!(
            url.activate_page_url(),
            "https://cards.example.com/kaika/m/activate"
        );
        assert_eq!(
            url.callback_url("wx1"),
            "https://cards.example.com/kaika/wechat/wx1/callback"
        );
        assert!(!PublicUrl::parse("http://127.0.0.1:8080")
            .unwrap()
            .is_https());
        for bad in [
            "cards.example.com",
            "ftp://x",
            "https://",
            "https://a/b?c=d",
            "https://u@h",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
