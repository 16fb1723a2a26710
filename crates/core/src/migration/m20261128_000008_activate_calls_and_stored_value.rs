//! Two facts a real account needs: how many times an activation has sent `membercard/activate` (WeChat
//! may refuse it without activating, and the number of calls is bounded), and whether a card was created
//! with stored value (`supply_balance`, a permission an ordinary account lacks). Cards created before this
//! migration were all created with stored value.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Activations {
    Table,
    ActivateCalls,
}

#[derive(DeriveIden)]
enum Cards {
    Table,
    StoredValue,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Activations::Table)
                    .add_column(
                        ColumnDef::new(Activations::ActivateCalls)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Cards::Table)
                    .add_column(
                        ColumnDef::new(Cards::StoredValue)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Cards::Table)
                    .drop_column(Cards::StoredValue)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Activations::Table)
                    .drop_column(Activations::ActivateCalls)
                    .to_owned(),
            )
            .await
    }
}
