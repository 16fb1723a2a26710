//! Admin users: their roles, browser sessions and the login throttle. Password hashing lives in the
//! web layer (`kaika-admin`); this module stores and compares nothing but the hash string it is given.

use crate::clock;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use crate::audit::Actor;
use crate::entity::{admin_login_failures, admin_sessions, admin_users, login_attempt_buckets};
use crate::problems::{Problem, Problems};
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
    let now = clock::now();
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
    let now = clock::now();
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
        .filter(admin_sessions::Column::ExpiresAt.gt(clock::now()))
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
    let now = clock::now();
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

/// One login attempt from the admin's form.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    /// As typed (trimmed here).
    pub username: String,
    /// As typed.
    pub password: String,
    /// The client's address, for the throttle and the audit log.
    pub ip: String,
    /// The browser's `User-Agent`, kept with the session.
    pub user_agent: Option<String>,
    /// The session cookie the browser still carries, ended on success (a login rotates the session).
    pub previous_session: Option<String>,
}

/// What a login attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Too many attempts for this username or address: nothing was checked.
    Locked,
    /// Unknown username, wrong password or disabled user (the answer does not say which).
    Failed,
    /// Logged in: the new session, and who.
    LoggedIn {
        /// The session to set as the cookie.
        session: NewSession,
        /// The user.
        user: AdminUser,
    },
}

/// The admin login use case: reserve an attempt (the throttle), check the password (against a decoy
/// hash for unknown names, so the time does not tell), record the failure or the success, rotate the
/// session and audit the login.
pub async fn log_in(
    db: &impl ConnectionTrait,
    throttle: LoginThrottle,
    policy: SessionPolicy,
    attempt: LoginAttempt,
) -> Result<LoginOutcome, CoreError> {
    let username = attempt.username.trim().to_owned();
    let ip = attempt.ip;
    if !reserve_login_attempt(db, throttle, &username, &ip).await? {
        return Ok(LoginOutcome::Locked);
    }
    let found = find_for_login(db, &username).await?;
    let stored = found.as_ref().map_or_else(
        || crate::passwords::decoy_hash().to_owned(),
        |(_, hash)| hash.clone(),
    );
    let given = attempt.password;
    // Argon2 takes tens of milliseconds of CPU: off the async workers.
    let matches = tokio::task::spawn_blocking(move || crate::passwords::verify(&given, &stored))
        .await
        .unwrap_or(false);
    let user = match found {
        Some((user, _)) if matches && !user.disabled => user,
        _ => {
            record_login_failure(db, &username, &ip).await?;
            tracing::info!(%username, %ip, "admin login failed");
            return Ok(LoginOutcome::Failed);
        }
    };
    login_succeeded(db, &username, &ip).await?;
    if let Some(old) = attempt.previous_session {
        end_session(db, &old).await?;
    }
    let session = start_session(
        db,
        user.id,
        policy,
        Some(&ip),
        attempt.user_agent.as_deref(),
    )
    .await?;
    crate::audit::record(
        db,
        crate::audit::AuditEntry {
            actor: format!("admin:{}", user.username),
            action: "admin.login".into(),
            target: format!("admin:{}", user.id),
            ip: Some(ip),
            ..crate::audit::AuditEntry::default()
        },
    )
    .await?;
    Ok(LoginOutcome::LoggedIn { session, user })
}

/// The new-admin form, as typed (the password untrimmed).
#[derive(Debug, Clone, Default)]
pub struct NewAdminForm {
    /// 1 to 64 characters.
    pub username: String,
    /// At least [`crate::passwords::MIN_PASSWORD_CHARS`] characters.
    pub password: String,
    /// A role's name; anything else makes a viewer.
    pub role: String,
}

/// Hashes a password off the async workers (Argon2 takes tens of milliseconds of CPU), after checking
/// its strength; the inner error is the problem with the password.
async fn strong_hash(password: &str) -> Result<Result<String, Problem>, CoreError> {
    if crate::passwords::check_strength(password).is_err() {
        let min = crate::passwords::MIN_PASSWORD_CHARS;
        return Ok(Err(Problem::WeakPassword { min }));
    }
    let password = password.to_owned();
    let hashed = tokio::task::spawn_blocking(move || crate::passwords::hash(&password))
        .await
        .map_err(|err| err.to_string())
        .and_then(|hashed| hashed);
    hashed
        .map(Ok)
        .map_err(|message| CoreError::invalid("password", message))
}

/// Creates an admin from the form and audits it (`admin.create`); the inner error is what is wrong
/// with the form (a taken username included).
pub async fn create_from_form(
    db: &impl ConnectionTrait,
    form: &NewAdminForm,
    by: &Actor,
) -> Result<Result<AdminUser, Problems>, CoreError> {
    let role = Role::parse(&form.role).unwrap_or(Role::Viewer);
    let hash = match strong_hash(&form.password).await? {
        Ok(hash) => hash,
        Err(problem) => return Ok(Err(Problems::from([("password".to_owned(), problem)]))),
    };
    let user = match create_user(db, &form.username, &hash, role).await {
        Ok(user) => user,
        Err(CoreError::Invalid { message, .. }) => {
            return Ok(Err(Problems::from([(
                "username".to_owned(),
                Problem::Invalid(message),
            )])))
        }
        Err(CoreError::Conflict { .. }) => {
            return Ok(Err(Problems::from([(
                "username".to_owned(),
                Problem::AdminExists,
            )])))
        }
        Err(err) => return Err(err),
    };
    let after = serde_json::json!({"username": user.username, "role": role.as_str()});
    let target = format!("admin:{}", user.id);
    by.record(db, "admin.create", target, None, Some(after))
        .await?;
    Ok(Ok(user))
}

/// Gives an admin another role, ends their sessions and audits it (`admin.role`).
pub async fn change_role(
    db: &impl ConnectionTrait,
    user_id: i64,
    role: Role,
    by: &Actor,
) -> Result<(), CoreError> {
    let before = user(db, user_id).await?;
    set_role(db, user_id, role).await?;
    end_all_sessions(db, user_id).await?;
    let (before, after) = (
        serde_json::json!({"role": before.role.as_str()}),
        serde_json::json!({"role": role.as_str()}),
    );
    let target = format!("admin:{user_id}");
    by.record(db, "admin.role", target, Some(before), Some(after))
        .await
}

/// Disables or enables an admin and audits it (`admin.disable`, `admin.enable`).
pub async fn change_disabled(
    db: &impl ConnectionTrait,
    user_id: i64,
    disabled: bool,
    by: &Actor,
) -> Result<(), CoreError> {
    let before = set_disabled(db, user_id, disabled).await?;
    let action = if disabled {
        "admin.disable"
    } else {
        "admin.enable"
    };
    let (before, after) = (
        serde_json::json!({"username": before.username, "disabled": before.disabled}),
        serde_json::json!({"username": before.username, "disabled": disabled}),
    );
    let target = format!("admin:{user_id}");
    by.record(db, action, target, Some(before), Some(after))
        .await
}

/// Sets a new password (the owner hands it over) and audits that it changed, never the password or
/// its hash (`admin.password`); the inner error is the problem with the password.
pub async fn reset_password(
    db: &impl ConnectionTrait,
    user_id: i64,
    password: &str,
    by: &Actor,
) -> Result<Result<(), Problem>, CoreError> {
    let target = user(db, user_id).await?;
    let hash = match strong_hash(password).await? {
        Ok(hash) => hash,
        Err(problem) => return Ok(Err(problem)),
    };
    set_password_hash(db, user_id, &hash).await?;
    let after = serde_json::json!({"username": target.username, "password": "changed"});
    by.record(
        db,
        "admin.password",
        format!("admin:{user_id}"),
        None,
        Some(after),
    )
    .await?;
    Ok(Ok(()))
}
