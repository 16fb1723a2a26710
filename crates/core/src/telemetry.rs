//! What the domain tells an operator's metrics, without depending on any metrics library: the server
//! implements [`Observer`] with Prometheus and hands it to [`crate::clients::Clients`], which every
//! worker and the activator already hold. The queues' gauges are read at scrape time
//! ([`crate::backlog`]).

/// The WeChat side of the hook and how a call ended, re-exported so that the server implements it
/// without reaching kaika-wechat itself.
pub use kaika_wechat::observe::{CallOutcome, Observer as WechatObserver};

/// Told when something an on-call person counts happens. Every method defaults to doing nothing; the
/// WeChat calls and token fetches come through [`kaika_wechat::Observer`].
pub trait Observer: kaika_wechat::Observer {
    /// One drive of an activation ended: `outcome` is `activated`, `failed` or `retrying`, `step` the
    /// step it ended at (for a failure, the step that failed), after `elapsed`.
    fn activation(&self, outcome: &str, step: &str, elapsed: std::time::Duration) {
        let _ = (outcome, step, elapsed);
    }

    /// A verified push was stored (`stored`, `ignored`, `unapplicable`) or was a `duplicate`.
    fn event_received(&self, event_type: &str, receipt: &str) {
        let _ = (event_type, receipt);
    }

    /// The event worker finished with an event: `applied`, `ignored`, `retrying` or `failed` (a dead
    /// letter).
    fn event_processed(&self, event_type: &str, outcome: &str) {
        let _ = (event_type, outcome);
    }

    /// The outbox worker finished with a job: `sent`, `retrying` or `failed` (a dead letter).
    fn outbox_processed(&self, outcome: &str) {
        let _ = outcome;
    }

    /// One background re-drive pass ran (`ok` or `error`), driving `claimed` activations.
    fn redrive_run(&self, outcome: &str, claimed: usize) {
        let _ = (outcome, claimed);
    }
}

/// An observer that ignores everything: the default of [`crate::clients::Clients`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Ignore;

impl kaika_wechat::Observer for Ignore {}
impl Observer for Ignore {}
