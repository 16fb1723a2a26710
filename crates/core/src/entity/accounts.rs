//! `accounts`: a WeChat official account with its mini-program. Secrets are stored sealed.

use sea_orm::entity::prelude::*;

/// One row of `accounts`. The `*_sealed` columns hold [`crate::secrets::MasterKey::seal`] output.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// A name for admins.
    pub name: String,
    /// The official account's AppID (`wx` + 16 hex characters); unique.
    #[sea_orm(unique)]
    pub app_id: String,
    /// The sealed AppSecret.
    pub app_secret_sealed: String,
    /// The callback Token configured in the WeChat console.
    pub callback_token: String,
    /// The sealed EncodingAESKey, absent for accounts in plain mode.
    pub encoding_aes_key_sealed: Option<String>,
    /// `plain`, `compatible` or `safe`.
    pub message_mode: String,
    /// The mini-program's AppID.
    pub mini_app_id: Option<String>,
    /// The mini-program's sealed AppSecret.
    pub mini_app_secret_sealed: Option<String>,
    /// Where WeChat's API is: `https://api.weixin.qq.com`, or the simulator.
    pub api_base_url: String,
    /// Whether this account is the built-in sandbox bound to the simulator.
    pub is_sandbox: bool,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row was last changed.
    pub updated_at: DateTimeUtc,
    /// The configuration error WeChat last gave for this account's token (wrong AppSecret, IP not
    /// whitelisted); cleared by the next token fetched.
    pub token_error: Option<String>,
    /// When that error was seen.
    pub token_error_at: Option<DateTimeUtc>,
    /// The testers last sent to `card/testwhitelist/set`, as JSON ([`crate::accounts::TestWhitelist`]).
    pub test_whitelist: Option<String>,
}

/// `accounts` has no relations yet.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

super::stamped!(created_at, updated_at);

impl Entity {
    /// The account with this AppID.
    pub fn find_by_app_id(app_id: &str) -> Select<Entity> {
        Self::find().filter(Column::AppId.eq(app_id))
    }
}
