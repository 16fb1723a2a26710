//! A tiny callback server that records what the simulator pushes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

#[derive(Debug, Clone)]
pub struct Received {
    pub query: HashMap<String, String>,
    pub body: String,
    /// When the push arrived.
    pub at: Instant,
}

#[derive(Default)]
pub struct Behaviour {
    /// Answer 500 to this many requests first.
    pub fail_first: AtomicUsize,
    /// Sleep this many milliseconds before answering (0: none).
    pub sleep_ms: AtomicUsize,
    /// Answer this body instead of `success`.
    pub reply: Mutex<Option<String>>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub behaviour: Arc<Behaviour>,
}

async fn callback(
    req: HttpRequest,
    body: web::Bytes,
    received: web::Data<Arc<Mutex<Vec<Received>>>>,
    behaviour: web::Data<Arc<Behaviour>>,
) -> HttpResponse {
    let query = req
        .query_string()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), urlencoding::decode(v).unwrap().into_owned()))
        .collect();
    received.lock().unwrap().push(Received {
        query,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    });
    let sleep = behaviour.sleep_ms.load(Ordering::SeqCst);
    if sleep > 0 {
        tokio::time::sleep(Duration::from_millis(sleep as u64)).await;
    }
    let failing = behaviour
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return HttpResponse::InternalServerError().finish();
    }
    let reply = behaviour
        .reply
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| "success".into());
    HttpResponse::Ok().body(reply)
}

impl Receiver {
    pub async fn start() -> Self {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let behaviour: Arc<Behaviour> = Arc::default();
        let (r, b) = (received.clone(), behaviour.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(r.clone()))
                .app_data(web::Data::new(b.clone()))
                .route("/wechat/acc/callback", web::post().to(callback))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = server.addrs()[0];
        tokio::spawn(server.run());
        Self {
            url: format!("http://{addr}/wechat/acc/callback"),
            received,
            behaviour,
        }
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// The trimmed text of `<name>` in `xml`, CDATA unwrapped (official samples pad CDATA with spaces).
pub fn tag(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    let inner = xml[start..end].trim();
    let inner = inner
        .strip_prefix("<![CDATA[")
        .and_then(|s| s.strip_suffix("]]>"))
        .unwrap_or(inner);
    Some(inner.to_owned())
}
