//! `admin_login_failures`: failed admin logins, counted per username and per address to slow guessing.

use sea_orm::entity::prelude::*;

/// One failed login.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_login_failures")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The username tried (lower-cased).
    pub username: String,
    /// The client address.
    pub ip: String,
    /// When.
    pub created_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

super::stamped!(created_at);
