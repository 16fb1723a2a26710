//! One module per area, one page struct per page. Handlers: extract, call a use case, render or
//! redirect (POST-redirect-GET with 303).

pub mod accounts;
pub mod activations;
pub mod admins;
pub mod api_keys;
pub mod audit;
pub mod card_edit;
pub mod cards;
pub mod channels;
pub mod dashboard;
pub mod events;
pub mod form_designer;
pub mod golive;
pub mod login;
pub mod members;
pub mod sync;

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use askama::Template;
use chrono::{DateTime, Utc};
use kaika_core::admin_users::Role;
use kaika_core::display::{self, Zone};
use kaika_core::problems::{Problem, Problems};
use kaika_core::Refusal;
use serde::Deserialize;

use crate::auth::Admin;
use crate::error::AdminError;
use crate::i18n::Tr;
use crate::state::AdminState;

/// What every page shows around its content: navigation, the admin, the language switch, the sandbox
/// banner, the message of the last action.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The translator.
    pub tr: Tr,
    /// Whether someone is logged in (the login page has no navigation).
    pub logged_in: bool,
    /// The admin's name.
    pub username: String,
    /// The admin's role.
    pub role: Role,
    /// The session's CSRF token.
    pub csrf: String,
    /// Whether a sandbox account exists (shows the banner).
    pub sandbox: bool,
    /// The navigation entry to highlight.
    pub active: &'static str,
    /// The message of the action that redirected here.
    pub flash: Option<String>,
    /// The time zone times are shown in.
    pub zone: Zone,
}

/// The `?done=…` of a redirect after a successful action.
#[derive(Debug, Deserialize, Default)]
pub struct Done {
    /// The key of the message (`flash.<done>` in the catalogue).
    pub done: Option<String>,
}

impl Chrome {
    /// The chrome of a logged-in page.
    pub async fn load(
        state: &AdminState,
        admin: &Admin,
        active: &'static str,
        done: Option<&str>,
    ) -> Result<Self, AdminError> {
        let sandbox = kaika_core::accounts::list(&state.db)
            .await?
            .iter()
            .any(|a| a.is_sandbox);
        let flash = done.and_then(|key| {
            let full = format!("flash.{key}");
            let text = admin.tr.t(&full);
            (text != full).then(|| text.to_owned())
        });
        Ok(Self {
            tr: admin.tr,
            logged_in: true,
            username: admin.user.username.clone(),
            role: admin.user.role,
            csrf: admin.csrf.clone(),
            sandbox,
            active,
            flash,
            zone: state.settings.time_zone,
        })
    }

    /// The chrome of the login page.
    pub fn anonymous(tr: Tr, csrf: String) -> Self {
        Self {
            tr,
            logged_in: false,
            username: String::new(),
            role: Role::Viewer,
            csrf,
            sandbox: false,
            active: "",
            flash: None,
            zone: Zone::default(),
        }
    }

    /// Translates.
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        self.tr.t(key)
    }

    /// Translates `prefix.value` (e.g. a status), falling back to the value itself.
    pub fn tv(&self, prefix: &str, value: &str) -> String {
        let key = format!("{prefix}.{value}");
        let text = self.tr.t(&key);
        if text == key {
            value.to_owned()
        } else {
            text.to_owned()
        }
    }

    /// The role's display name.
    pub fn role_name(&self) -> &'static str {
        self.tr.t(match self.role {
            Role::Owner => "role.owner",
            Role::Operator => "role.operator",
            Role::Viewer => "role.viewer",
        })
    }

    /// Whether the admin may change things.
    pub fn can_operate(&self) -> bool {
        self.role.can_operate()
    }

    /// Whether the admin is an owner.
    pub fn is_owner(&self) -> bool {
        self.role.is_owner()
    }

    /// A time to the minute in the admin's time zone.
    pub fn time(&self, time: &DateTime<Utc>) -> String {
        self.zone.minute(time)
    }

    /// A time to the second in the admin's time zone.
    pub fn time_s(&self, time: &DateTime<Utc>) -> String {
        self.zone.second(time)
    }

    /// A day in the admin's time zone.
    pub fn day(&self, time: &DateTime<Utc>) -> String {
        self.zone.day(time)
    }

    /// Cents as yuan, `¥100.00`.
    pub fn yuan(&self, cents: &i64) -> String {
        display::yuan(*cents)
    }

    /// A ledger value of `kind`: balance in yuan, points as an integer.
    pub fn amount(&self, kind: &str, value: &i64) -> String {
        display::amount(kind, *value)
    }

    /// A ledger change of `kind` with its sign.
    pub fn signed_amount(&self, kind: &str, value: &i64) -> String {
        display::signed_amount(kind, *value)
    }

    /// The hint naming the WeChat field behind a label, e.g. "微信字段：outer_str".
    pub fn field_hint(&self, name: &str) -> String {
        self.tr
            .fmt("wechat_field.hint", &[("name", name.to_owned())])
    }

    /// The label of a WeChat push type (`user_get_card` → 领取会员卡); types Kaika does not apply are
    /// "other".
    pub fn event_name(&self, event: &str) -> String {
        let known = kaika_core::events::HANDLED_EVENTS.contains(&event);
        self.tv("wechat_event", if known { event } else { "other" })
    }

    /// The label of an audit action (`admin.login` → 管理员登录), the code itself when it has none.
    pub fn audit_action(&self, code: &str) -> String {
        self.tv("audit_action", code)
    }

    /// The class of a navigation entry.
    pub fn nav_class(&self, entry: &str) -> &'static str {
        if self.active == entry {
            "active"
        } else {
            ""
        }
    }
}

/// A 303 to `location`.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Renders a page with a status (422 for a form sent back with its errors).
pub fn render(page: &impl Template, status: StatusCode) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

/// Field errors of a form, by field name.
pub type FieldErrors = std::collections::BTreeMap<String, String>;

/// The WeChat "too long" message of a field, in characters.
pub fn too_long(tr: &Tr, max: usize, actual: usize) -> String {
    tr.fmt(
        "err.too_long",
        &[("max", max.to_string()), ("actual", actual.to_string())],
    )
}

/// Each problem of a form in the admin's language, next to its field.
pub fn messages(tr: &Tr, problems: Problems) -> FieldErrors {
    problems
        .into_iter()
        .map(|(field, problem)| (field, message(tr, problem)))
        .collect()
}

/// One problem in the admin's language. Each key is written out so that the catalogue test finds it.
pub fn message(tr: &Tr, problem: Problem) -> String {
    let counted =
        |max: usize, actual: usize| [("max", max.to_string()), ("actual", actual.to_string())];
    match problem {
        Problem::TooLong { max, actual } => return too_long(tr, max, actual),
        Problem::TooManyQuestions { max, actual } => {
            return tr.fmt("form.err_too_many_custom", &counted(max, actual))
        }
        Problem::TooManyChoiceQuestions { max, actual } => {
            return tr.fmt("form.err_too_many_rich", &counted(max, actual))
        }
        Problem::Wechat(text) | Problem::Invalid(text) => return text,
        Problem::WeakPassword { min } => {
            return tr.fmt("admins.err_password", &[("min", min.to_string())])
        }
        Problem::Refused(refusal) => return tr.t(&refusal.i18n_key()).to_owned(),
        Problem::AmountTooLarge => return tr.t(&Refusal::AmountTooLarge.i18n_key()).to_owned(),
        Problem::Required => tr.t("err.required"),
        Problem::NotUrl => tr.t("err.url"),
        Problem::NotInPalette => tr.t("card.err_color"),
        Problem::NoLogo => tr.t("card.err_logo_required"),
        Problem::WelcomeBonus => tr.t("card.err_bonus"),
        Problem::MembershipPrefix => tr.t("card.err_prefix"),
        Problem::NoAccount => tr.t("card.err_account"),
        Problem::NoPublicUrl => tr.t("card.err_public_url_missing"),
        Problem::Quantity => tr.t("card.err_number"),
        Problem::Discount => tr.t("card.err_discount"),
        Problem::NoChoices => tr.t("form.err_no_options"),
        Problem::QuestionKind => tr.t("form.err_rich_type"),
        Problem::LinkUrlMissing => tr.t("form.err_link_url"),
        Problem::LinkTextMissing => tr.t("form.err_link_name"),
        Problem::OuterStr => tr.t("channel.err_outer_str"),
        Problem::ChannelExists => tr.t("channel.err_exists"),
        Problem::Amount => tr.t("member.err_amount"),
        Problem::NoNote => tr.t("member.err_note"),
        Problem::AdminExists => tr.t("admins.err_exists"),
        Problem::NoScopes => tr.t("api_keys.err_scopes"),
        Problem::MiniProgramHalf => tr.t("account.mini_both"),
        Problem::AccountExists => tr.t("account.exists"),
        Problem::KeyName => tr.t("api_keys.err_name"),
    }
    .to_owned()
}

/// The scheme and host a request was sent to, e.g. `https://kaika.example.com`.
pub fn base_url(req: &actix_web::HttpRequest) -> String {
    let scheme = if crate::auth::is_https(req) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{}", req.connection_info().host())
}

/// A time as admins read it, to the minute in the admin's time zone.
pub fn fmt_time(zone: &Zone, time: &DateTime<Utc>) -> String {
    zone.minute(time)
}
