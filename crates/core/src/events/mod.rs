//! WeChat event pushes (flow 3): the callback's checks, durable ingestion, and the worker that applies
//! stored events.
//!
//! **Ingestion** ([`handshake`], [`receive`]) verifies the signature (plain mode) or `msg_signature`
//! (compatible and safe mode), decrypts and checks the AppID inside the ciphertext, refuses timestamps
//! outside a window, parses the XML with the limits of [`kaika_wechat::event`], and inserts the decrypted
//! XML under its dedupe key with `ON CONFLICT DO NOTHING`. Nothing else happens on the request path, so the
//! callback answers WeChat in one insert's time however slow the effects are.
//!
//! **The worker** ([`Worker`]) claims due events with a conditional update (a lease), applies each one in a
//! transaction whose first statement marks it done only if this worker still holds the claim, and on
//! failure schedules a retry with exponential back-off, or marks it `failed` (a dead letter) after the
//! last attempt. Several processes may run workers on one database: an event's effects commit at most
//! once.
//!
//! **Effects** are written so that the final state does not depend on the order events arrive in: the
//! latest `user_get_card` and `user_del_card` times of each code are kept in `wechat_code_states` and the
//! member's status is derived from them; funnel counters are counted once per code through flags in the
//! same row; review events only win over older review events; activity records are unique per event.
//!
//! The module is split by job: [`ingest`] (the callback's checks and the insert), [`worker`] (claiming
//! and retrying stored events), `effects` (what each event does to members, cards and counters) and
//! [`queries`] (listing, inspecting and replaying events for the admin and the CLI).

mod effects;
pub mod ingest;
pub mod queries;
pub mod worker;

pub use ingest::{
    handshake, last_push, receive, refusals, store, CallbackParams, IngestSettings, Receipt,
};
pub use queries::{
    count_by_status, get, list, retry, retry_failed, type_label, unreconciled_changes, views,
    EventFilter,
};
pub use worker::{RoundReport, Worker, WorkerSettings};

pub(crate) use effects::on_review;

/// Waiting for a worker.
pub const STATUS_PENDING: &str = "pending";
/// Claimed by a worker.
pub const STATUS_PROCESSING: &str = "processing";
/// Applied.
pub const STATUS_DONE: &str = "done";
/// Gave up after the last attempt: a dead letter, replayable with [`retry`].
pub const STATUS_FAILED: &str = "failed";
/// Stored but without effect (unknown or uninteresting event types).
pub const STATUS_IGNORED: &str = "ignored";

/// Every status, for listings and validation.
pub const STATUSES: [&str; 5] = [
    STATUS_PENDING,
    STATUS_PROCESSING,
    STATUS_DONE,
    STATUS_FAILED,
    STATUS_IGNORED,
];

/// The events the worker applies; every other event is stored as `ignored`.
pub const HANDLED_EVENTS: [&str; 8] = [
    "user_get_card",
    "user_del_card",
    "submit_membercard_user_info",
    "update_member_card",
    "user_view_card",
    "card_pass_check",
    "card_not_pass_check",
    "user_consume_card",
];

/// Why an event is stored without effect.
fn ignored_reason(name: &str) -> String {
    if name.is_empty() {
        "not an event".to_owned()
    } else {
        format!("no effect for {name}")
    }
}

/// The first `max_chars` characters of a text (columns have limits; WeChat's values rarely reach them).
fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

fn to_chrono(duration: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::seconds(60))
}

/// An event type as a label: one of the types Kaika handles, or `other` (unknown types would
/// otherwise grow the label set without bound).
pub fn event_label(event: &str) -> &str {
    if HANDLED_EVENTS.contains(&event) {
        event
    } else {
        "other"
    }
}
