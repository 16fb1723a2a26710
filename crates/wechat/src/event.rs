//! Card event pushes (reference §9): parsing the callback XML into a typed [`Event`], the safe-mode
//! envelope (§10.2), and writing event XML (for tests and simulators).
//!
//! The parser is deliberately small and defensive: bodies larger than [`MAX_XML_BYTES`], deeper than
//! [`MAX_XML_DEPTH`], or carrying a `<!DOCTYPE`/`<!ENTITY` declaration are refused before any value
//! is read, and every failure is an [`EventError`], never a panic.

use std::collections::BTreeMap;

use quick_xml::events::Event as XmlEvent;
use quick_xml::Reader;

use crate::crypto::{self, MessageCrypt};
use crate::xml::{Layout, XmlWriter};

/// The largest callback body accepted, in bytes. Card events are well under 2 KiB.
pub const MAX_XML_BYTES: usize = 64 * 1024;

/// The deepest element nesting accepted (`<xml>` is depth 1, its fields depth 2).
pub const MAX_XML_DEPTH: usize = 8;

/// Why a callback body could not be turned into an [`Event`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The body is larger than [`MAX_XML_BYTES`].
    #[error("callback body is {0} bytes, more than the {MAX_XML_BYTES} accepted")]
    TooLarge(usize),
    /// Elements nest deeper than [`MAX_XML_DEPTH`].
    #[error("XML nests deeper than {MAX_XML_DEPTH} levels")]
    TooDeep,
    /// The body declares a DOCTYPE or an entity; never legitimate in a WeChat push.
    #[error("DOCTYPE and ENTITY declarations are not accepted")]
    DoctypeForbidden,
    /// The body is not well-formed XML.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// The root element is not `<xml>`.
    #[error("root element is <{0}>, expected <xml>")]
    UnexpectedRoot(String),
    /// A field every message of this kind carries is absent or empty.
    #[error("required field {0} is missing")]
    MissingField(&'static str),
    /// A numeric or 0/1 field holds something else.
    #[error("field {field} has an invalid value {value:?}")]
    InvalidField {
        /// The element name.
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// The safe-mode `msg_signature` does not match the body.
    #[error("message signature does not match")]
    BadSignature,
    /// The `Encrypt` value could not be decrypted.
    #[error("could not decrypt the message: {0}")]
    Crypto(#[from] crypto::CryptoError),
}

/// The first-level children of `<xml>`, trimmed, by element name.
///
/// Text and CDATA inside one element are concatenated and surrounding whitespace trimmed (the
/// official samples put spaces around their CDATA sections, reference §13 #8). The first occurrence
/// of a repeated element wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlFields(BTreeMap<String, String>);

impl XmlFields {
    /// The trimmed value of an element, `None` when absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The trimmed value of an element, `None` when absent or empty.
    pub fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// Iterates over `(element, value)` pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn required(&self, name: &'static str) -> Result<String, EventError> {
        self.non_empty(name).ok_or(EventError::MissingField(name))
    }

    fn int(&self, name: &'static str) -> Result<Option<i64>, EventError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => parse_lenient_int(v)
                .map(Some)
                .ok_or_else(|| EventError::InvalidField {
                    field: name,
                    value: v.to_owned(),
                }),
        }
    }

    fn flag(&self, name: &'static str) -> Result<bool, EventError> {
        match self.get(name) {
            None | Some("") | Some("0") => Ok(false),
            Some("1") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) => Err(EventError::InvalidField {
                field: name,
                value: v.to_owned(),
            }),
        }
    }
}

/// Integers may arrive as `3` or `3.0`; anything with a fraction is refused rather than rounded.
fn parse_lenient_int(text: &str) -> Option<i64> {
    if let Ok(v) = text.parse::<i64>() {
        return Some(v);
    }
    let f = text.parse::<f64>().ok()?;
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 {
        // Whole and within f64's exact-integer range, so the conversion is lossless.
        Some(f as i64)
    } else {
        None
    }
}

fn reject_declarations(xml: &str) -> Result<(), EventError> {
    let upper = xml.to_ascii_uppercase();
    if upper.contains("<!DOCTYPE") || upper.contains("<!ENTITY") {
        return Err(EventError::DoctypeForbidden);
    }
    Ok(())
}

/// Parses a flat WeChat XML message into its fields, applying the size, depth and DOCTYPE limits.
pub fn parse_fields(xml: &str) -> Result<XmlFields, EventError> {
    if xml.len() > MAX_XML_BYTES {
        return Err(EventError::TooLarge(xml.len()));
    }
    reject_declarations(xml)?;
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut fields = BTreeMap::new();
    let mut depth = 0usize;
    let mut seen_root = false;
    let mut current: Option<(String, String)> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| EventError::Malformed(e.to_string()))?;
        match event {
            XmlEvent::Start(start) => {
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    return Err(EventError::TooDeep);
                }
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                if depth == 1 {
                    if seen_root {
                        return Err(EventError::Malformed("more than one root element".into()));
                    }
                    if name != "xml" {
                        return Err(EventError::UnexpectedRoot(name));
                    }
                    seen_root = true;
                } else if depth == 2 {
                    current = Some((name, String::new()));
                }
            }
            XmlEvent::Empty(start) => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                if depth == 0 {
                    if name != "xml" {
                        return Err(EventError::UnexpectedRoot(name));
                    }
                    seen_root = true;
                } else if depth == 1 {
                    fields.entry(name).or_insert_with(String::new);
                }
            }
            XmlEvent::End(_) => {
                if depth == 2 {
                    if let Some((name, value)) = current.take() {
                        fields
                            .entry(name)
                            .or_insert_with(|| value.trim().to_owned());
                    }
                }
                depth = depth.saturating_sub(1);
            }
            XmlEvent::Text(text) => {
                if depth == 2 {
                    let value = text
                        .unescape()
                        .map_err(|e| EventError::Malformed(e.to_string()))?;
                    if let Some((_, buf)) = current.as_mut() {
                        buf.push_str(&value);
                    }
                } else if depth == 0 && !text.iter().all(u8::is_ascii_whitespace) {
                    return Err(EventError::Malformed(
                        "text outside the root element".into(),
                    ));
                }
            }
            XmlEvent::CData(data) => {
                if depth == 2 {
                    let value = std::str::from_utf8(&data)
                        .map_err(|e| EventError::Malformed(e.to_string()))?;
                    if let Some((_, buf)) = current.as_mut() {
                        buf.push_str(value);
                    }
                }
            }
            XmlEvent::DocType(_) => return Err(EventError::DoctypeForbidden),
            XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::Comment(_) => {}
            XmlEvent::Eof => break,
        }
    }
    if !seen_root {
        return Err(EventError::Malformed("no <xml> root element".into()));
    }
    if depth != 0 {
        return Err(EventError::Malformed("unclosed element".into()));
    }
    Ok(XmlFields(fields))
}

/// The fields every push carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHeader {
    /// The official account's original id (`gh_…`).
    pub to_user_name: String,
    /// The user's official-account openid (for review events, the account itself).
    pub from_user_name: String,
    /// Unix seconds.
    pub create_time: i64,
    /// `event` for every card event.
    pub msg_type: String,
    /// The `Event` element, e.g. `user_get_card`; empty for non-event messages.
    pub event: String,
}

impl EventHeader {
    fn from_fields(f: &XmlFields) -> Result<Self, EventError> {
        Ok(Self {
            to_user_name: f.required("ToUserName")?,
            from_user_name: f.required("FromUserName")?,
            create_time: f
                .int("CreateTime")?
                .ok_or(EventError::MissingField("CreateTime"))?,
            msg_type: f.required("MsgType")?,
            event: f.non_empty("Event").unwrap_or_default(),
        })
    }
}

/// `user_get_card`: a user received the card (reference §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGetCard {
    /// Common fields.
    pub header: EventHeader,
    /// The card template.
    pub card_id: String,
    /// The user's card code.
    pub user_card_code: String,
    /// `IsGiveByFriend`: received as a gift.
    pub is_give_by_friend: bool,
    /// `FriendUserName`: the giver's openid when gifted.
    pub friend_user_name: Option<String>,
    /// `OuterId`: legacy integer channel.
    pub outer_id: Option<i64>,
    /// `OldUserCardCode`: the giver's old code when gifted.
    pub old_user_card_code: Option<String>,
    /// `OuterStr`: the channel passed to geturl, QR codes or addCard.
    pub outer_str: Option<String>,
    /// `IsRestoreMemberCard`: the user re-added a member card they had deleted.
    pub is_restore_member_card: bool,
    /// `IsRecommendByFriend`.
    pub is_recommend_by_friend: bool,
    /// `UnionId`, when the account is bound to the Open Platform.
    pub union_id: Option<String>,
    /// `SourceScene` (undocumented, seen in real payloads).
    pub source_scene: Option<String>,
}

/// `user_consume_card`: a code was consumed (reference §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConsumeCard {
    /// Common fields.
    pub header: EventHeader,
    /// The card template.
    pub card_id: String,
    /// The consumed code.
    pub user_card_code: String,
    /// `ConsumeSource`: `FROM_API`, `FROM_MP`, `FROM_MOBILE_HELPER`…
    pub consume_source: Option<String>,
    /// `LocationName`.
    pub location_name: Option<String>,
    /// `StaffOpenId`.
    pub staff_open_id: Option<String>,
    /// `VerifyCode`.
    pub verify_code: Option<String>,
    /// `RemarkAmount`.
    pub remark_amount: Option<String>,
    /// `OuterStr`.
    pub outer_str: Option<String>,
    /// `LocationId` (pay cell).
    pub location_id: Option<String>,
    /// `TransId` (pay cell).
    pub trans_id: Option<String>,
    /// `Fee` (pay cell).
    pub fee: Option<String>,
    /// `OriginalFee` (pay cell).
    pub original_fee: Option<String>,
}

/// A card event push, typed by its `Event` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `card_pass_check`: the card passed review.
    CardPassCheck {
        /// Common fields.
        header: EventHeader,
        /// The card template.
        card_id: String,
        /// `RefuseReason` (present, oddly, even in the official pass sample).
        refuse_reason: Option<String>,
    },
    /// `card_not_pass_check`: the card was rejected.
    CardNotPassCheck {
        /// Common fields.
        header: EventHeader,
        /// The card template.
        card_id: String,
        /// `RefuseReason`.
        refuse_reason: Option<String>,
    },
    /// `user_get_card`.
    UserGetCard(UserGetCard),
    /// `user_gifting_card`: a user is giving the card to a friend.
    UserGiftingCard {
        /// Common fields.
        header: EventHeader,
        /// The card template.
        card_id: String,
        /// The code being given.
        user_card_code: String,
        /// `IsReturnBack`: the gift came back unclaimed.
        is_return_back: bool,
        /// `FriendUserName`: the receiver's openid.
        friend_user_name: Option<String>,
        /// `IsChatRoom`: given in a group chat.
        is_chat_room: bool,
    },
    /// `user_del_card`: the user deleted the card.
    UserDelCard {
        /// Common fields.
        header: EventHeader,
        /// The card template.
        card_id: String,
        /// The deleted code.
        user_card_code: String,
    },
    /// `user_consume_card`.
    UserConsumeCard(UserConsumeCard),
    /// `user_pay_from_pay_cell`: paid through the card's quick-pay cell.
    UserPayFromPayCell {
        /// Common fields.
        header: EventHeader,
        /// The card template.
        card_id: String,
        /// The code.
        user_card_code: String,
        /// `TransId`.
        trans_id: Option<String>,
        /// `LocationId`.
        location_id: Option<String>,
        /// `Fee`.
        fee: Option<String>,
        /// `OriginalFee`.
        original_fee: Option<String>,
    },
    /// `user_view_card`: the user opened the card (needs `need_push_on_view`).
    UserViewCard {
        /// Common fields.
        header: EventHeader,
        /// The card template.
        card_id: String,
        /// The code.
        user_card_code: String,
        /// `OuterStr`.
        outer_str: Option<String>,
    },
    /// `user_enter_session_from_card`: the user opened the chat from the card.
    UserEnterSessionFromCard {
        /// Common fields.
        header: EventHeader,
        /// The card template.
        card_id: String,
        /// The code.
        user_card_code: String,
    },
    /// `update_member_card`: points or balance changed.
    UpdateMemberCard {
        /// Common fields.
        header: EventHeader,
        /// The card template.
        card_id: String,
        /// The code.
        user_card_code: String,
        /// `ModifyBonus`: points delta.
        modify_bonus: i64,
        /// `ModifyBalance`: balance delta.
        modify_balance: i64,
    },
    /// `card_sku_remind`: stock is running low.
    CardSkuRemind {
        /// Common fields.
        header: EventHeader,
        /// The card template.
        card_id: String,
        /// `Detail`.
        detail: Option<String>,
    },
    /// `card_pay_order`: a coin-account order changed; all fields kept as text.
    CardPayOrder {
        /// Common fields.
        header: EventHeader,
        /// `OrderId`.
        order_id: Option<String>,
        /// `Status`.
        status: Option<String>,
        /// Every element of the push, for the remaining fields (`Desc`, `FreeCoinCount`, …).
        fields: XmlFields,
    },
    /// `submit_membercard_user_info`: the user submitted the one-tap form.
    SubmitMembercardUserInfo {
        /// Common fields.
        header: EventHeader,
        /// The card template.
        card_id: String,
        /// The code.
        user_card_code: String,
    },
    /// Any other message or event, kept raw.
    Unknown {
        /// Common fields.
        header: EventHeader,
        /// The `Event` element (empty when the message is not an event).
        event: String,
        /// The XML as received.
        raw: String,
    },
}

impl Event {
    /// Parses a plain-mode (or decrypted) push body.
    pub fn parse(xml: &str) -> Result<Self, EventError> {
        let f = parse_fields(xml)?;
        let header = EventHeader::from_fields(&f)?;
        let event = match header.event.as_str() {
            "card_pass_check" => Event::CardPassCheck {
                card_id: f.required("CardId")?,
                refuse_reason: f.non_empty("RefuseReason"),
                header,
            },
            "card_not_pass_check" => Event::CardNotPassCheck {
                card_id: f.required("CardId")?,
                refuse_reason: f.non_empty("RefuseReason"),
                header,
            },
            "user_get_card" => Event::UserGetCard(UserGetCard {
                card_id: f.required("CardId")?,
                user_card_code: f.required("UserCardCode")?,
                is_give_by_friend: f.flag("IsGiveByFriend")?,
                friend_user_name: f.non_empty("FriendUserName"),
                outer_id: f.int("OuterId")?,
                old_user_card_code: f.non_empty("OldUserCardCode"),
                outer_str: f.non_empty("OuterStr"),
                is_restore_member_card: f.flag("IsRestoreMemberCard")?,
                is_recommend_by_friend: f.flag("IsRecommendByFriend")?,
                union_id: f.non_empty("UnionId"),
                source_scene: f.non_empty("SourceScene"),
                header,
            }),
            "user_gifting_card" => Event::UserGiftingCard {
                card_id: f.required("CardId")?,
                user_card_code: f.required("UserCardCode")?,
                is_return_back: f.flag("IsReturnBack")?,
                friend_user_name: f.non_empty("FriendUserName"),
                is_chat_room: f.flag("IsChatRoom")?,
                header,
            },
            "user_del_card" => Event::UserDelCard {
                card_id: f.required("CardId")?,
                user_card_code: f.required("UserCardCode")?,
                header,
            },
            "user_consume_card" => Event::UserConsumeCard(UserConsumeCard {
                card_id: f.required("CardId")?,
                user_card_code: f.required("UserCardCode")?,
                consume_source: f.non_empty("ConsumeSource"),
                location_name: f.non_empty("LocationName"),
                staff_open_id: f.non_empty("StaffOpenId"),
                verify_code: f.non_empty("VerifyCode"),
                remark_amount: f.non_empty("RemarkAmount"),
                outer_str: f.non_empty("OuterStr"),
                location_id: f.non_empty("LocationId"),
                trans_id: f.non_empty("TransId"),
                fee: f.non_empty("Fee"),
                original_fee: f.non_empty("OriginalFee"),
                header,
            }),
            "user_pay_from_pay_cell" => Event::UserPayFromPayCell {
                card_id: f.required("CardId")?,
                user_card_code: f.required("UserCardCode")?,
                trans_id: f.non_empty("TransId"),
                location_id: f.non_empty("LocationId"),
                fee: f.non_empty("Fee"),
                original_fee: f.non_empty("OriginalFee"),
                header,
            },
            "user_view_card" => Event::UserViewCard {
                card_id: f.required("CardId")?,
                user_card_code: f.required("UserCardCode")?,
                outer_str: f.non_empty("OuterStr"),
                header,
            },
            "user_enter_session_from_card" => Event::UserEnterSessionFromCard {
                card_id: f.required("CardId")?,
                user_card_code: f.required("UserCardCode")?,
                header,
            },
            "update_member_card" => Event::UpdateMemberCard {
                card_id: f.required("CardId")?,
                user_card_code: f.required("UserCardCode")?,
                modify_bonus: f.int("ModifyBonus")?.unwrap_or(0),
                modify_balance: f.int("ModifyBalance")?.unwrap_or(0),
                header,
            },
            "card_sku_remind" => Event::CardSkuRemind {
                card_id: f.required("CardId")?,
                detail: f.non_empty("Detail"),
                header,
            },
            "card_pay_order" => Event::CardPayOrder {
                order_id: f.non_empty("OrderId"),
                status: f.non_empty("Status"),
                fields: f.clone(),
                header,
            },
            "submit_membercard_user_info" => Event::SubmitMembercardUserInfo {
                card_id: f.required("CardId")?,
                user_card_code: f.required("UserCardCode")?,
                header,
            },
            _ => Event::Unknown {
                event: header.event.clone(),
                raw: xml.to_owned(),
                header,
            },
        };
        Ok(event)
    }

    /// Verifies `msg_signature`, decrypts a safe-mode (or compatible-mode) body and parses the event.
    pub fn parse_encrypted(
        body: &str,
        crypt: &MessageCrypt,
        token: &str,
        timestamp: &str,
        nonce: &str,
        msg_signature: &str,
    ) -> Result<Self, EventError> {
        let envelope = EncryptedEnvelope::parse(body)?;
        let computed = crypto::msg_signature(token, timestamp, nonce, &envelope.encrypt);
        if !crypto::verify_signature(msg_signature, &computed) {
            return Err(EventError::BadSignature);
        }
        let plain = crypt.decrypt(&envelope.encrypt)?;
        Event::parse(&plain)
    }

    /// The common fields.
    pub fn header(&self) -> &EventHeader {
        match self {
            Event::CardPassCheck { header, .. }
            | Event::CardNotPassCheck { header, .. }
            | Event::UserGiftingCard { header, .. }
            | Event::UserDelCard { header, .. }
            | Event::UserPayFromPayCell { header, .. }
            | Event::UserViewCard { header, .. }
            | Event::UserEnterSessionFromCard { header, .. }
            | Event::UpdateMemberCard { header, .. }
            | Event::CardSkuRemind { header, .. }
            | Event::CardPayOrder { header, .. }
            | Event::SubmitMembercardUserInfo { header, .. }
            | Event::Unknown { header, .. } => header,
            Event::UserGetCard(e) => &e.header,
            Event::UserConsumeCard(e) => &e.header,
        }
    }

    /// The `Event` element, e.g. `user_get_card`.
    pub fn name(&self) -> &str {
        &self.header().event
    }

    /// The card template the event is about, when it has one.
    pub fn card_id(&self) -> Option<&str> {
        match self {
            Event::CardPassCheck { card_id, .. }
            | Event::CardNotPassCheck { card_id, .. }
            | Event::UserGiftingCard { card_id, .. }
            | Event::UserDelCard { card_id, .. }
            | Event::UserPayFromPayCell { card_id, .. }
            | Event::UserViewCard { card_id, .. }
            | Event::UserEnterSessionFromCard { card_id, .. }
            | Event::UpdateMemberCard { card_id, .. }
            | Event::CardSkuRemind { card_id, .. }
            | Event::SubmitMembercardUserInfo { card_id, .. } => Some(card_id),
            Event::UserGetCard(e) => Some(&e.card_id),
            Event::UserConsumeCard(e) => Some(&e.card_id),
            Event::CardPayOrder { .. } | Event::Unknown { .. } => None,
        }
    }

    /// The user's card code the event is about, when it has one.
    pub fn user_card_code(&self) -> Option<&str> {
        match self {
            Event::UserGiftingCard { user_card_code, .. }
            | Event::UserDelCard { user_card_code, .. }
            | Event::UserPayFromPayCell { user_card_code, .. }
            | Event::UserViewCard { user_card_code, .. }
            | Event::UserEnterSessionFromCard { user_card_code, .. }
            | Event::UpdateMemberCard { user_card_code, .. }
            | Event::SubmitMembercardUserInfo { user_card_code, .. } => Some(user_card_code),
            Event::UserGetCard(e) => Some(&e.user_card_code),
            Event::UserConsumeCard(e) => Some(&e.user_card_code),
            Event::CardPassCheck { .. }
            | Event::CardNotPassCheck { .. }
            | Event::CardSkuRemind { .. }
            | Event::CardPayOrder { .. }
            | Event::Unknown { .. } => None,
        }
    }

    /// A key identical for every redelivery of one push and distinct for two card events of one user
    /// in the same second: `FromUserName|CreateTime|Event|CardId|UserCardCode` (missing parts empty;
    /// `card_pay_order` uses its `OrderId` in place of the card id).
    pub fn dedupe_key(&self) -> String {
        let h = self.header();
        let card = match self {
            Event::CardPayOrder { order_id, .. } => order_id.as_deref().unwrap_or(""),
            other => other.card_id().unwrap_or(""),
        };
        format!(
            "{}|{}|{}|{}|{}",
            h.from_user_name,
            h.create_time,
            h.event,
            card,
            self.user_card_code().unwrap_or("")
        )
    }

    /// Writes the event as WeChat would push it (one line, CDATA for text, bare numbers).
    ///
    /// `Unknown` events are written back verbatim; `None` fields are omitted.
    pub fn to_xml(&self) -> String {
        if let Event::Unknown { raw, .. } = self {
            return raw.clone();
        }
        let h = self.header();
        let mut w = XmlWriter::new(Layout::Compact);
        w.text("ToUserName", &h.to_user_name);
        w.text("FromUserName", &h.from_user_name);
        w.bare("CreateTime", h.create_time);
        w.text("MsgType", &h.msg_type);
        w.text("Event", &h.event);
        match self {
            Event::CardPassCheck {
                card_id,
                refuse_reason,
                ..
            }
            | Event::CardNotPassCheck {
                card_id,
                refuse_reason,
                ..
            } => {
                w.text("CardId", card_id);
                w.opt_text("RefuseReason", refuse_reason.as_deref());
            }
            Event::UserGetCard(e) => {
                w.text("CardId", &e.card_id);
                w.flag("IsGiveByFriend", e.is_give_by_friend);
                w.text("UserCardCode", &e.user_card_code);
                w.opt_text("FriendUserName", e.friend_user_name.as_deref());
                if let Some(outer_id) = e.outer_id {
                    w.bare("OuterId", outer_id);
                }
                w.opt_text("OldUserCardCode", e.old_user_card_code.as_deref());
                w.opt_text("OuterStr", e.outer_str.as_deref());
                w.flag("IsRestoreMemberCard", e.is_restore_member_card);
                w.flag("IsRecommendByFriend", e.is_recommend_by_friend);
                w.opt_text("UnionId", e.union_id.as_deref());
                w.opt_text("SourceScene", e.source_scene.as_deref());
            }
            Event::UserGiftingCard {
                card_id,
                user_card_code,
                is_return_back,
                friend_user_name,
                is_chat_room,
                ..
            } => {
                w.text("CardId", card_id);
                w.text("UserCardCode", user_card_code);
                w.flag("IsReturnBack", *is_return_back);
                w.opt_text("FriendUserName", friend_user_name.as_deref());
                w.flag("IsChatRoom", *is_chat_room);
            }
            Event::UserDelCard {
                card_id,
                user_card_code,
                ..
            }
            | Event::UserEnterSessionFromCard {
                card_id,
                user_card_code,
                ..
            }
            | Event::SubmitMembercardUserInfo {
                card_id,
                user_card_code,
                ..
            } => {
                w.text("CardId", card_id);
                w.text("UserCardCode", user_card_code);
            }
            Event::UserConsumeCard(e) => {
                w.text("CardId", &e.card_id);
                w.text("UserCardCode", &e.user_card_code);
                w.opt_text("ConsumeSource", e.consume_source.as_deref());
                w.opt_text("LocationName", e.location_name.as_deref());
                w.opt_text("StaffOpenId", e.staff_open_id.as_deref());
                w.opt_text("VerifyCode", e.verify_code.as_deref());
                w.opt_text("RemarkAmount", e.remark_amount.as_deref());
                w.opt_text("OuterStr", e.outer_str.as_deref());
                w.opt_text("LocationId", e.location_id.as_deref());
                w.opt_text("TransId", e.trans_id.as_deref());
                w.opt_text("Fee", e.fee.as_deref());
                w.opt_text("OriginalFee", e.original_fee.as_deref());
            }
            Event::UserPayFromPayCell {
                card_id,
                user_card_code,
                trans_id,
                location_id,
                fee,
                original_fee,
                ..
            } => {
                w.text("CardId", card_id);
                w.text("UserCardCode", user_card_code);
                w.opt_text("TransId", trans_id.as_deref());
                w.opt_text("LocationId", location_id.as_deref());
                w.opt_text("Fee", fee.as_deref());
                w.opt_text("OriginalFee", original_fee.as_deref());
            }
            Event::UserViewCard {
                card_id,
                user_card_code,
                outer_str,
                ..
            } => {
                w.text("CardId", card_id);
                w.text("UserCardCode", user_card_code);
                w.opt_text("OuterStr", outer_str.as_deref());
            }
            Event::UpdateMemberCard {
                card_id,
                user_card_code,
                modify_bonus,
                modify_balance,
                ..
            } => {
                w.text("CardId", card_id);
                w.text("UserCardCode", user_card_code);
                w.bare("ModifyBonus", *modify_bonus);
                w.bare("ModifyBalance", *modify_balance);
            }
            Event::CardSkuRemind {
                card_id, detail, ..
            } => {
                w.text("CardId", card_id);
                w.opt_text("Detail", detail.as_deref());
            }
            Event::CardPayOrder { fields, .. } => {
                const HEADER: [&str; 5] = [
                    "ToUserName",
                    "FromUserName",
                    "CreateTime",
                    "MsgType",
                    "Event",
                ];
                for (name, value) in fields.iter().filter(|(n, _)| !HEADER.contains(n)) {
                    w.text(name, value);
                }
            }
            Event::Unknown { .. } => {}
        }
        w.finish()
    }
}

/// The safe-mode push body: `<xml><ToUserName/><Encrypt/></xml>` (reference §10.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedEnvelope {
    /// The account's original id, when present.
    pub to_user_name: Option<String>,
    /// The base64 ciphertext.
    pub encrypt: String,
}

impl EncryptedEnvelope {
    /// Parses the envelope; `Encrypt` is required.
    pub fn parse(xml: &str) -> Result<Self, EventError> {
        let f = parse_fields(xml)?;
        Ok(Self {
            to_user_name: f.non_empty("ToUserName"),
            encrypt: f.required("Encrypt")?,
        })
    }

    /// Writes the push body WeChat sends in safe mode.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new(Layout::Compact);
        if let Some(to) = &self.to_user_name {
            w.text("ToUserName", to);
        }
        w.text("Encrypt", &self.encrypt);
        w.finish()
    }

    /// Encrypts a plain push body for `to_user_name` with `crypt`.
    pub fn seal(crypt: &MessageCrypt, to_user_name: &str, plain_xml: &str) -> Self {
        Self {
            to_user_name: Some(to_user_name.to_owned()),
            encrypt: crypt.encrypt(plain_xml),
        }
    }
}

/// Writes an encrypted passive reply (`Encrypt`, `MsgSignature`, `TimeStamp`, `Nonce`) for a body
/// already encrypted with [`MessageCrypt::encrypt`].
pub fn encrypted_reply_xml(token: &str, encrypt: &str, timestamp: &str, nonce: &str) -> String {
    let sig = crypto::msg_signature(token, timestamp, nonce, encrypt);
    let mut w = XmlWriter::new(Layout::Compact);
    w.text("Encrypt", encrypt);
    w.text("MsgSignature", &sig);
    w.bare("TimeStamp", timestamp);
    w.text("Nonce", nonce);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const USER_GET_CARD: &str = r#"<xml>
  <ToUserName> <![CDATA[gh_fc0a06a20993]]> </ToUserName>
  <FromUserName> <![CDATA[oZI8Fj040-be6rlDohc6gkoPOQTQ]]> </FromUserName>
  <CreateTime>1472551036</CreateTime>
  <MsgType> <![CDATA[event]]> </MsgType>
  <Event> <![CDATA[user_get_card]]> </Event>
  <CardId> <![CDATA[pZI8Fjwsy5fVPRBeD78J4RmqVvBc]]> </CardId>
  <IsGiveByFriend>0</IsGiveByFriend>
  <UserCardCode> <![CDATA[226009850808]]> </UserCardCode>
  <FriendUserName> <![CDATA[]]> </FriendUserName>
  <OuterId>0</OuterId>
  <OldUserCardCode> <![CDATA[]]> </OldUserCardCode>
  <OuterStr> <![CDATA[12b]]> </OuterStr>
  <IsRestoreMemberCard>0</IsRestoreMemberCard>
  <IsRecommendByFriend>0</IsRecommendByFriend>
</xml>"#;

    const SUBMIT: &str = r#"<xml>
  <ToUserName> <![CDATA[gh_3fcea188bf78]]></ToUserName>
  <FromUserName><![CDATA[obLatjlaNQKb8FqOvt1M1x1lIBFE]]></FromUserName>
  <CreateTime>1432668700</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[submit_membercard_user_info]]></Event>
  <CardId><![CDATA[pbLatjtZ7v1BG_ZnTjbW85GYc_E8]]></CardId>
  <UserCardCode><![CDATA[018255396048]]></UserCardCode>
</xml>"#;

    const UPDATE: &str = "<xml><ToUserName><![CDATA[gh_9e1765b5568e]]></ToUserName><FromUserName><![CDATA[ojZ8YtyVyr30HheH3CM73y7h4jJE]]></FromUserName><CreateTime>1445507140</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[update_member_card]]></Event><CardId><![CDATA[pjZ8Ytx-nwvpCRyQneH3Ncmh6N94]]></CardId><UserCardCode><![CDATA[485027611252]]></UserCardCode><ModifyBonus>3</ModifyBonus><ModifyBalance>0</ModifyBalance></xml>";

    const PASS: &str = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[FromUser]]></FromUserName><CreateTime>123456789</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[card_pass_check]]></Event><CardId><![CDATA[4ZzRm6UaOiyO1pZ1lnEXjCbsUN1s]]></CardId><RefuseReason><![CDATA[非法代制]]></RefuseReason></xml>";

    #[test]
    fn official_user_get_card_sample_parses_with_trimmed_cdata() {
        let Event::UserGetCard(e) = Event::parse(USER_GET_CARD).unwrap() else {
            panic!("wrong variant");
        };
        assert_eq!(e.header.to_user_name, "gh_fc0a06a20993");
        assert_eq!(e.header.from_user_name, "oZI8Fj040-be6rlDohc6gkoPOQTQ");
        assert_eq!(e.header.create_time, 1_472_551_036);
        assert_eq!(e.header.msg_type, "event");
        assert_eq!(e.header.event, "user_get_card");
        assert_eq!(e.card_id, "pZI8Fjwsy5fVPRBeD78J4RmqVvBc");
        assert_eq!(e.user_card_code, "226009850808");
        assert_eq!(e.outer_str.as_deref(), Some("12b"));
        assert_eq!(e.outer_id, Some(0));
        assert!(!e.is_give_by_friend);
        assert!(!e.is_restore_member_card);
        assert!(!e.is_recommend_by_friend);
        assert_eq!(e.friend_user_name, None);
        assert_eq!(e.old_user_card_code, None);
        assert_eq!(e.union_id, None);
    }

    #[test]
    fn gifted_restored_card_with_union_id_parses() {
        let xml = USER_GET_CARD
            .replace("<IsGiveByFriend>0", "<IsGiveByFriend>1")
            .replace("<IsRestoreMemberCard>0", "<IsRestoreMemberCard>1")
            .replace("<FriendUserName> <![CDATA[]]>", "<FriendUserName><![CDATA[oFriend]]>")
            .replace("<OldUserCardCode> <![CDATA[]]>", "<OldUserCardCode><![CDATA[111122223333]]>")
            .replace("</xml>", "<UnionId><![CDATA[uUnion]]></UnionId><SourceScene><![CDATA[SOURCE_SCENE_QRCODE]]></SourceScene></xml>");
        let Event::UserGetCard(e) = Event::parse(&xml).unwrap() else {
            panic!("wrong variant");
        };
        assert!(e.is_give_by_friend);
        assert!(e.is_restore_member_card);
        assert_eq!(e.friend_user_name.as_deref(), Some("oFriend"));
        assert_eq!(e.old_user_card_code.as_deref(), Some("111122223333"));
        assert_eq!(e.union_id.as_deref(), Some("uUnion"));
        assert_eq!(e.source_scene.as_deref(), Some("SOURCE_SCENE_QRCODE"));
    }

    #[test]
    fn official_submit_sample_parses() {
        let ev = Event::parse(SUBMIT).unwrap();
        assert_eq!(
            ev,
            Event::SubmitMembercardUserInfo {
                header: EventHeader {
                    to_user_name: "gh_3fcea188bf78".into(),
                    from_user_name: "obLatjlaNQKb8FqOvt1M1x1lIBFE".into(),
                    create_time: 1_432_668_700,
                    msg_type: "event".into(),
                    event: "submit_membercard_user_info".into(),
                },
                card_id: "pbLatjtZ7v1BG_ZnTjbW85GYc_E8".into(),
                user_card_code: "018255396048".into(),
            }
        );
    }

    #[test]
    fn update_member_card_carries_bonus_and_balance_deltas() {
        match Event::parse(UPDATE).unwrap() {
            Event::UpdateMemberCard {
                card_id,
                user_card_code,
                modify_bonus,
                modify_balance,
                ..
            } => {
                assert_eq!(card_id, "pjZ8Ytx-nwvpCRyQneH3Ncmh6N94");
                assert_eq!(user_card_code, "485027611252");
                assert_eq!(modify_bonus, 3);
                assert_eq!(modify_balance, 0);
            }
            other => panic!("wrong variant {other:?}"),
        }
        let negative = UPDATE.replace("<ModifyBonus>3", "<ModifyBonus>-30");
        let Event::UpdateMemberCard { modify_bonus, .. } = Event::parse(&negative).unwrap() else {
            panic!("wrong variant");
        };
        assert_eq!(modify_bonus, -30);
        let float = UPDATE.replace("<ModifyBalance>0", "<ModifyBalance>12.0");
        let Event::UpdateMemberCard { modify_balance, .. } = Event::parse(&float).unwrap() else {
            panic!("wrong variant");
        };
        assert_eq!(modify_balance, 12);
        let garbage = UPDATE.replace("<ModifyBonus>3", "<ModifyBonus>three");
        assert!(matches!(
            Event::parse(&garbage),
            Err(EventError::InvalidField {
                field: "ModifyBonus",
                ..
            })
        ));
    }

    #[test]
    fn review_events_keep_the_refuse_reason() {
        let Event::CardPassCheck {
            card_id,
            refuse_reason,
            ..
        } = Event::parse(PASS).unwrap()
        else {
            panic!("wrong variant");
        };
        assert_eq!(card_id, "4ZzRm6UaOiyO1pZ1lnEXjCbsUN1s");
        assert_eq!(refuse_reason.as_deref(), Some("非法代制"));
        let not_pass = PASS.replace("card_pass_check", "card_not_pass_check");
        assert!(matches!(
            Event::parse(&not_pass).unwrap(),
            Event::CardNotPassCheck { refuse_reason: Some(r), .. } if r == "非法代制"
        ));
    }

    fn with_event(event: &str, extra: &str) -> String {
        format!("<xml><ToUserName><![CDATA[gh_a]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{extra}</xml>")
    }

    #[test]
    fn every_card_event_maps_to_its_variant() {
        let card = "<CardId><![CDATA[pCard]]></CardId><UserCardCode><![CDATA[123456789012]]></UserCardCode>";
        type Check = fn(&Event) -> bool;
        let cases: [(&str, Check); 8] = [
            ("user_del_card", |e| matches!(e, Event::UserDelCard { .. })),
            ("user_view_card", |e| {
                matches!(e, Event::UserViewCard { .. })
            }),
            ("user_enter_session_from_card", |e| {
                matches!(e, Event::UserEnterSessionFromCard { .. })
            }),
            ("user_gifting_card", |e| {
                matches!(e, Event::UserGiftingCard { .. })
            }),
            ("user_pay_from_pay_cell", |e| {
                matches!(e, Event::UserPayFromPayCell { .. })
            }),
            ("user_consume_card", |e| {
                matches!(e, Event::UserConsumeCard(_))
            }),
            ("card_sku_remind", |e| {
                matches!(e, Event::CardSkuRemind { .. })
            }),
            ("card_pay_order", |e| {
                matches!(e, Event::CardPayOrder { .. })
            }),
        ];
        for (name, check) in cases {
            let ev = Event::parse(&with_event(name, card)).unwrap();
            assert!(check(&ev), "{name} parsed as {ev:?}");
            assert_eq!(ev.name(), name);
        }
    }

    #[test]
    fn consume_and_view_events_keep_their_extra_fields() {
        let xml = with_event("user_consume_card", "<CardId><![CDATA[pCard]]></CardId><UserCardCode><![CDATA[1]]></UserCardCode><ConsumeSource><![CDATA[FROM_API]]></ConsumeSource><LocationName><![CDATA[店]]></LocationName><StaffOpenId><![CDATA[oStaff]]></StaffOpenId><OuterStr><![CDATA[ch1]]></OuterStr>");
        let Event::UserConsumeCard(e) = Event::parse(&xml).unwrap() else {
            panic!("wrong variant");
        };
        assert_eq!(e.consume_source.as_deref(), Some("FROM_API"));
        assert_eq!(e.location_name.as_deref(), Some("店"));
        assert_eq!(e.staff_open_id.as_deref(), Some("oStaff"));
        assert_eq!(e.outer_str.as_deref(), Some("ch1"));
        let view = with_event("user_view_card", "<CardId><![CDATA[pCard]]></CardId><UserCardCode><![CDATA[1]]></UserCardCode><OuterStr><![CDATA[v]]></OuterStr>");
        assert!(matches!(
            Event::parse(&view).unwrap(),
            Event::UserViewCard { outer_str: Some(s), .. } if s == "v"
        ));
    }

    #[test]
    fn unknown_events_and_plain_messages_are_kept_raw() {
        let xml = with_event("user_scan_product", "<KeyStr><![CDATA[x]]></KeyStr>");
        match Event::parse(&xml).unwrap() {
            Event::Unknown { event, raw, header } => {
                assert_eq!(event, "user_scan_product");
                assert_eq!(raw, xml);
                assert_eq!(header.from_user_name, "oUser");
            }
            other => panic!("wrong variant {other:?}"),
        }
        let text = "<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>5</MsgId></xml>";
        assert!(
            matches!(Event::parse(text).unwrap(), Event::Unknown { event, .. } if event.is_empty())
        );
    }

    #[test]
    fn missing_required_fields_are_typed_errors() {
        let no_code = SUBMIT.replace("<UserCardCode><![CDATA[018255396048]]></UserCardCode>", "");
        assert_eq!(
            Event::parse(&no_code),
            Err(EventError::MissingField("UserCardCode"))
        );
        let no_from = SUBMIT.replace(
            "<FromUserName><![CDATA[obLatjlaNQKb8FqOvt1M1x1lIBFE]]></FromUserName>",
            "",
        );
        assert_eq!(
            Event::parse(&no_from),
            Err(EventError::MissingField("FromUserName"))
        );
        let bad_time = SUBMIT.replace("1432668700", "yesterday");
        assert!(matches!(
            Event::parse(&bad_time),
            Err(EventError::InvalidField {
                field: "CreateTime",
                ..
            })
        ));
    }

    #[test]
    fn doctype_and_entity_declarations_are_refused() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><ToUserName>&xxe;</ToUserName></xml>"#;
        assert_eq!(Event::parse(xxe), Err(EventError::DoctypeForbidden));
        let lower = "<!doctype xml><xml></xml>";
        assert_eq!(parse_fields(lower), Err(EventError::DoctypeForbidden));
        let entity_only = "<xml><!ENTITY a \"b\"></xml>";
        assert_eq!(parse_fields(entity_only), Err(EventError::DoctypeForbidden));
    }

    #[test]
    fn oversized_and_deep_bodies_are_refused() {
        let big = format!("<xml><A>{}</A></xml>", "a".repeat(MAX_XML_BYTES));
        assert!(matches!(parse_fields(&big), Err(EventError::TooLarge(_))));
        let deep = format!(
            "<xml>{}{}</xml>",
            "<a>".repeat(MAX_XML_DEPTH),
            "</a>".repeat(MAX_XML_DEPTH)
        );
        assert_eq!(parse_fields(&deep), Err(EventError::TooDeep));
        let ok_depth = MAX_XML_DEPTH - 1;
        let fine = format!(
            "<xml>{}{}</xml>",
            "<a>".repeat(ok_depth),
            "</a>".repeat(ok_depth)
        );
        assert!(parse_fields(&fine).is_ok());
    }

    #[test]
    fn malformed_xml_is_an_error() {
        for bad in [
            "",
            "not xml",
            "<xml><A>1</B></xml>",
            "<xml><A>1</A>",
            "<root><A>1</A></root>",
            "<xml></xml><xml></xml>",
            "<xml><A>&unknown;</A></xml>",
        ] {
            assert!(parse_fields(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn escaped_text_and_empty_elements_are_read() {
        let f = parse_fields("<xml><A>a &amp; b</A><B/><C> <![CDATA[x]]><![CDATA[y]]> </C></xml>")
            .unwrap();
        assert_eq!(f.get("A"), Some("a & b"));
        assert_eq!(f.get("B"), Some(""));
        assert_eq!(f.non_empty("B"), None);
        assert_eq!(f.get("C"), Some("xy"));
    }

    #[test]
    fn dedupe_key_separates_two_events_of_one_user_in_one_second() {
        let get = Event::parse(USER_GET_CARD).unwrap();
        assert_eq!(
            get.dedupe_key(),
            "oZI8Fj040-be6rlDohc6gkoPOQTQ|1472551036|user_get_card|pZI8Fjwsy5fVPRBeD78J4RmqVvBc|226009850808"
        );
        let other_code =
            Event::parse(&USER_GET_CARD.replace("226009850808", "226009850809")).unwrap();
        assert_ne!(get.dedupe_key(), other_code.dedupe_key());
        let redelivered = Event::parse(USER_GET_CARD).unwrap();
        assert_eq!(get.dedupe_key(), redelivered.dedupe_key());
        let pass = Event::parse(PASS).unwrap();
        assert_eq!(
            pass.dedupe_key(),
            "FromUser|123456789|card_pass_check|4ZzRm6UaOiyO1pZ1lnEXjCbsUN1s|"
        );
    }

    #[test]
    fn to_xml_round_trips_every_sample() {
        let pay_order = with_event("card_pay_order", "<OrderId><![CDATA[o1]]></OrderId><Status><![CDATA[ORDER_STATUS_FINANCE_SUCC]]></Status><PayCoinCount>3</PayCoinCount>");
        for xml in [USER_GET_CARD, SUBMIT, UPDATE, PASS, pay_order.as_str()] {
            let ev = Event::parse(xml).unwrap();
            let written = ev.to_xml();
            assert_eq!(Event::parse(&written).unwrap(), ev, "{written}");
        }
    }

    #[test]
    fn to_xml_of_the_submit_event_matches_vector_c_plaintext() {
        let written = Event::parse(SUBMIT).unwrap().to_xml();
        assert_eq!(written, "<xml><ToUserName><![CDATA[gh_3fcea188bf78]]></ToUserName><FromUserName><![CDATA[obLatjlaNQKb8FqOvt1M1x1lIBFE]]></FromUserName><CreateTime>1432668700</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[submit_membercard_user_info]]></Event><CardId><![CDATA[pbLatjtZ7v1BG_ZnTjbW85GYc_E8]]></CardId><UserCardCode><![CDATA[018255396048]]></UserCardCode></xml>");
    }

    #[test]
    fn cdata_terminators_inside_values_survive_writing() {
        let mut ev = Event::parse(PASS).unwrap();
        if let Event::CardPassCheck { refuse_reason, .. } = &mut ev {
            *refuse_reason = Some("a]]>b<c>".into());
        }
        assert_eq!(Event::parse(&ev.to_xml()).unwrap(), ev);
    }

    const VECTOR_C: &str = "jn1L23DB+6ELqJ+6bruv2y+lXOr1Z9ql+KhajIuf4TYXeeAZLVM5kXN6ks165qLRY4VzC6TYt1wQLf6dCG4y9cw5dsZl0+oPOBNl7mLGYwuth7/eFBpMYDXaWBgKW0zd6COiLpmD+PGL1bJwbItZ73HEK9BJ44ccOb+TdrGjfCs4NuIRT29xpORvFmMcgfgTbDu6+E8yEOOWmyY5Da3IC1pGAci47DzjXnarXa+mMfzhnZhIbC0AOd6EFTJTN5DupFGuftJ/fwl2Qt+vvxYWD8FUsed8e8V/OWhWafE06INA2EOV0g1hkrotqPlWJB/kfgIpWiV39J3KyuEbaBo3jcj5AhyaMyS2GU0EmBtWgpR9uGE42DULGgB2yIGo4iOT+3te/ESQrU4llXjAhQ7HlmntIzWp40PV23rKb7z3jVS2YpRNcp+c6YarcnogMLZS8lUgXSmcw6YhkAhU6FyRc6quUbj+H68bgUfm33TZeGriW1AtpPGW1tczqqWjtrW4rGR0N4hNOUMikhjn83zcIrSySYaX2jltpu6bsrcKuYQ=";

    #[test]
    fn safe_mode_envelope_verifies_decrypts_and_parses_vector_c() {
        let crypt = MessageCrypt::new(
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "wxb11529c136998cb6",
        )
        .unwrap();
        let body = format!("<xml><ToUserName><![CDATA[gh_3fcea188bf78]]></ToUserName><Encrypt><![CDATA[{VECTOR_C}]]></Encrypt></xml>");
        let env = EncryptedEnvelope::parse(&body).unwrap();
        assert_eq!(env.to_user_name.as_deref(), Some("gh_3fcea188bf78"));
        assert_eq!(env.encrypt, VECTOR_C);
        assert_eq!(env.to_xml(), body);
        let sig = "08f51abc0b2fa752d7affdba9c19251f3909cefa";
        let ev =
            Event::parse_encrypted(&body, &crypt, "pamtest", "1409304348", "xxxxxx", sig).unwrap();
        assert_eq!(ev, Event::parse(SUBMIT).unwrap());
        assert_eq!(
            Event::parse_encrypted(&body, &crypt, "pamtest", "1409304349", "xxxxxx", sig),
            Err(EventError::BadSignature)
        );
        let other_app =
            MessageCrypt::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxother").unwrap();
        assert!(matches!(
            Event::parse_encrypted(&body, &other_app, "pamtest", "1409304348", "xxxxxx", sig),
            Err(EventError::Crypto(
                crypto::CryptoError::AppIdMismatch { .. }
            ))
        ));
        assert_eq!(
            EncryptedEnvelope::parse("<xml><ToUserName>a</ToUserName></xml>"),
            Err(EventError::MissingField("Encrypt"))
        );
    }

    #[test]
    fn sealed_envelope_and_reply_are_readable() {
        let crypt = MessageCrypt::new(
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "wxb11529c136998cb6",
        )
        .unwrap();
        let env = EncryptedEnvelope::seal(&crypt, "gh_x", SUBMIT);
        let body = env.to_xml();
        let sig = crypto::msg_signature("tok", "1", "n", &env.encrypt);
        let ev = Event::parse_encrypted(&body, &crypt, "tok", "1", "n", &sig).unwrap();
        assert_eq!(ev, Event::parse(SUBMIT).unwrap());
        let reply = encrypted_reply_xml("tok", &env.encrypt, "1411525903", "461056294");
        let f = parse_fields(&reply).unwrap();
        assert_eq!(f.get("Encrypt"), Some(env.encrypt.as_str()));
        assert_eq!(f.get("TimeStamp"), Some("1411525903"));
        assert_eq!(f.get("Nonce"), Some("461056294"));
        assert_eq!(
            f.get("MsgSignature").map(str::to_owned),
            Some(crypto::msg_signature(
                "tok",
                "1411525903",
                "461056294",
                &env.encrypt
            ))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,400}") {
            let _ = Event::parse(&s);
            let _ = EncryptedEnvelope::parse(&s);
        }

        #[test]
        fn arbitrary_xml_like_input_never_panics(s in "(<xml>|</xml>|<A>|</A>|<!\\[CDATA\\[|\\]\\]>|&amp;|&|[a-z0-9 ]){0,60}") {
            let _ = parse_fields(&s);
        }

        #[test]
        fn any_text_values_round_trip_through_to_xml(
            from in "[a-zA-Z0-9_-]{1,28}",
            outer in "\\PC{1,20}",
            time in 0i64..4_000_000_000,
        ) {
            let ev = Event::UserViewCard {
                header: EventHeader {
                    to_user_name: "gh_a".into(),
                    from_user_name: from,
                    create_time: time,
                    msg_type: "event".into(),
                    event: "user_view_card".into(),
                },
                card_id: "pCard".into(),
                user_card_code: "123".into(),
                outer_str: Some(outer.trim().to_owned()).filter(|s| !s.is_empty()),
            };
            prop_assert_eq!(Event::parse(&ev.to_xml()).unwrap(), ev);
        }
    }
}
