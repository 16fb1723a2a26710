//! Running a batch of claimed work items a few at a time, as the event and outbox workers do.

use std::future::Future;

use tokio::task::{JoinError, JoinSet};

/// Runs `work` on every item with at most `limit` tasks at once, and hands each task's outcome to
/// `on_done` as soon as it finishes.
pub(crate) async fn for_each<I, W, Fut, T>(
    items: I,
    limit: usize,
    work: W,
    mut on_done: impl FnMut(Result<T, JoinError>),
) where
    I: IntoIterator,
    W: Fn(I::Item) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut tasks = JoinSet::new();
    let mut queue = items.into_iter();
    loop {
        while tasks.len() < limit.max(1) {
            let Some(item) = queue.next() else {
                break;
            };
            tasks.spawn(work(item));
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        on_done(joined);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn every_item_runs_and_never_more_than_the_limit_at_once() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut done = Vec::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        super::for_each(
            0..20,
            3,
            |i| {
                let (running, peak) = (running.clone(), peak.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    while peak.load(Ordering::SeqCst) < 3 && tokio::time::Instant::now() < deadline
                    {
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                }
            },
            |joined| done.push(joined.unwrap()),
        )
        .await;
        done.sort_unstable();
        assert_eq!(done, (0..20).collect::<Vec<_>>());
        // Each task waits until three run at once (or 2 s pass), so a runner that ran them one by one
        // would leave the peak at 1 and one that ignored the limit would push it above 3.
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }
}
