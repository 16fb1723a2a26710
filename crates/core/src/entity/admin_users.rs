//! `admin_users`: the people who log in to the admin dashboard.

use sea_orm::entity::prelude::*;

/// One row of `admin_users`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_users")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The login name; unique.
    #[sea_orm(unique)]
    pub username: String,
    /// The argon2id hash in PHC string format.
    pub password_hash: String,
    /// `owner`, `operator` or `viewer`.
    pub role: String,
    /// A disabled admin cannot log in.
    pub disabled: bool,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row was last changed.
    pub updated_at: DateTimeUtc,
}

/// Followed through queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

super::stamped!(created_at, updated_at);

impl Entity {
    /// The admin with this login name.
    pub fn find_by_username(username: &str) -> Select<Entity> {
        Self::find().filter(Column::Username.eq(username))
    }
}
