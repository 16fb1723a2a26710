//! API keys of the integration API (owners only): create (the key is shown once, on the answer to the
//! form), list, revoke. Every change is audited; the key itself never is.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use kaika_core::api_keys::{self, Scope};
use kaika_core::entity::api_keys as api_key_rows;

use super::{fmt_time, messages, render, see_other, Chrome, Done, FieldErrors};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::Fields;
use crate::state::AdminState;

/// `GET /admin/api-keys`, and the answer to a creation (with the new key, once).
#[derive(Debug, Template)]
#[template(path = "api_keys/list.html")]
pub struct ApiKeysPage {
    chrome: Chrome,
    keys: Vec<api_key_rows::Model>,
    scopes: Vec<&'static str>,
    created: Option<String>,
    name: String,
    errors: FieldErrors,
}

impl ApiKeysPage {
    fn time(&self, at: &Option<chrono::DateTime<chrono::Utc>>) -> String {
        at.as_ref()
            .map(|t| fmt_time(&self.chrome.zone, t))
            .unwrap_or_default()
    }
}

async fn page(
    state: &AdminState,
    admin: &Admin,
    done: Option<&str>,
) -> Result<ApiKeysPage, AdminError> {
    Ok(ApiKeysPage {
        chrome: Chrome::load(state, admin, "api_keys", done).await?,
        keys: api_keys::list(&state.db).await?,
        scopes: Scope::ALL.iter().map(|s| s.as_str()).collect(),
        created: None,
        name: String::new(),
        errors: FieldErrors::new(),
    })
}

/// `GET /admin/api-keys`.
pub async fn list(
    state: web::Data<AdminState>,
    admin: Admin,
    done: web::Query<Done>,
) -> Result<HttpResponse, AdminError> {
    admin.require_owner()?;
    render(
        &page(&state, &admin, done.done.as_deref()).await?,
        StatusCode::OK,
    )
}

/// `POST /admin/api-keys`: answers with the page itself (not a redirect), the only time the key is
/// shown; the page is `no-store` like every admin page.
pub async fn create(
    state: web::Data<AdminState>,
    admin: Admin,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_owner()?;
    let pairs = form.into_inner();
    let scopes: Vec<Scope> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .filter_map(|(_, v)| Scope::parse(v))
        .collect();
    let f = Fields::from_pairs(pairs);
    admin.check_csrf(&f.get("csrf"))?;
    let name = f.get("name");
    match api_keys::create_from_form(&state.db, &name, &scopes, &admin.by()).await? {
        Ok(created) => {
            let mut p = page(&state, &admin, Some("api_key_created")).await?;
            p.created = Some(created.key);
            render(&p, StatusCode::OK)
        }
        Err(problems) => {
            let mut p = page(&state, &admin, None).await?;
            p.errors = messages(&admin.tr, problems);
            p.name = name;
            render(&p, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

/// `POST /admin/api-keys/{id}/revoke`.
pub async fn revoke(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_owner()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let row = api_keys::revoke(&state.db, &id.to_string()).await?;
    admin
        .audit(
            &state,
            "api_key.revoke",
            format!("api_key:{}", row.id),
            Some(serde_json::json!({"name": row.name, "prefix": row.key_prefix, "revoked": false})),
            Some(serde_json::json!({"name": row.name, "prefix": row.key_prefix, "revoked": true})),
        )
        .await?;
    Ok(see_other("/admin/api-keys?done=api_key_revoked"))
}
