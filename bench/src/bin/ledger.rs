//! Benchmark of ledger credits through Kaika's integration API, black-box: starts the real `kaika`
//! binary in sandbox mode (the WeChat simulator in the same process) on SQLite or PostgreSQL, walks
//! members through activation over HTTP, creates an API key with `kaika api-key create`, then has
//! `--concurrency` clients `POST /api/v1/integration/members/{id}/credits` as fast as they are
//! answered, each with a new `Idempotency-Key`. The server's outbox worker mirrors every credit to
//! the simulated card meanwhile; after each scenario the time the outbox needs to drain is reported.
//!
//! Scenarios: `spread` (client *i* credits member *i*: independent rows) and `hot` (every client
//! credits one member: the member's row serialises the writes).
//!
//! ```sh
//! cargo build --release -p kaika-server -p kaika-bench
//! target/release/ledger --concurrency 32 --duration 10                      # SQLite in a temp dir
//! createdb -h 127.0.0.1 -U postgres kaika_bench
//! target/release/ledger --database-url postgres://postgres@127.0.0.1:5432/kaika_bench
//! ```

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use clap::Parser;
use kaika_bench::{print_table, run, LoadArgs, Outcome, Summary};
use serde_json::{json, Value};

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(about = "Ledger credits per second through Kaika's integration API")]
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
    /// Scenarios to run (default: all): spread, hot.
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

/// A fresh master key (32 random bytes, Base64), as `openssl rand -base64 32` makes; PostgreSQL needs one.
fn master_key() -> anyhow::Result<String> {
    use std::io::Read as _;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut raw = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
    let mut text = String::with_capacity(44);
    for chunk in raw.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                text.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                text.push('=');
            }
        }
    }
    Ok(text)
}

impl Kaika {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env("KAIKA__DATABASE__URL", &self.database_url)
            .env("KAIKA__DATA_DIR", &self.dir)
            .env("KAIKA__SERVER__LISTEN", &self.listen)
            .env("KAIKA__LOG__LEVEL", "warn")
            .env("KAIKA__MASTER_KEY", &self.master_key)
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

    /// Pending plus sending outbox jobs.
    fn unsent(&self) -> anyhow::Result<u64> {
        let status = self.output(&["outbox", "status"])?;
        Ok(status
            .lines()
            .filter(|l| l.starts_with("pending") || l.starts_with("sending"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum())
    }
}

#[derive(Clone)]
struct Target {
    http: reqwest::Client,
    base: String,
    key: String,
}

async fn json_of(response: reqwest::Response) -> Result<Value, String> {
    let status = response.status();
    let text = response.text().await.map_err(|e| format!("body: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        ));
    }
    serde_json::from_str(&text).map_err(|e| format!("JSON: {e}"))
}

fn field(v: &Value, pointer: &str) -> anyhow::Result<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{pointer} missing in {v}"))
}

/// One member through the sandbox's activation journey; returns Kaika's member id.
async fn activate(t: &Target, mini_app_id: &str, user: &str) -> anyhow::Result<i64> {
    let post =
        |path: &str, body: Value| t.http.post(format!("{}{path}", t.base)).json(&body).send();
    let login = json_of(
        post(
            "/sim/control/login-codes",
            json!({"app_id": mini_app_id, "user": user}),
        )
        .await?,
    )
    .await
    .map_err(|e| anyhow!(e))?;
    let session =
        json_of(post("/api/v1/sessions", json!({"code": field(&login, "/code")?})).await?)
            .await
            .map_err(|e| anyhow!(e))?;
    let token = field(&session, "/token")?;
    let get = |path: String| {
        t.http
            .get(format!("{}{path}", t.base))
            .bearer_auth(&token)
            .send()
    };
    let cards = json_of(get("/api/v1/cards".into()).await?)
        .await
        .map_err(|e| anyhow!(e))?;
    let card = field(&cards, "/0/card_id")?;
    let params = json_of(
        get(format!(
            "/api/v1/cards/{card}/activation-params?channel=store_front"
        ))
        .await?,
    )
    .await
    .map_err(|e| anyhow!(e))?;
    let extra = &params["extra_data"];
    let ticket = json_of(
        post(
            "/sim/component/submit",
            json!({"encrypt_card_id": extra["encrypt_card_id"], "outer_str": extra["outer_str"],
                   "biz": extra["biz"], "user": user,
                   "answers": {"USER_FORM_INFO_FLAG_MOBILE": "13800138000",
                               "USER_FORM_INFO_FLAG_NAME": "张三", "喜欢的咖啡": "拿铁"}}),
        )
        .await?,
    )
    .await
    .map_err(|e| anyhow!(e))?;
    let member = json_of(
        t.http
            .post(format!("{}/api/v1/activations", t.base))
            .bearer_auth(&token)
            .json(
                &json!({"activate_ticket": ticket["activate_ticket"], "card_id": ticket["card_id"],
                          "encrypt_code": ticket["code"]}),
            )
            .send()
            .await?,
    )
    .await
    .map_err(|e| anyhow!(e))?;
    let code = field(&member, "/code")?;
    let found = json_of(
        t.http
            .get(format!("{}/api/v1/integration/members?code={code}", t.base))
            .bearer_auth(&t.key)
            .send()
            .await?,
    )
    .await
    .map_err(|e| anyhow!(e))?;
    found
        .pointer("/0/id")
        .and_then(Value::as_i64)
        .ok_or_else(|| anyhow!("member {code} not found"))
}

async fn credit(t: &Target, member_id: i64, key: String) -> Outcome {
    let begin = Instant::now();
    let response = t
        .http
        .post(format!(
            "{}/api/v1/integration/members/{member_id}/credits",
            t.base
        ))
        .bearer_auth(&t.key)
        .header("Idempotency-Key", key)
        .json(&json!({"kind": "points", "amount": 1, "reason": "purchase"}))
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    if response.status() != reqwest::StatusCode::CREATED {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        return Err(format!(
            "HTTP {status}: {}",
            body.chars().take(200).collect::<String>()
        ));
    }
    Ok(vec![("credit", begin.elapsed())])
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_ready(t: &Target, server: &mut Server, deadline: Duration) -> anyhow::Result<String> {
    let until = Instant::now() + deadline;
    loop {
        if let Some(status) = server.child.try_wait()? {
            bail!("kaika exited ({status}) before it was ready");
        }
        if let Ok(r) = t
            .http
            .get(format!("{}/sim/control/state", t.base))
            .send()
            .await
        {
            if let Ok(state) = r.json::<Value>().await {
                let mini = state
                    .pointer("/accounts/0/mini_program/app_id")
                    .and_then(Value::as_str);
                let has_card = state["cards"].as_array().is_some_and(|c| !c.is_empty());
                if let (Some(mini), true) = (mini, has_card) {
                    return Ok(mini.to_owned());
                }
            }
        }
        if Instant::now() > until {
            bail!("the sandbox did not come up within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn drain_time(kaika: &Kaika) -> anyhow::Result<(u64, Duration)> {
    let begin = Instant::now();
    let first = kaika.unsent()?;
    let mut unsent = first;
    while unsent > 0 {
        std::thread::sleep(Duration::from_millis(250));
        unsent = kaika.unsent()?;
        if begin.elapsed() > Duration::from_secs(600) {
            bail!("the outbox did not drain in 10 minutes ({unsent} left)");
        }
    }
    Ok((first, begin.elapsed()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let temp = std::env::temp_dir().join(format!("kaika-bench-ledger-{}", std::process::id()));
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
        master_key: master_key()?,
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
    let concurrency = args.load.concurrency.max(1);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut target = Target {
        http,
        base: format!("http://127.0.0.1:{port}"),
        key: String::new(),
    };
    let mini_app_id = wait_ready(&target, &mut server, Duration::from_secs(60)).await?;
    target.key = kaika
        .output(&["api-key", "create", "--name", "bench", "--scopes", "all"])?
        .trim()
        .to_owned();
    let mut members = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        members.push(activate(&target, &mini_app_id, &format!("bench-{i}")).await?);
    }
    let backend = if database_url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "kaika on 127.0.0.1:{port} ({backend}); {concurrency} concurrent clients, {} s per scenario after {} s warm-up; \
         {} members activated; each request credits 1 point with a new Idempotency-Key",
        args.load.duration, args.load.warmup, members.len()
    );
    let members = Arc::new(members);
    let wants = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let (w, d) = (args.load.warmup(), args.load.duration());
    let mut rows: Vec<Summary> = Vec::new();
    let mut drains = Vec::new();
    for (scenario, label, hot) in [
        ("spread", "credit, one member per client", false),
        ("hot", "credit, every client on one member", true),
    ] {
        if !wants(scenario) {
            continue;
        }
        let (t, m) = (target.clone(), members.clone());
        let (total, _) = run(label, concurrency, w, d, move |worker, i| {
            let (t, m) = (t.clone(), m.clone());
            async move {
                let member = if hot { m[0] } else { m[worker % m.len()] };
                credit(&t, member, format!("{scenario}-{worker}-{i}")).await
            }
        })
        .await;
        rows.push(total);
        let (jobs, took) = drain_time(&kaika)?;
        drains.push(format!(
            "{scenario}: {jobs} outbox jobs still unsent when the load stopped, drained in {:.1} s",
            took.as_secs_f64()
        ));
    }
    println!();
    print_table(&rows);
    println!();
    for line in drains {
        println!("{line}");
    }
    drop(server);
    std::fs::remove_dir_all(&temp).ok();
    Ok(())
}
