//! Credentials: `cgi-bin/token`, `cgi-bin/stable_token`, `cgi-bin/clear_quota`, `sns/jscode2session`
//! (reference §2).

use chrono::{Datelike as _, TimeZone as _};
use serde_json::json;

use crate::api::ok;
use crate::errors::WxError;
use crate::ids;
use crate::request::{fields, ApiCtx, ApiResult};
use crate::sim::{secs, Simulator, State, TokenRecord, TokenSource};

const STABLE_DAILY_LIMIT: u32 = 500_000;
const FORCE_REFRESH_DAILY_LIMIT: u32 = 20;
const FORCE_REFRESH_MIN_GAP: i64 = 30;
const CLEAR_QUOTA_MONTHLY_LIMIT: u32 = 10;

/// WeChat's days and months turn over at midnight Beijing time.
fn beijing_day(now: i64) -> i64 {
    (now + 8 * 3600).div_euclid(86_400)
}

fn beijing_month(now: i64) -> i64 {
    chrono::Utc
        .timestamp_opt(now + 8 * 3600, 0)
        .single()
        .map_or(0, |t| i64::from(t.year()) * 12 + i64::from(t.month()))
}

/// The AppID a token belongs to: 40001 unknown or replaced, 42001 expired, 40014 malformed.
pub(crate) fn check_token(st: &State, token: &str, now: i64) -> Result<String, WxError> {
    let Some(rec) = st.tokens.get(token) else {
        let plausible = token.len() >= 32
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        return Err(WxError::new(if plausible { 40001 } else { 40014 }));
    };
    match rec.revoked_at {
        Some(revoked) if revoked <= now && revoked < rec.expires_at => Err(WxError::new(40001)),
        _ if now >= rec.expires_at => Err(WxError::new(42001)),
        _ => Ok(rec.app_id.clone()),
    }
}

/// Checks AppID, secret and caller IP; answers the AppID's daily token quota.
fn check_credentials(
    sim: &Simulator,
    st: &State,
    app_id: Option<&str>,
    secret: Option<&str>,
    peer_ip: Option<&str>,
) -> Result<(String, u32), WxError> {
    let app_id = app_id.ok_or_else(|| WxError::new(41002))?;
    let account = st.account_of(app_id).ok_or_else(|| WxError::new(40013))?;
    let expected = if account.app_id == app_id {
        &account.app_secret
    } else {
        account
            .mini_program
            .as_ref()
            .map(|m| &m.app_secret)
            .ok_or_else(|| WxError::new(40013))?
    };
    let secret = secret.ok_or_else(|| WxError::new(41004))?;
    if secret != expected {
        return Err(WxError::new(sim.config().wrong_secret_errcode));
    }
    if let Some(list) = &account.ip_whitelist {
        let ip = peer_ip.unwrap_or("0.0.0.0");
        if !list.iter().any(|allowed| allowed == ip) {
            return Err(WxError::with_detail(
                40164,
                &format!("(seen: {ip} ipv6 ::ffff:{ip})"),
            ));
        }
    }
    Ok((app_id.to_owned(), account.daily_token_quota))
}

fn count_call(
    st: &mut State,
    app_id: &str,
    what: &'static str,
    day: i64,
    limit: u32,
) -> Result<(), WxError> {
    let used = st
        .quota_used
        .entry((app_id.to_owned(), what, day))
        .or_insert(0);
    if *used >= limit {
        return Err(WxError::new(45009));
    }
    *used += 1;
    Ok(())
}

/// Issues a new token; the current one keeps working for `overlap` seconds (capped at its own
/// expiry) and the one before it stops at once, since WeChat keeps only one old token alive.
fn issue(
    sim: &Simulator,
    st: &mut State,
    app_id: &str,
    source: TokenSource,
    overlap: i64,
) -> (String, i64) {
    let now = sim.now();
    let ttl = secs(sim.config().token_ttl);
    st.token_serial += 1;
    let token = ids::access_token(&mut st.rng, st.token_serial);
    let slot = st
        .token_slots
        .entry((app_id.to_owned(), source))
        .or_default();
    let older = slot.previous.take();
    let current = slot.current.replace(token.clone());
    slot.previous.clone_from(&current);
    if let Some(older) = older {
        // Dropping a live superseded token changes nothing a caller sees (an unknown token of the
        // right shape answers 40001 too) and keeps the table small under load; an expired one
        // stays, to keep answering 42001.
        match st.tokens.get_mut(&older) {
            Some(rec) if now < rec.expires_at => {
                st.tokens.remove(&older);
            }
            Some(rec) => rec.revoked_at = Some(rec.revoked_at.map_or(now, |r| r.min(now))),
            None => {}
        }
    }
    if let Some(rec) = current.and_then(|t| st.tokens.get_mut(&t)) {
        rec.revoked_at = Some((now + overlap).min(rec.expires_at));
    }
    st.tokens.retain(|_, r| r.expires_at > now - 86_400);
    st.tokens.insert(
        token.clone(),
        TokenRecord {
            app_id: app_id.to_owned(),
            expires_at: now + ttl,
            revoked_at: None,
        },
    );
    (token, ttl)
}

/// `GET cgi-bin/token?grant_type=client_credential&appid=…&secret=…`.
pub(crate) fn get_token(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    if ctx.q("grant_type") != Some("client_credential") {
        return Err(WxError::new(40002));
    }
    let mut st = sim.state();
    let (app_id, quota) = check_credentials(
        sim,
        &st,
        ctx.q("appid"),
        ctx.q("secret"),
        ctx.peer_ip.as_deref(),
    )?;
    count_call(
        &mut st,
        &app_id,
        "cgi-bin/token",
        beijing_day(sim.now()),
        quota,
    )?;
    let overlap = secs(sim.config().token_overlap);
    let (token, ttl) = issue(sim, &mut st, &app_id, TokenSource::Basic, overlap);
    Ok(ok([
        ("access_token", json!(token)),
        ("expires_in", json!(ttl)),
    ]))
}

/// `POST cgi-bin/stable_token` with a JSON body (reference §2.2).
pub(crate) fn stable_token(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    if fields::string(&body, "grant_type")? != Some("client_credential") {
        return Err(WxError::new(40002));
    }
    let force = fields::boolean(&body, "force_refresh")?.unwrap_or(false);
    let now = sim.now();
    let day = beijing_day(now);
    let overlap = secs(sim.config().token_overlap);
    let mut st = sim.state();
    let (app_id, _) = check_credentials(
        sim,
        &st,
        fields::string(&body, "appid")?.filter(|s| !s.is_empty()),
        fields::string(&body, "secret")?.filter(|s| !s.is_empty()),
        ctx.peer_ip.as_deref(),
    )?;
    count_call(
        &mut st,
        &app_id,
        "cgi-bin/stable_token",
        day,
        STABLE_DAILY_LIMIT,
    )?;
    let key = (app_id.clone(), TokenSource::Stable);
    let live = st.token_slots.get(&key).and_then(|slot| {
        let token = slot.current.clone()?;
        let rec = st.tokens.get(&token)?;
        let alive = rec.revoked_at.is_none() && now < rec.expires_at;
        alive.then(|| (token, rec.expires_at - now, slot.last_force_refresh))
    });
    if force {
        if let Some((token, left, Some(last))) = &live {
            // Forced refreshes closer than 30 s apart do not refresh (reference §2.2).
            if now - last < FORCE_REFRESH_MIN_GAP {
                return Ok(ok([
                    ("access_token", json!(token)),
                    ("expires_in", json!(left)),
                ]));
            }
        }
        count_call(
            &mut st,
            &app_id,
            "stable_token:force_refresh",
            day,
            FORCE_REFRESH_DAILY_LIMIT,
        )?;
        // Forced mode invalidates the previous token outright (reference §2.2).
        let (token, ttl) = issue(sim, &mut st, &app_id, TokenSource::Stable, 0);
        if let Some(slot) = st.token_slots.get_mut(&key) {
            slot.last_force_refresh = Some(now);
        }
        return Ok(ok([
            ("access_token", json!(token)),
            ("expires_in", json!(ttl)),
        ]));
    }
    match live {
        Some((token, left, _)) if left > overlap => Ok(ok([
            ("access_token", json!(token)),
            ("expires_in", json!(left)),
        ])),
        // Within the last 5 minutes WeChat renews; the old token still lives out its validity.
        _ => {
            let (token, ttl) = issue(sim, &mut st, &app_id, TokenSource::Stable, overlap);
            Ok(ok([
                ("access_token", json!(token)),
                ("expires_in", json!(ttl)),
            ]))
        }
    }
}

/// `POST cgi-bin/clear_quota {"appid"}`: resets today's token quota, 10 times a month (reference §2.1).
pub(crate) fn clear_quota(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let app_id = fields::string(&body, "appid")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| WxError::new(41002))?;
    let now = sim.now();
    let mut st = sim.state();
    if st.account_of(app_id).is_none() {
        return Err(WxError::new(40013));
    }
    if app_id != ctx.app_id {
        return Err(WxError::new(48001));
    }
    let used = st
        .quota_clears
        .entry((app_id.to_owned(), beijing_month(now)))
        .or_insert(0);
    if *used >= CLEAR_QUOTA_MONTHLY_LIMIT {
        return Err(WxError::new(48006));
    }
    *used += 1;
    let day = beijing_day(now);
    st.quota_used
        .retain(|(app, _, d), _| !(app == app_id && *d == day));
    Ok(ok([]))
}

/// `GET sns/jscode2session?appid=…&secret=…&js_code=…&grant_type=authorization_code` (reference §2.3).
pub(crate) fn jscode2session(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let now = sim.now();
    let mut st = sim.state();
    let app_id = ctx.q("appid").ok_or_else(|| WxError::new(41002))?;
    let account = st.account_of(app_id).ok_or_else(|| WxError::new(40013))?;
    let mini = account
        .mini_program
        .as_ref()
        .filter(|m| m.app_id == app_id)
        .ok_or_else(|| WxError::new(40013))?;
    let secret = ctx.q("secret").ok_or_else(|| WxError::new(41004))?;
    if secret != mini.app_secret {
        return Err(WxError::new(sim.config().wrong_secret_errcode));
    }
    let open_platform = account.open_platform;
    if ctx.q("grant_type") != Some("authorization_code") {
        return Err(WxError::new(40002));
    }
    let js_code = ctx.q("js_code").ok_or_else(|| WxError::new(41008))?;
    let login = st
        .login_codes
        .get_mut(js_code)
        .filter(|c| c.mini_app_id == app_id && c.expires_at > now)
        .ok_or_else(|| WxError::new(40029))?;
    if login.used {
        return Err(WxError::new(40163));
    }
    login.used = true;
    let user = login.user.clone();
    let openid = st.openid_for(app_id, &user);
    let session_key = ids::session_key(&mut st.rng);
    let mut reply = ok([
        ("session_key", json!(session_key)),
        ("openid", json!(openid)),
    ]);
    if open_platform {
        let unionid = st.unionid_for(&user);
        if let crate::request::Reply::Json(map) = &mut reply {
            map.insert("unionid".into(), json!(unionid));
        }
    }
    Ok(reply)
}
