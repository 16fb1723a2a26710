//! The database-backed [`TokenStore`]: every Kaika process shares one access token per AppID, and a lease
//! row lets one process at a time refresh it.

use crate::clock;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use kaika_wechat::token::{AccessToken, TokenStore, TokenStoreError};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, Set};

use crate::entity::access_tokens as tokens;
use crate::entity::accounts;

/// Access tokens in the `access_tokens` table.
#[derive(Debug, Clone)]
pub struct DbTokenStore {
    db: DatabaseConnection,
}

impl DbTokenStore {
    /// A store on this pool.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    async fn ensure_row(&self, app_id: &str) -> Result<(), TokenStoreError> {
        tokens::Entity::insert(tokens::ActiveModel {
            app_id: Set(app_id.to_owned()),
            token: Set(None),
            expires_at: Set(None),
            refreshed_at: Set(None),
            lease_holder: Set(None),
            lease_until: Set(None),
        })
        .on_conflict(
            OnConflict::column(tokens::Column::AppId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await
        .map_err(TokenStoreError::new)?;
        Ok(())
    }
}

#[async_trait]
impl TokenStore for DbTokenStore {
    async fn get(&self, app_id: &str) -> Result<Option<AccessToken>, TokenStoreError> {
        let row = tokens::Entity::find_by_id(app_id.to_owned())
            .one(&self.db)
            .await
            .map_err(TokenStoreError::new)?;
        Ok(row.and_then(|row| {
            Some(AccessToken {
                token: row.token?,
                expires_at: row.expires_at?,
            })
        }))
    }

    async fn save(&self, app_id: &str, token: &AccessToken) -> Result<(), TokenStoreError> {
        self.ensure_row(app_id).await?;
        tokens::Entity::update_many()
            .col_expr(tokens::Column::Token, Expr::value(token.token.clone()))
            .col_expr(tokens::Column::ExpiresAt, Expr::value(token.expires_at))
            .col_expr(tokens::Column::RefreshedAt, Expr::value(clock::now()))
            .filter(tokens::Column::AppId.eq(app_id))
            .exec(&self.db)
            .await
            .map_err(TokenStoreError::new)?;
        accounts::Entity::update_many()
            .col_expr(
                accounts::Column::TokenError,
                Expr::value(Option::<String>::None),
            )
            .filter(accounts::Column::AppId.eq(app_id))
            .filter(accounts::Column::TokenError.is_not_null())
            .exec(&self.db)
            .await
            .map_err(TokenStoreError::new)?;
        Ok(())
    }

    async fn record_configuration_error(
        &self,
        app_id: &str,
        message: &str,
    ) -> Result<(), TokenStoreError> {
        accounts::Entity::update_many()
            .col_expr(
                accounts::Column::TokenError,
                Expr::value(message.to_owned()),
            )
            .col_expr(accounts::Column::TokenErrorAt, Expr::value(clock::now()))
            .filter(accounts::Column::AppId.eq(app_id))
            .exec(&self.db)
            .await
            .map_err(TokenStoreError::new)?;
        Ok(())
    }

    async fn invalidate(&self, app_id: &str, token: &str) -> Result<(), TokenStoreError> {
        tokens::Entity::update_many()
            .col_expr(tokens::Column::Token, Expr::value(Option::<String>::None))
            .col_expr(
                tokens::Column::ExpiresAt,
                Expr::value(Option::<chrono::DateTime<Utc>>::None),
            )
            .filter(tokens::Column::AppId.eq(app_id))
            .filter(tokens::Column::Token.eq(token))
            .exec(&self.db)
            .await
            .map_err(TokenStoreError::new)?;
        Ok(())
    }

    async fn try_acquire_refresh_lease(
        &self,
        app_id: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, TokenStoreError> {
        self.ensure_row(app_id).await?;
        let now = clock::now();
        let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(30));
        let taken = tokens::Entity::update_many()
            .col_expr(tokens::Column::LeaseHolder, Expr::value(holder.to_owned()))
            .col_expr(tokens::Column::LeaseUntil, Expr::value(until))
            .filter(tokens::Column::AppId.eq(app_id))
            .filter(
                Condition::any()
                    .add(tokens::Column::LeaseHolder.is_null())
                    .add(tokens::Column::LeaseUntil.lt(now))
                    .add(tokens::Column::LeaseHolder.eq(holder)),
            )
            .exec(&self.db)
            .await
            .map_err(TokenStoreError::new)?;
        Ok(taken.rows_affected == 1)
    }

    async fn release_refresh_lease(
        &self,
        app_id: &str,
        holder: &str,
    ) -> Result<(), TokenStoreError> {
        tokens::Entity::update_many()
            .col_expr(
                tokens::Column::LeaseHolder,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                tokens::Column::LeaseUntil,
                Expr::value(Option::<chrono::DateTime<Utc>>::None),
            )
            .filter(tokens::Column::AppId.eq(app_id))
            .filter(tokens::Column::LeaseHolder.eq(holder))
            .exec(&self.db)
            .await
            .map_err(TokenStoreError::new)?;
        Ok(())
    }
}
