//! Card templates: create, get, batchget, update, delete, modifystock, the activation form and geturl
//! (reference §3–§5).

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::api::ok;
use crate::errors::WxError;
use crate::ids;
use crate::model::{Account, Card, CardStatus, TestWhitelist};
use crate::request::{fields, ApiCtx, ApiResult};
use crate::sim::{secs, Simulator, State};

type Obj = Map<String, Value>;

const CODE_TYPES: &[&str] = &[
    "CODE_TYPE_TEXT",
    "CODE_TYPE_BARCODE",
    "CODE_TYPE_QRCODE",
    "CODE_TYPE_ONLY_QRCODE",
    "CODE_TYPE_ONLY_BARCODE",
    "CODE_TYPE_NONE",
];

const COLORS: &[&str] = &[
    "Color010", "Color020", "Color030", "Color040", "Color050", "Color060", "Color070", "Color080",
    "Color081", "Color082", "Color090", "Color100", "Color101", "Color102",
];

const NAME_TYPES: &[&str] = &[
    "FIELD_NAME_TYPE_LEVEL",
    "FIELD_NAME_TYPE_COUPON",
    "FIELD_NAME_TYPE_STAMP",
    "FIELD_NAME_TYPE_DISCOUNT",
    "FIELD_NAME_TYPE_ACHIEVEMEN",
    "FIELD_NAME_TYPE_MILEAGE",
    "FIELD_NAME_TYPE_SET_POINTS",
    "FIELD_NAME_TYPE_TIMS",
];

/// Every `common_field_id_list` spelling the sources use (reference §4 asks to accept all).
pub(crate) const COMMON_FIELDS: &[(&str, &str)] = &[
    ("USER_FORM_INFO_FLAG_MOBILE", "手机号"),
    ("USER_FORM_INFO_FLAG_SEX", "性别"),
    ("USER_FORM_INFO_FLAG_NAME", "姓名"),
    ("USER_FORM_INFO_FLAG_BIRTHDAY", "生日"),
    ("USER_FORM_INFO_FLAG_IDCARD", "身份证"),
    ("USER_FORM_INFO_FLAG_EMAIL", "邮箱"),
    ("USER_FORM_INFO_FLAG_LOCATION", "详细地址"),
    ("USER_FORM_INFO_FLAG_DETAIL_LOCATION", "详细地址"),
    ("USER_FORM_INFO_FLAG_EDUCATION_BACKGRO", "教育背景"),
    ("USER_FORM_INFO_FLAG_EDUCATION_BACKGROUND", "教育背景"),
    ("USER_FORM_INFO_FLAG_CAREER", "职业"),
    ("USER_FORM_INFO_FLAG_INDUSTRY", "行业"),
    ("USER_FORM_INFO_FLAG_INCOME", "收入"),
    ("USER_FORM_INFO_FLAG_HABIT", "兴趣爱好"),
];

pub(crate) const RICH_TYPES: &[&str] = &[
    "FORM_FIELD_RADIO",
    "FORM_FIELD_SELECT",
    "FORM_FIELD_CHECK_BOX",
];

/// `base_info` string fields and their limits in Chinese characters (reference §3.1).
const BASE_STRINGS: &[(&str, Option<usize>)] = &[
    ("logo_url", None),
    ("brand_name", Some(12)),
    ("title", Some(9)),
    ("notice", Some(16)),
    ("description", Some(1024)),
    ("service_phone", None),
    ("center_title", None),
    ("center_sub_title", None),
    ("center_url", None),
    ("custom_url_name", None),
    ("custom_url", None),
    ("custom_url_sub_title", None),
    ("promotion_url_name", None),
    ("promotion_url", None),
    ("promotion_url_sub_title", None),
    ("custom_app_brand_user_name", None),
    ("custom_app_brand_pass", None),
    ("center_app_brand_user_name", None),
    ("center_app_brand_pass", None),
    ("promotion_app_brand_user_name", None),
    ("promotion_app_brand_pass", None),
    ("activate_app_brand_user_name", None),
    ("activate_app_brand_pass", None),
];

const BASE_BOOLS: &[&str] = &[
    "use_custom_code",
    "bind_openid",
    "can_share",
    "can_give_friend",
    "use_all_locations",
    "need_push_on_view",
];

const BASE_INTS: &[&str] = &["get_limit", "use_limit"];

const CARD_STRINGS: &[&str] = &[
    "background_pic_url",
    "wx_activate_after_submit_url",
    "activate_url",
    "activate_app_brand_user_name",
    "activate_app_brand_pass",
    "bonus_url",
    "balance_url",
    "bonus_cleared",
    "bonus_rules",
    "balance_rules",
    "bonus_app_brand_user_name",
    "bonus_app_brand_pass",
    "balance_app_brand_user_name",
    "balance_app_brand_pass",
];

const CARD_BOOLS: &[&str] = &[
    "auto_activate",
    "wx_activate",
    "wx_activate_after_submit",
    "supply_bonus",
    "supply_balance",
];

/// `base_info` keys `card/update` refuses (reference §3.3: stock goes through modifystock, the
/// brand and code settings are fixed).
const NOT_UPDATABLE: &[&str] = &[
    "brand_name",
    "sku",
    "use_custom_code",
    "bind_openid",
    "id",
    "status",
];

fn wx(code: i64) -> WxError {
    WxError::new(code)
}

pub(crate) fn check_base_fields(base: &Obj, required: bool) -> Result<(), WxError> {
    for (key, max) in BASE_STRINGS {
        let value = fields::string(base, key)?;
        let is_required = matches!(
            *key,
            "logo_url" | "brand_name" | "title" | "notice" | "description"
        );
        if required && is_required && value.is_none_or(|v| v.trim().is_empty()) {
            return Err(wx(41011));
        }
        if let (Some(v), Some(max)) = (value, max) {
            fields::check_len(v, *max)?;
        }
    }
    for key in BASE_BOOLS {
        fields::boolean(base, key)?;
    }
    for key in BASE_INTS {
        fields::int(base, key)?;
    }
    match fields::string(base, "code_type")? {
        Some(t) if CODE_TYPES.contains(&t) => {}
        Some(_) => return Err(wx(47001)),
        None if required => return Err(wx(41011)),
        None if base.contains_key("code_type") => return Err(wx(47001)),
        None => {}
    }
    match fields::string(base, "color")? {
        Some(c) if COLORS.contains(&c) => {}
        Some(_) => return Err(wx(47001)),
        None if required => return Err(wx(41011)),
        None => {}
    }
    Ok(())
}

fn check_date_info(date: &Obj, now: i64) -> Result<(), WxError> {
    match fields::req_string(date, "type")? {
        "DATE_TYPE_PERMANENT" => Ok(()),
        "DATE_TYPE_FIX_TIME_RANGE" => {
            let begin = fields::int(date, "begin_timestamp")?.ok_or_else(|| wx(41011))?;
            let end = fields::int(date, "end_timestamp")?.ok_or_else(|| wx(41011))?;
            if end <= begin || end <= now {
                return Err(wx(40079));
            }
            Ok(())
        }
        "DATE_TYPE_FIX_TERM" => {
            let term = fields::int(date, "fixed_term")?.ok_or_else(|| wx(41011))?;
            let begin = fields::int(date, "fixed_begin_term")?.unwrap_or(0);
            if term < 0 || begin < 0 {
                return Err(wx(40079));
            }
            Ok(())
        }
        _ => Err(wx(47001)),
    }
}

pub(crate) fn check_card_fields(mc: &Obj) -> Result<(), WxError> {
    for key in CARD_STRINGS {
        fields::string(mc, key)?;
    }
    for key in CARD_BOOLS {
        fields::boolean(mc, key)?;
    }
    fields::int(mc, "discount")?;
    if let Some(p) = fields::string(mc, "prerogative")? {
        fields::check_len(p, 1024)?;
    }
    if let Some(url) = fields::string(mc, "wx_activate_after_submit_url")? {
        if !url.is_empty() && !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(wx(47001));
        }
    }
    for key in mc.keys() {
        for family in ["custom_field", "custom_cell"] {
            if let Some(n) = key.strip_prefix(family).and_then(|n| n.parse::<u32>().ok()) {
                if !(1..=3).contains(&n) {
                    return Err(wx(40124));
                }
            }
        }
    }
    for i in 1..=3 {
        if let Some(field) = fields::object(mc, &format!("custom_field{i}"))? {
            if let Some(t) = fields::string(field, "name_type")? {
                if !NAME_TYPES.contains(&t) {
                    return Err(wx(47001));
                }
            }
            fields::string(field, "name")?;
            fields::string(field, "url")?;
        }
        if let Some(cell) = fields::object(mc, &format!("custom_cell{i}"))? {
            fields::string(cell, "name")?;
            fields::string(cell, "url")?;
            if let Some(tips) = fields::string(cell, "tips")? {
                fields::check_len(tips, 6)?;
            }
        }
    }
    if let Some(rule) = fields::object(mc, "bonus_rule")? {
        for v in rule.values() {
            if !v.is_number() {
                return Err(wx(47001));
            }
        }
    }
    Ok(())
}

/// Loads a card of the caller's account: 40073 when unknown or another account's.
pub(crate) fn own_card<'a>(
    st: &'a State,
    app_id: &str,
    card_id: &str,
) -> Result<&'a Card, WxError> {
    st.cards
        .get(card_id)
        .filter(|c| c.app_id == app_id)
        .ok_or_else(|| wx(40073))
}

fn own_card_mut<'a>(
    st: &'a mut State,
    app_id: &str,
    card_id: &str,
) -> Result<&'a mut Card, WxError> {
    st.cards
        .get_mut(card_id)
        .filter(|c| c.app_id == app_id)
        .ok_or_else(|| wx(40073))
}

/// One-tap activation in effect: `auto_activate` and `activate_url` override it (reference §3.1).
pub(crate) fn is_one_tap(card: &Card) -> bool {
    let activate_url = card
        .member_card
        .get("activate_url")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    card.flag("wx_activate") && !card.flag("auto_activate") && !activate_url
}

fn account(st: &State, app_id: &str) -> Result<Account, WxError> {
    st.accounts.get(app_id).cloned().ok_or_else(|| wx(40013))
}

/// Whether `user` may receive and activate `card`: everyone once it is approved, only the
/// account's test whitelist while it is in review (reference §3.2), nobody when it was refused or
/// deleted (40078).
pub(crate) fn card_open_to(st: &mut State, card: &Card, user: &str) -> Result<(), WxError> {
    match card.status {
        CardStatus::VerifyOk => Ok(()),
        CardStatus::NotVerify if st.is_test_whitelisted(&card.app_id, user) => Ok(()),
        _ => Err(wx(40078)),
    }
}

/// Most entries (openids and usernames together) one `card/testwhitelist/set` may hold. [U] The
/// reference gives no limit; the official page is remembered as saying 10 in total (总数上限为10个),
/// which could not be checked offline.
const WHITELIST_MAX: usize = 10;

/// `POST card/testwhitelist/set {"openid":[…],"username":[…]}` (reference §3.2): replaces the
/// account's test whitelist ([U] whether WeChat replaces or adds). Openids must have this
/// account's openid shape (40003); usernames (WeChat ids) are kept as given, and a simulated
/// user's WeChat id is their user name.
pub(crate) fn testwhitelist_set(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let openid = fields::string_list(&body, "openid")?;
    let username = fields::string_list(&body, "username")?;
    if openid.is_none() && username.is_none() {
        return Err(wx(41011));
    }
    let list = TestWhitelist {
        openid: openid.unwrap_or_default(),
        username: username.unwrap_or_default(),
    };
    if list.openid.len() + list.username.len() > WHITELIST_MAX {
        // [U] The errcode for too many entries is undocumented; 45021 is what the simulator
        // answers for every other over-long list (custom and rich form fields, batchget count).
        return Err(wx(45021));
    }
    let mut st = sim.state();
    let prefix = account(&st, &ctx.app_id)?.id_prefix;
    if !list.openid.iter().all(|o| ids::is_openid_of(o, &prefix)) {
        return Err(wx(40003));
    }
    st.test_whitelists.insert(ctx.app_id.clone(), list);
    Ok(ok([]))
}

/// `POST card/create` (reference §3.1).
pub(crate) fn create(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let card = fields::object(&body, "card")?.ok_or_else(|| wx(41011))?;
    let card_type = fields::req_string(card, "card_type")?;
    if card_type != "MEMBER_CARD" {
        // The simulator models member cards only; other types are refused as invalid.
        return Err(wx(40071));
    }
    let mc = fields::object(card, "member_card")?.ok_or_else(|| wx(41011))?;
    let now = sim.now();
    let acct = account(&sim.state(), &ctx.app_id)?;
    if !acct.member_card_authorized {
        return Err(wx(72016));
    }
    let base = fields::object(mc, "base_info")?.ok_or_else(|| wx(41011))?;
    check_base_fields(base, true)?;
    let date = fields::object(base, "date_info")?.ok_or_else(|| wx(41011))?;
    check_date_info(date, now)?;
    let sku = fields::object(base, "sku")?.ok_or_else(|| wx(41011))?;
    let quantity = fields::int(sku, "quantity")?.ok_or_else(|| wx(41011))?;
    if !(1..=100_000_000).contains(&quantity) {
        return Err(wx(40122));
    }
    fields::req_string(mc, "prerogative")?;
    check_card_fields(mc)?;
    if fields::boolean(base, "use_custom_code")? == Some(true) && !acct.custom_code_authorized {
        return Err(wx(43009));
    }
    if fields::boolean(mc, "supply_balance")? == Some(true) && !acct.balance_authorized {
        return Err(wx(43010));
    }
    let review_delay = sim.config().review_delay;
    let card_id = {
        let mut st = sim.state();
        let card_id = ids::card_id(&mut st.rng, &acct.id_prefix);
        st.cards.insert(
            card_id.clone(),
            Card {
                card_id: card_id.clone(),
                app_id: acct.app_id.clone(),
                member_card: Value::Object(mc.clone()),
                status: CardStatus::NotVerify,
                created_at: now,
                review_due: review_delay.map(|d| now + secs(d)),
                quantity,
                total_quantity: quantity,
                form: None,
                encrypt_card_id: None,
            },
        );
        st.card_order.push(card_id.clone());
        card_id
    };
    if let Some(delay) = review_delay {
        schedule_review(sim, delay);
    }
    Ok(ok([("card_id", json!(card_id))]))
}

pub(crate) fn schedule_review(sim: &Simulator, delay: Duration) {
    let sim = sim.clone();
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(async move {
            tokio::time::sleep(delay).await;
            sim.run_due_reviews();
        });
    }
}

/// The card as `card/get` shows it: the stored `member_card` plus id, status and stock.
pub(crate) fn card_view(card: &Card) -> Value {
    let mut mc = card.member_card.clone();
    if let Some(base) = mc.get_mut("base_info").and_then(Value::as_object_mut) {
        base.insert("id".into(), json!(card.card_id));
        base.insert("status".into(), json!(card.status.as_str()));
        base.insert(
            "sku".into(),
            json!({"quantity": card.quantity, "total_quantity": card.total_quantity}),
        );
    }
    json!({"card_type": "MEMBER_CARD", "member_card": mc})
}

/// `POST card/get {"card_id"}`.
pub(crate) fn get(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let card_id = fields::card_id(&body)?;
    let st = sim.state();
    let card = own_card(&st, &ctx.app_id, card_id)?;
    Ok(ok([("card", card_view(card))]))
}

/// `POST card/batchget {"offset","count","status_list"}`.
pub(crate) fn batchget(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let offset = fields::int(&body, "offset")?.unwrap_or(0);
    let count = fields::int(&body, "count")?.ok_or_else(|| wx(41011))?;
    if offset < 0 || !(0..=50).contains(&count) {
        return Err(wx(45021));
    }
    let statuses = fields::string_list(&body, "status_list")?;
    let known = [
        CardStatus::NotVerify,
        CardStatus::VerifyFail,
        CardStatus::VerifyOk,
        CardStatus::Delete,
    ];
    if let Some(list) = &statuses {
        if list
            .iter()
            .any(|s| !known.iter().any(|k| k.as_str() == s) && s != "CARD_STATUS_DISPATCH")
        {
            return Err(wx(47001));
        }
    }
    let st = sim.state();
    let matching: Vec<&str> = st
        .card_order
        .iter()
        .filter_map(|id| st.cards.get(id))
        .filter(|c| c.app_id == ctx.app_id)
        .filter(|c| match &statuses {
            Some(list) => list.iter().any(|s| s == c.status.as_str()),
            None => c.status != CardStatus::Delete,
        })
        .map(|c| c.card_id.as_str())
        .collect();
    let page: Vec<&str> = matching
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(count).unwrap_or(0))
        .copied()
        .collect();
    Ok(ok([
        ("card_id_list", json!(page)),
        ("total_num", json!(matching.len())),
    ]))
}

/// `POST card/update {"card_id","member_card":{…}}` → `{"send_check"}` (reference §3.3).
pub(crate) fn update(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let card_id = fields::card_id(&body)?;
    let changes = fields::object(&body, "member_card")?.ok_or_else(|| wx(41011))?;
    let now = sim.now();
    let mut st = sim.state();
    let card = own_card_mut(&mut st, &ctx.app_id, card_id)?;
    if card.status == CardStatus::Delete {
        return Err(wx(40078));
    }
    check_card_fields(changes)?;
    for flag in ["supply_bonus", "supply_balance"] {
        if card.flag(flag) && fields::boolean(changes, flag)? == Some(false) {
            // Only false → true is allowed (reference §3.3).
            return Err(wx(47001));
        }
    }
    let mut send_check = false;
    let mut new_base = None;
    if let Some(base) = fields::object(changes, "base_info")? {
        if NOT_UPDATABLE.iter().any(|k| base.contains_key(*k)) {
            return Err(wx(47001));
        }
        check_base_fields(base, false)?;
        if let Some(date) = fields::object(base, "date_info")? {
            check_date_info(date, now)?;
            check_date_change(card.base("date_info"), date)?;
        }
        for key in ["title", "description"] {
            if let Some(v) = base.get(key) {
                send_check |= card.base(key) != Some(v);
            }
        }
        new_base = Some(base.clone());
    }
    let Some(mc) = card.member_card.as_object_mut() else {
        return Err(wx(-1));
    };
    for (k, v) in changes {
        if k != "base_info" {
            mc.insert(k.clone(), v.clone());
        }
    }
    if let (Some(changes), Some(Value::Object(base))) = (new_base, mc.get_mut("base_info")) {
        for (k, v) in changes {
            base.insert(k, v);
        }
    }
    Ok(ok([("send_check", json!(send_check))]))
}

/// 40100 unless the type stays and the new range contains the old (reference §3.3).
fn check_date_change(old: Option<&Value>, new: &Obj) -> Result<(), WxError> {
    let Some(old) = old else { return Ok(()) };
    let old_type = old.get("type").and_then(Value::as_str);
    if old_type != new.get("type").and_then(Value::as_str) {
        return Err(wx(40100));
    }
    if old_type == Some("DATE_TYPE_FIX_TIME_RANGE") {
        let get = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
        let new_v = Value::Object(new.clone());
        if get(&new_v, "begin_timestamp") > get(old, "begin_timestamp")
            || get(&new_v, "end_timestamp") < get(old, "end_timestamp")
        {
            return Err(wx(40100));
        }
    }
    Ok(())
}

/// `POST card/delete {"card_id"}`.
pub(crate) fn delete(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let card_id = fields::card_id(&body)?;
    let mut st = sim.state();
    let card = own_card_mut(&mut st, &ctx.app_id, card_id)?;
    if card.status == CardStatus::Delete {
        return Err(wx(40078));
    }
    card.status = CardStatus::Delete;
    card.review_due = None;
    Ok(ok([]))
}

/// `POST card/modifystock {"card_id","increase_stock_value"|"reduce_stock_value"}`.
pub(crate) fn modifystock(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let card_id = fields::card_id(&body)?;
    let inc = fields::int(&body, "increase_stock_value")?.unwrap_or(0);
    let dec = fields::int(&body, "reduce_stock_value")?.unwrap_or(0);
    if inc < 0 || dec < 0 || (inc == 0 && dec == 0) {
        return Err(wx(40122));
    }
    let mut st = sim.state();
    let card = own_card_mut(&mut st, &ctx.app_id, card_id)?;
    if card.status == CardStatus::Delete {
        return Err(wx(40078));
    }
    let quantity = card.quantity + inc - dec;
    if !(0..=100_000_000).contains(&quantity) {
        return Err(wx(40122));
    }
    card.quantity = quantity;
    card.total_quantity += inc;
    Ok(ok([]))
}

pub(crate) fn check_form_part(part: &Obj) -> Result<(), WxError> {
    fields::boolean(part, "can_modify")?;
    for id in fields::string_list(part, "common_field_id_list")?.unwrap_or_default() {
        if !COMMON_FIELDS.iter().any(|(k, _)| *k == id) {
            return Err(wx(47001));
        }
    }
    let custom = fields::string_list(part, "custom_field_list")?.unwrap_or_default();
    if custom.len() > 5 {
        return Err(wx(45021));
    }
    for name in &custom {
        if name.trim().is_empty() {
            return Err(wx(41011));
        }
        fields::check_len(name, 10)?;
    }
    let rich = match part.get("rich_field_list") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(wx(47001)),
    };
    if rich.len() > 5 {
        return Err(wx(45021));
    }
    for item in &rich {
        let item = item.as_object().ok_or_else(|| wx(47001))?;
        let kind = fields::req_string(item, "type")?;
        if !RICH_TYPES.contains(&kind) {
            return Err(wx(47001));
        }
        let name = fields::req_string(item, "name")?;
        if name.len() > 32 {
            return Err(wx(45021));
        }
        let values = fields::string_list(item, "values")?.ok_or_else(|| wx(41011))?;
        if values.is_empty() || values.iter().any(|v| v.trim().is_empty()) {
            return Err(wx(41011));
        }
    }
    Ok(())
}

/// `POST card/membercard/activateuserform/set` (reference §4); the form is stored exactly as sent.
pub(crate) fn set_form(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let card_id = fields::card_id(&body)?;
    let required = fields::object(&body, "required_form")?;
    let optional = fields::object(&body, "optional_form")?;
    if required.is_none() && optional.is_none() {
        return Err(wx(41011));
    }
    for part in required.into_iter().chain(optional) {
        check_form_part(part)?;
    }
    for key in ["service_statement", "bind_old_card"] {
        if let Some(link) = fields::object(&body, key)? {
            fields::string(link, "name")?;
            fields::string(link, "url")?;
        }
    }
    let mut st = sim.state();
    let card = own_card_mut(&mut st, &ctx.app_id, card_id)?;
    if card.status == CardStatus::Delete {
        return Err(wx(40078));
    }
    if !is_one_tap(card) {
        return Err(wx(72026));
    }
    card.form = Some(Value::Object(body.clone()));
    Ok(ok([]))
}

/// `POST card/membercard/activate/geturl {"card_id","outer_str"}` → the URL of reference §5.
pub(crate) fn geturl(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let card_id = fields::card_id(&body)?;
    let outer_str = fields::string(&body, "outer_str")?.unwrap_or_default();
    let mut st = sim.state();
    let card = own_card(&st, &ctx.app_id, card_id)?;
    // [U] Whether WeChat hands out the URL of a card in review is not documented; the simulator
    // does once the account has a test whitelist, since that is how whitelisted testers reach the
    // component, and the component then refuses everyone else (40078).
    let testing = card.status == CardStatus::NotVerify
        && st
            .test_whitelists
            .get(&ctx.app_id)
            .is_some_and(|l| !l.openid.is_empty() || !l.username.is_empty());
    if card.status != CardStatus::VerifyOk && !testing {
        return Err(wx(40078));
    }
    if card.base("use_custom_code").and_then(Value::as_bool) == Some(true) {
        return Err(wx(45030));
    }
    if !is_one_tap(card) {
        return Err(wx(72026));
    }
    let existing = card.encrypt_card_id.clone();
    let bizuin = account(&st, &ctx.app_id)?.bizuin;
    let encrypt_card_id = match existing {
        Some(e) => e,
        None => {
            let e = ids::encrypt_card_id_for(card_id);
            st.encrypt_card_ids.insert(e.clone(), card_id.to_owned());
            if let Some(card) = st.cards.get_mut(card_id) {
                card.encrypt_card_id = Some(e.clone());
            }
            e
        }
    };
    let url = format!(
        "{}?action=preshow&&encrypt_card_id={}&outer_str={}&biz={}#wechat_redirect",
        sim.config().geturl_base,
        urlencoding::encode(&encrypt_card_id),
        urlencoding::encode(outer_str),
        urlencoding::encode(&STANDARD.encode(bizuin.as_bytes())),
    );
    Ok(ok([("url", json!(url))]))
}
