//! The points and balance ledger: append-only entries, with the member's totals moved in the same
//! transaction, and an outbox job that mirrors each change onto the WeChat card.
//!
//! Nothing here updates or deletes an entry: a mistake is undone by a reversal, a new entry pointing at
//! the one it reverses ([`reverse`]). The idempotency key is unique per member: the same key with the
//! same entry returns the stored entry, with another entry it is a conflict.

use crate::refusal::Refusal;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use serde::{Deserialize, Serialize};

use crate::audit::Actor;
use crate::entity::{cards, ledger_entries, members};
use crate::outbox;
use crate::problems::{check_text, Problem, Problems};
use crate::CoreError;

/// The longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// What an entry counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    /// Points (WeChat's "bonus").
    Points,
    /// Balance, in cents.
    Balance,
}

impl LedgerKind {
    /// The card's total this kind moves, for the outbox job that mirrors an entry.
    pub fn card_total(self) -> outbox::Total {
        match self {
            Self::Points => outbox::Total::Points,
            Self::Balance => outbox::Total::Balance,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Points => "points",
            Self::Balance => "balance",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Points, Self::Balance]
            .into_iter()
            .find(|k| k.as_str() == text)
    }

    fn total_column(self) -> members::Column {
        match self {
            Self::Points => members::Column::Points,
            Self::Balance => members::Column::BalanceCents,
        }
    }

    fn total_of(self, member: &members::Model) -> i64 {
        match self {
            Self::Points => member.points,
            Self::Balance => member.balance_cents,
        }
    }
}

/// Why an entry was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Credited at activation.
    Welcome,
    /// Earned with a purchase.
    Purchase,
    /// Spent.
    Redemption,
    /// Corrected by hand.
    Adjustment,
    /// Undoes another entry.
    Reversal,
    /// Brought over from another system.
    Import,
    /// Expired.
    Expiry,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Reason; 7] = [
        Self::Welcome,
        Self::Purchase,
        Self::Redemption,
        Self::Adjustment,
        Self::Reversal,
        Self::Import,
        Self::Expiry,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::Purchase => "purchase",
            Self::Redemption => "redemption",
            Self::Adjustment => "adjustment",
            Self::Reversal => "reversal",
            Self::Import => "import",
            Self::Expiry => "expiry",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Whether other systems may use it: `welcome` belongs to activation and `reversal` to
    /// [`reverse`].
    pub fn is_external(self) -> bool {
        !matches!(self, Self::Welcome | Self::Reversal)
    }

    /// The `record_bonus`/`record_balance` text shown on the card (at most 14 characters).
    pub fn record_text(self, kind: LedgerKind, amount: i64) -> &'static str {
        let credit = amount > 0;
        match (kind, self) {
            (LedgerKind::Points, Self::Welcome) => "开卡礼积分",
            (LedgerKind::Points, Self::Purchase) if credit => "消费获得积分",
            (LedgerKind::Points, Self::Purchase) => "消费扣减积分",
            (LedgerKind::Points, Self::Redemption) => "积分兑换",
            (LedgerKind::Points, Self::Adjustment) => "积分调整",
            (LedgerKind::Points, Self::Reversal) => "积分冲正",
            (LedgerKind::Points, Self::Import) => "积分导入",
            (LedgerKind::Points, Self::Expiry) => "积分过期",
            (LedgerKind::Balance, Self::Welcome) => "开卡赠送余额",
            (LedgerKind::Balance, Self::Purchase) if credit => "余额充值",
            (LedgerKind::Balance, Self::Purchase) => "消费扣款",
            (LedgerKind::Balance, Self::Redemption) => "余额抵扣",
            (LedgerKind::Balance, Self::Adjustment) => "余额调整",
            (LedgerKind::Balance, Self::Reversal) => "余额冲正",
            (LedgerKind::Balance, Self::Import) => "余额导入",
            (LedgerKind::Balance, Self::Expiry) => "余额过期",
        }
    }
}

/// An entry to append.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// The member.
    pub member_id: i64,
    /// Points or balance.
    pub kind: LedgerKind,
    /// The signed change; never zero.
    pub amount: i64,
    /// Why.
    pub reason: Reason,
    /// Free text.
    pub note: Option<String>,
    /// Who.
    pub actor: String,
    /// Unique per member; the same key again returns the first entry.
    pub idempotency_key: String,
}

/// The result of [`record_in`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The entry (the stored one on a replay).
    pub entry: ledger_entries::Model,
    /// Whether the key had been used already with the same entry: nothing was written.
    pub replayed: bool,
}

/// Appends an entry and moves the member's total, on a connection that is already inside a transaction
/// (the caller's, so that the entry commits with whatever else the caller writes); see [`record_in`].
pub async fn append_in(
    txn: &impl ConnectionTrait,
    entry: &NewEntry,
) -> Result<ledger_entries::Model, CoreError> {
    Ok(record_in(txn, entry).await?.entry)
}

/// Appends an entry, moves the member's total and enqueues the outbox job that mirrors the change onto
/// the WeChat card, all on the caller's transaction.
///
/// Refused, with nothing written: a zero amount (`Invalid`), an unknown member (`NotFound`), a member
/// whose card is not active (`member_not_active`), a balance change on a card created without stored
/// value (`balance_not_supported`), a debit beyond the total (`insufficient_points`,
/// `insufficient_balance`), a credit beyond the largest total (`total_too_large`). A key already used for
/// this member returns the stored entry when it says the same thing (`replayed`), and a `Conflict`
/// otherwise.
///
/// `welcome` entries enqueue nothing: `membercard/activate` carried them to WeChat as `init_bonus`.
///
/// The first statement writes: SQLite then takes its write lock at once and waits its busy timeout for
/// it, instead of failing when a read transaction tries to become a write transaction. On PostgreSQL the
/// same statement locks the member's row, so the entries of one member are written one at a time.
pub async fn record_in(
    txn: &impl ConnectionTrait,
    entry: &NewEntry,
) -> Result<Recorded, CoreError> {
    write(txn, entry, None).await
}

async fn write(
    txn: &impl ConnectionTrait,
    entry: &NewEntry,
    reverses: Option<i64>,
) -> Result<Recorded, CoreError> {
    if entry.amount == 0 {
        return Err(CoreError::invalid("amount", "must not be zero"));
    }
    check_key(&entry.idempotency_key)?;
    let moved = move_total(txn, entry.member_id, entry.kind, entry.amount).await?;
    if let Some(existing) = find_by_key(txn, entry.member_id, &entry.idempotency_key).await? {
        if moved {
            move_total(txn, entry.member_id, entry.kind, -entry.amount).await?;
        }
        let same = existing.kind == entry.kind.as_str()
            && existing.amount == entry.amount
            && existing.reason == entry.reason.as_str()
            && existing.note == entry.note
            && existing.reverses_id == reverses;
        return if same {
            Ok(Recorded {
                entry: existing,
                replayed: true,
            })
        } else {
            Err(CoreError::Conflict {
                what: format!(
                    "ledger entry with idempotency key {:?}",
                    entry.idempotency_key
                ),
            })
        };
    }
    let member = members::Entity::find_by_id(entry.member_id)
        .one(txn)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("member {}", entry.member_id),
        })?;
    if let Some(reversed) = reverses {
        let already = ledger_entries::Entity::find()
            .filter(ledger_entries::Column::ReversesId.eq(reversed))
            .one(txn)
            .await?;
        if let Some(already) = already {
            if moved {
                move_total(txn, entry.member_id, entry.kind, -entry.amount).await?;
            }
            return Err(CoreError::refused(
                Refusal::AlreadyReversed,
                format!("entry {reversed} was reversed by entry {}", already.id),
            ));
        }
    }
    if !moved {
        if entry.kind == LedgerKind::Balance {
            let stored_value = cards::Entity::find_by_id(member.card_id)
                .one(txn)
                .await?
                .is_some_and(|card| card.stored_value);
            if !stored_value {
                return Err(CoreError::refused(
                    Refusal::BalanceNotSupported,
                    "the member's card was created without stored value: it has points only",
                ));
            }
        }
        return Err(refusal(&member, entry));
    }
    let row = ledger_entries::ActiveModel {
        member_id: Set(entry.member_id),
        kind: Set(entry.kind.as_str().to_owned()),
        amount: Set(entry.amount),
        resulting_total: Set(entry.kind.total_of(&member)),
        reason: Set(entry.reason.as_str().to_owned()),
        note: Set(entry.note.clone()),
        actor: Set(entry.actor.clone()),
        idempotency_key: Set(entry.idempotency_key.clone()),
        reverses_id: Set(reverses),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    if entry.reason != Reason::Welcome {
        let record = entry.reason.record_text(entry.kind, entry.amount);
        outbox::enqueue_entry(txn, &row, entry.kind.card_total(), record).await?;
    }
    Ok(Recorded {
        entry: row,
        replayed: false,
    })
}

fn check_key(key: &str) -> Result<(), CoreError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(CoreError::invalid(
            "idempotency_key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"),
        ));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CoreError::invalid(
            "idempotency_key",
            "must be printable ASCII without spaces",
        ));
    }
    Ok(())
}

/// Why a total did not move.
fn refusal(member: &members::Model, entry: &NewEntry) -> CoreError {
    let total = entry.kind.total_of(member);
    if member.status != "active" {
        return CoreError::refused(
            Refusal::MemberNotActive,
            format!(
                "member {} is {}: only active cards have points and balance",
                member.id, member.status
            ),
        );
    }
    match (entry.kind, entry.amount < 0) {
        (LedgerKind::Points, true) => CoreError::refused(
            Refusal::InsufficientPoints,
            format!(
                "insufficient_points: the member has {total} points, {} cannot be debited",
                -i128::from(entry.amount)
            ),
        ),
        (LedgerKind::Balance, true) => CoreError::refused(
            Refusal::InsufficientBalance,
            format!(
                "insufficient_balance: the member has {total} cents, {} cannot be debited",
                -i128::from(entry.amount)
            ),
        ),
        (_, false) => CoreError::refused(
            Refusal::TotalTooLarge,
            format!("a total of {total} plus {} does not fit", entry.amount),
        ),
    }
}

/// Adds `amount` to an active member's total unless the total would go negative or overflow; whether
/// it moved.
async fn move_total(
    txn: &impl ConnectionTrait,
    member_id: i64,
    kind: LedgerKind,
    amount: i64,
) -> Result<bool, CoreError> {
    let column = kind.total_column();
    let mut update = members::Entity::update_many()
        .col_expr(column, Expr::col(column).add(amount))
        .filter(members::Column::Id.eq(member_id))
        .filter(members::Column::Status.eq("active"));
    // The bound is checked on the old total so the sum itself is never computed when it would overflow.
    update = if amount < 0 {
        let Some(debit) = amount.checked_neg() else {
            return Ok(false);
        };
        update.filter(Expr::col(column).gte(debit))
    } else {
        update.filter(Expr::col(column).lte(i64::MAX - amount))
    };
    if kind == LedgerKind::Balance {
        // Only a card created with stored value shows a balance at WeChat.
        update = update.filter(
            members::Column::CardId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(cards::Column::Id)
                    .from(cards::Entity)
                    .and_where(Expr::col(cards::Column::StoredValue).eq(true))
                    .to_owned(),
            ),
        );
    }
    let moved = update.exec(txn).await?;
    Ok(moved.rows_affected == 1)
}

async fn find_by_key(
    txn: &impl ConnectionTrait,
    member_id: i64,
    key: &str,
) -> Result<Option<ledger_entries::Model>, CoreError> {
    Ok(ledger_entries::Entity::find()
        .filter(ledger_entries::Column::MemberId.eq(member_id))
        .filter(ledger_entries::Column::IdempotencyKey.eq(key))
        .one(txn)
        .await?)
}

/// [`append_in`] in a transaction of its own.
pub async fn append(
    db: &impl TransactionTrait,
    entry: &NewEntry,
) -> Result<ledger_entries::Model, CoreError> {
    Ok(record(db, entry).await?.entry)
}

/// [`record_in`] in a transaction of its own.
pub async fn record(db: &impl TransactionTrait, entry: &NewEntry) -> Result<Recorded, CoreError> {
    let txn = db.begin().await?;
    let recorded = record_in(&txn, entry).await?;
    txn.commit().await?;
    Ok(recorded)
}

/// Who reverses what.
#[derive(Debug, Clone)]
pub struct Reversal {
    /// The entry to undo.
    pub entry_id: i64,
    /// Free text.
    pub note: Option<String>,
    /// Who.
    pub actor: String,
    /// Unique per member, as for any entry.
    pub idempotency_key: String,
}

/// Undoes an entry with a new `reversal` entry of the opposite amount that points at it. An entry is
/// reversed at most once (`already_reversed`); a reversal is not reversed again (`entry_is_reversal`);
/// a reversal that would make the total negative is refused like any debit.
pub async fn reverse(
    db: &impl TransactionTrait,
    reversal: &Reversal,
) -> Result<Recorded, CoreError> {
    let txn = db.begin().await?;
    let recorded = reverse_in(&txn, reversal).await?;
    txn.commit().await?;
    Ok(recorded)
}

/// [`reverse`] on the caller's transaction.
pub async fn reverse_in(
    txn: &impl ConnectionTrait,
    reversal: &Reversal,
) -> Result<Recorded, CoreError> {
    // Entries never change, so reading the original first does not race with anything; the write
    // lock is still taken by the first statement of `write`.
    let original = find_entry(txn, reversal.entry_id).await?;
    if original.reverses_id.is_some() {
        return Err(CoreError::refused(
            Refusal::EntryIsReversal,
            format!("entry {} is itself a reversal", original.id),
        ));
    }
    let kind = LedgerKind::parse(&original.kind).ok_or_else(|| {
        CoreError::invalid("kind", format!("unknown stored kind {:?}", original.kind))
    })?;
    let amount = original
        .amount
        .checked_neg()
        .ok_or_else(|| CoreError::invalid("amount", "cannot be negated"))?;
    let entry = NewEntry {
        member_id: original.member_id,
        kind,
        amount,
        reason: Reason::Reversal,
        note: reversal.note.clone(),
        actor: reversal.actor.clone(),
        idempotency_key: reversal.idempotency_key.clone(),
    };
    write(txn, &entry, Some(original.id)).await
}

/// One entry.
pub async fn find_entry(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<ledger_entries::Model, CoreError> {
    ledger_entries::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("ledger entry {id}"),
        })
}

/// A member's entries, newest first.
pub async fn entries(
    db: &impl ConnectionTrait,
    member_id: i64,
) -> Result<Vec<ledger_entries::Model>, CoreError> {
    Ok(ledger_entries::Entity::find()
        .filter(ledger_entries::Column::MemberId.eq(member_id))
        .order_by_desc(ledger_entries::Column::Id)
        .all(db)
        .await?)
}

/// One page of a member's entries, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The entries.
    pub entries: Vec<ledger_entries::Model>,
    /// Pass as `before` for the next page; none when this is the last.
    pub next_before: Option<i64>,
}

/// A member's entries older than the entry `before` (all when none), newest first, at most `limit`
/// (1 to 200).
pub async fn entries_page(
    db: &impl ConnectionTrait,
    member_id: i64,
    before: Option<i64>,
    limit: u64,
) -> Result<Page, CoreError> {
    let limit = limit.clamp(1, 200);
    let mut query =
        ledger_entries::Entity::find().filter(ledger_entries::Column::MemberId.eq(member_id));
    if let Some(before) = before {
        query = query.filter(ledger_entries::Column::Id.lt(before));
    }
    let mut entries = query
        .order_by_desc(ledger_entries::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = entries.len() as u64 > limit;
    entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_before = if more {
        entries.last().map(|e| e.id)
    } else {
        None
    };
    Ok(Page {
        entries,
        next_before,
    })
}

/// How another system names a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberLookup {
    /// The card code.
    Code(String),
    /// The membership number.
    MembershipNumber(String),
    /// The mobile number the member gave in the activation form.
    Mobile(String),
}

/// Finds members by code, membership number or mobile, optionally on one card (local id); several
/// cards may have a member with the same mobile. At most 50.
pub async fn find_members(
    db: &impl ConnectionTrait,
    lookup: &MemberLookup,
    card_id: Option<i64>,
) -> Result<Vec<members::Model>, CoreError> {
    let mut query = members::Entity::find();
    if let Some(card_id) = card_id {
        query = query.filter(members::Column::CardId.eq(card_id));
    }
    let value = match lookup {
        MemberLookup::Code(v) | MemberLookup::MembershipNumber(v) | MemberLookup::Mobile(v) => {
            v.trim()
        }
    };
    if value.is_empty() || value.len() > 64 {
        return Err(CoreError::invalid("lookup", "must be 1 to 64 characters"));
    }
    match lookup {
        MemberLookup::Code(_) => query = query.filter(members::Column::Code.eq(value)),
        MemberLookup::MembershipNumber(_) => {
            query = query.filter(members::Column::MembershipNumber.eq(value))
        }
        MemberLookup::Mobile(_) => {
            if !value
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'+' || b == b'-')
            {
                return Err(CoreError::invalid(
                    "mobile",
                    "digits only (with an optional + or -)",
                ));
            }
            // A cheap filter in SQL (no LIKE wildcard can be in `value`), the exact check on the parsed
            // answers.
            query = query.filter(members::Column::FormAnswers.contains(value));
        }
    }
    let rows = query
        .order_by_asc(members::Column::Id)
        .limit(200)
        .all(db)
        .await?;
    let mut found: Vec<members::Model> = match lookup {
        MemberLookup::Mobile(_) => rows
            .into_iter()
            .filter(|m| mobile_of(m).as_deref() == Some(value))
            .collect(),
        _ => rows,
    };
    found.truncate(50);
    Ok(found)
}

/// The mobile number in a member's activation answers.
pub fn mobile_of(member: &members::Model) -> Option<String> {
    let answers: kaika_wechat::membercard::FormAnswers =
        serde_json::from_str(member.form_answers.as_deref()?).ok()?;
    answers
        .common(&kaika_wechat::card::UserFormField::Mobile)
        .map(|v| v.trim().to_owned())
}

/// Limits of one entry, from `KAIKA__LEDGER__MAX_POINTS_PER_ENTRY` and
/// `KAIKA__LEDGER__MAX_BALANCE_CENTS_PER_ENTRY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LedgerLimits {
    /// The largest points change one request may make. Default 1 000 000.
    pub max_points_per_entry: i64,
    /// The largest balance change one request may make, in cents. Default 10 000 000 (¥100 000).
    pub max_balance_cents_per_entry: i64,
}

impl Default for LedgerLimits {
    fn default() -> Self {
        Self {
            max_points_per_entry: 1_000_000,
            max_balance_cents_per_entry: 10_000_000,
        }
    }
}

impl LedgerLimits {
    /// The largest change of `kind` one entry may make.
    pub fn max(&self, kind: LedgerKind) -> i64 {
        match kind {
            LedgerKind::Points => self.max_points_per_entry,
            LedgerKind::Balance => self.max_balance_cents_per_entry,
        }
    }

    /// Refuses an amount (a magnitude: points, or cents) beyond the limit of its kind with
    /// `amount_too_large`; the admin and the integration API apply the same limits.
    pub fn check(&self, kind: LedgerKind, amount: i64) -> Result<(), CoreError> {
        let max = self.max(kind);
        if amount.unsigned_abs() > max.unsigned_abs() {
            return Err(CoreError::refused(
                Refusal::AmountTooLarge,
                format!("one entry may change {} by at most {max}", kind.as_str()),
            ));
        }
        Ok(())
    }
}

/// Reads an amount of money as a person types it, in yuan (`12`, `12.5`, `12.50`, `0.01`), into
/// cents, exactly: no floating point, at most two decimals, no sign, no exponent, at most ¥10¹⁵.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > 15
        || fraction.len() > 2
        || !digits(whole)
        || !digits(fraction)
    {
        return None;
    }
    let cents = format!("{fraction:0<2}").parse::<i64>().ok()?;
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

/// An admin's credit or debit as the member page's form sends it (values trimmed).
#[derive(Debug, Clone, Default)]
pub struct AdjustForm {
    /// `balance` or else points.
    pub kind: String,
    /// `debit` or else credit.
    pub direction: String,
    /// Points, or yuan for the balance (`12.50`).
    pub amount: String,
    /// `purchase`, `redemption` or else an adjustment.
    pub reason: String,
    /// Why, 1 to 200 characters.
    pub note: String,
    /// The form's nonce: a double submit writes one entry.
    pub nonce: String,
}

/// Checks an admin's adjustment, records it and audits it (`member.ledger`, unless it replays an entry
/// already written); the inner error is what is wrong with the form, a refusal of the ledger included.
pub async fn adjust(
    db: &(impl ConnectionTrait + TransactionTrait),
    limits: &LedgerLimits,
    member_id: i64,
    form: &AdjustForm,
    by: &Actor,
) -> Result<Result<Recorded, Problems>, CoreError> {
    let kind = match form.kind.as_str() {
        "balance" => LedgerKind::Balance,
        _ => LedgerKind::Points,
    };
    let (entry, problems) = adjustment(limits, member_id, kind, form, by);
    let Some(entry) = entry.filter(|_| problems.is_empty()) else {
        return Ok(Err(problems));
    };
    let txn = db.begin().await?;
    let recorded = match record_in(&txn, &entry).await {
        Ok(recorded) => recorded,
        Err(CoreError::Refused { refusal, .. }) => {
            return Ok(Err(amount_problem(Problem::Refused(refusal))))
        }
        Err(CoreError::Invalid { message, .. }) => {
            return Ok(Err(amount_problem(Problem::Invalid(message))))
        }
        Err(err) => return Err(err),
    };
    if !recorded.replayed {
        let e = &recorded.entry;
        let after = serde_json::json!({
            kind.as_str(): e.resulting_total,
            "amount": e.amount,
            "reason": e.reason,
            "note": form.note,
            "entry": e.id,
        });
        let before = serde_json::json!({ kind.as_str(): e.resulting_total - e.amount });
        let target = format!("member:{member_id}");
        by.record(&txn, "member.ledger", target, Some(before), Some(after))
            .await?;
    }
    txn.commit().await?;
    Ok(Ok(recorded))
}

fn amount_problem(problem: Problem) -> Problems {
    Problems::from([("amount".to_owned(), problem)])
}

/// The entry an adjustment form describes, with what is wrong with it.
fn adjustment(
    limits: &LedgerLimits,
    member_id: i64,
    kind: LedgerKind,
    form: &AdjustForm,
    by: &Actor,
) -> (Option<NewEntry>, Problems) {
    let mut problems = Problems::new();
    let amount = match kind {
        LedgerKind::Points => form.amount.parse::<i64>().ok().filter(|n| *n > 0),
        LedgerKind::Balance => parse_yuan(&form.amount).filter(|cents| *cents > 0),
    };
    match amount.map(|amount| limits.check(kind, amount)) {
        None => _ = problems.insert("amount".into(), Problem::Amount),
        Some(Err(_)) => _ = problems.insert("amount".into(), Problem::AmountTooLarge),
        Some(Ok(())) => {}
    }
    if form.note.is_empty() {
        problems.insert("note".into(), Problem::NoNote);
    } else {
        check_text(&mut problems, "note", &form.note, 200, true);
    }
    let reason = match form.reason.as_str() {
        "purchase" => Reason::Purchase,
        "redemption" => Reason::Redemption,
        _ => Reason::Adjustment,
    };
    let sign = if form.direction == "debit" { -1 } else { 1 };
    let entry = amount.map(|amount| NewEntry {
        member_id,
        kind,
        amount: sign * amount,
        reason,
        note: Some(form.note.clone()),
        actor: by.name.clone(),
        idempotency_key: format!("admin:{}", form.nonce),
    });
    (entry, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_are_read_exactly_into_cents() {
        for (text, cents) in [
            ("12", 1200),
            ("12.5", 1250),
            ("12.50", 1250),
            ("0.01", 1),
            (" 0.29 ", 29),
            ("100000", 10_000_000),
        ] {
            assert_eq!(parse_yuan(text), Some(cents), "{text}");
        }
        for bad in [
            "",
            ".5",
            "1.234",
            "-1",
            "+1",
            "1e3",
            "1,5",
            "¥1",
            "1 000",
            "9999999999999999",
        ] {
            assert_eq!(parse_yuan(bad), None, "{bad}");
        }
    }

    #[test]
    fn limits_are_checked_on_the_magnitude_of_either_kind() {
        let limits = LedgerLimits::default();
        assert!(limits.check(LedgerKind::Points, 1_000_000).is_ok());
        assert!(limits.check(LedgerKind::Points, -1_000_000).is_ok());
        assert!(limits.check(LedgerKind::Points, 1_000_001).is_err());
        assert!(limits.check(LedgerKind::Balance, 10_000_001).is_err());
    }

    #[test]
    fn record_texts_fit_wechats_fourteen_characters() {
        for reason in Reason::ALL {
            for kind in [LedgerKind::Points, LedgerKind::Balance] {
                for amount in [-1, 1] {
                    let text = reason.record_text(kind, amount);
                    assert!(text.chars().count() <= 14, "{text}");
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(LedgerKind::parse("balance"), Some(LedgerKind::Balance));
        assert_eq!(Reason::parse("gift"), None);
        assert!(!Reason::Welcome.is_external() && Reason::Purchase.is_external());
    }
}
