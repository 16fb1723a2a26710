//! `audit_log`: every change made through the admin (who, when, what, before → after), and every
//! export of personal data. Rows are inserted, never updated or deleted.

use sea_orm::entity::prelude::*;

/// One audited action.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Who: `admin:<username>` or `cli`.
    pub actor: String,
    /// What, e.g. `card.create`, `member.credit`, `members.export`.
    pub action: String,
    /// On what, e.g. `card:3`.
    pub target: String,
    /// The state before (JSON), for changes.
    pub before: Option<String>,
    /// The state after (JSON), or the parameters of an export.
    pub after: Option<String>,
    /// The client address.
    pub ip: Option<String>,
    /// When.
    pub created_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

super::stamped!(created_at);
