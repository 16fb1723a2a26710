//! The HTTP application: the shared state, the middleware and the server that runs the routing table.

use std::net::SocketAddr;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use crate::config::Settings;
use crate::error::{ApiCode, ApiError, ErrorCode};
use crate::metrics::{self, Metrics};
use crate::sandbox::Sandbox;
use crate::startup::Context;
use kaika_core::Refusal;

/// The largest JSON body any endpoint accepts.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BYTES)
        .error_handler(|err, _req| {
            let code = match &err {
                actix_web::error::JsonPayloadError::Overflow { .. }
                | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                    ErrorCode::Refused(Refusal::BodyTooLarge)
                }
                actix_web::error::JsonPayloadError::ContentType => {
                    ErrorCode::Api(ApiCode::UnsupportedMediaType)
                }
                _ => ErrorCode::Api(ApiCode::InvalidJson),
            };
            ApiError::new(code, err.to_string()).into()
        })
}

/// A bound server, ready to be awaited.
pub struct Running {
    /// The address it listens on (useful with port 0).
    pub addr: SocketAddr,
    /// The address `/metrics` is served on alone (`metrics.listen`), when it has one; that server is
    /// already running.
    pub metrics_addr: Option<SocketAddr>,
    /// The server future; awaiting it runs until SIGINT/SIGTERM or a stop through its handle.
    pub server: Server,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .field("metrics_addr", &self.metrics_addr)
            .finish_non_exhaustive()
    }
}

/// Binds the listen address and builds the server (not yet polled): every route, or only the probes
/// for a `worker` process. With a sandbox, the simulator is
/// mounted at `/sim` and the demo journey at `/sandbox`.
pub fn start(
    settings: &Settings,
    ctx: Context,
    sandbox: Option<Sandbox>,
) -> anyhow::Result<Running> {
    let metrics = web::Data::new(ctx.metrics.clone());
    let metrics_access = web::Data::new(settings.metrics_access());
    let mut admin_state =
        kaika_admin::AdminState::new(ctx.db.clone(), ctx.master_key.clone(), ctx.clients.clone());
    admin_state.public_url = ctx.public_url.clone();
    admin_state.settings.ledger = settings.ledger;
    admin_state.settings.time_zone = settings.time_zone;
    let ctx = web::Data::new(ctx);
    let metrics_ctx = ctx.clone();
    let metrics_data = metrics.clone();
    let callback_settings = web::Data::new(crate::callback::CallbackSettings {
        ingest: settings.events.ingest(),
    });
    let ledger_limits = web::Data::new(settings.ledger);
    let trusted_proxies = web::Data::new(settings.trusted_proxies.clone());
    let rate_limits = web::Data::new(crate::rate_limit::RateLimits::new(settings.rate_limit));
    let serves_http = settings.role.serves_http();
    let metrics_here = settings.metrics_listen.is_none();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(ctx.clone())
            .app_data(metrics.clone())
            .app_data(metrics_access.clone())
            .app_data(callback_settings.clone())
            .app_data(ledger_limits.clone())
            .app_data(trusted_proxies.clone())
            .app_data(rate_limits.clone())
            .app_data(json_config())
            .wrap(from_fn(metrics::record))
            .wrap(from_fn(crate::request_log::trace))
            // Outermost: the access line and the request id need the client origin.
            .wrap(from_fn(crate::client_ip::remember_origin))
            .configure(|cfg| {
                if serves_http {
                    crate::routes::configure(cfg, &admin_state, sandbox.as_ref(), metrics_here);
                } else {
                    crate::routes::configure_probes(cfg, metrics_here);
                    cfg.default_service(web::to(crate::error::not_found));
                }
            })
    })
    .shutdown_timeout(settings.shutdown_timeout.as_secs());
    if settings.workers > 0 {
        server = server.workers(settings.workers);
    }
    let server = server.bind(settings.listen).map_err(|err| {
        let reason = if err.kind() == std::io::ErrorKind::AddrInUse {
            "the address is already in use (is another kaika running?)".to_owned()
        } else {
            err.to_string()
        };
        anyhow::anyhow!("cannot listen on {}: {reason}", settings.listen)
    })?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .context("the server bound no address")?;
    let metrics_addr = match settings.metrics_listen {
        Some(listen) => Some(start_metrics(settings, listen, metrics_ctx, metrics_data)?),
        None => None,
    };
    Ok(Running {
        addr,
        metrics_addr,
        server: server.run(),
    })
}

/// Serves `/metrics` alone on its own address (`metrics.listen`), on the current runtime; like the main
/// server it stops on SIGTERM or SIGINT.
fn start_metrics(
    settings: &Settings,
    listen: SocketAddr,
    ctx: web::Data<Context>,
    metrics: web::Data<Metrics>,
) -> anyhow::Result<SocketAddr> {
    let access = web::Data::new(crate::metrics::MetricsAccess {
        token: settings.metrics_token.clone(),
        separate: true,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(ctx.clone())
            .app_data(metrics.clone())
            .app_data(access.clone())
            .configure(crate::routes::configure_metrics)
            .default_service(web::to(crate::error::not_found))
    })
    .workers(1)
    .shutdown_timeout(settings.shutdown_timeout.as_secs())
    .bind(listen)
    .map_err(|err| anyhow::anyhow!("cannot listen on {listen} (metrics.listen): {err}"))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .context("the metrics server bound no address")?;
    tokio::spawn(server.run());
    tracing::info!(%addr, "serving /metrics on its own address");
    Ok(addr)
}
