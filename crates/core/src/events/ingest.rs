//! Ingestion: the callback's checks (signature or `msg_signature`, decryption, AppID, timestamp window,
//! plain-mode replays) and the insert under the push's dedupe key, with the refusals counted per account.

use crate::clock;
use crate::refusal::Refusal;
use std::time::Duration;

use kaika_wechat::crypto::{self, CryptoError, MessageCrypt};
use kaika_wechat::event::{self, EncryptedEnvelope, Event, EventError};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::accounts::{self, AppId};
use crate::entity::wechat_events;
use crate::secrets::MasterKey;
use crate::sessions::sha256_hex;
use crate::CoreError;

use super::*;

/// The largest callback body Kaika reads: WeChat's pushes are far smaller.
pub const MAX_BODY_BYTES: usize = event::MAX_XML_BYTES;

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
                Refusal::MissingParameter,
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
        EventError::TooLarge(_) => CoreError::refused(Refusal::BodyTooLarge, err.to_string()),
        EventError::TooDeep
        | EventError::DoctypeForbidden
        | EventError::Malformed(_)
        | EventError::UnexpectedRoot(_) => CoreError::refused(Refusal::InvalidXml, err.to_string()),
        EventError::MissingField(_) | EventError::InvalidField { .. } => {
            CoreError::refused(Refusal::InvalidEvent, err.to_string())
        }
        EventError::BadSignature => {
            CoreError::refused(Refusal::InvalidSignature, "msg_signature does not match")
        }
        EventError::Crypto(crypto) => crypto_error(crypto),
    }
}

fn crypto_error(err: CryptoError) -> CoreError {
    match err {
        CryptoError::AppIdMismatch { .. } => CoreError::refused(
            Refusal::AppIdMismatch,
            "the message was encrypted for another AppID",
        ),
        other => CoreError::refused(
            Refusal::DecryptFailed,
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
            Refusal::InvalidSignature,
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
    let sent: i64 = timestamp.parse().map_err(|_| {
        CoreError::refused(Refusal::InvalidTimestamp, "timestamp must be Unix seconds")
    })?;
    let window = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
    if clock::now().timestamp().abs_diff(sent) > window.unsigned_abs() {
        return Err(CoreError::refused(
            Refusal::StaleTimestamp,
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
            Refusal::InvalidNonce,
            "timestamp or nonce is too long",
        ));
    }
    let now = clock::now();
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
            Refusal::ReplayedNonce,
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
                Refusal::InvalidSignature,
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
    if let Err(CoreError::Refused { refusal, message }) = &result {
        if let Err(err) = record_refusal(db, account.id, refusal.code(), message).await {
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
        .map_err(|_| CoreError::refused(Refusal::InvalidBody, "the body is not UTF-8"))?;
    let encrypted = params.msg_signature.is_some() || params.encrypt_type.as_deref() == Some("aes");
    let (xml, stale) = if encrypted {
        let crypt = account.crypt.as_ref().ok_or_else(|| {
            CoreError::refused(
                Refusal::ModeMismatch,
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
    let now = clock::now();
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
    let key = format!("unapplicable|{}", sha256_hex(xml));
    let row = event_row(account_id, Head::scraped(xml), xml, key, Some(encrypted));
    insert_failed(db, row, &format!("not applicable: {reason}")).await
}

/// Inserts a verified push that cannot be applied as `failed`, with the reason.
async fn insert_failed(
    db: &impl ConnectionTrait,
    row: wechat_events::ActiveModel,
    reason: &str,
) -> Result<Receipt, CoreError> {
    let row = wechat_events::ActiveModel {
        status: Set(STATUS_FAILED.to_owned()),
        last_error: Set(Some(truncate(reason, 500))),
        ..row
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
        let row = event_row(account_id, Head::of(event), xml, key, encrypted);
        return insert_failed(db, row, &reason).await;
    }
    let now = clock::now();
    let row = wechat_events::ActiveModel {
        status: Set(if handled {
            STATUS_PENDING
        } else {
            STATUS_IGNORED
        }
        .to_owned()),
        outcome: Set((!handled).then(|| ignored_reason(event.name()))),
        processed_at: Set((!handled).then_some(now)),
        ..event_row(account_id, Head::of(event), xml, key, encrypted)
    };
    Ok(match insert_event(db, row).await? {
        Some(id) if handled => Receipt::Stored(id),
        Some(id) => Receipt::Ignored(id),
        None => Receipt::Duplicate,
    })
}

/// The elements a stored push is listed and found by.
struct Head {
    event: String,
    msg_type: String,
    from_user_name: String,
    card_id: Option<String>,
    code: Option<String>,
    create_time: i64,
}

impl Head {
    fn of(event: &Event) -> Self {
        let header = event.header();
        Self {
            event: truncate(&header.event, 64),
            msg_type: truncate(&header.msg_type, 32),
            from_user_name: header.from_user_name.clone(),
            card_id: event.card_id().map(str::to_owned),
            code: event.user_card_code().map(str::to_owned),
            create_time: header.create_time,
        }
    }

    /// Whatever elements of a push that does not parse as an event can be read (empty otherwise).
    fn scraped(xml: &str) -> Self {
        let fields = event::parse_fields(xml).ok();
        let field = |name: &str, max: usize| {
            fields
                .as_ref()
                .and_then(|f| f.non_empty(name))
                .map(|value| truncate(&value, max))
        };
        Self {
            event: field("Event", 64).unwrap_or_default(),
            msg_type: field("MsgType", 32).unwrap_or_default(),
            from_user_name: field("FromUserName", 128).unwrap_or_default(),
            card_id: field("CardId", 64),
            code: field("UserCardCode", 64),
            create_time: field("CreateTime", 32)
                .and_then(|t| t.parse().ok())
                .unwrap_or_default(),
        }
    }
}

/// The row of a push, waiting for the worker.
fn event_row(
    account_id: i64,
    head: Head,
    xml: &str,
    key: String,
    encrypted: Option<bool>,
) -> wechat_events::ActiveModel {
    let now = clock::now();
    wechat_events::ActiveModel {
        account_id: Set(account_id),
        dedupe_hash: Set(sha256_hex(&key)),
        dedupe_key: Set(key),
        event: Set(head.event),
        msg_type: Set(head.msg_type),
        from_user_name: Set(head.from_user_name),
        wechat_card_id: Set(head.card_id),
        user_card_code: Set(head.code),
        create_time: Set(head.create_time),
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
}
