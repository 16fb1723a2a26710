//! The dashboard: members, activations, activation rate per channel, the daily chart, what needs
//! attention.

use std::collections::HashMap;

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;
use chrono::Utc;
use kaika_core::entity::{cards, channels};
use kaika_core::reports::{DashboardNumbers, Funnel};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{Chrome, Done};
use crate::auth::Admin;
use crate::chart::{self, Bar, Chart};
use crate::error::AdminError;
use crate::state::AdminState;

/// One channel's line in the activation-rate table.
#[derive(Debug, Clone)]
pub struct ChannelRate {
    /// Card title.
    pub card: String,
    /// Channel name (the `outer_str` when unknown).
    pub name: String,
    /// The channel tag.
    pub outer_str: String,
    /// Its funnel.
    pub funnel: Funnel,
}

impl ChannelRate {
    /// The rate as text.
    pub fn rate(&self) -> String {
        self.funnel
            .activation_rate()
            .map_or_else(|| "—".to_owned(), |r| format!("{r}%"))
    }
}

/// `GET /admin`.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    chrome: Chrome,
    numbers: DashboardNumbers,
    rates: Vec<ChannelRate>,
    chart: Chart,
    pending_cards: Vec<cards::Model>,
    failed_events: u64,
    pending_events: u64,
    unsynced_jobs: u64,
    failed_jobs: u64,
    waiting_activations: u64,
    failed_activations: u64,
    claimed_members: u64,
}

/// `GET /admin`.
pub async fn show(
    state: web::Data<AdminState>,
    admin: Admin,
    done: web::Query<Done>,
) -> Result<DashboardPage, AdminError> {
    let db = &state.db;
    let numbers = kaika_core::reports::dashboard_numbers(db).await?;
    let card_rows = cards::Entity::find()
        .order_by_asc(cards::Column::Id)
        .all(db)
        .await?;
    let titles: HashMap<i64, String> = card_rows.iter().map(|c| (c.id, c.title.clone())).collect();
    let names: HashMap<(i64, String), String> = channels::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|c| ((c.card_id, c.outer_str), c.name))
        .collect();
    let mut rates: Vec<ChannelRate> = kaika_core::reports::channel_funnels(db)
        .await?
        .into_iter()
        .map(|((card_id, outer_str), funnel)| ChannelRate {
            card: titles.get(&card_id).cloned().unwrap_or_default(),
            name: names
                .get(&(card_id, outer_str.clone()))
                .cloned()
                .unwrap_or_else(|| {
                    if outer_str.is_empty() {
                        admin.tr.t("dashboard.no_channel").to_owned()
                    } else {
                        outer_str.clone()
                    }
                }),
            outer_str,
            funnel,
        })
        .collect();
    rates.sort_by_key(|r| std::cmp::Reverse(r.funnel.claimed));
    let today = Utc::now().date_naive();
    let since = today - chrono::Duration::days(29);
    let bars: Vec<Bar> = kaika_core::reports::daily_funnel(db, since, None)
        .await?
        .into_iter()
        .map(|(day, f)| Bar {
            day,
            claimed: f.claimed,
            activated: f.activated,
        })
        .collect();
    let events = kaika_core::events::count_by_status(db).await?;
    let count = |status: &str| {
        events
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n)
    };
    let jobs = kaika_core::outbox::count_by_status(db).await?;
    let jobs_with = |wanted: &[&str]| {
        jobs.iter()
            .filter(|(s, _)| wanted.contains(&s.as_str()))
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    let pending_cards = cards::Entity::find()
        .filter(cards::Column::ReviewStatus.eq("pending"))
        .order_by_asc(cards::Column::Id)
        .all(db)
        .await?;
    Ok(DashboardPage {
        chrome: Chrome::load(&state, &admin, "dashboard", done.done.as_deref()).await?,
        numbers,
        rates,
        chart: chart::daily(today, 30, &bars),
        pending_cards,
        failed_events: count("failed"),
        pending_events: count("pending"),
        unsynced_jobs: jobs_with(&["pending", "sending", "failed"]),
        failed_jobs: jobs_with(&["failed"]),
        waiting_activations: kaika_core::activation::count_waiting_on_wechat(db).await?,
        failed_activations: kaika_core::activation::count_failed(db).await?,
        claimed_members: kaika_core::members::count_claimed(db).await?,
    })
}
