//! WeChat accounts: list, add, edit (secrets write-only), the callback URL and Token to paste into the
//! WeChat console (from `KAIKA__SERVER__PUBLIC_URL` when set), the last push and the last token error, a
//! connection test.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use kaika_core::accounts::AccountChanges;
use kaika_core::accounts::{
    self, parse_api_base_url, parse_app_secret, parse_callback_token, parse_encoding_aes_key,
    AccountSummary, AppId, MessageMode, MiniProgram, NewAccount, WECHAT_API_BASE_URL,
};
use kaika_core::CoreError;

use super::{base_url, fmt_time, render, see_other, Chrome, Done, FieldErrors};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::Fields;
use crate::state::AdminState;

/// An account with what the console needs.
#[derive(Debug, Clone)]
pub struct AccountRow {
    /// What is stored in the clear.
    pub summary: AccountSummary,
    /// `…/wechat/{app_id}/callback`.
    pub callback_url: String,
    /// The Token (masked for viewers).
    pub token: String,
    /// When the last push arrived, if one did.
    pub last_push: Option<String>,
    /// When WeChat last refused a token for the account (see `summary.token_error`).
    pub token_error_at: Option<String>,
}

async fn rows(
    state: &AdminState,
    req: &HttpRequest,
    admin: &Admin,
) -> Result<Vec<AccountRow>, AdminError> {
    let base = base_url(req);
    let mut out = Vec::new();
    for summary in accounts::list(&state.db).await? {
        let account = accounts::load(&state.db, &state.master_key, &summary.app_id).await?;
        let token = if admin.user.role.can_operate() {
            account.callback_token
        } else {
            crate::mask::all(&account.callback_token)
        };
        // The configured public address is what WeChat reaches; the request's host is only a guess.
        let callback_url = match &state.public_url {
            Some(url) => url.callback_url(&summary.app_id),
            None => format!("{base}/wechat/{}/callback", summary.app_id),
        };
        let last_push = kaika_core::events::last_push(&state.db, summary.id)
            .await?
            .map(|p| fmt_time(&p.received_at));
        out.push(AccountRow {
            callback_url,
            token_error_at: summary.token_error_at.as_ref().map(fmt_time),
            summary,
            token,
            last_push,
        });
    }
    Ok(out)
}

/// `GET /admin/accounts`.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "accounts/list.html")]
pub struct AccountsPage {
    chrome: Chrome,
    accounts: Vec<AccountRow>,
}

/// `GET /admin/accounts`.
pub async fn list(
    req: HttpRequest,
    state: web::Data<AdminState>,
    admin: Admin,
    done: web::Query<Done>,
) -> Result<AccountsPage, AdminError> {
    Ok(AccountsPage {
        accounts: rows(&state, &req, &admin).await?,
        chrome: Chrome::load(&state, &admin, "accounts", done.done.as_deref()).await?,
    })
}

/// The add/edit form (secrets are never sent back to the browser).
#[derive(Debug, Template)]
#[template(path = "accounts/edit.html")]
pub struct AccountFormPage {
    chrome: Chrome,
    /// `None` when adding.
    existing: Option<AccountRow>,
    name: String,
    app_id: String,
    callback_token: String,
    message_mode: String,
    mini_app_id: String,
    api_base_url: String,
    errors: FieldErrors,
    test_result: Option<(bool, String)>,
}

fn random_token() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
}

/// `GET /admin/accounts/new`.
pub async fn new_form(
    state: web::Data<AdminState>,
    admin: Admin,
) -> Result<HttpResponse, AdminError> {
    admin.require_owner()?;
    let page = AccountFormPage {
        chrome: Chrome::load(&state, &admin, "accounts", None).await?,
        existing: None,
        name: String::new(),
        app_id: String::new(),
        callback_token: random_token(),
        message_mode: "safe".into(),
        mini_app_id: String::new(),
        api_base_url: WECHAT_API_BASE_URL.into(),
        errors: FieldErrors::new(),
        test_result: None,
    };
    render(&page, StatusCode::OK)
}

fn collect<T>(errors: &mut FieldErrors, result: Result<T, CoreError>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(CoreError::Invalid { field, message }) => {
            errors.insert(field.to_owned(), message);
            None
        }
        Err(other) => {
            errors.insert("form".into(), other.to_string());
            None
        }
    }
}

fn optional<T>(
    errors: &mut FieldErrors,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, CoreError>,
) -> Option<T> {
    if text.is_empty() {
        None
    } else {
        collect(errors, parse(text))
    }
}

/// `POST /admin/accounts`.
pub async fn create(
    state: web::Data<AdminState>,
    admin: Admin,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_owner()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let mut errors = FieldErrors::new();
    let app_id = collect(&mut errors, AppId::parse(&f.get("app_id")));
    let app_secret = collect(
        &mut errors,
        parse_app_secret("app_secret", &f.get("app_secret")),
    );
    let callback_token = collect(&mut errors, parse_callback_token(&f.get("callback_token")));
    let mode = collect(&mut errors, MessageMode::parse(&f.get("message_mode")));
    let aes = optional(
        &mut errors,
        &f.get("encoding_aes_key"),
        parse_encoding_aes_key,
    );
    let mini_app_id = optional(&mut errors, &f.get("mini_app_id"), AppId::parse);
    let mini_secret = optional(&mut errors, &f.get("mini_app_secret"), |s| {
        parse_app_secret("mini_app_secret", s)
    });
    let api_base_url = collect(&mut errors, parse_api_base_url(&f.get("api_base_url")));
    if mini_app_id.is_some() != mini_secret.is_some() && !errors.contains_key("mini_app_id") {
        errors.insert(
            "mini_app_secret".into(),
            admin.tr.t("account.mini_both").to_owned(),
        );
    }
    if let (Some(app_id), Some(app_secret), Some(callback_token), Some(mode), Some(api_base_url)) =
        (app_id, app_secret, callback_token, mode, api_base_url)
    {
        if errors.is_empty() {
            let new = NewAccount {
                name: f.get("name"),
                app_id,
                app_secret,
                callback_token,
                encoding_aes_key: aes,
                message_mode: mode,
                mini_program: mini_app_id
                    .zip(mini_secret)
                    .map(|(app_id, app_secret)| MiniProgram { app_id, app_secret }),
                api_base_url,
                is_sandbox: false,
            };
            match accounts::add(&state.db, &state.master_key, new).await {
                Ok(summary) => {
                    admin
                        .audit(
                            &state,
                            "account.create",
                            format!("account:{}", summary.app_id),
                            None,
                            Some(summary_json(&summary)),
                        )
                        .await?;
                    return Ok(see_other(&format!(
                        "/admin/accounts/{}?done=account_saved",
                        summary.app_id
                    )));
                }
                Err(CoreError::Conflict { .. }) => {
                    errors.insert("app_id".into(), admin.tr.t("account.exists").to_owned());
                }
                Err(err) => {
                    collect::<()>(&mut errors, Err(err));
                }
            }
        }
    }
    let page = AccountFormPage {
        chrome: Chrome::load(&state, &admin, "accounts", None).await?,
        existing: None,
        name: f.get("name"),
        app_id: f.get("app_id"),
        callback_token: f.get("callback_token"),
        message_mode: f.get("message_mode"),
        mini_app_id: f.get("mini_app_id"),
        api_base_url: f.get("api_base_url"),
        errors,
        test_result: None,
    };
    render(&page, StatusCode::UNPROCESSABLE_ENTITY)
}

fn summary_json(summary: &AccountSummary) -> serde_json::Value {
    serde_json::json!({
        "name": summary.name,
        "app_id": summary.app_id,
        "message_mode": summary.message_mode,
        "mini_app_id": summary.mini_app_id,
        "api_base_url": summary.api_base_url,
    })
}

async fn edit_page(
    state: &AdminState,
    req: &HttpRequest,
    admin: &Admin,
    app_id: &str,
    done: Option<&str>,
    errors: FieldErrors,
    test_result: Option<(bool, String)>,
) -> Result<AccountFormPage, AdminError> {
    let row = rows(state, req, admin)
        .await?
        .into_iter()
        .find(|r| r.summary.app_id == app_id)
        .ok_or(AdminError::NotFound)?;
    Ok(AccountFormPage {
        chrome: Chrome::load(state, admin, "accounts", done).await?,
        name: row.summary.name.clone(),
        app_id: row.summary.app_id.clone(),
        callback_token: row.token.clone(),
        message_mode: row.summary.message_mode.clone(),
        mini_app_id: row.summary.mini_app_id.clone().unwrap_or_default(),
        api_base_url: row.summary.api_base_url.clone(),
        existing: Some(row),
        errors,
        test_result,
    })
}

/// `GET /admin/accounts/{app_id}`.
pub async fn edit_form(
    req: HttpRequest,
    state: web::Data<AdminState>,
    admin: Admin,
    app_id: web::Path<String>,
    done: web::Query<Done>,
) -> Result<HttpResponse, AdminError> {
    let page = edit_page(
        &state,
        &req,
        &admin,
        &app_id,
        done.done.as_deref(),
        FieldErrors::new(),
        None,
    )
    .await?;
    render(&page, StatusCode::OK)
}

/// `POST /admin/accounts/{app_id}`: empty secret fields keep the stored secrets.
pub async fn update(
    req: HttpRequest,
    state: web::Data<AdminState>,
    admin: Admin,
    app_id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_owner()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let before = accounts::list(&state.db)
        .await?
        .into_iter()
        .find(|a| a.app_id == *app_id)
        .ok_or(AdminError::NotFound)?;
    let mut errors = FieldErrors::new();
    let changes = AccountChanges {
        name: Some(f.get("name")),
        callback_token: Some(f.get("callback_token")),
        message_mode: collect(&mut errors, MessageMode::parse(&f.get("message_mode"))),
        app_secret: optional(&mut errors, &f.get("app_secret"), |s| {
            parse_app_secret("app_secret", s)
        }),
        encoding_aes_key: optional(
            &mut errors,
            &f.get("encoding_aes_key"),
            parse_encoding_aes_key,
        ),
        mini_app_id: optional(&mut errors, &f.get("mini_app_id"), AppId::parse),
        mini_app_secret: optional(&mut errors, &f.get("mini_app_secret"), |s| {
            parse_app_secret("mini_app_secret", s)
        }),
    };
    let secrets_changed: Vec<&str> = [
        ("app_secret", changes.app_secret.is_some()),
        ("encoding_aes_key", changes.encoding_aes_key.is_some()),
        ("mini_app_secret", changes.mini_app_secret.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect();
    if errors.is_empty() {
        match kaika_core::accounts::update(&state.db, &state.master_key, &app_id, changes).await {
            Ok(after) => {
                state.clients.forget(&app_id);
                let mut after_json = summary_json(&after);
                after_json["secrets_replaced"] = serde_json::json!(secrets_changed);
                admin
                    .audit(
                        &state,
                        "account.update",
                        format!("account:{app_id}"),
                        Some(summary_json(&before)),
                        Some(after_json),
                    )
                    .await?;
                return Ok(see_other(&format!(
                    "/admin/accounts/{app_id}?done=account_saved"
                )));
            }
            Err(err) => {
                collect::<()>(&mut errors, Err(err));
            }
        }
    }
    let mut page = edit_page(&state, &req, &admin, &app_id, None, errors, None).await?;
    page.name = f.get("name");
    page.callback_token = f.get("callback_token");
    page.message_mode = f.get("message_mode");
    render(&page, StatusCode::UNPROCESSABLE_ENTITY)
}

/// `POST /admin/accounts/{app_id}/test`: fetches an access token with the stored AppSecret.
pub async fn test_connection(
    req: HttpRequest,
    state: web::Data<AdminState>,
    admin: Admin,
    app_id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    state.clients.forget(&app_id);
    let result = match state.clients.official_account(&app_id).await {
        Ok(client) => client.fetch_token().await.map_err(CoreError::from),
        Err(err) => Err(err),
    };
    let outcome = match result {
        Ok(_) => (true, admin.tr.t("account.test_ok").to_owned()),
        Err(err) => (
            false,
            format!("{}: {err}", admin.tr.t("account.test_failed")),
        ),
    };
    let page = edit_page(
        &state,
        &req,
        &admin,
        &app_id,
        None,
        FieldErrors::new(),
        Some(outcome),
    )
    .await?;
    render(&page, StatusCode::OK)
}
