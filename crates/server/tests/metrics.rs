//! `/metrics` as an on-call person reads it: scraped after a member's activation, the pushes WeChat sends
//! about it and a ledger credit, on SQLite and PostgreSQL; who may read it; and the alert rules and the
//! dashboard in `deploy/` naming only metrics Kaika exports.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

mod common;

use kaika_core::jobs::Rounds as _;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::TestApp;
use kaika_core::api_keys::{self, Scope};
use kaika_core::entity::outbox as jobs;
use kaika_core::events;
use kaika_core::outbox::{self, Worker, WorkerSettings};
use kaika_server::sandbox::{Sandbox, SandboxInfo};
use kaika_wechat_sim::FaultSpec;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

/// One scrape: every sample by its name and labels as written (`name{a="1",b="2"}`).
struct Scrape {
    text: String,
    samples: BTreeMap<String, f64>,
}

/// `name{b="2",a="1"}` with its labels sorted by name, so a series can be named in any label order.
fn normalized(series: &str) -> String {
    let Some((name, labels)) = series.split_once('{') else {
        return series.to_owned();
    };
    let mut pairs: Vec<&str> = labels.trim_end_matches('}').split("\",").collect();
    let last = pairs.len() - 1;
    pairs[last] = pairs[last].trim_end_matches('"');
    pairs.sort_unstable();
    format!("{name}{{{}\"}}", pairs.join("\","))
}

impl Scrape {
    fn parse(text: String) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').unwrap();
                (normalized(series), value.parse::<f64>().unwrap())
            })
            .collect();
        Self { text, samples }
    }

    /// The value of one series, its labels in any order.
    fn value(&self, series: &str) -> f64 {
        *self
            .samples
            .get(&normalized(series))
            .unwrap_or_else(|| panic!("no series {series} in\n{}", self.text))
    }

    /// Every metric name in the exposition (histograms give `_bucket`, `_sum` and `_count`).
    fn names(&self) -> BTreeSet<String> {
        self.samples
            .keys()
            .map(|series| series.split('{').next().unwrap().to_owned())
            .collect()
    }
}

struct World {
    app: TestApp,
    sandbox: Sandbox,
    info: SandboxInfo,
    key: String,
}

impl World {
    async fn start() -> Self {
        let (app, sandbox, info) = TestApp::sandbox().await;
        let key = api_keys::create(&app.app_db, "metrics", &Scope::ALL, "test")
            .await
            .unwrap()
            .key;
        Self {
            app,
            sandbox,
            info,
            key,
        }
    }

    async fn scrape(&self) -> Scrape {
        let response = self.app.get("/metrics").await;
        assert_eq!(response.status(), 200);
        Scrape::parse(response.text().await.unwrap())
    }

    /// A member opens the demo card through the mini-program; returns its member id.
    async fn activate(&self, user: &str) -> i64 {
        self.app
            .activated_member(&self.sandbox, &self.info, &self.key, user)
            .await
    }

    async fn credit(&self, member: i64, points: i64, idem: &str) {
        let response = self
            .app
            .client
            .post(
                self.app
                    .url(&format!("/api/v1/integration/members/{member}/credits")),
            )
            .bearer_auth(&self.key)
            .header("Idempotency-Key", idem)
            .json(&json!({"kind": "points", "amount": points, "reason": "purchase"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
    }

    /// Waits for the simulator to deliver its pushes, then applies them with the server's own clients
    /// (so what they do is counted in its metrics). Returns the event types pushed.
    async fn apply_pushes(&self) -> Vec<String> {
        common::wait_for_pushes(&self.sandbox).await;
        events::Worker::new(
            self.app.app_db.clone(),
            self.app.ctx.clients.clone(),
            events::WorkerSettings::default(),
        )
        .drain()
        .await
        .unwrap();
        self.sandbox
            .sim
            .pushes()
            .into_iter()
            .map(|p| p.event)
            .collect()
    }

    /// Sends the outbox with the server's own clients.
    async fn send_outbox(&self) {
        Worker::new(
            self.app.app_db.clone(),
            self.app.ctx.clients.clone(),
            "metrics-test".into(),
            WorkerSettings::default(),
        )
        .drain()
        .await
        .unwrap();
    }

    async fn jobs_with_status(&self, status: &str) -> u64 {
        jobs::Entity::find()
            .filter(jobs::Column::Status.eq(status))
            .count(&self.app.app_db)
            .await
            .unwrap()
    }

    /// An activation, a credit sent to WeChat, a credit WeChat refuses for good, a re-drive pass, and
    /// every push these made applied. Returns the event types pushed.
    async fn journey(&self) -> Vec<String> {
        let member = self.activate("alice").await;
        self.apply_pushes().await;
        self.credit(member, 30, "metrics-1").await;
        self.send_outbox().await;
        let spec: FaultSpec = serde_json::from_value(json!({
            "path": "card/membercard/updateuser",
            "fault": {"kind": "errcode", "errcode": 40056},
            "next": 1
        }))
        .unwrap();
        self.sandbox.sim.add_fault(spec).unwrap();
        self.credit(member, 5, "metrics-2").await;
        self.send_outbox().await;
        self.app.ctx.activator.redrive_round(10).await.unwrap();
        // Sent changes make WeChat push again.
        self.apply_pushes().await
    }
}

#[tokio::test]
async fn a_scrape_after_an_activation_its_pushes_and_credits_counts_each_of_them() {
    let world = World::start().await;
    let pushed = world.journey().await;
    let scrape = world.scrape().await;
    let app_id = &world.info.app_id;

    // The activation: one drive that ended activated, timed once.
    assert_eq!(
        scrape.value(r#"kaika_activations_total{outcome="activated",step="done"}"#),
        1.0
    );
    assert_eq!(
        scrape.value(r#"kaika_activation_duration_seconds_count{outcome="activated"}"#),
        1.0
    );
    assert_eq!(
        scrape.value(
            r#"kaika_http_requests_total{method="POST",route="/api/v1/activations",status="200"}"#
        ),
        1.0
    );

    // The pushes: each received once as stored or ignored, and each handled one applied.
    assert!(!pushed.is_empty(), "the activation made WeChat push events");
    for event in pushed.iter().collect::<BTreeSet<_>>() {
        let times = pushed.iter().filter(|e| *e == event).count() as f64;
        let label = events::event_label(event);
        let handled = events::HANDLED_EVENTS.contains(&event.as_str());
        let receipt = if handled { "stored" } else { "ignored" };
        assert_eq!(
            scrape.value(&format!(
                r#"kaika_events_received_total{{type="{label}",receipt="{receipt}"}}"#
            )),
            times,
            "{event}"
        );
        let outcome = if handled { "applied" } else { "ignored" };
        assert_eq!(
            scrape.value(&format!(
                r#"kaika_events_processed_total{{type="{label}",outcome="{outcome}"}}"#
            )),
            times,
            "{event}"
        );
    }

    // The outbox: every job but the refused one sent, that one a dead letter, each a call to WeChat.
    let sent = world.jobs_with_status(outbox::STATUS_SENT).await;
    assert!(sent >= 1, "the first credit was sent");
    assert_eq!(world.jobs_with_status(outbox::STATUS_FAILED).await, 1);
    assert_eq!(
        scrape.value(r#"kaika_outbox_jobs_total{outcome="sent"}"#),
        sent as f64
    );
    assert_eq!(
        scrape.value(r#"kaika_outbox_jobs_total{outcome="failed"}"#),
        1.0
    );
    assert_eq!(
        scrape.value(
            r#"kaika_wechat_calls_total{endpoint="card/membercard/updateuser",errcode="0"}"#
        ),
        sent as f64
    );
    assert_eq!(
        scrape.value(
            r#"kaika_wechat_calls_total{endpoint="card/membercard/updateuser",errcode="40056"}"#
        ),
        1.0
    );
    assert_eq!(
        scrape
            .value(r#"kaika_wechat_calls_total{endpoint="card/membercard/activate",errcode="0"}"#),
        1.0
    );
    assert_eq!(
        scrape.value(
            r#"kaika_wechat_call_duration_seconds_count{endpoint="card/membercard/activate"}"#
        ),
        1.0
    );
    assert!(
        scrape.value(&format!(
            r#"kaika_token_refreshes_total{{app_id="{app_id}",outcome="ok"}}"#
        )) >= 1.0
    );

    // The queues, read at scrape time: nothing waits, one outbox dead letter.
    assert_eq!(scrape.value(r#"kaika_backlog{queue="events"}"#), 0.0);
    assert_eq!(scrape.value(r#"kaika_backlog{queue="outbox"}"#), 0.0);
    assert_eq!(
        scrape.value(r#"kaika_backlog_oldest_age_seconds{queue="outbox"}"#),
        0.0
    );
    assert_eq!(scrape.value(r#"kaika_dead_letters{queue="outbox"}"#), 1.0);
    assert_eq!(scrape.value(r#"kaika_dead_letters{queue="events"}"#), 0.0);
    assert_eq!(
        scrape.value(r#"kaika_dead_letters{queue="activations"}"#),
        0.0
    );
    assert_eq!(scrape.value("kaika_backlog_up"), 1.0);

    // The re-drive pass, the build and the process.
    assert_eq!(
        scrape.value(r#"kaika_redrive_runs_total{outcome="ok"}"#),
        1.0
    );
    assert_eq!(
        scrape.value(&format!(
            r#"kaika_build_info{{version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    if cfg!(target_os = "linux") {
        assert!(scrape.value("kaika_process_resident_memory_bytes") > 1_000_000.0);
        assert!(scrape.value("kaika_process_open_fds") > 0.0);
    }
}

#[tokio::test]
async fn a_pending_event_shows_in_the_backlog_with_its_age() {
    let world = World::start().await;
    world.activate("bob").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while world
        .sandbox
        .sim
        .pushes()
        .iter()
        .any(|p| format!("{:?}", p.outcome) == "Pending")
    {
        assert!(Instant::now() < deadline, "pushes still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No worker runs in a TestApp: the pushes wait.
    let waiting = kaika_core::entity::wechat_events::Entity::find()
        .filter(kaika_core::entity::wechat_events::Column::Status.eq(events::STATUS_PENDING))
        .count(&world.app.app_db)
        .await
        .unwrap();
    assert!(waiting >= 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let scrape = world.scrape().await;
    assert_eq!(
        scrape.value(r#"kaika_backlog{queue="events"}"#),
        waiting as f64
    );
    let age = scrape.value(r#"kaika_backlog_oldest_age_seconds{queue="events"}"#);
    assert!((1.0..120.0).contains(&age), "oldest pending age {age}");
}

#[tokio::test]
async fn every_metric_the_alert_rules_and_the_dashboard_use_is_exported() {
    let world = World::start().await;
    world.journey().await;
    let exported = world.scrape().await.names();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy");
    let mut used = BTreeSet::new();
    for file in [
        "prometheus/kaika-alerts.yml",
        "prometheus/kaika-alerts.test.yml",
        "grafana/kaika-dashboard.json",
    ] {
        let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("kaika_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            used.insert((file, name));
        }
    }
    assert!(used.len() > 10, "the rules and the dashboard name metrics");
    let missing: Vec<_> = used
        .iter()
        .filter(|(_, name)| !exported.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "named in deploy/ but not exported: {missing:?}"
    );
}

#[tokio::test]
async fn metrics_answer_strangers_and_proxied_requests_with_403_by_default() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/metrics").await.status(), 200, "loopback may read");
    let proxied = app
        .client
        .get(app.url("/metrics"))
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 403);
    let body: Value = proxied.json().await.unwrap();
    assert_eq!(body["code"], "metrics_forbidden");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("KAIKA__METRICS__TOKEN"));
}

#[tokio::test]
async fn with_a_token_metrics_need_it_even_from_loopback() {
    let token = "0123456789abcdef-metrics";
    let app = TestApp::spawn_with(&[("metrics.token", token)]).await;
    let without = app.get("/metrics").await;
    assert_eq!(without.status(), 401);
    assert_eq!(
        without.json::<Value>().await.unwrap()["code"],
        "metrics_unauthorized"
    );
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("0123456789abcdef-wrong!!")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(right
        .text()
        .await
        .unwrap()
        .contains("kaika_http_requests_total"));
}

#[tokio::test]
async fn metrics_on_their_own_address_leave_the_main_one() {
    let app = TestApp::spawn_with(&[("metrics.listen", "127.0.0.1:0")]).await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    let addr = app.metrics_addr.unwrap();
    let scraped = app
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("kaika_build_info"));
    let other = app
        .client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "only /metrics there");
}

#[test]
fn a_short_metrics_token_is_refused_with_its_variable() {
    let figment = kaika_server::config::Settings::figment(None)
        .unwrap()
        .merge(("metrics.token", "short"));
    let err = kaika_server::config::Settings::from_figment(&figment)
        .unwrap_err()
        .to_string();
    assert!(err.contains("KAIKA__METRICS__TOKEN"), "{err}");
    let figment = kaika_server::config::Settings::figment(None)
        .unwrap()
        .merge(("metrics.listen", "nowhere"));
    let err = kaika_server::config::Settings::from_figment(&figment)
        .unwrap_err()
        .to_string();
    assert!(err.contains("KAIKA__METRICS__LISTEN"), "{err}");
}
