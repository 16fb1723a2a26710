//! What is wrong with a form an admin filled in, field by field. The rules live next to the thing they
//! check (a card face, an activation form, a ledger adjustment); the admin only says each problem in
//! the admin's language, next to its field.

use std::collections::BTreeMap;

use crate::refusal::Refusal;

/// One thing wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Empty, but required.
    Required,
    /// Longer than WeChat takes, in characters (not bytes).
    TooLong {
        /// The most characters allowed.
        max: usize,
        /// The characters given.
        actual: usize,
    },
    /// Not an http(s) URL.
    NotUrl,
    /// A colour outside WeChat's palette.
    NotInPalette,
    /// No logo uploaded.
    NoLogo,
    /// A welcome bonus that is not a whole number from 0 to 100 000 000.
    WelcomeBonus,
    /// A membership prefix that is not at most 8 letters and digits.
    MembershipPrefix,
    /// No (known) account or card chosen.
    NoAccount,
    /// A real account's card needs Kaika's public address for its activation page.
    NoPublicUrl,
    /// A points-rule number outside 0 to 100 000 000.
    Quantity,
    /// A discount outside 0 to 99 percent.
    Discount,
    /// Too many free-text questions in one part of the activation form.
    TooManyQuestions {
        /// The most allowed.
        max: usize,
        /// The number given.
        actual: usize,
    },
    /// Too many choice questions in one part of the activation form.
    TooManyChoiceQuestions {
        /// The most allowed.
        max: usize,
        /// The number given.
        actual: usize,
    },
    /// A choice question without choices.
    NoChoices,
    /// A question kind WeChat does not know.
    QuestionKind,
    /// A link with text but no URL.
    LinkUrlMissing,
    /// A link with a URL but no text.
    LinkTextMissing,
    /// An outer_str that is not 1–32 letters, digits, `_` or `-`.
    OuterStr,
    /// The card already has (or had) a channel with this outer_str.
    ChannelExists,
    /// An amount that is not above 0.
    Amount,
    /// An amount over the per-entry limit.
    AmountTooLarge,
    /// A ledger entry without a note.
    NoNote,
    /// WeChat's own rule, as its client words it.
    Wechat(String),
    /// A password shorter than the minimum.
    WeakPassword {
        /// The fewest characters allowed.
        min: usize,
    },
    /// A mini-program's AppID without its AppSecret, or the other way round.
    MiniProgramHalf,
    /// The official account was added already.
    AccountExists,
    /// An API key with no scope.
    NoScopes,
    /// An API key's name that is not 1 to 64 characters without control characters.
    KeyName,
    /// Another admin has this username.
    AdminExists,
    /// A rule of the domain, in its own words.
    Invalid(String),
    /// A refusal of the domain (its sentence is at `errors.<code>`).
    Refused(Refusal),
}

/// The problems of a form, by field name (one per field; a later one replaces an earlier one).
pub type Problems = BTreeMap<String, Problem>;

/// Checks a text against a limit in characters, as WeChat counts them; records the problem under
/// `field`.
pub fn check_text(problems: &mut Problems, field: &str, value: &str, max: usize, required: bool) {
    let len = value.chars().count();
    if required && len == 0 {
        problems.insert(field.to_owned(), Problem::Required);
    } else if len > max {
        problems.insert(field.to_owned(), Problem::TooLong { max, actual: len });
    }
}

/// Whether `text` is an http(s) URL with a host.
pub fn is_http_url(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https")
            && !rest.is_empty()
            && !rest.contains(char::is_whitespace)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_limits_count_characters_not_bytes() {
        let mut problems = Problems::new();
        check_text(&mut problems, "title", "会员卡会员卡会员卡", 9, true);
        assert!(problems.is_empty());
        check_text(&mut problems, "title", "会员卡会员卡会员卡卡", 9, true);
        assert_eq!(
            problems.get("title"),
            Some(&Problem::TooLong { max: 9, actual: 10 })
        );
    }

    #[test]
    fn only_http_urls_with_a_host_pass() {
        assert!(is_http_url("https://example.com/a"));
        assert!(!is_http_url("ftp://example.com"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("https://a b"));
    }
}
