//! Mini-program sessions: an opaque bearer token (256 random bits) stored only as its SHA-256.

use crate::clock;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use crate::entity::mini_sessions;
use crate::CoreError;

/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::days(7);

/// A logged-in mini-program user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiniSession {
    /// The account whose mini-program it is.
    pub account_id: i64,
    /// The mini-program openid.
    pub mini_openid: String,
    /// The unionid, when WeChat gave one.
    pub unionid: Option<String>,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}

/// Hex SHA-256, the stored form of tokens and tickets.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Starts a session and returns its token (shown once) and expiry.
pub async fn create(
    db: &impl ConnectionTrait,
    account_id: i64,
    mini_openid: &str,
    unionid: Option<&str>,
) -> Result<(String, DateTime<Utc>), CoreError> {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let now = clock::now();
    let expires_at = now + SESSION_TTL;
    mini_sessions::ActiveModel {
        token_hash: Set(sha256_hex(&token)),
        account_id: Set(account_id),
        mini_openid: Set(mini_openid.to_owned()),
        unionid: Set(unionid.map(str::to_owned)),
        created_at: Set(now),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    Ok((token, expires_at))
}

/// The session of a token, if it exists and has not expired.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    token: &str,
) -> Result<Option<MiniSession>, CoreError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let row = mini_sessions::Entity::find_by_id(sha256_hex(token))
        .filter(mini_sessions::Column::ExpiresAt.gt(clock::now()))
        .one(db)
        .await?;
    Ok(row.map(|row| MiniSession {
        account_id: row.account_id,
        mini_openid: row.mini_openid,
        unionid: row.unionid,
        expires_at: row.expires_at,
    }))
}
