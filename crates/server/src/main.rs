//! `kaika`: serve, migrate, manage accounts, check health.

use std::process::ExitCode;

use clap::Parser;
use kaika_server::cli::{Cli, Command};
use kaika_server::config::{LogFormat, Settings};
use kaika_server::{app, commands, redrive, sandbox, startup, telemetry};

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
    match cli.command.unwrap_or(Command::Serve { listen: None }) {
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                settings.listen = listen;
            }
            serve(settings).await
        }
        Command::Migrate { action } => commands::migrate(&settings, action).await,
        Command::Account { action } => commands::account(&settings, action).await,
        Command::Healthcheck { url } => commands::healthcheck(&settings, url).await,
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let ctx = startup::prepare(&settings).await?;
    let sandbox = sandbox::wanted(&ctx, settings.sandbox_enabled)
        .await?
        .then(sandbox::Sandbox::new);
    let running = app::start(&settings, ctx.clone(), sandbox.clone())?;
    let mut base = running.addr;
    if base.ip().is_unspecified() {
        base.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    tracing::info!(
        addr = %running.addr,
        database = %settings.database_url.redacted(),
        "kaika is serving; health at http://{base}/healthz"
    );
    if let Some(sandbox) = sandbox {
        sandbox.set_base_url(format!("http://{base}"));
        let ctx = ctx.clone();
        tokio::spawn(async move {
            match sandbox::bootstrap(&ctx, &sandbox).await {
                Ok(info) => tracing::info!(
                    account = %info.app_id,
                    cards = ?info.card_ids,
                    "sandbox mode (no WeChat account configured): walk the member journey at http://{base}/sandbox; \
                     the WeChat simulator is at http://{base}/sim, the API document at http://{base}/api/v1/openapi.json"
                ),
                Err(err) => tracing::error!("the sandbox could not be set up: {err:#}"),
            }
        });
    }
    let redrive = redrive::spawn(ctx.activator.clone(), settings.redrive_interval);
    running.server.await?;
    redrive.abort();
    tracing::info!("kaika stopped");
    Ok(())
}
