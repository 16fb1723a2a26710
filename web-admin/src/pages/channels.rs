//! Channels: create, rename, archive (an `outer_str` is never reused); for each, the mini-program path
//! with its parameters, the mini-program code and a downloadable poster, and the funnel by day.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use base64::Engine;
use chrono::NaiveDate;
use kaika_core::channels::{self as channel_use_cases, NewChannelForm};
use kaika_core::entity::{cards, channels};
use kaika_core::reports::Funnel;
use sea_orm::{EntityTrait, QueryOrder};

use super::{messages, render, see_other, Chrome, Done, FieldErrors};
use crate::auth::Admin;
use crate::error::AdminError;
use crate::forms::Fields;
use crate::state::AdminState;

/// A channel with its card and totals.
#[derive(Debug, Clone)]
pub struct ChannelRow {
    /// The channel.
    pub channel: channels::Model,
    /// Its card's title.
    pub card_title: String,
    /// Its funnel over all days.
    pub funnel: Funnel,
}

/// `GET /admin/channels`.
#[derive(Debug, Template)]
#[template(path = "channels/list.html")]
pub struct ChannelsPage {
    chrome: Chrome,
    rows: Vec<ChannelRow>,
    cards: Vec<cards::Model>,
    errors: FieldErrors,
    form_card: String,
    form_outer_str: String,
    form_name: String,
}

async fn list_page(
    state: &AdminState,
    admin: &Admin,
    done: Option<&str>,
) -> Result<ChannelsPage, AdminError> {
    let cards = cards::Entity::find()
        .order_by_asc(cards::Column::Id)
        .all(&state.db)
        .await?;
    let funnels = kaika_core::reports::channel_funnels(&state.db).await?;
    let rows = channels::Entity::find()
        .order_by_asc(channels::Column::Id)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|channel| ChannelRow {
            card_title: cards
                .iter()
                .find(|c| c.id == channel.card_id)
                .map(|c| c.title.clone())
                .unwrap_or_default(),
            funnel: funnels
                .iter()
                .find(|((card, outer), _)| *card == channel.card_id && *outer == channel.outer_str)
                .map(|(_, f)| *f)
                .unwrap_or_default(),
            channel,
        })
        .collect();
    Ok(ChannelsPage {
        chrome: Chrome::load(state, admin, "channels", done).await?,
        form_card: cards.first().map(|c| c.id.to_string()).unwrap_or_default(),
        rows,
        cards,
        errors: FieldErrors::new(),
        form_outer_str: String::new(),
        form_name: String::new(),
    })
}

/// `GET /admin/channels`.
pub async fn list(
    state: web::Data<AdminState>,
    admin: Admin,
    done: web::Query<Done>,
) -> Result<HttpResponse, AdminError> {
    render(
        &list_page(&state, &admin, done.done.as_deref()).await?,
        StatusCode::OK,
    )
}

/// `POST /admin/channels`.
pub async fn create(
    state: web::Data<AdminState>,
    admin: Admin,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let new = NewChannelForm {
        card: f.get("card"),
        outer_str: f.get("outer_str"),
        name: f.get("name"),
    };
    match channel_use_cases::create_from_form(&state.db, &new, &admin.by()).await? {
        Ok(row) => Ok(see_other(&format!(
            "/admin/channels/{}?done=channel_created",
            row.id
        ))),
        Err(problems) => {
            let mut page = list_page(&state, &admin, None).await?;
            page.errors = messages(&admin.tr, problems);
            (page.form_card, page.form_outer_str) = (new.card, new.outer_str);
            page.form_name = new.name;
            render(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

/// `GET /admin/channels/{id}`.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "channels/detail.html")]
pub struct ChannelPage {
    chrome: Chrome,
    channel: channels::Model,
    card: cards::Model,
    path: String,
    scene: String,
    days: Vec<(NaiveDate, Funnel)>,
    total: Funnel,
}

async fn load(state: &AdminState, id: i64) -> Result<(channels::Model, cards::Model), AdminError> {
    let channel = channels::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(AdminError::NotFound)?;
    let card = cards::Entity::find_by_id(channel.card_id)
        .one(&state.db)
        .await?
        .ok_or(AdminError::NotFound)?;
    Ok((channel, card))
}

/// `GET /admin/channels/{id}`.
pub async fn detail(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<ChannelPage, AdminError> {
    let (channel, card) = load(&state, *id).await?;
    let since = kaika_core::clock::now().date_naive() - chrono::Duration::days(29);
    let mut days =
        kaika_core::reports::daily_funnel(&state.db, since, Some((card.id, &channel.outer_str)))
            .await?;
    days.reverse();
    let total = kaika_core::reports::channel_funnels(&state.db)
        .await?
        .into_iter()
        .find(|((c, o), _)| *c == card.id && *o == channel.outer_str)
        .map(|(_, f)| f)
        .unwrap_or_default();
    Ok(ChannelPage {
        chrome: Chrome::load(&state, &admin, "channels", done.done.as_deref()).await?,
        path: channel_use_cases::mini_program_path(&card, &channel),
        scene: channel.outer_str.clone(),
        channel,
        card,
        days,
        total,
    })
}

/// `POST /admin/channels/{id}/rename`.
pub async fn rename(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    let (before, _) = load(&state, *id).await?;
    let after = kaika_core::channels::rename(&state.db, *id, &f.get("name")).await?;
    admin
        .audit(
            &state,
            "channel.rename",
            format!("channel:{id}"),
            Some(serde_json::json!({"name": before.name})),
            Some(serde_json::json!({"name": after.name})),
        )
        .await?;
    Ok(see_other(&format!(
        "/admin/channels/{id}?done=channel_saved"
    )))
}

/// `POST /admin/channels/{id}/archive`.
pub async fn archive(
    state: web::Data<AdminState>,
    admin: Admin,
    id: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AdminError> {
    admin.require_operator()?;
    let f = Fields::from_pairs(form.into_inner());
    admin.check_csrf(&f.get("csrf"))?;
    channel_use_cases::archive(&state.db, *id).await?;
    admin
        .audit(
            &state,
            "channel.archive",
            format!("channel:{id}"),
            None,
            None,
        )
        .await?;
    Ok(see_other(&format!(
        "/admin/channels/{id}?done=channel_archived"
    )))
}

/// `GET /admin/channels/{id}/code.png`: the mini-program code (`wxa/getwxacodeunlimit`).
pub async fn code_png(
    state: web::Data<AdminState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, AdminError> {
    let (channel, card) = load(&state, *id).await?;
    let image =
        channel_use_cases::mini_program_code(&state.db, &state.clients, &card, &channel).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, image.content_type))
        .body(image.bytes))
}

/// The poster: the card's brand and title, the channel name and the mini-program code.
#[derive(Debug, Template)]
#[template(path = "channels/poster.svg", escape = "html")]
pub struct Poster {
    brand: String,
    title: String,
    channel: String,
    color: String,
    code_data_url: String,
}

/// `GET /admin/channels/{id}/poster.svg`: a downloadable poster (SVG with the code embedded).
pub async fn poster(
    state: web::Data<AdminState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, AdminError> {
    let (channel, card) = load(&state, *id).await?;
    let image =
        channel_use_cases::mini_program_code(&state.db, &state.clients, &card, &channel).await?;
    let poster = Poster {
        brand: card.brand_name.clone(),
        title: card.title.clone(),
        channel: channel.name.clone(),
        color: kaika_core::cards::color_hex(&card.color),
        code_data_url: format!(
            "data:{};base64,{}",
            image.content_type,
            base64::engine::general_purpose::STANDARD.encode(&image.bytes)
        ),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/svg+xml"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"kaika-poster-{}.svg\"",
                channel.outer_str
            ),
        ))
        .body(poster.render()?))
}
