//! Backups as an operator makes them: `kaika backup` → `kaika restore` → `kaika serve` on SQLite and
//! PostgreSQL (pg_dump), a restore with the wrong master key or none refused before anything changes, a
//! start that will not generate a key over existing secrets, the paused workers of a restored copy, and
//! `kaika migrate down` asking first.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::kaika_bin;
use common::process::Setup;
use kaika_core::secrets::MasterKey;
use kaika_core::testing::TestDb;

const APP_ID: &str = "wx0123456789abcdef";
const SECRETS: &str = "APP_SECRET=0123456789abcdef0123456789abcdef\n\
                       ENCODING_AES_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\n";

/// One installation: a database, a master key and a data directory.
struct Site {
    setup: Setup,
    // Dropped last: the database outlives the processes.
    _db: TestDb,
    _dir: tempfile::TempDir,
}

impl Site {
    async fn new(key: &MasterKey) -> Self {
        let db = TestDb::empty().await;
        let dir = tempfile::tempdir().unwrap();
        Self {
            setup: Setup {
                database_url: db.url.as_str().to_owned(),
                master_key: key.clone(),
                dir: dir.path().to_owned(),
            },
            _db: db,
            _dir: dir,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.setup.command(args).output().unwrap()
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(output.status.success(), "kaika {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn add_account(&self) {
        let mut child = self
            .setup
            .command(&["account", "add", "--name", "Shop", "--app-id", APP_ID])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(SECRETS.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
    }

    fn accounts(&self) -> String {
        self.run_ok(&["account", "list"])
    }

    fn backup_path(&self, name: &str) -> PathBuf {
        self.setup.dir.join(name)
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_refused(output: &Output, needle: &str) {
    assert!(!output.status.success(), "expected a refusal: {output:?}");
    let err = stderr(output);
    assert!(err.contains(needle), "{needle:?} not in {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A site with one account and an API key, backed up to `backup.dump`.
async fn backed_up_site(key: &MasterKey) -> (Site, PathBuf) {
    let site = Site::new(key).await;
    site.run_ok(&["migrate", "up"]);
    site.add_account();
    site.run_ok(&["api-key", "create", "--name", "till", "--scopes", "all"]);
    let path = site.backup_path("backup.dump");
    let said = site.run_ok(&["backup", path.to_str().unwrap()]);
    assert!(said.contains("backed up"), "{said}");
    assert!(said.contains("master key"), "{said}");
    (site, path)
}

#[tokio::test]
async fn a_backup_restores_into_an_empty_database_and_over_changed_data_and_serves() {
    let key = MasterKey::generate();
    let (site, backup) = backed_up_site(&key).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "a backup is readable by its owner only"
        );
    }
    let again = site.run(&["backup", backup.to_str().unwrap()]);
    assert_refused(&again, "already exists");

    // A clone on an empty database with the same key: no question asked.
    let clone = Site::new(&key).await;
    let said = clone.run_ok(&["restore", backup.to_str().unwrap()]);
    assert!(said.contains("1 account(s)"), "{said}");
    assert!(said.contains("paused"), "{said}");
    assert!(clone.accounts().contains(APP_ID));
    assert!(clone.run_ok(&["api-key", "list"]).contains("till"));

    // The original, changed since: the restore asks first, and replaces it with --yes.
    site.run_ok(&["account", "remove", APP_ID]);
    assert!(!site.accounts().contains(APP_ID));
    let unasked = site.run(&["restore", backup.to_str().unwrap()]);
    assert_refused(&unasked, "--yes");
    assert!(!site.accounts().contains(APP_ID), "nothing changed");
    site.run_ok(&["restore", backup.to_str().unwrap(), "--yes"]);
    assert!(site.accounts().contains(APP_ID), "the account is back");
    let status = site.run_ok(&["migrate", "status"]);
    assert!(!status.contains("pending"), "{status}");

    // And it serves.
    let mut server = clone.setup.serve("restored", &[], &[]);
    server.wait_for("/readyz", Duration::from_secs(30)).await;
}

#[tokio::test]
async fn a_restore_with_another_master_key_or_none_is_refused_and_changes_nothing() {
    let (_site, backup) = backed_up_site(&MasterKey::generate()).await;
    let other = Site::new(&MasterKey::generate()).await;
    let refused = other.run(&["restore", backup.to_str().unwrap(), "--yes"]);
    assert_refused(
        &refused,
        "the master key does not open the secrets in this backup",
    );
    assert_refused(&refused, "nothing was changed");
    let status = other.run_ok(&["migrate", "status"]);
    assert!(
        !status.contains("applied"),
        "the database stayed empty: {status}"
    );

    if other.setup.database_url.starts_with("sqlite") {
        // The embedded default without a key file: the restore never generates one.
        let keyless = other
            .setup
            .command(&["restore", backup.to_str().unwrap(), "--yes"])
            .env_remove("KAIKA__MASTER_KEY")
            .output()
            .unwrap();
        assert_refused(&keyless, "no master key");
        assert!(!other.setup.dir.join("master.key").exists());
    }

    let garbage = other.backup_path("garbage.dump");
    std::fs::write(&garbage, b"not a backup at all").unwrap();
    let refused = other.run(&["restore", garbage.to_str().unwrap(), "--yes"]);
    assert_refused(&refused, "is not a Kaika backup");
}

#[tokio::test]
async fn a_start_without_the_key_file_over_existing_secrets_stops_and_generates_none() {
    // SQLite with the generated key file, whatever database the other tests use.
    let dir = tempfile::tempdir().unwrap();
    let kaika = |args: &[&str]| -> Command {
        let mut command = Command::new(kaika_bin());
        command
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAIKA__DATA_DIR", dir.path())
            .env("KAIKA__LOG__LEVEL", "warn")
            .stdin(Stdio::null());
        command
    };
    let mut add = kaika(&["account", "add", "--name", "Shop", "--app-id", APP_ID])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(SECRETS.as_bytes())
        .unwrap();
    assert!(add.wait_with_output().unwrap().status.success());
    let key_file = dir.path().join("master.key");
    assert!(key_file.exists());
    std::fs::remove_file(&key_file).unwrap();

    let listed = kaika(&["account", "list"]).output().unwrap();
    assert_refused(&listed, "master.key is missing");
    assert!(!key_file.exists(), "no new key over old data");

    std::fs::write(
        &key_file,
        format!("{}\n", MasterKey::generate().to_base64()),
    )
    .unwrap();
    let wrong = kaika(&["account", "list"]).output().unwrap();
    assert_refused(&wrong, "the master key does not open");
}

#[tokio::test]
async fn a_restored_copy_serves_with_paused_workers_until_resumed() {
    let key = MasterKey::generate();
    let (_site, backup) = backed_up_site(&key).await;
    let clone = Site::new(&key).await;
    clone.run_ok(&["restore", backup.to_str().unwrap()]);
    assert!(clone
        .run_ok(&["workers", "status"])
        .contains("paused since"));

    let env = [
        ("KAIKA__LOG__LEVEL", "info"),
        ("KAIKA__ACTIVATION__REDRIVE_INTERVAL_SECS", "1"),
    ];
    let mut server = clone.setup.serve("clone", &[], &env);
    server.wait_for("/readyz", Duration::from_secs(30)).await;
    let redrive_runs = |server: &common::process::Server| {
        let url = format!("{}/metrics", server.base_url);
        async move {
            let text = reqwest::get(url).await.unwrap().text().await.unwrap();
            text.lines()
                .any(|l| l.starts_with("kaika_redrive_runs_total{outcome=\"ok\"}"))
        }
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !redrive_runs(&server).await,
        "paused: no re-drive pass ran\n{}",
        server.log()
    );
    assert!(
        server.log().contains("the background workers are paused"),
        "{}",
        server.log()
    );

    assert!(clone.run_ok(&["workers", "resume"]).contains("resumed"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !redrive_runs(&server).await {
        assert!(
            Instant::now() < deadline,
            "the workers never started after the resume\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(server.log().contains("resumed"), "{}", server.log());
    assert!(clone.run_ok(&["workers", "status"]).contains("not paused"));
}

#[tokio::test]
async fn migrate_down_asks_first_and_changes_nothing_without_yes() {
    let site = Site::new(&MasterKey::generate()).await;
    site.run_ok(&["migrate", "up"]);
    let unasked = site.run(&["migrate", "down"]);
    assert_refused(&unasked, "--yes");
    assert_refused(&unasked, "m20261128_000010_maintenance");
    let status = site.run_ok(&["migrate", "status"]);
    assert!(!status.contains("pending"), "nothing rolled back: {status}");

    site.run_ok(&["migrate", "down", "--yes"]);
    let status = site.run_ok(&["migrate", "status"]);
    assert!(
        status.contains("pending  m20261128_000010_maintenance"),
        "{status}"
    );
    assert_eq!(status.matches("pending").count(), 1, "{status}");
}
