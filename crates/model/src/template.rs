//! Commented draft templates, one per request kind, derived from the contents catalogue.
//!
//! A template is a complete draft that validates: every item the kind requires
//! or recommends, filled with example values from one fictitious ransomware
//! case, each preceded by a comment saying what it is and which article asks
//! for it. Drafters replace the values and keep the structure. Decisions
//! have templates too ([`render_decision`]), derived the same way from the
//! decision catalogue.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::contents::{self, DRAFT_FORMAT, FIELDS, Field, Item, Need, Shape};
use crate::decision::{self, Decision};
use crate::kind::RequestKind;

/// Fields offered in every template even where no article requires them.
const ALWAYS_OFFERED: &[&str] = &[
    "format",
    "kind",
    "reference",
    "urgency",
    "requesting_state",
    "requested_state",
    "legal_basis.basis",
    "requesting_authority.name",
    "requesting_authority.role",
    "requesting_authority.email",
    "requesting_authority.phone",
];

/// The reference every request template carries: it marks a draft as the
/// invented example, which `custos request send` refuses to send unless told
/// to (`--allow-sample`).
pub const SAMPLE_REFERENCE: &str = "CYB-2026-0142";

/// Whether a draft still holds the template's sample marker (its reference).
pub fn holds_sample_marker(draft: &Value) -> bool {
    draft.get("reference").and_then(Value::as_str) == Some(SAMPLE_REFERENCE)
}

/// The commented template of a kind, as text (JSON with `//` comments).
pub fn render(kind: RequestKind) -> String {
    let wanted = offered_paths(kind);

    let mut out = String::new();
    let art = contents::governing_article(kind);
    let _ = writeln!(
        out,
        "// Draft request: {} — {} ({art}).",
        kind.as_str(),
        contents::title(kind)
    );
    let _ = writeln!(
        out,
        "// The values below are an invented example: replace them with the case's own."
    );
    let _ = writeln!(
        out,
        "// The reference {SAMPLE_REFERENCE} marks the example: `custos request send` refuses it."
    );
    let _ = writeln!(
        out,
        "// Check the draft with `custos request validate FILE` before sending it."
    );
    let source = Source {
        fields: FIELDS,
        comment: &|f: &Field| comment(contents::items(kind), f.path, f.about),
        sample: &|path: &str| sample(kind, path),
    };
    render_object(&source, "", &wanted, 0, &mut out);
    out.push('\n');
    out
}

/// The fields a kind's template (and the desk's guided form) offers, in the
/// order of [`FIELDS`]: the header every request has, every item the kind
/// requires or recommends with the field that waives it, the kind's own
/// optional fields, and every field of an object or list named whole.
pub fn offered_fields(kind: RequestKind) -> Vec<&'static Field> {
    let wanted = offered_paths(kind);
    FIELDS.iter().filter(|f| wanted.contains(f.path)).collect()
}

/// The paths of [`offered_fields`].
fn offered_paths(kind: RequestKind) -> BTreeSet<&'static str> {
    let mut wanted: BTreeSet<&'static str> = ALWAYS_OFFERED.iter().copied().collect();
    for item in contents::items(kind) {
        wanted.insert(item.path);
        wanted.extend(item.unless);
    }
    wanted.extend(contents::offered(kind));
    // Objects and lists named as a whole bring all their fields.
    for f in FIELDS {
        if let Some((parent, _)) = f.path.rsplit_once('.') {
            let parent = parent.trim_end_matches("[]");
            let whole = wanted.contains(parent)
                && contents::field(parent)
                    .is_some_and(|p| matches!(p.shape, Shape::ListOfObjects | Shape::Object));
            if whole {
                wanted.insert(f.path);
            }
        }
    }
    wanted
}

/// Optional items a decision's template shows all the same: an ask for
/// consent needs one of its two uses, and shows the onward transfer.
fn offered(decision: Decision, path: &str) -> bool {
    decision == Decision::AskConsent && path == "onward_to"
}

/// The commented template of a decision, as text: its header, every item
/// it requires or recommends and its note, with example values from the
/// same invented case.
pub fn render_decision(decision: Decision) -> String {
    let wanted = offered_decision_paths(decision);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Draft decision: {} — {} ({}).",
        decision.as_str(),
        decision.title(),
        decision.article()
    );
    let _ = writeln!(
        out,
        "// The values below are an invented example: replace them with the case's own."
    );
    let _ = writeln!(
        out,
        "// Check it with `custos request validate FILE`; take it with `custos case act ID {} --file FILE`.",
        decision.as_str()
    );
    let fields = decision::fields_of(decision);
    let source = Source {
        fields: &fields,
        comment: &|f: &Field| comment(decision::all_items(decision), f.path, f.about),
        sample: &|path: &str| decision_sample(decision, path),
    };
    render_object(&source, "", &wanted, 0, &mut out);
    out.push('\n');
    out
}

/// The fields a decision's template (and the desk's action form) offers,
/// in the order of the decision catalogue: every item it requires or
/// recommends, its note, and the optional items shown all the same. The
/// header (`format`, `decision`) is left out: it names the form itself.
pub fn offered_decision_fields(decision: Decision) -> Vec<Field> {
    let wanted = offered_decision_paths(decision);
    decision::fields_of(decision)
        .into_iter()
        .filter(|f| wanted.contains(f.path) && !decision::HEADER.contains(&f.path))
        .collect()
}

fn offered_decision_paths(decision: Decision) -> BTreeSet<&'static str> {
    decision::all_items(decision)
        .filter(|i| i.need != Need::Optional || i.path == "note" || offered(decision, i.path))
        .map(|i| i.path)
        .collect()
}

/// Where a template's fields, comments and example values come from.
struct Source<'a> {
    fields: &'a [Field],
    comment: &'a dyn Fn(&Field) -> String,
    sample: &'a dyn Fn(&str) -> Value,
}

fn render_object(
    source: &Source<'_>,
    prefix: &str,
    wanted: &BTreeSet<&str>,
    depth: usize,
    out: &mut String,
) {
    let pad = "  ".repeat(depth + 1);
    let children: Vec<_> = source
        .fields
        .iter()
        .filter(|f| {
            f.path
                .strip_prefix(prefix)
                .is_some_and(|rest| !rest.contains('.'))
        })
        .filter(|f| {
            wanted.contains(f.path)
                || wanted.iter().any(|w| {
                    w.starts_with(&format!("{}.", f.path))
                        || w.starts_with(&format!("{}[].", f.path))
                })
        })
        .collect();
    out.push_str("{\n");
    for (n, f) in children.iter().enumerate() {
        let name = &f.path[prefix.len()..];
        let _ = writeln!(out, "{pad}// {}", (source.comment)(f));
        let _ = write!(out, "{pad}{}: ", json!(name));
        match f.shape {
            Shape::Object => render_object(source, &format!("{}.", f.path), wanted, depth + 1, out),
            Shape::ListOfObjects => {
                out.push_str("[\n");
                let _ = write!(out, "{pad}  ");
                render_object(source, &format!("{}[].", f.path), wanted, depth + 2, out);
                let _ = write!(out, "\n{pad}]");
            }
            _ => out.push_str(&(source.sample)(f.path).to_string()),
        }
        if n + 1 < children.len() {
            out.push(',');
        }
        out.push('\n');
    }
    let _ = write!(out, "{}}}", "  ".repeat(depth));
}

/// The comment above a field: the article's sentence where one applies, else what the field is.
fn comment<'i>(items: impl IntoIterator<Item = &'i Item>, path: &str, about: &str) -> String {
    match items.into_iter().find(|i| i.path == path) {
        Some(item) => {
            let need = match item.need {
                Need::Required => "required",
                Need::Recommended => "where possible",
                Need::Optional => "optional",
            };
            match item.unless {
                Some(waiver) => format!(
                    "{} ({need} unless {waiver} is true, {})",
                    item.sentence, item.article
                ),
                None => format!("{} ({need}, {})", item.sentence, item.article),
            }
        }
        None => format!("{about} (optional)"),
    }
}

/// Example values from one invented ransomware case.
fn sample(kind: RequestKind, path: &str) -> Value {
    match path {
        "format" => json!(DRAFT_FORMAT),
        "kind" => json!(kind.as_str()),
        "reference" => json!(SAMPLE_REFERENCE),
        "language" => json!("en"),
        "urgency" => json!(match kind {
            RequestKind::EmergencyData => "emergency",
            RequestKind::Preservation
            | RequestKind::TrafficDisclosure
            | RequestKind::LocateSuspect => "urgent",
            _ => "routine",
        }),
        "requesting_state" => json!("FR"),
        "requested_state" => json!("DE"),
        "legal_basis.basis" => json!("un-convention"),
        "legal_basis.treaty" => {
            json!("Treaty on mutual legal assistance in criminal matters between the two States")
        }
        "requesting_authority.name" => json!(match kind {
            RequestKind::Mla
            | RequestKind::StoredData
            | RequestKind::RealTimeTraffic
            | RequestKind::Interception => {
                "Ministry of Justice, Office of International Mutual Assistance in Criminal Matters"
            }
            _ => "National Cybercrime Unit, 24/7 point of contact",
        }),
        "requesting_authority.role" => json!(match kind {
            RequestKind::Mla
            | RequestKind::StoredData
            | RequestKind::RealTimeTraffic
            | RequestKind::Interception => "central-authority",
            _ => "point-of-contact",
        }),
        "requesting_authority.email" => json!("duty-officer@cyber-unit.example"),
        "requesting_authority.phone" => json!("+33 1 00 00 00 00"),
        "proceedings.nature" => json!("investigation"),
        "proceedings.subject" => {
            json!("Ransomware attack on the information systems of a regional hospital")
        }
        "proceedings.authority" => json!("Public Prosecutor's Office, Cybercrime Section"),
        "proceedings.authority_functions" => {
            json!("Directs the criminal investigation and decides on prosecution")
        }
        "offences[].category" => json!("art-10"),
        "offences[].domestic_provision" => {
            json!("Criminal Code, section on serious hindering of an information system")
        }
        "offences[].max_penalty_years" => json!(7),
        "facts" => json!(
            "On 3 November 2026 the hospital's servers were encrypted and a ransom was demanded. The attackers' negotiation site and a staging server were hosted by a provider in the requested State."
        ),
        "assistance.description" => json!(
            "Disclose the subscriber information and stored logs of the hosting account that ran the staging server."
        ),
        "assistance.service_of_documents" => json!(false),
        "assistance.procedure" => {
            json!("Please provide a certificate of authenticity for the records produced.")
        }
        "persons[].name" => json!("Unknown user of the account 'nightowl'"),
        "persons[].role" => json!("suspect"),
        "persons[].location" => json!("Unknown"),
        "persons[].nationality" => json!("DE"),
        "persons[].identifiers" => json!(["nightowl@mail.example", "198.51.100.23"]),
        "data.description" => json!(match kind {
            RequestKind::RealTimeTraffic =>
                "Traffic data of the hosting account 'srv-4471': origin, destination, time and size of connections",
            RequestKind::Interception =>
                "Content of communications of the hosting account 'srv-4471'",
            RequestKind::EmergencyData =>
                "Subscriber information and latest login IP addresses of the account threatening the victim",
            RequestKind::TrafficDisclosure =>
                "Traffic data showing the provider and path of the connection that reached the staging server",
            _ =>
                "Subscriber information, connection logs and stored content of the hosting account 'srv-4471'",
        }),
        "data.link_to_offence" => json!(
            "The account hosted the server used to stage the encryption of the hospital's systems."
        ),
        "data.custodian" => json!("Example Hosting GmbH"),
        "data.location" => json!("Data centre in the requested State"),
        "data.period.from" => json!("2026-10-01"),
        "data.period.to" => json!("2026-11-10"),
        "necessity" => json!(match kind {
            RequestKind::RealTimeTraffic =>
                "The attackers reach the staging server through changing relays; only traffic data collected as the connections happen can show where they come from.",
            RequestKind::Interception =>
                "The attackers plan their next attack through the account's messages; only their content, intercepted as they are sent, can show its target and time.",
            _ =>
                "The provider keeps connection logs for 30 days only; without preservation the evidence will be lost.",
        }),
        "follow_up_mla" => json!(true),
        "preservation_days" => json!(90),
        "collection_period.from" => json!("2026-12-01"),
        "collection_period.to" => json!("2026-12-30"),
        "collection_period.justification" => {
            json!("The attackers reconnect weekly; four weeks cover several contacts.")
        }
        "purpose" => {
            json!("To identify the persons responsible and obtain evidence for their prosecution.")
        }
        "deadline.date" => json!("2027-02-01"),
        "deadline.reasons" => json!("The suspects' detention review is scheduled for that date."),
        "confidentiality.required" => json!(true),
        "confidentiality.no_user_notification" => json!(true),
        "confidentiality.reasons" => {
            json!("Notifying the account holder would alert the suspects.")
        }
        "emergency.risk" => json!(
            "A person has been threatened with death and the threat names a date within 48 hours."
        ),
        "emergency.persons_at_risk" => json!("A journalist living in the requesting State"),
        "question" => json!(match kind {
            RequestKind::LegalInformation =>
                "What legal process does your law require for disclosure of stored subscriber information?",
            _ =>
                "How can the ransomware family 'ExampleLocker' be identified from an encrypted sample?",
        }),
        "information" => json!(
            "Our investigation found credentials of accounts at a provider in your State being sold on a criminal forum."
        ),
        "use_conditions" => json!(
            "To be used only for the investigation of the offences named; not to be passed on without consent."
        ),
        "preservation_reference" => json!("CYB-2026-0142-P"),
        "communication" => {
            json!("The connection to the staging server at 2026-11-03T02:14Z from 203.0.113.7")
        }
        "joint_investigation.purpose" => json!(
            "Identify and prosecute the group behind the ransomware attacks on hospitals in both States."
        ),
        "joint_investigation.participants" => json!(["FR", "DE"]),
        "joint_investigation.duration_months" => json!(12),
        other => json!(format!("(example value for {other})")),
    }
}

/// Example values of decisions on the same invented case.
fn decision_sample(decision: Decision, path: &str) -> Value {
    use Decision as D;
    match path {
        "format" => json!(DRAFT_FORMAT),
        "decision" => json!(decision.as_str()),
        "conditions" => json!([
            "The data is used only for the investigation and prosecution of the offences named in the request.",
            "The data is not passed on to a third State without our prior consent."
        ]),
        "reasons" => json!(match decision {
            D::Postpone => {
                "Executing the request now would interfere with our own ongoing investigation of the same hosting provider."
            }
            D::AskConsent => {
                "The same hosting account was used against victims in the Netherlands, whose prosecutors asked us for the records."
            }
            D::RefuseConsent => {
                "The records identify a protected witness; we cannot consent to their transfer to another State."
            }
            _ =>
                "The provider has been ordered to delete the data under a court decision in other proceedings.",
        }),
        "until" => json!(match decision {
            D::Postpone => "2027-03-01",
            _ => "2027-04-30",
        }),
        "refusal.grounds" => json!(["R2"]),
        "refusal.reasons" => json!(
            "Disclosing the hosting account's records would reveal the identity of a protected witness in proceedings of our own."
        ),
        "took_effect" => json!("2026-11-05"),
        "days" => json!(90),
        "evidence" => {
            json!(["sha256:5d41402abc4b2a76b9719d911017c592ae2f6f8c3e4b1a9d0c7e6f5a4b3c2d1e"])
        }
        "request" => json!("thr-6f1c2a4e-8b3d-4c55-9a7e-2d1f0b9c8e71"),
        "escalation" => json!(false),
        "use_conditions" => json!([
            "The records are used only for the investigation and prosecution of the offences named in the request."
        ]),
        "for_case" => json!("thr-0b7e3c1d-2a4f-4e6b-8c9d-1f2e3a4b5c6d"),
        "onward_to" => json!("NL"),
        "ask" => json!("sha256:7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26"),
        "text" => json!(
            "Our liaison officer will be in your capital next week and can meet the officer handling the request."
        ),
        "note" => json!(match decision {
            D::Acknowledge =>
                "Received; handled by the Office of International Cooperation, file 4471/26.",
            D::RequestInfo =>
                "Please give the period of the logs sought and the account's exact identifier.",
            D::ProvideInfo =>
                "The logs sought run from 1 October to 10 November 2026; the account is 'srv-4471'.",
            D::ExecutePartly =>
                "The subscriber information is sent; the stored content follows once the court order is issued.",
            D::Withdraw =>
                "The suspects were identified through other means; the assistance is no longer needed.",
            D::AskStatus =>
                "The suspects' detention review is near; can you say when the records will be sent?",
            _ => "Please quote file 4471/26 in any answer.",
        }),
        other => json!(format!("(example value for {other})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{self, Severity};

    #[test]
    fn every_template_parses_and_validates_without_warnings() {
        for kind in RequestKind::ALL {
            let text = render(kind);
            let report = validate::validate_text(&text);
            assert!(
                report.issues.is_empty(),
                "{kind}:\n{text}\n{:#?}",
                report.issues
            );
            assert_eq!(report.kind, Some(kind));
        }
    }

    #[test]
    fn removing_any_required_item_is_reported_with_its_article() {
        for kind in RequestKind::ALL {
            let draft = validate::parse(&render(kind)).unwrap();
            for item in contents::items(kind).filter(|i| i.need == Need::Required) {
                let mut d = draft.clone();
                remove(&mut d, item.path);
                let report = validate::validate(&d);
                let found = report.issues.iter().any(|i| {
                    i.severity == Severity::Error
                        && (i.path == concrete(item.path)
                            || concrete(item.path).starts_with(&format!("{}.", i.path)))
                });
                assert!(
                    found,
                    "{kind}: removing {} not reported: {:#?}",
                    item.path, report.issues
                );
                if item.path != "format" && item.path != "kind" {
                    assert!(
                        report
                            .issues
                            .iter()
                            .any(|i| i.path == concrete(item.path)
                                && i.article == Some(item.article)),
                        "{kind}: {} reported without its article",
                        item.path
                    );
                }
            }
        }
    }

    #[test]
    fn the_real_time_and_interception_templates_justify_their_own_measure() {
        let preservation = validate::parse(&render(RequestKind::Preservation)).unwrap();
        for kind in [RequestKind::RealTimeTraffic, RequestKind::Interception] {
            let draft = validate::parse(&render(kind)).unwrap();
            let necessity = draft["necessity"].as_str().unwrap();
            assert_ne!(draft["necessity"], preservation["necessity"], "{kind}");
            assert!(!necessity.contains("preserv"), "{kind}: {necessity}");
        }
        let real_time = validate::parse(&render(RequestKind::RealTimeTraffic)).unwrap();
        assert!(
            real_time["necessity"]
                .as_str()
                .unwrap()
                .contains("collected as the connections happen")
        );
    }

    #[test]
    fn templates_offer_the_preservation_period_and_the_service_of_documents() {
        let text = render(RequestKind::Preservation);
        let draft = validate::parse(&text).unwrap();
        assert_eq!(draft["preservation_days"], 90);
        assert!(text.contains("the Convention's minimum is 60"), "{text}");
        let text = render(RequestKind::Mla);
        let draft = validate::parse(&text).unwrap();
        assert_eq!(draft["assistance"]["service_of_documents"], false);
        assert!(
            text.contains("required unless assistance.service_of_documents is true, Art. 40"),
            "{text}"
        );
        for kind in RequestKind::ALL {
            for path in contents::offered(kind) {
                assert!(contents::field(path).is_some(), "{kind}: {path}");
            }
        }
    }

    #[test]
    fn every_decision_template_validates_as_printed_without_warnings() {
        for decision in Decision::ALL {
            let text = render_decision(decision);
            let report = validate::validate_text(&text);
            assert!(
                report.issues.is_empty(),
                "{decision}:\n{text}\n{:#?}",
                report.issues
            );
            assert_eq!(report.decision, Some(decision));
            assert_eq!(report.kind, None);
            // What a case action takes: the same draft, or its bare body.
            let draft = validate::parse(&text).unwrap();
            let (report, body) = validate::check_decision(decision, &draft);
            assert!(report.issues.is_empty(), "{decision}: {:#?}", report.issues);
            assert!(body.get("decision").is_none() && body.get("format").is_none());
            let (report, _) = validate::check_decision(decision, &body);
            assert!(report.issues.is_empty(), "{decision}: {:#?}", report.issues);
        }
    }

    #[test]
    fn removing_any_required_item_of_a_decision_is_reported_with_its_article() {
        for decision in Decision::ALL {
            let draft = validate::parse(&render_decision(decision)).unwrap();
            for item in decision::items(decision) {
                let mut d = draft.clone();
                remove(&mut d, item.path);
                let report = validate::validate(&d);
                let at: Vec<_> = report
                    .issues
                    .iter()
                    .filter(|i| i.path == item.path)
                    .collect();
                match item.need {
                    Need::Required => {
                        assert_eq!(
                            at.len(),
                            1,
                            "{decision} {}: {:#?}",
                            item.path,
                            report.issues
                        );
                        assert_eq!(at[0].code, validate::Code::MissingRequired);
                        assert_eq!(at[0].severity, Severity::Error);
                        assert_eq!(
                            at[0].article,
                            Some(item.article),
                            "{decision} {}",
                            item.path
                        );
                    }
                    Need::Recommended => {
                        assert!(report.is_valid(), "{decision} {}", item.path);
                        assert_eq!(
                            at.len(),
                            1,
                            "{decision} {}: {:#?}",
                            item.path,
                            report.issues
                        );
                        assert_eq!(at[0].code, validate::Code::RecommendedMissing);
                        assert_eq!(at[0].article, Some(item.article));
                    }
                    // An ask for consent without its use names none.
                    Need::Optional if offered(decision, item.path) => {
                        assert!(!report.is_valid(), "{decision} {}", item.path)
                    }
                    Need::Optional => {
                        assert!(report.issues.is_empty(), "{decision} {}", item.path)
                    }
                }
            }
        }
    }

    /// The path of the first list item for a pattern.
    fn concrete(pattern: &str) -> String {
        pattern.replace("[]", "[0]")
    }

    fn remove(v: &mut Value, pattern: &str) {
        let segs: Vec<&str> = pattern.split('.').collect();
        let mut cur = v;
        for seg in &segs[..segs.len() - 1] {
            cur = match seg.strip_suffix("[]") {
                Some(name) => &mut cur[name][0],
                None => &mut cur[*seg],
            };
        }
        if let Some(obj) = cur.as_object_mut() {
            obj.remove(segs[segs.len() - 1].trim_end_matches("[]"));
        }
    }
}
