//! The control API (`control/…`): set-up, member actions, clock, faults and recorded pushes.
//! Not part of WeChat: errors are plain HTTP statuses with `{"error": "…"}`.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::errors::SimError;
use crate::faults::FaultSpec;
use crate::model::{AccountPatch, AccountSpec};
use crate::request::parse_query;
use crate::sim::{lock, Simulator};

type Sim = web::Data<Simulator>;

fn fail(status: StatusCode, msg: impl ToString) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": msg.to_string()}))
}

fn sim_error(e: &SimError) -> HttpResponse {
    let status = match e {
        SimError::DuplicateAccount(_) => StatusCode::CONFLICT,
        SimError::UnknownAccount(_) | SimError::UnknownCard(_) | SimError::UnknownCode(_) => {
            StatusCode::NOT_FOUND
        }
        SimError::NoMiniProgram(_) | SimError::Invalid(_) => StatusCode::BAD_REQUEST,
    };
    fail(status, e)
}

/// An optional JSON body (empty means the defaults); the error is the message for a 400.
fn body<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    required(bytes)
}

fn required<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))
}

fn respond<T: serde::Serialize>(r: Result<T, SimError>) -> HttpResponse {
    match r {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => sim_error(&e),
    }
}

async fn create_account(sim: Sim, b: Bytes) -> HttpResponse {
    match body::<AccountSpec>(&b) {
        Ok(spec) => match sim.create_account(spec) {
            Ok(a) => HttpResponse::Created().json(a),
            Err(e) => sim_error(&e),
        },
        Err(e) => fail(StatusCode::BAD_REQUEST, e),
    }
}

async fn list_accounts(sim: Sim) -> HttpResponse {
    HttpResponse::Ok().json(sim.accounts())
}

async fn get_account(sim: Sim, path: web::Path<String>) -> HttpResponse {
    match sim.account(&path) {
        Some(a) => HttpResponse::Ok().json(a),
        None => sim_error(&SimError::UnknownAccount(path.into_inner())),
    }
}

async fn patch_account(sim: Sim, path: web::Path<String>, b: Bytes) -> HttpResponse {
    match body::<AccountPatch>(&b) {
        Ok(patch) => respond(sim.update_account(&path, patch)),
        Err(e) => fail(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Deserialize)]
struct LoginCodeReq {
    app_id: String,
    user: String,
}

async fn login_code(sim: Sim, b: Bytes) -> HttpResponse {
    match required::<LoginCodeReq>(&b) {
        Ok(r) => respond(sim.mint_login_code(&r.app_id, &r.user)),
        Err(e) => fail(StatusCode::BAD_REQUEST, e),
    }
}

async fn openid(sim: Sim, req: HttpRequest) -> HttpResponse {
    let q = parse_query(req.query_string());
    let (Some(app_id), Some(user)) = (q.get("app_id"), q.get("user")) else {
        return fail(StatusCode::BAD_REQUEST, "app_id and user are required");
    };
    respond(
        sim.openid(app_id, user)
            .map(|openid| json!({"openid": openid})),
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RefuseReq {
    reason: String,
}

async fn approve(sim: Sim, path: web::Path<String>) -> HttpResponse {
    respond(
        sim.approve_card(&path)
            .map(|()| json!({"card_id": path.as_str(), "status": "CARD_STATUS_VERIFY_OK"})),
    )
}

#[derive(Deserialize)]
struct RestoreCardReq {
    app_id: String,
    member_card: Value,
    #[serde(default)]
    approved: bool,
    #[serde(default)]
    form: Option<Value>,
}

async fn restore_card(sim: Sim, path: web::Path<String>, b: Bytes) -> HttpResponse {
    match required::<RestoreCardReq>(&b) {
        Ok(r) => respond(
            sim.restore_card(&r.app_id, &path, r.member_card, r.approved, r.form)
                .and_then(|()| sim.card(&path).ok_or_else(|| SimError::UnknownCard(path.to_string())))
                .map(|card| json!({"card_id": card.card_id, "status": card.status, "encrypt_card_id": card.encrypt_card_id})),
        ),
        Err(e) => fail(StatusCode::BAD_REQUEST, e),
    }
}

async fn refuse(sim: Sim, path: web::Path<String>, b: Bytes) -> HttpResponse {
    match body::<RefuseReq>(&b) {
        Ok(r) => respond(
            sim.refuse_card(&path, &r.reason)
                .map(|()| json!({"card_id": path.as_str(), "status": "CARD_STATUS_VERIFY_FAIL"})),
        ),
        Err(e) => fail(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct ConsumeReq {
    consume_source: String,
    location_name: String,
}

impl Default for ConsumeReq {
    fn default() -> Self {
        Self {
            consume_source: "FROM_MOBILE_HELPER".into(),
            location_name: String::new(),
        }
    }
}

async fn code_action(sim: Sim, path: web::Path<(String, String)>, b: Bytes) -> HttpResponse {
    let (code, action) = path.into_inner();
    match action.as_str() {
        "delete" => respond(sim.member_deletes_card(&code)),
        "view" => respond(sim.member_views_card(&code)),
        "consume" => match body::<ConsumeReq>(&b) {
            Ok(r) => respond(sim.member_consumes_card(&code, &r.consume_source, &r.location_name)),
            Err(e) => fail(StatusCode::BAD_REQUEST, e),
        },
        other => fail(
            StatusCode::NOT_FOUND,
            format!("unknown action {other}: use delete, view or consume"),
        ),
    }
}

async fn clock(sim: Sim) -> HttpResponse {
    HttpResponse::Ok().json(json!({"now": sim.now()}))
}

#[derive(Deserialize)]
struct AdvanceReq {
    seconds: u64,
}

async fn advance(sim: Sim, b: Bytes) -> HttpResponse {
    match required::<AdvanceReq>(&b) {
        Ok(r) => HttpResponse::Ok()
            .json(json!({"now": sim.advance_clock(Duration::from_secs(r.seconds))})),
        Err(e) => fail(StatusCode::BAD_REQUEST, e),
    }
}

async fn add_fault(sim: Sim, b: Bytes) -> HttpResponse {
    match required::<FaultSpec>(&b) {
        Ok(spec) => match sim.add_fault(spec) {
            Ok(rule) => HttpResponse::Created().json(rule),
            Err(e) => sim_error(&e),
        },
        Err(e) => fail(StatusCode::BAD_REQUEST, e),
    }
}

async fn list_faults(sim: Sim) -> HttpResponse {
    HttpResponse::Ok().json(lock(&sim.inner.faults).list())
}

async fn clear_faults(sim: Sim) -> HttpResponse {
    sim.clear_faults();
    HttpResponse::NoContent().finish()
}

async fn list_pushes(sim: Sim, req: HttpRequest) -> HttpResponse {
    let q = parse_query(req.query_string());
    let pushes: Vec<_> = sim
        .pushes()
        .into_iter()
        .filter(|p| q.get("event").is_none_or(|e| *e == p.event))
        .filter(|p| q.get("app_id").is_none_or(|a| *a == p.app_id))
        .filter(|p| {
            q.get("code")
                .is_none_or(|c| p.code.as_deref() == Some(c.as_str()))
        })
        .collect();
    HttpResponse::Ok().json(pushes)
}

async fn clear_pushes(sim: Sim) -> HttpResponse {
    sim.clear_pushes();
    HttpResponse::NoContent().finish()
}

async fn state(sim: Sim) -> HttpResponse {
    let snapshot: Value = sim.snapshot();
    HttpResponse::Ok().json(snapshot)
}

pub(crate) fn register(cfg: &mut web::ServiceConfig) {
    cfg.route("/control/accounts", web::post().to(create_account))
        .route("/control/accounts", web::get().to(list_accounts))
        .route("/control/accounts/{app_id}", web::get().to(get_account))
        .route("/control/accounts/{app_id}", web::patch().to(patch_account))
        .route("/control/login-codes", web::post().to(login_code))
        .route("/control/openid", web::get().to(openid))
        .route("/control/cards/{card_id}", web::put().to(restore_card))
        .route("/control/cards/{card_id}/approve", web::post().to(approve))
        .route("/control/cards/{card_id}/refuse", web::post().to(refuse))
        .route(
            "/control/codes/{code}/{action}",
            web::post().to(code_action),
        )
        .route("/control/clock", web::get().to(clock))
        .route("/control/clock/advance", web::post().to(advance))
        .route("/control/faults", web::post().to(add_fault))
        .route("/control/faults", web::get().to(list_faults))
        .route("/control/faults", web::delete().to(clear_faults))
        .route("/control/pushes", web::get().to(list_pushes))
        .route("/control/pushes", web::delete().to(clear_pushes))
        .route("/control/state", web::get().to(state));
}
