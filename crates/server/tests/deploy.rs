//! Kaika deployed as several processes on one database: migrations under a lock, `migrate up` as its
//! own step, `serve --no-migrate`.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

mod common;

use std::time::Duration;

use common::process::on_empty_database;
use kaika_core::migration::{seaql_migrations, Migrator, MigratorTrait};
use kaika_core::testing::TestDb;
use sea_orm::EntityTrait;

const START: Duration = Duration::from_secs(60);

async fn applied_versions(test_db: &TestDb) -> Vec<String> {
    let mut versions: Vec<String> = seaql_migrations::Entity::find()
        .all(&test_db.db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.version)
        .collect();
    versions.sort();
    versions
}

fn every_migration() -> Vec<String> {
    let mut names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_started_together_on_an_empty_database_all_become_healthy() {
    let (test_db, setup, _dir) = on_empty_database().await;
    let info = [("KAIKA__LOG__LEVEL", "info")];
    let mut servers: Vec<_> = (0..3)
        .map(|i| setup.serve(&format!("kaika-{i}"), &[], &info))
        .collect();
    for server in &mut servers {
        server.wait_for("/readyz", START).await;
    }
    for server in &mut servers {
        assert!(server.running(), "{}", server.log());
    }
    assert_eq!(
        applied_versions(&test_db).await,
        every_migration(),
        "each migration applied once"
    );
    let migrated: Vec<_> = servers
        .iter()
        .filter(|s| s.log().contains("migrated the database"))
        .collect();
    assert_eq!(
        migrated.len(),
        1,
        "one instance migrates, the others find nothing pending and say nothing"
    );
    assert!(
        migrated[0]
            .log()
            .contains(&format!("applied {} migration(s)", every_migration().len())),
        "{}",
        migrated[0].log()
    );
}

#[tokio::test]
async fn serve_no_migrate_refuses_a_fresh_database_with_a_sentence() {
    let (test_db, setup, _dir) = on_empty_database().await;
    let mut server = setup.serve("kaika", &["--no-migrate"], &[]);
    let status = server.wait_exit(START).await;
    assert!(!status.success());
    let log = server.log();
    assert!(log.contains("migration(s) are pending"), "{log}");
    assert!(log.contains("kaika migrate up"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(applied_versions_or_none(&test_db).await.is_empty());
}

async fn applied_versions_or_none(test_db: &TestDb) -> Vec<String> {
    match seaql_migrations::Entity::find().all(&test_db.db).await {
        Ok(rows) => rows.into_iter().map(|row| row.version).collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test]
async fn migrate_up_as_its_own_step_then_serve_no_migrate_starts() {
    let (test_db, setup, _dir) = on_empty_database().await;
    let first = setup
        .command(&["migrate", "up"])
        .env("KAIKA__LOG__LEVEL", "info")
        .output()
        .unwrap();
    assert!(first.status.success(), "{first:?}");
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(
        out.contains(&format!("{} migration(s) applied", every_migration().len())),
        "{out}"
    );
    let logged = String::from_utf8_lossy(&first.stderr);
    assert_eq!(
        logged.matches("migrated the database").count(),
        1,
        "one line says what was migrated: {logged}"
    );

    let again = setup
        .command(&["migrate", "up"])
        .env("KAIKA__LOG__LEVEL", "info")
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stdout).contains("no migration pending"));
    assert!(
        again.stderr.is_empty(),
        "nothing at INFO when nothing was pending: {}",
        String::from_utf8_lossy(&again.stderr)
    );

    let mut server = setup.serve("kaika", &["--no-migrate"], &[]);
    server.wait_for("/readyz", START).await;
    assert_eq!(applied_versions(&test_db).await, every_migration());
}
