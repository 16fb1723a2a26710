//! The review poll: cards still in WeChat's review are asked about with
//! `card/get` at backed-off intervals (the rows carry their own schedule), so a lost `card_pass_check`
//! push never leaves a card pending.

use std::time::Duration;

use kaika_core::clients::Clients;
use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;

use super::Stop;

/// How often the poll looks for due cards; each card's own delay is at least a minute.
const SWEEP: Duration = Duration::from_secs(30);

/// Starts the loop; it ends after the sweep in flight once `stop` is requested.
pub fn spawn(
    db: DatabaseConnection,
    clients: Clients,
    max_delay: Duration,
    stop: Stop,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(SWEEP);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = stop.requested_async() => break,
            }
            match kaika_core::cards::poll_reviews(&db, &clients, max_delay).await {
                Ok(0) => {}
                Ok(changed) => tracing::info!(changed, "card reviews settled by card/get"),
                Err(err) => tracing::warn!(error = %err, "review poll failed"),
            }
        }
    })
}
