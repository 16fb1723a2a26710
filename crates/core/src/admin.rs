//! The admin dashboard's use cases: admin users and roles, browser sessions, login throttling, the audit
//! log, and the queries and small changes its pages need (member search, dashboard numbers, account
//! edits, card import, channel renames). Password hashing lives in the web layer (`kaika-admin`); this
//! module stores and compares nothing but the hash string it is given.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::RngCore;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;

use crate::entity::{
    accounts, admin_login_failures, admin_sessions, admin_users, audit_log, cards,
    channel_daily_stats, channels, login_attempt_buckets, members, outbox,
};
use crate::secrets::MasterKey;
use crate::sessions::sha256_hex;
use crate::CoreError;

/// What an admin may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, including admins and API keys.
    Owner,
    /// Cards, channels, members and the ledger.
    Operator,
    /// Read-only, with personal data masked.
    Viewer,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 3] = [Role::Owner, Role::Operator, Role::Viewer];

    /// Parses `owner`, `operator` or `viewer`.
    pub fn parse(text: &str) -> Result<Self, CoreError> {
        match text {
            "owner" => Ok(Self::Owner),
            "operator" => Ok(Self::Operator),
            "viewer" => Ok(Self::Viewer),
            _ => Err(CoreError::invalid(
                "role",
                format!("{text:?} is not a role: expected owner, operator or viewer"),
            )),
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Operator => "operator",
            Self::Viewer => "viewer",
        }
    }

    /// Whether this role may change cards, channels, members and the ledger.
    pub fn can_operate(self) -> bool {
        matches!(self, Self::Owner | Self::Operator)
    }

    /// Whether this role may change accounts, admins and API keys.
    pub fn is_owner(self) -> bool {
        self == Self::Owner
    }

    /// Whether this role sees personal data (names, mobiles, openids) unmasked.
    pub fn sees_personal_data(self) -> bool {
        self.can_operate()
    }
}

/// An admin as the pages see it (no password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser {
    /// Surrogate key.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Whether logins are refused.
    pub disabled: bool,
    /// When created.
    pub created_at: DateTime<Utc>,
}

impl TryFrom<admin_users::Model> for AdminUser {
    type Error = CoreError;

    fn try_from(row: admin_users::Model) -> Result<Self, CoreError> {
        Ok(Self {
            id: row.id,
            role: Role::parse(&row.role)?,
            username: row.username,
            disabled: row.disabled,
            created_at: row.created_at,
        })
    }
}

/// Checks a login name: 1 to 64 letters, digits, `_`, `-`, `.` or `@`; stored lower-cased.
pub fn parse_username(text: &str) -> Result<String, CoreError> {
    let text = text.trim();
    let valid = (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'));
    if valid {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(CoreError::invalid(
            "username",
            "expected 1 to 64 letters, digits, '_', '-', '.' or '@'",
        ))
    }
}

/// Creates an admin with an already hashed password. A second admin with the same name is refused.
pub async fn create_user(
    db: &impl ConnectionTrait,
    username: &str,
    password_hash: &str,
    role: Role,
) -> Result<AdminUser, CoreError> {
    let username = parse_username(username)?;
    if admin_users::Entity::find_by_username(&username)
        .one(db)
        .await?
        .is_some()
    {
        return Err(CoreError::Conflict {
            what: format!("admin {username}"),
        });
    }
    let inserted = admin_users::ActiveModel {
        username: Set(username.clone()),
        password_hash: Set(password_hash.to_owned()),
        role: Set(role.as_str().to_owned()),
        disabled: Set(false),
        ..Default::default()
    }
    .insert(db)
    .await;
    match inserted {
        Ok(row) => row.try_into(),
        // Another process created the same admin since the check above (e.g. two instances starting
        // together on a fresh database, each creating the first owner).
        Err(err)
            if matches!(
                err.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            Err(CoreError::Conflict {
                what: format!("admin {username}"),
            })
        }
        Err(err) => Err(err.into()),
    }
}

/// How many admins exist (a fresh install has none).
pub async fn count_users(db: &impl ConnectionTrait) -> Result<u64, CoreError> {
    Ok(admin_users::Entity::find().count(db).await?)
}

/// Every admin, oldest first.
pub async fn list_users(db: &impl ConnectionTrait) -> Result<Vec<AdminUser>, CoreError> {
    admin_users::Entity::find()
        .order_by_asc(admin_users::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(AdminUser::try_from)
        .collect()
}

/// The admin with this login name and its stored password hash, if it exists.
pub async fn find_for_login(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<(AdminUser, String)>, CoreError> {
    let Ok(username) = parse_username(username) else {
        return Ok(None);
    };
    match admin_users::Entity::find_by_username(&username)
        .one(db)
        .await?
    {
        Some(row) => {
            let hash = row.password_hash.clone();
            Ok(Some((row.try_into()?, hash)))
        }
        None => Ok(None),
    }
}

/// Replaces an admin's password hash and ends all of its sessions.
pub async fn set_password_hash(
    db: &impl ConnectionTrait,
    user_id: i64,
    password_hash: &str,
) -> Result<(), CoreError> {
    let row = find_user_row(db, user_id).await?;
    let mut row: admin_users::ActiveModel = row.into();
    row.password_hash = Set(password_hash.to_owned());
    row.update(db).await?;
    end_all_sessions(db, user_id).await?;
    Ok(())
}

/// Changes an admin's role.
pub async fn set_role(
    db: &impl ConnectionTrait,
    user_id: i64,
    role: Role,
) -> Result<(), CoreError> {
    let row = find_user_row(db, user_id).await?;
    let mut row: admin_users::ActiveModel = row.into();
    row.role = Set(role.as_str().to_owned());
    row.update(db).await?;
    Ok(())
}

/// Disables or enables an admin; disabling ends all of its sessions at once. Returns the admin as it
/// was before.
pub async fn set_disabled(
    db: &impl ConnectionTrait,
    user_id: i64,
    disabled: bool,
) -> Result<AdminUser, CoreError> {
    let row = find_user_row(db, user_id).await?;
    let before: AdminUser = row.clone().try_into()?;
    let mut row: admin_users::ActiveModel = row.into();
    row.disabled = Set(disabled);
    row.update(db).await?;
    if disabled {
        end_all_sessions(db, user_id).await?;
    }
    Ok(before)
}

/// One admin.
pub async fn user(db: &impl ConnectionTrait, user_id: i64) -> Result<AdminUser, CoreError> {
    find_user_row(db, user_id).await?.try_into()
}

async fn find_user_row(
    db: &impl ConnectionTrait,
    user_id: i64,
) -> Result<admin_users::Model, CoreError> {
    admin_users::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("admin {user_id}"),
        })
}

/// How long admin sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after login, however busy.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
        }
    }
}

/// A session just started: the cookie value (shown once, stored only hashed) and its CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The cookie value.
    pub token: String,
    /// The token forms must carry.
    pub csrf_token: String,
    /// The absolute end.
    pub expires_at: DateTime<Utc>,
}

fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

/// Starts a session for an admin (a new token every login: a token planted before login is useless).
pub async fn start_session(
    db: &impl ConnectionTrait,
    user_id: i64,
    policy: SessionPolicy,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<NewSession, CoreError> {
    let token = random_token();
    let csrf_token = random_token();
    let now = Utc::now();
    let expires_at = now + policy.absolute;
    admin_sessions::ActiveModel {
        token_hash: Set(sha256_hex(&token)),
        user_id: Set(user_id),
        csrf_token: Set(csrf_token.clone()),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(expires_at),
        ip: Set(ip.map(|s| s.chars().take(64).collect())),
        user_agent: Set(user_agent.map(|s| s.chars().take(255).collect())),
    }
    .insert(db)
    .await?;
    Ok(NewSession {
        token,
        csrf_token,
        expires_at,
    })
}

/// A live session and its admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The admin.
    pub user: AdminUser,
    /// The token forms must carry.
    pub csrf_token: String,
    /// When it started.
    pub created_at: DateTime<Utc>,
}

/// The session of a cookie value, if it exists, has expired neither way, and its admin is enabled.
/// Touches `last_seen_at` (at most once a minute, to spare the database).
pub async fn authenticate(
    db: &impl ConnectionTrait,
    token: &str,
    policy: SessionPolicy,
) -> Result<Option<Session>, CoreError> {
    let hash = sha256_hex(token);
    let Some(row) = admin_sessions::Entity::find_by_id(hash.clone())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let now = Utc::now();
    if now >= row.expires_at || now >= row.last_seen_at + policy.idle {
        admin_sessions::Entity::delete_by_id(hash).exec(db).await?;
        return Ok(None);
    }
    let Some(user) = admin_users::Entity::find_by_id(row.user_id).one(db).await? else {
        return Ok(None);
    };
    if user.disabled {
        return Ok(None);
    }
    if now - row.last_seen_at > Duration::seconds(60) {
        admin_sessions::Entity::update_many()
            .col_expr(admin_sessions::Column::LastSeenAt, Expr::value(now))
            .filter(admin_sessions::Column::TokenHash.eq(hash))
            .exec(db)
            .await?;
    }
    Ok(Some(Session {
        user: user.try_into()?,
        csrf_token: row.csrf_token,
        created_at: row.created_at,
    }))
}

/// Ends one session (logout).
pub async fn end_session(db: &impl ConnectionTrait, token: &str) -> Result<(), CoreError> {
    admin_sessions::Entity::delete_by_id(sha256_hex(token))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends every session of an admin (logout everywhere); returns how many ended.
pub async fn end_all_sessions(db: &impl ConnectionTrait, user_id: i64) -> Result<u64, CoreError> {
    let done = admin_sessions::Entity::delete_many()
        .filter(admin_sessions::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}

/// How many live sessions an admin has.
pub async fn count_sessions(db: &impl ConnectionTrait, user_id: i64) -> Result<u64, CoreError> {
    Ok(admin_sessions::Entity::find()
        .filter(admin_sessions::Column::UserId.eq(user_id))
        .filter(admin_sessions::Column::ExpiresAt.gt(Utc::now()))
        .count(db)
        .await?)
}

/// How many failed logins are tolerated, and over which window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    /// Attempts per username from one address within the window (a success gives its own back).
    pub per_username: u64,
    /// Attempts per client address within the window (a success gives its own back).
    pub per_ip: u64,
    /// The window.
    pub window: Duration,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            per_username: 5,
            per_ip: 20,
            window: Duration::minutes(15),
        }
    }
}

fn username_bucket(username: &str, ip: &str) -> String {
    let username: String = username
        .trim()
        .to_ascii_lowercase()
        .chars()
        .take(64)
        .collect();
    let ip: String = ip.chars().take(64).collect();
    format!("user:{username}@{ip}")
}

fn address_bucket(ip: &str) -> String {
    format!("ip:{}", ip.chars().take(64).collect::<String>())
}

/// Takes one attempt from a bucket in one statement, or none when the bucket is full for the current
/// window; concurrent takers are ordered by the row lock, so no more than `limit` ever pass.
async fn take_attempt(
    db: &impl ConnectionTrait,
    bucket: &str,
    limit: u64,
    window: Duration,
) -> Result<bool, CoreError> {
    use login_attempt_buckets::Column;
    use sea_orm::sea_query::{Alias, CaseStatement, OnConflict, Query};
    let now = Utc::now();
    let table = Alias::new("login_attempt_buckets");
    let expired = || Expr::col((table.clone(), Column::WindowStart)).lt(now - window);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let statement = Query::insert()
        .into_table(login_attempt_buckets::Entity)
        .columns([Column::Bucket, Column::WindowStart, Column::Attempts])
        .values([bucket.into(), now.into(), 1i64.into()])
        .map_err(|e| CoreError::Database(sea_orm::DbErr::Custom(e.to_string())))?
        .on_conflict(
            OnConflict::column(Column::Bucket)
                .value(
                    Column::Attempts,
                    CaseStatement::new()
                        .case(expired(), 1i64)
                        .finally(Expr::col((table.clone(), Column::Attempts)).add(1)),
                )
                .value(
                    Column::WindowStart,
                    CaseStatement::new()
                        .case(expired(), now)
                        .finally(Expr::col((table.clone(), Column::WindowStart))),
                )
                .action_and_where(
                    expired().or(Expr::col((table.clone(), Column::Attempts)).lt(limit)),
                )
                .to_owned(),
        )
        .returning_col(Column::Attempts)
        .to_owned();
    let taken = db
        .query_one(db.get_database_backend().build(&statement))
        .await?;
    Ok(taken.is_some())
}

/// Gives back an attempt taken by [`take_attempt`].
async fn give_back_attempt(db: &impl ConnectionTrait, bucket: &str) -> Result<(), CoreError> {
    login_attempt_buckets::Entity::update_many()
        .col_expr(
            login_attempt_buckets::Column::Attempts,
            Expr::col(login_attempt_buckets::Column::Attempts).sub(1),
        )
        .filter(login_attempt_buckets::Column::Bucket.eq(bucket))
        .filter(login_attempt_buckets::Column::Attempts.gt(0))
        .exec(db)
        .await?;
    Ok(())
}

/// Reserves one login attempt for this username from this address before the password is checked, or
/// refuses (`false`) when the address, or the username at this address, used its attempts of the window.
/// The reservation is the record: concurrent guesses cannot all be checked. The username's limit counts
/// per address, so guessing from elsewhere never locks the owner out of their own address.
pub async fn reserve_login_attempt(
    db: &impl ConnectionTrait,
    throttle: LoginThrottle,
    username: &str,
    ip: &str,
) -> Result<bool, CoreError> {
    let address = address_bucket(ip);
    if !take_attempt(db, &address, throttle.per_ip, throttle.window).await? {
        return Ok(false);
    }
    let user = username_bucket(username, ip);
    if !take_attempt(db, &user, throttle.per_username, throttle.window).await? {
        give_back_attempt(db, &address).await?;
        return Ok(false);
    }
    Ok(true)
}

/// Records a failed login.
pub async fn record_login_failure(
    db: &impl ConnectionTrait,
    username: &str,
    ip: &str,
) -> Result<(), CoreError> {
    admin_login_failures::ActiveModel {
        username: Set(username
            .trim()
            .to_ascii_lowercase()
            .chars()
            .take(64)
            .collect()),
        ip: Set(ip.chars().take(64).collect()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// After a successful login: the attempt reserved for it is given back to the address, the username's
/// attempts at this address and its recorded failures are forgotten.
pub async fn login_succeeded(
    db: &impl ConnectionTrait,
    username: &str,
    ip: &str,
) -> Result<(), CoreError> {
    give_back_attempt(db, &address_bucket(ip)).await?;
    login_attempt_buckets::Entity::delete_many()
        .filter(login_attempt_buckets::Column::Bucket.eq(username_bucket(username, ip)))
        .exec(db)
        .await?;
    admin_login_failures::Entity::delete_many()
        .filter(admin_login_failures::Column::Username.eq(username.trim().to_ascii_lowercase()))
        .exec(db)
        .await?;
    Ok(())
}

/// One action to write to the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    /// Who: `admin:<username>` or `cli`.
    pub actor: String,
    /// What, e.g. `card.create`.
    pub action: String,
    /// On what, e.g. `card:3`.
    pub target: String,
    /// The state before (JSON).
    pub before: Option<serde_json::Value>,
    /// The state after (JSON).
    pub after: Option<serde_json::Value>,
    /// The client address.
    pub ip: Option<String>,
}

/// Appends to the audit log.
pub async fn audit(db: &impl ConnectionTrait, entry: AuditEntry) -> Result<(), CoreError> {
    audit_log::ActiveModel {
        actor: Set(entry.actor.chars().take(96).collect()),
        action: Set(entry.action.chars().take(64).collect()),
        target: Set(entry.target.chars().take(255).collect()),
        before: Set(entry.before.map(|v| v.to_string())),
        after: Set(entry.after.map(|v| v.to_string())),
        ip: Set(entry.ip.map(|s| s.chars().take(64).collect())),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A page of the audit log, newest first, with the total count.
pub async fn audit_page(
    db: &impl ConnectionTrait,
    page: u64,
    per_page: u64,
) -> Result<(Vec<audit_log::Model>, u64), CoreError> {
    let paginator = audit_log::Entity::find()
        .order_by_desc(audit_log::Column::Id)
        .paginate(db, per_page.max(1));
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(page).await?, total))
}

/// What an admin may change on an account; `None` keeps the stored value (secrets are write-only).
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    /// New name.
    pub name: Option<String>,
    /// New callback Token.
    pub callback_token: Option<String>,
    /// New message mode.
    pub message_mode: Option<crate::accounts::MessageMode>,
    /// New AppSecret.
    pub app_secret: Option<crate::accounts::SecretText>,
    /// New EncodingAESKey.
    pub encoding_aes_key: Option<crate::accounts::SecretText>,
    /// New mini-program AppID.
    pub mini_app_id: Option<crate::accounts::AppId>,
    /// New mini-program AppSecret.
    pub mini_app_secret: Option<crate::accounts::SecretText>,
}

/// Applies [`AccountChanges`]; secrets are sealed exactly as `accounts::add` seals them.
pub async fn update_account(
    db: &impl ConnectionTrait,
    key: &MasterKey,
    app_id: &str,
    changes: AccountChanges,
) -> Result<crate::accounts::AccountSummary, CoreError> {
    let row = accounts::Entity::find_by_app_id(app_id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("account {app_id}"),
        })?;
    let mode = changes
        .message_mode
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| row.message_mode.clone());
    if mode != "plain"
        && row.encoding_aes_key_sealed.is_none()
        && changes.encoding_aes_key.is_none()
    {
        return Err(CoreError::invalid(
            "encoding_aes_key",
            "required when the message mode is compatible or safe",
        ));
    }
    // The context must match `accounts::seal_context`; `load` after an update proves it (tested).
    let seal = |column: &str, secret: &crate::accounts::SecretText| {
        key.seal(secret.expose(), &format!("accounts.{column}:{app_id}"))
    };
    let mut active: accounts::ActiveModel = row.clone().into();
    if let Some(name) = changes.name {
        let len = name.chars().count();
        if len == 0 || len > 64 {
            return Err(CoreError::invalid("name", "expected 1 to 64 characters"));
        }
        active.name = Set(name);
    }
    if let Some(token) = changes.callback_token {
        active.callback_token = Set(crate::accounts::parse_callback_token(&token)?);
    }
    active.message_mode = Set(mode);
    if let Some(secret) = &changes.app_secret {
        active.app_secret_sealed = Set(seal("app_secret", secret));
    }
    if let Some(secret) = &changes.encoding_aes_key {
        active.encoding_aes_key_sealed = Set(Some(seal("encoding_aes_key", secret)));
    }
    if let Some(mini) = &changes.mini_app_id {
        active.mini_app_id = Set(Some(mini.to_string()));
    }
    if let Some(secret) = &changes.mini_app_secret {
        active.mini_app_secret_sealed = Set(Some(seal("mini_app_secret", secret)));
    }
    Ok(active.update(db).await?.into())
}

/// Stores a card that exists on WeChat but not here (import through `card/batchget` + `card/get`).
/// Returns `None` when it is known already.
pub async fn import_card(
    db: &impl ConnectionTrait,
    account_id: i64,
    wechat_card_id: &str,
    card: &kaika_wechat::card::MemberCard,
    wechat_status: &str,
) -> Result<Option<cards::Model>, CoreError> {
    if cards::Entity::find_by_wechat_id(wechat_card_id)
        .one(db)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let review_status = match wechat_status {
        "CARD_STATUS_VERIFY_OK" | "CARD_STATUS_DISPATCH" => "approved",
        "CARD_STATUS_VERIFY_FAIL" | "CARD_STATUS_VERIFY_FALL" => "refused",
        _ => "pending",
    };
    let base = &card.base_info;
    let row = cards::ActiveModel {
        account_id: Set(account_id),
        wechat_card_id: Set(wechat_card_id.to_owned()),
        title: Set(base.title.clone()),
        brand_name: Set(base.brand_name.clone()),
        color: Set(base.color.as_str().to_owned()),
        logo_url: Set(base.logo_url.clone()),
        review_status: Set(review_status.to_owned()),
        refuse_reason: Set(None),
        activation_form: Set(None),
        welcome_bonus: Set(0),
        membership_prefix: Set(String::new()),
        next_membership_seq: Set(1),
        stored_value: Set(card.supply_balance),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(Some(row))
}

/// Sets a card's welcome bonus (points credited at activation).
pub async fn set_welcome_bonus(
    db: &impl ConnectionTrait,
    card_id: i64,
    welcome_bonus: i64,
) -> Result<(), CoreError> {
    if welcome_bonus < 0 {
        return Err(CoreError::invalid("welcome_bonus", "must not be negative"));
    }
    let row = cards::Entity::find_by_id(card_id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("card {card_id}"),
        })?;
    let mut row: cards::ActiveModel = row.into();
    row.welcome_bonus = Set(welcome_bonus);
    row.update(db).await?;
    Ok(())
}

/// Renames a channel (its `outer_str` never changes).
pub async fn rename_channel(
    db: &impl ConnectionTrait,
    channel_id: i64,
    name: &str,
) -> Result<channels::Model, CoreError> {
    let len = name.chars().count();
    if len == 0 || len > 64 {
        return Err(CoreError::invalid("name", "expected 1 to 64 characters"));
    }
    let row = channels::Entity::find_by_id(channel_id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("channel {channel_id}"),
        })?;
    let mut row: channels::ActiveModel = row.into();
    row.name = Set(name.to_owned());
    Ok(row.update(db).await?)
}

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
pub async fn search_members(
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
pub async fn members_batch(
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
pub async fn member(db: &impl ConnectionTrait, id: i64) -> Result<members::Model, CoreError> {
    members::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("member {id}"),
        })
}

/// The dashboard's headline numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DashboardNumbers {
    /// Members that are active.
    pub members: u64,
    /// Activations since midnight UTC.
    pub activations_today: u64,
    /// Activations in the last 7 days.
    pub activations_7d: u64,
    /// Activations in the last 30 days.
    pub activations_30d: u64,
    /// Cards waiting for WeChat's review.
    pub cards_pending_review: u64,
}

/// Counts the dashboard's numbers.
pub async fn dashboard_numbers(db: &impl ConnectionTrait) -> Result<DashboardNumbers, CoreError> {
    let now = Utc::now();
    let midnight = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(now, |d| d.and_utc());
    let activated_since = |since: DateTime<Utc>| {
        members::Entity::find().filter(members::Column::ActivatedAt.gte(since))
    };
    Ok(DashboardNumbers {
        members: members::Entity::find()
            .filter(members::Column::Status.eq("active"))
            .count(db)
            .await?,
        activations_today: activated_since(midnight).count(db).await?,
        activations_7d: activated_since(now - Duration::days(7)).count(db).await?,
        activations_30d: activated_since(now - Duration::days(30)).count(db).await?,
        cards_pending_review: cards::Entity::find()
            .filter(cards::Column::ReviewStatus.eq("pending"))
            .count(db)
            .await?,
    })
}

/// The funnel of one day (or of a whole channel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Funnel {
    /// Activation parameters handed out.
    pub params_requested: i64,
    /// Cards claimed.
    pub claimed: i64,
    /// Cards activated.
    pub activated: i64,
    /// Cards deleted.
    pub deleted: i64,
}

impl Funnel {
    /// Activations per claim, in percent (`None` before the first claim).
    pub fn activation_rate(&self) -> Option<i64> {
        (self.claimed > 0).then(|| self.activated * 100 / self.claimed)
    }
}

fn sum(column: &str) -> SimpleExpr {
    // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back so both databases decode an i64.
    Expr::cust(format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)"))
}

type FunnelRow<K> = (K, i64, i64, i64, i64);

fn to_funnel<K>(row: FunnelRow<K>) -> (K, Funnel) {
    (
        row.0,
        Funnel {
            params_requested: row.1,
            claimed: row.2,
            activated: row.3,
            deleted: row.4,
        },
    )
}

/// The funnel per day since `since` (days without activity are absent), optionally for one card and
/// channel, oldest first.
pub async fn daily_funnel(
    db: &impl ConnectionTrait,
    since: NaiveDate,
    card_and_channel: Option<(i64, &str)>,
) -> Result<Vec<(NaiveDate, Funnel)>, CoreError> {
    let mut query = channel_daily_stats::Entity::find()
        .select_only()
        .column(channel_daily_stats::Column::Day)
        .column_as(sum("params_requested"), "params_requested")
        .column_as(sum("claimed"), "claimed")
        .column_as(sum("activated"), "activated")
        .column_as(sum("deleted"), "deleted")
        .filter(channel_daily_stats::Column::Day.gte(since));
    if let Some((card_id, outer_str)) = card_and_channel {
        query = query
            .filter(channel_daily_stats::Column::CardId.eq(card_id))
            .filter(channel_daily_stats::Column::OuterStr.eq(outer_str));
    }
    let rows: Vec<FunnelRow<NaiveDate>> = query
        .group_by(channel_daily_stats::Column::Day)
        .order_by_asc(channel_daily_stats::Column::Day)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(to_funnel).collect())
}

/// The funnel of every (card, channel) over all days.
pub async fn channel_funnels(
    db: &impl ConnectionTrait,
) -> Result<Vec<((i64, String), Funnel)>, CoreError> {
    let rows: Vec<(i64, String, i64, i64, i64, i64)> = channel_daily_stats::Entity::find()
        .select_only()
        .column(channel_daily_stats::Column::CardId)
        .column(channel_daily_stats::Column::OuterStr)
        .column_as(sum("params_requested"), "params_requested")
        .column_as(sum("claimed"), "claimed")
        .column_as(sum("activated"), "activated")
        .column_as(sum("deleted"), "deleted")
        .group_by(channel_daily_stats::Column::CardId)
        .group_by(channel_daily_stats::Column::OuterStr)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(card, outer, a, b, c, d)| to_funnel(((card, outer), a, b, c, d)))
        .collect())
}

/// The codes of some members by id (the sync page names each job's member).
pub async fn member_codes(
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

/// Sends a failed (or waiting) outbox job again at the next round of the worker: `pending`, due now,
/// its attempts counted from zero. Its error stays until the next attempt replaces it. A job being sent
/// or already sent is left alone (`Ok(false)`).
pub async fn retry_outbox_job(db: &impl ConnectionTrait, job_id: i64) -> Result<bool, CoreError> {
    let now = Utc::now();
    let done = outbox::Entity::update_many()
        .col_expr(
            outbox::Column::Status,
            Expr::value(crate::outbox::STATUS_PENDING),
        )
        .col_expr(outbox::Column::Attempts, Expr::value(0))
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
        .col_expr(outbox::Column::UpdatedAt, Expr::value(now))
        .filter(outbox::Column::Id.eq(job_id))
        .filter(
            outbox::Column::Status
                .is_in([crate::outbox::STATUS_FAILED, crate::outbox::STATUS_PENDING]),
        )
        .exec(db)
        .await?;
    if done.rows_affected == 0 && outbox::Entity::find_by_id(job_id).one(db).await?.is_none() {
        return Err(CoreError::NotFound {
            what: format!("outbox job {job_id}"),
        });
    }
    Ok(done.rows_affected > 0)
}

/// What [`seed_demo_members`] made.
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
/// card's channels, creation dates over the last 90 days. For benchmarks and demos only: no ledger
/// entries, nothing is sent to WeChat. Numbers continue after the card's existing members, so it can be
/// run again.
pub async fn seed_demo_members(
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
    let now = Utc::now();
    let batch = batch.clamp(1, 1000);
    let mut inserted = 0;
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
                let status = if r % 50 == 0 { "deleted" } else { "active" };
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
                    outer_str: Set(if channels.is_empty() {
                        None
                    } else {
                        Some(channels[(r as usize >> 4) % channels.len()].clone())
                    }),
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
    // Fresh statistics: right after a bulk insert PostgreSQL still plans for a small table (a
    // backward scan of the primary key instead of the search indexes) until autovacuum analyses it.
    db.execute_unprepared("ANALYZE members").await?;
    Ok(Seeded {
        card_id: card.id,
        inserted,
    })
}
