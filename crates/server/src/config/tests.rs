//! The settings: loading, refusals, and the documentation that lists them.
#![expect(
    clippy::result_large_err,
    reason = "figment's Jail closures must return figment::Error, which is large"
)]
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
fn the_admin_time_zone_defaults_to_shanghai_and_a_wrong_one_names_its_variable() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        assert_eq!(load(None).unwrap().time_zone.name(), "Asia/Shanghai");
        jail.set_env("KAIKA__ADMIN__TIME_ZONE", "Europe/Paris");
        assert_eq!(load(None).unwrap().time_zone.name(), "Europe/Paris");
        jail.set_env("KAIKA__ADMIN__TIME_ZONE", "Beijing");
        let message = load(None).unwrap_err().to_string();
        assert_eq!(
            message,
            "setting `admin.time_zone` (env KAIKA__ADMIN__TIME_ZONE): \"Beijing\" is not an IANA \
             time zone name such as Asia/Shanghai or UTC"
        );
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
fn a_database_password_given_apart_is_percent_encoded_into_the_url() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("KAIKA__MASTER_KEY", MasterKey::generate().to_base64());
        jail.set_env(
            "KAIKA__DATABASE__URL",
            "postgres://kaika@postgres:5432/kaika",
        );
        jail.set_env("KAIKA__DATABASE__PASSWORD", "a/b@c:d%e#f?");
        let settings = load(None).unwrap();
        assert_eq!(
            settings.database_url.as_str(),
            "postgres://kaika:a%2Fb%40c%3Ad%25e%23f%3F@postgres:5432/kaika"
        );
        assert!(!format!("{settings:?}").contains("a%2Fb"));
        jail.set_env(
            "KAIKA__DATABASE__URL",
            "postgres://kaika:other@postgres:5432/kaika",
        );
        let message = load(None).unwrap_err().to_string();
        assert!(
            message.contains("KAIKA__DATABASE__PASSWORD") && message.contains("already"),
            "{message}"
        );
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
            message.starts_with("setting `database.url_file` (env KAIKA__DATABASE__URL_FILE): "),
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
        #[cfg(feature = "sandbox")]
        {
            jail.set_env("KAIKA__SANDBOX__MODE", "on");
            assert_eq!(load(None).unwrap().sandbox, SandboxMode::On);
        }
        jail.set_env("KAIKA__SANDBOX__MODE", "off");
        assert_eq!(load(None).unwrap().sandbox, SandboxMode::Off);
        jail.set_env("KAIKA__SANDBOX__MODE", "yes");
        let message = load(None).unwrap_err().to_string();
        assert!(message.contains("sandbox.mode"), "{message}");
        Ok(())
    });
}

#[cfg(not(feature = "sandbox"))]
#[test]
fn a_build_without_the_sandbox_refuses_sandbox_mode_on_with_a_sentence() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("KAIKA__SANDBOX__MODE", "on");
        let message = load(None).unwrap_err().to_string();
        assert!(
            message.contains("KAIKA__SANDBOX__MODE") && message.contains("built without"),
            "{message}"
        );
        // auto and off stay valid: such a build simply never starts the sandbox.
        jail.set_env("KAIKA__SANDBOX__MODE", "auto");
        assert_eq!(load(None).unwrap().sandbox, SandboxMode::Auto);
        Ok(())
    });
}

#[test]
fn env_example_and_readme_list_every_setting_of_the_defaults() {
    let defaults: toml::Table = DEFAULTS.parse().unwrap();
    let example = include_str!("../../../../.env.example");
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
    let readme = include_str!("../../../../README.md");
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
