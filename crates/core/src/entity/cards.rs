//! `cards`: member cards created on WeChat, with their local settings.

use sea_orm::entity::prelude::*;

/// One row of `cards`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cards")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The account that owns the card.
    pub account_id: i64,
    /// WeChat's `card_id` (`p…`, 28 characters).
    #[sea_orm(unique)]
    pub wechat_card_id: String,
    /// The card's title as shown in WeChat.
    pub title: String,
    /// The merchant's brand name.
    pub brand_name: String,
    /// WeChat palette colour name, e.g. `Color010`.
    pub color: String,
    /// Logo URL (from `media/uploadimg`).
    pub logo_url: String,
    /// `pending`, `approved` or `refused`.
    pub review_status: String,
    /// WeChat's reason when refused.
    pub refuse_reason: Option<String>,
    /// The activation form as sent to `activateuserform/set` (JSON).
    pub activation_form: Option<String>,
    /// Points credited at activation.
    pub welcome_bonus: i64,
    /// Prefix of membership numbers.
    pub membership_prefix: String,
    /// The next membership sequence number to hand out.
    pub next_membership_seq: i64,
    /// Created with stored value (`supply_balance`): the card shows a balance and takes balance changes.
    pub stored_value: bool,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row was last changed.
    pub updated_at: DateTimeUtc,
    /// How many times `card/get` was asked about the card while it was in review.
    pub review_checks: i32,
    /// When `card/get` was last asked.
    pub review_checked_at: Option<DateTimeUtc>,
}

/// Relations of `cards`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The owning account.
    #[sea_orm(
        belongs_to = "super::accounts::Entity",
        from = "Column::AccountId",
        to = "super::accounts::Column::Id"
    )]
    Account,
}

super::stamped!(created_at, updated_at);

impl Entity {
    /// The card with this WeChat `card_id`.
    pub fn find_by_wechat_id(wechat_card_id: &str) -> Select<Entity> {
        Self::find().filter(Column::WechatCardId.eq(wechat_card_id))
    }

    /// The cards of one account.
    pub fn find_for_account(account_id: i64) -> Select<Entity> {
        Self::find().filter(Column::AccountId.eq(account_id))
    }
}
