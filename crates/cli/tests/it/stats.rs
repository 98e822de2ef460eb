//! `custos stats` through the binary: the oversight report as a table,
//! JSON and CSV, the node's threshold raised but never lowered, and a
//! signed report that verifies on the other node (the signer's key from
//! its directory) and fails once changed; no request id or draft text in
//! any form.

use serde_json::Value;

use crate::common::{Network, draft};
use custos_model::RequestKind;

#[test]
fn stats_prints_the_report_in_every_form_and_a_signed_one_verifies_until_changed() {
    let net = Network::start(&["FR", "DE"]);
    let mla = draft(RequestKind::Mla, "FR", "DE");
    assert!(mla.to_string().contains("CYB-2026-0142"), "{mla}");
    let sent = net.send("FR", &mla, &[]);
    // A draft kept and never sent is not counted.
    net.save_request("FR", &draft(RequestKind::Preservation, "FR", "DE"));
    let fr = net.dir("FR");
    let fr = fr.to_str().expect("a UTF-8 path");
    let report = |extra: &[&str]| {
        let mut words = vec![
            "stats",
            "--data",
            fr,
            "--from",
            "2000-01-01",
            "--to",
            "2099-12-31",
        ];
        words.extend_from_slice(extra);
        net.run_ok(&words)
    };

    let table = report(&[]);
    assert!(table.contains("RECEIVED requests: 0"), "{table}");
    // One request sent: below the threshold, nothing of it shows.
    assert!(table.contains("SENT requests: x"), "{table}");
    assert!(table.contains("kind            mla x"), "{table}");
    let json: Value = serde_json::from_str(&report(&["--json"])).expect("JSON");
    assert_eq!(json["version"], 1);
    assert_eq!(json["state"], "FR");
    assert_eq!(json["threshold"], 5);
    assert_eq!(json["directions"][1]["direction"], "sent");
    assert_eq!(json["directions"][1]["total"]["suppressed"], true, "{json}");
    assert!(json["directions"][1]["total"].get("count").is_none());
    let csv = report(&["--csv"]);
    assert!(
        csv.starts_with(
            "state,from,to,threshold,direction,table,key,count,p50_seconds,p90_seconds\n"
        ),
        "{csv}"
    );
    assert!(
        csv.contains("FR,2000-01-01,2099-12-31,5,sent,total,all,suppressed,,\n"),
        "{csv}"
    );
    assert!(csv.contains("FR,2000-01-01,2099-12-31,5,received,total,all,0,,\n"));

    let raised: Value =
        serde_json::from_str(&report(&["--threshold", "9", "--json"])).expect("JSON");
    assert_eq!(raised["threshold"], 9);
    let lowered = net.run(&[
        "stats",
        "--data",
        fr,
        "--threshold",
        "2",
        "--from",
        "2000-01-01",
        "--to",
        "2099-12-31",
    ]);
    assert!(!lowered.status.success());
    let err = String::from_utf8_lossy(&lowered.stderr);
    assert!(err.contains("below the node's (5)"), "{err}");

    let signed = report(&["--sign"]);
    let file = net.scratch("report.json");
    std::fs::write(&file, &signed).expect("written");
    let de = net.dir("DE");
    let de = de.to_str().expect("a UTF-8 path");
    let file_arg = file.to_str().expect("a UTF-8 path");
    let ok = net.run_ok(&["stats", "verify", file_arg, "--data", de]);
    assert!(ok.starts_with("valid: a statistics report of FR"), "{ok}");

    // The count changed in the signed payload: it no longer verifies.
    let mut envelope: Value = serde_json::from_str(&signed).expect("an envelope");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64
        .decode(envelope["payload"].as_str().expect("a payload"))
        .expect("base64");
    let mut inner: Value = serde_json::from_slice(&payload).expect("a report");
    inner["directions"][0]["total"]["count"] = Value::from(3);
    envelope["payload"] = Value::from(b64.encode(inner.to_string()));
    std::fs::write(&file, envelope.to_string()).expect("written");
    let bad = net.run(&["stats", "verify", file_arg, "--data", de]);
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.starts_with("NOT valid: "), "{out}");

    for text in [&table, &csv, &signed, &json.to_string()] {
        assert!(!text.contains(&sent.id), "the request id shows:\n{text}");
        // The template's reference, person and authority.
        for fact in ["CYB-2026-0142", "nightowl", "Prosecutor"] {
            assert!(!text.contains(fact), "{fact} shows:\n{text}");
        }
    }
}
