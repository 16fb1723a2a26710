//! `channel_daily_stats`: the funnel per card, channel and day.

use sea_orm::entity::prelude::*;

/// One row of `channel_daily_stats`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_daily_stats")]
pub struct Model {
    /// The card.
    #[sea_orm(primary_key, auto_increment = false)]
    pub card_id: i64,
    /// The channel's `outer_str` (empty for none).
    #[sea_orm(primary_key, auto_increment = false)]
    pub outer_str: String,
    /// The day (UTC).
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    /// Activation parameters handed out.
    pub params_requested: i64,
    /// Cards claimed (`user_get_card`).
    pub claimed: i64,
    /// Cards activated.
    pub activated: i64,
    /// Cards deleted.
    pub deleted: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
