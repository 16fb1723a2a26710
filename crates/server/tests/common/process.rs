//! `kaika` as a separate process on a database of the test: started with its settings as environment
//! variables, asked over HTTP, stopped with SIGTERM or killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use kaika_core::secrets::MasterKey;

use super::kaika_bin;

/// What every `kaika` process of one test shares: the database, the master key, a directory.
pub struct Setup {
    /// The database URL.
    pub database_url: String,
    /// The master key.
    pub master_key: MasterKey,
    /// The data directory (and where the logs go).
    pub dir: PathBuf,
}

impl Setup {
    /// A `kaika` command with the shared settings, a quiet log unless `KAIKA__LOG__LEVEL` is set again.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(kaika_bin());
        command
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAIKA__DATABASE__URL", &self.database_url)
            .env("KAIKA__DATA_DIR", &self.dir)
            .env("KAIKA__MASTER_KEY", self.master_key.to_base64())
            .env("KAIKA__SANDBOX__MODE", "off")
            .env("KAIKA__SERVER__WORKERS", "1")
            .env("KAIKA__LOG__LEVEL", "warn")
            .stdin(Stdio::null());
        command
    }

    /// Starts `kaika serve` with `args` and `env` on a free port; its output goes to `<name>.log`.
    pub fn serve(&self, name: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let log = self.dir.join(format!("{name}.log"));
        let mut command = self.command(&[&["serve"], args].concat());
        command.env("KAIKA__SERVER__LISTEN", format!("127.0.0.1:{port}"));
        for (key, value) in env {
            command.env(key, value);
        }
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Server {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }
}

/// An empty database (not one table yet), a new master key and a directory: what the `kaika` processes
/// of one test share. The directory goes when the returned guard is dropped.
pub async fn on_empty_database() -> (kaika_core::testing::TestDb, Setup, tempfile::TempDir) {
    let test_db = kaika_core::testing::TestDb::empty().await;
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        database_url: test_db.url.as_str().to_owned(),
        master_key: MasterKey::generate(),
        dir: dir.path().to_owned(),
    };
    (test_db, setup, dir)
}

/// A running `kaika serve`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    log: PathBuf,
}

impl Server {
    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Waits until `path` answers 200, failing when the process exits or `within` passes.
    pub async fn wait_for(&mut self, path: &str, within: Duration) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "kaika exited with {status} before {path} answered:\n{}",
                    self.log()
                );
            }
            if let Ok(response) = client.get(format!("{}{path}", self.base_url)).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{path} never answered 200:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the process exits on its own.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "kaika did not exit:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM, as an orchestrator stopping it does.
    pub fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
