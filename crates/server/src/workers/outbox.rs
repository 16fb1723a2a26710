//! The background outbox worker: ledger changes waiting in the outbox are
//! sent to WeChat (`kaika_core::outbox::Worker`); processes share the work through claims in the rows.

use kaika_core::jobs::Rounds as _;
use std::time::Duration;

use kaika_core::outbox::Worker;
use tokio::task::JoinHandle;

use super::Stop;
use crate::config::OutboxConfig;
use crate::startup::Context;

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

/// Starts the worker loop (unless disabled). Rounds follow each other while jobs are due and pause
/// `poll_interval_ms` when none is; once `stop` is requested no round starts, and the one in flight
/// gets `grace`.
pub fn spawn(
    ctx: &Context,
    config: &OutboxConfig,
    stop: Stop,
    grace: Duration,
) -> Option<JoinHandle<()>> {
    if !config.enabled {
        tracing::info!(
            "the outbox worker is disabled on this process (KAIKA__OUTBOX__ENABLED=false)"
        );
        return None;
    }
    let worker = worker(ctx, config);
    let idle = Duration::from_millis(config.poll_interval_ms);
    Some(tokio::spawn(async move {
        while !stop.requested() {
            match worker.run_once_until(stop.deadline(grace)).await {
                Ok(round) if round.claimed > 0 => {
                    tracing::debug!(?round, "outbox worker round");
                    continue;
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "outbox worker round failed"),
            }
            stop.pause(idle).await;
        }
    }))
}
