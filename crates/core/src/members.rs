//! Members: the one member row of each card code, membership numbers and the views a member sees.
//!
//! Two paths create members: the activation (after WeChat accepted it) and the event worker
//! (`user_get_card`, `submit_membercard_user_info`). Both take the code's state lock first
//! ([`lock_code_state`]) and the row through [`row_for_code`], so they never race to insert one code, and
//! both hand the official-account openid over through [`free_openid`], so a re-joining member never
//! collides with the row of the card they deleted.

use crate::clock;
use kaika_wechat::card::UserFormField;
use kaika_wechat::membercard::FormAnswers;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use crate::entity::wechat_code_states as code_states;
use crate::entity::{cards, members};
use crate::CoreError;

/// A code claimed in WeChat whose activation Kaika has not seen yet.
pub const MEMBER_CLAIMED: &str = "claimed";
/// An activated card.
pub const MEMBER_ACTIVE: &str = "active";
/// A card the member deleted (its history is kept).
pub const MEMBER_DELETED: &str = "deleted";

/// Locks the state row of (card, code) for the rest of the transaction, creating it if needed, and
/// returns it as committed by any transaction that held it before.
pub(crate) async fn lock_code_state(
    txn: &DatabaseTransaction,
    card_id: i64,
    code: &str,
) -> Result<code_states::Model, CoreError> {
    code_states::Entity::insert(code_states::ActiveModel {
        card_id: Set(card_id),
        code: Set(code.to_owned()),
        claim_time: Set(None),
        claim_outer_str: Set(None),
        claim_counted: Set(false),
        delete_time: Set(None),
        delete_counted: Set(false),
        review_time: Set(None),
        touches: Set(1),
        updated_at: Set(clock::now()),
    })
    .on_conflict(
        OnConflict::columns([code_states::Column::CardId, code_states::Column::Code])
            .value(
                code_states::Column::Touches,
                Expr::col((code_states::Entity, code_states::Column::Touches)).add(1),
            )
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    code_states::Entity::find_by_id((card_id, code.to_owned()))
        .one(txn)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("state of code {code}"),
        })
}

/// The member of `code`, if stored.
pub(crate) async fn find_for_code(
    txn: &DatabaseTransaction,
    card_id: i64,
    code: &str,
) -> Result<Option<members::Model>, CoreError> {
    Ok(members::Entity::find_for_card(card_id)
        .filter(members::Column::Code.eq(code))
        .one(txn)
        .await?)
}

/// The member row of `code`, created empty with `status` when there is none, and whether it was
/// created. The insert does nothing when the row exists, so a concurrent creator is not an error; callers
/// hold [`lock_code_state`] and then fill the row's columns with an update.
pub(crate) async fn row_for_code(
    txn: &DatabaseTransaction,
    card_id: i64,
    code: &str,
    status: &str,
) -> Result<(members::Model, bool), CoreError> {
    let now = clock::now();
    let inserted = members::Entity::insert(members::ActiveModel {
        card_id: Set(card_id),
        code: Set(code.to_owned()),
        oa_openid: Set(None),
        mini_openid: Set(None),
        unionid: Set(None),
        membership_number: Set(None),
        points: Set(0),
        balance_cents: Set(0),
        level: Set(None),
        status: Set(status.to_owned()),
        form_answers: Set(None),
        mobile: Set(None),
        name: Set(None),
        outer_str: Set(None),
        activated_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([members::Column::CardId, members::Column::Code])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    let row = find_for_code(txn, card_id, code)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("member of code {code}"),
        })?;
    Ok((row, inserted == 1))
}

/// The official-account openid to store on the member of `code`, keeping (card, openid) unique: a
/// deleted member of another code gives it up (keeping its history); a live one keeps it and this member
/// gets none.
pub(crate) async fn free_openid(
    txn: &DatabaseTransaction,
    card_id: i64,
    code: &str,
    openid: &str,
) -> Result<Option<String>, CoreError> {
    if openid.is_empty() {
        return Ok(None);
    }
    let holder = members::Entity::find_for_card(card_id)
        .filter(members::Column::OaOpenid.eq(openid))
        .filter(members::Column::Code.ne(code))
        .one(txn)
        .await?;
    let Some(other) = holder else {
        return Ok(Some(openid.to_owned()));
    };
    // Conditional on what was read: an event restoring the other code (under that code's lock, not
    // ours) may have made it live again in between, and a live member keeps its openid.
    let handed_over = members::Entity::update_many()
        .col_expr(
            members::Column::OaOpenid,
            Expr::value(Option::<String>::None),
        )
        .col_expr(members::Column::UpdatedAt, Expr::value(clock::now()))
        .filter(members::Column::Id.eq(other.id))
        .filter(members::Column::Status.eq(MEMBER_DELETED))
        .filter(members::Column::OaOpenid.eq(openid))
        .exec(txn)
        .await?
        .rows_affected
        == 1;
    if handed_over {
        Ok(Some(openid.to_owned()))
    } else {
        tracing::warn!(card = card_id, code, other = %other.code, "openid already held by another live member");
        Ok(None)
    }
}

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

/// How many members took a card in WeChat but have not activated it ([`MEMBER_CLAIMED`]), over all
/// cards.
pub async fn count_claimed(db: &impl ConnectionTrait) -> Result<u64, CoreError> {
    Ok(members::Entity::find()
        .filter(members::Column::Status.eq(MEMBER_CLAIMED))
        .count(db)
        .await?)
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

/// A member's activation answers (the form WeChat's component collected), as admins read them.
#[derive(Debug, Clone, Default)]
pub struct Answers(FormAnswers);

/// One answer of a member's activation form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The canonical `USER_FORM_INFO_FLAG_*` name of a common field; `None` for a custom question.
    pub common_flag: Option<String>,
    /// The field's name as WeChat sent it (the question of a custom field).
    pub name: String,
    /// The answer; the choices of a multiple-choice question joined with `、`.
    pub value: String,
}

impl Answers {
    /// The answers stored on a member row (none when absent or unreadable).
    pub fn of(row: &members::Model) -> Self {
        Self(
            row.form_answers
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok())
                .unwrap_or_default(),
        )
    }

    /// The name given ("" when none).
    pub fn name(&self) -> &str {
        self.0.common(&UserFormField::Name).unwrap_or_default()
    }

    /// The mobile given ("" when none).
    pub fn mobile(&self) -> &str {
        self.0.common(&UserFormField::Mobile).unwrap_or_default()
    }

    /// Every answer: the common fields, then the custom and choice questions.
    pub fn all(&self) -> Vec<Answer> {
        let common = self.0.common_field_list.iter().map(|f| Answer {
            common_flag: Some(UserFormField::parse(&f.name).as_str().to_owned()),
            name: f.name.clone(),
            value: f.value.clone(),
        });
        let custom = self.0.custom_field_list.iter().map(|f| Answer {
            common_flag: None,
            name: f.name.clone(),
            value: if f.value_list.is_empty() {
                f.value.clone()
            } else {
                f.value_list.join("、")
            },
        });
        common.chain(custom).collect()
    }
}
