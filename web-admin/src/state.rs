//! What every admin handler shares.

use kaika_core::admin_users::{LoginThrottle, SessionPolicy};
use kaika_core::clients::Clients;
use kaika_core::display::Zone;
use kaika_core::golive::PublicUrl;
use kaika_core::ledger::LedgerLimits;
use kaika_core::secrets::MasterKey;
use sea_orm::DatabaseConnection;

/// Session and login settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdminSettings {
    /// Idle and absolute session expiry.
    pub sessions: SessionPolicy,
    /// Failed-login limits per username and address.
    pub throttle: LoginThrottle,
    /// Limits of one ledger entry, the same as the integration API's.
    pub ledger: LedgerLimits,
    /// The time zone pages and the CSV export show times in (`admin.time_zone`).
    pub time_zone: Zone,
}

/// The admin's shared state: the database, the key to account secrets, the WeChat clients.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The pool.
    pub db: DatabaseConnection,
    /// Seals account secrets.
    pub master_key: MasterKey,
    /// WeChat clients per account.
    pub clients: Clients,
    /// Session and login settings.
    pub settings: AdminSettings,
    /// Kaika's external address (`KAIKA__SERVER__PUBLIC_URL`): the URLs to paste into WeChat are built
    /// from it.
    pub public_url: Option<PublicUrl>,
}

impl AdminState {
    /// State with the default settings (30 min idle, 12 h absolute, 5 failures per username and 20 per
    /// address in 15 min).
    pub fn new(db: DatabaseConnection, master_key: MasterKey, clients: Clients) -> Self {
        Self {
            db,
            master_key,
            clients,
            settings: AdminSettings::default(),
            public_url: None,
        }
    }
}
