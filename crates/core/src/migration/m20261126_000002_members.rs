//! Cards, channels, mini-program sessions, activations, members, the ledger and the funnel counters.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Cards {
    Table,
    Id,
    AccountId,
    WechatCardId,
    Title,
    BrandName,
    Color,
    LogoUrl,
    ReviewStatus,
    RefuseReason,
    ActivationForm,
    WelcomeBonus,
    MembershipPrefix,
    NextMembershipSeq,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Channels {
    Table,
    Id,
    CardId,
    OuterStr,
    Name,
    ArchivedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ActivationParams {
    Table,
    Id,
    CardId,
    OuterStr,
    EncryptCardId,
    Biz,
    FetchedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum MiniSessions {
    Table,
    TokenHash,
    AccountId,
    MiniOpenid,
    Unionid,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Members {
    Table,
    Id,
    CardId,
    Code,
    OaOpenid,
    MiniOpenid,
    Unionid,
    MembershipNumber,
    Points,
    BalanceCents,
    Level,
    Status,
    FormAnswers,
    OuterStr,
    ActivatedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Activations {
    Table,
    Id,
    TicketHash,
    Ticket,
    CardId,
    EncryptCode,
    MiniOpenid,
    Unionid,
    Step,
    Code,
    FormAnswers,
    OaOpenid,
    OuterStr,
    MembershipNumber,
    MemberId,
    Attempts,
    LastError,
    LeaseHolder,
    LeaseUntil,
    NextAttemptAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    Id,
    MemberId,
    Kind,
    Amount,
    ResultingTotal,
    Reason,
    Note,
    Actor,
    IdempotencyKey,
    ReversesId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ChannelDailyStats {
    Table,
    CardId,
    OuterStr,
    Day,
    ParamsRequested,
    Claimed,
    Activated,
    Deleted,
}

fn created_at<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().not_null().to_owned()
}

fn pk(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Cards::Table)
                    .col(pk(Cards::Id))
                    .col(ColumnDef::new(Cards::AccountId).big_integer().not_null())
                    .col(ColumnDef::new(Cards::WechatCardId).string_len(64).not_null().unique_key())
                    .col(ColumnDef::new(Cards::Title).string_len(64).not_null())
                    .col(ColumnDef::new(Cards::BrandName).string_len(64).not_null())
                    .col(ColumnDef::new(Cards::Color).string_len(16).not_null())
                    .col(ColumnDef::new(Cards::LogoUrl).string_len(512).not_null())
                    .col(ColumnDef::new(Cards::ReviewStatus).string_len(32).not_null())
                    .col(ColumnDef::new(Cards::RefuseReason).text().null())
                    .col(ColumnDef::new(Cards::ActivationForm).text().null())
                    .col(ColumnDef::new(Cards::WelcomeBonus).big_integer().not_null().default(0))
                    .col(ColumnDef::new(Cards::MembershipPrefix).string_len(16).not_null().default(""))
                    .col(ColumnDef::new(Cards::NextMembershipSeq).big_integer().not_null().default(1))
                    .col(created_at(Cards::CreatedAt))
                    .col(created_at(Cards::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Cards::Table, Cards::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Channels::Table)
                    .col(pk(Channels::Id))
                    .col(ColumnDef::new(Channels::CardId).big_integer().not_null())
                    .col(ColumnDef::new(Channels::OuterStr).string_len(64).not_null())
                    .col(ColumnDef::new(Channels::Name).string_len(64).not_null())
                    .col(ColumnDef::new(Channels::ArchivedAt).timestamp_with_time_zone().null())
                    .col(created_at(Channels::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Channels::Table, Channels::CardId)
                            .to(Cards::Table, Cards::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("channels_card_outer_str")
                    .table(Channels::Table)
                    .col(Channels::CardId)
                    .col(Channels::OuterStr)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ActivationParams::Table)
                    .col(pk(ActivationParams::Id))
                    .col(ColumnDef::new(ActivationParams::CardId).big_integer().not_null())
                    .col(ColumnDef::new(ActivationParams::OuterStr).string_len(64).not_null())
                    .col(ColumnDef::new(ActivationParams::EncryptCardId).string_len(256).not_null())
                    .col(ColumnDef::new(ActivationParams::Biz).string_len(128).not_null())
                    .col(created_at(ActivationParams::FetchedAt))
                    .col(created_at(ActivationParams::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ActivationParams::Table, ActivationParams::CardId)
                            .to(Cards::Table, Cards::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("activation_params_card_outer_str")
                    .table(ActivationParams::Table)
                    .col(ActivationParams::CardId)
                    .col(ActivationParams::OuterStr)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MiniSessions::Table)
                    .col(
                        ColumnDef::new(MiniSessions::TokenHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(MiniSessions::AccountId).big_integer().not_null())
                    .col(ColumnDef::new(MiniSessions::MiniOpenid).string_len(64).not_null())
                    .col(ColumnDef::new(MiniSessions::Unionid).string_len(64).null())
                    .col(created_at(MiniSessions::CreatedAt))
                    .col(created_at(MiniSessions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(MiniSessions::Table, MiniSessions::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Members::Table)
                    .col(pk(Members::Id))
                    .col(ColumnDef::new(Members::CardId).big_integer().not_null())
                    .col(ColumnDef::new(Members::Code).string_len(64).not_null())
                    .col(ColumnDef::new(Members::OaOpenid).string_len(64).null())
                    .col(ColumnDef::new(Members::MiniOpenid).string_len(64).null())
                    .col(ColumnDef::new(Members::Unionid).string_len(64).null())
                    .col(ColumnDef::new(Members::MembershipNumber).string_len(64).null())
                    .col(ColumnDef::new(Members::Points).big_integer().not_null().default(0))
                    .col(ColumnDef::new(Members::BalanceCents).big_integer().not_null().default(0))
                    .col(ColumnDef::new(Members::Level).string_len(32).null())
                    .col(ColumnDef::new(Members::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Members::FormAnswers).text().null())
                    .col(ColumnDef::new(Members::OuterStr).string_len(64).null())
                    .col(ColumnDef::new(Members::ActivatedAt).timestamp_with_time_zone().null())
                    .col(created_at(Members::CreatedAt))
                    .col(created_at(Members::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Members::Table, Members::CardId)
                            .to(Cards::Table, Cards::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("members_card_code", Members::Code),
            ("members_card_oa_openid", Members::OaOpenid),
            ("members_card_membership_number", Members::MembershipNumber),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Members::Table)
                        .col(Members::CardId)
                        .col(column)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("members_mini_openid")
                    .table(Members::Table)
                    .col(Members::MiniOpenid)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Activations::Table)
                    .col(pk(Activations::Id))
                    .col(ColumnDef::new(Activations::TicketHash).string_len(64).not_null().unique_key())
                    .col(ColumnDef::new(Activations::Ticket).text().not_null())
                    .col(ColumnDef::new(Activations::CardId).big_integer().not_null())
                    .col(ColumnDef::new(Activations::EncryptCode).string_len(256).not_null())
                    .col(ColumnDef::new(Activations::MiniOpenid).string_len(64).null())
                    .col(ColumnDef::new(Activations::Unionid).string_len(64).null())
                    .col(ColumnDef::new(Activations::Step).string_len(32).not_null())
                    .col(ColumnDef::new(Activations::Code).string_len(64).null())
                    .col(ColumnDef::new(Activations::FormAnswers).text().null())
                    .col(ColumnDef::new(Activations::OaOpenid).string_len(64).null())
                    .col(ColumnDef::new(Activations::OuterStr).string_len(64).null())
                    .col(ColumnDef::new(Activations::MembershipNumber).string_len(64).null())
                    .col(ColumnDef::new(Activations::MemberId).big_integer().null())
                    .col(ColumnDef::new(Activations::Attempts).integer().not_null().default(0))
                    .col(ColumnDef::new(Activations::LastError).text().null())
                    .col(ColumnDef::new(Activations::LeaseHolder).string_len(64).null())
                    .col(ColumnDef::new(Activations::LeaseUntil).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Activations::NextAttemptAt).timestamp_with_time_zone().null())
                    .col(created_at(Activations::CreatedAt))
                    .col(created_at(Activations::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Activations::Table, Activations::CardId)
                            .to(Cards::Table, Cards::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("activations_step_next_attempt")
                    .table(Activations::Table)
                    .col(Activations::Step)
                    .col(Activations::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LedgerEntries::Table)
                    .col(pk(LedgerEntries::Id))
                    .col(ColumnDef::new(LedgerEntries::MemberId).big_integer().not_null())
                    .col(ColumnDef::new(LedgerEntries::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(LedgerEntries::Amount).big_integer().not_null())
                    .col(ColumnDef::new(LedgerEntries::ResultingTotal).big_integer().not_null())
                    .col(ColumnDef::new(LedgerEntries::Reason).string_len(32).not_null())
                    .col(ColumnDef::new(LedgerEntries::Note).text().null())
                    .col(ColumnDef::new(LedgerEntries::Actor).string_len(128).not_null())
                    .col(ColumnDef::new(LedgerEntries::IdempotencyKey).string_len(128).not_null())
                    .col(ColumnDef::new(LedgerEntries::ReversesId).big_integer().null())
                    .col(created_at(LedgerEntries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(LedgerEntries::Table, LedgerEntries::MemberId)
                            .to(Members::Table, Members::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ledger_entries_member_idempotency_key")
                    .table(LedgerEntries::Table)
                    .col(LedgerEntries::MemberId)
                    .col(LedgerEntries::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChannelDailyStats::Table)
                    .col(ColumnDef::new(ChannelDailyStats::CardId).big_integer().not_null())
                    .col(ColumnDef::new(ChannelDailyStats::OuterStr).string_len(64).not_null())
                    .col(ColumnDef::new(ChannelDailyStats::Day).date().not_null())
                    .col(ColumnDef::new(ChannelDailyStats::ParamsRequested).big_integer().not_null().default(0))
                    .col(ColumnDef::new(ChannelDailyStats::Claimed).big_integer().not_null().default(0))
                    .col(ColumnDef::new(ChannelDailyStats::Activated).big_integer().not_null().default(0))
                    .col(ColumnDef::new(ChannelDailyStats::Deleted).big_integer().not_null().default(0))
                    .primary_key(
                        Index::create()
                            .col(ChannelDailyStats::CardId)
                            .col(ChannelDailyStats::OuterStr)
                            .col(ChannelDailyStats::Day),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ChannelDailyStats::Table, ChannelDailyStats::CardId)
                            .to(Cards::Table, Cards::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ChannelDailyStats::Table.into_iden(),
            LedgerEntries::Table.into_iden(),
            Activations::Table.into_iden(),
            Members::Table.into_iden(),
            MiniSessions::Table.into_iden(),
            ActivationParams::Table.into_iden(),
            Channels::Table.into_iden(),
            Cards::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
