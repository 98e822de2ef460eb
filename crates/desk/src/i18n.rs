//! The desk's languages: the six official languages of the United Nations,
//! with their strings in Fluent catalogues (`locales/<tag>/*.ftl`, compiled
//! into the binary). A page asks [`t`] for a message by its key; a key
//! missing from one language falls back to English, and a test fails when
//! any language lacks a key another has, or holds one no page uses.

use std::borrow::Cow;
use std::collections::HashMap;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
    };
}

/// A language of the desk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    Ar,
    Zh,
    En,
    Fr,
    Ru,
    Es,
}

impl Lang {
    /// Every language, in the order the United Nations lists them (by
    /// their English names).
    pub const ALL: [Lang; 6] = [Lang::Ar, Lang::Zh, Lang::En, Lang::Fr, Lang::Ru, Lang::Es];

    /// The BCP 47 tag (`ar`, `zh`, `en`, `fr`, `ru`, `es`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Ar => "ar",
            Lang::Zh => "zh",
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::Ru => "ru",
            Lang::Es => "es",
        }
    }

    /// The language's name in itself, for the language menu.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Ar => "العربية",
            Lang::Zh => "中文",
            Lang::En => "English",
            Lang::Fr => "Français",
            Lang::Ru => "Русский",
            Lang::Es => "Español",
        }
    }

    /// The writing direction: `rtl` for Arabic, `ltr` for the others.
    pub fn dir(self) -> &'static str {
        if self == Lang::Ar { "rtl" } else { "ltr" }
    }

    /// The language a tag names (`fr`, `fr-CA`, `FR`), if the desk has it.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.tag() == primary)
    }

    /// The first language of an `Accept-Language` header the desk has.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        header
            .split(',')
            .filter_map(|part| part.split(';').next())
            .find_map(Lang::parse)
    }

    fn id(self) -> LanguageIdentifier {
        match self {
            Lang::Ar => langid!("ar"),
            Lang::Zh => langid!("zh"),
            Lang::En => langid!("en"),
            Lang::Fr => langid!("fr"),
            Lang::Ru => langid!("ru"),
            Lang::Es => langid!("es"),
        }
    }
}

/// Message `key` in `lang`.
pub fn t(lang: Lang, key: &str) -> String {
    LOCALES.lookup(&lang.id(), key)
}

/// Message `key` in `lang`, with its variables.
pub fn t_args(lang: Lang, key: &str, args: &[(&'static str, FluentValue<'_>)]) -> String {
    let map: HashMap<Cow<'static, str>, FluentValue<'_>> = args
        .iter()
        .map(|(k, v)| (Cow::Borrowed(*k), v.clone()))
        .collect();
    LOCALES.lookup_with_args(&lang.id(), key, &map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_or_an_accept_language_header_names_a_desk_language() {
        assert_eq!(Lang::parse("fr-CA"), Some(Lang::Fr));
        assert_eq!(Lang::parse("AR"), Some(Lang::Ar));
        assert_eq!(Lang::parse("de"), None);
        assert_eq!(
            Lang::from_accept_language("de-DE,de;q=0.9,ru;q=0.8"),
            Some(Lang::Ru)
        );
        assert_eq!(Lang::from_accept_language("de"), None);
    }

    #[test]
    fn every_language_has_the_sign_in_title_in_its_own_words() {
        let english = t(Lang::En, "sign-in-title");
        for lang in Lang::ALL {
            let text = t(lang, "sign-in-title");
            assert!(!text.is_empty(), "{lang:?}");
            if lang != Lang::En {
                assert_ne!(text, english, "{lang:?} falls back to English");
            }
        }
    }
}
