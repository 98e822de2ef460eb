//! The case index and the clocks that `custos serve` runs.
//!
//! **The index.** Listing cases and finding the clocks due read one row per
//! case in the store (`custos_store::CaseRow`) instead of deriving every
//! thread. The database marks a case's row stale in the transaction that
//! changes its thread (a request recorded, a message sent or accepted, a
//! clock event fired); [`Node::refresh_cases`] derives the stale rows again
//! and writes each back only if its thread did not change meanwhile. The
//! listing, the scheduler's tick and opening a node refresh them first, so
//! what is listed is what derivation says. A row holds no case content: the
//! kind, state, side, urgency, dates, counterpart and the names of the
//! actions allowed, and what oversight statistics count (outcome, refusal
//! ground codes, a postponed flag, two response times: `stats.rs`). When
//! the derivation's format ([`CASE_INDEX_FORMAT`]) differs from the one
//! the rows were written with, opening the node derives every row again,
//! as [`Node::rebuild_case_index`] does on demand.
//!
//! **The clocks.** Each tick ([`Node::run_clocks`], every
//! [`ClockSettings::tick`] in the scheduler worker) reads from the index the
//! cases whose next due instant has come (a range read), derives each, and
//! fires what its clocks call for (`custos_case::schedule`): warnings at the
//! configured lead times before a preservation ends or a requester's
//! deadline falls due, on the requested side `[alerts] ack_warning` before
//! an emergency's acknowledgement target, a preservation's end, a clock falling overdue, and on
//! the requesting side of an emergency request whose acknowledgement target
//! passed, an escalation: a `status-query` marked `"escalation": true`. Each
//! event fires once per (case, clock, event, due instant): its key is
//! inserted in the transaction that records it (the history event with its
//! ledger entry, or the escalation message), so a restart or a second node
//! process sharing the database fires nothing twice. Every event is logged
//! without case content and counted for `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use custos_case::{
    Action, ClockEvent, ClockEventKind, ClockKind, Leads, Side, State, Urgency, clock_events,
};
use custos_protocol::{Message, timestamp};
use custos_store::{
    CaseRow, CaseRowFilter, ClockFired, NewEvent, StaleCase, URGENCY_EMERGENCY, URGENCY_ROUTINE,
    URGENCY_URGENT,
};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use tokio::sync::watch;

use super::Actor;
use super::cases::{CaseFilter, CaseSummary, Derived, kind_of};
use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// The version of what the node derives into the case index; a store whose
/// rows were written with another is derived again when the node opens.
/// Format 2 added what oversight statistics count (`custos_case::figures`).
pub const CASE_INDEX_FORMAT: i64 = 2;

/// How many stale rows are read per page while refreshing.
const REFRESH_PAGE: u32 = 500;

/// How many due cases one tick handles (the rest wait for the next).
const TICK_CASES: u32 = 200;

/// How many cases a refresh or a tick works on at once: their writes share
/// commits (SQLite's group commit, PostgreSQL's pool).
const AT_ONCE: usize = 16;

/// The node's clock settings (`[cases]` in `custos.toml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockSettings {
    /// How soon an emergency request must be acknowledged.
    pub emergency_ack_target: Duration,
    /// Lead times of the warnings before a preservation ends.
    pub preservation_warnings: Vec<Duration>,
    /// Lead times of the warnings before a requester's deadline.
    pub deadline_warnings: Vec<Duration>,
    /// How often the scheduler looks for clocks due.
    pub tick: std::time::Duration,
}

impl Default for ClockSettings {
    fn default() -> Self {
        ClockSettings {
            emergency_ack_target: Duration::hours(1),
            preservation_warnings: vec![Duration::days(7), Duration::days(1)],
            deadline_warnings: vec![Duration::days(2)],
            tick: std::time::Duration::from_secs(5),
        }
    }
}

impl ClockSettings {
    /// The warnings' lead times on `side`: an emergency's acknowledgement
    /// target warns `ack_warning` before it on the requested side only
    /// (the side that must acknowledge), and not at all when zero.
    fn leads(&self, side: Side, ack_warning: Duration) -> Leads {
        Leads {
            preservation: self.preservation_warnings.clone(),
            deadline: self.deadline_warnings.clone(),
            acknowledgement: if side == Side::Requested && ack_warning.is_positive() {
                vec![ack_warning]
            } else {
                Vec::new()
            },
        }
    }
}

/// The clock events this process fired, and the escalations it received,
/// for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct ClockCounters {
    warnings: AtomicU64,
    overdue: AtomicU64,
    ended: AtomicU64,
    escalations_sent: AtomicU64,
    escalations_received: AtomicU64,
}

/// The clock events fired by this process since it started, by event, and
/// the escalations it received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClockCounts {
    pub warnings: u64,
    pub overdue: u64,
    pub ended: u64,
    pub escalations_sent: u64,
    pub escalations_received: u64,
}

/// What one tick of the scheduler did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Stale index rows derived again.
    pub refreshed: usize,
    /// Cases found due.
    pub due: usize,
    /// Events fired, as `case clock event`.
    pub fired: Vec<String>,
}

/// What a rebuild of the case index did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IndexRebuilt {
    /// Rows marked for derivation.
    pub cases: u64,
    /// Rows derived and written.
    pub derived: usize,
}

fn rank(urgency: Urgency, emergency: bool) -> u8 {
    match urgency {
        _ if emergency => URGENCY_EMERGENCY,
        Urgency::Emergency => URGENCY_EMERGENCY,
        Urgency::Urgent => URGENCY_URGENT,
        Urgency::Routine => URGENCY_ROUTINE,
    }
}

fn urgency_of(rank: u8) -> Urgency {
    match rank {
        URGENCY_EMERGENCY => Urgency::Emergency,
        URGENCY_URGENT => Urgency::Urgent,
        _ => Urgency::Routine,
    }
}

fn same_event(fired: &ClockFired, case: &str, e: &ClockEvent) -> bool {
    fired.case_id == case
        && fired.clock == e.clock.as_str()
        && fired.event == e.event.to_string()
        && fired.due == custos_store::storage_precision(e.due)
}

/// The events the case's clocks call for that have not fired yet.
fn pending(derived: &Derived, fired: &[ClockFired], leads: &Leads) -> Vec<ClockEvent> {
    let id = &derived.request.id;
    clock_events(&derived.view, leads)
        .into_iter()
        .filter(|e| !fired.iter().any(|f| same_event(f, id, e)))
        .collect()
}

/// The case's index row, derived.
fn index_row(derived: &Derived, pending: &[ClockEvent]) -> CaseRow {
    let v = &derived.view;
    let urgency = v.facts.request.as_ref().map_or(URGENCY_ROUTINE, |r| {
        rank(r.submission.urgency, r.submission.is_emergency())
    });
    CaseRow {
        id: derived.request.id.clone(),
        kind: derived.request.kind,
        direction: derived.request.direction,
        counterpart: derived.request.counterpart,
        side: derived.side.as_str().to_owned(),
        state: v.state.as_str().to_owned(),
        urgency,
        open: !v.state.is_final() && v.state != State::Refused,
        overdue: v.overdue,
        next_due: pending.iter().map(|e| e.fires).min(),
        // issue 18: retention. A deletion report is no step of the case:
        // the other State's report does not restart this node's retention.
        last_step_at: v
            .timeline
            .iter()
            .rev()
            .find(|t| t.action != custos_case::Action::ReportDeletion)
            .map(|t| t.at),
        created_at: derived.request.created_at,
        allowed: v
            .allowed
            .of(derived.side)
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        stale: false,
        figures: super::stats::case_figures(v),
    }
}

/// A listed case from its index row.
fn summary(row: CaseRow) -> Result<CaseSummary, NodeError> {
    let corrupt = |problem: String| NodeError::Corrupt {
        what: format!("case index row {:?}", row.id),
        problem,
    };
    let side = match row.side.as_str() {
        "requesting" => Side::Requesting,
        "requested" => Side::Requested,
        // A row not derived yet: the side follows from the direction.
        "" if row.direction == custos_store::Direction::Outgoing => Side::Requesting,
        "" => Side::Requested,
        other => return Err(corrupt(format!("{other:?} is not a side"))),
    };
    let state = State::ALL
        .into_iter()
        .find(|s| s.as_str() == row.state)
        .ok_or_else(|| corrupt(format!("{:?} is not a case state", row.state)))?;
    let allowed = row
        .allowed
        .iter()
        .map(|a| a.parse::<Action>().map_err(|e| corrupt(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CaseSummary {
        id: row.id,
        kind: row.kind,
        direction: row.direction,
        counterpart: row.counterpart,
        side,
        state,
        urgency: urgency_of(row.urgency),
        open: row.open,
        overdue: row.overdue,
        next_due: row.next_due,
        last_step_at: row.last_step_at,
        created_at: row.created_at,
        allowed,
    })
}

/// The alert a fired clock event calls for: a warning before a clock falls
/// due (before an emergency's acknowledgement target: that it is near), a
/// clock overdue (on the requested side of an emergency: its
/// acknowledgement target passed); nothing for a preservation's end.
fn clock_alert(
    derived: &Derived,
    event: &ClockEvent,
    key: &ClockFired,
) -> Option<super::alerts::Cause> {
    let kind = match (event.event, event.clock, derived.side) {
        (ClockEventKind::Ended, _, _) => return None,
        (ClockEventKind::Overdue, ClockKind::Acknowledgement, Side::Requested) => {
            "ack-target-passed"
        }
        (ClockEventKind::Overdue, _, _) => "clock-overdue",
        (ClockEventKind::Warning(_), ClockKind::Acknowledgement, _) => "ack-target-near",
        (ClockEventKind::Warning(_), _, _) => "clock-warning",
    };
    let urgency = derived
        .view
        .facts
        .request
        .as_ref()
        .map_or(Urgency::Routine, |r| {
            if r.submission.is_emergency() {
                Urgency::Emergency
            } else {
                r.submission.urgency
            }
        });
    let urgency = match urgency {
        Urgency::Emergency => "emergency",
        Urgency::Urgent => "urgent",
        Urgency::Routine => "routine",
    };
    Some(super::alerts::Cause {
        key: format!(
            "clock:{} {} {} {}",
            key.case_id,
            key.clock,
            key.event,
            timestamp::format(custos_store::storage_precision(key.due))
        ),
        kind,
        case_id: key.case_id.clone(),
        counterpart: derived.request.counterpart.to_string(),
        urgency: urgency.to_owned(),
        deadline: Some(event.due),
    })
}

impl Node {
    /// The warnings' lead times on `side`, as configured.
    fn leads(&self, side: Side) -> Leads {
        self.settings
            .clocks
            .leads(side, self.alert_settings().ack_warning)
    }

    /// The clock events fired and escalations received by this process.
    pub fn clock_counts(&self) -> ClockCounts {
        let c = &self.clock_counters;
        ClockCounts {
            warnings: c.warnings.load(Ordering::Relaxed),
            overdue: c.overdue.load(Ordering::Relaxed),
            ended: c.ended.load(Ordering::Relaxed),
            escalations_sent: c.escalations_sent.load(Ordering::Relaxed),
            escalations_received: c.escalations_received.load(Ordering::Relaxed),
        }
    }

    /// Notes a peer's escalation received (intake), for `/metrics`.
    pub(crate) fn note_escalation_received(&self, thread: &str) {
        self.clock_counters
            .escalations_received
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            thread,
            "the requesting State escalated: an emergency request's acknowledgement target passed"
        );
    }

    /// Derives case `id` again at `now` and writes its index row, unless
    /// its thread changed meanwhile (then it stays stale for the next
    /// refresh); the events its clocks call for that have not fired yet.
    async fn refresh_case(
        &self,
        id: &str,
        revision: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<(Derived, Vec<ClockEvent>), NodeError> {
        let revision = match revision {
            Some(r) => Some(r),
            None => self.store.case_revision(id).await?,
        };
        let derived = match self.derived(id, now).await {
            Ok(d) => d,
            Err(e @ NodeError::ContentDeleted { .. }) => {
                // issue 18: retention. A deleted case's row keeps what was
                // derived last, with nothing falling due any more.
                if let (Some(revision), Some(mut row)) = (revision, self.store.get_case(id).await?)
                {
                    row.next_due = None;
                    row.overdue = false;
                    row.allowed.clear();
                    self.store.put_case(&row, revision).await?;
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let fired = self.store.fired_events(id).await?;
        let pending = pending(&derived, &fired, &self.leads(derived.side));
        let row = index_row(&derived, &pending);
        if let Some(revision) = revision {
            self.store.put_case(&row, revision).await?;
        }
        // issue 18: retention counts from the case's end.
        self.note_case_end(&row).await?;
        Ok((derived, pending))
    }

    /// Derives every stale row of the case index again and writes it back;
    /// how many were written. A case that cannot be derived (its records
    /// fail their checks) is logged and left stale.
    pub(crate) async fn refresh_cases(&self) -> Result<usize, NodeError> {
        let now = self.clock.now();
        let mut after = String::new();
        let mut written = 0;
        loop {
            let page = self.store.stale_cases(&after, REFRESH_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            let results: Vec<_> = stream::iter(page)
                .map(|stale| self.refresh_stale(stale, now))
                .buffer_unordered(AT_ONCE)
                .collect()
                .await;
            for (stale, done) in results {
                match done {
                    Ok(_) => written += 1,
                    Err(NodeError::ContentDeleted { .. }) => {}
                    Err(e) => {
                        tracing::warn!(case = %stale.id, error = %e, "cannot derive a case for the index")
                    }
                }
            }
        }
        Ok(written)
    }

    /// Opening: derives the whole index again if it was written with
    /// another format (or never), else the rows left stale.
    pub(crate) async fn ensure_case_index(&self) -> Result<(), NodeError> {
        if self.store.case_index_format().await? != CASE_INDEX_FORMAT {
            let rebuilt = self.rebuild_case_index().await?;
            tracing::info!(
                cases = rebuilt.cases,
                derived = rebuilt.derived,
                "derived the case index"
            );
        } else {
            self.refresh_cases().await?;
        }
        Ok(())
    }

    /// Derives the whole case index again from the threads (a repair: the
    /// index is derived data). Nothing is recorded in the ledger: no case
    /// changes.
    pub async fn rebuild_case_index(&self) -> Result<IndexRebuilt, NodeError> {
        let cases = self.store.reset_case_index(CASE_INDEX_FORMAT).await?;
        let derived = self.refresh_cases().await?;
        Ok(IndexRebuilt { cases, derived })
    }

    /// The cases matching `filter`, from the case index: open cases first,
    /// then emergencies, then the nearest clock, then the newest. Rows the
    /// threads changed since, and rows due now, are derived first.
    pub async fn cases(
        &self,
        actor: &Actor,
        filter: &CaseFilter,
    ) -> Result<Vec<CaseSummary>, NodeError> {
        self.cases_listed(actor, filter, Self::listing_person(actor))
            .await
    }

    /// [`Node::cases`] leaving out the confidential cases not assigned to
    /// `hidden_from` (`None`: none left out, for a listing of what a
    /// confidential case does not hold back, such as its personal data).
    pub(crate) async fn cases_listed(
        &self,
        actor: &Actor,
        filter: &CaseFilter,
        hidden_from: Option<String>,
    ) -> Result<Vec<CaseSummary>, NodeError> {
        self.authorize(actor, super::Operation::ListCases, None)
            .await?;
        self.refresh_cases().await?;
        let now = self.clock.now();
        for id in self.store.due_cases(now, TICK_CASES).await? {
            if let Err(e) = self.refresh_case(&id, None, now).await {
                tracing::warn!(case = %id, error = %e, "cannot derive a case for the index");
            }
        }
        let rows = self
            .store
            .list_cases(&CaseRowFilter {
                state: filter.state.map(|s| s.as_str().to_owned()),
                kind: filter.kind,
                counterpart: filter.counterpart,
                urgency: filter.urgency.map(|u| rank(u, false)),
                open: filter.open,
                overdue: filter.overdue,
                limit: filter.limit.unwrap_or(u32::MAX),
                offset: filter.offset.unwrap_or(0),
                // issue 18: confidential cases only for those assigned.
                hidden_from,
            })
            .await?;
        rows.into_iter().map(summary).collect()
    }

    /// One tick of the scheduler at the node's present instant: refreshes
    /// the stale index rows, then fires what the cases due call for.
    pub async fn run_clocks(&self) -> Result<TickReport, NodeError> {
        let mut report = TickReport {
            refreshed: self.refresh_cases().await?,
            ..TickReport::default()
        };
        let now = timestamp::truncate(self.clock.now());
        let mut due = self.store.due_cases(now, TICK_CASES).await?;
        report.due = due.len();
        due.sort();
        due.dedup();
        let results: Vec<_> = stream::iter(due)
            .map(|id| self.fire_case(id, now))
            .buffer_unordered(AT_ONCE)
            .collect()
            .await;
        for (id, done) in results {
            match done {
                Ok(fired) => report.fired.extend(fired),
                Err(e) => tracing::warn!(case = %id, error = %e, "a clock event could not fire"),
            }
        }
        report.fired.sort();
        Ok(report)
    }

    /// [`Node::refresh_case`] of a stale row, with the row.
    async fn refresh_stale(
        &self,
        stale: StaleCase,
        now: OffsetDateTime,
    ) -> (StaleCase, Result<(Derived, Vec<ClockEvent>), NodeError>) {
        let done = self
            .refresh_case(&stale.id, Some(stale.revision), now)
            .await;
        (stale, done)
    }

    /// [`Node::fire_due`], with the case's id.
    async fn fire_case(
        &self,
        id: String,
        now: OffsetDateTime,
    ) -> (String, Result<Vec<String>, NodeError>) {
        let done = self.fire_due(&id, now).await;
        (id, done)
    }

    /// Fires the events of case `id` due at `now`, then writes its row
    /// (derived again when something fired, since firing moves what is
    /// due next).
    async fn fire_due(&self, id: &str, now: OffsetDateTime) -> Result<Vec<String>, NodeError> {
        let revision = self.store.case_revision(id).await?;
        let derived = self.derived(id, now).await?;
        let before = self.store.fired_events(id).await?;
        let pending = pending(&derived, &before, &self.leads(derived.side));
        let mut fired = Vec::new();
        for event in pending.iter().filter(|e| e.fires <= now) {
            if self.fire(&derived, event, now).await? {
                fired.push(format!("{id} {} {}", event.clock, event.event));
            }
        }
        if !fired.is_empty() {
            self.refresh_case(id, None, now).await?;
        } else if let Some(revision) = revision {
            self.store
                .put_case(&index_row(&derived, &pending), revision)
                .await?;
        }
        Ok(fired)
    }

    /// Fires one event; `false` if it had fired already.
    async fn fire(
        &self,
        derived: &Derived,
        event: &ClockEvent,
        now: OffsetDateTime,
    ) -> Result<bool, NodeError> {
        let id = derived.request.id.as_str();
        let key = ClockFired {
            case_id: id.to_owned(),
            clock: event.clock.as_str().to_owned(),
            event: event.event.to_string(),
            due: event.due,
            fired_at: now,
        };
        let actor = Actor::Scheduler.label();
        let due = custos_store::storage_precision(event.due);
        // The alert the event calls for is written with it.
        let alert = match clock_alert(derived, event, &key) {
            Some(cause) => Some(self.prepare_alert(cause).await?),
            None => None,
        };
        let escalate = event.clock == ClockKind::Acknowledgement
            && event.event == ClockEventKind::Overdue
            && derived.side == Side::Requesting
            && custos_case::check(&derived.view, Action::AskStatus, Side::Requesting).is_ok();
        let fired = if escalate {
            let kind = kind_of(Action::AskStatus)?;
            let body = json!({ "escalation": true });
            derived.check_ours(kind, &body, now)?;
            let message = Message {
                v: 1,
                kind,
                from: self.state(),
                to: derived.request.counterpart,
                created_at: now,
                thread: id.to_owned(),
                prev: derived.prev(),
                body,
            };
            custos_protocol::validate_body(&message)?;
            let note =
                json!({ "escalation": true, "clock": key.clock, "due": timestamp::format(due) });
            let out = self.outgoing(&message, None, &actor, Some(note), None)?;
            let recorded = self
                .store
                .record_outgoing_once_alerting(&key, &out, alert.as_ref())
                .await?;
            if recorded {
                self.wake_outbox();
            }
            recorded
        } else {
            let detail = json!({
                "clock": key.clock,
                "event": key.event,
                "due": timestamp::format(due),
            });
            let ledger = Entry::new(EntryKind::ClockFired, now, actor.clone())
                .request(id.to_owned())
                .detail(detail.clone())
                .encode()?;
            let history = NewEvent {
                request_id: id.to_owned(),
                at: now,
                actor,
                kind: format!("clock:{}", key.event),
                detail,
                ledger: Some(ledger),
            };
            self.store
                .record_clock_event_alerting(&key, &history, alert.as_ref())
                .await?
        };
        if fired {
            let c = &self.clock_counters;
            let counter = match (escalate, event.event) {
                (true, _) => &c.escalations_sent,
                (_, ClockEventKind::Warning(_)) => &c.warnings,
                (_, ClockEventKind::Overdue) => &c.overdue,
                (_, ClockEventKind::Ended) => &c.ended,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            if let Some(alert) = &alert {
                self.alert_raised(alert);
            }
            tracing::info!(
                case = id,
                clock = %event.clock,
                event = %event.event,
                escalation = escalate,
                "clock event fired"
            );
        }
        Ok(fired)
    }

    /// The scheduler worker: a tick every [`ClockSettings::tick`] until
    /// `stop` says so.
    pub(crate) async fn run_scheduler(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let every = self.settings.clocks.tick;
        loop {
            if let Err(e) = self.run_clocks().await {
                tracing::warn!(error = %e, "a scheduler tick failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}
