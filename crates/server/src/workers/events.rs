//! The background event worker: stored WeChat events are claimed and applied
//! (`kaika_core::events::Worker`); processes share the work through leases in the rows.

use kaika_core::jobs::Rounds as _;
use std::time::Duration;

use kaika_core::events::Worker;
use tokio::task::JoinHandle;

use super::Stop;
use crate::config::EventsConfig;
use crate::startup::Context;

/// Starts the worker loop. Rounds follow each other while events are due and pause `poll_interval_ms`
/// when none is; once `stop` is requested no round starts, and the one in flight gets `grace`.
pub fn spawn(ctx: &Context, config: &EventsConfig, stop: Stop, grace: Duration) -> JoinHandle<()> {
    let worker = Worker::new(ctx.db.clone(), ctx.clients.clone(), config.worker());
    let idle = Duration::from_millis(config.poll_interval_ms);
    tokio::spawn(async move {
        while !stop.requested() {
            match worker.run_once_until(stop.deadline(grace)).await {
                Ok(round) if round.claimed > 0 => {
                    tracing::debug!(?round, "event worker round");
                    continue;
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "event worker round failed"),
            }
            stop.pause(idle).await;
        }
    })
}
