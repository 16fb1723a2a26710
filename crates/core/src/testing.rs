//! A fresh database per test: a temporary SQLite file by default, or a new PostgreSQL database on the server
//! named by `TEST_DATABASE_URL` (dropped when the test ends).

#![expect(
    clippy::expect_used,
    reason = "test support: a failed set-up must stop the test at once"
)]

use std::path::PathBuf;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_orm_migration::MigratorTrait;

use crate::db::{self, DatabaseUrl, PoolSettings};
use crate::migration::Migrator;

enum Cleanup {
    SqliteDir(PathBuf),
    Postgres { admin_url: String, name: String },
}

/// A database that exists for one test.
pub struct TestDb {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// The URL the pool was opened with (to hand to a server under test).
    pub url: DatabaseUrl,
    cleanup: Cleanup,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("url", &self.url).finish()
    }
}

impl TestDb {
    /// An empty database with no tables.
    pub async fn empty() -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => Self::postgres(admin_url, suffix).await,
            _ => Self::sqlite(suffix).await,
        }
    }

    /// A database with every migration applied.
    pub async fn migrated() -> Self {
        let mut test_db = Self::empty().await;
        Migrator::up(&test_db.db, None)
            .await
            .expect("migrations apply");
        // As `kaika serve` does: a pooled connection may keep the schema it read before a migration.
        test_db.db.clone().close().await.expect("pool closes");
        test_db.db = db::connect(&test_db.url, &PoolSettings::default())
            .await
            .expect("database opens again");
        test_db
    }

    async fn sqlite(suffix: String) -> Self {
        let dir = std::env::temp_dir().join(format!("kaika-test-{suffix}"));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let url = DatabaseUrl::parse(&format!("sqlite://{}/kaika.db", dir.display()))
            .expect("sqlite URL");
        let db = db::connect(&url, &PoolSettings::default())
            .await
            .expect("sqlite opens");
        Self {
            db,
            url,
            cleanup: Cleanup::SqliteDir(dir),
        }
    }

    async fn postgres(admin_url: String, suffix: String) -> Self {
        let name = format!("kaika_test_{suffix}");
        let admin = DatabaseUrl::parse(&admin_url).expect("TEST_DATABASE_URL is a postgres:// URL");
        let admin_db = db::connect(&admin, &PoolSettings::default())
            .await
            .expect("TEST_DATABASE_URL answers");
        admin_db
            .execute(Statement::from_string(
                admin_db.get_database_backend(),
                format!("CREATE DATABASE \"{name}\""),
            ))
            .await
            .expect("test database created");
        admin_db.close().await.ok();
        let url = DatabaseUrl::parse(&replace_database_name(&admin_url, &name))
            .expect("test database URL");
        let db = db::connect(&url, &PoolSettings::default())
            .await
            .expect("test database opens");
        Self {
            db,
            url,
            cleanup: Cleanup::Postgres { admin_url, name },
        }
    }
}

fn replace_database_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteDir(dir) => {
                std::fs::remove_dir_all(dir).ok();
            }
            Cleanup::Postgres { admin_url, name } => {
                let admin_url = admin_url.clone();
                let name = name.clone();
                // Drop runs inside the test's runtime, which cannot be blocked on: use a thread of its own.
                let dropper = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    runtime.block_on(async move {
                        let Ok(admin) = DatabaseUrl::parse(&admin_url) else {
                            return;
                        };
                        if let Ok(conn) = db::connect(&admin, &PoolSettings::default()).await {
                            conn.execute(Statement::from_string(
                                conn.get_database_backend(),
                                format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                            ))
                            .await
                            .ok();
                            conn.close().await.ok();
                        }
                    });
                });
                dropper.join().ok();
            }
        }
    }
}

/// Inserts an account and an approved card for tests that need one; returns (account id, card id).
pub async fn seed_card(db: &DatabaseConnection, app_id: &str, wechat_card_id: &str) -> (i64, i64) {
    use crate::entity::{accounts, cards};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};

    // Rows are written and read column by column, never whole, so that this works on the schema of any
    // migration (migration tests seed data before the later columns exist).
    let existing: Option<i64> = accounts::Entity::find()
        .select_only()
        .column(accounts::Column::Id)
        .filter(accounts::Column::AppId.eq(app_id))
        .into_tuple()
        .one(db)
        .await
        .expect("query");
    let account_id = match existing {
        Some(id) => id,
        None => {
            // The secret is sealed with a key nobody keeps: tests that need it add accounts themselves.
            let sealed = crate::secrets::MasterKey::generate().seal("secret", "test");
            accounts::Entity::insert(accounts::ActiveModel {
                name: Set("test".into()),
                app_id: Set(app_id.to_owned()),
                app_secret_sealed: Set(sealed),
                callback_token: Set("token".into()),
                encoding_aes_key_sealed: Set(None),
                message_mode: Set("plain".into()),
                mini_app_id: Set(None),
                mini_app_secret_sealed: Set(None),
                api_base_url: Set(crate::accounts::WECHAT_API_BASE_URL.into()),
                is_sandbox: Set(false),
                created_at: Set(crate::clock::now()),
                updated_at: Set(crate::clock::now()),
                ..Default::default()
            })
            .exec(db)
            .await
            .expect("account")
            .last_insert_id
        }
    };
    let card = cards::Entity::insert(cards::ActiveModel {
        account_id: Set(account_id),
        wechat_card_id: Set(wechat_card_id.to_owned()),
        title: Set("会员卡".into()),
        brand_name: Set("Kaika".into()),
        color: Set("Color010".into()),
        logo_url: Set("https://example.invalid/logo.png".into()),
        review_status: Set("approved".into()),
        refuse_reason: Set(None),
        activation_form: Set(None),
        welcome_bonus: Set(100),
        membership_prefix: Set("K".into()),
        next_membership_seq: Set(1),
        created_at: Set(crate::clock::now()),
        updated_at: Set(crate::clock::now()),
        ..Default::default()
    })
    .exec(db)
    .await
    .expect("card");
    (account_id, card.last_insert_id)
}

/// Inserts an active member of a card; returns its id.
pub async fn seed_member(db: &DatabaseConnection, card_id: i64, code: &str) -> i64 {
    use crate::entity::members;
    use sea_orm::{ActiveModelTrait, Set};
    members::ActiveModel {
        card_id: Set(card_id),
        code: Set(code.to_owned()),
        oa_openid: Set(Some(format!("o{code}"))),
        mini_openid: Set(Some(format!("m{code}"))),
        unionid: Set(None),
        membership_number: Set(None),
        points: Set(0),
        balance_cents: Set(0),
        level: Set(None),
        status: Set("active".into()),
        form_answers: Set(None),
        outer_str: Set(None),
        activated_at: Set(Some(crate::clock::now())),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("member")
    .id
}

#[cfg(test)]
mod tests {
    use super::replace_database_name;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(
            replace_database_name("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            replace_database_name("postgres://u:p@h:5432?sslmode=disable", "t2"),
            "postgres://u:p@h:5432/t2?sslmode=disable"
        );
    }
}
