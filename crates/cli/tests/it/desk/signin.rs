//! Signing in at the desk: a wrong code is refused and says so, the right
//! one opens the inbox, an arriving emergency appears without a reload, and
//! signing out ends the session on the node.

use custos_model::RequestKind;

use crate::common::browser::Browser;
use crate::common::{Network, draft};

#[test]
fn a_duty_officer_signs_in_with_a_second_factor_and_sees_an_emergency_arrive() {
    let net = Network::start(&["FR", "DE"]);
    let officer = net.add_person("DE", "dana", "duty-officer");
    let Some(browser) = Browser::start(&net.url("DE"), "en") else {
        return;
    };

    // A wrong second-factor code: refused, the form says so, no session.
    browser.goto("/desk");
    browser.wait_path("/desk/sign-in");
    browser.fill("#user", &officer.name);
    browser.fill("#password", &officer.password);
    browser.fill("#code", "000000");
    browser.click("form.stack button[type=submit]");
    assert_eq!(
        browser.text("#sign-in-problem"),
        "The user name, password or code is wrong."
    );
    assert_eq!(browser.path(), "/desk/sign-in");

    browser.sign_in(&officer);
    assert_eq!(browser.text("main h1"), "Inbox");
    assert_eq!(browser.text("#inbox .empty"), "No case to show.");
    let cookie = browser.eval("return document.cookie", vec![]);
    assert_eq!(cookie, "", "the session cookie is HttpOnly: {cookie}");

    // An emergency arrives: the inbox shows it without a reload.
    net.send("FR", &draft(RequestKind::EmergencyData, "FR", "DE"), &[]);
    let row = browser.text("#inbox tr.emergency");
    assert!(row.contains("Emergency"), "{row}");
    assert!(row.contains("Emergency data disclosure"), "{row}");
    assert!(row.contains("FR"), "{row}");

    // Signing out ends the session: the inbox asks to sign in again.
    browser.click("header form.inline button[type=submit]");
    browser.wait_path("/desk/sign-in");
    browser.goto("/desk");
    browser.wait_path("/desk/sign-in");
}
