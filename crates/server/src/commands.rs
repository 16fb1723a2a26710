//! The subcommands other than `serve`.

use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::time::Duration;

use anyhow::{bail, Context as _};
use kaika_core::accounts::{self, AppId, MessageMode, MiniProgram, NewAccount};
use kaika_core::migration::{MigrationStatus, Migrator, MigratorTrait};
use rand::distributions::{Alphanumeric, DistString};

use crate::cli::{AccountAction, MigrateAction, ModeArg};
use crate::config::Settings;
use crate::startup;

/// `kaika migrate …`
pub async fn migrate(settings: &Settings, action: MigrateAction) -> anyhow::Result<()> {
    let db = startup::connect(settings).await?;
    match action {
        MigrateAction::Up { steps } => {
            let applied = startup::migrate(&db, settings, steps).await?;
            if applied == 0 {
                println!("no migration pending");
            } else {
                println!("{applied} migration(s) applied");
            }
        }
        MigrateAction::Down { steps, all, yes } => {
            let steps = if all { None } else { Some(steps.unwrap_or(1)) };
            let applied = Migrator::get_applied_migrations(&db).await?;
            let undone: Vec<String> = applied
                .iter()
                .rev()
                .take(steps.map_or(usize::MAX, |n| n as usize))
                .map(|m| m.name().to_owned())
                .collect();
            if undone.is_empty() {
                println!("no migration applied: nothing to roll back");
                return Ok(());
            }
            crate::confirm::confirm(
                &format!(
                    "rolling back {} migration(s) ({}) on {} drops their tables and columns with the \
                     data in them",
                    undone.len(),
                    undone.join(", "),
                    settings.database_url.redacted()
                ),
                yes,
            )?;
            Migrator::down(&db, steps)
                .await
                .context("migrating down failed")?;
            println!("migrations rolled back");
        }
        MigrateAction::Status => {
            for migration in Migrator::get_migration_with_status(&db).await? {
                let status = match migration.status() {
                    MigrationStatus::Applied => "applied",
                    MigrationStatus::Pending => "pending",
                };
                println!("{status:8} {}", migration.name());
            }
        }
    }
    Ok(())
}

/// Secrets for `account add`: environment first, then KEY=value lines on standard input.
fn read_secrets(needed: &[&str]) -> anyhow::Result<HashMap<String, String>> {
    let mut secrets: HashMap<String, String> = needed
        .iter()
        .filter_map(|name| {
            let value = std::env::var(format!("KAIKA_{name}")).ok()?;
            Some(((*name).to_owned(), value))
        })
        .collect();
    if needed.iter().all(|name| secrets.contains_key(*name)) {
        return Ok(secrets);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!(
            "Enter the secrets as KEY=value lines ({}), then Ctrl-D:",
            needed.join(", ")
        );
    }
    let mut input = String::new();
    stdin
        .lock()
        .take(64 * 1024)
        .read_to_string(&mut input)
        .context("cannot read secrets from standard input")?;
    for (number, line) in input.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("standard input line {}: expected KEY=value", number + 1);
        };
        let key = key.trim();
        if !needed.contains(&key) {
            bail!(
                "standard input line {}: unknown secret {key:?}; expected one of {}",
                number + 1,
                needed.join(", ")
            );
        }
        secrets
            .entry(key.to_owned())
            .or_insert_with(|| value.trim().to_owned());
    }
    Ok(secrets)
}

/// `kaika account …`
pub async fn account(settings: &Settings, action: AccountAction) -> anyhow::Result<()> {
    match action {
        AccountAction::Add {
            name,
            app_id,
            mode,
            mini_app_id,
            api_base_url,
        } => {
            let app_id = AppId::parse(&app_id)?;
            let mini_app_id = mini_app_id.as_deref().map(AppId::parse).transpose()?;
            let message_mode = match mode {
                ModeArg::Plain => MessageMode::Plain,
                ModeArg::Compatible => MessageMode::Compatible,
                ModeArg::Safe => MessageMode::Safe,
            };
            let api_base_url = accounts::parse_api_base_url(&api_base_url)?;
            let mut needed = vec!["APP_SECRET", "CALLBACK_TOKEN"];
            if message_mode != MessageMode::Plain {
                needed.push("ENCODING_AES_KEY");
            }
            if mini_app_id.is_some() {
                needed.push("MINI_APP_SECRET");
            }
            let mut secrets = read_secrets(&needed)?;
            let mut take = |name: &str| secrets.remove(name).filter(|v| !v.is_empty());
            let app_secret = accounts::parse_app_secret(
                "app_secret",
                &take("APP_SECRET")
                    .context("APP_SECRET is required (KAIKA_APP_SECRET or stdin)")?,
            )?;
            let (callback_token, generated) = match take("CALLBACK_TOKEN") {
                Some(token) => (accounts::parse_callback_token(&token)?, false),
                None => (
                    Alphanumeric.sample_string(&mut rand::thread_rng(), 32),
                    true,
                ),
            };
            let encoding_aes_key = match take("ENCODING_AES_KEY") {
                Some(key) => Some(accounts::parse_encoding_aes_key(&key)?),
                None if message_mode != MessageMode::Plain => bail!(
                    "ENCODING_AES_KEY is required in {} mode (KAIKA_ENCODING_AES_KEY or stdin)",
                    message_mode.as_str()
                ),
                None => None,
            };
            let mini_program = match mini_app_id {
                Some(app_id) => Some(MiniProgram {
                    app_id,
                    app_secret: accounts::parse_app_secret(
                        "mini_app_secret",
                        &take("MINI_APP_SECRET")
                            .context("MINI_APP_SECRET is required with --mini-app-id")?,
                    )?,
                }),
                None => None,
            };
            let ctx = startup::prepare(settings).await?;
            let added = accounts::add(
                &ctx.db,
                &ctx.master_key,
                NewAccount {
                    name,
                    app_id,
                    app_secret,
                    callback_token: callback_token.clone(),
                    encoding_aes_key,
                    message_mode,
                    mini_program,
                    api_base_url,
                    is_sandbox: false,
                },
            )
            .await?;
            println!(
                "account {} added ({} mode)",
                added.app_id, added.message_mode
            );
            println!("callback URL path: /wechat/{}/callback", added.app_id);
            if generated {
                println!("callback Token (paste it into the WeChat console): {callback_token}");
            }
        }
        AccountAction::List => {
            let ctx = startup::prepare(settings).await?;
            let all = accounts::list(&ctx.db).await?;
            if all.is_empty() {
                println!("no accounts");
            }
            for account in all {
                println!(
                    "{}\t{}\t{}\tmini-program: {}\t{}",
                    account.app_id,
                    account.message_mode,
                    account.name,
                    account.mini_app_id.as_deref().unwrap_or("-"),
                    account.api_base_url
                );
            }
        }
        AccountAction::Remove { app_id } => {
            let ctx = startup::prepare(settings).await?;
            accounts::remove(&ctx.db, &app_id).await?;
            println!("account {app_id} removed");
        }
    }
    Ok(())
}

/// `kaika healthcheck`: GET /healthz on the running server.
pub async fn healthcheck(settings: &Settings, url: Option<String>) -> anyhow::Result<()> {
    let url = url.unwrap_or_else(|| {
        let mut addr = settings.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}/healthz")
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("{url} does not answer"))?;
    if !response.status().is_success() {
        bail!("{url} answered {}", response.status());
    }
    println!("healthy");
    Ok(())
}
