//! Stable codes for an event the case does not accept.
//!
//! A node refuses an action before sending it, and records a peer's message
//! that the case does not accept, with one of these codes. Like the
//! protocol's error codes, a code's meaning never changes; codes may be added.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an event is not accepted into the case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalCode {
    /// The action belongs to the other side.
    WrongSide,
    /// The thread holds no request yet; only a `submit` opens it.
    NoRequest,
    /// The case is withdrawn or closed.
    CaseOver,
    /// The case already has its request.
    AlreadySubmitted,
    /// The case's state does not allow the action.
    NotAllowedInState,
    /// A refusal or postponement without a prior consultation.
    ConsultationRequired,
    /// A preservation confirmed for a request that is not a preservation.
    NotAPreservation,
    /// The preservation is not (or no longer) in force.
    PreservationNotInForce,
    /// A refusal that names no ground.
    RefusalWithoutGrounds,
    /// A refusal resting only on fiscal matters or bank secrecy.
    RefusalOnExcludedGrounds,
    /// A refusal without reasons.
    RefusalWithoutReasons,
    /// A postponement without reasons.
    ReasonsMissing,
    /// A consultation that proposes no condition.
    ConditionsMissing,
    /// An extension that does not move the preservation's end later.
    ExtensionNotLater,
    /// A follow-up announcement that names no request.
    FollowUpMissing,
    /// Two different events carry the same id; neither is accepted.
    ConflictingDuplicate,
    // issue 18: use limits and onward-transfer consent
    /// A consent asked for what the requested State has not provided in
    /// the case (no execution yet, or a package it did not link).
    NothingProvided,
    /// A consent granted or refused that answers no pending ask.
    ConsentNotAsked,
    /// An ask for consent that names no use (or a blank one) or gives no
    /// reasons, or a refusal of consent without reasons.
    ConsentIncomplete,
}

impl RefusalCode {
    pub const ALL: [RefusalCode; 19] = [
        RefusalCode::WrongSide,
        RefusalCode::NoRequest,
        RefusalCode::CaseOver,
        RefusalCode::AlreadySubmitted,
        RefusalCode::NotAllowedInState,
        RefusalCode::ConsultationRequired,
        RefusalCode::NotAPreservation,
        RefusalCode::PreservationNotInForce,
        RefusalCode::RefusalWithoutGrounds,
        RefusalCode::RefusalOnExcludedGrounds,
        RefusalCode::RefusalWithoutReasons,
        RefusalCode::ReasonsMissing,
        RefusalCode::ConditionsMissing,
        RefusalCode::ExtensionNotLater,
        RefusalCode::FollowUpMissing,
        RefusalCode::ConflictingDuplicate,
        // issue 18: use limits and onward-transfer consent
        RefusalCode::NothingProvided,
        RefusalCode::ConsentNotAsked,
        RefusalCode::ConsentIncomplete,
    ];

    /// The stable code, such as `consultation-required`.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::WrongSide => "wrong-side",
            RefusalCode::NoRequest => "no-request",
            RefusalCode::CaseOver => "case-over",
            RefusalCode::AlreadySubmitted => "already-submitted",
            RefusalCode::NotAllowedInState => "not-allowed-in-state",
            RefusalCode::ConsultationRequired => "consultation-required",
            RefusalCode::NotAPreservation => "not-a-preservation",
            RefusalCode::PreservationNotInForce => "preservation-not-in-force",
            RefusalCode::RefusalWithoutGrounds => "refusal-without-grounds",
            RefusalCode::RefusalOnExcludedGrounds => "refusal-on-excluded-grounds",
            RefusalCode::RefusalWithoutReasons => "refusal-without-reasons",
            RefusalCode::ReasonsMissing => "reasons-missing",
            RefusalCode::ConditionsMissing => "conditions-missing",
            RefusalCode::ExtensionNotLater => "extension-not-later",
            RefusalCode::FollowUpMissing => "follow-up-missing",
            RefusalCode::ConflictingDuplicate => "conflicting-duplicate",
            RefusalCode::NothingProvided => "nothing-provided",
            RefusalCode::ConsentNotAsked => "consent-not-asked",
            RefusalCode::ConsentIncomplete => "consent-incomplete",
        }
    }

    /// The code in a sentence.
    pub fn description(self) -> &'static str {
        match self {
            RefusalCode::WrongSide => "the action belongs to the other State",
            RefusalCode::NoRequest => "the case has no request yet; only a submit opens it",
            RefusalCode::CaseOver => "the case is withdrawn or closed",
            RefusalCode::AlreadySubmitted => "the case already has its request",
            RefusalCode::NotAllowedInState => "the case's state does not allow the action",
            RefusalCode::ConsultationRequired => {
                "consult the requesting State before refusing or postponing"
            }
            RefusalCode::NotAPreservation => "the request is not a preservation request",
            RefusalCode::PreservationNotInForce => "the preservation is not in force",
            RefusalCode::RefusalWithoutGrounds => "a refusal must name at least one ground",
            RefusalCode::RefusalOnExcludedGrounds => {
                "assistance may not be refused solely on fiscal matters or bank secrecy"
            }
            RefusalCode::RefusalWithoutReasons => "reasons must be given for any refusal",
            RefusalCode::ReasonsMissing => {
                "a postponement or a refusal to extend must give its reasons"
            }
            RefusalCode::ConditionsMissing => "a consultation must propose conditions",
            RefusalCode::ExtensionNotLater => {
                "an extension must end the preservation later than it now ends"
            }
            RefusalCode::FollowUpMissing => "the follow-up request is not named",
            RefusalCode::ConflictingDuplicate => "two different events carry the same id",
            RefusalCode::NothingProvided => {
                "consent can only be asked for what the requested State provided in the case"
            }
            RefusalCode::ConsentNotAsked => {
                "a consent granted or refused must answer a pending ask-consent of the case"
            }
            RefusalCode::ConsentIncomplete => {
                "an ask for consent must name the use and give reasons; a refusal of consent must give reasons"
            }
        }
    }
}

impl RefusalCode {
    /// The table of refusal codes in `docs/formats/messages.md` §11 (a test
    /// keeps the document current).
    pub fn markdown_table() -> String {
        let mut out = String::from("| Code | Meaning |\n|---|---|\n");
        for code in Self::ALL {
            let description = code.description();
            let mut chars = description.chars();
            let first = chars.next().map(|c| c.to_uppercase().to_string());
            out.push_str(&format!(
                "| `{}` | {}{}. |\n",
                code.as_str(),
                first.unwrap_or_default(),
                chars.as_str()
            ));
        }
        out
    }
}

impl fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_kebab_case() {
        let mut seen = std::collections::BTreeSet::new();
        for c in RefusalCode::ALL {
            assert!(seen.insert(c.as_str()), "{c:?} repeats a code");
            assert!(
                c.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-')
            );
            assert!(!c.description().is_empty());
        }
    }
}
