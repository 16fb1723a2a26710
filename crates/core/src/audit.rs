//! The audit log: who changed what, when, from the admin and the CLI.

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryOrder, Set};

use crate::entity::audit_log;
use crate::CoreError;

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

/// Who acts, for the audit entries a use case writes on their behalf.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// `admin:<username>` or `cli`.
    pub name: String,
    /// The client address.
    pub ip: Option<String>,
}

impl Actor {
    /// Appends `action` on `target` by this actor to the audit log.
    pub async fn record(
        &self,
        db: &impl ConnectionTrait,
        action: &str,
        target: String,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<(), CoreError> {
        record(
            db,
            AuditEntry {
                actor: self.name.clone(),
                action: action.to_owned(),
                target,
                before,
                after,
                ip: self.ip.clone(),
            },
        )
        .await
    }
}

/// Appends to the audit log.
pub async fn record(db: &impl ConnectionTrait, entry: AuditEntry) -> Result<(), CoreError> {
    audit_log::ActiveModel {
        actor: Set(entry.actor.chars().take(96).collect()),
        action: Set(entry.action.chars().take(64).collect()),
        target: Set(entry.target.chars().take(255).collect()),
        before: Set(entry.before.map(|v| v.to_string())),
        after: Set(entry.after.map(|v| v.to_string())),
        ip: Set(entry.ip.map(|s| s.chars().take(64).collect())),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A page of the audit log, newest first, with the total count.
pub async fn page(
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
