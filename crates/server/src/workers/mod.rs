//! The background loops of a `worker` or `all` process: they share the work through leases in the rows,
//! so any number of processes may run them on one database.
//!
//! - [`events`]: applies stored WeChat pushes;
//! - [`outbox`]: sends ledger changes to WeChat (`membercard/updateuser`);
//! - [`redrive`]: finishes activations abandoned by a crash or waiting on WeChat;
//! - [`review_poll`]: asks `card/get` about cards still in review.
//!
//! On SIGTERM they drain ([`Workers::drain`]): no loop claims anything more, the round in flight gets
//! `server.drain_timeout_secs` to finish, and the event worker, the outbox worker and the re-drive then
//! give back the jobs they still hold, so none stays `sending` or leased until its lease runs out.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::startup::Context;

pub mod events;
pub mod outbox;
pub mod redrive;
pub mod review_poll;

/// Tells the loops that the process is stopping.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Whether the process is stopping.
    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when the process starts stopping.
    pub async fn requested_async(&self) {
        let mut receiver = self.0.clone();
        // An error means the sender is gone: nobody can ask any more, so this counts as stopping.
        let _ = receiver.wait_for(|stop| *stop).await;
    }

    /// Completes `grace` after the process starts stopping: when a round in flight is cut short.
    pub fn deadline(&self, grace: Duration) -> impl Future<Output = ()> + use<> {
        let stop = self.clone();
        async move {
            stop.requested_async().await;
            tokio::time::sleep(grace).await;
        }
    }

    /// Sleeps `pause`, or less when the process starts stopping.
    pub async fn pause(&self, pause: Duration) {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = self.requested_async() => {}
        }
    }
}

/// The running loops of this process.
#[derive(Debug)]
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Workers {
    /// Starts the event worker, the outbox (unless disabled), the re-drive and the review poll, once the
    /// workers are not paused ([`kaika_core::maintenance`]): while they are (after a restore), the
    /// process says so and looks again every `PAUSE_POLL`, so `kaika workers resume` starts them without
    /// a restart.
    pub fn spawn(ctx: &Context, settings: &Settings) -> Self {
        let (sender, receiver) = watch::channel(false);
        let stop = Stop(receiver);
        let gate = {
            let (ctx, settings, stop) = (ctx.clone(), settings.clone(), stop.clone());
            tokio::spawn(async move {
                if !wait_until_resumed(&ctx, &stop).await {
                    return;
                }
                // Awaited here so that draining waits for them through this task; aborting this task
                // (a drain that ran out of time) aborts them too.
                let loops = spawn_loops(&ctx, &settings, stop);
                let _abort_with_me =
                    AbortOnDrop(loops.iter().map(|(_, t)| t.abort_handle()).collect());
                for (name, task) in loops {
                    if let Err(err) = task.await {
                        tracing::warn!("the {name} ended abnormally: {err}");
                    }
                }
            })
        };
        Self {
            stop: sender,
            tasks: vec![("background workers", gate)],
        }
    }

    /// Stops claiming at once (a SIGTERM does the same through [`Workers::stop_on_signal`]).
    pub fn request_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Asks the loops to stop when SIGTERM or SIGINT arrives, while HTTP drains on its own.
    pub fn stop_on_signal(&self) {
        let stop = self.stop.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            stop.send_replace(true);
        });
    }

    /// Stops the loops and waits for them: each gets `grace` for its round in flight (the event and
    /// outbox workers then give back what they hold); one still running a little after that is
    /// aborted.
    pub async fn drain(self, grace: Duration) {
        self.request_stop();
        let deadline = tokio::time::Instant::now() + grace + Duration::from_secs(2);
        for (name, mut task) in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                tracing::warn!("the {name} did not stop within the drain timeout: aborted");
                task.abort();
            }
        }
    }
}

/// Aborts the loops when the task awaiting them is aborted.
struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for handle in &self.0 {
            handle.abort();
        }
    }
}

/// How often a process whose workers are paused looks whether they were resumed.
const PAUSE_POLL: Duration = Duration::from_secs(5);

/// Waits while the workers are paused; false when the process stops first.
async fn wait_until_resumed(ctx: &Context, stop: &Stop) -> bool {
    let mut said = false;
    while !stop.requested() {
        match kaika_core::maintenance::workers_paused(&ctx.db).await {
            Ok(None) => {
                if said {
                    tracing::info!("the background workers were resumed: starting them");
                }
                return true;
            }
            Ok(Some(paused)) if !said => {
                tracing::warn!(
                    since = %paused.since,
                    reason = %paused.reason,
                    "the background workers are paused: this process serves HTTP but fetches no tokens, \
                     applies no events and sends no outbox jobs; run `kaika workers resume` once this \
                     is the installation that should talk to WeChat"
                );
                said = true;
            }
            Ok(Some(_)) => {}
            Err(err) => tracing::warn!(error = %err, "cannot read whether the workers are paused"),
        }
        stop.pause(PAUSE_POLL).await;
    }
    false
}

/// The loops themselves.
fn spawn_loops(
    ctx: &Context,
    settings: &Settings,
    stop: Stop,
) -> Vec<(&'static str, JoinHandle<()>)> {
    let grace = settings.drain_timeout;
    let mut tasks = vec![
        (
            "activation re-drive",
            redrive::spawn(
                ctx.activator.clone(),
                settings.redrive_interval,
                stop.clone(),
                grace,
            ),
        ),
        (
            "review poll",
            review_poll::spawn(
                ctx.db.clone(),
                ctx.clients.clone(),
                settings.review_poll_max_delay,
                stop.clone(),
            ),
        ),
        (
            "event worker",
            events::spawn(ctx, &settings.events, stop.clone(), grace),
        ),
    ];
    if let Some(outbox) = outbox::spawn(ctx, &settings.outbox, stop, grace) {
        tasks.push(("outbox worker", outbox));
    }
    tasks
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
