//! `custos audit` and `custos case grant|revoke|grants` through the binary:
//! what the operator read and did is listed by case, newest first, and a
//! grant of a case is kept, listed and revoked.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;

use crate::common::{Network, draft};
use custos_model::RequestKind;

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("--json prints JSON")
}

#[test]
fn the_audit_lists_what_the_operator_read_and_a_grant_is_kept_and_revoked() {
    let net = Network::offline(&["FR", "DE"]);
    let dir = net.dir("FR");
    let dir = dir.to_str().expect("a UTF-8 path");
    let id = net.save_request("FR", &draft(RequestKind::Preservation, "FR", "DE"));
    net.show("FR", &id);

    let rows = json(&net.run_ok(&["audit", "--data", dir, "--case", &id, "--json"]));
    let rows = rows.as_array().expect("a list");
    let ops: Vec<&str> = rows
        .iter()
        .map(|r| r["operation"].as_str().expect("an operation"))
        .collect();
    // Newest first: this very listing, then the read.
    assert_eq!(ops, ["read-audit", "read-case"], "{rows:?}");
    for r in rows {
        assert_eq!(r["outcome"], "allowed", "{r}");
        assert_eq!(r["case"], id.as_str(), "{r}");
        assert!(r["actor"].as_str().unwrap().starts_with("cli:"), "{r}");
        assert!(r["ledger_entry"].as_str().unwrap().starts_with("sha256:"));
    }
    let text = net.run_ok(&["audit", "--data", dir]);
    assert!(
        text.contains("save-draft") && text.contains("read-case"),
        "{text}"
    );
    let bad = net.run(&["audit", "--data", dir, "--since", "yesterday"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    // The binary runs on the wall clock: the grant ends a month from now.
    #[allow(clippy::disallowed_methods)]
    let until = (time::OffsetDateTime::now_utc() + time::Duration::days(30))
        .format(&Rfc3339)
        .expect("a time");
    let granted = json(&net.run_ok(&[
        "case",
        "grant",
        &id,
        "--person",
        "aud",
        "--reason",
        "annual review",
        "--until",
        &until,
        "--data",
        dir,
        "--json",
    ]));
    assert_eq!(granted["in_force"], true, "{granted}");
    let listed = json(&net.run_ok(&["case", "grants", &id, "--data", dir, "--json"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let revoked = net.run_ok(&["case", "revoke", &id, "--person", "aud", "--data", dir]);
    assert!(revoked.contains("1 grant(s)"), "{revoked}");
    let listed = json(&net.run_ok(&["case", "grants", &id, "--data", dir, "--json"]));
    assert_eq!(listed[0]["in_force"], false, "{listed}");
    assert!(listed[0]["revoked_at"].is_string(), "{listed}");
    let again = net.run(&["case", "revoke", &id, "--person", "aud", "--data", dir]);
    assert!(!again.status.success(), "nothing left to revoke");
}
