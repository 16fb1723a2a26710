//! WeChat accounts and their shared access tokens.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Name,
    AppId,
    AppSecretSealed,
    CallbackToken,
    EncodingAesKeySealed,
    MessageMode,
    MiniAppId,
    MiniAppSecretSealed,
    ApiBaseUrl,
    IsSandbox,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    AppId,
    Token,
    ExpiresAt,
    RefreshedAt,
    LeaseHolder,
    LeaseUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(
                        ColumnDef::new(Accounts::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Accounts::Name).string_len(64).not_null())
                    .col(
                        ColumnDef::new(Accounts::AppId)
                            .string_len(32)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Accounts::AppSecretSealed).text().not_null())
                    .col(
                        ColumnDef::new(Accounts::CallbackToken)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Accounts::EncodingAesKeySealed).text().null())
                    .col(
                        ColumnDef::new(Accounts::MessageMode)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Accounts::MiniAppId).string_len(32).null())
                    .col(ColumnDef::new(Accounts::MiniAppSecretSealed).text().null())
                    .col(
                        ColumnDef::new(Accounts::ApiBaseUrl)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Accounts::IsSandbox)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Accounts::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Accounts::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccessTokens::Table)
                    .col(
                        ColumnDef::new(AccessTokens::AppId)
                            .string_len(32)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AccessTokens::Token).text().null())
                    .col(
                        ColumnDef::new(AccessTokens::ExpiresAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AccessTokens::RefreshedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AccessTokens::LeaseHolder)
                            .string_len(64)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AccessTokens::LeaseUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccessTokens::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Accounts::Table).to_owned())
            .await
    }
}
