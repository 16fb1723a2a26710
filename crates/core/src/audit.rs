//! The audit log: who changed what, when, from the admin and the CLI.

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryOrder, Set};

use crate::entity::audit_log;
use crate::CoreError;

/// Every action the audit log records, by its code. The admin shows each with a label of its
/// catalogues (`audit_action.<code>`), the code only as a hint; a test finds every code the sources
/// write and checks it is listed here.
pub const ACTIONS: [&str; 27] = [
    "account.create",
    "account.update",
    "account.whitelist",
    "activation.redrive",
    "admin.create",
    "admin.disable",
    "admin.enable",
    "admin.login",
    "admin.logout_everywhere",
    "admin.password",
    "admin.role",
    "api_key.create",
    "api_key.revoke",
    "card.activation_form",
    "card.create",
    "card.import",
    "card.update",
    "card.welcome_bonus",
    "channel.archive",
    "channel.create",
    "channel.rename",
    "event.retry",
    "member.ledger",
    "members.export",
    "members.seed_demo",
    "outbox.retry",
    "outbox.retry_pending",
];

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

#[cfg(test)]
mod tests {
    use super::ACTIONS;
    use std::path::Path;

    /// The quoted `area.verb` codes near an audit call in one source file.
    fn codes_in(text: &str, out: &mut Vec<String>) {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let call = [".record(", ".audit(", "audit::record(", "let action = "]
                .iter()
                .any(|c| line.contains(c));
            if !call {
                continue;
            }
            for near in lines.iter().skip(i).take(8) {
                for piece in near.split('"').skip(1).step_by(2) {
                    let mut parts = piece.split('.');
                    let code = matches!((parts.next(), parts.next(), parts.next()),
                        (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty()
                            && piece.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'));
                    if code {
                        out.push(piece.to_owned());
                    }
                }
            }
        }
    }

    fn walk(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                codes_in(&std::fs::read_to_string(&path).unwrap(), out);
            }
        }
    }

    #[test]
    fn every_action_the_sources_record_is_listed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut found = Vec::new();
        for dir in ["crates/core/src", "crates/server/src", "web-admin/src"] {
            walk(&root.join(dir), &mut found);
        }
        assert!(found.contains(&"admin.login".to_owned()), "{found:?}");
        let missing: Vec<_> = found
            .iter()
            .filter(|code| !ACTIONS.contains(&code.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "audit actions missing from ACTIONS: {missing:?}"
        );
    }
}
