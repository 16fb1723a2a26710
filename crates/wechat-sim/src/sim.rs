//! The shared simulator state and its library API.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::rngs::StdRng;
use rand::SeedableRng as _;
use serde::Serialize;

use crate::config::SimConfig;
use crate::errors::SimError;
use crate::events::{Event, PushLog};
use crate::faults::Faults;
use crate::ids;
use crate::model::{
    Account, AccountPatch, AccountSpec, Card, CardStatus, CodeStatus, IssuedCode, MiniProgram,
    TestWhitelist, Ticket,
};

/// The key under which activate calls on already active codes are counted among the API calls.
const ACTIVATE_ON_ACTIVE_CODE: &str = "card/membercard/activate (code already active)";

/// The simulated WeChat. Cheap to clone: all clones share one state.
#[derive(Debug, Clone)]
pub struct Simulator {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub config: SimConfig,
    pub clock: Clock,
    pub state: Mutex<State>,
    pub faults: Mutex<Faults>,
    pub pushes: Mutex<PushLog>,
    pub http: reqwest::Client,
    rid_counter: AtomicU64,
    /// WeChat-endpoint path → requests received (faulted ones included).
    calls: Mutex<HashMap<&'static str, u64>>,
}

/// The simulated time: real time (or, frozen, the time the simulator started) plus an offset that only
/// grows.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset: AtomicI64,
    frozen_at: Option<i64>,
}

impl Clock {
    fn frozen() -> Self {
        Self {
            offset: AtomicI64::new(0),
            frozen_at: Some(chrono::Utc::now().timestamp()),
        }
    }

    pub(crate) fn now(&self) -> i64 {
        self.frozen_at
            .unwrap_or_else(|| chrono::Utc::now().timestamp())
            + self.offset.load(Ordering::Relaxed)
    }

    fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::Relaxed);
    }
}

/// Which endpoint issued a token: the two families are isolated (reference §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TokenSource {
    Basic,
    Stable,
}

#[derive(Debug, Clone)]
pub(crate) struct TokenRecord {
    pub app_id: String,
    pub expires_at: i64,
    /// From this time on the token answers 40001 because a newer one replaced it.
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Default)]
pub(crate) struct TokenSlot {
    pub current: Option<String>,
    pub previous: Option<String>,
    pub last_force_refresh: Option<i64>,
}

#[derive(Debug, Clone)]
pub(crate) struct LoginCode {
    pub mini_app_id: String,
    pub user: String,
    pub expires_at: i64,
    pub used: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Media {
    pub url: String,
    pub app_id: String,
    pub bytes: usize,
}

#[derive(Debug)]
pub(crate) struct State {
    pub rng: StdRng,
    pub accounts: HashMap<String, Account>,
    /// Mini-program AppID → official-account AppID.
    pub mini_index: HashMap<String, String>,
    pub tokens: HashMap<String, TokenRecord>,
    pub token_slots: HashMap<(String, TokenSource), TokenSlot>,
    pub token_serial: u64,
    /// (AppID, endpoint, day) → calls.
    pub quota_used: HashMap<(String, &'static str, i64), u32>,
    /// (AppID, month) → clear_quota calls.
    pub quota_clears: HashMap<(String, i64), u32>,
    pub login_codes: HashMap<String, LoginCode>,
    /// (AppID of an account or mini-program, user) → openid.
    pub openids: HashMap<(String, String), String>,
    pub unionids: HashMap<String, String>,
    pub cards: HashMap<String, Card>,
    pub card_order: Vec<String>,
    pub encrypt_card_ids: HashMap<String, String>,
    pub codes: HashMap<String, IssuedCode>,
    /// (card id, openid) → the codes issued to that member, for `get_limit` without a full scan.
    pub member_codes: HashMap<(String, String), Vec<String>>,
    pub encrypt_codes: HashMap<String, String>,
    pub tickets: HashMap<String, Ticket>,
    pub media: Vec<Media>,
    /// Official-account AppID → its test whitelist.
    pub test_whitelists: HashMap<String, TestWhitelist>,
}

impl State {
    fn new(seed: Option<u64>) -> Self {
        Self {
            rng: seed.map_or_else(StdRng::from_entropy, StdRng::seed_from_u64),
            accounts: HashMap::new(),
            mini_index: HashMap::new(),
            tokens: HashMap::new(),
            token_slots: HashMap::new(),
            token_serial: 0,
            quota_used: HashMap::new(),
            quota_clears: HashMap::new(),
            login_codes: HashMap::new(),
            openids: HashMap::new(),
            unionids: HashMap::new(),
            cards: HashMap::new(),
            card_order: Vec::new(),
            encrypt_card_ids: HashMap::new(),
            codes: HashMap::new(),
            member_codes: HashMap::new(),
            encrypt_codes: HashMap::new(),
            tickets: HashMap::new(),
            media: Vec::new(),
            test_whitelists: HashMap::new(),
        }
    }

    /// The official-account AppID behind an account or mini-program AppID.
    pub(crate) fn account_of(&self, app_id: &str) -> Option<&Account> {
        self.accounts.get(app_id).or_else(|| {
            self.mini_index
                .get(app_id)
                .and_then(|oa| self.accounts.get(oa))
        })
    }

    /// The openid of `user` under `app_id` (an account or a mini-program): stable per pair, distinct
    /// between users and between apps.
    pub(crate) fn openid_for(&mut self, app_id: &str, user: &str) -> String {
        let key = (app_id.to_owned(), user.to_owned());
        if let Some(openid) = self.openids.get(&key) {
            return openid.clone();
        }
        let prefix = self
            .accounts
            .get(app_id)
            .map(|a| a.id_prefix.clone())
            .or_else(|| {
                self.account_of(app_id)
                    .and_then(|a| a.mini_program.as_ref())
                    .map(|m| m.id_prefix.clone())
            })
            .unwrap_or_else(|| "00000".to_owned());
        let openid = ids::openid_for(app_id, user, &prefix);
        self.openids.insert(key, openid.clone());
        openid
    }

    /// Whether `user` is on the test whitelist of the account `app_id`, by WeChat id (the user
    /// name) or by openid.
    pub(crate) fn is_test_whitelisted(&mut self, app_id: &str, user: &str) -> bool {
        let Some(list) = self.test_whitelists.get(app_id) else {
            return false;
        };
        if user.is_empty() || (list.openid.is_empty() && list.username.is_empty()) {
            return false;
        }
        if list.username.iter().any(|u| u == user) {
            return true;
        }
        let openid = self.openid_for(app_id, user);
        self.test_whitelists
            .get(app_id)
            .is_some_and(|list| list.openid.contains(&openid))
    }

    pub(crate) fn unionid_for(&mut self, user: &str) -> String {
        if let Some(u) = self.unionids.get(user) {
            return u.clone();
        }
        let u = ids::unionid_for(user);
        self.unionids.insert(user.to_owned(), u.clone());
        u
    }

    fn approve_due_cards(&mut self, now: i64) -> Vec<Event> {
        let mut events = Vec::new();
        for card in self.cards.values_mut() {
            if card.status == CardStatus::NotVerify && card.review_due.is_some_and(|due| due <= now)
            {
                card.status = CardStatus::VerifyOk;
                card.review_due = None;
                events.push(Event::card_check(card, true, ""));
            }
        }
        events
    }
}

/// A login code minted for a simulated user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MintedLoginCode {
    /// The `js_code` to send to `sns/jscode2session`.
    pub code: String,
    /// The mini-program openid that code will resolve to.
    pub openid: String,
}

/// What a member-side action (delete, view, consume) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionOutcome {
    /// Whether an event was pushed.
    pub pushed: bool,
    /// The code's status afterwards.
    pub status: CodeStatus,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Simulator {
    /// A fresh simulator with no accounts.
    pub fn new(config: SimConfig) -> Self {
        let fault_seed = config.seed;
        let http = reqwest::Client::builder()
            // Pushes run on whichever actix worker runtime handled the request; pooled connections
            // would be tied to a runtime that may be gone by the next push.
            .pool_max_idle_per_host(0)
            .build()
            .unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::new(config.seed)),
                faults: Mutex::new(Faults::new(fault_seed)),
                pushes: Mutex::new(PushLog::default()),
                clock: if config.frozen_clock {
                    Clock::frozen()
                } else {
                    Clock::default()
                },
                config,
                http,
                rid_counter: AtomicU64::new(1),
                calls: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The settings this simulator was built with.
    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// The simulated Unix time in seconds.
    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    pub(crate) fn next_rid(&self) -> String {
        let n = self.inner.rid_counter.fetch_add(1, Ordering::Relaxed);
        let now = self.now();
        format!("{now:08x}-{:08x}-{:08x}", n.wrapping_mul(0x9e37_79b9), n)
    }

    pub(crate) fn count_activate_on_active_code(&self) {
        self.count_call(ACTIVATE_ON_ACTIVE_CODE);
    }

    pub(crate) fn count_call(&self, path: &'static str) {
        *lock(&self.inner.calls).entry(path).or_insert(0) += 1;
    }

    /// How many requests a WeChat endpoint has received so far (`"cgi-bin/token"`, leading `/`
    /// optional), faulted and refused ones included: e.g. to check that many concurrent callers
    /// caused one token fetch.
    pub fn api_calls(&self, path: &str) -> u64 {
        let path = path.trim_matches('/');
        lock(&self.inner.calls).get(path).copied().unwrap_or(0)
    }

    /// Moves the simulated clock forward (tokens, tickets, login codes and reviews all follow it)
    /// and runs whatever became due. Returns the new time.
    pub fn advance_clock(&self, by: Duration) -> i64 {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX / 4);
        self.inner.clock.advance(secs);
        self.run_due_reviews();
        self.now()
    }

    /// Approves cards whose automatic review delay has passed.
    pub(crate) fn run_due_reviews(&self) {
        let now = self.now();
        let events = {
            let mut st = self.state();
            if !st.cards.values().any(|c| c.review_due.is_some()) {
                return;
            }
            st.approve_due_cards(now)
        };
        self.push_events(events);
    }

    /// Creates an account; every field left out of `spec` is generated.
    pub fn create_account(&self, spec: AccountSpec) -> Result<Account, SimError> {
        let config = &self.inner.config;
        let mut st = self.state();
        let rng = &mut st.rng;
        let app_id = spec.app_id.unwrap_or_else(|| ids::app_id(rng));
        let encoding_aes_key = spec
            .encoding_aes_key
            .unwrap_or_else(|| ids::encoding_aes_key(rng));
        kaika_wechat::crypto::MessageCrypt::new(&encoding_aes_key, &app_id)
            .map_err(|e| SimError::Invalid(format!("encoding_aes_key: {e}")))?;
        let mini_program = spec.mini_program.map(|m| {
            let app_id = m.app_id.unwrap_or_else(|| ids::app_id(rng));
            MiniProgram {
                app_secret: m.app_secret.unwrap_or_else(|| ids::app_secret(rng)),
                id_prefix: ids::prefix_for(&app_id),
                app_id,
            }
        });
        let account = Account {
            app_secret: spec.app_secret.unwrap_or_else(|| ids::app_secret(rng)),
            token: spec.token.unwrap_or_else(|| ids::callback_token(rng)),
            encoding_aes_key,
            message_mode: spec.message_mode.unwrap_or_default(),
            callback_url: spec.callback_url.filter(|u| !u.is_empty()),
            original_id: spec.original_id.unwrap_or_else(|| ids::original_id(rng)),
            bizuin: ids::bizuin_for(&app_id),
            id_prefix: ids::prefix_for(&app_id),
            mini_program,
            daily_token_quota: spec
                .daily_token_quota
                .unwrap_or(config.default_daily_token_quota),
            balance_authorized: spec.balance_authorized.unwrap_or(false),
            custom_code_authorized: spec.custom_code_authorized.unwrap_or(false),
            member_card_authorized: spec.member_card_authorized.unwrap_or(true),
            open_platform: spec.open_platform.unwrap_or(false),
            ip_whitelist: spec.ip_whitelist,
            app_id,
        };
        if account.app_id.is_empty() || account.app_secret.is_empty() {
            return Err(SimError::Invalid(
                "app_id and app_secret must not be empty".into(),
            ));
        }
        let mut taken = vec![account.app_id.clone()];
        if let Some(m) = &account.mini_program {
            if m.app_id == account.app_id {
                return Err(SimError::Invalid(
                    "the mini-program needs its own app id".into(),
                ));
            }
            taken.push(m.app_id.clone());
        }
        for id in &taken {
            if st.account_of(id).is_some() {
                return Err(SimError::DuplicateAccount(id.clone()));
            }
        }
        if let Some(m) = &account.mini_program {
            st.mini_index
                .insert(m.app_id.clone(), account.app_id.clone());
        }
        st.accounts.insert(account.app_id.clone(), account.clone());
        Ok(account)
    }

    /// Changes an account's callback settings, quota or AppSecret.
    pub fn update_account(&self, app_id: &str, patch: AccountPatch) -> Result<Account, SimError> {
        let mut st = self.state();
        let account = st
            .accounts
            .get_mut(app_id)
            .ok_or_else(|| SimError::UnknownAccount(app_id.to_owned()))?;
        if let Some(key) = &patch.encoding_aes_key {
            kaika_wechat::crypto::MessageCrypt::new(key, app_id)
                .map_err(|e| SimError::Invalid(format!("encoding_aes_key: {e}")))?;
            account.encoding_aes_key.clone_from(key);
        }
        if let Some(url) = patch.callback_url {
            account.callback_url = Some(url).filter(|u| !u.is_empty());
        }
        if let Some(mode) = patch.message_mode {
            account.message_mode = mode;
        }
        if let Some(token) = patch.token {
            account.token = token;
        }
        if let Some(quota) = patch.daily_token_quota {
            account.daily_token_quota = quota;
        }
        if let Some(secret) = patch.app_secret {
            account.app_secret = secret;
        }
        if patch.ip_whitelist.is_some() {
            account.ip_whitelist = patch.ip_whitelist;
        }
        Ok(account.clone())
    }

    /// One account by its AppID or its mini-program's AppID.
    pub fn account(&self, app_id: &str) -> Option<Account> {
        self.state().account_of(app_id).cloned()
    }

    /// All accounts.
    pub fn accounts(&self) -> Vec<Account> {
        let mut list: Vec<Account> = self.state().accounts.values().cloned().collect();
        list.sort_by(|a, b| a.app_id.cmp(&b.app_id));
        list
    }

    /// Mints a `wx.login` code for `user` in the mini-program `app_id` (the mini-program's AppID or its
    /// account's). The same user always gets the same openid; codes are single-use.
    pub fn mint_login_code(&self, app_id: &str, user: &str) -> Result<MintedLoginCode, SimError> {
        if user.is_empty() {
            return Err(SimError::Invalid("user must not be empty".into()));
        }
        let ttl = secs(self.inner.config.login_code_ttl);
        let now = self.now();
        let mut st = self.state();
        let account = st
            .account_of(app_id)
            .ok_or_else(|| SimError::UnknownAccount(app_id.to_owned()))?;
        let mini = account
            .mini_program
            .as_ref()
            .ok_or_else(|| SimError::NoMiniProgram(account.app_id.clone()))?
            .app_id
            .clone();
        let code = ids::login_code(&mut st.rng);
        let openid = st.openid_for(&mini, user);
        st.login_codes.insert(
            code.clone(),
            LoginCode {
                mini_app_id: mini,
                user: user.to_owned(),
                expires_at: now + ttl,
                used: false,
            },
        );
        Ok(MintedLoginCode { code, openid })
    }

    /// The official-account openid of a simulated user (what card APIs and pushes carry).
    pub fn openid(&self, app_id: &str, user: &str) -> Result<String, SimError> {
        let mut st = self.state();
        let oa = st
            .account_of(app_id)
            .ok_or_else(|| SimError::UnknownAccount(app_id.to_owned()))?
            .app_id
            .clone();
        Ok(st.openid_for(&oa, user))
    }

    /// Passes a card's review and pushes `card_pass_check`.
    pub fn approve_card(&self, card_id: &str) -> Result<(), SimError> {
        self.review(card_id, true, "")
    }

    /// Fails a card's review and pushes `card_not_pass_check` with `reason`.
    pub fn refuse_card(&self, card_id: &str, reason: &str) -> Result<(), SimError> {
        self.review(card_id, false, reason)
    }

    fn review(&self, card_id: &str, pass: bool, reason: &str) -> Result<(), SimError> {
        let event = {
            let mut st = self.state();
            let card = st
                .cards
                .get_mut(card_id)
                .ok_or_else(|| SimError::UnknownCard(card_id.to_owned()))?;
            if card.status == CardStatus::Delete {
                return Err(SimError::Invalid("the card is deleted".into()));
            }
            card.status = if pass {
                CardStatus::VerifyOk
            } else {
                CardStatus::VerifyFail
            };
            card.review_due = None;
            Event::card_check(card, pass, reason)
        };
        self.push_events(vec![event]);
        Ok(())
    }

    /// The test whitelist of an official account (empty until `card/testwhitelist/set`).
    pub fn test_whitelist(&self, app_id: &str) -> TestWhitelist {
        self.state()
            .test_whitelists
            .get(app_id)
            .cloned()
            .unwrap_or_default()
    }

    /// A card as the simulator holds it.
    pub fn card(&self, card_id: &str) -> Option<Card> {
        self.state().cards.get(card_id).cloned()
    }

    /// An issued code as the simulator holds it.
    pub fn issued_code(&self, code: &str) -> Option<IssuedCode> {
        self.state().codes.get(code).cloned()
    }

    /// The member deletes the card from their WeChat card pack: status DELETE, `user_del_card` pushed.
    pub fn member_deletes_card(&self, code: &str) -> Result<ActionOutcome, SimError> {
        self.member_action(code, |st, c| {
            if c.status != CodeStatus::Normal {
                return Err(SimError::Invalid(format!("the code is {:?}", c.status)));
            }
            let card = st.cards.get(&c.card_id).cloned();
            let c = st
                .codes
                .get_mut(&c.code)
                .ok_or_else(|| SimError::UnknownCode(c.code.clone()))?;
            c.status = CodeStatus::Delete;
            Ok(card.map(|card| Event::user_code_event(&card, c, "user_del_card", &[])))
        })
    }

    /// The member opens the card: `user_view_card` is pushed when the card has `need_push_on_view`.
    pub fn member_views_card(&self, code: &str) -> Result<ActionOutcome, SimError> {
        self.member_action(code, |st, c| {
            let Some(card) = st.cards.get(&c.card_id) else {
                return Ok(None);
            };
            let wants = card
                .base("need_push_on_view")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            Ok(wants.then(|| {
                let outer = c.outer_str.clone();
                Event::user_code_event(card, &c, "user_view_card", &[("OuterStr", outer.into())])
            }))
        })
    }

    /// A clerk consumes the code: status CONSUMED, `user_consume_card` pushed.
    pub fn member_consumes_card(
        &self,
        code: &str,
        consume_source: &str,
        location_name: &str,
    ) -> Result<ActionOutcome, SimError> {
        self.member_action(code, |st, c| {
            if c.status != CodeStatus::Normal {
                return Err(SimError::Invalid(format!("the code is {:?}", c.status)));
            }
            let card = st.cards.get(&c.card_id).cloned();
            let c = st
                .codes
                .get_mut(&c.code)
                .ok_or_else(|| SimError::UnknownCode(c.code.clone()))?;
            c.status = CodeStatus::Consumed;
            Ok(card.map(|card| {
                let extra = [
                    ("ConsumeSource", consume_source.to_owned().into()),
                    ("LocationName", location_name.to_owned().into()),
                    ("StaffOpenId", String::new().into()),
                    ("VerifyCode", String::new().into()),
                    ("RemarkAmount", String::new().into()),
                    ("OuterStr", c.outer_str.clone().into()),
                ];
                Event::user_code_event(&card, c, "user_consume_card", &extra)
            }))
        })
    }

    fn member_action(
        &self,
        code: &str,
        f: impl FnOnce(&mut State, IssuedCode) -> Result<Option<Event>, SimError>,
    ) -> Result<ActionOutcome, SimError> {
        let (event, status) = {
            let mut st = self.state();
            let c = st
                .codes
                .get(code)
                .cloned()
                .ok_or_else(|| SimError::UnknownCode(code.to_owned()))?;
            let event = f(&mut st, c)?;
            let status = st.codes.get(code).map_or(CodeStatus::Normal, |c| c.status);
            (event, status)
        };
        let pushed = event.is_some();
        self.push_events(event.into_iter().collect());
        Ok(ActionOutcome { pushed, status })
    }

    /// Everything the simulator holds, for debugging and tests.
    pub fn snapshot(&self) -> serde_json::Value {
        let st = self.state();
        let mut cards: Vec<&Card> = st
            .card_order
            .iter()
            .filter_map(|id| st.cards.get(id))
            .collect();
        cards.sort_by_key(|c| c.created_at);
        let mut codes: Vec<&IssuedCode> = st.codes.values().collect();
        codes.sort_by(|a, b| (a.received_at, &a.code).cmp(&(b.received_at, &b.code)));
        let tickets: Vec<&Ticket> = st.tickets.values().collect();
        serde_json::json!({
            "now": self.now(),
            "accounts": st.accounts.values().collect::<Vec<_>>(),
            "cards": cards,
            "codes": codes,
            "tickets": tickets,
            "media": st.media,
            "test_whitelists": st.test_whitelists,
        })
    }

    /// The Base64 `biz` of an account, as it appears in geturl URLs.
    pub fn biz(&self, app_id: &str) -> Option<String> {
        self.state()
            .account_of(app_id)
            .map(|a| STANDARD.encode(a.bizuin.as_bytes()))
    }
}

pub(crate) fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}

impl Simulator {
    /// Adds a fault rule (see [`FaultSpec`](crate::FaultSpec)).
    pub fn add_fault(
        &self,
        spec: crate::faults::FaultSpec,
    ) -> Result<crate::faults::FaultRule, SimError> {
        lock(&self.inner.faults).add(spec)
    }

    /// The fault rules still active.
    pub fn faults(&self) -> Vec<crate::faults::FaultRule> {
        lock(&self.inner.faults).list()
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Removes one fault rule (e.g. to end an outage while other faults go on); `false` when no rule
    /// has that id (a `next` rule that fired its last time is gone already).
    pub fn remove_fault(&self, id: u64) -> bool {
        lock(&self.inner.faults).remove(id)
    }

    /// How many `membercard/activate` calls named a code that was already active (WeChat refuses them
    /// with 40056): a client that calls activate again after it took effect shows up here.
    pub fn activations_of_active_codes(&self) -> u64 {
        self.api_calls(ACTIVATE_ON_ACTIVE_CODE)
    }
}
