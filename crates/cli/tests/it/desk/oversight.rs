//! Oversight and administration at the desk: an administrator adds a user
//! (whose secrets, shown once, let that person sign in), puts someone on
//! the rota and acknowledges the alert of an arriving emergency; an
//! auditor reads the verified ledger, the statistics and the record of who
//! did what; a caseworker is refused the record.

use custos_model::RequestKind;

use crate::alerts::utc;
use crate::common::browser::Browser;
use crate::common::{Network, Person, draft};

#[test]
fn an_administrator_manages_people_and_alerts_and_an_auditor_reads_the_record() {
    let net = Network::start(&["FR", "DE"]);
    let admin = net.add_person("DE", "ada", "administrator");
    let auditor = net.add_person("DE", "aud", "auditor");
    net.add_person("DE", "dana", "duty-officer");
    net.add_person("DE", "dirk", "duty-officer");
    let Some(browser) = Browser::start(&net.url("DE"), "en") else {
        return;
    };
    net.send("FR", &draft(RequestKind::EmergencyData, "FR", "DE"), &[]);

    // A new user: the secrets are shown once, and they work.
    browser.sign_in(&admin);
    browser.goto("/desk/users");
    assert!(browser.text("#users").contains("dana"));
    browser.fill("#new-name", "carla");
    browser.fill("#new-display", "Carla Weiss");
    browser.click("#new-role-caseworker");
    browser.click("form.stack[action='/desk/users'] button[type=submit]");
    // The answer replaces the page: wait for it, not the page clicked on.
    assert_eq!(browser.wait_text("main h1", "User added"), "User added");
    let carla = Person {
        name: browser.text("#secret-user"),
        password: browser.text("#secret-password"),
        totp_secret: browser.text("#secret-totp"),
    };
    assert_eq!(carla.name, "carla");
    assert!(browser.text("#secret-uri").starts_with("otpauth://totp/"));

    // A name the node refuses is shown beside the form, the page kept.
    browser.goto("/desk/users");
    browser.fill("#new-name", "Not A Name");
    browser.click("form.stack[action='/desk/users'] button[type=submit]");
    assert!(!browser.text("#user-problem").is_empty());
    assert_eq!(browser.path(), "/desk/users");

    // The rota: a shift added and listed, then removed.
    browser.goto("/desk/rota");
    browser.fill("#shift-person", "dana");
    browser.fill("#shift-email", "dana@example.org");
    browser.fill("#shift-deputy", "dirk");
    browser.fill("#shift-deputy-email", "dirk@example.org");
    #[allow(clippy::disallowed_methods)] // a shift running now, on the real clock
    let now = time::OffsetDateTime::now_utc();
    browser.fill("#shift-starts", &utc(now - time::Duration::hours(1)));
    browser.fill("#shift-ends", &utc(now + time::Duration::hours(8)));
    browser.click("form.stack[action='/desk/rota'] button[type=submit]");
    let rota = browser.wait_text("main", "on duty now");
    assert!(rota.contains("dana") && rota.contains("dirk"), "{rota}");
    assert!(rota.contains("on duty now"), "{rota}");

    // The emergency's alert, acknowledged.
    browser.goto("/desk/alerts");
    let alerts = browser.text("#alert-list");
    assert!(alerts.contains("Emergency request"), "{alerts}");
    browser.click("#alert-list form.inline button[type=submit]");
    // The acknowledgement's answer (back to the open alerts, none left)
    // has loaded before the next page is asked for.
    browser.wait_text("main .empty", "No alert.");
    browser.goto("/desk/alerts?all=1");
    let alerts = browser.text("#alert-list");
    assert!(
        alerts.contains("ada"),
        "acknowledged by the administrator: {alerts}"
    );
    browser.goto("/desk/alerts");
    assert_eq!(browser.text("main .empty"), "No alert.");

    // Carla signs in with what the page showed.
    browser.click("header form.inline button[type=submit]");
    browser.wait_path("/desk/sign-in");
    browser.sign_in(&carla);
    assert_eq!(browser.text("main h1"), "Inbox");
    let nav = browser.text("header nav");
    assert!(
        !nav.contains("Who saw what") && !nav.contains("Users"),
        "{nav}"
    );
    browser.goto("/desk/audit");
    assert!(browser.text("main.error h1").starts_with("403"));

    // The auditor: the ledger verified, the record, the statistics.
    browser.goto("/desk/sign-in");
    browser.sign_in(&auditor);
    browser.goto("/desk/ledger");
    assert!(browser.text("#ledger-verdict").starts_with("Verified"));
    assert!(browser.text("#latest-signatures").contains("DE"));
    browser.goto("/desk/audit?person=ada");
    let record = browser.text("#audit");
    assert!(record.contains("manage-users"), "{record}");
    assert!(record.contains("acknowledge-alert"), "{record}");
    browser.goto("/desk/audit?person=carla");
    assert!(browser.text("#audit").contains("Refused"));
    browser.goto("/desk/statistics?from=2000-01-01&to=2099-12-31");
    let chart = browser.eval(
        "return document.querySelectorAll('svg.chart[role=img] title').length",
        vec![],
    );
    assert!(chart.as_u64().unwrap_or(0) >= 1, "{chart}");
    assert!(browser.text("#received-h").contains("Requests received"));
}
