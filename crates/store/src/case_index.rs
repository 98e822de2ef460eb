//! The case index and the clock events fired: derived data that listing
//! cases and the node's scheduler read instead of deriving every thread.
//!
//! One [`CaseRow`] per request says what a listing shows and what the
//! scheduler looks for (the state, the urgency rank, whether the case is
//! open or overdue, the next instant at which something falls due). The
//! store knows nothing of cases: the node derives each row from the thread
//! and writes it back. The database marks a row stale, in the same
//! transaction, whenever its thread changes (a request recorded, a message
//! stored, a clock event fired) and counts the change in the row's
//! revision; [`crate::CaseStore::put_case`] writes a derived row only if the
//! revision the node read before deriving is still the row's, so a row
//! derived from an older thread never overwrites a newer one.
//!
//! A [`ClockFired`] key is what makes the scheduler fire each clock event
//! once: it is inserted in the transaction that records the event, and a key
//! already held stops that transaction before anything is written.

use custos_model::{RequestKind, StateCode};
use time::OffsetDateTime;

use crate::StoreError;
use crate::encode;
use crate::records::Direction;

/// The rank of an emergency request in the index (listed first).
pub const URGENCY_EMERGENCY: u8 = 0;
/// The rank of an urgent request.
pub const URGENCY_URGENT: u8 = 1;
/// The rank of a routine request (and of a case not yet derived).
pub const URGENCY_ROUTINE: u8 = 2;

/// One case as the index holds it. States, sides and actions are their
/// stable names (the store does not know the case model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseRow {
    /// The request's id.
    pub id: String,
    pub kind: RequestKind,
    pub direction: Direction,
    pub counterpart: StateCode,
    /// This node's side (`requesting` or `requested`); empty until derived.
    pub side: String,
    /// The derived state's name.
    pub state: String,
    /// [`URGENCY_EMERGENCY`], [`URGENCY_URGENT`] or [`URGENCY_ROUTINE`].
    pub urgency: u8,
    /// Whether the case is still open (not refused, withdrawn, closed or
    /// wholly executed, or it still has a clock running).
    pub open: bool,
    /// Whether a clock is overdue.
    pub overdue: bool,
    /// The nearest instant at which something must happen (a clock's due
    /// instant, or a warning's lead time before it) that has not fired yet.
    pub next_due: Option<OffsetDateTime>,
    /// When the last accepted step was taken.
    pub last_step_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    /// The names of the actions this node's side may take next.
    pub allowed: Vec<String>,
    /// Whether the thread changed since the row was last derived (always
    /// `false` in a row written with [`crate::CaseStore::put_case`]).
    pub stale: bool,
    /// What oversight statistics count about the case.
    pub figures: CaseFigures,
}

/// What oversight statistics count about a case (`custos_case::figures`):
/// names, codes, a flag and durations, never content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseFigures {
    /// The outcome's name (`executed`, `refused`, `open`, ...).
    pub outcome: String,
    /// The refusal's ground codes (`R1` … `R7`, ...), in the order given.
    pub grounds: Vec<String>,
    /// Whether execution was postponed at least once.
    pub postponed: bool,
    /// Whole seconds from submission to acknowledgement, once acknowledged.
    pub ack_seconds: Option<i64>,
    /// Whole seconds from submission to the first decision, once decided.
    pub decision_seconds: Option<i64>,
}

impl Default for CaseFigures {
    fn default() -> Self {
        CaseFigures {
            outcome: "open".to_owned(),
            grounds: Vec::new(),
            postponed: false,
            ack_seconds: None,
            decision_seconds: None,
        }
    }
}

/// Which cases [`crate::CaseStore::list_cases`] returns, ordered open cases
/// first, then by urgency rank, then by the nearest `next_due` (none last),
/// then newest first (ties by id, descending).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseRowFilter {
    pub state: Option<String>,
    pub kind: Option<RequestKind>,
    pub counterpart: Option<StateCode>,
    pub urgency: Option<u8>,
    pub open: Option<bool>,
    pub overdue: Option<bool>,
    /// At most this many rows.
    pub limit: u32,
    /// After skipping this many.
    pub offset: u64,
    /// Leave out the confidential cases not assigned to this person
    /// (issue 18); `None` lists them all.
    pub hidden_from: Option<String>,
}

/// How many open cases are in one state ([`crate::CaseStore::count_open_cases`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateCount {
    /// The state's name.
    pub state: String,
    /// Open cases in that state.
    pub cases: u64,
    /// Of those, the overdue ones.
    pub overdue: u64,
}

/// A stale row: its id and the revision to hand back with the derived row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleCase {
    pub id: String,
    pub revision: i64,
}

/// One clock event fired for a case: the key that makes it happen once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockFired {
    pub case_id: String,
    /// The clock's name (`acknowledgement`, `deadline`, `preservation`).
    pub clock: String,
    /// The event's name (`warning:…`, `overdue`, `ended`).
    pub event: String,
    /// The clock's due instant the event belongs to.
    pub due: OffsetDateTime,
    /// When it fired.
    pub fired_at: OffsetDateTime,
}

/// A case row, checked and converted for writing.
#[derive(Debug)]
pub(crate) struct CaseWrite<'a> {
    pub id: &'a str,
    pub kind: &'static str,
    pub direction: &'static str,
    pub counterpart: &'a str,
    pub side: &'a str,
    pub state: &'a str,
    pub urgency: i64,
    pub open: bool,
    pub overdue: bool,
    pub next_due: Option<OffsetDateTime>,
    /// `next_due` in microseconds, or `i64::MAX` when there is none.
    pub due_rank: i64,
    pub last_step_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub allowed: String,
    pub outcome: &'a str,
    pub grounds: String,
    pub postponed: bool,
    pub ack_seconds: Option<i64>,
    pub decision_seconds: Option<i64>,
}

/// A comma-joined list of names, each checked to hold no comma.
fn names(field: &'static str, names: &[String], what: &str) -> Result<String, StoreError> {
    for a in names {
        if a.contains(',') || a.is_empty() {
            return Err(StoreError::InvalidValue {
                field,
                problem: format!("{a:?} is not {what}"),
            });
        }
    }
    Ok(encode::text(field, &names.join(","))?.to_owned())
}

pub(crate) fn case_write(row: &CaseRow) -> Result<CaseWrite<'_>, StoreError> {
    let next_due = row
        .next_due
        .map(|t| encode::timestamp("case_index.next_due", t))
        .transpose()?;
    let f = &row.figures;
    Ok(CaseWrite {
        id: encode::text("case_index.id", &row.id)?,
        kind: row.kind.as_str(),
        direction: row.direction.as_str(),
        counterpart: row.counterpart.as_str(),
        side: encode::text("case_index.side", &row.side)?,
        state: encode::text("case_index.state", &row.state)?,
        urgency: i64::from(row.urgency),
        open: row.open,
        overdue: row.overdue,
        due_rank: next_due.map_or(i64::MAX, encode::unix_micros),
        next_due,
        last_step_at: row
            .last_step_at
            .map(|t| encode::timestamp("case_index.last_step_at", t))
            .transpose()?,
        created_at: encode::timestamp("case_index.created_at", row.created_at)?,
        allowed: names("case_index.allowed", &row.allowed, "an action's name")?,
        outcome: encode::text("case_index.outcome", &f.outcome)?,
        grounds: names("case_index.grounds", &f.grounds, "a ground's code")?,
        postponed: f.postponed,
        ack_seconds: f.ack_seconds,
        decision_seconds: f.decision_seconds,
    })
}

/// A fired clock event's key, checked and converted for writing.
#[derive(Debug)]
pub(crate) struct FiredWrite<'a> {
    pub case_id: &'a str,
    pub clock: &'a str,
    pub event: &'a str,
    pub due: OffsetDateTime,
    pub fired_at: OffsetDateTime,
}

pub(crate) fn fired_write(f: &ClockFired) -> Result<FiredWrite<'_>, StoreError> {
    Ok(FiredWrite {
        case_id: encode::text("clock_events.case_id", &f.case_id)?,
        clock: encode::text("clock_events.clock", &f.clock)?,
        event: encode::text("clock_events.event", &f.event)?,
        due: encode::timestamp("clock_events.due", f.due)?,
        fired_at: encode::timestamp("clock_events.fired_at", f.fired_at)?,
    })
}

/// A `case_index` row with its columns read but not yet parsed.
#[derive(Debug)]
pub(crate) struct RawCase {
    pub id: String,
    pub kind: String,
    pub direction: String,
    pub counterpart: String,
    pub side: String,
    pub state: String,
    pub urgency: i64,
    pub open: bool,
    pub overdue: bool,
    pub next_due: Option<OffsetDateTime>,
    pub last_step_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub allowed: String,
    pub stale: bool,
    pub outcome: String,
    pub grounds: String,
    pub postponed: bool,
    pub ack_seconds: Option<i64>,
    pub decision_seconds: Option<i64>,
}

fn corrupt(column: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt {
        table: "case_index",
        column,
        detail,
    }
}

impl RawCase {
    pub(crate) fn parse(self) -> Result<CaseRow, StoreError> {
        let row = &self.id;
        Ok(CaseRow {
            kind: self
                .kind
                .parse()
                .map_err(|e| corrupt("kind", format!("case {row:?}: {e}")))?,
            direction: self
                .direction
                .parse()
                .map_err(|e| corrupt("direction", format!("case {row:?}: {e}")))?,
            counterpart: self
                .counterpart
                .parse()
                .map_err(|e| corrupt("counterpart", format!("case {row:?}: {e}")))?,
            urgency: u8::try_from(self.urgency)
                .ok()
                .filter(|u| *u <= URGENCY_ROUTINE)
                .ok_or_else(|| {
                    corrupt("urgency", format!("case {row:?}: rank {}", self.urgency))
                })?,
            allowed: self
                .allowed
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
            side: self.side,
            state: self.state,
            open: self.open,
            overdue: self.overdue,
            next_due: self.next_due,
            last_step_at: self.last_step_at,
            created_at: self.created_at,
            stale: self.stale,
            figures: CaseFigures {
                outcome: self.outcome,
                grounds: self
                    .grounds
                    .split(',')
                    .filter(|g| !g.is_empty())
                    .map(str::to_owned)
                    .collect(),
                postponed: self.postponed,
                ack_seconds: self.ack_seconds,
                decision_seconds: self.decision_seconds,
            },
            id: self.id,
        })
    }
}
