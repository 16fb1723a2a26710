//! Ledger sync and reconciliation: the outbox jobs that are not sent yet or gave up, each with its
//! error and a retry button, and the last reconciliation with the members whose card drifted.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use kaika_core::display;
use kaika_core::entity::outbox as outbox_rows;
use kaika_core::entity::reconciliation;
use kaika_core::entity::reconciliation_items as items;
use kaika_core::outbox;
use kaika_core::reconcile;

use super::{fmt_time, render, see_other, Chrome, Done};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::Fields;
use crate::mask;
use crate::state::AdminState;

/// Jobs shown per status.
pub const JOBS_PER_STATUS: u64 = 100;

/// One outbox job as the page shows it.
#[derive(Debug, Clone)]
pub struct JobLine {
    /// The job.
    pub job: outbox_rows::Model,
    /// Its member's card code (masked unless the role sees personal data).
    pub code: String,
    /// What it sets on the card, e.g. `积分 130 (+30)`.
    pub change: String,
    /// When it is next tried.
    pub next_attempt: String,
}

/// `GET /admin/sync`.
#[derive(Debug, Template)]
#[template(path = "sync/show.html")]
pub struct SyncPage {
    chrome: Chrome,
    counts: Vec<(String, u64)>,
    jobs: Vec<JobLine>,
    run: Option<reconciliation::Model>,
    drift: Vec<items::Model>,
    see: bool,
}

impl SyncPage {
    fn time(&self, at: &Option<chrono::DateTime<chrono::Utc>>) -> String {
        at.as_ref()
            .map(|t| fmt_time(&self.chrome.zone, t))
            .unwrap_or_default()
    }

    fn code(&self, code: &str) -> String {
        if self.see {
            code.to_owned()
        } else {
            mask::tail(code)
        }
    }

    fn opt(&self, value: &Option<i64>) -> String {
        value.map(|v| v.to_string()).unwrap_or_else(|| "—".into())
    }

    fn opt_yuan(&self, cents: &Option<i64>) -> String {
        cents.map(display::yuan).unwrap_or_else(|| "—".into())
    }
}

fn change(chrome: &Chrome, job: &outbox_rows::Model) -> String {
    let mut parts = Vec::new();
    if let Some(total) = job.points_total {
        let delta = job.points_delta.unwrap_or(0);
        parts.push(format!("{} {total} ({delta:+})", chrome.t("kind.points")));
    }
    if let Some(total) = job.balance_total {
        let delta = job.balance_delta.unwrap_or(0);
        parts.push(format!(
            "{} {} ({})",
            chrome.t("kind.balance"),
            display::yuan(total),
            display::signed_amount("balance", delta)
        ));
    }
    parts.join(" · ")
}

/// `GET /admin/sync`.
pub async fn show(
    state: web::Data<AdminState>,
    admin: Admin,
    done: web::Query<Done>,
) -> Result<HttpResponse, AdminError> {
    let sync = reconcile::sync_state(&state.db, JOBS_PER_STATUS).await?;
    let chrome = Chrome::load(&state, &admin, "sync", done.done.as_deref()).await?;
    let see = admin.user.role.sees_personal_data();
    let jobs = sync
        .jobs
        .into_iter()
        .map(|(job, code)| job_line(&chrome, job, code, see))
        .collect();
    let page = SyncPage {
        chrome,
        counts: sync.counts,
        jobs,
        run: sync.run,
        drift: sync.drift,
        see,
    };
    render(&page, StatusCode::OK)
}

fn job_line(chrome: &Chrome, job: outbox_rows::Model, code: String, see: bool) -> JobLine {
    JobLine {
        code: if see { code } else { mask::tail(&code) },
        change: change(chrome, &job),
        next_attempt: fmt_time(&chrome.zone, &job.next_attempt_at),
        job,
    }
}

/// `POST /admin/sync/jobs/{id}/retry`: a failed (or waiting) job is sent again at the worker's next
/// round.
pub async fn retry(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let retried = outbox::retry_audited(&state.db, *id, &admin.by())
        .await?
        .ok_or(AdminError::NotFound)?;
    Ok(see_other(if retried {
        "/admin/sync?done=job_retried"
    } else {
        "/admin/sync?done=job_not_retried"
    }))
}

/// `POST /admin/sync/retry-pending`: every waiting job is due now (after WeChat came back).
pub async fn retry_pending(
    state: web::Data<AdminState>,
    admin: Admin,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let n = outbox::retry_now(&state.db).await?;
    admin
        .audit(
            &state,
            "outbox.retry_pending",
            "outbox".into(),
            None,
            Some(serde_json::json!({"jobs": n})),
        )
        .await?;
    Ok(see_other("/admin/sync?done=jobs_retried"))
}
