//! Translations: one catalogue per language (`i18n/zh.toml`, `i18n/en.toml`), compiled into the binary.
//! Chinese is the default; the `kaika_lang` cookie switches to English.

use std::collections::HashMap;
use std::sync::LazyLock;

/// The cookie that remembers the language.
pub const LANG_COOKIE: &str = "kaika_lang";

/// A language of the admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// 简体中文 (default).
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// `zh` or `en`; anything else is Chinese.
    pub fn parse(code: &str) -> Self {
        if code == "en" {
            Self::En
        } else {
            Self::Zh
        }
    }

    /// The code, also used as the `lang` attribute.
    pub fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    /// The cookie value.
    pub fn cookie_value(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }
}

fn parse_catalogue(text: &str) -> HashMap<String, String> {
    let table: toml::Table = text.parse().unwrap_or_default();
    let mut out = HashMap::new();
    flatten("", &table, &mut out);
    out
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (key, value) in table {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&full, inner, out),
            toml::Value::String(s) => {
                out.insert(full, s.clone());
            }
            other => {
                out.insert(full, other.to_string());
            }
        }
    }
}

static ZH: LazyLock<HashMap<String, String>> =
    LazyLock::new(|| parse_catalogue(include_str!("../i18n/zh.toml")));
static EN: LazyLock<HashMap<String, String>> =
    LazyLock::new(|| parse_catalogue(include_str!("../i18n/en.toml")));

/// The translator of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tr {
    /// Its language.
    pub lang: Lang,
}

impl Tr {
    /// A translator for `lang`.
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    fn catalogue(self) -> &'static HashMap<String, String> {
        match self.lang {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }

    /// The text of `key`; the key itself when missing (a test keeps both catalogues complete).
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        match self.catalogue().get(key) {
            Some(text) => text.as_str(),
            None => key,
        }
    }

    /// The text of `key` with `{name}` placeholders filled.
    pub fn fmt(&self, key: &str, args: &[(&str, String)]) -> String {
        let mut text = self.t(key).to_owned();
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }
}

/// Every key of a catalogue (for the completeness test).
pub fn keys(lang: Lang) -> Vec<String> {
    let mut keys: Vec<String> = Tr::new(lang).catalogue().keys().cloned().collect();
    keys.sort();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_sentence_in_both_languages() {
        for lang in [Lang::Zh, Lang::En] {
            let keys = keys(lang);
            for refusal in kaika_core::Refusal::ALL {
                let key = refusal.i18n_key();
                assert!(keys.contains(&key), "{lang:?} lacks {key}");
            }
        }
    }

    #[test]
    fn every_audit_action_and_push_type_has_a_label_in_both_languages() {
        for lang in [Lang::Zh, Lang::En] {
            let keys = keys(lang);
            let wanted = kaika_core::audit::ACTIONS
                .iter()
                .map(|code| format!("audit_action.{code}"))
                .chain(
                    kaika_core::events::HANDLED_EVENTS
                        .iter()
                        .chain(&["other"])
                        .map(|name| format!("wechat_event.{name}")),
                );
            for key in wanted {
                assert!(keys.contains(&key), "{lang:?} lacks {key}");
            }
        }
        // The Chinese labels are Chinese: no code shows through.
        let tr = Tr::new(Lang::Zh);
        for code in kaika_core::audit::ACTIONS {
            let label = tr.t(&format!("audit_action.{code}")).to_owned();
            assert!(
                !label.contains('.') && !label.contains('_'),
                "{code}: {label}"
            );
        }
    }

    #[test]
    fn both_catalogues_have_the_same_keys() {
        let zh = keys(Lang::Zh);
        let en = keys(Lang::En);
        assert!(
            zh.len() > 100,
            "the Chinese catalogue did not load: {}",
            zh.len()
        );
        let missing_en: Vec<_> = zh.iter().filter(|k| !en.contains(k)).collect();
        let missing_zh: Vec<_> = en.iter().filter(|k| !zh.contains(k)).collect();
        assert!(missing_en.is_empty(), "missing in en.toml: {missing_en:?}");
        assert!(missing_zh.is_empty(), "missing in zh.toml: {missing_zh:?}");
    }

    #[test]
    fn placeholders_are_filled() {
        let tr = Tr::new(Lang::En);
        let text = tr.fmt(
            "err.too_long",
            &[("max", "9".into()), ("actual", "12".into())],
        );
        assert!(text.contains('9') && text.contains("12"), "{text}");
    }
}
