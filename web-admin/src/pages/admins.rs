//! Admins (owners only): list, create, change role, disable or enable, reset a password.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use kaika_core::admin_users::{AdminUser, Role};
use kaika_core::CoreError;

use super::{render, see_other, Chrome, Done, FieldErrors};
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
        users: kaika_core::admin_users::list_users(&state.db).await?,
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
    let mut errors = FieldErrors::new();
    let role = Role::parse(&f.get("role")).unwrap_or(Role::Viewer);
    let pw = f.raw("password");
    if kaika_core::passwords::check_strength(&pw).is_err() {
        errors.insert(
            "password".into(),
            admin.tr.fmt(
                "admins.err_password",
                &[("min", kaika_core::passwords::MIN_PASSWORD_CHARS.to_string())],
            ),
        );
    }
    if errors.is_empty() {
        let hash = web::block(move || kaika_core::passwords::hash(&pw))
            .await
            .map_err(|e| AdminError::Internal(e.to_string()))?
            .map_err(AdminError::Internal)?;
        match kaika_core::admin_users::create_user(&state.db, &f.get("username"), &hash, role).await
        {
            Ok(user) => {
                admin
                    .audit(
                        &state,
                        "admin.create",
                        format!("admin:{}", user.id),
                        None,
                        Some(serde_json::json!({"username": user.username, "role": role.as_str()})),
                    )
                    .await?;
                return Ok(see_other("/admin/admins?done=admin_created"));
            }
            Err(CoreError::Invalid { message, .. }) => {
                errors.insert("username".into(), message);
            }
            Err(CoreError::Conflict { .. }) => {
                errors.insert(
                    "username".into(),
                    admin.tr.t("admins.err_exists").to_owned(),
                );
            }
            Err(err) => return Err(err.into()),
        }
    }
    let mut p = page(&state, &admin, None).await?;
    p.errors = errors;
    p.username = f.get("username");
    render(&p, StatusCode::UNPROCESSABLE_ENTITY)
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
        return Err(AdminError::BadRequest(
            admin.tr.t("admins.err_self").to_owned(),
        ));
    }
    let before = kaika_core::admin_users::list_users(&state.db)
        .await?
        .into_iter()
        .find(|u| u.id == *id)
        .ok_or(AdminError::NotFound)?;
    kaika_core::admin_users::set_role(&state.db, *id, role).await?;
    kaika_core::admin_users::end_all_sessions(&state.db, *id).await?;
    admin
        .audit(
            &state,
            "admin.role",
            format!("admin:{id}"),
            Some(serde_json::json!({"role": before.role.as_str()})),
            Some(serde_json::json!({"role": role.as_str()})),
        )
        .await?;
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
        return Err(AdminError::BadRequest(
            admin.tr.t("admins.err_self_disable").to_owned(),
        ));
    }
    let before = kaika_core::admin_users::set_disabled(&state.db, *id, disabled).await?;
    admin
        .audit(
            &state,
            if disabled {
                "admin.disable"
            } else {
                "admin.enable"
            },
            format!("admin:{id}"),
            Some(serde_json::json!({"username": before.username, "disabled": before.disabled})),
            Some(serde_json::json!({"username": before.username, "disabled": disabled})),
        )
        .await?;
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
    let target = kaika_core::admin_users::user(&state.db, *id).await?;
    let pw = f.raw("password");
    if kaika_core::passwords::check_strength(&pw).is_err() {
        let mut p = page(&state, &admin, None).await?;
        p.errors.insert(
            format!("password-{id}"),
            admin.tr.fmt(
                "admins.err_password",
                &[("min", kaika_core::passwords::MIN_PASSWORD_CHARS.to_string())],
            ),
        );
        return render(&p, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let hash = web::block(move || kaika_core::passwords::hash(&pw))
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?
        .map_err(AdminError::Internal)?;
    kaika_core::admin_users::set_password_hash(&state.db, *id, &hash).await?;
    admin
        .audit(
            &state,
            "admin.password",
            format!("admin:{id}"),
            None,
            Some(serde_json::json!({"username": target.username, "password": "changed"})),
        )
        .await?;
    Ok(see_other("/admin/admins?done=admin_password"))
}
