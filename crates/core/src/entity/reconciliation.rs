//! `reconciliation_runs`: each reconciliation run, kept for the admin; what it found is in
//! `reconciliation_items`.

use sea_orm::entity::prelude::*;

/// One run of the reconciliation.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reconciliation_runs")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The card checked (none: every card).
    pub card_id: Option<i64>,
    /// Whether corrections were enqueued.
    pub fix: bool,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// Who ran it.
    pub actor: String,
    /// Members compared.
    pub members_checked: i64,
    /// Members whose card shows the local totals.
    pub members_in_sync: i64,
    /// Members whose card differs.
    pub members_drifted: i64,
    /// Members skipped because changes are still on their way to WeChat.
    pub members_pending: i64,
    /// Members WeChat could not be asked about.
    pub members_failed: i64,
    /// Correction jobs enqueued (with fix).
    pub corrections_enqueued: i64,
    /// `update_member_card` events no Kaika send explains.
    pub foreign_events: i64,
    /// Why the run failed, if it did.
    pub error: Option<String>,
    /// When it started.
    pub started_at: DateTimeUtc,
    /// When it finished.
    pub finished_at: Option<DateTimeUtc>,
}

/// `reconciliation_runs` has no navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
