//! What a real account needs that the sandbox never did:
//! - `wechat_events.encrypted`: whether a push came encrypted, so the admin can tell a merchant whose
//!   WeChat console mode differs from the one stored in Kaika;
//! - `callback_refusals`: per account and refusal code, how many callback requests were refused, when
//!   last and why (one row per code, so a flood of forged requests cannot grow it);
//! - `accounts.token_error`, `accounts.token_error_at`: the last configuration error WeChat gave for the
//!   account's token (wrong AppSecret, IP not whitelisted), cleared by the next good token;
//! - `accounts.test_whitelist`: the testers last sent to `card/testwhitelist/set` (JSON);
//! - `cards.review_checks`, `cards.review_checked_at`: how often and when `card/get` was last asked
//!   about a card still in review, for the back-off of the review poll.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WechatEvents {
    Table,
    Encrypted,
}

#[derive(DeriveIden)]
enum CallbackRefusals {
    Table,
    AccountId,
    Code,
    Count,
    LastMessage,
    FirstAt,
    LastAt,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    TokenError,
    TokenErrorAt,
    TestWhitelist,
}

#[derive(DeriveIden)]
enum Cards {
    Table,
    ReviewChecks,
    ReviewCheckedAt,
}

/// SQLite alters one column per statement.
async fn add_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + 'static,
    column: &mut ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(table)
                .add_column(column.to_owned())
                .to_owned(),
        )
        .await
}

async fn drop_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + 'static,
    column: impl IntoIden + 'static,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(column).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            WechatEvents::Table,
            ColumnDef::new(WechatEvents::Encrypted).boolean().null(),
        )
        .await?;
        add_column(
            manager,
            Accounts::Table,
            ColumnDef::new(Accounts::TokenError).text().null(),
        )
        .await?;
        add_column(
            manager,
            Accounts::Table,
            ColumnDef::new(Accounts::TokenErrorAt)
                .timestamp_with_time_zone()
                .null(),
        )
        .await?;
        add_column(
            manager,
            Accounts::Table,
            ColumnDef::new(Accounts::TestWhitelist).text().null(),
        )
        .await?;
        add_column(
            manager,
            Cards::Table,
            ColumnDef::new(Cards::ReviewChecks)
                .integer()
                .not_null()
                .default(0),
        )
        .await?;
        add_column(
            manager,
            Cards::Table,
            ColumnDef::new(Cards::ReviewCheckedAt)
                .timestamp_with_time_zone()
                .null(),
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(CallbackRefusals::Table)
                    .col(
                        ColumnDef::new(CallbackRefusals::AccountId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CallbackRefusals::Code)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CallbackRefusals::Count)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CallbackRefusals::LastMessage)
                            .string_len(300)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CallbackRefusals::FirstAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CallbackRefusals::LastAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(CallbackRefusals::AccountId)
                            .col(CallbackRefusals::Code),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CallbackRefusals::Table).to_owned())
            .await?;
        drop_column(manager, Cards::Table, Cards::ReviewCheckedAt).await?;
        drop_column(manager, Cards::Table, Cards::ReviewChecks).await?;
        drop_column(manager, Accounts::Table, Accounts::TestWhitelist).await?;
        drop_column(manager, Accounts::Table, Accounts::TokenErrorAt).await?;
        drop_column(manager, Accounts::Table, Accounts::TokenError).await?;
        drop_column(manager, WechatEvents::Table, WechatEvents::Encrypted).await
    }
}
