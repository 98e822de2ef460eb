//! The two sides of a case, the actions each may take, and the events that
//! carry them.
//!
//! [`Action`] names an action without its contents; it is what the
//! transition table and the allowed-actions lists speak of. [`Act`] is an
//! action with the fields of its message body that the derivation reads
//! (grounds, dates, conditions, evidence package ids); free text that the
//! derivation never reads, such as notes and answers, stays in the signed
//! message. A [`CaseEvent`] is one message of the thread as the case sees it.

use std::fmt;
use std::str::FromStr;

use custos_model::refusal::Ground;
use custos_model::{Decision, RequestKind};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

/// Which State acts: the one that sent the request or the one asked to help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    Requesting,
    Requested,
}

impl Side {
    pub const ALL: [Side; 2] = [Side::Requesting, Side::Requested];

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Requesting => "requesting",
            Side::Requested => "requested",
        }
    }

    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Requesting => Side::Requested,
            Side::Requested => Side::Requesting,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may take an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActedBy {
    Only(Side),
    Either,
}

impl ActedBy {
    pub fn includes(self, side: Side) -> bool {
        match self {
            ActedBy::Only(s) => s == side,
            ActedBy::Either => true,
        }
    }
}

/// Every action a case knows, without its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Requesting: send the request; opens the case.
    Submit,
    /// Requested: acknowledge receipt.
    Acknowledge,
    /// Requested: ask for more information (the requester's deadline pauses).
    RequestInfo,
    /// Requesting: answer a request for more information.
    ProvideInfo,
    /// Requested: consult the requesting State, proposing conditions.
    Consult,
    /// Requesting: accept the proposed conditions (they then bind it).
    AcceptConditions,
    /// Requesting: decline the proposed conditions.
    DeclineConditions,
    /// Requested: postpone execution, with reasons.
    Postpone,
    /// Requested: refuse, with grounds and reasons.
    Refuse,
    /// Requested: confirm that the data is preserved, from a date.
    ConfirmPreservation,
    /// Requested: extend a preservation to a later date.
    ExtendPreservation,
    /// Requested: decline to extend a preservation.
    DeclineExtension,
    /// Requested: execute part of the request, linking evidence packages.
    ExecutePartly,
    /// Requested: execute the whole request, linking evidence packages.
    ExecuteWholly,
    /// Requesting: tell that the follow-up request for the preserved data
    /// was sent; the preservation stays in force while it is pending.
    AnnounceFollowUp,
    /// Requesting: withdraw the request.
    Withdraw,
    /// Requesting: ask for the status of the case.
    AskStatus,
    /// Requested: answer a status query from the derived state.
    AnswerStatus,
    /// Requesting: close the case.
    Close,
    /// Either: correspondence attached to the case.
    Correspond,
    // issue 18: use limits and onward-transfer consent
    /// Requesting: ask the providing State's consent to use what it
    /// provided in another case or to send it on to a third State.
    AskConsent,
    /// Requested: grant the consent asked for, with conditions.
    GrantConsent,
    /// Requested: refuse the consent asked for, with reasons.
    RefuseConsent,
    // issue 18: retention
    /// Either, in every state: tell the other State that this node deleted
    /// its copy of the case's content when its retention ended. Written by
    /// the node's purge; the state does not change.
    ReportDeletion,
}

impl Action {
    /// Every action, in the order of the documentation.
    pub const ALL: [Action; 24] = [
        Action::Submit,
        Action::Acknowledge,
        Action::RequestInfo,
        Action::ProvideInfo,
        Action::Consult,
        Action::AcceptConditions,
        Action::DeclineConditions,
        Action::Postpone,
        Action::Refuse,
        Action::ConfirmPreservation,
        Action::ExtendPreservation,
        Action::DeclineExtension,
        Action::ExecutePartly,
        Action::ExecuteWholly,
        Action::AnnounceFollowUp,
        Action::Withdraw,
        Action::AskStatus,
        Action::AnswerStatus,
        Action::Close,
        Action::Correspond,
        // issue 18: use limits and onward-transfer consent
        Action::AskConsent,
        Action::GrantConsent,
        Action::RefuseConsent,
        // issue 18: retention
        Action::ReportDeletion,
    ];

    /// The action's stable name, such as `request-info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Submit => "submit",
            Action::Acknowledge => "acknowledge",
            Action::RequestInfo => "request-info",
            Action::ProvideInfo => "provide-info",
            Action::Consult => "consult",
            Action::AcceptConditions => "accept-conditions",
            Action::DeclineConditions => "decline-conditions",
            Action::Postpone => "postpone",
            Action::Refuse => "refuse",
            Action::ConfirmPreservation => "confirm-preservation",
            Action::ExtendPreservation => "extend-preservation",
            Action::DeclineExtension => "decline-extension",
            Action::ExecutePartly => "execute-partly",
            Action::ExecuteWholly => "execute-wholly",
            Action::AnnounceFollowUp => "announce-follow-up",
            Action::Withdraw => "withdraw",
            Action::AskStatus => "ask-status",
            Action::AnswerStatus => "answer-status",
            Action::Close => "close",
            Action::Correspond => "correspond",
            // issue 18: use limits and onward-transfer consent
            Action::AskConsent => "ask-consent",
            Action::GrantConsent => "grant-consent",
            Action::RefuseConsent => "refuse-consent",
            Action::ReportDeletion => "report-deletion",
        }
    }

    /// The decision whose contents the action's body carries, checked
    /// against the model's decision catalogue: every action but `submit`
    /// (a request draft), `answer-status` (written by the node from the
    /// case) and `report-deletion` (written by the node's purge).
    pub fn decision(self) -> Option<Decision> {
        Some(match self {
            Action::Submit | Action::AnswerStatus | Action::ReportDeletion => return None,
            Action::Acknowledge => Decision::Acknowledge,
            Action::RequestInfo => Decision::RequestInfo,
            Action::ProvideInfo => Decision::ProvideInfo,
            Action::Consult => Decision::Consult,
            Action::AcceptConditions => Decision::AcceptConditions,
            Action::DeclineConditions => Decision::DeclineConditions,
            Action::Postpone => Decision::Postpone,
            Action::Refuse => Decision::Refuse,
            Action::ConfirmPreservation => Decision::ConfirmPreservation,
            Action::ExtendPreservation => Decision::ExtendPreservation,
            Action::DeclineExtension => Decision::DeclineExtension,
            Action::ExecutePartly => Decision::ExecutePartly,
            Action::ExecuteWholly => Decision::ExecuteWholly,
            Action::AnnounceFollowUp => Decision::AnnounceFollowUp,
            Action::Withdraw => Decision::Withdraw,
            Action::AskStatus => Decision::AskStatus,
            Action::Close => Decision::Close,
            Action::Correspond => Decision::Correspond,
            // issue 18: use limits and onward-transfer consent
            Action::AskConsent => Decision::AskConsent,
            Action::GrantConsent => Decision::GrantConsent,
            Action::RefuseConsent => Decision::RefuseConsent,
        })
    }

    /// Which side may take the action at all.
    pub fn acted_by(self) -> ActedBy {
        match self {
            Action::Submit
            | Action::ProvideInfo
            | Action::AcceptConditions
            | Action::DeclineConditions
            | Action::AnnounceFollowUp
            | Action::Withdraw
            | Action::AskStatus
            | Action::Close
            | Action::AskConsent => ActedBy::Only(Side::Requesting),
            Action::Acknowledge
            | Action::RequestInfo
            | Action::Consult
            | Action::Postpone
            | Action::Refuse
            | Action::ConfirmPreservation
            | Action::ExtendPreservation
            | Action::DeclineExtension
            | Action::ExecutePartly
            | Action::ExecuteWholly
            | Action::AnswerStatus
            | Action::GrantConsent
            | Action::RefuseConsent => ActedBy::Only(Side::Requested),
            Action::Correspond | Action::ReportDeletion => ActedBy::Either,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that names no action.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a case action")]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_owned()))
    }
}

/// How fast the requesting State needs an answer (the draft's `urgency`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    #[default]
    Routine,
    Urgent,
    Emergency,
}

impl Urgency {
    pub const ALL: [Urgency; 3] = [Urgency::Routine, Urgency::Urgent, Urgency::Emergency];

    /// The wire name: `routine`, `urgent` or `emergency`.
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Routine => "routine",
            Urgency::Urgent => "urgent",
            Urgency::Emergency => "emergency",
        }
    }
}

/// A deadline the requesting State proposes, with its reasons (the draft's
/// `deadline`). An answer is wanted by the end of `date` (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProposedDeadline {
    pub date: Date,
    pub reasons: String,
}

/// What the case reads from the request draft of a `submit`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Submission {
    pub kind: RequestKind,
    pub urgency: Urgency,
    pub deadline: Option<ProposedDeadline>,
}

impl Submission {
    /// Whether the request has an acknowledgement target: emergency
    /// requests, by kind or by urgency.
    pub fn is_emergency(&self) -> bool {
        self.urgency == Urgency::Emergency || self.kind == RequestKind::EmergencyData
    }
}

/// An action with the contents the derivation reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Act {
    Submit(Submission),
    Acknowledge,
    RequestInfo,
    ProvideInfo,
    /// The conditions under which assistance could be given.
    Consult {
        conditions: Vec<String>,
    },
    AcceptConditions,
    DeclineConditions,
    Postpone {
        reasons: String,
        /// Until when, if the requested State says.
        until: Option<Date>,
    },
    /// Grounds from the model's catalogue and reasons, both required.
    Refuse {
        grounds: Vec<Ground>,
        reasons: String,
    },
    /// The preservation took effect on `took_effect` for `days` days (at
    /// least the Convention's minimum is counted whatever is said here).
    ConfirmPreservation {
        took_effect: Date,
        days: u32,
    },
    /// The preservation now ends at the start of `until`.
    ExtendPreservation {
        until: Date,
    },
    DeclineExtension {
        reasons: String,
    },
    /// Evidence package ids sent with this execution.
    ExecutePartly {
        evidence: Vec<String>,
    },
    ExecuteWholly {
        evidence: Vec<String>,
    },
    /// The thread id of the follow-up request.
    AnnounceFollowUp {
        request: String,
    },
    Withdraw,
    AskStatus,
    AnswerStatus,
    Close,
    Correspond,
    // issue 18: use limits and onward-transfer consent
    /// The packages (an empty list: the answers given) to be used, the
    /// intended use and its reasons; `exculpatory`: the material clears
    /// the accused, the use needs no consent and the ask is its notice.
    AskConsent {
        evidence: Vec<String>,
        use_for: ConsentUse,
        reasons: String,
        exculpatory: bool,
    },
    /// The ask answered (its message id) and the conditions of the consent.
    GrantConsent {
        ask: String,
        conditions: Vec<String>,
    },
    /// The ask answered and the reasons for refusing.
    RefuseConsent {
        ask: String,
        reasons: String,
    },
    // issue 18: retention
    ReportDeletion,
}

/// What the receiving State asks to do with what it was provided, beyond
/// the case it was provided for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "use", content = "target")]
pub enum ConsentUse {
    /// Use in another case of the receiving State (that case's thread id).
    OtherCase(String),
    /// Send it on to a third State (its code).
    OnwardTransfer(String),
}

impl fmt::Display for ConsentUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsentUse::OtherCase(case) => write!(f, "use in case {case}"),
            ConsentUse::OnwardTransfer(state) => write!(f, "onward transfer to {state}"),
        }
    }
}

impl Act {
    /// The action without its contents.
    pub fn action(&self) -> Action {
        match self {
            Act::Submit(_) => Action::Submit,
            Act::Acknowledge => Action::Acknowledge,
            Act::RequestInfo => Action::RequestInfo,
            Act::ProvideInfo => Action::ProvideInfo,
            Act::Consult { .. } => Action::Consult,
            Act::AcceptConditions => Action::AcceptConditions,
            Act::DeclineConditions => Action::DeclineConditions,
            Act::Postpone { .. } => Action::Postpone,
            Act::Refuse { .. } => Action::Refuse,
            Act::ConfirmPreservation { .. } => Action::ConfirmPreservation,
            Act::ExtendPreservation { .. } => Action::ExtendPreservation,
            Act::DeclineExtension { .. } => Action::DeclineExtension,
            Act::ExecutePartly { .. } => Action::ExecutePartly,
            Act::ExecuteWholly { .. } => Action::ExecuteWholly,
            Act::AnnounceFollowUp { .. } => Action::AnnounceFollowUp,
            Act::Withdraw => Action::Withdraw,
            Act::AskStatus => Action::AskStatus,
            Act::AnswerStatus => Action::AnswerStatus,
            Act::Close => Action::Close,
            Act::Correspond => Action::Correspond,
            Act::AskConsent { .. } => Action::AskConsent,
            Act::GrantConsent { .. } => Action::GrantConsent,
            Act::RefuseConsent { .. } => Action::RefuseConsent,
            Act::ReportDeletion => Action::ReportDeletion,
        }
    }
}

/// One message of the request's thread, as the case reads it: its id (the
/// message id, unique in the thread), the side that sent it, when it was
/// made, and the action it carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CaseEvent {
    pub id: String,
    pub side: Side,
    pub at: OffsetDateTime,
    pub act: Act,
}

impl CaseEvent {
    pub fn new(id: impl Into<String>, side: Side, at: OffsetDateTime, act: Act) -> Self {
        Self {
            id: id.into(),
            side,
            at,
            act,
        }
    }

    pub fn action(&self) -> Action {
        self.act.action()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse(), Ok(a));
        }
        assert!("refuse-softly".parse::<Action>().is_err());
    }

    #[test]
    fn every_decision_is_the_action_of_its_name_taken_by_its_side() {
        use custos_model::decision::Taker;
        let mut decisions = Vec::new();
        for a in Action::ALL {
            if let Some(d) = a.decision() {
                assert_eq!(d.as_str(), a.as_str());
                let by = match d.taker() {
                    Taker::Requesting => ActedBy::Only(Side::Requesting),
                    Taker::Requested => ActedBy::Only(Side::Requested),
                    Taker::Either => ActedBy::Either,
                };
                assert_eq!(by, a.acted_by(), "{a}");
                decisions.push(d);
            }
        }
        assert_eq!(decisions, Decision::ALL);
    }

    #[test]
    fn emergencies_by_kind_or_by_urgency() {
        let s = |kind, urgency| Submission {
            kind,
            urgency,
            deadline: None,
        };
        assert!(s(RequestKind::EmergencyData, Urgency::Routine).is_emergency());
        assert!(s(RequestKind::Mla, Urgency::Emergency).is_emergency());
        assert!(!s(RequestKind::Mla, Urgency::Urgent).is_emergency());
    }
}
