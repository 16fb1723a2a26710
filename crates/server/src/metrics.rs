//! Prometheus metrics: what an on-call person watches. HTTP requests and latencies by route, the
//! database pool, activations, events, the outbox, access tokens, WeChat calls, the re-drive (counted
//! where they happen, through [`kaika_core::telemetry::Observer`]), the queues' backlog and dead letters
//! (read at scrape time, [`kaika_core::backlog`]), build info and the process itself.
//!
//! Each process has its own [`Metrics`]; the counters start at zero with the process, as Prometheus
//! expects. Who may read `/metrics` is decided by [`MetricsAccess`].

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use kaika_core::backlog::Backlog;
use kaika_core::telemetry::CallOutcome;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use secrecy::{ExposeSecret, SecretString};

/// Latency buckets of calls that leave the process (WeChat, a whole activation), in seconds.
const REMOTE_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The metrics of one server process. Cheap to clone: clones share the same counters.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    activations: IntCounterVec,
    activation_latency: HistogramVec,
    events_received: IntCounterVec,
    events_processed: IntCounterVec,
    outbox_jobs: IntCounterVec,
    token_refreshes: IntCounterVec,
    wechat_calls: IntCounterVec,
    wechat_latency: HistogramVec,
    redrive_runs: IntCounterVec,
    redrive_activations: IntCounterVec,
    backlog: IntGaugeVec,
    oldest: prometheus::GaugeVec,
    dead_letters: IntGaugeVec,
    backlog_up: IntGauge,
    process: Process,
}

/// Registers a collector and hands it back.
fn registered<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    registered(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> Result<HistogramVec, prometheus::Error> {
    registered(
        registry,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        )?,
    )
}

fn gauges(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec, prometheus::Error> {
    registered(registry, IntGaugeVec::new(Opts::new(name, help), labels)?)
}

impl Metrics {
    /// Registers Kaika's metrics in a registry of their own.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("kaika".into()), None)?;
        let r = &registry;
        let build = registered(
            r,
            IntGaugeVec::new(
                Opts::new("build_info", "Always 1; the labels say which Kaika runs."),
                &["version"],
            )?,
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let metrics = Self {
            requests: counter(
                r,
                "http_requests_total",
                "HTTP requests by method, route pattern and status.",
                &["method", "route", "status"],
            )?,
            latency: histogram(
                r,
                "http_request_duration_seconds",
                "HTTP request latency by method and route pattern.",
                &["method", "route"],
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ],
            )?,
            pool: gauges(
                r,
                "db_pool_connections",
                "Database pool connections by state.",
                &["state"],
            )?,
            activations: counter(
                r,
                "activations_total",
                "Activation drives by outcome (activated, retrying, failed) and the step they ended at.",
                &["outcome", "step"],
            )?,
            activation_latency: histogram(
                r,
                "activation_duration_seconds",
                "How long one drive of an activation took, by outcome.",
                &["outcome"],
                &REMOTE_BUCKETS,
            )?,
            events_received: counter(
                r,
                "events_received_total",
                "Verified WeChat pushes by event type and what was done with them (stored, ignored, \
                 unapplicable, duplicate).",
                &["type", "receipt"],
            )?,
            events_processed: counter(
                r,
                "events_processed_total",
                "Events the worker finished with, by type and outcome (applied, ignored, retrying, failed).",
                &["type", "outcome"],
            )?,
            outbox_jobs: counter(
                r,
                "outbox_jobs_total",
                "Outbox jobs (points and balance sent to WeChat) by outcome (sent, retrying, failed).",
                &["outcome"],
            )?,
            token_refreshes: counter(
                r,
                "token_refreshes_total",
                "Access-token fetches from WeChat by AppID and outcome (ok, failed).",
                &["app_id", "outcome"],
            )?,
            wechat_calls: counter(
                r,
                "wechat_calls_total",
                "HTTP calls to WeChat by endpoint and errcode (0, a WeChat errcode, timeout, transport, \
                 decode).",
                &["endpoint", "errcode"],
            )?,
            wechat_latency: histogram(
                r,
                "wechat_call_duration_seconds",
                "Latency of calls to WeChat by endpoint.",
                &["endpoint"],
                &REMOTE_BUCKETS,
            )?,
            redrive_runs: counter(
                r,
                "redrive_runs_total",
                "Background activation re-drive passes by outcome (ok, error).",
                &["outcome"],
            )?,
            redrive_activations: counter(
                r,
                "redrive_activations_total",
                "Activations the background re-drive took up.",
                &[],
            )?,
            backlog: gauges(
                r,
                "backlog",
                "Work waiting now, by queue (events, outbox, activations), read at scrape time.",
                &["queue"],
            )?,
            oldest: registered(
                r,
                prometheus::GaugeVec::new(
                    Opts::new(
                        "backlog_oldest_age_seconds",
                        "Age of the oldest waiting item by queue (events, outbox), 0 when none waits.",
                    ),
                    &["queue"],
                )?,
            )?,
            dead_letters: gauges(
                r,
                "dead_letters",
                "Items that failed for good and wait for an operator, by queue (events, outbox, \
                 activations).",
                &["queue"],
            )?,
            backlog_up: registered(
                r,
                IntGauge::new(
                    "backlog_up",
                    "1 when the last scrape could read the queues from the database, else 0.",
                )?,
            )?,
            process: Process::register(r)?,
            registry,
        };
        Ok(metrics)
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Counts a verified push (`receipt`: stored, ignored, unapplicable, duplicate).
    pub fn event_received(&self, event_type: &str, receipt: &str) {
        self.events_received
            .with_label_values(&[event_type, receipt])
            .inc();
    }

    /// The text exposition, with the pool, the queues (`None` when they could not be read) and the
    /// process read now.
    pub fn render(&self, pool: kaika_core::db::PoolStats, backlog: Option<Backlog>) -> String {
        self.pool
            .with_label_values(&["open"])
            .set(i64::from(pool.size));
        self.pool
            .with_label_values(&["idle"])
            .set(i64::from(pool.idle));
        self.pool
            .with_label_values(&["in_use"])
            .set(i64::from(pool.size.saturating_sub(pool.idle)));
        self.backlog_up.set(i64::from(backlog.is_some()));
        if let Some(b) = backlog {
            let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            self.backlog
                .with_label_values(&["events"])
                .set(count(b.events_pending));
            self.backlog
                .with_label_values(&["outbox"])
                .set(count(b.outbox_pending));
            self.backlog
                .with_label_values(&["activations"])
                .set(count(b.activations_open));
            self.oldest
                .with_label_values(&["events"])
                .set(b.events_oldest_pending_seconds);
            self.oldest
                .with_label_values(&["outbox"])
                .set(b.outbox_oldest_pending_seconds);
            self.dead_letters
                .with_label_values(&["events"])
                .set(count(b.events_failed));
            self.dead_letters
                .with_label_values(&["outbox"])
                .set(count(b.outbox_failed));
            self.dead_letters
                .with_label_values(&["activations"])
                .set(count(b.activations_failed));
        }
        self.process.read();
        let mut out = Vec::new();
        // Encoding into a Vec only fails on a malformed metric family, which our fixed set cannot produce.
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .ok();
        String::from_utf8(out).unwrap_or_default()
    }
}

impl kaika_core::telemetry::WechatObserver for Metrics {
    fn wechat_call(&self, endpoint: &str, outcome: CallOutcome, elapsed: Duration) {
        self.wechat_calls
            .with_label_values(&[endpoint, &outcome.label()])
            .inc();
        self.wechat_latency
            .with_label_values(&[endpoint])
            .observe(elapsed.as_secs_f64());
    }

    fn token_refresh(&self, app_id: &str, succeeded: bool) {
        let outcome = if succeeded { "ok" } else { "failed" };
        self.token_refreshes
            .with_label_values(&[app_id, outcome])
            .inc();
    }
}

impl kaika_core::telemetry::Observer for Metrics {
    fn activation(&self, outcome: &str, step: &str, elapsed: Duration) {
        self.activations.with_label_values(&[outcome, step]).inc();
        self.activation_latency
            .with_label_values(&[outcome])
            .observe(elapsed.as_secs_f64());
    }

    fn event_received(&self, event_type: &str, receipt: &str) {
        Metrics::event_received(self, event_type, receipt);
    }

    fn event_processed(&self, event_type: &str, outcome: &str) {
        self.events_processed
            .with_label_values(&[event_type, outcome])
            .inc();
    }

    fn outbox_processed(&self, outcome: &str) {
        self.outbox_jobs.with_label_values(&[outcome]).inc();
    }

    fn redrive_run(&self, outcome: &str, claimed: usize) {
        self.redrive_runs.with_label_values(&[outcome]).inc();
        self.redrive_activations
            .with_label_values::<&str>(&[])
            .inc_by(u64::try_from(claimed).unwrap_or(0));
    }
}

/// The process metrics Prometheus' client libraries export (`kaika_process_*`), read from `/proc` on
/// Linux; elsewhere only the start time and the uptime-based figures that need no `/proc`.
#[derive(Clone, Debug)]
struct Process {
    cpu_seconds: Gauge,
    resident_bytes: IntGauge,
    virtual_bytes: IntGauge,
    open_fds: IntGauge,
    threads: IntGauge,
}

impl Process {
    fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let start_time = registered(
            registry,
            Gauge::new(
                "process_start_time_seconds",
                "When this process started, in seconds since the Unix epoch.",
            )?,
        )?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let started = now.saturating_sub(process_uptime());
        start_time.set(started.as_secs_f64());
        Ok(Self {
            cpu_seconds: registered(
                registry,
                Gauge::new(
                    "process_cpu_seconds_total",
                    "User and system CPU time this process used, in seconds.",
                )?,
            )?,
            resident_bytes: registered(
                registry,
                IntGauge::new(
                    "process_resident_memory_bytes",
                    "Resident memory of this process in bytes.",
                )?,
            )?,
            virtual_bytes: registered(
                registry,
                IntGauge::new(
                    "process_virtual_memory_bytes",
                    "Virtual memory of this process in bytes.",
                )?,
            )?,
            open_fds: registered(
                registry,
                IntGauge::new(
                    "process_open_fds",
                    "Open file descriptors (sockets included).",
                )?,
            )?,
            threads: registered(
                registry,
                IntGauge::new("process_threads", "Threads of this process.")?,
            )?,
        })
    }

    /// Reads `/proc/self` now. Linux only; elsewhere the gauges stay at 0.
    fn read(&self) {
        let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
            return;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<i64>().ok())
        };
        if let Some(kb) = field("VmRSS:") {
            self.resident_bytes.set(kb.saturating_mul(1024));
        }
        if let Some(kb) = field("VmSize:") {
            self.virtual_bytes.set(kb.saturating_mul(1024));
        }
        if let Some(threads) = field("Threads:") {
            self.threads.set(threads);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds
                .set(i64::try_from(fds.count()).unwrap_or(i64::MAX));
        }
        if let Some(ticks) = cpu_ticks() {
            // USER_HZ is 100 on every Linux architecture Kaika ships for; reading sysconf would need libc.
            self.cpu_seconds.set(ticks as f64 / 100.0);
        }
    }
}

/// utime + stime of `/proc/self/stat`, in clock ticks.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name, field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// How long this process has run: from the process' start tick on Linux, else since first asked.
fn process_uptime() -> Duration {
    static FIRST: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let linux = || -> Option<Duration> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let after = &stat[stat.rfind(')')? + 1..];
        let start_ticks: f64 = after.split_whitespace().nth(19)?.parse().ok()?;
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(Duration::from_secs_f64(
            (uptime - start_ticks / 100.0).max(0.0),
        ))
    };
    linux().unwrap_or_else(|| FIRST.get_or_init(Instant::now).elapsed())
}

/// Who may read `/metrics` (`[metrics]` settings). Never silently public: with neither a separate
/// address nor a token, only loopback peers that came through no proxy are answered.
#[derive(Clone, Debug, Default)]
pub struct MetricsAccess {
    /// The bearer token `/metrics` requires on the main listen address, when set.
    pub token: Option<SecretString>,
    /// Whether `/metrics` is served on its own address (`metrics.listen`) instead of the main one.
    pub separate: bool,
}

/// Why a `/metrics` request is refused, if it is.
pub(crate) fn refusal(
    access: &MetricsAccess,
    peer: Option<std::net::IpAddr>,
    authorization: Option<&str>,
    forwarded: bool,
) -> Option<&'static str> {
    match &access.token {
        Some(token) => {
            let given = authorization
                .and_then(|value| value.strip_prefix("Bearer "))
                .unwrap_or_default();
            let expected = token.expose_secret().as_bytes();
            let matches: bool =
                subtle::ConstantTimeEq::ct_eq(given.trim().as_bytes(), expected).into();
            (!matches).then_some("metrics_unauthorized")
        }
        // A separate address is the operator's choice of who reaches it.
        None if access.separate => None,
        None => {
            let loopback = peer.is_some_and(|ip| ip.is_loopback());
            (!loopback || forwarded).then_some("metrics_forbidden")
        }
    }
}

/// Middleware that counts every request under its route pattern (`/api/v1/cards/{card_id}`), so that ids
/// in paths do not explode the label set.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().to_string();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        metrics.observe(
            &method,
            &route,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_need_a_token_or_a_loopback_peer() {
        let local = Some(std::net::IpAddr::from([127, 0, 0, 1]));
        let remote = Some(std::net::IpAddr::from([203, 0, 113, 9]));
        let open = MetricsAccess::default();
        assert_eq!(refusal(&open, local, None, false), None);
        assert_eq!(refusal(&open, local, None, true), Some("metrics_forbidden"));
        assert_eq!(
            refusal(&open, remote, None, false),
            Some("metrics_forbidden")
        );
        let token = MetricsAccess {
            token: Some(SecretString::from("s3cret")),
            separate: false,
        };
        assert_eq!(refusal(&token, remote, Some("Bearer s3cret"), true), None);
        assert_eq!(
            refusal(&token, local, Some("Bearer nope"), false),
            Some("metrics_unauthorized")
        );
        assert_eq!(
            refusal(&token, local, None, false),
            Some("metrics_unauthorized")
        );
        let separate = MetricsAccess {
            token: None,
            separate: true,
        };
        assert_eq!(refusal(&separate, remote, None, true), None);
    }

    #[test]
    fn process_cpu_ticks_parse_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(cpu_ticks().is_some());
        }
    }
}
