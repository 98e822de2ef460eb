//! The states a case passes through.
//!
//! A state is derived from the accepted events alone; time never changes it
//! (clocks that run out are shown on the clocks, not as states). What a
//! state lets each side do is in the transition table (`table.rs`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a case stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// No request yet: the thread holds no accepted `submit`.
    New,
    /// Sent, not yet acknowledged.
    Submitted,
    /// Acknowledged and in the requested State's hands.
    Acknowledged,
    /// The requested State asked for more information; the requester's
    /// deadline is paused until the answer.
    AwaitingInformation,
    /// The requested State proposed conditions and waits for the answer.
    Consulting,
    /// The requesting State accepted the conditions; they bind it.
    ConditionsAccepted,
    /// The requesting State declined the conditions.
    ConditionsDeclined,
    /// Execution postponed, with reasons.
    Postponed,
    /// The data is preserved (preservation requests).
    Preserved,
    /// Part of the request executed.
    PartlyExecuted,
    /// The whole request executed.
    Executed,
    /// Refused, with grounds and reasons.
    Refused,
    /// Withdrawn by the requesting State; nothing more happens.
    Withdrawn,
    /// Closed by the requesting State; nothing more happens.
    Closed,
}

impl State {
    /// Every state, in the order a case usually meets them.
    pub const ALL: [State; 14] = [
        State::New,
        State::Submitted,
        State::Acknowledged,
        State::AwaitingInformation,
        State::Consulting,
        State::ConditionsAccepted,
        State::ConditionsDeclined,
        State::Postponed,
        State::Preserved,
        State::PartlyExecuted,
        State::Executed,
        State::Refused,
        State::Withdrawn,
        State::Closed,
    ];

    /// The state's stable name, such as `awaiting-information`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Submitted => "submitted",
            State::Acknowledged => "acknowledged",
            State::AwaitingInformation => "awaiting-information",
            State::Consulting => "consulting",
            State::ConditionsAccepted => "conditions-accepted",
            State::ConditionsDeclined => "conditions-declined",
            State::Postponed => "postponed",
            State::Preserved => "preserved",
            State::PartlyExecuted => "partly-executed",
            State::Executed => "executed",
            State::Refused => "refused",
            State::Withdrawn => "withdrawn",
            State::Closed => "closed",
        }
    }

    /// Whether the case is over: no action of either side is accepted.
    pub fn is_final(self) -> bool {
        matches!(self, State::Withdrawn | State::Closed)
    }

    /// Whether the case has a request and is not over: the states in which
    /// status queries and correspondence are accepted.
    pub fn is_live(self) -> bool {
        self != State::New && !self.is_final()
    }

    /// Whether the requested State has decided the request as a whole (the
    /// requester's deadline stops running).
    pub fn is_decided(self) -> bool {
        matches!(self, State::Executed | State::Refused) || self.is_final()
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
