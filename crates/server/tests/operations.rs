//! What an operator sees of a running `kaika`: one JSON access line per request carrying the request
//! id that the response's `X-Request-Id` names (a proxy's id only believed from a trusted proxy), the
//! first owner's password in a private file rather than the log, private SQLite files, and typos in the
//! configuration refused with one sentence.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use common::process::{on_empty_database, Server, Setup};
use kaika_core::secrets::MasterKey;
use serde_json::Value;

const START: Duration = Duration::from_secs(60);

const JSON_LOGS: [(&str, &str); 2] = [
    ("KAIKA__LOG__FORMAT", "json"),
    ("KAIKA__LOG__LEVEL", "info"),
];

/// The server's log lines that are JSON objects.
fn json_lines(server: &Server) -> Vec<Value> {
    server
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect()
}

/// Waits for the access line of the request whose response named `request_id`.
async fn access_line(server: &Server, request_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = json_lines(server)
            .into_iter()
            .find(|line| line["target"] == "kaika::access" && line["request_id"] == request_id);
        if let Some(line) = found {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no access line with request id {request_id}:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn request_id_header(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn each_request_writes_one_json_access_line_with_the_request_id_of_its_response() {
    let (_db, setup, _dir) = on_empty_database().await;
    let mut server = setup.serve("kaika", &[], &JSON_LOGS);
    server.wait_for("/readyz", START).await;
    let client = reqwest::Client::new();

    let response = client
        .get(format!(
            "{}/api/v1/cards/pCARD42/activation-params?channel=store_front",
            server.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let request_id = request_id_header(&response);
    assert!(
        uuid_like(&request_id),
        "a generated id is a UUID: {request_id}"
    );
    let line = access_line(&server, &request_id).await;
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["method"], "GET", "{line}");
    assert_eq!(
        line["route"], "/api/v1/cards/{card_id}/activation-params",
        "the route pattern, never the path with its ids: {line}"
    );
    assert_eq!(line["status"], 401, "{line}");
    assert!(line["duration_ms"].is_u64(), "{line}");
    assert_eq!(line["client_ip"], "127.0.0.1", "{line}");
    assert_eq!(line["span"]["request_id"], request_id.as_str(), "{line}");
    assert!(
        !server.log().contains("pCARD42"),
        "paths stay out of the log"
    );

    // A line written while a request runs carries that request's id in its span.
    let refused = client
        .post(format!("{}/admin/login", server.base_url))
        .header("origin", "https://evil.example")
        .form(&[("username", "admin"), ("password", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let refused_id = request_id_header(&refused);
    assert_ne!(refused_id, request_id, "each request gets its own id");
    access_line(&server, &refused_id).await;
    let warning = json_lines(&server)
        .into_iter()
        .find(|line| line["message"] == "refused a cross-site admin request")
        .unwrap_or_else(|| panic!("the admin's warning is logged:\n{}", server.log()));
    assert_eq!(
        warning["span"]["request_id"],
        refused_id.as_str(),
        "{warning}"
    );

    assert!(
        !json_lines(&server)
            .iter()
            .any(|line| line["target"] == "kaika::access" && line["route"] == "/readyz"),
        "the probes' access lines are DEBUG, below the INFO asked for"
    );
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

#[tokio::test]
async fn a_request_id_is_believed_from_a_trusted_proxy_only() {
    let (_db, setup, _dir) = on_empty_database().await;
    let client = reqwest::Client::new();

    let mut direct = setup.serve("direct", &[], &JSON_LOGS);
    direct.wait_for("/readyz", START).await;
    let response = client
        .get(format!("{}/api/v1/openapi.json", direct.base_url))
        .header("x-request-id", "chosen-by-the-client")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    let request_id = request_id_header(&response);
    assert_ne!(request_id, "chosen-by-the-client");
    assert!(uuid_like(&request_id), "{request_id}");
    let line = access_line(&direct, &request_id).await;
    assert_eq!(line["client_ip"], "127.0.0.1", "{line}");
    drop(direct);

    let proxied_env = [
        JSON_LOGS[0],
        JSON_LOGS[1],
        ("KAIKA__SERVER__TRUSTED_PROXIES", "127.0.0.1/32"),
    ];
    let mut behind_proxy = setup.serve("behind-proxy", &[], &proxied_env);
    behind_proxy.wait_for("/readyz", START).await;
    let response = client
        .get(format!("{}/api/v1/openapi.json", behind_proxy.base_url))
        .header("x-request-id", "proxy-req-42")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(request_id_header(&response), "proxy-req-42");
    let line = access_line(&behind_proxy, "proxy-req-42").await;
    assert_eq!(line["client_ip"], "203.0.113.7", "{line}");
    assert_eq!(line["route"], "/api/v1/openapi.json", "{line}");

    let too_long = "x".repeat(129);
    let response = client
        .get(format!("{}/api/v1/openapi.json", behind_proxy.base_url))
        .header("x-request-id", &too_long)
        .send()
        .await
        .unwrap();
    let replaced = request_id_header(&response);
    assert!(
        uuid_like(&replaced),
        "an id that is not sane is replaced, even from a proxy: {replaced}"
    );
}

#[tokio::test]
async fn the_first_owners_password_goes_to_a_private_file_and_never_to_the_log() {
    let (test_db, setup, dir) = on_empty_database().await;
    let mut server = setup.serve("first", &[], &JSON_LOGS);
    server.wait_for("/readyz", START).await;
    let file = dir.path().join("initial-admin-password");
    assert_eq!(mode(&file), 0o600, "readable by Kaika's user only");
    let password = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert_eq!(password.len(), 20, "{password:?}");
    let (_, hash) = kaika_core::admin_users::find_for_login(&test_db.db, "admin")
        .await
        .unwrap()
        .expect("the owner admin was created");
    assert!(kaika_core::passwords::verify(&password, &hash));
    let log = server.log();
    assert!(
        !log.contains(&password),
        "the password is not logged:\n{log}"
    );
    assert!(
        log.contains(&format!("the admin at {}/admin", server.base_url)),
        "every start names the admin's address:\n{log}"
    );
    let notice = json_lines(&server)
        .into_iter()
        .find(|line| line["password_file"].is_string())
        .unwrap_or_else(|| panic!("the log names the file:\n{log}"));
    assert_eq!(notice["password_file"], file.display().to_string());
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|entry| !entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with('.')),
        "no staged file is left behind"
    );
    drop(server);

    // A restart finds the owner and the schema in place: no new password, no migration notice.
    let mut again = setup.serve("again", &[], &JSON_LOGS);
    again.wait_for("/readyz", START).await;
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), password);
    let log = again.log();
    assert!(!log.contains("password_file"), "{log}");
    assert!(
        !log.to_lowercase().contains("migrat"),
        "migrations are only mentioned at INFO when some ran:\n{log}"
    );
}

#[tokio::test]
async fn a_new_sqlite_database_and_its_wal_files_are_readable_by_their_owner_only() {
    // SQLite on whatever database the suite runs: these are the embedded database's files.
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("data").join("kaika.db");
    let setup = Setup {
        database_url: format!("sqlite://{}", database.display()),
        master_key: MasterKey::generate(),
        dir: dir.path().to_owned(),
    };
    let mut server = setup.serve("kaika", &[], &[]);
    server.wait_for("/readyz", START).await;
    let wal = database.with_file_name("kaika.db-wal");
    let shm = database.with_file_name("kaika.db-shm");
    for path in [&database, &wal, &shm] {
        assert!(path.exists(), "{} exists while serving", path.display());
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
}

#[tokio::test]
async fn typos_in_the_configuration_stop_kaika_with_one_sentence_naming_the_closest_setting() {
    let (_db, setup, dir) = on_empty_database().await;
    let output = setup
        .command(&["migrate", "status"])
        .env("KAIKA__SERVER__LISTN", "0.0.0.0:8080")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "kaika: unknown environment variable KAIKA__SERVER__LISTN: did you mean KAIKA__SERVER__LISTEN?\n"
    );

    let config = dir.path().join("kaika.toml");
    std::fs::write(&config, "[events]\nconcurency = 8\n").unwrap();
    let output = setup
        .command(&["--config", config.to_str().unwrap(), "migrate", "status"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "kaika: unknown setting `events.concurency` in {}: did you mean `events.concurrency`?\n",
            config.display()
        )
    );

    for (variable, value, sentence) in [
        (
            "KAIKA__OUTBOX__BATCH",
            "0",
            "kaika: setting `outbox.batch` (env KAIKA__OUTBOX__BATCH): must be at least 1\n",
        ),
        (
            "KAIKA__LOG__LEVEL",
            "infoo",
            "kaika: setting `log.level` (env KAIKA__LOG__LEVEL): \"infoo\" in \"infoo\" is not a level: \
             expected off, error, warn, info, debug or trace, alone or as TARGET=LEVEL (did you mean info?)\n",
        ),
    ] {
        let output = setup
            .command(&["migrate", "status"])
            .env(variable, value)
            .output()
            .unwrap();
        assert!(!output.status.success());
        assert_eq!(String::from_utf8_lossy(&output.stderr), sentence);
    }
}
