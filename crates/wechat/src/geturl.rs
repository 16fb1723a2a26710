//! Turning the `card/membercard/activate/geturl` URL into the card-opening component's `extraData`
//! (reference §5).
//!
//! The algorithm: drop the fragment, take the query, skip empty segments, split each pair at its
//! **first** `=`, percent-decode each value exactly once and never turn `+` into a space. The values
//! are base64 (`+`, `/`, `=` padding) and must reach the component unchanged.

use serde::{Deserialize, Serialize};

/// The component's fixed AppID ("固定为此 appid，不可改动", reference §6.1).
pub const CARD_COMPONENT_APP_ID: &str = "wxeb490c6f9b154ef9";

/// The `extraData` for the card-opening component, decoded from a geturl URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationParams {
    /// `encrypt_card_id`: base64, with `+` and `/`.
    pub encrypt_card_id: String,
    /// `outer_str`: the channel tag, echoed; empty when the URL has none.
    pub outer_str: String,
    /// `biz`: base64 of the account's bizuin, `=` padding kept.
    pub biz: String,
}

/// Why a geturl URL could not be turned into [`ActivationParams`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetUrlError {
    /// The URL has no `?query`.
    #[error("the activation URL has no query string")]
    NoQuery,
    /// A parameter the component needs is absent or empty.
    #[error("the activation URL has no {0} parameter")]
    MissingParam(&'static str),
    /// A value is not valid percent-encoded UTF-8.
    #[error("parameter {0} is not valid percent-encoded UTF-8")]
    BadEncoding(String),
}

/// Splits a URL's query into decoded `(name, value)` pairs, in order, following the §5 algorithm.
pub fn query_pairs(url: &str) -> Result<Vec<(String, String)>, GetUrlError> {
    let without_fragment = url.split_once('#').map_or(url, |(before, _)| before);
    let (_, query) = without_fragment
        .split_once('?')
        .ok_or(GetUrlError::NoQuery)?;
    let mut pairs = Vec::new();
    for segment in query.split('&').filter(|s| !s.is_empty()) {
        let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
        let name = urlencoding::decode(name)
            .map_err(|_| GetUrlError::BadEncoding(name.to_owned()))?
            .into_owned();
        let value = urlencoding::decode(value)
            .map_err(|_| GetUrlError::BadEncoding(name.clone()))?
            .into_owned();
        pairs.push((name, value));
    }
    Ok(pairs)
}

impl ActivationParams {
    /// Parses the URL returned by `card/membercard/activate/geturl`.
    ///
    /// `encrypt_card_id` and `biz` are required; `outer_str` defaults to empty. The first occurrence
    /// of a repeated parameter wins.
    pub fn from_url(url: &str) -> Result<Self, GetUrlError> {
        let pairs = query_pairs(url)?;
        let find = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let required = |name: &'static str| {
            find(name)
                .filter(|v| !v.is_empty())
                .ok_or(GetUrlError::MissingParam(name))
        };
        Ok(Self {
            encrypt_card_id: required("encrypt_card_id")?,
            outer_str: find("outer_str").unwrap_or_default(),
            biz: required("biz")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use proptest::prelude::*;

    const SAMPLE: &str = "https://mp.weixin.qq.com/bizmall/activatemembercard?action=preshow&&encrypt_card_id=3%2Bm9vVGt9YzgCphZE8Z28dUux7i0jgCUWu32QayFZsscPd7oyXGsHp9HoOjH9ML%2B&outer_str=guide&biz=MzU2ODQzMDM1MQ%3D%3D#wechat_redirect";

    #[test]
    fn the_reference_sample_url_yields_the_documented_extra_data() {
        let p = ActivationParams::from_url(SAMPLE).unwrap();
        assert_eq!(
            p,
            ActivationParams {
                encrypt_card_id: "3+m9vVGt9YzgCphZE8Z28dUux7i0jgCUWu32QayFZsscPd7oyXGsHp9HoOjH9ML+"
                    .into(),
                outer_str: "guide".into(),
                biz: "MzU2ODQzMDM1MQ==".into(),
            }
        );
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"encrypt_card_id":"3+m9vVGt9YzgCphZE8Z28dUux7i0jgCUWu32QayFZsscPd7oyXGsHp9HoOjH9ML+","outer_str":"guide","biz":"MzU2ODQzMDM1MQ=="}"#
        );
        assert_eq!(STANDARD.decode(&p.biz).unwrap(), b"3568430351");
    }

    #[test]
    fn a_literal_plus_stays_a_plus_and_equals_inside_values_survive() {
        let url = "https://x/a?encrypt_card_id=ab+c/d=&biz=MjM5MjAxNzc1NA==&outer_str=a%2Bb";
        let p = ActivationParams::from_url(url).unwrap();
        assert_eq!(p.encrypt_card_id, "ab+c/d=");
        assert_eq!(p.biz, "MjM5MjAxNzc1NA==");
        assert_eq!(p.outer_str, "a+b");
    }

    #[test]
    fn values_are_decoded_exactly_once() {
        let url = "https://x/a?encrypt_card_id=%252B&biz=Yg%3D%3D";
        let p = ActivationParams::from_url(url).unwrap();
        assert_eq!(p.encrypt_card_id, "%2B");
    }

    #[test]
    fn the_fragment_never_reaches_biz() {
        let url = "https://x/a?encrypt_card_id=e&biz=MTI%3D#wechat_redirect";
        assert_eq!(ActivationParams::from_url(url).unwrap().biz, "MTI=");
    }

    #[test]
    fn missing_parameters_and_queries_are_errors() {
        assert_eq!(
            ActivationParams::from_url("https://x/a#q?biz=1"),
            Err(GetUrlError::NoQuery)
        );
        assert_eq!(
            ActivationParams::from_url("https://x/a?biz=1"),
            Err(GetUrlError::MissingParam("encrypt_card_id"))
        );
        assert_eq!(
            ActivationParams::from_url("https://x/a?encrypt_card_id=e&biz="),
            Err(GetUrlError::MissingParam("biz"))
        );
        assert!(matches!(
            ActivationParams::from_url("https://x/a?encrypt_card_id=%FF%FE&biz=1"),
            Err(GetUrlError::BadEncoding(_))
        ));
        let no_outer = ActivationParams::from_url("https://x/a?encrypt_card_id=e&biz=b").unwrap();
        assert_eq!(no_outer.outer_str, "");
    }

    proptest! {
        #[test]
        fn arbitrary_base64_values_survive_the_round_trip(
            card in proptest::collection::vec(any::<u8>(), 1..64),
            biz in proptest::collection::vec(any::<u8>(), 1..16),
            outer in "[a-zA-Z0-9_\\-+/=.~ 中文]{0,20}",
        ) {
            let card_b64 = STANDARD.encode(&card);
            let biz_b64 = STANDARD.encode(&biz);
            let url = format!(
                "https://mp.weixin.qq.com/bizmall/activatemembercard?action=preshow&&encrypt_card_id={}&outer_str={}&biz={}#wechat_redirect",
                urlencoding::encode(&card_b64),
                urlencoding::encode(&outer),
                urlencoding::encode(&biz_b64),
            );
            let p = ActivationParams::from_url(&url).unwrap();
            prop_assert_eq!(&p.encrypt_card_id, &card_b64);
            prop_assert_eq!(&p.biz, &biz_b64);
            prop_assert_eq!(&p.outer_str, &outer);
            prop_assert_eq!(STANDARD.decode(&p.biz).unwrap(), biz);
        }

        #[test]
        fn arbitrary_urls_never_panic(s in "\\PC{0,200}") {
            let _ = ActivationParams::from_url(&s);
        }
    }
}
