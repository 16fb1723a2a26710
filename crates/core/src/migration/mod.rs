//! The schema, one migration tree for SQLite and PostgreSQL, in sea-orm's DSL.

use sea_orm_migration::prelude::*;

mod apply;

mod m20261126_000001_accounts;
mod m20261126_000002_members;
mod m20261126_000003_events;
mod m20261126_000004_ledger_sync;
mod m20261126_000005_admin;
mod m20261126_000006_member_search;
mod m20261128_000007_attempts_and_nonces;
mod m20261128_000008_activate_calls_and_stored_value;
mod m20261128_000009_go_live;
mod m20261128_000010_maintenance;

/// Runs Kaika's migrations: `Migrator::up(&db, None)`, `Migrator::down(&db, Some(1))`, `Migrator::status`.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_accounts::Migration),
            Box::new(m20261126_000002_members::Migration),
            Box::new(m20261126_000003_events::Migration),
            Box::new(m20261126_000004_ledger_sync::Migration),
            Box::new(m20261126_000005_admin::Migration),
            Box::new(m20261126_000006_member_search::Migration),
            Box::new(m20261128_000007_attempts_and_nonces::Migration),
            Box::new(m20261128_000008_activate_calls_and_stored_value::Migration),
            Box::new(m20261128_000009_go_live::Migration),
            Box::new(m20261128_000010_maintenance::Migration),
        ]
    }
}

pub use apply::{pending, up_locked};
pub use sea_orm_migration::{seaql_migrations, MigrationName, MigrationStatus, MigratorTrait};
