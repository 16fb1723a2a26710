//! `admin_sessions`: logged-in admin browsers, stored by the SHA-256 of their cookie.

use sea_orm::entity::prelude::*;

/// One row of `admin_sessions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_sessions")]
pub struct Model {
    /// Hex SHA-256 of the session cookie's value.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// The admin.
    pub user_id: i64,
    /// The token every form of this session must carry.
    pub csrf_token: String,
    /// When the session started (the absolute expiry counts from here).
    pub created_at: DateTimeUtc,
    /// The last request (the idle expiry counts from here).
    pub last_seen_at: DateTimeUtc,
    /// The absolute end of the session.
    pub expires_at: DateTimeUtc,
    /// The address it logged in from.
    pub ip: Option<String>,
    /// The browser it logged in with.
    pub user_agent: Option<String>,
}

/// Followed through queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
