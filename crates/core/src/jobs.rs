//! Leased jobs: the one mechanism behind the event worker, the outbox worker and the activation re-drive.
//!
//! A job is a row that names its current holder and how long the claim holds (a **lease**: owner and
//! lease-until). A process takes a row with one conditional `UPDATE` whose filter repeats the condition
//! the row was selected by, so of several processes on one database exactly one wins each row, on SQLite
//! and PostgreSQL alike; a holder that dies leaves a lease that runs out, and the row is taken again.
//! Every later write of the holder is filtered by its token, so a holder that lost its claim to another
//! process changes nothing ([`Finished::Lost`]).
//!
//! A failed attempt is retried after an exponential **back-off** ([`Backoff`]) until the domain calls the
//! failure permanent or the attempts run out. What a job does, and which failures are permanent, stays
//! with each domain module: [`crate::events`], [`crate::outbox`], [`crate::activation`].

use crate::clock;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng as _;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    UpdateMany,
};

use crate::CoreError;

/// The delay before a retry: `base × 2^(attempts-1)`, at most `max`, with optional jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failed attempt.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
    /// How many times `base` doubles at most, so the product cannot overflow.
    pub max_doublings: u32,
    /// Whether up to 10% is added at random, so that failures of one burst do not retry in lockstep.
    pub jitter: bool,
}

impl Backoff {
    /// The back-off of the queue workers: doubling up to 20 times, capped at `max`, with jitter.
    pub const fn jittered(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            max_doublings: 20,
            jitter: true,
        }
    }

    /// The delay before the attempt after `attempts` failed ones (no attempt yet counts as one).
    pub fn delay(&self, attempts: i32) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(self.max_doublings);
        let delay = self
            .base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.max);
        if !self.jitter {
            return delay;
        }
        let jitter_ms = u64::try_from(delay.as_millis() / 10).unwrap_or(0);
        let jitter = if jitter_ms > 0 {
            rand::thread_rng().gen_range(0..=jitter_ms)
        } else {
            0
        };
        delay + Duration::from_millis(jitter)
    }

    /// When the attempt after `attempts` failed ones is due, counted from `now`.
    pub fn next_attempt_at(&self, now: DateTime<Utc>, attempts: i32) -> DateTime<Utc> {
        now + to_chrono(self.delay(attempts))
    }
}

/// A duration as chrono's; one beyond chrono's range counts as a minute.
pub(crate) fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::seconds(60))
}

/// What one round of a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Jobs claimed.
    pub claimed: usize,
    /// Jobs finished: an event applied (or found to need nothing), an outbox job sent, an activation
    /// driven to its end or as far as it can go now.
    pub done: usize,
    /// Jobs that failed and will be retried.
    pub retrying: usize,
    /// Jobs given up: dead letters, failed outbox jobs, failed activations.
    pub failed: usize,
    /// Jobs whose claim was lost to another worker before the outcome was recorded.
    pub lost: usize,
    /// Jobs given back unfinished because the worker was stopping.
    pub released: usize,
}

impl RoundReport {
    /// Adds another round's counts to this one.
    pub fn add(&mut self, other: RoundReport) {
        self.claimed += other.claimed;
        self.done += other.done;
        self.retrying += other.retrying;
        self.failed += other.failed;
        self.lost += other.lost;
        self.released += other.released;
    }

    /// Counts one job's outcome.
    pub(crate) fn count(&mut self, finished: Finished) {
        match finished {
            Finished::Done => self.done += 1,
            Finished::Retrying => self.retrying += 1,
            Finished::Failed => self.failed += 1,
            Finished::Lost => self.lost += 1,
        }
    }
}

/// How one claimed job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finished {
    /// Its work is done.
    Done,
    /// It failed and waits for its retry.
    Retrying,
    /// It failed for good.
    Failed,
    /// Another worker holds it now; nothing was recorded.
    Lost,
}

/// The lease columns of a table: who holds a row and until when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lease<C> {
    /// The holder's token.
    pub(crate) holder: C,
    /// When the claim runs out.
    pub(crate) until: C,
}

impl<C: ColumnTrait> Lease<C> {
    /// Rows nobody holds: no lease, or one that ran out.
    pub(crate) fn free(&self, now: DateTime<Utc>) -> Condition {
        Condition::any()
            .add(self.until.is_null())
            .add(self.expired(now))
    }

    /// Rows whose lease ran out before `now`.
    pub(crate) fn expired(&self, now: DateTime<Utc>) -> SimpleExpr {
        self.until.lt(now)
    }

    /// Rows `token` holds.
    pub(crate) fn held_by(&self, token: &str) -> SimpleExpr {
        self.holder.eq(token)
    }

    /// Makes `update` give the rows to `token` until `until`.
    pub(crate) fn take<E: EntityTrait<Column = C>>(
        &self,
        update: UpdateMany<E>,
        token: &str,
        until: DateTime<Utc>,
    ) -> UpdateMany<E> {
        update
            .col_expr(self.holder, Expr::value(token.to_owned()))
            .col_expr(self.until, Expr::value(until))
    }

    /// Makes `update` end the claim; with `keep_holder` the last holder's token stays as a record of who
    /// handled the row.
    pub(crate) fn end<E: EntityTrait<Column = C>>(
        &self,
        mut update: UpdateMany<E>,
        keep_holder: bool,
    ) -> UpdateMany<E> {
        if !keep_holder {
            update = update.col_expr(self.holder, Expr::value(Option::<String>::None));
        }
        update.col_expr(self.until, Expr::value(Option::<DateTime<Utc>>::None))
    }
}

/// A job claimed by this process: the row as it was selected, and the token that holds it.
#[derive(Debug, Clone)]
pub(crate) struct Claimed<M> {
    /// The row before the claim (its `attempts` not yet counting this one).
    pub(crate) row: M,
    /// This claim's lease token.
    pub(crate) token: String,
}

/// A table of queued jobs: a status, a count of attempts, a schedule and a lease.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Queue<E: EntityTrait> {
    /// The primary key (an `i64`).
    pub(crate) id: E::Column,
    /// The job's status.
    pub(crate) status: E::Column,
    /// Attempts so far, counted when a job is claimed.
    pub(crate) attempts: E::Column,
    /// Not due before this time.
    pub(crate) next_attempt_at: E::Column,
    /// The error of the last failed attempt.
    pub(crate) last_error: E::Column,
    /// When the row last changed.
    pub(crate) updated_at: E::Column,
    /// Who holds a job and until when.
    pub(crate) lease: Lease<E::Column>,
    /// The status of a job waiting to be claimed (or for its retry).
    pub(crate) pending: &'static str,
    /// The status of a claimed job.
    pub(crate) running: &'static str,
    /// The status of a job given up.
    pub(crate) failed: &'static str,
    /// Whether a job keeps its last holder's token when its claim ends.
    pub(crate) keep_holder: bool,
}

impl<E: EntityTrait> Queue<E> {
    /// Jobs that may be claimed at `now`: pending and due, or claimed by a holder whose lease ran out.
    pub(crate) fn claimable(&self, now: DateTime<Utc>) -> Condition {
        Condition::any()
            .add(
                Condition::all()
                    .add(self.status.eq(self.pending))
                    .add(self.next_attempt_at.lte(now)),
            )
            .add(
                Condition::all()
                    .add(self.status.eq(self.running))
                    .add(self.lease.expired(now)),
            )
    }

    /// Claims `candidates` (selected with [`Queue::claimable`] at `now`), each with its own conditional
    /// update that repeats that condition, so two workers never hold one job. Each claim counts an
    /// attempt and holds for `lease`; `token` names each claim. Returns the jobs this process won.
    pub(crate) async fn claim(
        &self,
        db: &impl ConnectionTrait,
        candidates: Vec<E::Model>,
        id_of: impl Fn(&E::Model) -> i64,
        now: DateTime<Utc>,
        lease: Duration,
        mut token: impl FnMut() -> String,
    ) -> Result<Vec<Claimed<E::Model>>, DbErr> {
        let until = now + to_chrono(lease);
        let mut claimed = Vec::with_capacity(candidates.len());
        for row in candidates {
            let token = token();
            let update = E::update_many().col_expr(self.status, Expr::value(self.running));
            let taken = self
                .lease
                .take(update, &token, until)
                .col_expr(self.attempts, Expr::col(self.attempts).add(1))
                .col_expr(self.updated_at, Expr::value(now))
                .filter(self.id.eq(id_of(&row)))
                .filter(self.claimable(now))
                .exec(db)
                .await?;
            if taken.rows_affected == 1 {
                claimed.push(Claimed { row, token });
            }
        }
        Ok(claimed)
    }

    /// An update that moves a job `token` still holds to `status` and ends the claim; add the job's own
    /// columns, then execute it: no row changes when the claim was lost.
    pub(crate) fn settle(
        &self,
        id: i64,
        token: &str,
        status: &str,
        now: DateTime<Utc>,
    ) -> UpdateMany<E> {
        let update = E::update_many()
            .col_expr(self.status, Expr::value(status.to_owned()))
            .col_expr(self.updated_at, Expr::value(now));
        self.lease
            .end(update, self.keep_holder)
            .filter(self.id.eq(id))
            .filter(self.lease.held_by(token))
            .filter(self.status.eq(self.running))
    }

    /// Records a failed attempt of a job `token` holds, at `now`: pending again until `retry_at`, or
    /// given up (`None`), with `message` as its last error.
    pub(crate) async fn fail(
        &self,
        db: &impl ConnectionTrait,
        id: i64,
        token: &str,
        now: DateTime<Utc>,
        message: String,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<Finished, DbErr> {
        let status = if retry_at.is_some() {
            self.pending
        } else {
            self.failed
        };
        let mut update = self
            .settle(id, token, status, now)
            .col_expr(self.last_error, Expr::value(message));
        if let Some(at) = retry_at {
            update = update.col_expr(self.next_attempt_at, Expr::value(at));
        }
        if update.exec(db).await?.rows_affected != 1 {
            return Ok(Finished::Lost);
        }
        Ok(if retry_at.is_some() {
            Finished::Retrying
        } else {
            Finished::Failed
        })
    }
}

impl<E: EntityTrait> Queue<E> {
    /// Gives back the jobs of `held` (id and token) that their token still holds: pending again, due at
    /// once, no lease, so another process takes them without waiting for the lease to run out. For a
    /// worker stopping mid-round; returns how many were given back.
    pub(crate) async fn release(
        &self,
        db: &impl ConnectionTrait,
        held: &[(i64, String)],
        now: DateTime<Utc>,
    ) -> Result<usize, DbErr> {
        let mut released = 0;
        for (id, token) in held {
            let update = E::update_many()
                .col_expr(self.status, Expr::value(self.pending))
                .col_expr(self.next_attempt_at, Expr::value(now))
                .col_expr(self.updated_at, Expr::value(now));
            let done = self
                .lease
                .end(update, false)
                .filter(self.id.eq(*id))
                .filter(self.lease.held_by(token))
                .filter(self.status.eq(self.running))
                .exec(db)
                .await?;
            released += usize::try_from(done.rows_affected).unwrap_or(0);
        }
        Ok(released)
    }
}

/// Runs `round` unless `cut` comes first; then the round's tasks are dropped (aborted at their next
/// await) and the jobs of `held` that are still held are given back ([`Queue::release`]).
async fn round_until<E: EntityTrait>(
    name: &'static str,
    queue: &Queue<E>,
    db: &impl ConnectionTrait,
    held: Vec<(i64, String)>,
    round: impl Future<Output = RoundReport>,
    cut: impl Future<Output = ()>,
) -> Result<RoundReport, CoreError> {
    tokio::select! {
        report = round => Ok(report),
        () = cut => {
            let released = queue.release(db, &held, clock::now()).await?;
            tracing::warn!(
                released,
                "{name} worker stopped before its round ended: gave back the jobs it still held"
            );
            Ok(RoundReport {
                claimed: held.len(),
                released,
                ..RoundReport::default()
            })
        }
    }
}

/// When to give up on a job: after `max_attempts`, or at once for a failure retrying cannot fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retry {
    /// The delay before each retry.
    pub(crate) backoff: Backoff,
    /// Attempts before a job is given up.
    pub(crate) max_attempts: i32,
}

impl Retry {
    /// When the next attempt is due after `attempts` failed ones, or `None` when the job is given up.
    pub(crate) fn next_attempt(
        &self,
        now: DateTime<Utc>,
        attempts: i32,
        permanent: bool,
    ) -> Option<DateTime<Utc>> {
        (!permanent && attempts < self.max_attempts)
            .then(|| self.backoff.next_attempt_at(now, attempts))
    }
}

/// Runs `work` on every claimed job, `concurrency` at a time, and counts the outcomes. `name` names the
/// worker in the logs.
async fn run_round<T, W, Fut>(
    name: &'static str,
    claimed: Vec<T>,
    concurrency: usize,
    work: W,
) -> RoundReport
where
    W: Fn(T) -> Fut,
    Fut: Future<Output = Result<Finished, CoreError>> + Send + 'static,
{
    let mut report = RoundReport {
        claimed: claimed.len(),
        ..RoundReport::default()
    };
    crate::bounded::for_each(claimed, concurrency, work, |joined| match joined {
        Ok(Ok(finished)) => report.count(finished),
        // The outcome could not be recorded: the lease runs out and the job is taken again.
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "{name} worker could not record an outcome")
        }
        Err(err) => tracing::error!(error = %err, "{name} task panicked"),
    })
    .await;
    report
}

/// A worker of one queue: how it claims due jobs and what it does with each. [`Rounds`] does the
/// rest, the same for every queue.
pub(crate) trait JobWorker: Clone + Send + Sync + 'static {
    /// The queue's table.
    type Entity: EntityTrait;
    /// Names the worker in the logs.
    const NAME: &'static str;
    /// The queue's columns and statuses.
    const QUEUE: Queue<Self::Entity>;

    /// The database the queue lives in.
    fn db(&self) -> &DatabaseConnection;

    /// How many claimed jobs run at once.
    fn concurrency(&self) -> usize;

    /// A job's primary key.
    fn job_id(row: &JobRow<Self>) -> i64;

    /// Takes the jobs that are due.
    fn claim(&self) -> impl Future<Output = Result<Vec<Claimed<JobRow<Self>>>, CoreError>> + Send;

    /// Does one claimed job and records how it ended.
    fn process(
        &self,
        claim: Claimed<JobRow<Self>>,
    ) -> impl Future<Output = Result<Finished, CoreError>> + Send;
}

/// The row type of a worker's queue.
pub(crate) type JobRow<W> = <<W as JobWorker>::Entity as EntityTrait>::Model;

/// The rounds of a queue worker ([`crate::events::Worker`], [`crate::outbox::Worker`]).
pub trait Rounds {
    /// Claims the jobs that are due and does them, a few at a time.
    fn run_once(&self) -> impl Future<Output = Result<RoundReport, CoreError>> + Send;

    /// [`Rounds::run_once`] for a process that is stopping: when `cut` completes before the round
    /// ends, the round is abandoned and the jobs it still holds are given back (pending, no lease), so
    /// none waits for its lease to run out. A job abandoned mid-call may have reached WeChat and is
    /// then done again, as after a crash.
    fn run_once_until(
        &self,
        cut: impl Future<Output = ()> + Send,
    ) -> impl Future<Output = Result<RoundReport, CoreError>> + Send;

    /// Runs rounds until one claims nothing (jobs waiting for a retry stay pending); returns the sum.
    fn drain(&self) -> impl Future<Output = Result<RoundReport, CoreError>> + Send;
}

impl<W: JobWorker> Rounds for W {
    async fn run_once(&self) -> Result<RoundReport, CoreError> {
        let claimed = self.claim().await?;
        Ok(run_claimed(self, claimed).await)
    }

    async fn run_once_until(
        &self,
        cut: impl Future<Output = ()> + Send,
    ) -> Result<RoundReport, CoreError> {
        let claimed = self.claim().await?;
        let held = claimed
            .iter()
            .map(|claim| (W::job_id(&claim.row), claim.token.clone()))
            .collect();
        let round = run_claimed(self, claimed);
        round_until(W::NAME, &W::QUEUE, self.db(), held, round, cut).await
    }

    async fn drain(&self) -> Result<RoundReport, CoreError> {
        let mut total = RoundReport::default();
        loop {
            let report = self.run_once().await?;
            if report.claimed == 0 {
                return Ok(total);
            }
            total.add(report);
        }
    }
}

async fn run_claimed<W: JobWorker>(worker: &W, claimed: Vec<Claimed<JobRow<W>>>) -> RoundReport {
    run_round(W::NAME, claimed, worker.concurrency(), |claim| {
        let worker = worker.clone();
        async move { worker.process(claim).await }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Backoff::jittered(Duration::from_secs(1), Duration::from_secs(10));
        let within = |attempt: i32, secs: u64| {
            let d = b.delay(attempt);
            d >= Duration::from_secs(secs) && d <= Duration::from_millis(secs * 1100)
        };
        assert!(within(0, 1));
        assert!(within(1, 1));
        assert!(within(2, 2));
        assert!(within(4, 8));
        assert!(within(9, 10));
        assert!(within(i32::MAX, 10));
    }

    #[test]
    fn backoff_without_jitter_is_exact() {
        let b = Backoff {
            jitter: false,
            max_doublings: 3,
            ..Backoff::jittered(Duration::from_millis(10), Duration::from_secs(60))
        };
        assert_eq!(b.delay(1), Duration::from_millis(10));
        assert_eq!(b.delay(3), Duration::from_millis(40));
        assert_eq!(b.delay(50), Duration::from_millis(80));
    }

    #[test]
    fn a_job_is_given_up_when_permanent_or_out_of_attempts() {
        let retry = Retry {
            backoff: Backoff::jittered(Duration::from_secs(1), Duration::from_secs(1)),
            max_attempts: 3,
        };
        let now = clock::now();
        assert!(retry.next_attempt(now, 2, false).is_some_and(|at| at > now));
        assert_eq!(retry.next_attempt(now, 3, false), None);
        assert_eq!(retry.next_attempt(now, 1, true), None);
    }
}
