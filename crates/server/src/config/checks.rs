//! What the settings refuse: unknown keys and variables (with the closest valid name), log filters that
//! are not filters, and counts or intervals that cannot be zero.

use std::path::Path;

use figment::providers::{Format, Toml};
use figment::{Figment, Provider as _};

use super::{ConfigError, RawSettings, DEFAULTS};

/// Counts, sizes and intervals that cannot be zero are refused, never quietly raised: a batch of 0
/// would claim nothing forever, an interval of 0 would spin.
pub(super) fn check_counts(raw: &RawSettings) -> Result<(), ConfigError> {
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

/// The prefix of Kaika's environment variables; `__` separates a section from its key.
pub(super) const ENV_PREFIX: &str = "KAIKA__";

/// Settings without a default, which `config.default.toml` shows only in comments.
pub(super) const SETTINGS_WITHOUT_DEFAULT: [&str; 2] = ["master_key", "master_key_file"];

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

pub(super) fn collect_keys(dict: &figment::value::Dict, prefix: &str, keys: &mut Vec<String>) {
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
pub(super) fn closest_key<'a>(given: &str, known: &'a [String]) -> &'a str {
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
pub(super) fn refuse_unknown_file_keys(path: &Path, known: &[String]) -> Result<(), ConfigError> {
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
pub(super) fn refuse_unknown_variables(known: &[String]) -> Result<(), ConfigError> {
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
pub(super) fn extraction_error(err: figment::Error) -> ConfigError {
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
pub(super) fn at_least(key: &str, value: impl TryInto<u64>, min: u64) -> Result<(), ConfigError> {
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
pub(super) fn check_log_filter(filter: &str) -> Result<(), String> {
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
