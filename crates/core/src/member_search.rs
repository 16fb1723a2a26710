//! Finding members: the admin's filters (name, mobile prefix, number, code, openid, card, channel,
//! status), pages and export batches, and lookups by id.

use std::collections::HashMap;

use chrono::NaiveDate;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::audit::Actor;
use crate::display::Zone;
use crate::entity::{cards, channels, members};
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
    /// Created on or after this day (in `zone`).
    pub from: Option<NaiveDate>,
    /// Created on or before this day (in `zone`).
    pub to: Option<NaiveDate>,
    /// The time zone of `from` and `to`: the admin's.
    pub zone: Zone,
    /// The order of a page (the export always walks newest first).
    pub sort: MemberSort,
}

/// The order of the member list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MemberSort {
    /// Newest first (by creation).
    #[default]
    Newest,
    /// Most recently activated first; members not activated last.
    ActivatedNewest,
    /// Earliest activated first; members not activated last.
    ActivatedOldest,
}

impl MemberSort {
    /// `activated_desc` or `activated_asc`; anything else is [`MemberSort::Newest`].
    pub fn parse(text: &str) -> Self {
        match text {
            "activated_desc" => Self::ActivatedNewest,
            "activated_asc" => Self::ActivatedOldest,
            _ => Self::Newest,
        }
    }

    /// The value [`MemberSort::parse`] reads back (empty for the default).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Newest => "",
            Self::ActivatedNewest => "activated_desc",
            Self::ActivatedOldest => "activated_asc",
        }
    }
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
        cond = cond.add(members::Column::CreatedAt.gte(filter.zone.start_of(from)));
    }
    if let Some(to) = filter.to.and_then(|d| d.succ_opt()) {
        cond = cond.add(members::Column::CreatedAt.lt(filter.zone.start_of(to)));
    }
    cond
}

/// A page of members matching a filter in the filter's order, and whether another page follows.
pub async fn search(
    db: &impl ConnectionTrait,
    filter: &MemberFilter,
    page: u64,
    per_page: u64,
) -> Result<(Vec<members::Model>, bool), CoreError> {
    let per_page = per_page.clamp(1, 500);
    let mut query = members::Entity::find().filter(member_condition(filter));
    // Members never activated go last in both directions: NULLs sort differently on SQLite and
    // PostgreSQL, `activated_at IS NULL` (false before true) the same on both.
    let not_activated = Expr::col(members::Column::ActivatedAt).is_null();
    query = match filter.sort {
        MemberSort::Newest => query,
        MemberSort::ActivatedNewest => query
            .order_by_asc(not_activated)
            .order_by_desc(members::Column::ActivatedAt),
        MemberSort::ActivatedOldest => query
            .order_by_asc(not_activated)
            .order_by_asc(members::Column::ActivatedAt),
    };
    let mut rows = query
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

/// A member found, with its card's title (empty when the card is gone).
#[derive(Debug, Clone)]
pub struct Found {
    /// The member.
    pub member: members::Model,
    /// Its card's title.
    pub card_title: String,
}

/// A page of the admin's member list.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// The members of the page, in the filter's order.
    pub found: Vec<Found>,
    /// Whether another page follows.
    pub more: bool,
    /// Members matching the filter, on every page.
    pub total: u64,
    /// Pages of `per_page` members (at least 1).
    pub pages: u64,
    /// Every card, oldest first (the list filters by card).
    pub cards: Vec<cards::Model>,
    /// Every channel, by card then name (the list filters by channel).
    pub channels: Vec<channels::Model>,
}

/// A page of the members matching a filter ([`search`]) with their cards' titles and how many match.
pub async fn list_page(
    db: &impl ConnectionTrait,
    filter: &MemberFilter,
    page: u64,
    per_page: u64,
) -> Result<ListPage, CoreError> {
    let (rows, more) = search(db, filter, page, per_page).await?;
    let total = members::Entity::find()
        .filter(member_condition(filter))
        .count(db)
        .await?;
    let cards = cards::Entity::find()
        .order_by_asc(cards::Column::Id)
        .all(db)
        .await?;
    let channels = channels::Entity::find()
        .order_by_asc(channels::Column::CardId)
        .order_by_asc(channels::Column::Name)
        .all(db)
        .await?;
    let titles: HashMap<i64, String> = cards.iter().map(|c| (c.id, c.title.clone())).collect();
    let per_page = per_page.clamp(1, 500);
    Ok(ListPage {
        found: with_titles(rows, &titles),
        more,
        total,
        pages: total.div_ceil(per_page).max(1),
        cards,
        channels,
    })
}

fn with_titles(rows: Vec<members::Model>, titles: &HashMap<i64, String>) -> Vec<Found> {
    rows.into_iter()
        .map(|member| Found {
            card_title: titles.get(&member.card_id).cloned().unwrap_or_default(),
            member,
        })
        .collect()
}

/// Members exported per batch.
const EXPORT_BATCH: u64 = 500;

/// An audited export of the members matching a filter, read batch by batch ([`Export::next_batch`]) so
/// that it streams in constant memory.
#[derive(Debug)]
pub struct Export {
    db: DatabaseConnection,
    filter: MemberFilter,
    titles: HashMap<i64, String>,
    before: Option<i64>,
    columns: Vec<AnswerColumn>,
}

/// A column of the export holding one answer of the activation form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerColumn {
    /// A common field (`USER_FORM_INFO_FLAG_*`) other than name and mobile, which have columns of
    /// their own.
    Common(String),
    /// A free-text or choice question, by its text.
    Question(String),
}

/// The answer columns of the forms of `cards`, in the order of their designers: common fields, then
/// free-text questions, then choice questions; each once.
pub fn answer_columns(cards: &[cards::Model]) -> Vec<AnswerColumn> {
    let own_columns = ["USER_FORM_INFO_FLAG_NAME", "USER_FORM_INFO_FLAG_MOBILE"];
    let mut columns = Vec::new();
    for card in cards {
        let design = crate::activation_form::design_of(card);
        let common = design
            .common
            .iter()
            .filter(|(flag, place)| {
                *place != crate::activation_form::Place::Off && !own_columns.contains(flag)
            })
            .map(|(flag, _)| AnswerColumn::Common((*flag).to_owned()));
        let text = crate::activation_form::lines(&design.custom_required)
            .into_iter()
            .chain(crate::activation_form::lines(&design.custom_optional))
            .map(AnswerColumn::Question);
        let choices = design
            .rich
            .iter()
            .filter(|slot| {
                slot.place != crate::activation_form::Place::Off && !slot.name.trim().is_empty()
            })
            .map(|slot| AnswerColumn::Question(slot.name.trim().to_owned()));
        for column in common.chain(text).chain(choices) {
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
    }
    columns
}

/// A member's answers in the order of `columns`, and the answers no column holds (a question since
/// removed from the form) as `question: answer` joined with `; `, so that nothing is lost.
pub fn answer_cells(columns: &[AnswerColumn], member: &members::Model) -> (Vec<String>, String) {
    let mut cells = vec![String::new(); columns.len()];
    let mut others = Vec::new();
    for answer in crate::members::Answers::of(member).all() {
        let at = columns.iter().position(|column| match column {
            AnswerColumn::Common(flag) => answer.common_flag.as_deref() == Some(flag.as_str()),
            AnswerColumn::Question(text) => answer.common_flag.is_none() && answer.name == *text,
        });
        match at {
            Some(at) => cells[at] = answer.value,
            None if answer.common_flag.as_deref().is_some_and(|f| {
                f == "USER_FORM_INFO_FLAG_NAME" || f == "USER_FORM_INFO_FLAG_MOBILE"
            }) => {}
            None => others.push(format!("{}: {}", answer.name, answer.value)),
        }
    }
    (cells, others.join("; "))
}

/// Starts an export and audits it as `members.export`: `params` is the list's query string, `masked`
/// whether personal data is masked in it.
pub async fn export(
    db: &DatabaseConnection,
    filter: MemberFilter,
    params: String,
    masked: bool,
    by: &Actor,
) -> Result<Export, CoreError> {
    let details = serde_json::json!({"filter": params, "masked": masked});
    by.record(db, "members.export", "members".into(), None, Some(details))
        .await?;
    let cards = cards::Entity::find()
        .order_by_asc(cards::Column::Id)
        .all(db)
        .await?;
    let exported: Vec<cards::Model> = cards
        .iter()
        .filter(|c| filter.card_id.is_none_or(|id| id == c.id))
        .cloned()
        .collect();
    Ok(Export {
        db: db.clone(),
        columns: answer_columns(&exported),
        filter,
        titles: cards.into_iter().map(|c| (c.id, c.title)).collect(),
        before: None,
    })
}

impl Export {
    /// The answer columns of the exported cards' forms ([`answer_columns`]).
    pub fn answer_columns(&self) -> &[AnswerColumn] {
        &self.columns
    }

    /// The next members, newest first; `None` after the last.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<Found>>, CoreError> {
        let rows = batch(&self.db, &self.filter, self.before, EXPORT_BATCH).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        self.before = rows.last().map(|r| r.id);
        Ok(Some(with_titles(rows, &self.titles)))
    }
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
