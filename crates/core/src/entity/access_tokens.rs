//! `access_tokens`: the current access token of each AppID, shared by every Kaika process, and the lease
//! that lets one process at a time refresh it.

use sea_orm::entity::prelude::*;

/// One row of `access_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_tokens")]
pub struct Model {
    /// The AppID the token belongs to.
    #[sea_orm(primary_key, auto_increment = false)]
    pub app_id: String,
    /// The token, once one has been fetched.
    pub token: Option<String>,
    /// When WeChat stops accepting it.
    pub expires_at: Option<DateTimeUtc>,
    /// When it was fetched.
    pub refreshed_at: Option<DateTimeUtc>,
    /// The process refreshing it now, if any.
    pub lease_holder: Option<String>,
    /// Until when that process may refresh it alone.
    pub lease_until: Option<DateTimeUtc>,
}

/// `access_tokens` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
