//! From the thread's events to the case as both States see it.
//!
//! [`derive`] puts the events in one total order (time, then id) after
//! removing copies (same id), runs each through the transition table, its
//! guard and the contents checks, and records the accepted ones on the
//! timeline and the others with their refusal code. The result depends only
//! on the set of events and the instant asked about, so two nodes holding the
//! same messages, received in any order and any number of times, derive the
//! same view. [`check`] and [`check_event`] answer, before sending, whether
//! the case allows an action.

use std::cmp::Ordering;

use time::{Duration, OffsetDateTime};

use crate::action::{Action, CaseEvent, Side};
use crate::clock::{self, CaseClock, ClockStatus};
use crate::code::RefusalCode;
use crate::facts::Facts;
use crate::state::State;
use crate::table::{self, Next, Rule};

/// The node's settings that the derivation reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How soon an emergency request must be acknowledged.
    pub emergency_ack_target: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            emergency_ack_target: Duration::hours(1),
        }
    }
}

/// An accepted event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEntry {
    pub id: String,
    pub at: OffsetDateTime,
    pub side: Side,
    pub action: Action,
    /// The state the event led to.
    pub state: State,
}

/// An event the case did not accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedEvent {
    pub id: String,
    pub at: OffsetDateTime,
    pub side: Side,
    pub action: Action,
    /// The state the event met.
    pub state: State,
    pub code: RefusalCode,
}

/// The actions each side may take next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowed {
    pub requesting: Vec<Action>,
    pub requested: Vec<Action>,
}

impl Allowed {
    pub fn of(&self, side: Side) -> &[Action] {
        match side {
            Side::Requesting => &self.requesting,
            Side::Requested => &self.requested,
        }
    }
}

/// The case at an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseView {
    /// The instant the view was derived for.
    pub now: OffsetDateTime,
    pub state: State,
    pub facts: Facts,
    pub clocks: Vec<CaseClock>,
    /// Whether any clock is overdue.
    pub overdue: bool,
    pub allowed: Allowed,
    pub timeline: Vec<TimelineEntry>,
    pub refused: Vec<RefusedEvent>,
}

impl CaseView {
    /// The clocks that still run, wait or are overdue.
    pub fn open_clocks(&self) -> impl Iterator<Item = &CaseClock> {
        self.clocks.iter().filter(|c| c.status.is_open())
    }
}

/// Why an action may not be taken now.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{action} by the {side} State is not allowed in state {state} ({code}: {}); the {side} State may: {}",
    code.description(),
    list(allowed)
)]
pub struct NotAllowed {
    pub state: State,
    pub action: Action,
    pub side: Side,
    pub code: RefusalCode,
    /// What that side may do instead.
    pub allowed: Vec<Action>,
}

fn list(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "nothing".to_owned();
    }
    actions
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Derives the case from its events at `now`, with the default settings.
pub fn derive(events: &[CaseEvent], now: OffsetDateTime) -> CaseView {
    derive_with(events, now, &Settings::default())
}

/// One item of the ordered thread: an event, or the first copy of an id
/// that several different events carry.
enum Item<'a> {
    Event(&'a CaseEvent),
    Conflict(&'a CaseEvent),
}

impl Item<'_> {
    fn event(&self) -> &CaseEvent {
        match self {
            Item::Event(e) | Item::Conflict(e) => e,
        }
    }
}

/// Orders the events by time then id, one item per id.
fn ordered(events: &[CaseEvent]) -> Vec<Item<'_>> {
    let mut by_id: Vec<&CaseEvent> = events.iter().collect();
    by_id.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let mut items = Vec::with_capacity(by_id.len());
    let mut rest = by_id.as_slice();
    while let Some((first, tail)) = rest.split_first() {
        let same = tail.iter().take_while(|e| e.id == first.id).count();
        let (copies, after) = tail.split_at(same);
        if copies.iter().all(|e| *e == *first) {
            items.push(Item::Event(first));
        } else {
            // Shown by the copy first in time (then action, then side), so
            // that every order of arrival shows the same record.
            let shown = copies
                .iter()
                .copied()
                .fold(*first, |a, b| if key(b) < key(a) { b } else { a });
            items.push(Item::Conflict(shown));
        }
        rest = after;
    }
    items.sort_unstable_by(|a, b| order(a.event(), b.event()));
    items
}

fn key(e: &CaseEvent) -> (OffsetDateTime, Action, Side) {
    (e.at, e.action(), e.side)
}

fn order(a: &CaseEvent, b: &CaseEvent) -> Ordering {
    a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id))
}

/// Derives the case from its events at `now`.
pub fn derive_with(events: &[CaseEvent], now: OffsetDateTime, settings: &Settings) -> CaseView {
    let mut state = State::New;
    let mut facts = Facts::default();
    let mut timeline = Vec::with_capacity(events.len());
    let mut refused = Vec::new();
    for item in ordered(events) {
        let e = item.event();
        let admitted = match item {
            Item::Conflict(_) => Err(RefusalCode::ConflictingDuplicate),
            Item::Event(_) => admit(state, &facts, e.action(), e.side, e.at).and_then(|rule| {
                facts.check_contents(&e.act)?;
                Ok(rule)
            }),
        };
        match admitted {
            Ok(rule) => {
                let next = match rule.next {
                    Next::To(s) => s,
                    Next::Stay => state,
                    Next::Resume => facts.resume_to.unwrap_or(State::Acknowledged),
                };
                facts.record(&e.act, e.at, state, next);
                facts.record_consent(&e.id, &e.act);
                state = next;
                timeline.push(TimelineEntry {
                    id: e.id.clone(),
                    at: e.at,
                    side: e.side,
                    action: e.action(),
                    state,
                });
            }
            Err(code) => refused.push(RefusedEvent {
                id: e.id.clone(),
                at: e.at,
                side: e.side,
                action: e.action(),
                state,
                code,
            }),
        }
    }
    let clocks = clock::clocks(&facts, now, settings.emergency_ack_target);
    let overdue = clocks.iter().any(|c| c.status == ClockStatus::Overdue);
    let allowed = Allowed {
        requesting: allowed_for(state, &facts, Side::Requesting, now),
        requested: allowed_for(state, &facts, Side::Requested, now),
    };
    CaseView {
        now,
        state,
        facts,
        clocks,
        overdue,
        allowed,
        timeline,
        refused,
    }
}

/// The table's row for the action, once its guard holds at `at`.
fn admit(
    state: State,
    facts: &Facts,
    action: Action,
    side: Side,
    at: OffsetDateTime,
) -> Result<&'static Rule, RefusalCode> {
    let rule = table::outcome(state, action, side)?;
    match rule.guard {
        Some(guard) if !facts.holds(guard, at) => Err(guard.refusal()),
        _ => Ok(rule),
    }
}

fn allowed_for(state: State, facts: &Facts, side: Side, at: OffsetDateTime) -> Vec<Action> {
    Action::ALL
        .into_iter()
        // issue 18: retention. The node's purge reports a deletion, never
        // a person: it is not offered.
        .filter(|a| *a != Action::ReportDeletion)
        .filter(|a| admit(state, facts, *a, side, at).is_ok())
        .collect()
}

/// Whether `side` may take `action` now (at the view's instant), by the
/// table and its guards; the contents are not looked at.
pub fn check(view: &CaseView, action: Action, side: Side) -> Result<(), NotAllowed> {
    admit(view.state, &view.facts, action, side, view.now)
        .map(|_| ())
        .map_err(|code| not_allowed(view, action, side, code))
}

/// Whether the case accepts `event` next: the table, its guard at the
/// event's time, and the event's contents (a refusal's grounds and reasons,
/// a postponement's reasons, ...), exactly as [`derive`] will judge it when
/// the event comes after the thread's others (as one a node stamps with its
/// clock's present instant and sends does).
pub fn check_event(view: &CaseView, event: &CaseEvent) -> Result<(), NotAllowed> {
    admit(
        view.state,
        &view.facts,
        event.action(),
        event.side,
        event.at,
    )
    .and_then(|_| view.facts.check_contents(&event.act))
    .map_err(|code| not_allowed(view, event.action(), event.side, code))
}

fn not_allowed(view: &CaseView, action: Action, side: Side, code: RefusalCode) -> NotAllowed {
    NotAllowed {
        state: view.state,
        action,
        side,
        code,
        allowed: view.allowed.of(side).to_vec(),
    }
}
