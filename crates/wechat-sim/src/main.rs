//! `kaika-wechat-sim`: the WeChat simulator on its own port.

use std::time::Duration;

use actix_web::{App, HttpServer};
use clap::Parser;
use kaika_wechat_sim::{configure, AccountSpec, MiniProgramSpec, SimConfig, Simulator};

/// A faithful WeChat stand-in for member cards, with fault injection.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9090", env = "KAIKA_SIM_LISTEN")]
    listen: String,
    /// Seed for identifiers and probabilistic faults (random when absent).
    #[arg(long, env = "KAIKA_SIM_SEED")]
    seed: Option<u64>,
    /// Seconds after card/create when the review passes by itself. Without it cards stay in review
    /// until `POST control/cards/{id}/approve`, as at WeChat, where a review takes up to 3 working days.
    #[arg(long)]
    review_delay: Option<u64>,
    /// Lifetime of activate tickets in seconds.
    #[arg(long, default_value_t = 1800)]
    ticket_ttl: u64,
    /// Create one account with a mini-program at start and print it.
    #[arg(long)]
    create_account: bool,
    /// Callback URL of the account made by --create-account.
    #[arg(long, requires = "create_account")]
    callback_url: Option<String>,
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let sim = Simulator::new(SimConfig {
        seed: args.seed,
        review_delay: args.review_delay.map(Duration::from_secs),
        ticket_ttl: Duration::from_secs(args.ticket_ttl),
        ..SimConfig::default()
    });
    if args.create_account {
        let account = sim.create_account(AccountSpec {
            callback_url: args.callback_url.clone(),
            mini_program: Some(MiniProgramSpec::default()),
            ..AccountSpec::default()
        })?;
        println!("{}", serde_json::to_string_pretty(&account)?);
    }
    tracing::info!(listen = %args.listen, "WeChat simulator listening");
    let served = sim.clone();
    HttpServer::new(move || {
        let sim = served.clone();
        App::new().configure(move |c| configure(c, sim))
    })
    .bind(&args.listen)?
    .run()
    .await?;
    Ok(())
}
