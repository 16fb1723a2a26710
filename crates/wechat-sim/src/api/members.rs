//! The member side: receiving a card, decrypt, activatetempinfo, activate, code/get, userinfo,
//! updateuser (reference §7, §8, Appendix B).

use serde_json::{json, Value};

use crate::api::cards::{card_open_to, is_one_tap, own_card};
use crate::api::ok;
use crate::errors::WxError;
use crate::events::{Event, XmlVal};
use crate::ids;
use crate::model::{Answers, Card, CardStatus, CodeStatus, IssuedCode, Ticket};
use crate::request::fields::{self, num_json};
use crate::request::{ApiCtx, ApiResult};
use crate::sim::{secs, Simulator, State};

/// End of validity for permanent cards: WeChat's value is undocumented (reference §15).
const PERMANENT_END: i64 = 4_102_415_999;

fn wx(code: i64) -> WxError {
    WxError::new(code)
}

/// Validity window of a code from its card's `date_info` and `activate_end_time`.
pub(crate) fn code_window(card: &Card, code: &IssuedCode) -> (i64, i64) {
    let date = card.base("date_info");
    let get = |k: &str| date.and_then(|d| d.get(k)).and_then(Value::as_i64);
    let kind = date.and_then(|d| d.get("type")).and_then(Value::as_str);
    let (begin, end) = match kind {
        Some("DATE_TYPE_FIX_TIME_RANGE") => (
            get("begin_timestamp").unwrap_or(code.received_at),
            get("end_timestamp").unwrap_or(PERMANENT_END),
        ),
        Some("DATE_TYPE_FIX_TERM") => {
            let start = code.received_at + get("fixed_begin_term").unwrap_or(0) * 86_400;
            (start, start + (get("fixed_term").unwrap_or(0) + 1) * 86_400)
        }
        _ => (code.received_at, PERMANENT_END),
    };
    (begin, code.active_until.map_or(end, |u| u.min(end)))
}

fn status_str(card: &Card, code: &IssuedCode, now: i64) -> &'static str {
    match code.status {
        CodeStatus::Normal if now >= code_window(card, code).1 => "EXPIRE",
        CodeStatus::Normal => "NORMAL",
        CodeStatus::Consumed => "CONSUMED",
        CodeStatus::Delete => "DELETE",
        CodeStatus::Unavailable => "UNAVAILABLE",
    }
}

/// A code of the caller's account; with `card_id`, also of that card (40073 / 40056).
fn own_code<'a>(
    st: &'a State,
    app_id: &str,
    code: &str,
    card_id: Option<&str>,
) -> Result<(&'a Card, &'a IssuedCode), WxError> {
    if let Some(card_id) = card_id {
        own_card(st, app_id, card_id)?;
    }
    let issued = st
        .codes
        .get(code)
        .filter(|c| c.app_id == app_id && card_id.is_none_or(|id| c.card_id == id))
        .ok_or_else(|| wx(40056))?;
    let card = st.cards.get(&issued.card_id).ok_or_else(|| wx(40073))?;
    Ok((card, issued))
}

/// 40127 unless the code is in use (not deleted, unavailable or expired); 40099 when consumed.
pub(crate) fn check_usable(card: &Card, code: &IssuedCode, now: i64) -> Result<(), WxError> {
    match status_str(card, code, now) {
        "NORMAL" => Ok(()),
        "CONSUMED" => Err(wx(40099)),
        _ => Err(wx(40127)),
    }
}

fn answers_json(answers: &Answers) -> Value {
    let common: Vec<Value> = answers
        .common_field_list
        .iter()
        .map(|a| json!({"name": a.name, "value": a.value}))
        .collect();
    let custom: Vec<Value> = answers
        .custom_field_list
        .iter()
        .map(|a| json!({"name": a.name, "value": a.value, "value_list": a.value_list.clone().unwrap_or_default()}))
        .collect();
    json!({"common_field_list": common, "custom_field_list": custom})
}

/// What the card-opening component hands back to the mini-program.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExtraData {
    /// 108-character Base64 ticket for `activatetempinfo/get`.
    pub activate_ticket: String,
    /// The card.
    pub card_id: String,
    /// The encrypted code, for `card/code/decrypt`.
    pub code: String,
}

/// A member's submission on the component page.
pub(crate) struct Receipt {
    pub card_id: String,
    pub user: String,
    pub outer_str: String,
    pub answers: Answers,
}

/// Issues a code to the member (reference §14 step 4): pushes `user_get_card`, and for non-jump
/// one-tap cards activates at once and pushes `submit_membercard_user_info`. Jump-type cards answer
/// the extraData.
pub(crate) fn receive(sim: &Simulator, r: Receipt) -> Result<Option<ExtraData>, WxError> {
    let now = sim.now();
    let ticket_ttl = secs(sim.config().ticket_ttl);
    let (extra, events) = {
        let mut st = sim.state();
        let card = st.cards.get(&r.card_id).cloned().ok_or_else(|| wx(40073))?;
        card_open_to(&mut st, &card, &r.user)?;
        if !is_one_tap(&card) || card.form.is_none() {
            return Err(wx(72026));
        }
        let account = st
            .accounts
            .get(&card.app_id)
            .cloned()
            .ok_or_else(|| wx(40013))?;
        let openid = st.openid_for(&card.app_id, &r.user);
        if let Some(limit) = card
            .base("get_limit")
            .and_then(Value::as_i64)
            .filter(|l| *l > 0)
        {
            let held = st
                .member_codes
                .get(&(card.card_id.clone(), openid.clone()))
                .map_or(0, |codes| {
                    codes
                        .iter()
                        .filter_map(|code| st.codes.get(code))
                        .filter(|c| c.status != CodeStatus::Delete)
                        .count()
                });
            if i64::try_from(held).unwrap_or(i64::MAX) >= limit {
                return Err(wx(45033));
            }
        }
        if card.quantity <= 0 {
            return Err(wx(45031));
        }
        let code = loop {
            let c = ids::card_code(&mut st.rng);
            if !st.codes.contains_key(&c) {
                break c;
            }
        };
        let encrypt_code = ids::opaque_base64(&mut st.rng, 48);
        let jump = card.is_jump_type();
        let issued = IssuedCode {
            code: code.clone(),
            card_id: card.card_id.clone(),
            app_id: card.app_id.clone(),
            openid: openid.clone(),
            user: r.user.clone(),
            outer_str: r.outer_str.clone(),
            received_at: now,
            status: CodeStatus::Normal,
            // Non-jump one-tap cards are activated by WeChat on submit (reference §14 step 4).
            has_active: !jump,
            membership_number: None,
            bonus: 0,
            balance: 0.0,
            answers: r.answers.clone(),
            // Jump-type cards keep the form out of userinfo/get (reference §13 #2).
            user_info_visible: !jump,
            encrypt_code: encrypt_code.clone(),
            custom_field_values: [None, None, None],
            active_until: None,
        };
        let mut get_fields: Vec<(&'static str, XmlVal)> = vec![
            ("IsGiveByFriend", XmlVal::num(0)),
            ("FriendUserName", String::new().into()),
            ("OuterId", XmlVal::num(0)),
            ("OldUserCardCode", String::new().into()),
            ("OuterStr", r.outer_str.clone().into()),
            ("IsRestoreMemberCard", XmlVal::num(0)),
            ("IsRecommendByFriend", XmlVal::num(0)),
        ];
        if account.open_platform {
            get_fields.push(("UnionId", st.unionid_for(&r.user).into()));
        }
        let mut events = vec![Event::user_code_event(&card, &issued, "user_get_card", &[])];
        // The official sample puts UserCardCode between IsGiveByFriend and FriendUserName.
        events[0].fields = vec![
            ("CardId", card.card_id.clone().into()),
            get_fields.remove(0),
            ("UserCardCode", code.clone().into()),
        ];
        events[0].fields.extend(get_fields);
        if !jump {
            events.push(Event::user_code_event(
                &card,
                &issued,
                "submit_membercard_user_info",
                &[],
            ));
        }
        st.encrypt_codes.insert(encrypt_code.clone(), code.clone());
        st.codes.insert(code.clone(), issued);
        st.member_codes
            .entry((card.card_id.clone(), openid.clone()))
            .or_default()
            .push(code.clone());
        if let Some(c) = st.cards.get_mut(&card.card_id) {
            c.quantity -= 1;
        }
        let extra = if jump {
            let ticket = mint_ticket(&mut st, &card, code, openid, r.answers, now + ticket_ttl);
            Some(ExtraData {
                activate_ticket: ticket,
                card_id: card.card_id.clone(),
                code: encrypt_code,
            })
        } else {
            None
        };
        (extra, events)
    };
    sim.push_events(events);
    Ok(extra)
}

/// Mints an `activate_ticket` for a code already issued to the member, carrying what they entered.
/// The component and the card bag both mint through here, so `activatetempinfo/get` and
/// `activate` cannot tell their tickets apart.
pub(crate) fn mint_ticket(
    st: &mut State,
    card: &Card,
    code: String,
    openid: String,
    answers: Answers,
    expires_at: i64,
) -> String {
    let ticket = ids::opaque_base64(&mut st.rng, 80);
    st.tickets.insert(
        ticket.clone(),
        Ticket {
            ticket: ticket.clone(),
            app_id: card.app_id.clone(),
            card_id: card.card_id.clone(),
            code,
            openid,
            expires_at,
            answers,
        },
    );
    ticket
}

/// `POST card/code/decrypt {"encrypt_code"}` → `{"code"}` (reference §7.1).
pub(crate) fn decrypt(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let encrypted = fields::req_string(&body, "encrypt_code")?;
    let st = sim.state();
    let code = st
        .encrypt_codes
        .get(encrypted)
        .filter(|code| st.codes.get(*code).is_some_and(|c| c.app_id == ctx.app_id))
        .ok_or_else(|| wx(40075))?;
    Ok(ok([("code", json!(code))]))
}

/// `POST card/membercard/activatetempinfo/get {"activate_ticket"}` → `{"info"}` (reference §7.2).
pub(crate) fn tempinfo(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let ticket = fields::req_string(&body, "activate_ticket")?;
    let st = sim.state();
    let t = st
        .tickets
        .get(ticket)
        .filter(|t| t.app_id == ctx.app_id)
        .ok_or_else(|| wx(72011))?;
    if sim.now() >= t.expires_at {
        return Err(wx(72012));
    }
    Ok(ok([("info", answers_json(&t.answers))]))
}

/// `POST card/membercard/activate` (reference §7.3). Not idempotent: a second activation of the
/// same code answers 40056 (Appendix B).
pub(crate) fn activate(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let membership_number = fields::req_string(&body, "membership_number")?;
    let code = fields::req_string(&body, "code")?;
    let card_id = fields::string(&body, "card_id")?.filter(|s| !s.is_empty());
    fields::check_len(membership_number, 32)?;
    let init_bonus = fields::int(&body, "init_bonus")?.unwrap_or(0);
    let init_balance = fields::number(&body, "init_balance")?.unwrap_or(0.0);
    if let Some(r) = fields::string(&body, "init_bonus_record")? {
        fields::check_len(r, 14)?;
    }
    fields::string(&body, "background_pic_url")?;
    fields::int(&body, "activate_begin_time")?;
    let end = fields::int(&body, "activate_end_time")?;
    let mut custom = [None, None, None];
    for (i, slot) in custom.iter_mut().enumerate() {
        if let Some(v) = fields::string(&body, &format!("init_custom_field_value{}", i + 1))? {
            fields::check_len(v, 4)?;
            *slot = Some(v.to_owned());
        }
    }
    let now = sim.now();
    let mut st = sim.state();
    let (card, issued) = own_code(&st, &ctx.app_id, code, card_id)?;
    if card.status == CardStatus::Delete {
        return Err(wx(40078));
    }
    check_usable(card, issued, now)?;
    if issued.has_active {
        sim.count_activate_on_active_code();
        return Err(wx(40056));
    }
    let code = issued.code.clone();
    let Some(issued) = st.codes.get_mut(&code) else {
        return Err(wx(40056));
    };
    issued.has_active = true;
    issued.membership_number = Some(membership_number.to_owned());
    issued.bonus = init_bonus;
    issued.balance = init_balance;
    issued.custom_field_values = custom;
    issued.active_until = end;
    Ok(ok([]))
}

/// `POST card/code/get {"code","card_id"?,"check_consume"?}` (reference §8.3).
pub(crate) fn code_get(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let code = fields::req_string(&body, "code")?;
    let card_id = fields::string(&body, "card_id")?.filter(|s| !s.is_empty());
    // WeChat's documented default for check_consume is true.
    let check_consume = fields::boolean(&body, "check_consume")?.unwrap_or(true);
    let now = sim.now();
    let st = sim.state();
    let (card, issued) = own_code(&st, &ctx.app_id, code, card_id)?;
    if check_consume && issued.status == CodeStatus::Consumed {
        return Err(wx(40099));
    }
    let (begin, end) = code_window(card, issued);
    let status = status_str(card, issued, now);
    Ok(ok([
        (
            "card",
            json!({"card_id": card.card_id, "begin_time": begin, "end_time": end}),
        ),
        ("openid", json!(issued.openid)),
        ("can_consume", json!(status == "NORMAL")),
        ("user_card_status", json!(status)),
        ("outer_str", json!(issued.outer_str)),
    ]))
}

/// `POST card/code/unavailable {"card_id","code","reason"?}`: irreversible.
pub(crate) fn code_unavailable(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let code = fields::req_string(&body, "code")?;
    let card_id = fields::string(&body, "card_id")?.filter(|s| !s.is_empty());
    fields::string(&body, "reason")?;
    let now = sim.now();
    let mut st = sim.state();
    let (card, issued) = own_code(&st, &ctx.app_id, code, card_id)?;
    check_usable(card, issued, now)?;
    let code = issued.code.clone();
    if let Some(c) = st.codes.get_mut(&code) {
        c.status = CodeStatus::Unavailable;
    }
    Ok(ok([]))
}

/// `POST card/user/getcardlist {"openid","card_id"?}`.
pub(crate) fn getcardlist(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let openid = fields::req_string(&body, "openid")?;
    let card_id = fields::string(&body, "card_id")?.filter(|s| !s.is_empty());
    let st = sim.state();
    let mut list: Vec<&IssuedCode> = st
        .codes
        .values()
        .filter(|c| c.app_id == ctx.app_id && c.openid == openid)
        .filter(|c| card_id.is_none_or(|id| c.card_id == id))
        .filter(|c| c.status == CodeStatus::Normal)
        .collect();
    list.sort_by_key(|c| c.received_at);
    let items: Vec<Value> = list
        .iter()
        .map(|c| json!({"code": c.code, "card_id": c.card_id}))
        .collect();
    Ok(ok([
        ("card_list", json!(items)),
        ("has_share_card", json!(false)),
    ]))
}

/// `POST card/membercard/userinfo/get {"card_id","code"}` (reference §8.1).
pub(crate) fn userinfo(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let card_id = fields::req_string(&body, "card_id")?;
    let code = fields::req_string(&body, "code")?;
    let now = sim.now();
    let st = sim.state();
    let (card, c) = own_code(&st, &ctx.app_id, code, Some(card_id))?;
    let mut reply = ok([
        ("openid", json!(c.openid)),
        ("nickname", json!(c.user)),
        (
            "membership_number",
            json!(c.membership_number.clone().unwrap_or_default()),
        ),
        ("bonus", json!(c.bonus)),
        ("balance", num_json(c.balance)),
        ("user_card_status", json!(status_str(card, c, now))),
        ("has_active", json!(c.has_active)),
    ]);
    if let crate::request::Reply::Json(map) = &mut reply {
        let sex = c
            .answers
            .common_field_list
            .iter()
            .find(|a| a.name == "USER_FORM_INFO_FLAG_SEX")
            .map(|a| {
                if matches!(a.value.as_str(), "FEMALE" | "女") {
                    "FEMALE"
                } else {
                    "MALE"
                }
            });
        if let Some(sex) = sex {
            map.insert("sex".into(), json!(sex));
        }
        if c.user_info_visible {
            map.insert("user_info".into(), answers_json(&c.answers));
        }
    }
    Ok(reply)
}

/// `POST card/membercard/updateuser` (reference §8.2): absolute values win over deltas; a change
/// pushes `update_member_card`.
pub(crate) fn updateuser(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let card_id = fields::req_string(&body, "card_id")?;
    let code = fields::req_string(&body, "code")?;
    let bonus = fields::int(&body, "bonus")?;
    let add_bonus = fields::int(&body, "add_bonus")?;
    let balance = fields::number(&body, "balance")?;
    let add_balance = fields::number(&body, "add_balance")?;
    for key in ["record_bonus", "record_balance"] {
        if let Some(r) = fields::string(&body, key)? {
            fields::check_len(r, 14)?;
        }
    }
    fields::string(&body, "background_pic_url")?;
    let mut custom = [None, None, None];
    for (i, slot) in custom.iter_mut().enumerate() {
        if let Some(v) = fields::string(&body, &format!("custom_field_value{}", i + 1))? {
            fields::check_len(v, 4)?;
            *slot = Some(v.to_owned());
        }
    }
    if let Some(notify) = fields::object(&body, "notify_optional")? {
        for v in notify.values() {
            if !v.is_boolean() {
                return Err(wx(47001));
            }
        }
    }
    let now = sim.now();
    let (reply, event) = {
        let mut st = sim.state();
        let (card, issued) = own_code(&st, &ctx.app_id, code, Some(card_id))?;
        if card.status == CardStatus::Delete {
            return Err(wx(40078));
        }
        check_usable(card, issued, now)?;
        let card = card.clone();
        let code = issued.code.clone();
        let Some(c) = st.codes.get_mut(&code) else {
            return Err(wx(40056));
        };
        let (old_bonus, old_balance) = (c.bonus, c.balance);
        c.bonus = bonus.unwrap_or(old_bonus + add_bonus.unwrap_or(0));
        c.balance = balance.unwrap_or(old_balance + add_balance.unwrap_or(0.0));
        for (slot, new) in c.custom_field_values.iter_mut().zip(custom) {
            if new.is_some() {
                *slot = new;
            }
        }
        let modify_bonus = add_bonus.unwrap_or(c.bonus - old_bonus);
        let modify_balance = add_balance.unwrap_or(c.balance - old_balance);
        let changed = c.bonus != old_bonus || (c.balance - old_balance).abs() > f64::EPSILON;
        let event = changed.then(|| {
            Event::user_code_event(
                &card,
                c,
                "update_member_card",
                &[
                    ("ModifyBonus", XmlVal::num(modify_bonus)),
                    ("ModifyBalance", XmlVal::num(num_json(modify_balance))),
                ],
            )
        });
        let reply = ok([
            ("result_bonus", json!(c.bonus)),
            ("result_balance", num_json(c.balance)),
            ("openid", json!(c.openid)),
        ]);
        (reply, event)
    };
    sim.push_events(event.into_iter().collect());
    Ok(reply)
}
