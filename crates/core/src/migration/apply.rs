//! Applying migrations while other processes start on the same database: whoever takes the lock first
//! migrates, the others wait and then find nothing pending. PostgreSQL: a session-level advisory lock on
//! one connection of its own (outside the pool, so a pool of one connection cannot deadlock); SQLite: an
//! OS lock on a file next to the database. SQLite's own locking does not suffice: two processes would
//! both read the same pending list and the second would fail creating tables that already exist.

use std::collections::HashSet;
use std::str::FromStr;

use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait};
use sea_orm_migration::seaql_migrations;
use sea_orm_migration::{MigratorTrait, SchemaManager};

use super::Migrator;
use crate::db::{Backend, DatabaseUrl};

/// The advisory lock key of Kaika's migrations (any constant; `0x6b61696b61` spells "kaika").
const ADVISORY_LOCK_KEY: i64 = 0x006b_6169_6b61;

/// The names of the migrations not yet applied, oldest first. Reads only: a database without the
/// migration table has every migration pending.
pub async fn pending(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let all = Migrator::migrations();
    let applied: HashSet<String> = if SchemaManager::new(db)
        .has_table(Migrator::migration_table_name().to_string())
        .await?
    {
        seaql_migrations::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|row| row.version)
            .collect()
    } else {
        HashSet::new()
    };
    Ok(all
        .iter()
        .map(|migration| migration.name().to_owned())
        .filter(|name| !applied.contains(name))
        .collect())
}

/// Applies the pending migrations (at most `steps` of them) under the migration lock; returns the names
/// of those this call applied (none when another process applied them first).
pub async fn up_locked(
    db: &DatabaseConnection,
    url: &DatabaseUrl,
    steps: Option<u32>,
) -> Result<Vec<String>, DbErr> {
    match url.backend() {
        Backend::Postgres => {
            let options = PgConnectOptions::from_str(url.as_str())
                .map_err(|err| DbErr::Custom(format!("the database URL: {err}")))?;
            let mut lock = options
                .connect()
                .await
                .map_err(|err| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(err)))?;
            sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(ADVISORY_LOCK_KEY)
                .execute(&mut lock)
                .await
                .map_err(|err| DbErr::Exec(sea_orm::RuntimeErr::SqlxError(err)))?;
            let applied = up(db, steps).await;
            // Closing the session would free the lock too; unlocking says so explicitly.
            let unlocked = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(ADVISORY_LOCK_KEY)
                .execute(&mut lock)
                .await;
            lock.close().await.ok();
            let applied = applied?;
            unlocked.map_err(|err| DbErr::Exec(sea_orm::RuntimeErr::SqlxError(err)))?;
            Ok(applied)
        }
        Backend::Sqlite => {
            let Some(path) = url.sqlite_file() else {
                // `:memory:` belongs to one process: nobody to wait for.
                return up(db, steps).await;
            };
            let lock_path = path.with_file_name(format!(
                "{}.migrate.lock",
                path.file_name().and_then(|n| n.to_str()).unwrap_or("kaika")
            ));
            let file = tokio::task::spawn_blocking(move || {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)?;
                file.lock()?;
                Ok::<_, std::io::Error>(file)
            })
            .await
            .map_err(|err| DbErr::Custom(format!("the migration lock task: {err}")))?
            .map_err(|err| DbErr::Custom(format!("cannot take the migration lock file: {err}")))?;
            let applied = up(db, steps).await;
            // Dropping the file releases the lock as well; unlocking first says so explicitly.
            file.unlock().ok();
            applied
        }
    }
}

async fn up(db: &DatabaseConnection, steps: Option<u32>) -> Result<Vec<String>, DbErr> {
    let mut names = pending(db).await?;
    if let Some(steps) = steps {
        names.truncate(usize::try_from(steps).unwrap_or(usize::MAX));
    }
    if !names.is_empty() {
        Migrator::up(db, steps).await?;
    }
    Ok(names)
}
