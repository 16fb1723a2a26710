//! The per-channel daily funnel: parameters requested, cards claimed, activated, deleted.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use crate::entity::channel_daily_stats as stats;
use crate::CoreError;

/// One step of the funnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunnelStep {
    /// The mini-program asked for activation parameters.
    ParamsRequested,
    /// WeChat reported the card claimed.
    Claimed,
    /// The card was activated.
    Activated,
    /// The member deleted the card.
    Deleted,
}

impl FunnelStep {
    fn column(self) -> stats::Column {
        match self {
            Self::ParamsRequested => stats::Column::ParamsRequested,
            Self::Claimed => stats::Column::Claimed,
            Self::Activated => stats::Column::Activated,
            Self::Deleted => stats::Column::Deleted,
        }
    }
}

/// Adds one to today's counter of `step` for a card and channel (empty `outer_str` for none), in one
/// statement so that concurrent counts are never lost.
pub async fn count(
    db: &impl ConnectionTrait,
    card_id: i64,
    outer_str: &str,
    step: FunnelStep,
) -> Result<(), CoreError> {
    let mut counts = DayCounts::default();
    match step {
        FunnelStep::ParamsRequested => counts.params_requested = 1,
        FunnelStep::Claimed => counts.claimed = 1,
        FunnelStep::Activated => counts.activated = 1,
        FunnelStep::Deleted => counts.deleted = 1,
    }
    add(
        db,
        card_id,
        outer_str,
        crate::clock::now().date_naive(),
        counts,
    )
    .await
}

/// Counts to add to one day of a card and channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCounts {
    /// Activation parameters handed out.
    pub params_requested: i64,
    /// Cards claimed.
    pub claimed: i64,
    /// Cards activated.
    pub activated: i64,
    /// Cards deleted.
    pub deleted: i64,
}

/// Adds `counts` to the counters of a card and channel on `day`, in one statement.
pub async fn add(
    db: &impl ConnectionTrait,
    card_id: i64,
    outer_str: &str,
    day: chrono::NaiveDate,
    counts: DayCounts,
) -> Result<(), CoreError> {
    let row = stats::ActiveModel {
        card_id: Set(card_id),
        outer_str: Set(outer_str.to_owned()),
        day: Set(day),
        params_requested: Set(counts.params_requested),
        claimed: Set(counts.claimed),
        activated: Set(counts.activated),
        deleted: Set(counts.deleted),
    };
    let mut on_conflict = OnConflict::columns([
        stats::Column::CardId,
        stats::Column::OuterStr,
        stats::Column::Day,
    ]);
    for (step, value) in [
        (FunnelStep::ParamsRequested, counts.params_requested),
        (FunnelStep::Claimed, counts.claimed),
        (FunnelStep::Activated, counts.activated),
        (FunnelStep::Deleted, counts.deleted),
    ] {
        let column = step.column();
        on_conflict.value(column, Expr::col((stats::Entity, column)).add(value));
    }
    stats::Entity::insert(row)
        .on_conflict(on_conflict)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The counters of a card and channel over all days, summed.
pub async fn totals(
    db: &impl ConnectionTrait,
    card_id: i64,
    outer_str: &str,
) -> Result<[i64; 4], CoreError> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let rows = stats::Entity::find()
        .filter(stats::Column::CardId.eq(card_id))
        .filter(stats::Column::OuterStr.eq(outer_str))
        .all(db)
        .await?;
    Ok(rows.iter().fold([0; 4], |acc, r| {
        [
            acc[0] + r.params_requested,
            acc[1] + r.claimed,
            acc[2] + r.activated,
            acc[3] + r.deleted,
        ]
    }))
}
