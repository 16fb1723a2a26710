//! A closed-loop load driver: `concurrency` workers each run one operation after another until the
//! time is up, and every operation's latency (and its steps' latencies) is recorded.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stats::{Outcome, Recorder, Summary};

/// Flags every benchmark binary shares (`#[command(flatten)]` them into the binary's own).
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Concurrent clients, each sending its next request as soon as the previous one is answered.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Seconds measured per scenario.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds of unmeasured load before each scenario.
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
}

impl LoadArgs {
    /// The measured time per scenario.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration)
    }

    /// The warm-up time per scenario.
    pub fn warmup(&self) -> Duration {
        Duration::from_secs(self.warmup)
    }
}

/// Runs `op(worker, iteration)` from `concurrency` workers: first for `warmup` (not recorded), then
/// for `duration`. Returns the summary of whole operations and one summary per step name.
pub async fn run<F, Fut>(
    name: &str,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    op: F,
) -> (Summary, Vec<Summary>)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let measure_from = started + warmup;
    let stop_at = measure_from + duration;
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|worker| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut rec = Recorder::default();
                let mut iteration = 0u64;
                loop {
                    let begin = Instant::now();
                    if begin >= stop_at {
                        break;
                    }
                    let outcome = op(worker, iteration).await;
                    iteration += 1;
                    if begin >= measure_from {
                        rec.record(begin.elapsed(), outcome);
                    }
                }
                rec
            })
        })
        .collect();
    let mut all = Recorder::default();
    for w in workers {
        match w.await {
            Ok(rec) => all.merge(rec),
            Err(e) => all.errors.push(format!("worker panicked: {e}")),
        }
    }
    all.summarise(name, duration)
}
