//! Kaika as several instances: three `kaika serve` processes started at the same moment on one empty
//! database, behind a real nginx (configured here), driven through it with activations, pushes, ledger
//! credits and an admin's secret change while one instance is stopped with SIGTERM and another killed
//! with SIGKILL. The simulator is hosted by this test process (a fourth, web-only Kaika that is not
//! behind the proxy); WeChat's pushes are pointed at the proxy.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

mod common;
#[path = "common/nginx.rs"]
mod nginx;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use common::process::{Server, Setup};
use kaika_core::admin_users::Role;
use kaika_core::api_keys::{self, Scope};
use kaika_core::clients::RECHECK_EVERY;
use kaika_core::entity::{access_tokens, activations, members, outbox, wechat_events};
use kaika_core::testing::TestDb;
use kaika_server::sandbox::{Sandbox, SandboxInfo};
use kaika_server::{app, startup};
use kaika_wechat_sim::AccountPatch;
use nginx::Nginx;
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use scraper::{Html, Selector};
use sea_orm::sea_query::Expr;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{json, Value};

const START: Duration = Duration::from_secs(60);
/// The instances' settings: short leases and polls, so work a killed instance held comes back soon.
const ENV: [(&str, &str); 11] = [
    ("KAIKA__SERVER__TRUSTED_PROXIES", "127.0.0.1/32"),
    ("KAIKA__SERVER__DRAIN_TIMEOUT_SECS", "5"),
    ("KAIKA__OUTBOX__POLL_INTERVAL_MS", "20"),
    ("KAIKA__OUTBOX__LEASE_SECS", "3"),
    ("KAIKA__OUTBOX__RETRY_BASE_MS", "100"),
    ("KAIKA__EVENTS__POLL_INTERVAL_MS", "20"),
    ("KAIKA__EVENTS__LEASE_SECS", "3"),
    ("KAIKA__EVENTS__RETRY_BASE_MS", "100"),
    ("KAIKA__ACTIVATION__LEASE_SECS", "3"),
    ("KAIKA__ACTIVATION__REDRIVE_INTERVAL_SECS", "1"),
    ("KAIKA__ACTIVATION__RETRY_BASE_MS", "100"),
];
const MEMBERS_PER_WAVE: usize = 6;
const CREDITS_PER_MEMBER: usize = 3;
const PASSWORD: &str = "a long enough password";
/// Kaika asks for tokens at `stable_token` (the default `TokenEndpoint`).
const TOKEN: &str = "cgi-bin/stable_token";
const ACTIVATE: &str = "card/membercard/activate";

/// Statuses a client retries (the mini-program and an integration both do): in progress, busy, a proxy
/// that found no instance for a moment.
fn retried(status: StatusCode) -> bool {
    matches!(status.as_u16(), 202 | 429 | 502 | 503 | 504)
}

/// A client that connects from `ip` (any 127.x address reaches loopback), so that nginx sees a client
/// of its own; keeps cookies, follows no redirect.
fn client_from(ip: Ipv4Addr) -> Client {
    Client::builder()
        .local_address(IpAddr::V4(ip))
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Sends `request` until it gets an answer a client would not retry; panics on anything but `expect`.
async fn until_settled(
    what: &str,
    expect: StatusCode,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> reqwest::Response {
    let deadline = Instant::now() + START;
    loop {
        match request().send().await {
            Ok(response) if response.status() == expect => return response,
            Ok(response) if retried(response.status()) => {}
            Ok(response) => {
                let status = response.status();
                panic!("{what}: {status} {}", response.text().await.unwrap());
            }
            // The connection broke (an instance killed mid-request): a client tries again.
            Err(err) => assert!(!err.is_builder(), "{what}: {err}"),
        }
        assert!(Instant::now() < deadline, "{what} never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Cluster {
    test_db: TestDb,
    _dir: tempfile::TempDir,
    setup: Setup,
    instances: Vec<Server>,
    nginx: Nginx,
    sandbox: Sandbox,
    info: SandboxInfo,
    host_url: String,
    api_key: String,
}

impl Cluster {
    async fn start() -> Self {
        let (test_db, setup, dir) = common::process::on_empty_database().await;
        let env = ENV;
        // All three at once, on a database without a single table.
        let mut instances: Vec<Server> = (0..3)
            .map(|i| setup.serve(&format!("kaika-{i}"), &[], &env))
            .collect();
        for instance in &mut instances {
            instance.wait_for("/readyz", START).await;
        }

        // The simulator's host, on the same database and key.
        let settings = common::test_settings(&test_db, dir.path(), &setup.master_key);
        let ctx = startup::prepare(&settings).await.unwrap();
        let sandbox = Sandbox::new();
        let running = app::start(&settings, ctx.clone(), Some(sandbox.clone())).unwrap();
        let host_url = format!("http://{}", running.addr);
        tokio::spawn(running.server);
        sandbox.set_base_url(host_url.clone());
        let info = kaika_server::sandbox::bootstrap(&ctx, &sandbox)
            .await
            .unwrap();

        let nginx = Nginx::start(
            dir.path(),
            common::process::free_port(),
            &instances
                .iter()
                .map(|i| i.base_url.clone())
                .collect::<Vec<_>>(),
        );
        // WeChat pushes to the merchant's public address: the proxy.
        sandbox
            .sim
            .update_account(
                &info.app_id,
                AccountPatch {
                    callback_url: Some(format!("{}/wechat/{}/callback", nginx.url, info.app_id)),
                    ..AccountPatch::default()
                },
            )
            .unwrap();
        let api_key = api_keys::create(&ctx.db, "cluster", &Scope::ALL, "test")
            .await
            .unwrap()
            .key;
        let hash = kaika_core::passwords::hash(PASSWORD).unwrap();
        kaika_core::admin_users::create_user(&ctx.db, "owner", &hash, Role::Owner)
            .await
            .unwrap();
        Self {
            test_db,
            _dir: dir,
            setup,
            instances,
            nginx,
            sandbox,
            info,
            host_url,
            api_key,
        }
    }

    fn proxy(&self, path: &str) -> String {
        format!("{}{path}", self.nginx.url)
    }

    /// `wx.login` and `POST /api/v1/sessions` through the proxy; returns the bearer token.
    async fn session(&self, client: &Client, user: &str) -> String {
        let deadline = Instant::now() + START;
        loop {
            // A `wx.login` code is good once: when a request carrying it was cut off after Kaika
            // spent it, the mini-program logs in again for a new one, and so does this.
            let code = self
                .sandbox
                .sim
                .mint_login_code(&self.info.mini_app_id, user)
                .unwrap()
                .code;
            let sent = client
                .post(self.proxy("/api/v1/sessions"))
                .json(&json!({ "code": code }))
                .send()
                .await;
            if let Ok(response) = sent {
                let status = response.status();
                let body: Value = response.json().await.unwrap_or_default();
                if status == StatusCode::OK {
                    return body["token"].as_str().unwrap().to_owned();
                }
                assert!(
                    retried(status)
                        || (status == StatusCode::BAD_REQUEST
                            && body["code"] == "invalid_login_code"),
                    "POST /api/v1/sessions: {status} {body}"
                );
            }
            assert!(
                Instant::now() < deadline,
                "POST /api/v1/sessions never settled"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn params_path(&self) -> String {
        format!(
            "/api/v1/cards/{}/activation-params?channel=store_front",
            self.info.card_ids[0]
        )
    }

    /// A member's whole journey through the proxy, from `client`; returns (member id, code).
    async fn member(&self, client: &Client, user: &str) -> (i64, String) {
        self.member_at(&self.nginx.url, client, user).await
    }

    /// [`Cluster::member`] through the server at `base`.
    async fn member_at(&self, base: &str, client: &Client, user: &str) -> (i64, String) {
        let at = |path: &str| format!("{base}{path}");
        let token = self.session(client, user).await;
        let params_path = self.params_path();
        let params: Value = until_settled("activation-params", StatusCode::OK, || {
            client.get(at(&params_path)).bearer_auth(&token)
        })
        .await
        .json()
        .await
        .unwrap();
        let extra = &params["extra_data"];
        let returned: Value = client
            .post(format!("{}/sim/component/submit", self.host_url))
            .json(&json!({
                "encrypt_card_id": extra["encrypt_card_id"],
                "outer_str": extra["outer_str"],
                "biz": extra["biz"],
                "user": user,
                "answers": common::demo_answers(),
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let body = json!({
            "activate_ticket": returned["activate_ticket"],
            "card_id": returned["card_id"],
            "encrypt_code": returned["code"],
        });
        let activated: Value = until_settled("POST /api/v1/activations", StatusCode::OK, || {
            client
                .post(at("/api/v1/activations"))
                .bearer_auth(&token)
                .json(&body)
        })
        .await
        .json()
        .await
        .unwrap();
        let code = activated["code"].as_str().unwrap().to_owned();
        let member = self.member_by_code(&code).await;
        for credit in 0..CREDITS_PER_MEMBER {
            let key = format!("credit-{member}-{credit}");
            until_settled("POST …/credits", StatusCode::CREATED, || {
                client
                    .post(at(&format!("/api/v1/integration/members/{member}/credits")))
                    .bearer_auth(&self.api_key)
                    .header("Idempotency-Key", &key)
                    .json(&json!({"kind": "points", "amount": 10, "reason": "purchase"}))
            })
            .await;
        }
        // Looking at the card in WeChat pushes another event.
        self.sandbox.sim.member_views_card(&code).unwrap();
        (member, code)
    }

    async fn member_by_code(&self, code: &str) -> i64 {
        let rows = members::Entity::find().all(&self.test_db.db).await.unwrap();
        rows.iter()
            .find(|m| m.code == code)
            .unwrap_or_else(|| panic!("no member with code {code}"))
            .id
    }

    /// A wave of members from three client addresses at once.
    async fn wave(&self, wave: usize) -> Vec<(i64, String)> {
        let journeys = (0..MEMBERS_PER_WAVE).map(|i| {
            let ip = Ipv4Addr::new(127, 0, 1, u8::try_from(i % 3 + 2).unwrap());
            let client = client_from(ip);
            async move { self.member(&client, &format!("w{wave}m{i}")).await }
        });
        futures::future::join_all(journeys).await
    }

    /// Waits until nothing is left to do: every activation finished, every event applied and every
    /// outbox job sent.
    async fn settled(&self) {
        let db = &self.test_db.db;
        let deadline = Instant::now() + START;
        loop {
            let activations = activations::Entity::find().all(db).await.unwrap();
            let events = wechat_events::Entity::find().all(db).await.unwrap();
            let jobs = outbox::Entity::find().all(db).await.unwrap();
            let open_activations = activations.iter().filter(|a| a.step != "done").count();
            let open_events = events
                .iter()
                .filter(|e| e.status == "pending" || e.status == "processing")
                .count();
            let open_jobs = jobs
                .iter()
                .filter(|j| j.status != kaika_core::outbox::STATUS_SENT)
                .count();
            if open_activations + open_events + open_jobs == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "still open: {open_activations} activations, {open_events} events, {open_jobs} outbox jobs"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// An admin's browser behind the proxy, from its own address.
struct Browser {
    client: Client,
    base: String,
}

impl Browser {
    async fn csrf_and_fields(&self, path: &str) -> (String, Vec<(String, String)>) {
        let page = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "GET {path}");
        let doc = Html::parse_document(&page.text().await.unwrap());
        let mut fields = Vec::new();
        for input in doc.select(&Selector::parse("form input[name]").unwrap()) {
            let name = input.value().attr("name").unwrap().to_owned();
            let kind = input.value().attr("type").unwrap_or("text");
            if kind == "password" || kind == "submit" {
                continue;
            }
            let value = input.value().attr("value").unwrap_or_default().to_owned();
            if !fields.iter().any(|(n, _)| *n == name) {
                fields.push((name, value));
            }
        }
        for select in doc.select(&Selector::parse("form select[name]").unwrap()) {
            let name = select.value().attr("name").unwrap().to_owned();
            let chosen = select
                .select(&Selector::parse("option[selected]").unwrap())
                .next()
                .and_then(|o| o.value().attr("value"))
                .unwrap_or_default()
                .to_owned();
            fields.push((name, chosen));
        }
        let csrf = fields
            .iter()
            .find(|(n, _)| n == "csrf")
            .map(|(_, v)| v.clone())
            .unwrap();
        (csrf, fields)
    }

    async fn login(&self, password: &str) -> StatusCode {
        let (csrf, _) = self.csrf_and_fields("/admin/login").await;
        self.client
            .post(format!("{}/admin/login", self.base))
            .form(&[
                ("username", "owner"),
                ("password", password),
                ("csrf", &csrf),
            ])
            .send()
            .await
            .unwrap()
            .status()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_behind_nginx_survive_sigterm_and_sigkill_and_lose_nothing() {
    let mut cluster = Cluster::start().await;
    let db = cluster.test_db.db.clone();

    // Every instance starts without a token: the one in the database has run out.
    access_tokens::Entity::update_many()
        .col_expr(
            access_tokens::Column::ExpiresAt,
            Expr::value(kaika_core::clock::now() - chrono::Duration::hours(1)),
        )
        .exec(&db)
        .await
        .unwrap();
    let tokens_before = cluster.sandbox.sim.api_calls(TOKEN);

    // Wave 1 with all three instances; wave 2 while instance 0 stops on SIGTERM; wave 3 while
    // instance 1 is killed.
    let mut members = cluster.wave(1).await;
    assert_eq!(
        cluster.sandbox.sim.api_calls(TOKEN) - tokens_before,
        1,
        "three instances needing a token fetch exactly one"
    );
    let (second, ()) = tokio::join!(cluster.wave(2), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        cluster.instances[0].terminate();
    });
    members.extend(second);
    let stopped = cluster.instances[0].wait_exit(START).await;
    assert!(
        stopped.success(),
        "{stopped}: {}",
        cluster.instances[0].log()
    );
    let (third, ()) = tokio::join!(cluster.wave(3), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let pid = cluster.instances[1].pid().to_string();
        assert!(Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success());
    });
    members.extend(third);
    cluster.settled().await;

    // Every activation once.
    let total = 3 * MEMBERS_PER_WAVE;
    assert_eq!(members.len(), total);
    let rows = members::Entity::find().all(&db).await.unwrap();
    assert_eq!(rows.len(), total, "one member per journey");
    assert_eq!(
        cluster.sandbox.sim.api_calls(ACTIVATE),
        total as u64,
        "activate once each"
    );
    for (id, code) in &members {
        let member = rows.iter().find(|m| m.id == *id).unwrap();
        assert_eq!(member.status, "active", "{member:?}");
        // Every credit once, and WeChat shows what Kaika holds: the jobs arrived in order.
        let expected = 100 + 10 * CREDITS_PER_MEMBER as i64;
        assert_eq!(member.points, expected, "{member:?}");
        let at_wechat = cluster.sandbox.sim.issued_code(code).unwrap();
        assert_eq!(at_wechat.bonus, expected, "WeChat's points of {code}");
    }

    // Outbox: every job sent, each member's in the order they were queued.
    let jobs = outbox::Entity::find()
        .order_by_asc(outbox::Column::Id)
        .all(&db)
        .await
        .unwrap();
    let mut last_sent: HashMap<i64, chrono::DateTime<chrono::Utc>> = HashMap::new();
    for job in &jobs {
        assert_eq!(job.status, kaika_core::outbox::STATUS_SENT, "{job:?}");
        let sent = job.sent_at.unwrap();
        if let Some(before) = last_sent.insert(job.member_id, sent) {
            assert!(
                before <= sent,
                "member {}'s jobs were sent out of order",
                job.member_id
            );
        }
    }
    let sends = cluster.sandbox.sim.api_calls("card/membercard/updateuser");
    let attempts: u64 = jobs
        .iter()
        .map(|j| u64::try_from(j.attempts).unwrap())
        .sum();
    assert!(
        sends >= jobs.len() as u64 && sends <= attempts,
        "{sends} sends for {} jobs of {attempts} attempts",
        jobs.len()
    );

    // Events: every push stored once and applied once (the funnel counts each member once).
    let events = wechat_events::Entity::find().all(&db).await.unwrap();
    assert!(events
        .iter()
        .all(|e| e.status == "done" || e.status == "ignored"));
    let stats = kaika_core::entity::channel_daily_stats::Entity::find()
        .all(&db)
        .await
        .unwrap();
    let claimed: i64 = stats.iter().map(|s| s.claimed).sum();
    let activated: i64 = stats.iter().map(|s| s.activated).sum();
    assert_eq!(
        (claimed, activated),
        (total as i64, total as i64),
        "{stats:?}"
    );

    // The throttle sees each client's own address through the proxy.
    let attacker = Browser {
        client: client_from(Ipv4Addr::new(127, 0, 2, 9)),
        base: cluster.nginx.url.clone(),
    };
    for _ in 0..5 {
        assert_eq!(
            attacker.login("wrong password!").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attacker.login(PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let owner = Browser {
        client: client_from(Ipv4Addr::new(127, 0, 2, 10)),
        base: cluster.nginx.url.clone(),
    };
    assert_eq!(owner.login(PASSWORD).await, StatusCode::SEE_OTHER);

    // An AppSecret reset in WeChat and pasted into the admin reaches every instance. Two new instances
    // join the survivor, and each serves a member first, so each holds a client built with the old one.
    // The survivor comes last: it takes the admin's save (the proxy's only live upstream) and so knows
    // the new secret at once; the two that join must each fetch a token with what they know.
    let mut live = Vec::new();
    for name in ["kaika-3", "kaika-4"] {
        let mut instance = cluster.setup.serve(name, &[], &ENV);
        instance.wait_for("/readyz", START).await;
        live.push(instance);
    }
    live.push(cluster.instances.remove(2));
    let member_client = client_from(Ipv4Addr::new(127, 0, 3, 2));
    for (i, instance) in live.iter().enumerate() {
        cluster
            .member_at(&instance.base_url, &member_client, &format!("before-{i}"))
            .await;
    }
    let new_secret = "fedcba9876543210fedcba9876543210";
    cluster
        .sandbox
        .sim
        .update_account(
            &cluster.info.app_id,
            AccountPatch {
                app_secret: Some(new_secret.into()),
                ..AccountPatch::default()
            },
        )
        .unwrap();
    let edit = format!("/admin/accounts/{}", cluster.info.app_id);
    let (_, mut fields) = owner.csrf_and_fields(&edit).await;
    fields.retain(|(name, _)| name != "app_secret");
    fields.push(("app_secret".into(), new_secret.into()));
    let saved = owner
        .client
        .post(cluster.proxy(&edit))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(
        saved.status(),
        StatusCode::SEE_OTHER,
        "{}",
        saved.text().await.unwrap()
    );
    let changed_at = Instant::now();
    // Two hours on, every token WeChat issued has run out: the first instance asked needs a new one,
    // with the secret it knows.
    cluster.sandbox.sim.advance_clock(Duration::from_secs(7300));
    // Each instance, asked directly, activates a member (every activation calls WeChat with a token).
    let bound = RECHECK_EVERY + Duration::from_secs(3);
    for (i, instance) in live.iter().enumerate() {
        cluster
            .member_at(&instance.base_url, &member_client, &format!("after-{i}"))
            .await;
        assert!(
            changed_at.elapsed() < bound,
            "{} used the old AppSecret for longer than {bound:?}:\n{}",
            instance.base_url,
            instance.log()
        );
    }
    for instance in &mut live {
        assert!(instance.running(), "{}", instance.log());
    }
}
