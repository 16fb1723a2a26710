//! Every reason the domain refuses a request, in one table: the stable code clients switch on, the
//! HTTP status the server answers with, whether a member's mini-program can meet it, and the key of its
//! translated sentence.
//!
//! The codes are part of the public API (the OpenAPI document lists them as an enum and the
//! mini-program has a sentence for each member-facing one), so a code is never renamed.

macro_rules! refusals {
    ($($(#[doc = $doc:literal])+ $variant:ident = $code:literal, $status:literal, $audience:ident;)+) => {
        /// Why the domain refused a request.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Refusal {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl Refusal {
            /// Every refusal, in the table's order.
            pub const ALL: &'static [Refusal] = &[$(Refusal::$variant,)+];

            /// The stable machine code, e.g. `ticket_expired`.
            pub const fn code(self) -> &'static str {
                match self {
                    $(Refusal::$variant => $code,)+
                }
            }

            /// The HTTP status the server answers this refusal with.
            pub const fn http_status(self) -> u16 {
                match self {
                    $(Refusal::$variant => $status,)+
                }
            }

            /// Who can meet this refusal.
            pub const fn audience(self) -> Audience {
                match self {
                    $(Refusal::$variant => Audience::$audience,)+
                }
            }
        }
    };
}

/// Who a refusal is answered to, which decides who must have a sentence for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The member-facing API (`/api/v1` sessions, activations, `me`): the mini-program shows a sentence.
    Member,
    /// The integration API and the admin.
    Staff,
    /// WeChat's callback deliveries.
    Callback,
}

refusals! {
    /// The `wx.login` code is malformed, invalid or used.
    InvalidLoginCode = "invalid_login_code", 400, Member;
    /// The `activate_ticket` is malformed or WeChat does not know it.
    TicketInvalid = "ticket_invalid", 422, Member;
    /// WeChat says the `activate_ticket` has expired.
    TicketExpired = "ticket_expired", 422, Member;
    /// The ticket was submitted by another member.
    TicketConflict = "ticket_conflict", 409, Member;
    /// The encrypted card code is malformed or WeChat cannot decrypt or use it.
    CodeInvalid = "code_invalid", 422, Member;
    /// WeChat says the member's card cannot be used (deleted, unavailable).
    CardUnavailable = "card_unavailable", 422, Member;
    /// No such card (for this mini-program).
    CardNotFound = "card_not_found", 404, Member;
    /// The card has not passed WeChat's review.
    CardNotApproved = "card_not_approved", 409, Member;
    /// WeChat refuses the card's own settings; only the merchant can fix them.
    CardMisconfigured = "card_misconfigured", 502, Member;
    /// WeChat refused the activation for a reason retrying cannot fix.
    ActivateRefused = "activate_refused", 422, Member;
    /// The activation failed for a reason that was not recorded.
    ActivationFailed = "activation_failed", 422, Member;
    /// WeChat kept failing; the activation gave up retrying.
    WechatUnavailable = "wechat_unavailable", 503, Member;
    /// No channel with this `outer_str` on the card.
    ChannelNotFound = "channel_not_found", 404, Member;
    /// The channel was archived.
    ChannelArchived = "channel_archived", 410, Member;
    /// The account has no mini-program AppID and secret configured.
    MiniProgramNotConfigured = "mini_program_not_configured", 409, Member;
    /// The member has deleted the card or never activated it.
    MemberNotActive = "member_not_active", 409, Staff;
    /// The entry was reversed already.
    AlreadyReversed = "already_reversed", 409, Staff;
    /// The card does not keep a stored-value balance.
    BalanceNotSupported = "balance_not_supported", 422, Staff;
    /// A debit larger than the member's points.
    InsufficientPoints = "insufficient_points", 422, Staff;
    /// A debit larger than the member's balance.
    InsufficientBalance = "insufficient_balance", 422, Staff;
    /// The resulting total would exceed what a card can show.
    TotalTooLarge = "total_too_large", 422, Staff;
    /// A reversal cannot itself be reversed.
    EntryIsReversal = "entry_is_reversal", 422, Staff;
    /// One entry may not change a total by this much.
    AmountTooLarge = "amount_too_large", 422, Staff;
    /// The event is being applied right now.
    EventInProgress = "event_in_progress", 409, Staff;
    /// The event names a card Kaika does not have.
    UnknownCard = "unknown_card", 422, Staff;
    /// A required query parameter is missing.
    MissingParameter = "missing_parameter", 400, Callback;
    /// The push was encrypted for another AppID.
    AppIdMismatch = "app_id_mismatch", 403, Callback;
    /// The encrypted push does not decrypt with the account's key.
    DecryptFailed = "decrypt_failed", 400, Callback;
    /// The signature does not match the account's token.
    InvalidSignature = "invalid_signature", 401, Callback;
    /// The timestamp is outside the accepted window.
    StaleTimestamp = "stale_timestamp", 400, Callback;
    /// The nonce is malformed.
    InvalidNonce = "invalid_nonce", 400, Callback;
    /// The nonce was seen already within the window.
    ReplayedNonce = "replayed_nonce", 401, Callback;
    /// The push is plain while the account expects encryption, or the other way round.
    ModeMismatch = "mode_mismatch", 403, Callback;
    /// The body is larger than a push can be.
    BodyTooLarge = "body_too_large", 413, Callback;
    /// The body is not UTF-8.
    InvalidBody = "invalid_body", 400, Callback;
    /// The XML is not an event Kaika understands.
    InvalidEvent = "invalid_event", 400, Callback;
    /// The timestamp is not Unix seconds.
    InvalidTimestamp = "invalid_timestamp", 400, Callback;
    /// The body is not well-formed XML.
    InvalidXml = "invalid_xml", 400, Callback;
}

impl Refusal {
    /// The refusal with this stable code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|refusal| refusal.code() == code)
    }

    /// The key of its sentence in the translation catalogues (`errors.<code>`), the same in the admin
    /// and the mini-program.
    pub fn i18n_key(self) -> String {
        format!("errors.{}", self.code())
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for refusal in Refusal::ALL {
            let code = refusal.code();
            assert!(seen.insert(code), "{code} twice");
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
            assert_eq!(Refusal::from_code(code), Some(*refusal));
            assert!((400..600).contains(&refusal.http_status()), "{code}");
        }
        assert_eq!(Refusal::from_code("no_such_code"), None);
    }
}
