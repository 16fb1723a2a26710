//! What a real merchant meets that the sandbox hid, over loopback HTTP against the simulator, on SQLite
//! and PostgreSQL: the after-submit page for members coming from the card bag, cards in review opened
//! by whitelisted testers, the review settled by `card/get` when the push is lost, token configuration
//! errors kept for the admin, and the go-live checklist.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

mod common;

use common::TestApp;
use kaika_core::accounts::AccountChanges;
use kaika_core::accounts::{self, AppId, MessageMode, NewAccount, SecretText};
use kaika_core::cards::{self as card_use_cases, NewMemberCard, ReviewCheck};
use kaika_core::clients::Clients;
use kaika_core::entity::{activations, cards, members};
use kaika_core::golive::{self, CheckState, PublicUrl};
use kaika_core::whitelist::{self, TestWhitelist};
use kaika_server::sandbox::{Sandbox, SandboxInfo};
use kaika_wechat::card::{ActivateUserFormRequest, CardColor};
use kaika_wechat::ClientConfig;
use kaika_wechat_sim::AccountSpec;
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, QueryOrder, Set};
use serde_json::{json, Value};

struct Merchant {
    app: TestApp,
    sandbox: Sandbox,
    info: SandboxInfo,
    clients: Clients,
}

impl Merchant {
    async fn start() -> Self {
        let (app, sandbox, info) = TestApp::sandbox().await;
        let clients = Clients::new(
            app.app_db.clone(),
            app.master_key.clone(),
            ClientConfig::default(),
        );
        Self {
            app,
            sandbox,
            info,
            clients,
        }
    }

    async fn card(&self, wechat_card_id: &str) -> cards::Model {
        card_use_cases::find(&self.app.app_db, wechat_card_id)
            .await
            .unwrap()
    }

    /// A second card, created like a merchant would: in WeChat's review, with the demo card's form.
    async fn card_in_review(&self, title: &str) -> cards::Model {
        let demo = self.card(&self.info.card_ids[0]).await;
        let form: ActivateUserFormRequest =
            serde_json::from_str(demo.activation_form.as_deref().unwrap()).unwrap();
        let client = self
            .clients
            .official_account(&self.info.app_id)
            .await
            .unwrap();
        let card = card_use_cases::create(
            &self.app.app_db,
            &client,
            demo.account_id,
            &NewMemberCard {
                title: title.into(),
                brand_name: "Kaika 咖啡".into(),
                color: CardColor::Color020,
                logo_url: demo.logo_url.clone(),
                notice: "出示会员码".into(),
                description: "审核中的卡".into(),
                prerogative: "会员价".into(),
                welcome_bonus: 0,
                membership_prefix: "RV".into(),
                after_submit_url: self.app.url(golive::ACTIVATE_PAGE_PATH),
                stored_value: None,
            },
        )
        .await
        .unwrap();
        card_use_cases::set_activation_form(&self.app.app_db, &client, &card, &form)
            .await
            .unwrap();
        let card = self.card(&card.wechat_card_id).await;
        assert_eq!(card.review_status, "pending");
        card
    }

    async fn login(&self, user: &str) -> String {
        self.app
            .login(&self.sandbox, &self.info.mini_app_id, user)
            .await
    }

    async fn params(&self, token: &str, card_id: &str) -> reqwest::Response {
        self.app
            .client
            .get(
                self.app
                    .url(&format!("/api/v1/cards/{card_id}/activation-params")),
            )
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn checklist(&self, public_url: Option<&PublicUrl>) -> Vec<golive::CheckLine> {
        golive::checklist(
            &self.app.app_db,
            &self.app.master_key,
            &self.clients,
            &self.info.app_id,
            public_url,
        )
        .await
        .unwrap()
    }

    /// Plays the member opening the card in the card bag and submitting the form: the URL WeChat
    /// redirects the in-app browser to.
    async fn card_bag_redirect(&self, card_id: &str, user: &str) -> String {
        let answer: Value = self
            .app
            .client
            .post(self.app.url("/sim/cardbag/submit"))
            .json(&json!({
                "card_id": card_id,
                "user": user,
                "answers": common::demo_answers(),
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["redirect"]
            .as_str()
            .unwrap_or_else(|| panic!("no redirect: {answer}"))
            .to_owned()
    }
}

/// The activation page's status and its stable code (`data-code`).
async fn open_page(app: &TestApp, url: &str) -> (u16, String, String) {
    let response = app.client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let html = response.text().await.unwrap();
    let code = html
        .split("data-code=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    (status, code, html)
}

#[tokio::test]
async fn a_member_who_left_the_component_finishes_from_the_card_bag_once() {
    let merchant = Merchant::start().await;
    let card_id = merchant.info.card_ids[0].clone();
    let token = merchant.login("alice").await;
    let params: Value = merchant
        .params(&token, &card_id)
        .await
        .json()
        .await
        .unwrap();
    // Alice fills the component's form, then leaves before the mini-program gets the ticket back.
    let left_behind = merchant
        .app
        .fill_component_form(&params["extra_data"], "alice")
        .await;
    assert_eq!(
        activations::Entity::find()
            .count(&merchant.app.app_db)
            .await
            .unwrap(),
        0
    );

    // Later she opens the card in her card bag: WeChat sends her to the card's after-submit page.
    let redirect = merchant.card_bag_redirect(&card_id, "alice").await;
    let page_url = merchant.app.url(golive::ACTIVATE_PAGE_PATH);
    assert!(redirect.starts_with(&format!("{page_url}?")), "{redirect}");
    for param in ["activate_ticket=", "encrypt_code=", "card_id=", "openid="] {
        assert!(redirect.contains(param), "{param} missing: {redirect}");
    }
    let (status, code, html) = open_page(&merchant.app, &redirect).await;
    assert_eq!((status, code.as_str()), (200, "activated"), "{html}");
    let member = members::Entity::find()
        .one(&merchant.app.app_db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(member.status, "active");
    let number = member.membership_number.clone().unwrap();
    assert!(
        html.contains(&number),
        "the page shows the membership number: {html}"
    );
    assert!(
        html.contains("id=\"balance\""),
        "the demo card has stored value"
    );

    // The same URL again (back button, a forwarded link) shows the result and activates nothing.
    let (status, code, html) = open_page(&merchant.app, &redirect).await;
    assert_eq!((status, code.as_str()), (200, "activated"));
    assert!(html.contains(&number));
    let activate_calls = merchant.sandbox.sim.api_calls("card/membercard/activate");
    assert_eq!(activate_calls, 1);

    // The ticket she left behind in the component reaches Kaika after all: the same member, not two.
    let response = merchant.app.activate(&token, &left_behind).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let body: Value = merchant
        .app
        .activate(&token, &left_behind)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["membership_number"], number.as_str());
    assert_eq!(
        members::Entity::find()
            .count(&merchant.app.app_db)
            .await
            .unwrap(),
        1
    );
    assert_eq!(merchant.sandbox.sim.activations_of_active_codes(), 1);
}

#[tokio::test]
async fn the_activate_page_answers_incomplete_and_forged_links_with_a_sentence() {
    let merchant = Merchant::start().await;
    let page = merchant.app.url(golive::ACTIVATE_PAGE_PATH);
    let (status, code, html) = open_page(&merchant.app, &page).await;
    assert_eq!((status, code.as_str()), (400, "missing_parameter"));
    assert!(html.contains("链接不完整"), "{html}");
    let (status, code, _) = open_page(
        &merchant.app,
        &format!("{page}?activate_ticket=abc&encrypt_code=&card_id=p1"),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "missing_parameter"));

    let card_id = &merchant.info.card_ids[0];
    let forged = format!(
        "{page}?activate_ticket={}&encrypt_code={}&card_id={card_id}&openid=o1",
        urlencoding::encode(&"A".repeat(108)),
        urlencoding::encode(&format!("{}=", "B".repeat(43))),
    );
    let (status, code, html) = open_page(&merchant.app, &forged).await;
    assert!((400..500).contains(&status), "{status}: {html}");
    assert!(
        ["ticket_invalid", "code_invalid"].contains(&code.as_str()),
        "{code}: {html}"
    );
    let unknown = format!(
        "{page}?activate_ticket=abc&encrypt_code=def&card_id=pNoSuchCard000000000000000&openid=o1"
    );
    let (status, code, _) = open_page(&merchant.app, &unknown).await;
    assert_eq!((status, code.as_str()), (404, "card_not_found"));
    assert_eq!(
        members::Entity::find()
            .count(&merchant.app.app_db)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn whitelisted_testers_open_a_card_still_in_review_and_others_wait() {
    let merchant = Merchant::start().await;
    let card = merchant.card_in_review("审核卡").await;
    let tess = merchant.login("tess").await;
    let bob = merchant.login("bob").await;
    // Testers find their mini-program openid in the mini-program's debug view; here, in the session.
    let tess_mini = kaika_core::entity::mini_sessions::Entity::find()
        .order_by_asc(kaika_core::entity::mini_sessions::Column::CreatedAt)
        .one(&merchant.app.app_db)
        .await
        .unwrap()
        .unwrap()
        .mini_openid;

    // Before the whitelist, nobody gets the parameters of a card in review.
    let refused = merchant.params(&tess, &card.wechat_card_id).await;
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "card_not_approved");

    let client = merchant
        .clients
        .official_account(&merchant.info.app_id)
        .await
        .unwrap();
    let testers = TestWhitelist::parse("", "tess", &tess_mini).unwrap();
    whitelist::set(&merchant.app.app_db, &client, card.account_id, &testers)
        .await
        .unwrap();
    assert_eq!(
        whitelist::load(&merchant.app.app_db, card.account_id)
            .await
            .unwrap(),
        testers
    );
    assert_eq!(
        merchant
            .sandbox
            .sim
            .test_whitelist(&merchant.info.app_id)
            .username,
        ["tess"]
    );

    // Tess, a tester, walks the whole journey on the card in review.
    let response = merchant.params(&tess, &card.wechat_card_id).await;
    assert_eq!(response.status(), 200);
    let params: Value = response.json().await.unwrap();
    let extra = merchant
        .app
        .fill_component_form(&params["extra_data"], "tess")
        .await;
    let response = merchant.app.activate(&tess, &extra).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let member: Value = response.json().await.unwrap();
    assert_eq!(member["status"], "active");
    assert!(member["membership_number"]
        .as_str()
        .unwrap()
        .starts_with("RV"));

    // Bob is not a tester: Kaika does not hand him the parameters, and WeChat would not let him in.
    let response = merchant.params(&bob, &card.wechat_card_id).await;
    assert_eq!(response.status(), 409);
    let refused: Value = merchant
        .app
        .client
        .post(merchant.app.url("/sim/component/submit"))
        .json(&json!({
            "encrypt_card_id": params["extra_data"]["encrypt_card_id"],
            "biz": params["extra_data"]["biz"],
            "user": "bob",
            "answers": {},
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refused["errcode"], 40078, "{refused}");

    // A list WeChat would refuse is refused before it is sent.
    assert!(TestWhitelist::parse("o<1>", "", "").is_err());
}

#[tokio::test]
async fn a_card_whose_pass_push_is_lost_is_settled_by_the_review_poll() {
    let merchant = Merchant::start().await;
    let db = &merchant.app.app_db;
    let max = std::time::Duration::from_secs(3600);
    let approved = merchant.card_in_review("待审A").await;
    let refused = merchant.card_in_review("待审B").await;

    // First look: WeChat still reviews both; each check is counted and backs off.
    assert_eq!(
        card_use_cases::poll_reviews(db, &merchant.clients, max)
            .await
            .unwrap(),
        0
    );
    let checked = merchant.card(&approved.wechat_card_id).await;
    assert_eq!(
        (checked.review_status.as_str(), checked.review_checks),
        ("pending", 1)
    );

    // WeChat decides. No event worker runs here, so the pushes are stored but never applied: as if lost.
    merchant
        .sandbox
        .sim
        .approve_card(&approved.wechat_card_id)
        .unwrap();
    merchant
        .sandbox
        .sim
        .refuse_card(&refused.wechat_card_id, "logo unclear")
        .unwrap();
    assert_eq!(
        card_use_cases::poll_reviews(db, &merchant.clients, max)
            .await
            .unwrap(),
        0,
        "a minute has not passed since the last check"
    );
    assert_eq!(
        merchant.card(&approved.wechat_card_id).await.review_status,
        "pending"
    );

    // A minute later the poll asks again and settles both.
    for card in [&approved, &refused] {
        let mut row: cards::ActiveModel = merchant.card(&card.wechat_card_id).await.into();
        row.review_checked_at = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(61)));
        row.update(db).await.unwrap();
    }
    assert_eq!(
        card_use_cases::poll_reviews(db, &merchant.clients, max)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        merchant.card(&approved.wechat_card_id).await.review_status,
        "approved"
    );
    let refused_now = merchant.card(&refused.wechat_card_id).await;
    assert_eq!(refused_now.review_status, "refused");
    assert!(refused_now.refuse_reason.unwrap().contains("refused"));
    // Settled cards are not asked about again.
    assert!(card_use_cases::due_review_checks(db, max)
        .await
        .unwrap()
        .is_empty());

    // The admin's "refresh from WeChat" on an approved card changes nothing.
    let client = merchant
        .clients
        .official_account(&merchant.info.app_id)
        .await
        .unwrap();
    let card = merchant.card(&approved.wechat_card_id).await;
    assert_eq!(
        card_use_cases::refresh_review(db, &client, &card)
            .await
            .unwrap(),
        ReviewCheck::Approved
    );
}

#[test]
fn review_checks_back_off_from_a_minute_to_the_cap() {
    let max = std::time::Duration::from_secs(3600);
    let delays: Vec<u64> = (0..8)
        .map(|checks| card_use_cases::review_check_delay(checks, max).as_secs())
        .collect();
    assert_eq!(delays, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
}

#[tokio::test]
async fn a_wrong_app_secret_is_kept_on_the_account_until_a_token_is_fetched() {
    let merchant = Merchant::start().await;
    let sandbox_account = accounts::load(
        &merchant.app.app_db,
        &merchant.app.master_key,
        &merchant.info.app_id,
    )
    .await
    .unwrap();
    let at_wechat = merchant
        .sandbox
        .sim
        .create_account(AccountSpec::default())
        .unwrap();
    accounts::add(
        &merchant.app.app_db,
        &merchant.app.master_key,
        NewAccount {
            name: "正式号".into(),
            app_id: AppId::parse(&at_wechat.app_id).unwrap(),
            app_secret: SecretText::new("ffffffffffffffffffffffffffffffff"),
            callback_token: at_wechat.token.clone(),
            encoding_aes_key: Some(SecretText::new(&at_wechat.encoding_aes_key)),
            message_mode: MessageMode::Safe,
            mini_program: None,
            api_base_url: sandbox_account.summary.api_base_url.clone(),
            is_sandbox: false,
        },
    )
    .await
    .unwrap();
    let client = merchant
        .clients
        .official_account(&at_wechat.app_id)
        .await
        .unwrap();
    let before = merchant.sandbox.sim.api_calls("cgi-bin/stable_token");
    let err = client.access_token().await.unwrap_err();
    assert_eq!(err.errcode(), Some(40125));
    assert_eq!(
        merchant.sandbox.sim.api_calls("cgi-bin/stable_token") - before,
        1,
        "a wrong secret is not retried"
    );
    let summary = accounts::load(
        &merchant.app.app_db,
        &merchant.app.master_key,
        &at_wechat.app_id,
    )
    .await
    .unwrap()
    .summary;
    let stored = summary.token_error.unwrap();
    assert!(stored.contains("40125"), "{stored}");
    assert!(summary.token_error_at.is_some());
    let lines = golive::checklist(
        &merchant.app.app_db,
        &merchant.app.master_key,
        &merchant.clients,
        &at_wechat.app_id,
        None,
    )
    .await
    .unwrap();
    let token_line = lines.iter().find(|l| l.id == "access_token").unwrap();
    assert_eq!(token_line.state, CheckState::Failed);
    assert!(
        token_line.detail.contains("AppSecret"),
        "{}",
        token_line.detail
    );

    // The merchant pastes the right secret: the next token clears the error.
    kaika_core::accounts::update(
        &merchant.app.app_db,
        &merchant.app.master_key,
        &at_wechat.app_id,
        AccountChanges {
            app_secret: Some(SecretText::new(&at_wechat.app_secret)),
            ..AccountChanges::default()
        },
    )
    .await
    .unwrap();
    merchant.clients.forget(&at_wechat.app_id);
    merchant
        .clients
        .official_account(&at_wechat.app_id)
        .await
        .unwrap()
        .access_token()
        .await
        .unwrap();
    let summary = accounts::load(
        &merchant.app.app_db,
        &merchant.app.master_key,
        &at_wechat.app_id,
    )
    .await
    .unwrap()
    .summary;
    assert_eq!(summary.token_error, None);
}

#[tokio::test]
async fn the_checklist_says_what_works_and_what_to_paste() {
    let merchant = Merchant::start().await;
    // The simulator pushes the demo card's approval in the background: wait until it is stored.
    let account_id = merchant.card(&merchant.info.card_ids[0]).await.account_id;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while kaika_core::events::last_push(&merchant.app.app_db, account_id)
        .await
        .unwrap()
        .is_none()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the approval push never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let lines = merchant.checklist(None).await;
    let ids: Vec<&str> = lines.iter().map(|l| l.id).collect();
    assert_eq!(
        ids,
        [
            "public_url",
            "server_url",
            "message_mode",
            "access_token",
            "mini_program",
            "card"
        ]
    );
    let line =
        |lines: &[golive::CheckLine], id: &str| lines.iter().find(|l| l.id == id).unwrap().clone();
    let public = line(&lines, "public_url");
    assert_eq!(public.state, CheckState::Failed);
    assert!(public.detail.contains("KAIKA__SERVER__PUBLIC_URL"));
    // The sandbox's demo card was approved with a push: verified and stored.
    assert_eq!(line(&lines, "server_url").state, CheckState::Ok);
    assert_eq!(line(&lines, "message_mode").state, CheckState::Ok);
    assert_eq!(line(&lines, "access_token").state, CheckState::Ok);
    let card = line(&lines, "card");
    assert_eq!(card.state, CheckState::Ok, "{}", card.detail);
    assert_eq!(card.subject.as_deref(), Some("开卡会员卡"));

    // With this server's address as the public URL: answers, but it is not HTTPS.
    let public_url = PublicUrl::parse(&merchant.app.base_url).unwrap();
    let lines = merchant.checklist(Some(&public_url)).await;
    let public = line(&lines, "public_url");
    assert_eq!(public.state, CheckState::Failed);
    assert!(public.detail.contains("not HTTPS"), "{}", public.detail);
    let server = line(&lines, "server_url");
    assert!(server.paste.contains(&(
        "server_url",
        format!(
            "{}/wechat/{}/callback",
            merchant.app.base_url, merchant.info.app_id
        )
    )));
    let card = line(&lines, "card");
    assert_eq!(card.state, CheckState::Ok, "{}", card.detail);
    assert!(card
        .paste
        .contains(&("after_submit_url", merchant.app.url("/m/activate"))));
    assert_eq!(
        line(&lines, "mini_program").paste,
        [("request_domain", merchant.app.base_url.clone())]
    );
    // An address where nothing answers.
    let nowhere = PublicUrl::parse("https://127.0.0.1:9").unwrap();
    let lines = merchant.checklist(Some(&nowhere)).await;
    let public = line(&lines, "public_url");
    assert_eq!(public.state, CheckState::Failed);
    assert!(
        public.detail.contains("does not answer"),
        "{}",
        public.detail
    );
    // A card whose after-submit URL is not the public URL's page is flagged.
    let card = line(&lines, "card");
    assert_eq!(card.state, CheckState::Failed);
    assert!(card.detail.contains("after-submit URL"), "{}", card.detail);

    // A forged callback request turns the server line red with its cause.
    let response = merchant
        .app
        .client
        .post(merchant.app.url(&format!(
            "/wechat/{}/callback?signature=0&timestamp=1&nonce=1",
            merchant.info.app_id
        )))
        .body("<xml/>")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let lines = merchant.checklist(None).await;
    let server = line(&lines, "server_url");
    assert_eq!(server.state, CheckState::Failed);
    assert!(server.detail.contains("Token"), "{}", server.detail);
}
