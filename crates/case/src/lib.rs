//! A request as a case: what each State may do, in which state, and what
//! follows, derived from the request's signed thread.
//!
//! The crate is pure (no I/O, no clock reads, no store). It holds the case
//! model as data: the actions of each side ([`action`]), the states
//! ([`state`]), one transition table ([`table`]), the stable refusal codes
//! ([`code`]) and the message kind of every action ([`kinds`]). [`derive`]
//! turns a thread's events into a [`CaseView`] (state, clocks, allowed
//! actions, timeline, refused events) that is the same for any order and any
//! repetition of the same events; [`schedule`] says which clock events a
//! view calls for and when; [`figures`] what oversight statistics count
//! about a case (outcome, refusal grounds, postponement, response times); [`check`] and [`check_event`] refuse an
//! action the case does not allow, naming the state and the allowed actions.

pub mod action;
pub mod clock;
pub mod code;
pub mod derive;
pub mod facts;
pub mod figures;
pub mod kinds;
pub mod schedule;
pub mod state;
pub mod table;

pub use action::{
    Act, ActedBy, Action, CaseEvent, ConsentUse, ProposedDeadline, Side, Submission, Urgency,
};
pub use clock::{CaseClock, ClockKind, ClockStatus};
pub use code::RefusalCode;
pub use derive::{
    Allowed, CaseView, NotAllowed, RefusedEvent, Settings, TimelineEntry, check, check_event,
    derive, derive_with,
};
pub use facts::{Consent, ConsentAnswer, Facts, Preservation};
pub use figures::{Figures, Outcome, figures};
pub use kinds::{MESSAGE_KINDS, MessageKindSpec, message_kind, proposed_kinds};
pub use schedule::{ClockEvent, ClockEventKind, Leads, clock_events};
pub use state::State;
