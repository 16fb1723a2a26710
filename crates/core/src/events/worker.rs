//! The event worker: claims due events with a lease, applies each in a transaction that first checks the
//! claim, and retries failures with back-off until they become dead letters.

use crate::clock;
use crate::refusal::Refusal;
use std::time::Duration;

use kaika_wechat::event::Event;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

use crate::clients::Clients;
use crate::entity::cards;
use crate::entity::wechat_events;
use crate::jobs::{self, Backoff, Claimed, Finished, Lease, Queue, Retry};
use crate::CoreError;

use super::effects::{self, ApplyError, Prepared};
use super::*;

pub use crate::jobs::RoundReport;

/// The event queue: `wechat_events` rows with their status, schedule and lease.
const QUEUE: Queue<wechat_events::Entity> = Queue {
    id: wechat_events::Column::Id,
    status: wechat_events::Column::Status,
    attempts: wechat_events::Column::Attempts,
    next_attempt_at: wechat_events::Column::NextAttemptAt,
    last_error: wechat_events::Column::LastError,
    updated_at: wechat_events::Column::UpdatedAt,
    lease: Lease {
        holder: wechat_events::Column::LeaseHolder,
        until: wechat_events::Column::LeaseUntil,
    },
    pending: STATUS_PENDING,
    running: STATUS_PROCESSING,
    failed: STATUS_FAILED,
    keep_holder: false,
};

/// Tuning of the event worker.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Events claimed per round.
    pub batch: u64,
    /// Events applied at the same time.
    pub concurrency: usize,
    /// How long a claim holds before another worker may take the event over.
    pub lease: Duration,
    /// Delay before the first retry; doubled each attempt.
    pub retry_base: Duration,
    /// Longest delay between attempts.
    pub retry_max: Duration,
    /// Attempts before an event becomes a dead letter.
    pub max_attempts: i32,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            batch: 64,
            concurrency: 4,
            lease: Duration::from_secs(60),
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            max_attempts: 10,
        }
    }
}

impl WorkerSettings {
    /// The delay before the attempt after `attempts` failed ones: `base × 2^(attempts-1)`, capped, with
    /// up to 10% jitter so that failures of one burst do not retry in lockstep.
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

/// Applies stored events. Cheap to clone; clones share nothing but the pool and the clients.
#[derive(Debug, Clone)]
pub struct Worker {
    db: DatabaseConnection,
    clients: Clients,
    settings: WorkerSettings,
}

impl Worker {
    /// A worker over `db`; `clients` reach WeChat for `userinfo/get`.
    pub fn new(db: DatabaseConnection, clients: Clients, settings: WorkerSettings) -> Self {
        Self {
            db,
            clients,
            settings,
        }
    }
}

impl jobs::JobWorker for Worker {
    type Entity = wechat_events::Entity;
    const NAME: &'static str = "event";
    const QUEUE: Queue<wechat_events::Entity> = QUEUE;

    fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    fn concurrency(&self) -> usize {
        self.settings.concurrency
    }

    fn job_id(row: &wechat_events::Model) -> i64 {
        row.id
    }

    /// Takes due events: each with its own conditional update, so two workers never hold one event.
    async fn claim(&self) -> Result<Vec<Claimed<wechat_events::Model>>, CoreError> {
        let now = clock::now();
        let candidates = wechat_events::Entity::find()
            .filter(QUEUE.claimable(now))
            .order_by_asc(wechat_events::Column::Id)
            .limit(self.settings.batch)
            .all(&self.db)
            .await?;
        Ok(QUEUE
            .claim(
                &self.db,
                candidates,
                |row| row.id,
                now,
                self.settings.lease,
                || uuid::Uuid::new_v4().simple().to_string(),
            )
            .await?)
    }

    /// Processes one claimed event and tells the observer what became of it.
    async fn process(&self, claim: Claimed<wechat_events::Model>) -> Result<Finished, CoreError> {
        let event_type = event_label(&claim.row.event).to_owned();
        let handled = HANDLED_EVENTS.contains(&claim.row.event.as_str());
        let finished = self.process_claimed(claim).await?;
        let outcome = match finished {
            Finished::Done if handled => "applied",
            Finished::Done => "ignored",
            Finished::Retrying => "retrying",
            Finished::Failed => "failed",
            Finished::Lost => return Ok(finished),
        };
        self.clients
            .observer()
            .event_processed(&event_type, outcome);
        Ok(finished)
    }
}

impl Worker {
    async fn process_claimed(
        &self,
        claim: Claimed<wechat_events::Model>,
    ) -> Result<Finished, CoreError> {
        let Claimed { row, token } = claim;
        let attempts = row.attempts + 1;
        let event = match Event::parse(&row.raw_xml) {
            Ok(event) => event,
            Err(err) => {
                let err = ApplyError {
                    message: format!("the stored XML does not parse: {err}"),
                    permanent: true,
                };
                return self.record_failure(&row, &token, attempts, err).await;
            }
        };
        let result = match self.prepare(&row, &event).await {
            Ok(prepared) => self.apply(&row, &token, &event, prepared).await,
            Err(err) => Err(err),
        };
        match result {
            Ok(true) => Ok(Finished::Done),
            Ok(false) => Ok(Finished::Lost),
            Err(err) => self.record_failure(&row, &token, attempts, err).await,
        }
    }

    /// Everything that needs the network, done before the transaction.
    async fn prepare(
        &self,
        row: &wechat_events::Model,
        event: &Event,
    ) -> Result<Prepared, ApplyError> {
        let card = match event.card_id() {
            Some(card_id) if HANDLED_EVENTS.contains(&event.name()) => {
                Some(find_card(&self.db, row.account_id, card_id).await?)
            }
            _ => None,
        };
        let user_info = match (event, &card) {
            (Event::SubmitMembercardUserInfo { user_card_code, .. }, Some(card)) => {
                let account = crate::entity::accounts::Entity::find_by_id(row.account_id)
                    .one(&self.db)
                    .await?
                    .ok_or_else(|| CoreError::NotFound {
                        what: format!("account {}", row.account_id),
                    })?;
                let client = self.clients.official_account(&account.app_id).await?;
                let info = client
                    .member_user_info(&card.wechat_card_id, user_card_code)
                    .await
                    .map_err(CoreError::from)?;
                Some(info)
            }
            _ => None,
        };
        Ok(Prepared { card, user_info })
    }

    /// Applies one event in a transaction that first marks it done if this worker still holds it.
    /// Returns false when the claim was lost (another worker took the event over).
    async fn apply(
        &self,
        row: &wechat_events::Model,
        token: &str,
        event: &Event,
        prepared: Prepared,
    ) -> Result<bool, ApplyError> {
        let txn = self.db.begin().await?;
        let now = clock::now();
        let handled = HANDLED_EVENTS.contains(&event.name());
        // A write first: on SQLite it takes the write lock for the whole transaction.
        let status = if handled { STATUS_DONE } else { STATUS_IGNORED };
        let finished = QUEUE
            .settle(row.id, token, status, now)
            .col_expr(wechat_events::Column::ProcessedAt, Expr::value(now))
            .exec(&txn)
            .await?;
        if finished.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        let outcome = match effects::apply(&txn, row, event, prepared).await {
            Ok(outcome) => outcome,
            Err(err) => {
                txn.rollback().await?;
                return Err(err);
            }
        };
        wechat_events::Entity::update_many()
            .col_expr(wechat_events::Column::Outcome, Expr::value(outcome))
            .filter(wechat_events::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(true)
    }

    async fn record_failure(
        &self,
        row: &wechat_events::Model,
        token: &str,
        attempts: i32,
        err: ApplyError,
    ) -> Result<Finished, CoreError> {
        let now = clock::now();
        let retry_at = self
            .settings
            .retry()
            .next_attempt(now, attempts, err.permanent);
        let message = truncate(&err.message, 2000);
        let finished = QUEUE
            .fail(&self.db, row.id, token, now, message, retry_at)
            .await?;
        match finished {
            Finished::Failed => {
                tracing::warn!(event = row.id, name = %row.event, attempts, error = %err.message, "event is a dead letter")
            }
            Finished::Retrying => {
                tracing::info!(event = row.id, name = %row.event, attempts, error = %err.message, "event will be retried")
            }
            Finished::Done | Finished::Lost => {}
        }
        Ok(finished)
    }
}

async fn find_card(
    db: &impl ConnectionTrait,
    account_id: i64,
    wechat_card_id: &str,
) -> Result<cards::Model, CoreError> {
    // Not permanent: a review event can overtake the card's own row being committed after card/create.
    cards::Entity::find_by_wechat_id(wechat_card_id)
        .filter(cards::Column::AccountId.eq(account_id))
        .one(db)
        .await?
        .ok_or_else(|| {
            CoreError::refused(
                Refusal::UnknownCard,
                format!("card {wechat_card_id} is not known to this account"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = WorkerSettings {
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(10),
            ..WorkerSettings::default()
        };
        let within = |attempt: i32, secs: u64| {
            let d = s.backoff(attempt);
            d >= Duration::from_secs(secs) && d <= Duration::from_millis(secs * 1100)
        };
        assert!(within(1, 1));
        assert!(within(2, 2));
        assert!(within(4, 8));
        assert!(within(9, 10));
        assert!(within(i32::MAX, 10));
    }
}
