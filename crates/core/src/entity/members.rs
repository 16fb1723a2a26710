//! `members`: one activated (or claimed) member card.

use sea_orm::entity::prelude::*;
use sea_orm::Set;

/// One row of `members`. Unique per (card, code), (card, official-account openid) and (card, number).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "members")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The card.
    pub card_id: i64,
    /// The card code (decrypted, 12 digits at WeChat).
    pub code: String,
    /// The official-account openid.
    pub oa_openid: Option<String>,
    /// The mini-program openid.
    pub mini_openid: Option<String>,
    /// The unionid, when known.
    pub unionid: Option<String>,
    /// The membership number shown on the card.
    pub membership_number: Option<String>,
    /// Points.
    pub points: i64,
    /// Balance in cents.
    pub balance_cents: i64,
    /// Level name, if the merchant uses levels.
    pub level: Option<String>,
    /// `claimed`, `active` or `deleted`.
    pub status: String,
    /// The activation form answers (JSON).
    pub form_answers: Option<String>,
    /// The channel the card came through.
    pub outer_str: Option<String>,
    /// The mobile of the form answers, for the indexed search (kept by `before_save`).
    pub mobile: Option<String>,
    /// The name of the form answers, for the indexed search (kept by `before_save`).
    pub name: Option<String>,
    /// When WeChat accepted the activation.
    pub activated_at: Option<DateTimeUtc>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row was last changed.
    pub updated_at: DateTimeUtc,
}

/// Relations of `members`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The card held.
    #[sea_orm(
        belongs_to = "super::cards::Entity",
        from = "Column::CardId",
        to = "super::cards::Column::Id"
    )]
    Card,
}

impl Related<super::cards::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Card.def()
    }
}

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        super::stamp(insert, &mut self.created_at, Some(&mut self.updated_at));
        // The search columns follow the answers whenever these are written.
        if let sea_orm::ActiveValue::Set(answers) = &self.form_answers {
            let (mobile, name) = search_keys(answers.as_deref());
            self.mobile = Set(mobile);
            self.name = Set(name);
        }
        Ok(self)
    }
}

impl Entity {
    /// The members of one card.
    pub fn find_for_card(card_id: i64) -> Select<Entity> {
        Self::find().filter(Column::CardId.eq(card_id))
    }

    /// The members a mini-program user holds.
    pub fn find_for_mini_openid(mini_openid: &str) -> Select<Entity> {
        Self::find().filter(Column::MiniOpenid.eq(mini_openid))
    }
}

/// The mobile and the name in a member's activation answers (JSON), trimmed, as the search columns
/// store them.
pub fn search_keys(form_answers: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(answers) = form_answers
        .and_then(|json| serde_json::from_str::<kaika_wechat::membercard::FormAnswers>(json).ok())
    else {
        return (None, None);
    };
    let field = |flag: &kaika_wechat::card::UserFormField, max: usize| {
        answers
            .common(flag)
            .map(|v| v.trim().chars().take(max).collect::<String>())
            .filter(|v| !v.is_empty())
    };
    (
        field(&kaika_wechat::card::UserFormField::Mobile, 32),
        field(&kaika_wechat::card::UserFormField::Name, 64),
    )
}
