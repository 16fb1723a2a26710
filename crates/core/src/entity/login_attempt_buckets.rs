//! `login_attempt_buckets`: admin login attempts counted per bucket (a username at an address, or an
//! address) within a window, reserved atomically before the password is checked.

use sea_orm::entity::prelude::*;

/// One bucket.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_attempt_buckets")]
pub struct Model {
    /// `user:<username>@<address>` or `ip:<address>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket: String,
    /// When the current window started.
    pub window_start: DateTimeUtc,
    /// Attempts reserved in the current window (a successful login gives its own back).
    pub attempts: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
