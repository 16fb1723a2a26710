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
pub mod maintenance;
pub mod members;
pub mod mini_sessions;
pub mod outbox;
pub mod reconciliation;
pub mod reconciliation_items;
pub mod wechat_card_activity;
pub mod wechat_code_states;
pub mod wechat_events;

use sea_orm::entity::prelude::DateTimeUtc;
use sea_orm::ActiveValue;

/// Implements `ActiveModelBehavior` for an entity whose only hook is [`stamp`]:
/// `stamped!(created_at)` for append-only tables, `stamped!(created_at, updated_at)` for the others.
macro_rules! stamped {
    ($created:ident $(, $updated:ident)?) => {
        #[async_trait::async_trait]
        impl ActiveModelBehavior for ActiveModel {
            async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
            where
                C: ConnectionTrait,
            {
                super::stamp(insert, &mut self.$created, super::stamped!(@updated self $(, $updated)?));
                Ok(self)
            }
        }
    };
    (@updated $self:ident) => { None };
    (@updated $self:ident, $updated:ident) => { Some(&mut $self.$updated) };
}
pub(crate) use stamped;

/// Stamps a row saved through its `ActiveModel` (`insert`, `update`, `save`): `created_at` when it is
/// inserted, `updated_at` (for tables that have one) on every save, from [`crate::clock::now`].
/// Statements that bypass `ActiveModelBehavior` (`Entity::insert` upserts, bulk inserts, `update_many`)
/// take their time from the same clock; the core crate's `clippy.toml` forbids any other.
pub(crate) fn stamp(
    insert: bool,
    created_at: &mut ActiveValue<DateTimeUtc>,
    updated_at: Option<&mut ActiveValue<DateTimeUtc>>,
) {
    let now = crate::clock::now();
    if insert {
        *created_at = ActiveValue::Set(now);
    }
    if let Some(updated_at) = updated_at {
        *updated_at = ActiveValue::Set(now);
    }
}
