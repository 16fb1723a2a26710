//! `activations`: one row per activation ticket, recording each completed step so a retry resumes.

use sea_orm::entity::prelude::*;

/// One row of `activations`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "activations")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Hex SHA-256 of the ticket: the idempotency key.
    #[sea_orm(unique)]
    pub ticket_hash: String,
    /// The ticket, needed to fetch the form answers.
    pub ticket: String,
    /// The card.
    pub card_id: i64,
    /// The encrypted code as the component returned it.
    pub encrypt_code: String,
    /// The mini-program openid of the session that posted the ticket.
    pub mini_openid: Option<String>,
    /// The unionid of that session.
    pub unionid: Option<String>,
    /// The last completed step (see `kaika_core::activation::Step`).
    pub step: String,
    /// The decrypted code.
    pub code: Option<String>,
    /// The form answers (JSON).
    pub form_answers: Option<String>,
    /// The official-account openid.
    pub oa_openid: Option<String>,
    /// The channel, from `card/code/get`.
    pub outer_str: Option<String>,
    /// The allocated membership number.
    pub membership_number: Option<String>,
    /// The member, once stored.
    pub member_id: Option<i64>,
    /// How many times a process has worked on it.
    pub attempts: i32,
    /// How many times `membercard/activate` was sent for it (bounded: WeChat may refuse without
    /// activating).
    pub activate_calls: i32,
    /// The last failure.
    pub last_error: Option<String>,
    /// The process working on it now.
    pub lease_holder: Option<String>,
    /// Until when that process holds it.
    pub lease_until: Option<DateTimeUtc>,
    /// When the background re-drive may try again.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// When the ticket arrived.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
}

/// Followed through queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

super::stamped!(created_at, updated_at);
