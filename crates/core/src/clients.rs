//! One [`WechatClient`] per account (and one per mini-program), built from the stored account on first use
//! and shared, so that the token cache and its single-flight refresh are shared too.
//!
//! Several instances may serve one database, and an account changed on one of them (a new AppSecret,
//! another API address) must reach the others: at most every [`RECHECK_EVERY`], the next use of a
//! client reads each account's `updated_at` (one query for all accounts) and drops the clients built
//! from an older version. So a change is in use everywhere within [`RECHECK_EVERY`] of being saved.

use crate::refusal::Refusal;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{EntityTrait, QuerySelect};

use kaika_wechat::client::WechatClient;
use kaika_wechat::token::TokenStore;

/// The settings of calls to WeChat (timeouts, retries when busy) every client is built with.
pub use kaika_wechat::client::ClientConfig;
use sea_orm::DatabaseConnection;

use crate::accounts;
use crate::entity::accounts as account_rows;
use crate::secrets::MasterKey;
use crate::telemetry::{Ignore, Observer};
use crate::token_store::DbTokenStore;
use crate::CoreError;

/// How long a client may be used after its account changed on another instance.
pub const RECHECK_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    OfficialAccount,
    MiniProgram,
}

/// The WeChat clients of every account.
#[derive(Clone)]
pub struct Clients {
    db: DatabaseConnection,
    master_key: MasterKey,
    config: ClientConfig,
    token_store: Arc<dyn TokenStore>,
    observer: Arc<dyn Observer>,
    cache: Arc<RwLock<HashMap<(String, Side), Cached>>>,
    /// When the accounts' versions were last compared with the cache's.
    checked_at: Arc<Mutex<Instant>>,
}

/// A client and the version (`updated_at`) of the account it was built from.
#[derive(Clone)]
struct Cached {
    client: WechatClient,
    version: DateTime<Utc>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Clients {
    /// Clients that share tokens through the database.
    pub fn new(db: DatabaseConnection, master_key: MasterKey, config: ClientConfig) -> Self {
        let token_store = Arc::new(DbTokenStore::new(db.clone()));
        Self {
            db,
            master_key,
            config,
            token_store,
            observer: Arc::new(Ignore),
            cache: Arc::default(),
            checked_at: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// These clients, telling `observer` about every WeChat call; the activator and the workers built on
    /// them report what they do to it too.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Who is told about WeChat calls, activations, events and outbox jobs.
    pub fn observer(&self) -> &dyn Observer {
        self.observer.as_ref()
    }

    /// The official account's client (cards, codes, members).
    pub async fn official_account(&self, app_id: &str) -> Result<WechatClient, CoreError> {
        self.client(app_id, Side::OfficialAccount).await
    }

    /// The mini-program's client (`jscode2session`, mini-program codes).
    pub async fn mini_program(&self, app_id: &str) -> Result<WechatClient, CoreError> {
        self.client(app_id, Side::MiniProgram).await
    }

    /// Fetches a fresh access token of the official account `app_id` with its stored AppSecret: the
    /// admin's connection test.
    pub async fn fetch_token(&self, app_id: &str) -> Result<(), CoreError> {
        let client = self.official_account(app_id).await?;
        client.fetch_token().await?;
        Ok(())
    }

    /// Forgets cached clients of an account (after its secrets change or it is removed).
    pub fn forget(&self, app_id: &str) {
        if let Ok(mut cache) = self.cache.write() {
            cache.retain(|(id, _), _| id != app_id);
        }
    }

    /// Drops the clients of accounts changed (or removed) since they were built, when the last
    /// comparison is older than [`RECHECK_EVERY`]. One caller compares; the others go on meanwhile.
    async fn drop_stale(&self) -> Result<(), CoreError> {
        {
            let Ok(mut checked_at) = self.checked_at.lock() else {
                return Ok(());
            };
            if checked_at.elapsed() < RECHECK_EVERY {
                return Ok(());
            }
            *checked_at = Instant::now();
        }
        let versions: HashMap<String, DateTime<Utc>> = account_rows::Entity::find()
            .select_only()
            .column(account_rows::Column::AppId)
            .column(account_rows::Column::UpdatedAt)
            .into_tuple::<(String, DateTime<Utc>)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        if let Ok(mut cache) = self.cache.write() {
            cache.retain(|(app_id, _), cached| versions.get(app_id) == Some(&cached.version));
        }
        Ok(())
    }

    async fn client(&self, app_id: &str, side: Side) -> Result<WechatClient, CoreError> {
        self.drop_stale().await?;
        let key = (app_id.to_owned(), side);
        if let Some(cached) = self.cache.read().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(cached.client);
        }
        let account = accounts::load(&self.db, &self.master_key, app_id).await?;
        let (client_app_id, secret) = match side {
            Side::OfficialAccount => (account.summary.app_id.clone(), account.app_secret.clone()),
            Side::MiniProgram => match (&account.summary.mini_app_id, &account.mini_app_secret) {
                (Some(id), Some(secret)) => (id.clone(), secret.clone()),
                _ => {
                    return Err(CoreError::refused(
                        Refusal::MiniProgramNotConfigured,
                        format!("account {app_id} has no mini-program"),
                    ))
                }
            },
        };
        let client = WechatClient::observed(
            account.summary.api_base_url.clone(),
            client_app_id,
            secret.expose(),
            self.token_store.clone(),
            self.config.clone(),
            self.observer.clone(),
        )?;
        let cached = Cached {
            client,
            version: account.summary.updated_at,
        };
        if let Ok(mut cache) = self.cache.write() {
            // Another task may have built one meanwhile from the same version; keep the first so its
            // token cache is shared.
            let entry = cache.entry(key).or_insert_with(|| cached.clone());
            if entry.version < cached.version {
                *entry = cached.clone();
            }
            return Ok(entry.client.clone());
        }
        Ok(cached.client)
    }
}
