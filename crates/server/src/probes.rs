//! The operator's probes: `GET /healthz` (the database answers) and `GET /metrics` (Prometheus text).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::metrics::Metrics;
use crate::startup::Context;

/// `GET /healthz`: 200 while the database answers, 503 otherwise.
pub(crate) async fn healthz(ctx: web::Data<Context>) -> HttpResponse {
    match kaika_core::db::ping(&ctx.db).await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok", "database": "ok"})),
        Err(err) => {
            tracing::warn!(error = %err, "health check: database unavailable");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "database": "unavailable"}))
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
