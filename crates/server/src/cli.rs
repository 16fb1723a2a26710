//! The `kaika` command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Kaika (开卡): self-hosted WeChat member cards.
#[derive(Debug, Parser)]
#[command(name = "kaika", version, about)]
pub struct Cli {
    /// A TOML config file whose settings win over the defaults (environment variables win over it).
    #[arg(long, global = true, env = "KAIKA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write logs as JSON lines (the same as KAIKA__LOG__FORMAT=json).
    #[arg(long, global = true)]
    pub log_json: bool,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `kaika serve`'s options.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// The address to listen on (overrides server.listen).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Do not migrate: refuse to start while a migration is pending (for deployments that run
    /// `kaika migrate up` in a separate step).
    #[arg(long)]
    pub no_migrate: bool,
    /// What this process does: web (HTTP only), worker (background workers, HTTP only for the probes)
    /// or all (overrides server.role; default all).
    #[arg(long, value_enum, value_name = "ROLE")]
    pub role: Option<crate::config::Role>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, then serve HTTP until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Apply, roll back or show database migrations.
    Migrate {
        /// The migration action.
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Manage WeChat accounts.
    Account {
        /// The account action.
        #[command(subcommand)]
        action: AccountAction,
    },
    /// Exit 0 when the server's /healthz answers 200 (for container health checks).
    Healthcheck {
        /// The server to ask; defaults to the configured listen address.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Manage admin dashboard users.
    Admin {
        /// The admin action.
        #[command(subcommand)]
        action: crate::admin_cli::AdminAction,
    },
    /// Inspect and replay stored WeChat events.
    Events {
        /// The events action.
        #[command(subcommand)]
        action: EventsAction,
    },
    /// Inspect unfinished and failed activations and re-drive them.
    Activations {
        /// The activations action.
        #[command(subcommand)]
        action: ActivationsAction,
    },
    /// Compare members' points and balance with their WeChat cards; with --fix, correct the cards.
    Reconcile(crate::ledger_cli::ReconcileArgs),
    /// Manage API keys of the integration API.
    ApiKey {
        /// The key action.
        #[command(subcommand)]
        action: crate::ledger_cli::ApiKeyAction,
    },
    /// Inspect the jobs that mirror ledger changes onto WeChat cards.
    Outbox {
        /// The outbox action.
        #[command(subcommand)]
        action: crate::ledger_cli::OutboxAction,
    },
    /// Print the OpenAPI document of `/api/v1` (JSON), as `GET /api/v1/openapi.json` serves it.
    Openapi,
    /// Write a consistent copy of the database to a new file while Kaika runs (SQLite: `VACUUM INTO`;
    /// PostgreSQL: `pg_dump --format=custom`). The master key is not in it: keep that apart.
    Backup {
        /// The file to write; it must not exist.
        path: PathBuf,
    },
    /// Replace the database with a backup: the master key must open its secrets (nothing is changed
    /// otherwise), then the schema is migrated and the background workers are paused until
    /// `kaika workers resume`. Stop Kaika first.
    Restore {
        /// The file `kaika backup` wrote.
        path: PathBuf,
        /// Replace a database that holds data without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Pause or resume the background workers of every process on this database (a restore pauses
    /// them).
    Workers {
        /// The workers action.
        #[command(subcommand)]
        action: crate::backup::WorkersAction,
    },
}

/// `kaika migrate …`
#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply pending migrations.
    Up {
        /// Apply at most this many.
        #[arg(long)]
        steps: Option<u32>,
    },
    /// Roll back the last migration (or several).
    Down {
        /// Roll back this many (default 1).
        #[arg(long, conflicts_with = "all")]
        steps: Option<u32>,
        /// Roll back every migration.
        #[arg(long)]
        all: bool,
        /// Do not ask: rolling back drops tables and columns with their data.
        #[arg(long)]
        yes: bool,
    },
    /// List migrations and whether each is applied.
    Status,
}

/// How WeChat delivers messages to the callback.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Plain XML, signed.
    Plain,
    /// Plain and encrypted.
    Compatible,
    /// Encrypted only (recommended).
    Safe,
}

/// `kaika account …`
#[derive(Debug, Subcommand)]
pub enum AccountAction {
    /// Add an account. Secrets are read from the environment or, for those not set there, from standard
    /// input as KEY=value lines: APP_SECRET, ENCODING_AES_KEY, CALLBACK_TOKEN, MINI_APP_SECRET (the
    /// environment variables are KAIKA_APP_SECRET, KAIKA_ENCODING_AES_KEY, KAIKA_CALLBACK_TOKEN,
    /// KAIKA_MINI_APP_SECRET). Without a CALLBACK_TOKEN one is generated and printed.
    Add {
        /// A name for admins.
        #[arg(long)]
        name: String,
        /// The official account's AppID (wx + 16 hex characters).
        #[arg(long)]
        app_id: String,
        /// The message mode configured in the WeChat console.
        #[arg(long, value_enum, default_value = "safe")]
        mode: ModeArg,
        /// The mini-program's AppID, if it has one.
        #[arg(long)]
        mini_app_id: Option<String>,
        /// Where WeChat's API is (a simulator's URL for testing).
        #[arg(long, default_value = kaika_core::accounts::WECHAT_API_BASE_URL)]
        api_base_url: String,
    },
    /// List accounts (never their secrets).
    List,
    /// Remove an account.
    Remove {
        /// The AppID of the account to remove.
        app_id: String,
    },
}

/// `kaika activations …`
#[derive(Debug, Subcommand)]
pub enum ActivationsAction {
    /// List unfinished and failed activations, newest first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Drive activations now: unfinished ones at once, failed ones again from the last step their data
    /// proves (asking WeChat first whether `activate` took effect).
    Redrive {
        /// Activation ids.
        ids: Vec<i64>,
        /// Every failed activation.
        #[arg(long)]
        failed: bool,
        /// Every unfinished activation, whatever its schedule.
        #[arg(long)]
        unfinished: bool,
    },
}

/// `kaika events …`
#[derive(Debug, Subcommand)]
pub enum EventsAction {
    /// List stored events, newest first.
    List {
        /// Only this status: pending, processing, done, failed (dead letters) or ignored.
        #[arg(long)]
        status: Option<String>,
        /// Only this event, e.g. user_get_card.
        #[arg(long)]
        event: Option<String>,
        /// Only this account.
        #[arg(long)]
        app_id: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Show one event with its XML, outcome and last error.
    Show {
        /// The event id.
        id: i64,
    },
    /// Schedule events again (dead letters after their cause is fixed; applied events replay harmlessly).
    Retry {
        /// Event ids.
        ids: Vec<i64>,
        /// Every failed event.
        #[arg(long)]
        failed: bool,
    },
}
