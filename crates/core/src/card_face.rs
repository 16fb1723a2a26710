//! A member card's face as an admin fills it in: the parts the create and edit forms share (title,
//! colour, logo, notice, description, privileges), the create-only and edit-only options, WeChat's
//! limits counted in characters as WeChat counts them, and the conversion to WeChat's requests. The
//! admin parses the posted fields into these types, shows their [`Problems`] and calls [`create`] or
//! [`update`].

use kaika_wechat::card::{BonusRule, CustomCell, CustomField, MemberCard};
use kaika_wechat::limits;
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::accounts::{self, AccountSummary};
use crate::audit::Actor;
use crate::cards::{self, CardChanges, NewMemberCard, StoredValue};
use crate::clients::Clients;
use crate::entity::cards as card_rows;
use crate::problems::{check_text, is_http_url, Problem, Problems};
use crate::CoreError;

/// A colour of WeChat's card palette (a card's face colour is the domain's value too).
pub use kaika_wechat::card::CardColor;

/// WeChat's card colours, in palette order.
pub const PALETTE: [&str; 14] = [
    "Color010", "Color020", "Color030", "Color040", "Color050", "Color060", "Color070", "Color080",
    "Color081", "Color082", "Color090", "Color100", "Color101", "Color102",
];

/// The most characters of the privileges and balance rules texts.
const LONG_TEXT: usize = 1024;

/// The largest welcome bonus (WeChat's largest quantity).
const MAX_WELCOME_BONUS: i64 = 100_000_000;

/// The `bonus_rule` fields the edit form edits, in order.
pub const BONUS_FIELDS: [&str; 7] = [
    "cost_money_unit",
    "increase_bonus",
    "max_increase_bonus",
    "cost_bonus_unit",
    "reduce_money",
    "least_money_to_use_bonus",
    "max_reduce_bonus",
];

/// Each palette name with its `#rrggbb`, in palette order.
pub fn palette() -> Vec<(&'static str, &'static str)> {
    PALETTE
        .iter()
        .map(|name| (*name, CardColor::parse(name).hex().unwrap_or("#63b359")))
        .collect()
}

/// The most characters WeChat takes in a face field (`title`, `brand_name`, `notice`, `description`,
/// `cell_tips`); 0 for other fields.
pub fn max_chars(field: &str) -> usize {
    match field {
        "title" => limits::TITLE.max_chars,
        "brand_name" => limits::BRAND_NAME.max_chars,
        "notice" => limits::NOTICE.max_chars,
        "description" => limits::DESCRIPTION.max_chars,
        "cell_tips" => limits::CUSTOM_CELL_TIPS.max_chars,
        _ => 0,
    }
}

/// What the create and edit forms share, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardFace {
    /// Title (≤ 9).
    pub title: String,
    /// Palette name.
    pub color: String,
    /// Logo URL from `media/uploadimg`.
    pub logo_url: String,
    /// Notice (≤ 16).
    pub notice: String,
    /// Description (≤ 1024).
    pub description: String,
    /// Privileges.
    pub prerogative: String,
}

impl CardFace {
    /// Records what is wrong with the face.
    fn check(&self, problems: &mut Problems) {
        check_text(
            problems,
            "title",
            &self.title,
            limits::TITLE.max_chars,
            true,
        );
        check_text(
            problems,
            "notice",
            &self.notice,
            limits::NOTICE.max_chars,
            true,
        );
        check_text(
            problems,
            "description",
            &self.description,
            limits::DESCRIPTION.max_chars,
            true,
        );
        check_text(problems, "prerogative", &self.prerogative, LONG_TEXT, true);
        if !PALETTE.contains(&self.color.as_str()) {
            problems.insert("color".into(), Problem::NotInPalette);
        }
        if self.logo_url.is_empty() {
            problems.insert("logo".into(), Problem::NoLogo);
        }
    }

    /// Characters typed in `title`, `notice` or (any other name) `description`, for the counters.
    fn count(&self, field: &str) -> usize {
        limits::char_len(match field {
            "title" => &self.title,
            "notice" => &self.notice,
            _ => &self.description,
        })
    }
}

/// The create form, as typed.
#[derive(Debug, Clone, Default)]
pub struct NewCardForm {
    /// The account's AppID.
    pub account: String,
    /// The face.
    pub face: CardFace,
    /// Brand (≤ 12).
    pub brand_name: String,
    /// Welcome points, as typed.
    pub welcome_bonus: String,
    /// Membership number prefix.
    pub membership_prefix: String,
    /// Where WeChat sends the member after the form.
    pub after_submit_url: String,
    /// Stored value asked for (the checkbox).
    pub stored_value: bool,
    /// The balance rules shown on a card with stored value.
    pub balance_rules: String,
}

impl NewCardForm {
    /// Characters typed in a field, for the counters.
    pub fn count(&self, field: &str) -> usize {
        match field {
            "brand_name" => limits::char_len(&self.brand_name),
            _ => self.face.count(field),
        }
    }

    /// What is wrong with the form for `account` (the one its AppID names, if known); `public_url_set`
    /// says whether Kaika knows its public address, which a real account's activation page needs.
    pub fn check(&self, account: Option<&AccountSummary>, public_url_set: bool) -> Problems {
        let mut problems = Problems::new();
        self.face.check(&mut problems);
        check_text(
            &mut problems,
            "brand_name",
            &self.brand_name,
            limits::BRAND_NAME.max_chars,
            true,
        );
        if !self
            .welcome_bonus
            .parse::<i64>()
            .is_ok_and(|n| (0..=MAX_WELCOME_BONUS).contains(&n))
        {
            problems.insert("welcome_bonus".into(), Problem::WelcomeBonus);
        }
        // Letters and digits are ASCII here, so bytes and characters agree.
        let prefix_ok = self.membership_prefix.len() <= 8
            && self
                .membership_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric());
        if !prefix_ok {
            problems.insert("membership_prefix".into(), Problem::MembershipPrefix);
        }
        if !is_http_url(&self.after_submit_url) {
            problems.insert("after_submit_url".into(), Problem::NotUrl);
        }
        if self.stored_value {
            check_text(
                &mut problems,
                "balance_rules",
                &self.balance_rules,
                LONG_TEXT,
                true,
            );
        }
        match account {
            None => {
                problems.insert("account".into(), Problem::NoAccount);
            }
            Some(account) if !account.is_sandbox && !public_url_set => {
                problems.insert("after_submit_url".into(), Problem::NoPublicUrl);
            }
            Some(_) => {}
        }
        problems
    }

    /// The card to create (check the form first).
    pub fn to_new_card(&self) -> NewMemberCard {
        NewMemberCard {
            title: self.face.title.clone(),
            brand_name: self.brand_name.clone(),
            color: CardColor::parse(&self.face.color),
            logo_url: self.face.logo_url.clone(),
            notice: self.face.notice.clone(),
            description: self.face.description.clone(),
            prerogative: self.face.prerogative.clone(),
            welcome_bonus: self.welcome_bonus.parse().unwrap_or(0),
            membership_prefix: self.membership_prefix.clone(),
            after_submit_url: self.after_submit_url.clone(),
            stored_value: self.stored_value.then(|| StoredValue {
                balance_rules: self.balance_rules.trim().to_owned(),
            }),
        }
    }
}

/// The account whose AppID the create form names, if there is one.
pub async fn account_of(
    db: &impl ConnectionTrait,
    form: &NewCardForm,
) -> Result<Option<AccountSummary>, CoreError> {
    Ok(accounts::list(db)
        .await?
        .into_iter()
        .find(|a| a.app_id == form.account))
}

/// Creates the card of a checked form on `account`'s WeChat, stores it and audits it. The inner result
/// is the card or why WeChat or the store refused it (shown on the form); the outer error is the
/// account's client's or the audit log's.
pub async fn create(
    db: &impl ConnectionTrait,
    clients: &Clients,
    account: &AccountSummary,
    form: &NewCardForm,
    by: &Actor,
) -> Result<Result<card_rows::Model, CoreError>, CoreError> {
    let client = clients.official_account(&account.app_id).await?;
    let card = match cards::create(db, &client, account.id, &form.to_new_card()).await {
        Ok(card) => card,
        Err(err) => return Ok(Err(err)),
    };
    let after = serde_json::json!({
        "wechat_card_id": card.wechat_card_id,
        "title": card.title,
        "brand_name": card.brand_name,
        "color": card.color,
        "logo_url": card.logo_url,
        "welcome_bonus": card.welcome_bonus,
    });
    by.record(
        db,
        "card.create",
        format!("card:{}", card.id),
        None,
        Some(after),
    )
    .await?;
    Ok(Ok(card))
}

/// An image an admin chose for a card's logo or face.
#[derive(Debug, Clone)]
pub struct CardImage {
    /// The browser's file name.
    pub file_name: String,
    /// Its declared type.
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Why a chosen image is not on WeChat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageProblem {
    /// Larger than the admin accepts (it was not read).
    TooLarge,
    /// Neither PNG nor JPEG.
    NotPngOrJpeg,
    /// WeChat refused the upload, as it said.
    Upload(String),
}

/// Puts an image on WeChat (`media/uploadimg`) through the account `app_id`: its URL, or why not. The
/// outer error is the account's client's.
pub async fn upload_image(
    clients: &Clients,
    app_id: &str,
    image: CardImage,
) -> Result<Result<String, ImageProblem>, CoreError> {
    if !matches!(image.content_type.as_str(), "image/png" | "image/jpeg") {
        return Ok(Err(ImageProblem::NotPngOrJpeg));
    }
    let client = clients.official_account(app_id).await?;
    Ok(client
        .upload_image(&image.file_name, &image.content_type, image.bytes)
        .await
        .map_err(|err| ImageProblem::Upload(err.to_string())))
}

/// Sets a card's welcome bonus (points credited at activation) from what the admin typed, and audits
/// it; a value that is not a whole number from 0 to 100 000 000 is the inner error.
pub async fn set_welcome_bonus(
    db: &impl ConnectionTrait,
    card: &card_rows::Model,
    typed: &str,
    by: &Actor,
) -> Result<Result<(), Problem>, CoreError> {
    let Some(bonus) = typed
        .parse::<i64>()
        .ok()
        .filter(|n| (0..=MAX_WELCOME_BONUS).contains(n))
    else {
        return Ok(Err(Problem::WelcomeBonus));
    };
    cards::set_welcome_bonus(db, card.id, bonus).await?;
    by.record(
        db,
        "card.welcome_bonus",
        format!("card:{}", card.id),
        Some(serde_json::json!({ "welcome_bonus": card.welcome_bonus })),
        Some(serde_json::json!({ "welcome_bonus": bonus })),
    )
    .await?;
    Ok(Ok(()))
}

/// The edit form, as typed (`card/update`: face, points and balance options, custom cells).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardEdit {
    /// The face.
    pub face: CardFace,
    /// Face image URL.
    pub background_pic_url: String,
    /// Show points.
    pub supply_bonus: bool,
    /// Show the balance.
    pub supply_balance: bool,
    /// `bonus_rule` fields by name ([`BONUS_FIELDS`]), as typed.
    pub bonus: Vec<(&'static str, String)>,
    /// Discount in percent off, as typed.
    pub discount: String,
    /// Entry row: name.
    pub cell_name: String,
    /// Entry row: tips (≤ 6).
    pub cell_tips: String,
    /// Entry row: link.
    pub cell_url: String,
    /// Value cells 1 to 3: (name, link).
    pub fields: [(String, String); 3],
}

fn opt_num(n: Option<i64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

fn non_empty(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

impl CardEdit {
    /// The form of a card as WeChat has it (`card/get`), with the local row for what WeChat lacks.
    pub fn from_wechat(card: &card_rows::Model, wechat: &MemberCard) -> Self {
        let base = &wechat.base_info;
        let rule = wechat.bonus_rule.clone().unwrap_or_default();
        let color = CardColor::parse(base.color.as_str());
        let field = |f: &Option<CustomField>| {
            f.as_ref()
                .map(|f| {
                    (
                        f.name.clone().unwrap_or_default(),
                        f.url.clone().unwrap_or_default(),
                    )
                })
                .unwrap_or_default()
        };
        let cell = wechat.custom_cell1.clone().unwrap_or_default();
        let bonus = [
            rule.cost_money_unit,
            rule.increase_bonus,
            rule.max_increase_bonus,
            rule.cost_bonus_unit,
            rule.reduce_money,
            rule.least_money_to_use_bonus,
            rule.max_reduce_bonus,
        ];
        Self {
            face: CardFace {
                title: base.title.clone(),
                color: if PALETTE.contains(&color.as_str()) {
                    color.as_str().to_owned()
                } else {
                    card.color.clone()
                },
                logo_url: if base.logo_url.is_empty() {
                    card.logo_url.clone()
                } else {
                    base.logo_url.clone()
                },
                notice: base.notice.clone(),
                description: base.description.clone(),
                prerogative: wechat.prerogative.clone(),
            },
            background_pic_url: wechat.background_pic_url.clone().unwrap_or_default(),
            supply_bonus: wechat.supply_bonus,
            supply_balance: wechat.supply_balance,
            bonus: BONUS_FIELDS
                .iter()
                .zip(bonus)
                .map(|(name, value)| (*name, opt_num(value)))
                .collect(),
            discount: opt_num(wechat.discount),
            cell_name: cell.name,
            cell_tips: cell.tips,
            cell_url: cell.url.unwrap_or_default(),
            fields: [
                field(&wechat.custom_field1),
                field(&wechat.custom_field2),
                field(&wechat.custom_field3),
            ],
        }
    }

    /// The form of a card from the local row alone (WeChat could not be asked).
    pub fn from_local(card: &card_rows::Model) -> Self {
        Self {
            face: CardFace {
                title: card.title.clone(),
                color: card.color.clone(),
                logo_url: card.logo_url.clone(),
                ..CardFace::default()
            },
            bonus: BONUS_FIELDS.iter().map(|n| (*n, String::new())).collect(),
            ..Self::default()
        }
    }

    /// Characters typed in a field, for the counters.
    pub fn count(&self, field: &str) -> usize {
        match field {
            "cell_tips" => limits::char_len(&self.cell_tips),
            _ => self.face.count(field),
        }
    }

    /// What is wrong with the form.
    pub fn check(&self) -> Problems {
        let mut problems = Problems::new();
        self.face.check(&mut problems);
        for (name, value) in &self.bonus {
            let value = value.trim();
            if !value.is_empty()
                && !value
                    .parse::<i64>()
                    .is_ok_and(|n| (0..=limits::MAX_SKU_QUANTITY).contains(&n))
            {
                problems.insert(format!("bonus_{name}"), Problem::Quantity);
            }
        }
        let discount = self.discount.trim();
        if !discount.is_empty() && !discount.parse::<i64>().is_ok_and(|n| (0..=99).contains(&n)) {
            problems.insert("discount".into(), Problem::Discount);
        }
        check_text(
            &mut problems,
            "cell_tips",
            &self.cell_tips,
            limits::CUSTOM_CELL_TIPS.max_chars,
            false,
        );
        let cell_used = !self.cell_tips.trim().is_empty() || !self.cell_url.trim().is_empty();
        if cell_used && self.cell_name.trim().is_empty() {
            problems.insert("cell_name".into(), Problem::Required);
        }
        if !self.cell_url.trim().is_empty() && !is_http_url(self.cell_url.trim()) {
            problems.insert("cell_url".into(), Problem::NotUrl);
        }
        for (i, (name, url)) in self.fields.iter().enumerate() {
            let n = i + 1;
            if !url.trim().is_empty() && !is_http_url(url.trim()) {
                problems.insert(format!("field{n}_url"), Problem::NotUrl);
            }
            if !url.trim().is_empty() && name.trim().is_empty() {
                problems.insert(format!("field{n}_name"), Problem::Required);
            }
        }
        problems
    }

    fn bonus_value(&self, name: &str) -> Option<i64> {
        self.bonus
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.trim().parse().ok())
    }

    fn bonus_rule(&self) -> BonusRule {
        BonusRule {
            cost_money_unit: self.bonus_value("cost_money_unit"),
            increase_bonus: self.bonus_value("increase_bonus"),
            max_increase_bonus: self.bonus_value("max_increase_bonus"),
            init_increase_bonus: None,
            cost_bonus_unit: self.bonus_value("cost_bonus_unit"),
            reduce_money: self.bonus_value("reduce_money"),
            least_money_to_use_bonus: self.bonus_value("least_money_to_use_bonus"),
            max_reduce_bonus: self.bonus_value("max_reduce_bonus"),
        }
    }

    fn cell(&self) -> CustomCell {
        CustomCell {
            name: self.cell_name.trim().to_owned(),
            tips: self.cell_tips.trim().to_owned(),
            url: non_empty(&self.cell_url),
            ..Default::default()
        }
    }

    fn custom_field(&self, i: usize) -> Option<CustomField> {
        let (name, url) = self.fields.get(i)?;
        Some(CustomField {
            name: non_empty(name),
            url: non_empty(url),
            ..Default::default()
        })
    }

    /// What changed from `old` to this form, as `card/update` changes. The points and balance cells can
    /// only be switched on.
    pub fn changes_from(&self, old: &CardEdit) -> CardChanges {
        let changed = |new: &String, old: &String| (new != old).then(|| new.trim().to_owned());
        let (face, old_face) = (&self.face, &old.face);
        CardChanges {
            title: changed(&face.title, &old_face.title),
            color: (face.color != old_face.color).then(|| CardColor::parse(&face.color)),
            logo_url: changed(&face.logo_url, &old_face.logo_url),
            notice: changed(&face.notice, &old_face.notice),
            description: changed(&face.description, &old_face.description),
            prerogative: changed(&face.prerogative, &old_face.prerogative),
            background_pic_url: changed(&self.background_pic_url, &old.background_pic_url),
            supply_bonus: (self.supply_bonus && !old.supply_bonus).then_some(true),
            supply_balance: (self.supply_balance && !old.supply_balance).then_some(true),
            bonus_rule: (self.bonus != old.bonus).then(|| self.bonus_rule()),
            discount: if self.discount != old.discount {
                self.discount.trim().parse().ok()
            } else {
                None
            },
            custom_cell1: (self.cell_name != old.cell_name
                || self.cell_tips != old.cell_tips
                || self.cell_url != old.cell_url)
                .then(|| self.cell()),
            custom_fields: [0, 1, 2].map(|i| {
                (self.fields.get(i) != old.fields.get(i))
                    .then(|| self.custom_field(i))
                    .flatten()
            }),
        }
    }

    /// A JSON view of the form for the audit log.
    fn audit_json(&self) -> serde_json::Value {
        let face = &self.face;
        let bonus: serde_json::Map<_, _> = self
            .bonus
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
            .collect();
        let fields: Vec<_> = self
            .fields
            .iter()
            .map(|(n, u)| serde_json::json!({"name": n, "url": u}))
            .collect();
        serde_json::json!({
            "title": face.title, "color": face.color, "logo_url": face.logo_url,
            "notice": face.notice, "description": face.description, "prerogative": face.prerogative,
            "background_pic_url": self.background_pic_url, "supply_bonus": self.supply_bonus,
            "supply_balance": self.supply_balance,
            "bonus_rule": bonus,
            "discount": self.discount,
            "custom_cell1": {"name": self.cell_name, "tips": self.cell_tips, "url": self.cell_url},
            "custom_fields": fields,
        })
    }
}

/// A card opened for editing.
#[derive(Debug, Clone)]
pub struct EditStart {
    /// The card.
    pub card: card_rows::Model,
    /// Its account's AppID.
    pub app_id: String,
    /// The form as WeChat has it, or the local copy when WeChat could not be asked.
    pub form: CardEdit,
    /// Why WeChat could not be asked, if it could not.
    pub offline: Option<String>,
}

/// Opens card `card_id` for editing: its account and its face as WeChat has it (`card/get`), or the
/// local copy and WeChat's error.
pub async fn start_edit(
    db: &impl ConnectionTrait,
    clients: &Clients,
    card_id: i64,
) -> Result<EditStart, CoreError> {
    let not_found = || CoreError::NotFound {
        what: format!("card {card_id}"),
    };
    let card = card_rows::Entity::find_by_id(card_id)
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    let app_id = accounts::list(db)
        .await?
        .into_iter()
        .find(|a| a.id == card.account_id)
        .map(|a| a.app_id)
        .ok_or_else(not_found)?;
    let client = clients.official_account(&app_id).await?;
    let (form, offline) = match client.get_card(&card.wechat_card_id).await {
        Ok(detail) => match detail.member_card {
            Some(mc) => (CardEdit::from_wechat(&card, &mc), None),
            None => (
                CardEdit::from_local(&card),
                Some("not a member card".to_owned()),
            ),
        },
        Err(err) => (CardEdit::from_local(&card), Some(err.to_string())),
    };
    Ok(EditStart {
        card,
        app_id,
        form,
        offline,
    })
}

/// Sends what changed from `original` to `form` with `card/update` and audits it. The inner result is
/// the stored card with WeChat's `send_check` (back in review), or why WeChat refused (shown on the
/// form); the outer error is the audit log's.
pub async fn update(
    db: &impl ConnectionTrait,
    clients: &Clients,
    start: &EditStart,
    form: &CardEdit,
    by: &Actor,
) -> Result<Result<(card_rows::Model, bool), CoreError>, CoreError> {
    let changes = form.changes_from(&start.form);
    let client = clients.official_account(&start.app_id).await?;
    let (card, send_check) = match cards::update(db, &client, &start.card, &changes).await {
        Ok(updated) => updated,
        Err(err) => return Ok(Err(err)),
    };
    by.record(
        db,
        "card.update",
        format!("card:{}", card.id),
        Some(start.form.audit_json()),
        Some(form.audit_json()),
    )
    .await?;
    Ok(Ok((card, send_check)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled() -> NewCardForm {
        NewCardForm {
            account: "wx1".into(),
            face: CardFace {
                title: "会员卡".into(),
                color: "Color010".into(),
                logo_url: "https://mmbiz.example/logo.png".into(),
                notice: "出示会员卡".into(),
                description: "说明".into(),
                prerogative: "九折".into(),
            },
            brand_name: "咖啡".into(),
            welcome_bonus: "100".into(),
            membership_prefix: "VIP".into(),
            after_submit_url: "https://kaika.example/m/activate".into(),
            stored_value: false,
            balance_rules: String::new(),
        }
    }

    fn sandbox() -> AccountSummary {
        AccountSummary {
            id: 1,
            name: "sandbox".into(),
            app_id: "wx1".into(),
            message_mode: "plain".into(),
            mini_app_id: None,
            api_base_url: String::new(),
            is_sandbox: true,
            token_error: None,
            token_error_at: None,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_filled_form_has_no_problems_and_keeps_its_values() {
        let form = filled();
        assert!(form.check(Some(&sandbox()), false).is_empty());
        let card = form.to_new_card();
        assert_eq!(card.welcome_bonus, 100);
        assert_eq!(card.color, CardColor::Color010);
        assert!(card.stored_value.is_none());
    }

    #[test]
    fn the_title_counts_characters_as_wechat_does() {
        let mut form = filled();
        form.face.title = "一二三四五六七八九".into();
        assert_eq!(form.count("title"), 9);
        assert!(form.check(Some(&sandbox()), false).is_empty());
        form.face.title.push('十');
        assert_eq!(
            form.check(Some(&sandbox()), false).get("title"),
            Some(&Problem::TooLong { max: 9, actual: 10 })
        );
    }

    #[test]
    fn a_real_account_needs_the_public_url_and_no_account_is_a_problem() {
        let form = filled();
        let real = AccountSummary {
            is_sandbox: false,
            ..sandbox()
        };
        assert_eq!(
            form.check(Some(&real), false).get("after_submit_url"),
            Some(&Problem::NoPublicUrl)
        );
        assert!(form.check(Some(&real), true).is_empty());
        assert_eq!(
            form.check(None, true).get("account"),
            Some(&Problem::NoAccount)
        );
    }

    #[test]
    fn edits_send_only_what_changed() {
        let old = CardEdit {
            face: filled().face,
            bonus: BONUS_FIELDS.iter().map(|n| (*n, String::new())).collect(),
            supply_bonus: true,
            ..CardEdit::default()
        };
        let mut new = old.clone();
        new.face.notice = "新的提示".into();
        new.cell_name = "积分商城".into();
        new.cell_url = "https://shop.example".into();
        new.supply_bonus = false;
        assert!(new.check().is_empty());
        let changes = new.changes_from(&old);
        assert_eq!(changes.notice.as_deref(), Some("新的提示"));
        assert!(changes.title.is_none());
        assert!(changes.supply_bonus.is_none());
        let cell = changes.custom_cell1.unwrap_or_default();
        assert_eq!(cell.url.as_deref(), Some("https://shop.example"));
        assert!(changes.custom_fields.iter().all(Option::is_none));
    }

    #[test]
    fn an_entry_row_with_a_link_needs_a_name() {
        let mut edit = CardEdit {
            face: filled().face,
            ..CardEdit::default()
        };
        edit.cell_url = "https://shop.example".into();
        edit.fields[1].1 = "not a url".into();
        let problems = edit.check();
        assert_eq!(problems.get("cell_name"), Some(&Problem::Required));
        assert_eq!(problems.get("field2_url"), Some(&Problem::NotUrl));
        assert_eq!(problems.get("field2_name"), Some(&Problem::Required));
    }
}
