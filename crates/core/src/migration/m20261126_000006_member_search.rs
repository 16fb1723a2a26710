//! Member search at 100 000 members: the name and mobile of the activation form as their own indexed
//! columns (a `LIKE` over the form's JSON scans every row), and single-column indexes on the code, the
//! membership number and the openid (the unique indexes start with the card, so a search across cards
//! could not use them). Existing members are filled from their stored answers.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, TryGetable};

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Members {
    Table,
    Id,
    Code,
    OaOpenid,
    MembershipNumber,
    FormAnswers,
    Mobile,
    Name,
}

/// The single-column indexes this migration adds.
fn indexes() -> [(&'static str, Members); 5] {
    [
        ("members_mobile", Members::Mobile),
        ("members_name", Members::Name),
        ("members_code", Members::Code),
        ("members_membership_number", Members::MembershipNumber),
        ("members_oa_openid", Members::OaOpenid),
    ]
}

/// Rows read per round of the fill.
const FILL_BATCH: u64 = 1000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One ALTER per statement: SQLite cannot take several.
        manager
            .alter_table(
                Table::alter()
                    .table(Members::Table)
                    .add_column(ColumnDef::new(Members::Mobile).string_len(32).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Members::Table)
                    .add_column(ColumnDef::new(Members::Name).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        for (name, column) in indexes() {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Members::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        fill(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in indexes() {
            manager
                .drop_index(Index::drop().name(name).table(Members::Table).to_owned())
                .await?;
        }
        for column in [Members::Name, Members::Mobile] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Members::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// Fills the new columns of existing members from their stored answers, in id order and batches.
async fn fill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    let mut after = 0i64;
    loop {
        let select = Query::select()
            .columns([Members::Id, Members::FormAnswers])
            .from(Members::Table)
            .and_where(Expr::col(Members::Id).gt(after))
            .and_where(Expr::col(Members::FormAnswers).is_not_null())
            .order_by(Members::Id, Order::Asc)
            .limit(FILL_BATCH)
            .to_owned();
        let rows = db.query_all(backend.build(&select)).await?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in rows {
            let id = i64::try_get_by(&row, 0usize).map_err(DbErr::from)?;
            let answers = Option::<String>::try_get_by(&row, 1usize).map_err(DbErr::from)?;
            after = id;
            let (mobile, name) = crate::entity::members::search_keys(answers.as_deref());
            if mobile.is_none() && name.is_none() {
                continue;
            }
            let update = Query::update()
                .table(Members::Table)
                .values([
                    (Members::Mobile, mobile.into()),
                    (Members::Name, name.into()),
                ])
                .and_where(Expr::col(Members::Id).eq(id))
                .to_owned();
            db.execute(backend.build(&update)).await?;
        }
    }
}
