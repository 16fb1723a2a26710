//! The sync outbox (flow 4): every ledger entry enqueues a job, in the entry's transaction, that mirrors
//! the change onto the member's WeChat card with `card/membercard/updateuser`.
//!
//! Each job carries the **absolute** total after its entry (`bonus`/`balance`) together with the change
//! (`add_bonus`/`add_balance`) and a `record_*` text: WeChat shows the absolute value, so a send repeated
//! after a timeout cannot double-apply, and the last job sent always leaves the card at the latest total.
//!
//! **Order per member**: only the oldest unsent job of a member may be sent; a job waiting for its retry
//! holds back the member's later jobs. Jobs of different members go out in parallel.
//!
//! **Claims**: a worker takes a job with a conditional update (status `sending`, a lease token and an
//! expiry), so several processes on one database never send the same job at once; a job whose lease ran
//! out (its process died) is taken again and re-sent, which the absolute totals make harmless.
//!
//! **Failures** are retried with exponential back-off; after `max_attempts`, or at once for a refusal
//! that retrying cannot change (the card was deleted: 40127), the job is `failed` with its error and no
//! longer holds back the member's later jobs (they carry newer absolute totals anyway).

use crate::clock;
use std::time::Duration;

use kaika_wechat::membercard::UpdateUserRequest;
use rand::Rng as _;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::audit::Actor;
use crate::clients::Clients;
use crate::entity::{cards, ledger_entries, members, outbox};
use crate::jobs::{self, Backoff, Claimed, Finished, Lease, Queue, Retry};
use crate::CoreError;

pub use crate::jobs::RoundReport;

/// Waiting to be sent (or for its retry).
pub const STATUS_PENDING: &str = "pending";
/// Claimed by a worker that is sending it.
pub const STATUS_SENDING: &str = "sending";
/// WeChat accepted it.
pub const STATUS_SENT: &str = "sent";
/// Given up; `last_error` says why.
pub const STATUS_FAILED: &str = "failed";
/// Every status.
pub const STATUSES: [&str; 4] = [STATUS_PENDING, STATUS_SENDING, STATUS_SENT, STATUS_FAILED];

/// A job that mirrors a ledger entry.
pub const PURPOSE_ENTRY: &str = "entry";
/// A job enqueued by a reconciliation to put the local totals back on the card.
pub const PURPOSE_CORRECTION: &str = "correction";

/// The outbox queue: `outbox` rows with their status, schedule and lease. A sent job keeps the token of
/// the process that sent it.
const QUEUE: Queue<outbox::Entity> = Queue {
    id: outbox::Column::Id,
    status: outbox::Column::Status,
    attempts: outbox::Column::Attempts,
    next_attempt_at: outbox::Column::NextAttemptAt,
    last_error: outbox::Column::LastError,
    updated_at: outbox::Column::UpdatedAt,
    lease: Lease {
        holder: outbox::Column::LeaseHolder,
        until: outbox::Column::LeaseUntil,
    },
    pending: STATUS_PENDING,
    running: STATUS_SENDING,
    failed: STATUS_FAILED,
    keep_holder: true,
};

/// Which of the card's totals a ledger entry moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    /// Points (`bonus`).
    Points,
    /// Balance in cents (`balance`).
    Balance,
}

/// Enqueues the job that mirrors `entry` (on the entry's transaction): the entry moved the card's
/// `total`, and WeChat shows `record` with the change. The ledger says which total and which text; the
/// outbox only carries them.
pub async fn enqueue_entry(
    txn: &impl ConnectionTrait,
    entry: &ledger_entries::Model,
    total: Total,
    record: &str,
) -> Result<outbox::Model, CoreError> {
    let record = Some(record.to_owned());
    let mut job = new_job(entry.member_id, PURPOSE_ENTRY);
    job.entry_id = Set(Some(entry.id));
    match total {
        Total::Points => {
            job.points_total = Set(Some(entry.resulting_total));
            job.points_delta = Set(Some(entry.amount));
            job.record_bonus = Set(record);
        }
        Total::Balance => {
            job.balance_total = Set(Some(entry.resulting_total));
            job.balance_delta = Set(Some(entry.amount));
            job.record_balance = Set(record);
        }
    }
    Ok(job.insert(txn).await?)
}

fn new_job(member_id: i64, purpose: &str) -> outbox::ActiveModel {
    let now = clock::now();
    outbox::ActiveModel {
        member_id: Set(member_id),
        entry_id: Set(None),
        purpose: Set(purpose.to_owned()),
        points_total: Set(None),
        points_delta: Set(None),
        balance_total: Set(None),
        balance_delta: Set(None),
        record_bonus: Set(None),
        record_balance: Set(None),
        status: Set(STATUS_PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_holder: Set(None),
        lease_until: Set(None),
        last_error: Set(None),
        result_bonus: Set(None),
        result_balance: Set(None),
        event_matched_at: Set(None),
        sent_at: Set(None),
        ..Default::default()
    }
}

/// What the card shows, as far as a caller knows (`None`: unknown, the total is sent without a change).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoteTotals {
    /// Points on the card.
    pub points: Option<i64>,
    /// Balance on the card.
    pub balance: Option<i64>,
}

/// Enqueues a correction that sets the card to the member's local totals, for the kinds whose remote
/// value differs (both when unknown). The member's row is locked first (a write), so the totals sent
/// are exactly those after the member's latest entry. Returns `None` when nothing differs.
pub async fn enqueue_correction(
    db: &impl sea_orm::TransactionTrait,
    member_id: i64,
    remote: RemoteTotals,
) -> Result<Option<outbox::Model>, CoreError> {
    let txn = db.begin().await?;
    members::Entity::update_many()
        .col_expr(
            members::Column::Points,
            Expr::col(members::Column::Points).into(),
        )
        .filter(members::Column::Id.eq(member_id))
        .exec(&txn)
        .await?;
    let member = members::Entity::find_by_id(member_id)
        .one(&txn)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("member {member_id}"),
        })?;
    let mut job = new_job(member_id, PURPOSE_CORRECTION);
    let mut any = false;
    if remote.points != Some(member.points) {
        any = true;
        job.points_total = Set(Some(member.points));
        job.points_delta = Set(remote
            .points
            .and_then(|p| member.points.checked_sub(p))
            .filter(|d| *d != 0));
        job.record_bonus = Set(Some("积分校正".to_owned()));
    }
    if remote.balance != Some(member.balance_cents) {
        any = true;
        job.balance_total = Set(Some(member.balance_cents));
        job.balance_delta = Set(remote
            .balance
            .and_then(|b| member.balance_cents.checked_sub(b))
            .filter(|d| *d != 0));
        job.record_balance = Set(Some("余额校正".to_owned()));
    }
    if !any {
        txn.rollback().await?;
        return Ok(None);
    }
    let job = job.insert(&txn).await?;
    txn.commit().await?;
    Ok(Some(job))
}

/// The `updateuser` request of a job.
pub fn request_for(job: &outbox::Model, wechat_card_id: &str, code: &str) -> UpdateUserRequest {
    UpdateUserRequest {
        code: code.to_owned(),
        card_id: wechat_card_id.to_owned(),
        record_bonus: job.points_total.and(job.record_bonus.clone()),
        bonus: job.points_total,
        add_bonus: job.points_total.and(job.points_delta),
        balance: job.balance_total,
        add_balance: job.balance_total.and(job.balance_delta),
        record_balance: job.balance_total.and(job.record_balance.clone()),
        ..UpdateUserRequest::default()
    }
}

/// Tuning of the outbox worker.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs claimed per round.
    pub batch: u64,
    /// Jobs sent at the same time by one process (each of another member).
    pub concurrency: usize,
    /// How long a claim holds before another process may take the job over; longer than a WeChat call.
    pub lease: Duration,
    /// First retry delay, doubled each attempt.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Attempts before a job is `failed`.
    pub max_attempts: i32,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            batch: 64,
            concurrency: 8,
            lease: Duration::from_secs(60),
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(600),
            max_attempts: 50,
        }
    }
}

impl WorkerSettings {
    /// The delay after `attempts` failed sends: `base × 2^(attempts-1)`, capped, plus up to 10% jitter.
    pub fn backoff(&self, attempts: i32) -> Duration {
        self.retry().backoff.delay(attempts)
    }

    fn retry(&self) -> Retry {
        Retry {
            backoff: Backoff::jittered(self.retry_base, self.retry_max),
            max_attempts: self.max_attempts,
        }
    }
}

/// Sends outbox jobs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Worker {
    db: DatabaseConnection,
    clients: Clients,
    holder: String,
    settings: WorkerSettings,
}

impl Worker {
    /// A worker; `holder` names this process in the jobs it claims.
    pub fn new(
        db: DatabaseConnection,
        clients: Clients,
        holder: String,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            db,
            clients,
            holder,
            settings,
        }
    }
}

impl jobs::JobWorker for Worker {
    type Entity = outbox::Entity;
    const NAME: &'static str = "outbox";
    const QUEUE: Queue<outbox::Entity> = QUEUE;

    fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    fn concurrency(&self) -> usize {
        self.settings.concurrency
    }

    fn job_id(row: &outbox::Model) -> i64 {
        row.id
    }

    /// Takes due jobs, each the oldest unsent one of its member, each with its own conditional update.
    async fn claim(&self) -> Result<Vec<Claimed<outbox::Model>>, CoreError> {
        let now = clock::now();
        let heads = Query::select()
            .expr(outbox::Column::Id.min())
            .from(outbox::Entity)
            .and_where(outbox::Column::Status.is_in([STATUS_PENDING, STATUS_SENDING]))
            .group_by_col(outbox::Column::MemberId)
            .to_owned();
        let mut candidates = outbox::Entity::find()
            .filter(outbox::Column::Id.in_subquery(heads))
            .filter(QUEUE.claimable(now))
            .order_by_asc(outbox::Column::Id)
            .limit(self.settings.batch)
            .all(&self.db)
            .await?;
        // Processes that see the same candidates start at different places, so they rarely collide.
        if candidates.len() > 1 {
            let start = rand::thread_rng().gen_range(0..candidates.len());
            candidates.rotate_left(start);
        }
        let holder = self.holder.chars().take(46).collect::<String>();
        Ok(QUEUE
            .claim(
                &self.db,
                candidates,
                |job| job.id,
                now,
                self.settings.lease,
                || format!("{holder}:{:08x}", rand::random::<u32>()),
            )
            .await?)
    }

    /// Sends one claimed job and tells the observer what became of it.
    async fn process(&self, claim: Claimed<outbox::Model>) -> Result<Finished, CoreError> {
        let finished = self.process_claimed(claim).await?;
        let outcome = match finished {
            Finished::Done => "sent",
            Finished::Retrying => "retrying",
            Finished::Failed => "failed",
            Finished::Lost => return Ok(finished),
        };
        self.clients.observer().outbox_processed(outcome);
        Ok(finished)
    }
}

impl Worker {
    async fn process_claimed(&self, claim: Claimed<outbox::Model>) -> Result<Finished, CoreError> {
        let Claimed { row: job, token } = claim;
        let attempts = job.attempts + 1;
        match self.send(&job).await {
            Ok(response) => {
                let now = clock::now();
                let done = QUEUE
                    .settle(job.id, &token, STATUS_SENT, now)
                    .col_expr(outbox::Column::SentAt, Expr::value(now))
                    .col_expr(
                        outbox::Column::ResultBonus,
                        Expr::value(response.result_bonus),
                    )
                    .col_expr(
                        outbox::Column::ResultBalance,
                        Expr::value(response.result_balance),
                    )
                    .col_expr(
                        outbox::Column::LastError,
                        Expr::value(Option::<String>::None),
                    )
                    .exec(&self.db)
                    .await?;
                Ok(if done.rows_affected == 1 {
                    Finished::Done
                } else {
                    Finished::Lost
                })
            }
            Err(err) => {
                let permanent = match &err {
                    CoreError::Wechat(wechat) => !wechat.is_retryable(),
                    CoreError::NotFound { .. } | CoreError::Refused { .. } => true,
                    _ => false,
                };
                let now = clock::now();
                let retry_at = self.settings.retry().next_attempt(now, attempts, permanent);
                let message = if retry_at.is_none() && !permanent {
                    format!("gave up after {attempts} attempts: {err}")
                } else {
                    err.to_string()
                };
                let finished = QUEUE
                    .fail(&self.db, job.id, &token, now, message, retry_at)
                    .await?;
                match finished {
                    Finished::Failed => {
                        tracing::warn!(job = job.id, member = job.member_id, error = %err, "outbox job failed")
                    }
                    Finished::Retrying => {
                        tracing::debug!(job = job.id, member = job.member_id, error = %err, "outbox job will be retried")
                    }
                    Finished::Done | Finished::Lost => {}
                }
                Ok(finished)
            }
        }
    }

    async fn send(
        &self,
        job: &outbox::Model,
    ) -> Result<kaika_wechat::membercard::UpdateUserResponse, CoreError> {
        let (member, card) = members::Entity::find_by_id(job.member_id)
            .find_also_related(cards::Entity)
            .one(&self.db)
            .await?
            .and_then(|(m, c)| c.map(|c| (m, c)))
            .ok_or_else(|| CoreError::NotFound {
                what: format!("member {} or its card", job.member_id),
            })?;
        let account = crate::accounts::of_card(&self.db, &card).await?;
        let client = self.clients.official_account(&account.app_id).await?;
        let request = request_for(job, &card.wechat_card_id, &member.code);
        Ok(client.update_member_user(&request).await?)
    }
}

/// Which jobs [`list`] returns.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only this member.
    pub member_id: Option<i64>,
    /// At most this many, newest first (default 50).
    pub limit: Option<u64>,
}

/// Jobs, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &JobFilter,
) -> Result<Vec<outbox::Model>, CoreError> {
    let mut query = outbox::Entity::find();
    if let Some(status) = &filter.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(CoreError::invalid(
                "status",
                format!("expected one of {}", STATUSES.join(", ")),
            ));
        }
        query = query.filter(outbox::Column::Status.eq(status.as_str()));
    }
    if let Some(member_id) = filter.member_id {
        query = query.filter(outbox::Column::MemberId.eq(member_id));
    }
    Ok(query
        .order_by_desc(outbox::Column::Id)
        .limit(filter.limit.unwrap_or(50))
        .all(db)
        .await?)
}

/// How many jobs have each status.
pub async fn count_by_status(db: &impl ConnectionTrait) -> Result<Vec<(String, u64)>, CoreError> {
    let mut counts = Vec::with_capacity(STATUSES.len());
    for status in STATUSES {
        let n = outbox::Entity::find()
            .filter(outbox::Column::Status.eq(status))
            .count(db)
            .await?;
        counts.push((status.to_owned(), n));
    }
    Ok(counts)
}

/// How many jobs of a member are not sent yet (pending or sending).
pub async fn unsent_for_member(
    db: &impl ConnectionTrait,
    member_id: i64,
) -> Result<u64, CoreError> {
    Ok(outbox::Entity::find_for_member(member_id)
        .filter(outbox::Column::Status.is_in([STATUS_PENDING, STATUS_SENDING]))
        .count(db)
        .await?)
}

/// Makes every pending job due now (after WeChat came back, instead of waiting for the back-off);
/// returns how many.
pub async fn retry_now(db: &impl ConnectionTrait) -> Result<u64, CoreError> {
    let now = clock::now();
    let updated = outbox::Entity::update_many()
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
        .col_expr(outbox::Column::UpdatedAt, Expr::value(now))
        .filter(outbox::Column::Status.eq(STATUS_PENDING))
        .filter(outbox::Column::NextAttemptAt.gt(now))
        .exec(db)
        .await?;
    Ok(updated.rows_affected)
}

/// Sends a failed (or waiting) outbox job again at the next round of the worker: `pending`, due now,
/// its attempts counted from zero. Its error stays until the next attempt replaces it. A job being sent
/// or already sent is left alone (`Ok(false)`).
pub async fn retry_job(db: &impl ConnectionTrait, job_id: i64) -> Result<bool, CoreError> {
    let now = clock::now();
    let done = outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(STATUS_PENDING))
        .col_expr(outbox::Column::Attempts, Expr::value(0))
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
        .col_expr(outbox::Column::UpdatedAt, Expr::value(now))
        .filter(outbox::Column::Id.eq(job_id))
        .filter(outbox::Column::Status.is_in([STATUS_FAILED, STATUS_PENDING]))
        .exec(db)
        .await?;
    if done.rows_affected == 0 && outbox::Entity::find_by_id(job_id).one(db).await?.is_none() {
        return Err(CoreError::NotFound {
            what: format!("outbox job {job_id}"),
        });
    }
    Ok(done.rows_affected > 0)
}

/// An admin's retry of one job ([`retry_job`]), audited as `outbox.retry` when the job was put back.
/// `None` when there is no such job; `Some(false)` when it is being sent or already sent.
pub async fn retry_audited(
    db: &impl ConnectionTrait,
    job_id: i64,
    by: &Actor,
) -> Result<Option<bool>, CoreError> {
    let Some(before) = outbox::Entity::find_by_id(job_id).one(db).await? else {
        return Ok(None);
    };
    let retried = retry_job(db, job_id).await?;
    if retried {
        let before = serde_json::json!({
            "status": before.status,
            "attempts": before.attempts,
            "last_error": before.last_error,
        });
        let after = serde_json::json!({"status": STATUS_PENDING, "attempts": 0});
        let target = format!("outbox:{job_id}");
        by.record(db, "outbox.retry", target, Some(before), Some(after))
            .await?;
    }
    Ok(Some(retried))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> outbox::Model {
        let now = clock::now();
        outbox::Model {
            id: 1,
            member_id: 1,
            entry_id: Some(1),
            purpose: PURPOSE_ENTRY.into(),
            points_total: Some(130),
            points_delta: Some(30),
            balance_total: None,
            balance_delta: None,
            record_bonus: Some("消费获得积分".into()),
            record_balance: None,
            status: STATUS_PENDING.into(),
            attempts: 0,
            next_attempt_at: now,
            lease_holder: None,
            lease_until: None,
            last_error: None,
            result_bonus: None,
            result_balance: None,
            event_matched_at: None,
            created_at: now,
            sent_at: None,
            updated_at: now,
        }
    }

    #[test]
    fn a_points_job_sends_the_absolute_total_with_its_change_and_nothing_of_the_balance() {
        let request = request_for(&job(), "pCard", "123456789012");
        let json = serde_json::to_value(&request).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"code": "123456789012", "card_id": "pCard", "record_bonus": "消费获得积分",
                "bonus": 130, "add_bonus": 30})
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = WorkerSettings {
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(10),
            ..WorkerSettings::default()
        };
        assert!(
            s.backoff(1) >= Duration::from_secs(1) && s.backoff(1) <= Duration::from_millis(1100)
        );
        assert!(s.backoff(3) >= Duration::from_secs(4));
        assert!(s.backoff(100) <= Duration::from_secs(11));
    }
}
