//! Connecting to the database: SQLite (the embedded default) or PostgreSQL.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
};

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (or `:memory:`).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A database URL that has been checked for a supported scheme and a well-formed body.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    backend: Backend,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("url", &self.redacted())
            .finish()
    }
}

impl DatabaseUrl {
    /// Checks `url`: `sqlite:PATH` (or `sqlite://PATH`) or `postgres://…` / `postgresql://…`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err("a sqlite URL needs a file path, e.g. sqlite://./data/kaika.db".into());
            }
            SqliteConnectOptions::from_str(url)
                .map_err(|e| format!("not a valid sqlite URL: {e}"))?;
            return Ok(Self {
                url: url.to_owned(),
                backend: Backend::Sqlite,
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            sea_orm::sqlx::postgres::PgConnectOptions::from_str(url)
                .map_err(|e| format!("not a valid PostgreSQL URL: {e}"))?;
            return Ok(Self {
                url: url.to_owned(),
                backend: Backend::Postgres,
            });
        }
        Err("expected a URL starting with sqlite:// or postgres://".into())
    }

    /// This PostgreSQL URL with `password` put into its user info, percent-encoded, so that a password
    /// may hold any character (`@`, `:`, `/`, `%`, …) without breaking the URL. Refused for SQLite, for a
    /// URL without a user (`postgres://kaika@host/db` names one) and for a URL that already holds a password.
    pub fn with_password(&self, password: &str) -> Result<Self, String> {
        if self.backend != Backend::Postgres {
            return Err("a password applies only to a postgres:// database URL".into());
        }
        let (base, query) = match self.url.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (self.url.as_str(), None),
        };
        let in_query = query.is_some_and(|query| {
            query.split('&').any(|pair| {
                pair.split_once('=')
                    .is_some_and(|(key, _)| key.eq_ignore_ascii_case("password"))
            })
        });
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let user = match base.rfind('@') {
            Some(at) if at > scheme_end => &base[scheme_end..at],
            _ => "",
        };
        if in_query || user.contains(':') {
            return Err(
                "the database URL holds a password already: give it in one place, the URL or the password setting"
                    .into(),
            );
        }
        if user.is_empty() {
            return Err(
                "the database URL names no user for the password, e.g. postgres://kaika@postgres:5432/kaika"
                    .into(),
            );
        }
        let url = format!(
            "{}{user}:{}{}",
            &self.url[..scheme_end],
            urlencoding::encode(password),
            &self.url[scheme_end + user.len()..]
        );
        Self::parse(&url)
    }

    /// The backend this URL selects.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL itself (it may hold a password: do not log it; log [`DatabaseUrl::redacted`]).
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL with any password replaced by `***`, for logs and messages: the one in the user info
    /// (`postgres://user:secret@host`) and any `password=` query parameter.
    pub fn redacted(&self) -> String {
        let (base, query) = match self.url.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (self.url.as_str(), None),
        };
        let mut out = match (base.find("://"), base.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                match base[scheme_end + 3..at].split_once(':') {
                    Some((user, _)) => {
                        format!("{}://{user}:***{}", &base[..scheme_end], &base[at..])
                    }
                    None => base.to_owned(),
                }
            }
            _ => base.to_owned(),
        };
        if let Some(query) = query {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            out.push('?');
            out.push_str(&pairs.join("&"));
        }
        out
    }

    /// For SQLite files: the database file (`None` for `:memory:` and PostgreSQL).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let path = self.url.strip_prefix("sqlite:")?.trim_start_matches("//");
        let path = path.split('?').next()?;
        (path != ":memory:" && !path.is_empty()).then(|| PathBuf::from(path))
    }

    /// For SQLite files: the directory that must exist before the database file can be created.
    pub fn sqlite_parent_dir(&self) -> Option<PathBuf> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let path = self.url.strip_prefix("sqlite:")?.trim_start_matches("//");
        let path = path.split('?').next()?;
        if path == ":memory:" {
            return None;
        }
        PathBuf::from(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(PathBuf::from)
    }
}

/// Pool and timeout settings for [`connect`].
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How long to wait for a connection before failing.
    pub connect_timeout: Duration,
    /// How long SQLite waits on a locked database before answering "busy".
    pub sqlite_busy_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Opens a pool and syncs [`crate::clock`] with the database. SQLite files are created when missing
/// (mode 0600) and run in WAL mode with a busy timeout and foreign keys on.
pub async fn connect(
    url: &DatabaseUrl,
    settings: &PoolSettings,
) -> Result<DatabaseConnection, DbErr> {
    // In-memory and read-only databases have no file of ours to create.
    let creates_a_file = ["mode=memory", "mode=ro"]
        .iter()
        .all(|mode| !url.as_str().contains(mode));
    if let Some(path) = url.sqlite_file().filter(|_| creates_a_file) {
        create_private_sqlite_file(&path).map_err(|err| {
            DbErr::Custom(format!(
                "cannot create the SQLite database file {}: {err}",
                path.display()
            ))
        })?;
    }
    let mut options = ConnectOptions::new(url.as_str().to_owned());
    options
        .max_connections(settings.max_connections)
        .connect_timeout(settings.connect_timeout)
        .acquire_timeout(settings.connect_timeout)
        .sqlx_logging(false);
    let busy_timeout = settings.sqlite_busy_timeout;
    options.map_sqlx_sqlite_opts(move |opts| {
        opts.create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(busy_timeout)
            .foreign_keys(true)
    });
    let db = Database::connect(options).await?;
    crate::clock::sync(&db).await?;
    Ok(db)
}

/// Creates a missing SQLite database file readable only by its owner. SQLite itself would create it
/// 0644 (less the umask), readable by every user of the machine; an empty file is a valid empty
/// database, and SQLite gives the `-wal` and `-shm` files it creates the database file's mode.
fn create_private_sqlite_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

/// Answers whether the database takes a trivial query.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres | DatabaseBackend::Sqlite | DatabaseBackend::MySql => "SELECT 1",
    };
    db.execute(sea_orm::Statement::from_string(backend, sql))
        .await
        .map(|_| ())
}

/// Connections in use and idle, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
}

/// The pool's current size and idle count.
pub fn pool_stats(db: &DatabaseConnection) -> PoolStats {
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            PoolStats {
                size: pool.size(),
                idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            }
        }
        DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            PoolStats {
                size: pool.size(),
                idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            }
        }
        DatabaseBackend::MySql => PoolStats { size: 0, idle: 0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_for_scheme_and_body() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://./data/kaika.db")
                .unwrap()
                .backend(),
            Backend::Sqlite
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u:p@localhost:5432/kaika")
                .unwrap()
                .backend(),
            Backend::Postgres
        );
        assert!(DatabaseUrl::parse("mysql://localhost/kaika").is_err());
        assert!(DatabaseUrl::parse("kaika.db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        assert!(DatabaseUrl::parse("postgres://u:p@host:notaport/db").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        let url = DatabaseUrl::parse("postgres://kaika:hunter2@db:5432/kaika").unwrap();
        assert_eq!(url.redacted(), "postgres://kaika:***@db:5432/kaika");
        assert!(!format!("{url:?}").contains("hunter2"));
        let url =
            DatabaseUrl::parse("postgres://db/kaika?user=kaika&Password=hunter2&sslmode=require")
                .unwrap();
        assert_eq!(
            url.redacted(),
            "postgres://db/kaika?user=kaika&Password=***&sslmode=require"
        );
        let url = DatabaseUrl::parse("postgres://kaika:a@b@db/kaika?password=c").unwrap();
        assert_eq!(url.redacted(), "postgres://kaika:***@db/kaika?password=***");
    }

    #[test]
    fn a_password_given_apart_is_percent_encoded_into_the_url() {
        let url = DatabaseUrl::parse("postgres://kaika@postgres:5432/kaika?sslmode=disable")
            .unwrap()
            .with_password("p@ss:w/rd?#% é")
            .unwrap();
        assert_eq!(
            url.as_str(),
            "postgres://kaika:p%40ss%3Aw%2Frd%3F%23%25%20%C3%A9@postgres:5432/kaika?sslmode=disable"
        );
        assert_eq!(
            url.redacted(),
            "postgres://kaika:***@postgres:5432/kaika?sslmode=disable"
        );
        let refused = |text: &str| DatabaseUrl::parse(text).unwrap().with_password("x");
        assert!(refused("postgres://kaika:secret@db/kaika").is_err());
        assert!(refused("postgres://kaika@db/kaika?password=secret").is_err());
        assert!(refused("postgres://db/kaika").is_err());
        assert!(refused("sqlite://./data/kaika.db").is_err());
    }

    #[test]
    fn the_sqlite_parent_directory_is_found() {
        let url = DatabaseUrl::parse("sqlite://./data/kaika.db?mode=rwc").unwrap();
        assert_eq!(url.sqlite_parent_dir(), Some(PathBuf::from("./data")));
        let memory = DatabaseUrl::parse("sqlite::memory:").unwrap();
        assert_eq!(memory.sqlite_parent_dir(), None);
    }
}
