//! Inspection and replay of stored events, for the admin pages and the CLI.

use crate::clock;
use crate::refusal::Refusal;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entity::wechat_card_activity as card_activity;
use crate::entity::wechat_events;
use crate::CoreError;

use super::*;

/// The event type (`Event`) of a stored event, as a metrics label ([`event_label`]); `other` when the
/// event is gone.
pub async fn type_label(db: &impl ConnectionTrait, id: i64) -> Result<String, CoreError> {
    let name = wechat_events::Entity::find_by_id(id)
        .select_only()
        .column(wechat_events::Column::Event)
        .into_tuple::<String>()
        .one(db)
        .await?;
    Ok(event_label(name.as_deref().unwrap_or_default()).to_owned())
}

/// Which events [`list`] returns.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only this event name.
    pub event: Option<String>,
    /// Only this account (by AppID).
    pub app_id: Option<String>,
    /// At most this many, newest first (default 50).
    pub limit: Option<u64>,
}

/// Stored events, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &EventFilter,
) -> Result<Vec<wechat_events::Model>, CoreError> {
    let mut query = wechat_events::Entity::find();
    if let Some(status) = &filter.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(CoreError::invalid(
                "status",
                format!("expected one of {}", STATUSES.join(", ")),
            ));
        }
        query = query.filter(wechat_events::Column::Status.eq(status.as_str()));
    }
    if let Some(event) = &filter.event {
        query = query.filter(wechat_events::Column::Event.eq(event.as_str()));
    }
    if let Some(app_id) = &filter.app_id {
        let account = crate::entity::accounts::Entity::find_by_app_id(app_id)
            .one(db)
            .await?
            .ok_or_else(|| CoreError::NotFound {
                what: format!("account {app_id}"),
            })?;
        query = query.filter(wechat_events::Column::AccountId.eq(account.id));
    }
    Ok(query
        .order_by_desc(wechat_events::Column::Id)
        .limit(filter.limit.unwrap_or(50))
        .all(db)
        .await?)
}

/// One stored event.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<wechat_events::Model, CoreError> {
    wechat_events::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("event {id}"),
        })
}

/// Makes an event due again with a fresh set of attempts (a dead letter after its cause was fixed, or a
/// replay of an applied one: effects are idempotent). An event a worker holds right now is refused.
pub async fn retry(db: &impl ConnectionTrait, id: i64) -> Result<wechat_events::Model, CoreError> {
    let now = clock::now();
    let updated = wechat_events::Entity::update_many()
        .col_expr(wechat_events::Column::Status, Expr::value(STATUS_PENDING))
        .col_expr(wechat_events::Column::Attempts, Expr::value(0))
        .col_expr(wechat_events::Column::NextAttemptAt, Expr::value(now))
        .col_expr(wechat_events::Column::UpdatedAt, Expr::value(now))
        .filter(wechat_events::Column::Id.eq(id))
        .filter(wechat_events::Column::Status.ne(STATUS_PROCESSING))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        let row = get(db, id).await?;
        return Err(CoreError::refused(
            Refusal::EventInProgress,
            format!("event {} is being applied by a worker right now", row.id),
        ));
    }
    get(db, id).await
}

/// Makes every dead letter due again; returns how many.
pub async fn retry_failed(db: &impl ConnectionTrait) -> Result<u64, CoreError> {
    let now = clock::now();
    let updated = wechat_events::Entity::update_many()
        .col_expr(wechat_events::Column::Status, Expr::value(STATUS_PENDING))
        .col_expr(wechat_events::Column::Attempts, Expr::value(0))
        .col_expr(wechat_events::Column::NextAttemptAt, Expr::value(now))
        .col_expr(wechat_events::Column::UpdatedAt, Expr::value(now))
        .filter(wechat_events::Column::Status.eq(STATUS_FAILED))
        .exec(db)
        .await?;
    Ok(updated.rows_affected)
}

/// How many stored events have each status.
pub async fn count_by_status(db: &impl ConnectionTrait) -> Result<Vec<(String, u64)>, CoreError> {
    let mut counts = Vec::with_capacity(STATUSES.len());
    for status in STATUSES {
        let n = wechat_events::Entity::find()
            .filter(wechat_events::Column::Status.eq(status))
            .count(db)
            .await?;
        counts.push((status.to_owned(), n));
    }
    Ok(counts)
}

/// Card views reported by `user_view_card` for a card and channel (`None`: every channel).
pub async fn views(
    db: &impl ConnectionTrait,
    card_id: i64,
    outer_str: Option<&str>,
) -> Result<u64, CoreError> {
    let mut query = card_activity::Entity::find()
        .filter(card_activity::Column::CardId.eq(card_id))
        .filter(card_activity::Column::Kind.eq("user_view_card"));
    if let Some(outer_str) = outer_str {
        query = query.filter(card_activity::Column::OuterStr.eq(outer_str));
    }
    Ok(query.count(db).await?)
}

/// Points and balance changes WeChat reported for a card's codes and no reconciliation has accounted
/// for yet, oldest first.
pub async fn unreconciled_changes(
    db: &impl ConnectionTrait,
    card_id: i64,
) -> Result<Vec<card_activity::Model>, CoreError> {
    Ok(card_activity::Entity::find()
        .filter(card_activity::Column::CardId.eq(card_id))
        .filter(card_activity::Column::Kind.eq("update_member_card"))
        .filter(card_activity::Column::ReconciledAt.is_null())
        .order_by_asc(card_activity::Column::OccurredAt)
        .all(db)
        .await?)
}
