//! The operator's probes: `GET /healthz` (liveness), `GET /readyz` (readiness) and `GET /metrics`
//! (Prometheus text). Liveness never touches the database, so a database blip makes instances unready
//! (taken out of the load balancer) without getting every one of them restarted.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::metrics::Metrics;
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

/// `GET /metrics`: the registry and the pool gauges.
pub(crate) async fn metrics_text(
    ctx: web::Data<Context>,
    metrics: web::Data<Metrics>,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render(kaika_core::db::pool_stats(&ctx.db)))
}
