//! Persistence on the test database (SQLite, or PostgreSQL with TEST_DATABASE_URL): migrations, accounts,
//! secrets at rest.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

use kaika_core::accounts::{self, AppId, MessageMode, MiniProgram, NewAccount, SecretText};
use kaika_core::entity::accounts as account_rows;
use kaika_core::migration::{MigrationStatus, Migrator, MigratorTrait};
use kaika_core::secrets::MasterKey;
use kaika_core::testing::TestDb;
use kaika_core::CoreError;
use sea_orm::{ConnectionTrait, EntityTrait, Statement};

const APP_SECRET: &str = "0123456789abcdef0123456789abcdef";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const MINI_SECRET: &str = "fedcba9876543210fedcba9876543210";

fn new_account(app_id: &str) -> NewAccount {
    NewAccount {
        name: "测试商户".into(),
        app_id: AppId::parse(app_id).unwrap(),
        app_secret: SecretText::new(APP_SECRET),
        callback_token: "kaikatoken".into(),
        encoding_aes_key: Some(SecretText::new(AES_KEY)),
        message_mode: MessageMode::Safe,
        mini_program: Some(MiniProgram {
            app_id: AppId::parse("wxaaaaaaaaaaaaaaaa").unwrap(),
            app_secret: SecretText::new(MINI_SECRET),
        }),
        api_base_url: accounts::WECHAT_API_BASE_URL.into(),
        is_sandbox: false,
    }
}

async fn table_exists(db: &impl ConnectionTrait, table: &str) -> bool {
    let sql = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => {
            format!("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '{table}'")
        }
        _ => {
            format!("SELECT table_name FROM information_schema.tables WHERE table_name = '{table}'")
        }
    };
    db.query_one(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let test_db = TestDb::empty().await;
    let db = &test_db.db;
    Migrator::up(db, None).await.unwrap();
    assert!(table_exists(db, "accounts").await);
    assert!(table_exists(db, "access_tokens").await);
    let statuses = Migrator::get_migration_with_status(db).await.unwrap();
    assert!(statuses
        .iter()
        .all(|m| m.status() == MigrationStatus::Applied));

    Migrator::down(db, None).await.unwrap();
    assert!(!table_exists(db, "accounts").await);
    assert!(!table_exists(db, "access_tokens").await);
    assert!(Migrator::get_pending_migrations(db).await.unwrap().len() == statuses.len());

    Migrator::up(db, None).await.unwrap();
    assert!(table_exists(db, "accounts").await);
}

#[tokio::test]
async fn account_secrets_are_sealed_at_rest_and_open_again() {
    let test_db = TestDb::migrated().await;
    let db = &test_db.db;
    let key = MasterKey::generate();
    accounts::add(db, &key, new_account("wx0123456789abcdef"))
        .await
        .unwrap();

    let raw = account_rows::Entity::find().one(db).await.unwrap().unwrap();
    for sealed in [
        Some(&raw.app_secret_sealed),
        raw.encoding_aes_key_sealed.as_ref(),
        raw.mini_app_secret_sealed.as_ref(),
    ] {
        let sealed = sealed.unwrap();
        assert!(sealed.starts_with("v1:"));
        for plain in [APP_SECRET, AES_KEY, MINI_SECRET] {
            assert!(!sealed.contains(plain));
        }
    }

    let account = accounts::load(db, &key, "wx0123456789abcdef")
        .await
        .unwrap();
    assert_eq!(account.app_secret.expose(), APP_SECRET);
    assert_eq!(account.encoding_aes_key.unwrap().expose(), AES_KEY);
    assert_eq!(account.mini_app_secret.unwrap().expose(), MINI_SECRET);
    assert_eq!(
        account.summary.mini_app_id.as_deref(),
        Some("wxaaaaaaaaaaaaaaaa")
    );
    assert_eq!(account.summary.name, "测试商户");
}

#[tokio::test]
async fn a_wrong_master_key_is_reported_by_name() {
    let test_db = TestDb::migrated().await;
    let db = &test_db.db;
    let key = MasterKey::generate();
    accounts::add(db, &key, new_account("wx0123456789abcdef"))
        .await
        .unwrap();
    let other = MasterKey::generate();
    let err = accounts::verify_master_key(db, &other).await.unwrap_err();
    assert!(matches!(err, CoreError::WrongMasterKey { .. }));
    assert!(err.to_string().contains("KAIKA__MASTER_KEY"));
    accounts::verify_master_key(db, &key).await.unwrap();
}

#[tokio::test]
async fn accounts_are_listed_refused_twice_and_removed() {
    let test_db = TestDb::migrated().await;
    let db = &test_db.db;
    let key = MasterKey::generate();
    accounts::add(db, &key, new_account("wx0123456789abcdef"))
        .await
        .unwrap();
    accounts::add(db, &key, new_account("wx1111111111111111"))
        .await
        .unwrap();
    let duplicate = accounts::add(db, &key, new_account("wx0123456789abcdef")).await;
    assert!(matches!(duplicate, Err(CoreError::Conflict { .. })));

    let listed: Vec<_> = accounts::list(db)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.app_id)
        .collect();
    assert_eq!(listed, ["wx0123456789abcdef", "wx1111111111111111"]);

    accounts::remove(db, "wx0123456789abcdef").await.unwrap();
    assert!(matches!(
        accounts::remove(db, "wx0123456789abcdef").await,
        Err(CoreError::NotFound { .. })
    ));
    assert_eq!(accounts::list(db).await.unwrap().len(), 1);
}

#[tokio::test]
async fn safe_mode_without_an_encoding_aes_key_is_refused() {
    let test_db = TestDb::migrated().await;
    let mut account = new_account("wx0123456789abcdef");
    account.encoding_aes_key = None;
    let err = accounts::add(&test_db.db, &MasterKey::generate(), account)
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("encoding_aes_key:"));
    assert!(accounts::list(&test_db.db).await.unwrap().is_empty());
}
