//! `mini_sessions`: mini-program sessions, stored by the SHA-256 of their token.

use sea_orm::entity::prelude::*;

/// One row of `mini_sessions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mini_sessions")]
pub struct Model {
    /// Hex SHA-256 of the bearer token; the token itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// The account whose mini-program the member logged into.
    pub account_id: i64,
    /// The mini-program openid.
    pub mini_openid: String,
    /// The unionid, when WeChat gave one.
    pub unionid: Option<String>,
    /// When the session began.
    pub created_at: DateTimeUtc,
    /// When it stops being accepted.
    pub expires_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
