//! The routing table: every path `kaika serve` answers, in one place.

use actix_web::http::Method;
use actix_web::web;

use crate::error::api_route;
#[cfg(feature = "sandbox")]
use crate::sandbox;
use crate::sandbox::Sandbox;
use crate::{activate_page, api, callback, error, integration, probes};

/// Registers the probes alone: all a `worker` process serves (then every other path is a 404).
/// `/metrics` is among them unless it has an address of its own (`metrics.listen`).
pub fn configure_probes(cfg: &mut web::ServiceConfig, with_metrics: bool) {
    cfg.route("/healthz", web::get().to(probes::healthz))
        .route("/readyz", web::get().to(probes::readyz));
    if with_metrics {
        configure_metrics(cfg);
    }
}

/// Registers `/metrics` alone: all the separate metrics address (`metrics.listen`) serves.
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(probes::metrics_text));
}

/// Registers every route: the probes (liveness, readiness, metrics), the WeChat callback, the integration API, the
/// mini-program API, the after-submit page, the admin and, in sandbox mode, the simulator and the demo.
pub fn configure(
    cfg: &mut web::ServiceConfig,
    admin: &kaika_admin::AdminState,
    sandbox: Option<&Sandbox>,
    with_metrics: bool,
) {
    configure_probes(cfg, with_metrics);
    cfg.service(
        web::resource("/wechat/{app_id}/callback")
            .route(web::get().to(callback::handshake))
            .route(web::post().to(callback::receive)),
    )
    // Before `/api/v1`: that scope would answer 404 for the paths below it.
    .service(
        web::scope("/api/v1/integration")
            .app_data(crate::error::path_config())
            .app_data(crate::error::query_config())
            .service(api_route(
                "/members",
                Method::GET,
                integration::find_members,
            ))
            .service(api_route(
                "/members/{member_id}",
                Method::GET,
                integration::get_member,
            ))
            .service(api_route(
                "/members/{member_id}/credits",
                Method::POST,
                integration::credit,
            ))
            .service(api_route(
                "/members/{member_id}/debits",
                Method::POST,
                integration::debit,
            ))
            .service(api_route(
                "/members/{member_id}/ledger",
                Method::GET,
                integration::member_ledger,
            ))
            .service(api_route(
                "/members/{member_id}/sync",
                Method::GET,
                integration::member_sync,
            ))
            .service(api_route(
                "/entries/{entry_id}/reversal",
                Method::POST,
                integration::reverse,
            )),
    )
    .service(
        web::scope("/api/v1")
            .app_data(crate::error::path_config())
            .app_data(crate::error::query_config())
            .service(api_route("/openapi.json", Method::GET, api::openapi))
            .service(api_route("/sessions", Method::POST, api::create_session))
            .service(api_route("/cards", Method::GET, api::list_cards))
            .service(api_route(
                "/cards/{card_id}/activation-params",
                Method::GET,
                api::activation_params,
            ))
            .service(api_route("/activations", Method::POST, api::activate))
            .service(api_route("/me/cards", Method::GET, api::my_cards))
            .service(api_route("/me/cards/{card_id}", Method::GET, api::my_card))
            .service(api_route(
                "/me/cards/{card_id}/ledger",
                Method::GET,
                api::my_ledger,
            )),
    )
    .route(
        kaika_core::golive::ACTIVATE_PAGE_PATH,
        web::get().to(activate_page::activate),
    );
    kaika_admin::routes(cfg, admin.clone());
    // Someone who opens the bare address lands where there is something to do: the sandbox's journey
    // in sandbox mode, the admin otherwise.
    let home = if sandbox.is_some() {
        "/sandbox"
    } else {
        "/admin"
    };
    cfg.route(
        "/",
        web::get().to(move || async move {
            actix_web::HttpResponse::SeeOther()
                .insert_header((actix_web::http::header::LOCATION, home))
                .finish()
        }),
    );
    if let Some(demo) = sandbox {
        configure_sandbox(cfg, demo);
    }
    cfg.default_service(web::to(error::not_found));
}

/// Sandbox mode: the simulator at `/sim` (its control API only for the peers the sandbox allows) and the
/// demo journey at `/sandbox`.
#[cfg(feature = "sandbox")]
fn configure_sandbox(cfg: &mut web::ServiceConfig, demo: &Sandbox) {
    let guard = demo.clone();
    // Before `/sim`: a peer the control API does not answer meets this scope instead.
    cfg.app_data(web::Data::new(demo.clone()))
        .service(
            web::scope("/sim/control")
                .guard(actix_web::guard::fn_guard(move |ctx| {
                    !guard.control_allowed_from(ctx.head().peer_addr)
                }))
                .default_service(web::to(error::sandbox_control_forbidden)),
        )
        .service(demo.sim.scope("/sim"))
        .route("/sandbox", web::get().to(sandbox::index))
        .route("/sandbox/open", web::get().to(sandbox::open))
        .route("/sandbox/return", web::get().to(sandbox::return_trip))
        .route("/sandbox/logo.svg", web::get().to(sandbox::logo));
}

/// A build without the `sandbox` feature has no sandbox to mount.
#[cfg(not(feature = "sandbox"))]
fn configure_sandbox(_cfg: &mut web::ServiceConfig, demo: &Sandbox) {
    match *demo {}
}
