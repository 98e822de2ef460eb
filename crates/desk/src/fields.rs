//! Forms generated from the model's catalogues: the fields of a request
//! kind's draft (`custos_model::template::offered_fields`) and of a
//! decision (`offered_decision_fields`), each with how strongly the
//! Convention needs it and the article that says so. Nothing here is
//! written per kind or per decision: a field's input follows its shape.
//!
//! The same module reads a posted form back into the draft's JSON (the
//! shape `custos request validate` reads) and places each problem the
//! node's validation found beside the field it concerns. Whether the
//! draft is right is the node's answer alone ([`custos_node::Node::validate_draft`]).

use custos_model::RequestKind;
use custos_model::article::ArticleRef;
use custos_model::contents::{self, Field, Need, Shape};
use custos_model::decision::{self, Decision};
use custos_model::refusal::Ground;
use custos_model::template;
use custos_model::validate::{Issue, Severity};
use maud::{Markup, html};
use serde_json::{Map, Value};

use crate::i18n::{Lang, t};

/// One input of a generated form.
#[derive(Clone, Debug)]
pub struct FormField {
    /// The input's name: the draft path, a list's first item as `[0]`
    /// (`offences[0].category`), as the validator names problems.
    pub name: String,
    /// What the form is (a decision's name; empty for a request), which
    /// keeps the ids of several forms on one page apart.
    pub scope: &'static str,
    pub field: Field,
    /// How strongly the kind or decision needs it, and the article.
    pub need: Option<(Need, ArticleRef)>,
}

impl FormField {
    fn new(scope: &'static str, field: Field, item: Option<&contents::Item>) -> FormField {
        FormField {
            name: field.path.replace("[]", "[0]"),
            scope,
            field,
            need: item.map(|i| (i.need, i.article)),
        }
    }

    /// The element id of the input.
    pub fn id(&self) -> String {
        let mut id = String::from("f-");
        if !self.scope.is_empty() {
            id.push_str(self.scope);
            id.push('-');
        }
        id.extend(
            self.name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }),
        );
        id
    }

    /// The id of the element listing the field's problems.
    pub fn problems_id(&self) -> String {
        format!("{}-problems", self.id())
    }

    /// The message key of the field's label (`field-legal-basis-basis`).
    fn label_key(&self) -> String {
        let key: String = self
            .field
            .path
            .replace("[]", "")
            .chars()
            .map(|c| if c == '.' || c == '_' { '-' } else { c })
            .collect();
        format!("field-{key}")
    }
}

/// A field's label in `lang`.
pub fn label(lang: Lang, f: &FormField) -> String {
    t(lang, &f.label_key())
}

/// The fields a request of `kind` offers, without the header the form
/// fixes (`format`, `kind`) and the containers (objects, lists of objects).
pub fn request_fields(kind: RequestKind) -> Vec<FormField> {
    template::offered_fields(kind)
        .into_iter()
        .filter(|f| !matches!(f.shape, Shape::Object | Shape::ListOfObjects))
        .filter(|f| !matches!(f.path, "format" | "kind"))
        .map(|f| FormField::new("", *f, contents::items(kind).find(|i| i.path == f.path)))
        .collect()
}

/// The fields a decision offers, without its header and containers.
pub fn decision_fields(decision: Decision) -> Vec<FormField> {
    template::offered_decision_fields(decision)
        .into_iter()
        .filter(|f| !matches!(f.shape, Shape::Object | Shape::ListOfObjects))
        .map(|f| {
            FormField::new(
                decision.as_str(),
                f,
                decision::all_items(decision).find(|i| i.path == f.path),
            )
        })
        .collect()
}

/// The draft a posted form says: `base` (the header the form fixes) with
/// every field given. Values are read as their shape asks: numbers as
/// numbers (text that is no number is kept, for the validator to name),
/// yes/no boxes as `true`, lists one item a line or one box each.
pub fn build(fields: &[FormField], pairs: &[(String, String)], base: Map<String, Value>) -> Value {
    let mut draft = Value::Object(base);
    for f in fields {
        let given: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| *k == f.name)
            .map(|(_, v)| v.trim())
            .collect();
        let first = given.iter().copied().find(|v| !v.is_empty());
        let value = match f.field.shape {
            Shape::Bool => first.map(|v| Value::Bool(v == "true")),
            Shape::Integer { .. } => first.map(|v| match v.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => Value::from(v),
            }),
            Shape::Number => first.map(|v| match v.parse::<f64>() {
                Ok(n) if n.fract() == 0.0 && n.abs() < 1e15 => Value::from(n as i64),
                Ok(n) => Value::from(n),
                Err(_) => Value::from(v),
            }),
            Shape::ListOfText | Shape::ListOfStates => {
                let items = lines(&given);
                (!items.is_empty()).then(|| Value::from(items))
            }
            // An empty list of packages says that none was sent.
            Shape::ListOfPackageIds => Some(Value::from(lines(&given))),
            Shape::ListOfGrounds => {
                let items: Vec<&str> = given.iter().copied().filter(|v| !v.is_empty()).collect();
                (!items.is_empty()).then(|| Value::from(items))
            }
            _ => first.map(Value::from),
        };
        if let Some(value) = value {
            insert(&mut draft, &f.name, value);
        }
    }
    draft
}

fn lines(given: &[&str]) -> Vec<String> {
    given
        .iter()
        .flat_map(|v| v.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Puts `value` at `path` (`a.b`, `list[0].c`), making the objects and
/// lists on the way.
fn insert(root: &mut Value, path: &str, value: Value) {
    let mut here = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (n, part) in parts.iter().enumerate() {
        let last = n + 1 == parts.len();
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (*part, None),
        };
        let Value::Object(map) = here else { return };
        let slot = map.entry(name.to_owned()).or_insert(Value::Null);
        here = match index {
            Some(i) => {
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                let Value::Array(list) = slot else { return };
                while list.len() <= i {
                    list.push(Value::Object(Map::new()));
                }
                &mut list[i]
            }
            None => slot,
        };
        if last {
            *here = value;
            return;
        }
        if !here.is_object() {
            *here = Value::Object(Map::new());
        }
    }
}

/// The value at `path` of `draft`, if any.
pub fn lookup<'a>(draft: &'a Value, path: &str) -> Option<&'a Value> {
    let mut here = draft;
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        here = here.get(name)?;
        if let Some(i) = index {
            here = here.get(i)?;
        }
    }
    Some(here)
}

/// The problems of field `f` among `issues`: those naming it, and those
/// naming a container of it when `f` is the container's first field.
pub fn problems_of<'a>(fields: &[FormField], f: &FormField, issues: &'a [Issue]) -> Vec<&'a Issue> {
    issues
        .iter()
        .filter(|i| placed(fields, i).is_some_and(|p| p.name == f.name))
        .collect()
}

/// The field an issue is shown beside, if the form has one.
fn placed<'f>(fields: &'f [FormField], issue: &Issue) -> Option<&'f FormField> {
    let path = issue.path.as_str();
    if path.is_empty() {
        return None;
    }
    fields.iter().find(|f| f.name == path).or_else(|| {
        fields.iter().find(|f| {
            f.name.starts_with(&format!("{path}.")) || f.name.starts_with(&format!("{path}["))
        })
    })
}

/// The issues no field of the form shows.
pub fn unplaced<'a>(fields: &[FormField], issues: &'a [Issue]) -> Vec<&'a Issue> {
    issues
        .iter()
        .filter(|i| placed(fields, i).is_none())
        .collect()
}

/// One input with its label, need, article and problems.
pub fn render(lang: Lang, f: &FormField, draft: &Value, problems: &[&Issue]) -> Markup {
    let id = f.id();
    let value = lookup(draft, &f.name);
    let text = match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let described = f.problems_id();
    let required = matches!(f.need, Some((Need::Required, _)));
    html! {
        div.field {
            @if matches!(f.field.shape, Shape::Bool) {
                div.check {
                    input #(id) type="checkbox" name=(f.name) value="true"
                        checked[value == Some(&Value::Bool(true))]
                        aria-describedby=(described);
                    label for=(id) { (t(lang, &f.label_key())) }
                    (need(lang, f))
                }
            } @else if matches!(f.field.shape, Shape::ListOfGrounds) {
                fieldset #(id) aria-describedby=(described) {
                    legend { (t(lang, &f.label_key())) " " (need(lang, f)) }
                    @for g in Ground::ALL {
                        @let gid = format!("{id}-{}", g.code());
                        @let on = value.and_then(Value::as_array)
                            .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(g.code())));
                        div.check {
                            input #(gid) type="checkbox" name=(f.name) value=(g.code()) checked[on];
                            label for=(gid) {
                                (g.code()) " — " (t(lang, &format!("ground-{}", g.code())))
                                " (" (g.article()) ")"
                            }
                        }
                    }
                }
            } @else {
                label for=(id) { (t(lang, &f.label_key())) " " (need(lang, f)) }
                @match f.field.shape {
                    Shape::OneOf(words) => {
                        select #(id) name=(f.name) required[required] aria-describedby=(described) {
                            option value="" { "—" }
                            @for w in words {
                                option value=(w) selected[text == *w] { (choice(lang, f, w)) }
                            }
                        }
                    }
                    Shape::ListOfText | Shape::ListOfStates | Shape::ListOfPackageIds => {
                        textarea #(id) name=(f.name) rows="2" aria-describedby=(format!("{described} {id}-help")) { (text) }
                        small #(format!("{id}-help")) { (t(lang, "form-one-per-line")) }
                    }
                    Shape::Text if long(f) => {
                        textarea #(id) name=(f.name) rows="3" required[required]
                            aria-describedby=(described) { (text) }
                    }
                    shape => {
                        input #(id) name=(f.name) type=(input_type(shape)) value=(text)
                            required[required] aria-describedby=(described)
                            maxlength=[matches!(shape, Shape::State).then_some("2")]
                            step=[matches!(shape, Shape::Number).then_some("any")];
                    }
                }
            }
            (problems_list(lang, f, problems, false))
        }
    }
}

/// The list of a field's problems, in the element htmx replaces (`oob`:
/// marked for an out-of-band swap, in the answer to a check).
pub fn problems_list(lang: Lang, f: &FormField, problems: &[&Issue], oob: bool) -> Markup {
    html! {
        div.problems #(f.problems_id()) hx-swap-oob=[oob.then_some("true")] {
            @if !problems.is_empty() {
                ul { @for i in problems { (issue_item(lang, i)) } }
            }
        }
    }
}

/// One problem: its severity, the node's sentence and the article.
pub fn issue_item(lang: Lang, i: &Issue) -> Markup {
    let class = match i.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    html! {
        li.(class) {
            strong { (t(lang, &format!("severity-{class}"))) } " "
            (i.message)
            @if let Some(a) = i.article { " (" (a) ")" }
        }
    }
}

fn need(lang: Lang, f: &FormField) -> Markup {
    html! {
        @if let Some((need, article)) = f.need {
            small.need {
                "(" (t(lang, match need {
                    Need::Required => "need-required",
                    Need::Recommended => "need-recommended",
                    Need::Optional => "need-optional",
                })) ", " (article) ")"
            }
        }
    }
}

/// How a listed word is shown: the urgencies in words, others as written.
fn choice(lang: Lang, f: &FormField, word: &str) -> String {
    if f.field.path == "urgency" {
        t(lang, &format!("urgency-{word}"))
    } else {
        word.to_owned()
    }
}

fn long(f: &FormField) -> bool {
    matches!(
        f.field.path,
        "facts"
            | "question"
            | "information"
            | "necessity"
            | "purpose"
            | "note"
            | "reasons"
            | "text"
            | "refusal.reasons"
            | "assistance.description"
            | "data.description"
            | "emergency.risk"
    )
}

fn input_type(shape: Shape) -> &'static str {
    match shape {
        Shape::Date => "date",
        Shape::Integer { .. } | Shape::Number => "number",
        _ => "text",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_posted_form_becomes_the_draft_the_validator_reads() {
        let fields = request_fields(RequestKind::Preservation);
        let pairs: Vec<(String, String)> = [
            ("requesting_state", "FR"),
            ("legal_basis.basis", "un-convention"),
            ("offences[0].category", "art-7"),
            ("offences[0].max_penalty_years", "5"),
            ("preservation_days", "ninety"),
            ("follow_up_mla", "true"),
            ("reference", "  "),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut base = Map::new();
        base.insert("kind".into(), json!("preservation"));
        let draft = build(&fields, &pairs, base);
        assert_eq!(draft["kind"], "preservation");
        assert_eq!(draft["legal_basis"]["basis"], "un-convention");
        assert_eq!(draft["offences"][0]["category"], "art-7");
        assert_eq!(draft["offences"][0]["max_penalty_years"], 5);
        assert_eq!(draft["preservation_days"], "ninety");
        assert_eq!(draft["follow_up_mla"], true);
        assert!(draft.get("reference").is_none());
        assert_eq!(
            lookup(&draft, "offences[0].category"),
            Some(&json!("art-7"))
        );
    }

    #[test]
    fn every_kind_and_decision_has_a_form_and_problems_find_their_field() {
        for kind in RequestKind::ALL {
            let fields = request_fields(kind);
            assert!(fields.iter().any(|f| f.name == "requested_state"), "{kind}");
            let report = custos_model::validate::validate(&json!({"kind": kind.as_str()}));
            let missing = unplaced(&fields, &report.issues);
            assert!(
                missing
                    .iter()
                    .all(|i| i.path.is_empty() || i.path == "format"),
                "{kind}: {missing:?}"
            );
        }
        let refuse = decision_fields(Decision::Refuse);
        assert!(refuse.iter().any(|f| f.name == "refusal.grounds"));
        assert!(!refuse.iter().any(|f| f.name == "decision"));
    }
}
