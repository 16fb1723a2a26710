//! Access tokens: a [`TokenStore`] shared by every process of one deployment, and a [`TokenCache`]
//! that refreshes ahead of expiry with single flight, inside a process (a mutex) and across
//! processes (an optional lease in the store).
//!
//! Each fetch of `cgi-bin/token` invalidates the previous token and burns a daily quota of 2000, so
//! a deployment must fetch from one place at a time (reference §2.1, §13 #14).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::Rng as _;

use crate::auth::AccessTokenResponse;
use crate::error::{ErrorKind, WechatError};

/// An access token and the instant it stops working. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The token string.
    pub token: String,
    /// When WeChat stops accepting it.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl AccessToken {
    /// A token that expires `expires_in` seconds after `now`.
    pub fn from_expires_in(token: impl Into<String>, expires_in: i64, now: DateTime<Utc>) -> Self {
        Self {
            token: token.into(),
            expires_at: now + chrono::Duration::seconds(expires_in.max(0)),
        }
    }

    /// Still accepted by WeChat at `now`.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }

    /// Valid for at least `ahead` more at `now`, so no refresh is due.
    pub fn is_fresh_at(&self, now: DateTime<Utc>, ahead: Duration) -> bool {
        let ahead = chrono::Duration::from_std(ahead).unwrap_or(chrono::Duration::MAX);
        self.expires_at
            .checked_sub_signed(ahead)
            .is_some_and(|refresh_at| now < refresh_at)
    }
}

/// A failure of the token store (database down, …).
#[derive(Debug, thiserror::Error)]
#[error("token store: {0}")]
pub struct TokenStoreError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl TokenStoreError {
    /// Wraps any error or message.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

impl From<TokenStoreError> for WechatError {
    fn from(e: TokenStoreError) -> Self {
        WechatError::TokenStore(e.to_string())
    }
}

/// Where access tokens live between calls and between processes.
///
/// A database-backed implementation keeps one row per AppID (token, expiry) and, for the lease, a
/// holder and a lease expiry updated with a conditional `UPDATE … WHERE lease_expires_at < now OR
/// holder = $holder`. The lease methods have permissive defaults for single-process stores.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The current token of `app_id`, if any (expired ones may be returned; the cache checks).
    async fn get(&self, app_id: &str) -> Result<Option<AccessToken>, TokenStoreError>;

    /// Stores `token` as the current token of `app_id`.
    async fn save(&self, app_id: &str, token: &AccessToken) -> Result<(), TokenStoreError>;

    /// Forgets the current token of `app_id` **only if** it is still `token` (WeChat refused it);
    /// a newer token saved meanwhile by another process must survive.
    async fn invalidate(&self, app_id: &str, token: &str) -> Result<(), TokenStoreError>;

    /// Tries to become the one refresher of `app_id` for `ttl`. Returns false while another holder's
    /// lease is live. Re-acquiring one's own lease succeeds.
    async fn try_acquire_refresh_lease(
        &self,
        app_id: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, TokenStoreError> {
        let _ = (app_id, holder, ttl);
        Ok(true)
    }

    /// Records that fetching a token for `app_id` failed for a reason only its owner can fix (wrong
    /// AppSecret or AppID, caller IP not whitelisted), for an admin to see; the next token saved clears
    /// it. The default keeps nothing.
    async fn record_configuration_error(
        &self,
        app_id: &str,
        message: &str,
    ) -> Result<(), TokenStoreError> {
        let _ = (app_id, message);
        Ok(())
    }

    /// Ends `holder`'s lease early (after a refresh, successful or not).
    async fn release_refresh_lease(
        &self,
        app_id: &str,
        holder: &str,
    ) -> Result<(), TokenStoreError> {
        let _ = (app_id, holder);
        Ok(())
    }
}

/// An in-memory [`TokenStore`] with leases, for one process and for tests.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<String, AccessToken>>,
    leases: Mutex<HashMap<String, (String, std::time::Instant)>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn get(&self, app_id: &str) -> Result<Option<AccessToken>, TokenStoreError> {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(tokens.get(app_id).cloned())
    }

    async fn save(&self, app_id: &str, token: &AccessToken) -> Result<(), TokenStoreError> {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens.insert(app_id.to_owned(), token.clone());
        Ok(())
    }

    async fn invalidate(&self, app_id: &str, token: &str) -> Result<(), TokenStoreError> {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if tokens.get(app_id).is_some_and(|t| t.token == token) {
            tokens.remove(app_id);
        }
        Ok(())
    }

    async fn try_acquire_refresh_lease(
        &self,
        app_id: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, TokenStoreError> {
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        let now = std::time::Instant::now();
        match leases.get(app_id) {
            Some((other, until)) if other != holder && *until > now => Ok(false),
            _ => {
                leases.insert(app_id.to_owned(), (holder.to_owned(), now + ttl));
                Ok(true)
            }
        }
    }

    async fn release_refresh_lease(
        &self,
        app_id: &str,
        holder: &str,
    ) -> Result<(), TokenStoreError> {
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        if leases.get(app_id).is_some_and(|(h, _)| h == holder) {
            leases.remove(app_id);
        }
        Ok(())
    }
}

/// Gets a new token from WeChat. [`crate::client::WechatClient`] implements it over HTTP; tests
/// and other transports can plug their own.
#[async_trait]
pub trait TokenFetcher: Send + Sync {
    /// Fetches a token. `force_refresh` is true when WeChat refused the current one
    /// (`stable_token` then passes `force_refresh: true`).
    async fn fetch(&self, force_refresh: bool) -> Result<AccessTokenResponse, WechatError>;
}

/// Timing of the token cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// Refresh this long before expiry (default 5 minutes, WeChat's rollover overlap).
    pub refresh_ahead: Duration,
    /// How long a cross-process refresh lease lasts (default 30 s).
    pub lease_ttl: Duration,
    /// How long to wait for another process's refresh before fetching anyway (default 10 s).
    pub lease_wait: Duration,
    /// How often to look at the store while waiting (default 100 ms).
    pub lease_poll: Duration,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            refresh_ahead: Duration::from_secs(300),
            lease_ttl: Duration::from_secs(30),
            lease_wait: Duration::from_secs(10),
            lease_poll: Duration::from_millis(100),
        }
    }
}

/// The access token of one AppID: cached in memory, shared through a [`TokenStore`], refreshed by
/// one caller at a time.
pub struct TokenCache {
    app_id: String,
    store: Arc<dyn TokenStore>,
    fetcher: Arc<dyn TokenFetcher>,
    config: TokenConfig,
    local: RwLock<Option<AccessToken>>,
    refresh: tokio::sync::Mutex<()>,
    holder: String,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("app_id", &self.app_id)
            .field("config", &self.config)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache for `app_id`.
    pub fn new(
        app_id: impl Into<String>,
        store: Arc<dyn TokenStore>,
        fetcher: Arc<dyn TokenFetcher>,
        config: TokenConfig,
    ) -> Self {
        let holder = format!("{:016x}", rand::thread_rng().gen::<u64>());
        Self {
            app_id: app_id.into(),
            store,
            fetcher,
            config,
            local: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
            holder,
        }
    }

    /// The AppID this cache serves.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    fn local(&self) -> Option<AccessToken> {
        self.local
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_local(&self, token: Option<AccessToken>) {
        *self.local.write().unwrap_or_else(PoisonError::into_inner) = token;
    }

    /// A token valid for at least `refresh_ahead`, refreshing it first if needed. When a refresh
    /// ahead of expiry fails, the still-valid token is returned and the error only logged.
    pub async fn access_token(&self) -> Result<String, WechatError> {
        let now = Utc::now();
        if let Some(t) = self
            .local()
            .filter(|t| t.is_fresh_at(now, self.config.refresh_ahead))
        {
            return Ok(t.token);
        }
        if let Some(t) = self.store.get(&self.app_id).await? {
            if t.is_fresh_at(now, self.config.refresh_ahead) {
                self.set_local(Some(t.clone()));
                return Ok(t.token);
            }
        }
        self.refresh(None).await
    }

    /// WeChat refused `stale` (40001, 40014, 42001): returns a newer token, fetching one (forced)
    /// unless another caller already replaced it. Many concurrent callers cause one fetch.
    pub async fn invalidate_and_refresh(&self, stale: &str) -> Result<String, WechatError> {
        self.refresh(Some(stale)).await
    }

    async fn current(&self) -> Result<Option<AccessToken>, WechatError> {
        // The store is the truth shared between processes; the local copy only saves a round trip.
        match self.store.get(&self.app_id).await? {
            Some(t) => Ok(Some(t)),
            None => Ok(self.local()),
        }
    }

    async fn refresh(&self, stale: Option<&str>) -> Result<String, WechatError> {
        let _flight = self.refresh.lock().await;
        let now = Utc::now();
        let current = self.current().await?;
        let is_stale = |t: &AccessToken| stale.is_some_and(|s| s == t.token);
        // Whether `t` serves: for a refused token, any other valid one (someone replaced it while we
        // waited); otherwise one that is not due for refresh.
        let usable = |t: &AccessToken, now| match stale {
            Some(_) => !is_stale(t) && t.is_valid_at(now),
            None => t.is_fresh_at(now, self.config.refresh_ahead),
        };
        if let Some(t) = current.as_ref().filter(|t| usable(t, now)) {
            self.set_local(Some(t.clone()));
            return Ok(t.token.clone());
        }
        // `force_refresh` has a small daily quota and ends every other holder's token: only for a
        // refused token that is still the one cached, not for a token that merely expired or is gone.
        let force = current.as_ref().is_some_and(is_stale);
        if let Some(s) = stale {
            self.store.invalidate(&self.app_id, s).await?;
            self.set_local(None);
        }
        let fallback = current.filter(|t| !is_stale(t) && t.is_valid_at(now));

        let leased = self
            .store
            .try_acquire_refresh_lease(&self.app_id, &self.holder, self.config.lease_ttl)
            .await?;
        if !leased {
            if let Some(t) = self.wait_for_other_refresher(stale).await? {
                self.set_local(Some(t.clone()));
                return Ok(t.token);
            }
            tracing::warn!(app_id = %self.app_id, "token refresh lease still held elsewhere; fetching anyway");
        }

        // Another process may have refreshed between our read and our lease (it saved, then gave the
        // lease back): its token serves, and a second fetch would only spend quota.
        if leased {
            if let Some(t) = self.store.get(&self.app_id).await? {
                if usable(&t, Utc::now()) {
                    self.release_lease().await;
                    self.set_local(Some(t.clone()));
                    return Ok(t.token);
                }
            }
        }
        let fetched = self.fetcher.fetch(force).await;
        let outcome = self.keep_fetched(fetched, force, fallback).await;
        // Given back only once the new token is saved, so that whoever takes the lease next finds it.
        if leased {
            self.release_lease().await;
        }
        outcome
    }

    async fn release_lease(&self) {
        if let Err(e) = self
            .store
            .release_refresh_lease(&self.app_id, &self.holder)
            .await
        {
            tracing::warn!(app_id = %self.app_id, error = %e, "could not release the token refresh lease");
        }
    }

    /// Saves a fetched token, or records why the fetch failed and falls back to the current token.
    async fn keep_fetched(
        &self,
        fetched: Result<AccessTokenResponse, WechatError>,
        force: bool,
        fallback: Option<AccessToken>,
    ) -> Result<String, WechatError> {
        match fetched {
            Ok(resp) if !resp.access_token.is_empty() => {
                let token =
                    AccessToken::from_expires_in(resp.access_token, resp.expires_in, Utc::now());
                self.store.save(&self.app_id, &token).await?;
                self.set_local(Some(token.clone()));
                tracing::info!(app_id = %self.app_id, expires_at = %token.expires_at, forced = force, "access token refreshed");
                Ok(token.token)
            }
            Ok(_) => Err(WechatError::Decode {
                endpoint: "access token".into(),
                message: "empty access_token".into(),
                body_prefix: String::new(),
            }),
            Err(e) => {
                if matches!(
                    e.kind(),
                    ErrorKind::BadCredentials | ErrorKind::IpNotWhitelisted
                ) {
                    if let Err(store_error) = self
                        .store
                        .record_configuration_error(&self.app_id, &e.to_string())
                        .await
                    {
                        tracing::warn!(app_id = %self.app_id, error = %store_error, "could not record a token configuration error");
                    }
                }
                match fallback {
                    Some(t) => {
                        tracing::warn!(app_id = %self.app_id, error = %e, "early token refresh failed; using the current token until it expires");
                        self.set_local(Some(t.clone()));
                        Ok(t.token)
                    }
                    None => Err(e),
                }
            }
        }
    }

    async fn wait_for_other_refresher(
        &self,
        stale: Option<&str>,
    ) -> Result<Option<AccessToken>, WechatError> {
        let deadline = tokio::time::Instant::now() + self.config.lease_wait;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(self.config.lease_poll).await;
            if let Some(t) = self.store.get(&self.app_id).await? {
                let now = Utc::now();
                if stale != Some(t.token.as_str()) && t.is_fresh_at(now, self.config.refresh_ahead)
                {
                    return Ok(Some(t));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct CountingFetcher {
        calls: AtomicUsize,
        forced: AtomicUsize,
        fail: bool,
    }

    #[async_trait]
    impl TokenFetcher for CountingFetcher {
        async fn fetch(&self, force_refresh: bool) -> Result<AccessTokenResponse, WechatError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if force_refresh {
                self.forced.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            if self.fail {
                return Err(WechatError::api("cgi-bin/stable_token", -1, "system error"));
            }
            Ok(AccessTokenResponse {
                access_token: format!("token-{n}"),
                expires_in: 7200,
            })
        }
    }

    fn fast_config() -> TokenConfig {
        TokenConfig {
            lease_poll: Duration::from_millis(5),
            lease_wait: Duration::from_secs(5),
            ..TokenConfig::default()
        }
    }

    fn cache(store: Arc<MemoryTokenStore>, fetcher: Arc<CountingFetcher>) -> Arc<TokenCache> {
        Arc::new(TokenCache::new("wxapp", store, fetcher, fast_config()))
    }

    async fn seed(store: &MemoryTokenStore, token: &str, secs: i64) {
        store
            .save(
                "wxapp",
                &AccessToken::from_expires_in(token, secs, Utc::now()),
            )
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_thousand_callers_on_an_expired_token_cause_one_fetch() {
        let store = Arc::new(MemoryTokenStore::new());
        store
            .save(
                "wxapp",
                &AccessToken {
                    token: "old".into(),
                    expires_at: Utc::now() - chrono::Duration::seconds(1),
                },
            )
            .await
            .unwrap();
        let fetcher = Arc::new(CountingFetcher::default());
        let cache = cache(store.clone(), fetcher.clone());
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.access_token().await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "token-1");
        }
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
        assert_eq!(store.get("wxapp").await.unwrap().unwrap().token, "token-1");
    }

    /// Another process's view of a shared store, slow to take the refresh lease.
    struct SlowLease(Arc<MemoryTokenStore>, Duration);

    #[async_trait]
    impl TokenStore for SlowLease {
        async fn get(&self, app_id: &str) -> Result<Option<AccessToken>, TokenStoreError> {
            self.0.get(app_id).await
        }
        async fn save(&self, app_id: &str, token: &AccessToken) -> Result<(), TokenStoreError> {
            self.0.save(app_id, token).await
        }
        async fn invalidate(&self, app_id: &str, token: &str) -> Result<(), TokenStoreError> {
            self.0.invalidate(app_id, token).await
        }
        async fn try_acquire_refresh_lease(
            &self,
            app_id: &str,
            holder: &str,
            ttl: Duration,
        ) -> Result<bool, TokenStoreError> {
            tokio::time::sleep(self.1).await;
            self.0.try_acquire_refresh_lease(app_id, holder, ttl).await
        }
        async fn release_refresh_lease(
            &self,
            app_id: &str,
            holder: &str,
        ) -> Result<(), TokenStoreError> {
            self.0.release_refresh_lease(app_id, holder).await
        }
    }

    #[tokio::test]
    async fn a_process_that_takes_the_lease_after_another_refreshed_uses_that_token() {
        let store = Arc::new(MemoryTokenStore::new());
        seed(&store, "expired", -1).await;
        let (fetcher_a, fetcher_b) = (
            Arc::new(CountingFetcher::default()),
            Arc::new(CountingFetcher::default()),
        );
        let a = cache(store.clone(), fetcher_a.clone());
        // B reads the expired token at once, but reaches the lease only after A fetched, saved and
        // gave the lease back.
        let slow = Arc::new(SlowLease(store.clone(), Duration::from_millis(200)));
        let b = TokenCache::new("wxapp", slow, fetcher_b.clone(), fast_config());
        let (from_a, from_b) = tokio::join!(a.access_token(), b.access_token());
        assert_eq!(from_a.unwrap(), "token-1");
        assert_eq!(from_b.unwrap(), "token-1");
        let fetches =
            fetcher_a.calls.load(Ordering::SeqCst) + fetcher_b.calls.load(Ordering::SeqCst);
        assert_eq!(fetches, 1, "one fetch for both processes");
    }

    #[tokio::test]
    async fn a_fresh_token_is_reused_without_fetching() {
        let store = Arc::new(MemoryTokenStore::new());
        seed(&store, "stored", 3600).await;
        let fetcher = Arc::new(CountingFetcher::default());
        let cache = cache(store, fetcher.clone());
        assert_eq!(cache.access_token().await.unwrap(), "stored");
        assert_eq!(cache.access_token().await.unwrap(), "stored");
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_token_within_five_minutes_of_expiry_is_refreshed_ahead() {
        let store = Arc::new(MemoryTokenStore::new());
        seed(&store, "ageing", 240).await;
        let fetcher = Arc::new(CountingFetcher::default());
        let cache = cache(store, fetcher.clone());
        assert_eq!(cache.access_token().await.unwrap(), "token-1");
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
        assert_eq!(fetcher.forced.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_failed_early_refresh_keeps_the_still_valid_token() {
        let store = Arc::new(MemoryTokenStore::new());
        seed(&store, "ageing", 240).await;
        let fetcher = Arc::new(CountingFetcher {
            fail: true,
            ..CountingFetcher::default()
        });
        let cache = cache(store.clone(), fetcher.clone());
        assert_eq!(cache.access_token().await.unwrap(), "ageing");
        store
            .save(
                "wxapp",
                &AccessToken {
                    token: "dead".into(),
                    expires_at: Utc::now() - chrono::Duration::seconds(1),
                },
            )
            .await
            .unwrap();
        let cache = TokenCache::new("wxapp", store, fetcher, fast_config());
        let err = cache.access_token().await.unwrap_err();
        assert_eq!(err.errcode(), Some(-1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_rejections_of_one_token_force_one_refresh() {
        let store = Arc::new(MemoryTokenStore::new());
        seed(&store, "rejected", 3600).await;
        let fetcher = Arc::new(CountingFetcher::default());
        let cache = cache(store, fetcher.clone());
        assert_eq!(cache.access_token().await.unwrap(), "rejected");
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.invalidate_and_refresh("rejected").await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "token-1");
        }
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
        assert_eq!(fetcher.forced.load(Ordering::SeqCst), 1);
        assert_eq!(cache.access_token().await.unwrap(), "token-1");
    }

    #[tokio::test]
    async fn a_refused_token_no_longer_cached_is_replaced_without_force_refresh() {
        let store = Arc::new(MemoryTokenStore::new());
        let fetcher = Arc::new(CountingFetcher::default());
        let cache = cache(store.clone(), fetcher.clone());
        // WeChat refused a token that has expired from the store meanwhile.
        assert_eq!(
            cache.invalidate_and_refresh("gone").await.unwrap(),
            "token-1"
        );
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
        assert_eq!(fetcher.forced.load(Ordering::SeqCst), 0, "no force_refresh");
        // The token now cached is refused: that one is forced.
        assert_eq!(
            cache.invalidate_and_refresh("token-1").await.unwrap(),
            "token-2"
        );
        assert_eq!(fetcher.forced.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_processes_sharing_a_store_refresh_once_through_the_lease() {
        let store = Arc::new(MemoryTokenStore::new());
        let fetch_a = Arc::new(CountingFetcher::default());
        let fetch_b = Arc::new(CountingFetcher::default());
        let a = cache(store.clone(), fetch_a.clone());
        let b = cache(store.clone(), fetch_b.clone());
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let c = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move { c.access_token().await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "token-1");
        }
        let total = fetch_a.calls.load(Ordering::SeqCst) + fetch_b.calls.load(Ordering::SeqCst);
        assert_eq!(total, 1);
    }

    #[tokio::test]
    async fn a_lease_held_too_long_elsewhere_does_not_block_forever() {
        let store = Arc::new(MemoryTokenStore::new());
        assert!(store
            .try_acquire_refresh_lease("wxapp", "crashed-process", Duration::from_secs(60))
            .await
            .unwrap());
        let fetcher = Arc::new(CountingFetcher::default());
        let cache = TokenCache::new(
            "wxapp",
            store,
            fetcher.clone(),
            TokenConfig {
                lease_wait: Duration::from_millis(30),
                lease_poll: Duration::from_millis(5),
                ..TokenConfig::default()
            },
        );
        assert_eq!(cache.access_token().await.unwrap(), "token-1");
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn memory_store_invalidates_only_the_named_token_and_honours_leases() {
        let store = MemoryTokenStore::new();
        seed(&store, "new", 100).await;
        store.invalidate("wxapp", "old").await.unwrap();
        assert_eq!(store.get("wxapp").await.unwrap().unwrap().token, "new");
        store.invalidate("wxapp", "new").await.unwrap();
        assert!(store.get("wxapp").await.unwrap().is_none());
        let ttl = Duration::from_secs(10);
        assert!(store
            .try_acquire_refresh_lease("wxapp", "a", ttl)
            .await
            .unwrap());
        assert!(!store
            .try_acquire_refresh_lease("wxapp", "b", ttl)
            .await
            .unwrap());
        assert!(store
            .try_acquire_refresh_lease("wxapp", "a", ttl)
            .await
            .unwrap());
        store.release_refresh_lease("wxapp", "b").await.unwrap();
        assert!(!store
            .try_acquire_refresh_lease("wxapp", "b", ttl)
            .await
            .unwrap());
        store.release_refresh_lease("wxapp", "a").await.unwrap();
        assert!(store
            .try_acquire_refresh_lease("wxapp", "b", ttl)
            .await
            .unwrap());
        assert!(store
            .try_acquire_refresh_lease("other", "a", Duration::ZERO)
            .await
            .unwrap());
        assert!(store
            .try_acquire_refresh_lease("other", "b", ttl)
            .await
            .unwrap());
    }

    #[test]
    fn freshness_respects_the_refresh_window_and_debug_hides_the_token() {
        let now = Utc::now();
        let t = AccessToken::from_expires_in("secret-token", 600, now);
        assert!(t.is_valid_at(now));
        assert!(t.is_fresh_at(now, Duration::from_secs(300)));
        assert!(!t.is_fresh_at(now, Duration::from_secs(600)));
        assert!(!t.is_valid_at(now + chrono::Duration::seconds(600)));
        assert!(!format!("{t:?}").contains("secret-token"));
    }
}
