//! Members: search and filters with paging, the detail (profile, form answers, ledger, events, sync
//! state), credit/debit through the ledger, and the streamed CSV export (masked unless the role may see
//! personal data; every export audited).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::NaiveDate;
use futures::{future, stream, Stream, StreamExt};
use kaika_core::display::{self, Zone};
use kaika_core::entity::{cards, channels, ledger_entries, members, wechat_events};
use kaika_core::ledger::{self, AdjustForm};
use kaika_core::member_search::{self, AnswerColumn, Export, Found, MemberFilter, MemberSort};
use kaika_core::members::Answers;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;

use super::{messages, render, see_other, Chrome, Done, FieldErrors};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::Fields;
use crate::i18n::Tr;
use crate::mask;
use crate::state::AdminState;

/// Members per page.
pub const PER_PAGE: u64 = 50;

/// The list's query string.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    card: Option<String>,
    channel: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    sort: Option<String>,
    page: Option<u64>,
    done: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl ListQuery {
    fn filter(&self, zone: Zone) -> MemberFilter {
        MemberFilter {
            zone,
            q: non_empty(&self.q),
            card_id: non_empty(&self.card).and_then(|c| c.parse().ok()),
            outer_str: non_empty(&self.channel),
            status: non_empty(&self.status),
            from: non_empty(&self.from)
                .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
            to: non_empty(&self.to).and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
            sort: MemberSort::parse(self.sort.as_deref().unwrap_or_default()),
        }
    }

    /// The query string without the page, for the paging and export links.
    pub fn params(&self) -> String {
        let pairs = [
            ("q", &self.q),
            ("card", &self.card),
            ("channel", &self.channel),
            ("status", &self.status),
            ("from", &self.from),
            ("to", &self.to),
            ("sort", &self.sort),
        ];
        pairs
            .iter()
            .filter_map(|(k, v)| non_empty(v).map(|v| format!("{k}={}", urlencoding::encode(&v))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A member as a line of the list (personal data already masked when the role requires it).
#[derive(Debug, Clone)]
pub struct MemberLine {
    /// Id.
    pub id: i64,
    /// Membership number.
    pub number: String,
    /// Name from the form.
    pub name: String,
    /// Mobile from the form.
    pub mobile: String,
    /// Card code.
    pub code: String,
    /// Card title.
    pub card: String,
    /// Channel.
    pub channel: String,
    /// Status.
    pub status: String,
    /// Points.
    pub points: i64,
    /// Balance as shown, `¥100.00`.
    pub balance: String,
    /// Balance in cents.
    pub balance_cents: i64,
    /// Created.
    pub created: String,
}

fn line(row: &members::Model, card: &str, see: bool, zone: &Zone) -> MemberLine {
    let a = Answers::of(row);
    let name = a.name().to_owned();
    let mobile = a.mobile().to_owned();
    MemberLine {
        id: row.id,
        number: row.membership_number.clone().unwrap_or_default(),
        name: if see { name } else { mask::name(&name) },
        mobile: if see { mobile } else { mask::mobile(&mobile) },
        code: if see {
            row.code.clone()
        } else {
            mask::tail(&row.code)
        },
        card: card.to_owned(),
        channel: row.outer_str.clone().unwrap_or_default(),
        status: row.status.clone(),
        points: row.points,
        balance: display::yuan(row.balance_cents),
        balance_cents: row.balance_cents,
        created: zone.minute(&row.created_at),
    }
}

/// `GET /admin/members`.
#[derive(Debug, Template)]
#[template(path = "members/list.html")]
pub struct MembersPage {
    chrome: Chrome,
    query: ListQuery,
    lines: Vec<MemberLine>,
    cards: Vec<cards::Model>,
    channels: Vec<(String, String)>,
    page: u64,
    more: bool,
    total: u64,
    pages: u64,
}

impl MembersPage {
    fn selected(&self, field: &str, value: &str) -> bool {
        let current = match field {
            "card" => &self.query.card,
            "status" => &self.query.status,
            "sort" => &self.query.sort,
            _ => &self.query.channel,
        };
        current.as_deref() == Some(value)
    }

    fn total_text(&self) -> String {
        self.chrome
            .tr
            .fmt("member.total", &[("total", self.total.to_string())])
    }

    fn page_text(&self) -> String {
        let (page, pages) = ((self.page + 1).to_string(), self.pages.to_string());
        self.chrome
            .tr
            .fmt("member.page_of", &[("page", page), ("pages", pages)])
    }

    fn sort_label(&self, sort: &str) -> &'static str {
        match sort {
            "activated_desc" => "member.sort_activated_desc",
            "activated_asc" => "member.sort_activated_asc",
            _ => "member.sort_newest",
        }
    }

    fn value(&self, field: &str) -> String {
        match field {
            "q" => self.query.q.clone(),
            "channel" => self.query.channel.clone(),
            "from" => self.query.from.clone(),
            _ => self.query.to.clone(),
        }
        .unwrap_or_default()
    }
}

/// `GET /admin/members`.
pub async fn list(
    state: web::Data<AdminState>,
    admin: Admin,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AdminError> {
    let query = query.into_inner();
    let page = query.page.unwrap_or(0);
    let found = member_search::list_page(
        &state.db,
        &query.filter(state.settings.time_zone),
        page,
        PER_PAGE,
    )
    .await?;
    let see = admin.user.role.sees_personal_data();
    let page_struct = MembersPage {
        chrome: Chrome::load(&state, &admin, "members", query.done.as_deref()).await?,
        query,
        lines: found
            .found
            .iter()
            .map(|f| found_line(f, see, &state.settings.time_zone))
            .collect(),
        channels: channel_options(&found.cards, &found.channels),
        cards: found.cards,
        page,
        more: found.more,
        total: found.total,
        pages: found.pages,
    };
    render(&page_struct, StatusCode::OK)
}

/// The channel filter's options: each channel tag once, labelled with its names and cards.
fn channel_options(cards: &[cards::Model], channels: &[channels::Model]) -> Vec<(String, String)> {
    let mut options: Vec<(String, String)> = Vec::new();
    for channel in channels {
        let card = cards
            .iter()
            .find(|c| c.id == channel.card_id)
            .map_or("", |c| c.title.as_str());
        let label = format!("{} · {card}", channel.name);
        match options
            .iter_mut()
            .find(|(tag, _)| *tag == channel.outer_str)
        {
            Some((_, labels)) => *labels = format!("{labels} / {label}"),
            None => options.push((channel.outer_str.clone(), label)),
        }
    }
    options
}

fn found_line(found: &Found, see: bool, zone: &Zone) -> MemberLine {
    line(&found.member, &found.card_title, see, zone)
}

/// `GET /admin/members/{id}`.
#[derive(Debug, Template)]
#[template(path = "members/detail.html")]
pub struct MemberPage {
    chrome: Chrome,
    member: MemberLine,
    answers: Vec<(String, String)>,
    openid: String,
    activated: String,
    entries: Vec<ledger_entries::Model>,
    events: Vec<wechat_events::Model>,
    unsynced: u64,
    errors: FieldErrors,
    nonce: String,
}

/// The member's answers as label and value, masked unless the role may see personal data.
fn answer_lines(admin: &Admin, row: &members::Model, see: bool) -> Vec<(String, String)> {
    Answers::of(row)
        .all()
        .into_iter()
        .map(|answer| {
            let label = match &answer.common_flag {
                Some(flag) => {
                    let key = format!("flag.{flag}");
                    let label = admin.tr.t(&key);
                    if label == key {
                        answer.name
                    } else {
                        label.to_owned()
                    }
                }
                None => answer.name,
            };
            let value = if see {
                answer.value
            } else {
                mask::all(&answer.value)
            };
            (label, value)
        })
        .collect()
}

fn nonce() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

async fn member_page(
    state: &AdminState,
    admin: &Admin,
    id: i64,
    done: Option<&str>,
    errors: FieldErrors,
) -> Result<MemberPage, AdminError> {
    let row = kaika_core::member_search::get(&state.db, id).await?;
    let card = cards::Entity::find_by_id(row.card_id)
        .one(&state.db)
        .await?
        .ok_or(AdminError::NotFound)?;
    let see = admin.user.role.sees_personal_data();
    let zone = &state.settings.time_zone;
    let list = answer_lines(admin, &row, see);
    let events = match &row.oa_openid {
        Some(openid) => {
            wechat_events::Entity::find()
                .filter(wechat_events::Column::FromUserName.eq(openid.as_str()))
                .order_by_desc(wechat_events::Column::Id)
                .limit(20)
                .all(&state.db)
                .await?
        }
        None => Vec::new(),
    };
    Ok(MemberPage {
        chrome: Chrome::load(state, admin, "members", done).await?,
        openid: row
            .oa_openid
            .as_deref()
            .map(|o| if see { o.to_owned() } else { mask::tail(o) })
            .unwrap_or_default(),
        activated: row
            .activated_at
            .as_ref()
            .map(|t| zone.minute(t))
            .unwrap_or_default(),
        member: line(&row, &card.title, see, zone),
        answers: list,
        entries: ledger::entries(&state.db, id).await?,
        unsynced: kaika_core::outbox::unsent_for_member(&state.db, id).await?,
        events,
        errors,
        nonce: nonce(),
    })
}

/// `GET /admin/members/{id}`.
pub async fn detail(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<HttpResponse, AdminError> {
    let page = member_page(
        &state,
        &admin,
        *id,
        done.done.as_deref(),
        FieldErrors::new(),
    )
    .await?;
    render(&page, StatusCode::OK)
}

/// `POST /admin/members/{id}/ledger`: credits or debits points or balance with a reason. The form's
/// nonce is the idempotency key, so a double submit writes one entry.
pub async fn adjust(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let form = AdjustForm {
        kind: f.get("kind"),
        direction: f.get("direction"),
        amount: f.get("amount"),
        reason: f.get("reason"),
        note: f.get("note"),
        nonce: f.get("nonce"),
    };
    let limits = &state.settings.ledger;
    match ledger::adjust(&state.db, limits, *id, &form, &admin.by()).await? {
        Ok(_) => Ok(see_other(&format!("/admin/members/{id}?done=ledger_saved"))),
        Err(problems) => {
            let errors = messages(&admin.tr, problems);
            let page = member_page(&state, &admin, *id, None, errors).await?;
            render(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

fn csv_field(text: &str) -> String {
    // Quote every field; a leading =, +, - or @ would be a formula in spreadsheets.
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// A cell of text that may be a long digit string (kept as text, see `display::spreadsheet_text`).
fn csv_text(text: &str) -> String {
    let kept = display::spreadsheet_text(text);
    if kept == text {
        csv_field(text)
    } else {
        // `="…"` of digits only: written as it is, the one formula the export writes.
        kept
    }
}

/// The export's columns in the admin's language: the member's own, then one per answer of the
/// exported cards' forms, then the answers no longer on any form.
fn csv_header(tr: &Tr, columns: &[AnswerColumn]) -> String {
    let own = [
        "csv.id",
        "member.number",
        "member.name",
        "member.mobile",
        "member.code",
        "card.title",
        "member.channel",
        "member.status",
        "member.points",
        "csv.balance_yuan",
        "member.created",
        "member.activated",
    ]
    .map(|key| tr.t(key).to_owned());
    let answers = columns.iter().map(|column| match column {
        AnswerColumn::Common(flag) => {
            let key = format!("flag.{flag}");
            let label = tr.t(&key);
            if label == key {
                flag.clone()
            } else {
                label.to_owned()
            }
        }
        AnswerColumn::Question(text) => text.clone(),
    });
    let labels: Vec<String> = own
        .into_iter()
        .chain(answers)
        .chain([tr.t("csv.other_answers").to_owned()])
        .map(|label| csv_field(&label))
        .collect();
    format!("\u{feff}{}\r\n", labels.join(","))
}

/// One member as a line of the export.
fn csv_line(export: &CsvExport, found: &Found) -> String {
    let row = &found.member;
    let l = found_line(found, export.see, &export.zone);
    let activated = row
        .activated_at
        .as_ref()
        .map(|t| export.zone.minute(t))
        .unwrap_or_default();
    let status_key = format!("status.{}", l.status);
    let status = match export.tr.t(&status_key) {
        text if text == status_key => l.status.clone(),
        text => text.to_owned(),
    };
    let (answers, others) = member_search::answer_cells(&export.columns, row);
    let mask = |value: String| if export.see { value } else { mask::all(&value) };
    let mut cells = vec![
        l.id.to_string(),
        csv_text(&l.number),
        csv_field(&l.name),
        csv_text(&l.mobile),
        csv_text(&l.code),
        csv_field(&l.card),
        csv_field(&l.channel),
        csv_field(&status),
        l.points.to_string(),
        display::yuan_number(l.balance_cents),
        csv_field(&l.created),
        csv_field(&activated),
    ];
    cells.extend(answers.into_iter().map(|a| csv_text(&mask(a))));
    cells.push(csv_field(&if others.is_empty() {
        others
    } else {
        mask(others)
    }));
    cells.join(",") + "\r\n"
}

/// What every line of one export needs.
struct CsvExport {
    tr: Tr,
    see: bool,
    zone: Zone,
    columns: Vec<AnswerColumn>,
}

/// `GET /admin/members/export.csv?…`: the filtered list, streamed in batches, masked unless the role
/// may see personal data, with headers in the admin's language and a column per form answer; the
/// export itself is audited.
pub async fn export(
    state: web::Data<AdminState>,
    admin: Admin,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AdminError> {
    let see = admin.user.role.sees_personal_data();
    let (filter, params) = (query.filter(state.settings.time_zone), query.params());
    let export = member_search::export(&state.db, filter, params, !see, &admin.by()).await?;
    let csv = CsvExport {
        tr: admin.tr,
        see,
        zone: state.settings.time_zone,
        columns: export.answer_columns().to_vec(),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"kaika-members.csv\"",
        ))
        .streaming(csv_body(export, csv)))
}

/// The header, then one chunk per batch; a failed batch ends the body with its error.
fn csv_body(export: Export, csv: CsvExport) -> impl Stream<Item = Result<web::Bytes, AdminError>> {
    let header = csv_header(&csv.tr, &csv.columns);
    let header = stream::once(future::ready(Ok(web::Bytes::from(header))));
    let csv = std::sync::Arc::new(csv);
    let lines = stream::unfold(Some(export), move |export| {
        let csv = csv.clone();
        async move {
            let mut export = export?;
            match export.next_batch().await {
                Ok(None) => None,
                Ok(Some(batch)) => {
                    let chunk: String = batch.iter().map(|f| csv_line(&csv, f)).collect();
                    Some((Ok(web::Bytes::from(chunk)), Some(export)))
                }
                Err(err) => Some((Err(AdminError::from(err)), None)),
            }
        }
    });
    header.chain(lines)
}
