//! The test whitelist: the testers who may take a card while it is still in WeChat's review
//! (`card/testwhitelist/set`, reference §3.2), so a merchant can try the whole journey before approval.
//!
//! WeChat knows testers by official-account openid or WeChat ID (微信号); Kaika's mini-program API only
//! sees the mini-program openid. So the whitelist keeps both: the first two are sent to WeChat, the third
//! lets those testers fetch a pending card's activation parameters from Kaika.

use kaika_wechat::card::TestWhitelistRequest;
use kaika_wechat::WechatClient;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};

use crate::accounts::AccountSummary;
use crate::audit::Actor;
use crate::clients::Clients;
use crate::entity::accounts;
use crate::CoreError;

/// Testers per list. WeChat does not document a limit; a short list is what testing needs.
pub const MAX_TESTERS: usize = 10;

/// Longest accepted entry (openids are 28 characters, WeChat IDs at most 20).
const MAX_ENTRY_CHARS: usize = 64;

/// An account's testers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TestWhitelist {
    /// Official-account openids, sent to WeChat.
    pub openids: Vec<String>,
    /// WeChat IDs (微信号), sent to WeChat.
    pub usernames: Vec<String>,
    /// The same testers' mini-program openids, kept by Kaika.
    pub mini_openids: Vec<String>,
}

impl TestWhitelist {
    /// Reads three lists from text, one entry per line or separated by commas or spaces; blank entries
    /// are dropped and duplicates kept once. Each list holds at most [`MAX_TESTERS`] entries of
    /// letters, digits, `_` and `-`.
    pub fn parse(openids: &str, usernames: &str, mini_openids: &str) -> Result<Self, CoreError> {
        Ok(Self {
            openids: entries("openids", openids)?,
            usernames: entries("usernames", usernames)?,
            mini_openids: entries("mini_openids", mini_openids)?,
        })
    }

    /// Whether a mini-program user is one of the testers.
    pub fn admits(&self, mini_openid: &str) -> bool {
        self.mini_openids.iter().any(|id| id == mini_openid)
    }
}

fn entries(field: &'static str, text: &str) -> Result<Vec<String>, CoreError> {
    let mut out: Vec<String> = Vec::new();
    for entry in text
        .split(|c: char| c == ',' || c == '，' || c.is_whitespace())
        .filter(|e| !e.is_empty())
    {
        let valid = entry.chars().count() <= MAX_ENTRY_CHARS
            && entry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(CoreError::invalid(
                field,
                format!("{entry:?} is not an openid or WeChat ID (letters, digits, _ and -)"),
            ));
        }
        if !out.iter().any(|e| e == entry) {
            out.push(entry.to_owned());
        }
    }
    if out.len() > MAX_TESTERS {
        return Err(CoreError::invalid(
            field,
            format!("at most {MAX_TESTERS} testers per list"),
        ));
    }
    Ok(out)
}

async fn account(db: &impl ConnectionTrait, account_id: i64) -> Result<accounts::Model, CoreError> {
    accounts::Entity::find_by_id(account_id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("account {account_id}"),
        })
}

/// The account's testers (empty when none were set).
pub async fn load(db: &impl ConnectionTrait, account_id: i64) -> Result<TestWhitelist, CoreError> {
    Ok(account(db, account_id)
        .await?
        .test_whitelist
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default())
}

/// Sends the testers to WeChat, then stores them. Nothing is stored when WeChat refuses.
pub async fn set(
    db: &impl ConnectionTrait,
    client: &WechatClient,
    account_id: i64,
    whitelist: &TestWhitelist,
) -> Result<(), CoreError> {
    let account = account(db, account_id).await?;
    if !whitelist.openids.is_empty() || !whitelist.usernames.is_empty() {
        client
            .set_test_whitelist(&TestWhitelistRequest {
                openid: whitelist.openids.clone(),
                username: whitelist.usernames.clone(),
            })
            .await?;
    }
    let json = serde_json::to_string(whitelist)
        .map_err(|err| CoreError::invalid("whitelist", err.to_string()))?;
    let mut row: accounts::ActiveModel = account.into();
    row.test_whitelist = Set(Some(json));
    row.update(db).await?;
    Ok(())
}

/// The whitelist form's texts, one entry per line.
#[derive(Debug, Clone, Default)]
pub struct WhitelistForm {
    /// Official-account openids.
    pub openids: String,
    /// WeChat IDs.
    pub usernames: String,
    /// Mini-program openids of the same testers.
    pub mini_openids: String,
}

impl From<&TestWhitelist> for WhitelistForm {
    fn from(list: &TestWhitelist) -> Self {
        Self {
            openids: list.openids.join("\n"),
            usernames: list.usernames.join("\n"),
            mini_openids: list.mini_openids.join("\n"),
        }
    }
}

/// Why a whitelist form was not saved.
#[derive(Debug, Clone)]
pub enum Unsaved {
    /// Odd entries or too many of them, in this field (`form` when it is none of the three).
    Entries(&'static str),
    /// WeChat (or reaching it) refused; nothing was stored.
    Refused(String),
}

/// Checks the form, sends the testers to WeChat, stores them and audits the change
/// (`account.whitelist`).
pub async fn save(
    db: &impl ConnectionTrait,
    clients: &Clients,
    account: &AccountSummary,
    form: &WhitelistForm,
    by: &Actor,
) -> Result<Result<TestWhitelist, Unsaved>, CoreError> {
    let list = match TestWhitelist::parse(&form.openids, &form.usernames, &form.mini_openids) {
        Ok(list) => list,
        Err(CoreError::Invalid { field, .. }) => {
            let field = match field {
                "openids" | "usernames" | "mini_openids" => field,
                _ => "form",
            };
            return Ok(Err(Unsaved::Entries(field)));
        }
        Err(err) => return Err(err),
    };
    let before = load(db, account.id).await?;
    let sent = match clients.official_account(&account.app_id).await {
        Ok(client) => set(db, &client, account.id, &list).await,
        Err(err) => Err(err),
    };
    match sent {
        Ok(()) => {}
        Err(err @ CoreError::Database(_)) => return Err(err),
        Err(err) => return Ok(Err(Unsaved::Refused(err.to_string()))),
    }
    let target = format!("account:{}", account.app_id);
    let (before, after) = (
        serde_json::to_value(&before).ok(),
        serde_json::to_value(&list).ok(),
    );
    by.record(db, "account.whitelist", target, before, after)
        .await?;
    Ok(Ok(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_dropping_blanks_and_duplicates() {
        let list = TestWhitelist::parse("oA1, oA2\noA1", "", "mini_1 mini_2，mini_1").unwrap();
        assert_eq!(list.openids, ["oA1", "oA2"]);
        assert!(list.usernames.is_empty());
        assert_eq!(list.mini_openids, ["mini_1", "mini_2"]);
        assert!(list.admits("mini_2"));
        assert!(!list.admits("mini_3"));
    }

    #[test]
    fn refuses_odd_entries_and_long_lists() {
        let err = TestWhitelist::parse("o<script>", "", "").unwrap_err();
        assert!(
            matches!(
                err,
                CoreError::Invalid {
                    field: "openids",
                    ..
                }
            ),
            "{err:?}"
        );
        let eleven = (0..11)
            .map(|i| format!("u{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let err = TestWhitelist::parse("", &eleven, "").unwrap_err();
        assert!(
            matches!(
                err,
                CoreError::Invalid {
                    field: "usernames",
                    ..
                }
            ),
            "{err:?}"
        );
        let long = "a".repeat(65);
        assert!(TestWhitelist::parse("", "", &long).is_err());
    }
}
