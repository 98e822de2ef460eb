//! Retention through the binary (issue 18): two real serving nodes; a
//! case withdrawn by France, its retention set to a date already past,
//! held, released and purged with `custos case purge --due`. The ledger
//! still verifies, reading the case names the deletion, and Germany, told
//! by a signed `report-deletion`, shows that France deleted its copy while
//! keeping its own.

use std::time::Duration;

use custos_model::RequestKind;
use serde_json::Value;

use crate::case::{act, args, show};
use crate::common::{Network, draft, wait_until};

const DEADLINE: Duration = Duration::from_secs(30);

fn json(net: &Network, cc: &str, words: &[&str]) -> Value {
    let dir = net.dir(cc);
    let out = net.run_ok(&args(words, &dir));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{words:?} prints JSON ({e}): {out}"))
}

#[test]
fn retention_is_shown_changed_held_and_purged_and_the_peer_is_told() {
    let net = Network::start(&["FR", "DE"]);
    let sent = net.send("FR", &draft(RequestKind::Mla, "FR", "DE"), &[]);
    let id = sent.id.as_str();
    assert_eq!(sent.delivery, "delivered");
    let out = act(&net, "FR", id, "withdraw", None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The scheduler notes the case's end; the case view shows the deletion date.
    wait_until(DEADLINE, "FR notes the case's end", || {
        show(&net, "FR", id)["retention"]["ended_at"].is_string()
    });
    let view = show(&net, "FR", id);
    assert_eq!(view["retention"]["days"], 1826, "{view}");
    assert!(view["retention"]["deletion_date"].is_string(), "{view}");
    let text = net.run_ok(&args(&["case", "show", id], &net.dir("FR")));
    assert!(text.contains("deletion   "), "{text}");

    // Without an option: the view. With --until and a reason: a change.
    let r = json(&net, "FR", &["case", "retention", id, "--json"]);
    assert_eq!(r["set_for_case"], false, "{r}");
    let out = net.run(&args(
        &["case", "retention", id, "--days", "3"],
        &net.dir("FR"),
    ));
    assert!(
        !out.status.success(),
        "a change without a reason is refused"
    );
    let r = json(
        &net,
        "FR",
        &[
            "case",
            "retention",
            id,
            "--until",
            "2001-01-01",
            "--reason",
            "court order 7",
            "--json",
        ],
    );
    assert_eq!(r["set_for_case"], true, "{r}");
    assert_eq!(r["changes"][0]["reason"], "court order 7", "{r}");
    assert!(
        r["changes"][0]["by"]
            .as_str()
            .is_some_and(|by| by.starts_with("cli:")),
        "{r}"
    );

    // A legal hold stops the purge; lifting it lets it proceed.
    let h = json(
        &net,
        "FR",
        &["case", "hold", id, "--reason", "litigation", "--json"],
    );
    assert_eq!(h["legal_hold"], true, "{h}");
    let p = json(&net, "FR", &["case", "purge", "--due", "--json"]);
    assert_eq!(p["deleted"].as_array().map(Vec::len), Some(0), "{p}");
    json(
        &net,
        "FR",
        &["case", "hold", id, "--lift", "--reason", "over", "--json"],
    );
    let p = json(&net, "FR", &["case", "purge", "--due", "--json"]);
    assert_eq!(p["deleted"][0]["case"], id, "{p}");
    let entry = p["deleted"][0]["entry"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Reading the case names the deletion; the ledger still verifies.
    let out = net.run(&args(&["case", "show", id, "--json"], &net.dir("FR")));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deleted") && err.contains(&entry), "{err}");
    let r = json(&net, "FR", &["case", "retention", id, "--json"]);
    assert_eq!(r["deleted"]["entry"], entry.as_str(), "{r}");
    net.run_ok(&args(&["ledger", "verify"], &net.dir("FR")));

    // Germany was told, records it, and keeps its own copy.
    wait_until(DEADLINE, "DE records France's deletion", || {
        show(&net, "DE", id)["retention"]["peer_deleted"]["entry"] == entry.as_str()
    });
    let de = show(&net, "DE", id);
    assert_eq!(de["state"], "withdrawn", "{de}");
    assert!(de["retention"]["deleted"].is_null(), "{de}");
    let text = net.run_ok(&args(&["case", "show", id], &net.dir("DE")));
    assert!(text.contains("the other State deleted its copy"), "{text}");
    net.run_ok(&args(&["ledger", "verify"], &net.dir("DE")));
}
