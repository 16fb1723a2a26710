//! Event pushes to the account's callback URL (reference §9, §10).

use std::time::{Duration, Instant};

use rand::Rng as _;

use crate::faults::FaultKind;
use crate::model::MessageMode;
use crate::sim::{lock, Simulator};

use crate::events::{
    event_xml, sign_and_wrap, Delivery, Event, PushAttempt, PushOutcome, PushRecord,
};

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
        let style = config.push_xml_style;
        let xml = event_xml(style, &account.original_id, create_time, &ev, None);
        let timestamp = create_time.to_string();
        let nonce = rand::thread_rng()
            .gen_range(100_000_000u64..10_000_000_000)
            .to_string();
        let signed = account.callback_url.as_deref().map(|url| {
            sign_and_wrap(
                &account,
                url,
                &xml,
                &ev.from,
                &timestamp,
                &nonce,
                |encrypt| event_xml(style, &account.original_id, create_time, &ev, Some(encrypt)),
            )
        });
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

fn acceptable_reply(mode: MessageMode, body: &str) -> bool {
    let t = body.trim();
    t.is_empty() || t == "success" || (mode != MessageMode::Plain && t.contains("<Encrypt>"))
}
