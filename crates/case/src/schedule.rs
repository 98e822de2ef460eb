//! What a case's clocks ask of the node, and when: the events a scheduler
//! fires (warnings at lead times before a clock falls due, a clock falling
//! overdue, a preservation's end).
//!
//! [`clock_events`] reads the clocks of a derived [`CaseView`] and gives
//! every event they call for, each with the clock's due instant (the event
//! belongs to that instant: a deadline moved by a pause is a new instant and
//! warns again) and the instant it fires. Which of them already fired is
//! the node's record, not the case's; the node fires those due and not yet
//! fired, and keeps the earliest of the rest as the case's next due
//! instant. Nothing here reads the time.
//!
//! - An emergency request's acknowledgement target, running: a `warning`
//!   at each acknowledgement lead before it (the node gives these leads
//!   only on the requested side, whose duty officer must act), then
//!   `overdue` at its due instant (and `overdue` still, once past it).
//! - The requester's deadline, running: a `warning` at each deadline lead
//!   before it, then `overdue` at its due instant (and `overdue` still, once
//!   past it). A paused deadline calls for nothing until it runs again.
//! - A preservation, running: a `warning` at each preservation lead before
//!   its end, then `ended` at its end; one that reached its end by time
//!   (the case not closed or withdrawn) still calls for `ended`. A
//!   preservation held by a pending follow-up request calls for nothing.
//!
//! A warning is given only while its clock is still running: one whose
//! clock is already past due (a node that was down, a clock moved ahead)
//! is not given late, the clock's own event is.

use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::clock::{ClockKind, ClockStatus};
use crate::derive::CaseView;

/// The lead times of the warnings, as the node is configured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leads {
    /// Before a preservation ends.
    pub preservation: Vec<Duration>,
    /// Before the requester's deadline falls due.
    pub deadline: Vec<Duration>,
    /// Before an emergency request's acknowledgement target.
    pub acknowledgement: Vec<Duration>,
}

/// What happens to a clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClockEventKind {
    /// The clock falls due after this lead time.
    Warning(Duration),
    /// The clock fell due with nothing done.
    Overdue,
    /// The preservation reached its end.
    Ended,
}

impl fmt::Display for ClockEventKind {
    /// The stable name recorded with the event: `warning:<seconds>s`,
    /// `overdue` or `ended`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockEventKind::Warning(lead) => write!(f, "warning:{}s", lead.whole_seconds()),
            ClockEventKind::Overdue => f.write_str("overdue"),
            ClockEventKind::Ended => f.write_str("ended"),
        }
    }
}

/// One event a clock calls for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockEvent {
    pub clock: ClockKind,
    pub event: ClockEventKind,
    /// The clock's due instant the event belongs to.
    pub due: OffsetDateTime,
    /// When it fires: `due` less the warning's lead, or `due`.
    pub fires: OffsetDateTime,
}

/// Every event the case's clocks call for, in the order they fire.
pub fn clock_events(view: &CaseView, leads: &Leads) -> Vec<ClockEvent> {
    let mut out = Vec::new();
    for clock in &view.clocks {
        let Some(due) = clock.due else { continue };
        let (warn, last) = match (clock.kind, clock.status) {
            (ClockKind::Acknowledgement, ClockStatus::Running) => {
                (&leads.acknowledgement[..], ClockEventKind::Overdue)
            }
            (ClockKind::Acknowledgement, ClockStatus::Overdue) => {
                (&[][..], ClockEventKind::Overdue)
            }
            (ClockKind::Deadline, ClockStatus::Running) => {
                (&leads.deadline[..], ClockEventKind::Overdue)
            }
            (ClockKind::Deadline, ClockStatus::Overdue) => (&[][..], ClockEventKind::Overdue),
            (ClockKind::Preservation, ClockStatus::Running) => {
                (&leads.preservation[..], ClockEventKind::Ended)
            }
            (ClockKind::Preservation, ClockStatus::Ended) if view.facts.over_at.is_none() => {
                (&[][..], ClockEventKind::Ended)
            }
            _ => continue,
        };
        for lead in warn {
            let fires = due - *lead;
            if lead.is_positive() && fires > clock.started {
                out.push(ClockEvent {
                    clock: clock.kind,
                    event: ClockEventKind::Warning(*lead),
                    due,
                    fires,
                });
            }
        }
        out.push(ClockEvent {
            clock: clock.kind,
            event: last,
            due,
            fires: due,
        });
    }
    out.sort_by(|a, b| {
        (a.fires, a.clock, a.event.to_string()).cmp(&(b.fires, b.clock, b.event.to_string()))
    });
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{Act, CaseEvent, Side, Submission, Urgency};
    use crate::derive::derive;
    use custos_model::RequestKind;
    use time::macros::{date, datetime};

    const T0: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

    fn preservation(extra: Vec<CaseEvent>, now: OffsetDateTime) -> Vec<ClockEvent> {
        let mut events = vec![
            CaseEvent::new(
                "1",
                Side::Requesting,
                T0,
                Act::Submit(Submission {
                    kind: RequestKind::Preservation,
                    urgency: Urgency::Urgent,
                    deadline: None,
                }),
            ),
            CaseEvent::new("2a", Side::Requested, T0, Act::Acknowledge),
            CaseEvent::new(
                "2b",
                Side::Requested,
                T0 + Duration::hours(1),
                Act::ConfirmPreservation {
                    took_effect: date!(2026 - 01 - 01),
                    days: 60,
                },
            ),
        ];
        events.extend(extra);
        let leads = Leads {
            preservation: vec![Duration::days(7), Duration::days(1)],
            deadline: vec![Duration::days(2)],
            acknowledgement: vec![Duration::minutes(15)],
        };
        clock_events(&derive(&events, now), &leads)
    }

    #[test]
    fn a_running_preservation_warns_at_each_lead_then_ends() {
        let end = datetime!(2026-03-02 0:00 UTC);
        let got: Vec<(String, OffsetDateTime)> = preservation(vec![], T0 + Duration::days(2))
            .iter()
            .map(|e| (e.event.to_string(), e.fires))
            .collect();
        assert_eq!(
            got,
            [
                ("warning:604800s".to_owned(), end - Duration::days(7)),
                ("warning:86400s".to_owned(), end - Duration::days(1)),
                ("ended".to_owned(), end),
            ]
        );
    }

    #[test]
    fn past_its_end_only_the_end_is_called_for_and_a_held_one_calls_for_nothing() {
        let late = preservation(vec![], T0 + Duration::days(70));
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].event, ClockEventKind::Ended);
        let follow_up = CaseEvent::new(
            "3",
            Side::Requesting,
            T0 + Duration::days(10),
            Act::AnnounceFollowUp {
                request: "thr-follow-up".into(),
            },
        );
        assert!(preservation(vec![follow_up], T0 + Duration::days(70)).is_empty());
    }

    fn emergency(now: OffsetDateTime, leads: &Leads) -> Vec<ClockEvent> {
        let events = vec![CaseEvent::new(
            "1",
            Side::Requesting,
            T0,
            Act::Submit(Submission {
                kind: RequestKind::EmergencyData,
                urgency: Urgency::Emergency,
                deadline: None,
            }),
        )];
        let view = derive(&events, now);
        clock_events(&view, leads)
            .into_iter()
            .filter(|e| e.clock == ClockKind::Acknowledgement)
            .collect()
    }

    #[test]
    fn an_emergency_warns_before_its_acknowledgement_target_then_falls_overdue() {
        let leads = Leads {
            acknowledgement: vec![Duration::minutes(15)],
            ..Leads::default()
        };
        let running = emergency(T0 + Duration::minutes(1), &leads);
        let due = running
            .last()
            .map(|e| e.due)
            .expect("an emergency has an acknowledgement target");
        let got: Vec<(String, OffsetDateTime)> = running
            .iter()
            .map(|e| (e.event.to_string(), e.fires))
            .collect();
        assert_eq!(
            got,
            [
                ("warning:900s".to_owned(), due - Duration::minutes(15)),
                ("overdue".to_owned(), due),
            ]
        );
        // Past its target only `overdue` is called for: no late warning.
        let late = emergency(due + Duration::minutes(1), &leads);
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].event, ClockEventKind::Overdue);
        // No lead (zero disables it, or the requesting side): no warning.
        let none = emergency(T0 + Duration::minutes(1), &Leads::default());
        assert_eq!(none.len(), 1);
        // A lead as long as the target would fire before it started: none.
        let whole = Leads {
            acknowledgement: vec![due - T0],
            ..Leads::default()
        };
        assert_eq!(emergency(T0 + Duration::minutes(1), &whole).len(), 1);
    }
}
