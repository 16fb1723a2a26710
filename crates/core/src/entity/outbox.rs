//! `outbox`: the jobs that mirror ledger changes onto the WeChat card with `card/membercard/updateuser`.

use sea_orm::entity::prelude::*;

/// One job. Jobs of a member are sent in id order; each carries absolute totals, so a repeated send
/// cannot double-apply.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    /// Surrogate key; also the order of sending per member.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The member whose card is updated.
    pub member_id: i64,
    /// The ledger entry mirrored (none for a reconciliation's correction).
    pub entry_id: Option<i64>,
    /// `entry` or `correction`.
    pub purpose: String,
    /// Absolute points to show (`bonus`).
    pub points_total: Option<i64>,
    /// Points change (`add_bonus`).
    pub points_delta: Option<i64>,
    /// Absolute balance in cents (`balance`).
    pub balance_total: Option<i64>,
    /// Balance change in cents (`add_balance`).
    pub balance_delta: Option<i64>,
    /// `record_bonus` text.
    pub record_bonus: Option<String>,
    /// `record_balance` text.
    pub record_balance: Option<String>,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Sends tried so far.
    pub attempts: i32,
    /// Not sent before this time (back-off).
    pub next_attempt_at: DateTimeUtc,
    /// The process sending it now.
    pub lease_holder: Option<String>,
    /// Until when that claim holds.
    pub lease_until: Option<DateTimeUtc>,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// `result_bonus` WeChat answered.
    pub result_bonus: Option<i64>,
    /// `result_balance` WeChat answered.
    pub result_balance: Option<i64>,
    /// When a reconciliation matched the `update_member_card` event this send caused.
    pub event_matched_at: Option<DateTimeUtc>,
    /// When it was enqueued.
    pub created_at: DateTimeUtc,
    /// When WeChat accepted it.
    pub sent_at: Option<DateTimeUtc>,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
}

/// `outbox` has no navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

super::stamped!(created_at, updated_at);

impl Entity {
    /// The jobs of one member.
    pub fn find_for_member(member_id: i64) -> Select<Entity> {
        Self::find().filter(Column::MemberId.eq(member_id))
    }
}
