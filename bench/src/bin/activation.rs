//! Benchmark of member activation through Kaika: activations per second and their latency at N
//! concurrent simulated members, against the in-process simulator, on SQLite and on PostgreSQL; and, in
//! the same run, the simulator's own activation round as the ceiling.
//!
//! One Kaika round is what the mini-program does for a new member: mint a `wx.login` code (simulator
//! control API) → `POST /api/v1/sessions` → `GET /api/v1/cards/{card}/activation-params` (cached after
//! the first) → `POST /sim/component/submit` (the member fills the form in WeChat) →
//! `POST /api/v1/activations`, which itself calls `code/decrypt`, `activatetempinfo/get`, `code/get`
//! and `membercard/activate` and writes the member, the welcome bonus and the funnel count.
//!
//! ```sh
//! cargo run --release -p kaika-bench --bin activation -- --concurrency 32 --duration 10
//! ```

use std::time::Duration;

use actix_web::{App, HttpServer};
use anyhow::Context as _;
use clap::Parser;
use kaika_bench::journey::{kaika_round, Kaika};
use kaika_bench::simulator::{activation_round, set_up};
use kaika_bench::{print_table, run, LoadArgs, Summary};
use kaika_core::secrets::MasterKey;
use kaika_server::config::Settings;
use kaika_server::sandbox::Sandbox;
use kaika_server::{app, startup};
use kaika_wechat_sim::{SimConfig, Simulator};
use sea_orm::{ConnectionTrait, Statement};

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    about = "Activations per second and latency through Kaika, with the simulator alone as the ceiling"
)]
struct Args {
    #[command(flatten)]
    load: LoadArgs,
    /// Databases to measure: sqlite, postgres, or both.
    #[arg(long, default_value = "both")]
    database: String,
    /// The PostgreSQL server; a database is created for the run and dropped afterwards.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// actix worker threads of the Kaika server.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (c, w, d) = (
        args.load.concurrency,
        args.load.warmup(),
        args.load.duration(),
    );
    println!(
        "{c} concurrent members, {} s per scenario after {} s warm-up, {} cores",
        args.load.duration,
        args.load.warmup,
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    let mut rows: Vec<Summary> = Vec::new();

    let ceiling = ceiling(c, w, d).await?;
    rows.extend(ceiling);

    let databases: Vec<&str> = match args.database.as_str() {
        "both" => vec!["sqlite", "postgres"],
        one => vec![one],
    };
    for database in databases {
        let dir = tempfile::tempdir()?;
        let (url, drop_db) = match database {
            "sqlite" => (format!("sqlite://{}/kaika.db", dir.path().display()), None),
            "postgres" => {
                let name = format!("kaika_bench_{}", std::process::id());
                let admin = kaika_core::db::DatabaseUrl::parse(&args.postgres_url)
                    .map_err(anyhow::Error::msg)?;
                let conn = kaika_core::db::connect(&admin, &Default::default()).await?;
                conn.execute(Statement::from_string(
                    conn.get_database_backend(),
                    format!("CREATE DATABASE \"{name}\""),
                ))
                .await?;
                let base = args
                    .postgres_url
                    .rsplit_once('/')
                    .map_or(args.postgres_url.as_str(), |(b, _)| b);
                (format!("{base}/{name}"), Some((conn, name)))
            }
            other => anyhow::bail!("unknown database {other:?}: expected sqlite, postgres or both"),
        };
        let kaika = start_kaika(&url, dir.path(), args.workers, c).await?;
        let k = kaika.clone();
        let (total, steps) = run(
            &format!("Kaika activation round ({database})"),
            c,
            w,
            d,
            move |worker, i| {
                let k = k.clone();
                async move { kaika_round(&k, &format!("m{worker}x{i}")).await }
            },
        )
        .await;
        rows.push(total);
        rows.extend(steps);
        if let Some((conn, name)) = drop_db {
            conn.execute(Statement::from_string(
                conn.get_database_backend(),
                format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            ))
            .await?;
        }
    }
    println!();
    print_table(&rows);
    Ok(())
}

/// The simulator alone, on its own port, with the same concurrency: the ceiling.
async fn ceiling(c: usize, w: Duration, d: Duration) -> anyhow::Result<Vec<Summary>> {
    let sim = Simulator::new(SimConfig {
        seed: Some(1),
        review_delay: None,
        ..SimConfig::default()
    });
    let served = sim.clone();
    let server = HttpServer::new(move || {
        let sim = served.clone();
        App::new().configure(move |cfg| kaika_wechat_sim::configure(cfg, sim))
    })
    .workers(2)
    .disable_signals()
    .bind(("127.0.0.1", 0))?;
    let addr = *server.addrs().first().context("no address bound")?;
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    let target = set_up(&sim, format!("http://{addr}"), c).await?;
    let (total, _) = run(
        "simulator alone: activation round (ceiling)",
        c,
        w,
        d,
        move |worker, i| {
            let t = target.clone();
            async move { activation_round(&t, &format!("c{worker}x{i}")).await }
        },
    )
    .await;
    handle.stop(false).await;
    Ok(vec![total])
}

/// Kaika in sandbox mode on `url`, served on a loopback port, with the demo card bootstrapped.
async fn start_kaika(
    url: &str,
    data_dir: &std::path::Path,
    workers: usize,
    c: usize,
) -> anyhow::Result<Kaika> {
    let key = MasterKey::generate();
    let figment = Settings::figment(None)?
        .merge(("database.url", url))
        .merge(("database.max_connections", 16))
        .merge(("server.listen", "127.0.0.1:0"))
        .merge(("server.workers", workers))
        .merge(("data_dir", data_dir.display().to_string()))
        .merge(("master_key", key.to_base64()))
        .merge(("log.level", "error"))
        // Every simulated member comes from loopback: the per-address rate limits would measure themselves.
        .merge(("rate_limit.sessions_per_minute", 0))
        .merge(("rate_limit.activations_per_minute", 0));
    let settings = Settings::from_figment(&figment)?;
    kaika_server::telemetry::init(settings.log_format, &settings.log_level);
    let ctx = startup::prepare(&settings).await?;
    let sandbox = Sandbox::new();
    let running = app::start(&settings, ctx.clone(), Some(sandbox.clone()))?;
    let base = format!("http://{}", running.addr);
    tokio::spawn(running.server);
    sandbox.set_base_url(base.clone());
    let info = kaika_server::sandbox::bootstrap(&ctx, &sandbox).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(c.max(1))
        .timeout(Duration::from_secs(30))
        .build()?;
    Ok(Kaika {
        http,
        api: base.clone(),
        sim_base: base,
        sim: sandbox.sim.clone(),
        info,
    })
}
