//! The points and balance ledger: append-only entries, with the member's totals moved in the same
//! transaction.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait,
};

use crate::entity::{ledger_entries, members};
use crate::CoreError;

/// What an entry counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    /// Points (WeChat's "bonus").
    Points,
    /// Balance, in cents.
    Balance,
}

impl LedgerKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Points => "points",
            Self::Balance => "balance",
        }
    }

    fn total_column(self) -> members::Column {
        match self {
            Self::Points => members::Column::Points,
            Self::Balance => members::Column::BalanceCents,
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

/// Appends an entry and moves the member's total, on a connection that is already inside a transaction
/// (the caller's, so that the entry commits with whatever else the caller writes). A debit beyond the
/// total is refused; an entry with a key already used for this member returns the stored entry when it
/// says the same thing, and a conflict otherwise.
///
/// The first statement writes: SQLite then takes its write lock at once and waits its busy timeout for
/// it, instead of failing when a read transaction tries to become a write transaction.
pub async fn append_in(
    txn: &impl ConnectionTrait,
    entry: &NewEntry,
) -> Result<ledger_entries::Model, CoreError> {
    if entry.amount == 0 {
        return Err(CoreError::invalid("amount", "must not be zero"));
    }
    let moved = move_total(txn, entry.member_id, entry.kind, entry.amount).await?;
    if let Some(existing) = find_by_key(txn, entry.member_id, &entry.idempotency_key).await? {
        if moved {
            move_total(txn, entry.member_id, entry.kind, -entry.amount).await?;
        }
        let same = existing.kind == entry.kind.as_str()
            && existing.amount == entry.amount
            && existing.reason == entry.reason.as_str();
        return if same {
            Ok(existing)
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
    if !moved {
        return Err(CoreError::invalid(
            "amount",
            match entry.kind {
                LedgerKind::Points => "insufficient_points",
                LedgerKind::Balance => "insufficient_balance",
            },
        ));
    }
    let total = match entry.kind {
        LedgerKind::Points => member.points,
        LedgerKind::Balance => member.balance_cents,
    };
    let row = ledger_entries::ActiveModel {
        member_id: Set(entry.member_id),
        kind: Set(entry.kind.as_str().to_owned()),
        amount: Set(entry.amount),
        resulting_total: Set(total),
        reason: Set(entry.reason.as_str().to_owned()),
        note: Set(entry.note.clone()),
        actor: Set(entry.actor.clone()),
        idempotency_key: Set(entry.idempotency_key.clone()),
        reverses_id: Set(None),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    };
    Ok(row.insert(txn).await?)
}

/// Adds `amount` to a member's total unless the total would go negative; whether it moved.
async fn move_total(
    txn: &impl ConnectionTrait,
    member_id: i64,
    kind: LedgerKind,
    amount: i64,
) -> Result<bool, CoreError> {
    let column = kind.total_column();
    let moved = members::Entity::update_many()
        .col_expr(column, Expr::col(column).add(amount))
        .filter(members::Column::Id.eq(member_id))
        .filter(Expr::expr(Expr::col(column).add(amount)).gte(0))
        .exec(txn)
        .await?;
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
    let txn = db.begin().await?;
    let row = append_in(&txn, entry).await?;
    txn.commit().await?;
    Ok(row)
}

/// A member's entries, newest first.
pub async fn entries(
    db: &impl ConnectionTrait,
    member_id: i64,
) -> Result<Vec<ledger_entries::Model>, CoreError> {
    use sea_orm::QueryOrder;
    Ok(ledger_entries::Entity::find()
        .filter(ledger_entries::Column::MemberId.eq(member_id))
        .order_by_desc(ledger_entries::Column::Id)
        .all(db)
        .await?)
}
