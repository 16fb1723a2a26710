//! One access line per request, and a request id that ties every line of a request together.
//!
//! The id is taken from an incoming `X-Request-Id` only when a trusted proxy sent it and it is short and
//! printable: from anyone else it could be chosen to collide with real ids and muddle an investigation,
//! or to smuggle control characters into log files. Otherwise the request gets a fresh UUID. The id goes
//! back in the response's `X-Request-Id` and is a field of the request's span, so every line logged
//! while the request runs carries it.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _};
use tracing::Instrument as _;

use crate::client_ip::TrustedProxies;

/// The header that carries the request id, in requests from a trusted proxy and in every response.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id accepted from a proxy.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The tracing target of access lines: `KAIKA__LOG__LEVEL=info,kaika::access=warn` silences them.
pub const ACCESS_TARGET: &str = "kaika::access";

/// Paths that orchestrators and scrapers ask every few seconds: their access lines are DEBUG, so they
/// do not drown the requests people make.
const PROBE_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The id of one request, also kept in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh random id (a UUID v4).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// A proxy's id, when it is 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters (no spaces).
    pub fn accept(text: &str) -> Option<Self> {
        let sane = !text.is_empty()
            && text.len() <= MAX_REQUEST_ID_LEN
            && text.bytes().all(|b| b.is_ascii_graphic());
        sane.then(|| Self(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The request's id: the trusted proxy's `X-Request-Id` when it is sane, else a fresh one.
fn request_id_of(req: &ServiceRequest) -> RequestId {
    let from_trusted_proxy = match (req.peer_addr(), req.app_data::<web::Data<TrustedProxies>>()) {
        (Some(peer), Some(trusted)) => trusted.contains(peer.ip()),
        _ => false,
    };
    from_trusted_proxy
        .then(|| req.headers().get(&REQUEST_ID_HEADER))
        .flatten()
        .and_then(|value| value.to_str().ok())
        .and_then(RequestId::accept)
        .unwrap_or_else(RequestId::generate)
}

/// What the access line says about one request.
struct Access<'a> {
    method: &'a str,
    route: &'a str,
    status: u16,
    started: Instant,
    client_ip: std::net::IpAddr,
    request_id: &'a RequestId,
    probe: bool,
}

impl Access<'_> {
    fn log(&self) {
        let duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        macro_rules! access_line {
            ($level:expr) => {
                tracing::event!(
                    target: ACCESS_TARGET,
                    $level,
                    method = self.method,
                    route = self.route,
                    status = self.status,
                    duration_ms,
                    client_ip = %self.client_ip,
                    request_id = self.request_id.as_str(),
                    "request"
                )
            };
        }
        if self.probe {
            access_line!(tracing::Level::DEBUG);
        } else {
            access_line!(tracing::Level::INFO);
        }
    }
}

/// Middleware: gives the request its id, runs it inside a `request` span carrying that id, writes the
/// access line (method, route pattern, status, duration, client address, id) and answers the id in
/// `X-Request-Id`. The route is the matched pattern (`/api/v1/cards/{card_id}`), never the path, so
/// tickets and codes in paths stay out of the log. It needs the client origin of
/// [`crate::client_ip::remember_origin`], which must wrap it.
pub async fn trace(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = request_id_of(&req);
    req.extensions_mut().insert(request_id.clone());
    let method = req.method().to_string();
    let client_ip = crate::client_ip::of(req.request());
    let probe = PROBE_PATHS.contains(&req.path());
    let span = tracing::info_span!("request", request_id = request_id.as_str());
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    match result {
        Ok(mut response) => {
            let route = response
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned());
            Access {
                method: &method,
                route: &route,
                status: response.status().as_u16(),
                started,
                client_ip,
                request_id: &request_id,
                probe,
            }
            .log();
            if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
                response.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            Ok(response)
        }
        Err(err) => {
            Access {
                method: &method,
                route: "unmatched",
                status: err.as_response_error().status_code().as_u16(),
                started,
                client_ip,
                request_id: &request_id,
                probe,
            }
            .log();
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxys_request_id_is_accepted_only_when_short_and_printable() {
        assert_eq!(
            RequestId::accept("req-42_a.b:c").map(|id| id.0),
            Some("req-42_a.b:c".to_owned())
        );
        let longest = "a".repeat(MAX_REQUEST_ID_LEN);
        assert!(RequestId::accept(&longest).is_some());
        for refused in [
            String::new(),
            "a".repeat(MAX_REQUEST_ID_LEN + 1),
            "two words".to_owned(),
            "line\nbreak".to_owned(),
            "tab\there".to_owned(),
            "中文".to_owned(),
            "\u{1b}[31mred".to_owned(),
        ] {
            assert!(RequestId::accept(&refused).is_none(), "{refused:?}");
        }
    }

    #[test]
    fn generated_request_ids_differ() {
        let first = RequestId::generate();
        assert_ne!(first, RequestId::generate());
        assert_eq!(RequestId::accept(first.as_str()), Some(first));
    }
}
