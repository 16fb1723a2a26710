//! The dashboard: members, activations, activation rate per channel, the daily chart, what needs
//! attention.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;
use chrono::NaiveDate;
use kaika_core::display;
use kaika_core::entity::cards;
use kaika_core::reports::{
    self, ChannelFunnel, Dashboard, DashboardNumbers, Funnel, DASHBOARD_DAYS,
};

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
    /// The conversion (activations ÷ opens) as text.
    pub fn conversion(&self) -> String {
        display::percent(self.funnel.conversion())
    }

    /// Claim → activation (activations ÷ claims) as text.
    pub fn claim_to_activation(&self) -> String {
        display::percent(self.funnel.claim_to_activation())
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
    window: Funnel,
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
    let dashboard = reports::dashboard(&state.db).await?;
    let chrome = Chrome::load(&state, &admin, "dashboard", done.done.as_deref()).await?;
    Ok(DashboardPage::new(chrome, dashboard))
}

impl DashboardPage {
    /// The window's conversion (activations ÷ opens) as text.
    fn conversion(&self) -> String {
        display::percent(self.window.conversion())
    }

    /// The window's claim → activation (activations ÷ claims) as text.
    fn claim_to_activation(&self) -> String {
        display::percent(self.window.claim_to_activation())
    }

    fn new(chrome: Chrome, d: Dashboard) -> Self {
        let bars: Vec<Bar> = d.days.iter().map(bar).collect();
        let names = chart::SERIES.map(|series| chrome.t(series_key(series)));
        Self {
            rates: d.channels.into_iter().map(|c| rate(&chrome, c)).collect(),
            chart: chart::daily(d.today, DASHBOARD_DAYS, &bars, names),
            window: d.window,
            chrome,
            numbers: d.numbers,
            pending_cards: d.pending_cards,
            failed_events: d.failed_events,
            pending_events: d.pending_events,
            unsynced_jobs: d.unsynced_jobs,
            failed_jobs: d.failed_jobs,
            waiting_activations: d.waiting_activations,
            failed_activations: d.failed_activations,
            claimed_members: d.claimed_members,
        }
    }
}

/// A channel's line; a tag without a channel row is shown as itself, no tag as "no channel".
fn rate(chrome: &Chrome, c: ChannelFunnel) -> ChannelRate {
    let name = c.name.unwrap_or_else(|| match c.outer_str.as_str() {
        "" => chrome.t("dashboard.no_channel").to_owned(),
        tag => tag.to_owned(),
    });
    ChannelRate {
        card: c.card_title,
        name,
        outer_str: c.outer_str,
        funnel: c.funnel,
    }
}

fn bar((day, funnel): &(NaiveDate, Funnel)) -> Bar {
    Bar {
        day: *day,
        values: [
            funnel.params_requested,
            funnel.claimed,
            funnel.activated,
            funnel.deleted,
        ],
    }
}

/// The catalogue key of a chart series; each written out so that the catalogue test finds it.
fn series_key(series: &str) -> &'static str {
    match series {
        "opened" => "funnel.params_requested",
        "claimed" => "funnel.claimed",
        "activated" => "funnel.activated",
        _ => "funnel.deleted",
    }
}
