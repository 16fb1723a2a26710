//! The admin dashboard, black-box: a real server in sandbox mode, a cookie-keeping client, and the HTML
//! queried with CSS selectors.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure must stop the test at once"
)]

mod common;

use common::TestApp;
use kaika_core::admin::{self, Role};
use kaika_core::entity::{cards, members};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use scraper::{Html, Selector};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

const PASSWORD: &str = "correct horse battery";

fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    doc.select(&Selector::parse(css).unwrap()).collect()
}

fn text(doc: &Html, css: &str) -> String {
    select(doc, css)
        .first()
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .unwrap_or_else(|| panic!("nothing matches {css}"))
}

fn attr(doc: &Html, css: &str, name: &str) -> String {
    select(doc, css)
        .first()
        .and_then(|e| e.value().attr(name))
        .unwrap_or_else(|| panic!("no {name} on {css}"))
        .to_owned()
}

struct Browser {
    client: Client,
    base: String,
}

impl Browser {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn page(&self, path: &str) -> Html {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        Html::parse_document(&response.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The CSRF token of a page's forms.
    async fn csrf(&self, path: &str) -> String {
        attr(&self.page(path).await, "input[name=csrf]", "value")
    }

    async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        let csrf = self.csrf("/admin/login").await;
        self.post(
            "/admin/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
            ],
        )
        .await
    }
}

async fn add_admin(app: &TestApp, username: &str, role: Role) {
    let hash = kaika_admin::password::hash(PASSWORD).unwrap();
    admin::create_user(&app.app_db, username, &hash, role)
        .await
        .unwrap();
}

async fn logged_in(app: &TestApp, username: &str, role: Role) -> Browser {
    add_admin(app, username, role).await;
    let browser = Browser {
        client: client(),
        base: app.base_url.clone(),
    };
    let response = browser.login(username, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    browser
}

async fn demo_card(app: &TestApp) -> cards::Model {
    cards::Entity::find()
        .all(&app.app_db)
        .await
        .unwrap()
        .remove(0)
}

async fn member_with_answers(app: &TestApp, card_id: i64) -> i64 {
    let id = kaika_core::testing::seed_member(&app.app_db, card_id, "123456789012").await;
    let mut row: members::ActiveModel = members::Entity::find_by_id(id)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap()
        .into();
    row.membership_number = Set(Some("KK00000042".into()));
    row.form_answers = Set(Some(
        r#"{"common_field_list":[{"name":"USER_FORM_INFO_FLAG_NAME","value":"张三丰"},{"name":"USER_FORM_INFO_FLAG_MOBILE","value":"13800135678"}],"custom_field_list":[]}"#.into(),
    ));
    row.update(&app.app_db).await.unwrap();
    id
}

#[tokio::test]
async fn pages_redirect_to_the_login_page_without_a_session() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let browser = Browser {
        client: client(),
        base: app.base_url.clone(),
    };
    for path in [
        "/admin",
        "/admin/cards",
        "/admin/members",
        "/admin/channels/1",
    ] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()["location"], "/admin/login");
    }
}

#[tokio::test]
async fn the_login_page_is_chinese_by_default_and_english_after_the_switch() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let browser = Browser {
        client: client(),
        base: app.base_url.clone(),
    };
    let doc = browser.page("/admin/login").await;
    assert_eq!(attr(&doc, "html", "lang"), "zh-CN");
    assert_eq!(text(&doc, "h1"), "登录");
    assert_eq!(text(&doc, "label[for=username]"), "用户名");
    let response = browser.get("/admin/lang/en?next=/admin/login").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/admin/login");
    let doc = browser.page("/admin/login").await;
    assert_eq!(attr(&doc, "html", "lang"), "en");
    assert_eq!(text(&doc, "h1"), "Log in");
    // The switch never redirects to another site.
    let response = browser
        .get("/admin/lang/zh?next=//evil.example/admin")
        .await;
    assert_eq!(response.headers()["location"], "/admin");
}

#[tokio::test]
async fn the_session_cookie_is_strict_http_only_and_scoped_and_pages_carry_security_headers() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    add_admin(&app, "owner", Role::Owner).await;
    let browser = Browser {
        client: client(),
        base: app.base_url.clone(),
    };
    let response = browser.login("owner", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/admin");
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("kaika_admin="))
        .unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http must not get a Secure cookie: {cookie}"
    );
    let response = browser.get("/admin").await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert!(
        select(&doc, "script:not([src])").is_empty(),
        "no inline script"
    );
    assert!(select(&doc, "[style]").is_empty(), "no inline style");
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_the_account_is_locked_after_five() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    add_admin(&app, "owner", Role::Owner).await;
    let browser = Browser {
        client: client(),
        base: app.base_url.clone(),
    };
    for _ in 0..5 {
        let response = browser.login("owner", "wrong password!").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let doc = Html::parse_document(&response.text().await.unwrap());
        assert_eq!(text(&doc, "#login-error"), "用户名或密码错误。");
    }
    let response = browser.login("owner", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        admin::count_sessions(&app.app_db, 1).await.unwrap(),
        0,
        "a locked account gets no session even with the right password"
    );
}

#[tokio::test]
async fn login_rotates_the_session_and_logout_everywhere_ends_every_session() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let first = logged_in(&app, "owner", Role::Owner).await;
    let second = Browser {
        client: client(),
        base: app.base_url.clone(),
    };
    assert_eq!(
        second.login("owner", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let csrf_before = first.csrf("/admin").await;
    // Logging in again in the same browser replaces its session.
    assert_eq!(
        first.login("owner", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let csrf_after = first.csrf("/admin").await;
    assert_ne!(csrf_before, csrf_after);
    assert_eq!(admin::count_sessions(&app.app_db, 1).await.unwrap(), 2);
    let response = first
        .post("/admin/logout-everywhere", &[("csrf", &csrf_after)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(second.get("/admin").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(first.get("/admin").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forms_without_the_session_token_or_from_another_site_are_refused() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "owner", Role::Owner).await;
    let card = demo_card(&app).await;
    let path = format!("/admin/cards/{}", card.id);
    let response = browser
        .post(&path, &[("csrf", "forged"), ("welcome_bonus", "5")])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let csrf = browser.csrf(&path).await;
    let response = browser
        .client
        .post(format!("{}{path}", app.base_url))
        .header("Origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str()), ("welcome_bonus", "5")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(demo_card(&app).await.welcome_bonus, card.welcome_bonus);
    let response = browser
        .post(&path, &[("csrf", &csrf), ("welcome_bonus", "5")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(demo_card(&app).await.welcome_bonus, 5);
}

#[tokio::test]
async fn the_dashboard_shows_the_numbers_the_chart_and_the_sandbox_banner() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let card = demo_card(&app).await;
    member_with_answers(&app, card.id).await;
    kaika_core::stats::count(
        &app.app_db,
        card.id,
        "store_front",
        kaika_core::stats::FunnelStep::Claimed,
    )
    .await
    .unwrap();
    let browser = logged_in(&app, "owner", Role::Owner).await;
    let doc = browser.page("/admin").await;
    assert_eq!(text(&doc, "#n-members .value"), "1");
    assert_eq!(text(&doc, "#n-today .value"), "1");
    assert_eq!(select(&doc, "svg#daily-chart rect.bar").len(), 60);
    assert_eq!(
        select(&doc, "svg#daily-chart rect.bar.claimed[height='186.0']").len(),
        1
    );
    assert_eq!(attr(&doc, "#sandbox-banner a", "href"), "/sandbox");
    let rate = select(&doc, "#channel-rates tbody tr")
        .into_iter()
        .find(|tr| tr.text().any(|t| t.contains("门店海报")))
        .unwrap();
    assert_eq!(rate.text().filter(|t| t.trim() == "0%").count(), 1);
}

fn card_form(csrf: &str, title: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("csrf", csrf.to_owned())
        .text("account", "")
        .text("title", title.to_owned())
        .text("brand_name", "一二三四五六七八九十一二三")
        .text("color", "Color999")
        .text("logo_url", "")
        .text("notice", "一二三四五六七八九十一二三四五六七")
        .text("description", "说".repeat(1025))
        .text("prerogative", "")
        .text("welcome_bonus", "-1")
        .text("membership_prefix", "TOO-LONG-PREFIX")
        .text("after_submit_url", "ftp://x")
        .text("action", "create")
}

#[tokio::test]
async fn every_card_limit_is_reported_next_to_its_field_in_both_languages() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "operator", Role::Operator).await;
    let csrf = browser.csrf("/admin/cards/new").await;
    let send = |form| {
        browser
            .client
            .post(format!("{}/admin/cards", app.base_url))
            .multipart(form)
            .send()
    };
    let response = send(card_form(&csrf, "一二三四五六七八九十"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let doc = Html::parse_document(&response.text().await.unwrap());
    let expected = [
        ("#account-error", "请选择公众号。"),
        ("#title-error", "最多 9 个字，当前 10 个。"),
        ("#brand_name-error", "最多 12 个字，当前 13 个。"),
        ("#notice-error", "最多 16 个字，当前 17 个。"),
        ("#description-error", "最多 1024 个字，当前 1025 个。"),
        ("#prerogative-error", "必填。"),
        ("#color-error", "请选择微信色板中的颜色。"),
        ("#logo-error", "请上传 Logo。"),
        ("#welcome_bonus-error", "请输入 0 到 100000000 之间的整数。"),
        ("#membership_prefix-error", "最多 8 位字母或数字。"),
        (
            "#after_submit_url-error",
            "请输入以 http:// 或 https:// 开头的网址。",
        ),
    ];
    for (css, message) in expected {
        assert_eq!(text(&doc, css), message, "{css}");
        // The message follows its own input.
        let field = css.trim_start_matches('#').trim_end_matches("-error");
        assert!(
            !select(&doc, &format!("#{field} ~ {css}, #{field}")).is_empty(),
            "{field}"
        );
    }
    // Nine CJK characters are 27 bytes and still fit: limits count characters.
    let response = send(card_form(&csrf, "一二三四五六七八九")).await.unwrap();
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert!(select(&doc, "#title-error").is_empty());
    browser.get("/admin/lang/en").await;
    let response = send(card_form(&csrf, "一二三四五六七八九十"))
        .await
        .unwrap();
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        text(&doc, "#title-error"),
        "At most 9 characters; this has 10."
    );
    assert_eq!(text(&doc, "#logo-error"), "Upload a logo.");
    assert_eq!(text(&doc, "#prerogative-error"), "Required.");
    assert_eq!(
        cards::Entity::find().all(&app.app_db).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn a_card_is_created_with_its_logo_uploaded_and_previewed_without_javascript() {
    let (app, _sandbox, info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "operator", Role::Operator).await;
    let csrf = browser.csrf("/admin/cards/new").await;
    let png = b"\x89PNG\r\n\x1a\n0000000000000000".to_vec();
    let form = |action: &str, logo: Option<Vec<u8>>, logo_url: &str| {
        let mut form = reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .text("account", info.app_id.clone())
            .text("title", "金卡会员")
            .text("brand_name", "开卡咖啡")
            .text("color", "Color050")
            .text("logo_url", logo_url.to_owned())
            .text("notice", "出示会员码")
            .text("description", "说明")
            .text("prerogative", "九折")
            .text("welcome_bonus", "50")
            .text("membership_prefix", "GD")
            .text("after_submit_url", format!("{}/sandbox", app.base_url))
            .text("action", action.to_owned());
        if let Some(bytes) = logo {
            form = form.part(
                "logo",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name("logo.png")
                    .mime_str("image/png")
                    .unwrap(),
            );
        }
        form
    };
    let response = browser
        .client
        .post(format!("{}/admin/cards", app.base_url))
        .multipart(form("preview", Some(png), ""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&doc, "#preview-title"), "金卡会员");
    assert_eq!(text(&doc, "#preview-brand"), "开卡咖啡");
    assert!(attr(&doc, "#card-preview", "class").contains("color-Color050"));
    let logo_url = attr(&doc, "#logo_url", "value");
    assert!(logo_url.starts_with("http"), "{logo_url}");
    assert_eq!(attr(&doc, "#preview-logo", "src"), logo_url);
    let response = browser
        .client
        .post(format!("{}/admin/cards", app.base_url))
        .multipart(form("create", None, &logo_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let stored = cards::Entity::find().all(&app.app_db).await.unwrap();
    let card = stored.iter().find(|c| c.title == "金卡会员").unwrap();
    assert_eq!(
        (card.logo_url.as_str(), card.welcome_bonus),
        (logo_url.as_str(), 50)
    );
    let doc = browser.page("/admin/cards").await;
    let row = format!(
        "tr.card-row[data-card-id='{}'] .review",
        card.wechat_card_id
    );
    assert_eq!(text(&doc, &row), "审核中");
    let (audit, _) = admin::audit_page(&app.app_db, 0, 10).await.unwrap();
    assert!(audit
        .iter()
        .any(|a| a.action == "card.create" && a.actor == "admin:operator"));
}

#[tokio::test]
async fn the_form_designer_reports_every_limit_and_pushes_a_valid_form() {
    let (app, sandbox, _info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "operator", Role::Operator).await;
    let card = demo_card(&app).await;
    let path = format!("/admin/cards/{}/form", card.id);
    let doc = browser.page(&path).await;
    assert_eq!(select(&doc, "tr.common-field").len(), 12);
    assert_eq!(
        text(
            &doc,
            "tr.common-field[data-flag=USER_FORM_INFO_FLAG_MOBILE] th"
        ),
        "手机号"
    );
    let csrf = attr(&doc, "input[name=csrf]", "value");
    let long_name = "问".repeat(33);
    let mut bad: Vec<(&str, &str)> = vec![
        ("csrf", &csrf),
        ("custom_required", "一\n二\n三\n四\n五\n六"),
        ("rich0_type", "FORM_FIELD_RADIO"),
        ("rich0_name", &long_name),
        ("rich0_place", "required"),
        ("rich0_values", "甲"),
        ("rich1_type", "FORM_FIELD_SELECT"),
        ("rich1_name", "喜好"),
        ("rich1_place", "optional"),
        ("rich1_values", ""),
        ("service_name", "会员守则"),
        ("service_url", ""),
        ("bind_name", ""),
        ("bind_url", "not a url"),
        ("action", "save"),
    ];
    let response = browser.post(&path, &bad).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        text(&doc, "#custom_required-error"),
        "最多 5 个自定义字段，当前 6 个。"
    );
    assert_eq!(
        text(&doc, "#rich0_name-error"),
        "最多 32 个字，当前 33 个。"
    );
    assert_eq!(text(&doc, "#rich1_values-error"), "至少填写一个选项。");
    assert_eq!(text(&doc, "#service_url-error"), "请填写链接地址。");
    assert_eq!(
        text(&doc, "#bind_url-error"),
        "请输入以 http:// 或 https:// 开头的网址。"
    );
    let too_many: Vec<(String, String)> = (0..6)
        .flat_map(|i| {
            [
                (format!("rich{i}_type"), "FORM_FIELD_CHECK_BOX".to_owned()),
                (format!("rich{i}_name"), format!("题{i}")),
                (format!("rich{i}_place"), "required".to_owned()),
                (format!("rich{i}_values"), "甲\n乙".to_owned()),
            ]
        })
        .chain([
            ("csrf".to_owned(), csrf.clone()),
            ("action".to_owned(), "save".to_owned()),
        ])
        .collect();
    let response = browser
        .client
        .post(format!("{}{path}", app.base_url))
        .form(&too_many)
        .send()
        .await
        .unwrap();
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        text(&doc, "#rich_required-error"),
        "最多 5 个选择题，当前 6 个。"
    );
    browser.get("/admin/lang/en").await;
    let response = browser.post(&path, &bad).await;
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        text(&doc, "#rich1_values-error"),
        "Give at least one choice."
    );
    assert_eq!(
        text(&doc, "#custom_required-error"),
        "At most 5 free-text questions; this has 6."
    );
    bad = vec![
        ("csrf", &csrf),
        ("common_USER_FORM_INFO_FLAG_MOBILE", "required"),
        ("common_USER_FORM_INFO_FLAG_BIRTHDAY", "optional"),
        ("custom_optional", "喜欢的电影"),
        ("rich0_type", "FORM_FIELD_RADIO"),
        ("rich0_name", "兴趣"),
        ("rich0_place", "required"),
        ("rich0_values", "钢琴\n舞蹈"),
        ("can_modify_optional", "on"),
        ("service_name", "会员守则"),
        ("service_url", "https://example.com/terms"),
        ("action", "save"),
    ];
    let response = browser.post(&path, &bad).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let doc = browser.page(&path).await;
    assert_eq!(select(&doc, "#form-preview .pf.required").len(), 2);
    assert_eq!(select(&doc, "#form-preview .pf.optional").len(), 2);
    assert_eq!(select(&doc, "#form-preview .pf-option.radio").len(), 2);
    let stored = sandbox.sim.card(&card.wechat_card_id).unwrap();
    let form = serde_json::to_string(&stored).unwrap();
    assert!(
        form.contains("喜欢的电影") && form.contains("钢琴"),
        "{form}"
    );
}

#[tokio::test]
async fn a_channel_is_created_and_its_poster_embeds_the_mini_program_code() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "operator", Role::Operator).await;
    let card = demo_card(&app).await;
    let csrf = browser.csrf("/admin/channels").await;
    let card_id = card.id.to_string();
    let response = browser
        .post(
            "/admin/channels",
            &[
                ("csrf", &csrf),
                ("card", &card_id),
                ("outer_str", "store_front"),
                ("name", "重复"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert!(text(&doc, "#outer_str-error").contains("outer_str"));
    let response = browser
        .post(
            "/admin/channels",
            &[
                ("csrf", &csrf),
                ("card", &card_id),
                ("outer_str", "mall_b2"),
                ("name", "商场 B2"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let doc = browser.page(location.split('?').next().unwrap()).await;
    assert_eq!(
        text(&doc, "#mini-path"),
        format!(
            "pages/index/index?card_id={}&channel=mall_b2",
            card.wechat_card_id
        )
    );
    let poster_path = attr(&doc, "#download-poster", "href");
    let response = browser.get(&poster_path).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("kaika-poster-mall_b2.svg"));
    let svg = response.text().await.unwrap();
    assert!(
        svg.contains("data:image/png;base64,iVBORw0KGgo"),
        "the code is a PNG"
    );
    assert!(svg.contains("商场 B2"));
    let code = browser.get(&attr(&doc, "#wxacode", "src")).await;
    assert_eq!(code.headers()["content-type"], "image/png");
}

#[tokio::test]
async fn an_operator_credits_points_once_per_form_and_sees_the_entry() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "operator", Role::Operator).await;
    let card = demo_card(&app).await;
    let id = member_with_answers(&app, card.id).await;
    let doc = browser.page("/admin/members?q=13800135678").await;
    assert_eq!(select(&doc, "tr.member-row").len(), 1);
    assert_eq!(text(&doc, "tr.member-row .name"), "张三丰");
    let doc = browser.page("/admin/members?q=nobody").await;
    assert!(select(&doc, "tr.member-row").is_empty());
    let path = format!("/admin/members/{id}");
    let doc = browser.page(&path).await;
    let csrf = attr(&doc, "input[name=csrf]", "value");
    let nonce = attr(&doc, "input[name=nonce]", "value");
    let form = [
        ("csrf", csrf.as_str()),
        ("nonce", nonce.as_str()),
        ("kind", "points"),
        ("direction", "credit"),
        ("amount", "120"),
        ("reason", "purchase"),
        ("note", "门店消费"),
    ];
    let ledger_path = format!("{path}/ledger");
    assert_eq!(
        browser.post(&ledger_path, &form).await.status(),
        StatusCode::SEE_OTHER
    );
    // A double submit of the same form writes nothing more.
    assert_eq!(
        browser.post(&ledger_path, &form).await.status(),
        StatusCode::SEE_OTHER
    );
    let doc = browser.page(&path).await;
    assert_eq!(text(&doc, "#member-points"), "120");
    assert_eq!(select(&doc, "#ledger tr.entry").len(), 1);
    assert_eq!(text(&doc, "#ledger tr.entry .note"), "门店消费");
    assert!(!select(&doc, "#sync-state").is_empty());
    let debit = [
        ("csrf", csrf.as_str()),
        ("nonce", "another"),
        ("kind", "points"),
        ("direction", "debit"),
        ("amount", "500"),
        ("reason", "redemption"),
        ("note", "兑换"),
    ];
    let response = browser.post(&ledger_path, &debit).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&doc, "#amount-error"), "积分不足。");
    let (audit, _) = admin::audit_page(&app.app_db, 0, 20).await.unwrap();
    assert_eq!(
        audit.iter().filter(|a| a.action == "member.ledger").count(),
        1
    );
}

#[tokio::test]
async fn a_viewer_sees_masked_data_and_cannot_change_anything() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let card = demo_card(&app).await;
    let id = member_with_answers(&app, card.id).await;
    let browser = logged_in(&app, "viewer", Role::Viewer).await;
    let doc = browser.page("/admin/members").await;
    assert_eq!(text(&doc, "tr.member-row .name"), "张**");
    assert_eq!(text(&doc, "tr.member-row .mobile"), "138****5678");
    assert_eq!(text(&doc, "tr.member-row .code"), "****9012");
    let doc = browser.page(&format!("/admin/members/{id}")).await;
    assert!(select(&doc, "#ledger-form").is_empty());
    assert!(!doc.html().contains("13800135678"));
    let csrf = attr(&doc, "input[name=csrf]", "value");
    let response = browser
        .post(
            &format!("/admin/members/{id}/ledger"),
            &[
                ("csrf", &csrf),
                ("nonce", "x"),
                ("amount", "5"),
                ("note", "x"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = browser
        .post(
            &format!("/admin/cards/{}", card.id),
            &[("csrf", &csrf), ("welcome_bonus", "1")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let csv = browser
        .get("/admin/members/export.csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("138****5678") && !csv.contains("13800135678"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 2);
    let (audit, _) = admin::audit_page(&app.app_db, 0, 20).await.unwrap();
    let export = audit.iter().find(|a| a.action == "members.export").unwrap();
    assert_eq!(export.actor, "admin:viewer");
    assert!(export.after.as_deref().unwrap().contains("\"masked\":true"));
    assert_eq!(
        browser.get("/admin/audit").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn account_secrets_are_write_only_and_the_connection_test_fetches_a_token() {
    let (app, _sandbox, info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "owner", Role::Owner).await;
    let path = format!("/admin/accounts/{}", info.app_id);
    let account = kaika_core::accounts::load(&app.app_db, &app.master_key, &info.app_id)
        .await
        .unwrap();
    let doc = browser.page(&path).await;
    assert!(!doc.html().contains(account.app_secret.expose()));
    assert!(!doc
        .html()
        .contains(account.encoding_aes_key.as_ref().unwrap().expose()));
    assert_eq!(
        text(&doc, "#callback-url"),
        format!("{}/wechat/{}/callback", app.base_url, info.app_id)
    );
    assert_eq!(text(&doc, "#callback-token"), account.callback_token);
    let csrf = attr(&doc, "input[name=csrf]", "value");
    let response = browser
        .post(&format!("{path}/test"), &[("csrf", &csrf)])
        .await;
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert!(
        attr(&doc, "#test-result", "class").contains("ok"),
        "{}",
        text(&doc, "#test-result")
    );
    // Renaming keeps the secrets (empty fields), and they still open with the master key.
    let response = browser
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "改名后"),
                ("callback_token", &account.callback_token),
                ("message_mode", "safe"),
                ("app_secret", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let after = kaika_core::accounts::load(&app.app_db, &app.master_key, &info.app_id)
        .await
        .unwrap();
    assert_eq!(after.summary.name, "改名后");
    assert_eq!(after.app_secret.expose(), account.app_secret.expose());
}
