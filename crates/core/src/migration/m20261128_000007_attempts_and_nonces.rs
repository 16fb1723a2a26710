//! Two small tables that make a check and its record one atomic step, shared by every instance:
//! `login_attempt_buckets` counts admin login attempts per (username, address) and per address, reserved
//! before the password is checked; `callback_nonces` remembers the (timestamp, nonce) of plain-mode
//! pushes for the timestamp window, so a captured query cannot carry a forged body.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginAttemptBuckets {
    Table,
    Bucket,
    WindowStart,
    Attempts,
}

#[derive(DeriveIden)]
enum CallbackNonces {
    Table,
    AccountId,
    Timestamp,
    Nonce,
    BodySha256,
    SeenAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginAttemptBuckets::Table)
                    .col(
                        ColumnDef::new(LoginAttemptBuckets::Bucket)
                            .string_len(160)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(LoginAttemptBuckets::WindowStart)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LoginAttemptBuckets::Attempts)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CallbackNonces::Table)
                    .col(
                        ColumnDef::new(CallbackNonces::AccountId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CallbackNonces::Timestamp)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CallbackNonces::Nonce)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CallbackNonces::BodySha256)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CallbackNonces::SeenAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(CallbackNonces::AccountId)
                            .col(CallbackNonces::Timestamp)
                            .col(CallbackNonces::Nonce),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("callback_nonces_seen_at")
                    .table(CallbackNonces::Table)
                    .col(CallbackNonces::SeenAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CallbackNonces::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(LoginAttemptBuckets::Table).to_owned())
            .await
    }
}
