//! `kaika backup`, `kaika restore` and `kaika workers`.
//!
//! A backup is one file: on SQLite a consistent copy taken while Kaika runs (`VACUUM INTO`), on
//! PostgreSQL a `pg_dump` custom-format archive. Neither holds the master key: the account secrets inside
//! open only with the key of the installation they came from, so a restore checks that key against the
//! backup before it replaces anything, and never generates one. A restored database starts with its
//! background workers paused ([`kaika_core::maintenance`]), so that a copy never fetches tokens or sends
//! outbox jobs against production's WeChat account until an operator runs `kaika workers resume`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context as _};
use clap::Subcommand;
use kaika_core::db::Backend;
use kaika_core::secrets::MasterKey;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

use crate::config::{MasterKeySource, Settings};
use crate::startup;

/// `kaika workers …`
#[derive(Debug, Subcommand)]
pub enum WorkersAction {
    /// Say whether the background workers are paused, since when and why.
    Status,
    /// Pause the background workers of every process on this database (they stop at their next start;
    /// a process already running them keeps them).
    Pause {
        /// Why, for whoever finds them paused.
        #[arg(long, default_value = "paused by an operator")]
        reason: String,
    },
    /// Let the background workers run: processes waiting with paused workers start them within seconds.
    Resume,
}

/// `kaika backup PATH`: a consistent copy of the database in one new file (never overwriting one).
pub async fn backup(settings: &Settings, path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        bail!(
            "{} already exists: a backup never overwrites a file, choose a new name",
            path.display()
        );
    }
    let url = &settings.database_url;
    match url.backend() {
        Backend::Sqlite => {
            let db = startup::connect(settings).await?;
            let target = utf8(path)?;
            db.execute(Statement::from_sql_and_values(
                db.get_database_backend(),
                "VACUUM INTO ?",
                [target.into()],
            ))
            .await
            .with_context(|| format!("cannot write the backup {}", path.display()))?;
            db.close().await.ok();
        }
        Backend::Postgres => {
            let (uri, password) = without_password(url.as_str());
            let mut command = Command::new("pg_dump");
            command
                .args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
                .arg(path)
                .arg("--dbname")
                .arg(uri);
            run_tool(command, password, "pg_dump").await?;
        }
    }
    private_file(path)?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up {} to {} ({size} bytes)",
        url.redacted(),
        path.display()
    );
    println!(
        "keep the master key too, apart from this file: without it the account secrets in the backup \
         cannot be read, and `kaika restore` refuses to restore it"
    );
    Ok(())
}

/// `kaika restore PATH`: checks the backup and the master key, replaces the database (after
/// confirmation when it holds data), migrates it and pauses its background workers.
pub async fn restore(settings: &Settings, path: &Path, yes: bool) -> anyhow::Result<()> {
    let url = &settings.database_url;
    let kind = backup_kind(path)?;
    if kind != url.backend() {
        bail!(
            "{} is a {} backup but the database is {}: restore it into a {} installation",
            path.display(),
            backend_name(kind),
            backend_name(url.backend()),
            backend_name(kind)
        );
    }
    let key = restore_key(settings)?;
    let accounts = match kind {
        Backend::Sqlite => check_sqlite_backup(path, &key).await?,
        Backend::Postgres => check_pg_dump(path, &key).await?,
    };
    if target_holds_data(settings).await? {
        crate::confirm::confirm(
            &format!(
                "the database at {} already holds data; restoring {} replaces all of it",
                url.redacted(),
                path.display()
            ),
            yes,
        )?;
    }
    match kind {
        Backend::Sqlite => replace_sqlite(settings, path)?,
        Backend::Postgres => restore_postgres(settings, path).await?,
    }
    let db = startup::connect(settings).await?;
    startup::migrate(&db, settings, None).await?;
    kaika_core::accounts::verify_master_key(&db, &key)
        .await
        .map_err(|err| wrong_key(&err.to_string()))?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    kaika_core::maintenance::pause_workers(
        &db,
        &format!(
            "restored from {name} at {}",
            settings.time_zone.with_offset(&chrono::Utc::now())
        ),
    )
    .await?;
    db.close().await.ok();
    println!(
        "restored {} into {} ({accounts} account(s), their secrets open with this master key)",
        path.display(),
        url.redacted()
    );
    println!(
        "the background workers are paused: `kaika serve` serves HTTP but fetches no tokens, applies no \
         events and sends no outbox jobs. Run `kaika workers resume` once this copy is the installation \
         that should talk to WeChat."
    );
    Ok(())
}

/// `kaika workers …`
pub async fn workers(settings: &Settings, action: WorkersAction) -> anyhow::Result<()> {
    let ctx = startup::prepare(settings).await?;
    match action {
        WorkersAction::Status => match kaika_core::maintenance::workers_paused(&ctx.db).await? {
            Some(paused) => println!(
                "paused since {}: {} (`kaika workers resume` starts them)",
                settings.time_zone.with_offset(&paused.since),
                paused.reason
            ),
            None => println!("not paused: processes with role worker or all run them"),
        },
        WorkersAction::Pause { reason } => {
            kaika_core::maintenance::pause_workers(&ctx.db, &reason).await?;
            println!(
                "paused: processes that start from now on run no background workers (restart those \
                 running them to stop theirs)"
            );
        }
        WorkersAction::Resume => {
            if kaika_core::maintenance::resume_workers(&ctx.db).await? {
                println!(
                    "resumed: processes with role worker or all start their background workers within \
                     a few seconds"
                );
            } else {
                println!("the background workers were not paused");
            }
        }
    }
    Ok(())
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}

fn utf8(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not a UTF-8 path", path.display()))
}

/// Which database wrote the backup, from its first bytes.
fn backup_kind(path: &Path) -> anyhow::Result<Backend> {
    let mut head = [0u8; 16];
    let read = std::fs::File::open(path)
        .and_then(|mut file| file.read(&mut head))
        .with_context(|| format!("cannot read the backup {}", path.display()))?;
    let head = &head[..read];
    if head.starts_with(b"SQLite format 3\0") {
        Ok(Backend::Sqlite)
    } else if head.starts_with(b"PGDMP") {
        Ok(Backend::Postgres)
    } else {
        bail!(
            "{} is not a Kaika backup: expected a SQLite database or a pg_dump custom-format archive, \
             as `kaika backup` writes",
            path.display()
        )
    }
}

/// The sentence for a master key that does not open the backup's or the database's secrets.
fn wrong_key(detail: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the master key does not open the secrets in this backup ({detail}): restore with the master key \
         of the installation the backup came from (KAIKA__MASTER_KEY, KAIKA__MASTER_KEY_FILE or \
         <data_dir>/master.key); nothing was changed"
    )
}

/// The configured master key, or the key file when it exists. Never generates one: a new key cannot
/// open restored secrets.
fn restore_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    match &settings.master_key {
        MasterKeySource::Configured(key) => Ok(key.clone()),
        MasterKeySource::KeyFile(file) if file.is_file() => MasterKey::load_or_create(file)
            .with_context(|| format!("cannot read the master key file {}", file.display())),
        MasterKeySource::KeyFile(file) => bail!(
            "no master key: {} does not exist and KAIKA__MASTER_KEY is not set. A backup's account \
             secrets open only with the master key of the installation it came from: put that key in {} \
             (mode 0600) or set KAIKA__MASTER_KEY, then restore again",
            file.display(),
            file.display()
        ),
    }
}

/// Opens a SQLite backup read-only and checks the key opens every stored secret. Returns how many
/// accounts it holds.
async fn check_sqlite_backup(path: &Path, key: &MasterKey) -> anyhow::Result<usize> {
    let url = format!("sqlite:{}?mode=ro", utf8(path)?);
    let db = Database::connect(&url)
        .await
        .with_context(|| format!("cannot open the backup {}", path.display()))?;
    let checked = check_key(&db, key).await;
    db.close().await.ok();
    checked.with_context(|| format!("checking the backup {}", path.display()))
}

async fn check_key(db: &DatabaseConnection, key: &MasterKey) -> anyhow::Result<usize> {
    let accounts = kaika_core::accounts::list(db)
        .await
        .context("it holds no Kaika database")?
        .len();
    match kaika_core::accounts::verify_master_key(db, key).await {
        Ok(()) => Ok(accounts),
        Err(kaika_core::CoreError::WrongMasterKey { what }) => Err(wrong_key(&what)),
        Err(err) => Err(err.into()),
    }
}

/// Reads the accounts of a `pg_dump` archive (`pg_restore --data-only --table=accounts`) and checks the
/// key opens each AppSecret. Returns how many accounts it holds.
async fn check_pg_dump(path: &Path, key: &MasterKey) -> anyhow::Result<usize> {
    let mut list = Command::new("pg_restore");
    list.arg("--list").arg(path);
    let listed = run_tool(list, None, "pg_restore").await?;
    if !String::from_utf8_lossy(&listed.stdout).contains("seaql_migrations") {
        bail!(
            "{} is a pg_dump archive but not of a Kaika database",
            path.display()
        );
    }
    let mut accounts = Command::new("pg_restore");
    accounts
        .args(["--data-only", "--table=accounts", "--file=-"])
        .arg(path);
    let dumped = run_tool(accounts, None, "pg_restore").await?;
    let rows = copied_rows(
        &String::from_utf8_lossy(&dumped.stdout),
        "accounts",
        &["app_id", "app_secret_sealed"],
    )?;
    for row in &rows {
        if !kaika_core::accounts::key_opens_app_secret(key, &row[0], &row[1]) {
            return Err(wrong_key(&format!("the AppSecret of account {}", row[0])));
        }
    }
    Ok(rows.len())
}

/// The values of `columns` in each row of the `COPY … FROM stdin` block of `table` in a plain SQL dump.
fn copied_rows(sql: &str, table: &str, columns: &[&str]) -> anyhow::Result<Vec<Vec<String>>> {
    let mut lines = sql.lines();
    let header = lines.find(|line| {
        line.starts_with("COPY ")
            && line
                .split_whitespace()
                .nth(1)
                .is_some_and(|name| name.rsplit('.').next() == Some(table))
    });
    let Some(header) = header else {
        return Ok(Vec::new());
    };
    let names: Vec<&str> = header
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(names, _)| {
            names
                .split(',')
                .map(|n| n.trim().trim_matches('"'))
                .collect()
        })
        .unwrap_or_default();
    let positions = columns
        .iter()
        .map(|column| {
            names
                .iter()
                .position(|name| name == column)
                .with_context(|| format!("the dump's {table} table has no column {column}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(lines
        .take_while(|line| *line != "\\.")
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            positions
                .iter()
                .map(|&at| fields.get(at).copied().unwrap_or_default().to_owned())
                .collect()
        })
        .collect())
}

/// Whether the database a restore would replace already holds Kaika's tables.
async fn target_holds_data(settings: &Settings) -> anyhow::Result<bool> {
    let url = &settings.database_url;
    if let Some(file) = url.sqlite_file() {
        if std::fs::metadata(&file).map_or(true, |m| m.len() == 0) {
            return Ok(false);
        }
    }
    let db = startup::connect(settings).await?;
    let sql = match url.backend() {
        Backend::Sqlite => "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'",
        Backend::Postgres => {
            "SELECT count(*) AS n FROM pg_tables WHERE schemaname = current_schema()"
        }
    };
    let count = db
        .query_one(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    db.close().await.ok();
    Ok(count > 0)
}

/// Puts the backup file in the database file's place (through a temporary file beside it, so a crash
/// leaves either the old or the new database), and drops the old write-ahead log.
fn replace_sqlite(settings: &Settings, backup: &Path) -> anyhow::Result<()> {
    let file = settings
        .database_url
        .sqlite_file()
        .context("an in-memory SQLite database cannot be restored into")?;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut staging = file.clone().into_os_string();
    staging.push(".restoring");
    let staging = PathBuf::from(staging);
    std::fs::copy(backup, &staging)
        .with_context(|| format!("cannot copy the backup to {}", staging.display()))?;
    private_file(&staging)?;
    std::fs::File::open(&staging)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot write {}", staging.display()))?;
    for suffix in ["-wal", "-shm"] {
        let mut side = file.clone().into_os_string();
        side.push(suffix);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot remove {}", side.to_string_lossy()))
            }
        }
    }
    std::fs::rename(&staging, &file)
        .with_context(|| format!("cannot move the restored database to {}", file.display()))?;
    Ok(())
}

/// Drops the tables of the current schema, then `pg_restore`s the archive in one transaction.
async fn restore_postgres(settings: &Settings, backup: &Path) -> anyhow::Result<()> {
    let db = startup::connect(settings).await?;
    let tables = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
        ))
        .await?;
    for table in tables {
        let name: String = table.try_get("", "tablename")?;
        db.execute(Statement::from_string(
            db.get_database_backend(),
            format!(
                "DROP TABLE IF EXISTS \"{}\" CASCADE",
                name.replace('"', "\"\"")
            ),
        ))
        .await
        .with_context(|| format!("cannot drop the table {name} before restoring"))?;
    }
    db.close().await.ok();
    let (uri, password) = without_password(settings.database_url.as_str());
    let mut command = Command::new("pg_restore");
    command
        .args([
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            "--dbname",
        ])
        .arg(uri)
        .arg(backup);
    run_tool(command, password, "pg_restore").await?;
    Ok(())
}

/// Runs a PostgreSQL client tool, the password in `PGPASSWORD` rather than on its command line; fails
/// with its error output.
async fn run_tool(
    mut command: Command,
    password: Option<String>,
    name: &'static str,
) -> anyhow::Result<Output> {
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .context("the tool's thread failed")?
        .map_err(|err| {
            if err.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!(
                    "{name} was not found: install PostgreSQL's client tools (Debian: apt-get install \
                     postgresql-client, the server's major version or newer)"
                )
            } else {
                anyhow::anyhow!("cannot run {name}: {err}")
            }
        })?;
    if !output.status.success() {
        bail!(
            "{name} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}

/// A PostgreSQL URL without its password (in the user info or a `password=` parameter), and that
/// password, percent-decoded.
fn without_password(url: &str) -> (String, Option<String>) {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let decode =
        |text: &str| urlencoding::decode(text).map_or_else(|_| text.to_owned(), |t| t.into_owned());
    let mut password = None;
    let mut out = base.to_owned();
    if let (Some(scheme_end), Some(at)) = (base.find("://"), base.rfind('@')) {
        if at > scheme_end {
            if let Some((user, secret)) = base[scheme_end + 3..at].split_once(':') {
                password = Some(decode(secret));
                out = format!("{}://{user}{}", &base[..scheme_end], &base[at..]);
            }
        }
    }
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| match pair.split_once('=') {
                Some((key, value)) if key.eq_ignore_ascii_case("password") => {
                    password = Some(decode(value));
                    false
                }
                _ => true,
            })
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    (out, password)
}

/// Makes a file readable by its owner only: a backup holds members' personal data.
fn private_file(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {} to its owner", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url_for_pgpassword() {
        assert_eq!(
            without_password("postgres://kaika:p%40ss@db:5432/kaika?sslmode=require"),
            (
                "postgres://kaika@db:5432/kaika?sslmode=require".to_owned(),
                Some("p@ss".to_owned())
            )
        );
        assert_eq!(
            without_password("postgres://kaika@db/kaika?password=s3cret&sslmode=disable"),
            (
                "postgres://kaika@db/kaika?sslmode=disable".to_owned(),
                Some("s3cret".to_owned())
            )
        );
        assert_eq!(
            without_password("postgres://postgres@127.0.0.1:5432/postgres"),
            (
                "postgres://postgres@127.0.0.1:5432/postgres".to_owned(),
                None
            )
        );
    }

    #[test]
    fn copy_blocks_give_the_named_columns() {
        let sql = "SET x = 1;\nCOPY public.cards (id, app_id) FROM stdin;\n1\twxnot\n\\.\n\
                   COPY public.accounts (id, name, app_id, app_secret_sealed) FROM stdin;\n\
                   1\tShop\twx0123456789abcdef\tAAAA\n2\tOther\twx1111111111111111\tBBBB\n\\.\n";
        let rows = copied_rows(sql, "accounts", &["app_id", "app_secret_sealed"]).unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["wx0123456789abcdef".to_owned(), "AAAA".to_owned()],
                vec!["wx1111111111111111".to_owned(), "BBBB".to_owned()],
            ]
        );
        assert!(copied_rows("", "accounts", &["app_id"]).unwrap().is_empty());
        assert!(copied_rows(sql, "accounts", &["nope"]).is_err());
    }
}
