//! `wechat_events`: every event push as received (decrypted), with its dedupe key and its processing
//! state; and the two tables its effects keep: [`code_states`] and [`card_activity`].

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

/// `wechat_code_states`: what the events said about one card code, kept so that their effects do not
/// depend on the order they arrive in. The row with an empty `code` holds the card's review state.
pub mod code_states {
    use sea_orm::entity::prelude::*;

    /// One (card, code).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "wechat_code_states")]
    pub struct Model {
        /// The card (local id).
        #[sea_orm(primary_key, auto_increment = false)]
        pub card_id: i64,
        /// The card code; empty for the card itself.
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        /// The latest `user_get_card` CreateTime (restores and gifts included).
        pub claim_time: Option<i64>,
        /// The channel of the first claim (not a restore).
        pub claim_outer_str: Option<String>,
        /// Whether the funnel's `claimed` was counted for this code.
        pub claim_counted: bool,
        /// The latest `user_del_card` (or gift-away) CreateTime.
        pub delete_time: Option<i64>,
        /// Whether the funnel's `deleted` was counted (or is not to be: a gift-away).
        pub delete_counted: bool,
        /// The CreateTime of the review event that set the card's review status.
        pub review_time: Option<i64>,
        /// Bumped by every event that locks the row.
        pub touches: i64,
        /// When the row last changed.
        pub updated_at: DateTimeUtc,
    }

    /// No navigable relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `wechat_card_activity`: what members did on WeChat's side, one row per applied event:
/// `update_member_card` (points and balance changes, for reconciliation), `user_consume_card` and
/// `user_view_card`.
pub mod card_activity {
    use sea_orm::entity::prelude::*;

    /// One recorded event.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "wechat_card_activity")]
    pub struct Model {
        /// Surrogate key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The event recorded (unique: an event is recorded once).
        #[sea_orm(unique)]
        pub event_id: i64,
        /// The card (local id).
        pub card_id: i64,
        /// The card code.
        pub code: String,
        /// The event name.
        pub kind: String,
        /// `OuterStr` of views and consumptions.
        pub outer_str: Option<String>,
        /// `ModifyBonus` of `update_member_card`.
        pub modify_bonus: i64,
        /// `ModifyBalance` of `update_member_card`.
        pub modify_balance: i64,
        /// Other fields of the event, as JSON.
        pub detail: Option<String>,
        /// The event's CreateTime.
        pub occurred_at: i64,
        /// When a reconciliation accounted for it.
        pub reconciled_at: Option<DateTimeUtc>,
        /// When the row was written.
        pub created_at: DateTimeUtc,
    }

    /// No navigable relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
