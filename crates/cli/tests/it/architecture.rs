//! Architecture invariants checked as ordinary tests.
//!
//! The pure crates (model, protocol, seal, ledger) must not depend, even
//! indirectly, on anything that does I/O: async runtimes, HTTP stacks, database
//! drivers. The dependency graph comes from `cargo metadata`, so a forbidden
//! edge fails here the moment someone adds it. The test kit
//! (`custos-testkit`) is a dev-dependency only: no crate builds it in.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

const PURE: &[&str] = &[
    "custos-model",
    "custos-protocol",
    "custos-seal",
    "custos-ledger",
];

const FORBIDDEN: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "mio",
    "axum",
    "hyper",
    "hyper-util",
    "reqwest",
    "tower",
    "tower-http",
    "sqlx",
    "sqlx-core",
    "rusqlite",
    "libsqlite3-sys",
    "tokio-postgres",
    "postgres",
    "object_store",
    "rustls",
    "ureq",
    "custos-store",
    "custos-node",
    "custos-http",
];

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// The names of every package a package needs to build and run (dev-dependencies excluded).
fn normal_closure(meta: &Value, root_name: &str) -> Option<BTreeSet<String>> {
    let packages = meta["packages"].as_array()?;
    let name_of: HashMap<&str, &str> = packages
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let root_id = packages.iter().find(|p| p["name"] == root_name)?["id"].as_str()?;
    let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()?
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let mut seen = BTreeSet::new();
    let mut stack = vec![root_id];
    while let Some(id) = stack.pop() {
        let Some(node) = nodes.get(id) else { continue };
        for dep in node["deps"].as_array().into_iter().flatten() {
            let normal_or_build = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            let Some(dep_id) = dep["pkg"].as_str() else {
                continue;
            };
            if normal_or_build
                && seen.insert(name_of.get(dep_id).copied().unwrap_or(dep_id).to_owned())
            {
                stack.push(dep_id);
            }
        }
    }
    Some(seen)
}

#[test]
fn pure_crates_depend_on_no_io_crate() {
    let meta = metadata();
    let mut checked = 0;
    for krate in PURE {
        let Some(deps) = normal_closure(&meta, krate) else {
            continue;
        };
        checked += 1;
        let bad: Vec<_> = deps
            .iter()
            .filter(|d| FORBIDDEN.contains(&d.as_str()))
            .collect();
        assert!(
            bad.is_empty(),
            "{krate} depends on I/O crates {bad:?}; pure crates must stay pure (ARCHITECTURE.md)"
        );
    }
    assert!(
        checked >= 2,
        "expected at least the model and seal crates in the workspace"
    );
}

#[test]
fn the_check_itself_sees_io_dependencies() {
    // The CLI is allowed I/O; if the check could not see tokio there it would prove nothing.
    let deps =
        normal_closure(&metadata(), "custos-cli").expect("the cli crate is in the workspace");
    assert!(deps.contains("tokio") && deps.contains("sqlx"), "{deps:?}");
}

#[test]
fn the_test_kit_is_never_built_into_a_crate() {
    // Tests and benches may use it; nothing that ships may.
    let meta = metadata();
    let members: Vec<String> = meta["packages"]
        .as_array()
        .expect("cargo metadata lists packages")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .filter(|n| n.starts_with("custos-") && *n != "custos-testkit")
        .map(str::to_owned)
        .collect();
    assert!(members.len() >= 8, "{members:?}");
    for krate in &members {
        let deps = normal_closure(&meta, krate).expect("a workspace crate");
        assert!(
            !deps.contains("custos-testkit"),
            "{krate} depends on custos-testkit outside its tests and benches"
        );
    }
    // The check sees the kit where it is: behind the node's own tests.
    let kit = normal_closure(&meta, "custos-testkit").expect("the test kit is in the workspace");
    assert!(
        kit.contains("custos-node") && kit.contains("custos-http"),
        "{kit:?}"
    );
}
