//! `wechat_code_states`: what the events said about one card code, kept so that their effects do not
//! depend on the order they arrive in. The row with an empty `code` holds the card's review state.

use sea_orm::entity::prelude::*;

/// One (card, code).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wechat_code_states")]
pub struct Model {
    /// The card (local id).
    #[sea_orm(primary_key, auto_increment = false)]
    pub card_id: i64,
    /// The card code; empty for the card itself.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    /// The latest `user_get_card` CreateTime (restores and gifts included).
    pub claim_time: Option<i64>,
    /// The channel of the first claim (not a restore).
    pub claim_outer_str: Option<String>,
    /// Whether the funnel's `claimed` was counted for this code.
    pub claim_counted: bool,
    /// The latest `user_del_card` (or gift-away) CreateTime.
    pub delete_time: Option<i64>,
    /// Whether the funnel's `deleted` was counted (or is not to be: a gift-away).
    pub delete_counted: bool,
    /// The CreateTime of the review event that set the card's review status.
    pub review_time: Option<i64>,
    /// Bumped by every event that locks the row.
    pub touches: i64,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
