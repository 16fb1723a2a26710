//! WeChat event pushes (flow 3): the callback's checks, durable ingestion, and the worker that applies
//! stored events.
//!
//! **Ingestion** ([`handshake`], [`receive`]) verifies the signature (plain mode) or `msg_signature`
//! (compatible and safe mode), decrypts and checks the AppID inside the ciphertext, refuses timestamps
//! outside a window, parses the XML with the limits of [`kaika_wechat::event`], and inserts the decrypted
//! XML under its dedupe key with `ON CONFLICT DO NOTHING`. Nothing else happens on the request path, so the
//! callback answers WeChat in one insert's time however slow the effects are.
//!
//! **The worker** ([`Worker`]) claims due events with a conditional update (a lease), applies each one in a
//! transaction whose first statement marks it done only if this worker still holds the claim, and on
//! failure schedules a retry with exponential back-off, or marks it `failed` (a dead letter) after the
//! last attempt. Several processes may run workers on one database: an event's effects commit at most
//! once.
//!
//! **Effects** are written so that the final state does not depend on the order events arrive in: the
//! latest `user_get_card` and `user_del_card` times of each code are kept in `wechat_code_states` and the
//! member's status is derived from them; funnel counters are counted once per code through flags in the
//! same row; review events only win over older review events; activity records are unique per event.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kaika_wechat::crypto::{self, CryptoError, MessageCrypt};
use kaika_wechat::event::{self, EncryptedEnvelope, Event, EventError, UserGetCard};
use kaika_wechat::membercard::MemberUserInfo;
use rand::Rng as _;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use crate::accounts::{self, AppId};
use crate::clients::Clients;
use crate::entity::wechat_events::{self, card_activity, code_states};
use crate::entity::{cards, members};
use crate::members::{self as members_rows, MEMBER_ACTIVE, MEMBER_CLAIMED, MEMBER_DELETED};
use crate::secrets::MasterKey;
use crate::sessions::sha256_hex;
use crate::stats::{self, FunnelStep};
use crate::CoreError;

/// Waiting for a worker.
pub const STATUS_PENDING: &str = "pending";
/// Claimed by a worker.
pub const STATUS_PROCESSING: &str = "processing";
/// Applied.
pub const STATUS_DONE: &str = "done";
/// Gave up after the last attempt: a dead letter, replayable with [`retry`].
pub const STATUS_FAILED: &str = "failed";
/// Stored but without effect (unknown or uninteresting event types).
pub const STATUS_IGNORED: &str = "ignored";

/// Every status, for listings and validation.
pub const STATUSES: [&str; 5] = [
    STATUS_PENDING,
    STATUS_PROCESSING,
    STATUS_DONE,
    STATUS_FAILED,
    STATUS_IGNORED,
];

/// The events the worker applies; every other event is stored as `ignored`.
pub const HANDLED_EVENTS: [&str; 8] = [
    "user_get_card",
    "user_del_card",
    "submit_membercard_user_info",
    "update_member_card",
    "user_view_card",
    "card_pass_check",
    "card_not_pass_check",
    "user_consume_card",
];

// ---------------------------------------------------------------------------------------------------
// The callback request
// ---------------------------------------------------------------------------------------------------

/// The query parameters WeChat puts on callback requests (reference §10.1, §10.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackParams {
    /// `signature`: SHA-1 over token, timestamp and nonce.
    pub signature: Option<String>,
    /// `timestamp`: Unix seconds.
    pub timestamp: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `echostr`: the handshake's challenge.
    pub echostr: Option<String>,
    /// `msg_signature`: SHA-1 over token, timestamp, nonce and the ciphertext.
    pub msg_signature: Option<String>,
    /// `encrypt_type`: `aes` in compatible and safe mode.
    pub encrypt_type: Option<String>,
}

impl CallbackParams {
    /// Reads the parameters from a raw query string. Values are percent-decoded once and a `+` stays a
    /// `+` (none of these values can contain a space, and an `echostr` is Base64); undecodable values
    /// are kept as they came, and then fail the signature check.
    pub fn from_query(query: &str) -> Self {
        let mut params = Self::default();
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = urlencoding::decode(value)
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| value.to_owned());
            let slot = match name {
                "signature" => &mut params.signature,
                "timestamp" => &mut params.timestamp,
                "nonce" => &mut params.nonce,
                "echostr" => &mut params.echostr,
                "msg_signature" => &mut params.msg_signature,
                "encrypt_type" => &mut params.encrypt_type,
                _ => continue,
            };
            // The first occurrence wins, like the XML fields.
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        params
    }

    fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, CoreError> {
        value.as_deref().filter(|v| !v.is_empty()).ok_or_else(|| {
            CoreError::refused(
                "missing_parameter",
                format!("the `{name}` parameter is required"),
            )
        })
    }
}

/// Checks applied to pushes.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Pushes whose `timestamp` is further than this from now are refused (replay protection); `None`
    /// turns the check off. WeChat's own retries arrive within about 20 s.
    pub timestamp_window: Option<Duration>,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            timestamp_window: Some(Duration::from_secs(300)),
        }
    }
}

/// What [`receive`] did with a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// Stored as a new event with this id, to be applied by the worker.
    Stored(i64),
    /// Stored with this id as `ignored` (an event type without effects).
    Ignored(i64),
    /// Verified but not applicable (unparseable, a value out of range, outside the timestamp window):
    /// stored with this id as `failed`, with the reason, for an admin to look at.
    Unapplicable(i64),
    /// The same push was stored before; nothing changed.
    Duplicate,
}

/// The callback settings of one account.
struct CallbackAccount {
    id: i64,
    token: String,
    crypt: Option<MessageCrypt>,
}

async fn callback_account(
    db: &impl ConnectionTrait,
    key: &MasterKey,
    app_id: &str,
) -> Result<CallbackAccount, CoreError> {
    let not_found = || CoreError::NotFound {
        what: format!("account {app_id}"),
    };
    // A path that cannot be an AppID never reaches the database.
    AppId::parse(app_id).map_err(|_| not_found())?;
    let account = match accounts::load(db, key, app_id).await {
        Err(CoreError::NotFound { .. }) => return Err(not_found()),
        other => other?,
    };
    let crypt = account
        .encoding_aes_key
        .as_ref()
        .map(|k| MessageCrypt::new(k.expose(), app_id))
        .transpose()
        .map_err(|_| {
            CoreError::invalid("encoding_aes_key", "the stored EncodingAESKey is invalid")
        })?;
    Ok(CallbackAccount {
        id: account.summary.id,
        token: account.callback_token,
        crypt,
    })
}

fn event_error(err: EventError) -> CoreError {
    match err {
        EventError::TooLarge(_) => CoreError::refused("body_too_large", err.to_string()),
        EventError::TooDeep
        | EventError::DoctypeForbidden
        | EventError::Malformed(_)
        | EventError::UnexpectedRoot(_) => CoreError::refused("invalid_xml", err.to_string()),
        EventError::MissingField(_) | EventError::InvalidField { .. } => {
            CoreError::refused("invalid_event", err.to_string())
        }
        EventError::BadSignature => {
            CoreError::refused("invalid_signature", "msg_signature does not match")
        }
        EventError::Crypto(crypto) => crypto_error(crypto),
    }
}

fn crypto_error(err: CryptoError) -> CoreError {
    match err {
        CryptoError::AppIdMismatch { .. } => CoreError::refused(
            "app_id_mismatch",
            "the message was encrypted for another AppID",
        ),
        other => CoreError::refused(
            "decrypt_failed",
            format!("{other} (code {})", other.official_code()),
        ),
    }
}

fn check_plain_signature(
    account: &CallbackAccount,
    params: &CallbackParams,
) -> Result<(), CoreError> {
    let signature = CallbackParams::required(&params.signature, "signature")?;
    let timestamp = CallbackParams::required(&params.timestamp, "timestamp")?;
    let nonce = CallbackParams::required(&params.nonce, "nonce")?;
    let computed = crypto::signature(&account.token, timestamp, nonce);
    if !crypto::verify_signature(signature, &computed) {
        return Err(CoreError::refused(
            "invalid_signature",
            "signature does not match",
        ));
    }
    Ok(())
}

fn check_timestamp(params: &CallbackParams, settings: &IngestSettings) -> Result<(), CoreError> {
    let timestamp = CallbackParams::required(&params.timestamp, "timestamp")?;
    let Some(window) = settings.timestamp_window else {
        return Ok(());
    };
    let sent: i64 = timestamp
        .parse()
        .map_err(|_| CoreError::refused("invalid_timestamp", "timestamp must be Unix seconds"))?;
    let window = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
    if Utc::now().timestamp().abs_diff(sent) > window.unsigned_abs() {
        return Err(CoreError::refused(
            "stale_timestamp",
            format!("timestamp is more than {window} s from the server's clock"),
        ));
    }
    Ok(())
}

/// Plain mode signs only token, timestamp and nonce, not the body: a captured query could carry a forged
/// body for as long as its timestamp is accepted. Each (timestamp, nonce) is remembered with its body's
/// hash, in the database so every instance sees it, for the timestamp window; the same query with
/// another body is refused. The same body again is WeChat re-sending the push, and the event dedupe
/// absorbs it.
async fn refuse_replayed_query(
    db: &impl ConnectionTrait,
    account_id: i64,
    params: &CallbackParams,
    body: &str,
    settings: &IngestSettings,
) -> Result<(), CoreError> {
    use crate::entity::callback_nonces;
    let timestamp = CallbackParams::required(&params.timestamp, "timestamp")?;
    let nonce = CallbackParams::required(&params.nonce, "nonce")?;
    if timestamp.len() > 32 || nonce.len() > 64 {
        return Err(CoreError::refused(
            "invalid_nonce",
            "timestamp or nonce is too long",
        ));
    }
    let now = Utc::now();
    let keep = settings
        .timestamp_window
        .unwrap_or(Duration::from_secs(300))
        .saturating_mul(2);
    callback_nonces::Entity::delete_many()
        .filter(callback_nonces::Column::SeenAt.lt(now - to_chrono(keep)))
        .exec(db)
        .await?;
    let body_sha256 = sha256_hex(body);
    callback_nonces::Entity::insert(callback_nonces::ActiveModel {
        account_id: Set(account_id),
        timestamp: Set(timestamp.to_owned()),
        nonce: Set(nonce.to_owned()),
        body_sha256: Set(body_sha256.clone()),
        seen_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            callback_nonces::Column::AccountId,
            callback_nonces::Column::Timestamp,
            callback_nonces::Column::Nonce,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let first =
        callback_nonces::Entity::find_by_id((account_id, timestamp.to_owned(), nonce.to_owned()))
            .one(db)
            .await?;
    match first {
        Some(first) if first.body_sha256 != body_sha256 => Err(CoreError::refused(
            "replayed_nonce",
            "this timestamp and nonce came with another body before",
        )),
        _ => Ok(()),
    }
}

/// Answers the server-URL handshake (reference §10.1): with a `msg_signature`, the `echostr` is checked
/// against it and decrypted (the AppID inside must be the account's); otherwise `signature` is checked
/// and the `echostr` returned as received.
pub async fn handshake(
    db: &impl ConnectionTrait,
    key: &MasterKey,
    app_id: &str,
    params: &CallbackParams,
) -> Result<String, CoreError> {
    let account = callback_account(db, key, app_id).await?;
    let echostr = CallbackParams::required(&params.echostr, "echostr")?;
    if let (Some(msg_signature), Some(crypt)) = (params.msg_signature.as_deref(), &account.crypt) {
        let timestamp = CallbackParams::required(&params.timestamp, "timestamp")?;
        let nonce = CallbackParams::required(&params.nonce, "nonce")?;
        let computed = crypto::msg_signature(&account.token, timestamp, nonce, echostr);
        if !crypto::verify_signature(msg_signature, &computed) {
            return Err(CoreError::refused(
                "invalid_signature",
                "msg_signature does not match",
            ));
        }
        return crypt.decrypt(echostr).map_err(crypto_error);
    }
    check_plain_signature(&account, params)?;
    Ok(echostr.to_owned())
}

/// Checks, decrypts and stores one push. Returns once the event is durably stored (or known to be).
///
/// Whether a push is encrypted is read from the request (`encrypt_type=aes` or a `msg_signature`), not
/// from the stored mode, so a merchant who changes the mode in WeChat's console first keeps receiving
/// events. A push that proves it comes from WeChat but cannot be applied (a field out of range, an
/// unparseable body, an encrypted push outside the timestamp window) is stored as `failed` with the
/// reason and acknowledged, so it is never lost. Only requests that do not prove their origin are refused,
/// and each refusal is counted per account and code ([`refusals`]).
pub async fn receive(
    db: &impl ConnectionTrait,
    key: &MasterKey,
    app_id: &str,
    params: &CallbackParams,
    body: &[u8],
    settings: &IngestSettings,
) -> Result<Receipt, CoreError> {
    let account = callback_account(db, key, app_id).await?;
    let result = verify_and_store(db, &account, params, body, settings).await;
    if let Err(CoreError::Refused { code, message }) = &result {
        if let Err(err) = record_refusal(db, account.id, code, message).await {
            tracing::warn!(error = %err, "could not record a callback refusal");
        }
    }
    result
}

async fn verify_and_store(
    db: &impl ConnectionTrait,
    account: &CallbackAccount,
    params: &CallbackParams,
    body: &[u8],
    settings: &IngestSettings,
) -> Result<Receipt, CoreError> {
    if body.len() > event::MAX_XML_BYTES {
        return Err(event_error(EventError::TooLarge(body.len())));
    }
    let body = std::str::from_utf8(body)
        .map_err(|_| CoreError::refused("invalid_body", "the body is not UTF-8"))?;
    let encrypted = params.msg_signature.is_some() || params.encrypt_type.as_deref() == Some("aes");
    let (xml, stale) = if encrypted {
        let crypt = account.crypt.as_ref().ok_or_else(|| {
            CoreError::refused(
                "mode_mismatch",
                "WeChat sends encrypted pushes (compatible or safe mode) but the account has no \
                 EncodingAESKey: paste the one from WeChat's console into the account",
            )
        })?;
        let msg_signature = CallbackParams::required(&params.msg_signature, "msg_signature")?;
        let timestamp = CallbackParams::required(&params.timestamp, "timestamp")?;
        let nonce = CallbackParams::required(&params.nonce, "nonce")?;
        let envelope = EncryptedEnvelope::parse(body).map_err(event_error)?;
        let computed = crypto::msg_signature(&account.token, timestamp, nonce, &envelope.encrypt);
        if !crypto::verify_signature(msg_signature, &computed) {
            return Err(event_error(EventError::BadSignature));
        }
        let xml = crypt.decrypt(&envelope.encrypt).map_err(crypto_error)?;
        // The ciphertext is signed with the token, so an old push is still WeChat's: kept, not applied.
        (xml, check_timestamp(params, settings).err())
    } else {
        check_plain_signature(account, params)?;
        // Plain mode does not sign the body: outside the window nothing proves it is WeChat's.
        check_timestamp(params, settings)?;
        refuse_replayed_query(db, account.id, params, body, settings).await?;
        (body.to_owned(), None)
    };
    let event = match Event::parse(&xml) {
        Ok(event) => event,
        Err(err) => {
            return store_unapplicable(db, account.id, &xml, encrypted, &err.to_string()).await
        }
    };
    // Kept under the event's own dedupe key: a replay of a push stored before stays a duplicate.
    let unapplicable = match stale {
        Some(CoreError::Refused { message, .. }) => Some(format!("not applicable: {message}")),
        _ => None,
    };
    store_parsed(db, account.id, &event, &xml, Some(encrypted), unapplicable).await
}

/// Counts one refused callback request under its account and code.
async fn record_refusal(
    db: &impl ConnectionTrait,
    account_id: i64,
    code: &str,
    message: &str,
) -> Result<(), CoreError> {
    use crate::entity::callback_refusals;
    let now = Utc::now();
    callback_refusals::Entity::insert(callback_refusals::ActiveModel {
        account_id: Set(account_id),
        code: Set(truncate(code, 64)),
        count: Set(1),
        last_message: Set(truncate(message, 300)),
        first_at: Set(now),
        last_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            callback_refusals::Column::AccountId,
            callback_refusals::Column::Code,
        ])
        .value(
            callback_refusals::Column::Count,
            Expr::col((callback_refusals::Entity, callback_refusals::Column::Count)).add(1),
        )
        .update_columns([
            callback_refusals::Column::LastMessage,
            callback_refusals::Column::LastAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// An account's callback refusals, the most recent first.
pub async fn refusals(
    db: &impl ConnectionTrait,
    account_id: i64,
) -> Result<Vec<crate::entity::callback_refusals::Model>, CoreError> {
    use crate::entity::callback_refusals;
    Ok(callback_refusals::Entity::find()
        .filter(callback_refusals::Column::AccountId.eq(account_id))
        .order_by_desc(callback_refusals::Column::LastAt)
        .all(db)
        .await?)
}

/// The latest push an account received (verified and stored), if any.
pub async fn last_push(
    db: &impl ConnectionTrait,
    account_id: i64,
) -> Result<Option<wechat_events::Model>, CoreError> {
    Ok(wechat_events::Entity::find_for_account(account_id)
        .order_by_desc(wechat_events::Column::Id)
        .one(db)
        .await?)
}

/// Stores a verified push that cannot be applied as `failed`, with the reason, under a key made from
/// its body (so WeChat's re-sends of it are absorbed).
async fn store_unapplicable(
    db: &impl ConnectionTrait,
    account_id: i64,
    xml: &str,
    encrypted: bool,
    reason: &str,
) -> Result<Receipt, CoreError> {
    let fields = event::parse_fields(xml).ok();
    let field = |name: &str| {
        fields
            .as_ref()
            .and_then(|f| f.non_empty(name))
            .unwrap_or_default()
    };
    let key = format!("unapplicable|{}", sha256_hex(xml));
    let now = Utc::now();
    let reason = truncate(&format!("not applicable: {reason}"), 500);
    let row = wechat_events::ActiveModel {
        account_id: Set(account_id),
        dedupe_hash: Set(sha256_hex(&key)),
        dedupe_key: Set(key),
        event: Set(truncate(&field("Event"), 64)),
        msg_type: Set(truncate(&field("MsgType"), 32)),
        from_user_name: Set(truncate(&field("FromUserName"), 128)),
        wechat_card_id: Set(Some(field("CardId"))
            .filter(|v| !v.is_empty())
            .map(|v| truncate(&v, 64))),
        user_card_code: Set(Some(field("UserCardCode"))
            .filter(|v| !v.is_empty())
            .map(|v| truncate(&v, 64))),
        create_time: Set(field("CreateTime").parse().unwrap_or_default()),
        raw_xml: Set(xml.to_owned()),
        status: Set(STATUS_FAILED.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_holder: Set(None),
        lease_until: Set(None),
        last_error: Set(Some(reason)),
        outcome: Set(None),
        received_at: Set(now),
        processed_at: Set(None),
        updated_at: Set(now),
        encrypted: Set(Some(encrypted)),
        ..Default::default()
    };
    Ok(match insert_event(db, row).await? {
        Some(id) => Receipt::Unapplicable(id),
        None => Receipt::Duplicate,
    })
}

/// The dedupe key of a push: [`Event::dedupe_key`], or the `MsgId` of plain messages.
fn dedupe_key(event: &Event, xml: &str) -> String {
    if event.name().is_empty() {
        if let Some(msg_id) = event::parse_fields(xml)
            .ok()
            .and_then(|f| f.non_empty("MsgId"))
        {
            return format!("msg|{msg_id}");
        }
    }
    event.dedupe_key()
}

/// Stores a parsed push; a second push with the same dedupe key changes nothing.
pub async fn store(
    db: &impl ConnectionTrait,
    account_id: i64,
    event: &Event,
    xml: &str,
) -> Result<Receipt, CoreError> {
    store_parsed(db, account_id, event, xml, None, None).await
}

/// [`store`], recording whether the push came encrypted; with `unapplicable`, stored as `failed` with
/// that reason instead of waiting for the worker.
async fn store_parsed(
    db: &impl ConnectionTrait,
    account_id: i64,
    event: &Event,
    xml: &str,
    encrypted: Option<bool>,
    unapplicable: Option<String>,
) -> Result<Receipt, CoreError> {
    let key = dedupe_key(event, xml);
    let handled = HANDLED_EVENTS.contains(&event.name());
    if let Some(reason) = unapplicable {
        let row = wechat_events::ActiveModel {
            status: Set(STATUS_FAILED.to_owned()),
            last_error: Set(Some(truncate(&reason, 500))),
            outcome: Set(None),
            processed_at: Set(None),
            ..event_row(account_id, event, xml, key, encrypted)
        };
        return Ok(match insert_event(db, row).await? {
            Some(id) => Receipt::Unapplicable(id),
            None => Receipt::Duplicate,
        });
    }
    let now = Utc::now();
    let row = wechat_events::ActiveModel {
        status: Set(if handled {
            STATUS_PENDING
        } else {
            STATUS_IGNORED
        }
        .to_owned()),
        outcome: Set((!handled).then(|| ignored_reason(event.name()))),
        processed_at: Set((!handled).then_some(now)),
        ..event_row(account_id, event, xml, key, encrypted)
    };
    Ok(match insert_event(db, row).await? {
        Some(id) if handled => Receipt::Stored(id),
        Some(id) => Receipt::Ignored(id),
        None => Receipt::Duplicate,
    })
}

/// The row of a parsed push, waiting for the worker.
fn event_row(
    account_id: i64,
    event: &Event,
    xml: &str,
    key: String,
    encrypted: Option<bool>,
) -> wechat_events::ActiveModel {
    let now = Utc::now();
    let header = event.header();
    wechat_events::ActiveModel {
        account_id: Set(account_id),
        dedupe_hash: Set(sha256_hex(&key)),
        dedupe_key: Set(key),
        event: Set(truncate(&header.event, 64)),
        msg_type: Set(truncate(&header.msg_type, 32)),
        from_user_name: Set(header.from_user_name.clone()),
        wechat_card_id: Set(event.card_id().map(str::to_owned)),
        user_card_code: Set(event.user_card_code().map(str::to_owned)),
        create_time: Set(header.create_time),
        raw_xml: Set(xml.to_owned()),
        status: Set(STATUS_PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_holder: Set(None),
        lease_until: Set(None),
        last_error: Set(None),
        outcome: Set(None),
        received_at: Set(now),
        processed_at: Set(None),
        updated_at: Set(now),
        encrypted: Set(encrypted),
        ..Default::default()
    }
}

/// Inserts an event row unless its (account, dedupe hash) is already stored; `None` when it was.
async fn insert_event(
    db: &impl ConnectionTrait,
    row: wechat_events::ActiveModel,
) -> Result<Option<i64>, CoreError> {
    let inserted = wechat_events::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                wechat_events::Column::AccountId,
                wechat_events::Column::DedupeHash,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec(db)
        .await;
    match inserted {
        Err(sea_orm::DbErr::RecordNotInserted) => Ok(None),
        Err(err) => Err(err.into()),
        Ok(done) => Ok(Some(done.last_insert_id)),
    }
}

fn ignored_reason(name: &str) -> String {
    if name.is_empty() {
        "not an event".to_owned()
    } else {
        format!("no effect for {name}")
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

// ---------------------------------------------------------------------------------------------------
// The worker
// ---------------------------------------------------------------------------------------------------

/// Tuning of the event worker.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Events claimed per round.
    pub batch: u64,
    /// Events applied at the same time.
    pub concurrency: usize,
    /// How long a claim holds before another worker may take the event over.
    pub lease: Duration,
    /// Delay before the first retry; doubled each attempt.
    pub retry_base: Duration,
    /// Longest delay between attempts.
    pub retry_max: Duration,
    /// Attempts before an event becomes a dead letter.
    pub max_attempts: i32,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            batch: 64,
            concurrency: 4,
            lease: Duration::from_secs(60),
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            max_attempts: 10,
        }
    }
}

impl WorkerSettings {
    /// The delay before the attempt after `attempts` failed ones: `base × 2^(attempts-1)`, capped, with
    /// up to 10% jitter so that failures of one burst do not retry in lockstep.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(20);
        let delay = self
            .retry_base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.retry_max);
        let jitter_ms = u64::try_from(delay.as_millis() / 10).unwrap_or(0);
        let jitter = if jitter_ms > 0 {
            rand::thread_rng().gen_range(0..=jitter_ms)
        } else {
            0
        };
        delay + Duration::from_millis(jitter)
    }
}

/// What one round of [`Worker::run_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Events claimed.
    pub claimed: usize,
    /// Events applied (or found to need nothing).
    pub done: usize,
    /// Events that failed and will be retried.
    pub retrying: usize,
    /// Events that became dead letters.
    pub dead: usize,
    /// Events whose claim was lost to another worker.
    pub lost: usize,
}

enum Finished {
    Done,
    Retrying,
    Dead,
    Lost,
}

/// An error while applying an event: retried unless `permanent`.
struct ApplyError {
    message: String,
    permanent: bool,
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

/// Applies stored events. Cheap to clone; clones share nothing but the pool and the clients.
#[derive(Debug, Clone)]
pub struct Worker {
    db: DatabaseConnection,
    clients: Clients,
    settings: WorkerSettings,
}

impl Worker {
    /// A worker over `db`; `clients` reach WeChat for `userinfo/get`.
    pub fn new(db: DatabaseConnection, clients: Clients, settings: WorkerSettings) -> Self {
        Self {
            db,
            clients,
            settings,
        }
    }

    /// Claims the events that are due and applies them, a few at a time.
    pub async fn run_once(&self) -> Result<RoundReport, CoreError> {
        let claimed = self.claim().await?;
        let mut report = RoundReport {
            claimed: claimed.len(),
            ..RoundReport::default()
        };
        crate::bounded::for_each(
            claimed,
            self.settings.concurrency,
            |(row, token)| {
                let worker = self.clone();
                async move { worker.process(row, token).await }
            },
            |joined| match joined {
                Ok(Ok(Finished::Done)) => report.done += 1,
                Ok(Ok(Finished::Retrying)) => report.retrying += 1,
                Ok(Ok(Finished::Dead)) => report.dead += 1,
                Ok(Ok(Finished::Lost)) => report.lost += 1,
                // The database failed while recording the outcome: the lease runs out and the event is
                // taken again.
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "event worker could not record an outcome")
                }
                Err(err) => tracing::error!(error = %err, "event task panicked"),
            },
        )
        .await;
        Ok(report)
    }

    /// Runs rounds until none is due; for tests and `kaika events retry --now`.
    pub async fn drain(&self) -> Result<RoundReport, CoreError> {
        let mut total = RoundReport::default();
        loop {
            let round = self.run_once().await?;
            if round.claimed == 0 {
                return Ok(total);
            }
            total.claimed += round.claimed;
            total.done += round.done;
            total.retrying += round.retrying;
            total.dead += round.dead;
            total.lost += round.lost;
        }
    }

    fn claimable(now: DateTime<Utc>) -> Condition {
        Condition::any()
            .add(
                Condition::all()
                    .add(wechat_events::Column::Status.eq(STATUS_PENDING))
                    .add(wechat_events::Column::NextAttemptAt.lte(now)),
            )
            .add(
                Condition::all()
                    .add(wechat_events::Column::Status.eq(STATUS_PROCESSING))
                    .add(wechat_events::Column::LeaseUntil.lt(now)),
            )
    }

    /// Takes due events: each with its own conditional update, so two workers never hold one event.
    async fn claim(&self) -> Result<Vec<(wechat_events::Model, String)>, CoreError> {
        let now = Utc::now();
        let candidates = wechat_events::Entity::find()
            .filter(Self::claimable(now))
            .order_by_asc(wechat_events::Column::Id)
            .limit(self.settings.batch)
            .all(&self.db)
            .await?;
        let until = now + to_chrono(self.settings.lease);
        let mut claimed = Vec::with_capacity(candidates.len());
        for row in candidates {
            let token = uuid::Uuid::new_v4().simple().to_string();
            let taken = wechat_events::Entity::update_many()
                .col_expr(
                    wechat_events::Column::Status,
                    Expr::value(STATUS_PROCESSING),
                )
                .col_expr(
                    wechat_events::Column::LeaseHolder,
                    Expr::value(token.clone()),
                )
                .col_expr(wechat_events::Column::LeaseUntil, Expr::value(until))
                .col_expr(
                    wechat_events::Column::Attempts,
                    Expr::col(wechat_events::Column::Attempts).add(1),
                )
                .col_expr(wechat_events::Column::UpdatedAt, Expr::value(now))
                .filter(wechat_events::Column::Id.eq(row.id))
                .filter(Self::claimable(now))
                .exec(&self.db)
                .await?;
            if taken.rows_affected == 1 {
                claimed.push((row, token));
            }
        }
        Ok(claimed)
    }

    async fn process(
        &self,
        row: wechat_events::Model,
        token: String,
    ) -> Result<Finished, CoreError> {
        let attempts = row.attempts + 1;
        let event = match Event::parse(&row.raw_xml) {
            Ok(event) => event,
            Err(err) => {
                let err = ApplyError {
                    message: format!("the stored XML does not parse: {err}"),
                    permanent: true,
                };
                return self.record_failure(&row, &token, attempts, err).await;
            }
        };
        let result = match self.prepare(&row, &event).await {
            Ok(prepared) => self.apply(&row, &token, &event, prepared).await,
            Err(err) => Err(err),
        };
        match result {
            Ok(true) => Ok(Finished::Done),
            Ok(false) => Ok(Finished::Lost),
            Err(err) => self.record_failure(&row, &token, attempts, err).await,
        }
    }

    /// Everything that needs the network, done before the transaction.
    async fn prepare(
        &self,
        row: &wechat_events::Model,
        event: &Event,
    ) -> Result<Prepared, ApplyError> {
        let card = match event.card_id() {
            Some(card_id) if HANDLED_EVENTS.contains(&event.name()) => {
                Some(find_card(&self.db, row.account_id, card_id).await?)
            }
            _ => None,
        };
        let user_info = match (event, &card) {
            (Event::SubmitMembercardUserInfo { user_card_code, .. }, Some(card)) => {
                let account = crate::entity::accounts::Entity::find_by_id(row.account_id)
                    .one(&self.db)
                    .await?
                    .ok_or_else(|| CoreError::NotFound {
                        what: format!("account {}", row.account_id),
                    })?;
                let client = self.clients.official_account(&account.app_id).await?;
                let info = client
                    .member_user_info(&card.wechat_card_id, user_card_code)
                    .await
                    .map_err(CoreError::from)?;
                Some(info)
            }
            _ => None,
        };
        Ok(Prepared { card, user_info })
    }

    /// Applies one event in a transaction that first marks it done if this worker still holds it.
    /// Returns false when the claim was lost (another worker took the event over).
    async fn apply(
        &self,
        row: &wechat_events::Model,
        token: &str,
        event: &Event,
        prepared: Prepared,
    ) -> Result<bool, ApplyError> {
        let txn = self.db.begin().await?;
        let now = Utc::now();
        let handled = HANDLED_EVENTS.contains(&event.name());
        // A write first: on SQLite it takes the write lock for the whole transaction.
        let finished = wechat_events::Entity::update_many()
            .col_expr(
                wechat_events::Column::Status,
                Expr::value(if handled { STATUS_DONE } else { STATUS_IGNORED }),
            )
            .col_expr(
                wechat_events::Column::LeaseHolder,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                wechat_events::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(wechat_events::Column::ProcessedAt, Expr::value(now))
            .col_expr(wechat_events::Column::UpdatedAt, Expr::value(now))
            .filter(wechat_events::Column::Id.eq(row.id))
            .filter(wechat_events::Column::Status.eq(STATUS_PROCESSING))
            .filter(wechat_events::Column::LeaseHolder.eq(token))
            .exec(&txn)
            .await?;
        if finished.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        let outcome = match effects(&txn, row, event, prepared).await {
            Ok(outcome) => outcome,
            Err(err) => {
                txn.rollback().await?;
                return Err(err);
            }
        };
        wechat_events::Entity::update_many()
            .col_expr(wechat_events::Column::Outcome, Expr::value(outcome))
            .filter(wechat_events::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(true)
    }

    async fn record_failure(
        &self,
        row: &wechat_events::Model,
        token: &str,
        attempts: i32,
        err: ApplyError,
    ) -> Result<Finished, CoreError> {
        let now = Utc::now();
        let dead = err.permanent || attempts >= self.settings.max_attempts;
        let mut update = wechat_events::Entity::update_many()
            .col_expr(
                wechat_events::Column::Status,
                Expr::value(if dead { STATUS_FAILED } else { STATUS_PENDING }),
            )
            .col_expr(
                wechat_events::Column::LastError,
                Expr::value(truncate(&err.message, 2000)),
            )
            .col_expr(
                wechat_events::Column::LeaseHolder,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                wechat_events::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(wechat_events::Column::UpdatedAt, Expr::value(now));
        if !dead {
            let next = now + to_chrono(self.settings.backoff(attempts));
            update = update.col_expr(wechat_events::Column::NextAttemptAt, Expr::value(next));
        }
        let recorded = update
            .filter(wechat_events::Column::Id.eq(row.id))
            .filter(wechat_events::Column::LeaseHolder.eq(token))
            .exec(&self.db)
            .await?;
        if recorded.rows_affected != 1 {
            return Ok(Finished::Lost);
        }
        if dead {
            tracing::warn!(event = row.id, name = %row.event, attempts, error = %err.message, "event is a dead letter");
            Ok(Finished::Dead)
        } else {
            tracing::info!(event = row.id, name = %row.event, attempts, error = %err.message, "event will be retried");
            Ok(Finished::Retrying)
        }
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::seconds(60))
}

async fn find_card(
    db: &impl ConnectionTrait,
    account_id: i64,
    wechat_card_id: &str,
) -> Result<cards::Model, CoreError> {
    // Not permanent: a review event can overtake the card's own row being committed after card/create.
    cards::Entity::find_by_wechat_id(wechat_card_id)
        .filter(cards::Column::AccountId.eq(account_id))
        .one(db)
        .await?
        .ok_or_else(|| {
            CoreError::refused(
                "unknown_card",
                format!("card {wechat_card_id} is not known to this account"),
            )
        })
}

// ---------------------------------------------------------------------------------------------------
// Effects
// ---------------------------------------------------------------------------------------------------

/// What was fetched before the transaction.
struct Prepared {
    card: Option<cards::Model>,
    user_info: Option<MemberUserInfo>,
}

async fn effects(
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
        updated_at: Set(Utc::now()),
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
    let now = Utc::now();
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
        created_at: Set(Utc::now()),
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
        .col_expr(cards::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(cards::Column::Id.eq(card.id))
        .exec(txn)
        .await?;
    save_state(txn, state).await?;
    Ok(match refused {
        Some(reason) => format!("card refused: {reason}"),
        None => "card approved".to_owned(),
    })
}

// ---------------------------------------------------------------------------------------------------
// Inspection and replay
// ---------------------------------------------------------------------------------------------------

/// Which events [`list`] returns.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only this event name.
    pub event: Option<String>,
    /// Only this account (by AppID).
    pub app_id: Option<String>,
    /// At most this many, newest first (default 50).
    pub limit: Option<u64>,
}

/// Stored events, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &EventFilter,
) -> Result<Vec<wechat_events::Model>, CoreError> {
    let mut query = wechat_events::Entity::find();
    if let Some(status) = &filter.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(CoreError::invalid(
                "status",
                format!("expected one of {}", STATUSES.join(", ")),
            ));
        }
        query = query.filter(wechat_events::Column::Status.eq(status.as_str()));
    }
    if let Some(event) = &filter.event {
        query = query.filter(wechat_events::Column::Event.eq(event.as_str()));
    }
    if let Some(app_id) = &filter.app_id {
        let account = crate::entity::accounts::Entity::find_by_app_id(app_id)
            .one(db)
            .await?
            .ok_or_else(|| CoreError::NotFound {
                what: format!("account {app_id}"),
            })?;
        query = query.filter(wechat_events::Column::AccountId.eq(account.id));
    }
    Ok(query
        .order_by_desc(wechat_events::Column::Id)
        .limit(filter.limit.unwrap_or(50))
        .all(db)
        .await?)
}

/// One stored event.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<wechat_events::Model, CoreError> {
    wechat_events::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("event {id}"),
        })
}

/// Makes an event due again with a fresh set of attempts (a dead letter after its cause was fixed, or a
/// replay of an applied one: effects are idempotent). An event a worker holds right now is refused.
pub async fn retry(db: &impl ConnectionTrait, id: i64) -> Result<wechat_events::Model, CoreError> {
    let now = Utc::now();
    let updated = wechat_events::Entity::update_many()
        .col_expr(wechat_events::Column::Status, Expr::value(STATUS_PENDING))
        .col_expr(wechat_events::Column::Attempts, Expr::value(0))
        .col_expr(wechat_events::Column::NextAttemptAt, Expr::value(now))
        .col_expr(wechat_events::Column::UpdatedAt, Expr::value(now))
        .filter(wechat_events::Column::Id.eq(id))
        .filter(wechat_events::Column::Status.ne(STATUS_PROCESSING))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        let row = get(db, id).await?;
        return Err(CoreError::refused(
            "event_in_progress",
            format!("event {} is being applied by a worker right now", row.id),
        ));
    }
    get(db, id).await
}

/// Makes every dead letter due again; returns how many.
pub async fn retry_failed(db: &impl ConnectionTrait) -> Result<u64, CoreError> {
    let now = Utc::now();
    let updated = wechat_events::Entity::update_many()
        .col_expr(wechat_events::Column::Status, Expr::value(STATUS_PENDING))
        .col_expr(wechat_events::Column::Attempts, Expr::value(0))
        .col_expr(wechat_events::Column::NextAttemptAt, Expr::value(now))
        .col_expr(wechat_events::Column::UpdatedAt, Expr::value(now))
        .filter(wechat_events::Column::Status.eq(STATUS_FAILED))
        .exec(db)
        .await?;
    Ok(updated.rows_affected)
}

/// How many stored events have each status.
pub async fn count_by_status(db: &impl ConnectionTrait) -> Result<Vec<(String, u64)>, CoreError> {
    let mut counts = Vec::with_capacity(STATUSES.len());
    for status in STATUSES {
        let n = wechat_events::Entity::find()
            .filter(wechat_events::Column::Status.eq(status))
            .count(db)
            .await?;
        counts.push((status.to_owned(), n));
    }
    Ok(counts)
}

/// Card views reported by `user_view_card` for a card and channel (`None`: every channel).
pub async fn views(
    db: &impl ConnectionTrait,
    card_id: i64,
    outer_str: Option<&str>,
) -> Result<u64, CoreError> {
    let mut query = card_activity::Entity::find()
        .filter(card_activity::Column::CardId.eq(card_id))
        .filter(card_activity::Column::Kind.eq("user_view_card"));
    if let Some(outer_str) = outer_str {
        query = query.filter(card_activity::Column::OuterStr.eq(outer_str));
    }
    Ok(query.count(db).await?)
}

/// Points and balance changes WeChat reported for a card's codes and no reconciliation has accounted
/// for yet, oldest first.
pub async fn unreconciled_changes(
    db: &impl ConnectionTrait,
    card_id: i64,
) -> Result<Vec<card_activity::Model>, CoreError> {
    Ok(card_activity::Entity::find()
        .filter(card_activity::Column::CardId.eq(card_id))
        .filter(card_activity::Column::Kind.eq("update_member_card"))
        .filter(card_activity::Column::ReconciledAt.is_null())
        .order_by_asc(card_activity::Column::OccurredAt)
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded_once_and_plus_signs_survive() {
        let p = CallbackParams::from_query(
            "signature=abc&timestamp=1&nonce=2&echostr=a+b%2Bc%3D%3D&msg_signature=x&encrypt_type=aes&openid=o&signature=zzz",
        );
        assert_eq!(p.signature.as_deref(), Some("abc"));
        assert_eq!(p.echostr.as_deref(), Some("a+b+c=="));
        assert_eq!(p.encrypt_type.as_deref(), Some("aes"));
        let bad = CallbackParams::from_query("echostr=%ff%fe&&=&timestamp");
        assert_eq!(bad.echostr.as_deref(), Some("%ff%fe"));
        assert_eq!(bad.timestamp.as_deref(), Some(""));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = WorkerSettings {
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(10),
            ..WorkerSettings::default()
        };
        let within = |attempt: i32, secs: u64| {
            let d = s.backoff(attempt);
            d >= Duration::from_secs(secs) && d <= Duration::from_millis(secs * 1100)
        };
        assert!(within(1, 1));
        assert!(within(2, 2));
        assert!(within(4, 8));
        assert!(within(9, 10));
        assert!(within(i32::MAX, 10));
    }

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
            updated_at: Utc::now(),
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
