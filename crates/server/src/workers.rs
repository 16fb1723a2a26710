//! The background event worker: on every server process, stored WeChat events are claimed and applied
//! (`kaika_core::events::Worker`); processes share the work through leases in the rows.

use std::time::Duration;

use kaika_core::events::{IngestSettings, Worker, WorkerSettings};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::startup::Context;

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
        let worker = WorkerSettings::default();
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
    pub fn ingest(&self) -> IngestSettings {
        IngestSettings {
            timestamp_window: (self.timestamp_window_secs > 0)
                .then(|| Duration::from_secs(self.timestamp_window_secs)),
        }
    }

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

/// Starts the worker loop; abort the handle to stop it. Rounds follow each other while events are due
/// and pause `poll_interval_ms` when none is.
pub fn spawn(ctx: &Context, config: &EventsConfig) -> JoinHandle<()> {
    let worker = Worker::new(ctx.db.clone(), ctx.clients.clone(), config.worker());
    let idle = Duration::from_millis(config.poll_interval_ms.max(10));
    tokio::spawn(async move {
        loop {
            match worker.run_once().await {
                Ok(round) if round.claimed > 0 => {
                    tracing::debug!(?round, "event worker round");
                    continue;
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "event worker round failed"),
            }
            tokio::time::sleep(idle).await;
        }
    })
}
