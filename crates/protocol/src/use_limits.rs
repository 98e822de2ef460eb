//! The use limits of what a State provides (issue 18): the purposes an
//! evidence package may serve, carried in its signed manifest's
//! `use_limits` (`docs/formats/evidence-package.md`).
//!
//! Version 2 manifests sealed since then carry the typed form
//! `{"case": thread id, "purpose"?: text, "conditions"?: [text, …]}`:
//! the case the package answers, the purpose stated in the request and
//! the conditions set on its use. Older manifests carry `null` or the
//! request's `use_conditions` as they were (a text or a list of texts);
//! [`UseLimits::read`] reads those as conditions of the manifest's
//! request, so every manifest ever sealed stays readable. Any other use
//! (in another case, sealed or sent to a third State) needs the providing
//! State's consent, asked and given in the case (`ask-consent`,
//! `grant-consent`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The purposes a package (or an answer) may serve.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UseLimits {
    /// The case the package answers (the request's thread id).
    pub case: String,
    /// The purpose stated in the request, when it stated one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The conditions set on the use: the request's own and the providing
    /// State's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
}

impl UseLimits {
    /// The JSON value written into a manifest.
    pub fn to_value(&self) -> Value {
        let mut map = serde_json::Map::new();
        map.insert("case".into(), Value::String(self.case.clone()));
        if let Some(p) = &self.purpose {
            map.insert("purpose".into(), Value::String(p.clone()));
        }
        if !self.conditions.is_empty() {
            map.insert(
                "conditions".into(),
                Value::Array(
                    self.conditions
                        .iter()
                        .map(|c| Value::String(c.clone()))
                        .collect(),
                ),
            );
        }
        Value::Object(map)
    }

    /// Reads a manifest's `use_limits` for the package answering
    /// `request`: the typed form, or an older manifest's `null`, text or
    /// list of texts as conditions (anything else is kept as its JSON text,
    /// so that nothing said is lost).
    pub fn read(value: &Value, request: &str) -> UseLimits {
        // Only an object is the typed form (serde would read a list of
        // texts as the struct's members in order).
        if value.is_object()
            && let Ok(typed) = serde_json::from_value::<UseLimits>(value.clone())
        {
            return typed;
        }
        let conditions = match value {
            Value::Null => Vec::new(),
            Value::String(s) if s.trim().is_empty() => Vec::new(),
            Value::String(s) => vec![s.clone()],
            Value::Array(items) if items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            other => vec![other.to_string()],
        };
        UseLimits {
            case: request.to_owned(),
            purpose: None,
            conditions,
        }
    }

    /// The conditions of a request draft's `use_conditions` (a text or a
    /// list of texts; anything else gives none).
    pub fn conditions_of(value: Option<&Value>) -> Vec<String> {
        match value {
            Some(Value::String(s)) if !s.trim().is_empty() => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_typed_form_round_trips_and_old_forms_read_as_conditions() {
        let typed = UseLimits {
            case: "thr-1".into(),
            purpose: Some("Prosecution of the ransomware attack".into()),
            conditions: vec!["Not to be passed on".into()],
        };
        assert_eq!(UseLimits::read(&typed.to_value(), "thr-other"), typed);
        let bare = UseLimits {
            case: "thr-1".into(),
            ..UseLimits::default()
        };
        assert_eq!(bare.to_value(), json!({"case": "thr-1"}));
        assert_eq!(UseLimits::read(&Value::Null, "thr-1"), bare);
        assert_eq!(
            UseLimits::read(&json!("Only for case 12/2026"), "thr-1").conditions,
            ["Only for case 12/2026"]
        );
        assert_eq!(
            UseLimits::read(&json!(["a", "b"]), "thr-1").conditions,
            ["a", "b"]
        );
        assert_eq!(
            UseLimits::read(&json!({"odd": 1}), "thr-1").conditions,
            [r#"{"odd":1}"#]
        );
    }
}
