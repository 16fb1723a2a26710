//! Benchmark of the WeChat simulator (`kaika-wechat-sim`) alone: the ceiling that later
//! benchmarks of Kaika are measured against.
//!
//! Starts the simulator in process on a loopback port and drives it with raw HTTP (`reqwest`, no
//! `kaika-wechat` client, so the figures are the simulator's and not our client's):
//!
//! - `cgi-bin/token` and `cgi-bin/stable_token` requests per second;
//! - full activation rounds per second, one new simulated member per round: mint a login code
//!   (control API) → `sns/jscode2session` → `component/submit` → `card/code/decrypt` →
//!   `card/membercard/activatetempinfo/get` → `card/code/get` → `card/membercard/activate`.
//!
//! ```sh
//! cargo run --release -p kaika-bench --bin sim -- --concurrency 32 --duration 10
//! ```

use actix_web::{App, HttpServer};
use anyhow::Context as _;
use clap::Parser;
use kaika_bench::simulator::{activation_round, classic_token, set_up, stable_token};
use kaika_bench::{print_table, run, LoadArgs, Summary};
use kaika_wechat_sim::{SimConfig, Simulator};

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    about = "Requests per second and latency of the WeChat simulator's token and activation endpoints"
)]
struct Args {
    #[command(flatten)]
    load: LoadArgs,
    /// actix worker threads serving the simulator.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Scenarios to run (default: all): token, stable_token, activation.
    #[arg(long = "only", value_delimiter = ',')]
    only: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sim = Simulator::new(SimConfig {
        seed: Some(1),
        review_delay: None,
        ..SimConfig::default()
    });
    let served = sim.clone();
    let server = HttpServer::new(move || {
        let sim = served.clone();
        App::new().configure(move |c| kaika_wechat_sim::configure(c, sim))
    })
    .workers(args.workers.max(1))
    .disable_signals()
    .bind(("127.0.0.1", 0))?;
    let addr = *server.addrs().first().context("no address bound")?;
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);

    let target = set_up(&sim, format!("http://{addr}"), args.load.concurrency).await?;
    println!(
        "simulator on {addr} ({} actix workers); {} concurrent clients, {} s per scenario after {} s warm-up; raw HTTP (reqwest)",
        args.workers.max(1),
        args.load.concurrency,
        args.load.duration,
        args.load.warmup
    );
    let wants = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let mut rows: Vec<Summary> = Vec::new();
    let (c, w, d) = (
        args.load.concurrency,
        args.load.warmup(),
        args.load.duration(),
    );

    if wants("token") {
        let t = target.clone();
        let (total, _) = run("cgi-bin/token", c, w, d, move |_, _| {
            let t = t.clone();
            async move { classic_token(&t).await }
        })
        .await;
        rows.push(total);
    }
    if wants("stable_token") {
        let t = target.clone();
        let (total, _) = run("cgi-bin/stable_token", c, w, d, move |_, _| {
            let t = t.clone();
            async move { stable_token(&t).await }
        })
        .await;
        rows.push(total);
    }
    if wants("activation") {
        let t = target.clone();
        let (total, steps) = run(
            "activation round (7 requests)",
            c,
            w,
            d,
            move |worker, i| {
                let t = t.clone();
                async move { activation_round(&t, &format!("member-{worker}-{i}")).await }
            },
        )
        .await;
        rows.push(total);
        rows.extend(steps);
    }
    println!();
    print_table(&rows);
    let snapshot = sim.snapshot();
    println!(
        "\nsimulator state at the end: {} codes issued, {} tickets",
        snapshot["codes"].as_array().map_or(0, Vec::len),
        snapshot["tickets"].as_array().map_or(0, Vec::len),
    );
    handle.stop(false).await;
    Ok(())
}
