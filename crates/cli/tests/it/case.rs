//! Cases between two real nodes (`custos serve` processes on loopback),
//! driven with `custos case show`, `custos case act` and `custos case list`.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use custos_model::RequestKind;
use serde_json::{Value, json};

use crate::common::{Network, draft, wait_until};

const DEADLINE: Duration = Duration::from_secs(30);

pub(crate) fn args<'a>(words: &'a [&'a str], dir: &'a Path) -> Vec<&'a OsStr> {
    let mut out: Vec<&OsStr> = words.iter().map(OsStr::new).collect();
    out.push(OsStr::new("--data"));
    out.push(dir.as_os_str());
    out
}

/// `custos case show ID --json` on the node of `cc`.
pub(crate) fn show(net: &Network, cc: &str, id: &str) -> Value {
    let dir = net.dir(cc);
    let out = net.run_ok(&args(&["case", "show", id, "--json"], &dir));
    serde_json::from_str(&out).expect("`case show --json` prints JSON")
}

/// `custos case act ID ACTION [--file BODY]` on the node of `cc`.
pub(crate) fn act(net: &Network, cc: &str, id: &str, action: &str, body: Option<&Value>) -> Output {
    let dir = net.dir(cc);
    let file = net.scratch(&format!("{cc}-{action}.json"));
    let mut words = vec!["case", "act", id, action, "--json"];
    if let Some(body) = body {
        std::fs::write(&file, body.to_string()).expect("the body file is written");
        words.push("--file");
        words.push(file.to_str().expect("a UTF-8 path"));
    }
    net.run(&args(&words, &dir))
}

fn state_of(net: &Network, cc: &str, id: &str) -> String {
    show(net, cc, id)["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn actions(view: &Value, key: &str) -> Vec<String> {
    view[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_case_is_shown_acted_on_and_listed_alike_on_two_nodes() {
    let net = Network::start(&["FR", "DE"]);
    let sent = net.send("FR", &draft(RequestKind::Mla, "FR", "DE"), &[]);
    let id = sent.id.as_str();
    wait_until(DEADLINE, "DE holds the request", || {
        net.run(&args(&["case", "show", id, "--json"], &net.dir("DE")))
            .status
            .success()
    });

    let de = show(&net, "DE", id);
    assert_eq!(de["state"], "submitted", "{de}");
    assert_eq!(de["side"], "requested");
    assert!(
        actions(&de, "allowed").contains(&"acknowledge".to_owned()),
        "{de}"
    );
    assert_eq!(de["timeline"][0]["action"], "submit");
    assert_eq!(de["timeline"][0]["state_code"], "FR");

    // Germany acknowledges; France's server takes it in.
    let out = act(&net, "DE", id, "acknowledge", None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).expect("`case act --json` prints JSON");
    assert_eq!(answer["action"], "acknowledge");
    wait_until(DEADLINE, "FR sees the acknowledgement", || {
        state_of(&net, "FR", id) == "acknowledged"
    });

    // A refusal without a prior consultation is refused before sending.
    let refusal = json!({"refusal": {"grounds": ["R2"], "reasons": "Essential interests."}});
    let out = act(&net, "DE", id, "refuse", Some(&refusal));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("consultation-required")
            && err.contains("acknowledged")
            && err.contains("consult"),
        "{err}"
    );

    // France asks for the status; Germany's server answers at once.
    let out = act(
        &net,
        "FR",
        id,
        "ask-status",
        Some(&json!({"note": "Any news?"})),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(DEADLINE, "FR receives Germany's status answer", || {
        show(&net, "FR", id)["timeline"]
            .as_array()
            .is_some_and(|t| t.iter().any(|s| s["action"] == "answer-status"))
    });

    // Both nodes show the same state and steps.
    let (fr, de) = (show(&net, "FR", id), show(&net, "DE", id));
    assert_eq!(fr["state"], de["state"]);
    let steps = |v: &Value| -> Vec<(Value, Value)> {
        v["timeline"]
            .as_array()
            .expect("a timeline")
            .iter()
            .map(|s| (s["message_id"].clone(), s["action"].clone()))
            .collect()
    };
    assert_eq!(steps(&fr), steps(&de));
    assert_eq!(actions(&fr, "allowed"), actions(&de, "counterpart_allowed"));

    // The text form and the listing.
    let text = net.run_ok(&args(&["case", "show", id], &net.dir("FR")));
    assert!(text.contains("state      acknowledged"), "{text}");
    assert!(text.contains("we may"), "{text}");
    let listed: Value = serde_json::from_str(&net.run_ok(&args(
        &[
            "case",
            "list",
            "--state",
            "acknowledged",
            "--counterpart",
            "DE",
            "--json",
        ],
        &net.dir("FR"),
    )))
    .expect("`case list --json` prints JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], id);
    let none = net.run_ok(&args(
        &["case", "list", "--state", "closed"],
        &net.dir("FR"),
    ));
    assert!(none.trim().is_empty(), "{none}");
}

/// `custos request template NAME`: a decision's commented draft, as printed.
fn template(net: &Network, name: &str) -> String {
    net.run_ok(&["request", "template", name])
}

/// `custos case act ID ACTION --file DRAFT` with a draft's text as written.
fn act_with_draft(net: &Network, cc: &str, id: &str, action: &str, text: &str) -> Output {
    let file = net.scratch(&format!("{cc}-{action}-draft.jsonc"));
    std::fs::write(&file, text).expect("the draft file is written");
    let file = file.to_str().expect("a UTF-8 path");
    net.run(&args(
        &["case", "act", id, action, "--file", file],
        &net.dir(cc),
    ))
}

#[test]
fn decision_drafts_are_taken_as_printed_and_bad_refusals_are_not_sent() {
    let net = Network::start(&["FR", "DE"]);
    let sent = net.send("FR", &draft(RequestKind::Mla, "FR", "DE"), &[]);
    let id = sent.id.as_str();
    wait_until(DEADLINE, "DE holds the request", || {
        net.run(&args(&["case", "show", id, "--json"], &net.dir("DE")))
            .status
            .success()
    });

    // The templates, as printed, are what `case act` takes.
    for (cc, action, state) in [
        ("DE", "acknowledge", "acknowledged"),
        ("DE", "consult", "consulting"),
        ("FR", "decline-conditions", "conditions-declined"),
    ] {
        let out = act_with_draft(&net, cc, id, action, &template(&net, action));
        assert!(
            out.status.success(),
            "{action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_until(DEADLINE, "the other node takes the decision in", || {
            state_of(&net, "FR", id) == state && state_of(&net, "DE", id) == state
        });
    }
    let fr = show(&net, "FR", id);
    assert_eq!(
        fr["conditions"][0],
        "The data is used only for the investigation and prosecution of the offences named in the request."
    );

    // A refusal resting only on fiscal matters, and one with no ground and
    // no reasons: every problem with its code, field and article, exit 1,
    // and nothing sent.
    let queued = |cc: &str| net.run_ok(&args(&["outbox", "list"], &net.dir(cc)));
    let before = queued("DE");
    let refusal = template(&net, "refuse");
    let fiscal = refusal.replace(r#""grounds": ["R2"]"#, r#""grounds": ["fiscal"]"#);
    assert_ne!(fiscal, refusal);
    let out = act_with_draft(&net, "DE", id, "refuse", &fiscal);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error excluded-grounds-only refusal.grounds [Art. 40]"),
        "{err}"
    );
    assert!(err.contains("nothing was sent"), "{err}");
    let groundless = json!({
        "format": "custos-draft/1",
        "decision": "refuse",
        "refusal": {"grounds": [], "reasons": " "}
    });
    let out = act(&net, "DE", id, "refuse", Some(&groundless));
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["valid"], false);
    assert_eq!(report["decision"], "refuse");
    let problems: Vec<(&str, &str, &str)> = report["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| {
            (
                i["code"].as_str().unwrap_or_default(),
                i["path"].as_str().unwrap_or_default(),
                i["article"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            ("missing-required", "refusal.grounds", "Art. 40"),
            ("missing-required", "refusal.reasons", "Art. 40")
        ]
    );
    // A draft for another decision is not taken for this one.
    let out = act_with_draft(&net, "DE", id, "refuse", &template(&net, "postpone"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error decision-mismatch decision"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(queued("DE"), before, "nothing was queued");
    assert_eq!(state_of(&net, "DE", id), "conditions-declined");

    // The refusal template, grounds and reasons given, is sent and taken in.
    let out = act_with_draft(&net, "DE", id, "refuse", &refusal);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(DEADLINE, "FR sees the refusal", || {
        state_of(&net, "FR", id) == "refused"
    });
}
