//! `maintenance`: switches an operator sets on the whole installation, kept in the database so that every
//! process on it sees them. The first is `workers_paused`, which a restore sets so that a restored copy
//! never fetches tokens or sends outbox jobs against production's WeChat account by accident.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Maintenance {
    Table,
    Name,
    Reason,
    Since,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Maintenance::Table)
                    .col(
                        ColumnDef::new(Maintenance::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Maintenance::Reason).text().not_null())
                    .col(
                        ColumnDef::new(Maintenance::Since)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Maintenance::Table).to_owned())
            .await
    }
}
