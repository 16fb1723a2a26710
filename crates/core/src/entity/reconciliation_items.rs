//! `reconciliation_items`: one member that was not in sync in a run.

use sea_orm::entity::prelude::*;

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reconciliation_items")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The run.
    pub run_id: i64,
    /// The member.
    pub member_id: i64,
    /// The member's card.
    pub card_id: i64,
    /// The member's code.
    pub code: String,
    /// `drift`, `pending` or `error`.
    pub outcome: String,
    /// Local points.
    pub local_points: i64,
    /// Points on the WeChat card.
    pub remote_points: Option<i64>,
    /// Local balance in cents.
    pub local_balance: i64,
    /// Balance on the WeChat card.
    pub remote_balance: Option<i64>,
    /// `update_member_card` events of this member that no Kaika send explains.
    pub foreign_events: i64,
    /// Their summed `ModifyBonus`.
    pub foreign_bonus: i64,
    /// Their summed `ModifyBalance`.
    pub foreign_balance: i64,
    /// The correction job enqueued (with fix).
    pub correction_job_id: Option<i64>,
    /// Details (an error, or what the correction does).
    pub detail: Option<String>,
    /// When it was found.
    pub created_at: DateTimeUtc,
}

/// `reconciliation_items` has no navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

super::stamped!(created_at);
