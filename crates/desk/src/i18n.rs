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

/// The digits a language writes numbers with: Arabic uses the
/// Arabic-Indic digits (٠١٢٣٤٥٦٧٨٩), the others the European ones.
fn digit(lang: Lang, d: u8) -> char {
    let base = if lang == Lang::Ar {
        0x0660
    } else {
        u32::from(b'0')
    };
    char::from_u32(base + u32::from(d % 10)).unwrap_or('?')
}

/// The separator between groups of three digits.
fn group_separator(lang: Lang) -> &'static str {
    match lang {
        Lang::Ar => "\u{066C}", // Arabic thousands separator
        Lang::Zh | Lang::En => ",",
        Lang::Fr => "\u{202F}", // narrow no-break space
        Lang::Ru => "\u{00A0}", // no-break space
        Lang::Es => ".",
    }
}

/// `n` written in `lang`'s digits, without grouping (days, hours).
fn plain(lang: Lang, n: u64) -> String {
    n.to_string()
        .bytes()
        .map(|b| digit(lang, b.wrapping_sub(b'0')))
        .collect()
}

/// A whole number as `lang` writes it: its digits, and its groups of
/// three separated as the language does (Spanish leaves four-digit numbers
/// ungrouped).
pub fn number(lang: Lang, n: u64) -> String {
    let digits = n.to_string();
    if digits.len() <= 3 || (lang == Lang::Es && digits.len() == 4) {
        return plain(lang, n);
    }
    let mut out = String::new();
    for (i, b) in digits.bytes().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(group_separator(lang));
        }
        out.push(digit(lang, b.wrapping_sub(b'0')));
    }
    out
}

/// `n` on two digits in `lang`'s digits (hours, minutes).
fn two(lang: Lang, n: u8) -> String {
    format!("{}{}", digit(lang, n / 10), digit(lang, n % 10))
}

/// An instant as `lang` writes a date and a time, in UTC: the order of its
/// parts and the month's name come from the language's catalogue
/// (`date-time`, `month-1` … `month-12`), the digits from [`number`].
pub fn date(lang: Lang, at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let month = t(lang, &format!("month-{}", u8::from(at.month())));
    let time = format!("{}:{}", two(lang, at.hour()), two(lang, at.minute()));
    let year = u64::try_from(at.year()).unwrap_or(0);
    t_args(
        lang,
        "date-time",
        &[
            ("day", FluentValue::from(plain(lang, u64::from(at.day())))),
            ("month", FluentValue::from(month)),
            ("year", FluentValue::from(plain(lang, year))),
            ("time", FluentValue::from(time)),
        ],
    )
}

/// How far `at` is from `now`, in words of `lang`: "in 3 h", "2 d ago"
/// (minutes under an hour, hours under two days, days beyond).
pub fn relative(lang: Lang, at: time::OffsetDateTime, now: time::OffsetDateTime) -> String {
    let seconds = (at - now).whole_seconds();
    let span = seconds.unsigned_abs();
    let (key, n) = if span < 3_600 {
        ("span-minutes", span.div_ceil(60))
    } else if span < 48 * 3_600 {
        ("span-hours", span / 3_600)
    } else {
        ("span-days", span / 86_400)
    };
    let amount = t_args(lang, key, &[("n", FluentValue::from(plain(lang, n)))]);
    let key = if seconds >= 0 { "time-in" } else { "time-ago" };
    t_args(lang, key, &[("span", FluentValue::from(amount))])
}

#[cfg(test)]
#[path = "i18n_check.rs"]
mod catalogue_tests;

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
    fn numbers_are_grouped_and_written_in_each_languages_digits() {
        assert_eq!(number(Lang::En, 1_234_567), "1,234,567");
        assert_eq!(number(Lang::Fr, 1_234_567), "1\u{202F}234\u{202F}567");
        assert_eq!(number(Lang::Es, 1_234), "1234");
        assert_eq!(number(Lang::Es, 12_345), "12.345");
        assert_eq!(number(Lang::Ru, 12_345), "12\u{00A0}345");
        assert_eq!(number(Lang::Ar, 1_234), "١٬٢٣٤");
        assert_eq!(number(Lang::Zh, 999), "999");
    }

    #[test]
    fn dates_follow_each_languages_pattern_and_month_names() {
        let at = time::macros::datetime!(2026-03-07 09:05 UTC);
        let strip = |s: String| s.replace(['\u{2068}', '\u{2069}'], "");
        assert_eq!(strip(date(Lang::En, at)), "7 March 2026, 09:05 UTC");
        assert_eq!(strip(date(Lang::Fr, at)), "7 mars 2026, 09:05 UTC");
        assert!(strip(date(Lang::Ar, at)).contains("٢٠٢٦"));
        assert!(strip(date(Lang::Ar, at)).contains("مارس"));
        assert!(strip(date(Lang::Zh, at)).starts_with("2026年3月7日"));
        let now = time::macros::datetime!(2026-03-07 06:05 UTC);
        assert_eq!(strip(relative(Lang::En, at, now)), "in 3 h");
        assert_eq!(strip(relative(Lang::En, now, at)), "3 h ago");
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
