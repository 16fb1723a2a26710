//! The background event worker: on every server process, stored WeChat events are claimed and applied
//! (`kaika_core::events::Worker`); processes share the work through leases in the rows.

use std::time::Duration;

use kaika_core::events::Worker;
use tokio::task::JoinHandle;

use crate::config::EventsConfig;
use crate::startup::Context;

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
