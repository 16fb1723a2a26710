//! Member cards: creating them on WeChat, their activation form, and the activation parameters the
//! mini-program needs to open them.

use crate::clock;
use crate::refusal::Refusal;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kaika_wechat::card::{
    ActivateUserFormRequest, BaseInfo, BaseInfoUpdate, BonusRule, CardColor, CustomCell,
    CustomField, DateInfo, MemberCard, MemberCardUpdate, Sku,
};
use kaika_wechat::geturl::CARD_COMPONENT_APP_ID;
use kaika_wechat::WechatClient;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use serde::Serialize;

use crate::channels::{self, ChannelState};
use crate::entity::{activation_params, cards, members};
use crate::stats::{self, FunnelStep};
use crate::CoreError;

/// How long an `activate/geturl` answer is reused before WeChat is asked again.
pub const ACTIVATION_PARAMS_TTL: chrono::Duration = chrono::Duration::hours(12);

/// A member card to create.
#[derive(Debug, Clone)]
pub struct NewMemberCard {
    /// Title, at most 9 characters.
    pub title: String,
    /// Brand, at most 12 characters.
    pub brand_name: String,
    /// Colour from WeChat's palette.
    pub color: CardColor,
    /// Logo URL from `media/uploadimg`.
    pub logo_url: String,
    /// Usage notice, at most 16 characters.
    pub notice: String,
    /// Description.
    pub description: String,
    /// Member privileges text.
    pub prerogative: String,
    /// Points credited at activation.
    pub welcome_bonus: i64,
    /// Prefix of membership numbers.
    pub membership_prefix: String,
    /// Where WeChat sends the member after the form (it makes the card a jump-type card, the only type
    /// whose component returns the ticket to the mini-program).
    pub after_submit_url: String,
    /// Stored value (储值), opt-in: only accounts WeChat granted the permission may create such cards.
    pub stored_value: Option<StoredValue>,
}

/// What a card with stored value shows about the balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredValue {
    /// The balance rules shown on the card (how to top up, what the balance pays for).
    pub balance_rules: String,
}

/// Creates a one-tap, jump-type member card on WeChat and stores it (review pending).
pub async fn create(
    db: &impl ConnectionTrait,
    client: &WechatClient,
    account_id: i64,
    new: &NewMemberCard,
) -> Result<cards::Model, CoreError> {
    if new.welcome_bonus < 0 {
        return Err(CoreError::invalid("welcome_bonus", "must not be negative"));
    }
    let prefix_ok = new.membership_prefix.len() <= 8
        && new
            .membership_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric());
    if !prefix_ok {
        return Err(CoreError::invalid(
            "membership_prefix",
            "expected at most 8 letters and digits",
        ));
    }
    let template = MemberCard {
        base_info: BaseInfo {
            logo_url: new.logo_url.clone(),
            brand_name: new.brand_name.clone(),
            title: new.title.clone(),
            color: new.color.clone(),
            notice: new.notice.clone(),
            description: new.description.clone(),
            date_info: DateInfo::permanent(),
            sku: Sku {
                quantity: 100_000_000,
                total_quantity: None,
            },
            get_limit: Some(1),
            can_give_friend: Some(false),
            ..Default::default()
        },
        prerogative: new.prerogative.clone(),
        supply_bonus: true,
        supply_balance: new.stored_value.is_some(),
        balance_rules: new.stored_value.as_ref().map(|s| s.balance_rules.clone()),
        wx_activate: Some(true),
        wx_activate_after_submit: Some(true),
        wx_activate_after_submit_url: Some(new.after_submit_url.clone()),
        ..Default::default()
    };
    let wechat_card_id = client
        .create_member_card(&template)
        .await
        .map_err(|err| match err.errcode() {
            Some(43010) => CoreError::invalid(
                "stored_value",
                "WeChat has not granted this official account the stored-value (储值) permission: create \
                 the card with points only, or apply for the permission first",
            ),
            _ => CoreError::from(err),
        })?;
    let row = cards::ActiveModel {
        account_id: Set(account_id),
        wechat_card_id: Set(wechat_card_id),
        title: Set(new.title.clone()),
        brand_name: Set(new.brand_name.clone()),
        color: Set(new.color.as_str().to_owned()),
        logo_url: Set(new.logo_url.clone()),
        review_status: Set("pending".into()),
        refuse_reason: Set(None),
        activation_form: Set(None),
        welcome_bonus: Set(new.welcome_bonus),
        membership_prefix: Set(new.membership_prefix.clone()),
        next_membership_seq: Set(1),
        stored_value: Set(new.stored_value.is_some()),
        ..Default::default()
    };
    Ok(row.insert(db).await?)
}

/// Changes to a card's face and options for `card/update`; `None` leaves a field as it is. The brand
/// name cannot change on WeChat.
#[derive(Debug, Clone, Default)]
pub struct CardChanges {
    /// Title, at most 9 characters (re-reviewed by WeChat).
    pub title: Option<String>,
    /// Colour from WeChat's palette.
    pub color: Option<CardColor>,
    /// Logo URL from `media/uploadimg`.
    pub logo_url: Option<String>,
    /// Usage notice, at most 16 characters.
    pub notice: Option<String>,
    /// Description, at most 1024 characters (re-reviewed by WeChat).
    pub description: Option<String>,
    /// Member privileges text.
    pub prerogative: Option<String>,
    /// Face image URL from `media/uploadimg`.
    pub background_pic_url: Option<String>,
    /// Show points (WeChat only accepts false → true).
    pub supply_bonus: Option<bool>,
    /// Show the stored balance (WeChat only accepts false → true).
    pub supply_balance: Option<bool>,
    /// How points are earned and spent.
    pub bonus_rule: Option<BonusRule>,
    /// Discount in percent off (10 = 10 % off).
    pub discount: Option<i64>,
    /// The entry row under the card.
    pub custom_cell1: Option<CustomCell>,
    /// The value cells on the card (level, coupons, …).
    pub custom_fields: [Option<CustomField>; 3],
}

impl CardChanges {
    /// The `card/update` body of these changes.
    pub fn to_update(&self) -> MemberCardUpdate {
        let base = BaseInfoUpdate {
            logo_url: self.logo_url.clone(),
            title: self.title.clone(),
            color: self.color.clone(),
            notice: self.notice.clone(),
            description: self.description.clone(),
            ..Default::default()
        };
        let [field1, field2, field3] = self.custom_fields.clone();
        MemberCardUpdate {
            base_info: (base != BaseInfoUpdate::default()).then_some(base),
            background_pic_url: self.background_pic_url.clone(),
            prerogative: self.prerogative.clone(),
            supply_bonus: self.supply_bonus,
            supply_balance: self.supply_balance,
            custom_field1: field1,
            custom_field2: field2,
            custom_field3: field3,
            custom_cell1: self.custom_cell1.clone(),
            discount: self.discount,
            bonus_rule: self.bonus_rule.clone(),
            ..Default::default()
        }
    }
}

/// Sends changes to a card with `card/update` and keeps the local copy of its face (title, colour,
/// logo). Returns the stored card and WeChat's `send_check`: when true the card is back in review
/// (`pending`) until the next `card_pass_check` event.
pub async fn update(
    db: &impl ConnectionTrait,
    client: &WechatClient,
    card: &cards::Model,
    changes: &CardChanges,
) -> Result<(cards::Model, bool), CoreError> {
    if let Some(cell) = &changes.custom_cell1 {
        kaika_wechat::limits::CUSTOM_CELL_TIPS
            .check(&cell.tips)
            .map_err(|e| CoreError::invalid("custom_cell1.tips", e.to_string()))?;
    }
    if changes.discount.is_some_and(|d| !(0..=99).contains(&d)) {
        return Err(CoreError::invalid("discount", "expected 0 to 99 percent"));
    }
    let send_check = client
        .update_card(&card.wechat_card_id, &changes.to_update())
        .await?;
    let mut row: cards::ActiveModel = card.clone().into();
    if let Some(title) = &changes.title {
        row.title = Set(title.clone());
    }
    if let Some(color) = &changes.color {
        row.color = Set(color.as_str().to_owned());
    }
    if let Some(logo) = &changes.logo_url {
        row.logo_url = Set(logo.clone());
    }
    if send_check {
        row.review_status = Set("pending".into());
        row.refuse_reason = Set(None);
        row.review_checks = Set(0);
        row.review_checked_at = Set(None);
    }
    Ok((row.update(db).await?, send_check))
}

/// Sets the card's activation form on WeChat and stores it.
pub async fn set_activation_form(
    db: &impl ConnectionTrait,
    client: &WechatClient,
    card: &cards::Model,
    form: &ActivateUserFormRequest,
) -> Result<(), CoreError> {
    let mut form = form.clone();
    form.card_id = card.wechat_card_id.clone();
    client.set_activate_user_form(&form).await?;
    let mut row: cards::ActiveModel = card.clone().into();
    row.activation_form = Set(Some(serde_json::to_string(&form).unwrap_or_default()));
    row.update(db).await?;
    Ok(())
}

/// Records WeChat's review outcome.
pub async fn set_review_status(
    db: &impl ConnectionTrait,
    wechat_card_id: &str,
    approved: bool,
    refuse_reason: Option<String>,
) -> Result<(), CoreError> {
    let card = find(db, wechat_card_id).await?;
    let mut row: cards::ActiveModel = card.into();
    row.review_status = Set(if approved { "approved" } else { "refused" }.into());
    row.refuse_reason = Set(refuse_reason);
    row.update(db).await?;
    Ok(())
}

/// Where a card stands in WeChat's review, as `card/get` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewCheck {
    /// Still in review.
    Pending,
    /// Approved (newly, or the push had already said so).
    Approved,
    /// Refused, with the reason shown to admins.
    Refused(String),
    /// A status Kaika does not act on (e.g. deleted at WeChat), as WeChat spells it.
    Other(String),
}

/// How long after its `checks`-th check a card still in review is asked about again: one minute,
/// doubling, at most `max`.
pub fn review_check_delay(checks: i32, max: std::time::Duration) -> std::time::Duration {
    let doublings = u32::try_from(checks.clamp(0, 20)).unwrap_or(0);
    std::time::Duration::from_secs(60u64 << doublings).min(max)
}

/// Asks `card/get` where a card is in review and records it, so a lost `card_pass_check` push never
/// leaves a card pending. The answer counts as a review seen now: a push older than it does not undo
/// it, a newer one wins.
pub async fn refresh_review(
    db: &DatabaseConnection,
    client: &WechatClient,
    card: &cards::Model,
) -> Result<ReviewCheck, CoreError> {
    let detail = client.get_card(&card.wechat_card_id).await?;
    record_review(db, card, &detail).await
}

/// [`refresh_review`] through the client of the account `app_id` (the admin's refresh button and the
/// review poll).
pub async fn refresh_review_of(
    db: &DatabaseConnection,
    clients: &crate::clients::Clients,
    app_id: &str,
    card: &cards::Model,
) -> Result<ReviewCheck, CoreError> {
    let client = clients.official_account(app_id).await?;
    refresh_review(db, &client, card).await
}

/// Records where a card stands in review from a `card/get` answer already fetched (see
/// [`refresh_review`]).
pub async fn record_review(
    db: &DatabaseConnection,
    card: &cards::Model,
    detail: &kaika_wechat::card::CardDetail,
) -> Result<ReviewCheck, CoreError> {
    use kaika_wechat::card::CardStatus;
    let status = detail
        .member_card
        .as_ref()
        .and_then(|member_card| member_card.base_info.status.as_ref());
    let check = match status {
        Some(CardStatus::VerifyOk | CardStatus::Dispatch) => ReviewCheck::Approved,
        Some(CardStatus::VerifyFail) => ReviewCheck::Refused(
            "refused in WeChat's review (card/get gives no reason: see the refusal message in WeChat's \
             console)"
                .to_owned(),
        ),
        Some(CardStatus::NotVerify) => ReviewCheck::Pending,
        Some(other) => ReviewCheck::Other(other.as_str().to_owned()),
        None => ReviewCheck::Other("no status".to_owned()),
    };
    let txn = db.begin().await?;
    match &check {
        ReviewCheck::Approved if card.review_status != "approved" => {
            crate::events::on_review(&txn, card, clock::now().timestamp(), None).await?;
        }
        ReviewCheck::Refused(reason) if card.review_status != "refused" => {
            crate::events::on_review(&txn, card, clock::now().timestamp(), Some(reason.clone()))
                .await?;
        }
        _ => {}
    }
    count_review_check(&txn, card.id).await?;
    txn.commit().await?;
    Ok(check)
}

/// Counts one `card/get` check of a card, now: the next one backs off from it.
async fn count_review_check(db: &impl ConnectionTrait, card_id: i64) -> Result<(), CoreError> {
    cards::Entity::update_many()
        .col_expr(
            cards::Column::ReviewChecks,
            Expr::col(cards::Column::ReviewChecks).add(1),
        )
        .col_expr(cards::Column::ReviewCheckedAt, Expr::value(clock::now()))
        .filter(cards::Column::Id.eq(card_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The cards still in review whose next check is due: never checked, or checked longer ago than
/// [`review_check_delay`].
pub async fn due_review_checks(
    db: &impl ConnectionTrait,
    max_delay: std::time::Duration,
) -> Result<Vec<cards::Model>, CoreError> {
    let now = clock::now();
    let pending = cards::Entity::find()
        .filter(cards::Column::ReviewStatus.eq("pending"))
        .order_by_asc(cards::Column::Id)
        .all(db)
        .await?;
    Ok(pending
        .into_iter()
        .filter(|card| match card.review_checked_at {
            None => true,
            Some(at) => {
                let delay = review_check_delay(card.review_checks - 1, max_delay);
                at + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1)) <= now
            }
        })
        .collect())
}

/// Checks every card in review whose check is due ([`due_review_checks`]) and returns how many changed
/// status. A card whose check fails is left for its next turn (its check counts, so it backs off too).
pub async fn poll_reviews(
    db: &DatabaseConnection,
    clients: &crate::clients::Clients,
    max_delay: std::time::Duration,
) -> Result<usize, CoreError> {
    let due = due_review_checks(db, max_delay).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let app_ids: HashMap<i64, String> = crate::accounts::list(db)
        .await?
        .into_iter()
        .map(|account| (account.id, account.app_id))
        .collect();
    let mut changed = 0;
    for card in due {
        let Some(app_id) = app_ids.get(&card.account_id) else {
            continue;
        };
        match refresh_review_of(db, clients, app_id, &card).await {
            Ok(ReviewCheck::Approved | ReviewCheck::Refused(_)) => changed += 1,
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(card = %card.wechat_card_id, error = %err, "card/get review check failed");
                count_review_check(db, card.id).await?;
            }
        }
    }
    Ok(changed)
}

/// The card with this WeChat id, or `card_not_found`.
pub async fn find(
    db: &impl ConnectionTrait,
    wechat_card_id: &str,
) -> Result<cards::Model, CoreError> {
    cards::Entity::find_by_wechat_id(wechat_card_id)
        .one(db)
        .await?
        .ok_or_else(|| {
            CoreError::refused(Refusal::CardNotFound, format!("no card {wechat_card_id}"))
        })
}

/// A card as a member sees it in the list of cards to open.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CardOffer {
    /// WeChat's card id.
    pub card_id: String,
    /// Title.
    pub title: String,
    /// Brand.
    pub brand_name: String,
    /// Palette name, e.g. `Color010`.
    pub color: String,
    /// `#rrggbb` of the colour, for drawing the card face.
    pub color_hex: String,
    /// Logo URL.
    pub logo_url: String,
    /// Whether the caller already holds it.
    pub held: bool,
}

/// The approved cards of an account, each with whether this mini-program user holds it.
pub async fn offers(
    db: &impl ConnectionTrait,
    account_id: i64,
    mini_openid: &str,
) -> Result<Vec<CardOffer>, CoreError> {
    let rows = cards::Entity::find_for_account(account_id)
        .filter(cards::Column::ReviewStatus.eq("approved"))
        .order_by_asc(cards::Column::Id)
        .all(db)
        .await?;
    let held: std::collections::HashSet<i64> = members::Entity::find_for_mini_openid(mini_openid)
        .filter(members::Column::Status.eq("active"))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.card_id)
        .collect();
    Ok(rows
        .into_iter()
        .map(|card| CardOffer {
            held: held.contains(&card.id),
            color_hex: color_hex(&card.color),
            card_id: card.wechat_card_id,
            title: card.title,
            brand_name: card.brand_name,
            color: card.color,
            logo_url: card.logo_url,
        })
        .collect())
}

/// The `#rrggbb` of a palette name (WeChat's default green when unknown).
pub fn color_hex(name: &str) -> String {
    CardColor::parse(name).hex().unwrap_or("#63b359").to_owned()
}

/// What the mini-program passes to the card-opening component.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ComponentParams {
    /// Always `wxeb490c6f9b154ef9`.
    pub app_id: &'static str,
    /// The component's `extraData`.
    pub extra_data: ExtraData,
}

/// `extraData` of the card-opening component: the decoded `activate/geturl` values.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExtraData {
    /// Decoded `encrypt_card_id`.
    pub encrypt_card_id: String,
    /// The channel tag.
    pub outer_str: String,
    /// Decoded `biz`, padding kept.
    pub biz: String,
}

type FlightMap = HashMap<(i64, String), Arc<tokio::sync::Mutex<()>>>;

/// Per-(card, channel) locks so that a burst of requests on a cold cache asks WeChat once.
#[derive(Debug, Clone, Default)]
pub struct ParamsFlights(Arc<Mutex<FlightMap>>);

impl ParamsFlights {
    fn lock_for(&self, key: (i64, String)) -> Arc<tokio::sync::Mutex<()>> {
        match self.0.lock() {
            Ok(mut map) => map.entry(key).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }
}

/// The component parameters of a card for a channel (`outer_str`; empty for none): from the cache when
/// fresh, else from `activate/geturl`. Unknown channel → `channel_not_found`; archived → `channel_archived`.
/// A card in review is opened only for the account's testers ([`crate::whitelist`]), identified by the
/// caller's mini-program openid.
pub async fn component_params(
    db: &DatabaseConnection,
    client: &WechatClient,
    flights: &ParamsFlights,
    card: &cards::Model,
    outer_str: &str,
    mini_openid: &str,
) -> Result<ComponentParams, CoreError> {
    let tester = card.review_status == "pending"
        && crate::whitelist::load(db, card.account_id)
            .await?
            .admits(mini_openid);
    if card.review_status != "approved" && !tester {
        return Err(CoreError::refused(
            Refusal::CardNotApproved,
            "the card has not passed WeChat's review yet",
        ));
    }
    if !outer_str.is_empty() {
        channels::OuterStr::parse(outer_str).map_err(|_| {
            CoreError::refused(
                Refusal::ChannelNotFound,
                format!("no channel {outer_str:?}"),
            )
        })?;
        match channels::lookup(db, card.id, outer_str).await? {
            None => {
                return Err(CoreError::refused(
                    Refusal::ChannelNotFound,
                    format!("no channel {outer_str:?} for this card"),
                ))
            }
            Some(ChannelState::Archived(_)) => {
                return Err(CoreError::refused(
                    Refusal::ChannelArchived,
                    format!("the channel {outer_str:?} no longer hands out this card"),
                ))
            }
            Some(ChannelState::Active(_)) => {}
        }
    }
    // Cache hits take no lock; only a miss serialises, so a cold burst asks WeChat once.
    let (encrypt_card_id, biz) = match cached_params(db, card.id, outer_str).await? {
        Some(hit) => hit,
        None => {
            let flight = flights.lock_for((card.id, outer_str.to_owned()));
            let _guard = flight.lock().await;
            match cached_params(db, card.id, outer_str).await? {
                Some(hit) => hit,
                None => fetch_params(db, client, card, outer_str).await?,
            }
        }
    };
    stats::count(db, card.id, outer_str, FunnelStep::ParamsRequested).await?;
    Ok(ComponentParams {
        app_id: CARD_COMPONENT_APP_ID,
        extra_data: ExtraData {
            encrypt_card_id,
            outer_str: outer_str.to_owned(),
            biz,
        },
    })
}

async fn cached_params(
    db: &DatabaseConnection,
    card_id: i64,
    outer_str: &str,
) -> Result<Option<(String, String)>, CoreError> {
    Ok(activation_params::Entity::find()
        .filter(activation_params::Column::CardId.eq(card_id))
        .filter(activation_params::Column::OuterStr.eq(outer_str))
        .filter(activation_params::Column::ExpiresAt.gt(clock::now()))
        .one(db)
        .await?
        .map(|row| (row.encrypt_card_id, row.biz)))
}

/// Asks `activate/geturl` and stores the answer for [`ACTIVATION_PARAMS_TTL`].
async fn fetch_params(
    db: &DatabaseConnection,
    client: &WechatClient,
    card: &cards::Model,
    outer_str: &str,
) -> Result<(String, String), CoreError> {
    let channel = (!outer_str.is_empty()).then_some(outer_str);
    let params = client
        .activation_params(&card.wechat_card_id, channel)
        .await?;
    let now = clock::now();
    activation_params::Entity::insert(activation_params::ActiveModel {
        card_id: Set(card.id),
        outer_str: Set(outer_str.to_owned()),
        encrypt_card_id: Set(params.encrypt_card_id.clone()),
        biz: Set(params.biz.clone()),
        fetched_at: Set(now),
        expires_at: Set(now + ACTIVATION_PARAMS_TTL),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            activation_params::Column::CardId,
            activation_params::Column::OuterStr,
        ])
        .update_columns([
            activation_params::Column::EncryptCardId,
            activation_params::Column::Biz,
            activation_params::Column::FetchedAt,
            activation_params::Column::ExpiresAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok((params.encrypt_card_id, params.biz))
}

/// Imports every member card of the account that exists on WeChat but not here: pages through
/// `card/batchget`, reads each with `card/get`, stores the unknown ones ([`import`]). Returns the
/// WeChat ids imported.
pub async fn import_from_wechat(
    db: &impl ConnectionTrait,
    client: &WechatClient,
    account_id: i64,
) -> Result<Vec<String>, CoreError> {
    use kaika_wechat::card::BatchGetRequest;
    let mut ids = Vec::new();
    let mut offset = 0u32;
    loop {
        let page = client
            .batch_get_cards(&BatchGetRequest {
                offset,
                count: kaika_wechat::limits::MAX_BATCHGET_COUNT,
                status_list: Vec::new(),
            })
            .await?;
        let got = u32::try_from(page.card_id_list.len()).unwrap_or(u32::MAX);
        ids.extend(page.card_id_list);
        offset = offset.saturating_add(got);
        if got == 0 || i64::from(offset) >= page.total_num {
            break;
        }
    }
    let mut imported = Vec::new();
    for id in ids {
        let detail = client.get_card(&id).await?;
        let Some(member_card) = detail.member_card else {
            continue;
        };
        let status = member_card
            .base_info
            .status
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        if let Some(row) = import(db, account_id, &id, &member_card, &status).await? {
            imported.push(row.wechat_card_id);
        }
    }
    Ok(imported)
}

/// Stores a card that exists on WeChat but not here (import through `card/batchget` + `card/get`).
/// Returns `None` when it is known already.
pub async fn import(
    db: &impl ConnectionTrait,
    account_id: i64,
    wechat_card_id: &str,
    card: &kaika_wechat::card::MemberCard,
    wechat_status: &str,
) -> Result<Option<cards::Model>, CoreError> {
    if cards::Entity::find_by_wechat_id(wechat_card_id)
        .one(db)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let review_status = match wechat_status {
        "CARD_STATUS_VERIFY_OK" | "CARD_STATUS_DISPATCH" => "approved",
        "CARD_STATUS_VERIFY_FAIL" | "CARD_STATUS_VERIFY_FALL" => "refused",
        _ => "pending",
    };
    let base = &card.base_info;
    let row = cards::ActiveModel {
        account_id: Set(account_id),
        wechat_card_id: Set(wechat_card_id.to_owned()),
        title: Set(base.title.clone()),
        brand_name: Set(base.brand_name.clone()),
        color: Set(base.color.as_str().to_owned()),
        logo_url: Set(base.logo_url.clone()),
        review_status: Set(review_status.to_owned()),
        refuse_reason: Set(None),
        activation_form: Set(None),
        welcome_bonus: Set(0),
        membership_prefix: Set(String::new()),
        next_membership_seq: Set(1),
        stored_value: Set(card.supply_balance),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(Some(row))
}

/// Sets a card's welcome bonus (points credited at activation).
pub async fn set_welcome_bonus(
    db: &impl ConnectionTrait,
    card_id: i64,
    welcome_bonus: i64,
) -> Result<(), CoreError> {
    if welcome_bonus < 0 {
        return Err(CoreError::invalid("welcome_bonus", "must not be negative"));
    }
    let row = cards::Entity::find_by_id(card_id)
        .one(db)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: format!("card {card_id}"),
        })?;
    let mut row: cards::ActiveModel = row.into();
    row.welcome_bonus = Set(welcome_bonus);
    row.update(db).await?;
    Ok(())
}
