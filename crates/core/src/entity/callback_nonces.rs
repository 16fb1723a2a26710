//! `callback_nonces`: the (timestamp, nonce) of each plain-mode push within the timestamp window, with
//! the hash of the body it came with.

use sea_orm::entity::prelude::*;

/// One push's query.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "callback_nonces")]
pub struct Model {
    /// The account pushed to.
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: i64,
    /// The signed `timestamp` query parameter.
    #[sea_orm(primary_key, auto_increment = false)]
    pub timestamp: String,
    /// The signed `nonce` query parameter.
    #[sea_orm(primary_key, auto_increment = false)]
    pub nonce: String,
    /// SHA-256 of the body first seen with this query (hex).
    pub body_sha256: String,
    /// When it was first seen.
    pub seen_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
