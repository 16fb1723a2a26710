//! Driving activations again: the background re-drive of those that are due, an operator's re-drive of
//! one, and the operator's view of what waits on WeChat and what failed.

use crate::clock;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entity::activations;
use crate::jobs::{Finished, RoundReport};
use crate::CoreError;

use super::{Activator, Driver, Step, LEASE};

impl Activator {
    /// Drives activations that are due (abandoned by a crash, or waiting after a transient failure).
    /// Returns how many were driven.
    pub async fn redrive_due(&self, limit: u64) -> Result<usize, CoreError> {
        Ok(self.redrive_round(limit).await?.claimed)
    }

    /// [`Activator::redrive_due`], reporting what became of each activation driven: `done` when it
    /// finished, `failed` when it failed for good, `retrying` when it waits for its next attempt.
    pub async fn redrive_round(&self, limit: u64) -> Result<RoundReport, CoreError> {
        self.redrive_round_until(limit, std::future::pending())
            .await
    }

    /// [`Activator::redrive_round`] for a process that is stopping: when `cut` completes first, the
    /// activation being driven is left at its last recorded step and its lease given back, so another
    /// process resumes it at once (as after a crash, but without waiting for the lease to run out).
    pub async fn redrive_round_until(
        &self,
        limit: u64,
        cut: impl std::future::Future<Output = ()>,
    ) -> Result<RoundReport, CoreError> {
        let round = self.redrive_round_unobserved(limit, cut).await;
        let observer = self.clients.observer();
        match &round {
            Ok(report) => observer.redrive_run("ok", report.claimed),
            Err(_) => observer.redrive_run("error", 0),
        }
        round
    }

    async fn redrive_round_unobserved(
        &self,
        limit: u64,
        cut: impl std::future::Future<Output = ()>,
    ) -> Result<RoundReport, CoreError> {
        let now = clock::now();
        let due = activations::Entity::find()
            .filter(
                activations::Column::Step.is_not_in([Step::Done.as_str(), Step::Failed.as_str()]),
            )
            .filter(
                Condition::any()
                    .add(activations::Column::NextAttemptAt.is_null())
                    .add(activations::Column::NextAttemptAt.lte(now)),
            )
            .filter(LEASE.free(now))
            .order_by_asc(activations::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        let mut report = RoundReport::default();
        tokio::pin!(cut);
        for row in due {
            if !self.acquire(row.id).await? {
                continue;
            }
            report.claimed += 1;
            tokio::select! {
                finished = self.drive_again(row.id) => {
                    self.release(row.id).await?;
                    report.count(finished);
                }
                () = &mut cut => {
                    self.release(row.id).await?;
                    report.released += 1;
                    tracing::warn!(
                        activation = row.id,
                        "activation re-drive stopped mid-way: gave the activation back"
                    );
                    break;
                }
            }
        }
        Ok(report)
    }

    /// Drives one activation whose lease this process holds, and says how that ended.
    async fn drive_again(&self, id: i64) -> Finished {
        match self.drive(id, Driver::Background).await {
            Ok(()) => Finished::Done,
            Err(err) => {
                tracing::warn!(activation = id, error = %err, "activation re-drive failed");
                let failed = self
                    .load(id)
                    .await
                    .is_ok_and(|row| row.step == Step::Failed.as_str());
                if failed {
                    Finished::Failed
                } else {
                    Finished::Retrying
                }
            }
        }
    }

    /// Re-drives one activation now (an operator's command): [`schedule_redrive`], then drive it in this
    /// process. Returns the row afterwards; a failure on the way is recorded in it as any re-drive's
    /// would be.
    pub async fn redrive(&self, id: i64) -> Result<activations::Model, CoreError> {
        let row = schedule_redrive(&self.db, id).await?;
        if row.step == Step::Done.as_str() {
            return Ok(row);
        }
        if !self.acquire(id).await? {
            return Err(CoreError::InProgress);
        }
        let driven = self.drive(id, Driver::Background).await;
        self.release(id).await?;
        if let Err(err) = driven {
            tracing::warn!(activation = id, error = %err, "operator re-drive did not finish the activation");
        }
        self.load(id).await
    }
}

/// Makes one activation due for the background re-drive now, whatever its schedule. A failed one starts
/// again from the last step its stored data proves, with fresh budgets of attempts and `activate` calls:
/// when a number was allocated, from asking WeChat whether `activate` took effect. A finished one is left
/// as it is.
pub async fn schedule_redrive(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<activations::Model, CoreError> {
    let row = activations::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("activation {id}"),
        })?;
    let step = match Step::parse(&row.step) {
        Some(Step::Done) => return Ok(row),
        Some(Step::Failed) | None => resume_step(&row),
        Some(step) => step,
    };
    // A failed row starts a new round: both budgets are given back.
    let restarted = step.as_str() != row.step;
    let (attempts, activate_calls) = if restarted {
        (0, 0)
    } else {
        (row.attempts, row.activate_calls)
    };
    activations::Entity::update_many()
        .col_expr(activations::Column::Step, Expr::value(step.as_str()))
        .col_expr(activations::Column::Attempts, Expr::value(attempts))
        .col_expr(
            activations::Column::ActivateCalls,
            Expr::value(activate_calls),
        )
        .col_expr(
            activations::Column::NextAttemptAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(activations::Column::UpdatedAt, Expr::value(clock::now()))
        .filter(activations::Column::Id.eq(id))
        .filter(activations::Column::Step.eq(row.step.clone()))
        .exec(db)
        .await?;
    Ok(activations::Entity::find_by_id(id)
        .one(db)
        .await?
        .unwrap_or(row))
}

/// Where a failed activation starts again: the last step whose result is stored in the row. With a
/// membership number, `activate` may have been sent: the probe decides.
fn resume_step(row: &activations::Model) -> Step {
    if row.membership_number.is_some() {
        Step::ActivateSent
    } else if row.form_answers.is_some() {
        Step::FormFetched
    } else if row.code.is_some() {
        Step::CodeDecrypted
    } else {
        Step::Received
    }
}

/// Activations that need an operator's eye, newest first: the unfinished ones (waiting on WeChat or
/// between steps) and the failed ones.
pub async fn unfinished_and_failed(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<activations::Model>, CoreError> {
    Ok(activations::Entity::find()
        .filter(activations::Column::Step.ne(Step::Done.as_str()))
        .order_by_desc(activations::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// How many activations are at one of `steps` (`at`), or at none of them.
async fn count_steps(
    db: &impl ConnectionTrait,
    steps: &[Step],
    at: bool,
) -> Result<u64, CoreError> {
    use sea_orm::PaginatorTrait;
    let names = steps.iter().map(|s| s.as_str());
    let column = activations::Column::Step;
    Ok(activations::Entity::find()
        .filter(if at {
            column.is_in(names)
        } else {
            column.is_not_in(names)
        })
        .count(db)
        .await?)
}

/// How many activations wait for WeChat after `activate` may have taken effect: each is a card active
/// at WeChat whose member Kaika stores as soon as WeChat answers again.
pub async fn count_waiting_on_wechat(db: &impl ConnectionTrait) -> Result<u64, CoreError> {
    count_steps(db, &[Step::ActivateSent, Step::Activated], true).await
}

/// How many activations failed (the dashboard's "needs attention"; each can be re-driven).
pub async fn count_failed(db: &impl ConnectionTrait) -> Result<u64, CoreError> {
    count_steps(db, &[Step::Failed], true).await
}

/// How many activations are not finished yet (for the dashboard's "needs attention").
pub async fn count_open(db: &impl ConnectionTrait) -> Result<u64, CoreError> {
    count_steps(db, &[Step::Done, Step::Failed], false).await
}
