//! Event pushes to the account's callback URL (reference §9, §10).

use std::time::{Duration, Instant};

use rand::Rng as _;
use serde::Serialize;

use crate::config::XmlStyle;
use crate::faults::FaultKind;
use crate::model::{Account, Card, IssuedCode, MessageMode};
use crate::sim::{lock, Simulator};

/// A value inside an event element: text goes in CDATA, numbers do not (as in the samples).
#[derive(Debug, Clone)]
pub(crate) enum XmlVal {
    Text(String),
    Num(String),
}

impl From<String> for XmlVal {
    fn from(s: String) -> Self {
        XmlVal::Text(s)
    }
}

impl XmlVal {
    pub(crate) fn num(n: impl ToString) -> Self {
        XmlVal::Num(n.to_string())
    }
}

/// An event waiting to be pushed.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub app_id: String,
    pub name: &'static str,
    pub from: String,
    pub card_id: String,
    pub code: Option<String>,
    /// Elements after `<Event>`, in order.
    pub fields: Vec<(&'static str, XmlVal)>,
}

impl Event {
    pub(crate) fn card_check(card: &Card, pass: bool, reason: &str) -> Self {
        Self {
            app_id: card.app_id.clone(),
            name: if pass {
                "card_pass_check"
            } else {
                "card_not_pass_check"
            },
            // Review events come from the platform, not a member; the samples still carry an openid-like value.
            from: format!("o{}", &card.card_id.get(1..).unwrap_or_default()),
            card_id: card.card_id.clone(),
            code: None,
            fields: vec![
                ("CardId", card.card_id.clone().into()),
                ("RefuseReason", reason.to_owned().into()),
            ],
        }
    }

    pub(crate) fn user_code_event(
        card: &Card,
        code: &IssuedCode,
        name: &'static str,
        extra: &[(&'static str, XmlVal)],
    ) -> Self {
        let mut fields = vec![
            ("CardId", card.card_id.clone().into()),
            ("UserCardCode", code.code.clone().into()),
        ];
        fields.extend(extra.iter().cloned());
        Self {
            app_id: card.app_id.clone(),
            name,
            from: code.openid.clone(),
            card_id: card.card_id.clone(),
            code: Some(code.code.clone()),
            fields,
        }
    }
}

/// How one push ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushOutcome {
    /// Still being delivered (or held back by a fault).
    Pending,
    /// The callback answered 2xx with `success`, an empty body, or an encrypted reply.
    Delivered,
    /// The callback answered 2xx with something else; WeChat shows the member an error and does not retry.
    BadReply,
    /// No delivery was answered within the attempts.
    Failed,
    /// The account has no callback URL.
    NoCallback,
}

/// One HTTP delivery of a push.
#[derive(Debug, Clone, Serialize)]
pub struct PushAttempt {
    /// Wall-clock start, Unix milliseconds.
    pub started_at_ms: i64,
    /// How long it took.
    pub duration_ms: u64,
    /// HTTP status, if an answer came.
    pub status: Option<u16>,
    /// The answer body (first 1000 bytes).
    pub reply: Option<String>,
    /// Transport error or timeout.
    pub error: Option<String>,
}

/// A recorded push and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct PushRecord {
    /// Sequence number.
    pub id: u64,
    /// Owning account.
    pub app_id: String,
    /// `Event` value.
    pub event: String,
    /// `CardId`.
    pub card_id: String,
    /// `UserCardCode`, when the event has one.
    pub code: Option<String>,
    /// `FromUserName`.
    pub openid: String,
    /// `CreateTime` (simulated clock).
    pub create_time: i64,
    /// Delivery mode at the time of the push.
    pub mode: MessageMode,
    /// Full URL with the signature query, if the account has a callback.
    pub url: Option<String>,
    /// The plaintext event XML.
    pub xml: String,
    /// What was POSTed (the plaintext, or the encrypted envelope).
    pub body: String,
    /// For a `duplicate` fault: the push this one repeats.
    pub duplicate_of: Option<u64>,
    /// The push fault applied, if any.
    pub fault: Option<FaultKind>,
    /// Deliveries so far.
    pub attempts: Vec<PushAttempt>,
    /// Result.
    pub outcome: PushOutcome,
}

#[derive(Debug, Clone)]
struct Delivery {
    id: u64,
    url: String,
    body: String,
    delay: Option<Duration>,
}

#[derive(Debug, Default)]
pub(crate) struct PushLog {
    records: Vec<PushRecord>,
    held: Option<Delivery>,
}

fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"))
}

pub(crate) fn event_xml(style: XmlStyle, to: &str, create_time: i64, ev: &Event) -> String {
    let mut elems: Vec<(&str, XmlVal)> = vec![
        ("ToUserName", XmlVal::Text(to.to_owned())),
        ("FromUserName", XmlVal::Text(ev.from.clone())),
        ("CreateTime", XmlVal::num(create_time)),
        ("MsgType", XmlVal::Text("event".into())),
        ("Event", XmlVal::Text(ev.name.to_owned())),
    ];
    elems.extend(ev.fields.iter().cloned());
    let mut out = String::from("<xml>");
    for (name, val) in elems {
        let (inner, spaced) = match val {
            XmlVal::Text(s) => (cdata(&s), true),
            XmlVal::Num(n) => (n, false),
        };
        match style {
            XmlStyle::Compact => out.push_str(&format!("<{name}>{inner}</{name}>")),
            XmlStyle::Spaced if spaced => out.push_str(&format!("\n  <{name}> {inner} </{name}>")),
            XmlStyle::Spaced => out.push_str(&format!("\n  <{name}>{inner}</{name}>")),
        }
    }
    if style == XmlStyle::Spaced {
        out.push('\n');
    }
    out.push_str("</xml>");
    out
}

fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencoding::encode(v)))
        .collect();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", q.join("&"))
}

/// The signed URL and the body for one event, per the account's message mode (reference §10.2).
pub(crate) fn sign_and_wrap(
    account: &Account,
    url: &str,
    xml: &str,
    openid: &str,
    timestamp: &str,
    nonce: &str,
) -> (String, String) {
    let signature = kaika_wechat::crypto::signature(&account.token, timestamp, nonce);
    let mut query = vec![
        ("signature", signature.as_str()),
        ("timestamp", timestamp),
        ("nonce", nonce),
        ("openid", openid),
    ];
    if account.message_mode == MessageMode::Plain {
        return (with_query(url, &query), xml.to_owned());
    }
    let encrypt =
        match kaika_wechat::crypto::MessageCrypt::new(&account.encoding_aes_key, &account.app_id) {
            Ok(c) => c.encrypt(xml),
            // create_account and update_account validate the key, so this is unreachable in practice.
            Err(_) => String::new(),
        };
    let msg_signature =
        kaika_wechat::crypto::msg_signature(&account.token, timestamp, nonce, &encrypt);
    query.push(("encrypt_type", "aes"));
    query.push(("msg_signature", msg_signature.as_str()));
    let body = if account.message_mode == MessageMode::Safe {
        format!(
            "<xml><ToUserName>{}</ToUserName><Encrypt>{}</Encrypt></xml>",
            cdata(&account.original_id),
            cdata(&encrypt)
        )
    } else {
        let head = xml.strip_suffix("</xml>").unwrap_or(xml);
        format!("{head}<Encrypt>{}</Encrypt></xml>", cdata(&encrypt))
    };
    (with_query(url, &query), body)
}

fn acceptable_reply(mode: MessageMode, body: &str) -> bool {
    let t = body.trim();
    t.is_empty() || t == "success" || (mode != MessageMode::Plain && t.contains("<Encrypt>"))
}

impl Simulator {
    /// Records and sends events (never call with the state lock held).
    pub(crate) fn push_events(&self, events: Vec<Event>) {
        for ev in events {
            self.push_one(ev);
        }
    }

    fn push_one(&self, ev: Event) {
        let config = &self.inner.config;
        let create_time = self.now();
        let Some(account) = self.account(&ev.app_id) else {
            return;
        };
        let xml = event_xml(
            config.push_xml_style,
            &account.original_id,
            create_time,
            &ev,
        );
        let timestamp = create_time.to_string();
        let nonce = rand::thread_rng()
            .gen_range(100_000_000u64..10_000_000_000)
            .to_string();
        let signed = account
            .callback_url
            .as_deref()
            .map(|url| sign_and_wrap(&account, url, &xml, &ev.from, &timestamp, &nonce));
        let fault = if signed.is_some() {
            lock(&self.inner.faults).take_push(ev.name)
        } else {
            None
        };
        let record = |id: u64, duplicate_of: Option<u64>| PushRecord {
            id,
            app_id: ev.app_id.clone(),
            event: ev.name.to_owned(),
            card_id: ev.card_id.clone(),
            code: ev.code.clone(),
            openid: ev.from.clone(),
            create_time,
            mode: account.message_mode,
            url: signed.as_ref().map(|(u, _)| u.clone()),
            xml: xml.clone(),
            body: signed
                .as_ref()
                .map_or_else(|| xml.clone(), |(_, b)| b.clone()),
            duplicate_of,
            fault: fault.clone(),
            attempts: Vec::new(),
            outcome: if signed.is_some() {
                PushOutcome::Pending
            } else {
                PushOutcome::NoCallback
            },
        };
        let mut log = lock(&self.inner.pushes);
        let id = log.records.len() as u64 + 1;
        log.records.push(record(id, None));
        let Some((url, body)) = signed.clone() else {
            return;
        };
        let delivery = Delivery {
            id,
            url: url.clone(),
            body: body.clone(),
            delay: match &fault {
                Some(FaultKind::Delay { ms }) => Some(Duration::from_millis(*ms)),
                _ => None,
            },
        };
        let mut chain = Vec::new();
        match fault {
            Some(FaultKind::Reorder) => {
                if let Some(previous) = log.held.take() {
                    chain.push(previous);
                }
                log.held = Some(delivery);
                let sim = self.clone();
                let hold = config.reorder_hold;
                spawn(async move {
                    tokio::time::sleep(hold).await;
                    let released = {
                        let mut log = lock(&sim.inner.pushes);
                        match &log.held {
                            Some(h) if h.id == id => log.held.take(),
                            _ => None,
                        }
                    };
                    if let Some(d) = released {
                        sim.deliver(d).await;
                    }
                });
            }
            Some(FaultKind::Duplicate) => {
                let dup_id = id + 1;
                log.records.push(record(dup_id, Some(id)));
                chain.push(delivery);
                chain.push(Delivery {
                    id: dup_id,
                    url,
                    body,
                    delay: None,
                });
            }
            _ => {
                chain.push(delivery);
                if let Some(held) = log.held.take() {
                    chain.push(held);
                }
            }
        }
        drop(log);
        if chain.is_empty() {
            return;
        }
        let sim = self.clone();
        spawn(async move {
            for d in chain {
                sim.deliver(d).await;
            }
        });
    }

    async fn deliver(&self, d: Delivery) {
        let config = &self.inner.config;
        if let Some(delay) = d.delay {
            tokio::time::sleep(delay).await;
        }
        let mode = self.push(d.id).map_or(MessageMode::Plain, |r| r.mode);
        let attempts = config.push_attempts.max(1);
        for n in 1..=attempts {
            let started_at_ms = chrono::Utc::now().timestamp_millis();
            let t0 = Instant::now();
            let result = self
                .inner
                .http
                .post(&d.url)
                .header("Content-Type", "text/xml; charset=utf-8")
                .body(d.body.clone())
                .timeout(config.push_timeout)
                .send()
                .await;
            let (status, reply, error, done) = match result {
                Ok(resp) => {
                    let status = resp.status();
                    match resp.text().await {
                        Ok(text) if status.is_success() => {
                            let outcome = if acceptable_reply(mode, &text) {
                                PushOutcome::Delivered
                            } else {
                                PushOutcome::BadReply
                            };
                            (Some(status.as_u16()), Some(text), None, Some(outcome))
                        }
                        Ok(text) => (Some(status.as_u16()), Some(text), None, None),
                        Err(e) => (Some(status.as_u16()), None, Some(e.to_string()), None),
                    }
                }
                Err(e) => {
                    let msg = if e.is_timeout() {
                        format!("no answer within {} ms", config.push_timeout.as_millis())
                    } else {
                        e.to_string()
                    };
                    (None, None, Some(msg), None)
                }
            };
            let attempt = PushAttempt {
                started_at_ms,
                duration_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
                status,
                reply: reply.map(|r| r.chars().take(1000).collect()),
                error,
            };
            let finished = done.or((n == attempts).then_some(PushOutcome::Failed));
            {
                let mut log = lock(&self.inner.pushes);
                if let Some(rec) = log.records.iter_mut().find(|r| r.id == d.id) {
                    rec.attempts.push(attempt);
                    if let Some(outcome) = finished {
                        rec.outcome = outcome;
                    }
                }
            }
            if finished.is_some() {
                return;
            }
            tokio::time::sleep(config.push_retry_delay).await;
        }
    }

    /// Every push so far, oldest first.
    pub fn pushes(&self) -> Vec<PushRecord> {
        lock(&self.inner.pushes).records.clone()
    }

    /// One push by id.
    pub fn push(&self, id: u64) -> Option<PushRecord> {
        lock(&self.inner.pushes)
            .records
            .iter()
            .find(|r| r.id == id)
            .cloned()
    }

    /// Forgets recorded pushes (deliveries in flight still finish but are no longer listed).
    pub fn clear_pushes(&self) {
        lock(&self.inner.pushes).records.clear();
    }
}

fn spawn<F>(fut: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(fut);
        }
        Err(_) => tracing::warn!("event push outside a Tokio runtime: not delivered"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev() -> Event {
        Event {
            app_id: "wx1".into(),
            name: "submit_membercard_user_info",
            from: "obLatjlaNQKb8FqOvt1M1x1lIBFE".into(),
            card_id: "pbLatjtZ7v1BG_ZnTjbW85GYc_E8".into(),
            code: Some("018255396048".into()),
            fields: vec![
                ("CardId", "pbLatjtZ7v1BG_ZnTjbW85GYc_E8".to_owned().into()),
                ("UserCardCode", "018255396048".to_owned().into()),
            ],
        }
    }

    #[test]
    fn compact_xml_matches_the_reference_plaintext_of_vector_c() {
        let xml = event_xml(XmlStyle::Compact, "gh_3fcea188bf78", 1432668700, &ev());
        assert_eq!(
            xml,
            "<xml><ToUserName><![CDATA[gh_3fcea188bf78]]></ToUserName><FromUserName><![CDATA[obLatjlaNQKb8FqOvt1M1x1lIBFE]]></FromUserName><CreateTime>1432668700</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[submit_membercard_user_info]]></Event><CardId><![CDATA[pbLatjtZ7v1BG_ZnTjbW85GYc_E8]]></CardId><UserCardCode><![CDATA[018255396048]]></UserCardCode></xml>"
        );
    }

    #[test]
    fn spaced_xml_puts_spaces_around_cdata_like_the_official_sample() {
        let xml = event_xml(XmlStyle::Spaced, "gh_1", 1, &ev());
        assert!(xml.contains("\n  <Event> <![CDATA[submit_membercard_user_info]]> </Event>"));
        assert!(xml.contains("\n  <CreateTime>1</CreateTime>"));
    }

    #[test]
    fn cdata_cannot_be_closed_early() {
        assert_eq!(cdata("a]]>b"), "<![CDATA[a]]]]><![CDATA[>b]]>");
    }
}
