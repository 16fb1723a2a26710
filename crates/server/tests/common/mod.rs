//! A running Kaika on port 0 with a fresh database, and helpers to call it.

#![expect(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]
#![expect(
    clippy::unwrap_used,
    reason = "test set-up: a failure must stop the test at once"
)]

pub mod process;

use std::path::PathBuf;

use kaika_core::secrets::MasterKey;
use kaika_core::testing::TestDb;
use kaika_server::config::Settings;
use kaika_server::sandbox::{Sandbox, SandboxInfo};
use kaika_server::{app, startup};

/// A server under test.
pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    pub master_key: MasterKey,
    pub data_dir: tempfile::TempDir,
    /// The server's own pool (closing it makes the database unavailable to the server).
    pub app_db: sea_orm::DatabaseConnection,
    /// The server's context: its clients, activator and metrics.
    pub ctx: startup::Context,
    /// Where `/metrics` is served alone, with `metrics.listen` set.
    pub metrics_addr: Option<std::net::SocketAddr>,
    handle: actix_web::dev::ServerHandle,
    // Dropped last: the database outlives the server.
    pub test_db: TestDb,
}

/// Settings for a test: the given database, port 0, a temporary data directory and a fresh master key.
pub fn test_settings(test_db: &TestDb, data_dir: &std::path::Path, key: &MasterKey) -> Settings {
    test_settings_with(test_db, data_dir, key, &[])
}

/// [`test_settings`] with some settings changed, e.g. `("server.public_url", "https://…")`; `"true"`
/// and `"false"` are booleans.
pub fn test_settings_with(
    test_db: &TestDb,
    data_dir: &std::path::Path,
    key: &MasterKey,
    overrides: &[(&str, &str)],
) -> Settings {
    let mut figment = Settings::figment(None)
        .unwrap()
        .merge(("database.url", test_db.url.as_str()))
        .merge(("server.listen", "127.0.0.1:0"))
        .merge(("server.workers", 1))
        .merge(("data_dir", data_dir.display().to_string()))
        .merge(("master_key", key.to_base64()))
        .merge(("wechat.timeout_ms", 1500))
        .merge(("wechat.busy_base_delay_ms", 10))
        .merge(("activation.retry_base_ms", 50));
    for (key, value) in overrides {
        // Read as an environment variable would be, so numbers and booleans can be given as text.
        let value: figment::value::Value = value.parse().unwrap();
        figment = figment.merge((*key, value));
    }
    Settings::from_figment(&figment).unwrap()
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// A server with some settings changed (see [`test_settings_with`]).
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        let test_db = TestDb::empty().await;
        let data_dir = tempfile::tempdir().unwrap();
        let master_key = MasterKey::generate();
        let settings = test_settings_with(&test_db, data_dir.path(), &master_key, overrides);
        let ctx = startup::prepare(&settings).await.unwrap();
        let app_db = ctx.db.clone();
        let running = app::start(&settings, ctx.clone(), None).unwrap();
        let handle = running.server.handle();
        tokio::spawn(running.server);
        Self {
            base_url: format!("http://{}", running.addr),
            client: reqwest::Client::new(),
            master_key,
            data_dir,
            app_db,
            ctx,
            metrics_addr: running.metrics_addr,
            handle,
            test_db,
        }
    }

    /// A server in sandbox mode: the simulator mounted at /sim, the sandbox account, demo card and
    /// channels bootstrapped before this returns.
    pub async fn sandbox() -> (Self, Sandbox, SandboxInfo) {
        Self::sandbox_with(&[]).await
    }

    /// [`TestApp::sandbox`] with some settings changed (see [`test_settings_with`]); the base URL is on
    /// loopback even when `server.listen` names every interface.
    pub async fn sandbox_with(overrides: &[(&str, &str)]) -> (Self, Sandbox, SandboxInfo) {
        let test_db = TestDb::empty().await;
        let data_dir = tempfile::tempdir().unwrap();
        let master_key = MasterKey::generate();
        let settings = test_settings_with(&test_db, data_dir.path(), &master_key, overrides);
        let ctx = startup::prepare(&settings).await.unwrap();
        let sandbox =
            Sandbox::new().with_control_from_anywhere(settings.sandbox_control_from_anywhere);
        let app_db = ctx.db.clone();
        let running = app::start(&settings, ctx.clone(), Some(sandbox.clone())).unwrap();
        let handle = running.server.handle();
        tokio::spawn(running.server);
        let mut addr = running.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let base_url = format!("http://{addr}");
        sandbox.set_base_url(base_url.clone());
        let info = kaika_server::sandbox::bootstrap(&ctx, &sandbox)
            .await
            .unwrap();
        let app = Self {
            base_url,
            client: reqwest::Client::new(),
            master_key,
            data_dir,
            app_db,
            ctx,
            metrics_addr: running.metrics_addr,
            handle,
            test_db,
        };
        (app, sandbox, info)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

/// The `kaika` binary built for these tests.
pub fn kaika_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kaika"))
}

/// Answers to the sandbox demo card's activation form (mobile, name, favourite coffee).
pub fn demo_answers() -> serde_json::Value {
    serde_json::json!({
        "USER_FORM_INFO_FLAG_MOBILE": "13800138000",
        "USER_FORM_INFO_FLAG_NAME": "张三",
        "喜欢的咖啡": "拿铁",
    })
}

impl TestApp {
    /// Logs a simulated WeChat user into the sandbox's mini-program (`wx.login` → `POST
    /// /api/v1/sessions`); returns the bearer token.
    pub async fn login(&self, sandbox: &Sandbox, mini_app_id: &str, user: &str) -> String {
        let code = sandbox.sim.mint_login_code(mini_app_id, user).unwrap().code;
        let response = self
            .client
            .post(self.url("/api/v1/sessions"))
            .json(&serde_json::json!({ "code": code }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// `POST /api/v1/activations` with what the component handed back.
    pub async fn activate(&self, token: &str, extra: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/activations"))
            .bearer_auth(token)
            .json(&serde_json::json!({
                "activate_ticket": extra["activate_ticket"],
                "card_id": extra["card_id"],
                "encrypt_code": extra["code"],
            }))
            .send()
            .await
            .unwrap()
    }

    /// A member opens the sandbox's first card through the mini-program (channel `store_front`): login,
    /// activation parameters, the component's form, `POST /api/v1/activations`. Returns the member's id,
    /// found through the integration API with `api_key`.
    pub async fn activated_member(
        &self,
        sandbox: &Sandbox,
        info: &SandboxInfo,
        api_key: &str,
        user: &str,
    ) -> i64 {
        let token = self.login(sandbox, &info.mini_app_id, user).await;
        let params: serde_json::Value = self
            .client
            .get(self.url(&format!(
                "/api/v1/cards/{}/activation-params?channel=store_front",
                info.card_ids[0]
            )))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let returned = self.fill_component_form(&params["extra_data"], user).await;
        let activated = self.activate(&token, &returned).await;
        assert_eq!(activated.status(), 200);
        let code = activated.json::<serde_json::Value>().await.unwrap()["code"]
            .as_str()
            .unwrap()
            .to_owned();
        let found: serde_json::Value = self
            .client
            .get(self.url(&format!("/api/v1/integration/members?code={code}")))
            .bearer_auth(api_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        found[0]["id"].as_i64().unwrap()
    }

    /// Plays the member inside WeChat's card-opening component of the sandbox: fills the demo card's
    /// form ([`demo_answers`]) and returns what the component hands back (`activate_ticket`,
    /// `card_id`, the encrypted `code`).
    pub async fn fill_component_form(
        &self,
        extra_data: &serde_json::Value,
        user: &str,
    ) -> serde_json::Value {
        let filled: serde_json::Value = self
            .client
            .post(self.url("/sim/component/submit"))
            .json(&serde_json::json!({
                "encrypt_card_id": extra_data["encrypt_card_id"],
                "outer_str": extra_data["outer_str"],
                "biz": extra_data["biz"],
                "user": user,
                "answers": demo_answers(),
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(filled["activate_ticket"].is_string(), "{filled}");
        filled
    }
}

/// Waits until the simulator has delivered every push it holds (none pending a retry).
pub async fn wait_for_pushes(sandbox: &Sandbox) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while sandbox
        .sim
        .pushes()
        .iter()
        .any(|p| format!("{:?}", p.outcome) == "Pending")
    {
        assert!(std::time::Instant::now() < deadline, "pushes still pending");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
