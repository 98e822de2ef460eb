//! Decision drafts and the bodies of case actions, checked against the
//! decision catalogue ([`crate::decision`]) with the same field, shape and
//! item checks as request drafts, and the rules of decisions: a refusal
//! through the model's [`Refusal::check`], a preservation confirmed for
//! fewer days than the minimum warned, grounds and package ids each once.

use serde_json::{Map, Value};

use super::{Code, Report, Severity, check_fields, check_format, check_items, describe, lookup};
use crate::clock;
use crate::contents::Shape;
use crate::decision::{self, Decision};
use crate::refusal::{Ground, Refusal};

/// Validates a decision draft (one with a `decision` field): the header,
/// then the body as [`check_decision`] checks it.
pub(super) fn validate_decision_draft(draft: &Value, root: &Map<String, Value>) -> Report {
    let mut r = Report::default();
    let named = match root.get("decision") {
        Some(Value::String(s)) => s.parse::<Decision>().map_err(|e| e.to_string()),
        _ => Err("the decision draft must name its decision as text; `custos request template` lists them".to_owned()),
    };
    match named {
        Ok(d) => {
            r.decision = Some(d);
            check_fields(&decision::fields_of(d), root, "", "", &mut r);
            check_format(root, &mut r);
            check_decision_body(d, draft, &mut r);
        }
        Err(message) => {
            check_fields(decision::FIELDS, root, "", "", &mut r);
            check_format(root, &mut r);
            r.error(Code::DecisionUnknown, "decision", None, message);
        }
    }
    r
}

/// Checks what a case action is given for `decision`, as `custos case act`
/// and the client API take it: a decision draft naming that decision, or
/// the bare body of the action's message (as before drafts existed).
/// Returns every problem and the body to sign: the value without the
/// draft's header.
pub fn check_decision(decision: Decision, given: &Value) -> (Report, Value) {
    let mut r = Report {
        decision: Some(decision),
        ..Report::default()
    };
    let Some(root) = given.as_object() else {
        r.error(
            Code::WrongType,
            "",
            None,
            format!(
                "a decision draft or body must be a JSON object, found {}",
                describe(given)
            ),
        );
        return (r, given.clone());
    };
    let is_draft = decision::HEADER.iter().any(|h| root.contains_key(*h));
    check_fields(&decision::fields_of(decision), root, "", "", &mut r);
    if is_draft {
        check_format(root, &mut r);
        match root.get("decision").and_then(Value::as_str) {
            Some(named) if named == decision.as_str() => {}
            Some(named) => r.error(
                Code::DecisionMismatch,
                "decision",
                None,
                format!("the draft is a {named:?} decision, but the action taken is {decision}"),
            ),
            None => r.error(
                Code::DecisionMismatch,
                "decision",
                None,
                format!("the draft must say \"decision\": \"{decision}\""),
            ),
        }
    }
    check_decision_body(decision, given, &mut r);
    let mut body = root.clone();
    for h in decision::HEADER {
        body.remove(h);
    }
    (r, Value::Object(body))
}

/// The items of a decision's body and the rules that tie its fields
/// together: a refusal through the model's [`Refusal::check`], a
/// preservation confirmed for fewer days than the minimum warned.
fn check_decision_body(decision: Decision, draft: &Value, r: &mut Report) {
    check_items(
        &decision::fields_of(decision),
        decision::items(decision),
        draft,
        r,
    );
    match decision {
        Decision::Refuse => check_refusal(draft, r),
        Decision::ConfirmPreservation => {
            let min = clock::PRESERVATION_MINIMUM;
            if let Some(days) = lookup(draft, "days").and_then(Value::as_i64)
                && (1..i64::from(min.days)).contains(&days)
            {
                r.push(
                    Severity::Warning,
                    Code::PreservationTooShort,
                    "days",
                    Some(min.article),
                    format!(
                        "{days} days were confirmed; a preservation lasts at least {} days, and the case counts that many",
                        min.days
                    ),
                );
            }
        }
        // issue 18: use limits and onward-transfer consent
        Decision::AskConsent => {
            let case = lookup(draft, "for_case").is_some();
            let onward = lookup(draft, "onward_to").is_some();
            if !case && !onward {
                r.error(
                    Code::MissingRequired,
                    "for_case",
                    None,
                    "name the intended use: another case of yours (for_case) or a third State (onward_to)".to_owned(),
                );
            } else if case && onward {
                r.error(
                    Code::NotOneOf,
                    "onward_to",
                    None,
                    "ask for one use at a time: for_case or onward_to, not both".to_owned(),
                );
            }
        }
        _ => {}
    }
}

/// Runs the model's check of a refusal on the draft's `refusal`: the grounds
/// it names (those that are codes of the catalogue), its reasons, and the
/// consultation it states (the node fills that in from the case; a draft
/// that leaves it out is taken as consulted here, since the case checks the
/// consultation itself). A problem already reported at the same place is
/// not reported twice.
fn check_refusal(draft: &Value, r: &mut Report) {
    let Some(refusal) = lookup(draft, "refusal").and_then(Value::as_object) else {
        return;
    };
    let grounds: Vec<Ground> = refusal
        .get("grounds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| serde_json::from_value(g.clone()).ok())
        .collect();
    let check = Refusal {
        grounds,
        reasons: refusal
            .get("reasons")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        consulted: refusal
            .get("consulted")
            .and_then(Value::as_bool)
            .unwrap_or(true),
    };
    for mut issue in check.check() {
        issue.path = format!("refusal.{}", issue.path);
        if !r.issues.iter().any(|i| i.path == issue.path) {
            r.issues.push(issue);
        }
    }
}

/// The items of a list of grounds or package ids: each of its form, none twice.
pub(super) fn check_codes(shape: Shape, items: &[Value], path: &str, r: &mut Report) {
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let Some(s) = item.as_str() else {
            r.error(
                Code::WrongType,
                item_path,
                None,
                format!("expected text, found {}", describe(item)),
            );
            continue;
        };
        if shape == Shape::ListOfGrounds {
            if !Ground::ALL.iter().any(|g| g.code() == s) {
                let codes: Vec<&str> = Ground::ALL.iter().map(|g| g.code()).collect();
                r.error(
                    Code::NotOneOf,
                    item_path,
                    None,
                    format!(
                        "{s:?} is not a ground of refusal; one of: {}",
                        codes.join(", ")
                    ),
                );
                continue;
            }
        } else if !is_package_id(s) {
            r.error(
                Code::InvalidPackageId,
                item_path,
                None,
                format!("{s:?} is not a package id (sha256: and 64 lower-case hex digits)"),
            );
            continue;
        }
        if items[..i].iter().any(|earlier| earlier.as_str() == Some(s)) {
            r.error(
                Code::ListedTwice,
                item_path,
                None,
                format!("{s} is listed twice"),
            );
        }
    }
}

/// `sha256:` and 64 lower-case hex digits: an evidence package's id.
pub fn is_package_id(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// `thr-` and a UUID in lower-case hyphenated form: a request's id.
pub fn is_thread_id(s: &str) -> bool {
    s.strip_prefix("thr-").is_some_and(|uuid| {
        let groups: Vec<&str> = uuid.split('-').collect();
        groups.len() == 5
            && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, len)| {
                g.len() == len && g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::article;
    use crate::validate::{parse, validate};

    fn decision_template(d: Decision) -> Value {
        parse(&crate::template::render_decision(d)).unwrap()
    }

    #[test]
    fn a_fiscal_only_or_groundless_refusal_draft_is_an_error_with_its_article() {
        let mut d = decision_template(Decision::Refuse);
        d["refusal"]["grounds"] = serde_json::json!(["fiscal", "bank-secrecy"]);
        let r = validate(&d);
        assert_eq!(r.decision, Some(Decision::Refuse));
        assert_eq!(r.issues.len(), 1, "{:#?}", r.issues);
        assert_eq!(r.issues[0].code, Code::ExcludedGroundsOnly);
        assert_eq!(r.issues[0].path, "refusal.grounds");
        assert_eq!(r.issues[0].article, Some(article::MLA));
        // With a valid ground beside them, fiscal matters may be cited.
        d["refusal"]["grounds"] = serde_json::json!(["fiscal", "R6"]);
        assert!(validate(&d).issues.is_empty());

        // No ground and no reasons: both, once each.
        d["refusal"]["grounds"] = serde_json::json!([]);
        d["refusal"]["reasons"] = " ".into();
        let r = validate(&d);
        let found: Vec<_> = r.issues.iter().map(|i| (i.code, i.path.as_str())).collect();
        assert_eq!(
            found,
            [
                (Code::MissingRequired, "refusal.grounds"),
                (Code::MissingRequired, "refusal.reasons")
            ]
        );

        // Grounds are the catalogue's codes, each once; a draft that says it
        // was not consulted is told to consult.
        d["refusal"]["grounds"] = serde_json::json!(["R2", "R9", "R2"]);
        d["refusal"]["reasons"] = "Essential interests.".into();
        d["refusal"]["consulted"] = false.into();
        let r = validate(&d);
        let found: Vec<_> = r.issues.iter().map(|i| (i.code, i.path.as_str())).collect();
        assert_eq!(
            found,
            [
                (Code::NotOneOf, "refusal.grounds[1]"),
                (Code::ListedTwice, "refusal.grounds[2]"),
                (Code::MissingRequired, "refusal.consulted")
            ]
        );
    }

    #[test]
    fn a_decision_takes_only_its_own_fields_of_their_own_form() {
        let mut d = decision_template(Decision::ExecutePartly);
        d["conditions"] = serde_json::json!(["x"]);
        d["evidence"] = serde_json::json!(["pkg-1", "sha256:AB"]);
        let r = validate(&d);
        let found: Vec<_> = r.issues.iter().map(|i| (i.code, i.path.as_str())).collect();
        assert_eq!(
            found,
            [
                (Code::InvalidPackageId, "evidence[0]"),
                (Code::InvalidPackageId, "evidence[1]"),
                (Code::UnknownField, "conditions")
            ]
        );
        // An empty list says no package was sent; a missing one is an error.
        d.as_object_mut().unwrap().remove("conditions");
        d["evidence"] = serde_json::json!([]);
        assert!(validate(&d).issues.is_empty());
        d.as_object_mut().unwrap().remove("evidence");
        assert_eq!(validate(&d).issues[0].code, Code::MissingRequired);

        let mut d = decision_template(Decision::AnnounceFollowUp);
        d["request"] = "thr-6F1C2A4E-8B3D-4C55-9A7E-2D1F0B9C8E71".into();
        assert_eq!(validate(&d).issues[0].code, Code::InvalidThreadId);

        let mut d = decision_template(Decision::Refuse);
        d["decision"] = "refusal".into();
        let r = validate(&d);
        assert_eq!(r.decision, None);
        assert_eq!(r.issues.len(), 1, "{:#?}", r.issues);
        assert_eq!(r.issues[0].code, Code::DecisionUnknown);
    }

    #[test]
    fn a_preservation_confirmed_for_fewer_than_sixty_days_is_a_warning() {
        let mut d = decision_template(Decision::ConfirmPreservation);
        d["days"] = 30.into();
        let r = validate(&d);
        assert!(r.is_valid());
        assert_eq!(r.issues.len(), 1);
        assert_eq!(r.issues[0].code, Code::PreservationTooShort);
        assert_eq!(r.issues[0].article, Some(article::PRESERVATION));
    }

    #[test]
    fn a_case_action_takes_its_draft_or_its_bare_body_and_signs_the_body() {
        let draft = decision_template(Decision::Consult);
        let (r, body) = check_decision(Decision::Consult, &draft);
        assert!(r.issues.is_empty(), "{:#?}", r.issues);
        assert_eq!(body.as_object().unwrap().len(), 2);
        assert_eq!(body["conditions"], draft["conditions"]);

        // A draft for another decision is not taken for this one.
        let (r, _) = check_decision(Decision::Postpone, &draft);
        let codes: Vec<_> = r.issues.iter().map(|i| i.code).collect();
        assert!(codes.contains(&Code::DecisionMismatch), "{codes:?}");
        assert!(codes.contains(&Code::UnknownField), "{codes:?}");
        assert!(codes.contains(&Code::MissingRequired), "{codes:?}");

        // A bare body needs no header; `{}` for a note-only action.
        let (r, _) = check_decision(Decision::Close, &serde_json::json!({}));
        assert!(r.issues.is_empty());
        let (r, _) = check_decision(Decision::Consult, &serde_json::json!({"conditions": []}));
        assert_eq!(r.issues[0].code, Code::MissingRequired);
        assert_eq!(r.issues[0].path, "conditions");
        let (r, _) = check_decision(Decision::Close, &serde_json::json!([]));
        assert_eq!(r.issues[0].code, Code::WrongType);
    }
}
