//! `wechat_events`: every event push as received (decrypted), with its dedupe key and its processing
//! state. Their effects keep `wechat_code_states` and `wechat_card_activity` (modules of those names).

use sea_orm::entity::prelude::*;

/// One stored push. Unique per (account, dedupe hash).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wechat_events")]
pub struct Model {
    /// Surrogate key; also the order of arrival.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The account whose callback received it.
    pub account_id: i64,
    /// Hex SHA-256 of `dedupe_key`: the unique key.
    pub dedupe_hash: String,
    /// `FromUserName|CreateTime|Event|CardId|UserCardCode`.
    pub dedupe_key: String,
    /// The `Event` element (empty for plain messages).
    pub event: String,
    /// The `MsgType` element.
    pub msg_type: String,
    /// The user's official-account openid.
    pub from_user_name: String,
    /// `CardId`, when the event has one.
    pub wechat_card_id: Option<String>,
    /// `UserCardCode`, when the event has one.
    pub user_card_code: Option<String>,
    /// `CreateTime` (Unix seconds, WeChat's clock).
    pub create_time: i64,
    /// The decrypted XML as received.
    pub raw_xml: String,
    /// `pending`, `processing`, `done`, `failed` (a dead letter) or `ignored`.
    pub status: String,
    /// How many times a worker took it.
    pub attempts: i32,
    /// When a worker may take it next.
    pub next_attempt_at: DateTimeUtc,
    /// The claim token of the worker applying it.
    pub lease_holder: Option<String>,
    /// Until when that claim holds.
    pub lease_until: Option<DateTimeUtc>,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// What applying it did, in one line.
    pub outcome: Option<String>,
    /// When the push was stored.
    pub received_at: DateTimeUtc,
    /// When it was applied (or ignored).
    pub processed_at: Option<DateTimeUtc>,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
    /// Whether the push came encrypted (`None` for events stored before this was recorded).
    pub encrypted: Option<bool>,
}

/// `wechat_events` has no navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The events of one account.
    pub fn find_for_account(account_id: i64) -> Select<Entity> {
        Self::find().filter(Column::AccountId.eq(account_id))
    }
}
