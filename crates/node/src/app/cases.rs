//! Cases at the application layer: a request's thread read as a case, and
//! the actions each side takes on it.
//!
//! The case is derived by `custos-case` from the thread's messages as they
//! were signed, read through the checked reads of `reads.rs` (so what is
//! shown is what was signed and logged), every time it is asked for; the
//! only thing stored about it is the case index that listing reads
//! (`clocks.rs`, derived data). [`Node::case`] shows one, [`Node::act`]
//! takes an action on it after asking the case whether our side may
//! (refused with [`NodeError::ActionNotAllowed`], naming the state and the
//! actions allowed instead) and queues the message through the reply path
//! (`send.rs`). Intake (`intake.rs`) asks [`Node::check_incoming`] whether
//! the case accepts a peer's message before storing it, and answers a
//! status query at once ([`Node::answer_status`]).

use std::collections::{HashMap, HashSet};

use custos_case::{
    Act, Action, CaseEvent, ClockKind, ClockStatus, ConsentUse, NotAllowed, ProposedDeadline,
    RefusalCode, Settings, Side, State, Submission, Urgency,
};
use custos_model::decision::Decision;
use custos_model::validate::{Code, Issue, Severity};
use custos_model::{RequestKind, StateCode, validate};
use custos_protocol::{Body, ErrorCode, Message, MessageId, MessageKind, timestamp};
use custos_store::Direction;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use super::Actor;
use super::access::Operation;
use crate::evidence::transfer::EVIDENCE_SENT_EVENT;
use crate::reads::RequestView;
use crate::send::Sent;
use crate::{Node, NodeError};

/// One of the case's clocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CaseClock))]
pub struct ClockView {
    /// `acknowledgement`, `deadline` or `preservation`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: ClockKind,
    /// `running`, `paused`, `held`, `overdue`, `met`, `met-late`, `ended` or `stopped`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: ClockStatus,
    /// RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub started: OffsetDateTime,
    /// When it falls due; absent while a preservation is held.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub due: Option<OffsetDateTime>,
}

/// An accepted step of the case: who took which action when, and where it
/// led.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CaseStep))]
pub struct TimelineItem {
    /// The id of the signed message that carries it.
    pub message_id: String,
    /// When the message was made (as signed).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: OffsetDateTime,
    /// `requesting` or `requested`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub side: Side,
    /// The State that acted.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub state_code: StateCode,
    /// Who on this node sent it or received it (`cli:…`, `api:…`, `node:…`),
    /// from the request's history.
    pub actor: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub action: Action,
    /// The state the step led to.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub state: State,
    /// The body of the step's signed message (`docs/formats/messages.md`
    /// §3): the question, the answer, the conditions, the refusal's grounds
    /// and reasons, the packages linked. Null for the request itself, whose
    /// draft `/api/v1/requests/{id}` shows.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub body: Option<Value>,
    /// For a step this node sent: `pending`, `delivered` or `failed`;
    /// absent for the other State's steps. Every step shown was checked
    /// against its signature and ledger entry when the case was read.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub delivery: Option<custos_store::OutboxState>,
    /// Whether the other node's signed receipt for this step is held, its
    /// signature verified (for a step this node sent).
    pub receipt: bool,
}

/// A message of the thread that the case does not accept (it was sent
/// before a message that came earlier reached its sender), with the case's
/// refusal code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CaseRefusedStep))]
pub struct RefusedItem {
    pub message_id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: OffsetDateTime,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub side: Side,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub state_code: StateCode,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub action: Action,
    /// The state the message met.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub state: State,
    /// The case's refusal code, such as `consultation-required`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub code: RefusalCode,
}

/// A case as shown: its state, clocks, what each side may do next, and its
/// timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CaseView))]
pub struct CaseDetail {
    /// The request's id, which is also its thread id on both nodes.
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: RequestKind,
    /// `outgoing` or `incoming`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub direction: Direction,
    /// The other State.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub counterpart: StateCode,
    /// This node's side in the case: `requesting` or `requested`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub side: Side,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub state: State,
    /// Whether a clock is overdue.
    pub overdue: bool,
    /// The instant the case was derived for.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub as_of: OffsetDateTime,
    pub clocks: Vec<ClockView>,
    /// What this node's side may do next.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub allowed: Vec<Action>,
    /// What the other side may do next.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub counterpart_allowed: Vec<Action>,
    /// The conditions last proposed in a consultation.
    pub conditions: Vec<String>,
    /// Evidence package ids linked by executions.
    pub evidence: Vec<String>,
    /// What is provided in the case may serve (issue 18): the case, the
    /// request's purpose, the providing State's conditions, and the asks
    /// for consent to other uses with their answers.
    pub use_limits: super::uselimits::UseLimitsView,
    pub timeline: Vec<TimelineItem>,
    pub refused: Vec<RefusedItem>,
    // issue 18: retention
    /// The case's retention: its deletion date, a legal hold, the changes
    /// made, and the other State's report that it deleted its copy.
    pub retention: Option<super::RetentionView>,
}

/// A case as listed (from the case index, `app/clocks.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CaseListed))]
pub struct CaseSummary {
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: RequestKind,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub direction: Direction,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub counterpart: StateCode,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub side: Side,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub state: State,
    /// How fast the requesting State needs an answer: `routine`, `urgent`
    /// or `emergency`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub urgency: Urgency,
    /// Whether the case is still open (not refused, withdrawn or closed).
    pub open: bool,
    pub overdue: bool,
    /// The nearest instant at which something falls due: a clock's due
    /// instant, or a warning's lead time before it (RFC 3339).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub next_due: Option<OffsetDateTime>,
    /// When the last accepted step was taken, if any.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub last_step_at: Option<OffsetDateTime>,
    /// RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: OffsetDateTime,
    /// What this node's side may do next.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub allowed: Vec<Action>,
}

/// Which cases to list; they come open cases first, then emergencies
/// first, then by the nearest `next_due`, then the newest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseFilter {
    pub state: Option<State>,
    pub kind: Option<RequestKind>,
    pub counterpart: Option<StateCode>,
    pub urgency: Option<Urgency>,
    /// Only open (`true`) or only finished (`false`) cases.
    pub open: Option<bool>,
    /// Only overdue (`true`) or only not overdue (`false`) cases.
    pub overdue: Option<bool>,
    /// At most this many.
    pub limit: Option<u32>,
    /// After skipping this many (the next page).
    pub offset: Option<u64>,
}

/// A thread read as a case.
pub(crate) struct Derived {
    pub(crate) request: RequestView,
    requesting: StateCode,
    /// This node's State and side.
    us: StateCode,
    pub(crate) side: Side,
    /// The ids of the thread's messages, in the thread's order.
    held: Vec<MessageId>,
    /// The signed body of each case action but the request, by message id.
    bodies: HashMap<String, Value>,
    events: Vec<CaseEvent>,
    pub(crate) view: custos_case::CaseView,
}

impl Derived {
    /// The other State's report that it deleted its copy (issue 18), from
    /// the signed `report-deletion` it sent, if any.
    pub(crate) fn peer_deletion(&self) -> Option<super::PeerDeletionView> {
        let other = self.side.other();
        self.view
            .timeline
            .iter()
            .rev()
            .filter(|t| t.action == Action::ReportDeletion && t.side == other)
            .find_map(|t| {
                let body = self.bodies.get(&t.id)?;
                let b: custos_protocol::case_bodies::DeletionReportBody =
                    serde_json::from_value(body.clone()).ok()?;
                Some(super::PeerDeletionView {
                    deleted_at: b.deleted_at,
                    entry: b.entry,
                    message_id: t.id.clone(),
                })
            })
    }

    /// The State that takes `side`.
    fn state_of(&self, side: Side) -> StateCode {
        if side == self.side {
            self.us
        } else {
            self.request.counterpart
        }
    }

    /// The message a new one of ours follows: the last held that the case
    /// accepted. A message of ours that the case refused (the other node
    /// refused it at intake, having taken in first a message it did not
    /// know of when it was sent) is not held by the other node, so nothing
    /// may follow it.
    pub(crate) fn prev(&self) -> Option<MessageId> {
        self.held
            .iter()
            .rev()
            .find(|id| !self.view.refused.iter().any(|r| r.id == id.as_str()))
            .cloned()
    }

    /// Who on this node sent or received message `id`, from the history.
    fn actor_of(&self, id: &str) -> Option<String> {
        self.request
            .history
            .iter()
            .find(|e| e.detail.get("message_id").and_then(Value::as_str) == Some(id))
            .map(|e| e.actor.clone())
    }

    /// Message `id` of the thread as the checked read shows it.
    fn message(&self, id: &str) -> Option<&super::MessageView> {
        self.request.messages.iter().find(|m| m.id == id)
    }

    pub(crate) fn detail(&self) -> CaseDetail {
        let v = &self.view;
        CaseDetail {
            id: self.request.id.clone(),
            kind: self.request.kind,
            direction: self.request.direction,
            counterpart: self.request.counterpart,
            side: self.side,
            state: v.state,
            overdue: v.overdue,
            as_of: v.now,
            clocks: v
                .clocks
                .iter()
                .map(|c| ClockView {
                    kind: c.kind,
                    status: c.status,
                    started: c.started,
                    due: c.due,
                })
                .collect(),
            allowed: v.allowed.of(self.side).to_vec(),
            counterpart_allowed: v.allowed.of(self.side.other()).to_vec(),
            conditions: v.facts.conditions.clone(),
            evidence: v.facts.evidence.clone(),
            use_limits: super::uselimits::use_limits_view(
                &self.request.id,
                &self.request.draft,
                &self.bodies,
                v,
            ),
            timeline: v
                .timeline
                .iter()
                .map(|t| TimelineItem {
                    message_id: t.id.clone(),
                    at: t.at,
                    side: t.side,
                    state_code: self.state_of(t.side),
                    actor: self.actor_of(&t.id),
                    action: t.action,
                    state: t.state,
                    body: self.bodies.get(&t.id).cloned(),
                    delivery: self.message(&t.id).and_then(|m| m.delivery),
                    receipt: self.message(&t.id).is_some_and(|m| m.receipt),
                })
                .collect(),
            refused: v
                .refused
                .iter()
                .map(|r| RefusedItem {
                    message_id: r.id.clone(),
                    at: r.at,
                    side: r.side,
                    state_code: self.state_of(r.side),
                    action: r.action,
                    state: r.state,
                    code: r.code,
                })
                .collect(),
            retention: None,
        }
    }

    /// Whether the case accepts a message of `kind` with `body` from our
    /// side at `at` (the table, its guard and the contents); the body's
    /// form and contents are checked too. A body that is not right is an
    /// [`NodeError::InvalidDraft`], an action the case does not allow an
    /// [`NodeError::ActionNotAllowed`].
    pub(crate) fn check_ours(
        &self,
        kind: MessageKind,
        body: &Value,
        at: OffsetDateTime,
    ) -> Result<(), NodeError> {
        let invalid = |e: custos_protocol::ProtocolError| NodeError::InvalidDraft(e.to_string());
        let parsed = Body::parse(kind, body).map_err(invalid)?;
        let Some(act) = act_of(kind, &parsed).map_err(NodeError::InvalidDraft)? else {
            return Ok(());
        };
        let event = CaseEvent::new("", self.side, at, act);
        custos_case::check_event(&self.view, &event)?;
        let message = Message::new(
            kind,
            self.us,
            self.request.counterpart,
            self.request.id.clone(),
            None,
            at,
            body.clone(),
        );
        custos_protocol::validate_body(&message).map_err(invalid)
    }
}

/// A case is opened only by sending its request ([`Node::submit`]), never
/// by an action on a thread held (such as a saved draft's).
fn opened_by_sending() -> NodeError {
    NodeError::InvalidDraft(
        "a case is opened by sending its request (`custos request send`), not by a case action"
            .to_owned(),
    )
}

/// The message kind that carries `action`.
pub fn kind_of(action: Action) -> Result<MessageKind, NodeError> {
    let spec = custos_case::message_kind(action);
    spec.kind.parse().map_err(|_| {
        NodeError::Internal(format!(
            "the case's kind {:?} of {action} is not a protocol kind",
            spec.kind
        ))
    })
}

/// The case event a signed message carries: `None` for a message that is
/// not a case action (`deliver`), an error naming the problem when its body
/// cannot be read as its action.
fn event_of(
    message: &Message,
    id: &str,
    requesting: StateCode,
) -> Result<Option<CaseEvent>, String> {
    let body = message.body().map_err(|e| e.to_string())?;
    let Some(act) = act_of(message.kind, &body)? else {
        return Ok(None);
    };
    let side = if message.from == requesting {
        Side::Requesting
    } else {
        Side::Requested
    };
    Ok(Some(CaseEvent::new(id, side, message.created_at, act)))
}

/// The action a body of `kind` carries, with what the case reads of it.
fn act_of(kind: MessageKind, body: &Body) -> Result<Option<Act>, String> {
    let act = match body {
        Body::Submit(b) => Act::Submit(submission(&b.draft)?),
        Body::Refuse(b) => Act::Refuse {
            grounds: b.refusal.grounds.clone(),
            reasons: b.refusal.reasons.clone(),
        },
        Body::Consult(b) => Act::Consult {
            conditions: b.conditions.clone(),
        },
        Body::Postpone(b) => Act::Postpone {
            reasons: b.reasons.clone(),
            until: b.until,
        },
        Body::ConfirmPreservation(b) => Act::ConfirmPreservation {
            took_effect: b.took_effect,
            days: b.days,
        },
        Body::Extend(b) => Act::ExtendPreservation { until: b.until },
        Body::DeclineExtension(b) => Act::DeclineExtension {
            reasons: b.reasons.clone(),
        },
        Body::Execute(b) if kind == MessageKind::ExecutePartly => Act::ExecutePartly {
            evidence: b.evidence.clone(),
        },
        Body::Execute(b) => Act::ExecuteWholly {
            evidence: b.evidence.clone(),
        },
        Body::FollowUp(b) => Act::AnnounceFollowUp {
            request: b.request.clone(),
        },
        Body::Status(_) => Act::AnswerStatus,
        Body::StatusQuery(_) => Act::AskStatus,
        Body::Correspondence(_) => Act::Correspond,
        // issue 18: use limits and onward-transfer consent
        Body::AskConsent(b) => Act::AskConsent {
            evidence: b.evidence.clone(),
            use_for: match (&b.for_case, &b.onward_to) {
                (Some(case), None) => ConsentUse::OtherCase(case.clone()),
                (None, Some(state)) => ConsentUse::OnwardTransfer(state.clone()),
                _ => {
                    return Err("an ask-consent names one use: for_case or onward_to".to_owned());
                }
            },
            reasons: b.reasons.clone(),
            exculpatory: b.exculpatory,
        },
        Body::GrantConsent(b) => Act::GrantConsent {
            ask: b.ask.clone(),
            conditions: b.conditions.clone(),
        },
        Body::RefuseConsent(b) => Act::RefuseConsent {
            ask: b.ask.clone(),
            reasons: b.reasons.clone(),
        },
        // issue 18: retention
        Body::DeletionReport(_) => Act::ReportDeletion,
        Body::Note(_) => match kind {
            MessageKind::Acknowledge => Act::Acknowledge,
            MessageKind::RequestInfo => Act::RequestInfo,
            MessageKind::ProvideInfo => Act::ProvideInfo,
            MessageKind::Withdraw => Act::Withdraw,
            MessageKind::Close => Act::Close,
            MessageKind::ConditionsAccepted => Act::AcceptConditions,
            MessageKind::ConditionsDeclined => Act::DeclineConditions,
            _ => return Ok(None),
        },
    };
    Ok(Some(act))
}

/// What the case reads of a request draft: its kind, urgency and proposed
/// deadline.
fn submission(draft: &Value) -> Result<Submission, String> {
    let text = |k: &str| draft.get(k).and_then(Value::as_str);
    let kind: RequestKind = text("kind")
        .ok_or("the draft names no request kind")?
        .parse()
        .map_err(|e| format!("the draft's kind: {e}"))?;
    let urgency = match text("urgency") {
        None | Some("routine") => Urgency::Routine,
        Some("urgent") => Urgency::Urgent,
        Some("emergency") => Urgency::Emergency,
        Some(other) => return Err(format!("the draft's urgency {other:?} is not known")),
    };
    let deadline = match draft.get("deadline").filter(|d| d.is_object()) {
        Some(d) => {
            let date = d.get("date").and_then(Value::as_str).unwrap_or_default();
            let date = time::Date::parse(date, format_description!("[year]-[month]-[day]"))
                .map_err(|e| format!("the draft's deadline date {date:?}: {e}"))?;
            let reasons = d
                .get("reasons")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Some(ProposedDeadline { date, reasons })
        }
        None => None,
    };
    Ok(Submission {
        kind,
        urgency,
        deadline,
    })
}

/// Completes a body our node writes from the case: a refusal's
/// `consulted` (whether this case saw a consultation) and a status
/// answer's `state` (the derived state).
fn complete_body(action: Action, mut body: Value, view: &custos_case::CaseView) -> Value {
    if let Value::Object(map) = &mut body {
        match action {
            Action::Refuse => {
                if let Some(Value::Object(refusal)) = map.get_mut("refusal") {
                    refusal
                        .entry("consulted")
                        .or_insert(Value::Bool(view.facts.consulted));
                }
            }
            Action::AnswerStatus => {
                map.insert("state".into(), Value::String(view.state.as_str().into()));
            }
            _ => {}
        }
    }
    body
}

impl Node {
    pub(crate) fn case_settings(&self) -> Settings {
        Settings {
            emergency_ack_target: self.settings.clocks.emergency_ack_target,
        }
    }

    /// Reads thread `id` through the checked reads and derives its case at
    /// `now`.
    pub(crate) async fn derived(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Derived, NodeError> {
        let (request, messages) = self.checked_thread(id).await?;
        let (requesting, side) = match request.direction {
            Direction::Outgoing => (self.state(), Side::Requesting),
            Direction::Incoming => (request.counterpart, Side::Requested),
        };
        let mut events = Vec::with_capacity(messages.len());
        let mut held = Vec::with_capacity(messages.len());
        let mut bodies = HashMap::with_capacity(messages.len());
        for m in &messages {
            let mid = m.id()?;
            held.push(mid.clone());
            match event_of(m, mid.as_str(), requesting) {
                Ok(Some(e)) => {
                    if m.kind != MessageKind::Submit {
                        bodies.insert(e.id.clone(), m.body.clone());
                    }
                    events.push(e);
                }
                Ok(None) => {}
                Err(problem) => {
                    return Err(NodeError::Corrupt {
                        what: format!("message {mid}"),
                        problem,
                    });
                }
            }
        }
        let view = custos_case::derive_with(&events, now, &self.case_settings());
        Ok(Derived {
            request,
            requesting,
            us: self.state(),
            side,
            held,
            bodies,
            events,
            view,
        })
    }

    /// Case `id` as `actor` reads it: state, clocks, the actions each side
    /// may take and the timeline, derived from the checked thread. The read
    /// is checked and recorded first (operation `read-case`).
    pub async fn case(&self, id: &str, actor: &Actor) -> Result<CaseDetail, NodeError> {
        self.authorize(actor, Operation::ReadCase, Some(id)).await?;
        let derived = self.derived(id, self.clock.now()).await?;
        let mut detail = derived.detail();
        // issue 18: retention
        let mut retention = self.retention_view(id, detail.kind).await?;
        retention.peer_deleted = derived.peer_deletion();
        detail.retention = Some(retention);
        Ok(detail)
    }

    /// Takes `action` on case `id` for `actor`: `body` is a decision draft
    /// for the action (`custos request template ACTION`) or the bare body
    /// of the action's message kind (`{}` for the note kinds); a refusal's
    /// `consulted` and a status answer's `state` are filled in from the
    /// case. The case is asked first: an action it does not allow is
    /// refused with [`NodeError::ActionNotAllowed`] naming the state and
    /// the actions allowed. Then the body is checked against the decision
    /// catalogue by the model's [`validate::check_decision`], the check
    /// `custos request validate` runs: a bad one is refused with
    /// [`NodeError::InvalidDecision`] carrying every problem (code, field,
    /// article). Nothing is sent then. Otherwise the draft's header is
    /// dropped and the body queued as the action's message, with its
    /// history event and ledger entry in one transaction.
    pub async fn act(
        &self,
        id: &str,
        action: Action,
        body: Value,
        actor: &Actor,
    ) -> Result<Sent, NodeError> {
        let op = match action {
            Action::Submit => Operation::SendRequest,
            other => Operation::Act(other),
        };
        self.authorize(actor, op, Some(id)).await?;
        self.take_action(id, action, body, actor).await
    }

    /// [`Node::act`] once the actor is allowed, or for the node's own
    /// answers (a status query answered at once), which are no person's.
    async fn take_action(
        &self,
        id: &str,
        action: Action,
        body: Value,
        actor: &Actor,
    ) -> Result<Sent, NodeError> {
        if action == Action::Submit {
            return Err(opened_by_sending());
        }
        let now = timestamp::truncate(self.clock.now());
        let derived = self.derived(id, now).await?;
        custos_case::check(&derived.view, action, derived.side)?;
        let body = match action.decision() {
            Some(decision) => {
                let (report, body) = validate::check_decision(decision, &body);
                if !report.is_valid() {
                    return Err(NodeError::InvalidDecision(report));
                }
                body
            }
            None => body,
        };
        if let Some(decision @ (Decision::ExecutePartly | Decision::ExecuteWholly)) =
            action.decision()
        {
            self.check_packages_sent(id, &body, derived.request.counterpart, decision)
                .await?;
        }
        let kind = kind_of(action)?;
        let body = complete_body(action, body, &derived.view);
        derived.check_ours(kind, &body, now)?;
        self.queue_reply(id, kind, body, now, derived.prev(), actor)
            .await
    }

    /// Refuses an execution that cites an evidence package this node has not
    /// sent, receipted, to `to` for request `id`: each sent package is an
    /// `evidence-sent` event of the request's history, written with its
    /// ledger entry when the receipt came back.
    async fn check_packages_sent(
        &self,
        id: &str,
        body: &Value,
        to: StateCode,
        decision: Decision,
    ) -> Result<(), NodeError> {
        let cited: Vec<&str> = body
            .get("evidence")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if cited.is_empty() {
            return Ok(());
        }
        let history = self.store.events(id).await?;
        let sent: HashSet<&str> = history
            .iter()
            .filter(|e| {
                e.kind == EVIDENCE_SENT_EVENT && e.detail["to"].as_str() == Some(to.as_str())
            })
            .filter_map(|e| e.detail["package"].as_str())
            .collect();
        let issues: Vec<Issue> = cited
            .iter()
            .enumerate()
            .filter(|(_, package)| !sent.contains(*package))
            .map(|(i, package)| Issue {
                severity: Severity::Error,
                code: Code::PackageNotSent,
                path: format!("evidence[{i}]"),
                article: Some(decision.article()),
                message: format!(
                    "package {package} has not been sent to {to} for this request, or its receipt has not come back: send it first (`custos evidence send`)"
                ),
            })
            .collect();
        if issues.is_empty() {
            return Ok(());
        }
        Err(NodeError::InvalidDecision(validate::Report {
            kind: None,
            decision: Some(decision),
            issues,
        }))
    }

    /// Checks a message of `kind` our node is about to send in thread `id`
    /// at `at` against the case ([`Node::reply`] calls it); gives the
    /// message it is to follow.
    pub(crate) async fn check_reply(
        &self,
        id: &str,
        kind: MessageKind,
        body: &Value,
        at: OffsetDateTime,
    ) -> Result<Option<MessageId>, NodeError> {
        match kind {
            MessageKind::Deliver => return self.last_held(id).await,
            MessageKind::Submit => return Err(opened_by_sending()),
            _ => {}
        }
        let derived = self.derived(id, at).await?;
        derived.check_ours(kind, body, at)?;
        Ok(derived.prev())
    }

    /// Whether the case of a peer's message accepts it: the case is
    /// derived from the thread held with the message added, and a message
    /// the derivation refuses is refused here with `action-not-allowed`,
    /// the text beginning with the case's refusal code. A message of a
    /// thread not held, or one already held, is left to the store.
    pub(crate) async fn check_incoming(
        &self,
        message: &Message,
        id: &MessageId,
        now: OffsetDateTime,
    ) -> Result<(), (ErrorCode, String)> {
        let internal = |e: NodeError| {
            tracing::error!(error = %e, "cannot derive a case at intake");
            (
                ErrorCode::Internal,
                "the case could not be read; retry later".to_owned(),
            )
        };
        if self
            .store
            .get_request(&message.thread)
            .await
            .map_err(|e| internal(e.into()))?
            .is_none()
        {
            return Ok(());
        }
        let derived = match self.derived(&message.thread, now).await {
            Ok(d) => d,
            // issue 18: retention. This node deleted the case's content:
            // nothing more is taken into it but the other State's report
            // that it deleted its copy too.
            Err(NodeError::ContentDeleted { .. })
                if message.kind == MessageKind::DeletionReport =>
            {
                return Ok(());
            }
            Err(e @ NodeError::ContentDeleted { .. }) => {
                return Err((ErrorCode::ActionNotAllowed, format!("content-deleted: {e}")));
            }
            Err(e) => return Err(internal(e)),
        };
        if derived.events.iter().any(|e| e.id == id.as_str()) {
            return Ok(());
        }
        let event = match event_of(message, id.as_str(), derived.requesting) {
            Ok(Some(e)) => e,
            Ok(None) => return Ok(()),
            Err(problem) => return Err((ErrorCode::InvalidBody, problem)),
        };
        let mut events = derived.events;
        events.push(event);
        let view = custos_case::derive_with(&events, now, &self.case_settings());
        let Some(refused) = view.refused.iter().find(|r| r.id == id.as_str()) else {
            return Ok(());
        };
        // What the sender's side could do at the point it acted.
        let before: Vec<CaseEvent> = events
            .iter()
            .filter(|e| (e.at, &e.id) < (refused.at, &refused.id))
            .cloned()
            .collect();
        let allowed = custos_case::derive_with(&before, refused.at, &self.case_settings())
            .allowed
            .of(refused.side)
            .to_vec();
        let not_allowed = NotAllowed {
            state: refused.state,
            action: refused.action,
            side: refused.side,
            code: refused.code,
            allowed,
        };
        Err((
            ErrorCode::ActionNotAllowed,
            format!("{}: {not_allowed}", refused.code),
        ))
    }

    /// Answers a status query in thread `id` at once with a `status`
    /// message giving the state this node derives; the answer is this
    /// node's own (`node:<State>`). A failure is logged, not returned: the
    /// query itself was accepted.
    pub(crate) async fn answer_status(&self, id: &str, escalation: bool) {
        if escalation {
            self.note_escalation_received(id);
        }
        let me = Actor::Peer(self.state());
        let body = Value::Object(serde_json::Map::new());
        if let Err(e) = self.take_action(id, Action::AnswerStatus, body, &me).await {
            tracing::warn!(thread = id, error = %e, "could not answer a status query");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_action_has_a_protocol_kind_and_every_state_a_status_name() {
        for action in Action::ALL {
            let kind = kind_of(action).unwrap();
            assert_eq!(kind.as_str(), custos_case::message_kind(action).kind);
            // The body our node checks before sending is the one the
            // receiver checks on intake: the same decision of the catalogue.
            assert_eq!(kind.decision(), action.decision(), "{action}");
        }
        let names: Vec<&str> = State::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, custos_protocol::case_bodies::STATE_NAMES);
    }

    #[test]
    fn a_draft_gives_the_case_its_kind_urgency_and_deadline() {
        let draft = serde_json::json!({
            "kind": "mla", "urgency": "emergency",
            "deadline": {"date": "2027-02-01", "reasons": "trial"}
        });
        let s = submission(&draft).unwrap();
        assert_eq!(s.kind, RequestKind::Mla);
        assert_eq!(s.urgency, Urgency::Emergency);
        assert_eq!(s.deadline.unwrap().reasons, "trial");
        assert!(submission(&serde_json::json!({"urgency": "soon", "kind": "mla"})).is_err());
        assert!(submission(&serde_json::json!({})).is_err());
    }
}
