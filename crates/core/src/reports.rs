//! The numbers admins read: the dashboard's headline counts and the activation funnel per day and per
//! channel.

use crate::clock;
use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use crate::entity::{cards, channel_daily_stats, channels, members};
use crate::CoreError;

/// The dashboard's headline numbers. The activation counts are sums of the same daily funnel the
/// chart draws, so the counters and the chart always agree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DashboardNumbers {
    /// Members that are active.
    pub members: u64,
    /// Activations today (the funnel's day).
    pub activations_today: i64,
    /// Activations in the last 7 days, today included.
    pub activations_7d: i64,
    /// Activations in the last 30 days, today included: the chart's whole window.
    pub activations_30d: i64,
    /// Cards waiting for WeChat's review.
    pub cards_pending_review: u64,
}

/// The activations of the last `days` days up to `today` in a daily funnel.
fn activations_within(days: &[(NaiveDate, Funnel)], today: NaiveDate, count: i64) -> i64 {
    let first = today - Duration::days(count - 1);
    days.iter()
        .filter(|(day, _)| *day >= first && *day <= today)
        .map(|(_, f)| f.activated)
        .sum()
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
    /// The conversion: activations per open (component parameters fetched), in percent; `None`
    /// before the first open.
    pub fn conversion(&self) -> Option<f64> {
        percent(self.activated, self.params_requested)
    }

    /// Activations per claim, in percent; `None` before the first claim.
    pub fn claim_to_activation(&self) -> Option<f64> {
        percent(self.activated, self.claimed)
    }

    /// This funnel and `other` together.
    pub fn plus(&self, other: &Funnel) -> Funnel {
        Funnel {
            params_requested: self.params_requested + other.params_requested,
            claimed: self.claimed + other.claimed,
            activated: self.activated + other.activated,
            deleted: self.deleted + other.deleted,
        }
    }
}

fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
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
    /// The funnel of those days together.
    pub window: Funnel,
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
    let days = daily_funnel(db, since, None).await?;
    let numbers = DashboardNumbers {
        members: members::Entity::find()
            .filter(members::Column::Status.eq("active"))
            .count(db)
            .await?,
        activations_today: activations_within(&days, today, 1),
        activations_7d: activations_within(&days, today, 7),
        activations_30d: activations_within(&days, today, i64::from(DASHBOARD_DAYS)),
        cards_pending_review: cards::Entity::find()
            .filter(cards::Column::ReviewStatus.eq("pending"))
            .count(db)
            .await?,
    };
    Ok(Dashboard {
        numbers,
        channels: named_channel_funnels(db).await?,
        today,
        window: days
            .iter()
            .fold(Funnel::default(), |all, (_, f)| all.plus(f)),
        days,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn funnel(params_requested: i64, claimed: i64, activated: i64, deleted: i64) -> Funnel {
        Funnel {
            params_requested,
            claimed,
            activated,
            deleted,
        }
    }

    #[test]
    fn conversion_is_activations_per_open_and_claim_to_activation_per_claim() {
        // Three opens brought one member: 33 %, not the 100 % of activations per claim.
        let f = funnel(3, 1, 1, 0);
        assert!((f.conversion().unwrap() - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(f.claim_to_activation(), Some(100.0));
        assert_eq!(funnel(0, 0, 0, 0).conversion(), None);
        assert_eq!(funnel(0, 0, 0, 0).claim_to_activation(), None);
        assert_eq!(
            funnel(1, 2, 3, 4).plus(&funnel(10, 20, 30, 40)),
            funnel(11, 22, 33, 44)
        );
    }

    #[test]
    fn the_counters_sum_the_days_of_their_window() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        let days = [
            (today - Duration::days(30), funnel(0, 0, 1000, 0)),
            (today - Duration::days(29), funnel(0, 0, 100, 0)),
            (today - Duration::days(7), funnel(0, 0, 10, 0)),
            (today - Duration::days(6), funnel(0, 0, 5, 0)),
            (today, funnel(0, 0, 1, 0)),
        ];
        assert_eq!(activations_within(&days, today, 1), 1);
        assert_eq!(activations_within(&days, today, 7), 6);
        assert_eq!(activations_within(&days, today, 30), 116);
    }
}
