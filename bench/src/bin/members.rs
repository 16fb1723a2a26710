//! Benchmark of the admin's member list and search pages at 100 000 members, black-box: starts the
//! real `kaika` binary in sandbox mode on SQLite or PostgreSQL, seeds members with
//! `kaika admin seed-demo` (batched inserts), logs an operator in, and has `--concurrency` clients
//! `GET /admin/members…` (the full server-rendered page) as fast as they are answered.
//!
//! Scenarios: the first page, page 200 (offset 10 000), a status filter, and searches by full mobile,
//! by the first digits of a mobile, by name, by membership number and by card code.
//!
//! ```sh
//! cargo build --release -p kaika-server -p kaika-bench
//! target/release/members --members 100000 --concurrency 8 --duration 10         # SQLite in a temp dir
//! createdb -h 127.0.0.1 -U postgres kaika_bench_members
//! target/release/members --database-url postgres://postgres@127.0.0.1:5432/kaika_bench_members
//! ```

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use kaika_bench::{print_table, run, LoadArgs, Outcome, Summary};
use serde_json::Value;

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(about = "The admin's member list and search pages at 100 000 members")]
struct Args {
    #[command(flatten)]
    load: LoadArgs,
    /// The `kaika` binary to start.
    #[arg(long, default_value = "target/release/kaika")]
    kaika: PathBuf,
    /// An empty database to use (e.g. a PostgreSQL database just created); a SQLite file in a
    /// temporary directory when omitted.
    #[arg(long)]
    database_url: Option<String>,
    /// Members to seed.
    #[arg(long, default_value_t = 100_000)]
    members: u64,
    /// Scenarios to run (default: all), by the first word of their name: list, page200, status,
    /// mobile, prefix, name, number, code.
    #[arg(long = "only", value_delimiter = ',')]
    only: Vec<String>,
}

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

struct Kaika {
    bin: PathBuf,
    dir: PathBuf,
    database_url: String,
    listen: String,
    master_key: String,
}

const PASSWORD: &str = "bench password 123";

impl Kaika {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env("KAIKA__DATABASE__URL", &self.database_url)
            .env("KAIKA__DATA_DIR", &self.dir)
            .env("KAIKA__SERVER__LISTEN", &self.listen)
            .env("KAIKA__MASTER_KEY", &self.master_key)
            .env("KAIKA__LOG__LEVEL", "warn")
            .env("KAIKA_ADMIN_PASSWORD", PASSWORD)
            .stdin(Stdio::null());
        command
    }

    fn output(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.command(args).output()?;
        if !out.status.success() {
            bail!(
                "kaika {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until the sandbox has its demo card.
async fn wait_ready(http: &reqwest::Client, base: &str, server: &mut Server) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.child.try_wait()? {
            bail!("kaika exited ({status}) before it was ready");
        }
        if let Ok(r) = http.get(format!("{base}/sim/control/state")).send().await {
            if let Ok(state) = r.json::<Value>().await {
                if state["cards"].as_array().is_some_and(|c| !c.is_empty()) {
                    return Ok(());
                }
            }
        }
        if Instant::now() > until {
            bail!("the sandbox did not come up within a minute");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The value of the first `name="csrf"` input of a page.
fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let rest = &html[at..];
    Some(rest[..rest.find('"')?].to_owned())
}

async fn log_in(base: &str, concurrency: usize) -> anyhow::Result<reqwest::Client> {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let page = http
        .get(format!("{base}/admin/login"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = csrf_of(&page).context("no CSRF token on the login page")?;
    let response = http
        .post(format!("{base}/admin/login"))
        .form(&[
            ("username", "bench"),
            ("password", PASSWORD),
            ("csrf", &csrf),
        ])
        .send()
        .await?;
    if response.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("login failed: HTTP {}", response.status());
    }
    Ok(http)
}

/// One page; `rows` is how many member rows it must show at least.
async fn get_page(http: &reqwest::Client, url: &str, rows: usize) -> Outcome {
    let begin = Instant::now();
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| format!("body: {e}"))?;
    let took = begin.elapsed();
    if status != reqwest::StatusCode::OK {
        return Err(format!("HTTP {status}"));
    }
    let found = body.matches("class=\"member-row").count();
    if found < rows {
        return Err(format!("{found} member rows, expected at least {rows}"));
    }
    Ok(vec![("page", took)])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let temp = std::env::temp_dir().join(format!("kaika-bench-members-{}", std::process::id()));
    std::fs::create_dir_all(&temp)?;
    let database_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/kaika.db", temp.display()));
    let port = free_port()?;
    let kaika = Kaika {
        bin: args.kaika.clone(),
        dir: temp.clone(),
        database_url: database_url.clone(),
        listen: format!("127.0.0.1:{port}"),
        master_key: kaika_core::secrets::MasterKey::generate().to_base64(),
    };
    if !Path::new(&kaika.bin).exists() {
        bail!(
            "{} does not exist: cargo build --release -p kaika-server",
            kaika.bin.display()
        );
    }
    let mut server = Server {
        child: kaika
            .command(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start kaika")?,
    };
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&reqwest::Client::new(), &base, &mut server).await?;
    let started = Instant::now();
    let seeded = kaika.output(&["admin", "seed-demo", "--members", &args.members.to_string()])?;
    let seed_time = started.elapsed();
    kaika.output(&["admin", "create", "bench", "--role", "operator"])?;
    let concurrency = args.load.concurrency.max(1);
    let http = log_in(&base, concurrency).await?;
    let backend = if database_url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "kaika on {base} ({backend}); {} ({:.1} s, {:.0} members/s); {concurrency} concurrent clients, \
         {} s per scenario after {} s warm-up; every request renders the whole page (50 rows)",
        seeded.trim(),
        seed_time.as_secs_f64(),
        args.members as f64 / seed_time.as_secs_f64().max(f64::EPSILON),
        args.load.duration,
        args.load.warmup,
    );
    // Values that exist in the seeded data (seed numbers start at 1 on the demo card).
    let n = args.members.max(1);
    let seq = n / 2;
    let code = format!("9{seq:011}");
    let number = format!("DEMO{seq:08}");
    let scenarios: Vec<(&str, String, usize)> = vec![
        ("list, first page", "/admin/members".into(), 50),
        (
            "page200, offset 10 000",
            "/admin/members?page=200".into(),
            1,
        ),
        (
            "status filter (deleted)",
            "/admin/members?status=deleted".into(),
            1,
        ),
        ("mobile, full number", String::new(), 1),
        ("prefix of a mobile (7 digits)", String::new(), 1),
        (
            "name, exact",
            format!("/admin/members?q={}", urlencoding("王伟")),
            1,
        ),
        (
            "number, membership",
            format!("/admin/members?q={number}"),
            1,
        ),
        ("code, card code", format!("/admin/members?q={code}"), 1),
    ];
    // The mobile of a seeded member: read it from its row on the code search.
    let body = http
        .get(format!("{base}/admin/members?q={code}"))
        .send()
        .await?
        .text()
        .await?;
    let mobile = body
        .split("class=\"mobile\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .map(str::to_owned)
        .context("no mobile on the member row")?;
    let wants = |name: &str| {
        let first = name.split([',', ' ']).next().unwrap_or_default();
        args.only.is_empty() || args.only.iter().any(|o| o == first)
    };
    let (w, d) = (args.load.warmup(), args.load.duration());
    let mut rows: Vec<Summary> = Vec::new();
    for (label, path, min_rows) in scenarios {
        if !wants(label) {
            continue;
        }
        let path = match label.split(',').next().unwrap_or_default() {
            "mobile" => format!("/admin/members?q={mobile}"),
            "prefix of a mobile (7 digits)" => {
                format!("/admin/members?q={}", &mobile[..7.min(mobile.len())])
            }
            _ => path,
        };
        let url = format!("{base}{path}");
        let client = http.clone();
        let (total, _) = run(label, concurrency, w, d, move |_, _| {
            let (client, url) = (client.clone(), url.clone());
            async move { get_page(&client, &url, min_rows).await }
        })
        .await;
        rows.push(total);
    }
    println!();
    print_table(&rows);
    drop(server);
    std::fs::remove_dir_all(&temp).ok();
    Ok(())
}

/// Percent-encodes a query value.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
