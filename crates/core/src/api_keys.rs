//! API keys of the integration API: 256 random bits, shown once, stored as their SHA-256 (enough for a
//! key of this entropy: no dictionary to attack), each with a name and scopes, revocable.

use crate::clock;
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::audit::Actor;
use crate::entity::api_keys;
use crate::problems::{Problem, Problems};
use crate::sessions::sha256_hex;
use crate::CoreError;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Find members and read their totals.
    MembersRead,
    /// Read members' ledgers.
    LedgerRead,
    /// Credit, debit and reverse.
    LedgerWrite,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 3] = [Self::MembersRead, Self::LedgerRead, Self::LedgerWrite];

    /// The name used in keys and requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MembersRead => "members:read",
            Self::LedgerRead => "ledger:read",
            Self::LedgerWrite => "ledger:write",
        }
    }

    /// Parses a name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Parses a list of scopes separated by spaces or commas; `all` (or nothing) means every scope.
pub fn parse_scopes(text: &str) -> Result<Vec<Scope>, CoreError> {
    let mut scopes = Vec::new();
    for word in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        if word == "all" {
            return Ok(Scope::ALL.to_vec());
        }
        let scope = Scope::parse(word).ok_or_else(|| {
            CoreError::invalid(
                "scopes",
                format!(
                    "unknown scope {word:?}; expected {} or all",
                    Scope::ALL.map(Scope::as_str).join(", ")
                ),
            )
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Ok(Scope::ALL.to_vec());
    }
    Ok(scopes)
}

/// A key that authenticated a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The stored row.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

impl ApiKey {
    /// Whether it has the scope.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// The ledger actor of its changes: `api_key:<name>`.
    pub fn actor(&self) -> String {
        format!("api_key:{}", self.name)
    }
}

fn stored_scopes(row: &api_keys::Model) -> Vec<Scope> {
    row.scopes.split(' ').filter_map(Scope::parse).collect()
}

/// A key just created: the only time the key itself exists.
#[derive(Debug, Clone)]
pub struct Created {
    /// The stored row.
    pub row: api_keys::Model,
    /// The key to hand over (`kk_` and 64 hex characters).
    pub key: String,
}

/// Creates a key.
pub async fn create(
    db: &impl ConnectionTrait,
    name: &str,
    scopes: &[Scope],
    created_by: &str,
) -> Result<Created, CoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "name",
            "must be 1 to 64 characters without control characters",
        ));
    }
    if scopes.is_empty() {
        return Err(CoreError::invalid("scopes", "at least one scope"));
    }
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let key = format!("kk_{}", hex::encode(raw));
    let row = api_keys::ActiveModel {
        name: Set(name.to_owned()),
        key_prefix: Set(key.chars().take(11).collect()),
        key_hash: Set(sha256_hex(&key)),
        scopes: Set(scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")),
        created_by: Set(created_by.chars().take(128).collect()),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(Created { row, key })
}

/// Creates a key as an admin asks for it and audits it (`api_key.create`; never the key itself); the
/// inner error is what is wrong with the form.
pub async fn create_from_form(
    db: &impl ConnectionTrait,
    name: &str,
    scopes: &[Scope],
    by: &Actor,
) -> Result<Result<Created, Problems>, CoreError> {
    if scopes.is_empty() {
        return Ok(Err(Problems::from([(
            "scopes".to_owned(),
            Problem::NoScopes,
        )])));
    }
    let created = match create(db, name, scopes, &by.name).await {
        Ok(created) => created,
        Err(CoreError::Invalid { .. }) => {
            return Ok(Err(Problems::from([("name".to_owned(), Problem::KeyName)])))
        }
        Err(err) => return Err(err),
    };
    let row = &created.row;
    let after =
        serde_json::json!({"name": row.name, "prefix": row.key_prefix, "scopes": row.scopes});
    by.record(
        db,
        "api_key.create",
        format!("api_key:{}", row.id),
        None,
        Some(after),
    )
    .await?;
    Ok(Ok(created))
}

/// The outcome of [`authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// A valid key.
    Valid(ApiKey),
    /// A key that was revoked.
    Revoked,
    /// Not a key of this Kaika.
    Unknown,
}

/// Checks a presented key. Records the last use at most once a minute, so that authenticating is a
/// read on most requests.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Authentication, CoreError> {
    if !key.starts_with("kk_") || key.len() != 67 {
        return Ok(Authentication::Unknown);
    }
    let Some(row) = api_keys::Entity::find()
        .filter(api_keys::Column::KeyHash.eq(sha256_hex(key)))
        .one(db)
        .await?
    else {
        return Ok(Authentication::Unknown);
    };
    if row.revoked_at.is_some() {
        return Ok(Authentication::Revoked);
    }
    let now = clock::now();
    if row
        .last_used_at
        .is_none_or(|at| now - at > chrono::Duration::seconds(60))
    {
        api_keys::Entity::update_many()
            .col_expr(api_keys::Column::LastUsedAt, Expr::value(now))
            .filter(api_keys::Column::Id.eq(row.id))
            .exec(db)
            .await?;
    }
    Ok(Authentication::Valid(ApiKey {
        id: row.id,
        scopes: stored_scopes(&row),
        name: row.name,
    }))
}

/// Every key, newest first (revoked ones too).
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<api_keys::Model>, CoreError> {
    Ok(api_keys::Entity::find()
        .order_by_desc(api_keys::Column::Id)
        .all(db)
        .await?)
}

/// Revokes a key named by its id, its prefix (`kk_…`, 11 characters) or its name (when one active key
/// has it). Revoking a revoked key changes nothing.
pub async fn revoke(db: &impl ConnectionTrait, which: &str) -> Result<api_keys::Model, CoreError> {
    let which = which.trim();
    let mut query = api_keys::Entity::find();
    query = if let Ok(id) = which.parse::<i64>() {
        query.filter(api_keys::Column::Id.eq(id))
    } else if which.starts_with("kk_") {
        query.filter(api_keys::Column::KeyPrefix.eq(which.chars().take(11).collect::<String>()))
    } else {
        query
            .filter(api_keys::Column::Name.eq(which))
            .filter(api_keys::Column::RevokedAt.is_null())
    };
    let rows = query.all(db).await?;
    let row = match rows.len() {
        0 => {
            return Err(CoreError::NotFound {
                what: format!("API key {which:?}"),
            })
        }
        1 => rows.into_iter().next().ok_or_else(|| CoreError::NotFound {
            what: format!("API key {which:?}"),
        })?,
        _ => {
            return Err(CoreError::invalid(
                "key",
                format!("{which:?} names several keys: give the id"),
            ))
        }
    };
    if row.revoked_at.is_some() {
        return Ok(row);
    }
    let mut update: api_keys::ActiveModel = row.into();
    update.revoked_at = Set(Some(clock::now()));
    Ok(update.update(db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_from_commas_or_spaces_and_all_means_every_scope() {
        assert_eq!(
            parse_scopes("ledger:read, members:read").ok(),
            Some(vec![Scope::LedgerRead, Scope::MembersRead])
        );
        assert_eq!(parse_scopes("all").ok(), Some(Scope::ALL.to_vec()));
        assert_eq!(parse_scopes("").ok(), Some(Scope::ALL.to_vec()));
        assert!(parse_scopes("ledger:delete").is_err());
    }
}
