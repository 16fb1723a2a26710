//! The numbers admins read: the dashboard's headline counts and the activation funnel per day and per
//! channel.

use crate::clock;
use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use crate::entity::{cards, channel_daily_stats, channels, members};
use crate::CoreError;

/// The dashboard's headline numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DashboardNumbers {
    /// Members that are active.
    pub members: u64,
    /// Activations since midnight UTC.
    pub activations_today: u64,
    /// Activations in the last 7 days.
    pub activations_7d: u64,
    /// Activations in the last 30 days.
    pub activations_30d: u64,
    /// Cards waiting for WeChat's review.
    pub cards_pending_review: u64,
}

/// Counts the dashboard's numbers.
pub async fn dashboard_numbers(db: &impl ConnectionTrait) -> Result<DashboardNumbers, CoreError> {
    let now = clock::now();
    let midnight = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(now, |d| d.and_utc());
    let activated_since = |since: DateTime<Utc>| {
        members::Entity::find().filter(members::Column::ActivatedAt.gte(since))
    };
    Ok(DashboardNumbers {
        members: members::Entity::find()
            .filter(members::Column::Status.eq("active"))
            .count(db)
            .await?,
        activations_today: activated_since(midnight).count(db).await?,
        activations_7d: activated_since(now - Duration::days(7)).count(db).await?,
        activations_30d: activated_since(now - Duration::days(30)).count(db).await?,
        cards_pending_review: cards::Entity::find()
            .filter(cards::Column::ReviewStatus.eq("pending"))
            .count(db)
            .await?,
    })
}

/// The funnel of one day (or of a whole channel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Funnel {
    /// Activation parameters handed out.
    pub params_requested: i64,
    /// Cards claimed.
    pub claimed: i64,
    /// Cards activated.
    pub activated: i64,
    /// Cards deleted.
    pub deleted: i64,
}

impl Funnel {
    /// Activations per claim, in percent (`None` before the first claim).
    pub fn activation_rate(&self) -> Option<i64> {
        (self.claimed > 0).then(|| self.activated * 100 / self.claimed)
    }
}

fn sum(column: &str) -> SimpleExpr {
    // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back so both databases decode an i64.
    Expr::cust(format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)"))
}

type FunnelRow<K> = (K, i64, i64, i64, i64);

fn to_funnel<K>(row: FunnelRow<K>) -> (K, Funnel) {
    (
        row.0,
        Funnel {
            params_requested: row.1,
            claimed: row.2,
            activated: row.3,
            deleted: row.4,
        },
    )
}

/// The funnel per day since `since` (days without activity are absent), optionally for one card and
/// channel, oldest first.
pub async fn daily_funnel(
    db: &impl ConnectionTrait,
    since: NaiveDate,
    card_and_channel: Option<(i64, &str)>,
) -> Result<Vec<(NaiveDate, Funnel)>, CoreError> {
    let mut query = channel_daily_stats::Entity::find()
        .select_only()
        .column(channel_daily_stats::Column::Day)
        .column_as(sum("params_requested"), "params_requested")
        .column_as(sum("claimed"), "claimed")
        .column_as(sum("activated"), "activated")
        .column_as(sum("deleted"), "deleted")
        .filter(channel_daily_stats::Column::Day.gte(since));
    if let Some((card_id, outer_str)) = card_and_channel {
        query = query
            .filter(channel_daily_stats::Column::CardId.eq(card_id))
            .filter(channel_daily_stats::Column::OuterStr.eq(outer_str));
    }
    let rows: Vec<FunnelRow<NaiveDate>> = query
        .group_by(channel_daily_stats::Column::Day)
        .order_by_asc(channel_daily_stats::Column::Day)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(to_funnel).collect())
}

/// The funnel of every (card, channel) over all days.
pub async fn channel_funnels(
    db: &impl ConnectionTrait,
) -> Result<Vec<((i64, String), Funnel)>, CoreError> {
    let rows: Vec<(i64, String, i64, i64, i64, i64)> = channel_daily_stats::Entity::find()
        .select_only()
        .column(channel_daily_stats::Column::CardId)
        .column(channel_daily_stats::Column::OuterStr)
        .column_as(sum("params_requested"), "params_requested")
        .column_as(sum("claimed"), "claimed")
        .column_as(sum("activated"), "activated")
        .column_as(sum("deleted"), "deleted")
        .group_by(channel_daily_stats::Column::CardId)
        .group_by(channel_daily_stats::Column::OuterStr)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(card, outer, a, b, c, d)| to_funnel(((card, outer), a, b, c, d)))
        .collect())
}

/// The funnel of one channel of one card, with the names the dashboard shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelFunnel {
    /// The card's title (empty when the card is gone).
    pub card_title: String,
    /// The channel's name, `None` when no channel row has this tag.
    pub name: Option<String>,
    /// The channel tag (`outer_str`, empty for cards taken without one).
    pub outer_str: String,
    /// Its funnel over all days.
    pub funnel: Funnel,
}

/// Everything the dashboard shows.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// The headline numbers.
    pub numbers: DashboardNumbers,
    /// Each channel's funnel, most claims first.
    pub channels: Vec<ChannelFunnel>,
    /// The last day of `days` (today, UTC).
    pub today: NaiveDate,
    /// The funnel per day of the last [`DASHBOARD_DAYS`] days, oldest first.
    pub days: Vec<(NaiveDate, Funnel)>,
    /// Cards waiting for WeChat's review.
    pub pending_cards: Vec<cards::Model>,
    /// Events that failed.
    pub failed_events: u64,
    /// Events that wait for the worker.
    pub pending_events: u64,
    /// Outbox jobs not yet on the card (pending, sending or failed).
    pub unsynced_jobs: u64,
    /// Outbox jobs that gave up.
    pub failed_jobs: u64,
    /// Activations waiting on WeChat.
    pub waiting_activations: u64,
    /// Activations that failed.
    pub failed_activations: u64,
    /// Members with a claimed card not yet activated.
    pub claimed_members: u64,
}

/// Days the dashboard's chart covers, today included.
pub const DASHBOARD_DAYS: u32 = 30;

/// Reads everything the dashboard shows.
pub async fn dashboard(db: &impl ConnectionTrait) -> Result<Dashboard, CoreError> {
    let today = clock::now().date_naive();
    let since = today - Duration::days(i64::from(DASHBOARD_DAYS) - 1);
    let events = crate::events::count_by_status(db).await?;
    let jobs = crate::outbox::count_by_status(db).await?;
    let sum_of = |counts: &[(String, u64)], wanted: &[&str]| -> u64 {
        counts
            .iter()
            .filter(|(s, _)| wanted.contains(&s.as_str()))
            .map(|(_, n)| *n)
            .sum()
    };
    Ok(Dashboard {
        numbers: dashboard_numbers(db).await?,
        channels: named_channel_funnels(db).await?,
        today,
        days: daily_funnel(db, since, None).await?,
        pending_cards: cards::Entity::find()
            .filter(cards::Column::ReviewStatus.eq("pending"))
            .order_by_asc(cards::Column::Id)
            .all(db)
            .await?,
        failed_events: sum_of(&events, &["failed"]),
        pending_events: sum_of(&events, &["pending"]),
        unsynced_jobs: sum_of(&jobs, &["pending", "sending", "failed"]),
        failed_jobs: sum_of(&jobs, &["failed"]),
        waiting_activations: crate::activation::count_waiting_on_wechat(db).await?,
        failed_activations: crate::activation::count_failed(db).await?,
        claimed_members: crate::members::count_claimed(db).await?,
    })
}

/// Every channel's funnel with its card's title and its name, most claims first.
async fn named_channel_funnels(db: &impl ConnectionTrait) -> Result<Vec<ChannelFunnel>, CoreError> {
    let titles: HashMap<i64, String> = cards::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.title))
        .collect();
    let names: HashMap<(i64, String), String> = channels::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|c| ((c.card_id, c.outer_str), c.name))
        .collect();
    let mut rows: Vec<ChannelFunnel> = channel_funnels(db)
        .await?
        .into_iter()
        .map(|((card_id, outer_str), funnel)| ChannelFunnel {
            card_title: titles.get(&card_id).cloned().unwrap_or_default(),
            name: names.get(&(card_id, outer_str.clone())).cloned(),
            outer_str,
            funnel,
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.funnel.claimed));
    Ok(rows)
}
