//! Acquisition channels: each is one `outer_str` for a card, with a name.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use kaika_wechat::client::{WxaCodeImage, WxaCodeRequest};

use crate::audit::Actor;
use crate::clients::Clients;
use crate::entity::{cards, channels};
use crate::problems::{check_text, Problem, Problems};
use crate::CoreError;

/// The mini-program page that opens a card.
pub const MINI_PROGRAM_PAGE: &str = "pages/index/index";

/// A channel tag as WeChat echoes it in `OuterStr`: 1 to 32 characters of letters, digits, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OuterStr(String);

impl OuterStr {
    /// Checks a channel tag.
    pub fn parse(text: &str) -> Result<Self, CoreError> {
        let valid = (1..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(CoreError::invalid(
                "outer_str",
                "expected 1 to 32 letters, digits, '_' or '-'",
            ))
        }
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a channel may hand out its card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelState {
    /// Live.
    Active(channels::Model),
    /// Archived: it exists but no longer hands out the card.
    Archived(channels::Model),
}

/// Creates a channel for a card. A second channel with the same tag on the same card is refused.
pub async fn create(
    db: &impl ConnectionTrait,
    card_id: i64,
    outer_str: &OuterStr,
    name: &str,
) -> Result<channels::Model, CoreError> {
    let name_len = name.chars().count();
    if name_len == 0 || name_len > 64 {
        return Err(CoreError::invalid("name", "expected 1 to 64 characters"));
    }
    if find(db, card_id, outer_str.as_str()).await?.is_some() {
        return Err(CoreError::Conflict {
            what: format!("channel {}", outer_str.as_str()),
        });
    }
    let row = channels::ActiveModel {
        card_id: Set(card_id),
        outer_str: Set(outer_str.as_str().to_owned()),
        name: Set(name.to_owned()),
        archived_at: Set(None),
        ..Default::default()
    };
    Ok(row.insert(db).await?)
}

/// The new-channel form, as typed.
#[derive(Debug, Clone, Default)]
pub struct NewChannelForm {
    /// The card's id.
    pub card: String,
    /// The channel tag.
    pub outer_str: String,
    /// The name admins see (1 to 64 characters).
    pub name: String,
}

/// Creates the channel a form describes and audits it; the inner error is what is wrong with the form
/// (a tag the card already has included).
pub async fn create_from_form(
    db: &impl ConnectionTrait,
    form: &NewChannelForm,
    by: &Actor,
) -> Result<Result<channels::Model, Problems>, CoreError> {
    let mut problems = Problems::new();
    let card_id = form.card.parse::<i64>().ok();
    let outer = OuterStr::parse(&form.outer_str);
    check_text(&mut problems, "name", &form.name, 64, true);
    if outer.is_err() {
        problems.insert("outer_str".into(), Problem::OuterStr);
    }
    if card_id.is_none() {
        problems.insert("card".into(), Problem::NoAccount);
    }
    let (Some(card_id), Ok(outer), true) = (card_id, outer, problems.is_empty()) else {
        return Ok(Err(problems));
    };
    let row = match create(db, card_id, &outer, &form.name).await {
        Ok(row) => row,
        Err(CoreError::Conflict { .. }) => {
            problems.insert("outer_str".into(), Problem::ChannelExists);
            return Ok(Err(problems));
        }
        Err(err) => return Err(err),
    };
    let after =
        serde_json::json!({"card_id": card_id, "outer_str": row.outer_str, "name": row.name});
    by.record(
        db,
        "channel.create",
        format!("channel:{}", row.id),
        None,
        Some(after),
    )
    .await?;
    Ok(Ok(row))
}

async fn find(
    db: &impl ConnectionTrait,
    card_id: i64,
    outer_str: &str,
) -> Result<Option<channels::Model>, CoreError> {
    Ok(channels::Entity::find_for_card(card_id)
        .filter(channels::Column::OuterStr.eq(outer_str))
        .one(db)
        .await?)
}

/// The channel with this tag on this card, if any, and whether it is archived.
pub async fn lookup(
    db: &impl ConnectionTrait,
    card_id: i64,
    outer_str: &str,
) -> Result<Option<ChannelState>, CoreError> {
    Ok(find(db, card_id, outer_str).await?.map(|row| {
        if row.archived_at.is_some() {
            ChannelState::Archived(row)
        } else {
            ChannelState::Active(row)
        }
    }))
}

/// Archives a channel: it stays in the statistics but no longer hands out the card.
pub async fn archive(db: &impl ConnectionTrait, channel_id: i64) -> Result<(), CoreError> {
    let row = channels::Entity::find_by_id(channel_id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("channel {channel_id}"),
        })?;
    let mut row: channels::ActiveModel = row.into();
    row.archived_at = Set(Some(crate::clock::now()));
    row.update(db).await?;
    Ok(())
}

/// The channels of a card, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    card_id: i64,
) -> Result<Vec<channels::Model>, CoreError> {
    Ok(channels::Entity::find_for_card(card_id)
        .order_by_asc(channels::Column::Id)
        .all(db)
        .await?)
}

/// Renames a channel (its `outer_str` never changes).
pub async fn rename(
    db: &impl ConnectionTrait,
    channel_id: i64,
    name: &str,
) -> Result<channels::Model, CoreError> {
    let len = name.chars().count();
    if len == 0 || len > 64 {
        return Err(CoreError::invalid("name", "expected 1 to 64 characters"));
    }
    let row = channels::Entity::find_by_id(channel_id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("channel {channel_id}"),
        })?;
    let mut row: channels::ActiveModel = row.into();
    row.name = Set(name.to_owned());
    Ok(row.update(db).await?)
}

/// The mini-program path that opens this channel's card.
pub fn mini_program_path(card: &cards::Model, channel: &channels::Model) -> String {
    format!(
        "{MINI_PROGRAM_PAGE}?card_id={}&channel={}",
        card.wechat_card_id, channel.outer_str
    )
}

/// The channel's mini-program code (`wxa/getwxacodeunlimit`): it opens [`MINI_PROGRAM_PAGE`] with the
/// channel's `outer_str` as the scene, through the mini-program of the card's account.
pub async fn mini_program_code(
    db: &impl ConnectionTrait,
    clients: &Clients,
    card: &cards::Model,
    channel: &channels::Model,
) -> Result<WxaCodeImage, CoreError> {
    let account = crate::accounts::of_card(db, card).await?;
    let client = clients.mini_program(&account.app_id).await?;
    Ok(client
        .wxa_code_unlimited(&WxaCodeRequest {
            scene: channel.outer_str.clone(),
            page: Some(MINI_PROGRAM_PAGE.into()),
            check_path: Some(false),
            width: Some(430),
            ..WxaCodeRequest::default()
        })
        .await?)
}

#[cfg(test)]
mod tests {
    use super::OuterStr;

    #[test]
    fn outer_strs_are_short_safe_tags() {
        assert!(OuterStr::parse("store_01").is_ok());
        assert!(OuterStr::parse("poster-A").is_ok());
        for bad in ["", "has space", "中文", "a/b", &"x".repeat(33)] {
            assert!(OuterStr::parse(bad).is_err(), "{bad}");
        }
    }
}
