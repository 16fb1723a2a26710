//! Demo members for trying Kaika and for benchmarks: deterministic, inserted in batches, never sent to
//! WeChat.

use std::collections::HashMap;

use crate::clock;
use crate::stats::{self, DayCounts};
use chrono::{Duration, NaiveDate};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use crate::entity::{cards, channels, members};
use crate::CoreError;

/// What [`seed_members`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    /// The card the members hold.
    pub card_id: i64,
    /// Members inserted.
    pub inserted: u64,
}

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高",
];
const GIVEN: [&str; 24] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华",
];

/// A cheap, deterministic mix of `n` (the demo data is the same on every run).
fn mix(n: u64) -> u64 {
    let mut x = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Inserts `count` demo members on a card (the first card when `card_id` is `None`), `batch` rows per
/// `INSERT`: codes `9…` (12 digits), membership numbers `DEMO…`, Chinese names, mobiles `13…`, the
/// card's channels, creation dates over the last 90 days, each counted in the funnel (opened, claimed,
/// activated, and deleted for the 2 % deleted) on its day. For benchmarks and demos only: no ledger
/// entries, nothing is sent to WeChat. Numbers continue after the card's existing members, so it can be
/// run again.
pub async fn seed_members(
    db: &impl ConnectionTrait,
    card_id: Option<i64>,
    count: u64,
    batch: u64,
) -> Result<Seeded, CoreError> {
    let card = match card_id {
        Some(id) => cards::Entity::find_by_id(id).one(db).await?,
        None => {
            cards::Entity::find()
                .order_by_asc(cards::Column::Id)
                .one(db)
                .await?
        }
    }
    .ok_or_else(|| CoreError::NotFound {
        what: "a card to seed members on (create one, or serve once in sandbox mode)".into(),
    })?;
    let channels: Vec<String> = channels::Entity::find()
        .filter(channels::Column::CardId.eq(card.id))
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.outer_str)
        .collect();
    let start = members::Entity::find_for_card(card.id).count(db).await? + 1;
    let now = clock::now();
    let batch = batch.clamp(1, 1000);
    let mut inserted = 0;
    // The funnel of the demo members, so that the dashboard's counters and chart include them.
    let mut funnel: HashMap<(String, NaiveDate), DayCounts> = HashMap::new();
    while inserted < count {
        let n = batch.min(count - inserted);
        let rows: Vec<members::ActiveModel> = (0..n)
            .map(|i| {
                let seq = start + inserted + i;
                let r = mix(seq);
                let name = format!(
                    "{}{}{}",
                    SURNAMES[(r % 20) as usize],
                    GIVEN[((r >> 8) % 24) as usize],
                    if r & (1 << 20) == 0 {
                        GIVEN[((r >> 24) % 24) as usize]
                    } else {
                        ""
                    }
                );
                let mobile = format!("1{}{:09}", 3 + (r >> 32) % 7, seq % 1_000_000_000);
                let created = now - Duration::seconds(((r >> 40) % (90 * 86_400)) as i64);
                let answers = serde_json::json!({
                    "common_field_list": [
                        {"name": "USER_FORM_INFO_FLAG_MOBILE", "value": mobile},
                        {"name": "USER_FORM_INFO_FLAG_NAME", "value": name},
                    ],
                    "custom_field_list": [],
                });
                let status = if r.is_multiple_of(50) {
                    "deleted"
                } else {
                    "active"
                };
                let outer_str = if channels.is_empty() {
                    None
                } else {
                    Some(channels[(r as usize >> 4) % channels.len()].clone())
                };
                let day = funnel
                    .entry((outer_str.clone().unwrap_or_default(), created.date_naive()))
                    .or_default();
                day.params_requested += 1;
                day.claimed += 1;
                day.activated += 1;
                day.deleted += i64::from(status == "deleted");
                members::ActiveModel {
                    card_id: Set(card.id),
                    code: Set(format!("9{seq:011}")),
                    oa_openid: Set(Some(format!("demo_o{seq}"))),
                    mini_openid: Set(Some(format!("demo_m{seq}"))),
                    unionid: Set(None),
                    membership_number: Set(Some(format!("DEMO{seq:08}"))),
                    points: Set(((r >> 12) % 5000) as i64),
                    balance_cents: Set(((r >> 16) % 100) as i64 * 100),
                    level: Set(None),
                    status: Set(status.into()),
                    form_answers: Set(Some(answers.to_string())),
                    outer_str: Set(outer_str),
                    mobile: Set(Some(mobile)),
                    name: Set(Some(name)),
                    activated_at: Set(Some(created)),
                    created_at: Set(created),
                    updated_at: Set(created),
                    ..Default::default()
                }
            })
            .collect();
        members::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
        inserted += n;
    }
    for ((outer_str, day), counts) in funnel {
        stats::add(db, card.id, &outer_str, day, counts).await?;
    }
    // Fresh statistics: right after a bulk insert PostgreSQL still plans for a small table (a
    // backward scan of the primary key instead of the search indexes) until autovacuum analyses it.
    db.execute_unprepared("ANALYZE members").await?;
    Ok(Seeded {
        card_id: card.id,
        inserted,
    })
}
