//! `maintenance`: switches an operator sets on the whole installation (see [`crate::maintenance`]).

use sea_orm::entity::prelude::*;

/// One switch that is on.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "maintenance")]
pub struct Model {
    /// Which switch, e.g. `workers_paused`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// Why it is on, for the operator who finds it.
    pub reason: String,
    /// Since when.
    pub since: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
