//! The contents of decisions, as data: what each answer or step a State
//! takes on a request (a refusal, a postponement, a consultation, an
//! execution, a withdrawal, ...) must, should and may say.
//!
//! A decision draft is the body of the case action's message with two
//! header fields, `format` and `decision` (the action's name), so that
//! `custos request validate` can tell it from a request draft and check it
//! alone. [`FIELDS`] says what every field of a decision looks like;
//! [`items`] says, for each decision, which fields it takes, how strongly
//! it needs each (required, recommended, optional) and the article behind
//! it. Anything a decision does not list is unknown to it, as the message
//! bodies on the wire are read strictly. The validation, the templates and
//! the JSON Schema of decisions (`docs/decision.schema.json`) are derived
//! from these two tables; checks that depend on the case itself (a
//! consultation before a refusal, an extension later than the current end)
//! belong to the case, not here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::article::{self, ArticleRef};
use crate::contents::{Field, Item, Need, Shape, rec, req};

/// A decision or step a State takes on a request, named as the case action
/// that carries it. The request itself (`submit`) has its own drafts, and
/// the answer to a status question is written by the node from the case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Acknowledge,
    RequestInfo,
    ProvideInfo,
    Consult,
    AcceptConditions,
    DeclineConditions,
    Postpone,
    Refuse,
    ConfirmPreservation,
    ExtendPreservation,
    DeclineExtension,
    ExecutePartly,
    ExecuteWholly,
    AnnounceFollowUp,
    Withdraw,
    AskStatus,
    Close,
    Correspond,
    // issue 18: use limits and onward-transfer consent
    AskConsent,
    GrantConsent,
    RefuseConsent,
}

/// Which State takes a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taker {
    /// The State that sent the request.
    Requesting,
    /// The State asked to help.
    Requested,
    /// Either State.
    Either,
}

impl Decision {
    /// Every decision, in the order they are listed to users.
    pub const ALL: [Decision; 21] = [
        Decision::Acknowledge,
        Decision::RequestInfo,
        Decision::ProvideInfo,
        Decision::Consult,
        Decision::AcceptConditions,
        Decision::DeclineConditions,
        Decision::Postpone,
        Decision::Refuse,
        Decision::ConfirmPreservation,
        Decision::ExtendPreservation,
        Decision::DeclineExtension,
        Decision::ExecutePartly,
        Decision::ExecuteWholly,
        Decision::AnnounceFollowUp,
        Decision::Withdraw,
        Decision::AskStatus,
        Decision::Close,
        Decision::Correspond,
        // issue 18: use limits and onward-transfer consent
        Decision::AskConsent,
        Decision::GrantConsent,
        Decision::RefuseConsent,
    ];

    /// The stable wire name, the case action's own (`refuse`, `request-info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Acknowledge => "acknowledge",
            Decision::RequestInfo => "request-info",
            Decision::ProvideInfo => "provide-info",
            Decision::Consult => "consult",
            Decision::AcceptConditions => "accept-conditions",
            Decision::DeclineConditions => "decline-conditions",
            Decision::Postpone => "postpone",
            Decision::Refuse => "refuse",
            Decision::ConfirmPreservation => "confirm-preservation",
            Decision::ExtendPreservation => "extend-preservation",
            Decision::DeclineExtension => "decline-extension",
            Decision::ExecutePartly => "execute-partly",
            Decision::ExecuteWholly => "execute-wholly",
            Decision::AnnounceFollowUp => "announce-follow-up",
            Decision::Withdraw => "withdraw",
            Decision::AskStatus => "ask-status",
            Decision::Close => "close",
            Decision::Correspond => "correspond",
            Decision::AskConsent => "ask-consent",
            Decision::GrantConsent => "grant-consent",
            Decision::RefuseConsent => "refuse-consent",
        }
    }

    /// A one-line description, for listings.
    pub fn title(self) -> &'static str {
        match self {
            Decision::Acknowledge => "acknowledgement of receipt",
            Decision::RequestInfo => "request for more information",
            Decision::ProvideInfo => "the requesting State's answer with more information",
            Decision::Consult => "consultation: conditions under which assistance could be given",
            Decision::AcceptConditions => "acceptance of the proposed conditions",
            Decision::DeclineConditions => "declining the proposed conditions",
            Decision::Postpone => "postponement of execution, with reasons",
            Decision::Refuse => "refusal, with grounds and reasons",
            Decision::ConfirmPreservation => "confirmation that the data is preserved",
            Decision::ExtendPreservation => "extension of a preservation",
            Decision::DeclineExtension => "declining to extend a preservation",
            Decision::ExecutePartly => "partial execution, with the evidence packages sent",
            Decision::ExecuteWholly => "execution in full, with the evidence packages sent",
            Decision::AnnounceFollowUp => "announcing the follow-up request for preserved data",
            Decision::Withdraw => "withdrawal of the request",
            Decision::AskStatus => "question on the progress of the request",
            Decision::Close => "closing the case",
            Decision::Correspond => "correspondence attached to the case",
            Decision::AskConsent => {
                "asking the providing State's consent to use what it provided in another case or to send it on"
            }
            Decision::GrantConsent => "consent to such a use, with conditions",
            Decision::RefuseConsent => "refusal of consent to such a use, with reasons",
        }
    }

    /// The article that governs the decision as a whole.
    pub fn article(self) -> ArticleRef {
        match self {
            Decision::ConfirmPreservation
            | Decision::ExtendPreservation
            | Decision::DeclineExtension
            | Decision::AnnounceFollowUp => article::PRESERVATION,
            _ => article::MLA,
        }
    }

    /// Which State takes it.
    pub fn taker(self) -> Taker {
        match self {
            Decision::ProvideInfo
            | Decision::AcceptConditions
            | Decision::DeclineConditions
            | Decision::AnnounceFollowUp
            | Decision::Withdraw
            | Decision::AskStatus
            | Decision::Close
            | Decision::AskConsent => Taker::Requesting,
            Decision::Correspond => Taker::Either,
            _ => Taker::Requested,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that names no decision.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a decision; `custos request template` lists them")]
pub struct UnknownDecision(pub String);

impl FromStr for Decision {
    type Err = UnknownDecision;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decision::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownDecision(s.to_owned()))
    }
}

/// The two header fields of a decision draft; the rest is the body of the
/// action's message.
pub const HEADER: [&str; 2] = ["format", "decision"];

/// Every field a decision draft may contain; each decision takes the ones
/// its [`items`] list (and the header).
pub const FIELDS: &[Field] = &[
    Field {
        path: "format",
        shape: Shape::Format,
        about: "Version of the draft format; must be \"custos-draft/1\".",
    },
    Field {
        path: "decision",
        shape: Shape::Decision,
        about: "The decision: the case action it is drafted for (see `custos request template`).",
    },
    Field {
        path: "conditions",
        shape: Shape::ListOfText,
        about: "Conditions under which assistance could be given.",
    },
    Field {
        path: "reasons",
        shape: Shape::Text,
        about: "The reasons for the decision.",
    },
    Field {
        path: "until",
        shape: Shape::Date,
        about: "A date, YYYY-MM-DD.",
    },
    Field {
        path: "refusal",
        shape: Shape::Object,
        about: "The refusal: its grounds and reasons.",
    },
    Field {
        path: "refusal.grounds",
        shape: Shape::ListOfGrounds,
        about: "Grounds of refusal: R1 (not conforming), R2 (essential interests), R3 (domestic law forbids), R4 (contrary to the legal system), R5 (persecution), R6 (no dual criminality), R7 (personal data); fiscal and bank-secrecy never suffice alone.",
    },
    Field {
        path: "refusal.reasons",
        shape: Shape::Text,
        about: "The reasons for refusing, in words.",
    },
    Field {
        path: "refusal.consulted",
        shape: Shape::Bool,
        about: "Whether the requested State consulted the requesting State first; the node fills it in from the case.",
    },
    Field {
        path: "took_effect",
        shape: Shape::Date,
        about: "The date the preservation took effect.",
    },
    Field {
        path: "days",
        shape: Shape::Integer { min: 1 },
        about: "For how many days the data is preserved (the Convention's minimum is 60, which the case counts whatever is said).",
    },
    Field {
        path: "evidence",
        shape: Shape::ListOfPackageIds,
        about: "Ids of the evidence packages sent with this execution (sha256:…, as `custos evidence seal` prints them).",
    },
    Field {
        path: "request",
        shape: Shape::ThreadId,
        about: "The id of the follow-up request (thr-…, as `custos request send` prints it).",
    },
    Field {
        path: "text",
        shape: Shape::Text,
        about: "The text of the correspondence.",
    },
    // issue 18: use limits and onward-transfer consent
    Field {
        path: "use_conditions",
        shape: Shape::ListOfText,
        about: "Conditions on the use of what is provided, besides the case it answers and the purpose stated in the request; they go into the use limits of the evidence packages sent.",
    },
    Field {
        path: "for_case",
        shape: Shape::ThreadId,
        about: "The other case of the requesting State (its thread id, thr-…) in which what was provided is to be used.",
    },
    Field {
        path: "onward_to",
        shape: Shape::State,
        about: "The third State to which what was provided is to be sent on.",
    },
    Field {
        path: "ask",
        shape: Shape::Text,
        about: "The message id of the ask-consent answered (as `custos case show` lists it).",
    },
    Field {
        path: "exculpatory",
        shape: Shape::Bool,
        about: "true: what was provided is exculpatory, which the requesting State may use or send on without consent, telling the providing State first; the ask is then a notice, answered by no one.",
    },
    Field {
        path: "note",
        shape: Shape::Text,
        about: "A note to the other State.",
    },
    // issue 18: confidentiality and personal-data conditions
    Field {
        path: "confidential",
        shape: Shape::Object,
        about: "Confidentiality the providing State asks for what it sends.",
    },
    Field {
        path: "confidential.required",
        shape: Shape::Bool,
        about: "Whether what is sent must stay confidential: the requesting node shows the case only to the people assigned to it.",
    },
    Field {
        path: "confidential.reasons",
        shape: Shape::Text,
        about: "Why confidentiality is needed.",
    },
    Field {
        path: "personal_data",
        shape: Shape::Object,
        about: "The personal data sent and the conditions the providing State attaches to it.",
    },
    Field {
        path: "personal_data.categories",
        shape: Shape::ListOfText,
        about: "The categories of personal data sent (subscriber data, traffic data, content).",
    },
    Field {
        path: "personal_data.conditions",
        shape: Shape::ListOfText,
        about: "The conditions attached to the personal data (use, keeping, onward transfer).",
    },
    Field {
        path: "personal_data.delete_by",
        shape: Shape::Date,
        about: "The date by which the personal data is to be deleted, YYYY-MM-DD.",
    },
    Field {
        path: "escalation",
        shape: Shape::Bool,
        about: "Marks a status query as an escalation; the requesting node's scheduler sets it when an emergency request's acknowledgement target passed.",
    },
];

/// Finds a decision field by its path.
pub fn field(path: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.path == path)
}

/// An optional item: allowed, never needed.
const fn opt(path: &'static str, article: ArticleRef, sentence: &'static str) -> Item {
    Item {
        path,
        need: Need::Optional,
        article,
        sentence,
        unless: None,
    }
}

const HEADER_ITEMS: &[Item] = &[
    req("format", article::MLA, "State the draft format version."),
    req("decision", article::MLA, "Name the decision."),
];

/// The items of a decision's body: every field it takes, how strongly it
/// needs each and the article behind it. The header is in [`all_items`].
pub fn items(decision: Decision) -> &'static [Item] {
    use Decision as D;
    match decision {
        D::Acknowledge => {
            const {
                &[opt(
                    "note",
                    article::MLA,
                    "Anything the requesting State should know on receipt (who handles the request, a reference).",
                )]
            }
        }
        D::RequestInfo => {
            const {
                &[rec(
                    "note",
                    article::MLA,
                    "Say what further information the execution of the request needs, and why.",
                )]
            }
        }
        D::ProvideInfo => {
            const {
                &[rec(
                    "note",
                    article::MLA,
                    "Give the information the requested State asked for.",
                )]
            }
        }
        D::Consult => {
            const {
                &[
                    req(
                        "conditions",
                        article::MLA,
                        "Before refusing or postponing, propose the conditions under which assistance could be given.",
                    ),
                    opt("note", article::MLA, "Anything to add to the conditions."),
                ]
            }
        }
        D::AcceptConditions => {
            const {
                &[opt(
                    "note",
                    article::MLA,
                    "Anything to add: conditions accepted bind the requesting State.",
                )]
            }
        }
        D::DeclineConditions => {
            const {
                &[opt(
                    "note",
                    article::MLA,
                    "Why the conditions cannot be accepted, if it helps the requested State decide.",
                )]
            }
        }
        D::Postpone => {
            const {
                &[
                    req(
                        "reasons",
                        article::MLA,
                        "Give the reasons for postponing (execution would interfere with an ongoing investigation, prosecution or proceeding).",
                    ),
                    rec(
                        "until",
                        article::MLA,
                        "Where known, say until when execution is postponed.",
                    ),
                    opt("note", article::MLA, "Anything to add."),
                ]
            }
        }
        D::Refuse => {
            const {
                &[
                    req(
                        "refusal",
                        article::MLA,
                        "State the refusal: its grounds and its reasons.",
                    ),
                    req(
                        "refusal.grounds",
                        article::MLA,
                        "Name at least one ground of refusal from the Convention's list; fiscal matters or bank secrecy never suffice alone.",
                    ),
                    req(
                        "refusal.reasons",
                        article::MLA,
                        "Give the reasons: reasons are required for any refusal.",
                    ),
                    opt(
                        "refusal.consulted",
                        article::MLA,
                        "Leave it out: the node states whether the case saw a consultation first.",
                    ),
                    opt("note", article::MLA, "Anything to add."),
                ]
            }
        }
        D::ConfirmPreservation => {
            const {
                &[
                    req(
                        "took_effect",
                        article::PRESERVATION,
                        "Give the date the preservation took effect.",
                    ),
                    req(
                        "days",
                        article::PRESERVATION,
                        "Say for how many days the data is preserved: at least 60.",
                    ),
                    opt("note", article::PRESERVATION, "Anything to add."),
                ]
            }
        }
        D::ExtendPreservation => {
            const {
                &[
                    req(
                        "until",
                        article::PRESERVATION,
                        "Give the date the extended preservation ends.",
                    ),
                    opt("note", article::PRESERVATION, "Anything to add."),
                ]
            }
        }
        D::DeclineExtension => {
            const {
                &[
                    req(
                        "reasons",
                        article::PRESERVATION,
                        "Give the reasons for declining to extend the preservation.",
                    ),
                    opt("note", article::PRESERVATION, "Anything to add."),
                ]
            }
        }
        D::ExecutePartly => {
            const {
                &[
                    req(
                        "evidence",
                        article::MLA,
                        "List the evidence packages sent with this part of the execution (an empty list when none was sent).",
                    ),
                    rec(
                        "note",
                        article::MLA,
                        "Say what was executed and what remains.",
                    ),
                    opt(
                        "use_conditions",
                        article::MLA,
                        "Any conditions on the use of what is provided, besides its case and the request's purpose.",
                    ),
                    // issue 18: confidentiality and personal-data conditions
                    opt(
                        "confidential",
                        article::MLA,
                        "Mark what is sent confidential when it must be.",
                    ),
                    opt(
                        "confidential.required",
                        article::MLA,
                        "Say whether what is sent must stay confidential.",
                    ),
                    opt(
                        "confidential.reasons",
                        article::MLA,
                        "Say why it must stay confidential.",
                    ),
                    opt(
                        "personal_data",
                        article::MLA,
                        "Describe the personal data sent and the conditions attached to it.",
                    ),
                    opt(
                        "personal_data.categories",
                        article::MLA,
                        "Name the categories of personal data sent.",
                    ),
                    opt(
                        "personal_data.conditions",
                        article::MLA,
                        "State the conditions attached to the personal data.",
                    ),
                    opt(
                        "personal_data.delete_by",
                        article::MLA,
                        "Give the date by which the personal data is to be deleted.",
                    ),
                ]
            }
        }
        D::ExecuteWholly => {
            const {
                &[
                    req(
                        "evidence",
                        article::MLA,
                        "List the evidence packages sent with the execution (an empty list when none was sent).",
                    ),
                    opt("note", article::MLA, "Anything to add."),
                    opt(
                        "use_conditions",
                        article::MLA,
                        "Any conditions on the use of what is provided, besides its case and the request's purpose.",
                    ),
                    // issue 18: confidentiality and personal-data conditions
                    opt(
                        "confidential",
                        article::MLA,
                        "Mark what is sent confidential when it must be.",
                    ),
                    opt(
                        "confidential.required",
                        article::MLA,
                        "Say whether what is sent must stay confidential.",
                    ),
                    opt(
                        "confidential.reasons",
                        article::MLA,
                        "Say why it must stay confidential.",
                    ),
                    opt(
                        "personal_data",
                        article::MLA,
                        "Describe the personal data sent and the conditions attached to it.",
                    ),
                    opt(
                        "personal_data.categories",
                        article::MLA,
                        "Name the categories of personal data sent.",
                    ),
                    opt(
                        "personal_data.conditions",
                        article::MLA,
                        "State the conditions attached to the personal data.",
                    ),
                    opt(
                        "personal_data.delete_by",
                        article::MLA,
                        "Give the date by which the personal data is to be deleted.",
                    ),
                ]
            }
        }
        D::AnnounceFollowUp => {
            const {
                &[
                    req(
                        "request",
                        article::PRESERVATION,
                        "Give the id of the follow-up request for the preserved data: the preservation stays in force while it is pending.",
                    ),
                    opt("note", article::PRESERVATION, "Anything to add."),
                ]
            }
        }
        D::Withdraw => {
            const {
                &[opt(
                    "note",
                    article::MLA,
                    "Why the assistance is no longer needed.",
                )]
            }
        }
        D::AskStatus => {
            const {
                &[
                    opt(
                        "note",
                        article::MLA,
                        "What the question is about; the other node answers at once with the case's state.",
                    ),
                    opt(
                        "escalation",
                        article::MLA,
                        "Left out by hand: the node's scheduler sets it on the query it sends when an emergency request was not acknowledged in time.",
                    ),
                ]
            }
        }
        D::Close => const { &[opt("note", article::MLA, "Anything to add on closing.")] },
        D::Correspond => const { &[req("text", article::MLA, "Write the correspondence.")] },
        // issue 18: use limits and onward-transfer consent
        D::AskConsent => {
            const {
                &[
                    req(
                        "evidence",
                        article::MLA,
                        "List the evidence packages to be used (an empty list asks for the answers given).",
                    ),
                    opt(
                        "for_case",
                        article::MLA,
                        "To use them in another case of ours, name it (give this or onward_to, not both).",
                    ),
                    opt(
                        "onward_to",
                        article::MLA,
                        "To send them on to a third State, name it (give this or for_case, not both).",
                    ),
                    req(
                        "reasons",
                        article::MLA,
                        "Say why the use is needed: what was provided may serve only its case and purpose without prior consent.",
                    ),
                    opt(
                        "exculpatory",
                        article::MLA,
                        "Set to true when the material is exculpatory: the use then needs no consent, only this notice, given before the use.",
                    ),
                    opt("note", article::MLA, "Anything to add."),
                ]
            }
        }
        D::GrantConsent => {
            const {
                &[
                    req("ask", article::MLA, "Name the ask-consent answered."),
                    opt(
                        "conditions",
                        article::MLA,
                        "Any conditions the consent is given under.",
                    ),
                    opt("note", article::MLA, "Anything to add."),
                ]
            }
        }
        D::RefuseConsent => {
            const {
                &[
                    req("ask", article::MLA, "Name the ask-consent answered."),
                    req(
                        "reasons",
                        article::MLA,
                        "Give the reasons for refusing consent.",
                    ),
                    opt("note", article::MLA, "Anything to add."),
                ]
            }
        }
    }
}

/// The header's items, then the body's.
pub fn all_items(decision: Decision) -> impl Iterator<Item = &'static Item> {
    HEADER_ITEMS.iter().chain(items(decision))
}

/// The fields a decision takes: the header, its items and the objects that
/// hold them.
pub fn fields_of(decision: Decision) -> Vec<Field> {
    FIELDS
        .iter()
        .filter(|f| {
            all_items(decision)
                .any(|i| i.path == f.path || i.path.starts_with(&format!("{}.", f.path)))
        })
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_every_item_names_a_field() {
        for d in Decision::ALL {
            assert_eq!(d.as_str().parse(), Ok(d));
            let mut seen = std::collections::HashSet::new();
            for item in all_items(d) {
                assert!(field(item.path).is_some(), "{d}: {}", item.path);
                assert!(seen.insert(item.path), "{d} lists {} twice", item.path);
                assert!(item.unless.is_none(), "{d}: no decision item is waived");
            }
        }
        assert!("refusal".parse::<Decision>().is_err());
    }

    #[test]
    fn every_field_is_taken_by_some_decision() {
        for f in FIELDS {
            assert!(
                Decision::ALL
                    .into_iter()
                    .any(|d| fields_of(d).iter().any(|g| g.path == f.path)),
                "{} is taken by no decision",
                f.path
            );
        }
    }

    #[test]
    fn the_decision_names_are_not_request_kinds() {
        for d in Decision::ALL {
            assert!(d.as_str().parse::<crate::RequestKind>().is_err(), "{d}");
        }
    }
}
