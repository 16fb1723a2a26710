//! `ledger_entries`: the append-only record of points and balance changes.

use sea_orm::entity::prelude::*;

/// One row of `ledger_entries`. Rows are inserted, never updated or deleted.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_entries")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The member.
    pub member_id: i64,
    /// `points` or `balance`.
    pub kind: String,
    /// The signed change (balance in cents).
    pub amount: i64,
    /// The member's total after this entry.
    pub resulting_total: i64,
    /// `welcome`, `purchase`, `redemption`, `adjustment`, `reversal`, `import` or `expiry`.
    pub reason: String,
    /// Free text.
    pub note: Option<String>,
    /// Who made the change: `system`, `admin:<name>`, `api_key:<name>`.
    pub actor: String,
    /// Unique per member: a retry with the same key changes nothing.
    pub idempotency_key: String,
    /// The entry this one reverses.
    pub reverses_id: Option<i64>,
    /// When it was written.
    pub created_at: DateTimeUtc,
}

/// Followed through queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

super::stamped!(created_at);
