//! `kaika admin …` and the first owner of a fresh install.

use std::io::BufRead;
use std::path::Path;

use anyhow::Context as _;
use clap::Subcommand;
use kaika_core::admin_users::Role;
use kaika_core::audit::AuditEntry;
use kaika_core::CoreError;

use crate::config::Settings;
use crate::startup::{self, Context};

/// The environment variable `kaika admin create` reads the password from (else the first line of
/// stdin); never a command-line argument, which other users of the machine could read.
pub const PASSWORD_ENV: &str = "KAIKA_ADMIN_PASSWORD";

/// `kaika admin …`
#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create an admin; the password comes from KAIKA_ADMIN_PASSWORD or the first line of stdin.
    Create {
        /// The login name.
        username: String,
        /// owner, operator or viewer.
        #[arg(long, default_value = "owner")]
        role: String,
    },
    /// List the admins.
    List,
    /// Insert demo members for benchmarks and demos (batched inserts; nothing is sent to WeChat).
    SeedDemo {
        /// How many members.
        #[arg(long, default_value_t = 1000)]
        members: u64,
        /// The card's local id (default: the first card).
        #[arg(long)]
        card: Option<i64>,
        /// Rows per INSERT.
        #[arg(long, default_value_t = 500)]
        batch: u64,
    },
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Runs `kaika admin …`.
pub async fn run(settings: &Settings, action: AdminAction) -> anyhow::Result<()> {
    let ctx = startup::prepare(settings).await?;
    match action {
        AdminAction::Create { username, role } => {
            let role = Role::parse(&role)?;
            let password = read_password()?;
            kaika_core::passwords::check_strength(&password)
                .map_err(|e| anyhow::anyhow!("the password is too weak: {e}"))?;
            let hash = kaika_core::passwords::hash(&password).map_err(anyhow::Error::msg)?;
            let user =
                kaika_core::admin_users::create_user(&ctx.db, &username, &hash, role).await?;
            kaika_core::audit::record(
                &ctx.db,
                AuditEntry {
                    actor: "cli".into(),
                    action: "admin.create".into(),
                    target: format!("admin:{}", user.id),
                    after: Some(
                        serde_json::json!({"username": user.username, "role": role.as_str()}),
                    ),
                    ..AuditEntry::default()
                },
            )
            .await?;
            println!("created admin {} ({})", user.username, role.as_str());
        }
        AdminAction::SeedDemo {
            members,
            card,
            batch,
        } => {
            let started = std::time::Instant::now();
            let seeded = kaika_core::demo::seed_members(&ctx.db, card, members, batch).await?;
            kaika_core::audit::record(
                &ctx.db,
                AuditEntry {
                    actor: "cli".into(),
                    action: "members.seed_demo".into(),
                    target: format!("card:{}", seeded.card_id),
                    after: Some(serde_json::json!({"members": seeded.inserted})),
                    ..AuditEntry::default()
                },
            )
            .await?;
            println!(
                "seeded {} demo members on card {} in {:.1} s",
                seeded.inserted,
                seeded.card_id,
                started.elapsed().as_secs_f64()
            );
        }
        AdminAction::List => {
            for user in kaika_core::admin_users::list_users(&ctx.db).await? {
                println!(
                    "{}\t{}{}",
                    user.username,
                    user.role.as_str(),
                    if user.disabled { "\tdisabled" } else { "" }
                );
            }
        }
    }
    Ok(())
}

/// The file in the data directory that receives the first owner's generated password (mode 0600).
pub const FIRST_PASSWORD_FILE: &str = "initial-admin-password";

/// On a fresh install (no admin at all), creates the owner `admin` with a random password and writes
/// the password to `<data_dir>/initial-admin-password`, readable only by Kaika's user; the log names
/// only the file, because logs are shipped and kept where passwords must not be. The password is staged
/// in a file of its own before the owner exists and moved into place only by the process whose owner
/// was created, so instances starting together never leave another instance's password behind. When
/// the file cannot be written no owner is created, and the log says to use `kaika admin create`.
pub async fn ensure_first_owner(ctx: &Context, data_dir: &Path) -> anyhow::Result<()> {
    if kaika_core::admin_users::count_users(&ctx.db).await? > 0 {
        return Ok(());
    }
    let password = kaika_core::passwords::random();
    let hash = kaika_core::passwords::hash(&password).map_err(anyhow::Error::msg)?;
    let destination = data_dir.join(FIRST_PASSWORD_FILE);
    let staged = data_dir.join(format!(
        ".{FIRST_PASSWORD_FILE}.{:08x}",
        rand::random::<u32>()
    ));
    if let Err(err) = write_private_file(&staged, &format!("{password}\n")) {
        tracing::warn!(
            "no admin exists, and the first owner's password cannot be written to {} ({err}): \
             create an admin with `kaika admin create USERNAME`",
            destination.display()
        );
        return Ok(());
    }
    match kaika_core::admin_users::create_user(&ctx.db, "admin", &hash, Role::Owner).await {
        Ok(_) => {
            let written = match std::fs::rename(&staged, &destination) {
                Ok(()) => destination,
                Err(_) => staged,
            };
            tracing::warn!(
                password_file = %written.display(),
                "no admin existed: created the owner \"admin\"; its password is in {} (readable only \
                 by this user): log in at /admin, keep the password safe and delete the file",
                written.display()
            );
            Ok(())
        }
        Err(err) => {
            std::fs::remove_file(&staged).ok();
            match err {
                CoreError::Conflict { .. } => Ok(()),
                err => Err(err.into()),
            }
        }
    }
}

/// Creates `path` (and its directory) with mode 0600 and writes `contents`; fails if it exists.
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}
