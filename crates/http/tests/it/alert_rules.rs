//! The sample Prometheus alerting rules (`packaging/custos-alerts.yml`)
//! read only metrics a node exports: the file is parsed as YAML, every
//! metric name in every rule's expression is taken out of the PromQL, and
//! each must appear in a real node's `/metrics` answer (one name, the
//! blackbox exporter's TLS probe, is read from outside the node).

use std::collections::BTreeSet;

use custos_testkit::Network;
use yaml_rust2::{Yaml, YamlLoader};

/// Metrics the rules read from other exporters than the node.
const EXTERNAL: [&str; 1] = ["probe_ssl_earliest_cert_expiry"];

/// PromQL words that are not metrics: operators, and the aggregations,
/// which may stand before a `by (...)` rather than their `(`.
const KEYWORDS: [&str; 17] = [
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
];

/// PromQL words followed by a parenthesised list of label names.
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names an expression reads: identifiers outside label
/// matchers, ranges and strings, that are not functions or keywords.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut plain = String::new();
    let mut depth = 0u32;
    let mut quoted = false;
    for c in expr.chars() {
        match c {
            '"' => quoted = !quoted,
            '{' | '[' if !quoted => depth += 1,
            '}' | ']' if !quoted => depth = depth.saturating_sub(1),
            _ if quoted || depth > 0 => {}
            c => plain.push(c),
        }
        if matches!(c, '{' | '[' | '}' | ']' | '"') {
            plain.push(' ');
        }
    }
    let mut names = BTreeSet::new();
    let chars: Vec<char> = plain.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | ':'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if GROUPING.contains(&word.as_str()) {
                // the label names in its parentheses are not metrics
                if chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&'(') {
                    while i < chars.len() && chars[i] != ')' {
                        i += 1;
                    }
                }
                continue;
            }
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            let is_function = next == Some(&'(');
            if !is_function && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else if c.is_ascii_digit() {
            // a number, with its exponent or unit letters
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn metric_names_are_read_out_of_promql() {
    let names = metric_names(
        r#"delta(custos_refused_messages[15m]) > 2e1 and on(instance) probe_x{job="a_b"} - time() < 14 * 86400 or sum by (job) (rate(y_total[5m]))"#,
    );
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(names, ["custos_refused_messages", "probe_x", "y_total"]);
}

/// Every rule in the file, as (alert name, expression).
fn rules() -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../packaging/custos-alerts.yml"
    );
    let text = std::fs::read_to_string(path).expect("the alert rules file");
    let docs = YamlLoader::load_from_str(&text).expect("the alert rules are YAML");
    let groups = docs[0]["groups"].as_vec().expect("a groups list");
    let mut out = Vec::new();
    for group in groups {
        assert!(group["name"].as_str().is_some(), "every group is named");
        for rule in group["rules"].as_vec().expect("a rules list") {
            let alert = rule["alert"].as_str().expect("every rule names its alert");
            let expr = match &rule["expr"] {
                Yaml::String(s) => s.clone(),
                other => panic!("{alert}: expr is not a string: {other:?}"),
            };
            assert!(
                rule["annotations"]["summary"].as_str().is_some(),
                "{alert} has a summary"
            );
            out.push((alert.to_owned(), expr));
        }
    }
    out
}

#[tokio::test]
async fn every_metric_the_alert_rules_read_is_exported_by_a_node() {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let fr = net.node("FR");
    let scraper = fr.token("monitoring").await.unwrap();
    let reply = fr.get("/metrics", Some(&scraper)).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text = reply.text();
    let exported: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();

    let rules = rules();
    let mut read = BTreeSet::new();
    for (alert, expr) in &rules {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{alert} reads no metric: {expr}");
        for name in names {
            assert!(
                exported.contains(name.as_str()) || EXTERNAL.contains(&name.as_str()),
                "{alert} reads {name}, which the node does not export:\n{text}"
            );
            read.insert(name);
        }
    }
    // The conditions an operator must hear about each have a rule.
    for needed in [
        "custos_outbox_pending",
        "custos_refused_messages",
        "custos_ledger_forks_detected",
        "custos_disk_free_bytes",
        "custos_directory_expires_in_seconds",
        "custos_signing_key_expires_in_seconds",
        "probe_ssl_earliest_cert_expiry",
        "custos_ready",
    ] {
        assert!(read.contains(needed), "no rule reads {needed}");
    }
}
