//! `channels`: acquisition channels, one `outer_str` per channel and card.

use sea_orm::entity::prelude::*;

/// One row of `channels`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channels")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The card this channel hands out.
    pub card_id: i64,
    /// The `outer_str` WeChat echoes back in `user_get_card`.
    pub outer_str: String,
    /// A name for admins.
    pub name: String,
    /// When the channel was archived; archived channels no longer hand out the card.
    pub archived_at: Option<DateTimeUtc>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// `channels` relations are followed through queries by `card_id`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

super::stamped!(created_at);

impl Entity {
    /// The channels of one card.
    pub fn find_for_card(card_id: i64) -> Select<Entity> {
        Self::find().filter(Column::CardId.eq(card_id))
    }
}
