//! Switches an operator sets on the whole installation, kept in the database so that every process on it
//! sees them. `workers_paused`: the background workers (events, outbox, re-drive, review poll) do not
//! start. A restore sets it, so that a restored copy never fetches tokens or sends outbox jobs against
//! production's WeChat account until an operator says it is the one to run.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::entity::maintenance;
use crate::CoreError;

const WORKERS_PAUSED: &str = "workers_paused";

/// Why and since when the workers are paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    /// What the operator or the restore wrote.
    pub reason: String,
    /// Since when.
    pub since: DateTime<Utc>,
}

/// Whether the background workers are paused, and why.
pub async fn workers_paused(db: &impl ConnectionTrait) -> Result<Option<Paused>, CoreError> {
    Ok(maintenance::Entity::find_by_id(WORKERS_PAUSED)
        .one(db)
        .await?
        .map(|row| Paused {
            reason: row.reason,
            since: row.since,
        }))
}

/// Pauses the background workers of every process that starts from now on (and of those waiting to
/// start them); `reason` is shown to the operator.
pub async fn pause_workers(db: &impl ConnectionTrait, reason: &str) -> Result<(), CoreError> {
    maintenance::Entity::insert(maintenance::ActiveModel {
        name: Set(WORKERS_PAUSED.to_owned()),
        reason: Set(reason.to_owned()),
        since: Set(crate::clock::now()),
    })
    .on_conflict(
        OnConflict::column(maintenance::Column::Name)
            .update_columns([maintenance::Column::Reason, maintenance::Column::Since])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Lets the background workers run again. Returns whether they were paused.
pub async fn resume_workers(db: &impl ConnectionTrait) -> Result<bool, CoreError> {
    let deleted = maintenance::Entity::delete_by_id(WORKERS_PAUSED)
        .exec(db)
        .await?;
    Ok(deleted.rows_affected > 0)
}
