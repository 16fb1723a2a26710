//! Flow 4 end to end over HTTP: the integration API, the outbox mirroring changes onto the simulated
//! WeChat card (outages, two server processes), and reconciliation; on SQLite and PostgreSQL.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

mod common;

use kaika_core::jobs::Rounds as _;
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{kaika_bin, TestApp};
use kaika_core::api_keys::{self, Scope};
use kaika_core::clients::Clients;
use kaika_core::entity::{ledger_entries, members, outbox as jobs};
use kaika_core::events;
use kaika_core::outbox::{self, Worker, WorkerSettings};
use kaika_core::reconcile::{self, Options, OUTCOME_DRIFT, OUTCOME_IN_SYNC};
use kaika_server::sandbox::{Sandbox, SandboxInfo};
use kaika_wechat::membercard::UpdateUserRequest;
use kaika_wechat::ClientConfig;
use kaika_wechat_sim::FaultSpec;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

struct World {
    app: TestApp,
    sandbox: Sandbox,
    info: SandboxInfo,
    /// A key with every scope.
    key: String,
    clients: Clients,
}

#[derive(Debug, Clone)]
struct Member {
    id: i64,
    code: String,
}

struct Reply {
    status: StatusCode,
    body: Value,
    replayed: Option<String>,
}

impl World {
    async fn start() -> Self {
        let (app, sandbox, info) = TestApp::sandbox().await;
        let key = api_keys::create(&app.app_db, "test-all", &Scope::ALL, "test")
            .await
            .unwrap()
            .key;
        let config = ClientConfig {
            timeout: Duration::from_millis(1500),
            busy_retries: 0,
            ..ClientConfig::default()
        };
        let clients = Clients::new(app.app_db.clone(), app.master_key.clone(), config);
        Self {
            app,
            sandbox,
            info,
            key,
            clients,
        }
    }

    fn card_id(&self) -> &str {
        &self.info.card_ids[0]
    }

    /// Walks a member through activation (as `tests/activation.rs` does) and returns it.
    async fn activate(&self, user: &str) -> Member {
        let token = self
            .app
            .login(&self.sandbox, &self.info.mini_app_id, user)
            .await;
        let params: Value = self
            .app
            .client
            .get(self.app.url(&format!(
                "/api/v1/cards/{}/activation-params?channel=store_front",
                self.card_id()
            )))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let extra = &params["extra_data"];
        let returned: Value = self
            .app
            .client
            .post(self.app.url("/sim/component/submit"))
            .json(&json!({
                "encrypt_card_id": extra["encrypt_card_id"], "outer_str": extra["outer_str"],
                "biz": extra["biz"], "user": user,
                "answers": {"USER_FORM_INFO_FLAG_MOBILE": format!("1380013{:04}", user.len() * 97 % 10000),
                            "USER_FORM_INFO_FLAG_NAME": "张三", "喜欢的咖啡": "拿铁"},
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let activated = self.app.activate(&token, &returned).await;
        assert_eq!(activated.status(), 200);
        let body: Value = activated.json().await.unwrap();
        let code = body["code"].as_str().unwrap().to_owned();
        let found: Value = self
            .app
            .client
            .get(
                self.app
                    .url(&format!("/api/v1/integration/members?code={code}")),
            )
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Member {
            id: found[0]["id"].as_i64().unwrap_or_else(|| panic!("{found}")),
            code,
        }
    }

    async fn change_with(
        &self,
        key: Option<&str>,
        path: &str,
        idempotency_key: Option<&str>,
        body: &Value,
    ) -> Reply {
        let mut request = self.app.client.post(self.app.url(path)).json(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(idem) = idempotency_key {
            request = request.header("Idempotency-Key", idem);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.json().await.unwrap_or(Value::Null);
        Reply {
            status,
            body,
            replayed,
        }
    }

    async fn credit(&self, member: &Member, kind: &str, amount: i64, idem: &str) -> Reply {
        self.change_with(
            Some(&self.key),
            &format!("/api/v1/integration/members/{}/credits", member.id),
            Some(idem),
            &json!({"kind": kind, "amount": amount, "reason": "purchase", "note": "till 1"}),
        )
        .await
    }

    async fn debit(&self, member: &Member, kind: &str, amount: i64, idem: &str) -> Reply {
        self.change_with(
            Some(&self.key),
            &format!("/api/v1/integration/members/{}/debits", member.id),
            Some(idem),
            &json!({"kind": kind, "amount": amount, "reason": "redemption"}),
        )
        .await
    }

    async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .app
            .client
            .get(self.app.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn member(&self, member: &Member) -> members::Model {
        members::Entity::find_by_id(member.id)
            .one(&self.app.app_db)
            .await
            .unwrap()
            .unwrap()
    }

    async fn entry_count(&self) -> u64 {
        ledger_entries::Entity::find()
            .count(&self.app.app_db)
            .await
            .unwrap()
    }

    async fn job_count(&self) -> u64 {
        jobs::Entity::find().count(&self.app.app_db).await.unwrap()
    }

    fn worker(&self, name: &str) -> Worker {
        Worker::new(
            self.app.app_db.clone(),
            self.clients.clone(),
            name.into(),
            WorkerSettings {
                retry_base: Duration::from_millis(50),
                retry_max: Duration::from_millis(300),
                max_attempts: 10_000,
                ..WorkerSettings::default()
            },
        )
    }

    fn fault(&self, spec: Value) {
        let spec: FaultSpec = serde_json::from_value(spec).unwrap();
        self.sandbox.sim.add_fault(spec).unwrap();
    }

    /// (points, balance) the simulated WeChat card shows.
    fn card_shows(&self, member: &Member) -> (i64, i64) {
        let issued = self.sandbox.sim.issued_code(&member.code).unwrap();
        (issued.bonus, issued.balance.round() as i64)
    }

    async fn assert_card_shows_local_totals(&self, member: &Member) {
        let local = self.member(member).await;
        assert_eq!(
            self.card_shows(member),
            (local.points, local.balance_cents),
            "member {} on the WeChat card",
            member.id
        );
    }

    async fn wait_until_all_sent(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let unsent = jobs::Entity::find()
                .filter(jobs::Column::Status.ne(outbox::STATUS_SENT))
                .count(&self.app.app_db)
                .await
                .unwrap();
            if unsent == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "{unsent} jobs still unsent");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the simulator delivered every push, then applies the stored events.
    async fn apply_pushed_events(&self) {
        common::wait_for_pushes(&self.sandbox).await;
        events::Worker::new(
            self.app.app_db.clone(),
            self.clients.clone(),
            events::WorkerSettings::default(),
        )
        .drain()
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn two_hundred_concurrent_credits_give_the_exact_total_and_two_hundred_entries() {
    let world = World::start().await;
    let member = world.activate("alice").await;
    let before = world.entry_count().await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let path = format!("/api/v1/integration/members/{}/credits", member.id);
        let (client, url, key) = (
            world.app.client.clone(),
            world.app.url(&path),
            world.key.clone(),
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .header("Idempotency-Key", format!("sale-{i}"))
                .json(&json!({"kind": "points", "amount": 3, "reason": "purchase"}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::CREATED);
    }
    assert_eq!(world.member(&member).await.points, 100 + 600);
    assert_eq!(world.entry_count().await - before, 200);
    assert_eq!(
        world.job_count().await,
        200,
        "the welcome bonus enqueued nothing"
    );
    let (status, page) = world
        .get(
            &world.key,
            &format!("/api/v1/integration/members/{}/ledger?limit=150", member.id),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["entries"].as_array().unwrap().len(), 150);
    assert_eq!(page["entries"][0]["resulting_total"], 700);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = world
        .get(
            &world.key,
            &format!(
                "/api/v1/integration/members/{}/ledger?limit=150&cursor={cursor}",
                member.id
            ),
        )
        .await;
    assert_eq!(rest["entries"].as_array().unwrap().len(), 51);
    assert_eq!(rest["entries"][50]["reason"], "welcome");
    assert!(rest["next_cursor"].is_null());

    world.worker("w").drain().await.unwrap();
    world.assert_card_shows_local_totals(&member).await;
}

#[tokio::test]
async fn the_same_request_replayed_ten_times_writes_one_entry() {
    let world = World::start().await;
    let member = world.activate("bob").await;
    let before = world.entry_count().await;
    let replies = futures::future::join_all(
        (0..10).map(|_| world.credit(&member, "balance", 2500, "order-7")),
    )
    .await;
    let ids: HashSet<i64> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body["id"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every replay answers the original entry");
    assert_eq!(
        replies
            .iter()
            .filter(|r| r.replayed.as_deref() == Some("true"))
            .count(),
        9
    );
    let other = world.credit(&member, "balance", 2600, "order-7").await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.body["code"], "idempotency_key_reused");
    assert_eq!(world.entry_count().await - before, 1);
    assert_eq!(world.job_count().await, 1);
    assert_eq!(world.member(&member).await.balance_cents, 2500);

    let entry_id = ids.into_iter().next().unwrap();
    let reversal = format!("/api/v1/integration/entries/{entry_id}/reversal");
    let note = json!({"note": "refund"});
    let undo =
        |idem: &'static str| world.change_with(Some(&world.key), &reversal, Some(idem), &note);
    let undone = undo("undo-7").await;
    assert_eq!(undone.status, StatusCode::CREATED, "{}", undone.body);
    assert_eq!(undone.body["amount"], -2500);
    assert_eq!(undone.body["reverses_id"], entry_id);
    assert_eq!(undo("undo-7").await.replayed.as_deref(), Some("true"));
    let twice = undo("undo-8").await;
    assert_eq!(
        (twice.status, twice.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_reversed"))
    );
    assert_eq!(world.member(&member).await.balance_cents, 0);
    assert_eq!(world.job_count().await, 2);
}

/// Name, API key, path, Idempotency-Key, body, expected status and code.
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    String,
    Option<&'a str>,
    Value,
    u16,
    &'a str,
);

#[tokio::test]
async fn bad_input_is_refused_with_a_code_and_writes_nothing() {
    let world = World::start().await;
    let member = world.activate("carol").await;
    world.credit(&member, "balance", 100, "seed").await;
    let entries = world.entry_count().await;
    let jobs_before = world.job_count().await;
    let read_only = api_keys::create(&world.app.app_db, "ro", &[Scope::LedgerRead], "test")
        .await
        .unwrap()
        .key;
    let revoked = api_keys::create(&world.app.app_db, "old", &Scope::ALL, "test")
        .await
        .unwrap();
    api_keys::revoke(&world.app.app_db, &revoked.row.id.to_string())
        .await
        .unwrap();
    let credits = format!("/api/v1/integration/members/{}/credits", member.id);
    let debits = format!("/api/v1/integration/members/{}/debits", member.id);
    let body = |amount: Value| json!({"kind": "points", "amount": amount, "reason": "purchase"});
    let key = Some(world.key.as_str());
    let long_key = "x".repeat(129);
    let cases: Vec<Case<'_>> = vec![
        (
            "zero",
            key,
            credits.clone(),
            Some("a"),
            body(json!(0)),
            400,
            "amount_not_positive",
        ),
        (
            "negative",
            key,
            credits.clone(),
            Some("b"),
            body(json!(-5)),
            400,
            "amount_not_positive",
        ),
        (
            "beyond i64",
            key,
            credits.clone(),
            Some("c"),
            body(json!(9_223_372_036_854_775_808u64)),
            400,
            "amount_too_large",
        ),
        (
            "huge float",
            key,
            credits.clone(),
            Some("c2"),
            body(json!(1e30)),
            400,
            "amount_too_large",
        ),
        (
            "beyond the limit",
            key,
            credits.clone(),
            Some("d"),
            body(json!(1_000_001)),
            400,
            "amount_too_large",
        ),
        (
            "fraction",
            key,
            credits.clone(),
            Some("e"),
            body(json!(1.5)),
            400,
            "amount_not_integer",
        ),
        (
            "unknown kind",
            key,
            credits.clone(),
            Some("f"),
            json!({"kind": "stars", "amount": 1, "reason": "purchase"}),
            400,
            "invalid_kind",
        ),
        (
            "reserved reason",
            key,
            credits.clone(),
            Some("g"),
            json!({"kind": "points", "amount": 1, "reason": "welcome"}),
            400,
            "invalid_reason",
        ),
        (
            "unknown member",
            key,
            "/api/v1/integration/members/999999/credits".into(),
            Some("h"),
            body(json!(1)),
            404,
            "member_not_found",
        ),
        (
            "no key",
            None,
            credits.clone(),
            Some("i"),
            body(json!(1)),
            401,
            "invalid_api_key",
        ),
        (
            "wrong key",
            Some("kk_0000000000000000000000000000000000000000000000000000000000000000"),
            credits.clone(),
            Some("i"),
            body(json!(1)),
            401,
            "invalid_api_key",
        ),
        (
            "revoked key",
            Some(revoked.key.as_str()),
            credits.clone(),
            Some("j"),
            body(json!(1)),
            401,
            "api_key_revoked",
        ),
        (
            "out of scope",
            Some(read_only.as_str()),
            credits.clone(),
            Some("k"),
            body(json!(1)),
            403,
            "insufficient_scope",
        ),
        (
            "no idempotency key",
            key,
            credits.clone(),
            None,
            body(json!(1)),
            400,
            "idempotency_key_required",
        ),
        (
            "long idempotency key",
            key,
            credits.clone(),
            Some(long_key.as_str()),
            body(json!(1)),
            400,
            "invalid_idempotency_key",
        ),
        (
            "reused key, other body",
            key,
            credits.clone(),
            Some("seed"),
            json!({"kind": "balance", "amount": 101, "reason": "purchase", "note": "till 1"}),
            409,
            "idempotency_key_reused",
        ),
        (
            "points below zero",
            key,
            debits.clone(),
            Some("l"),
            json!({"kind": "points", "amount": 101, "reason": "redemption"}),
            422,
            "insufficient_points",
        ),
        (
            "balance below zero",
            key,
            debits.clone(),
            Some("m"),
            json!({"kind": "balance", "amount": 101, "reason": "redemption"}),
            422,
            "insufficient_balance",
        ),
        (
            "unknown field",
            key,
            credits.clone(),
            Some("n"),
            json!({"kind": "points", "amount": 1, "reason": "purchase", "sign": -1}),
            400,
            "invalid_json",
        ),
    ];
    for (name, key, path, idem, body, status, code) in cases {
        let reply = world.change_with(key, &path, idem, &body).await;
        assert_eq!(reply.status.as_u16(), status, "{name}: {}", reply.body);
        assert_eq!(reply.body["code"], code, "{name}");
    }
    assert_eq!(world.entry_count().await, entries, "nothing was written");
    assert_eq!(world.job_count().await, jobs_before);
    let local = world.member(&member).await;
    assert_eq!((local.points, local.balance_cents), (100, 100));
    let (status, _) = world
        .get(
            &read_only,
            &format!("/api/v1/integration/members/{}", member.id),
        )
        .await;
    assert_eq!(status, 403, "members:read is another scope");
}

#[tokio::test]
async fn a_wechat_outage_during_a_hundred_changes_ends_with_the_cards_showing_the_local_totals() {
    let world = World::start().await;
    let members = [world.activate("dave").await, world.activate("erin").await];
    world.fault(
        json!({"path": "card/membercard/updateuser", "fault": {"kind": "errcode", "errcode": -1}}),
    );
    let worker = world.worker("outage");
    let running = RoundLoop::start(worker.clone());
    for i in 0..100i64 {
        let member = &members[(i % 2) as usize];
        let key = format!("c{i}");
        let reply = match i % 5 {
            0 | 1 => world.credit(member, "points", i + 1, &key).await,
            2 => world.credit(member, "balance", 100 * (i + 1), &key).await,
            3 => world.debit(member, "points", 2, &key).await,
            _ => world.debit(member, "balance", 50, &key).await,
        };
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    // Wait until the worker has tried the oldest job at least twice against the outage.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, sync) = world
            .get(
                &world.key,
                &format!("/api/v1/integration/members/{}/sync", members[0].id),
            )
            .await;
        let attempts = sync.as_array().unwrap().last().unwrap()["attempts"]
            .as_i64()
            .unwrap();
        if attempts >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the oldest job was not retried: {sync}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Read the jobs between rounds: mid-round the oldest one is legitimately `sending`.
    running.stop().await;
    let (_, sync) = world
        .get(
            &world.key,
            &format!("/api/v1/integration/members/{}/sync", members[0].id),
        )
        .await;
    for member in &members {
        assert_eq!(
            world.card_shows(member),
            (100, 0),
            "nothing reached the card yet"
        );
    }
    let oldest = sync.as_array().unwrap().last().unwrap();
    assert_eq!(oldest["status"], "pending");
    assert!(oldest["attempts"].as_i64().unwrap() >= 2, "{oldest}");
    assert!(
        oldest["last_error"].as_str().unwrap().contains("-1"),
        "{oldest}"
    );
    assert_eq!(
        sync.as_array().unwrap()[0]["attempts"],
        0,
        "later jobs wait behind the oldest"
    );

    // WeChat comes back, flaky: some calls take effect and then lose their answer.
    world.sandbox.sim.clear_faults();
    world.fault(
        json!({"path": "card/membercard/updateuser", "fault": {"kind": "drop", "apply": true},
                       "probability": 0.3, "seed": 7}),
    );
    outbox::retry_now(&world.app.app_db).await.unwrap();
    let running = RoundLoop::start(worker);
    world.wait_until_all_sent(Duration::from_secs(60)).await;
    running.stop().await;
    world.sandbox.sim.clear_faults();
    for member in &members {
        world.assert_card_shows_local_totals(member).await;
    }
    assert_eq!(world.job_count().await, 100);
}

/// An outbox worker running round after round until told to stop; it stops between rounds, so no
/// job is left holding a lease.
struct RoundLoop {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl RoundLoop {
    fn start(worker: Worker) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    worker.run_once().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
        Self { stop, task }
    }

    async fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.task.await.unwrap();
    }
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn kaika(world: &World, dir: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(kaika_bin());
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KAIKA__DATABASE__URL", world.app.test_db.url.as_str())
        .env("KAIKA__DATA_DIR", dir)
        .env("KAIKA__MASTER_KEY", world.app.master_key.to_base64())
        .env("KAIKA__SERVER__LISTEN", "127.0.0.1:0")
        .env("KAIKA__SANDBOX__MODE", "off")
        .env("KAIKA__LOG__LEVEL", "warn")
        .env("KAIKA__OUTBOX__POLL_INTERVAL_MS", "20")
        .env("KAIKA__OUTBOX__BATCH", "4")
        .stdin(Stdio::null());
    command
}

#[tokio::test]
async fn two_server_processes_draining_one_outbox_send_each_job_once() {
    let world = World::start().await;
    let mut members = Vec::new();
    for user in ["f1", "f2", "f3", "f4", "f5", "f6"] {
        members.push(world.activate(user).await);
    }
    for i in 0..120i64 {
        let member = &members[(i % 6) as usize];
        let kind = if i % 3 == 0 { "balance" } else { "points" };
        let reply = world.credit(member, kind, i + 1, &format!("k{i}")).await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    assert_eq!(world.sandbox.sim.api_calls("card/membercard/updateuser"), 0);
    // Each send takes 250 ms, so one process alone needs seconds for the 120 jobs: the second process
    // finds work left whenever it starts, and "both sent jobs" does not depend on start-up timing.
    world.fault(
        json!({"path": "card/membercard/updateuser", "fault": {"kind": "delay", "ms": 250}}),
    );
    let dir = tempfile::tempdir().unwrap();
    let logs: Vec<std::path::PathBuf> = (0..2)
        .map(|i| dir.path().join(format!("process-{i}.log")))
        .collect();
    let mut processes: Vec<Process> = logs
        .iter()
        .map(|log| {
            Process(
                kaika(&world, dir.path(), &["serve"])
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(log).unwrap())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    world.wait_until_all_sent(Duration::from_secs(120)).await;
    world.sandbox.sim.clear_faults();
    assert_eq!(
        world.sandbox.sim.api_calls("card/membercard/updateuser"),
        120,
        "each job was sent exactly once"
    );
    let holders: HashSet<String> = jobs::Entity::find()
        .all(&world.app.app_db)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|j| j.lease_holder)
        .map(|h| h.split(':').next().unwrap_or_default().to_owned())
        .collect();
    for (process, log) in processes.iter_mut().zip(&logs) {
        assert!(
            process.0.try_wait().unwrap().is_none(),
            "a process exited early: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    assert_eq!(holders.len(), 2, "both processes sent jobs: {holders:?}");
    for member in &members {
        world.assert_card_shows_local_totals(member).await;
    }
}

#[tokio::test]
async fn drift_injected_in_the_simulator_is_found_by_reconcile_and_fixed() {
    let world = World::start().await;
    let members = [
        world.activate("gina").await,
        world.activate("hank").await,
        world.activate("ivan").await,
    ];
    for (i, member) in members.iter().enumerate() {
        world.credit(member, "points", 40, &format!("p{i}")).await;
        world
            .credit(member, "balance", 5000, &format!("b{i}"))
            .await;
    }
    world.worker("w").drain().await.unwrap();
    // Another system (or the merchant in WeChat's console) changes two cards behind Kaika's back.
    world.sandbox.sim.advance_clock(Duration::from_secs(5));
    let client = world
        .clients
        .official_account(&world.info.app_id)
        .await
        .unwrap();
    client
        .update_member_user(&UpdateUserRequest {
            code: members[0].code.clone(),
            card_id: world.card_id().to_owned(),
            bonus: Some(7),
            add_bonus: Some(7 - 140),
            ..UpdateUserRequest::default()
        })
        .await
        .unwrap();
    client
        .update_member_user(&UpdateUserRequest {
            code: members[1].code.clone(),
            card_id: world.card_id().to_owned(),
            balance: Some(99),
            add_balance: Some(99 - 5000),
            ..UpdateUserRequest::default()
        })
        .await
        .unwrap();
    world.apply_pushed_events().await;

    let report = reconcile::run(
        &world.app.app_db,
        &world.clients,
        &Options {
            card: Some(world.card_id().to_owned()),
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let outcome = |m: &Member| {
        report
            .findings
            .iter()
            .find(|f| f.member_id == m.id)
            .unwrap()
            .clone()
    };
    let a = outcome(&members[0]);
    assert_eq!(a.outcome, OUTCOME_DRIFT);
    assert_eq!((a.local_points, a.remote_points), (140, Some(7)));
    assert_eq!(
        (a.foreign_events, a.foreign_bonus),
        (1, -133),
        "the event explains it"
    );
    let b = outcome(&members[1]);
    assert_eq!(b.outcome, OUTCOME_DRIFT);
    assert_eq!((b.local_balance, b.remote_balance), (5000, Some(99)));
    assert_eq!(outcome(&members[2]).outcome, OUTCOME_IN_SYNC);
    assert_eq!(
        outcome(&members[2]).foreign_events,
        0,
        "Kaika's own sends are explained"
    );
    assert_eq!(report.run.members_drifted, 2);
    let stored = reconcile::runs(&world.app.app_db, 1).await.unwrap();
    assert_eq!(stored[0].id, report.run.id);
    assert_eq!(
        reconcile::items(&world.app.app_db, report.run.id)
            .await
            .unwrap()
            .len(),
        2
    );

    let dir = tempfile::tempdir().unwrap();
    let output = kaika(
        &world,
        dir.path(),
        &["reconcile", "--card", world.card_id(), "--fix"],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("2 drifted") && stdout.contains("2 corrections enqueued"),
        "{stdout}"
    );
    let drifted = stdout
        .lines()
        .find(|line| line.contains(&members[1].code))
        .unwrap();
    assert!(
        drifted.contains("¥50.00") && drifted.contains("¥0.99") && !drifted.contains("5000"),
        "balances in yuan, not cents: {drifted}"
    );
    world.worker("w").drain().await.unwrap();
    for member in &members {
        world.assert_card_shows_local_totals(member).await;
    }
    world.apply_pushed_events().await;
    let again = reconcile::run(&world.app.app_db, &world.clients, &Options::default())
        .await
        .unwrap();
    assert_eq!(
        (
            again.run.members_in_sync,
            again.run.members_drifted,
            again.run.foreign_events
        ),
        (3, 0, 0),
        "{:?}",
        again.findings
    );
}

#[tokio::test]
async fn api_keys_made_with_the_cli_are_shown_once_scoped_and_revocable() {
    let world = World::start().await;
    let member = world.activate("judy").await;
    let dir = tempfile::tempdir().unwrap();
    let created = kaika(
        &world,
        dir.path(),
        &[
            "api-key",
            "create",
            "--name",
            "crm",
            "--scopes",
            "members:read,ledger:read",
        ],
    )
    .output()
    .unwrap();
    assert!(created.status.success());
    let key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("kk_"));
    let listed = kaika(&world, dir.path(), &["api-key", "list"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("crm") && !listed.contains(&key), "{listed}");
    let row = listed.lines().find(|l| l.contains("crm")).unwrap();
    assert!(
        row.contains(" +08:00") && !row.contains('T'),
        "created in the admin's time zone (Asia/Shanghai by default), not RFC 3339 UTC: {row}"
    );
    let in_utc = kaika(&world, dir.path(), &["api-key", "list"])
        .env("KAIKA__ADMIN__TIME_ZONE", "UTC")
        .output()
        .unwrap();
    let in_utc = String::from_utf8_lossy(&in_utc.stdout);
    assert!(in_utc.contains(" +00:00"), "{in_utc}");

    let (status, found) = world
        .get(&key, "/api/v1/integration/members?mobile=13800130388")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        found[0]["id"], member.id,
        "found by the mobile of the activation form"
    );
    let (status, _) = world
        .get(
            &key,
            &format!("/api/v1/integration/members/{}/ledger", member.id),
        )
        .await;
    assert_eq!(status, 200);
    let write = world
        .change_with(
            Some(&key),
            &format!("/api/v1/integration/members/{}/credits", member.id),
            Some("x"),
            &json!({"kind": "points", "amount": 1, "reason": "purchase"}),
        )
        .await;
    assert_eq!(write.body["code"], "insufficient_scope");

    let revoked = kaika(&world, dir.path(), &["api-key", "revoke", "crm"])
        .output()
        .unwrap();
    assert!(revoked.status.success());
    let (status, body) = world
        .get(&key, &format!("/api/v1/integration/members/{}", member.id))
        .await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("api_key_revoked"))
    );

    let doc: Value = world
        .app
        .get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/integration/members",
        "/api/v1/integration/members/{member_id}/credits",
        "/api/v1/integration/members/{member_id}/ledger",
        "/api/v1/integration/entries/{entry_id}/reversal",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}
