//! One [`WechatClient`] per account (and one per mini-program), built from the stored account on first use
//! and shared, so that the token cache and its single-flight refresh are shared too.

use crate::refusal::Refusal;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kaika_wechat::client::WechatClient;
use kaika_wechat::token::TokenStore;

/// The settings of calls to WeChat (timeouts, retries when busy) every client is built with.
pub use kaika_wechat::client::ClientConfig;
use sea_orm::DatabaseConnection;

use crate::accounts;
use crate::secrets::MasterKey;
use crate::telemetry::{Ignore, Observer};
use crate::token_store::DbTokenStore;
use crate::CoreError;

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
    cache: Arc<RwLock<HashMap<(String, Side), WechatClient>>>,
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

    async fn client(&self, app_id: &str, side: Side) -> Result<WechatClient, CoreError> {
        let key = (app_id.to_owned(), side);
        if let Some(client) = self.cache.read().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(client);
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
        if let Ok(mut cache) = self.cache.write() {
            // Another task may have built one meanwhile; keep the first so its token cache is shared.
            return Ok(cache.entry(key).or_insert(client).clone());
        }
        Ok(client)
    }
}
