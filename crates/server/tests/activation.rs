//! The member journey end to end over HTTP: server + simulator (sandbox mode), on SQLite and PostgreSQL.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

mod common;

use common::TestApp;
use kaika_core::jobs::Rounds as _;
use kaika_server::sandbox::{Sandbox, SandboxInfo};
use kaika_wechat_sim::FaultSpec;
use serde_json::{json, Value};

struct Journey {
    app: TestApp,
    sandbox: Sandbox,
    info: SandboxInfo,
}

impl Journey {
    async fn start() -> Self {
        let (app, sandbox, info) = TestApp::sandbox().await;
        Self { app, sandbox, info }
    }

    fn card_id(&self) -> &str {
        &self.info.card_ids[0]
    }

    async fn login(&self, user: &str) -> String {
        self.app
            .login(&self.sandbox, &self.info.mini_app_id, user)
            .await
    }

    async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.app
            .client
            .get(self.app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn params(&self, token: &str, channel: &str) -> Value {
        let response = self
            .get(
                token,
                &format!(
                    "/api/v1/cards/{}/activation-params?channel={channel}",
                    self.card_id()
                ),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Plays the member inside WeChat's component: fill the form, get the extraData back.
    async fn fill_form(&self, user: &str, params: &Value) -> Value {
        self.app
            .fill_component_form(&params["extra_data"], user)
            .await
    }

    async fn activate(&self, token: &str, extra: &Value) -> reqwest::Response {
        self.app.activate(token, extra).await
    }

    async fn ledger_count(&self) -> u64 {
        use kaika_core::entity::ledger_entries;
        use sea_orm::{EntityTrait, PaginatorTrait};
        ledger_entries::Entity::find()
            .count(&self.app.test_db.db)
            .await
            .unwrap()
    }

    async fn member_count(&self) -> u64 {
        use kaika_core::entity::members;
        use sea_orm::{EntityTrait, PaginatorTrait};
        members::Entity::find()
            .count(&self.app.test_db.db)
            .await
            .unwrap()
    }

    fn fault(&self, path: &str, fault: Value, next: u32) {
        let spec: FaultSpec =
            serde_json::from_value(json!({ "path": path, "fault": fault, "next": next })).unwrap();
        self.sandbox.sim.add_fault(spec).unwrap();
    }

    async fn ready_ticket(&self, user: &str) -> (String, Value) {
        let token = self.login(user).await;
        let params = self.params(&token, "store_front").await;
        let extra = self.fill_form(user, &params).await;
        (token, extra)
    }
}

#[tokio::test]
async fn a_member_walks_the_whole_journey_and_is_activated_once() {
    let journey = Journey::start().await;
    let token = journey.login("alice").await;

    let cards: Value = journey
        .get(&token, "/api/v1/cards")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cards.as_array().unwrap().len(), 1);
    assert_eq!(cards[0]["held"], false);
    assert_eq!(cards[0]["color_hex"], "#63b359");

    let params = journey.params(&token, "store_front").await;
    assert_eq!(params["app_id"], "wxeb490c6f9b154ef9");
    assert_eq!(params["extra_data"]["outer_str"], "store_front");
    assert!(
        params["extra_data"]["biz"].as_str().unwrap().ends_with('='),
        "biz keeps its padding"
    );

    let extra = journey.fill_form("alice", &params).await;
    let response = journey.activate(&token, &extra).await;
    assert_eq!(response.status(), 200);
    let member: Value = response.json().await.unwrap();
    assert_eq!(member["membership_number"], "KK00000001");
    assert_eq!(member["points"], 100, "the welcome bonus is credited");
    assert_eq!(member["status"], "active");
    assert!(member["code"]
        .as_str()
        .unwrap()
        .chars()
        .all(|c| c.is_ascii_digit()));
    assert_eq!(
        member["form_answers"]["common_field_list"][0]["value"],
        "13800138000"
    );

    let again: Value = journey.activate(&token, &extra).await.json().await.unwrap();
    assert_eq!(
        again["membership_number"], member["membership_number"],
        "a replay returns the same member"
    );
    assert_eq!(journey.member_count().await, 1);
    assert_eq!(journey.ledger_count().await, 1);

    let mine: Value = journey
        .get(&token, "/api/v1/me/cards")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let one = journey
        .get(&token, &format!("/api/v1/me/cards/{}", journey.card_id()))
        .await;
    assert_eq!(one.status(), 200);
    let cards: Value = journey
        .get(&token, "/api/v1/cards")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cards[0]["held"], true);

    let at_wechat = journey
        .sandbox
        .sim
        .issued_code(member["code"].as_str().unwrap())
        .unwrap();
    assert!(at_wechat.has_active, "WeChat knows the card as activated");
    assert_eq!(at_wechat.bonus, 100, "WeChat shows the welcome bonus");
    assert_eq!(at_wechat.membership_number.as_deref(), Some("KK00000001"));
}

#[tokio::test]
async fn twenty_concurrent_submissions_of_one_ticket_make_one_member_and_one_bonus() {
    let journey = Journey::start().await;
    let (token, extra) = journey.ready_ticket("bob").await;
    let calls = (0..20).map(|_| journey.activate(&token, &extra));
    let responses = futures::future::join_all(calls).await;
    let mut numbers = std::collections::HashSet::new();
    for response in responses {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        match status {
            200 => {
                numbers.insert(body["membership_number"].as_str().unwrap().to_owned());
            }
            202 => assert_eq!(body["code"], "activation_in_progress"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(numbers.len() <= 1, "{numbers:?}");
    let final_member: Value = journey.activate(&token, &extra).await.json().await.unwrap();
    assert_eq!(final_member["points"], 100);
    assert_eq!(journey.member_count().await, 1);
    assert_eq!(journey.ledger_count().await, 1);
}

#[tokio::test]
async fn wechat_faults_followed_by_a_retry_still_give_exactly_one_member() {
    let journey = Journey::start().await;
    let cases = [
        (
            "card/code/decrypt",
            json!({"kind": "errcode", "errcode": -1}),
        ),
        (
            "card/membercard/activatetempinfo/get",
            json!({"kind": "errcode", "errcode": 40001}),
        ),
        (
            "card/membercard/activatetempinfo/get",
            json!({"kind": "errcode", "errcode": 72012}),
        ),
        (
            "card/code/get",
            json!({"kind": "errcode", "errcode": 42001}),
        ),
        // The call takes effect at WeChat, then the answer comes too late or the connection drops:
        // a crash between WeChat's activate and our database write.
        (
            "card/membercard/activate",
            json!({"kind": "delay", "ms": 2500}),
        ),
        (
            "card/membercard/activate",
            json!({"kind": "drop", "apply": true}),
        ),
        (
            "card/membercard/activate",
            json!({"kind": "errcode", "errcode": -1}),
        ),
    ];
    for (i, (path, fault)) in cases.iter().enumerate() {
        let user = format!("fault{i}");
        let (token, extra) = journey.ready_ticket(&user).await;
        journey.fault(path, fault.clone(), 1);
        let first = journey.activate(&token, &extra).await;
        let status = first.status().as_u16();
        assert!(
            matches!(status, 200 | 503),
            "{path} {fault}: first answer {status}"
        );
        let mut member = None;
        for _ in 0..20 {
            let retry = journey.activate(&token, &extra).await;
            if retry.status() == 200 {
                member = Some(retry.json::<Value>().await.unwrap());
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        }
        let member = member.unwrap_or_else(|| panic!("{path} {fault}: never activated"));
        assert_eq!(member["points"], 100, "{path}");
        journey.sandbox.sim.clear_faults();
    }
    assert_eq!(journey.member_count().await, cases.len() as u64);
    assert_eq!(
        journey.ledger_count().await,
        cases.len() as u64,
        "one welcome bonus each"
    );
}

#[tokio::test]
async fn bad_input_gets_a_code_and_stores_nothing() {
    let journey = Journey::start().await;
    let (token, extra) = journey.ready_ticket("carol").await;
    let post = |token: Option<&str>, body: Value| {
        let mut request = journey
            .app
            .client
            .post(journey.app.url("/api/v1/activations"))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let good = json!({"activate_ticket": extra["activate_ticket"], "card_id": extra["card_id"], "encrypt_code": extra["code"]});

    let cases: Vec<(Option<&str>, Value, u16, &str)> = vec![
        (None, good.clone(), 401, "invalid_session"),
        (
            Some("0000000000000000000000000000000000000000000000000000000000000000"),
            good.clone(),
            401,
            "invalid_session",
        ),
        (
            Some(&token),
            json!({"activate_ticket": extra["activate_ticket"]}),
            400,
            "invalid_json",
        ),
        (
            Some(&token),
            json!({"activate_ticket": "", "card_id": extra["card_id"], "encrypt_code": extra["code"]}),
            422,
            "ticket_invalid",
        ),
        (
            Some(&token),
            json!({"activate_ticket": "a b", "card_id": extra["card_id"], "encrypt_code": extra["code"]}),
            422,
            "ticket_invalid",
        ),
        (
            Some(&token),
            json!({"activate_ticket": extra["activate_ticket"], "card_id": "pNOSUCHCARD00000000000000000", "encrypt_code": extra["code"]}),
            404,
            "card_not_found",
        ),
        (
            Some(&token),
            json!({"activate_ticket": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=", "card_id": extra["card_id"], "encrypt_code": extra["code"]}),
            422,
            "ticket_invalid",
        ),
        (
            Some(&token),
            json!({"activate_ticket": extra["activate_ticket"], "card_id": extra["card_id"], "encrypt_code": "<script>"}),
            422,
            "code_invalid",
        ),
        (
            Some(&token),
            json!({"activate_ticket": extra["activate_ticket"], "card_id": extra["card_id"], "encrypt_code": extra["code"], "extra": 1}),
            400,
            "invalid_json",
        ),
    ];
    for (i, (token, body, status, code)) in cases.into_iter().enumerate() {
        let response = post(token, body).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "case {i}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "case {i}: {body}");
    }
    let huge = json!({"activate_ticket": "A".repeat(100_000), "card_id": "x", "encrypt_code": "y"});
    let response = post(Some(&token), huge).await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(journey.member_count().await, 0, "nothing was stored");

    // The real ticket still works after all that, and another user cannot reuse it.
    assert_eq!(journey.activate(&token, &extra).await.status(), 200);
    let mallory = journey.login("mallory").await;
    let stolen = journey.activate(&mallory, &extra).await;
    assert_eq!(stolen.status(), 409);
    let body: Value = stolen.json().await.unwrap();
    assert_eq!(body["code"], "ticket_conflict");
    assert_eq!(journey.member_count().await, 1);
}

#[tokio::test]
async fn an_expired_ticket_is_refused_with_its_code() {
    let journey = Journey::start().await;
    let (token, extra) = journey.ready_ticket("dave").await;
    journey
        .sandbox
        .sim
        .advance_clock(std::time::Duration::from_secs(24 * 3600));
    let response = journey.activate(&token, &extra).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "ticket_expired");
    assert_eq!(journey.member_count().await, 0);
}

#[tokio::test]
async fn channels_are_checked_and_sessions_required() {
    let journey = Journey::start().await;
    let token = journey.login("erin").await;
    let unknown = journey
        .get(
            &token,
            &format!(
                "/api/v1/cards/{}/activation-params?channel=nope",
                journey.card_id()
            ),
        )
        .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["code"],
        "channel_not_found"
    );

    let channel = {
        use kaika_core::entity::channels;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        channels::Entity::find()
            .filter(channels::Column::OuterStr.eq("article"))
            .one(&journey.app.test_db.db)
            .await
            .unwrap()
            .unwrap()
    };
    kaika_core::channels::archive(&journey.app.test_db.db, channel.id)
        .await
        .unwrap();
    let archived = journey
        .get(
            &token,
            &format!(
                "/api/v1/cards/{}/activation-params?channel=article",
                journey.card_id()
            ),
        )
        .await;
    assert_eq!(archived.status(), 410);
    assert_eq!(
        archived.json::<Value>().await.unwrap()["code"],
        "channel_archived"
    );

    let no_session = journey
        .app
        .client
        .get(journey.app.url("/api/v1/cards"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_session.status(), 401);

    let bad_login = journey
        .app
        .client
        .post(journey.app.url("/api/v1/sessions"))
        .json(&json!({"code": "never-minted"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_login.status(), 400);
    assert_eq!(
        bad_login.json::<Value>().await.unwrap()["code"],
        "invalid_login_code"
    );
}

#[tokio::test]
async fn activation_params_are_cached_per_card_and_channel() {
    let journey = Journey::start().await;
    let token = journey.login("frank").await;
    let first = journey.params(&token, "store_front").await;
    journey.fault(
        "card/membercard/activate/geturl",
        json!({"kind": "errcode", "errcode": 45009}),
        100,
    );
    let second = journey.params(&token, "store_front").await;
    assert_eq!(
        first, second,
        "the second answer comes from the cache, not from WeChat"
    );
    let other = journey
        .get(
            &token,
            &format!("/api/v1/cards/{}/activation-params", journey.card_id()),
        )
        .await;
    assert_eq!(
        other.status(),
        503,
        "a cold entry asks WeChat, which is out of quota"
    );
    assert_eq!(
        other.json::<Value>().await.unwrap()["code"],
        "wechat_unavailable"
    );
}

#[tokio::test]
async fn the_openapi_document_lists_the_mini_program_api() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    for path in [
        "/api/v1/sessions",
        "/api/v1/activations",
        "/api/v1/me/cards",
        "/api/v1/me/cards/{card_id}/ledger",
        "/api/v1/cards/{card_id}/activation-params",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    let ledger_params: Vec<String> = doc["paths"]["/api/v1/me/cards/{card_id}/ledger"]["get"]
        ["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}:{}",
                p["in"].as_str().unwrap(),
                p["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        ledger_params,
        ["path:card_id", "query:cursor", "query:limit"]
    );
    // Every operation but the login names a security scheme, and every scheme it names is defined.
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let named: Vec<&str> = operation["security"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .flat_map(|req| req.as_object().unwrap().keys())
                        .map(String::as_str)
                        .collect()
                })
                .unwrap_or_default();
            if path == "/api/v1/sessions" {
                assert!(named.is_empty(), "{method} {path} needs no credential");
            } else {
                assert!(!named.is_empty(), "{method} {path} declares no security");
            }
            for name in named {
                assert!(
                    schemes.contains_key(name),
                    "{method} {path}: undefined scheme {name}"
                );
            }
        }
    }
    assert!(doc["info"]["description"]
        .as_str()
        .unwrap()
        .contains("Bearer"));
    // The error body's code is the enum of every code, and the member subset is part of it.
    let codes = |schema: &str| -> Vec<String> {
        doc["components"]["schemas"][schema]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema} lists no codes"))
            .iter()
            .map(|code| code.as_str().unwrap().to_owned())
            .collect()
    };
    let all = codes("ErrorCode");
    let expected: Vec<String> = kaika_server::error::ErrorCode::all()
        .map(|code| code.code().to_owned())
        .collect();
    assert_eq!(all, expected);
    for code in [
        "invalid_session",
        "ticket_expired",
        "invalid_signature",
        "idempotency_key_reused",
    ] {
        assert!(all.iter().any(|c| c == code), "{code} missing");
    }
    let member = codes("MemberErrorCode");
    assert!(member.iter().all(|code| all.contains(code)));
    assert!(member.iter().any(|c| c == "ticket_expired"));
    assert!(
        !member.iter().any(|c| c == "invalid_signature"),
        "a callback code"
    );
    assert_eq!(
        doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["$ref"],
        "#/components/schemas/ErrorCode"
    );
}

#[tokio::test]
async fn the_sandbox_page_plays_the_mini_program_in_a_browser() {
    let journey = Journey::start().await;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(journey.app.url("/sandbox"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(journey.card_id()), "the demo card is offered");
    assert!(page.contains("store_front"));

    let open = client
        .get(journey.app.url(&format!(
            "/sandbox/open?user=gina&card={}&channel=store_front",
            journey.card_id()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 303);
    let component = open.headers()["location"].to_str().unwrap().to_owned();
    assert!(component.starts_with("/sim/component?"), "{component}");
    let form = client
        .get(journey.app.url(&component))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("喜欢的咖啡"),
        "the component shows the configured form"
    );

    // Submit as the member would; the component answers with a redirect back to the return URL.
    let submit: Value = client
        .post(journey.app.url("/sim/component/submit"))
        .json(&json!({
            "encrypt_card_id": url_param(&component, "encrypt_card_id"),
            "outer_str": "store_front",
            "biz": url_param(&component, "biz"),
            "user": "gina",
            "answers": {"USER_FORM_INFO_FLAG_MOBILE": "13900139000", "USER_FORM_INFO_FLAG_NAME": "Gina", "喜欢的咖啡": "美式"},
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let back = format!(
        "/sandbox/return?user=gina&activate_ticket={}&card_id={}&code={}",
        urlencoding::encode(submit["activate_ticket"].as_str().unwrap()),
        urlencoding::encode(submit["card_id"].as_str().unwrap()),
        urlencoding::encode(submit["code"].as_str().unwrap()),
    );
    let member = client.get(journey.app.url(&back)).send().await.unwrap();
    assert_eq!(member.status(), 200);
    let html = member.text().await.unwrap();
    assert!(html.contains("KK00000001"), "{html}");
    assert!(html.contains("13900139000"));

    let backed_out = client
        .get(journey.app.url("/sandbox/return?user=gina"))
        .send()
        .await
        .unwrap();
    assert_eq!(backed_out.status(), 200);
    assert!(backed_out.text().await.unwrap().contains("not_finished"));

    // "My cards" follows the user chosen on the page, not the last one who opened a card here.
    let index = |user: &'static str| {
        let client = client.clone();
        let url = journey.app.url(&format!("/sandbox?user={user}"));
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert!(index("gina").await.contains("KK00000001"));
    assert!(!index("hugo").await.contains("KK00000001"));
}

fn url_param(url: &str, name: &str) -> String {
    let query = url.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == name).then(|| urlencoding::decode(v).unwrap().into_owned())
        })
        .unwrap()
}

#[tokio::test]
async fn a_deletion_applied_before_the_activation_is_stored_leaves_the_member_deleted() {
    use kaika_core::events::{Worker, WorkerSettings};
    let journey = Journey::start().await;
    let (token, extra) = journey.ready_ticket("henry").await;
    // WeChat activates the card but its answer comes too late: Kaika has not stored the member yet.
    journey.fault(
        "card/membercard/activate",
        json!({"kind": "delay", "ms": 2500}),
        1,
    );
    assert_eq!(journey.activate(&token, &extra).await.status(), 503);
    let code = journey.sandbox.sim.snapshot()["codes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["user"] == "henry")
        .unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // Meanwhile the member deletes the card; both pushes (user_get_card, user_del_card) are applied.
    journey.sandbox.sim.member_deletes_card(&code).unwrap();
    let ctx = kaika_server::startup::prepare(
        &kaika_server::config::Settings::from_figment(
            &kaika_server::config::Settings::figment(None)
                .unwrap()
                .merge(("database.url", journey.app.test_db.url.as_str()))
                .merge(("master_key", journey.app.master_key.to_base64())),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let worker = Worker::new(
        ctx.db.clone(),
        ctx.clients.clone(),
        WorkerSettings::default(),
    );
    let mut applied = 0;
    for _ in 0..50 {
        applied += worker.run_once().await.unwrap().claimed;
        if applied >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(applied >= 2, "both pushes arrived and were applied");
    // The retry finds the activation done at WeChat and stores the member: deleted, not active.
    let mut last = (0, Value::Null);
    for _ in 0..20 {
        let response = journey.activate(&token, &extra).await;
        last = (response.status().as_u16(), response.json().await.unwrap());
        if last.0 == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    assert_eq!(last.0, 200, "{}", last.1);
    let member = {
        use kaika_core::entity::members;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        members::Entity::find()
            .filter(members::Column::Code.eq(code.clone()))
            .one(&journey.app.test_db.db)
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(member.status, "deleted");
}

#[tokio::test]
async fn a_cold_burst_of_activation_params_asks_wechat_once() {
    let journey = Journey::start().await;
    let token = journey.login("ivy").await;
    let before = journey
        .sandbox
        .sim
        .api_calls("card/membercard/activate/geturl");
    let path = format!(
        "/api/v1/cards/{}/activation-params?channel=article",
        journey.card_id()
    );
    let answers = futures::future::join_all((0..20).map(|_| journey.get(&token, &path))).await;
    for answer in answers {
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(
        journey
            .sandbox
            .sim
            .api_calls("card/membercard/activate/geturl")
            - before,
        1
    );
}

// ------------------------------------------------------------------------------------------------
// No member is ever lost: a card active at WeChat always ends as a member
// ------------------------------------------------------------------------------------------------

impl Journey {
    /// A second process's activator over the same database (the background re-drive), with its own
    /// attempt budget and a back-off capped at one second.
    async fn background_activator(&self, max_attempts: i32) -> kaika_core::activation::Activator {
        self.second_process(|figment| {
            figment
                .merge(("wechat.timeout_ms", 1500))
                .merge(("wechat.busy_base_delay_ms", 10))
                .merge(("activation.retry_base_ms", 60_000))
                .merge(("activation.retry_max_secs", 1))
                .merge(("activation.max_attempts", max_attempts))
        })
        .await
        .activator
    }

    /// The context another process on the same database would build, with settings tuned by `tune`.
    async fn second_process(
        &self,
        tune: impl FnOnce(figment::Figment) -> figment::Figment,
    ) -> kaika_server::startup::Context {
        use kaika_server::config::Settings;
        let figment = Settings::figment(None)
            .unwrap()
            .merge(("database.url", self.app.test_db.url.as_str()))
            .merge(("master_key", self.app.master_key.to_base64()));
        let settings = Settings::from_figment(&tune(figment)).unwrap();
        kaika_server::startup::prepare(&settings).await.unwrap()
    }

    async fn activation_rows(&self) -> Vec<kaika_core::entity::activations::Model> {
        use kaika_core::entity::activations;
        use sea_orm::{EntityTrait, QueryOrder};
        activations::Entity::find()
            .order_by_asc(activations::Column::Id)
            .all(&self.app.test_db.db)
            .await
            .unwrap()
    }

    /// Makes every waiting activation due now, as if its back-off had passed.
    async fn make_due(&self) {
        use kaika_core::entity::activations;
        use sea_orm::sea_query::Expr;
        use sea_orm::EntityTrait;
        activations::Entity::update_many()
            .col_expr(
                activations::Column::NextAttemptAt,
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .exec(&self.app.test_db.db)
            .await
            .unwrap();
    }

    fn code_of(&self, user: &str) -> Vec<String> {
        self.sandbox.sim.snapshot()["codes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["user"] == user)
            .map(|c| c["code"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn member_by_code(&self, code: &str) -> Option<kaika_core::entity::members::Model> {
        use kaika_core::entity::members;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        members::Entity::find()
            .filter(members::Column::Code.eq(code))
            .one(&self.app.test_db.db)
            .await
            .unwrap()
    }

    /// Applies every event the simulator pushed so far.
    async fn apply_events(&self) {
        use kaika_core::events::{Worker, WorkerSettings};
        let ctx = self.second_process(|figment| figment).await;
        let worker = Worker::new(ctx.db, ctx.clients, WorkerSettings::default());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let pending = self
                .sandbox
                .sim
                .pushes()
                .into_iter()
                .filter(|p| p.outcome == kaika_wechat_sim::PushOutcome::Pending)
                .count();
            worker.drain().await.unwrap();
            if pending == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "pushes never delivered"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// WeChat takes `activate` into effect, the answer is lost, and then WeChat answers nothing but -1.
fn outage_after_activate(journey: &Journey) {
    journey.fault(
        "card/membercard/activate",
        json!({"kind": "drop", "apply": true}),
        1,
    );
}

fn start_outage(journey: &Journey) {
    let spec: FaultSpec =
        serde_json::from_value(json!({"path": "*", "fault": {"kind": "errcode", "errcode": -1}}))
            .unwrap();
    journey.sandbox.sim.add_fault(spec).unwrap();
}

#[tokio::test]
async fn member_retries_during_an_outage_after_activate_never_fail_the_activation() {
    let journey = Journey::start().await;
    let (token, extra) = journey.ready_ticket("olga").await;
    outage_after_activate(&journey);
    assert_eq!(journey.activate(&token, &extra).await.status(), 503);
    start_outage(&journey);
    // The member keeps retrying, far more often than the re-drive's budget of attempts.
    for i in 0..20 {
        let response = journey.activate(&token, &extra).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            (status, body["code"].as_str()),
            (503, Some("wechat_unavailable")),
            "retry {i}: {body}"
        );
    }
    let row = journey.activation_rows().await.remove(0);
    assert_eq!(row.step, "activate_sent", "{row:?}");
    assert_eq!(
        row.attempts, 0,
        "a member's retries spend no re-drive attempt"
    );
    let code = journey.code_of("olga").remove(0);
    assert!(journey.sandbox.sim.issued_code(&code).unwrap().has_active);
    // WeChat answers again: the next retry asks whether activate took effect and stores the member.
    journey.sandbox.sim.clear_faults();
    let response = journey.activate(&token, &extra).await;
    assert_eq!(response.status(), 200);
    assert_eq!(journey.member_count().await, 1);
    assert_eq!(
        journey.sandbox.sim.api_calls("card/membercard/activate"),
        1,
        "activate was never sent twice"
    );
}

#[tokio::test]
async fn the_re_drive_waits_out_an_outage_after_activate_however_many_attempts_it_takes() {
    let journey = Journey::start().await;
    let (token, extra) = journey.ready_ticket("pavel").await;
    outage_after_activate(&journey);
    assert_eq!(journey.activate(&token, &extra).await.status(), 503);
    start_outage(&journey);
    let background = journey.background_activator(3).await;
    // Ten re-drive passes, each past its back-off, against a budget of three attempts.
    for _ in 0..10 {
        journey.make_due().await;
        assert_eq!(background.redrive_due(10).await.unwrap(), 1);
    }
    let row = journey.activation_rows().await.remove(0);
    assert_eq!(row.step, "activate_sent", "{row:?}");
    assert_eq!(row.attempts, 10);
    // The back-off starts at a minute here but is capped at retry_max (one second).
    let waited = row.next_attempt_at.unwrap() - row.updated_at;
    assert!(
        waited <= chrono::Duration::milliseconds(1100),
        "the back-off is capped: {waited}"
    );
    assert!(row.last_error.as_deref().unwrap().contains("-1"), "{row:?}");
    journey.sandbox.sim.clear_faults();
    journey.make_due().await;
    assert_eq!(background.redrive_due(10).await.unwrap(), 1);
    let row = journey.activation_rows().await.remove(0);
    assert_eq!(row.step, "done", "{row:?}");
    let code = journey.code_of("pavel").remove(0);
    let member = journey.member_by_code(&code).await.unwrap();
    assert_eq!((member.status.as_str(), member.points), ("active", 100));
    // The member's next call gets the member at once.
    assert_eq!(journey.activate(&token, &extra).await.status(), 200);
}

#[tokio::test]
async fn a_re_drive_cut_short_by_a_stopping_process_gives_the_activation_back_at_once() {
    use kaika_core::entity::activations;
    use sea_orm::EntityTrait;

    let journey = Journey::start().await;
    let (token, extra) = journey.ready_ticket("quinn").await;
    outage_after_activate(&journey);
    assert_eq!(journey.activate(&token, &extra).await.status(), 503);
    // WeChat now takes far longer than the process may wait while it stops.
    let slow: FaultSpec =
        serde_json::from_value(json!({"path": "*", "fault": {"kind": "delay", "ms": 5000}}))
            .unwrap();
    journey.sandbox.sim.add_fault(slow).unwrap();
    let stopping = journey.background_activator(3).await;
    journey.make_due().await;
    let report = stopping
        .redrive_round_until(
            10,
            tokio::time::sleep(std::time::Duration::from_millis(300)),
        )
        .await
        .unwrap();
    assert_eq!((report.claimed, report.released, report.done), (1, 1, 0));
    let row = activations::Entity::find()
        .one(&journey.app.test_db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            row.step.as_str(),
            row.lease_holder.as_deref(),
            row.lease_until
        ),
        ("activate_sent", None, None),
        "{row:?}"
    );
    // Another process takes it over at once, without waiting for a lease to run out.
    journey.sandbox.sim.clear_faults();
    let other = journey.background_activator(3).await;
    assert_eq!(other.redrive_due(10).await.unwrap(), 1);
    assert_eq!(journey.activation_rows().await.remove(0).step, "done");
    assert_eq!(journey.activate(&token, &extra).await.status(), 200);
}

#[tokio::test]
async fn a_failed_activation_is_re_driven_by_an_operator_and_ends_as_a_member() {
    use kaika_core::entity::activations;
    use sea_orm::{ActiveModelTrait, Set};
    let journey = Journey::start().await;
    let (token, extra) = journey.ready_ticket("quinn").await;
    outage_after_activate(&journey);
    assert_eq!(journey.activate(&token, &extra).await.status(), 503);
    journey.sandbox.sim.clear_faults();
    // An activation that an older Kaika gave up on after activate was sent.
    let row = journey.activation_rows().await.remove(0);
    let mut failed: activations::ActiveModel = row.into();
    failed.step = Set("failed".into());
    failed.last_error = Set(Some("wechat_unavailable: gave up after 12 attempts".into()));
    failed.update(&journey.app.test_db.db).await.unwrap();
    let response = journey.activate(&token, &extra).await;
    assert_eq!(response.status(), 503, "a failed activation stays failed");

    let cli = |args: &[&str]| {
        std::process::Command::new(common::kaika_bin())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAIKA__DATABASE__URL", journey.app.test_db.url.as_str())
            .env("KAIKA__DATA_DIR", journey.app.data_dir.path())
            .env("KAIKA__MASTER_KEY", journey.app.master_key.to_base64())
            .env("KAIKA__LOG__LEVEL", "warn")
            .output()
            .unwrap()
    };
    let listed = cli(&["activations", "list"]);
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{listed:?}");
    assert!(out.contains("failed") && out.contains("gave up"), "{out}");
    let redriven = cli(&["activations", "redrive", "--failed"]);
    assert!(
        redriven.status.success(),
        "{}",
        String::from_utf8_lossy(&redriven.stderr)
    );
    assert!(String::from_utf8_lossy(&redriven.stdout).contains("done"));
    assert_eq!(journey.member_count().await, 1);
    assert_eq!(journey.sandbox.sim.api_calls("card/membercard/activate"), 1);
    let response = journey.activate(&token, &extra).await;
    assert_eq!(response.status(), 200);
    let nothing = cli(&["activations", "redrive"]);
    assert!(
        !nothing.status.success(),
        "no ids and no filter is an error"
    );
}

#[tokio::test]
async fn a_member_who_deleted_the_card_and_opens_it_again_is_stored_again() {
    let journey = Journey::start().await;
    let (token, extra) = journey.ready_ticket("rita").await;
    assert_eq!(journey.activate(&token, &extra).await.status(), 200);
    let first_code = journey.code_of("rita").remove(0);
    journey
        .sandbox
        .sim
        .member_deletes_card(&first_code)
        .unwrap();
    journey.apply_events().await;
    let first = journey.member_by_code(&first_code).await.unwrap();
    assert_eq!(first.status, "deleted");
    let openid = first.oa_openid.clone().unwrap();
    // She opens the card again; the push of the new code has not been applied.
    let (token, extra) = journey.ready_ticket("rita").await;
    let response = journey.activate(&token, &extra).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let codes = journey.code_of("rita");
    assert_eq!(codes.len(), 2);
    let second_code = codes.iter().find(|c| **c != first_code).unwrap();
    let second = journey.member_by_code(second_code).await.unwrap();
    assert_eq!(second.status, "active");
    assert_eq!(second.oa_openid.as_deref(), Some(openid.as_str()));
    let first = journey.member_by_code(&first_code).await.unwrap();
    assert_eq!(
        (first.status.as_str(), first.oa_openid.as_deref(), first.id),
        ("deleted", None, first.id),
        "the deleted member keeps its row and history, without the openid"
    );
    journey.apply_events().await;
    assert_eq!(journey.member_count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activations_and_the_event_worker_storing_the_same_members_never_conflict() {
    use kaika_core::entity::wechat_events;
    use sea_orm::EntityTrait;
    let journey = Journey::start().await;
    let mut tickets = Vec::new();
    for i in 0..16 {
        tickets.push(journey.ready_ticket(&format!("race{i}")).await);
    }
    let journey = std::sync::Arc::new(journey);
    let applying = tokio::spawn({
        let journey = journey.clone();
        async move {
            for _ in 0..3 {
                journey.apply_events().await;
            }
        }
    });
    let answers = futures::future::join_all(tickets.iter().map(|(token, extra)| {
        let journey = journey.clone();
        async move {
            let response = journey.activate(token, extra).await;
            (response.status().as_u16(), response.text().await.unwrap())
        }
    }))
    .await;
    applying.await.unwrap();
    journey.apply_events().await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
    }
    assert_eq!(journey.member_count().await, 16);
    let events = wechat_events::Entity::find()
        .all(&journey.app.test_db.db)
        .await
        .unwrap();
    for event in &events {
        assert_eq!(
            (event.status.as_str(), event.attempts),
            ("done", 1),
            "{event:?}"
        );
    }
}

#[tokio::test]
async fn every_api_error_is_the_documented_json_body() {
    use kaika_core::api_keys::{self, Scope};
    let journey = Journey::start().await;
    let token = journey.login("tess").await;
    let key = api_keys::create(
        &journey.app.test_db.db,
        "till",
        &[Scope::MembersRead, Scope::LedgerRead],
        "test",
    )
    .await
    .unwrap()
    .key;
    let client = &journey.app.client;
    let cases = [
        (
            client.get(journey.app.url("/api/v1/integration/members/abc")),
            Some(&key),
            400,
            "invalid_path",
        ),
        (
            client.get(
                journey
                    .app
                    .url("/api/v1/integration/members/1/ledger?limit=many"),
            ),
            Some(&key),
            400,
            "invalid_query",
        ),
        (
            client.get(journey.app.url("/api/v1/integration/nothing-here")),
            Some(&key),
            404,
            "not_found",
        ),
        (
            client.delete(journey.app.url("/api/v1/integration/members/1")),
            Some(&key),
            405,
            "method_not_allowed",
        ),
        (
            client.get(journey.app.url("/api/v1/nothing-here")),
            None,
            404,
            "not_found",
        ),
        (
            client.get(journey.app.url("/api/v1/activations")),
            Some(&token),
            405,
            "method_not_allowed",
        ),
        (
            client.get(journey.app.url(&format!(
                "/api/v1/me/cards/{}/ledger?limit=-1",
                journey.card_id()
            ))),
            Some(&token),
            400,
            "invalid_query",
        ),
    ];
    for (request, bearer, status, code) in cases {
        let request = match bearer {
            Some(bearer) => request.bearer_auth(bearer),
            None => request,
        };
        let response = request.send().await.unwrap();
        let url = response.url().to_string();
        assert_eq!(response.status().as_u16(), status, "{url}");
        if status == 405 {
            let allow = response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok());
            let expected = if url.ends_with("/activations") {
                "POST"
            } else {
                "GET"
            };
            assert_eq!(allow, Some(expected), "{url}");
        }
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{url}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{url}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn activate_refused_without_activating_is_sent_three_times_at_most_then_re_driven() {
    let journey = Journey::start().await;
    let (token, extra) = journey.ready_ticket("uma").await;
    // WeChat answers 40056 and, asked, says the card is not active: it would loop for ever.
    journey.fault(
        "card/membercard/activate",
        json!({"kind": "errcode", "errcode": 40056}),
        10,
    );
    let response = journey.activate(&token, &extra).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("activate_refused")),
        "{body}"
    );
    assert_eq!(journey.sandbox.sim.api_calls("card/membercard/activate"), 3);
    let row = journey.activation_rows().await.remove(0);
    assert_eq!((row.step.as_str(), row.activate_calls), ("failed", 3));
    let again = journey.activate(&token, &extra).await;
    assert_eq!(again.status(), 422, "a failed activation stays failed");
    assert_eq!(journey.sandbox.sim.api_calls("card/membercard/activate"), 3);
    // WeChat works again; an operator re-drives it.
    journey.sandbox.sim.clear_faults();
    let background = journey.background_activator(12).await;
    let row = background.redrive(row.id).await.unwrap();
    assert_eq!((row.step.as_str(), row.activate_calls), ("done", 1));
    assert_eq!(journey.activate(&token, &extra).await.status(), 200);
    assert_eq!(journey.sandbox.sim.api_calls("card/membercard/activate"), 4);
}

#[tokio::test]
async fn a_re_drive_out_of_attempts_that_sends_activate_into_a_lost_answer_keeps_waiting() {
    let journey = Journey::start().await;
    let (token, extra) = journey.ready_ticket("vera").await;
    // WeChat refuses the member's activate with -1 (not taken into effect; activate is never retried by
    // the client); the re-drive below has a budget of one attempt.
    journey.fault(
        "card/membercard/activate",
        json!({"kind": "errcode", "errcode": -1}),
        1,
    );
    assert_eq!(journey.activate(&token, &extra).await.status(), 503);
    let background = journey.background_activator(1).await;
    journey.make_due().await;
    // Now the probe says not active, activate is sent again, takes effect and its answer is lost, on the
    // pass that spends the re-drive's only attempt.
    journey.fault(
        "card/membercard/activate",
        json!({"kind": "drop", "apply": true}),
        1,
    );
    assert_eq!(background.redrive_due(10).await.unwrap(), 1);
    let row = journey.activation_rows().await.remove(0);
    assert_eq!(row.step, "activate_sent", "{row:?}");
    journey.make_due().await;
    assert_eq!(background.redrive_due(10).await.unwrap(), 1);
    let row = journey.activation_rows().await.remove(0);
    assert_eq!(row.step, "done", "{row:?}");
    assert_eq!(journey.sandbox.sim.api_calls("card/membercard/activate"), 2);
    assert_eq!(journey.sandbox.sim.activations_of_active_codes(), 0);
}
