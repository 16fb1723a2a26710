//! `kaika reconcile`, `kaika api-key create|list|revoke` and `kaika outbox status|list|retry`: the
//! ledger's operations before the admin dashboard has them.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use kaika_core::api_keys;
use kaika_core::display;
use kaika_core::outbox::{self, JobFilter};
use kaika_core::reconcile::{self, Options, OUTCOME_IN_SYNC};

use crate::config::Settings;
use crate::startup;

/// `kaika reconcile …`
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Only this card (WeChat card id or Kaika's id); every card when omitted.
    #[arg(long)]
    pub card: Option<String>,
    /// Enqueue corrections that put the local totals back on the cards that drifted.
    #[arg(long)]
    pub fix: bool,
    /// `userinfo/get` calls at the same time.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Also list the members that are in sync.
    #[arg(long)]
    pub all: bool,
}

/// `kaika api-key …`
#[derive(Debug, Subcommand)]
pub enum ApiKeyAction {
    /// Create a key for the integration API and print it (the only time it is shown).
    Create {
        /// What the key is for, e.g. till-shop-1.
        #[arg(long)]
        name: String,
        /// Scopes separated by commas: members:read, ledger:read, ledger:write, or all.
        #[arg(long, default_value = "all")]
        scopes: String,
    },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by id, prefix (kk_…) or name.
    Revoke {
        /// Id, prefix or name.
        key: String,
    },
}

/// `kaika outbox …`
#[derive(Debug, Subcommand)]
pub enum OutboxAction {
    /// How many sync jobs are pending, sending, sent and failed.
    Status,
    /// List sync jobs, newest first.
    List {
        /// Only this status: pending, sending, sent or failed.
        #[arg(long)]
        status: Option<String>,
        /// Only this member.
        #[arg(long)]
        member: Option<i64>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Make every pending job due now (after WeChat came back) instead of waiting for its back-off.
    Retry,
}

/// Runs `kaika reconcile`.
pub async fn reconcile(settings: &Settings, args: ReconcileArgs) -> anyhow::Result<()> {
    let ctx = startup::prepare(settings).await?;
    let options = Options {
        card: args.card,
        fix: args.fix,
        actor: format!("cli:{}", whoami()),
        concurrency: args.concurrency.max(1),
    };
    let report = reconcile::run(&ctx.db, &ctx.clients, &options)
        .await
        .context("the reconciliation failed")?;
    println!(
        "{:>8}  {:<14}  {:<8}  {:>12}  {:>12}  {:>14}  {:>14}  {:>7}  detail",
        "member", "code", "outcome", "points", "card points", "balance", "card balance", "foreign"
    );
    let show = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let show_yuan = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), display::yuan);
    for f in report
        .findings
        .iter()
        .filter(|f| args.all || f.outcome != OUTCOME_IN_SYNC)
    {
        println!(
            "{:>8}  {:<14}  {:<8}  {:>12}  {:>12}  {:>14}  {:>14}  {:>7}  {}",
            f.member_id,
            f.code,
            f.outcome,
            f.local_points,
            show(f.remote_points),
            display::yuan(f.local_balance),
            show_yuan(f.remote_balance),
            f.foreign_events,
            f.detail.as_deref().unwrap_or("")
        );
    }
    let run = &report.run;
    println!(
        "run {}: {} checked, {} in sync, {} drifted, {} pending, {} failed, {} corrections enqueued, \
         {} foreign update_member_card events{}",
        run.id,
        run.members_checked,
        run.members_in_sync,
        run.members_drifted,
        run.members_pending,
        run.members_failed,
        run.corrections_enqueued,
        run.foreign_events,
        if run.fix || run.members_drifted == 0 {
            String::new()
        } else {
            "; run again with --fix to correct the cards".to_owned()
        }
    );
    if let Some(error) = &run.error {
        anyhow::bail!("the run stopped early: {error}");
    }
    Ok(())
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}

/// Runs `kaika api-key …`.
pub async fn api_key(settings: &Settings, action: ApiKeyAction) -> anyhow::Result<()> {
    let ctx = startup::prepare(settings).await?;
    match action {
        ApiKeyAction::Create { name, scopes } => {
            let scopes = api_keys::parse_scopes(&scopes)?;
            let created =
                api_keys::create(&ctx.db, &name, &scopes, &format!("cli:{}", whoami())).await?;
            eprintln!(
                "API key {} ({}) created with scopes {}. It is shown only now; store it safely:",
                created.row.id, created.row.name, created.row.scopes
            );
            println!("{}", created.key);
        }
        ApiKeyAction::List => {
            println!(
                "{:>5}  {:<24}  {:<11}  {:<40}  {:<26}  {:<26}  revoked",
                "id", "name", "prefix", "scopes", "created", "last used"
            );
            let zone = &settings.time_zone;
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or_else(|| "-".to_owned(), |t| zone.with_offset(&t))
            };
            for row in api_keys::list(&ctx.db).await? {
                println!(
                    "{:>5}  {:<24}  {:<11}  {:<40}  {:<26}  {:<26}  {}",
                    row.id,
                    row.name,
                    row.key_prefix,
                    row.scopes,
                    zone.with_offset(&row.created_at),
                    time(row.last_used_at),
                    time(row.revoked_at)
                );
            }
        }
        ApiKeyAction::Revoke { key } => {
            let row = api_keys::revoke(&ctx.db, &key).await?;
            println!("API key {} ({}) is revoked", row.id, row.name);
        }
    }
    Ok(())
}

/// Runs `kaika outbox …`.
pub async fn outbox(settings: &Settings, action: OutboxAction) -> anyhow::Result<()> {
    let db = startup::connect(settings).await?;
    match action {
        OutboxAction::Status => {
            for (status, n) in outbox::count_by_status(&db).await? {
                println!("{status:<8} {n}");
            }
        }
        OutboxAction::List {
            status,
            member,
            limit,
        } => {
            let rows = outbox::list(
                &db,
                &JobFilter {
                    status,
                    member_id: member,
                    limit: Some(limit),
                },
            )
            .await?;
            println!(
                "{:>8}  {:>8}  {:<10}  {:<8}  {:>12}  {:>14}  {:>4}  {:<26}  last error",
                "job", "member", "purpose", "status", "points", "balance", "try", "next attempt"
            );
            let show = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
            let show_yuan = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), display::yuan);
            let zone = &settings.time_zone;
            for j in rows {
                println!(
                    "{:>8}  {:>8}  {:<10}  {:<8}  {:>12}  {:>14}  {:>4}  {:<26}  {}",
                    j.id,
                    j.member_id,
                    j.purpose,
                    j.status,
                    show(j.points_total),
                    show_yuan(j.balance_total),
                    j.attempts,
                    zone.with_offset(&j.next_attempt_at),
                    j.last_error.as_deref().unwrap_or("")
                );
            }
        }
        OutboxAction::Retry => {
            let n = outbox::retry_now(&db).await?;
            println!("{n} pending jobs are due now");
        }
    }
    Ok(())
}
