//! Generated documents under `docs/` are committed; these tests fail when one is stale.
//!
//! Run `UPDATE_DOCS=1 cargo test -p custos-cli --test it docs::` to write them afresh.

use std::path::PathBuf;
use std::process::Command;

use custos_model::validate::Code;

fn docs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn check_fresh(name: &str, generated: &str) {
    let path = docs_dir().join(name);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, generated).expect("docs file written");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/{name} is stale; run `UPDATE_DOCS=1 cargo test -p custos-cli --test it docs::` and commit the result"
    );
}

#[test]
fn draft_schema_is_fresh() {
    let schema = custos_model::schema::draft_schema();
    check_fresh(
        "draft.schema.json",
        &(serde_json::to_string_pretty(&schema).unwrap() + "\n"),
    );
}

#[test]
fn decision_schema_is_fresh() {
    let schema = custos_model::schema::decision_schema();
    check_fresh(
        "decision.schema.json",
        &(serde_json::to_string_pretty(&schema).unwrap() + "\n"),
    );
}

#[test]
fn validation_code_table_is_fresh() {
    let mut out = String::from(
        "# Validation codes\n\n\
         `custos request validate` prints one line per problem: severity, code, field, article, sentence;\n\
         `custos case act` and the client API report a decision that does not validate with the same codes.\n\
         The codes below are stable: a code keeps its meaning across versions.\n\
         This file is generated from `crates/model/src/validate.rs`.\n\n\
         | code | meaning |\n|---|---|\n",
    );
    for code in Code::ALL {
        out.push_str(&format!("| `{}` | {} |\n", code.as_str(), code.meaning()));
    }
    check_fresh("validation-codes.md", &out);
}

#[test]
fn example_config_is_fresh() {
    let out = Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(["config", "example"])
        .output()
        .unwrap();
    assert!(out.status.success());
    check_fresh(
        "config.example.toml",
        &String::from_utf8(out.stdout).unwrap(),
    );
}

#[test]
fn every_template_is_fresh_in_the_docs() {
    for kind in custos_model::RequestKind::ALL {
        check_fresh(
            &format!("templates/{}.jsonc", kind.as_str()),
            &custos_model::template::render(kind),
        );
    }
    for decision in custos_model::Decision::ALL {
        check_fresh(
            &format!("templates/decisions/{}.jsonc", decision.as_str()),
            &custos_model::template::render_decision(decision),
        );
    }
}

#[test]
fn openapi_document_is_fresh() {
    let doc = custos_http::openapi_json();
    let parsed: serde_json::Value =
        serde_json::from_str(&doc).expect("the OpenAPI document is JSON");
    for path in [
        "/federation/v1/messages",
        "/api/v1/requests",
        "/api/v1/requests/{id}",
    ] {
        assert!(
            parsed["paths"].get(path).is_some(),
            "{path} is missing from the OpenAPI document"
        );
    }
    check_fresh("openapi.json", &doc);
}
