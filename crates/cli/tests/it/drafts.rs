//! Drafts read from files and checked against the Convention: the size
//! limit, unreadable files reported in JSON too, a treaty status that tells
//! deposited from counted, and the legal basis checked against a treaty
//! registry by `request validate` and before `request send`.

use std::path::Path;
use std::process::{Command, Output};

use custos_model::RequestKind;
use custos_model::state::{PartyKind, catalogue};
use serde_json::{Value, json};

use crate::common::{Network, draft};

fn custos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(args)
        .env_remove("CUSTOS_DATABASE_URL")
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("test file written");
    p.display().to_string()
}

/// The cells of the first line of a table whose first cell is `first`
/// (cells are separated by two spaces or more).
fn row(text: &str, first: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|c| c.first().map(String::as_str) == Some(first))
        .unwrap_or_else(|| panic!("no line starting with {first:?} in\n{text}"))
}

fn sample_registry() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/samples/registry.sample.toml"
    )
}

#[test]
fn a_draft_over_one_mib_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut draft = draft(RequestKind::Mla, "FR", "DE");
    draft["facts"] = json!("x".repeat(1 << 20));
    let file = write(dir.path(), "big.json", serde_json::to_vec(&draft).unwrap());

    let o = custos(&["request", "validate", &file]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("error too-large (draft)") && out.contains("at most 1048576 bytes (1 MiB)"),
        "{out}"
    );

    let o = custos(&["request", "validate", "--json", &file]);
    assert_eq!(o.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["issues"][0]["code"], "too-large");
    assert_eq!(report["issues"].as_array().unwrap().len(), 1);

    // Saving and sending read drafts through the same limit.
    let node = dir.path().join("no-node").display().to_string();
    for command in ["save", "send"] {
        let o = custos(&["request", command, &file, "--data", &node]);
        assert_eq!(o.status.code(), Some(1), "{command}");
        let err = stderr(&o);
        assert!(
            err.contains("at most 1048576 bytes") && err.contains("nothing was"),
            "{command}: {err}"
        );
    }

    // One byte less than the limit is read (and validated on its merits).
    let mut small = draft.clone();
    small["facts"] = json!("");
    let room = (1 << 20) - 1 - serde_json::to_vec(&small).unwrap().len();
    small["facts"] = json!("x".repeat(room));
    let bytes = serde_json::to_vec(&small).unwrap();
    assert_eq!(bytes.len(), (1 << 20) - 1);
    let file = write(dir.path(), "just-under.json", bytes);
    let o = custos(&["request", "validate", &file]);
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn an_unreadable_draft_is_reported_in_json_too() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json").display().to_string();
    let not_utf8 = write(dir.path(), "latin1.json", b"{\"facts\": \"caf\xe9\"}");
    let folder = dir.path().display().to_string();
    for file in [&missing, &not_utf8, &folder] {
        let o = custos(&["request", "validate", "--json", file]);
        assert_eq!(o.status.code(), Some(1), "{file}: {}", stderr(&o));
        let report: Value = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("{file}: not JSON ({e}): {}", stdout(&o)));
        assert_eq!(report["file"], file.as_str());
        assert_eq!(report["valid"], false);
        assert_eq!(report["errors"], 1);
        assert_eq!(report["issues"][0]["code"], "cannot-read");
        assert!(
            report["issues"][0]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("cannot read the draft {file}")),
            "{report}"
        );
        // Without --json the message goes to standard error, as before.
        let o = custos(&["request", "validate", file]);
        assert_eq!(o.status.code(), Some(1));
        assert!(stdout(&o).is_empty(), "{}", stdout(&o));
        assert!(
            stderr(&o).contains("cannot read the draft"),
            "{}",
            stderr(&o)
        );
    }
    let o = custos(&["request", "validate", "--json", &not_utf8]);
    assert!(stdout(&o).contains("not UTF-8 text"), "{}", stdout(&o));
}

#[test]
fn treaty_status_tells_deposited_from_counted_for_a_regional_organisation() {
    let o = custos(&["treaty", "status", "--registry", sample_registry()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(
        row(&out, "Instruments deposited:"),
        [
            "Instruments deposited:",
            "44 by 2028-06-30, of which 43 counted: not counted EU (a REIO's instrument)"
        ]
    );
    assert_eq!(
        row(&out, "CODE")[4..7],
        ["DEPOSIT", "INSTRUMENT", "COUNTED"]
    );
    assert_eq!(
        row(&out, "EU")[4..7],
        ["2027-06-01", "approval", "no: REIO"]
    );
    assert_eq!(row(&out, "FR")[6], "yes");

    let o = custos(&[
        "treaty",
        "status",
        "--registry",
        sample_registry(),
        "--at",
        "2027-05-01",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["status"]["convention"]["deposited"], 30);
    assert_eq!(v["status"]["convention"]["counted"], 30);
    let spain = v["status"]["parties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "ES")
        .unwrap();
    // Spain deposits only in October 2027: neither deposited nor counted yet.
    assert_eq!(
        (&spain["deposited"], &spain["counted"]),
        (&json!(false), &json!(false))
    );
}

#[test]
fn request_validate_checks_the_legal_basis_against_a_registry() {
    let dir = tempfile::tempdir().unwrap();
    let to_de = write(
        dir.path(),
        "de.json",
        serde_json::to_vec(&draft(RequestKind::Mla, "FR", "DE")).unwrap(),
    );
    let to_bg = write(
        dir.path(),
        "bg.json",
        serde_json::to_vec(&draft(RequestKind::Mla, "FR", "BG")).unwrap(),
    );
    let validate = |file: &str, at: &str| {
        custos(&[
            "request",
            "validate",
            file,
            "--registry",
            sample_registry(),
            "--at",
            at,
        ])
    };
    // In the sample the Convention is in force between France and Germany from 2027-12-14.
    let o = validate(&to_de, "2028-06-30");
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let o = validate(&to_de, "2027-12-13");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains(
            "error convention-not-applicable legal_basis.basis [-] the Convention is not a \
             legal basis between FR and DE on 2027-12-13: the Convention is not in force yet: it \
             enters into force on 2027-12-14 (Art. 65)"
        ),
        "{}",
        stdout(&o)
    );
    // Bulgaria has only signed: the check is made for both States.
    let o = validate(&to_bg, "2028-06-30");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("BG has signed but has not deposited"),
        "{}",
        stdout(&o)
    );
    // Without a registry nothing is checked.
    assert!(custos(&["request", "validate", &to_bg]).status.success());
    let o = custos(&[
        "request",
        "validate",
        &to_bg,
        "--registry",
        "/nonexistent/registry.toml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot read the registry file /nonexistent/registry.toml"),
        "{}",
        stderr(&o)
    );
}

/// A registry file: France and Germany deposited in January 2026, and,
/// when `in_force`, forty other States from 1 November 2025, so that the
/// Convention is in force between them from 10 March 2026 on (and, without
/// them, never).
fn registry_file(in_force: bool) -> String {
    let mut text = String::from(
        "sample = false\nas_of = 2026-06-30\n\
         [[party]]\ncode = \"FR\"\nsignature = 2025-10-25\n\
         deposit = { date = 2026-01-05, instrument = \"ratification\" }\n\
         [[party]]\ncode = \"DE\"\nsignature = 2025-10-25\n\
         deposit = { date = 2026-01-06, instrument = \"ratification\" }\n",
    );
    if in_force {
        let others = catalogue()
            .filter(|e| e.kind == PartyKind::State && !["FR", "DE"].contains(&e.code.as_str()))
            .take(40);
        for (i, e) in others.enumerate() {
            let day = time::macros::date!(2025 - 11 - 01) + time::Duration::days(i as i64);
            text.push_str(&format!(
                "[[party]]\ncode = \"{}\"\nsignature = 2025-10-25\n\
                 deposit = {{ date = {day}, instrument = \"ratification\" }}\n",
                e.code
            ));
        }
    }
    text
}

#[test]
fn sending_is_refused_when_the_convention_does_not_apply_and_another_basis_is_recorded() {
    let net = Network::offline(&["FR", "DE"]);
    let fr = net.dir("FR");
    let config = fr.join("custos.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[treaty]\nregistry = \"treaty.toml\"\n");
    std::fs::write(&config, text).unwrap();
    std::fs::write(fr.join("treaty.toml"), registry_file(false)).unwrap();
    let data = fr.display().to_string();

    // Two of forty instruments: the Convention is not in force on any day.
    let mla = draft(RequestKind::Mla, "FR", "DE");
    let file = fr.join("mla.json");
    std::fs::write(&file, serde_json::to_vec(&mla).unwrap()).unwrap();
    let file = file.display().to_string();
    let o = net.run(&[
        "request",
        "send",
        &file,
        "--data",
        &data,
        "--queue-only",
        "--allow-sample",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("the Convention is not a legal basis between FR and DE on ")
            && err.contains("the Convention is not in force yet: 2 of 40 instruments deposited"),
        "{err}"
    );
    assert!(net.requests("FR").is_empty(), "nothing was recorded");
    let o = net.run(&["request", "validate", &file, "--data", &data, "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let report: Value = serde_json::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap();
    assert_eq!(report["issues"][0]["code"], "convention-not-applicable");

    // The same request on a bilateral treaty goes, recorded as such.
    let mut bilateral = mla.clone();
    bilateral["legal_basis"] = json!({
        "basis": "bilateral",
        "treaty": "Convention on mutual assistance between France and Germany"
    });
    let sent = net.send("FR", &bilateral, &["--queue-only"]);
    let shown = net.show("FR", &sent.id);
    let event = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "sent:submit")
        .unwrap();
    assert_eq!(
        event["detail"]["legal_basis"],
        json!({
            "basis": "bilateral",
            "instrument": "Convention on mutual assistance between France and Germany"
        })
    );

    // Once the registry shows the Convention in force, it is sent on the
    // Convention, with the registry's answer recorded.
    std::fs::write(fr.join("treaty.toml"), registry_file(true)).unwrap();
    let sent = net.send("FR", &mla, &["--queue-only"]);
    let shown = net.show("FR", &sent.id);
    let event = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "sent:submit")
        .unwrap();
    let basis = &event["detail"]["legal_basis"];
    assert_eq!(basis["basis"], "un-convention");
    assert_eq!(basis["registry_check"]["in_force_since"], "2026-03-10");
    assert_eq!(basis["registry_check"]["registry_as_of"], "2026-06-30");
}
