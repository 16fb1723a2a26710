//! The admin dashboard, black-box: a real server in sandbox mode, a cookie-keeping client, and the HTML
//! queried with CSS selectors.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure must stop the test at once"
)]

mod common;

use common::TestApp;
use kaika_core::admin_users::Role;
use kaika_core::entity::{cards, ledger_entries, members};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use scraper::{Html, Selector};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, QueryOrder, Set};

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

/// The text of the first element under `row` matching `css`.
fn cell(row: &scraper::ElementRef, css: &str) -> String {
    row.select(&Selector::parse(css).unwrap())
        .next()
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
    let hash = kaika_core::passwords::hash(PASSWORD).unwrap();
    kaika_core::admin_users::create_user(&app.app_db, username, &hash, role)
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
        kaika_core::admin_users::count_sessions(&app.app_db, 1)
            .await
            .unwrap(),
        0,
        "a locked account gets no session even with the right password"
    );
}

/// Sends `n` logins at once, each from its own browser; returns how many got each status.
async fn parallel_logins(
    app: &TestApp,
    n: usize,
    username: impl Fn(usize) -> String,
    password: &str,
) -> std::collections::HashMap<u16, usize> {
    let browsers: Vec<Browser> = (0..n)
        .map(|_| Browser {
            client: client(),
            base: app.base_url.clone(),
        })
        .collect();
    let csrfs = futures::future::join_all(browsers.iter().map(|b| b.csrf("/admin/login"))).await;
    let answers = futures::future::join_all(browsers.iter().zip(&csrfs).enumerate().map(
        |(i, (browser, csrf))| {
            let username = username(i);
            async move {
                browser
                    .post(
                        "/admin/login",
                        &[
                            ("username", username.as_str()),
                            ("password", password),
                            ("csrf", csrf),
                        ],
                    )
                    .await
                    .status()
                    .as_u16()
            }
        },
    ))
    .await;
    let mut counts = std::collections::HashMap::new();
    for status in answers {
        *counts.entry(status).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_are_checked_no_more_often_than_the_limits_allow() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    add_admin(&app, "owner", Role::Owner).await;
    let counts = parallel_logins(&app, 40, |_| "owner".into(), "wrong password!").await;
    assert_eq!(
        (counts.get(&401), counts.get(&429)),
        (Some(&5), Some(&35)),
        "40 parallel guesses on one username, 5 checked: {counts:?}"
    );
    let counts = parallel_logins(&app, 60, |i| format!("nobody{i}"), "wrong password!").await;
    assert_eq!(
        (counts.get(&401), counts.get(&429)),
        (Some(&15), Some(&45)),
        "the address had 20 attempts, 5 spent above: {counts:?}"
    );
}

#[tokio::test]
async fn a_success_gives_its_attempt_back_and_the_lock_is_per_address() {
    use kaika_core::admin_users::LoginThrottle;
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    add_admin(&app, "owner", Role::Owner).await;
    let throttle = LoginThrottle::default();
    // An attacker elsewhere spends the username's attempts at their address.
    for _ in 0..5 {
        assert!(kaika_core::admin_users::reserve_login_attempt(
            &app.app_db,
            throttle,
            "owner",
            "203.0.113.9"
        )
        .await
        .unwrap());
    }
    assert!(
        !kaika_core::admin_users::reserve_login_attempt(
            &app.app_db,
            throttle,
            "Owner ",
            "203.0.113.9"
        )
        .await
        .unwrap(),
        "the username is locked at the attacker's address"
    );
    // The owner, at their own address, logs in as often as they like.
    for _ in 0..25 {
        let browser = Browser {
            client: client(),
            base: app.base_url.clone(),
        };
        assert_eq!(
            browser.login("owner", PASSWORD).await.status(),
            StatusCode::SEE_OTHER
        );
    }
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
    assert_eq!(
        kaika_core::admin_users::count_sessions(&app.app_db, 1)
            .await
            .unwrap(),
        2
    );
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
    for step in [
        kaika_core::stats::FunnelStep::Claimed,
        kaika_core::stats::FunnelStep::Claimed,
        kaika_core::stats::FunnelStep::Activated,
    ] {
        kaika_core::stats::count(&app.app_db, card.id, "store_front", step)
            .await
            .unwrap();
    }
    let browser = logged_in(&app, "owner", Role::Owner).await;
    let doc = browser.page("/admin").await;
    assert_eq!(text(&doc, "#n-members .value"), "1");
    assert_eq!(text(&doc, "#n-today .value"), "1");
    assert_eq!(select(&doc, "svg#daily-chart rect.bar").len(), 120);
    assert_eq!(
        select(&doc, "svg#daily-chart rect.bar.claimed[height='186.0']").len(),
        1
    );
    assert_eq!(attr(&doc, "#sandbox-banner a", "href"), "/sandbox");
    let rate = select(&doc, "#channel-rates tbody tr")
        .into_iter()
        .find(|tr| tr.text().any(|t| t.contains("门店海报")))
        .unwrap();
    assert_eq!(cell(&rate, ".conversion"), "—", "no opens yet");
    assert_eq!(cell(&rate, ".claim-to-activation"), "50.0%");
}

/// The chart's value of each bar of a series, read from its tooltip (`MM-DD 名称: n`).
fn chart_values(doc: &Html, series: &str) -> Vec<i64> {
    select(doc, &format!("svg#daily-chart rect.bar.{series} title"))
        .iter()
        .map(|t| {
            let title: String = t.text().collect();
            title.rsplit(": ").next().unwrap().parse().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn the_dashboard_defines_its_funnel_and_its_counters_agree_with_the_chart_after_demo_members()
{
    use kaika_core::stats::{count, FunnelStep};
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let card = demo_card(&app).await;
    // Three opens brought one member: 33.3 % conversion, while every claim was activated.
    for step in [
        FunnelStep::ParamsRequested,
        FunnelStep::ParamsRequested,
        FunnelStep::ParamsRequested,
        FunnelStep::Claimed,
        FunnelStep::Activated,
    ] {
        count(&app.app_db, card.id, "store_front", step)
            .await
            .unwrap();
    }
    let browser = logged_in(&app, "owner", Role::Owner).await;
    let doc = browser.page("/admin").await;
    let window = |doc: &Html, cell: &str| text(doc, &format!("#window-funnel .{cell}"));
    assert_eq!(
        ["opened", "claimed", "activated", "deleted"].map(|c| window(&doc, c)),
        ["3", "1", "1", "0"]
    );
    assert_eq!(window(&doc, "conversion"), "33.3%");
    assert_eq!(window(&doc, "claim-to-activation"), "100.0%");
    let rate = select(&doc, "#channel-rates tbody tr")
        .into_iter()
        .find(|tr| tr.text().any(|t| t.contains("门店海报")))
        .unwrap();
    assert_eq!(cell(&rate, ".conversion"), "33.3%");
    assert_eq!(cell(&rate, ".claim-to-activation"), "100.0%");
    let definitions: Vec<String> = select(&doc, "#funnel-definitions dd")
        .iter()
        .map(|d| d.text().collect())
        .collect();
    assert_eq!(definitions.len(), 6);
    assert!(definitions[0].contains("开卡参数"), "{definitions:?}");
    assert!(definitions[4].starts_with("激活 ÷ 打开"), "{definitions:?}");
    assert!(definitions[5].starts_with("激活 ÷ 领卡"), "{definitions:?}");
    let tooltip: String = select(&doc, "svg#daily-chart rect.bar.activated title")
        .last()
        .unwrap()
        .text()
        .collect();
    assert!(tooltip.ends_with(" 激活: 1"), "{tooltip}");

    // Demo members land in the funnel on their days: the counters, the window and the chart agree.
    let seeded = kaika_core::demo::seed_members(&app.app_db, Some(card.id), 300, 64)
        .await
        .unwrap();
    assert_eq!(seeded.inserted, 300);
    let doc = browser.page("/admin").await;
    let first_day = (chrono::Utc::now() - chrono::Duration::days(29)).date_naive();
    let in_window = members::Entity::find()
        .all(&app.app_db)
        .await
        .unwrap()
        .iter()
        .filter(|m| m.activated_at.is_some_and(|t| t.date_naive() >= first_day))
        .count() as i64;
    assert!(in_window > 50, "{in_window}");
    let activated = chart_values(&doc, "activated");
    assert_eq!(activated.len(), 30);
    let n = |id: &str| -> i64 { text(&doc, &format!("#{id} .value")).parse().unwrap() };
    assert_eq!(
        n("n-30d"),
        in_window + 1,
        "the seeded members and the one activation"
    );
    assert_eq!(activated.iter().sum::<i64>(), n("n-30d"));
    assert_eq!(activated[23..].iter().sum::<i64>(), n("n-7d"));
    assert_eq!(activated[29], n("n-today"));
    assert_eq!(window(&doc, "activated"), n("n-30d").to_string());
    assert_eq!(
        chart_values(&doc, "opened").iter().sum::<i64>().to_string(),
        window(&doc, "opened")
    );
    browser.get("/admin/lang/en").await;
    let doc = browser.page("/admin").await;
    assert!(text(&doc, "#funnel-definitions").contains("Activations ÷ opens"));
    let tooltip: String = select(&doc, "svg#daily-chart rect.bar.claimed title")
        .last()
        .unwrap()
        .text()
        .collect();
    assert!(tooltip.contains(" Claims: "), "{tooltip}");
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
    let (audit, _) = kaika_core::audit::page(&app.app_db, 0, 10).await.unwrap();
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
    assert!(text(&doc, "#outer_str-error").contains("渠道标识"));
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
    // Money is read exactly in yuan, and bounded like the integration API's entries.
    let balance = |nonce: &'static str, amount: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("nonce", nonce.to_owned()),
            ("kind", "balance".to_owned()),
            ("direction", "credit".to_owned()),
            ("amount", amount.to_owned()),
            ("reason", "adjustment".to_owned()),
            ("note", "充值".to_owned()),
        ]
    };
    for (nonce, amount, error) in [
        ("b1", "1e3", "请输入大于 0 的数量。"),
        ("b2", "0.001", "请输入大于 0 的数量。"),
        (
            "b3",
            "100000.01",
            "单笔变动超出上限（与集成接口的上限相同）。",
        ),
    ] {
        let form = balance(nonce, amount);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = browser.post(&ledger_path, &form).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{amount}"
        );
        let doc = Html::parse_document(&response.text().await.unwrap());
        assert_eq!(text(&doc, "#amount-error"), error, "{amount}");
    }
    let form = balance("b4", "0.29");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        browser.post(&ledger_path, &form).await.status(),
        StatusCode::SEE_OTHER
    );
    let member = kaika_core::member_search::get(&app.app_db, id)
        .await
        .unwrap();
    assert_eq!(member.balance_cents, 29);
    let (audit, _) = kaika_core::audit::page(&app.app_db, 0, 20).await.unwrap();
    assert_eq!(
        audit.iter().filter(|a| a.action == "member.ledger").count(),
        2
    );
}

/// Posts one ledger change from the member's page.
async fn ledger_change(
    browser: &Browser,
    member_id: i64,
    kind: &str,
    direction: &str,
    amount: &str,
) {
    let path = format!("/admin/members/{member_id}");
    let doc = browser.page(&path).await;
    let csrf = attr(&doc, "input[name=csrf]", "value");
    let nonce = attr(&doc, "input[name=nonce]", "value");
    let form = [
        ("csrf", csrf.as_str()),
        ("nonce", nonce.as_str()),
        ("kind", kind),
        ("direction", direction),
        ("amount", amount),
        ("reason", "adjustment"),
        ("note", "测试"),
    ];
    let response = browser.post(&format!("{path}/ledger"), &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{kind} {amount}");
}

#[tokio::test]
async fn money_reads_in_yuan_points_as_integers_and_times_in_the_admins_time_zone() {
    use chrono::TimeZone as _;
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "operator", Role::Operator).await;
    let card = demo_card(&app).await;
    let id = member_with_answers(&app, card.id).await;
    ledger_change(&browser, id, "balance", "credit", "100").await;
    ledger_change(&browser, id, "balance", "debit", "0.5").await;
    ledger_change(&browser, id, "points", "credit", "120").await;
    // 2026-01-01 17:30 UTC is 2026-01-02 01:30 in Shanghai, the default time zone: another day.
    let created = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 17, 30, 0).unwrap();
    let mut row: members::ActiveModel = members::Entity::find_by_id(id)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap()
        .into();
    row.created_at = Set(created);
    row.activated_at = Set(Some(created));
    row.update(&app.app_db).await.unwrap();

    let doc = browser.page(&format!("/admin/members/{id}")).await;
    assert_eq!(text(&doc, "#member-balance"), "¥99.50");
    assert_eq!(text(&doc, "#member-points"), "120");
    let entries = ledger_entries::Entity::find()
        .order_by_desc(ledger_entries::Column::Id)
        .all(&app.app_db)
        .await
        .unwrap();
    let rows = select(&doc, "#ledger tr.entry");
    assert_eq!(rows.len(), 3);
    let cells = |row: &scraper::ElementRef| -> Vec<String> {
        row.select(&Selector::parse("td").unwrap())
            .map(|td| td.text().collect::<String>().trim().to_owned())
            .collect()
    };
    // Shanghai keeps UTC+8 all year: a fixed offset is an independent check of the zone.
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let shown: Vec<Vec<String>> = rows.iter().map(cells).collect();
    for (row, entry) in shown.iter().zip(&entries) {
        assert_eq!(
            row[0],
            entry
                .created_at
                .with_timezone(&shanghai)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            "ledger times in Asia/Shanghai"
        );
    }
    // Newest first: points +120, then -¥0.50, then +¥100.00; totals after each.
    assert_eq!(
        (shown[0][2].as_str(), shown[0][3].as_str()),
        ("+120", "120")
    );
    assert_eq!(
        (shown[1][2].as_str(), shown[1][3].as_str()),
        ("-¥0.50", "¥99.50")
    );
    assert_eq!(
        (shown[2][2].as_str(), shown[2][3].as_str()),
        ("+¥100.00", "¥100.00")
    );
    let profile: String = doc
        .select(&Selector::parse("#profile dd").unwrap())
        .map(|dd| dd.text().collect::<String>())
        .collect::<Vec<_>>()
        .join("|");
    assert!(profile.contains("2026-01-02 01:30"), "{profile}");

    let doc = browser.page("/admin/members?q=13800135678").await;
    let row = select(&doc, "tr.member-row");
    assert_eq!(row.len(), 1);
    let list = cells(&row[0]);
    assert!(list.contains(&"¥99.50".to_owned()), "{list:?}");
    assert!(list.contains(&"2026-01-02 01:30".to_owned()), "{list:?}");
    // The date filters count days in the admin's time zone too.
    for (day, found) in [("2026-01-02", 1), ("2026-01-01", 0)] {
        let doc = browser
            .page(&format!("/admin/members?from={day}&to={day}"))
            .await;
        assert_eq!(select(&doc, "tr.member-row").len(), found, "{day}");
    }

    let csv = browser
        .get("/admin/members/export.csv?q=13800135678")
        .await
        .text()
        .await
        .unwrap();
    let line = csv.lines().nth(1).unwrap();
    assert!(
        line.contains(",99.50,"),
        "balance in yuan, a number: {line}"
    );
    assert!(line.contains("\"2026-01-02 01:30\""), "{line}");
}

/// The text a reader sees on a page: every text node of the body except hints (which may name the
/// WeChat field behind a label).
fn visible_text(doc: &Html) -> String {
    let body = select(doc, "body").remove(0);
    body.descendants()
        .filter_map(|node| {
            let text = node.value().as_text()?;
            let hidden = node.ancestors().any(|a| {
                a.value().as_element().is_some_and(|e| {
                    e.name() == "script"
                        || e.name() == "style"
                        || e.attr("class")
                            .is_some_and(|c| c.split(' ').any(|c| c == "hint"))
                })
            });
            (!hidden).then(|| text.to_string())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn stored_push(app: &TestApp, card: &cards::Model, event: &str, from: &str) {
    use kaika_core::entity::wechat_events;
    let now = chrono::Utc::now();
    wechat_events::ActiveModel {
        account_id: Set(card.account_id),
        dedupe_hash: Set(format!("hash-{event}")),
        dedupe_key: Set(format!("{from}|1|{event}")),
        event: Set(event.into()),
        msg_type: Set("event".into()),
        from_user_name: Set(from.into()),
        wechat_card_id: Set(Some(card.wechat_card_id.clone())),
        user_card_code: Set(Some("123456789012".into())),
        create_time: Set(now.timestamp()),
        raw_xml: Set("<xml/>".into()),
        status: Set("done".into()),
        attempts: Set(1),
        next_attempt_at: Set(now),
        received_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.app_db)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_chinese_admin_names_wechat_fields_push_types_and_audit_actions_in_chinese() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "owner", Role::Owner).await;
    let card = demo_card(&app).await;
    let member = member_with_answers(&app, card.id).await;
    stored_push(&app, &card, "user_get_card", "o123456789012").await;
    stored_push(&app, &card, "user_gifting_card", "o123456789012").await;
    let jargon = [
        "outer_str",
        "CardId",
        "Event",
        "openid",
        "admin.login",
        "user_get_card",
        "user_gifting_card",
    ];
    let member_path = format!("/admin/members/{member}");
    for path in [
        "/admin/channels",
        "/admin/events",
        "/admin/audit",
        "/admin/members",
        member_path.as_str(),
    ] {
        let shown = visible_text(&browser.page(path).await);
        for word in jargon {
            assert!(!shown.contains(word), "{path} shows {word}: {shown}");
        }
    }
    let doc = browser.page("/admin/events").await;
    let events = select(&doc, "tr.event-row .event");
    // The sandbox's own pushes (the demo card's review) may be there too.
    let labels: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e.text().collect::<String>(),
                e.value().attr("title").unwrap().to_owned(),
            )
        })
        .filter(|(_, title)| title.contains("user_g"))
        .collect();
    assert_eq!(
        labels,
        [
            (
                "其他推送".to_owned(),
                "微信字段：user_gifting_card".to_owned()
            ),
            (
                "领取会员卡".to_owned(),
                "微信字段：user_get_card".to_owned()
            ),
        ]
    );
    assert!(attr(&doc, "#events thead span", "title").contains("Event"));
    let doc = browser.page("/admin/events?event=user_get_card").await;
    assert_eq!(select(&doc, "tr.event-row").len(), 1);
    assert_eq!(
        text(&doc, "select[name=event] option[selected]"),
        "领取会员卡"
    );
    let doc = browser.page("/admin/audit").await;
    let login = "tr.audit-row[data-action='admin.login'] .action";
    assert_eq!(text(&doc, login), "管理员登录");
    assert_eq!(attr(&doc, login, "title"), "admin.login");
    let doc = browser.page("/admin/channels").await;
    assert_eq!(text(&doc, "label[for=outer_str]"), "渠道标识");
    assert!(text(&doc, "#channel-form .hint").contains("outer_str"));
    browser.get("/admin/lang/en").await;
    let doc = browser.page("/admin/audit").await;
    assert_eq!(text(&doc, login), "Admin logged in");
    let doc = browser.page(&member_path).await;
    let pushes: Vec<String> = select(&doc, "#member-events .event")
        .iter()
        .map(|e| e.text().collect())
        .collect();
    assert_eq!(pushes, ["Other push", "Card claimed"]);
}

/// The ids of the member rows of a list page, in order.
fn member_ids(doc: &Html) -> Vec<i64> {
    select(doc, "tr.member-row")
        .iter()
        .map(|r| r.value().attr("data-member-id").unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn the_member_list_counts_pages_sorts_by_activation_and_filters_by_card_channel_and_status() {
    use sea_orm::{ColumnTrait, QueryFilter};
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "operator", Role::Operator).await;
    let card = demo_card(&app).await;
    kaika_core::demo::seed_members(&app.app_db, Some(card.id), 120, 64)
        .await
        .unwrap();
    // One member claimed the card and never activated it.
    let claimed = kaika_core::testing::seed_member(&app.app_db, card.id, "555500000001").await;
    let mut row: members::ActiveModel = members::Entity::find_by_id(claimed)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap()
        .into();
    row.status = Set("claimed".into());
    row.activated_at = Set(None);
    row.update(&app.app_db).await.unwrap();
    let all = members::Entity::find().all(&app.app_db).await.unwrap();
    assert_eq!(all.len(), 121);

    let doc = browser.page("/admin/members").await;
    assert_eq!(text(&doc, "#member-total"), "共 121 位会员");
    assert_eq!(text(&doc, "#page-of"), "第 1 / 3 页");
    assert_eq!(member_ids(&doc).len(), 50);
    let doc = browser.page("/admin/members?page=2").await;
    assert_eq!(text(&doc, "#page-of"), "第 3 / 3 页");
    assert_eq!(member_ids(&doc).len(), 21);

    let activated_at = |id: i64| all.iter().find(|m| m.id == id).unwrap().activated_at;
    let latest = all.iter().filter_map(|m| m.activated_at).max();
    let earliest = all.iter().filter_map(|m| m.activated_at).min();
    let doc = browser.page("/admin/members?sort=activated_desc").await;
    assert_eq!(activated_at(member_ids(&doc)[0]), latest);
    assert_eq!(text(&doc, "#sort option[selected]"), "激活时间：最近在前");
    let next = attr(&doc, "#pager a[rel=next]", "href");
    assert!(next.contains("sort=activated_desc"), "{next}");
    let doc = browser.page("/admin/members?sort=activated_asc").await;
    let ids = member_ids(&doc);
    assert_eq!(activated_at(ids[0]), earliest);
    let times: Vec<_> = ids.iter().map(|id| activated_at(*id).unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "in activation order"
    );
    for sort in ["activated_asc", "activated_desc"] {
        let doc = browser
            .page(&format!("/admin/members?sort={sort}&page=2"))
            .await;
        assert_eq!(
            member_ids(&doc).last(),
            Some(&claimed),
            "{sort}: never activated goes last"
        );
    }

    let count = |keep: &dyn Fn(&members::Model) -> bool| all.iter().filter(|m| keep(m)).count();
    for status in ["active", "claimed", "deleted"] {
        let doc = browser
            .page(&format!("/admin/members?status={status}"))
            .await;
        let expected = count(&|m| m.status == status);
        assert_eq!(
            text(&doc, "#member-total"),
            format!("共 {expected} 位会员"),
            "{status}"
        );
    }
    let store_front = count(&|m| m.outer_str.as_deref() == Some("store_front"));
    assert!(store_front > 0 && store_front < 121, "{store_front}");
    let doc = browser
        .page(&format!(
            "/admin/members?card={}&channel=store_front",
            card.id
        ))
        .await;
    assert_eq!(
        text(&doc, "#member-total"),
        format!("共 {store_front} 位会员")
    );
    assert!(text(&doc, "#channel-filter option[selected]").contains(&card.title));
    let doc = browser.page("/admin/members?card=999999").await;
    assert_eq!(text(&doc, "#member-total"), "共 0 位会员");
    assert_eq!(text(&doc, "#page-of"), "第 1 / 1 页");
    let deleted_in_article = members::Entity::find()
        .filter(members::Column::OuterStr.eq("article"))
        .filter(members::Column::Status.eq("deleted"))
        .count(&app.app_db)
        .await
        .unwrap();
    let doc = browser
        .page("/admin/members?channel=article&status=deleted")
        .await;
    assert_eq!(
        text(&doc, "#member-total"),
        format!("共 {deleted_in_article} 位会员")
    );
    browser.get("/admin/lang/en").await;
    let doc = browser.page("/admin/members").await;
    assert_eq!(text(&doc, "#member-total"), "121 members");
    assert_eq!(text(&doc, "#page-of"), "Page 1 of 3");
}

/// The cells of one CSV line (no commas inside the test's values): quotes removed, `="…"` kept.
fn csv_cells(line: &str) -> Vec<String> {
    line.trim_start_matches('\u{feff}')
        .split(',')
        .map(|cell| match cell.strip_prefix('"') {
            Some(quoted) => quoted.trim_end_matches('"').replace("\"\"", "\""),
            None => cell.to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn the_csv_export_has_headers_in_the_admins_language_a_column_per_answer_and_digits_as_text()
{
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "owner", Role::Owner).await;
    let card = demo_card(&app).await;
    let id = member_with_answers(&app, card.id).await;
    let mut row: members::ActiveModel = members::Entity::find_by_id(id)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap()
        .into();
    row.membership_number = Set(Some("0012345678".into()));
    row.form_answers = Set(Some(
        r#"{"common_field_list":[{"name":"USER_FORM_INFO_FLAG_NAME","value":"张三丰"},{"name":"USER_FORM_INFO_FLAG_MOBILE","value":"13800135678"},{"name":"USER_FORM_INFO_FLAG_BIRTHDAY","value":"1990-01-02"}],"custom_field_list":[{"name":"喜欢的咖啡","value":"","value_list":["拿铁"]},{"name":"旧问题","value":"旧答案","value_list":[]}]}"#.into(),
    ));
    row.update(&app.app_db).await.unwrap();
    // Enough members for several batches of the stream.
    kaika_core::demo::seed_members(&app.app_db, Some(card.id), 1200, 500)
        .await
        .unwrap();

    let response = browser.get("/admin/members/export.csv").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers().get("content-length").is_none(),
        "streamed, not buffered"
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 1201);
    assert!(lines[0].starts_with('\u{feff}'), "a BOM for Excel");
    let header = csv_cells(lines[0]);
    assert_eq!(
        header,
        [
            "编号",
            "会员号",
            "姓名",
            "手机号",
            "卡号",
            "卡券名称",
            "渠道",
            "状态",
            "积分",
            "余额（元）",
            "创建时间",
            "激活时间",
            "生日",
            "喜欢的咖啡",
            "其他回答"
        ]
    );
    let line = lines
        .iter()
        .find(|l| l.starts_with(&format!("{id},")))
        .unwrap();
    let cells = csv_cells(line);
    let at = |name: &str| cells[header.iter().position(|h| h == name).unwrap()].clone();
    assert_eq!(
        at("会员号"),
        "=\"0012345678\"",
        "the leading zeros survive Excel"
    );
    assert_eq!(at("手机号"), "=\"13800135678\"");
    assert_eq!(at("卡号"), "=\"123456789012\"");
    assert_eq!(at("姓名"), "张三丰");
    assert_eq!(at("状态"), "已激活");
    assert_eq!(at("生日"), "1990-01-02");
    assert_eq!(at("喜欢的咖啡"), "拿铁");
    assert_eq!(at("其他回答"), "旧问题: 旧答案");
    assert_eq!(at("余额（元）"), "0.00");

    browser.get("/admin/lang/en").await;
    let csv = browser
        .get("/admin/members/export.csv?q=13800135678")
        .await
        .text()
        .await
        .unwrap();
    let header = csv_cells(csv.lines().next().unwrap());
    assert_eq!(header[0], "ID");
    assert!(header.contains(&"Birthday".to_owned()), "{header:?}");
    assert!(header.contains(&"Other answers".to_owned()), "{header:?}");
    assert_eq!(csv.lines().count(), 2);
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
    let member_before = members::Entity::find_by_id(id)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap();
    let entries_before = ledger_entries::Entity::find()
        .count(&app.app_db)
        .await
        .unwrap();
    let card_before = cards::Entity::find_by_id(card.id)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap();
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
    let member_after = members::Entity::find_by_id(id)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        member_after, member_before,
        "the refused credit changed nothing"
    );
    assert_eq!(
        ledger_entries::Entity::find()
            .count(&app.app_db)
            .await
            .unwrap(),
        entries_before
    );
    let card_after = cards::Entity::find_by_id(card.id)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        card_after, card_before,
        "the refused card edit changed nothing"
    );
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
    let (audit, _) = kaika_core::audit::page(&app.app_db, 0, 20).await.unwrap();
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

#[tokio::test]
async fn members_are_found_by_name_and_by_the_first_digits_of_their_mobile() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "operator", Role::Operator).await;
    let card = demo_card(&app).await;
    let id = member_with_answers(&app, card.id).await;
    // The search columns follow the answers (filled by the entity on every write of the answers).
    let row = members::Entity::find_by_id(id)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.mobile.as_deref(), row.name.as_deref()),
        (Some("13800135678"), Some("张三丰"))
    );
    for q in [
        "张三丰",
        "1380013",
        "13800135678",
        "KK00000042",
        "123456789012",
    ] {
        let doc = browser
            .page(&format!("/admin/members?q={}", urlencoding::encode(q)))
            .await;
        assert_eq!(select(&doc, "tr.member-row").len(), 1, "{q}");
    }
    for q in ["张三", "139", "38001"] {
        let doc = browser
            .page(&format!("/admin/members?q={}", urlencoding::encode(q)))
            .await;
        assert!(select(&doc, "tr.member-row").is_empty(), "{q}");
    }
}

#[tokio::test]
async fn an_owner_creates_an_api_key_shown_once_and_revokes_it() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "owner", Role::Owner).await;
    let csrf = browser.csrf("/admin/api-keys").await;
    let response = browser
        .post(
            "/admin/api-keys",
            &[
                ("csrf", csrf.as_str()),
                ("name", "收银系统"),
                ("scope", "members:read"),
                ("scope", "ledger:write"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc = Html::parse_document(&response.text().await.unwrap());
    let key = text(&doc, "#new-key-value");
    assert!(key.starts_with("kk_") && key.len() == 67, "{key}");
    let valid = kaika_core::api_keys::authenticate(&app.app_db, &key)
        .await
        .unwrap();
    let kaika_core::api_keys::Authentication::Valid(valid) = valid else {
        panic!("{valid:?}");
    };
    assert_eq!(
        valid.scopes,
        vec![
            kaika_core::api_keys::Scope::MembersRead,
            kaika_core::api_keys::Scope::LedgerWrite
        ]
    );
    // Shown once: the list never shows it again, only its prefix.
    let doc = browser.page("/admin/api-keys").await;
    assert!(select(&doc, "#new-key").is_empty());
    assert!(!doc.html().contains(&key));
    let row = "tr.api-key-row[data-name='收银系统']";
    assert_eq!(
        text(&doc, &format!("{row} td code")),
        format!("{}…", &key[..11])
    );
    assert_eq!(text(&doc, &format!("{row} .key-status")), "有效");
    // A key without scopes is refused next to the field.
    let response = browser
        .post("/admin/api-keys", &[("csrf", csrf.as_str()), ("name", "x")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&doc, "#scopes-error"), "至少选择一个权限范围。");
    let revoke = attr(
        &browser.page("/admin/api-keys").await,
        &format!("{row} form"),
        "action",
    );
    let response = browser.post(&revoke, &[("csrf", csrf.as_str())]).await;
    assert_eq!(
        response.headers()["location"],
        "/admin/api-keys?done=api_key_revoked"
    );
    let doc = browser.page("/admin/api-keys?done=api_key_revoked").await;
    assert!(text(&doc, &format!("{row} .key-status")).starts_with("已吊销"));
    assert_eq!(text(&doc, ".flash"), "API 密钥已吊销。");
    assert_eq!(
        kaika_core::api_keys::authenticate(&app.app_db, &key)
            .await
            .unwrap(),
        kaika_core::api_keys::Authentication::Revoked
    );
    let (audit, _) = kaika_core::audit::page(&app.app_db, 0, 20).await.unwrap();
    let actions: Vec<_> = audit.iter().map(|a| a.action.as_str()).collect();
    assert!(actions.contains(&"api_key.create") && actions.contains(&"api_key.revoke"));
    assert!(audit
        .iter()
        .all(|a| !a.after.as_deref().unwrap_or_default().contains(&key)));
    // Operators may not see or make keys.
    let operator = logged_in(&app, "operator", Role::Operator).await;
    assert_eq!(
        operator.get("/admin/api-keys").await.status(),
        StatusCode::FORBIDDEN
    );
    let doc = operator.page("/admin").await;
    assert!(select(&doc, "#nav-api-keys").is_empty());
}

async fn failed_job(app: &TestApp, member_id: i64) -> i64 {
    use kaika_core::entity::outbox;
    let now = chrono::Utc::now();
    outbox::ActiveModel {
        member_id: Set(member_id),
        entry_id: Set(None),
        purpose: Set("entry".into()),
        points_total: Set(Some(130)),
        points_delta: Set(Some(30)),
        balance_total: Set(None),
        balance_delta: Set(None),
        record_bonus: Set(Some("消费获得积分".into())),
        record_balance: Set(None),
        status: Set("failed".into()),
        attempts: Set(8),
        next_attempt_at: Set(now),
        lease_holder: Set(None),
        lease_until: Set(None),
        last_error: Set(Some("WeChat error 40127: invalid user-card status".into())),
        result_bonus: Set(None),
        result_balance: Set(None),
        event_matched_at: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.app_db)
    .await
    .unwrap()
    .id
}

async fn drifted_run(app: &TestApp, member_id: i64, card_id: i64) {
    use kaika_core::entity::reconciliation;
    use kaika_core::entity::reconciliation_items as items;
    let now = chrono::Utc::now();
    let run = reconciliation::ActiveModel {
        card_id: Set(None),
        fix: Set(false),
        status: Set("done".into()),
        actor: Set("cli".into()),
        members_checked: Set(3),
        members_in_sync: Set(2),
        members_drifted: Set(1),
        members_pending: Set(0),
        members_failed: Set(0),
        corrections_enqueued: Set(0),
        foreign_events: Set(1),
        error: Set(None),
        started_at: Set(now),
        finished_at: Set(Some(now)),
        ..Default::default()
    }
    .insert(&app.app_db)
    .await
    .unwrap();
    items::ActiveModel {
        run_id: Set(run.id),
        member_id: Set(member_id),
        card_id: Set(card_id),
        code: Set("123456789012".into()),
        outcome: Set("drift".into()),
        local_points: Set(120),
        remote_points: Set(Some(100)),
        local_balance: Set(10_000),
        remote_balance: Set(Some(9_950)),
        foreign_events: Set(1),
        foreign_bonus: Set(-20),
        foreign_balance: Set(0),
        correction_job_id: Set(None),
        detail: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&app.app_db)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_sync_page_lists_failed_jobs_with_their_error_retries_them_and_shows_the_drift() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let card = demo_card(&app).await;
    let member = member_with_answers(&app, card.id).await;
    let job = failed_job(&app, member).await;
    let browser = logged_in(&app, "operator", Role::Operator).await;
    let doc = browser.page("/admin/sync").await;
    assert_eq!(text(&doc, "#no-run"), "尚未对账。");
    drifted_run(&app, member, card.id).await;
    let doc = browser.page("/admin/sync").await;
    let row = format!("tr.job-row[data-job='{job}']");
    assert_eq!(
        text(&doc, &format!("{row} .error")),
        "WeChat error 40127: invalid user-card status"
    );
    assert!(attr(&doc, &row, "class").contains("status-failed"));
    assert_eq!(text(&doc, "#outbox-counts .count-failed strong"), "1");
    assert_eq!(text(&doc, "#run-drifted"), "1");
    assert_eq!(text(&doc, "tr.drift-row td:nth-child(3)"), "120");
    assert_eq!(text(&doc, "tr.drift-row td:nth-child(4)"), "100");
    assert_eq!(text(&doc, "tr.drift-row .local-balance"), "¥100.00");
    assert_eq!(text(&doc, "tr.drift-row .remote-balance"), "¥99.50");
    assert_eq!(text(&doc, "tr.drift-row code"), "123456789012");
    let csrf = attr(&doc, "input[name=csrf]", "value");
    let response = browser
        .post(&format!("/admin/sync/jobs/{job}/retry"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        response.headers()["location"],
        "/admin/sync?done=job_retried"
    );
    let stored = kaika_core::entity::outbox::Entity::find_by_id(job)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap();
    // Pending and due again (the worker may already be sending it to the simulator).
    assert_ne!(stored.status, "failed");
    assert!(stored.attempts <= 1, "{}", stored.attempts);
    let (audit, _) = kaika_core::audit::page(&app.app_db, 0, 20).await.unwrap();
    let retry = audit.iter().find(|a| a.action == "outbox.retry").unwrap();
    assert!(retry.before.as_deref().unwrap().contains("40127"));
    // English, and a viewer sees masked codes and no retry button.
    let viewer = logged_in(&app, "viewer", Role::Viewer).await;
    viewer.get("/admin/lang/en").await;
    let doc = viewer.page("/admin/sync").await;
    assert_eq!(text(&doc, "h1"), "Sync & reconciliation");
    assert_eq!(text(&doc, "tr.drift-row code"), "****9012");
    assert!(select(&doc, "button.retry, #retry-pending").is_empty());
    assert_eq!(
        viewer
            .post(&format!("/admin/sync/jobs/{job}/retry"), &[("csrf", &csrf)])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

async fn own_session_lives(browser: &Browser) -> bool {
    browser.get("/admin").await.status() == StatusCode::OK
}

#[tokio::test]
async fn an_owner_disables_an_admin_whose_sessions_end_and_resets_a_password() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let owner = logged_in(&app, "owner", Role::Owner).await;
    let operator = logged_in(&app, "operator", Role::Operator).await;
    assert!(own_session_lives(&operator).await);
    let id = kaika_core::admin_users::list_users(&app.app_db)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username == "operator")
        .unwrap()
        .id;
    let csrf = owner.csrf("/admin/admins").await;
    let response = owner
        .post(
            &format!("/admin/admins/{id}/disable"),
            &[("csrf", csrf.as_str()), ("disabled", "1")],
        )
        .await;
    assert_eq!(
        response.headers()["location"],
        "/admin/admins?done=admin_disabled"
    );
    assert!(!own_session_lives(&operator).await);
    assert_eq!(
        kaika_core::admin_users::count_sessions(&app.app_db, id)
            .await
            .unwrap(),
        0
    );
    let again = Browser {
        client: client(),
        base: app.base_url.clone(),
    };
    assert_eq!(
        again.login("operator", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "a disabled admin gets the login form back"
    );
    let doc = owner.page("/admin/admins").await;
    assert_eq!(
        text(&doc, "tr.admin-row[data-username=operator] .admin-status"),
        "已停用"
    );
    // An owner cannot disable themselves.
    let own_id = kaika_core::admin_users::list_users(&app.app_db)
        .await
        .unwrap()[0]
        .id;
    assert_eq!(
        owner
            .post(
                &format!("/admin/admins/{own_id}/disable"),
                &[("csrf", csrf.as_str()), ("disabled", "1")],
            )
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    owner
        .post(
            &format!("/admin/admins/{id}/disable"),
            &[("csrf", csrf.as_str()), ("disabled", "0")],
        )
        .await;
    let operator = Browser {
        client: client(),
        base: app.base_url.clone(),
    };
    assert_eq!(
        operator.login("operator", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    // A weak password is refused next to its field, in the admin's language.
    let response = owner
        .post(
            &format!("/admin/admins/{id}/password"),
            &[("csrf", csrf.as_str()), ("password", "short")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert!(text(&doc, &format!("#password-{id}-error")).starts_with("密码至少"));
    let response = owner
        .post(
            &format!("/admin/admins/{id}/password"),
            &[
                ("csrf", csrf.as_str()),
                ("password", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(
        response.headers()["location"],
        "/admin/admins?done=admin_password"
    );
    assert!(!own_session_lives(&operator).await);
    let fresh = Browser {
        client: client(),
        base: app.base_url.clone(),
    };
    assert_eq!(
        fresh.login("operator", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        fresh
            .login("operator", "a brand new passphrase")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let (audit, _) = kaika_core::audit::page(&app.app_db, 0, 30).await.unwrap();
    for action in ["admin.disable", "admin.enable", "admin.password"] {
        assert!(audit.iter().any(|a| a.action == action), "{action}");
    }
    assert!(audit
        .iter()
        .all(|a| !a.after.as_deref().unwrap_or_default().contains("brand new")));
    // Only owners.
    let csrf = fresh.csrf("/admin").await;
    assert_eq!(
        fresh
            .post(
                &format!("/admin/admins/{own_id}/disable"),
                &[("csrf", csrf.as_str()), ("disabled", "1")],
            )
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

fn edit_form(csrf: &str) -> Vec<(&'static str, String)> {
    vec![
        ("csrf", csrf.to_owned()),
        ("title", "一二三四五六七八九十".into()),
        ("color", "Color999".into()),
        ("logo_url", "".into()),
        ("notice", "一二三四五六七八九十一二三四五六七".into()),
        ("description", "说".repeat(1025)),
        ("prerogative", "".into()),
        ("bonus_cost_money_unit", "-5".into()),
        ("bonus_increase_bonus", "1".into()),
        ("discount", "100".into()),
        ("cell_name", "".into()),
        ("cell_tips", "一二三四五六七".into()),
        ("cell_url", "ftp://x".into()),
        ("field1_name", "".into()),
        ("field1_url", "mailto:x".into()),
        ("action", "save".into()),
    ]
}

fn multipart(fields: &[(&'static str, String)]) -> reqwest::multipart::Form {
    fields
        .iter()
        .fold(reqwest::multipart::Form::new(), |form, (k, v)| {
            form.text(*k, v.clone())
        })
}

#[tokio::test]
async fn every_card_edit_limit_is_reported_next_to_its_field_in_both_languages() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "operator", Role::Operator).await;
    let card = demo_card(&app).await;
    let path = format!("/admin/cards/{}/edit", card.id);
    let doc = browser.page(&path).await;
    // The form shows the card as WeChat has it.
    assert_eq!(attr(&doc, "#title", "value"), card.title);
    assert!(select(&doc, "#offline").is_empty());
    let csrf = attr(&doc, "input[name=csrf]", "value");
    let send = |form| {
        browser
            .client
            .post(format!("{}{path}", app.base_url))
            .multipart(form)
            .send()
    };
    let response = send(multipart(&edit_form(&csrf))).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let doc = Html::parse_document(&response.text().await.unwrap());
    let expected = [
        ("#title-error", "最多 9 个字，当前 10 个。"),
        ("#notice-error", "最多 16 个字，当前 17 个。"),
        ("#description-error", "最多 1024 个字，当前 1025 个。"),
        ("#prerogative-error", "必填。"),
        ("#color-error", "请选择微信色板中的颜色。"),
        ("#logo-error", "请上传 Logo。"),
        (
            "#bonus_cost_money_unit-error",
            "请输入 0 到 100000000 之间的整数，或留空。",
        ),
        ("#discount-error", "请输入 0 到 99 之间的整数，或留空。"),
        ("#cell_tips-error", "最多 6 个字，当前 7 个。"),
        ("#cell_name-error", "必填。"),
        (
            "#cell_url-error",
            "请输入以 http:// 或 https:// 开头的网址。",
        ),
        ("#field1_name-error", "必填。"),
        (
            "#field1_url-error",
            "请输入以 http:// 或 https:// 开头的网址。",
        ),
    ];
    for (css, message) in expected {
        assert_eq!(text(&doc, css), message, "{css}");
        let field = css.trim_start_matches('#').trim_end_matches("-error");
        assert!(
            !select(&doc, &format!("#{field} ~ {css}, #{field}")).is_empty(),
            "{field}"
        );
    }
    assert!(select(&doc, "#bonus_increase_bonus-error").is_empty());
    // A face image that is not a picture is refused next to its field.
    let form = multipart(&edit_form(&csrf)).part(
        "background",
        reqwest::multipart::Part::bytes(b"GIF89a".to_vec())
            .file_name("bg.gif")
            .mime_str("image/gif")
            .unwrap(),
    );
    let doc = Html::parse_document(&send(form).await.unwrap().text().await.unwrap());
    assert_eq!(text(&doc, "#background-error"), "背景图只能是 JPG 或 PNG。");
    browser.get("/admin/lang/en").await;
    let doc = Html::parse_document(
        &send(multipart(&edit_form(&csrf)))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let expected = [
        ("#title-error", "At most 9 characters; this has 10."),
        ("#cell_tips-error", "At most 6 characters; this has 7."),
        ("#prerogative-error", "Required."),
        (
            "#discount-error",
            "Enter a whole number from 0 to 99, or leave it empty.",
        ),
        (
            "#bonus_cost_money_unit-error",
            "Enter a whole number from 0 to 100000000, or leave it empty.",
        ),
        ("#logo-error", "Upload a logo."),
    ];
    for (css, message) in expected {
        assert_eq!(text(&doc, css), message, "{css}");
    }
    let stored = cards::Entity::find_by_id(card.id)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, card, "nothing changed");
}

#[tokio::test]
async fn a_card_is_edited_on_wechat_with_its_background_points_rules_and_cells() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "operator", Role::Operator).await;
    let card = demo_card(&app).await;
    let path = format!("/admin/cards/{}/edit", card.id);
    let doc = browser.page(&path).await;
    // Start from the page's own values: the form round-trips what WeChat has.
    let mut form: Vec<(&'static str, String)> = Vec::new();
    for name in [
        "csrf",
        "logo_url",
        "background_pic_url",
        "title",
        "notice",
        "cell_name",
        "cell_tips",
        "cell_url",
        "discount",
    ] {
        form.push((name, attr(&doc, &format!("input[name={name}]"), "value")));
    }
    form.push(("description", text(&doc, "#description")));
    form.push(("prerogative", text(&doc, "#prerogative")));
    form.push(("color", attr(&doc, "input[name=color][checked]", "value")));
    let set = |form: &mut Vec<(&'static str, String)>, name: &'static str, value: &str| {
        form.retain(|(k, _)| *k != name);
        form.push((name, value.to_owned()));
    };
    set(&mut form, "title", "钻石会员");
    set(&mut form, "color", "Color090");
    set(&mut form, "notice", "结账时出示");
    set(&mut form, "bonus_cost_money_unit", "100");
    set(&mut form, "bonus_increase_bonus", "1");
    set(&mut form, "discount", "10");
    set(&mut form, "cell_name", "附近门店");
    set(&mut form, "cell_tips", "就近服务");
    set(&mut form, "cell_url", "https://example.com/stores");
    set(&mut form, "field1_name", "等级");
    set(&mut form, "action", "save");
    let png = b"\x89PNG\r\n\x1a\n0000000000000000".to_vec();
    let body = multipart(&form).part(
        "background",
        reqwest::multipart::Part::bytes(png)
            .file_name("bg.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let response = browser
        .client
        .post(format!("{}{path}", app.base_url))
        .multipart(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await.unwrap()
    );
    // A new title goes back to review.
    assert_eq!(
        response.headers()["location"],
        format!("/admin/cards/{}?done=card_updated_review", card.id)
    );
    let stored = cards::Entity::find_by_id(card.id)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            stored.title.as_str(),
            stored.color.as_str(),
            stored.review_status.as_str()
        ),
        ("钻石会员", "Color090", "pending")
    );
    // WeChat has every change: the edit page reads the card back with card/get.
    let doc = browser.page(&path).await;
    assert_eq!(attr(&doc, "#title", "value"), "钻石会员");
    assert_eq!(attr(&doc, "#notice", "value"), "结账时出示");
    assert!(attr(&doc, "#background_pic_url", "value").starts_with("http"));
    assert_eq!(attr(&doc, "#bonus_cost_money_unit", "value"), "100");
    assert_eq!(attr(&doc, "#discount", "value"), "10");
    assert_eq!(attr(&doc, "#cell_tips", "value"), "就近服务");
    assert_eq!(attr(&doc, "#field1_name", "value"), "等级");
    let (audit, _) = kaika_core::audit::page(&app.app_db, 0, 10).await.unwrap();
    let update = audit.iter().find(|a| a.action == "card.update").unwrap();
    assert!(update.before.as_deref().unwrap().contains(&card.title));
    assert!(update.after.as_deref().unwrap().contains("钻石会员"));
}

#[tokio::test]
async fn the_search_migration_fills_the_name_and_mobile_of_existing_members() {
    use kaika_core::migration::{Migrator, MigratorTrait};
    use sea_orm::sea_query::{Alias, Query};
    use sea_orm::ConnectionTrait;
    let test_db = kaika_core::testing::TestDb::empty().await;
    let db = &test_db.db;
    Migrator::up(db, Some(5)).await.unwrap();
    let (_, card_id) =
        kaika_core::testing::seed_card(db, "wx0123456789abcdef", "pCardBeforeSearch").await;
    let now = chrono::Utc::now();
    let answers = r#"{"common_field_list":[{"name":"USER_FORM_INFO_FLAG_NAME","value":" 李四 "},{"name":"USER_FORM_INFO_FLAG_MOBILE","value":"13900001111"}],"custom_field_list":[]}"#;
    for (code, answers) in [("111111111111", Some(answers)), ("222222222222", None)] {
        let insert = Query::insert()
            .into_table(Alias::new("members"))
            .columns(
                [
                    "card_id",
                    "code",
                    "points",
                    "balance_cents",
                    "status",
                    "form_answers",
                    "created_at",
                    "updated_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                card_id.into(),
                code.into(),
                0i64.into(),
                0i64.into(),
                "active".into(),
                answers.map(str::to_owned).into(),
                now.into(),
                now.into(),
            ])
            .to_owned();
        db.execute(db.get_database_backend().build(&insert))
            .await
            .unwrap();
    }
    Migrator::up(db, None).await.unwrap();
    let rows = members::Entity::find()
        .order_by_asc(members::Column::Id)
        .all(db)
        .await
        .unwrap();
    let keys: Vec<_> = rows
        .iter()
        .map(|m| (m.code.as_str(), m.mobile.as_deref(), m.name.as_deref()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("111111111111", Some("13900001111"), Some("李四")),
            ("222222222222", None, None)
        ]
    );
}

#[tokio::test]
async fn demo_members_are_seeded_in_batches_and_found_by_every_search() {
    let test_db = kaika_core::testing::TestDb::migrated().await;
    let db = &test_db.db;
    let (_, card_id) =
        kaika_core::testing::seed_card(db, "wx0123456789abcdef", "pCardSeedDemo").await;
    let seeded = kaika_core::demo::seed_members(db, None, 1234, 500)
        .await
        .unwrap();
    assert_eq!((seeded.card_id, seeded.inserted), (card_id, 1234));
    // Run again: the numbers continue.
    kaika_core::demo::seed_members(db, Some(card_id), 10, 500)
        .await
        .unwrap();
    let (rows, more) = kaika_core::member_search::search(
        db,
        &kaika_core::member_search::MemberFilter::default(),
        0,
        50,
    )
    .await
    .unwrap();
    assert_eq!((rows.len(), more), (50, true));
    let last = &rows[0];
    assert_eq!(last.code, "900000001244");
    let mobile = last.mobile.clone().unwrap();
    for q in [
        last.code.clone(),
        last.membership_number.clone().unwrap(),
        mobile.clone(),
        mobile[..8].to_owned(),
        last.name.clone().unwrap(),
    ] {
        let filter = kaika_core::member_search::MemberFilter {
            q: Some(q.clone()),
            ..Default::default()
        };
        let (found, _) = kaika_core::member_search::search(db, &filter, 0, 50)
            .await
            .unwrap();
        assert!(found.iter().any(|m| m.id == last.id), "{q}");
    }
}

#[tokio::test]
async fn the_dashboard_counts_activations_waiting_on_wechat_and_an_operator_re_drives_a_failed_one()
{
    use kaika_core::entity::activations;
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    let card = demo_card(&app).await;
    let now = chrono::Utc::now();
    for (i, step, code) in [
        (1, "activate_sent", Some("226009850801")),
        (2, "failed", Some("226009850802")),
        (3, "done", Some("226009850803")),
    ] {
        activations::ActiveModel {
            ticket_hash: Set(format!("hash{i}")),
            ticket: Set(format!("ticket{i}")),
            card_id: Set(card.id),
            encrypt_code: Set(code.unwrap().into()),
            step: Set(step.into()),
            code: Set(code.map(Into::into)),
            attempts: Set(12),
            last_error: Set(Some("wechat_unavailable: -1 system error".into())),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&app.app_db)
        .await
        .unwrap();
    }
    let viewer = logged_in(&app, "viewer", Role::Viewer).await;
    let doc = viewer.page("/admin").await;
    assert_eq!(text(&doc, "#waiting-activations"), "1");
    assert_eq!(text(&doc, "#failed-activations"), "1");
    let doc = viewer.page("/admin/activations").await;
    let rows = select(&doc, "tr.activation-row");
    assert_eq!(rows.len(), 2, "done activations are not listed");
    assert_eq!(text(&doc, "tr.step-failed code"), "****0802");
    assert!(select(&doc, "button.redrive").is_empty());
    let csrf = attr(&doc, "input[name=csrf]", "value");
    let failed_id = attr(&doc, "tr.step-failed", "data-activation");
    let refused = viewer
        .post(
            &format!("/admin/activations/{failed_id}/redrive"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let row = |id: &str| {
        let id: i64 = id.parse().unwrap();
        let db = app.app_db.clone();
        async move {
            activations::Entity::find_by_id(id)
                .one(&db)
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(row(&failed_id).await.step, "failed");

    let operator = logged_in(&app, "operator", Role::Operator).await;
    let doc = operator.page("/admin/activations").await;
    let csrf = attr(&doc, "input[name=csrf]", "value");
    let response = operator
        .post(
            &format!("/admin/activations/{failed_id}/redrive"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let redriven = row(&failed_id).await;
    assert_eq!(
        (
            redriven.step.as_str(),
            redriven.attempts,
            redriven.next_attempt_at
        ),
        ("code_decrypted", 0, None),
        "due now, from the last step its data proves"
    );
    let (audit, _) = kaika_core::audit::page(&app.app_db, 0, 20).await.unwrap();
    let entry = audit
        .iter()
        .find(|a| a.action == "activation.redrive")
        .unwrap();
    assert_eq!(entry.actor, "admin:operator");
}

#[tokio::test]
async fn an_ordinary_account_creates_a_points_card_and_is_told_why_stored_value_is_refused() {
    use kaika_core::accounts::{self, AppId, MessageMode, NewAccount, SecretText};
    use kaika_wechat_sim::AccountSpec;
    // A real account needs Kaika's public address (cards send members to its activation page), and
    // talks to a simulator of its own rather than the sandbox's.
    let app = TestApp::spawn_with(&[("server.public_url", "https://cards.example.com")]).await;
    let wechat = kaika_wechat_sim::spawn(kaika_wechat_sim::Simulator::new(
        kaika_wechat_sim::SimConfig::default(),
    ))
    .await
    .unwrap();
    // A newly registered official account, as WeChat gives it: no stored-value permission.
    let ordinary = wechat.sim.create_account(AccountSpec::default()).unwrap();
    assert!(!ordinary.balance_authorized && !ordinary.custom_code_authorized);
    accounts::add(
        &app.app_db,
        &app.master_key,
        NewAccount {
            name: "普通公众号".into(),
            app_id: AppId::parse(&ordinary.app_id).unwrap(),
            app_secret: SecretText::new(&ordinary.app_secret),
            callback_token: ordinary.token.clone(),
            encoding_aes_key: Some(SecretText::new(&ordinary.encoding_aes_key)),
            message_mode: MessageMode::Safe,
            mini_program: None,
            api_base_url: wechat.base_url.clone(),
            is_sandbox: false,
        },
    )
    .await
    .unwrap();
    let browser = logged_in(&app, "operator", Role::Operator).await;
    let doc = browser.page("/admin/cards/new").await;
    let csrf = attr(&doc, "input[name=csrf]", "value");
    assert_eq!(
        attr(&doc, "#after_submit_url", "value"),
        "https://cards.example.com/m/activate",
        "the activation page at the public address is the default"
    );
    assert!(
        select(&doc, "#stored_value[checked]").is_empty(),
        "stored value is opt-in"
    );
    assert!(text(&doc, "#stored_value-hint").contains("储值权限"));
    let form = |title: &str, stored_value: bool| {
        let mut form = reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .text("account", ordinary.app_id.clone())
            .text("title", title.to_owned())
            .text("brand_name", "普通小店")
            .text("color", "Color010")
            .text("logo_url", "https://mmbiz.qpic.cn/mmbiz/logo/0")
            .text("notice", "出示会员码")
            .text("description", "说明")
            .text("prerogative", "九折")
            .text("welcome_bonus", "10")
            .text("membership_prefix", "PT")
            .text("after_submit_url", "https://cards.example.com/m/activate")
            .text("action", "create");
        if stored_value {
            form = form
                .text("stored_value", "on")
                .text("balance_rules", "到店充值");
        }
        form
    };
    let post = |form: reqwest::multipart::Form| {
        browser
            .client
            .post(format!("{}/admin/cards", app.base_url))
            .multipart(form)
            .send()
    };
    let response = post(form("储值卡", true)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let doc = Html::parse_document(&response.text().await.unwrap());
    let explanation = text(&doc, "#stored_value-error");
    assert!(
        explanation.contains("储值权限") && explanation.contains("43010"),
        "{explanation}"
    );
    assert!(
        select(&doc, "#stored_value[checked]").len() == 1,
        "the form keeps the choice"
    );
    let response = post(form("积分卡", false)).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let stored = cards::Entity::find().all(&app.app_db).await.unwrap();
    let card = stored.iter().find(|c| c.title == "积分卡").unwrap();
    assert!(!card.stored_value);
    assert!(!stored.iter().any(|c| c.title == "储值卡"));
    let at_wechat = wechat.sim.card(&card.wechat_card_id).unwrap();
    assert_eq!(
        at_wechat.member_card["supply_balance"],
        serde_json::json!(false),
        "{:?}",
        at_wechat.member_card
    );
}

/// The checklist lines of a go-live page, as (id, state) in page order.
fn check_lines(doc: &Html) -> Vec<(String, String)> {
    select(doc, "#checklist li.check")
        .into_iter()
        .map(|li| {
            let id = li.value().attr("data-id").unwrap().to_owned();
            let state = li.value().attr("data-state").unwrap().to_owned();
            (id, state)
        })
        .collect()
}

#[tokio::test]
async fn the_go_live_checklist_lists_every_line_with_its_state_and_masks_the_token_for_viewers() {
    use kaika_core::entity::callback_refusals;
    let (app, sandbox, info) = TestApp::sandbox().await;
    let account = kaika_core::accounts::load(&app.app_db, &app.master_key, &info.app_id)
        .await
        .unwrap();
    // A forged request refused three times.
    callback_refusals::ActiveModel {
        account_id: Set(account.summary.id),
        code: Set("invalid_signature".into()),
        count: Set(3),
        last_message: Set("signature mismatch".into()),
        first_at: Set(chrono::Utc::now()),
        last_at: Set(chrono::Utc::now()),
    }
    .insert(&app.app_db)
    .await
    .unwrap();
    let owner = logged_in(&app, "owner", Role::Owner).await;
    let path = format!("/admin/accounts/{}/go-live", info.app_id);
    // Reached from the accounts list and from the account's page.
    let list = owner.page("/admin/accounts").await;
    let row = format!("tr.account[data-app-id='{}'] a.go-live", info.app_id);
    assert_eq!(attr(&list, &row, "href"), path);
    let edit = owner
        .page(&format!("/admin/accounts/{}", info.app_id))
        .await;
    assert_eq!(attr(&edit, "#go-live-link", "href"), path);

    let doc = owner.page(&path).await;
    let lines = check_lines(&doc);
    let ids: Vec<&str> = lines.iter().map(|(id, _)| id.as_str()).collect();
    let card_count = info.card_ids.len();
    assert!(card_count >= 1);
    let mut expected = vec![
        "public_url",
        "server_url",
        "message_mode",
        "access_token",
        "mini_program",
    ];
    expected.extend(std::iter::repeat_n("card", card_count));
    assert_eq!(ids, expected);
    for (id, state) in &lines {
        assert!(
            ["ok", "failed", "unknown"].contains(&state.as_str()),
            "{id}: {state}"
        );
        let badge = format!("#checklist li.check[data-id={id}] .badge");
        assert!(
            attr(&doc, &badge, "class").contains(&format!("check-{state}")),
            "{id}"
        );
    }
    let state_of = |id: &str| lines.iter().find(|(i, _)| i == id).unwrap().1.clone();
    assert_eq!(state_of("public_url"), "failed");
    assert!(
        text(&doc, "li.check[data-id=public_url] .check-detail")
            .contains("KAIKA__SERVER__PUBLIC_URL is not set"),
        "the detail says what to do"
    );
    assert_eq!(
        text(&doc, "li.check[data-id=public_url] .check-title"),
        "Kaika 公网地址"
    );
    assert_eq!(text(&doc, "li.check[data-id=public_url] .badge"), "失败");
    assert_eq!(state_of("access_token"), "ok");
    assert_eq!(text(&doc, "li.check[data-id=access_token] .badge"), "正常");
    let demo = demo_card(&app).await;
    assert!(text(&doc, "li.check[data-id=card] .check-title").contains(&demo.title));
    assert_eq!(text(&doc, ".paste-token"), account.callback_token);
    assert!(text(&doc, ".paste-server_url").ends_with(&format!("/wechat/{}/callback", info.app_id)));
    let refusal = "#refusals tr.refusal[data-code=invalid_signature]";
    assert_eq!(text(&doc, &format!("{refusal} .count")), "3");
    assert!(text(&doc, refusal).contains("Token 与微信后台填写的不一致"));
    assert_eq!(select(&doc, "#whitelist-form").len(), 1);

    let viewer = logged_in(&app, "viewer", Role::Viewer).await;
    let doc = viewer.page(&path).await;
    assert_eq!(text(&doc, ".paste-token"), "******");
    assert!(!doc.html().contains(&account.callback_token));
    assert!(select(&doc, "#whitelist-form").is_empty());
    assert_eq!(select(&doc, "#whitelist-readonly").len(), 1);
    viewer.get("/admin/lang/en").await;
    let doc = viewer.page(&path).await;
    assert_eq!(text(&doc, "li.check[data-id=access_token] .badge"), "OK");
    assert_eq!(text(&doc, "h1 code"), info.app_id);

    let response = owner
        .get("/admin/accounts/wx0000000000000000/go-live")
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // A push (WeChat's review of the demo card, delivered in the background) shows as the last push,
    // here and on the list.
    sandbox.sim.approve_card(&demo.wechat_card_id).unwrap();
    let last_push = || async {
        kaika_core::events::last_push(&app.app_db, account.summary.id)
            .await
            .unwrap()
            .map(|p| {
                // Shown in the admin's time zone, Asia/Shanghai by default (UTC+8 all year).
                let shanghai = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
                p.received_at
                    .with_timezone(&shanghai)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
    };
    for _ in 0..50 {
        if last_push().await.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let before = last_push().await.unwrap();
    let doc = owner.page(&path).await;
    let list = owner.page("/admin/accounts").await;
    let after = last_push().await.unwrap();
    let shown = text(&doc, "#last-push time");
    assert!(shown == before || shown == after, "{shown}");
    let cell = format!("tr.account[data-app-id='{}'] .last-push", info.app_id);
    let shown = text(&list, &cell);
    assert!(shown == before || shown == after, "{shown}");
}

#[tokio::test]
async fn the_test_whitelist_refuses_bad_entries_next_to_their_field_and_stores_a_valid_list() {
    let (app, sandbox, info) = TestApp::sandbox().await;
    let account_id = kaika_core::accounts::list(&app.app_db)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.app_id == info.app_id)
        .unwrap()
        .id;
    let operator = logged_in(&app, "operator", Role::Operator).await;
    let page = format!("/admin/accounts/{}/go-live", info.app_id);
    let action = format!("/admin/accounts/{}/whitelist", info.app_id);
    let csrf = operator.csrf(&page).await;
    assert!(text(&operator.page(&page).await, "#whitelist-hint").contains("审核"));

    let response = operator
        .post(
            &action,
            &[
                ("csrf", &csrf),
                ("openids", ""),
                ("usernames", "tester<1>"),
                ("mini_openids", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert!(text(&doc, "#usernames-error").contains("每栏最多 10 个"));
    assert!(select(&doc, "#openids-error, #mini_openids-error").is_empty());
    assert_eq!(
        text(&doc, "#usernames"),
        "tester<1>",
        "the form keeps what was typed"
    );
    operator.get("/admin/lang/en").await;
    let eleven = (0..11)
        .map(|i| format!("m{i}"))
        .collect::<Vec<_>>()
        .join("\n");
    let response = operator
        .post(&action, &[("csrf", &csrf), ("mini_openids", &eleven)])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert!(text(&doc, "#mini_openids-error").contains("at most 10 per list"));

    // An openid WeChat does not know for this account: WeChat's refusal is a form error, not a 500.
    let response = operator
        .post(
            &action,
            &[("csrf", &csrf), ("openids", "oSomeoneElsesOpenid")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert!(text(&doc, "#whitelist-error").contains("WeChat refused the whitelist"));
    let stored = kaika_core::whitelist::load(&app.app_db, account_id)
        .await
        .unwrap();
    assert_eq!(stored, kaika_core::whitelist::TestWhitelist::default());

    let openid = sandbox.sim.openid(&info.app_id, "tester1").unwrap();
    let response = operator
        .post(
            &action,
            &[
                ("csrf", &csrf),
                ("openids", &openid),
                ("usernames", "tester1, tester2"),
                ("mini_openids", "mini_tester1\nmini_tester2"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        format!("{page}?done=whitelist_saved").as_str()
    );
    let stored = kaika_core::whitelist::load(&app.app_db, account_id)
        .await
        .unwrap();
    assert_eq!(stored.openids, [openid.as_str()]);
    assert_eq!(stored.usernames, ["tester1", "tester2"]);
    assert_eq!(stored.mini_openids, ["mini_tester1", "mini_tester2"]);
    let at_wechat = sandbox.sim.test_whitelist(&info.app_id);
    assert_eq!(at_wechat.openid, [openid.as_str()]);
    assert_eq!(at_wechat.username, ["tester1", "tester2"]);
    let doc = operator.page(&format!("{page}?done=whitelist_saved")).await;
    assert_eq!(
        text(&doc, ".flash"),
        "Test whitelist saved and sent to WeChat."
    );
    assert_eq!(text(&doc, "#usernames"), "tester1\ntester2");
    let (audit, _) = kaika_core::audit::page(&app.app_db, 0, 10).await.unwrap();
    assert!(audit
        .iter()
        .any(|a| a.action == "account.whitelist" && a.actor == "admin:operator"));

    let viewer = logged_in(&app, "viewer", Role::Viewer).await;
    let doc = viewer.page(&page).await;
    assert_eq!(
        text(&doc, "#mini_openids-list"),
        "mini_tester1\nmini_tester2"
    );
    let viewer_csrf = viewer.csrf(&page).await;
    let response = viewer
        .post(&action, &[("csrf", &viewer_csrf), ("usernames", "")])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        kaika_core::whitelist::load(&app.app_db, account_id)
            .await
            .unwrap(),
        stored
    );
}

#[tokio::test]
async fn the_accounts_list_uses_the_public_url_and_shows_the_token_error_and_the_missing_push() {
    use kaika_core::accounts::{self, AppId, MessageMode, NewAccount, SecretText};
    use kaika_core::entity::accounts as account_rows;
    let app = TestApp::spawn_with(&[("server.public_url", "https://cards.example.com/")]).await;
    let added = accounts::add(
        &app.app_db,
        &app.master_key,
        NewAccount {
            name: "正式公众号".into(),
            app_id: AppId::parse("wx1234567890abcdef").unwrap(),
            app_secret: SecretText::new("0123456789abcdef0123456789abcdef"),
            callback_token: "token123".into(),
            encoding_aes_key: None,
            message_mode: MessageMode::Plain,
            mini_program: None,
            api_base_url: "https://api.weixin.qq.com".into(),
            is_sandbox: false,
        },
    )
    .await
    .unwrap();
    let owner = logged_in(&app, "owner", Role::Owner).await;
    let row = "tr.account[data-app-id=wx1234567890abcdef]";
    let doc = owner.page("/admin/accounts").await;
    assert_eq!(
        text(&doc, &format!("{row} .callback-url")),
        "https://cards.example.com/wechat/wx1234567890abcdef/callback"
    );
    assert!(select(&doc, &format!("{row} .token-error")).is_empty());
    assert_eq!(text(&doc, &format!("{row} .last-push")), "从未");

    let mut stored: account_rows::ActiveModel = account_rows::Entity::find_by_id(added.id)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap()
        .into();
    stored.token_error = Set(Some("40164: invalid ip 203.0.113.9".into()));
    stored.token_error_at = Set(Some(
        chrono::DateTime::parse_from_rfc3339("2024-05-06T07:08:00Z")
            .unwrap()
            .to_utc(),
    ));
    stored.update(&app.app_db).await.unwrap();
    let doc = owner.page("/admin/accounts").await;
    let badge = text(&doc, &format!("{row} .badge.token-error"));
    assert!(
        badge.contains("40164: invalid ip 203.0.113.9") && badge.contains("2024-05-06 15:08"),
        "{badge}"
    );
    let doc = owner.page("/admin/accounts/wx1234567890abcdef").await;
    assert_eq!(
        text(&doc, "#callback-url"),
        "https://cards.example.com/wechat/wx1234567890abcdef/callback"
    );
    assert!(text(&doc, "#token-error").contains("invalid ip"));
}

#[tokio::test]
async fn a_card_on_a_real_account_is_refused_until_the_public_url_is_set() {
    use kaika_core::accounts::{self, AppId, MessageMode, NewAccount, SecretText};
    use kaika_wechat_sim::AccountSpec;
    let (app, sandbox, info) = TestApp::sandbox().await;
    let real = sandbox.sim.create_account(AccountSpec::default()).unwrap();
    accounts::add(
        &app.app_db,
        &app.master_key,
        NewAccount {
            name: "正式公众号".into(),
            app_id: AppId::parse(&real.app_id).unwrap(),
            app_secret: SecretText::new(&real.app_secret),
            callback_token: real.token.clone(),
            encoding_aes_key: Some(SecretText::new(&real.encoding_aes_key)),
            message_mode: MessageMode::Safe,
            mini_program: None,
            api_base_url: app.url("/sim"),
            is_sandbox: false,
        },
    )
    .await
    .unwrap();
    let operator = logged_in(&app, "operator", Role::Operator).await;
    let doc = operator.page("/admin/cards/new").await;
    let csrf = attr(&doc, "input[name=csrf]", "value");
    assert_eq!(
        attr(&doc, "#after_submit_url", "value"),
        format!("{}/sandbox", app.base_url),
        "without a public URL the sandbox page stays the default"
    );
    let form = |account: &str, title: &str| {
        reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .text("account", account.to_owned())
            .text("title", title.to_owned())
            .text("brand_name", "正式小店")
            .text("color", "Color010")
            .text("logo_url", "https://mmbiz.qpic.cn/mmbiz/logo/0")
            .text("notice", "出示会员码")
            .text("description", "说明")
            .text("prerogative", "九折")
            .text("welcome_bonus", "0")
            .text("membership_prefix", "ZS")
            .text("after_submit_url", format!("{}/sandbox", app.base_url))
            .text("action", "create")
    };
    let post = |form: reqwest::multipart::Form| {
        operator
            .client
            .post(format!("{}/admin/cards", app.base_url))
            .multipart(form)
            .send()
    };
    let response = post(form(&real.app_id, "正式卡")).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let doc = Html::parse_document(&response.text().await.unwrap());
    let error = text(&doc, "#after_submit_url-error");
    assert!(
        error.contains("KAIKA__SERVER__PUBLIC_URL") && error.contains("沙箱"),
        "{error}"
    );
    operator.get("/admin/lang/en").await;
    let response = post(form(&real.app_id, "正式卡")).await.unwrap();
    let doc = Html::parse_document(&response.text().await.unwrap());
    assert!(text(&doc, "#after_submit_url-error").contains("Set KAIKA__SERVER__PUBLIC_URL"));
    let titles: Vec<String> = cards::Entity::find()
        .all(&app.app_db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.title)
        .collect();
    assert!(!titles.iter().any(|t| t == "正式卡"));
    // The sandbox account keeps its sandbox page.
    let response = post(form(&info.app_id, "沙箱卡")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_refresh_button_records_the_review_wechat_reports_when_no_push_arrives() {
    use kaika_wechat_sim::AccountPatch;
    let (app, sandbox, info) = TestApp::sandbox().await;
    let operator = logged_in(&app, "operator", Role::Operator).await;
    let csrf = operator.csrf("/admin/cards/new").await;
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("account", info.app_id.clone())
        .text("title", "待审卡")
        .text("brand_name", "开卡咖啡")
        .text("color", "Color010")
        .text("logo_url", "https://mmbiz.qpic.cn/mmbiz/logo/0")
        .text("notice", "出示会员码")
        .text("description", "说明")
        .text("prerogative", "九折")
        .text("welcome_bonus", "0")
        .text("membership_prefix", "DS")
        .text("after_submit_url", format!("{}/sandbox", app.base_url))
        .text("action", "create");
    let response = operator
        .client
        .post(format!("{}/admin/cards", app.base_url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let find = || async {
        cards::Entity::find()
            .all(&app.app_db)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.title == "待审卡")
            .unwrap()
    };
    let card = find().await;
    assert_eq!(card.review_status, "pending");
    // WeChat's review pushes are lost: the account has no server URL at WeChat any more.
    sandbox
        .sim
        .update_account(
            &info.app_id,
            AccountPatch {
                callback_url: Some(String::new()),
                ..AccountPatch::default()
            },
        )
        .unwrap();
    let path = format!("/admin/cards/{}", card.id);
    let refresh = format!("{path}/refresh-review");
    let doc = operator.page(&path).await;
    assert_eq!(select(&doc, "#refresh-review").len(), 1);
    let response = operator.post(&refresh, &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        format!("{path}?done=review_pending").as_str()
    );
    assert_eq!(find().await.review_status, "pending");

    sandbox.sim.approve_card(&card.wechat_card_id).unwrap();
    assert_eq!(find().await.review_status, "pending", "no push arrived");
    let response = operator.post(&refresh, &[("csrf", &csrf)]).await;
    assert_eq!(
        response.headers()["location"],
        format!("{path}?done=review_approved").as_str()
    );
    assert_eq!(find().await.review_status, "approved");
    let doc = operator.page(&format!("{path}?done=review_approved")).await;
    assert_eq!(text(&doc, ".flash"), "微信显示该卡已通过审核。");
    assert_eq!(text(&doc, "#review-status"), "已通过");

    sandbox
        .sim
        .refuse_card(&card.wechat_card_id, "图片不清晰")
        .unwrap();
    let response = operator.post(&refresh, &[("csrf", &csrf)]).await;
    assert_eq!(
        response.headers()["location"],
        format!("{path}?done=review_refused").as_str()
    );
    let doc = operator.page(&format!("{path}?done=review_refused")).await;
    assert_eq!(text(&doc, "#review-status"), "未通过");
    assert!(!text(&doc, "#refuse-reason").is_empty());

    let viewer = logged_in(&app, "viewer", Role::Viewer).await;
    let doc = viewer.page(&path).await;
    assert!(select(&doc, "#refresh-review").is_empty());
    let viewer_csrf = attr(&doc, "input[name=csrf]", "value");
    let response = viewer.post(&refresh, &[("csrf", &viewer_csrf)]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = operator
        .post("/admin/cards/999999/refresh-review", &[("csrf", &csrf)])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_dashboard_counts_members_who_claimed_without_activating_and_links_to_them() {
    let (app, _sandbox, _info) = TestApp::sandbox().await;
    assert_eq!(
        kaika_core::members::count_claimed(&app.app_db)
            .await
            .unwrap(),
        0
    );
    let card = demo_card(&app).await;
    kaika_core::testing::seed_member(&app.app_db, card.id, "111111111111").await;
    let claimed = kaika_core::testing::seed_member(&app.app_db, card.id, "222222222222").await;
    let mut row: members::ActiveModel = members::Entity::find_by_id(claimed)
        .one(&app.app_db)
        .await
        .unwrap()
        .unwrap()
        .into();
    row.status = Set("claimed".into());
    row.activated_at = Set(None);
    row.update(&app.app_db).await.unwrap();
    assert_eq!(
        kaika_core::members::count_claimed(&app.app_db)
            .await
            .unwrap(),
        1
    );

    let browser = logged_in(&app, "viewer", Role::Viewer).await;
    let doc = browser.page("/admin").await;
    assert_eq!(text(&doc, "#claimed-members"), "1");
    let link = attr(&doc, "#see-claimed", "href");
    assert_eq!(link, "/admin/members?status=claimed");
    let doc = browser.page(&link).await;
    let rows = select(&doc, "#members tr.member-row");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].value().attr("data-member-id").unwrap(),
        claimed.to_string()
    );
    assert_eq!(attr(&doc, "#filter-claimed", "class"), "active");
    let doc = browser.page("/admin/members").await;
    assert_eq!(select(&doc, "#members tr.member-row").len(), 2);
    assert_eq!(
        attr(&doc, "#filter-claimed", "href"),
        "/admin/members?status=claimed"
    );
}

#[tokio::test]
async fn cards_made_on_wechat_outside_kaika_are_imported_once() {
    let (app, _sandbox, info) = TestApp::sandbox().await;
    let browser = logged_in(&app, "operator", Role::Operator).await;
    // The demo card exists on WeChat; Kaika forgets it, as if it had been created in WeChat's console.
    let demo = demo_card(&app).await;
    kaika_core::entity::channels::Entity::delete_many()
        .exec(&app.app_db)
        .await
        .unwrap();
    cards::Entity::delete_by_id(demo.id)
        .exec(&app.app_db)
        .await
        .unwrap();
    let csrf = browser.csrf("/admin/cards").await;
    let form = [("csrf", csrf.as_str()), ("account", info.app_id.as_str())];
    let response = browser.post("/admin/cards/import", &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let imported = cards::Entity::find().all(&app.app_db).await.unwrap();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].wechat_card_id, demo.wechat_card_id);
    assert_eq!(imported[0].title, demo.title);
    assert_eq!(imported[0].review_status, "approved");
    assert!(
        imported[0].stored_value,
        "the demo card has stored value at WeChat"
    );
    // Importing again finds nothing new.
    let response = browser.post("/admin/cards/import", &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(cards::Entity::find().count(&app.app_db).await.unwrap(), 1);
}
