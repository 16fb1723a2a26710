//! Configuration: the embedded defaults (`config.default.toml`), an optional file, then `KAIKA__…`
//! environment variables (and `DATABASE_URL`), checked once at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::{Figment, Provider as _};
use kaika_core::db::{Backend, DatabaseUrl, PoolSettings};
use kaika_core::secrets::MasterKey;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The documented defaults, built into the binary.
pub const DEFAULTS: &str = include_str!("../config.default.toml");

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
}

impl Settings {
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
            "on" => SandboxMode::On,
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
        Ok(Self {
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

/// Counts, sizes and intervals that cannot be zero are refused, never quietly raised: a batch of 0
/// would claim nothing forever, an interval of 0 would spin.
fn check_counts(raw: &RawSettings) -> Result<(), ConfigError> {
    at_least(
        "database.connect_timeout_secs",
        raw.database.connect_timeout_secs,
        1,
    )?;
    let activation = &raw.activation;
    at_least("activation.retry_base_ms", activation.retry_base_ms, 1)?;
    at_least("activation.retry_max_secs", activation.retry_max_secs, 1)?;
    at_least("activation.max_attempts", activation.max_attempts, 1)?;
    at_least("activation.lease_secs", activation.lease_secs, 1)?;
    at_least(
        "activation.redrive_interval_secs",
        activation.redrive_interval_secs,
        1,
    )?;
    at_least(
        "reviews.poll_max_delay_secs",
        raw.reviews.poll_max_delay_secs,
        60,
    )?;
    macro_rules! worker_counts {
        ($section:literal, $config:expr) => {{
            let config = $config;
            at_least(
                concat!($section, ".poll_interval_ms"),
                config.poll_interval_ms,
                10,
            )?;
            at_least(concat!($section, ".batch"), config.batch, 1)?;
            at_least(concat!($section, ".concurrency"), config.concurrency, 1)?;
            at_least(concat!($section, ".lease_secs"), config.lease_secs, 1)?;
            at_least(concat!($section, ".retry_base_ms"), config.retry_base_ms, 1)?;
            at_least(
                concat!($section, ".retry_max_secs"),
                config.retry_max_secs,
                1,
            )?;
            at_least(concat!($section, ".max_attempts"), config.max_attempts, 1)?;
        }};
    }
    worker_counts!("events", &raw.events);
    worker_counts!("outbox", &raw.outbox);
    let limits = &raw.rate_limit;
    for (rate, burst, burst_key) in [
        (
            limits.sessions_per_minute,
            limits.sessions_burst,
            "rate_limit.sessions_burst",
        ),
        (
            limits.activations_per_minute,
            limits.activations_burst,
            "rate_limit.activations_burst",
        ),
    ] {
        if rate > 0 && burst == 0 {
            return Err(ConfigError::Invalid {
                key: burst_key.to_owned(),
                env: env_name(burst_key),
                message:
                    "must be at least 1 while its rate is on (a rate of 0 turns the limit off)"
                        .into(),
            });
        }
    }
    Ok(())
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

/// The prefix of Kaika's environment variables; `__` separates a section from its key.
const ENV_PREFIX: &str = "KAIKA__";

/// Settings without a default, which `config.default.toml` shows only in comments.
const SETTINGS_WITHOUT_DEFAULT: [&str; 2] = ["master_key", "master_key_file"];

/// Every setting's dotted key (`server.listen`), read from the embedded defaults.
pub fn setting_keys() -> Vec<String> {
    let mut keys: Vec<String> = SETTINGS_WITHOUT_DEFAULT.map(str::to_owned).to_vec();
    if let Ok(data) = Figment::from(Toml::string(DEFAULTS)).data() {
        for dict in data.values() {
            collect_keys(dict, "", &mut keys);
        }
    }
    keys.sort();
    keys
}

fn collect_keys(dict: &figment::value::Dict, prefix: &str, keys: &mut Vec<String>) {
    for (name, value) in dict {
        let key = format!("{prefix}{name}");
        match value {
            figment::value::Value::Dict(_, inner) => collect_keys(inner, &format!("{key}."), keys),
            _ => keys.push(key),
        }
    }
}

/// The environment variable of a dotted key: `server.listen` → `KAIKA__SERVER__LISTEN`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_uppercase().replace('.', "__"))
}

/// The known key nearest to `given` by edit distance, over the whole key or over its last part, so
/// that a key written without its section (`KAIKA__LISTEN`) still finds `server.listen`.
fn closest_key<'a>(given: &str, known: &'a [String]) -> &'a str {
    let leaf = |key: &str| key.rsplit('.').next().unwrap_or(key).to_owned();
    let given_leaf = leaf(given);
    known
        .iter()
        .min_by_key(|key| {
            let whole = strsim::levenshtein(given, key);
            let by_leaf = strsim::levenshtein(&given_leaf, &leaf(key)) + 1;
            // A section alone (`KAIKA__SERVER`) finds the shortest key of that section.
            let in_section = if key.starts_with(&format!("{given}.")) {
                1
            } else {
                usize::MAX
            };
            (whole.min(by_leaf).min(in_section), whole)
        })
        .map_or("", String::as_str)
}

/// Refuses a key of the config file that names no setting. A section name given a plain value is left
/// to the type check, which says what the section should be.
fn refuse_unknown_file_keys(path: &Path, known: &[String]) -> Result<(), ConfigError> {
    let data = Figment::from(Toml::file_exact(path))
        .data()
        .map_err(|err| ConfigError::Load(format!("the config file {}: {err}", path.display())))?;
    let mut keys = Vec::new();
    for dict in data.values() {
        collect_keys(dict, "", &mut keys);
    }
    let is_section = |key: &str| known.iter().any(|k| k.starts_with(&format!("{key}.")));
    match keys
        .iter()
        .find(|key| !known.contains(key) && !is_section(key))
    {
        Some(key) => Err(ConfigError::Unknown {
            given: format!("setting `{key}` in {}", path.display()),
            closest: format!("`{}`", closest_key(key, known)),
        }),
        None => Ok(()),
    }
}

/// Refuses a `KAIKA__…` environment variable that names no setting: a typo there would otherwise be
/// ignored without a word, and the default used.
fn refuse_unknown_variables(known: &[String]) -> Result<(), ConfigError> {
    let mut unknown: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(name, _)| {
            // Read as figment reads it: trimmed, the prefix in any case, keys lowercased.
            let name = name.to_string_lossy().trim().to_owned();
            let rest = name
                .get(..ENV_PREFIX.len())
                .filter(|prefix| prefix.eq_ignore_ascii_case(ENV_PREFIX))
                .and_then(|_| name.get(ENV_PREFIX.len()..))?;
            let key = rest
                .split("__")
                .collect::<Vec<_>>()
                .join(".")
                .to_lowercase();
            (!known.contains(&key)).then_some((name, key))
        })
        .collect();
    unknown.sort();
    match unknown.first() {
        Some((name, key)) => Err(ConfigError::Unknown {
            given: format!("environment variable {name}"),
            closest: env_name(closest_key(key, known)),
        }),
        None => Ok(()),
    }
}

/// The first error of an extraction, naming its setting and variable.
fn extraction_error(err: figment::Error) -> ConfigError {
    let Some(first) = err.into_iter().next() else {
        return ConfigError::Load("the settings could not be read".into());
    };
    let key = first.path.join(".");
    if key.is_empty() {
        return ConfigError::Load(first.to_string());
    }
    let env = if key == "database.url" {
        "KAIKA__DATABASE__URL or DATABASE_URL".to_owned()
    } else {
        env_name(&key)
    };
    ConfigError::Invalid {
        env,
        message: first.kind.to_string(),
        key,
    }
}

/// A setting that must be at least `min` (a count, a size or a duration that cannot be zero).
fn at_least(key: &str, value: impl TryInto<u64>, min: u64) -> Result<(), ConfigError> {
    match value.try_into() {
        Ok(value) if value >= min => Ok(()),
        _ => Err(ConfigError::Invalid {
            key: key.to_owned(),
            env: env_name(key),
            message: format!("must be at least {min}"),
        }),
    }
}

/// Checks a `log.level` filter more strictly than tracing does: tracing reads a bare word that is not a
/// level (`infoo`) as a target name and logs nothing of what was meant; here a bare word must be a
/// level, and the part after `=` too.
fn check_log_filter(filter: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        // `target[span{field=value}]` names no level (it means every level) and its `=` is a field's.
        if directive.ends_with(']') {
            continue;
        }
        let (target, level) = match directive.rsplit_once('=') {
            Some((target, level)) => (Some(target), level),
            None => (None, directive),
        };
        if !LEVELS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(level.trim()))
        {
            let word = level.trim().to_lowercase();
            let (distance, nearest) = LEVELS
                .iter()
                .map(|known| (strsim::levenshtein(&word, known), *known))
                .min()
                .unwrap_or((0, "info"));
            // A bare word far from every level is most likely a target written without its level.
            let close = !word.is_empty() && distance <= (word.len() / 2).max(2);
            let suggestion = match (target, close) {
                (Some(target), true) => format!("{target}={nearest}"),
                (Some(target), false) => format!("{target}=info"),
                (None, true) => nearest.to_owned(),
                (None, false) => format!("{directive}=info"),
            };
            return Err(format!(
                "{level:?} in {filter:?} is not a level: expected off, error, warn, info, debug or \
                 trace, alone or as TARGET=LEVEL (did you mean {suggestion}?)"
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(|_| ())
        .map_err(|err| {
            format!("{filter:?} is not a log filter such as info or warn,kaika_core=debug: {err}")
        })
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

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment's Jail closures must return figment::Error, which is large"
)]
mod tests {
    use super::*;
    use figment::Jail;

    fn load(jail_file: Option<&str>) -> Result<Settings, ConfigError> {
        Settings::load(jail_file.map(Path::new))
    }

    #[test]
    fn defaults_give_the_embedded_setup() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let settings = load(None).unwrap();
            assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
            assert_eq!(settings.database_url.as_str(), "sqlite://./data/kaika.db");
            jail.set_env("KAIKA__DATA_DIR", "/var/lib/kaika");
            assert_eq!(
                load(None).unwrap().database_url.as_str(),
                "sqlite:///var/lib/kaika/kaika.db",
                "the embedded database follows the data directory"
            );
            assert_eq!(settings.log_format, LogFormat::Human);
            assert!(matches!(
                settings.master_key,
                MasterKeySource::KeyFile(ref p) if p == Path::new("./data/master.key")
            ));
            Ok(())
        });
    }

    #[test]
    fn a_file_wins_over_defaults_and_the_environment_over_the_file() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "kaika.toml",
                "[server]\nlisten = \"0.0.0.0:9000\"\nworkers = 3\n[log]\nformat = \"json\"\n",
            )?;
            let from_file = load(Some("kaika.toml")).unwrap();
            assert_eq!(from_file.listen.to_string(), "0.0.0.0:9000");
            assert_eq!(from_file.workers, 3);
            assert_eq!(from_file.log_format, LogFormat::Json);

            jail.set_env("KAIKA__SERVER__LISTEN", "127.0.0.1:9100");
            let from_env = load(Some("kaika.toml")).unwrap();
            assert_eq!(from_env.listen.to_string(), "127.0.0.1:9100");
            assert_eq!(
                from_env.workers, 3,
                "the file still sets what the environment does not"
            );
            Ok(())
        });
    }

    #[test]
    fn database_url_is_an_alias_that_kaika_variables_override() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("KAIKA__MASTER_KEY", MasterKey::generate().to_base64());
            jail.set_env("DATABASE_URL", "postgres://kaika@db:5432/kaika");
            assert_eq!(
                load(None).unwrap().database_url.as_str(),
                "postgres://kaika@db:5432/kaika"
            );
            jail.set_env("KAIKA__DATABASE__URL", "sqlite://./other.db");
            assert_eq!(
                load(None).unwrap().database_url.as_str(),
                "sqlite://./other.db"
            );
            Ok(())
        });
    }

    #[test]
    fn wrong_values_are_refused_with_their_key_and_variable() {
        let cases = [
            ("KAIKA__SERVER__LISTEN", "not-an-address", "server.listen"),
            (
                "KAIKA__DATABASE__URL",
                "mysql://localhost/kaika",
                "database.url",
            ),
            ("KAIKA__LOG__FORMAT", "xml", "log.format"),
            ("KAIKA__SERVER__ROLE", "cron", "server.role"),
            ("KAIKA__MASTER_KEY", "too-short", "master_key"),
            (
                "KAIKA__DATABASE__MAX_CONNECTIONS",
                "0",
                "database.max_connections",
            ),
        ];
        for (var, value, key) in cases {
            Jail::expect_with(|jail| {
                jail.clear_env();
                jail.set_env(var, value);
                let message = load(None).unwrap_err().to_string();
                assert!(message.contains(key), "{var}={value}: {message}");
                Ok(())
            });
        }
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("KAIKA__DATABASE__CONNECT_TIMEOUT_SECS", "soon");
            let message = load(None).unwrap_err().to_string().to_lowercase();
            assert!(
                message.contains("database.connect_timeout_secs"),
                "{message}"
            );
            assert!(message.contains("expected u64"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn postgres_requires_a_master_key() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("DATABASE_URL", "postgres://kaika@db:5432/kaika");
            let message = load(None).unwrap_err().to_string();
            assert!(message.contains("KAIKA__MASTER_KEY"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn value_or_file_reads_the_file_without_its_trailing_newline() {
        Jail::expect_with(|jail| {
            jail.create_file("secret", "s3cret\n")?;
            let names = ("k", "K");
            let file_names = ("k_file", "K_FILE");
            let read = value_or_file(None, "secret", names, file_names).unwrap();
            assert_eq!(read.unwrap().expose_secret(), "s3cret");
            let empty = Some(SecretString::from(String::new()));
            let read = value_or_file(empty, "secret", names, file_names).unwrap();
            assert_eq!(
                read.unwrap().expose_secret(),
                "s3cret",
                "an empty value is not given"
            );
            let value = Some(SecretString::from("v".to_owned()));
            let kept = value_or_file(value, " ", names, file_names).unwrap();
            assert_eq!(
                kept.unwrap().expose_secret(),
                "v",
                "an empty path is not given"
            );
            let missing = value_or_file(None, "absent", names, file_names).unwrap_err();
            assert!(missing.to_string().contains("absent"), "{missing}");
            Ok(())
        });
    }

    #[test]
    fn secrets_can_be_given_as_mounted_files() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let key = MasterKey::generate().to_base64();
            jail.create_file("master-key", &format!("{key}\n"))?;
            jail.create_file("database-url", "postgres://kaika:pw@db:5432/kaika\n")?;
            jail.set_env("KAIKA__MASTER_KEY_FILE", "master-key");
            jail.set_env("KAIKA__DATABASE__URL_FILE", "database-url");
            let settings = load(None).unwrap();
            assert_eq!(
                settings.database_url.as_str(),
                "postgres://kaika:pw@db:5432/kaika"
            );
            assert!(
                matches!(settings.master_key, MasterKeySource::Configured(ref k) if k.to_base64() == key),
                "the key from the file is the configured key"
            );
            Ok(())
        });
    }

    #[test]
    fn a_wrong_secret_read_from_a_file_names_the_file_variable() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("master-key", "too-short\n")?;
            jail.set_env("KAIKA__MASTER_KEY_FILE", "master-key");
            let message = load(None).unwrap_err().to_string();
            assert!(
                message.starts_with("setting `master_key_file` (env KAIKA__MASTER_KEY_FILE): "),
                "{message}"
            );
            jail.set_env("KAIKA__MASTER_KEY_FILE", "");
            jail.create_file("database-url", "mysql://db/kaika\n")?;
            jail.set_env("KAIKA__DATABASE__URL_FILE", "database-url");
            let message = load(None).unwrap_err().to_string();
            assert!(
                message
                    .starts_with("setting `database.url_file` (env KAIKA__DATABASE__URL_FILE): "),
                "{message}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_secret_given_both_as_value_and_as_file_is_refused() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let key = MasterKey::generate().to_base64();
            jail.create_file("master-key", &key)?;
            jail.set_env("KAIKA__MASTER_KEY", &key);
            jail.set_env("KAIKA__MASTER_KEY_FILE", "master-key");
            let message = load(None).unwrap_err().to_string();
            assert!(
                message.contains(
                    "set either KAIKA__MASTER_KEY (master_key) or KAIKA__MASTER_KEY_FILE, not both"
                ),
                "{message}"
            );
            jail.set_env("KAIKA__MASTER_KEY_FILE", "");
            jail.create_file("database-url", "sqlite://./x.db")?;
            jail.set_env("DATABASE_URL", "sqlite://./y.db");
            jail.set_env("KAIKA__DATABASE__URL_FILE", "database-url");
            let message = load(None).unwrap_err().to_string();
            assert!(
                message.contains("KAIKA__DATABASE__URL_FILE, not both"),
                "{message}"
            );
            Ok(())
        });
    }

    #[test]
    fn the_sandbox_mode_is_auto_on_or_off() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            assert_eq!(load(None).unwrap().sandbox, SandboxMode::Auto);
            assert!(!load(None).unwrap().sandbox_control_from_anywhere);
            jail.set_env("KAIKA__SANDBOX__MODE", "on");
            assert_eq!(load(None).unwrap().sandbox, SandboxMode::On);
            jail.set_env("KAIKA__SANDBOX__MODE", "off");
            assert_eq!(load(None).unwrap().sandbox, SandboxMode::Off);
            jail.set_env("KAIKA__SANDBOX__MODE", "yes");
            let message = load(None).unwrap_err().to_string();
            assert!(message.contains("sandbox.mode"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn env_example_and_readme_list_every_setting_of_the_defaults() {
        let defaults: toml::Table = DEFAULTS.parse().unwrap();
        let example = include_str!("../../../.env.example");
        let mut names = vec![
            "KAIKA__MASTER_KEY".to_owned(),
            "KAIKA__MASTER_KEY_FILE".to_owned(),
        ];
        for (key, value) in &defaults {
            match value {
                toml::Value::Table(section) => names.extend(
                    section
                        .keys()
                        .map(|k| format!("KAIKA__{}__{}", key.to_uppercase(), k.to_uppercase())),
                ),
                _ => names.push(format!("KAIKA__{}", key.to_uppercase())),
            }
        }
        let readme = include_str!("../../../README.md");
        assert_eq!(names.len(), setting_keys().len());
        for name in names {
            assert!(example.contains(&name), ".env.example lacks {name}");
            assert!(
                readme.contains(&format!("`{name}`")),
                "the README's settings table lacks {name}"
            );
        }
    }

    #[test]
    fn an_unknown_key_in_the_config_file_is_refused_naming_the_closest_setting() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("kaika.toml", "[server]\nlistn = \"0.0.0.0:9000\"\n")?;
            let message = load(Some("kaika.toml")).unwrap_err().to_string();
            assert_eq!(
                message,
                "unknown setting `server.listn` in kaika.toml: did you mean `server.listen`?"
            );
            jail.create_file("kaika.toml", "[logs]\nlevel = \"debug\"\n")?;
            let message = load(Some("kaika.toml")).unwrap_err().to_string();
            assert!(message.contains("`logs.level`"), "{message}");
            assert!(message.contains("did you mean `log.level`?"), "{message}");
            jail.create_file("kaika.toml", "listen = \"0.0.0.0:9000\"\n")?;
            let message = load(Some("kaika.toml")).unwrap_err().to_string();
            assert!(
                message.contains("did you mean `server.listen`?"),
                "a key outside its section finds it: {message}"
            );
            Ok(())
        });
    }

    #[test]
    fn an_unknown_kaika_variable_is_refused_naming_the_closest_variable() {
        for (variable, closest) in [
            ("KAIKA__SERVER__LISTN", "KAIKA__SERVER__LISTEN"),
            ("KAIKA__DATABASE_URL", "KAIKA__DATABASE__URL"),
            ("KAIKA__EVENTS__BATCH_SIZE", "KAIKA__EVENTS__BATCH"),
            ("KAIKA__MASTERKEY_FILE", "KAIKA__MASTER_KEY_FILE"),
            ("KAIKA__LISTEN", "KAIKA__SERVER__LISTEN"),
            ("kaika__log__levle", "KAIKA__LOG__LEVEL"),
            ("KAIKA__SERVER", "KAIKA__SERVER__ROLE"),
        ] {
            Jail::expect_with(|jail| {
                jail.clear_env();
                jail.set_env(variable, "1");
                let message = load(None).unwrap_err().to_string();
                assert_eq!(
                    message,
                    format!("unknown environment variable {variable}: did you mean {closest}?")
                );
                Ok(())
            });
        }
    }

    #[test]
    fn every_setting_and_secret_file_variable_is_known_and_other_kaika_names_are_left_alone() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("master-key", &MasterKey::generate().to_base64())?;
            jail.create_file("database-url", "sqlite://./kaika.db")?;
            jail.set_env("KAIKA__MASTER_KEY_FILE", "master-key");
            jail.set_env("KAIKA__DATABASE__URL_FILE", "database-url");
            for name in [
                "KAIKA_CONFIG",
                "KAIKA_ADMIN_PASSWORD",
                "KAIKA_BIN",
                "KAIKA_APP_SECRET",
            ] {
                jail.set_env(name, "x");
            }
            load(None).unwrap();
            Ok(())
        });
        let known = setting_keys();
        assert!(known.contains(&"master_key".to_owned()));
        assert!(known.contains(&"database.url_file".to_owned()));
        assert!(known.contains(&"rate_limit.activations_burst".to_owned()));
        for key in &known {
            Jail::expect_with(|jail| {
                jail.clear_env();
                let value = DEFAULT_VALUES
                    .iter()
                    .find(|(k, _)| k == key)
                    .map_or("", |(_, value)| value);
                jail.set_env(env_name(key), value);
                if let Err(ConfigError::Unknown { given, .. }) = load(None) {
                    panic!("{key}: {given}");
                }
                Ok(())
            });
        }
    }

    /// Values that pass the checks for settings whose empty value would not.
    const DEFAULT_VALUES: [(&str, &str); 1] = [("log.level", "info")];

    #[test]
    fn log_levels_that_are_not_levels_are_refused() {
        for (level, nearest) in [
            ("infoo", "info"),
            ("warning", "warn"),
            ("warn,kaika_core=debugg", "kaika_core=debug"),
            ("info,kaika_core", "kaika_core=info"),
            ("kaika=", "kaika=info"),
        ] {
            Jail::expect_with(|jail| {
                jail.clear_env();
                jail.set_env("KAIKA__LOG__LEVEL", level);
                let message = load(None).unwrap_err().to_string();
                assert!(
                    message.starts_with("setting `log.level` (env KAIKA__LOG__LEVEL): "),
                    "{message}"
                );
                assert!(
                    message.contains(&format!("did you mean {nearest}?")),
                    "{level}: {message}"
                );
                Ok(())
            });
        }
        for level in [
            "info",
            "WARN",
            "warn,kaika_core=debug",
            "info,kaika::access=off",
            "info,kaika_server[request]=debug",
            "debug,sqlx[query{db=1}]",
        ] {
            Jail::expect_with(|jail| {
                jail.clear_env();
                jail.set_env("KAIKA__LOG__LEVEL", level);
                assert_eq!(load(None).unwrap().log_level, level);
                Ok(())
            });
        }
    }

    #[test]
    fn zero_batches_concurrency_and_intervals_are_refused_not_raised() {
        for (variable, value, key) in [
            ("KAIKA__EVENTS__BATCH", "0", "events.batch"),
            ("KAIKA__EVENTS__CONCURRENCY", "0", "events.concurrency"),
            ("KAIKA__OUTBOX__BATCH", "0", "outbox.batch"),
            ("KAIKA__OUTBOX__CONCURRENCY", "0", "outbox.concurrency"),
            (
                "KAIKA__OUTBOX__POLL_INTERVAL_MS",
                "5",
                "outbox.poll_interval_ms",
            ),
            ("KAIKA__EVENTS__MAX_ATTEMPTS", "-1", "events.max_attempts"),
            (
                "KAIKA__ACTIVATION__LEASE_SECS",
                "0",
                "activation.lease_secs",
            ),
            (
                "KAIKA__ACTIVATION__REDRIVE_INTERVAL_SECS",
                "0",
                "activation.redrive_interval_secs",
            ),
            (
                "KAIKA__REVIEWS__POLL_MAX_DELAY_SECS",
                "10",
                "reviews.poll_max_delay_secs",
            ),
            (
                "KAIKA__RATE_LIMIT__SESSIONS_BURST",
                "0",
                "rate_limit.sessions_burst",
            ),
        ] {
            Jail::expect_with(|jail| {
                jail.clear_env();
                jail.set_env(variable, value);
                let message = load(None).unwrap_err().to_string();
                assert!(
                    message.starts_with(&format!(
                        "setting `{key}` (env {variable}): must be at least"
                    )),
                    "{variable}={value}: {message}"
                );
                Ok(())
            });
        }
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("KAIKA__RATE_LIMIT__SESSIONS_PER_MINUTE", "0");
            jail.set_env("KAIKA__RATE_LIMIT__SESSIONS_BURST", "0");
            load(None).unwrap();
            Ok(())
        });
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_variable() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("KAIKA__OUTBOX__ENABLED", "maybe");
            let message = load(None).unwrap_err().to_string();
            assert!(
                message.starts_with("setting `outbox.enabled` (env KAIKA__OUTBOX__ENABLED): "),
                "{message}"
            );
            assert!(message.contains("expected a boolean"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let message = load(Some("absent.toml")).unwrap_err().to_string();
            assert!(message.contains("absent.toml"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let key = MasterKey::generate().to_base64();
            jail.set_env("KAIKA__MASTER_KEY", &key);
            jail.set_env("DATABASE_URL", "postgres://kaika:hunter2@db:5432/kaika");
            let debug = format!("{:?}", load(None).unwrap());
            assert!(!debug.contains(&key));
            assert!(!debug.contains("hunter2"));
            Ok(())
        });
    }
}
