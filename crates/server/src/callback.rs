//! `/wechat/{app_id}/callback`: WeChat's server-URL handshake and its event pushes (flow 3).
//!
//! The handlers only check and store (`kaika_core::events::{handshake, receive}`); the worker in
//! [`crate::workers`] applies stored events. So the answer to WeChat costs one insert, well inside its
//! 5 seconds however slow the effects are.

use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt as _;
use kaika_core::events::ingest::MAX_BODY_BYTES;
use kaika_core::events::{self, CallbackParams, IngestSettings, Receipt};
use kaika_core::CoreError;

use crate::error::{ApiCode, ApiError};
use crate::startup::Context;
use kaika_core::Refusal;

/// What the callback handlers need besides the [`Context`]: the ingestion checks.
#[derive(Debug, Clone, Default)]
pub struct CallbackSettings {
    /// The timestamp window and other checks.
    pub ingest: IngestSettings,
}

/// Maps an ingestion error to its HTTP answer: every refusal is a 4xx with a stable code.
fn callback_error(err: CoreError) -> ApiError {
    match err {
        CoreError::NotFound { what } => {
            ApiError::new(ApiCode::AccountNotFound, format!("{what} not found"))
        }
        CoreError::Invalid { field, message } => {
            tracing::error!(
                field,
                message,
                "an account's callback settings are unusable"
            );
            ApiError::new(
                ApiCode::AccountMisconfigured,
                "the account's callback settings are unusable",
            )
        }
        other => crate::error::api_error(other),
    }
}

/// Reads the body, refusing more than [`MAX_BODY_BYTES`] before buffering it.
async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            Refusal::BodyTooLarge,
            format!("callback bodies are at most {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(1024).min(MAX_BODY_BYTES));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| ApiError::new(Refusal::InvalidBody, err.to_string()))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `GET /wechat/{app_id}/callback`: answers the echostr handshake.
pub async fn handshake(
    ctx: web::Data<Context>,
    app_id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = CallbackParams::from_query(req.query_string());
    let echo = events::handshake(&ctx.db, &ctx.master_key, &app_id, &params)
        .await
        .map_err(callback_error)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(echo))
}

/// `POST /wechat/{app_id}/callback`: verifies, decrypts and stores a push, then answers `success`.
pub async fn receive(
    ctx: web::Data<Context>,
    settings: Option<web::Data<CallbackSettings>>,
    app_id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload).await?;
    let params = CallbackParams::from_query(req.query_string());
    let ingest = settings.map(|s| s.ingest.clone()).unwrap_or_default();
    let receipt = events::receive(&ctx.db, &ctx.master_key, &app_id, &params, &body, &ingest)
        .await
        .map_err(callback_error)?;
    let (stored, counted_as) = match receipt {
        Receipt::Stored(id) => (Some(id), "stored"),
        Receipt::Ignored(id) => (Some(id), "ignored"),
        Receipt::Unapplicable(id) => (Some(id), "unapplicable"),
        Receipt::Duplicate => (None, "duplicate"),
    };
    let event_type = match stored {
        Some(id) => events::type_label(&ctx.db, id)
            .await
            .unwrap_or_else(|_| "other".to_owned()),
        None => "other".to_owned(),
    };
    ctx.metrics.event_received(&event_type, counted_as);
    match receipt {
        Receipt::Stored(id) => tracing::debug!(event = id, "event stored"),
        Receipt::Ignored(id) => tracing::debug!(event = id, "event stored as ignored"),
        Receipt::Unapplicable(id) => {
            tracing::warn!(
                event = id,
                "a verified push could not be applied; stored as failed"
            )
        }
        Receipt::Duplicate => tracing::debug!("duplicate push acknowledged"),
    }
    // WeChat's recommended answer to an event, in every mode: it neither retries nor shows an error.
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("success"))
}
