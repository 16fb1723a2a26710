//! `activation_params`: cached `activate/geturl` results per card and channel.

use sea_orm::entity::prelude::*;

/// One row of `activation_params`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "activation_params")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The card.
    pub card_id: i64,
    /// The channel's `outer_str` (empty for none).
    pub outer_str: String,
    /// Decoded `encrypt_card_id`.
    pub encrypt_card_id: String,
    /// Decoded `biz`, padding kept.
    pub biz: String,
    /// When WeChat answered.
    pub fetched_at: DateTimeUtc,
    /// When to ask WeChat again.
    pub expires_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
