//! The queues as an operator watches them, read at scrape time with a few cheap queries: what waits,
//! how old the oldest waiting item is, and the dead letters.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entity::{outbox, wechat_events};
use crate::CoreError;

/// The queues as an operator watches them, read with a few aggregate queries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backlog {
    /// Events waiting to be applied (pending or being processed).
    pub events_pending: u64,
    /// Age in seconds of the oldest of those, 0 when there is none.
    pub events_oldest_pending_seconds: f64,
    /// Events that failed for good (dead letters).
    pub events_failed: u64,
    /// Outbox jobs not yet sent (pending or sending).
    pub outbox_pending: u64,
    /// Age in seconds of the oldest of those, 0 when there is none.
    pub outbox_oldest_pending_seconds: f64,
    /// Outbox jobs that failed for good (dead letters).
    pub outbox_failed: u64,
    /// Activations not finished (waiting for a step or a retry).
    pub activations_open: u64,
    /// Activations that failed for good.
    pub activations_failed: u64,
}

/// Reads the [`Backlog`] now.
pub async fn backlog(db: &impl ConnectionTrait) -> Result<Backlog, CoreError> {
    let now = crate::clock::now();
    let age = |oldest: Option<DateTime<Utc>>| {
        oldest.map_or(0.0, |at| {
            (now - at).num_milliseconds().max(0) as f64 / 1000.0
        })
    };
    let waiting_events = || {
        wechat_events::Entity::find().filter(wechat_events::Column::Status.is_in([
            crate::events::STATUS_PENDING,
            crate::events::STATUS_PROCESSING,
        ]))
    };
    let oldest_event = waiting_events()
        .select_only()
        .column(wechat_events::Column::ReceivedAt)
        .order_by_asc(wechat_events::Column::ReceivedAt)
        .into_tuple::<DateTime<Utc>>()
        .one(db)
        .await?;
    let waiting_jobs = || {
        outbox::Entity::find().filter(
            outbox::Column::Status
                .is_in([crate::outbox::STATUS_PENDING, crate::outbox::STATUS_SENDING]),
        )
    };
    let oldest_job = waiting_jobs()
        .select_only()
        .column(outbox::Column::CreatedAt)
        .order_by_asc(outbox::Column::CreatedAt)
        .into_tuple::<DateTime<Utc>>()
        .one(db)
        .await?;
    Ok(Backlog {
        events_pending: waiting_events().count(db).await?,
        events_oldest_pending_seconds: age(oldest_event),
        events_failed: wechat_events::Entity::find()
            .filter(wechat_events::Column::Status.eq(crate::events::STATUS_FAILED))
            .count(db)
            .await?,
        outbox_pending: waiting_jobs().count(db).await?,
        outbox_oldest_pending_seconds: age(oldest_job),
        outbox_failed: outbox::Entity::find()
            .filter(outbox::Column::Status.eq(crate::outbox::STATUS_FAILED))
            .count(db)
            .await?,
        activations_open: crate::activation::count_open(db).await?,
        activations_failed: crate::activation::count_failed(db).await?,
    })
}
