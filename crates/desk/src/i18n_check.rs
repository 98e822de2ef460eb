//! The catalogue test: every language has every message, each message has
//! a value, and every message is used by a page. It reads the catalogue
//! files and the desk's sources themselves, so a key added in one place
//! and forgotten in another fails here. Keys built at run time from the
//! model's vocabulary (`kind-…`, `state-…`, `urgency-…`) are enumerated
//! from the model's own lists, so a new request kind, state or urgency
//! without a translation fails too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use custos_model::RequestKind;
use custos_node::app::{CaseState, Urgency};
use fluent_syntax::ast;
use fluent_templates::fluent_bundle::FluentResource;

use crate::i18n::Lang;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` ending in `ext`.
fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// The messages of one language: key → whether it has a value.
fn messages(lang: Lang) -> BTreeMap<String, bool> {
    let mut ftl = Vec::new();
    files(
        &crate_dir().join("locales").join(lang.tag()),
        "ftl",
        &mut ftl,
    );
    assert!(!ftl.is_empty(), "no catalogue for {lang:?}");
    let mut out = BTreeMap::new();
    for file in ftl {
        let text = std::fs::read_to_string(&file).expect("a readable catalogue");
        let resource = FluentResource::try_new(text)
            .unwrap_or_else(|(_, errors)| panic!("{} does not parse: {errors:?}", file.display()));
        for entry in resource.entries() {
            if let ast::Entry::Message(m) = entry {
                let key = m.id.name.to_owned();
                assert!(
                    out.insert(key.clone(), m.value.is_some()).is_none(),
                    "{key} is defined twice in {lang:?}"
                );
            }
        }
    }
    out
}

/// The keys built from the model's vocabulary, by prefix.
fn vocabulary() -> BTreeMap<&'static str, Vec<String>> {
    BTreeMap::from([
        (
            "kind-",
            RequestKind::ALL
                .iter()
                .map(|k| k.as_str().to_owned())
                .collect(),
        ),
        (
            "state-",
            CaseState::ALL
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
        ),
        (
            "urgency-",
            Urgency::ALL.iter().map(|u| u.as_str().to_owned()).collect(),
        ),
        ("month-", (1..=12).map(|m: u8| m.to_string()).collect()),
    ])
}

/// The desk's sources: the string literals they hold, and the prefixes of
/// keys they build with `format!("prefix-{…}")`.
fn sources() -> (BTreeSet<String>, BTreeSet<String>) {
    let mut rs = Vec::new();
    files(&crate_dir().join("src"), "rs", &mut rs);
    let (mut literals, mut prefixes) = (BTreeSet::new(), BTreeSet::new());
    for file in rs {
        let text = std::fs::read_to_string(&file).expect("a readable source");
        for (i, piece) in text.split('"').enumerate() {
            if i % 2 == 1 {
                literals.insert(piece.to_owned());
                if let Some((prefix, _)) = piece.split_once('{')
                    && prefix.ends_with('-')
                    && prefix.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                {
                    prefixes.insert(prefix.to_owned());
                }
            }
        }
    }
    (literals, prefixes)
}

#[test]
fn every_catalogue_parses_and_every_message_has_a_value_in_every_language() {
    let english = messages(Lang::En);
    for lang in Lang::ALL {
        let these = messages(lang);
        for (key, has_value) in &these {
            assert!(has_value, "{key} has no value in {lang:?}");
        }
        let missing: Vec<_> = english.keys().filter(|k| !these.contains_key(*k)).collect();
        assert!(missing.is_empty(), "{lang:?} lacks {missing:?}");
        let extra: Vec<_> = these.keys().filter(|k| !english.contains_key(*k)).collect();
        assert!(
            extra.is_empty(),
            "{lang:?} has keys English lacks: {extra:?}"
        );
    }
}

#[test]
fn every_vocabulary_word_of_the_model_is_translated_in_every_language() {
    for lang in Lang::ALL {
        let these = messages(lang);
        for (prefix, words) in vocabulary() {
            for word in words {
                let key = format!("{prefix}{word}");
                assert!(these.contains_key(&key), "{lang:?} lacks {key}");
            }
        }
    }
}

#[test]
fn every_message_is_used_by_the_desk() {
    let (literals, built) = sources();
    let vocabulary = vocabulary();
    let unused: Vec<String> = messages(Lang::En)
        .into_keys()
        .filter(|key| {
            if literals.contains(key) {
                return false;
            }
            // A key built at run time: used when its prefix is built, and,
            // for the model's vocabulary, when its word is one of the model's.
            !built.iter().any(|prefix| {
                key.strip_prefix(prefix.as_str()).is_some_and(|word| {
                    vocabulary
                        .get(prefix.as_str())
                        .is_none_or(|words| words.iter().any(|w| w == word))
                })
            })
        })
        .collect();
    assert!(unused.is_empty(), "messages no page uses: {unused:?}");
}
