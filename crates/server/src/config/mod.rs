//! Configuration: the embedded defaults (`config.default.toml`), an optional file, then `KAIKA__…`
//! environment variables (and `DATABASE_URL`), checked once at start ([`checks`] says what is refused).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use kaika_core::db::{Backend, DatabaseUrl, PoolSettings};
use kaika_core::secrets::MasterKey;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The documented defaults, built into the binary.
pub const DEFAULTS: &str = include_str!("../../config.default.toml");

/// The file holding the generated master key, inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// A setting that was missing or wrong, named by its key and its environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value was refused.
    #[error("setting `{key}` (env {env}): {message}")]
    Invalid {
        /// The dotted key, e.g. `server.listen`.
        key: String,
        /// The environment variable that sets it.
        env: String,
        /// What was expected.
        message: String,
    },
    /// A key of the config file or a `KAIKA__…` variable names no setting.
    #[error("unknown {given}: did you mean {closest}?")]
    Unknown {
        /// What was given and where, e.g. ``setting `server.listn` in kaika.toml``.
        given: String,
        /// The closest valid key or variable.
        closest: String,
    },
    /// The configuration could not be read or has the wrong shape.
    #[error("configuration: {0}")]
    Load(String),
}

#[derive(Deserialize)]
struct RawSettings {
    data_dir: PathBuf,
    master_key: Option<SecretString>,
    #[serde(default)]
    master_key_file: String,
    server: RawServer,
    database: RawDatabase,
    log: RawLog,
    wechat: RawWechat,
    activation: RawActivation,
    sandbox: RawSandbox,
    reviews: RawReviews,
    events: EventsConfig,
    outbox: OutboxConfig,
    ledger: kaika_core::ledger::LedgerLimits,
    rate_limit: crate::rate_limit::RateLimitConfig,
    metrics: RawMetrics,
    admin: RawAdmin,
}

#[derive(Deserialize)]
struct RawAdmin {
    time_zone: String,
}

#[derive(Deserialize)]
struct RawMetrics {
    listen: String,
    token: SecretString,
    token_file: String,
}

#[derive(Deserialize)]
struct RawServer {
    listen: String,
    workers: usize,
    shutdown_timeout_secs: u64,
    public_url: String,
    role: String,
    drain_timeout_secs: u64,
    trusted_proxies: CidrList,
}

/// `server.trusted_proxies`: a comma-separated string (as environment variables give it) or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum CidrList {
    Text(String),
    List(Vec<String>),
}

#[derive(Deserialize)]
struct RawDatabase {
    url: SecretString,
    url_file: String,
    password: SecretString,
    max_connections: u32,
    connect_timeout_secs: u64,
    sqlite_busy_timeout_ms: u64,
}

#[derive(Deserialize)]
struct RawWechat {
    timeout_ms: u64,
    busy_retries: u32,
    busy_base_delay_ms: u64,
}

#[derive(Deserialize)]
struct RawActivation {
    duplicate_wait_ms: u64,
    retry_base_ms: u64,
    retry_max_secs: u64,
    max_attempts: i32,
    lease_secs: u64,
    redrive_interval_secs: u64,
}

#[derive(Deserialize)]
struct RawSandbox {
    mode: String,
    control_from_anywhere: bool,
}

#[derive(Deserialize)]
struct RawReviews {
    poll_max_delay_secs: u64,
}

#[derive(Deserialize)]
struct RawLog {
    format: String,
    level: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// What a `kaika serve` process does (`server.role`, `kaika serve --role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// HTTP only: no background workers.
    Web,
    /// The background workers; HTTP only for the probes.
    Worker,
    /// Both.
    All,
}

impl Role {
    /// Whether this process serves the application over HTTP (not only the probes).
    pub fn serves_http(self) -> bool {
        matches!(self, Self::Web | Self::All)
    }

    /// Whether this process runs the background workers.
    pub fn runs_workers(self) -> bool {
        matches!(self, Self::Worker | Self::All)
    }
}

/// When `kaika serve` runs the sandbox (`sandbox.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// With no real account, on SQLite only: with PostgreSQL (a deployment) Kaika says what to do instead.
    Auto,
    /// With no real account, on any database.
    On,
    /// Never.
    Off,
}

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// Given in the configuration.
    Configured(MasterKey),
    /// To be read from, or generated into, this file.
    KeyFile(PathBuf),
}

/// Kaika's checked settings. `Debug` output never shows the master key or a database password.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The master key, or the file it lives in.
    pub master_key: MasterKeySource,
    /// The address to serve on.
    pub listen: SocketAddr,
    /// HTTP worker threads (0: one per core).
    pub workers: usize,
    /// Kaika's external HTTPS address, for the URLs pasted into WeChat; needed by a real account.
    pub public_url: Option<kaika_core::golive::PublicUrl>,
    /// Grace period for in-flight requests at shutdown.
    pub shutdown_timeout: Duration,
    /// What this process does.
    pub role: Role,
    /// Grace period for the workers' round in flight at shutdown.
    pub drain_timeout: Duration,
    /// The database.
    pub database_url: DatabaseUrl,
    /// Pool settings.
    pub pool: PoolSettings,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// Settings of calls to WeChat.
    pub wechat: kaika_core::clients::ClientConfig,
    /// Settings of the activation driver.
    pub activation: kaika_core::activation::ActivationSettings,
    /// Time between background re-drive passes.
    pub redrive_interval: Duration,
    /// When the sandbox may start.
    pub sandbox: SandboxMode,
    /// Whether the simulator's control API (`/sim/control`) answers peers other than loopback.
    pub sandbox_control_from_anywhere: bool,
    /// Longest wait between two `card/get` checks of a card still in review.
    pub review_poll_max_delay: Duration,
    /// Event callback checks and the event worker.
    pub events: EventsConfig,
    /// The WeChat sync (outbox) worker.
    pub outbox: OutboxConfig,
    /// Per-entry limits of ledger changes.
    pub ledger: kaika_core::ledger::LedgerLimits,
    /// The reverse proxies whose forwarding headers are believed.
    pub trusted_proxies: crate::client_ip::TrustedProxies,
    /// Per-instance rate limits of the mini-program's costly endpoints.
    pub rate_limit: crate::rate_limit::RateLimitConfig,
    /// A separate address that serves `/metrics` alone (then the main address does not serve it).
    pub metrics_listen: Option<SocketAddr>,
    /// The bearer token `/metrics` requires, when set.
    pub metrics_token: Option<SecretString>,
    /// The time zone of the times the admin, its CSV export and the CLI show.
    pub time_zone: kaika_core::display::Zone,
}

impl Settings {
    /// Who may read `/metrics` on the main listen address.
    pub fn metrics_access(&self) -> crate::metrics::MetricsAccess {
        crate::metrics::MetricsAccess {
            token: self.metrics_token.clone(),
            separate: self.metrics_listen.is_some(),
        }
    }

    /// The layered sources: defaults < `config_file` < `DATABASE_URL` < `KAIKA__…` variables. A key of
    /// the file or a `KAIKA__…` variable that names no setting is refused here, with the closest one.
    pub fn figment(config_file: Option<&Path>) -> Result<Figment, ConfigError> {
        let known = setting_keys();
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = config_file {
            if !path.is_file() {
                return Err(ConfigError::Load(format!(
                    "the config file {} does not exist",
                    path.display()
                )));
            }
            refuse_unknown_file_keys(path, &known)?;
            figment = figment.merge(Toml::file_exact(path));
        }
        refuse_unknown_variables(&known)?;
        Ok(figment
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            )
            .merge(Env::prefixed(ENV_PREFIX).split("__")))
    }

    /// Loads and checks the settings from the environment and an optional file.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_figment(&Self::figment(config_file)?)
    }

    /// Checks the settings held by `figment`.
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let raw: RawSettings = figment.extract().map_err(extraction_error)?;
        Self::check(raw)
    }

    fn check(raw: RawSettings) -> Result<Self, ConfigError> {
        check_counts(&raw)?;
        let listen = raw
            .server
            .listen
            .parse()
            .map_err(|_| ConfigError::Invalid {
                key: "server.listen".into(),
                env: "KAIKA__SERVER__LISTEN".into(),
                message: format!(
                    "{:?} is not an address like 127.0.0.1:8080",
                    raw.server.listen
                ),
            })?;
        let public_url = match raw.server.public_url.trim() {
            "" => None,
            text => Some(kaika_core::golive::PublicUrl::parse(text).map_err(|err| {
                ConfigError::Invalid {
                    key: "server.public_url".into(),
                    env: "KAIKA__SERVER__PUBLIC_URL".into(),
                    message: err.to_string(),
                }
            })?),
        };
        let (url_key, url_env) = if raw.database.url_file.trim().is_empty() {
            ("database.url", "KAIKA__DATABASE__URL or DATABASE_URL")
        } else {
            ("database.url_file", "KAIKA__DATABASE__URL_FILE")
        };
        let database_url_given = value_or_file(
            Some(raw.database.url),
            &raw.database.url_file,
            ("database.url", "KAIKA__DATABASE__URL or DATABASE_URL"),
            ("database.url_file", "KAIKA__DATABASE__URL_FILE"),
        )?;
        let configured_url = database_url_given
            .as_ref()
            .map_or("", |url| url.expose_secret().trim());
        let url_text = if configured_url.is_empty() {
            format!("sqlite://{}", raw.data_dir.join("kaika.db").display())
        } else {
            configured_url.to_owned()
        };
        let database_url =
            DatabaseUrl::parse(&url_text).map_err(|message| ConfigError::Invalid {
                key: url_key.into(),
                env: url_env.into(),
                message,
            })?;
        let password = raw.database.password.expose_secret();
        let database_url = if password.is_empty() {
            database_url
        } else {
            database_url
                .with_password(password)
                .map_err(|message| ConfigError::Invalid {
                    key: "database.password".into(),
                    env: "KAIKA__DATABASE__PASSWORD".into(),
                    message,
                })?
        };
        if raw.database.max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "database.max_connections".into(),
                env: "KAIKA__DATABASE__MAX_CONNECTIONS".into(),
                message: "must be at least 1".into(),
            });
        }
        if raw.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                key: "data_dir".into(),
                env: "KAIKA__DATA_DIR".into(),
                message: "must name a directory".into(),
            });
        }
        let (key_key, key_env) = if raw.master_key_file.trim().is_empty() {
            ("master_key", "KAIKA__MASTER_KEY")
        } else {
            ("master_key_file", "KAIKA__MASTER_KEY_FILE")
        };
        let master_key_given = value_or_file(
            raw.master_key,
            &raw.master_key_file,
            ("master_key", "KAIKA__MASTER_KEY"),
            ("master_key_file", "KAIKA__MASTER_KEY_FILE"),
        )?;
        let master_key = match master_key_given.as_ref().map(|k| k.expose_secret().trim().to_owned()) {
            Some(text) if !text.is_empty() => {
                MasterKeySource::Configured(MasterKey::parse(&text).map_err(|e| ConfigError::Invalid {
                    key: key_key.into(),
                    env: key_env.into(),
                    message: e.to_string(),
                })?)
            }
            _ if database_url.backend() == Backend::Postgres => {
                return Err(ConfigError::Invalid {
                    key: "master_key".into(),
                    env: "KAIKA__MASTER_KEY".into(),
                    message: "required with PostgreSQL: 32 random bytes as Base64 (`openssl rand -base64 32`)"
                        .into(),
                })
            }
            _ => MasterKeySource::KeyFile(raw.data_dir.join(MASTER_KEY_FILE)),
        };
        let log_format = match raw.log.format.as_str() {
            "human" => LogFormat::Human,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::Invalid {
                    key: "log.format".into(),
                    env: "KAIKA__LOG__FORMAT".into(),
                    message: format!("{other:?} is not a log format: expected human or json"),
                })
            }
        };
        check_log_filter(&raw.log.level).map_err(|message| ConfigError::Invalid {
            key: "log.level".into(),
            env: "KAIKA__LOG__LEVEL".into(),
            message,
        })?;
        if raw.wechat.timeout_ms == 0 {
            return Err(ConfigError::Invalid {
                key: "wechat.timeout_ms".into(),
                env: "KAIKA__WECHAT__TIMEOUT_MS".into(),
                message: "must be at least 1".into(),
            });
        }
        let role = match raw.server.role.as_str() {
            "all" => Role::All,
            "web" => Role::Web,
            "worker" => Role::Worker,
            other => {
                return Err(ConfigError::Invalid {
                    key: "server.role".into(),
                    env: "KAIKA__SERVER__ROLE".into(),
                    message: format!("{other:?} is not a role: expected all, web or worker"),
                })
            }
        };
        let sandbox = match raw.sandbox.mode.as_str() {
            "auto" => SandboxMode::Auto,
            "on" if cfg!(feature = "sandbox") => SandboxMode::On,
            "on" => {
                return Err(ConfigError::Invalid {
                    key: "sandbox.mode".into(),
                    env: "KAIKA__SANDBOX__MODE".into(),
                    message: "\"on\" needs the sandbox, which this kaika was built without (cargo \
                              feature `sandbox`, left out of the Docker image): set auto or off, or use \
                              a build with default features"
                        .into(),
                })
            }
            "off" => SandboxMode::Off,
            other => {
                return Err(ConfigError::Invalid {
                    key: "sandbox.mode".into(),
                    env: "KAIKA__SANDBOX__MODE".into(),
                    message: format!("{other:?} is not a sandbox mode: expected auto, on or off"),
                })
            }
        };
        let wechat = kaika_core::clients::ClientConfig {
            timeout: Duration::from_millis(raw.wechat.timeout_ms),
            busy_retries: raw.wechat.busy_retries,
            busy_base_delay: Duration::from_millis(raw.wechat.busy_base_delay_ms),
            ..Default::default()
        };
        let activation = kaika_core::activation::ActivationSettings {
            duplicate_wait: Duration::from_millis(raw.activation.duplicate_wait_ms),
            retry_base: Duration::from_millis(raw.activation.retry_base_ms),
            retry_max: Duration::from_secs(raw.activation.retry_max_secs),
            max_attempts: raw.activation.max_attempts,
            lease: Duration::from_secs(raw.activation.lease_secs),
            ..Default::default()
        };
        at_least(
            "ledger.max_points_per_entry",
            raw.ledger.max_points_per_entry,
            1,
        )?;
        at_least(
            "ledger.max_balance_cents_per_entry",
            raw.ledger.max_balance_cents_per_entry,
            1,
        )?;
        let cidrs = match &raw.server.trusted_proxies {
            CidrList::Text(text) => text.clone(),
            CidrList::List(list) => list.join(","),
        };
        let trusted_proxies =
            crate::client_ip::TrustedProxies::parse(&cidrs).map_err(|message| {
                ConfigError::Invalid {
                    key: "server.trusted_proxies".into(),
                    env: "KAIKA__SERVER__TRUSTED_PROXIES".into(),
                    message,
                }
            })?;
        let metrics_listen = match raw.metrics.listen.trim() {
            "" => None,
            text => Some(text.parse().map_err(|_| ConfigError::Invalid {
                key: "metrics.listen".into(),
                env: "KAIKA__METRICS__LISTEN".into(),
                message: format!("{text:?} is not an address like 0.0.0.0:9464"),
            })?),
        };
        let metrics_token = value_or_file(
            Some(raw.metrics.token),
            &raw.metrics.token_file,
            ("metrics.token", "KAIKA__METRICS__TOKEN"),
            ("metrics.token_file", "KAIKA__METRICS__TOKEN_FILE"),
        )?
        .filter(|token| !token.expose_secret().trim().is_empty());
        if metrics_token
            .as_ref()
            .is_some_and(|token| token.expose_secret().trim().len() < 16)
        {
            return Err(ConfigError::Invalid {
                key: "metrics.token".into(),
                env: "KAIKA__METRICS__TOKEN".into(),
                message: "must be at least 16 characters (`openssl rand -hex 16`)".into(),
            });
        }
        let time_zone =
            kaika_core::display::Zone::parse(&raw.admin.time_zone).map_err(|message| {
                ConfigError::Invalid {
                    key: "admin.time_zone".into(),
                    env: "KAIKA__ADMIN__TIME_ZONE".into(),
                    message,
                }
            })?;
        Ok(Self {
            time_zone,
            metrics_listen,
            metrics_token,
            trusted_proxies,
            rate_limit: raw.rate_limit,
            events: raw.events,
            outbox: raw.outbox,
            ledger: raw.ledger,
            wechat,
            activation,
            redrive_interval: Duration::from_secs(raw.activation.redrive_interval_secs),
            sandbox,
            sandbox_control_from_anywhere: raw.sandbox.control_from_anywhere,
            review_poll_max_delay: Duration::from_secs(raw.reviews.poll_max_delay_secs),
            data_dir: raw.data_dir,
            master_key,
            listen,
            workers: raw.server.workers,
            public_url,
            shutdown_timeout: Duration::from_secs(raw.server.shutdown_timeout_secs),
            role,
            drain_timeout: Duration::from_secs(raw.server.drain_timeout_secs),
            database_url,
            pool: PoolSettings {
                max_connections: raw.database.max_connections,
                connect_timeout: Duration::from_secs(raw.database.connect_timeout_secs),
                sqlite_busy_timeout: Duration::from_millis(raw.database.sqlite_busy_timeout_ms),
            },
            log_format,
            log_level: raw.log.level,
        })
    }
}

/// A secret given as a value or as the path of a file holding it (`…_FILE`, for mounted secrets), not
/// both. An empty value or path counts as not given; the file's trailing newline is dropped.
fn value_or_file(
    value: Option<SecretString>,
    file: &str,
    (key, env): (&'static str, &'static str),
    (file_key, file_env): (&'static str, &'static str),
) -> Result<Option<SecretString>, ConfigError> {
    let value = value.filter(|v| !v.expose_secret().trim().is_empty());
    let file = file.trim();
    if file.is_empty() {
        return Ok(value);
    }
    if value.is_some() {
        return Err(ConfigError::Invalid {
            key: file_key.into(),
            env: file_env.into(),
            message: format!("set either {env} ({key}) or {file_env}, not both"),
        });
    }
    let text = std::fs::read_to_string(file).map_err(|err| ConfigError::Invalid {
        key: file_key.into(),
        env: file_env.into(),
        message: format!("cannot read {file}: {err}"),
    })?;
    Ok(Some(SecretString::from(
        text.trim_end_matches(['\n', '\r']).to_owned(),
    )))
}

/// Settings of event ingestion and of the worker: section `[events]` of the configuration
/// (`KAIKA__EVENTS__<NAME>`, e.g. `KAIKA__EVENTS__TIMESTAMP_WINDOW_SECS=600`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventsConfig {
    /// Pushes whose timestamp is further than this from the server's clock are refused (replay
    /// protection); 0 turns the check off. Default 300.
    pub timestamp_window_secs: u64,
    /// How long the worker sleeps when nothing is due, in milliseconds. Default 250.
    pub poll_interval_ms: u64,
    /// Events claimed per round. Default 64.
    pub batch: u64,
    /// Events applied at the same time by one process. Default 4.
    pub concurrency: usize,
    /// How long a claim holds before another process may take the event over. Default 60.
    pub lease_secs: u64,
    /// First retry delay after a failure, doubled each attempt, in milliseconds. Default 2000.
    pub retry_base_ms: u64,
    /// Longest retry delay. Default 300.
    pub retry_max_secs: u64,
    /// Attempts before an event becomes a dead letter. Default 10.
    pub max_attempts: i32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        let worker = kaika_core::events::WorkerSettings::default();
        Self {
            timestamp_window_secs: 300,
            poll_interval_ms: 250,
            batch: worker.batch,
            concurrency: worker.concurrency,
            lease_secs: worker.lease.as_secs(),
            retry_base_ms: u64::try_from(worker.retry_base.as_millis()).unwrap_or(2000),
            retry_max_secs: worker.retry_max.as_secs(),
            max_attempts: worker.max_attempts,
        }
    }
}

impl EventsConfig {
    /// The ingestion checks.
    pub fn ingest(&self) -> kaika_core::events::IngestSettings {
        kaika_core::events::IngestSettings {
            timestamp_window: (self.timestamp_window_secs > 0)
                .then(|| Duration::from_secs(self.timestamp_window_secs)),
        }
    }

    /// The worker's tuning.
    pub fn worker(&self) -> kaika_core::events::WorkerSettings {
        kaika_core::events::WorkerSettings {
            batch: self.batch,
            concurrency: self.concurrency,
            lease: Duration::from_secs(self.lease_secs),
            retry_base: Duration::from_millis(self.retry_base_ms),
            retry_max: Duration::from_secs(self.retry_max_secs),
            max_attempts: self.max_attempts,
        }
    }
}

/// Settings of the outbox worker, from `KAIKA__OUTBOX__<NAME>` environment variables (e.g.
/// `KAIKA__OUTBOX__CONCURRENCY=16`); every one has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutboxConfig {
    /// Whether this process sends jobs at all. Default true.
    pub enabled: bool,
    /// How long the worker sleeps when nothing is due, in milliseconds. Default 200.
    pub poll_interval_ms: u64,
    /// Jobs claimed per round. Default 64.
    pub batch: u64,
    /// Jobs sent at the same time (each of another member). Default 8.
    pub concurrency: usize,
    /// How long a claim holds before another process may take the job over. Default 60.
    pub lease_secs: u64,
    /// First retry delay after a failed send, doubled each attempt, in milliseconds. Default 2000.
    pub retry_base_ms: u64,
    /// Longest retry delay. Default 600.
    pub retry_max_secs: u64,
    /// Attempts before a job is marked failed. Default 50.
    pub max_attempts: i32,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        let worker = kaika_core::outbox::WorkerSettings::default();
        Self {
            enabled: true,
            poll_interval_ms: 200,
            batch: worker.batch,
            concurrency: worker.concurrency,
            lease_secs: worker.lease.as_secs(),
            retry_base_ms: u64::try_from(worker.retry_base.as_millis()).unwrap_or(2000),
            retry_max_secs: worker.retry_max.as_secs(),
            max_attempts: worker.max_attempts,
        }
    }
}

impl OutboxConfig {
    /// The worker's tuning.
    pub fn worker(&self) -> kaika_core::outbox::WorkerSettings {
        kaika_core::outbox::WorkerSettings {
            batch: self.batch,
            concurrency: self.concurrency,
            lease: Duration::from_secs(self.lease_secs),
            retry_base: Duration::from_millis(self.retry_base_ms),
            retry_max: Duration::from_secs(self.retry_max_secs),
            max_attempts: self.max_attempts,
        }
    }
}

mod checks;
use checks::{
    at_least, check_counts, check_log_filter, extraction_error, refuse_unknown_file_keys,
    refuse_unknown_variables, ENV_PREFIX,
};
pub use checks::{env_name, setting_keys};
#[cfg(test)]
mod tests;
