//! `kaika`: serve, migrate, manage accounts, check health.

use std::process::ExitCode;

use clap::Parser;
use kaika_server::cli::{Cli, Command};
use kaika_server::config::{LogFormat, Settings};
use kaika_server::{app, commands, startup, telemetry};

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
    let running = app::start(&settings, ctx)?;
    tracing::info!(
        addr = %running.addr,
        database = %settings.database_url.redacted(),
        "kaika is serving; health at http://{}/healthz",
        running.addr
    );
    running.server.await?;
    tracing::info!("kaika stopped");
    Ok(())
}
