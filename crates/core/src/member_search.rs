//! Finding members: the admin's filters (name, mobile prefix, number, code, openid, card, channel,
//! status), pages and export batches, and lookups by id.

use chrono::NaiveDate;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entity::members;
use crate::CoreError;

/// The member list's filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberFilter {
    /// Exact name, mobile (or its first digits, at least 3), membership number, card code or openid.
    pub q: Option<String>,
    /// Only this card.
    pub card_id: Option<i64>,
    /// Only this channel.
    pub outer_str: Option<String>,
    /// Only this status (`claimed`, `active`, `deleted`).
    pub status: Option<String>,
    /// Created on or after this day (UTC).
    pub from: Option<NaiveDate>,
    /// Created on or before this day (UTC).
    pub to: Option<NaiveDate>,
}

/// The upper bound of a prefix range over digits (letters sort after digits in every collation Kaika
/// meets), so that `column >= prefix AND column < bound` can use the column's index where `LIKE` may not.
fn digits_prefix_bound(prefix: &str) -> String {
    format!("{prefix}a")
}

fn member_condition(filter: &MemberFilter) -> Condition {
    let mut cond = Condition::all();
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        // Every alternative is an indexed column (migration 000006): at 100 000 members the search is
        // a handful of index probes, not a scan of the form answers.
        let mut any = Condition::any()
            .add(members::Column::Code.eq(q))
            .add(members::Column::MembershipNumber.eq(q))
            .add(members::Column::OaOpenid.eq(q))
            .add(members::Column::Name.eq(q));
        let digits = q.bytes().all(|b| b.is_ascii_digit() || b == b'+');
        any = if digits && q.len() >= 3 {
            any.add(
                Condition::all()
                    .add(members::Column::Mobile.gte(q))
                    .add(members::Column::Mobile.lt(digits_prefix_bound(q))),
            )
        } else {
            any.add(members::Column::Mobile.eq(q))
        };
        cond = cond.add(any);
    }
    if let Some(card_id) = filter.card_id {
        cond = cond.add(members::Column::CardId.eq(card_id));
    }
    if let Some(outer_str) = &filter.outer_str {
        cond = cond.add(members::Column::OuterStr.eq(outer_str.as_str()));
    }
    if let Some(status) = &filter.status {
        cond = cond.add(members::Column::Status.eq(status.as_str()));
    }
    if let Some(from) = filter.from {
        cond = cond
            .add(members::Column::CreatedAt.gte(from.and_hms_opt(0, 0, 0).map(|d| d.and_utc())));
    }
    if let Some(to) = filter.to.and_then(|d| d.succ_opt()) {
        cond =
            cond.add(members::Column::CreatedAt.lt(to.and_hms_opt(0, 0, 0).map(|d| d.and_utc())));
    }
    cond
}

/// A page of members matching a filter, newest first, and whether another page follows. No total is
/// counted: at 100 000 members a count over a text search costs more than the page itself.
pub async fn search(
    db: &impl ConnectionTrait,
    filter: &MemberFilter,
    page: u64,
    per_page: u64,
) -> Result<(Vec<members::Model>, bool), CoreError> {
    let per_page = per_page.clamp(1, 500);
    let mut rows = members::Entity::find()
        .filter(member_condition(filter))
        .order_by_desc(members::Column::Id)
        .offset(page * per_page)
        .limit(per_page + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > per_page;
    rows.truncate(per_page as usize);
    Ok((rows, more))
}

/// Members matching a filter with an id below `before` (all when `None`), newest first, at most
/// `limit`: the export walks the list with this, so it streams in constant memory.
pub async fn batch(
    db: &impl ConnectionTrait,
    filter: &MemberFilter,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<members::Model>, CoreError> {
    let mut cond = member_condition(filter);
    if let Some(before) = before {
        cond = cond.add(members::Column::Id.lt(before));
    }
    Ok(members::Entity::find()
        .filter(cond)
        .order_by_desc(members::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// One member.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<members::Model, CoreError> {
    members::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("member {id}"),
        })
}

/// The codes of some members by id (the sync page names each job's member).
pub async fn codes(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, String>, CoreError> {
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let rows: Vec<(i64, String)> = members::Entity::find()
        .select_only()
        .column(members::Column::Id)
        .column(members::Column::Code)
        .filter(members::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}
