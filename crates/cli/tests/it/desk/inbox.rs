//! The inbox in a real browser: counts by state, filters applied in place,
//! the emergency banner on a page that does not list the emergency, and a
//! person's language kept by the node across sessions (Arabic, right to
//! left, dates in Arabic digits).

use custos_model::RequestKind;

use crate::common::browser::Browser;
use crate::common::{Network, draft};

/// `text` without the Unicode isolation marks Fluent puts around the
/// values it places in a message.
fn bare(text: String) -> String {
    text.replace(['\u{2068}', '\u{2069}'], "")
}

/// Whether `text` holds an Arabic-Indic digit.
fn has_arabic_digits(text: &str) -> bool {
    text.chars().any(|c| ('\u{0660}'..='\u{0669}').contains(&c))
}

#[test]
fn the_inbox_counts_filters_raises_the_emergency_banner_and_keeps_the_chosen_language() {
    let net = Network::start(&["FR", "DE"]);
    let officer = net.add_person("DE", "dana", "duty-officer");
    let Some(browser) = Browser::start(&net.url("DE"), "en") else {
        return;
    };
    net.send("FR", &draft(RequestKind::Mla, "FR", "DE"), &[]);
    browser.sign_in(&officer);

    // One open case: counted, listed.
    let total = bare(browser.text("#counts-total"));
    assert!(total.starts_with("1 open"), "{total}");
    browser.text("#inbox tr");

    // Filtering on another kind: the table empties in place; back to MLA,
    // the case returns.
    browser.eval(
        "const s = document.querySelector('#f-kind'); s.value = 'preservation'; \
         s.dispatchEvent(new Event('change', {bubbles: true}));",
        vec![],
    );
    assert_eq!(browser.text("#inbox .empty"), "No case to show.");
    assert_eq!(browser.path(), "/desk");
    browser.eval(
        "const s = document.querySelector('#f-kind'); s.value = 'mla'; \
         s.dispatchEvent(new Event('change', {bubbles: true}));",
        vec![],
    );
    let row = browser.text("#inbox tbody tr");
    assert!(row.contains("Mutual legal assistance"), "{row}");

    // Without script the same filters are a plain GET form.
    browser.goto("/desk?show=finished");
    assert_eq!(browser.text("#inbox .empty"), "No case to show.");

    // An emergency arrives while a page that does not list it is open: the
    // banner names it there.
    net.send("FR", &draft(RequestKind::EmergencyData, "FR", "DE"), &[]);
    let banner = browser.text("#alerts .emergency-banner");
    assert!(banner.contains("Emergency data disclosure"), "{banner}");
    assert!(banner.contains("FR"), "{banner}");
    browser.goto("/desk");
    let total = bare(browser.text("#counts-total"));
    assert!(total.starts_with("2 open"), "{total}");
    let first = browser.text("#inbox tbody tr:first-child");
    assert!(
        first.contains("Emergency"),
        "emergencies come first: {first}"
    );

    // Arabic, chosen from the menu, is stored for the person: signed out
    // and in again in an English browser, the desk is still Arabic.
    browser.eval(
        "document.querySelector('header #lang').value = 'ar';",
        vec![],
    );
    browser.click("header form.language button[type=submit]");
    // The Arabic page has loaded when its sign-out button is there.
    browser.click("html[lang=ar] header form.inline button[type=submit]");
    browser.wait_path("/desk/sign-in");
    // The browser's own memory of the choice is set back to English: what
    // follows comes from the node.
    browser.eval(
        "document.cookie = 'custos_lang=en; path=/desk; SameSite=Strict';",
        vec![],
    );
    browser.sign_in(&officer);
    let dir = browser.eval("return document.documentElement.dir", vec![]);
    assert_eq!(dir, "rtl");
    let lang = browser.eval("return document.documentElement.lang", vec![]);
    assert_eq!(lang, "ar");
    let due = browser.text("#inbox tbody tr:first-child time .absolute");
    assert!(
        has_arabic_digits(&due),
        "the date is not in Arabic form: {due}"
    );
    let total = bare(browser.text("#counts-total"));
    assert!(total.contains('٢'), "{total}");
}
