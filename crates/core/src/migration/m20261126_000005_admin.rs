//! The admin dashboard: admin users, their sessions, failed login attempts and the audit log.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AdminUsers {
    Table,
    Id,
    Username,
    PasswordHash,
    Role,
    Disabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AdminSessions {
    Table,
    TokenHash,
    UserId,
    CsrfToken,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    Ip,
    UserAgent,
}

#[derive(DeriveIden)]
enum AdminLoginFailures {
    Table,
    Id,
    Username,
    Ip,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    Actor,
    Action,
    Target,
    Before,
    After,
    Ip,
    CreatedAt,
}

fn timestamp<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AdminUsers::Table)
                    .col(
                        ColumnDef::new(AdminUsers::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AdminUsers::Username)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(AdminUsers::PasswordHash).text().not_null())
                    .col(ColumnDef::new(AdminUsers::Role).string_len(16).not_null())
                    .col(
                        ColumnDef::new(AdminUsers::Disabled)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(timestamp(AdminUsers::CreatedAt))
                    .col(timestamp(AdminUsers::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AdminSessions::Table)
                    .col(
                        ColumnDef::new(AdminSessions::TokenHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AdminSessions::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AdminSessions::CsrfToken)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(timestamp(AdminSessions::CreatedAt))
                    .col(timestamp(AdminSessions::LastSeenAt))
                    .col(timestamp(AdminSessions::ExpiresAt))
                    .col(ColumnDef::new(AdminSessions::Ip).string_len(64).null())
                    .col(
                        ColumnDef::new(AdminSessions::UserAgent)
                            .string_len(255)
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AdminSessions::Table, AdminSessions::UserId)
                            .to(AdminUsers::Table, AdminUsers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_admin_sessions_user")
                    .table(AdminSessions::Table)
                    .col(AdminSessions::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AdminLoginFailures::Table)
                    .col(
                        ColumnDef::new(AdminLoginFailures::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AdminLoginFailures::Username)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AdminLoginFailures::Ip)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(timestamp(AdminLoginFailures::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_admin_login_failures_username")
                    .table(AdminLoginFailures::Table)
                    .col(AdminLoginFailures::Username)
                    .col(AdminLoginFailures::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_admin_login_failures_ip")
                    .table(AdminLoginFailures::Table)
                    .col(AdminLoginFailures::Ip)
                    .col(AdminLoginFailures::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(
                        ColumnDef::new(AuditLog::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditLog::Actor).string_len(96).not_null())
                    .col(ColumnDef::new(AuditLog::Action).string_len(64).not_null())
                    .col(ColumnDef::new(AuditLog::Target).string_len(255).not_null())
                    .col(ColumnDef::new(AuditLog::Before).text().null())
                    .col(ColumnDef::new(AuditLog::After).text().null())
                    .col(ColumnDef::new(AuditLog::Ip).string_len(64).null())
                    .col(timestamp(AuditLog::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_created_at")
                    .table(AuditLog::Table)
                    .col(AuditLog::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            AdminLoginFailures::Table.into_iden(),
            AdminSessions::Table.into_iden(),
            AdminUsers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
