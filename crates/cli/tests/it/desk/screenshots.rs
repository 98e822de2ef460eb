//! Every main page of the desk in a real browser, in English and in
//! Arabic, on a node holding a realistic state: each page renders, passes
//! axe-core with no serious or critical violation, and costs under 100 KB.
//! With `UPDATE_SCREENSHOTS=1` the test also writes a PNG of each page to
//! `docs/screenshots/` (1366×768, and the inbox at a phone's 390×844):
//!
//! ```sh
//! UPDATE_SCREENSHOTS=1 cargo test -p custos-cli --test it desk::screenshots
//! ```

use std::path::{Path, PathBuf};

use custos_model::RequestKind;

use crate::alerts::utc;
use crate::common::browser::Browser;
use crate::common::{Network, Person, draft};

/// The desk's main pages: the name of the screenshot and the path. A page
/// added to the desk adds its line here.
pub const PAGES: &[(&str, &str)] = &[
    ("inbox", "/desk"),
    ("compose", "/desk/compose"),
    ("compose-mla", "/desk/compose?kind=mla&to=FR"),
    ("drafts", "/desk/drafts"),
    ("ledger", "/desk/ledger"),
    (
        "statistics",
        "/desk/statistics?from=2000-01-01&to=2099-12-31",
    ),
    ("audit", "/desk/audit"),
    ("personal-data", "/desk/personal-data"),
    ("users", "/desk/users"),
    ("rota", "/desk/rota"),
    ("alerts", "/desk/alerts"),
];

/// The most a page may cost, document and resources together.
const MAX_PAGE_BYTES: u64 = 100 * 1024;

/// Two nodes with a few cases of different kinds and urgencies, one user
/// per role, a shift on the rota; returns the network and two people holding
/// every role (who see every page; two, as a second-factor code is good for
/// one sign-in only).
pub fn seeded() -> (Network, [Person; 2]) {
    let net = Network::start(&["FR", "DE"]);
    for (name, role) in [
        ("dana", "duty-officer"),
        ("carl", "caseworker"),
        ("eva", "executing-authority"),
        ("dora", "data-protection-officer"),
        ("aud", "auditor"),
        ("ada", "administrator"),
    ] {
        net.add_person("DE", name, role);
    }
    let every_role =
        "duty-officer,caseworker,executing-authority,data-protection-officer,auditor,administrator";
    let chiefs = [
        net.add_person("DE", "chief", every_role),
        net.add_person("DE", "chief-ar", every_role),
    ];
    let cases = [
        (RequestKind::EmergencyData, 2),
        (RequestKind::Preservation, 5),
        (RequestKind::Mla, 3),
        (RequestKind::StoredData, 1),
    ];
    for (kind, n) in cases {
        for _ in 0..n {
            net.send("FR", &draft(kind, "FR", "DE"), &[]);
        }
    }
    net.send("DE", &draft(RequestKind::Preservation, "DE", "FR"), &[]);
    #[allow(clippy::disallowed_methods)] // a shift running now, on the real clock
    let now = time::OffsetDateTime::now_utc();
    let data = net.dir("DE");
    let data = data.to_str().expect("a UTF-8 path");
    let (from, until) = (
        utc(now - time::Duration::hours(2)),
        utc(now + time::Duration::hours(10)),
    );
    net.run_ok(&[
        "rota",
        "add",
        "--data",
        data,
        "--person",
        "dana",
        "--email",
        "dana@example.org",
        "--deputy",
        "carl",
        "--deputy-email",
        "carl@example.org",
        "--from",
        &from,
        "--until",
        &until,
    ]);
    (net, chiefs)
}

fn shots_dir() -> Option<PathBuf> {
    std::env::var_os("UPDATE_SCREENSHOTS").map(|_| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&dir).expect("docs/screenshots is made");
        dir
    })
}

/// Checks the page now shown: it is not an error, passes axe-core, and
/// weighs under the limit; writes its screenshot when asked.
fn check(browser: &Browser, name: &str, lang: &str, shots: Option<&Path>) {
    let h1 = browser.text("main h1");
    assert!(
        browser.eval(
            "return document.querySelector('main.error') === null",
            vec![]
        ) == true,
        "{name} ({lang}) is an error page: {h1}"
    );
    if let Some(violations) = browser.axe() {
        assert!(
            violations.is_empty(),
            "{name} ({lang}): axe-core found serious or critical violations:\n{violations:#?}"
        );
    }
    let bytes = browser.page_bytes();
    eprintln!("{name} ({lang}): {bytes} bytes");
    assert!(
        bytes < MAX_PAGE_BYTES,
        "{name} ({lang}) costs {bytes} bytes, over {MAX_PAGE_BYTES}"
    );
    if let Some(dir) = shots {
        browser.screenshot(&dir.join(format!("{name}-{lang}.png")));
    }
}

#[test]
fn every_main_page_renders_passes_axe_and_stays_light_in_english_and_arabic() {
    let (net, chiefs) = seeded();
    let shots = shots_dir();
    for (lang, chief) in ["en", "ar"].into_iter().zip(&chiefs) {
        let Some(browser) = Browser::start(&net.url("DE"), lang) else {
            return;
        };
        browser.goto("/desk/sign-in");
        assert_eq!(
            browser.eval("return document.documentElement.dir", vec![]),
            if lang == "ar" { "rtl" } else { "ltr" }
        );
        // The check finds what it looks for: an input without a label.
        browser.eval(
            "document.querySelector('main').insertAdjacentHTML('beforeend', '<input id=\"axe-probe\">')",
            vec![],
        );
        if let Some(found) = browser.axe() {
            assert!(
                found.iter().any(|v| v.id == "label"),
                "axe-core missed an unlabelled input: {found:#?}"
            );
        }
        browser.goto("/desk/sign-in");
        check(&browser, "sign-in", lang, shots.as_deref());
        browser.sign_in(chief);
        for (name, path) in PAGES {
            browser.goto(path);
            check(&browser, name, lang, shots.as_deref());
        }
        // A case of the inbox, and its evidence.
        browser.goto("/desk");
        let case = browser.eval(
            "return document.querySelector('#inbox tbody tr a').getAttribute('href')",
            vec![],
        );
        let case = case.as_str().expect("the inbox links to a case").to_owned();
        browser.goto(&case);
        check(&browser, "case", lang, shots.as_deref());
        browser.goto(&format!("{case}/evidence"));
        check(&browser, "evidence", lang, shots.as_deref());
        // The inbox on a phone.
        browser.window(390, 844);
        browser.goto("/desk");
        check(&browser, "inbox-phone", lang, shots.as_deref());
    }
}
