//! Benchmark of activation through a reverse proxy with 1, 2 and 3 `kaika serve` processes on one
//! PostgreSQL: how throughput scales with instances, and where the bottleneck moves.
//!
//! For each instance count: a fresh database; N `kaika serve` processes (the release binary beside this
//! one, `--role all`, one HTTP worker each) started together; nginx in front of them; the simulator
//! hosted by this process (a web-only Kaika on the same database, not behind the proxy). The load is
//! the activation round of `bench activation`, sent to the proxy.
//!
//! ```sh
//! cargo build --release -p kaika-server -p kaika-bench
//! target/release/cluster --concurrency 32 --duration 10 --instances 1,2,3
//! ```

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use kaika_bench::journey::{kaika_round, Kaika};
use kaika_bench::{print_table, run, LoadArgs, Summary};
use kaika_core::secrets::MasterKey;
use kaika_server::config::Settings;
use kaika_server::sandbox::Sandbox;
use kaika_server::{app, startup};
use sea_orm::{ConnectionTrait, Statement};

#[expect(
    clippy::unwrap_used,
    reason = "shared with the tests, where a failed set-up stops the run"
)]
#[path = "../../../crates/server/tests/common/nginx.rs"]
mod nginx;

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    about = "Activations per second through nginx with 1, 2, 3… Kaika instances on one PostgreSQL"
)]
struct Args {
    #[command(flatten)]
    load: LoadArgs,
    /// Instance counts to measure, e.g. 1,2,3.
    #[arg(long, default_value = "1,2,3", value_delimiter = ',')]
    instances: Vec<usize>,
    /// The PostgreSQL server; a database is created per instance count and dropped afterwards.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// The `kaika` binary (default: the one beside this benchmark).
    #[arg(long)]
    kaika: Option<PathBuf>,
    /// HTTP workers of each instance.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

/// `kaika serve` processes, killed when dropped.
struct Instances(Vec<Child>);

impl Drop for Instances {
    fn drop(&mut self) {
        for child in &mut self.0 {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let kaika_bin = match &args.kaika {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("no directory")?
            .join("kaika"),
    };
    anyhow::ensure!(
        kaika_bin.is_file(),
        "{} is missing: cargo build --release -p kaika-server",
        kaika_bin.display()
    );
    let (c, w, d) = (
        args.load.concurrency,
        args.load.warmup(),
        args.load.duration(),
    );
    println!(
        "{c} concurrent members, {} s per scenario after {} s warm-up, {} cores, {} HTTP worker(s) per instance",
        args.load.duration,
        args.load.warmup,
        std::thread::available_parallelism().map_or(1, usize::from),
        args.workers
    );
    let mut rows: Vec<Summary> = Vec::new();
    for &count in &args.instances {
        let (total, steps) = measure(&args, &kaika_bin, count, c, w, d).await?;
        rows.push(total);
        rows.extend(steps);
    }
    println!();
    print_table(&rows);
    Ok(())
}

async fn measure(
    args: &Args,
    kaika_bin: &PathBuf,
    count: usize,
    c: usize,
    w: Duration,
    d: Duration,
) -> anyhow::Result<(Summary, Vec<Summary>)> {
    let dir = tempfile::tempdir()?;
    let name = format!("kaika_cluster_{}_{count}", std::process::id());
    let admin =
        kaika_core::db::DatabaseUrl::parse(&args.postgres_url).map_err(anyhow::Error::msg)?;
    let conn = kaika_core::db::connect(&admin, &Default::default()).await?;
    let backend = conn.get_database_backend();
    conn.execute(Statement::from_string(
        backend,
        format!("CREATE DATABASE \"{name}\""),
    ))
    .await?;
    let base = args
        .postgres_url
        .rsplit_once('/')
        .map_or(args.postgres_url.as_str(), |(b, _)| b);
    let url = format!("{base}/{name}");
    let key = MasterKey::generate();

    let mut ports = Vec::new();
    let mut children = Vec::new();
    for i in 0..count {
        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join(format!("kaika-{i}.log")))?;
        let child = Command::new(kaika_bin)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAIKA__DATABASE__URL", &url)
            .env("KAIKA__DATABASE__MAX_CONNECTIONS", "16")
            .env("KAIKA__DATA_DIR", dir.path())
            .env("KAIKA__MASTER_KEY", key.to_base64())
            .env("KAIKA__SANDBOX__MODE", "off")
            .env("KAIKA__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("KAIKA__SERVER__WORKERS", args.workers.to_string())
            .env("KAIKA__SERVER__TRUSTED_PROXIES", "127.0.0.1/32")
            .env("KAIKA__LOG__LEVEL", "error")
            // Every simulated member comes from loopback: per-address limits would measure themselves.
            .env("KAIKA__RATE_LIMIT__SESSIONS_PER_MINUTE", "0")
            .env("KAIKA__RATE_LIMIT__ACTIVATIONS_PER_MINUTE", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        children.push(child);
        ports.push(port);
    }
    let instances = Instances(children);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(c.max(1))
        .timeout(Duration::from_secs(30))
        .build()?;
    for port in &ports {
        wait_ready(&http, &format!("http://127.0.0.1:{port}/readyz")).await?;
    }

    let figment = Settings::figment(None)?
        .merge(("database.url", url.as_str()))
        .merge(("server.listen", "127.0.0.1:0"))
        .merge(("server.workers", 1))
        .merge(("data_dir", dir.path().display().to_string()))
        .merge(("master_key", key.to_base64()))
        .merge(("log.level", "error"));
    let settings = Settings::from_figment(&figment)?;
    kaika_server::telemetry::init(settings.log_format, &settings.log_level);
    let ctx = startup::prepare(&settings).await?;
    let sandbox = Sandbox::new();
    let running = app::start(&settings, ctx.clone(), Some(sandbox.clone()))?;
    let host = format!("http://{}", running.addr);
    let handle = running.server.handle();
    tokio::spawn(running.server);
    sandbox.set_base_url(host.clone());
    let info = kaika_server::sandbox::bootstrap(&ctx, &sandbox).await?;

    let upstreams: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let proxy = nginx::Nginx::start(dir.path(), free_port()?, &upstreams);
    wait_ready(&http, &format!("{}/readyz", proxy.url)).await?;
    let kaika = Kaika {
        http,
        api: proxy.url.clone(),
        sim_base: host,
        sim: sandbox.sim.clone(),
        info,
    };
    let kaika_pids: Vec<u32> = instances.0.iter().map(Child::id).collect();
    let before = CpuSample::take(&kaika_pids);
    let started = Instant::now();
    let measured = run(
        &format!("{count} instance(s) behind nginx (PostgreSQL)"),
        c,
        w,
        d,
        move |worker, i| {
            let k = kaika.clone();
            async move { kaika_round(&k, &format!("m{worker}x{i}")).await }
        },
    )
    .await;
    let cpu = CpuSample::take(&kaika_pids).since(&before, started.elapsed());
    println!("{count} instance(s): CPU cores busy during the run: {cpu}");
    drop(proxy);
    drop(instances);
    handle.stop(false).await;
    ctx.db.close().await.ok();
    conn.execute(Statement::from_string(
        backend,
        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    ))
    .await?;
    Ok(measured)
}

/// CPU time (clock ticks, from `/proc`) of the parts of the run: the Kaika instances, PostgreSQL's
/// processes, nginx, and this process (the load and the simulator).
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    kaika: u64,
    postgres: u64,
    nginx: u64,
    bench: u64,
}

/// Linux's `USER_HZ`.
const TICKS_PER_SECOND: f64 = 100.0;

impl CpuSample {
    fn take(kaika_pids: &[u32]) -> Self {
        let mut sample = Self {
            kaika: kaika_pids.iter().map(|pid| ticks(&pid.to_string())).sum(),
            postgres: 0,
            nginx: 0,
            bench: ticks("self"),
        };
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            match comm.trim() {
                "postgres" => sample.postgres += ticks(&pid),
                "nginx" => sample.nginx += ticks(&pid),
                _ => {}
            }
        }
        sample
    }

    /// The cores each part kept busy between `earlier` and this sample, `elapsed` apart.
    fn since(self, earlier: &Self, elapsed: Duration) -> String {
        let cores = |now: u64, then: u64| {
            now.saturating_sub(then) as f64 / TICKS_PER_SECOND / elapsed.as_secs_f64()
        };
        format!(
            "kaika {:.2}, postgres {:.2}, nginx {:.2}, load+simulator {:.2}",
            cores(self.kaika, earlier.kaika),
            cores(self.postgres, earlier.postgres),
            cores(self.nginx, earlier.nginx),
            cores(self.bench, earlier.bench),
        )
    }
}

/// User plus system time of `/proc/<pid>` so far, in clock ticks (0 for a process that is gone).
fn ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces), from field 3 on: utime is 14, stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(14) + field(15)
}

async fn wait_ready(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = http.get(url).send().await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "{url} never answered 200");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
