//! Member activation: the ticket the card-opening component returns becomes an activated member, exactly
//! once, whatever fails on the way.
//!
//! Each ticket has one `activations` row (keyed by the ticket's SHA-256) that records the last completed
//! step. Every step's result is committed before the next step starts, and `membercard/activate` is marked
//! as sent before it is called: WeChat's activate is not idempotent (a second call fails), so a re-drive
//! after a timeout or crash asks `userinfo/get` whether it took effect instead of calling it again.
//! One process at a time drives a row (a lease in the row); the others wait for it or leave it to the
//! background re-drive.

use crate::clock;
use crate::refusal::Refusal;
use std::time::Duration;

use chrono::Utc;
use kaika_wechat::error::{ErrorKind, WechatError};
use kaika_wechat::membercard::{ActivateRequest, CodeGetRequest};
use kaika_wechat::WechatClient;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};

use crate::clients::Clients;
use crate::entity::{accounts, activations, cards, members};
use crate::jobs::{self, Backoff, Lease};
use crate::ledger::{self, LedgerKind, NewEntry, Reason};
use crate::sessions::{sha256_hex, MiniSession};
use crate::stats::{self, FunnelStep};
use crate::CoreError;

mod input;
mod redrive;

use input::{check_encrypt_code, check_ticket, plausible_code};
pub use redrive::{
    count_failed, count_open, count_waiting_on_wechat, schedule_redrive, unfinished_and_failed,
};
/// The last completed step of an activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The ticket is stored; nothing has been asked of WeChat yet.
    Received,
    /// `card/code/decrypt` gave the code.
    CodeDecrypted,
    /// `activatetempinfo/get` gave the form answers.
    FormFetched,
    /// `card/code/get` gave the official-account openid and channel.
    OpenidFetched,
    /// A membership number is reserved for this activation.
    NumberAllocated,
    /// `membercard/activate` is about to be or has been called; its outcome is unknown.
    ActivateSent,
    /// WeChat has accepted the activation.
    Activated,
    /// The member, the welcome bonus and the funnel count are stored.
    Done,
    /// The activation cannot succeed; `last_error` says why.
    Failed,
}

impl Step {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::CodeDecrypted => "code_decrypted",
            Self::FormFetched => "form_fetched",
            Self::OpenidFetched => "openid_fetched",
            Self::NumberAllocated => "number_allocated",
            Self::ActivateSent => "activate_sent",
            Self::Activated => "activated",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Received,
            Self::CodeDecrypted,
            Self::FormFetched,
            Self::OpenidFetched,
            Self::NumberAllocated,
            Self::ActivateSent,
            Self::Activated,
            Self::Done,
            Self::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed)
    }
}

/// What the mini-program posts after the component returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRequest {
    /// `extraData.activate_ticket`.
    pub activate_ticket: String,
    /// `extraData.card_id`.
    pub card_id: String,
    /// `extraData.code` (encrypted, or plain digits).
    pub encrypt_code: String,
}

/// Who hands an activate ticket in.
#[derive(Debug, Clone, Copy)]
pub enum Submitter<'a> {
    /// The mini-program, for its session's user (`App.onShow` after the component).
    MiniProgram(&'a MiniSession),
    /// WeChat's redirect to the after-submit page: a member activating from the card bag, or coming
    /// back after leaving the component. No session: the ticket, which WeChat binds to the member's
    /// code, is the only credential, as it is for WeChat's `activate`.
    ActivatePage,
}

/// Tuning of the activation driver.
#[derive(Debug, Clone)]
pub struct ActivationSettings {
    /// How long a duplicate request waits for the first before answering "in progress".
    pub duplicate_wait: Duration,
    /// How long a process may drive one activation before others may take over.
    pub lease: Duration,
    /// First re-drive delay after a transient failure; doubled each attempt.
    pub retry_base: Duration,
    /// Longest re-drive delay.
    pub retry_max: Duration,
    /// Background attempts before a still-failing activation is marked failed, counted only while
    /// `membercard/activate` has not been sent: once it may have taken effect, the activation waits for
    /// WeChat however long it takes, retrying every `retry_max` at most.
    pub max_attempts: i32,
    /// How many `72012 ticket expired` answers are retried before believing them (reference §13 #6).
    pub ticket_expired_retries: i32,
}

impl Default for ActivationSettings {
    fn default() -> Self {
        Self {
            duplicate_wait: Duration::from_secs(3),
            lease: Duration::from_secs(60),
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
            max_attempts: 12,
            ticket_expired_retries: 2,
        }
    }
}

impl ActivationSettings {
    /// The re-drive's back-off: doubling up to 16 times, capped at `retry_max`, without jitter.
    fn backoff(&self) -> Backoff {
        Backoff {
            base: self.retry_base,
            max: self.retry_max,
            max_doublings: 16,
            jitter: false,
        }
    }
}

/// The lease columns of `activations`: one process drives a row at a time.
const LEASE: Lease<activations::Column> = Lease {
    holder: activations::Column::LeaseHolder,
    until: activations::Column::LeaseUntil,
};

/// How many times one activation may send `membercard/activate` before it fails with `activate_refused`
/// (each time WeChat answered, or the probe showed, that the card was not activated).
pub const MAX_ACTIVATE_CALLS: i32 = 3;

/// Who is driving an activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    /// The member's own request (`POST /api/v1/activations`), first or retried.
    Member,
    /// The background re-drive, or an operator's re-drive.
    Background,
}

/// Runs activations for every account.
#[derive(Debug, Clone)]
pub struct Activator {
    db: DatabaseConnection,
    clients: Clients,
    holder: String,
    settings: ActivationSettings,
}

impl Activator {
    /// An activator; `holder` names this process in leases.
    pub fn new(
        db: DatabaseConnection,
        clients: Clients,
        holder: String,
        settings: ActivationSettings,
    ) -> Self {
        Self {
            db,
            clients,
            holder,
            settings,
        }
    }

    /// Activates the card behind a ticket for the session's user, or returns the member a previous call
    /// with the same ticket produced.
    pub async fn submit(
        &self,
        session: &MiniSession,
        request: &ActivationRequest,
    ) -> Result<members::Model, CoreError> {
        self.submit_from(Submitter::MiniProgram(session), request)
            .await
    }

    /// [`Activator::submit`] for either way a ticket comes in: the same idempotency per ticket, the same
    /// steps, the same refusals.
    pub async fn submit_from(
        &self,
        submitter: Submitter<'_>,
        request: &ActivationRequest,
    ) -> Result<members::Model, CoreError> {
        let ticket = check_ticket(&request.activate_ticket)?;
        let encrypt_code = check_encrypt_code(&request.encrypt_code)?;
        let mut find_card = cards::Entity::find_by_wechat_id(request.card_id.trim());
        let (mini_openid, unionid) = match submitter {
            Submitter::MiniProgram(session) => {
                find_card = find_card.filter(cards::Column::AccountId.eq(session.account_id));
                (Some(session.mini_openid.clone()), session.unionid.clone())
            }
            Submitter::ActivatePage => (None, None),
        };
        let card = find_card.one(&self.db).await?.ok_or_else(|| {
            CoreError::refused(Refusal::CardNotFound, "no such card for this mini-program")
        })?;
        let ticket_hash = sha256_hex(&ticket);
        activations::Entity::insert(activations::ActiveModel {
            ticket_hash: Set(ticket_hash.clone()),
            ticket: Set(ticket),
            card_id: Set(card.id),
            encrypt_code: Set(encrypt_code.clone()),
            mini_openid: Set(mini_openid.clone()),
            unionid: Set(unionid),
            step: Set(Step::Received.as_str().to_owned()),
            attempts: Set(0),
            created_at: Set(clock::now()),
            updated_at: Set(clock::now()),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::column(activations::Column::TicketHash)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        let row = self.load_by_hash(&ticket_hash).await?;
        if row.card_id != card.id
            || row.encrypt_code != encrypt_code
            || row.mini_openid != mini_openid
        {
            return Err(CoreError::refused(
                Refusal::TicketConflict,
                "this activate_ticket was already submitted with other values",
            ));
        }
        if let Some(done) = self.final_result(&row).await? {
            return done;
        }
        if self.acquire(row.id).await? {
            let result = self.drive(row.id, Driver::Member).await;
            self.release(row.id).await?;
            result?;
            let row = self.load(row.id).await?;
            return match self.final_result(&row).await? {
                Some(done) => done,
                None => Err(CoreError::InProgress),
            };
        }
        self.wait_for(row.id).await
    }

    async fn load(&self, id: i64) -> Result<activations::Model, CoreError> {
        activations::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| CoreError::NotFound {
                what: format!("activation {id}"),
            })
    }

    async fn load_by_hash(&self, hash: &str) -> Result<activations::Model, CoreError> {
        activations::Entity::find()
            .filter(activations::Column::TicketHash.eq(hash))
            .one(&self.db)
            .await?
            .ok_or_else(|| CoreError::NotFound {
                what: "activation".into(),
            })
    }

    /// The answer for a row that reached a final step.
    async fn final_result(
        &self,
        row: &activations::Model,
    ) -> Result<Option<Result<members::Model, CoreError>>, CoreError> {
        match Step::parse(&row.step) {
            Some(Step::Done) => {
                let member_id = row.member_id.ok_or_else(|| CoreError::NotFound {
                    what: "member of a finished activation".into(),
                })?;
                let member = members::Entity::find_by_id(member_id)
                    .one(&self.db)
                    .await?
                    .ok_or_else(|| CoreError::NotFound {
                        what: format!("member {member_id}"),
                    })?;
                Ok(Some(Ok(member)))
            }
            Some(Step::Failed) => {
                let (refusal, message) = split_failure(row.last_error.as_deref());
                Ok(Some(Err(CoreError::refused(refusal, message))))
            }
            _ => Ok(None),
        }
    }

    async fn wait_for(&self, id: i64) -> Result<members::Model, CoreError> {
        let deadline = tokio::time::Instant::now() + self.settings.duplicate_wait;
        loop {
            let row = self.load(id).await?;
            if let Some(done) = self.final_result(&row).await? {
                return done;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(CoreError::InProgress);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn lease_until(&self) -> chrono::DateTime<Utc> {
        clock::now() + jobs::to_chrono(self.settings.lease)
    }

    /// Takes the lease of an unfinished row nobody holds.
    async fn acquire(&self, id: i64) -> Result<bool, CoreError> {
        let now = clock::now();
        let taken = LEASE
            .take(
                activations::Entity::update_many(),
                &self.holder,
                self.lease_until(),
            )
            .filter(activations::Column::Id.eq(id))
            .filter(
                activations::Column::Step.is_not_in([Step::Done.as_str(), Step::Failed.as_str()]),
            )
            .filter(LEASE.free(now))
            .exec(&self.db)
            .await?;
        Ok(taken.rows_affected == 1)
    }

    async fn release(&self, id: i64) -> Result<(), CoreError> {
        LEASE
            .end(activations::Entity::update_many(), false)
            .filter(activations::Column::Id.eq(id))
            .filter(LEASE.held_by(&self.holder))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Moves a row from `from` to `to` with the given column changes, only if it is still at `from` and
    /// this process still holds its lease (another process may have taken it over after the lease
    /// expired).
    async fn advance(
        &self,
        row: &activations::Model,
        from: Step,
        to: Step,
        changes: impl FnOnce(&mut activations::ActiveModel),
    ) -> Result<bool, CoreError> {
        let mut update: activations::ActiveModel = row.clone().into();
        changes(&mut update);
        update.step = Set(to.as_str().to_owned());
        update.last_error = Set(None);
        update.next_attempt_at = Set(None);
        update.updated_at = Set(clock::now());
        // Each step renews the lease, so the next WeChat call starts with a whole lease ahead of it.
        update.lease_until = Set(Some(self.lease_until()));
        let mut query = activations::Entity::update_many()
            .filter(activations::Column::Id.eq(row.id))
            .filter(activations::Column::Step.eq(from.as_str()))
            .filter(LEASE.held_by(&self.holder));
        query = query.set(update);
        Ok(query.exec(&self.db).await?.rows_affected == 1)
    }

    async fn client_for(&self, card_id: i64) -> Result<(WechatClient, cards::Model), CoreError> {
        let card = cards::Entity::find_by_id(card_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| {
                CoreError::refused(Refusal::CardNotFound, "the card no longer exists")
            })?;
        let account = accounts::Entity::find_by_id(card.account_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| {
                CoreError::refused(Refusal::CardNotFound, "the card's account no longer exists")
            })?;
        Ok((self.clients.official_account(&account.app_id).await?, card))
    }

    /// Runs the remaining steps of one activation while this process holds its lease, and tells the
    /// observer how the drive ended and how long it took.
    async fn drive(&self, id: i64, driver: Driver) -> Result<(), CoreError> {
        let started = std::time::Instant::now();
        let mut at = Step::Received;
        let result = self.drive_steps(id, driver, &mut at).await;
        let outcome = match self.load(id).await.map(|row| Step::parse(&row.step)) {
            Ok(Some(Step::Done)) => "activated",
            Ok(Some(Step::Failed)) => "failed",
            _ => "retrying",
        };
        self.clients
            .observer()
            .activation(outcome, at.as_str(), started.elapsed());
        result
    }

    /// The loop of [`Activator::drive`]; `at` follows the step being run, so that a failure is counted
    /// under the step that failed.
    async fn drive_steps(&self, id: i64, driver: Driver, at: &mut Step) -> Result<(), CoreError> {
        let row = self.load(id).await?;
        // A member's retries do not spend the background re-drive's budget: only its own passes count.
        if driver == Driver::Background {
            activations::Entity::update_many()
                .col_expr(
                    activations::Column::Attempts,
                    Expr::col(activations::Column::Attempts).add(1),
                )
                .filter(activations::Column::Id.eq(id))
                .exec(&self.db)
                .await?;
        }
        let (client, card) = self.client_for(row.card_id).await?;
        let mut ticket_expired_seen = 0;
        loop {
            let row = self.load(id).await?;
            let step = Step::parse(&row.step).unwrap_or(Step::Failed);
            *at = step;
            if step.is_final() {
                return Ok(());
            }
            match self.run_step(&client, &card, &row, step).await {
                Ok(()) => {}
                Err(CoreError::Wechat(err))
                    if err.kind() == ErrorKind::TicketExpired
                        && ticket_expired_seen < self.settings.ticket_expired_retries =>
                {
                    // 72012 is reported for fresh tickets and a prompt retry succeeds.
                    ticket_expired_seen += 1;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(err) => return self.record_failure(&row, err).await,
            }
        }
    }

    async fn run_step(
        &self,
        client: &WechatClient,
        card: &cards::Model,
        row: &activations::Model,
        step: Step,
    ) -> Result<(), CoreError> {
        match step {
            Step::Received => {
                let code = if plausible_code(&row.encrypt_code) {
                    row.encrypt_code.clone()
                } else {
                    client.decrypt_code(&row.encrypt_code).await?
                };
                if !plausible_code(&code) {
                    return Err(CoreError::refused(
                        Refusal::CodeInvalid,
                        "WeChat decrypted the code to something that is not a card code",
                    ));
                }
                self.advance(row, step, Step::CodeDecrypted, |r| r.code = Set(Some(code)))
                    .await?;
            }
            Step::CodeDecrypted => {
                let answers = client.activate_temp_info(&row.ticket).await?;
                let json = serde_json::to_string(&answers).unwrap_or_default();
                self.advance(row, step, Step::FormFetched, |r| {
                    r.form_answers = Set(Some(json))
                })
                .await?;
            }
            Step::FormFetched => {
                let code = row.code.clone().unwrap_or_default();
                let info = client
                    .get_code(&CodeGetRequest {
                        card_id: Some(&card.wechat_card_id),
                        code: &code,
                        check_consume: Some(false),
                    })
                    .await?;
                if !info.card.card_id.is_empty() && info.card.card_id != card.wechat_card_id {
                    return Err(CoreError::refused(
                        Refusal::TicketConflict,
                        "the code belongs to another card",
                    ));
                }
                self.advance(row, step, Step::OpenidFetched, |r| {
                    r.oa_openid = Set(Some(info.openid).filter(|o| !o.is_empty()));
                    r.outer_str = Set(info.outer_str.filter(|o| !o.is_empty()));
                })
                .await?;
            }
            Step::OpenidFetched => {
                let number = crate::members::allocate_membership_number(&self.db, card.id).await?;
                self.advance(row, step, Step::NumberAllocated, |r| {
                    r.membership_number = Set(Some(number))
                })
                .await?;
            }
            Step::NumberAllocated => {
                // WeChat may refuse activate (40056) for a code it then reports as not active: the calls
                // are bounded, and an operator's re-drive grants a new round.
                if row.activate_calls >= MAX_ACTIVATE_CALLS {
                    return Err(CoreError::refused(
                        Refusal::ActivateRefused,
                        format!(
                            "WeChat refused membercard/activate {} times and the card is not active",
                            row.activate_calls
                        ),
                    ));
                }
                // Committed before the call: after a timeout or a crash we must not call activate again.
                let calls = row.activate_calls + 1;
                if !self
                    .advance(row, step, Step::ActivateSent, |r| {
                        r.activate_calls = Set(calls)
                    })
                    .await?
                {
                    return Ok(());
                }
                let request = ActivateRequest {
                    init_bonus: (card.welcome_bonus > 0).then_some(card.welcome_bonus),
                    init_bonus_record: (card.welcome_bonus > 0).then(|| "开卡礼".to_owned()),
                    membership_number: row.membership_number.clone().unwrap_or_default(),
                    code: row.code.clone().unwrap_or_default(),
                    card_id: Some(card.wechat_card_id.clone()),
                    ..Default::default()
                };
                match client.activate_member_card(&request).await {
                    Ok(()) => {
                        let sent = self.load(row.id).await?;
                        self.advance(&sent, Step::ActivateSent, Step::Activated, |_| {})
                            .await?;
                    }
                    // 40056 on activate means the code is already active (or unknown): ask, do not guess.
                    Err(err) if err.kind() == ErrorKind::InvalidCode => {}
                    Err(err) => return Err(err.into()),
                }
            }
            Step::ActivateSent => {
                let code = row.code.clone().unwrap_or_default();
                let info = client.member_user_info(&card.wechat_card_id, &code).await?;
                if info.has_active {
                    self.advance(row, step, Step::Activated, |_| {}).await?;
                } else {
                    // WeChat never saw the call: it is safe to send it again.
                    self.advance(row, step, Step::NumberAllocated, |_| {})
                        .await?;
                }
            }
            Step::Activated => {
                self.store_member(card, row).await?;
            }
            Step::Done | Step::Failed => {}
        }
        Ok(())
    }

    /// Stores the member, its welcome bonus and the funnel count, and finishes the activation, in one
    /// transaction.
    async fn store_member(
        &self,
        card: &cards::Model,
        row: &activations::Model,
    ) -> Result<(), CoreError> {
        let txn = self.db.begin().await?;
        let finished = activations::Entity::update_many()
            .col_expr(activations::Column::Step, Expr::value(Step::Done.as_str()))
            .col_expr(activations::Column::UpdatedAt, Expr::value(clock::now()))
            .filter(activations::Column::Id.eq(row.id))
            .filter(activations::Column::Step.eq(Step::Activated.as_str()))
            .exec(&txn)
            .await?;
        if finished.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(());
        }
        let code = row.code.clone().unwrap_or_default();
        // The event worker may store the same code at the same moment: the code's state lock orders the
        // two, and both take the member row through one idempotent insert.
        let state = crate::members::lock_code_state(&txn, card.id, &code).await?;
        // A `user_del_card` event may have been applied before this activation finished: the member
        // then ends deleted, as it would had the event come after.
        let deleted_at_wechat = state
            .delete_time
            .is_some_and(|deleted| deleted >= state.claim_time.unwrap_or(0));
        let status = if deleted_at_wechat {
            crate::members::MEMBER_DELETED
        } else {
            crate::members::MEMBER_ACTIVE
        };
        // A `user_get_card` event may have stored the member as claimed already: complete that row.
        let (existing, _) = crate::members::row_for_code(&txn, card.id, &code, status).await?;
        let mut update: members::ActiveModel = existing.clone().into();
        // A member who deleted an earlier card and opened it again holds the same openid: the deleted
        // row hands it over instead of refusing the new member.
        let openid = match row.oa_openid.as_deref() {
            Some(openid) if existing.oa_openid.as_deref() != Some(openid) => {
                crate::members::free_openid(&txn, card.id, &code, openid).await?
            }
            _ => existing.oa_openid.clone(),
        };
        update.oa_openid = Set(openid);
        // Activated from the after-submit page, there is no mini-program user: keep the one known.
        update.mini_openid = Set(row.mini_openid.clone().or(existing.mini_openid.clone()));
        update.unionid = Set(row.unionid.clone().or(existing.unionid.clone()));
        // A code activated again (a second ticket for it) keeps the number its member already has.
        update.membership_number = Set(existing
            .membership_number
            .clone()
            .or_else(|| row.membership_number.clone()));
        update.status = Set(status.to_owned());
        update.form_answers = Set(row.form_answers.clone());
        update.activated_at = Set(Some(clock::now()));
        if existing.outer_str.is_none() {
            update.outer_str = Set(row.outer_str.clone());
        }
        let member = update.update(&txn).await?;
        // A deleted card holds no points: its welcome bonus would be refused by the ledger.
        if card.welcome_bonus > 0 && !deleted_at_wechat {
            ledger::append_in(
                &txn,
                &NewEntry {
                    member_id: member.id,
                    kind: LedgerKind::Points,
                    amount: card.welcome_bonus,
                    reason: Reason::Welcome,
                    note: Some("开卡礼".into()),
                    actor: "system".into(),
                    idempotency_key: "welcome".into(),
                },
            )
            .await?;
        }
        stats::count(
            &txn,
            card.id,
            row.outer_str.as_deref().unwrap_or_default(),
            FunnelStep::Activated,
        )
        .await?;
        activations::Entity::update_many()
            .col_expr(activations::Column::MemberId, Expr::value(member.id))
            .filter(activations::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Records a failure: permanent ones end the activation, transient ones schedule a re-drive. The
    /// row is read again first (the failing step may have advanced it, e.g. to `activate_sent` just
    /// before the call), and written only if no other process moved it since.
    async fn record_failure(
        &self,
        row: &activations::Model,
        err: CoreError,
    ) -> Result<(), CoreError> {
        let row = self.load(row.id).await?;
        let step = Step::parse(&row.step).unwrap_or(Step::Failed);
        if step.is_final() {
            return Err(err);
        }
        // Once `activate` may have taken effect only WeChat's own answer (the probe) may end the
        // activation: a failure to store the member is never final, and neither is any number of
        // attempts, or the card would stay active at WeChat with no member here.
        let activate_may_have_taken_effect = matches!(step, Step::ActivateSent | Step::Activated);
        let permanent = match &err {
            _ if step == Step::Activated => None,
            CoreError::Refused { refusal, .. } => Some(*refusal),
            CoreError::Wechat(wechat) => permanent_refusal(wechat),
            _ => None,
        };
        let out_of_attempts =
            !activate_may_have_taken_effect && row.attempts >= self.settings.max_attempts;
        let (failed, last_error, next_attempt_at) = match (permanent, out_of_attempts) {
            (Some(refusal), _) => (true, format!("{refusal}: {err}"), None),
            (None, true) => (
                true,
                format!(
                    "{}: gave up after {} attempts: {err}",
                    Refusal::WechatUnavailable,
                    row.attempts
                ),
                None,
            ),
            (None, false) => {
                let at = self
                    .settings
                    .backoff()
                    .next_attempt_at(clock::now(), row.attempts);
                (false, err.to_string(), Some(at))
            }
        };
        let mut update = activations::Entity::update_many()
            .col_expr(activations::Column::LastError, Expr::value(last_error))
            .col_expr(
                activations::Column::NextAttemptAt,
                Expr::value(next_attempt_at),
            )
            .col_expr(activations::Column::UpdatedAt, Expr::value(clock::now()))
            .filter(activations::Column::Id.eq(row.id))
            .filter(activations::Column::Step.eq(row.step.clone()));
        if failed {
            update = update.col_expr(
                activations::Column::Step,
                Expr::value(Step::Failed.as_str()),
            );
        }
        update.exec(&self.db).await?;
        match permanent {
            Some(refusal) => Err(CoreError::refused(refusal, err.to_string())),
            None => Err(err),
        }
    }
}

/// The refusal for a WeChat error that retrying cannot fix.
fn permanent_refusal(err: &WechatError) -> Option<Refusal> {
    match err.kind() {
        ErrorKind::InvalidTicket => Some(Refusal::TicketInvalid),
        ErrorKind::TicketExpired => Some(Refusal::TicketExpired),
        ErrorKind::InvalidEncryptCode | ErrorKind::InvalidCode | ErrorKind::CodeConsumed => {
            Some(Refusal::CodeInvalid)
        }
        ErrorKind::UserCardUnavailable => Some(Refusal::CardUnavailable),
        ErrorKind::UnknownCard => Some(Refusal::CardNotFound),
        ErrorKind::CardNotApproved => Some(Refusal::CardNotApproved),
        ErrorKind::WrongCardType
        | ErrorKind::Validation
        | ErrorKind::FieldTooLong
        | ErrorKind::MissingField => Some(Refusal::CardMisconfigured),
        _ => None,
    }
}

/// Splits a stored `code: message` failure; a code that is not a refusal reads as `activation_failed`.
fn split_failure(stored: Option<&str>) -> (Refusal, String) {
    let stored = stored.unwrap_or("activation_failed: the activation failed");
    let (code, message) = stored
        .split_once(": ")
        .unwrap_or(("activation_failed", stored));
    let refusal = Refusal::from_code(code)
        .filter(|refusal| refusal.audience() == crate::refusal::Audience::Member)
        .unwrap_or(Refusal::ActivationFailed);
    (refusal, message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stable code of a refusal (any other outcome fails the test).
    fn refusal<T: std::fmt::Debug>(result: Result<T, CoreError>) -> &'static str {
        match result {
            Err(CoreError::Refused { refusal, .. }) => refusal.code(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn tickets_are_decoded_once_and_plus_signs_survive() {
        assert_eq!(check_ticket("ab+c/d==").unwrap(), "ab+c/d==");
        assert_eq!(check_ticket("ab%2Bc%2Fd%3D%3D").unwrap(), "ab+c/d==");
        for bad in ["", "has space", &"A".repeat(513)] {
            assert_eq!(refusal(check_ticket(bad)), "ticket_invalid", "{bad}");
        }
    }

    #[test]
    fn codes_must_look_like_codes() {
        assert!(plausible_code("226009850808"));
        assert!(!plausible_code("22600985080a"));
        assert!(!plausible_code("123"));
        assert!(check_encrypt_code(
            "XXIzTtMqCxwOaawoE91+VJdsFmv7b8g0VZIZkqf4GWA60Fzpc8ksZ/5ZZ0DVkXdE"
        )
        .is_ok());
        assert_eq!(refusal(check_encrypt_code("<script>")), "code_invalid");
    }

    #[test]
    fn steps_round_trip_through_their_names() {
        for step in [Step::Received, Step::ActivateSent, Step::Done, Step::Failed] {
            assert_eq!(Step::parse(step.as_str()), Some(step));
        }
        assert_eq!(Step::parse("nope"), None);
    }

    #[test]
    fn stored_failures_keep_their_code() {
        assert_eq!(
            split_failure(Some("ticket_invalid: bad")).0.code(),
            "ticket_invalid"
        );
        assert_eq!(split_failure(Some("weird")).0.code(), "activation_failed");
        assert_eq!(split_failure(None).0.code(), "activation_failed");
    }
}
