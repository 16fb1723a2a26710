//! What every command needs before it can work: the data directory, the master key, a migrated database.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use kaika_core::activation::Activator;
use kaika_core::cards::ParamsFlights;
use kaika_core::clients::Clients;
use kaika_core::db::{self, Backend};
use kaika_core::golive::PublicUrl;
use kaika_core::secrets::MasterKey;
use sea_orm::DatabaseConnection;

use crate::config::{MasterKeySource, Settings};
use crate::metrics::Metrics;

/// An open database, the key to its secrets, and the services built on them.
#[derive(Debug, Clone)]
pub struct Context {
    /// The pool.
    pub db: DatabaseConnection,
    /// The master key.
    pub master_key: MasterKey,
    /// WeChat clients per account.
    pub clients: Clients,
    /// The activation driver.
    pub activator: Activator,
    /// Single-flight locks for `activate/geturl`.
    pub params_flights: ParamsFlights,
    /// Kaika's external address (`KAIKA__SERVER__PUBLIC_URL`), when set.
    pub public_url: Option<PublicUrl>,
    /// This process' metrics; the clients, the activator and the workers count into them.
    pub metrics: Metrics,
}

/// A name for this process in leases: host, process id and a random suffix.
fn process_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "kaika".into());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Creates the data directory if needed and proves it writable.
fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let probe = dir.join(".kaika-write-test");
    std::fs::write(&probe, b"ok")
        .with_context(|| format!("the data directory {} is not writable", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

/// Resolves the master key: the configured one, or the key file, created on first run only: when the
/// file is missing but `db` already holds sealed secrets, a new key could never open them, so this
/// stops with a sentence instead of generating one over old data.
pub async fn master_key(settings: &Settings, db: &DatabaseConnection) -> anyhow::Result<MasterKey> {
    match &settings.master_key {
        MasterKeySource::Configured(key) => Ok(key.clone()),
        MasterKeySource::KeyFile(path) => {
            ensure_data_dir(&settings.data_dir)?;
            if !path.exists() {
                let sealed = kaika_core::accounts::list(db)
                    .await
                    .context("cannot read whether the database holds secrets")?
                    .len();
                if sealed > 0 {
                    anyhow::bail!(
                        "the master key file {} is missing but the database holds the secrets of {sealed} \
                         account(s), sealed with a master key: put that key back in {} (from where you \
                         keep it, e.g. beside your backups) or set KAIKA__MASTER_KEY; Kaika will not \
                         generate a new key over existing data",
                        path.display(),
                        path.display()
                    );
                }
            }
            MasterKey::load_or_create(path)
                .with_context(|| format!("cannot use the master key file {}", path.display()))
        }
    }
}

/// Opens the database, creating the SQLite file's directory when needed.
pub async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    if let Some(dir) = settings.database_url.sqlite_parent_dir() {
        ensure_data_dir(&dir)?;
    }
    let url = &settings.database_url;
    let db = db::connect(url, &settings.pool).await.map_err(|err| {
        anyhow::anyhow!(
            "cannot connect to the database at {} ({}): is it running and reachable?",
            url.redacted(),
            innermost_cause(&err)
        )
    })?;
    db::ping(&db)
        .await
        .with_context(|| format!("the database at {} does not answer", url.redacted()))?;
    if url.backend() == Backend::Sqlite {
        tracing::debug!(url = %url.redacted(), "SQLite opened in WAL mode");
    }
    Ok(db)
}

/// The last error of a source chain: sea-orm repeats the same message at several levels.
fn innermost_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// What a command does about pending migrations before it works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// Apply them under the migration lock (the default of every command).
    Apply,
    /// Refuse to start while any is pending (`kaika serve --no-migrate`).
    RequireCurrent,
}

/// Applies the pending migrations (at most `steps`) under the migration lock, and says so in one line
/// when there were any. Returns how many this process applied.
pub async fn migrate(
    db: &DatabaseConnection,
    settings: &Settings,
    steps: Option<u32>,
) -> anyhow::Result<usize> {
    let applied = kaika_core::migration::up_locked(db, &settings.database_url, steps)
        .await
        .context("cannot apply the database migrations")?;
    match (applied.first(), applied.last()) {
        (Some(first), Some(last)) => tracing::info!(
            applied = applied.len(),
            "migrated the database: applied {} migration(s), {first} to {last}",
            applied.len()
        ),
        _ => tracing::debug!("the database schema is current: no migration pending"),
    }
    Ok(applied.len())
}

/// Fails with the sentence an operator needs when migrations are pending.
async fn require_current(db: &DatabaseConnection) -> anyhow::Result<()> {
    let pending = kaika_core::migration::pending(db)
        .await
        .context("cannot read which database migrations are applied")?;
    if let Some(first) = pending.first() {
        anyhow::bail!(
            "{} database migration(s) are pending (first: {first}) and --no-migrate was given: \
             run `kaika migrate up` first, or start without --no-migrate",
            pending.len()
        );
    }
    Ok(())
}

/// Everything a command needs: key, database, migrations applied, stored secrets readable with the key.
pub async fn prepare(settings: &Settings) -> anyhow::Result<Context> {
    prepare_with(settings, Migrations::Apply).await
}

/// [`prepare`], choosing what to do about pending migrations.
pub async fn prepare_with(settings: &Settings, migrations: Migrations) -> anyhow::Result<Context> {
    let migrating = connect(settings).await?;
    match migrations {
        Migrations::Apply => {
            migrate(&migrating, settings, None).await?;
        }
        Migrations::RequireCurrent => require_current(&migrating).await?,
    }
    let master_key = master_key(settings, &migrating).await?;
    // A pooled connection keeps the schema it read first (SQLite) or its prepared plans (PostgreSQL):
    // statements prepared on it after a migration could miss the columns the migration added. The pool
    // that serves is opened after the migrations.
    migrating.close().await.ok();
    let db = connect(settings).await?;
    match kaika_core::accounts::verify_master_key(&db, &master_key).await {
        Err(kaika_core::CoreError::WrongMasterKey { what }) => anyhow::bail!(
            "the master key does not open the {what} stored in this database: start with the key the \
             database was written with (for a restored backup, the key of the installation it came \
             from) in KAIKA__MASTER_KEY, KAIKA__MASTER_KEY_FILE or <data_dir>/master.key; Kaika never \
             replaces it"
        ),
        other => other?,
    }
    let metrics = Metrics::new().context("cannot register the metrics")?;
    let clients = Clients::new(db.clone(), master_key.clone(), settings.wechat.clone())
        .with_observer(Arc::new(metrics.clone()));
    let activator = Activator::new(
        db.clone(),
        clients.clone(),
        process_name(),
        settings.activation.clone(),
    );
    Ok(Context {
        db,
        master_key,
        clients,
        activator,
        params_flights: ParamsFlights::default(),
        public_url: settings.public_url.clone(),
        metrics,
    })
}
