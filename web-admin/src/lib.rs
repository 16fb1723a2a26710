#![doc = include_str!("../README.md")]

pub mod assets;
pub mod auth;
pub mod chart;
pub mod error;
pub mod forms;
pub mod i18n;
pub mod mask;
pub mod pages;
pub mod state;

use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::web;

pub use auth::ClientOrigin;
pub use state::{AdminSettings, AdminState};

/// The Content-Security-Policy of every admin page: no inline scripts or styles, no framing, forms only
/// to ourselves. Card logos come from WeChat's CDN, hence `img-src https: http:`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob: https: http:; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Mounts the admin at `/admin`. The whole admin surface is visible here.
pub fn routes(cfg: &mut web::ServiceConfig, state: AdminState) {
    use pages::{
        accounts, activations, admins, api_keys, audit, card_edit, cards, channels, dashboard,
        events, form_designer, golive, login, members, sync,
    };
    cfg.service(
        web::scope("/admin")
            .app_data(web::Data::new(state))
            .app_data(web::FormConfig::default().limit(256 * 1024))
            .wrap(from_fn(auth::refuse_cross_site_posts))
            .wrap(
                DefaultHeaders::new()
                    .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("X-Frame-Options", "DENY"))
                    .add(("Referrer-Policy", "same-origin"))
                    .add(("Cache-Control", "no-store")),
            )
            .route("", web::get().to(dashboard::show))
            .route("/", web::get().to(dashboard::show))
            .route("/static/{file}", web::get().to(assets::serve_static))
            .route("/vendor/{file}", web::get().to(assets::serve_vendor))
            .route("/lang/{lang}", web::get().to(login::switch_language))
            .route("/login", web::get().to(login::form))
            .route("/login", web::post().to(login::submit))
            .route("/logout", web::post().to(login::logout))
            .route(
                "/logout-everywhere",
                web::post().to(login::logout_everywhere),
            )
            .route("/accounts", web::get().to(accounts::list))
            .route("/accounts/new", web::get().to(accounts::new_form))
            .route("/accounts", web::post().to(accounts::create))
            .route("/accounts/{app_id}", web::get().to(accounts::edit_form))
            .route("/accounts/{app_id}", web::post().to(accounts::update))
            .route(
                "/accounts/{app_id}/test",
                web::post().to(accounts::test_connection),
            )
            .route("/accounts/{app_id}/go-live", web::get().to(golive::show))
            .route(
                "/accounts/{app_id}/whitelist",
                web::post().to(golive::set_whitelist),
            )
            .route("/cards", web::get().to(cards::list))
            .route("/cards/new", web::get().to(cards::new_form))
            .route("/cards", web::post().to(cards::create))
            .route("/cards/import", web::post().to(cards::import))
            .route("/cards/{id}", web::get().to(cards::detail))
            .route("/cards/{id}/edit", web::get().to(card_edit::edit_form))
            .route("/cards/{id}/edit", web::post().to(card_edit::edit))
            .route(
                "/cards/{id}/refresh-review",
                web::post().to(cards::refresh_review),
            )
            .route("/cards/{id}", web::post().to(cards::update))
            .route("/cards/{id}/form", web::get().to(form_designer::show))
            .route("/cards/{id}/form", web::post().to(form_designer::save))
            .route("/channels", web::get().to(channels::list))
            .route("/channels", web::post().to(channels::create))
            .route("/channels/{id}", web::get().to(channels::detail))
            .route("/channels/{id}/rename", web::post().to(channels::rename))
            .route("/channels/{id}/archive", web::post().to(channels::archive))
            .route("/channels/{id}/code.png", web::get().to(channels::code_png))
            .route("/channels/{id}/poster.svg", web::get().to(channels::poster))
            .route("/members", web::get().to(members::list))
            .route("/members/export.csv", web::get().to(members::export))
            .route("/members/{id}", web::get().to(members::detail))
            .route("/members/{id}/ledger", web::post().to(members::adjust))
            .route("/events", web::get().to(events::list))
            .route("/events/{id}/retry", web::post().to(events::retry))
            .route("/activations", web::get().to(activations::list))
            .route(
                "/activations/{id}/redrive",
                web::post().to(activations::redrive),
            )
            .route("/sync", web::get().to(sync::show))
            .route("/sync/jobs/{id}/retry", web::post().to(sync::retry))
            .route("/sync/retry-pending", web::post().to(sync::retry_pending))
            .route("/audit", web::get().to(audit::list))
            .route("/admins", web::get().to(admins::list))
            .route("/admins", web::post().to(admins::create))
            .route("/admins/{id}/role", web::post().to(admins::set_role))
            .route("/admins/{id}/disable", web::post().to(admins::set_disabled))
            .route(
                "/admins/{id}/password",
                web::post().to(admins::reset_password),
            )
            .route("/api-keys", web::get().to(api_keys::list))
            .route("/api-keys", web::post().to(api_keys::create))
            .route("/api-keys/{id}/revoke", web::post().to(api_keys::revoke))
            .default_service(web::to(error::not_found)),
    );
}
