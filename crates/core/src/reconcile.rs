//! Reconciliation (flow 4): compares each member's local totals with what the WeChat card shows
//! (`card/membercard/userinfo/get`), explains WeChat's `update_member_card` events by Kaika's own sends,
//! reports the drift per member, and with `fix` enqueues corrections that put the local totals back on
//! the card. Every run is stored ([`runs`], [`items`]) so the admin can show it.
//!
//! The ledger is the truth: a card that shows something else has drifted, whoever changed it. A member
//! whose changes are still in the outbox is reported as `pending`, not as drift.

use crate::clock;
use std::collections::HashMap;

use kaika_wechat::WechatClient;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::clients::Clients;
use crate::entity::reconciliation;
use crate::entity::reconciliation_items as items;
use crate::entity::wechat_card_activity as card_activity;
use crate::entity::{cards, members, outbox as outbox_entity};
use crate::outbox::{self, RemoteTotals};
use crate::CoreError;

/// The card shows the local totals.
pub const OUTCOME_IN_SYNC: &str = "in_sync";
/// The card shows something else.
pub const OUTCOME_DRIFT: &str = "drift";
/// Changes are still on their way to WeChat: not compared.
pub const OUTCOME_PENDING: &str = "pending";
/// WeChat could not be asked.
pub const OUTCOME_ERROR: &str = "error";

/// What to reconcile.
#[derive(Debug, Clone)]
pub struct Options {
    /// One card (WeChat card id or local id); every card when none.
    pub card: Option<String>,
    /// Enqueue corrections for the members that drifted.
    pub fix: bool,
    /// Who runs it (stored with the run).
    pub actor: String,
    /// `userinfo/get` calls at the same time.
    pub concurrency: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            card: None,
            fix: false,
            actor: "system".into(),
            concurrency: 8,
        }
    }
}

/// A points or balance change WeChat reported in an `update_member_card` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedChange {
    /// The stored activity row.
    pub id: i64,
    /// `ModifyBonus`.
    pub bonus: i64,
    /// `ModifyBalance`.
    pub balance: i64,
}

/// A change Kaika sent with `updateuser`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentChange {
    /// The outbox job.
    pub job_id: i64,
    /// `add_bonus` (0 when none).
    pub bonus: i64,
    /// `add_balance` (0 when none).
    pub balance: i64,
}

/// Which recorded changes Kaika's sends explain, and which they do not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explained {
    /// (activity id, job id) pairs.
    pub matched: Vec<(i64, i64)>,
    /// Changes nobody in Kaika sent: someone else changed the card.
    pub foreign: Vec<RecordedChange>,
}

/// Pairs each change WeChat reported (oldest first) with the oldest unmatched send of the same amounts.
/// A change without a send is foreign; a send without a change is not reported (its event may still be
/// on its way, and a repeated send that changed nothing causes no event).
pub fn explain_changes(changes: &[RecordedChange], sends: &[SentChange]) -> Explained {
    let mut used = vec![false; sends.len()];
    let mut explained = Explained::default();
    for change in changes {
        let found = sends.iter().enumerate().find(|(i, send)| {
            !used[*i] && send.bonus == change.bonus && send.balance == change.balance
        });
        match found {
            Some((i, send)) => {
                used[i] = true;
                explained.matched.push((change.id, send.job_id));
            }
            None => explained.foreign.push(*change),
        }
    }
    explained
}

/// One member's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The member.
    pub member_id: i64,
    /// The member's card (local id).
    pub card_id: i64,
    /// The card code.
    pub code: String,
    /// [`OUTCOME_IN_SYNC`], [`OUTCOME_DRIFT`], [`OUTCOME_PENDING`] or [`OUTCOME_ERROR`].
    pub outcome: &'static str,
    /// Local points.
    pub local_points: i64,
    /// Points on the card.
    pub remote_points: Option<i64>,
    /// Local balance (cents).
    pub local_balance: i64,
    /// Balance on the card.
    pub remote_balance: Option<i64>,
    /// Foreign `update_member_card` events of this member.
    pub foreign_events: i64,
    /// Their summed `ModifyBonus`.
    pub foreign_bonus: i64,
    /// Their summed `ModifyBalance`.
    pub foreign_balance: i64,
    /// The correction enqueued.
    pub correction_job_id: Option<i64>,
    /// An error or a remark.
    pub detail: Option<String>,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The stored run with its counters.
    pub run: reconciliation::Model,
    /// Every member compared, in sync ones included (only the others are stored).
    pub findings: Vec<Finding>,
}

/// Runs a reconciliation and stores its result.
pub async fn run(
    db: &DatabaseConnection,
    clients: &Clients,
    options: &Options,
) -> Result<Report, CoreError> {
    let card_list = select_cards(db, options.card.as_deref()).await?;
    let started = reconciliation::ActiveModel {
        card_id: Set(options.card.as_ref().and(card_list.first().map(|c| c.id))),
        fix: Set(options.fix),
        status: Set("running".into()),
        actor: Set(options.actor.chars().take(128).collect()),
        members_checked: Set(0),
        members_in_sync: Set(0),
        members_drifted: Set(0),
        members_pending: Set(0),
        members_failed: Set(0),
        corrections_enqueued: Set(0),
        foreign_events: Set(0),
        error: Set(None),
        started_at: Set(clock::now()),
        finished_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let mut findings = Vec::new();
    let mut failure = None;
    for card in &card_list {
        match reconcile_card(db, clients, card, options).await {
            Ok(mut found) => findings.append(&mut found),
            Err(err) => {
                failure = Some(format!("card {}: {err}", card.wechat_card_id));
                break;
            }
        }
    }
    let count = |outcome: &str| findings.iter().filter(|f| f.outcome == outcome).count() as i64;
    for finding in findings.iter().filter(|f| f.outcome != OUTCOME_IN_SYNC) {
        items::ActiveModel {
            run_id: Set(started.id),
            member_id: Set(finding.member_id),
            card_id: Set(finding.card_id),
            code: Set(finding.code.clone()),
            outcome: Set(finding.outcome.to_owned()),
            local_points: Set(finding.local_points),
            remote_points: Set(finding.remote_points),
            local_balance: Set(finding.local_balance),
            remote_balance: Set(finding.remote_balance),
            foreign_events: Set(finding.foreign_events),
            foreign_bonus: Set(finding.foreign_bonus),
            foreign_balance: Set(finding.foreign_balance),
            correction_job_id: Set(finding.correction_job_id),
            detail: Set(finding.detail.clone()),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    let mut finished: reconciliation::ActiveModel = started.into();
    finished.status = Set(if failure.is_some() { "failed" } else { "done" }.into());
    finished.error = Set(failure);
    finished.members_checked = Set(findings.len() as i64);
    finished.members_in_sync = Set(count(OUTCOME_IN_SYNC));
    finished.members_drifted = Set(count(OUTCOME_DRIFT));
    finished.members_pending = Set(count(OUTCOME_PENDING));
    finished.members_failed = Set(count(OUTCOME_ERROR));
    finished.corrections_enqueued = Set(findings
        .iter()
        .filter(|f| f.correction_job_id.is_some())
        .count() as i64);
    finished.foreign_events = Set(findings.iter().map(|f| f.foreign_events).sum());
    finished.finished_at = Set(Some(clock::now()));
    let run = finished.update(db).await?;
    Ok(Report { run, findings })
}

async fn select_cards(
    db: &DatabaseConnection,
    card: Option<&str>,
) -> Result<Vec<cards::Model>, CoreError> {
    match card {
        None => Ok(cards::Entity::find()
            .order_by_asc(cards::Column::Id)
            .all(db)
            .await?),
        Some(which) => {
            let found = match which.parse::<i64>() {
                Ok(id) => cards::Entity::find_by_id(id).one(db).await?,
                Err(_) => cards::Entity::find_by_wechat_id(which).one(db).await?,
            };
            found.map(|c| vec![c]).ok_or_else(|| CoreError::NotFound {
                what: format!("card {which}"),
            })
        }
    }
}

async fn reconcile_card(
    db: &DatabaseConnection,
    clients: &Clients,
    card: &cards::Model,
    options: &Options,
) -> Result<Vec<Finding>, CoreError> {
    let account = crate::accounts::of_card(db, card).await?;
    let client = clients.official_account(&account.app_id).await?;
    let active = members::Entity::find_for_card(card.id)
        .filter(members::Column::Status.eq("active"))
        .order_by_asc(members::Column::Id)
        .all(db)
        .await?;
    let foreign = explain_card_events(db, card.id, &active, options.fix).await?;

    let mut findings = Vec::with_capacity(active.len());
    let mut tasks = tokio::task::JoinSet::new();
    let mut queue = active.into_iter();
    loop {
        while tasks.len() < options.concurrency.max(1) {
            let Some(member) = queue.next() else {
                break;
            };
            let (db, client, wechat_card_id) =
                (db.clone(), client.clone(), card.wechat_card_id.clone());
            let fix = options.fix;
            tasks.spawn(async move { compare(&db, &client, &wechat_card_id, member, fix).await });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        match joined {
            Ok(Ok(mut finding)) => {
                if let Some(changes) = foreign.get(&finding.member_id) {
                    finding.foreign_events = changes.len() as i64;
                    finding.foreign_bonus = changes.iter().map(|c| c.bonus).sum();
                    finding.foreign_balance = changes.iter().map(|c| c.balance).sum();
                }
                findings.push(finding);
            }
            Ok(Err(err)) => return Err(err),
            Err(err) => {
                return Err(CoreError::invalid(
                    "reconcile",
                    format!("a comparison task failed: {err}"),
                ))
            }
        }
    }
    findings.sort_by_key(|f| f.member_id);
    Ok(findings)
}

/// Explains the card's unreconciled `update_member_card` events by the sends not yet matched; marks
/// the matched pairs (and, with `fix`, the foreign events the correction supersedes) as reconciled.
/// Returns the foreign changes per member.
async fn explain_card_events(
    db: &DatabaseConnection,
    card_id: i64,
    active: &[members::Model],
    fix: bool,
) -> Result<HashMap<i64, Vec<RecordedChange>>, CoreError> {
    let changes = crate::events::unreconciled_changes(db, card_id).await?;
    if changes.is_empty() {
        return Ok(HashMap::new());
    }
    let by_code: HashMap<&str, i64> = active.iter().map(|m| (m.code.as_str(), m.id)).collect();
    let mut per_member: HashMap<i64, Vec<RecordedChange>> = HashMap::new();
    for change in &changes {
        if let Some(member_id) = by_code.get(change.code.as_str()) {
            per_member
                .entry(*member_id)
                .or_default()
                .push(RecordedChange {
                    id: change.id,
                    bonus: change.modify_bonus,
                    balance: change.modify_balance,
                });
        }
    }
    let now = clock::now();
    let since = now - chrono::Duration::days(7);
    let mut foreign = HashMap::new();
    for (member_id, recorded) in per_member {
        let sends: Vec<SentChange> = outbox_entity::Entity::find_for_member(member_id)
            .filter(outbox_entity::Column::Status.eq(outbox::STATUS_SENT))
            .filter(outbox_entity::Column::EventMatchedAt.is_null())
            .filter(outbox_entity::Column::SentAt.gt(since))
            .order_by_asc(outbox_entity::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(|job| SentChange {
                job_id: job.id,
                bonus: job.points_delta.unwrap_or(0),
                balance: job.balance_delta.unwrap_or(0),
            })
            .collect();
        let explained = explain_changes(&recorded, &sends);
        let mut reconciled: Vec<i64> = explained.matched.iter().map(|(a, _)| *a).collect();
        let jobs: Vec<i64> = explained.matched.iter().map(|(_, j)| *j).collect();
        if fix {
            reconciled.extend(explained.foreign.iter().map(|c| c.id));
        }
        mark(db, &reconciled, &jobs).await?;
        if !explained.foreign.is_empty() {
            foreign.insert(member_id, explained.foreign);
        }
    }
    Ok(foreign)
}

async fn mark(
    db: &impl ConnectionTrait,
    activities: &[i64],
    jobs: &[i64],
) -> Result<(), CoreError> {
    let now = clock::now();
    for chunk in activities.chunks(500) {
        card_activity::Entity::update_many()
            .col_expr(card_activity::Column::ReconciledAt, Expr::value(now))
            .filter(card_activity::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    for chunk in jobs.chunks(500) {
        outbox_entity::Entity::update_many()
            .col_expr(outbox_entity::Column::EventMatchedAt, Expr::value(now))
            .filter(outbox_entity::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

async fn compare(
    db: &DatabaseConnection,
    client: &WechatClient,
    wechat_card_id: &str,
    member: members::Model,
    fix: bool,
) -> Result<Finding, CoreError> {
    let mut finding = Finding {
        member_id: member.id,
        card_id: member.card_id,
        code: member.code.clone(),
        outcome: OUTCOME_IN_SYNC,
        local_points: member.points,
        remote_points: None,
        local_balance: member.balance_cents,
        remote_balance: None,
        foreign_events: 0,
        foreign_bonus: 0,
        foreign_balance: 0,
        correction_job_id: None,
        detail: None,
    };
    if outbox::unsent_for_member(db, member.id).await? > 0 {
        finding.outcome = OUTCOME_PENDING;
        finding.detail = Some("changes are still being sent to WeChat".into());
        return Ok(finding);
    }
    let info = match client.member_user_info(wechat_card_id, &member.code).await {
        Ok(info) => info,
        Err(err) => {
            finding.outcome = OUTCOME_ERROR;
            finding.detail = Some(err.to_string());
            return Ok(finding);
        }
    };
    let remote = RemoteTotals {
        points: Some(info.bonus.unwrap_or(0)),
        balance: Some(info.balance.unwrap_or(0)),
    };
    finding.remote_points = remote.points;
    finding.remote_balance = remote.balance;
    // Read the local side after WeChat's: a change that landed in between is then either on both
    // sides or still unsent.
    let current = members::Entity::find_by_id(member.id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("member {}", member.id),
        })?;
    finding.local_points = current.points;
    finding.local_balance = current.balance_cents;
    if outbox::unsent_for_member(db, member.id).await? > 0 {
        finding.outcome = OUTCOME_PENDING;
        finding.detail = Some("changes are still being sent to WeChat".into());
        return Ok(finding);
    }
    if remote.points == Some(current.points) && remote.balance == Some(current.balance_cents) {
        return Ok(finding);
    }
    finding.outcome = OUTCOME_DRIFT;
    if fix {
        if let Some(job) = outbox::enqueue_correction(db, member.id, remote).await? {
            finding.correction_job_id = Some(job.id);
            finding.detail = Some(format!(
                "correction job {} sets points {} and balance {}",
                job.id,
                current.points,
                crate::display::yuan(current.balance_cents)
            ));
        }
    }
    Ok(finding)
}

/// Stored runs, newest first.
pub async fn runs(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<reconciliation::Model>, CoreError> {
    Ok(reconciliation::Entity::find()
        .order_by_desc(reconciliation::Column::Id)
        .limit(limit.max(1))
        .all(db)
        .await?)
}

/// The members of a run that were not in sync.
pub async fn items(db: &impl ConnectionTrait, run_id: i64) -> Result<Vec<items::Model>, CoreError> {
    Ok(items::Entity::find()
        .filter(items::Column::RunId.eq(run_id))
        .order_by_asc(items::Column::Id)
        .all(db)
        .await?)
}

/// What the sync page shows: the jobs not on the cards yet and the last reconciliation.
#[derive(Debug, Clone)]
pub struct SyncState {
    /// How many jobs have each status.
    pub counts: Vec<(String, u64)>,
    /// Failed, then pending, then sending jobs (newest first within each), with their member's code.
    pub jobs: Vec<(outbox_entity::Model, String)>,
    /// The last run.
    pub run: Option<reconciliation::Model>,
    /// The members of that run that were not in sync.
    pub drift: Vec<items::Model>,
}

/// Reads the sync page: at most `jobs_per_status` jobs of each open status and the last run.
pub async fn sync_state(
    db: &impl ConnectionTrait,
    jobs_per_status: u64,
) -> Result<SyncState, CoreError> {
    let mut rows = Vec::new();
    for status in [
        outbox::STATUS_FAILED,
        outbox::STATUS_PENDING,
        outbox::STATUS_SENDING,
    ] {
        let filter = outbox::JobFilter {
            status: Some(status.to_owned()),
            member_id: None,
            limit: Some(jobs_per_status),
        };
        rows.extend(outbox::list(db, &filter).await?);
    }
    let member_ids: Vec<i64> = rows.iter().map(|j| j.member_id).collect();
    let codes = crate::member_search::codes(db, &member_ids).await?;
    let jobs = rows
        .into_iter()
        .map(|job| {
            let code = codes.get(&job.member_id).cloned().unwrap_or_default();
            (job, code)
        })
        .collect();
    let run = runs(db, 1).await?.into_iter().next();
    let drift = match &run {
        Some(run) => items(db, run.id).await?,
        None => Vec::new(),
    };
    Ok(SyncState {
        counts: outbox::count_by_status(db).await?,
        jobs,
        run,
        drift,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: i64, bonus: i64, balance: i64) -> RecordedChange {
        RecordedChange { id, bonus, balance }
    }

    fn send(job_id: i64, bonus: i64, balance: i64) -> SentChange {
        SentChange {
            job_id,
            bonus,
            balance,
        }
    }

    #[test]
    fn each_send_explains_one_change_of_the_same_amounts_and_the_rest_is_foreign() {
        let explained = explain_changes(
            &[
                change(1, 10, 0),
                change(2, 10, 0),
                change(3, -500, 0),
                change(4, 0, 300),
            ],
            &[send(7, 10, 0), send(8, 0, 300), send(9, 5, 0)],
        );
        assert_eq!(explained.matched, vec![(1, 7), (4, 8)]);
        assert_eq!(
            explained.foreign,
            vec![change(2, 10, 0), change(3, -500, 0)]
        );
    }
}
