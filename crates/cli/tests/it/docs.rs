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

/// The `custos` commands of the README's shell blocks, one list of words
/// each (continuation lines joined, comments removed; a command inside
/// `$(...)` is a command of its own).
fn readme_commands() -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(docs_dir().join("../README.md")).expect("the README reads");
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut line = String::new();
    for raw in readme.lines() {
        if raw.starts_with("```") {
            in_block = raw == "```sh";
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(head) = raw.strip_suffix('\\') {
            line.push_str(head);
            line.push(' ');
            continue;
        }
        line.push_str(raw);
        let words: Vec<&str> = without_comment(&line).split_whitespace().collect();
        let starts = |w: &str| w.trim_start_matches('"').trim_start_matches("$(") == "custos";
        for (i, _) in words.iter().enumerate().filter(|(_, w)| starts(w)) {
            let mut command = Vec::new();
            for w in &words[i + 1..] {
                if starts(w) || ["|", ">", "&", "&&", ";"].contains(w) {
                    break;
                }
                command.push(w.trim_end_matches('"').trim_end_matches(')').to_owned());
                if w.contains(')') {
                    break;
                }
            }
            commands.push(command);
        }
        line.clear();
    }
    commands
}

/// A shell line without its `# comment` (a `#` after a blank, outside quotes).
fn without_comment(line: &str) -> &str {
    let (mut single, mut double, mut previous) = (false, false, ' ');
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && previous.is_whitespace() => return &line[..i],
            _ => {}
        }
        previous = c;
    }
    line
}

/// The subcommands a `--help` text lists under `Commands:`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Every `custos` command in the README names subcommands the binary has
/// and options those subcommands take: each command's words are walked
/// through the `Commands:` lists of `custos ... --help`, and every
/// `--option` it gives must be in the help of the command reached.
#[test]
fn the_readmes_commands_match_the_cli() {
    let mut helps: std::collections::HashMap<Vec<String>, String> = Default::default();
    let mut help = |path: &[String]| -> String {
        helps
            .entry(path.to_vec())
            .or_insert_with(|| {
                let out = Command::new(env!("CARGO_BIN_EXE_custos"))
                    .args(path)
                    .arg("--help")
                    .output()
                    .unwrap();
                assert!(out.status.success(), "custos {path:?} --help fails");
                String::from_utf8(out.stdout).unwrap()
            })
            .clone()
    };
    let commands = readme_commands();
    assert!(commands.len() > 60, "{commands:?}");
    for command in commands {
        let mut path: Vec<String> = Vec::new();
        for word in command.iter().take_while(|w| !w.starts_with('-')) {
            if subcommands(&help(&path)).contains(word) {
                path.push(word.clone());
            } else {
                break;
            }
        }
        assert!(
            !path.is_empty(),
            "`custos {}` names no command",
            command.join(" ")
        );
        let text = help(&path);
        for option in command.iter().filter(|w| w.starts_with("--")) {
            let name = option.split('=').next().unwrap_or(option);
            assert!(
                text.split(|c: char| c.is_whitespace() || c == ',' || c == '=')
                    .any(|w| w == name),
                "`custos {}`: `custos {}` has no option {name}",
                command.join(" "),
                path.join(" ")
            );
        }
    }
}
