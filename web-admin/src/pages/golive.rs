//! Going live with an account: the checklist of what to paste into WeChat's consoles and whether each
//! part works, the callback requests Kaika refused, and the test whitelist of testers who may take a
//! card still in review.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use kaika_core::accounts::{self, AccountSummary};
use kaika_core::golive::{self, CheckLine};
use kaika_core::whitelist::{self, Unsaved, WhitelistForm, MAX_TESTERS};

use super::{fmt_time, render, see_other, Chrome, Done, FieldErrors};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::Fields;
use crate::state::AdminState;

/// One checklist line as the page shows it (the Token masked for viewers).
#[derive(Debug, Clone)]
pub struct LineView {
    /// The line's id (`public_url`, `server_url`, …, `card`).
    pub id: &'static str,
    /// The card's title on card lines.
    pub subject: Option<String>,
    /// `ok`, `failed` or `unknown`.
    pub state: &'static str,
    /// What was found and what to do (from the core, in English).
    pub detail: String,
    /// What to paste into WeChat's console, by kind.
    pub paste: Vec<(&'static str, String)>,
}

impl LineView {
    fn new(line: CheckLine, sees_secrets: bool) -> Self {
        let paste = line
            .paste
            .into_iter()
            .map(|(what, value)| {
                if what == "token" && !sees_secrets {
                    (what, crate::mask::all(&value))
                } else {
                    (what, value)
                }
            })
            .collect();
        Self {
            id: line.id,
            subject: line.subject,
            state: line.state.as_str(),
            detail: line.detail,
            paste,
        }
    }
}

/// One refusal code of the callback URL.
#[derive(Debug, Clone)]
pub struct RefusalRow {
    /// The stable code, e.g. `invalid_signature`.
    pub code: String,
    /// What it means to a merchant, in the admin's language when translated.
    pub cause: String,
    /// How many requests were refused with it.
    pub count: i64,
    /// When it last happened.
    pub last_at: String,
    /// The last refusal's message.
    pub last_message: String,
}

/// `GET /admin/accounts/{app_id}/go-live`.
#[derive(Debug, Template)]
#[template(path = "accounts/go_live.html")]
pub struct GoLivePage {
    chrome: Chrome,
    account: AccountSummary,
    lines: Vec<LineView>,
    refusals: Vec<RefusalRow>,
    last_push: Option<String>,
    whitelist: WhitelistForm,
    errors: FieldErrors,
}

/// The account of `app_id`, or the 404 page.
async fn find_account(state: &AdminState, app_id: &str) -> Result<AccountSummary, AdminError> {
    accounts::list(&state.db)
        .await?
        .into_iter()
        .find(|a| a.app_id == app_id)
        .ok_or(AdminError::NotFound)
}

/// The cause of a refusal code in the admin's language (the core's English sentence for codes the
/// catalogue does not know).
fn cause(admin: &Admin, code: &str) -> String {
    let key = format!("golive.refusal.{code}");
    let text = admin.tr.t(&key);
    if text == key {
        golive::refusal_cause(code).to_owned()
    } else {
        text.to_owned()
    }
}

async fn page(
    state: &AdminState,
    admin: &Admin,
    account: AccountSummary,
    done: Option<&str>,
    whitelist: Option<WhitelistForm>,
    errors: FieldErrors,
) -> Result<GoLivePage, AdminError> {
    let lines = golive::checklist(
        &state.db,
        &state.master_key,
        &state.clients,
        &account.app_id,
        state.public_url.as_ref(),
    )
    .await?;
    let sees_secrets = admin.user.role.can_operate();
    let refusals = kaika_core::events::refusals(&state.db, account.id)
        .await?
        .into_iter()
        .map(|r| RefusalRow {
            cause: cause(admin, &r.code),
            code: r.code,
            count: r.count,
            last_at: fmt_time(&state.settings.time_zone, &r.last_at),
            last_message: r.last_message,
        })
        .collect();
    let last_push = kaika_core::events::last_push(&state.db, account.id)
        .await?
        .map(|p| fmt_time(&state.settings.time_zone, &p.received_at));
    let whitelist = match whitelist {
        Some(form) => form,
        None => WhitelistForm::from(&whitelist::load(&state.db, account.id).await?),
    };
    Ok(GoLivePage {
        chrome: Chrome::load(state, admin, "accounts", done).await?,
        account,
        lines: lines
            .into_iter()
            .map(|l| LineView::new(l, sees_secrets))
            .collect(),
        refusals,
        last_push,
        whitelist,
        errors,
    })
}

/// `GET /admin/accounts/{app_id}/go-live`: any admin; it asks WeChat (a token, `card/get` per card) and
/// probes the public URL, so it takes as long as they do.
pub async fn show(
    state: web::Data<AdminState>,
    admin: Admin,
    app_id: web::Path<String>,
    done: web::Query<Done>,
) -> Result<HttpResponse, AdminError> {
    let account = find_account(&state, &app_id).await?;
    let page = page(
        &state,
        &admin,
        account,
        done.done.as_deref(),
        None,
        FieldErrors::new(),
    )
    .await?;
    render(&page, StatusCode::OK)
}

/// What the page says when the whitelist was not saved, and the status to say it with.
fn unsaved_errors(admin: &Admin, unsaved: Unsaved) -> (FieldErrors, StatusCode) {
    let (field, text, status) = match unsaved {
        Unsaved::Entries(field) => {
            let max = [("max", MAX_TESTERS.to_string())];
            let text = admin.tr.fmt("golive.err_entries", &max);
            (field, text, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Unsaved::Refused(err) => {
            let text = format!("{}: {err}", admin.tr.t("golive.whitelist_refused"));
            ("form", text, StatusCode::BAD_GATEWAY)
        }
    };
    (FieldErrors::from([(field.to_owned(), text)]), status)
}

/// `POST /admin/accounts/{app_id}/whitelist`: sends the testers to WeChat (`card/testwhitelist/set`)
/// and stores them; operators and owners.
pub async fn set_whitelist(
    state: web::Data<AdminState>,
    admin: Admin,
    app_id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let account = find_account(&state, &app_id).await?;
    let typed = WhitelistForm {
        openids: f.raw("openids"),
        usernames: f.raw("usernames"),
        mini_openids: f.raw("mini_openids"),
    };
    let by = admin.by();
    let (errors, status) =
        match whitelist::save(&state.db, &state.clients, &account, &typed, &by).await? {
            Ok(_) => {
                let done = format!("/admin/accounts/{app_id}/go-live?done=whitelist_saved");
                return Ok(see_other(&done));
            }
            Err(unsaved) => unsaved_errors(&admin, unsaved),
        };
    let page = page(&state, &admin, account, None, Some(typed), errors).await?;
    render(&page, status)
}
