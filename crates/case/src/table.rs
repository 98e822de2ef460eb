//! The one transition table: for each state, action and side, the next
//! state or the refusal.
//!
//! [`RULES`] is a static catalogue of rows. A row names the states it applies
//! in, the action, the side that takes it, an optional guard (a condition on
//! the case's facts, such as a prior consultation) and where the case goes.
//! At most one row matches a (state, action, side); when none does, the
//! refusal follows from the action's side and the state ([`outcome`]). The
//! table test in `tests/table.rs` lists the outcome of every (state, action,
//! side) and fails when an action or a state is added without a rule.

use crate::action::{Action, Side};
use crate::code::RefusalCode;
use crate::state::State;

/// A condition on the case's facts that a row requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Guard {
    /// The requested State consulted the requesting State earlier in the case.
    Consulted,
    /// The request is a preservation request.
    PreservationRequest,
    /// A confirmed preservation is in force at the event's time (before its
    /// end, or held by a pending follow-up request).
    PreservationInForce,
    // issue 18: use limits and onward-transfer consent
    /// The requested State has provided something: an execution, in part
    /// or in whole, was accepted.
    Provided,
    /// An ask for consent is pending (asked and not yet answered).
    ConsentAsked,
}

impl Guard {
    /// The refusal when the guard does not hold.
    pub fn refusal(self) -> RefusalCode {
        match self {
            Guard::Consulted => RefusalCode::ConsultationRequired,
            Guard::PreservationRequest => RefusalCode::NotAPreservation,
            Guard::PreservationInForce => RefusalCode::PreservationNotInForce,
            Guard::Provided => RefusalCode::NothingProvided,
            Guard::ConsentAsked => RefusalCode::ConsentNotAsked,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Guard::Consulted => "consulted",
            Guard::PreservationRequest => "preservation-request",
            Guard::PreservationInForce => "preservation-in-force",
            Guard::Provided => "provided",
            Guard::ConsentAsked => "consent-asked",
        }
    }
}

/// Where an accepted action takes the case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Next {
    To(State),
    /// The state does not change (correspondence, status, revised conditions).
    Stay,
    /// Back to the state the case was in when more information was asked for.
    Resume,
}

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub from: &'static [State],
    pub action: Action,
    pub side: Side,
    pub guard: Option<Guard>,
    pub next: Next,
}

const fn row(from: &'static [State], action: Action, side: Side, next: Next) -> Rule {
    Rule {
        from,
        action,
        side,
        guard: None,
        next,
    }
}

const fn guarded(
    from: &'static [State],
    action: Action,
    side: Side,
    guard: Guard,
    next: Next,
) -> Rule {
    Rule {
        from,
        action,
        side,
        guard: Some(guard),
        next,
    }
}

use Action as A;
use Next::{Resume, Stay, To};
use Side::{Requested as RQD, Requesting as RQG};
use State as S;

/// Every state with a request that is not over.
const LIVE: &[State] = &[
    S::Submitted,
    S::Acknowledged,
    S::AwaitingInformation,
    S::Consulting,
    S::ConditionsAccepted,
    S::ConditionsDeclined,
    S::Postponed,
    S::Preserved,
    S::PartlyExecuted,
    S::Executed,
    S::Refused,
];

/// Every state of a case that was submitted, the final ones included.
const HELD: &[State] = &[
    S::Submitted,
    S::Acknowledged,
    S::AwaitingInformation,
    S::Consulting,
    S::ConditionsAccepted,
    S::ConditionsDeclined,
    S::Postponed,
    S::Preserved,
    S::PartlyExecuted,
    S::Executed,
    S::Refused,
    S::Withdrawn,
    S::Closed,
];

/// States in which the request is still open, so it can be withdrawn.
const OPEN: &[State] = &[
    S::Submitted,
    S::Acknowledged,
    S::AwaitingInformation,
    S::Consulting,
    S::ConditionsAccepted,
    S::ConditionsDeclined,
    S::Postponed,
    S::Preserved,
    S::PartlyExecuted,
];

/// States in which the requested State works on the request: it may ask
/// for information, execute, or (after consulting) postpone.
const HANDLING: &[State] = &[
    S::Acknowledged,
    S::ConditionsAccepted,
    S::ConditionsDeclined,
    S::Postponed,
    S::PartlyExecuted,
];

/// Every state with a request, the final ones included: consent to use
/// what was provided is asked and answered even after the case is over (the
/// consent rows' guards ask for something provided, or an ask pending).
const WITH_REQUEST: &[State] = &[
    S::Submitted,
    S::Acknowledged,
    S::AwaitingInformation,
    S::Consulting,
    S::ConditionsAccepted,
    S::ConditionsDeclined,
    S::Postponed,
    S::Preserved,
    S::PartlyExecuted,
    S::Executed,
    S::Refused,
    S::Withdrawn,
    S::Closed,
];

/// The catalogue.
pub static RULES: &[Rule] = &[
    // Opening.
    row(&[S::New], A::Submit, RQG, To(S::Submitted)),
    row(&[S::Submitted], A::Acknowledge, RQD, To(S::Acknowledged)),
    // Status and correspondence, while the case is live.
    row(LIVE, A::AskStatus, RQG, Stay),
    row(LIVE, A::AnswerStatus, RQD, Stay),
    row(LIVE, A::Correspond, RQG, Stay),
    row(LIVE, A::Correspond, RQD, Stay),
    // More information: the requester's deadline pauses until the answer.
    row(
        &[
            S::Acknowledged,
            S::ConditionsAccepted,
            S::ConditionsDeclined,
            S::Postponed,
            S::Preserved,
            S::PartlyExecuted,
        ],
        A::RequestInfo,
        RQD,
        To(S::AwaitingInformation),
    ),
    row(&[S::AwaitingInformation], A::RequestInfo, RQD, Stay),
    row(&[S::AwaitingInformation], A::ProvideInfo, RQG, Resume),
    // Consultation on conditions, before any refusal or postponement.
    row(
        &[
            S::Acknowledged,
            S::ConditionsAccepted,
            S::ConditionsDeclined,
            S::Postponed,
            S::PartlyExecuted,
        ],
        A::Consult,
        RQD,
        To(S::Consulting),
    ),
    row(&[S::Consulting], A::Consult, RQD, Stay),
    row(
        &[S::Consulting],
        A::AcceptConditions,
        RQG,
        To(S::ConditionsAccepted),
    ),
    row(
        &[S::Consulting],
        A::DeclineConditions,
        RQG,
        To(S::ConditionsDeclined),
    ),
    // Postponement and refusal need a prior consultation; accepted
    // conditions bind both sides, so they exclude a refusal.
    guarded(
        &[
            S::Acknowledged,
            S::Consulting,
            S::ConditionsAccepted,
            S::ConditionsDeclined,
            S::PartlyExecuted,
        ],
        A::Postpone,
        RQD,
        Guard::Consulted,
        To(S::Postponed),
    ),
    guarded(&[S::Postponed], A::Postpone, RQD, Guard::Consulted, Stay),
    guarded(
        &[
            S::Acknowledged,
            S::Consulting,
            S::ConditionsDeclined,
            S::Postponed,
            S::PartlyExecuted,
        ],
        A::Refuse,
        RQD,
        Guard::Consulted,
        To(S::Refused),
    ),
    // Preservation.
    guarded(
        &[
            S::Acknowledged,
            S::ConditionsAccepted,
            S::ConditionsDeclined,
            S::Postponed,
        ],
        A::ConfirmPreservation,
        RQD,
        Guard::PreservationRequest,
        To(S::Preserved),
    ),
    guarded(
        &[S::Preserved, S::AwaitingInformation],
        A::ExtendPreservation,
        RQD,
        Guard::PreservationInForce,
        Stay,
    ),
    guarded(
        &[S::Preserved, S::AwaitingInformation],
        A::DeclineExtension,
        RQD,
        Guard::PreservationInForce,
        Stay,
    ),
    guarded(
        &[S::Preserved],
        A::AnnounceFollowUp,
        RQG,
        Guard::PreservationInForce,
        Stay,
    ),
    // Execution.
    row(HANDLING, A::ExecutePartly, RQD, To(S::PartlyExecuted)),
    row(HANDLING, A::ExecuteWholly, RQD, To(S::Executed)),
    // The end.
    row(OPEN, A::Withdraw, RQG, To(S::Withdrawn)),
    row(
        &[S::Preserved, S::PartlyExecuted, S::Executed, S::Refused],
        A::Close,
        RQG,
        To(S::Closed),
    ),
    // issue 18: use limits and onward-transfer consent. What was provided
    // serves its case; any other use needs the providing State's consent.
    guarded(WITH_REQUEST, A::AskConsent, RQG, Guard::Provided, Stay),
    guarded(
        WITH_REQUEST,
        A::GrantConsent,
        RQD,
        Guard::ConsentAsked,
        Stay,
    ),
    guarded(
        WITH_REQUEST,
        A::RefuseConsent,
        RQD,
        Guard::ConsentAsked,
        Stay,
    ),
    // issue 18: retention. Either side tells the other that it deleted
    // its copy, in every state, the final ones included.
    row(HELD, A::ReportDeletion, RQG, Stay),
    row(HELD, A::ReportDeletion, RQD, Stay),
];

/// The row for a (state, action, side), if any.
pub fn rule(state: State, action: Action, side: Side) -> Option<&'static Rule> {
    RULES
        .iter()
        .find(|r| r.action == action && r.side == side && r.from.contains(&state))
}

/// Whether an action is about consent to use what was provided: the only
/// actions a case that is over still accepts.
pub fn is_consent(action: Action) -> bool {
    matches!(
        action,
        Action::AskConsent | Action::GrantConsent | Action::RefuseConsent
    )
}

/// The row for a (state, action, side), or the refusal when there is none.
/// Guards are not evaluated here: they need the case's facts.
pub fn outcome(state: State, action: Action, side: Side) -> Result<&'static Rule, RefusalCode> {
    if let Some(r) = rule(state, action, side) {
        return Ok(r);
    }
    Err(if !action.acted_by().includes(side) {
        RefusalCode::WrongSide
    } else if state == State::New {
        RefusalCode::NoRequest
    } else if state.is_final() {
        RefusalCode::CaseOver
    } else if action == Action::Submit {
        RefusalCode::AlreadySubmitted
    } else {
        RefusalCode::NotAllowedInState
    })
}
