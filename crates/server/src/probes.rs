//! The operator's probes: `GET /healthz` (liveness), `GET /readyz` (readiness) and `GET /metrics`
//! (Prometheus text). Liveness never touches the database, so a database blip makes instances unready
//! (taken out of the load balancer) without getting every one of them restarted.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::metrics::{Metrics, MetricsAccess};
use crate::startup::Context;

/// `GET /healthz`: 200 while the process answers.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when the database answers and no migration is pending; 503 otherwise, with a
/// body naming what is wrong.
pub(crate) async fn readyz(ctx: web::Data<Context>) -> HttpResponse {
    if let Err(err) = kaika_core::db::ping(&ctx.db).await {
        tracing::warn!(error = %err, "readiness: database unavailable");
        return HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "database": "unavailable"}));
    }
    match kaika_core::migration::pending(&ctx.db).await {
        Ok(pending) if pending.is_empty() => HttpResponse::Ok().json(json!({
            "status": "ok", "database": "ok", "migrations": "current"
        })),
        Ok(pending) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable", "database": "ok", "migrations": "pending", "pending": pending
        })),
        Err(err) => {
            tracing::warn!(error = %err, "readiness: cannot read the applied migrations");
            HttpResponse::ServiceUnavailable().json(json!({
                "status": "unavailable", "database": "ok", "migrations": "unknown"
            }))
        }
    }
}

/// `GET /metrics`: the registry, with the pool, the queues and the process read now. Answered only as
/// [`MetricsAccess`] allows: 401 without the configured bearer token, 403 for a peer that is not local
/// when neither a token nor a separate address is configured.
pub(crate) async fn metrics_text(
    ctx: web::Data<Context>,
    metrics: web::Data<Metrics>,
    access: Option<web::Data<MetricsAccess>>,
    req: HttpRequest,
) -> HttpResponse {
    let access = access.map(|a| a.get_ref().clone()).unwrap_or_default();
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let forwarded = req.headers().contains_key("x-forwarded-for")
        || req.headers().contains_key(header::FORWARDED);
    let peer = req.peer_addr().map(|addr| addr.ip());
    match crate::metrics::refusal(&access, peer, authorization, forwarded) {
        Some(code @ "metrics_unauthorized") => {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .json(json!({
                    "code": code,
                    "message": "/metrics needs the bearer token set in KAIKA__METRICS__TOKEN"
                }))
        }
        Some(code) => {
            return HttpResponse::Forbidden().json(json!({
                "code": code,
                "message": "/metrics answers only local requests; set KAIKA__METRICS__TOKEN or \
                            KAIKA__METRICS__LISTEN to scrape it from elsewhere"
            }))
        }
        None => {}
    }
    let backlog = match kaika_core::backlog::backlog(&ctx.db).await {
        Ok(backlog) => Some(backlog),
        Err(err) => {
            tracing::warn!(error = %err, "metrics: cannot read the queues");
            None
        }
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render(kaika_core::db::pool_stats(&ctx.db), backlog))
}
