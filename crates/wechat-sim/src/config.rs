//! Simulator settings. Defaults follow the reference; the ones WeChat does not document are marked.

use std::time::Duration;

/// How event XML is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XmlStyle {
    /// Like the official samples (reference §9): each element on its own line and spaces around the
    /// CDATA sections, so receivers must trim values (pitfall §13 #8).
    #[default]
    Spaced,
    /// One line, no whitespace between elements (like the reference's Vector C plaintext).
    Compact,
}

/// Settings of one [`Simulator`](crate::Simulator).
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed for every generated identifier and for probabilistic faults; `None` seeds from the OS.
    pub seed: Option<u64>,
    /// Lifetime of an access token (`expires_in`, reference §2.1: 7200 s).
    pub token_ttl: Duration,
    /// How long a superseded token keeps working (reference §2.1/§2.2: about 5 minutes).
    pub token_overlap: Duration,
    /// Lifetime of an `activate_ticket`. Undocumented at WeChat (reference §15); 30 minutes here.
    pub ticket_ttl: Duration,
    /// Lifetime of a mini-program login code. Not in the reference; WeChat's is commonly 5 minutes.
    pub login_code_ttl: Duration,
    /// Time after `card/create` when the review passes by itself (`None`, the default: only on
    /// command, as a real review takes days and a test must not pass because the simulator was quick).
    pub review_delay: Option<Duration>,
    /// How long the pusher waits for the callback to answer (reference §9: 5 s).
    pub push_timeout: Duration,
    /// Deliveries per event including the first (reference §9: 3).
    pub push_attempts: u32,
    /// Pause between two deliveries of one event after a failure.
    pub push_retry_delay: Duration,
    /// How long a push held back by a `reorder` fault waits for a later push to overtake it.
    pub reorder_hold: Duration,
    /// Errcode for a wrong AppSecret on the token endpoints: 40125 (`invalid appsecret`, current) or
    /// 40001 (`invalid credential`, older); the reference lists both (§2.1).
    pub wrong_secret_errcode: i64,
    /// Append a ` rid: …` trace suffix to error messages, as WeChat does (reference §1).
    pub errmsg_rid: bool,
    /// Layout of pushed event XML.
    pub push_xml_style: XmlStyle,
    /// Where `card/membercard/activate/geturl` URLs point (reference §5).
    pub geturl_base: String,
    /// Daily `cgi-bin/token` quota of accounts that do not set their own (reference §12: 2000).
    pub default_daily_token_quota: u32,
    /// Time stands still except through `advance_clock`: for tests that check an expiry to the second,
    /// which real seconds ticking during the test would make flaky.
    pub frozen_clock: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: None,
            token_ttl: Duration::from_secs(7200),
            token_overlap: Duration::from_secs(300),
            ticket_ttl: Duration::from_secs(1800),
            login_code_ttl: Duration::from_secs(300),
            review_delay: None,
            push_timeout: Duration::from_secs(5),
            push_attempts: 3,
            push_retry_delay: Duration::from_secs(1),
            reorder_hold: Duration::from_secs(2),
            wrong_secret_errcode: 40125,
            errmsg_rid: true,
            push_xml_style: XmlStyle::Spaced,
            geturl_base: "https://mp.weixin.qq.com/bizmall/activatemembercard".to_owned(),
            default_daily_token_quota: 2000,
            frozen_clock: false,
        }
    }
}

impl SimConfig {
    /// Settings for tests: a fixed seed, a pusher that gives up quickly, and a frozen
    /// clock (expiries are checked to the second, so a real second ticking mid-test must not move it).
    pub fn for_tests(seed: u64) -> Self {
        Self {
            seed: Some(seed),
            frozen_clock: true,
            push_timeout: Duration::from_secs(2),
            push_retry_delay: Duration::from_millis(50),
            reorder_hold: Duration::from_millis(500),
            ..Self::default()
        }
    }
}
