//! The background workers as deployed: roles (`kaika serve --role web|worker|all`) and the drain on
//! SIGTERM, with real `kaika serve` processes beside an in-process server that hosts the simulator.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

mod common;

use std::time::{Duration, Instant};

use common::process::Setup;
use common::TestApp;
use kaika_core::api_keys::{self, Scope};
use kaika_core::entity::outbox as jobs;
use kaika_core::outbox;
use kaika_server::sandbox::{Sandbox, SandboxInfo};
use kaika_wechat_sim::FaultSpec;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

const START: Duration = Duration::from_secs(60);
const UPDATEUSER: &str = "card/membercard/updateuser";

struct World {
    app: TestApp,
    sandbox: Sandbox,
    info: SandboxInfo,
    key: String,
    dir: tempfile::TempDir,
}

impl World {
    async fn start() -> Self {
        let (app, sandbox, info) = TestApp::sandbox().await;
        let key = api_keys::create(&app.app_db, "test-all", &Scope::ALL, "test")
            .await
            .unwrap()
            .key;
        Self {
            app,
            sandbox,
            info,
            key,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn setup(&self) -> Setup {
        Setup {
            database_url: self.app.test_db.url.as_str().to_owned(),
            master_key: self.app.master_key.clone(),
            dir: self.dir.path().to_owned(),
        }
    }

    /// Activates a member through the sandbox's mini-program; returns its id.
    async fn member(&self, user: &str) -> i64 {
        self.app
            .activated_member(&self.sandbox, &self.info, &self.key, user)
            .await
    }

    /// Credits points through the server at `base_url`, which queues one outbox job.
    async fn credit(&self, base_url: &str, member: i64) {
        let response = self
            .app
            .client
            .post(format!(
                "{base_url}/api/v1/integration/members/{member}/credits"
            ))
            .bearer_auth(&self.key)
            .header("Idempotency-Key", format!("credit-{member}"))
            .json(&json!({"kind": "points", "amount": 10, "reason": "purchase"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }

    fn fault(&self, spec: Value) {
        let spec: FaultSpec = serde_json::from_value(spec).unwrap();
        self.sandbox.sim.add_fault(spec).unwrap();
    }

    async fn job(&self) -> jobs::Model {
        let all = jobs::Entity::find().all(&self.app.app_db).await.unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        all.into_iter().next().unwrap()
    }

    async fn wait_for_job(&self, what: &str, done: impl Fn(&jobs::Model) -> bool) -> jobs::Model {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let job = self.job().await;
            if done(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "the job never {what}: {job:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

const FAST: [(&str, &str); 2] = [
    ("KAIKA__OUTBOX__POLL_INTERVAL_MS", "20"),
    ("KAIKA__EVENTS__POLL_INTERVAL_MS", "20"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_instance_serves_the_api_without_sending_and_a_worker_instance_sends() {
    let world = World::start().await;
    let member = world.member("alice").await;
    let setup = world.setup();
    let mut web = setup.serve("web", &["--role", "web"], &FAST);
    web.wait_for("/readyz", START).await;
    world.credit(&web.base_url, member).await;
    assert_eq!(world.job().await.status, outbox::STATUS_PENDING);

    let mut worker = setup.serve("worker", &["--role", "worker"], &FAST);
    worker.wait_for("/readyz", START).await;
    let client = reqwest::Client::new();
    for (path, status) in [
        ("/healthz", 200),
        ("/metrics", 200),
        ("/api/v1/openapi.json", 404),
        ("/admin/login", 404),
    ] {
        let answered = client
            .get(format!("{}{path}", worker.base_url))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(answered, status, "the worker instance on {path}");
    }
    let sent = world
        .wait_for_job("was sent", |job| job.status == outbox::STATUS_SENT)
        .await;
    let holder = sent.lease_holder.unwrap_or_default();
    assert!(
        holder.starts_with(&format!("kaika-{}:", worker.pid())),
        "the worker instance sent the job, not the web one (pid {}): {holder}",
        web.pid()
    );
    assert_eq!(world.sandbox.sim.api_calls(UPDATEUSER), 1);
    assert!(web.running(), "{}", web.log());
}

/// Starts a worker-only `kaika serve` with `drain_secs` of drain timeout, waits until it is sending the
/// member's job to a WeChat that answers after `delay_ms`, and stops it with SIGTERM.
async fn terminate_while_sending(world: &World, drain_secs: &str, delay_ms: u64) {
    let member = world.member("bob").await;
    world.fault(json!({"path": UPDATEUSER, "fault": {"kind": "delay", "ms": delay_ms}}));
    world.credit(&world.app.base_url, member).await;
    let mut env = FAST.to_vec();
    env.extend([
        ("KAIKA__SERVER__DRAIN_TIMEOUT_SECS", drain_secs),
        ("KAIKA__WECHAT__TIMEOUT_MS", "60000"),
    ]);
    let mut worker = world.setup().serve("worker", &["--role", "worker"], &env);
    worker.wait_for("/readyz", START).await;
    world
        .wait_for_job("was claimed", |job| {
            job.status == outbox::STATUS_SENDING && world.sandbox.sim.api_calls(UPDATEUSER) == 1
        })
        .await;
    worker.terminate();
    let status = worker.wait_exit(START).await;
    assert!(status.success(), "{status}: {}", worker.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_job_in_flight_finish_within_the_drain_timeout() {
    let world = World::start().await;
    terminate_while_sending(&world, "30", 1500).await;
    let job = world.job().await;
    assert_eq!(job.status, outbox::STATUS_SENT, "{job:?}");
    assert_eq!(job.lease_until, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_gives_back_a_job_still_in_flight_after_the_drain_timeout() {
    let world = World::start().await;
    terminate_while_sending(&world, "1", 20_000).await;
    let job = world.job().await;
    assert_eq!(job.status, outbox::STATUS_PENDING, "{job:?}");
    assert_eq!(job.lease_until, None, "{job:?}");
    assert_eq!(job.lease_holder, None, "{job:?}");
}
