//! The case's clocks at a given instant: the emergency acknowledgement
//! target, the requester's proposed deadline and the preservation's end.
//!
//! Clocks are computed from the facts and the instant asked about; nothing
//! here reads the time. The requester's deadline pauses while more
//! information is awaited (its due instant moves by the time spent
//! waiting). A preservation lasts at least the Convention's minimum from the
//! day it took effect, later once extended, and is held while the follow-up
//! request is pending.

use std::fmt;

use custos_model::article::{self, ArticleRef};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::facts::{Facts, midnight};

/// Which clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockKind {
    /// An emergency request's acknowledgement target (a setting of the node).
    Acknowledgement,
    /// The deadline the requesting State proposed, with its reasons.
    Deadline,
    /// The end of a confirmed preservation.
    Preservation,
}

impl ClockKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockKind::Acknowledgement => "acknowledgement",
            ClockKind::Deadline => "deadline",
            ClockKind::Preservation => "preservation",
        }
    }

    /// The article behind the clock, when the Convention sets it.
    pub fn article(self) -> Option<ArticleRef> {
        match self {
            ClockKind::Acknowledgement => None,
            ClockKind::Deadline => Some(article::MLA),
            ClockKind::Preservation => Some(article::PRESERVATION),
        }
    }
}

impl fmt::Display for ClockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a clock stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockStatus {
    /// Running towards its due instant.
    Running,
    /// Stopped for now: more information is awaited.
    Paused,
    /// Kept going with no end: a preservation held by a pending follow-up.
    Held,
    /// Past its due instant with nothing done.
    Overdue,
    /// Done in time.
    Met,
    /// Done, but after the due instant.
    MetLate,
    /// A preservation that reached its end.
    Ended,
    /// The case ended first (withdrawn, closed, refused).
    Stopped,
}

impl ClockStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockStatus::Running => "running",
            ClockStatus::Paused => "paused",
            ClockStatus::Held => "held",
            ClockStatus::Overdue => "overdue",
            ClockStatus::Met => "met",
            ClockStatus::MetLate => "met-late",
            ClockStatus::Ended => "ended",
            ClockStatus::Stopped => "stopped",
        }
    }

    /// Whether the clock still runs (or waits) and may need attention.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ClockStatus::Running | ClockStatus::Paused | ClockStatus::Held | ClockStatus::Overdue
        )
    }
}

impl fmt::Display for ClockStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One clock of a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseClock {
    pub kind: ClockKind,
    pub started: OffsetDateTime,
    /// When it falls due; `None` while held. A paused deadline's due
    /// instant is where it would fall if the answer came now.
    pub due: Option<OffsetDateTime>,
    pub status: ClockStatus,
}

/// The case's clocks at `now`, in the order of [`ClockKind`].
pub(crate) fn clocks(facts: &Facts, now: OffsetDateTime, ack_target: Duration) -> Vec<CaseClock> {
    let mut out = Vec::new();
    let Some(request) = &facts.request else {
        return out;
    };
    let stopped_at = match (facts.refused_at, facts.over_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };

    if request.submission.is_emergency() {
        let due = request.submitted_at + ack_target;
        let status = match (facts.acknowledged_at, stopped_at) {
            (Some(t), _) if t <= due => ClockStatus::Met,
            (Some(_), _) => ClockStatus::MetLate,
            (None, Some(_)) => ClockStatus::Stopped,
            (None, None) if now > due => ClockStatus::Overdue,
            (None, None) => ClockStatus::Running,
        };
        out.push(CaseClock {
            kind: ClockKind::Acknowledgement,
            started: request.submitted_at,
            due: Some(due),
            status,
        });
    }

    if let Some(deadline) = &request.submission.deadline {
        let base = midnight(deadline.date.next_day().unwrap_or(deadline.date));
        let until = facts.executed_at.or(stopped_at).unwrap_or(now);
        let due = base + facts.paused_until(until);
        let status = if let Some(t) = facts.executed_at {
            if t <= due {
                ClockStatus::Met
            } else {
                ClockStatus::MetLate
            }
        } else if stopped_at.is_some() {
            ClockStatus::Stopped
        } else if facts.paused_since.is_some() {
            ClockStatus::Paused
        } else if now > due {
            ClockStatus::Overdue
        } else {
            ClockStatus::Running
        };
        out.push(CaseClock {
            kind: ClockKind::Deadline,
            started: request.submitted_at,
            due: Some(due),
            status,
        });
    }

    if let Some(p) = &facts.preservation {
        let ends = p.ends_at();
        let (due, status) = match facts.over_at {
            Some(t) if t >= ends && p.follow_up.is_none() => (Some(ends), ClockStatus::Ended),
            Some(_) => (Some(ends), ClockStatus::Stopped),
            None if p.follow_up.is_some() => (None, ClockStatus::Held),
            None if now >= ends => (Some(ends), ClockStatus::Ended),
            None => (Some(ends), ClockStatus::Running),
        };
        out.push(CaseClock {
            kind: ClockKind::Preservation,
            started: midnight(p.took_effect),
            due,
            status,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{Act, ProposedDeadline, Submission, Urgency};
    use crate::state::State;
    use custos_model::RequestKind;
    use time::macros::{date, datetime};

    const T0: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

    fn submitted(kind: RequestKind, urgency: Urgency) -> Facts {
        let mut f = Facts::default();
        let submission = Submission {
            kind,
            urgency,
            deadline: Some(ProposedDeadline {
                date: date!(2026 - 01 - 10),
                reasons: "Trial date.".into(),
            }),
        };
        f.record(&Act::Submit(submission), T0, State::New, State::Submitted);
        f
    }

    fn status(
        f: &Facts,
        kind: ClockKind,
        now: OffsetDateTime,
    ) -> (ClockStatus, Option<OffsetDateTime>) {
        let c = clocks(f, now, Duration::hours(1));
        let c = c.iter().find(|c| c.kind == kind).unwrap();
        (c.status, c.due)
    }

    #[test]
    fn a_withdrawal_while_information_is_awaited_stops_the_deadline_and_its_pause() {
        let mut f = submitted(RequestKind::Mla, Urgency::Urgent);
        let (a, w) = (State::Acknowledged, State::AwaitingInformation);
        f.record(&Act::RequestInfo, T0 + Duration::days(1), a, w);
        f.record(&Act::Withdraw, T0 + Duration::days(3), w, State::Withdrawn);
        let base = datetime!(2026-01-11 0:00 UTC);
        assert_eq!(
            status(&f, ClockKind::Deadline, T0 + Duration::days(30)),
            (ClockStatus::Stopped, Some(base + Duration::days(2)))
        );
    }

    #[test]
    fn an_execution_after_the_moved_deadline_is_late() {
        let mut f = submitted(RequestKind::Mla, Urgency::Urgent);
        let base = datetime!(2026-01-11 0:00 UTC);
        f.record(
            &Act::ExecuteWholly { evidence: vec![] },
            base + Duration::minutes(1),
            State::Acknowledged,
            State::Executed,
        );
        assert_eq!(
            status(&f, ClockKind::Deadline, base + Duration::days(1)),
            (ClockStatus::MetLate, Some(base))
        );
    }

    #[test]
    fn a_preservation_closed_after_its_end_had_ended() {
        let mut f = submitted(RequestKind::Preservation, Urgency::Routine);
        let confirm = Act::ConfirmPreservation {
            took_effect: date!(2026 - 01 - 01),
            days: 60,
        };
        f.record(&confirm, T0, State::Acknowledged, State::Preserved);
        let end = datetime!(2026-03-02 0:00 UTC);
        f.record(
            &Act::Close,
            end + Duration::days(1),
            State::Preserved,
            State::Closed,
        );
        assert_eq!(
            status(&f, ClockKind::Preservation, end + Duration::days(9)),
            (ClockStatus::Ended, Some(end))
        );
    }
}
