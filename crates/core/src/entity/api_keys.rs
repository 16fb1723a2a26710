//! `api_keys`: keys of the integration API, stored as their SHA-256 only.

use sea_orm::entity::prelude::*;

/// One key. The key itself is shown once at creation and never stored.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What the key is for, e.g. "till-shop-1".
    pub name: String,
    /// The key's first characters, to recognise it in lists and logs.
    pub key_prefix: String,
    /// Hex SHA-256 of the key.
    pub key_hash: String,
    /// Space-separated scopes (`members:read ledger:read ledger:write`).
    pub scopes: String,
    /// Who created it.
    pub created_by: String,
    /// When it was created.
    pub created_at: DateTimeUtc,
    /// When it last authenticated a request (updated at most once a minute).
    pub last_used_at: Option<DateTimeUtc>,
    /// When it was revoked; a revoked key authenticates nothing.
    pub revoked_at: Option<DateTimeUtc>,
}

/// `api_keys` has no navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

super::stamped!(created_at);
