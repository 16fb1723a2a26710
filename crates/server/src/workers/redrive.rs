//! The background re-drive: activations abandoned by a crash or waiting after a
//! transient WeChat failure are finished with back-off (the rows carry their own schedule).

use std::time::Duration;

use kaika_core::activation::Activator;
use tokio::task::JoinHandle;

use super::Stop;

/// How many due activations one pass drives at most.
const BATCH: u64 = 50;

/// Starts the loop. Once `stop` is requested it starts no pass; the pass in flight gets `grace`, then
/// the activation it is driving is given back.
pub fn spawn(
    activator: Activator,
    interval: Duration,
    stop: Stop,
    grace: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = stop.requested_async() => break,
            }
            match activator
                .redrive_round_until(BATCH, stop.deadline(grace))
                .await
            {
                Ok(round) if round.claimed == 0 => {}
                Ok(round) => tracing::info!(?round, "re-drove pending activations"),
                Err(err) => tracing::warn!(error = %err, "activation re-drive pass failed"),
            }
        }
    })
}
