//! Activations that are not done: those waiting on WeChat after `activate` (their cards are active) and
//! the failed ones, each with a re-drive button.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use kaika_core::activation;
use kaika_core::entity::activations;
use sea_orm::EntityTrait;

use super::{fmt_time, render, see_other, Chrome, Done};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::Fields;
use crate::mask;
use crate::state::AdminState;

/// Activations shown at most.
pub const SHOWN: u64 = 200;

/// One activation as the page shows it.
#[derive(Debug, Clone)]
pub struct ActivationLine {
    /// The activation.
    pub row: activations::Model,
    /// Its card code, masked unless the role sees personal data ("—" before it is decrypted).
    pub code: String,
    /// When the re-drive tries it next ("—" when due now).
    pub next_attempt: String,
}

/// `GET /admin/activations`.
#[derive(Debug, Template)]
#[template(path = "activations/list.html")]
pub struct ActivationsPage {
    chrome: Chrome,
    lines: Vec<ActivationLine>,
}

/// `GET /admin/activations`.
pub async fn list(
    state: web::Data<AdminState>,
    admin: Admin,
    done: web::Query<Done>,
) -> Result<HttpResponse, AdminError> {
    let chrome = Chrome::load(&state, &admin, "dashboard", done.done.as_deref()).await?;
    let see = admin.user.role.sees_personal_data();
    let lines = activation::unfinished_and_failed(&state.db, SHOWN)
        .await?
        .into_iter()
        .map(|row| ActivationLine {
            code: match &row.code {
                Some(code) if see => code.clone(),
                Some(code) => mask::tail(code),
                None => "—".into(),
            },
            next_attempt: row
                .next_attempt_at
                .as_ref()
                .map_or_else(|| "—".into(), |t| fmt_time(&chrome.zone, t)),
            row,
        })
        .collect();
    render(&ActivationsPage { chrome, lines }, StatusCode::OK)
}

/// `POST /admin/activations/{id}/redrive`: the activation is due for the background re-drive now; a
/// failed one starts again from the last step its data proves.
pub async fn redrive(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let before = activations::Entity::find_by_id(*id)
        .one(&state.db)
        .await?
        .ok_or(AdminError::NotFound)?;
    let after = activation::schedule_redrive(&state.db, *id).await?;
    admin
        .audit(
            &state,
            "activation.redrive",
            format!("activation:{id}"),
            Some(
                serde_json::json!({"step": before.step, "attempts": before.attempts,
                                    "last_error": before.last_error}),
            ),
            Some(serde_json::json!({"step": after.step, "attempts": after.attempts})),
        )
        .await?;
    Ok(see_other("/admin/activations?done=activation_redriven"))
}
