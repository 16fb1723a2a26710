//! Every catalogue key the templates and handlers use exists in both languages: a missing key would
//! show as the key itself on the page.

#![expect(
    clippy::unwrap_used,
    reason = "test: a failure must stop the test at once"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kaika_admin::i18n::{keys, Lang};

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// The first string literal after each `marker` in `text` (`.t("card.title")` → `card.title`).
fn literals_after(text: &str, marker: &str) -> Vec<String> {
    text.match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            let end = rest.find('"')?;
            Some(rest[..end].to_owned())
        })
        .collect()
}

/// Keys written literally: `t("…")`, `fmt("…"`, the prefixes of `tv("…", …)` (checked as sections)
/// and the flash messages of `?done=…` redirects.
fn used_keys() -> (BTreeSet<String>, BTreeSet<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    files(&root.join("templates"), "html", &mut paths);
    files(&root.join("templates"), "svg", &mut paths);
    files(&root.join("src"), "rs", &mut paths);
    let mut keys = BTreeSet::new();
    let mut sections = BTreeSet::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        for marker in [".t(\"", ".fmt(\"", "tr.t(&\""] {
            keys.extend(
                literals_after(&text, marker)
                    .into_iter()
                    .filter(|k| !k.contains('{')),
            );
        }
        sections.extend(literals_after(&text, ".tv(\""));
        for (at, _) in text.match_indices("done=") {
            let key: String = text[at + 5..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !key.is_empty() && key != "done" {
                keys.insert(format!("flash.{key}"));
            }
        }
    }
    // Keys built at run time from a field name.
    for field in ["logo", "background"] {
        for what in ["size", "type"] {
            keys.insert(format!("card.err_{field}_{what}"));
        }
    }
    (keys, sections)
}

#[test]
fn every_key_used_in_templates_and_handlers_is_in_both_catalogues() {
    let (used, sections) = used_keys();
    assert!(used.len() > 200, "too few keys found: {}", used.len());
    for lang in [Lang::Zh, Lang::En] {
        let catalogue: BTreeSet<String> = keys(lang).into_iter().collect();
        let missing: Vec<_> = used.iter().filter(|k| !catalogue.contains(*k)).collect();
        assert!(missing.is_empty(), "missing in {lang:?}: {missing:?}");
        let missing_sections: Vec<_> = sections
            .iter()
            .filter(|s| !catalogue.iter().any(|k| k.starts_with(&format!("{s}."))))
            .collect();
        assert!(
            missing_sections.is_empty(),
            "sections missing in {lang:?}: {missing_sections:?}"
        );
    }
}

#[test]
fn the_key_scanner_finds_keys_in_template_syntax() {
    let text = r#"{{ chrome.t("nav.cards") }} {{ chrome.tv("role", r) }} admin.tr.fmt("err.too_long", &[]) see_other("/admin?done=card_saved")"#;
    assert_eq!(literals_after(text, ".t(\""), vec!["nav.cards"]);
    assert_eq!(literals_after(text, ".tv(\""), vec!["role"]);
    assert_eq!(literals_after(text, ".fmt(\""), vec!["err.too_long"]);
}
