//! The simulator mounted under a prefix inside another actix app, as the Kaika server does.

use actix_web::{web, App, HttpResponse, HttpServer};
use kaika_wechat_sim::{configure, AccountSpec, MiniProgramSpec, SimConfig, Simulator};
use serde_json::Value;

#[tokio::test]
async fn the_simulator_works_below_sim_next_to_other_routes() {
    let sim = Simulator::new(SimConfig::for_tests(5));
    let account = sim
        .create_account(AccountSpec {
            mini_program: Some(MiniProgramSpec::default()),
            ..AccountSpec::default()
        })
        .unwrap();
    let scoped = sim.clone();
    let configured = sim.clone();
    let server = HttpServer::new(move || {
        let configured = configured.clone();
        App::new()
            .route("/healthz", web::get().to(HttpResponse::Ok))
            .service(scoped.scope("/sim"))
            .service(web::scope("/other").configure(move |c| configure(c, configured)))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let base = format!("http://{}", server.addrs()[0]);
    tokio::spawn(server.run());
    let http = reqwest::Client::new();
    for prefix in ["sim", "other"] {
        let v: Value = http
            .get(format!(
                "{base}/{prefix}/cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
                account.app_id, account.app_secret
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v["access_token"].is_string(), "{prefix}: {v}");
    }
    let accounts: Value = http
        .get(format!("{base}/sim/control/accounts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accounts[0]["app_id"], account.app_id.as_str());
    let page = http
        .get(format!("{base}/sim/component?encrypt_card_id=nope"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"fatal\"") && page.contains("40073"),
        "the component page is served below the prefix: {page}"
    );
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
