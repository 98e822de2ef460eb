//! What oversight statistics count about a case, derived from its view:
//! the outcome, the refusal grounds, whether execution was postponed, and
//! how long the requested State took to acknowledge and to decide. No
//! content: codes, a flag and two durations.
//!
//! The outcome is the case's result rather than its last state: a request
//! executed and then closed by the requesting State counts as executed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::Duration;

use crate::action::Action;
use crate::derive::CaseView;
use crate::state::State;

/// What became of a request, for statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The whole request was executed.
    Executed,
    /// Part of it was executed (and not the whole).
    PartlyExecuted,
    /// Refused (with grounds), nothing executed.
    Refused,
    /// The data was preserved (preservation requests), nothing else decided.
    Preserved,
    /// Withdrawn by the requesting State before a decision.
    Withdrawn,
    /// Closed by the requesting State before a decision.
    Closed,
    /// Still open: no decision yet.
    Open,
    /// Never submitted (a draft kept by the node): not counted.
    NotSubmitted,
}

impl Outcome {
    /// Every outcome, in the order a report lists them.
    pub const ALL: [Outcome; 8] = [
        Outcome::Executed,
        Outcome::PartlyExecuted,
        Outcome::Refused,
        Outcome::Preserved,
        Outcome::Withdrawn,
        Outcome::Closed,
        Outcome::Open,
        Outcome::NotSubmitted,
    ];

    /// The outcome's stable name, such as `partly-executed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Executed => "executed",
            Outcome::PartlyExecuted => "partly-executed",
            Outcome::Refused => "refused",
            Outcome::Preserved => "preserved",
            Outcome::Withdrawn => "withdrawn",
            Outcome::Closed => "closed",
            Outcome::Open => "open",
            Outcome::NotSubmitted => "not-submitted",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`Outcome::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown outcome {0:?}")]
pub struct UnknownOutcome(pub String);

impl FromStr for Outcome {
    type Err = UnknownOutcome;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownOutcome(s.to_owned()))
    }
}

/// The actions that decide a request: the first one accepted ends the
/// response time "to a decision".
pub const DECIDING: [Action; 4] = [
    Action::ExecutePartly,
    Action::ExecuteWholly,
    Action::Refuse,
    Action::ConfirmPreservation,
];

/// What statistics count about one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figures {
    pub outcome: Outcome,
    /// The refusal's ground codes (`R1` … `R7`, `fiscal`, `bank-secrecy`),
    /// in the order given; empty when not refused.
    pub grounds: Vec<&'static str>,
    /// Whether execution was postponed at least once.
    pub postponed: bool,
    /// From submission to acknowledgement, once acknowledged.
    pub to_acknowledgement: Option<Duration>,
    /// From submission to the first deciding action ([`DECIDING`]).
    pub to_decision: Option<Duration>,
}

/// The case's figures, from its view.
pub fn figures(view: &CaseView) -> Figures {
    let acted = |action: Action| view.timeline.iter().any(|t| t.action == action);
    let f = &view.facts;
    let outcome = if f.request.is_none() {
        Outcome::NotSubmitted
    } else if f.executed_at.is_some() {
        Outcome::Executed
    } else if acted(Action::ExecutePartly) {
        Outcome::PartlyExecuted
    } else if f.refused_at.is_some() {
        Outcome::Refused
    } else if f.preservation.is_some() {
        Outcome::Preserved
    } else if view.state == State::Withdrawn {
        Outcome::Withdrawn
    } else if view.state == State::Closed {
        Outcome::Closed
    } else {
        Outcome::Open
    };
    let submitted = f.request.as_ref().map(|r| r.submitted_at);
    let since = |at: time::OffsetDateTime| submitted.map(|s| (at - s).max(Duration::ZERO));
    Figures {
        outcome,
        grounds: f
            .refusal
            .as_ref()
            .map(|r| r.grounds.iter().map(|g| g.code()).collect())
            .unwrap_or_default(),
        postponed: acted(Action::Postpone),
        to_acknowledgement: f.acknowledged_at.and_then(since),
        to_decision: view
            .timeline
            .iter()
            .find(|t| DECIDING.contains(&t.action))
            .and_then(|t| since(t.at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_parse_back_from_their_names() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(o));
        }
        assert!("done".parse::<Outcome>().is_err());
    }

    #[test]
    fn a_case_without_a_request_is_not_submitted_and_has_no_times() {
        let view = crate::derive(&[], time::OffsetDateTime::UNIX_EPOCH);
        let f = figures(&view);
        assert_eq!(f.outcome, Outcome::NotSubmitted);
        assert!(f.grounds.is_empty() && !f.postponed);
        assert_eq!((f.to_acknowledgement, f.to_decision), (None, None));
    }
}
