//! A thread of case events built step by step, for the tests.

#![allow(dead_code)]

use custos_case::{Act, CaseEvent, ProposedDeadline, Side, Submission, Urgency};
use custos_model::RequestKind;
use custos_model::refusal::Ground;
use time::macros::datetime;
use time::{Date, Duration, OffsetDateTime};

pub const T0: OffsetDateTime = datetime!(2026-01-01 9:00 UTC);

/// Events with increasing times and made-up message ids.
#[derive(Debug, Default)]
pub struct Thread {
    pub events: Vec<CaseEvent>,
    pub now: Option<OffsetDateTime>,
}

impl Thread {
    pub fn new() -> Self {
        Self::default()
    }

    /// The time of the last event (or T0).
    pub fn time(&self) -> OffsetDateTime {
        self.now.unwrap_or(T0)
    }

    /// Moves the thread's time forward.
    pub fn wait(&mut self, by: Duration) -> &mut Self {
        self.now = Some(self.time() + by);
        self
    }

    /// Adds an event an hour after the previous one; returns it.
    pub fn add(&mut self, side: Side, act: Act) -> CaseEvent {
        self.wait(Duration::hours(1));
        let event = self.event(side, act);
        self.events.push(event.clone());
        event
    }

    /// An event at the thread's time that is not (yet) in the thread.
    pub fn event(&self, side: Side, act: Act) -> CaseEvent {
        let id = format!(
            "sha256:{:064x}",
            0x9e37_79b9u64.wrapping_mul(self.events.len() as u64 + 1)
        );
        CaseEvent::new(id, side, self.time(), act)
    }

    pub fn view(&self) -> custos_case::CaseView {
        custos_case::derive(&self.events, self.time())
    }

    pub fn view_at(&self, at: OffsetDateTime) -> custos_case::CaseView {
        custos_case::derive(&self.events, at)
    }
}

pub fn submit(kind: RequestKind) -> Act {
    Act::Submit(Submission {
        kind,
        urgency: Urgency::Routine,
        deadline: None,
    })
}

pub fn submit_with_deadline(kind: RequestKind, date: Date) -> Act {
    Act::Submit(Submission {
        kind,
        urgency: Urgency::Urgent,
        deadline: Some(ProposedDeadline {
            date,
            reasons: "The trial opens the next week.".into(),
        }),
    })
}

pub fn consult() -> Act {
    Act::Consult {
        conditions: vec!["The evidence is used only in the proceedings named.".into()],
    }
}

pub fn refuse(grounds: &[Ground]) -> Act {
    Act::Refuse {
        grounds: grounds.to_vec(),
        reasons: "Execution would prejudice an ongoing national security matter.".into(),
    }
}

pub fn execute_partly(package: &str) -> Act {
    Act::ExecutePartly {
        evidence: vec![package.into()],
    }
}
