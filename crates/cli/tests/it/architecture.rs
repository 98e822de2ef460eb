//! Architecture invariants checked as ordinary tests.
//!
//! The pure crates (model, case, protocol, seal, ledger) must not depend, even
//! indirectly, on anything that does I/O: async runtimes, HTTP stacks, database
//! drivers. The custos crates depend on one another exactly as the table
//! "Allowed dependencies between crates" in ARCHITECTURE.md says, and the
//! faces (cli, http) reach the store only through the node's application
//! layer. The dependency graph comes from `cargo metadata`, so a forbidden
//! edge fails here the moment someone adds it. The test kit
//! (`custos-testkit`) is a dev-dependency only: no crate builds it in.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const PURE: &[&str] = &[
    "custos-model",
    "custos-case",
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

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The table "Allowed dependencies between crates" of ARCHITECTURE.md: each
/// custos crate (full package name) and the custos crates it may depend on.
fn allowed_table() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md reads");
    let section = doc
        .split("## Allowed dependencies between crates")
        .nth(1)
        .expect("ARCHITECTURE.md has the section \"Allowed dependencies between crates\"");
    let block = section
        .split("```")
        .nth(1)
        .expect("the section holds its table in a code block");
    let mut table = BTreeMap::new();
    for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (from, to) = line
            .split_once("->")
            .unwrap_or_else(|| panic!("a table line without `->`: {line:?}"));
        let to = to.trim();
        let deps = if to.starts_with('(') {
            BTreeSet::new()
        } else {
            to.split(',')
                .map(|d| format!("custos-{}", d.trim()))
                .collect()
        };
        let previous = table.insert(format!("custos-{}", from.trim()), deps);
        assert!(previous.is_none(), "{line:?} repeats a crate of the table");
    }
    table
}

/// Each custos package of the workspace and the custos packages it depends
/// on directly as normal (or build) dependencies, dev-dependencies excluded.
fn custos_edges(meta: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .expect("workspace members")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut edges = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().unwrap_or_default();
        if !members.contains(p["id"].as_str().unwrap_or_default()) || !name.starts_with("custos-") {
            continue;
        }
        let deps = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].is_null() || d["kind"] == "build")
            .filter_map(|d| d["name"].as_str())
            .filter(|d| d.starts_with("custos-"))
            .map(str::to_owned)
            .collect();
        edges.insert(name.to_owned(), deps);
    }
    edges
}

#[test]
fn crates_depend_on_each_other_exactly_as_the_architecture_table_says() {
    let table = allowed_table();
    let edges = custos_edges(&metadata());
    assert!(
        edges.len() >= 8,
        "expected the eight custos crates, found {:?}",
        edges.keys()
    );
    for (krate, deps) in &edges {
        let allowed = table.get(krate).unwrap_or_else(|| {
            panic!("{krate} is missing from the table of allowed dependencies in ARCHITECTURE.md")
        });
        let added: Vec<_> = deps.difference(allowed).collect();
        assert!(
            added.is_empty(),
            "{krate} depends on {added:?}, which ARCHITECTURE.md does not allow"
        );
        let stale: Vec<_> = allowed.difference(deps).collect();
        assert!(
            stale.is_empty(),
            "ARCHITECTURE.md lets {krate} depend on {stale:?}, but it does not: keep the table true"
        );
    }
    let unknown: Vec<_> = table.keys().filter(|k| !edges.contains_key(*k)).collect();
    assert!(
        unknown.is_empty(),
        "the table names crates that do not exist: {unknown:?}"
    );
}

#[test]
fn the_table_check_sees_an_added_edge() {
    // The node depends on the store; a table that forbade it must be caught.
    let edges = custos_edges(&metadata());
    let node = edges
        .get("custos-node")
        .expect("the node crate is in the workspace");
    assert!(node.contains("custos-store"), "{node:?}");
    let http = edges
        .get("custos-http")
        .expect("the http crate is in the workspace");
    assert!(http.contains("custos-node"), "{http:?}");
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("a source folder reads")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn faces_reach_the_store_only_through_the_node() {
    let mut files = Vec::new();
    for face in ["crates/cli/src", "crates/http/src"] {
        rust_files(&workspace_root().join(face), &mut files);
    }
    assert!(
        files.len() > 10,
        "expected the faces' sources, found {files:?}"
    );
    let mut bad = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a source file reads");
        for (n, line) in text.lines().enumerate() {
            if line.contains("custos_store") || line.contains(".store()") {
                bad.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "faces call the node's operations, never the store:\n{}",
        bad.join("\n")
    );
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

/// Lines of the `.rs` files under the workspace folders `dirs` that contain
/// any of `needles`, as `path:line: text`; comment lines are skipped.
fn lines_with(dirs: &[&str], needles: &[&str]) -> (usize, Vec<String>) {
    let mut files = Vec::new();
    for dir in dirs {
        rust_files(&workspace_root().join(dir), &mut files);
    }
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a source file reads");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if needles.iter().any(|needle| code.contains(needle)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, code));
            }
        }
    }
    (files.len(), found)
}

#[test]
fn faces_never_build_a_ledger_entry() {
    // A custody entry is made by the node's operation that records the
    // action, in the action's own transaction; a face only asks for it.
    let needles = ["custody::Entry", "Entry::new(", "EntryKind", "ENTRY_FORMAT"];
    let (files, bad) = lines_with(&["crates/cli/src", "crates/http/src"], &needles);
    assert!(files > 10, "expected the faces' sources, found {files}");
    assert!(
        bad.is_empty(),
        "faces call the node's operations, which log their own entries:\n{}",
        bad.join("\n")
    );
    // The check sees entries where they are built.
    let (_, node) = lines_with(&["crates/node/src/app"], &needles);
    assert!(!node.is_empty(), "the application layer builds entries");
}

/// The field lines of `pub struct NAME {` in `source`.
fn struct_fields<'a>(source: &'a str, name: &str) -> Vec<&'a str> {
    let head = format!("pub struct {name} {{");
    let Some(start) = source.find(&head) else {
        return Vec::new();
    };
    source[start + head.len()..]
        .lines()
        .take_while(|l| !l.starts_with('}'))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with("#["))
        .collect()
}

#[test]
fn the_nodes_fields_are_private() {
    // Faces reach a node only through its methods: a public field would
    // let one reach the store or the keys around the application layer.
    let lib = std::fs::read_to_string(workspace_root().join("crates/node/src/lib.rs"))
        .expect("the node crate's lib.rs reads");
    let fields = struct_fields(&lib, "Node");
    assert!(fields.len() > 5, "expected Node's fields, found {fields:?}");
    let public: Vec<_> = fields
        .iter()
        .filter(|f| f.starts_with("pub ") || f.starts_with("pub(super)"))
        .collect();
    assert!(
        public.is_empty(),
        "Node's fields must be private: {public:?}"
    );
    // The check reads fields as they are written.
    let sample = "pub struct Node {\n    pub store: X,\n    keys: Y,\n}\n";
    assert_eq!(struct_fields(sample, "Node"), ["pub store: X,", "keys: Y,"]);
}

#[test]
fn pure_crates_open_no_file_socket_or_clock() {
    // Beyond their dependencies (`pure_crates_depend_on_no_io_crate`): no
    // file system, network, environment or process in their own code, and
    // no reading of the time of day (callers pass the time they mean).
    let needles = [
        "std::fs",
        "File::",
        "OpenOptions",
        "TcpStream",
        "TcpListener",
        "UdpSocket",
        "std::env",
        "std::process",
        "SystemTime::now",
        "Instant::now",
        "now_utc",
        "now_local",
    ];
    let pure = [
        "crates/model/src",
        "crates/case/src",
        "crates/protocol/src",
        "crates/seal/src",
        "crates/ledger/src",
    ];
    let (files, bad) = lines_with(&pure, &needles);
    assert!(
        files > 20,
        "expected the pure crates' sources, found {files}"
    );
    assert!(
        bad.is_empty(),
        "pure crates do no I/O and read no clock (ARCHITECTURE.md):\n{}",
        bad.join("\n")
    );
    // The model and the case also make no random numbers: what they decide
    // follows from their inputs alone.
    let random = ["getrandom", "rand::", "OsRng", "new_v4"];
    let (_, bad) = lines_with(&["crates/model/src", "crates/case/src"], &random);
    assert!(
        bad.is_empty(),
        "the model and the case are deterministic:\n{}",
        bad.join("\n")
    );
    // The check sees I/O where it is.
    let (_, cli) = lines_with(&["crates/cli/src"], &needles);
    assert!(!cli.is_empty(), "the CLI reads files");
}

#[test]
fn the_stores_public_types_name_no_database_driver() {
    // The store's public API is what `lib.rs` re-exports from these
    // modules (every module is private), and `StoreError`.
    let root = workspace_root().join("crates/store/src");
    let lib = std::fs::read_to_string(root.join("lib.rs")).expect("the store's lib.rs reads");
    assert!(
        !lib.lines().any(|l| l.trim_start().starts_with("pub mod")),
        "the store's modules are private; its API is what lib.rs re-exports"
    );
    let checked = [
        "lib.rs",
        "alerts.rs",
        "access.rs",
        // issue 18: confidentiality
        "assignments.rs",
        "case_index.rs",
        "error.rs",
        "federation.rs",
        "ledger.rs",
        "people.rs",
        "records.rs",
        "witness.rs",
        // issue 18: use limits
        "received.rs",
        // issue 18: oversight statistics
        "stats.rs",
        // issue 18: retention
        "retention.rs",
        // the domain traits `Store` is made of (and their files below)
        "api.rs",
    ];
    let traits = files_in(&root, "api");
    assert!(traits.len() >= 7, "the domain traits are found: {traits:?}");
    let mut bad = Vec::new();
    for module in traits.iter().map(String::as_str).chain(checked) {
        let text = std::fs::read_to_string(root.join(module)).expect("a store module reads");
        for (n, line) in text.lines().enumerate() {
            if line.contains("sqlx::") || line.contains("rusqlite::") {
                bad.push(format!("{module}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "no sqlx or rusqlite type in the store's public types:\n{}",
        bad.join("\n")
    );
    // Every re-export comes from one of the modules checked above.
    for line in lib.lines().filter(|l| l.starts_with("pub use ")) {
        let module = line["pub use ".len()..].split("::").next().unwrap_or("");
        assert!(
            [
                "alerts",
                "access",
                // issue 18: confidentiality
                "assignments",
                "case_index",
                "error",
                "federation",
                "ledger",
                "people",
                "records",
                "witness",
                // issue 18: use limits
                "received",
                // issue 18: oversight statistics
                "stats",
                // issue 18: retention
                "retention",
                // the domain traits
                "api"
            ]
            .contains(&module),
            "lib.rs re-exports from {module}, which this test does not check: {line}"
        );
    }
}

/// The files of `folder` under `root`, as `folder/name`.
fn files_in(root: &Path, folder: &str) -> Vec<String> {
    std::fs::read_dir(root.join(folder))
        .unwrap_or_else(|e| panic!("{folder} lists: {e}"))
        .map(|entry| {
            let name = entry.expect("a folder entry").file_name();
            format!("{folder}/{}", name.to_string_lossy())
        })
        .collect()
}

#[test]
fn the_store_adapters_read_rows_only_through_the_mappers() {
    // Each table's columns are read in `rows.rs` (through `RowAccess`);
    // the adapters add SQL and connections, not column reads.
    let root = workspace_root().join("crates/store/src");
    let needles = [
        "try_get(",
        "get_ref(",
        "row.get(",
        "|r| r.get(",
        "get_unwrap(",
    ];
    let mut bad = Vec::new();
    // Each adapter's implementations of the domain traits, in its folder.
    let mut adapters = files_in(&root, "sqlite");
    adapters.extend(files_in(&root, "postgres"));
    assert!(
        adapters.len() >= 10,
        "the adapters' domain files are found: {adapters:?}"
    );
    for adapter in adapters.iter().map(String::as_str).chain([
        "sqlite.rs",
        "sqlite_write.rs",
        "sqlite_cases.rs",
        "sqlite_witness.rs",
        "postgres.rs",
        "postgres_write.rs",
        "postgres_cases.rs",
        "sqlite_access.rs",
        "postgres_access.rs",
        // issue 18: use limits
        "sqlite_received.rs",
        "postgres_received.rs",
        // issue 18: oversight statistics
        "sqlite_stats.rs",
        "postgres_stats.rs",
        // issue 18: confidentiality
        "sqlite_assignments.rs",
        "postgres_assignments.rs",
    ]) {
        let text = std::fs::read_to_string(root.join(adapter)).expect("an adapter reads");
        for (n, line) in text.lines().enumerate() {
            if needles.iter().any(|needle| line.contains(needle)) {
                bad.push(format!("{adapter}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "columns are read by the mappers in rows.rs:\n{}",
        bad.join("\n")
    );
    let rows = std::fs::read_to_string(root.join("rows.rs")).expect("rows.rs reads");
    assert!(
        needles.iter().any(|n| rows.contains(n)) || rows.contains(".get("),
        "the check looks for the calls the mappers make"
    );
}
