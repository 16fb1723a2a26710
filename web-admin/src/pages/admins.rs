//! Admins (owners only): list, create, change role.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use kaika_core::admin::{self, AdminUser, Role};
use kaika_core::CoreError;

use super::{render, see_other, Chrome, Done, FieldErrors};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::Fields;
use crate::password;
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

async fn page(
    state: &AdminState,
    admin: &Admin,
    done: Option<&str>,
) -> Result<AdminsPage, AdminError> {
    Ok(AdminsPage {
        chrome: Chrome::load(state, admin, "admins", done).await?,
        users: admin::list_users(&state.db).await?,
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
    if password::check_strength(&pw).is_err() {
        errors.insert(
            "password".into(),
            admin.tr.fmt(
                "admins.err_password",
                &[("min", password::MIN_PASSWORD_CHARS.to_string())],
            ),
        );
    }
    if errors.is_empty() {
        let hash = web::block(move || password::hash(&pw))
            .await
            .map_err(|e| AdminError::Internal(e.to_string()))?
            .map_err(AdminError::Internal)?;
        match admin::create_user(&state.db, &f.get("username"), &hash, role).await {
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
    let before = admin::list_users(&state.db)
        .await?
        .into_iter()
        .find(|u| u.id == *id)
        .ok_or(AdminError::NotFound)?;
    admin::set_role(&state.db, *id, role).await?;
    admin::end_all_sessions(&state.db, *id).await?;
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
