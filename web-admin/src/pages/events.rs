//! The callback log: filters, failed events with their error, and a retry button.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use kaika_core::entity::wechat_events;
use kaika_core::events::{self, EventFilter};
use serde::Deserialize;

use super::{render, see_other, Chrome};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::Fields;
use crate::state::AdminState;

/// The filters.
#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    status: Option<String>,
    event: Option<String>,
    done: Option<String>,
}

/// `GET /admin/events`.
#[derive(Debug, Template)]
#[template(path = "events/list.html")]
pub struct EventsPage {
    chrome: Chrome,
    events: Vec<wechat_events::Model>,
    status: String,
    event: String,
}

impl EventsPage {
    /// The push types the filter offers: those Kaika applies.
    fn known_events(&self) -> &'static [&'static str] {
        &kaika_core::events::HANDLED_EVENTS
    }
}

/// `GET /admin/events`.
pub async fn list(
    state: web::Data<AdminState>,
    admin: Admin,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, AdminError> {
    let status = query.status.clone().filter(|s| !s.is_empty());
    let event = query.event.clone().filter(|s| !s.is_empty());
    let rows = events::list(
        &state.db,
        &EventFilter {
            status: status.clone(),
            event: event.clone(),
            app_id: None,
            limit: Some(100),
        },
    )
    .await?;
    let page = EventsPage {
        chrome: Chrome::load(&state, &admin, "events", query.done.as_deref()).await?,
        events: rows,
        status: status.unwrap_or_default(),
        event: event.unwrap_or_default(),
    };
    render(&page, StatusCode::OK)
}

/// `POST /admin/events/{id}/retry`.
pub async fn retry(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let row = events::retry(&state.db, *id).await?;
    admin
        .audit(
            &state,
            "event.retry",
            format!("event:{id}"),
            None,
            Some(serde_json::json!({"event": row.event})),
        )
        .await?;
    Ok(see_other("/admin/events?done=event_retried"))
}
