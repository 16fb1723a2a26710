//! `callback_refusals`: per account and refusal code, how many callback requests were refused, when and
//! why. One row per code, so forged requests cannot grow it.

use sea_orm::entity::prelude::*;

/// The refusals of one code at one account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "callback_refusals")]
pub struct Model {
    /// The account whose callback URL was called.
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: i64,
    /// The stable refusal code, e.g. `invalid_signature`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    /// How many requests were refused with it.
    pub count: i64,
    /// The last refusal's message.
    pub last_message: String,
    /// When it was first refused.
    pub first_at: DateTimeUtc,
    /// When it was last refused.
    pub last_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
