//! Safe-mode event pushes accepted per second by Kaika's `/wechat/{app_id}/callback`, with N concurrent
//! pushers (closed loop), on SQLite and on PostgreSQL, next to a no-op actix handler measured in the same
//! run as the ceiling. Every push is a distinct `user_get_card` event, encrypted and signed as WeChat
//! does in safe mode; the answer must be `success`. Afterwards the stored events are applied by the
//! event worker and that rate is reported too.
//!
//! ```text
//! cargo run --release -p kaika-bench --bin events -- \
//!     [--pushers 64] [--seconds 10] [--warmup 2] [--postgres postgres://postgres@127.0.0.1:5432/postgres] [--no-postgres]
//! ```

use kaika_core::jobs::Rounds as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context as _;
use kaika_core::accounts::{self, AppId, MessageMode, NewAccount, SecretText};
use kaika_core::db::{self, DatabaseUrl, PoolSettings};
use kaika_core::entity::cards;
use kaika_core::events::{Worker, WorkerSettings};
use kaika_core::secrets::MasterKey;
use kaika_server::config::Settings;
use kaika_server::{app, startup};
use kaika_wechat::crypto::{self, MessageCrypt};
use kaika_wechat::event::EncryptedEnvelope;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, Statement};

const APP_ID: &str = "wx0123456789abcdef";
const TOKEN: &str = "benchtoken";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const CARD: &str = "pBench000000000000000000001";

#[derive(Debug, Clone)]
struct Args {
    pushers: usize,
    seconds: u64,
    warmup: u64,
    postgres: Option<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        pushers: 64,
        seconds: 10,
        warmup: 2,
        postgres: Some("postgres://postgres@127.0.0.1:5432/postgres".into()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--pushers" => args.pushers = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--warmup" => args.warmup = value()?.parse()?,
            "--postgres" => args.postgres = Some(value()?),
            "--no-postgres" => args.postgres = None,
            "--help" | "-h" => {
                println!("kaika-bench-events [--pushers N] [--seconds S] [--warmup S] [--postgres URL | --no-postgres]");
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    Ok(args)
}

struct Result_ {
    name: String,
    ok: u64,
    errors: u64,
    seconds: f64,
    p50: Duration,
    p99: Duration,
}

impl Result_ {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// One sealed, signed `user_get_card` push with a code unique in the run.
fn push(crypt: &MessageCrypt, seq: u64) -> (String, String) {
    let now = chrono::Utc::now().timestamp();
    let code = format!("{:012}", seq);
    let xml = format!("<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[oBench{seq:022}]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_get_card]]></Event><CardId><![CDATA[{CARD}]]></CardId><IsGiveByFriend>0</IsGiveByFriend><UserCardCode><![CDATA[{code}]]></UserCardCode><OuterStr><![CDATA[bench]]></OuterStr><IsRestoreMemberCard>0</IsRestoreMemberCard></xml>");
    let envelope = EncryptedEnvelope::seal(crypt, "gh_bench", &xml);
    let ts = now.to_string();
    let nonce = seq.to_string();
    let query = format!(
        "signature={}&timestamp={ts}&nonce={nonce}&openid=o&encrypt_type=aes&msg_signature={}",
        crypto::signature(TOKEN, &ts, &nonce),
        crypto::msg_signature(TOKEN, &ts, &nonce, &envelope.encrypt)
    );
    (query, envelope.to_xml())
}

/// Closed-loop load: `pushers` tasks each POST, wait for the answer, and POST again.
async fn load(name: &str, url: &str, args: &Args, seq: Arc<AtomicU64>) -> Result_ {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.pushers)
        .build()
        .unwrap_or_default();
    let crypt = MessageCrypt::new(AES_KEY, APP_ID).unwrap_or_else(|e| panic!("{e}"));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..args.pushers {
        let (client, crypt, url) = (client.clone(), crypt.clone(), url.to_owned());
        let (measuring, stop, ok, errors, latencies, seq) = (
            measuring.clone(),
            stop.clone(),
            ok.clone(),
            errors.clone(),
            latencies.clone(),
            seq.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (query, body) = push(&crypt, seq.fetch_add(1, Ordering::Relaxed));
                let started = Instant::now();
                let answer = client
                    .post(format!("{url}?{query}"))
                    .body(body)
                    .send()
                    .await;
                let good = match answer {
                    Ok(resp) if resp.status().is_success() => {
                        resp.text().await.map(|t| t == "success").unwrap_or(false)
                    }
                    _ => false,
                };
                if measuring.load(Ordering::Relaxed) {
                    if good {
                        ok.fetch_add(1, Ordering::Relaxed);
                        mine.push(started.elapsed());
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if let Ok(mut all) = latencies.lock() {
                all.extend(mine);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.ok();
    }
    let mut all = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    all.sort_unstable();
    Result_ {
        name: name.to_owned(),
        ok: ok.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        seconds,
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
    }
}

/// The ceiling: an actix handler that reads the body and answers `success`, same worker count.
async fn noop(args: &Args, seq: Arc<AtomicU64>) -> anyhow::Result<Result_> {
    let server = HttpServer::new(|| {
        App::new().route(
            "/wechat/{app_id}/callback",
            web::post().to(|_body: web::Bytes| async { HttpResponse::Ok().body("success") }),
        )
    })
    .workers(2)
    .bind("127.0.0.1:0")?;
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    let result = load(
        "no-op actix handler",
        &format!("http://{addr}/wechat/{APP_ID}/callback"),
        args,
        seq,
    )
    .await;
    handle.stop(true).await;
    Ok(result)
}

async fn kaika(
    name: &str,
    url: &str,
    args: &Args,
    seq: Arc<AtomicU64>,
) -> anyhow::Result<(Result_, String)> {
    let data_dir =
        std::env::temp_dir().join(format!("kaika-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data_dir)?;
    let key = MasterKey::generate();
    let figment = Settings::figment(None)?
        .merge(("database.url", url))
        .merge(("server.listen", "127.0.0.1:0"))
        .merge(("server.workers", 2))
        .merge(("data_dir", data_dir.display().to_string()))
        .merge(("master_key", key.to_base64()));
    let settings = Settings::from_figment(&figment)?;
    let ctx = startup::prepare(&settings).await?;
    let account = accounts::add(
        &ctx.db,
        &key,
        NewAccount {
            name: "bench".into(),
            app_id: AppId::parse(APP_ID)?,
            app_secret: SecretText::new("0123456789abcdef0123456789abcdef"),
            callback_token: TOKEN.into(),
            encoding_aes_key: Some(SecretText::new(AES_KEY)),
            message_mode: MessageMode::Safe,
            mini_program: None,
            api_base_url: "http://127.0.0.1:9".into(),
            is_sandbox: false,
        },
    )
    .await?;
    cards::ActiveModel {
        account_id: Set(account.id),
        wechat_card_id: Set(CARD.into()),
        title: Set("bench".into()),
        brand_name: Set("bench".into()),
        color: Set("Color010".into()),
        logo_url: Set("https://example.invalid/logo.png".into()),
        review_status: Set("approved".into()),
        refuse_reason: Set(None),
        activation_form: Set(None),
        welcome_bonus: Set(0),
        membership_prefix: Set("B".into()),
        next_membership_seq: Set(1),
        ..Default::default()
    }
    .insert(&ctx.db)
    .await?;
    let running = app::start(&settings, ctx.clone(), None)?;
    let handle = running.server.handle();
    tokio::spawn(running.server);
    let result = load(
        name,
        &format!("http://{}/wechat/{APP_ID}/callback", running.addr),
        args,
        seq,
    )
    .await;
    handle.stop(true).await;
    // The worker's rate on what was stored (no HTTP load at the same time).
    let worker = Worker::new(
        ctx.db.clone(),
        ctx.clients.clone(),
        WorkerSettings::default(),
    );
    let started = Instant::now();
    let report = worker.drain().await?;
    let elapsed = started.elapsed().as_secs_f64();
    let applied = format!(
        "{name}: worker applied {} stored events in {elapsed:.1} s = {:.0}/s ({} retried, {} dead)",
        report.done,
        report.done as f64 / elapsed,
        report.retrying,
        report.failed
    );
    ctx.db.clone().close().await.ok();
    std::fs::remove_dir_all(&data_dir).ok();
    Ok((result, applied))
}

async fn postgres_database(admin_url: &str) -> anyhow::Result<(String, String)> {
    let name = format!("kaika_bench_{}", uuid::Uuid::new_v4().simple());
    let admin = db::connect(
        &DatabaseUrl::parse(admin_url).map_err(anyhow::Error::msg)?,
        &PoolSettings::default(),
    )
    .await?;
    admin
        .execute(Statement::from_string(
            admin.get_database_backend(),
            format!("CREATE DATABASE \"{name}\""),
        ))
        .await?;
    admin.close().await.ok();
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    Ok((format!("{base}/{name}"), name))
}

async fn drop_postgres_database(admin_url: &str, name: &str) {
    if let Ok(url) = DatabaseUrl::parse(admin_url) {
        if let Ok(admin) = db::connect(&url, &PoolSettings::default()).await {
            admin
                .execute(Statement::from_string(
                    admin.get_database_backend(),
                    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                ))
                .await
                .ok();
        }
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let seq = Arc::new(AtomicU64::new(1));
    println!(
        "safe-mode user_get_card pushes, {} pushers, {} s measured after {} s warm-up, 2 HTTP workers",
        args.pushers, args.seconds, args.warmup
    );
    let mut results = vec![noop(&args, seq.clone()).await?];
    let mut notes = Vec::new();
    let sqlite_dir =
        std::env::temp_dir().join(format!("kaika-bench-db-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&sqlite_dir)?;
    let (r, n) = kaika(
        "kaika, SQLite (WAL)",
        &format!("sqlite://{}/kaika.db", sqlite_dir.display()),
        &args,
        seq.clone(),
    )
    .await?;
    results.push(r);
    notes.push(n);
    std::fs::remove_dir_all(&sqlite_dir).ok();
    if let Some(admin) = &args.postgres {
        let (url, name) = postgres_database(admin).await?;
        let outcome = kaika("kaika, PostgreSQL", &url, &args, seq.clone()).await;
        drop_postgres_database(admin, &name).await;
        let (r, n) = outcome?;
        results.push(r);
        notes.push(n);
    }
    let ceiling = results[0].rate();
    println!(
        "\n{:<24} {:>10} {:>8} {:>10} {:>10} {:>9}",
        "target", "accepted/s", "errors", "p50", "p99", "of no-op"
    );
    for r in &results {
        println!(
            "{:<24} {:>10.0} {:>8} {:>10.2?} {:>10.2?} {:>8.1}%",
            r.name,
            r.rate(),
            r.errors,
            r.p50,
            r.p99,
            100.0 * r.rate() / ceiling
        );
    }
    println!();
    for n in notes {
        println!("{n}");
    }
    Ok(())
}
