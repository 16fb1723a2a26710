//! Members: membership numbers and the views a member sees.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::entity::{cards, members};
use crate::CoreError;

/// Takes the next membership number of a card: its prefix and an 8-digit sequence. The increment is one
/// statement, so concurrent activations never get the same number; a number once taken is never handed out
/// again, even if the activation that took it fails.
pub async fn allocate_membership_number(
    db: &impl ConnectionTrait,
    card_id: i64,
) -> Result<String, CoreError> {
    let updated = cards::Entity::update_many()
        .col_expr(
            cards::Column::NextMembershipSeq,
            Expr::col(cards::Column::NextMembershipSeq).add(1),
        )
        .filter(cards::Column::Id.eq(card_id))
        .exec_with_returning(db)
        .await?;
    let card = updated
        .into_iter()
        .next()
        .ok_or_else(|| CoreError::NotFound {
            what: format!("card {card_id}"),
        })?;
    Ok(format!(
        "{}{:08}",
        card.membership_prefix,
        card.next_membership_seq - 1
    ))
}

/// The cards a mini-program user holds, newest first.
pub async fn held_by(
    db: &impl ConnectionTrait,
    mini_openid: &str,
) -> Result<Vec<(members::Model, cards::Model)>, CoreError> {
    let rows = members::Entity::find_for_mini_openid(mini_openid)
        .order_by_desc(members::Column::Id)
        .find_also_related(cards::Entity)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(member, card)| card.map(|card| (member, card)))
        .collect())
}
