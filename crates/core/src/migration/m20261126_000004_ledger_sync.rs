//! Flow 4: the outbox that mirrors ledger entries to the WeChat card, the API keys of the integration
//! API, and the stored results of reconciliations.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cards {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Members {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    Id,
    ReversesId,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    MemberId,
    EntryId,
    Purpose,
    PointsTotal,
    PointsDelta,
    BalanceTotal,
    BalanceDelta,
    RecordBonus,
    RecordBalance,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseHolder,
    LeaseUntil,
    LastError,
    ResultBonus,
    ResultBalance,
    EventMatchedAt,
    CreatedAt,
    SentAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    KeyPrefix,
    KeyHash,
    Scopes,
    CreatedBy,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum ReconciliationRuns {
    Table,
    Id,
    CardId,
    Fix,
    Status,
    Actor,
    MembersChecked,
    MembersInSync,
    MembersDrifted,
    MembersPending,
    MembersFailed,
    CorrectionsEnqueued,
    ForeignEvents,
    Error,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum ReconciliationItems {
    Table,
    Id,
    RunId,
    MemberId,
    CardId,
    Code,
    Outcome,
    LocalPoints,
    RemotePoints,
    LocalBalance,
    RemoteBalance,
    ForeignEvents,
    ForeignBonus,
    ForeignBalance,
    CorrectionJobId,
    Detail,
    CreatedAt,
}

fn pk(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn optional_timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn optional_i64(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().to_owned()
}

fn counter(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .default(0)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A reversal undoes one entry at most once.
        manager
            .create_index(
                Index::create()
                    .name("ledger_entries_reverses_id")
                    .table(LedgerEntries::Table)
                    .col(LedgerEntries::ReversesId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(pk(Outbox::Id))
                    .col(ColumnDef::new(Outbox::MemberId).big_integer().not_null())
                    .col(optional_i64(Outbox::EntryId))
                    .col(ColumnDef::new(Outbox::Purpose).string_len(16).not_null())
                    .col(optional_i64(Outbox::PointsTotal))
                    .col(optional_i64(Outbox::PointsDelta))
                    .col(optional_i64(Outbox::BalanceTotal))
                    .col(optional_i64(Outbox::BalanceDelta))
                    .col(ColumnDef::new(Outbox::RecordBonus).string_len(64).null())
                    .col(ColumnDef::new(Outbox::RecordBalance).string_len(64).null())
                    .col(ColumnDef::new(Outbox::Status).string_len(16).not_null())
                    .col(
                        ColumnDef::new(Outbox::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(timestamp(Outbox::NextAttemptAt))
                    .col(ColumnDef::new(Outbox::LeaseHolder).string_len(64).null())
                    .col(optional_timestamp(Outbox::LeaseUntil))
                    .col(ColumnDef::new(Outbox::LastError).text().null())
                    .col(optional_i64(Outbox::ResultBonus))
                    .col(optional_i64(Outbox::ResultBalance))
                    .col(optional_timestamp(Outbox::EventMatchedAt))
                    .col(timestamp(Outbox::CreatedAt))
                    .col(optional_timestamp(Outbox::SentAt))
                    .col(timestamp(Outbox::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Outbox::Table, Outbox::MemberId)
                            .to(Members::Table, Members::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Outbox::Table, Outbox::EntryId)
                            .to(LedgerEntries::Table, LedgerEntries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_status_next_attempt")
                    .table(Outbox::Table)
                    .col(Outbox::Status)
                    .col(Outbox::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_member_status")
                    .table(Outbox::Table)
                    .col(Outbox::MemberId)
                    .col(Outbox::Status)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(pk(ApiKeys::Id))
                    .col(ColumnDef::new(ApiKeys::Name).string_len(64).not_null())
                    .col(ColumnDef::new(ApiKeys::KeyPrefix).string_len(16).not_null())
                    .col(
                        ColumnDef::new(ApiKeys::KeyHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(ApiKeys::Scopes).string_len(256).not_null())
                    .col(
                        ColumnDef::new(ApiKeys::CreatedBy)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(timestamp(ApiKeys::CreatedAt))
                    .col(optional_timestamp(ApiKeys::LastUsedAt))
                    .col(optional_timestamp(ApiKeys::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReconciliationRuns::Table)
                    .col(pk(ReconciliationRuns::Id))
                    .col(optional_i64(ReconciliationRuns::CardId))
                    .col(
                        ColumnDef::new(ReconciliationRuns::Fix)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(ReconciliationRuns::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ReconciliationRuns::Actor)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(counter(ReconciliationRuns::MembersChecked))
                    .col(counter(ReconciliationRuns::MembersInSync))
                    .col(counter(ReconciliationRuns::MembersDrifted))
                    .col(counter(ReconciliationRuns::MembersPending))
                    .col(counter(ReconciliationRuns::MembersFailed))
                    .col(counter(ReconciliationRuns::CorrectionsEnqueued))
                    .col(counter(ReconciliationRuns::ForeignEvents))
                    .col(ColumnDef::new(ReconciliationRuns::Error).text().null())
                    .col(timestamp(ReconciliationRuns::StartedAt))
                    .col(optional_timestamp(ReconciliationRuns::FinishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ReconciliationRuns::Table, ReconciliationRuns::CardId)
                            .to(Cards::Table, Cards::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReconciliationItems::Table)
                    .col(pk(ReconciliationItems::Id))
                    .col(
                        ColumnDef::new(ReconciliationItems::RunId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ReconciliationItems::MemberId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ReconciliationItems::CardId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ReconciliationItems::Code)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ReconciliationItems::Outcome)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(counter(ReconciliationItems::LocalPoints))
                    .col(optional_i64(ReconciliationItems::RemotePoints))
                    .col(counter(ReconciliationItems::LocalBalance))
                    .col(optional_i64(ReconciliationItems::RemoteBalance))
                    .col(counter(ReconciliationItems::ForeignEvents))
                    .col(counter(ReconciliationItems::ForeignBonus))
                    .col(counter(ReconciliationItems::ForeignBalance))
                    .col(optional_i64(ReconciliationItems::CorrectionJobId))
                    .col(ColumnDef::new(ReconciliationItems::Detail).text().null())
                    .col(timestamp(ReconciliationItems::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ReconciliationItems::Table, ReconciliationItems::RunId)
                            .to(ReconciliationRuns::Table, ReconciliationRuns::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ReconciliationItems::Table, ReconciliationItems::MemberId)
                            .to(Members::Table, Members::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("reconciliation_items_run")
                    .table(ReconciliationItems::Table)
                    .col(ReconciliationItems::RunId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ReconciliationItems::Table.into_iden(),
            ReconciliationRuns::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Outbox::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ledger_entries_reverses_id")
                    .table(LedgerEntries::Table)
                    .to_owned(),
            )
            .await
    }
}
