//! Chaos: member journeys through a `kaika serve` process that is killed with SIGKILL at intervals,
//! against a simulator that drops, delays and refuses calls (-1, 45061, a timeout after activate took
//! effect, a connection dropped after it took effect) and goes through a whole outage, while members
//! retry, submit duplicates, delete their card and join again. Afterwards, with WeChat healthy, the
//! re-drive must leave: one member for every card active at WeChat (with WeChat's membership number),
//! no activation unfinished, and no `activate` ever sent for a code that was already active.
//!
//! The test command runs a short form. The full form is the same test with larger figures:
//!
//! ```sh
//! CHAOS_JOURNEYS=10000 CHAOS_CONCURRENCY=32 CHAOS_KILL_EVERY_SECS=20 CHAOS_OUTAGE_SECS=120 \
//!   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo test --release -p kaika-server --test chaos -- --nocapture
//! ```
//! (`bench/chaos.sh` runs exactly that.)
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

mod common;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{kaika_bin, TestApp};
use kaika_core::entity::{activations, ledger_entries, members, wechat_events};
use kaika_server::sandbox::{Sandbox, SandboxInfo};
use kaika_wechat_sim::{FaultSpec, PushOutcome};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

fn figure(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The sizes of one run.
#[derive(Debug, Clone, Copy)]
struct Figures {
    journeys: u64,
    concurrency: u64,
    kill_every: Duration,
    outage: Duration,
}

impl Figures {
    fn from_env() -> Self {
        Self {
            journeys: figure("CHAOS_JOURNEYS", 48),
            concurrency: figure("CHAOS_CONCURRENCY", 8),
            kill_every: Duration::from_secs(figure("CHAOS_KILL_EVERY_SECS", 3)),
            outage: Duration::from_secs(figure("CHAOS_OUTAGE_SECS", 4)),
        }
    }
}

/// What happened, counted while it happened.
#[derive(Debug, Default)]
struct Counters {
    kills: AtomicU64,
    member_retries: AtomicU64,
    duplicates_sent: AtomicU64,
    server_errors: AtomicU64,
    refused: AtomicU64,
    unanswered: AtomicU64,
    rejoins: AtomicU64,
    activated: AtomicU64,
}

struct World {
    app: TestApp,
    sandbox: Sandbox,
    info: SandboxInfo,
    /// The port every `kaika serve` of the run listens on.
    port: u16,
    http: reqwest::Client,
    counters: Counters,
}

impl World {
    fn kaika_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn spawn_kaika(&self) -> tokio::process::Child {
        tokio::process::Command::new(kaika_bin())
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAIKA__DATABASE__URL", self.app.test_db.url.as_str())
            .env("KAIKA__DATA_DIR", self.app.data_dir.path())
            .env("KAIKA__MASTER_KEY", self.app.master_key.to_base64())
            .env("KAIKA__SERVER__LISTEN", format!("127.0.0.1:{}", self.port))
            .env("KAIKA__SERVER__WORKERS", "2")
            .env("KAIKA__SANDBOX__MODE", "off")
            .env("KAIKA__LOG__LEVEL", "error")
            // Every journey comes from loopback and retries through outages far faster than a member
            // would: the per-address budgets would refuse it, which is not what this test is about.
            .env("KAIKA__RATE_LIMIT__SESSIONS_PER_MINUTE", "0")
            .env("KAIKA__RATE_LIMIT__ACTIVATIONS_PER_MINUTE", "0")
            .env("KAIKA__WECHAT__TIMEOUT_MS", "1500")
            .env("KAIKA__WECHAT__BUSY_BASE_DELAY_MS", "10")
            .env("KAIKA__ACTIVATION__RETRY_BASE_MS", "200")
            .env("KAIKA__ACTIVATION__RETRY_MAX_SECS", "2")
            .env("KAIKA__ACTIVATION__LEASE_SECS", "5")
            .env("KAIKA__ACTIVATION__REDRIVE_INTERVAL_SECS", "1")
            .env("KAIKA__ACTIVATION__DUPLICATE_WAIT_MS", "500")
            .env("KAIKA__EVENTS__LEASE_SECS", "5")
            .env("KAIKA__EVENTS__RETRY_BASE_MS", "200")
            .env("KAIKA__EVENTS__RETRY_MAX_SECS", "2")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = self.http.get(self.kaika_url("/healthz")).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "kaika never became healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Retries a request to Kaika until it answers something other than "down" (connection refused
    /// or reset while it restarts, 503 while WeChat is out).
    async fn until_answered(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        within: Duration,
    ) -> Option<(u16, Value)> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            // A transport error is Kaika being restarted: try again.
            if let Ok(response) = build().send().await {
                let status = response.status().as_u16();
                let body = response.json::<Value>().await.unwrap_or(Value::Null);
                if status >= 500 && status != 503 {
                    self.counters.server_errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!("server error {status}: {body}");
                }
                if status < 500 && status != 202 {
                    return Some((status, body));
                }
            }
            self.counters.member_retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        None
    }

    /// One member opening the card: login, parameters, the form in WeChat, the activation, with
    /// retries (and, for some, a duplicate submission). Returns the card code when activated.
    async fn journey(&self, user: &str, duplicate: bool) -> Option<String> {
        let within = Duration::from_secs(60);
        let mint = || {
            self.sandbox
                .sim
                .mint_login_code(&self.info.mini_app_id, user)
                .unwrap()
                .code
        };
        let (status, session) = self
            .until_answered(
                || {
                    self.http
                        .post(self.kaika_url("/api/v1/sessions"))
                        .json(&json!({ "code": mint() }))
                },
                within,
            )
            .await?;
        assert_eq!(status, 200, "{session}");
        let token = session["token"].as_str().unwrap().to_owned();
        let card_id = &self.info.card_ids[0];
        let (status, params) = self
            .until_answered(
                || {
                    self.http
                        .get(self.kaika_url(&format!(
                            "/api/v1/cards/{card_id}/activation-params?channel=store_front"
                        )))
                        .bearer_auth(&token)
                },
                within,
            )
            .await?;
        assert_eq!(status, 200, "{params}");
        let extra = &params["extra_data"];
        let filled = self.app.fill_component_form(extra, user).await;
        let body = json!({
            "activate_ticket": filled["activate_ticket"],
            "card_id": filled["card_id"],
            "encrypt_code": filled["code"],
        });
        let activate = || {
            self.http
                .post(self.kaika_url("/api/v1/activations"))
                .bearer_auth(&token)
                .json(&body)
        };
        if duplicate {
            self.counters
                .duplicates_sent
                .fetch_add(1, Ordering::Relaxed);
            let twin = activate().send();
            let _ = futures::future::join(twin, activate().send()).await;
        }
        match self.until_answered(activate, within).await {
            Some((200, member)) => {
                self.counters.activated.fetch_add(1, Ordering::Relaxed);
                Some(member["code"].as_str().unwrap().to_owned())
            }
            Some((status, refusal)) => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                eprintln!("{user}: refused {status} {refusal}");
                None
            }
            None => {
                self.counters.unanswered.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    fn add_fault(&self, spec: Value) -> u64 {
        let spec: FaultSpec = serde_json::from_value(spec).unwrap();
        self.sandbox.sim.add_fault(spec).unwrap().id
    }

    /// The steady faults of the run, each with its own seed.
    fn faults(&self) {
        for (i, (path, fault, probability)) in [
            (
                "card/code/decrypt",
                json!({"kind": "errcode", "errcode": -1}),
                0.05,
            ),
            (
                "card/membercard/activatetempinfo/get",
                json!({"kind": "errcode", "errcode": 45061}),
                0.05,
            ),
            (
                "card/code/get",
                json!({"kind": "errcode", "errcode": -1}),
                0.05,
            ),
            // Took effect, then the connection dropped.
            (
                "card/membercard/activate",
                json!({"kind": "drop", "apply": true}),
                0.08,
            ),
            // Took effect, then answered after the client's timeout.
            (
                "card/membercard/activate",
                json!({"kind": "delay", "ms": 2500}),
                0.04,
            ),
            (
                "card/membercard/activate",
                json!({"kind": "errcode", "errcode": -1}),
                0.04,
            ),
            (
                "card/membercard/userinfo/get",
                json!({"kind": "errcode", "errcode": -1}),
                0.05,
            ),
        ]
        .into_iter()
        .enumerate()
        {
            self.add_fault(
                json!({"path": path, "fault": fault, "probability": probability,
                                  "seed": 7 + i as u64}),
            );
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_every_card_active_at_wechat_ends_as_exactly_one_member() {
    let figures = Figures::from_env();
    let started = Instant::now();
    let (app, sandbox, info) = TestApp::sandbox().await;
    let world = Arc::new(World {
        app,
        sandbox,
        info,
        port: free_port(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        counters: Counters::default(),
    });
    world.faults();

    // Kaika is killed with SIGKILL at intervals and started again on the same port.
    let stop = Arc::new(AtomicBool::new(false));
    let mut kaika = world.spawn_kaika();
    world.wait_healthy().await;
    let killer = tokio::spawn({
        let (world, stop) = (world.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(world_kill_interval(&world, figures)).await;
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                kaika.kill().await.unwrap();
                world.counters.kills.fetch_add(1, Ordering::Relaxed);
                kaika = world.spawn_kaika();
                world.wait_healthy().await;
            }
            kaika
        }
    });

    // A whole outage once a third of the members are in, while the others are at every step, some of
    // them right after WeChat took their activate into effect: every WeChat call answers -1.
    let members_done = Arc::new(AtomicBool::new(false));
    let outage = tokio::spawn({
        let (world, stop) = (world.clone(), members_done.clone());
        async move {
            // Or once the members are done, should fewer than a third have got their card.
            while world.counters.activated.load(Ordering::Relaxed) < figures.journeys / 3
                && !stop.load(Ordering::SeqCst)
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let id =
                world.add_fault(json!({"path": "*", "fault": {"kind": "errcode", "errcode": -1}}));
            tokio::time::sleep(figures.outage).await;
            world.sandbox.sim.remove_fault(id);
        }
    });

    // The members, a few at a time; every eighth deletes the card afterwards and joins again.
    let next = Arc::new(AtomicU64::new(0));
    let members = futures::future::join_all((0..figures.concurrency).map(|_| {
        let (world, next) = (world.clone(), next.clone());
        async move {
            let mut activated = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= figures.journeys {
                    break;
                }
                let user = format!("chaos{i}");
                let Some(code) = world.journey(&user, i % 5 == 0).await else {
                    continue;
                };
                activated.push(code.clone());
                if i % 8 == 0 {
                    world.sandbox.sim.member_deletes_card(&code).unwrap();
                    world.counters.rejoins.fetch_add(1, Ordering::Relaxed);
                    if let Some(again) = world.journey(&user, false).await {
                        activated.push(again);
                    }
                }
            }
            activated
        }
    }))
    .await;
    members_done.store(true, Ordering::SeqCst);
    outage.await.unwrap();
    stop.store(true, Ordering::SeqCst);
    let mut kaika = killer.await.unwrap();

    // WeChat is healthy again: the re-drive and the event worker finish everything.
    let journeys_took = started.elapsed();
    world.sandbox.sim.clear_faults();
    let db = &world.app.test_db.db;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let unfinished = activations::Entity::find()
            .filter(activations::Column::Step.is_not_in(["done", "failed"]))
            .all(db)
            .await
            .unwrap();
        let pushes_pending = world
            .sandbox
            .sim
            .pushes()
            .iter()
            .any(|p| p.outcome == PushOutcome::Pending);
        let events_open = wechat_events::Entity::find()
            .filter(wechat_events::Column::Status.is_in(["pending", "processing"]))
            .all(db)
            .await
            .unwrap();
        if unfinished.is_empty() && !pushes_pending && events_open.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not finished: {} activations ({:?}), {} events",
            unfinished.len(),
            unfinished.iter().map(|a| &a.step).collect::<Vec<_>>(),
            events_open.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    kaika.kill().await.unwrap();
    let settled_after = started.elapsed() - journeys_took;

    // Cards active at WeChat and members in Kaika: the same codes, the same numbers.
    let snapshot = world.sandbox.sim.snapshot();
    let card_id = &world.info.card_ids[0];
    let active_at_wechat: HashMap<String, String> = snapshot["codes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["card_id"] == *card_id && c["has_active"] == true)
        .map(|c| {
            (
                c["code"].as_str().unwrap().to_owned(),
                c["membership_number"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let stored = members::Entity::find().all(db).await.unwrap();
    let activated_here: HashMap<String, String> = stored
        .iter()
        .filter(|m| m.activated_at.is_some())
        .map(|m| {
            (
                m.code.clone(),
                m.membership_number.clone().unwrap_or_default(),
            )
        })
        .collect();
    let missing: Vec<&String> = active_at_wechat
        .keys()
        .filter(|code| !activated_here.contains_key(*code))
        .collect();
    assert!(
        missing.is_empty(),
        "active at WeChat, no member: {missing:?}"
    );
    assert_eq!(activated_here, active_at_wechat, "same codes, same numbers");
    let codes: HashSet<&String> = stored.iter().map(|m| &m.code).collect();
    assert_eq!(codes.len(), stored.len(), "one member per code");
    let answered: Vec<String> = members.into_iter().flatten().collect();
    for code in &answered {
        assert!(activated_here.contains_key(code), "{code} was answered 200");
    }
    let failed = activations::Entity::find()
        .filter(activations::Column::Step.eq("failed"))
        .all(db)
        .await
        .unwrap();
    for row in &failed {
        let code = row.code.clone().unwrap_or_default();
        assert!(
            !active_at_wechat.contains_key(&code),
            "failed, but active at WeChat: {row:?}"
        );
    }
    let welcomes = ledger_entries::Entity::find()
        .filter(ledger_entries::Column::IdempotencyKey.eq("welcome"))
        .all(db)
        .await
        .unwrap();
    let welcomed: HashSet<i64> = welcomes.iter().map(|e| e.member_id).collect();
    assert_eq!(
        welcomed.len(),
        welcomes.len(),
        "one welcome bonus per member"
    );
    assert_eq!(
        world.sandbox.sim.activations_of_active_codes(),
        0,
        "activate was never sent for a code already active"
    );
    let counters = &world.counters;
    assert_eq!(counters.server_errors.load(Ordering::Relaxed), 0);
    assert!(
        answered.len() as u64 >= figures.journeys / 2,
        "most members were answered with their card: {}",
        answered.len()
    );
    assert!(
        counters.kills.load(Ordering::Relaxed) >= 1,
        "kaika was killed"
    );
    println!(
        "chaos: {} journeys ({} re-joins, {} with a duplicate submission) in {:.0?}, settled {:.0?} \
         later; {} cards active \
         at WeChat = {} members activated; {} answered 200, {} refused, {} left to the re-drive, {} \
         failed activations (none active at WeChat); {} kill -9, {} member retries; activate calls {} \
         ({} on active codes)",
        figures.journeys,
        counters.rejoins.load(Ordering::Relaxed),
        counters.duplicates_sent.load(Ordering::Relaxed),
        journeys_took,
        settled_after,
        active_at_wechat.len(),
        activated_here.len(),
        answered.len(),
        counters.refused.load(Ordering::Relaxed),
        counters.unanswered.load(Ordering::Relaxed),
        failed.len(),
        counters.kills.load(Ordering::Relaxed),
        counters.member_retries.load(Ordering::Relaxed),
        world.sandbox.sim.api_calls("card/membercard/activate"),
        world.sandbox.sim.activations_of_active_codes(),
    );
}

/// The pause before the next kill: the configured interval, give or take a third, so kills land at
/// every step of the activation.
fn world_kill_interval(world: &World, figures: Figures) -> Duration {
    let jitter = world.counters.kills.load(Ordering::Relaxed) % 3;
    figures.kill_every * 2 / 3 + figures.kill_every * u32::try_from(jitter).unwrap_or(0) / 3
}
