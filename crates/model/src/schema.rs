//! The draft format as a JSON Schema (2020-12), derived from the contents catalogue.
//!
//! The schema is published under `docs/` so that other tools can check drafts
//! without Custos. It says what each field looks like and, per kind, which
//! items are required (and which of them a yes/no field waives: a request
//! for the service of documents needs no summary of facts). Rules that tie
//! fields together (a deadline needs reasons, periods run forward, a
//! preservation shorter than 60 days is warned) are beyond what the schema
//! states; `custos request validate` checks them too.
//!
//! Decision drafts have a schema of their own ([`decision_schema`],
//! `docs/decision.schema.json`), derived from the decision catalogue: one
//! rule per decision, stating the fields it takes and those it requires.
//! Two files rather than one `oneOf` keep each schema's error messages
//! about one kind of draft, and the request schema unchanged for the tools
//! that already read it.

use serde_json::{Map, Value, json};

use crate::contents::{self, DRAFT_FORMAT, FIELDS, Field, Need, Shape};
use crate::decision::{self, Decision};
use crate::kind::RequestKind;
use crate::refusal::Ground;

/// The JSON Schema of the draft format.
pub fn draft_schema() -> Value {
    let mut root = object_schema(FIELDS, "");
    if let Some(obj) = root.as_object_mut() {
        obj.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        obj.insert(
            "$id".into(),
            json!("https://custos.invalid/schema/custos-draft-1.json"),
        );
        obj.insert(
            "title".into(),
            json!("Custos request draft, format custos-draft/1"),
        );
        obj.insert(
            "description".into(),
            json!("A request draft. Comments (// and /* */) are allowed in files; strip them before checking with a plain JSON Schema validator."),
        );
        obj.insert("required".into(), json!(["format", "kind"]));
        let rules: Vec<Value> = RequestKind::ALL
            .into_iter()
            .map(|kind| {
                let mut required = Tree::default();
                // Items a yes/no field waives, grouped by that field.
                let mut waived: Vec<(&str, Tree)> = Vec::new();
                for item in contents::items(kind).filter(|i| i.need == Need::Required) {
                    match item.unless {
                        None => required.add(item.path),
                        Some(waiver) => {
                            let at = match waived.iter().position(|(w, _)| *w == waiver) {
                                Some(at) => at,
                                None => {
                                    waived.push((waiver, Tree::default()));
                                    waived.len() - 1
                                }
                            };
                            waived[at].1.add(item.path);
                        }
                    }
                }
                let mut then = required.to_schema();
                if !waived.is_empty() {
                    let rules: Vec<Value> = waived
                        .iter()
                        .map(|(waiver, tree)| {
                            json!({ "if": is_true(waiver), "else": tree.to_schema() })
                        })
                        .collect();
                    then["allOf"] = Value::Array(rules);
                }
                json!({
                    "if": { "properties": { "kind": { "const": kind.as_str() } }, "required": ["kind"] },
                    "then": then,
                })
            })
            .collect();
        obj.insert("allOf".into(), Value::Array(rules));
    }
    root
}

/// A schema that holds when the yes/no field at a dotted `path` is `true`.
fn is_true(path: &str) -> Value {
    path.rsplit('.').fold(
        json!({ "const": true }),
        |inner, name| json!({ "properties": { name: inner }, "required": [name] }),
    )
}

/// The JSON Schema of decision drafts: every decision's fields, and for each
/// decision (by its `decision` field) the fields it takes and requires.
pub fn decision_schema() -> Value {
    let mut root = object_schema(decision::FIELDS, "");
    let rules: Vec<Value> = Decision::ALL
        .into_iter()
        .map(|d| {
            let fields = decision::fields_of(d);
            let mut then = object_schema(&fields, "");
            let required = |prefix: &str| -> Vec<&str> {
                decision::all_items(d)
                    .filter(|i| i.need == Need::Required)
                    .filter_map(|i| i.path.strip_prefix(prefix))
                    .filter(|rest| !rest.contains('.'))
                    .collect()
            };
            then["required"] = json!(required(""));
            if let Some(props) = then["properties"].as_object_mut() {
                for (name, sub) in props.iter_mut() {
                    if sub["type"] == "object" {
                        sub["required"] = json!(required(&format!("{name}.")));
                    }
                }
            }
            json!({
                "if": { "properties": { "decision": { "const": d.as_str() } }, "required": ["decision"] },
                "then": then,
            })
        })
        .collect();
    if let Some(obj) = root.as_object_mut() {
        obj.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        obj.insert(
            "$id".into(),
            json!("https://custos.invalid/schema/custos-decision-1.json"),
        );
        obj.insert(
            "title".into(),
            json!("Custos decision draft, format custos-draft/1"),
        );
        obj.insert(
            "description".into(),
            json!("A decision draft: the body of a case action's message with `format` and `decision`. Comments (// and /* */) are allowed in files; strip them before checking with a plain JSON Schema validator. Checks that depend on the case (a consultation before a refusal) are the node's."),
        );
        obj.insert("required".into(), json!(["format", "decision"]));
        obj.insert("allOf".into(), Value::Array(rules));
    }
    root
}

fn object_schema(fields: &[Field], prefix: &str) -> Value {
    let mut props = Map::new();
    for f in fields.iter().filter(|f| {
        f.path
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('.'))
    }) {
        let name = &f.path[prefix.len()..];
        let mut s = field_schema(fields, f.path, f.shape);
        if let Some(obj) = s.as_object_mut() {
            obj.insert("description".into(), json!(f.about));
        }
        props.insert(name.to_owned(), s);
    }
    json!({ "type": "object", "additionalProperties": false, "properties": props })
}

fn field_schema(fields: &[Field], path: &str, shape: Shape) -> Value {
    let state = json!({ "type": "string", "pattern": "^[A-Z]{2}$" });
    match shape {
        Shape::Format => json!({ "const": DRAFT_FORMAT }),
        Shape::Kind => {
            json!({ "enum": RequestKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>() })
        }
        Shape::Text => json!({ "type": "string", "minLength": 1 }),
        Shape::Date => {
            json!({ "type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" })
        }
        Shape::State => state,
        Shape::Bool => json!({ "type": "boolean" }),
        Shape::Integer { min } => json!({ "type": "integer", "minimum": min }),
        Shape::Number => json!({ "type": "number", "minimum": 0 }),
        Shape::OneOf(words) => json!({ "enum": words }),
        Shape::Object => object_schema(fields, &format!("{path}.")),
        Shape::ListOfObjects => {
            json!({ "type": "array", "items": object_schema(fields, &format!("{path}[].")) })
        }
        Shape::ListOfText => {
            json!({ "type": "array", "items": { "type": "string", "minLength": 1 } })
        }
        Shape::ListOfStates => json!({ "type": "array", "items": state }),
        Shape::Decision => {
            json!({ "enum": Decision::ALL.iter().map(|d| d.as_str()).collect::<Vec<_>>() })
        }
        Shape::ListOfGrounds => json!({
            "type": "array",
            "uniqueItems": true,
            "items": { "enum": Ground::ALL.iter().map(|g| g.code()).collect::<Vec<_>>() }
        }),
        Shape::ListOfPackageIds => json!({
            "type": "array",
            "uniqueItems": true,
            "items": { "type": "string", "pattern": "^sha256:[0-9a-f]{64}$" }
        }),
        Shape::ThreadId => json!({
            "type": "string",
            "pattern": "^thr-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
        }),
    }
}

/// Required paths arranged as a tree, to be written as nested `required` lists.
#[derive(Default)]
struct Tree {
    children: Vec<(String, bool, Tree)>,
}

impl Tree {
    fn add(&mut self, path: &str) {
        let (head, rest) = match path.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (path, None),
        };
        let (name, is_list) = match head.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (head, false),
        };
        let idx = match self.children.iter().position(|(n, _, _)| n == name) {
            Some(i) => i,
            None => {
                self.children
                    .push((name.to_owned(), false, Tree::default()));
                self.children.len() - 1
            }
        };
        let child = &mut self.children[idx];
        child.1 |=
            is_list || contents::field(name).is_some_and(|f| f.shape == Shape::ListOfObjects);
        if let Some(rest) = rest {
            child.2.add(rest);
        }
    }

    fn to_schema(&self) -> Value {
        let required: Vec<&str> = self.children.iter().map(|(n, _, _)| n.as_str()).collect();
        let mut props = Map::new();
        for (name, is_list, sub) in &self.children {
            let inner = if sub.children.is_empty() {
                None
            } else {
                Some(sub.to_schema())
            };
            let s = match (is_list, inner) {
                (true, Some(inner)) => json!({ "minItems": 1, "items": inner }),
                (true, None) => json!({ "minItems": 1 }),
                (false, Some(inner)) => inner,
                (false, None) => continue,
            };
            props.insert(name.clone(), s);
        }
        let mut out = json!({ "required": required });
        if !props.is_empty() {
            out["properties"] = Value::Object(props);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preservation_rule_requires_the_article_42_items() {
        let schema = draft_schema();
        let rules = schema["allOf"].as_array().unwrap();
        let rule = rules
            .iter()
            .find(|r| r["if"]["properties"]["kind"]["const"] == "preservation")
            .unwrap();
        let then = &rule["then"];
        let required: Vec<&str> = then["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for top in [
            "facts",
            "offences",
            "data",
            "necessity",
            "follow_up_mla",
            "requesting_authority",
        ] {
            assert!(required.contains(&top), "{top} missing from {required:?}");
        }
        assert_eq!(then["properties"]["offences"]["minItems"], 1);
        assert_eq!(
            then["properties"]["offences"]["items"]["required"],
            json!(["category", "domestic_provision"])
        );
        assert_eq!(
            then["properties"]["data"]["required"],
            json!(["description", "link_to_offence", "custodian"])
        );
    }

    /// The paths a kind's rule requires, in the catalogue's notation
    /// (`a.b`, `a[].b`).
    fn required_paths(schema: &Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap();
            let path = format!("{prefix}{name}");
            let sub = &schema["properties"][name];
            if sub["items"].is_object() {
                required_paths(&sub["items"], &format!("{path}[]."), out);
            } else if sub["required"].is_array() {
                required_paths(sub, &format!("{path}."), out);
            }
            out.insert(path);
        }
    }

    #[test]
    fn every_kinds_rule_requires_exactly_the_catalogues_required_items() {
        // The schema lists no required item of its own: for each kind it
        // states the catalogue's required items (and the objects holding
        // them), nothing more and nothing less.
        let schema = draft_schema();
        let rules = schema["allOf"].as_array().unwrap();
        assert_eq!(rules.len(), RequestKind::ALL.len());
        for kind in RequestKind::ALL {
            let rule = rules
                .iter()
                .find(|r| r["if"]["properties"]["kind"]["const"] == kind.as_str())
                .unwrap_or_else(|| panic!("no rule for {kind:?}"));
            let mut stated = std::collections::BTreeSet::new();
            required_paths(&rule["then"], "", &mut stated);
            let mut catalogue = std::collections::BTreeSet::new();
            for item in
                contents::items(kind).filter(|i| i.need == Need::Required && i.unless.is_none())
            {
                // The item, and every object on the way to it.
                let mut at = 0;
                while let Some(dot) = item.path[at..].find('.') {
                    let parent = &item.path[..at + dot];
                    catalogue.insert(parent.strip_suffix("[]").unwrap_or(parent).to_owned());
                    at += dot + 1;
                }
                catalogue.insert(item.path.to_owned());
            }
            assert_eq!(stated, catalogue, "{kind:?}");
        }
    }

    #[test]
    fn the_mla_rule_waives_the_facts_for_the_service_of_documents() {
        let schema = draft_schema();
        let rule = schema["allOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["if"]["properties"]["kind"]["const"] == "mla")
            .unwrap();
        let required = rule["then"]["required"].as_array().unwrap();
        assert!(!required.contains(&json!("facts")), "{required:?}");
        assert_eq!(
            rule["then"]["allOf"],
            json!([{
                "if": { "properties": { "assistance": {
                    "properties": { "service_of_documents": { "const": true } },
                    "required": ["service_of_documents"]
                } }, "required": ["assistance"] },
                "else": { "required": ["facts"] }
            }])
        );
        // Other MLA kinds still require the facts outright.
        let stored = schema["allOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["if"]["properties"]["kind"]["const"] == "stored-data")
            .unwrap();
        assert!(
            stored["then"]["required"]
                .as_array()
                .unwrap()
                .contains(&json!("facts"))
        );
        assert!(stored["then"]["allOf"].is_null());
    }

    #[test]
    fn every_decisions_rule_requires_exactly_the_catalogues_required_items() {
        let schema = decision_schema();
        let rules = schema["allOf"].as_array().unwrap();
        assert_eq!(rules.len(), Decision::ALL.len());
        for d in Decision::ALL {
            let rule = rules
                .iter()
                .find(|r| r["if"]["properties"]["decision"]["const"] == d.as_str())
                .unwrap_or_else(|| panic!("no rule for {d}"));
            let mut stated = std::collections::BTreeSet::new();
            required_paths(&rule["then"], "", &mut stated);
            let catalogue: std::collections::BTreeSet<String> = decision::all_items(d)
                .filter(|i| i.need == Need::Required)
                .map(|i| i.path.to_owned())
                .collect();
            assert_eq!(stated, catalogue, "{d}");
            // A decision takes its own fields and no other.
            let taken: std::collections::BTreeSet<&str> = rule["then"]["properties"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let own: std::collections::BTreeSet<&str> = decision::all_items(d)
                .map(|i| i.path.split('.').next().unwrap())
                .collect();
            assert_eq!(taken, own, "{d}");
            assert_eq!(rule["then"]["additionalProperties"], false);
        }
        let refuse = rules
            .iter()
            .find(|r| r["if"]["properties"]["decision"]["const"] == "refuse")
            .unwrap();
        assert_eq!(
            refuse["then"]["properties"]["refusal"]["required"],
            json!(["grounds", "reasons"])
        );
    }

    #[test]
    fn nested_objects_forbid_unknown_fields() {
        let schema = draft_schema();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            schema["properties"]["data"]["properties"]["period"]["additionalProperties"],
            false
        );
        assert_eq!(
            schema["properties"]["offences"]["items"]["additionalProperties"],
            false
        );
    }
}
