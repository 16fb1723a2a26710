//! Per-instance rate limits of the mini-program's costly endpoints: each `POST /api/v1/sessions` spends
//! WeChat `jscode2session` quota, and activations call WeChat several times. Counters live in this
//! process's memory (`governor`'s keyed GCRA), so with N instances the budget is N times the configured
//! one; keys are forgotten once their budget is full again, so memory stays bounded.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use crate::error::{ApiCode, ApiError};

/// The budgets: section `[rate_limit]` (`KAIKA__RATE_LIMIT__<NAME>`). A rate of 0 turns that limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// `POST /api/v1/sessions` per client address and minute. Default 120.
    pub sessions_per_minute: u32,
    /// Sessions a client address may open at once before the rate applies. Default 60.
    pub sessions_burst: u32,
    /// Activation requests (`POST /api/v1/activations`, `GET …/activation-params`, `GET /m/activate`)
    /// per client address and minute, and again per member (openid, not for the page). Default 300.
    pub activations_per_minute: u32,
    /// Activation requests at once before the rate applies. Default 100.
    pub activations_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            sessions_per_minute: 120,
            sessions_burst: 60,
            activations_per_minute: 300,
            activations_burst: 100,
        }
    }
}

/// Checks between two sweeps of forgotten keys.
const SWEEP_EVERY: u64 = 1024;

struct Keyed<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(per_minute: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_minute)?;
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Some(Self {
            limiter: RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)),
            checks: AtomicU64::new(0),
        })
    }

    fn check(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// The limiters of one process, shared by its HTTP workers.
pub struct RateLimits {
    sessions: Option<Keyed<IpAddr>>,
    activations_by_ip: Option<Keyed<IpAddr>>,
    activations_by_member: Option<Keyed<(i64, String)>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

impl RateLimits {
    /// Limiters with these budgets.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            sessions: Keyed::new(config.sessions_per_minute, config.sessions_burst),
            activations_by_ip: Keyed::new(config.activations_per_minute, config.activations_burst),
            activations_by_member: Keyed::new(
                config.activations_per_minute,
                config.activations_burst,
            ),
        }
    }

    /// Spends one session creation of `ip`'s budget.
    pub fn session(&self, ip: IpAddr) -> Result<(), ApiError> {
        spend(self.sessions.as_ref(), &ip)
    }

    /// Spends one activation request of `ip`'s budget and, with a session, of the member's.
    pub fn activation(&self, ip: IpAddr, member: Option<(i64, &str)>) -> Result<(), ApiError> {
        spend(self.activations_by_ip.as_ref(), &ip)?;
        match member {
            Some((account_id, openid)) => spend(
                self.activations_by_member.as_ref(),
                &(account_id, openid.to_owned()),
            ),
            None => Ok(()),
        }
    }
}

fn spend<K: Hash + Eq + Clone>(limiter: Option<&Keyed<K>>, key: &K) -> Result<(), ApiError> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check(key).map_err(|wait| {
        ApiError::new(ApiCode::RateLimited, "too many requests; try again later")
            .with_retry_after(wait.as_secs().max(1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_beyond_its_burst_is_refused_while_another_is_not() {
        let limits = RateLimits::new(RateLimitConfig {
            sessions_per_minute: 1,
            sessions_burst: 2,
            ..RateLimitConfig::default()
        });
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        assert!(limits.session(a).is_ok());
        assert!(limits.session(a).is_ok());
        let refused = limits.session(a).unwrap_err();
        assert_eq!(refused.code(), "rate_limited");
        assert!(limits.session(b).is_ok());
    }

    #[test]
    fn a_rate_of_zero_turns_the_limit_off() {
        let limits = RateLimits::new(RateLimitConfig {
            sessions_per_minute: 0,
            ..RateLimitConfig::default()
        });
        let ip = "192.0.2.1".parse().unwrap();
        assert!((0..1000).all(|_| limits.session(ip).is_ok()));
    }
}
