//! Admins (owners only): list, create, change role, disable or enable, reset a password.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use kaika_core::admin_users::{self, AdminUser, NewAdminForm, Role};

use super::{message, messages, render, see_other, Chrome, Done, FieldErrors};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::Fields;
use crate::state::AdminState;

/// `GET /admin/admins`.
#[derive(Debug, Template)]
#[template(path = "admins/list.html")]
pub struct AdminsPage {
    chrome: Chrome,
    users: Vec<AdminUser>,
    errors: FieldErrors,
    username: String,
}

impl AdminsPage {
    fn password_error(&self, id: &i64) -> Option<&String> {
        self.errors.get(&format!("password-{id}"))
    }
}

async fn page(
    state: &AdminState,
    admin: &Admin,
    done: Option<&str>,
) -> Result<AdminsPage, AdminError> {
    Ok(AdminsPage {
        chrome: Chrome::load(state, admin, "admins", done).await?,
        users: admin_users::list_users(&state.db).await?,
        errors: FieldErrors::new(),
        username: String::new(),
    })
}

/// `GET /admin/admins`.
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

/// `POST /admin/admins`.
pub async fn create(
    state: web::Data<AdminState>,
    admin: Admin,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_owner()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let new = NewAdminForm {
        username: f.get("username"),
        password: f.raw("password"),
        role: f.get("role"),
    };
    match admin_users::create_from_form(&state.db, &new, &admin.by()).await? {
        Ok(_) => Ok(see_other("/admin/admins?done=admin_created")),
        Err(problems) => {
            let mut p = page(&state, &admin, None).await?;
            p.errors = messages(&admin.tr, problems);
            p.username = new.username;
            render(&p, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

/// `POST /admin/admins/{id}/role`: an owner cannot demote themselves (someone must stay owner).
pub async fn set_role(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_owner()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let role = Role::parse(&f.get("role"))?;
    if *id == admin.user.id && role != Role::Owner {
        let text = admin.tr.t("admins.err_self").to_owned();
        return Err(AdminError::BadRequest(text));
    }
    admin_users::change_role(&state.db, *id, role, &admin.by()).await?;
    Ok(see_other("/admin/admins?done=admin_saved"))
}

/// `POST /admin/admins/{id}/disable` (`disabled=1` to disable, else enable): a disabled admin cannot
/// log in and its sessions end at once. An owner cannot disable themselves.
pub async fn set_disabled(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_owner()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let disabled = f.get("disabled") == "1";
    if *id == admin.user.id && disabled {
        let text = admin.tr.t("admins.err_self_disable").to_owned();
        return Err(AdminError::BadRequest(text));
    }
    admin_users::change_disabled(&state.db, *id, disabled, &admin.by()).await?;
    Ok(see_other(if disabled {
        "/admin/admins?done=admin_disabled"
    } else {
        "/admin/admins?done=admin_enabled"
    }))
}

/// `POST /admin/admins/{id}/password`: sets a new password (the owner hands it over); every session of
/// that admin ends. The audit records that it changed, never the password or its hash.
pub async fn reset_password(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_owner()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let password = f.raw("password");
    match admin_users::reset_password(&state.db, *id, &password, &admin.by()).await? {
        Ok(()) => Ok(see_other("/admin/admins?done=admin_password")),
        Err(problem) => {
            let mut p = page(&state, &admin, None).await?;
            p.errors
                .insert(format!("password-{id}"), message(&admin.tr, problem));
            render(&p, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}
