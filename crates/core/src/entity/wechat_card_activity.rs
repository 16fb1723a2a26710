//! `wechat_card_activity`: what members did on WeChat's side, one row per applied event:
//! `update_member_card` (points and balance changes, for reconciliation), `user_consume_card` and
//! `user_view_card`.

use sea_orm::entity::prelude::*;

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wechat_card_activity")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The event recorded (unique: an event is recorded once).
    #[sea_orm(unique)]
    pub event_id: i64,
    /// The card (local id).
    pub card_id: i64,
    /// The card code.
    pub code: String,
    /// The event name.
    pub kind: String,
    /// `OuterStr` of views and consumptions.
    pub outer_str: Option<String>,
    /// `ModifyBonus` of `update_member_card`.
    pub modify_bonus: i64,
    /// `ModifyBalance` of `update_member_card`.
    pub modify_balance: i64,
    /// Other fields of the event, as JSON.
    pub detail: Option<String>,
    /// The event's CreateTime.
    pub occurred_at: i64,
    /// When a reconciliation accounted for it.
    pub reconciled_at: Option<DateTimeUtc>,
    /// When the row was written.
    pub created_at: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
