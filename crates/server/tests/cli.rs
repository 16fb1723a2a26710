//! The `kaika` binary's subcommands and its one-sentence failures.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::kaika_bin;
use kaika_core::secrets::MasterKey;
use kaika_core::testing::TestDb;
use sea_orm::EntityTrait;

const APP_SECRET: &str = "0123456789abcdef0123456789abcdef";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

struct Cli {
    test_db: TestDb,
    dir: tempfile::TempDir,
    key: String,
}

impl Cli {
    async fn new() -> Self {
        Self {
            test_db: TestDb::empty().await,
            dir: tempfile::tempdir().unwrap(),
            key: MasterKey::generate().to_base64(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(kaika_bin());
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAIKA__DATABASE__URL", self.test_db.url.as_str())
            .env("KAIKA__DATA_DIR", self.dir.path())
            .env("KAIKA__MASTER_KEY", &self.key)
            .env("KAIKA__LOG__LEVEL", "warn")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_one_sentence_failure(output: &Output, needle: &str) {
    assert!(
        !output.status.success(),
        "expected a failure, got {output:?}"
    );
    let err = stderr(output);
    assert!(err.contains(needle), "{needle:?} not in {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("stack backtrace"), "{err}");
}

#[tokio::test]
async fn migrate_goes_up_down_and_up_with_status() {
    let cli = Cli::new().await;
    assert!(cli.run(&["migrate", "up"]).status.success());
    let status = stdout(&cli.run(&["migrate", "status"]));
    assert!(
        status.contains("applied  m20261126_000001_accounts"),
        "{status}"
    );

    assert!(cli
        .run(&["migrate", "down", "--all", "--yes"])
        .status
        .success());
    let status = stdout(&cli.run(&["migrate", "status"]));
    assert!(
        status.contains("pending  m20261126_000001_accounts"),
        "{status}"
    );

    assert!(cli.run(&["migrate", "up"]).status.success());
    let status = stdout(&cli.run(&["migrate", "status"]));
    assert!(!status.contains("pending"), "{status}");
}

#[tokio::test]
async fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let cli = Cli::new().await;
    let output = cli
        .command(&["migrate", "up"])
        .env("KAIKA__LOG__LEVEL", "debug")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let log = stderr(&output);
    assert!(!log.trim().is_empty(), "the debug level logs something");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escape in a piped log: {log:?}"
    );
}

#[tokio::test]
async fn account_add_reads_secrets_from_stdin_and_list_never_shows_them() {
    let cli = Cli::new().await;
    let added = cli.run_with_stdin(
        &[
            "account",
            "add",
            "--name",
            "Demo",
            "--app-id",
            "wx0123456789abcdef",
        ],
        &format!("APP_SECRET={APP_SECRET}\nENCODING_AES_KEY={AES_KEY}\n"),
    );
    assert!(added.status.success(), "{}", stderr(&added));
    let out = stdout(&added);
    assert!(out.contains("/wechat/wx0123456789abcdef/callback"), "{out}");
    assert!(
        out.contains("callback Token"),
        "a token is generated when none is given: {out}"
    );

    let listed = cli.run(&["account", "list"]);
    let out = stdout(&listed);
    assert!(out.contains("wx0123456789abcdef\tsafe\tDemo"), "{out}");
    for secret in [APP_SECRET, AES_KEY] {
        assert!(!out.contains(secret));
        assert!(!stderr(&listed).contains(secret));
    }

    let again = cli.run_with_stdin(
        &[
            "account",
            "add",
            "--name",
            "Demo",
            "--app-id",
            "wx0123456789abcdef",
        ],
        &format!("APP_SECRET={APP_SECRET}\nENCODING_AES_KEY={AES_KEY}\n"),
    );
    assert_one_sentence_failure(&again, "already exists");

    assert!(cli
        .run(&["account", "remove", "wx0123456789abcdef"])
        .status
        .success());
    assert!(stdout(&cli.run(&["account", "list"])).contains("no accounts"));
    assert_one_sentence_failure(
        &cli.run(&["account", "remove", "wx0123456789abcdef"]),
        "not found",
    );
}

#[tokio::test]
async fn account_add_takes_secrets_from_the_environment() {
    let cli = Cli::new().await;
    let output = cli
        .command(&[
            "account",
            "add",
            "--name",
            "Env",
            "--app-id",
            "wx1111111111111111",
            "--mode",
            "plain",
        ])
        .env("KAIKA_APP_SECRET", APP_SECRET)
        .env("KAIKA_CALLBACK_TOKEN", "mytoken123")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(!out.contains("mytoken123"), "a given token is not echoed");
    assert!(
        !out.contains("callback Token"),
        "no token is generated when one is given: {out}"
    );
    let stored = kaika_core::entity::accounts::Entity::find()
        .one(&cli.test_db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.callback_token, "mytoken123",
        "the given token is kept"
    );
}

#[tokio::test]
async fn account_add_refuses_malformed_app_ids_and_keys() {
    let cli = Cli::new().await;
    let bad_app_id = cli.run_with_stdin(
        &["account", "add", "--name", "X", "--app-id", "wx12345"],
        &format!("APP_SECRET={APP_SECRET}\nENCODING_AES_KEY={AES_KEY}\n"),
    );
    assert_one_sentence_failure(&bad_app_id, "16 hex characters");

    let bad_key = cli.run_with_stdin(
        &[
            "account",
            "add",
            "--name",
            "X",
            "--app-id",
            "wx0123456789abcdef",
        ],
        &format!("APP_SECRET={APP_SECRET}\nENCODING_AES_KEY=tooshort\n"),
    );
    assert_one_sentence_failure(&bad_key, "43 Base64 characters");

    let missing_secret = cli.run_with_stdin(
        &[
            "account",
            "add",
            "--name",
            "X",
            "--app-id",
            "wx0123456789abcdef",
        ],
        &format!("ENCODING_AES_KEY={AES_KEY}\n"),
    );
    assert_one_sentence_failure(&missing_secret, "APP_SECRET is required");

    let secret_in_argv = cli.run(&[
        "account",
        "add",
        "--name",
        "X",
        "--app-id",
        "wx0123456789abcdef",
        "--app-secret",
        APP_SECRET,
    ]);
    assert!(
        !secret_in_argv.status.success(),
        "secrets are never accepted as arguments"
    );
}

#[tokio::test]
async fn a_wrong_master_key_stops_the_server_with_one_sentence() {
    let cli = Cli::new().await;
    let added = cli.run_with_stdin(
        &[
            "account",
            "add",
            "--name",
            "Demo",
            "--app-id",
            "wx0123456789abcdef",
        ],
        &format!("APP_SECRET={APP_SECRET}\nENCODING_AES_KEY={AES_KEY}\n"),
    );
    assert!(added.status.success(), "{}", stderr(&added));
    let output = cli
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .env("KAIKA__MASTER_KEY", MasterKey::generate().to_base64())
        .output()
        .unwrap();
    assert_one_sentence_failure(&output, "master key does not open");
}

#[tokio::test]
async fn bad_settings_and_environments_end_with_one_sentence() {
    let cli = Cli::new().await;
    assert_one_sentence_failure(
        &cli.command(&["migrate", "status"])
            .env("KAIKA__DATABASE__URL", "postgres://x@h:port/d")
            .output()
            .unwrap(),
        "database.url",
    );
    assert_one_sentence_failure(
        &cli.command(&["migrate", "status"])
            .env(
                "KAIKA__DATABASE__URL",
                "postgres://nobody@127.0.0.1:1/kaika",
            )
            .env("KAIKA__DATABASE__CONNECT_TIMEOUT_SECS", "1")
            .output()
            .unwrap(),
        "cannot connect to the database at postgres://nobody@127.0.0.1:1/kaika",
    );
    assert_one_sentence_failure(
        &cli.command(&["serve"])
            .env("KAIKA__SERVER__LISTEN", "nowhere")
            .output()
            .unwrap(),
        "server.listen",
    );
    let occupied = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = occupied.local_addr().unwrap().to_string();
    assert_one_sentence_failure(&cli.run(&["serve", "--listen", &addr]), "already in use");

    let read_only = cli.dir.path().join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    let file_in_the_way = read_only.join("data");
    std::fs::write(&file_in_the_way, b"not a directory").unwrap();
    assert_one_sentence_failure(
        &cli.command(&["serve"])
            .env_remove("KAIKA__DATABASE__URL")
            .env_remove("KAIKA__MASTER_KEY")
            .env("KAIKA__DATA_DIR", &file_in_the_way)
            .output()
            .unwrap(),
        "data directory",
    );
}

#[tokio::test]
async fn healthcheck_fails_when_nothing_answers() {
    let cli = Cli::new().await;
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = cli.run(&["healthcheck", "--url", &format!("http://{free}/healthz")]);
    assert_one_sentence_failure(&output, "does not answer");
}

// The server must keep running on other threads while this thread blocks on the child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_succeeds_against_a_serving_kaika() {
    let app = common::TestApp::spawn().await;
    let cli = Cli::new().await;
    let output = cli.run(&["healthcheck", "--url", &app.url("/healthz")]);
    assert!(output.status.success(), "{}", stderr(&output));
}
