//! The pushes WeChat sends: each event, its XML as WeChat lays it out, its signing and encryption for
//! the account's message mode, and the log of deliveries the control API shows.

use std::time::Duration;

use kaika_wechat::xml::{Layout, XmlWriter};
use serde::Serialize;

use crate::config::XmlStyle;
use crate::faults::FaultKind;
use crate::model::{Account, Card, IssuedCode, MessageMode};

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

/// One delivery of a push: where, what, after how long.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) id: u64,
    pub(crate) url: String,
    pub(crate) body: String,
    pub(crate) delay: Option<Duration>,
}

/// Every push sent, and the one a `reorder` fault holds back.
#[derive(Debug, Default)]
pub(crate) struct PushLog {
    pub(crate) records: Vec<PushRecord>,
    pub(crate) held: Option<Delivery>,
}

/// The push's plaintext, laid out as `style`; `encrypt`, when given, is appended as the last element (the
/// body of a compatible-mode push).
pub(crate) fn event_xml(
    style: XmlStyle,
    to: &str,
    create_time: i64,
    ev: &Event,
    encrypt: Option<&str>,
) -> String {
    let mut xml = XmlWriter::new(match style {
        XmlStyle::Compact => Layout::Compact,
        XmlStyle::Spaced => Layout::Spaced,
    });
    xml.text("ToUserName", to);
    xml.text("FromUserName", &ev.from);
    xml.bare("CreateTime", create_time);
    xml.text("MsgType", "event");
    xml.text("Event", ev.name);
    for (name, val) in &ev.fields {
        match val {
            XmlVal::Text(text) => xml.text(name, text),
            XmlVal::Num(number) => xml.bare(name, number),
        }
    }
    xml.opt_text("Encrypt", encrypt);
    xml.finish()
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
/// `with_encrypt` writes the plaintext `xml` again with an `Encrypt` element (compatible mode).
pub(crate) fn sign_and_wrap(
    account: &Account,
    url: &str,
    xml: &str,
    openid: &str,
    timestamp: &str,
    nonce: &str,
    with_encrypt: impl FnOnce(&str) -> String,
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
        let mut envelope = XmlWriter::new(Layout::Compact);
        envelope.text("ToUserName", &account.original_id);
        envelope.text("Encrypt", &encrypt);
        envelope.finish()
    } else {
        with_encrypt(&encrypt)
    };
    (with_query(url, &query), body)
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
        let xml = event_xml(
            XmlStyle::Compact,
            "gh_3fcea188bf78",
            1432668700,
            &ev(),
            None,
        );
        assert_eq!(
            xml,
            "<xml><ToUserName><![CDATA[gh_3fcea188bf78]]></ToUserName><FromUserName><![CDATA[obLatjlaNQKb8FqOvt1M1x1lIBFE]]></FromUserName><CreateTime>1432668700</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[submit_membercard_user_info]]></Event><CardId><![CDATA[pbLatjtZ7v1BG_ZnTjbW85GYc_E8]]></CardId><UserCardCode><![CDATA[018255396048]]></UserCardCode></xml>"
        );
    }

    #[test]
    fn spaced_xml_puts_spaces_around_cdata_like_the_official_sample() {
        let xml = event_xml(XmlStyle::Spaced, "gh_1", 1, &ev(), None);
        assert!(xml.contains("\n  <Event> <![CDATA[submit_membercard_user_info]]> </Event>"));
        assert!(xml.contains("\n  <CreateTime>1</CreateTime>"));
    }

    #[test]
    fn cdata_cannot_be_closed_early() {
        let mut card = ev();
        card.fields = vec![("OuterStr", "a]]>b".to_owned().into())];
        let xml = event_xml(XmlStyle::Compact, "gh_1", 1, &card, None);
        assert!(xml.contains("<OuterStr><![CDATA[a]]]]><![CDATA[>b]]></OuterStr>"));
    }

    #[test]
    fn a_compatible_push_carries_the_plaintext_and_its_encrypt_element() {
        let xml = event_xml(XmlStyle::Spaced, "gh_1", 1, &ev(), Some("c2VjcmV0"));
        assert!(
            xml.ends_with("\n  <Encrypt> <![CDATA[c2VjcmV0]]> </Encrypt>\n</xml>"),
            "{xml}"
        );
    }
}
