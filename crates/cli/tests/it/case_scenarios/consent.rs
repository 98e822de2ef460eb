//! Use limits and onward-transfer consent (issue 18) between three real
//! nodes: Germany provides France with evidence in France's request; France
//! may not seal those files for the Netherlands, nor open the package for
//! another of its cases, until Germany consents in the case's thread
//! (`ask-consent`, `grant-consent`); a refusal of consent keeps the use
//! refused; the use made with consent cites the grant in its ledger entry;
//! and a grant Germany forges out of turn is refused by France's node at
//! intake with the case's code.

use std::path::{Path, PathBuf};

use custos_node::app::CaseAction;
use serde_json::{Value, json};

use super::refused::forge;
use super::*;

/// `custos evidence ...` on the node of `cc`, with `--data`.
fn evidence(net: &Network, cc: &str, words: &[&std::ffi::OsStr]) -> Output {
    let dir = net.dir(cc);
    let mut all: Vec<&std::ffi::OsStr> = vec!["evidence".as_ref()];
    all.extend_from_slice(words);
    all.push("--data".as_ref());
    all.push(dir.as_os_str());
    net.run(&all)
}

/// The folder France keeps a received package in.
fn received_folder(net: &Network, package: &str) -> PathBuf {
    let fr = net.dir("FR");
    let listed: Value = serde_json::from_str(&net.run_ok(&[
        "evidence".as_ref(),
        "list".as_ref(),
        "--data".as_ref(),
        fr.as_os_str(),
        "--json".as_ref(),
    ]))
    .expect("`evidence list --json` prints JSON");
    let found = listed
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["package_id"] == package)
        .unwrap_or_else(|| panic!("FR lists {package}: {listed}"));
    PathBuf::from(found["folder"].as_str().expect("a folder"))
}

/// France opens `pkg` into `out` (for case `for_case` when given).
fn open(net: &Network, pkg: &Path, out: &Path, for_case: Option<&str>) -> Output {
    let mut words: Vec<&std::ffi::OsStr> = vec![
        "open".as_ref(),
        pkg.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ];
    if let Some(case) = for_case {
        words.push("--for-case".as_ref());
        words.push(case.as_ref());
    }
    evidence(net, "FR", &words)
}

/// France seals `files` for the Netherlands as its evidence in `case`.
fn seal_for_nl(net: &Network, files: &Path, case: &str, out: &Path) -> Output {
    evidence(
        net,
        "FR",
        &[
            "seal".as_ref(),
            files.as_os_str(),
            "--request".as_ref(),
            case.as_ref(),
            "--to".as_ref(),
            "NL".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            "--json".as_ref(),
        ],
    )
}

/// `custos evidence manifest --json` of the package folder `pkg`.
fn manifest_of(net: &Network, pkg: &Path) -> Value {
    serde_json::from_str(&net.run_ok(&[
        "evidence".as_ref(),
        "manifest".as_ref(),
        pkg.as_os_str(),
        "--json".as_ref(),
    ]))
    .expect("`evidence manifest --json` prints JSON")
}

/// A refusal for want of consent, naming the package, Germany and the use.
fn refused_for_consent(out: &Output, package: &str, use_for: &str) {
    assert!(!out.status.success(), "a use without consent went through");
    let said = stderr(out);
    for part in [package, "provided by DE", use_for, "needs its consent"] {
        assert!(said.contains(part), "{part:?} not in: {said}");
    }
}

/// Every regular file under `dir` (none when it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The ledger entries of `kind` on France's node (queued ones included).
fn entries(net: &Network, kind: &str) -> Vec<Value> {
    net.ledger_entries("FR")
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

/// `cc` takes a consent `action`: the message goes out (at once, or from
/// the serving node's outbox a moment later, when its worker took the
/// message first), both nodes then show it last on the same timeline, and
/// the case stays in `state`.
fn consent_step(
    net: &Network,
    id: &str,
    cc: &str,
    action: &str,
    body: Option<&Value>,
    state: &str,
) -> (Value, Value) {
    let out = act(net, cc, id, action, body);
    assert!(out.status.success(), "{cc} {action}: {}", stderr(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).expect("`case act --json` prints JSON");
    let sent = answer["message_id"]
        .as_str()
        .expect("a message id")
        .to_owned();
    wait_until(DEADLINE, "both nodes hold the consent step", || {
        [show(net, "FR", id), show(net, "DE", id)]
            .iter()
            .all(|v| last_step(v) == sent)
    });
    let (fr, de) = agree(net, id);
    assert_eq!(fr["state"], state, "{fr}");
    assert_eq!(
        timeline(&fr).last().map(|s| s["action"].clone()),
        Some(json!(action))
    );
    (fr, de)
}

/// The message id of the last step of the case, as France shows it.
fn last_step(view: &Value) -> String {
    timeline(view)
        .last()
        .and_then(|s| s["message_id"].as_str())
        .expect("a step")
        .to_owned()
}

#[test]
fn using_what_another_state_provided_beyond_its_case_needs_its_consent() {
    let net = Network::start(&["FR", "DE", "NL"]);
    let id = mla_request(&net);
    // France's own case with the Netherlands, where it would use the evidence.
    let other_case = net.send("FR", &draft(RequestKind::Mla, "FR", "NL"), &[]);
    assert_eq!(other_case.delivery, "delivered", "{other_case:?}");
    let other_case = other_case.id;

    step(&net, &id, "DE", "acknowledge", None, "acknowledged");
    // Nothing provided yet: France cannot ask.
    let early = json!({"evidence": [], "onward_to": "NL", "reasons": "Victims there."});
    let out = act(&net, "FR", &id, "ask-consent", Some(&early));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("nothing-provided"),
        "{}",
        stderr(&out)
    );

    let package = evidence_for(&net, &id);
    let execution = json!({
        "evidence": [package],
        "use_conditions": ["Only for the prosecution of the attack on the hospital."]
    });
    let (fr, _) = step(
        &net,
        &id,
        "DE",
        "execute-partly",
        Some(&execution),
        "partly-executed",
    );
    assert_eq!(
        fr["use_limits"]["conditions"], execution["use_conditions"],
        "{fr}"
    );
    assert_eq!(fr["use_limits"]["case"], id.as_str());
    let pkg = received_folder(&net, &package);
    let manifest = manifest_of(&net, &pkg);
    assert_eq!(
        manifest["manifest"]["use_limits"]["case"],
        id.as_str(),
        "{manifest}"
    );

    // A grant Germany forges before anything was asked is refused by
    // France's node at intake, with the case's code.
    let views = agree(&net, &id);
    let forged = forge(
        &net,
        &views.0,
        "DE",
        CaseAction::GrantConsent,
        json!({"ask": format!("sha256:{}", "0".repeat(64))}),
    );
    let answer = net.post_message("FR", forged);
    assert_eq!(answer.code(), Some("action-not-allowed"), "{answer:?}");
    let said = answer.json["error"]["message"].as_str().unwrap_or_default();
    assert!(said.starts_with("consent-not-asked"), "{said}");

    // In its own case, France opens the package freely.
    let opened = net.scratch("opened");
    let out = open(&net, &pkg, &opened, None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(files_under(&opened).len(), 2, "both files opened");

    // For another case of France's: refused, nothing written.
    let elsewhere = net.scratch("opened-elsewhere");
    let out = open(&net, &pkg, &elsewhere, Some(&other_case));
    refused_for_consent(&out, &package, &format!("use in case {other_case}"));
    assert!(files_under(&elsewhere).is_empty());

    // Onward to the Netherlands: the files Germany provided, sealed by
    // France for the Netherlands, are refused and no package is left.
    let onward = net.scratch("onward.pkg");
    let out = seal_for_nl(&net, &opened, &other_case, &onward);
    refused_for_consent(&out, &package, "onward transfer to NL");
    assert!(!onward.exists(), "a refused seal leaves no package");
    assert!(entries(&net, "evidence-sealed").is_empty());

    // France asks; Germany grants; the seal then goes through and its
    // ledger entry cites the grant.
    let ask = json!({
        "evidence": [package],
        "onward_to": "NL",
        "reasons": "The same server attacked a Dutch hospital; the Dutch prosecutor asks for the logs."
    });
    let (fr, _) = consent_step(
        &net,
        &id,
        "FR",
        "ask-consent",
        Some(&ask),
        "partly-executed",
    );
    let ask_id = last_step(&fr);
    assert_eq!(fr["use_limits"]["consents"][0]["answer"], "pending", "{fr}");
    let grant = json!({"ask": ask_id, "conditions": ["Only for the Dutch proceedings."]});
    let (fr, de) = consent_step(
        &net,
        &id,
        "DE",
        "grant-consent",
        Some(&grant),
        "partly-executed",
    );
    let grant_id = last_step(&fr);
    assert_eq!(fr["use_limits"], de["use_limits"]);
    let consent = &fr["use_limits"]["consents"][0];
    assert_eq!(consent["answer"], "granted", "{fr}");
    assert_eq!(consent["answered_by"], grant_id.as_str());
    assert_eq!(consent["target"], "NL");
    let out = seal_for_nl(&net, &opened, &other_case, &onward);
    assert!(out.status.success(), "{}", stderr(&out));
    let sealed = entries(&net, "evidence-sealed");
    assert_eq!(sealed.len(), 1, "{sealed:?}");
    let cited = &sealed[0]["detail"]["consents"];
    assert_eq!(cited[0]["grant"], grant_id.as_str(), "{sealed:?}");
    assert_eq!(cited[0]["package"], package.as_str());
    assert_eq!(cited[0]["provider"], "DE");

    // The consent to the Netherlands is not one to use it in another case:
    // France asks for that too, Germany refuses, and it stays refused.
    let out = open(&net, &pkg, &elsewhere, Some(&other_case));
    refused_for_consent(&out, &package, "use in case");
    let ask = json!({
        "evidence": [package],
        "for_case": other_case,
        "reasons": "The Dutch request and ours concern the same suspects."
    });
    let (fr, _) = consent_step(
        &net,
        &id,
        "FR",
        "ask-consent",
        Some(&ask),
        "partly-executed",
    );
    let refuse = json!({
        "ask": last_step(&fr),
        "reasons": "The logs name a protected witness."
    });
    let (fr, _) = consent_step(
        &net,
        &id,
        "DE",
        "refuse-consent",
        Some(&refuse),
        "partly-executed",
    );
    assert_eq!(fr["use_limits"]["consents"][1]["answer"], "refused", "{fr}");
    let out = open(&net, &pkg, &elsewhere, Some(&other_case));
    refused_for_consent(&out, &package, "use in case");
    assert!(files_under(&elsewhere).is_empty());
    assert!(
        entries(&net, "evidence-opened")
            .iter()
            .all(|e| e["detail"]["for_case"].is_null()),
        "no opening for the other case was logged"
    );

    // Exculpatory material needs no consent: France gives notice in the
    // case first, Germany cannot answer the notice, and the use goes
    // through citing it.
    let notice = json!({
        "evidence": [package],
        "for_case": other_case,
        "reasons": "The logs place the accused elsewhere at the time of the attack.",
        "exculpatory": true
    });
    let (fr, de) = consent_step(
        &net,
        &id,
        "FR",
        "ask-consent",
        Some(&notice),
        "partly-executed",
    );
    let notice_id = last_step(&fr);
    assert_eq!(
        fr["use_limits"]["consents"][2]["answer"], "notified",
        "{fr}"
    );
    assert_eq!(fr["use_limits"], de["use_limits"]);
    let answer = json!({"ask": notice_id, "reasons": "We object."});
    let out = act(&net, "DE", &id, "refuse-consent", Some(&answer));
    assert!(!out.status.success(), "a notice was answered");
    assert!(
        stderr(&out).contains("consent-not-asked"),
        "{}",
        stderr(&out)
    );
    let out = open(&net, &pkg, &elsewhere, Some(&other_case));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(files_under(&elsewhere).len(), 2, "both files opened");
    let used: Vec<Value> = entries(&net, "evidence-opened")
        .into_iter()
        .filter(|e| e["detail"]["for_case"] == other_case.as_str())
        .collect();
    assert_eq!(used.len(), 1, "{used:?}");
    assert_eq!(used[0]["detail"]["consent"], notice_id.as_str());
    assert_eq!(used[0]["detail"]["exculpatory"], true);
}

/// What the providing State adds as it seals: a confidentiality mark,
/// conditions on use and the personal data with its conditions, from
/// `evidence seal`'s flags into the signed manifest; personal data of no
/// category is refused with nothing sealed.
#[test]
fn the_sealing_state_marks_a_package_from_the_command_line() {
    let net = Network::start(&["FR", "DE"]);
    let id = mla_request(&net);
    step(&net, &id, "DE", "acknowledge", None, "acknowledged");
    let files = net.scratch("subscriber");
    std::fs::create_dir_all(&files).expect("a test fixture step");
    std::fs::write(files.join("subscriber.txt"), b"account 4711\n").expect("a test fixture step");
    let de = net.dir("DE");
    let seal = |out: &Path, extra: &[&str]| {
        let mut words: Vec<&std::ffi::OsStr> = vec![
            "evidence".as_ref(),
            "seal".as_ref(),
            files.as_os_str(),
            "--request".as_ref(),
            id.as_ref(),
            "--to".as_ref(),
            "FR".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            "--data".as_ref(),
            de.as_os_str(),
        ];
        words.extend(extra.iter().map(std::ffi::OsStr::new));
        net.run(&words)
    };
    let refused = net.scratch("no-category.pkg");
    let out = seal(
        &refused,
        &["--personal-data-condition", "Delete after trial."],
    );
    assert!(!out.status.success(), "personal data of no category sealed");
    assert!(stderr(&out).contains("categories"), "{}", stderr(&out));
    assert!(!refused.exists(), "nothing sealed");

    let pkg = net.scratch("marked.pkg");
    let out = seal(
        &pkg,
        &[
            "--confidential",
            "An informant is named.",
            "--condition",
            "Not for tax proceedings.",
            "--personal-data",
            "subscriber data",
            "--personal-data-condition",
            "Delete after the trial.",
            "--delete-by",
            "2099-12-31",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest = manifest_of(&net, &pkg);
    let m = &manifest["manifest"];
    assert_eq!(m["confidentiality"]["required"], true, "{m}");
    assert_eq!(
        m["confidentiality"]["provider_reasons"],
        "An informant is named."
    );
    let conditions = m["use_limits"]["conditions"].to_string();
    assert!(conditions.contains("Not for tax proceedings."), "{m}");
    assert_eq!(
        m["personal_data"],
        json!({
            "categories": ["subscriber data"],
            "conditions": ["Delete after the trial."],
            "delete_by": "2099-12-31"
        })
    );
}
