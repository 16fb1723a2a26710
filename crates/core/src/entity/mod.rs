//! sea-orm entities, one module per table.

pub mod access_tokens;
pub mod accounts;
pub mod activation_params;
pub mod activations;
pub mod admin_login_failures;
pub mod admin_sessions;
pub mod admin_users;
pub mod api_keys;
pub mod audit_log;
pub mod callback_nonces;
pub mod callback_refusals;
pub mod cards;
pub mod channel_daily_stats;
pub mod channels;
pub mod ledger_entries;
pub mod login_attempt_buckets;
pub mod members;
pub mod mini_sessions;
pub mod outbox;
pub mod reconciliation;
pub mod reconciliation_items;
pub mod wechat_card_activity;
pub mod wechat_code_states;
pub mod wechat_events;
