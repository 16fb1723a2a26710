//! The audit log (owners only).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use kaika_core::entity::audit_log;
use serde::Deserialize;

use super::{render, Chrome};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::state::AdminState;

/// The page number.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    page: Option<u64>,
}

/// `GET /admin/audit`.
#[derive(Debug, Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    chrome: Chrome,
    entries: Vec<audit_log::Model>,
    page: u64,
    more: bool,
}

/// `GET /admin/audit`.
pub async fn list(
    state: web::Data<AdminState>,
    admin: Admin,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AdminError> {
    admin.require_owner()?;
    let page = query.page.unwrap_or(0);
    let (entries, total) = kaika_core::audit::page(&state.db, page, 100).await?;
    let page_struct = AuditPage {
        chrome: Chrome::load(&state, &admin, "audit", None).await?,
        entries,
        more: (page + 1) * 100 < total,
        page,
    };
    render(&page_struct, StatusCode::OK)
}
