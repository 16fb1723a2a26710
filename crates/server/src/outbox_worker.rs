//! The background outbox worker: on every server process, ledger changes waiting in the outbox are
//! sent to WeChat (`kaika_core::outbox::Worker`); processes share the work through claims in the rows.

use std::time::Duration;

use kaika_core::outbox::{Worker, WorkerSettings};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::startup::Context;

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
        let worker = WorkerSettings::default();
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
    pub fn worker(&self) -> WorkerSettings {
        WorkerSettings {
            batch: self.batch.max(1),
            concurrency: self.concurrency.max(1),
            lease: Duration::from_secs(self.lease_secs.max(1)),
            retry_base: Duration::from_millis(self.retry_base_ms.max(1)),
            retry_max: Duration::from_secs(self.retry_max_secs.max(1)),
            max_attempts: self.max_attempts.max(1),
        }
    }
}

/// A name for this process in the jobs it claims.
fn holder_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "kaika".into());
    format!(
        "{}-{}",
        host.chars().take(24).collect::<String>(),
        std::process::id()
    )
}

/// A worker over the context's database and clients.
pub fn worker(ctx: &Context, config: &OutboxConfig) -> Worker {
    Worker::new(
        ctx.db.clone(),
        ctx.clients.clone(),
        holder_name(),
        config.worker(),
    )
}

/// Starts the worker loop (unless disabled); abort the handle to stop it. Rounds follow each other
/// while jobs are due and pause `poll_interval_ms` when none is.
pub fn spawn(ctx: &Context, config: &OutboxConfig) -> Option<JoinHandle<()>> {
    if !config.enabled {
        tracing::info!(
            "the outbox worker is disabled on this process (KAIKA__OUTBOX__ENABLED=false)"
        );
        return None;
    }
    let worker = worker(ctx, config);
    let idle = Duration::from_millis(config.poll_interval_ms.max(10));
    Some(tokio::spawn(async move {
        loop {
            match worker.run_once().await {
                Ok(round) if round.claimed > 0 => {
                    tracing::debug!(?round, "outbox worker round");
                    continue;
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "outbox worker round failed"),
            }
            tokio::time::sleep(idle).await;
        }
    }))
}
