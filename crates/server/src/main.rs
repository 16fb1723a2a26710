//! `kaika`: serve, migrate, manage accounts, check health.

use std::process::ExitCode;

use clap::Parser;
use kaika_server::cli::{Cli, Command, ServeArgs};
use kaika_server::config::{LogFormat, Settings};
use kaika_server::startup::Migrations;
use kaika_server::{app, commands, sandbox, startup, telemetry};

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One sentence with its causes, never a backtrace.
            eprintln!("kaika: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    if cli.log_json {
        settings.log_format = LogFormat::Json;
    }
    telemetry::init(settings.log_format, &settings.log_level);
    match cli
        .command
        .unwrap_or_else(|| Command::Serve(ServeArgs::default()))
    {
        Command::Serve(args) => {
            if let Some(listen) = args.listen {
                settings.listen = listen;
            }
            if let Some(role) = args.role {
                settings.role = role;
            }
            let migrations = if args.no_migrate {
                Migrations::RequireCurrent
            } else {
                Migrations::Apply
            };
            serve(settings, migrations).await
        }
        Command::Migrate { action } => commands::migrate(&settings, action).await,
        Command::Account { action } => commands::account(&settings, action).await,
        Command::Healthcheck { url } => commands::healthcheck(&settings, url).await,
        Command::Admin { action } => kaika_server::admin_cli::run(&settings, action).await,
        Command::Events { action } => kaika_server::events_cli::run(&settings, action).await,
        Command::Activations { action } => {
            kaika_server::activations_cli::run(&settings, action).await
        }
        Command::Reconcile(args) => kaika_server::ledger_cli::reconcile(&settings, args).await,
        Command::ApiKey { action } => kaika_server::ledger_cli::api_key(&settings, action).await,
        Command::Outbox { action } => kaika_server::ledger_cli::outbox(&settings, action).await,
        Command::Backup { path } => kaika_server::backup::backup(&settings, &path).await,
        Command::Restore { path, yes } => {
            kaika_server::backup::restore(&settings, &path, yes).await
        }
        Command::Workers { action } => kaika_server::backup::workers(&settings, action).await,
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&kaika_server::api::document())?
            );
            Ok(())
        }
    }
}

async fn serve(settings: Settings, migrations: Migrations) -> anyhow::Result<()> {
    let ctx = startup::prepare_with(&settings, migrations).await?;
    kaika_server::admin_cli::ensure_first_owner(&ctx, &settings.data_dir).await?;
    let sandbox = sandbox::for_serve(&ctx, &settings).await?;
    let running = app::start(&settings, ctx.clone(), sandbox.clone())?;
    let mut base = running.addr;
    if base.ip().is_unspecified() {
        base.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    if settings.role.serves_http() {
        tracing::info!(
            addr = %running.addr,
            role = ?settings.role,
            database = %settings.database_url.redacted(),
            "kaika is serving: the admin at http://{base}/admin, health at http://{base}/healthz"
        );
    } else {
        tracing::info!(
            addr = %running.addr,
            role = ?settings.role,
            database = %settings.database_url.redacted(),
            "kaika is running its workers; health at http://{base}/healthz"
        );
    }
    if let Some(sandbox) = sandbox {
        sandbox::set_up_in_background(&ctx, sandbox, base);
    }
    if settings.public_url.is_none() {
        let real = kaika_core::accounts::list(&ctx.db)
            .await?
            .into_iter()
            .filter(|account| !account.is_sandbox)
            .count();
        if real > 0 {
            tracing::error!(
                accounts = real,
                "KAIKA__SERVER__PUBLIC_URL is not set: a real WeChat account needs Kaika's HTTPS address \
                 (server URL, after-submit page, request domain); see the go-live checklist in the admin"
            );
        }
    }
    // Timestamps and leases follow the database's clock (synced when the pool opened); it drifts.
    let clock = tokio::spawn(kaika_core::clock::keep_in_sync(ctx.db.clone()));
    let workers = settings.role.runs_workers().then(|| {
        let workers = kaika_server::workers::Workers::spawn(&ctx, &settings);
        workers.stop_on_signal();
        workers
    });
    let served = running.server.await;
    if let Some(workers) = workers {
        workers.drain(settings.drain_timeout).await;
    }
    clock.abort();
    served?;
    tracing::info!("kaika stopped");
    Ok(())
}
