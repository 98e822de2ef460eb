//! The README's "A case between two nodes", run as written with `bash`
//! against two real nodes, and both cases checked on both nodes afterwards.

use serde_json::Value;

use super::*;

/// The shell block under `heading` in the README.
fn readme_block(heading: &str) -> String {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"),
    )
    .expect("the README reads");
    let section = &readme[readme
        .find(heading)
        .unwrap_or_else(|| panic!("the README has {heading:?}"))..];
    let start = section.find("```sh\n").expect("a shell block") + "```sh\n".len();
    let end = section[start..].find("```").expect("the block ends") + start;
    section[start..end].to_owned()
}

#[test]
fn the_readmes_case_walk_runs_as_written() {
    let net = Network::start(&["FR", "DE"]);
    let work = net.scratch("readme");
    std::fs::create_dir_all(&work).expect("a test fixture step");
    // The README's nodes are the folders `fr` and `de` it made in the
    // section before.
    std::os::unix::fs::symlink(net.dir("FR"), work.join("fr")).expect("a test fixture step");
    std::os::unix::fs::symlink(net.dir("DE"), work.join("de")).expect("a test fixture step");
    // Where `jq` is not installed, a stand-in reads a top-level text member
    // of the pretty-printed JSON the commands print.
    let stand_in =
        r#"command -v jq >/dev/null || jq() { sed -n "s/^  \"${2#.}\": \"\([^\"]*\)\".*/\1/p"; }"#;
    let script = format!(
        "{stand_in}\n{}\necho \"IDS $ID $ID2\"\n",
        readme_block("## A case between two nodes")
    );
    let out = net.shell(&script, &work);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let ids = stdout
        .lines()
        .find_map(|l| l.strip_prefix("IDS "))
        .unwrap_or_else(|| panic!("the walk names its cases: {stdout}"));
    let (id, id2) = ids.split_once(' ').expect("two case ids");

    // The two refusals the README shows refused are the only failures: one
    // the case does not allow yet, one that does not validate.
    let refusals: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("is not allowed in state"))
        .collect();
    assert_eq!(refusals.len(), 1, "{stderr}");
    assert!(refusals[0].contains("(consultation-required: "), "{stderr}");
    assert!(
        stderr.contains("fiscal.json: error excluded-grounds-only refusal.grounds [Art. 40]"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("nothing was sent").count(), 1, "{stderr}");
    assert!(
        stdout.contains("state      awaiting-information"),
        "{stdout}"
    );

    let (fr, _) = agree(&net, id);
    assert_eq!(fr["state"], "closed");
    let actions = |v: &Value| -> Vec<String> {
        timeline(v)
            .iter()
            .filter_map(|s| s["action"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        actions(&fr),
        [
            "submit",
            "acknowledge",
            "request-info",
            "provide-info",
            "consult",
            "accept-conditions",
            "execute-partly",
            "close"
        ]
    );
    let package = fr["evidence"][0].as_str().expect("a linked package");
    let received = net.run_ok(&args(&["evidence", "list", "--json"], &net.dir("FR")));
    assert!(received.contains(package), "{received}");

    let (fr, _) = agree(&net, id2);
    assert_eq!(fr["state"], "refused");
    assert_eq!(
        actions(&fr),
        [
            "submit",
            "acknowledge",
            "consult",
            "decline-conditions",
            "refuse"
        ]
    );
    assert_eq!(listed(&net, "FR", "refused"), [id2.to_owned()]);
}
