//! WeChat accounts: list, add, edit (secrets write-only), the callback URL and Token to paste into the
//! WeChat console (from `KAIKA__SERVER__PUBLIC_URL` when set), the last push and the last token error, a
//! connection test.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;

use kaika_core::accounts::{self, AccountForm, AccountSummary, WECHAT_API_BASE_URL};

use super::{base_url, fmt_time, messages, render, see_other, Chrome, Done, FieldErrors};
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
            .map(|p| fmt_time(&state.settings.time_zone, &p.received_at));
        out.push(AccountRow {
            callback_url,
            token_error_at: summary
                .token_error_at
                .as_ref()
                .map(|t| fmt_time(&state.settings.time_zone, t)),
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

/// The account form as typed.
fn typed(f: &Fields) -> AccountForm {
    AccountForm {
        name: f.get("name"),
        app_id: f.get("app_id"),
        app_secret: f.get("app_secret"),
        callback_token: f.get("callback_token"),
        message_mode: f.get("message_mode"),
        encoding_aes_key: f.get("encoding_aes_key"),
        mini_app_id: f.get("mini_app_id"),
        mini_app_secret: f.get("mini_app_secret"),
        api_base_url: f.get("api_base_url"),
    }
}

/// The add form sent back with its errors (secrets are never sent back).
fn filled(chrome: Chrome, form: AccountForm, errors: FieldErrors) -> AccountFormPage {
    AccountFormPage {
        chrome,
        existing: None,
        name: form.name,
        app_id: form.app_id,
        callback_token: form.callback_token,
        message_mode: form.message_mode,
        mini_app_id: form.mini_app_id,
        api_base_url: form.api_base_url,
        errors,
        test_result: None,
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
    let form = typed(&f);
    let problems =
        match accounts::create_from_form(&state.db, &state.master_key, &form, &admin.by()).await? {
            Ok(summary) => {
                let to = format!("/admin/accounts/{}?done=account_saved", summary.app_id);
                return Ok(see_other(&to));
            }
            Err(problems) => problems,
        };
    let chrome = Chrome::load(&state, &admin, "accounts", None).await?;
    let page = filled(chrome, form, messages(&admin.tr, problems));
    render(&page, StatusCode::UNPROCESSABLE_ENTITY)
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
    let form = typed(&f);
    let (db, key, by) = (&state.db, &state.master_key, admin.by());
    match accounts::update_from_form(db, key, &app_id, &form, &by).await? {
        Ok(_) => {
            state.clients.forget(&app_id);
            Ok(see_other(&format!(
                "/admin/accounts/{app_id}?done=account_saved"
            )))
        }
        Err(problems) => {
            let errors = messages(&admin.tr, problems);
            let mut page = edit_page(&state, &req, &admin, &app_id, None, errors, None).await?;
            (page.name, page.callback_token) = (form.name, form.callback_token);
            page.message_mode = form.message_mode;
            render(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
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
    let outcome = match state.clients.fetch_token(&app_id).await {
        Ok(()) => (true, admin.tr.t("account.test_ok").to_owned()),
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
