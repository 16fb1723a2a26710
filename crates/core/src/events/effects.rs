//! What each event does: claims, deletions and activations of codes (order-independent through
//! `wechat_code_states`), review outcomes, funnel counts and activity records.

use crate::clock;
use kaika_wechat::event::{Event, UserGetCard};
use kaika_wechat::membercard::MemberUserInfo;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, Set,
};

use crate::entity::wechat_card_activity as card_activity;
use crate::entity::wechat_code_states as code_states;
use crate::entity::wechat_events;
use crate::entity::{cards, members};
use crate::members::{self as members_rows, MEMBER_ACTIVE, MEMBER_CLAIMED, MEMBER_DELETED};
use crate::stats::{self, FunnelStep};
use crate::CoreError;

use super::*;

/// An error while applying an event: retried unless `permanent`.
pub(super) struct ApplyError {
    /// What went wrong, stored as the event's `last_error`.
    pub(super) message: String,
    /// No retry can fix it: the event becomes a dead letter at once.
    pub(super) permanent: bool,
}

impl From<CoreError> for ApplyError {
    fn from(err: CoreError) -> Self {
        Self {
            message: err.to_string(),
            permanent: false,
        }
    }
}

impl From<sea_orm::DbErr> for ApplyError {
    fn from(err: sea_orm::DbErr) -> Self {
        CoreError::from(err).into()
    }
}

/// What was fetched before the transaction.
pub(super) struct Prepared {
    /// The event's card, when it has one Kaika handles.
    pub(super) card: Option<cards::Model>,
    /// `membercard/userinfo/get` for `submit_membercard_user_info`.
    pub(super) user_info: Option<MemberUserInfo>,
}

pub(super) async fn apply(
    txn: &DatabaseTransaction,
    row: &wechat_events::Model,
    event: &Event,
    prepared: Prepared,
) -> Result<String, ApplyError> {
    let Some(card) = prepared.card else {
        return Ok(ignored_reason(event.name()));
    };
    let time = event.header().create_time;
    let outcome = match event {
        Event::UserGetCard(get) => on_get_card(txn, &card, get).await?,
        Event::UserDelCard { user_card_code, .. } => {
            on_del_card(txn, &card, user_card_code, time).await?
        }
        Event::SubmitMembercardUserInfo {
            header,
            user_card_code,
            ..
        } => {
            let info = prepared.user_info.unwrap_or_default();
            on_submit(txn, &card, user_card_code, &header.from_user_name, &info).await?
        }
        Event::UpdateMemberCard {
            user_card_code,
            modify_bonus,
            modify_balance,
            ..
        } => {
            record_activity(
                txn,
                row.id,
                &card,
                Activity {
                    code: user_card_code,
                    kind: "update_member_card",
                    outer_str: None,
                    modify_bonus: *modify_bonus,
                    modify_balance: *modify_balance,
                    detail: None,
                    occurred_at: time,
                },
            )
            .await?;
            format!(
                "recorded bonus {modify_bonus:+}, balance {modify_balance:+} for reconciliation"
            )
        }
        Event::UserViewCard {
            user_card_code,
            outer_str,
            ..
        } => {
            record_activity(
                txn,
                row.id,
                &card,
                Activity {
                    code: user_card_code,
                    kind: "user_view_card",
                    outer_str: outer_str.as_deref(),
                    modify_bonus: 0,
                    modify_balance: 0,
                    detail: None,
                    occurred_at: time,
                },
            )
            .await?;
            format!(
                "view counted for channel {:?}",
                outer_str.as_deref().unwrap_or("")
            )
        }
        Event::UserConsumeCard(consume) => {
            let detail = serde_json::json!({
                "consume_source": consume.consume_source,
                "location_name": consume.location_name,
                "location_id": consume.location_id,
                "staff_open_id": consume.staff_open_id,
                "verify_code": consume.verify_code,
                "remark_amount": consume.remark_amount,
                "trans_id": consume.trans_id,
                "fee": consume.fee,
                "original_fee": consume.original_fee,
            });
            record_activity(
                txn,
                row.id,
                &card,
                Activity {
                    code: &consume.user_card_code,
                    kind: "user_consume_card",
                    outer_str: consume.outer_str.as_deref(),
                    modify_bonus: 0,
                    modify_balance: 0,
                    detail: Some(detail.to_string()),
                    occurred_at: time,
                },
            )
            .await?;
            "consumption recorded".to_owned()
        }
        Event::CardPassCheck { .. } => on_review(txn, &card, time, None).await?,
        Event::CardNotPassCheck { refuse_reason, .. } => {
            let reason = refuse_reason.clone().unwrap_or_default();
            on_review(txn, &card, time, Some(reason)).await?
        }
        other => ignored_reason(other.name()),
    };
    Ok(outcome)
}

async fn save_state(txn: &DatabaseTransaction, state: code_states::Model) -> Result<(), CoreError> {
    use sea_orm::ActiveValue::Unchanged;
    code_states::ActiveModel {
        card_id: Unchanged(state.card_id),
        code: Unchanged(state.code),
        claim_time: Set(state.claim_time),
        claim_outer_str: Set(state.claim_outer_str),
        claim_counted: Set(state.claim_counted),
        delete_time: Set(state.delete_time),
        delete_counted: Set(state.delete_counted),
        review_time: Set(state.review_time),
        touches: Unchanged(state.touches),
        updated_at: Set(clock::now()),
    }
    .update(txn)
    .await?;
    Ok(())
}

/// The member's status from what the events said: deleted when the latest deletion is not older than
/// the latest claim, otherwise active once activated.
fn member_status(state: &code_states::Model, activated: bool) -> &'static str {
    let deleted = match (state.delete_time, state.claim_time) {
        (Some(deleted), Some(claimed)) => deleted >= claimed,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if deleted {
        MEMBER_DELETED
    } else if activated {
        MEMBER_ACTIVE
    } else {
        MEMBER_CLAIMED
    }
}

/// The channel a deletion is counted under: the first claim's, else an activated member's (the
/// activation read it from `card/code/get`). `None` while neither is known: the deletion is counted when
/// the claim arrives, so that the channel does not depend on the order of the events.
fn deletion_channel(state: &code_states::Model, member: Option<&members::Model>) -> Option<String> {
    if state.claim_counted {
        return Some(state.claim_outer_str.clone().unwrap_or_default());
    }
    member
        .filter(|m| m.activated_at.is_some())
        .map(|m| m.outer_str.clone().unwrap_or_default())
}

async fn on_get_card(
    txn: &DatabaseTransaction,
    card: &cards::Model,
    get: &UserGetCard,
) -> Result<String, CoreError> {
    let time = get.header.create_time;
    let code = get.user_card_code.as_str();
    let restore = get.is_restore_member_card;
    let gift_from = get
        .old_user_card_code
        .as_deref()
        .filter(|old| get.is_give_by_friend && *old != code);
    // Lock in code order so two gift events cannot deadlock.
    let mut lock_order = vec![code];
    lock_order.extend(gift_from);
    lock_order.sort_unstable();
    let mut locked = Vec::new();
    for c in lock_order {
        locked.push(members_rows::lock_code_state(txn, card.id, c).await?);
    }
    let Some(mut state) = locked.iter().find(|s| s.code == code).cloned() else {
        return Err(CoreError::NotFound {
            what: format!("state of code {code}"),
        });
    };
    state.claim_time = Some(state.claim_time.map_or(time, |t| t.max(time)));
    let mut outcome = Vec::new();
    let count_claim = !restore && !state.claim_counted;
    if count_claim {
        state.claim_counted = true;
        state.claim_outer_str = get.outer_str.clone();
    }
    let channel = (!restore).then_some(get.outer_str.clone()).flatten();
    // The activation may store the same code at the same moment: both take the member row of the code
    // through one idempotent insert while holding the code's state lock.
    let (existing, created) =
        members_rows::row_for_code(txn, card.id, code, member_status(&state, false)).await?;
    let member = {
        let activated = existing.activated_at.is_some();
        let mut row = existing.clone().into_active_model();
        if existing.oa_openid.is_none() {
            row.oa_openid =
                Set(
                    members_rows::free_openid(txn, card.id, code, &get.header.from_user_name)
                        .await?,
                );
        }
        if existing.unionid.is_none() && get.union_id.is_some() {
            row.unionid = Set(get.union_id.clone());
        }
        if existing.outer_str.is_none() && channel.is_some() {
            row.outer_str = Set(channel);
        }
        row.status = Set(member_status(&state, activated).to_owned());
        outcome.push(if created {
            "member created"
        } else {
            "member updated"
        });
        row.update(txn).await?
    };
    if count_claim {
        stats::count(
            txn,
            card.id,
            state.claim_outer_str.as_deref().unwrap_or_default(),
            FunnelStep::Claimed,
        )
        .await?;
        outcome.push("claim counted");
    }
    // A deletion that arrived first is counted now that the channel is known.
    if state.delete_time.is_some() && !state.delete_counted {
        if let Some(channel) = deletion_channel(&state, Some(&member)) {
            state.delete_counted = true;
            stats::count(txn, card.id, &channel, FunnelStep::Deleted).await?;
            outcome.push("earlier deletion counted");
        }
    }
    save_state(txn, state).await?;
    if let Some(old) = gift_from {
        if let Some(mut old_state) = locked.iter().find(|s| s.code == old).cloned() {
            // The old code left with the gift: gone, but not a deletion for the funnel.
            old_state.delete_time = Some(old_state.delete_time.map_or(time, |t| t.max(time)));
            old_state.delete_counted = true;
            if let Some(giver) = members_rows::find_for_code(txn, card.id, old).await? {
                let status = member_status(&old_state, giver.activated_at.is_some());
                let mut row = giver.into_active_model();
                row.status = Set(status.to_owned());
                row.update(txn).await?;
            }
            save_state(txn, old_state).await?;
            outcome.push("gift: the old code is gone");
        }
    }
    Ok(format!(
        "{} (member {}, status {}{})",
        outcome.join(", "),
        member.id,
        member.status,
        if restore { ", restored" } else { "" }
    ))
}

async fn on_del_card(
    txn: &DatabaseTransaction,
    card: &cards::Model,
    code: &str,
    time: i64,
) -> Result<String, CoreError> {
    let mut state = members_rows::lock_code_state(txn, card.id, code).await?;
    state.delete_time = Some(state.delete_time.map_or(time, |t| t.max(time)));
    let member = members_rows::find_for_code(txn, card.id, code).await?;
    let mut outcome = match &member {
        Some(existing) => {
            let status = member_status(&state, existing.activated_at.is_some());
            let mut row = existing.clone().into_active_model();
            row.status = Set(status.to_owned());
            row.update(txn).await?;
            format!("member {} is {status}", existing.id)
        }
        None => "no member yet; the deletion is kept for the claim".to_owned(),
    };
    if !state.delete_counted {
        if let Some(channel) = deletion_channel(&state, member.as_ref()) {
            state.delete_counted = true;
            stats::count(txn, card.id, &channel, FunnelStep::Deleted).await?;
            outcome.push_str(", deletion counted");
        }
    }
    save_state(txn, state).await?;
    Ok(outcome)
}

async fn on_submit(
    txn: &DatabaseTransaction,
    card: &cards::Model,
    code: &str,
    from_user_name: &str,
    info: &MemberUserInfo,
) -> Result<String, CoreError> {
    let state = members_rows::lock_code_state(txn, card.id, code).await?;
    let openid = if info.openid.is_empty() {
        from_user_name
    } else {
        info.openid.as_str()
    };
    let answers = &info.user_info;
    // Jump-type cards answer without the form (reference §13 #2): keep what the activation stored.
    let form = (!answers.common_field_list.is_empty() || !answers.custom_field_list.is_empty())
        .then(|| serde_json::to_string(answers).unwrap_or_default());
    let number = match info.membership_number.as_deref().filter(|n| !n.is_empty()) {
        Some(number) => {
            let taken = members::Entity::find_for_card(card.id)
                .filter(members::Column::MembershipNumber.eq(number))
                .filter(members::Column::Code.ne(code))
                .count(txn)
                .await?;
            (taken == 0).then(|| number.to_owned())
        }
        None => None,
    };
    let now = clock::now();
    let (existing, _) =
        members_rows::row_for_code(txn, card.id, code, member_status(&state, info.has_active))
            .await?;
    let member = {
        let activated = existing.activated_at.is_some() || info.has_active;
        let mut row = existing.clone().into_active_model();
        if existing.oa_openid.is_none() {
            row.oa_openid = Set(members_rows::free_openid(txn, card.id, code, openid).await?);
        }
        if form.is_some() {
            row.form_answers = Set(form);
        }
        if existing.membership_number.is_none() && number.is_some() {
            row.membership_number = Set(number);
        }
        if existing.activated_at.is_none() && info.has_active {
            row.activated_at = Set(Some(now));
        }
        row.status = Set(member_status(&state, activated).to_owned());
        row.update(txn).await?
    };
    save_state(txn, state).await?;
    Ok(format!(
        "member {} refreshed from userinfo/get (status {})",
        member.id, member.status
    ))
}

struct Activity<'a> {
    code: &'a str,
    kind: &'static str,
    outer_str: Option<&'a str>,
    modify_bonus: i64,
    modify_balance: i64,
    detail: Option<String>,
    occurred_at: i64,
}

async fn record_activity(
    txn: &DatabaseTransaction,
    event_id: i64,
    card: &cards::Model,
    activity: Activity<'_>,
) -> Result<(), CoreError> {
    card_activity::Entity::insert(card_activity::ActiveModel {
        event_id: Set(event_id),
        card_id: Set(card.id),
        code: Set(truncate(activity.code, 64)),
        kind: Set(activity.kind.to_owned()),
        outer_str: Set(activity.outer_str.map(|s| truncate(s, 64))),
        modify_bonus: Set(activity.modify_bonus),
        modify_balance: Set(activity.modify_balance),
        detail: Set(activity.detail),
        occurred_at: Set(activity.occurred_at),
        reconciled_at: Set(None),
        created_at: Set(clock::now()),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(card_activity::Column::EventId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Applies a review outcome seen at `time` (Unix seconds) unless a newer one was applied.
pub(crate) async fn on_review(
    txn: &DatabaseTransaction,
    card: &cards::Model,
    time: i64,
    refused: Option<String>,
) -> Result<String, CoreError> {
    let mut state = members_rows::lock_code_state(txn, card.id, "").await?;
    // The latest review wins; at the same second a refusal wins, whatever the arrival order.
    let newer = match state.review_time {
        None => true,
        Some(seen) => time > seen || (time == seen && refused.is_some()),
    };
    let status = if refused.is_some() {
        "refused"
    } else {
        "approved"
    };
    if !newer {
        save_state(txn, state).await?;
        return Ok(format!(
            "older than the review already applied; {status} not applied"
        ));
    }
    state.review_time = Some(time);
    cards::Entity::update_many()
        .col_expr(cards::Column::ReviewStatus, Expr::value(status))
        .col_expr(cards::Column::RefuseReason, Expr::value(refused.clone()))
        .col_expr(cards::Column::ReviewChecks, Expr::value(0))
        .col_expr(cards::Column::UpdatedAt, Expr::value(clock::now()))
        .filter(cards::Column::Id.eq(card.id))
        .exec(txn)
        .await?;
    save_state(txn, state).await?;
    Ok(match refused {
        Some(reason) => format!("card refused: {reason}"),
        None => "card approved".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(claim: Option<i64>, delete: Option<i64>) -> code_states::Model {
        code_states::Model {
            card_id: 1,
            code: "1".into(),
            claim_time: claim,
            claim_outer_str: None,
            claim_counted: false,
            delete_time: delete,
            delete_counted: false,
            review_time: None,
            touches: 0,
            updated_at: clock::now(),
        }
    }

    #[test]
    fn member_status_follows_the_latest_claim_or_deletion() {
        assert_eq!(member_status(&state(Some(1), None), false), "claimed");
        assert_eq!(member_status(&state(Some(1), None), true), "active");
        assert_eq!(member_status(&state(Some(1), Some(2)), true), "deleted");
        assert_eq!(member_status(&state(Some(2), Some(2)), true), "deleted");
        assert_eq!(member_status(&state(Some(3), Some(2)), true), "active");
        assert_eq!(member_status(&state(None, Some(2)), false), "deleted");
        assert_eq!(member_status(&state(None, None), true), "active");
    }
}
