//! The client API's cases: list them, show one, take an action on one. The
//! node derives the case and decides what is allowed
//! (`custos_node::app::cases`); this module parses, calls and presents.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use custos_model::{RequestKind, StateCode};
use custos_node::Node;
use custos_node::app::{CaseAction, CaseDetail, CaseFilter, CaseState, CaseSummary, Sent, Urgency};
use custos_protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use crate::api::{authenticate, bad_query, page_limit, query_param};
use crate::error::ApiError;

fn time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn names(actions: &[CaseAction]) -> Vec<String> {
    actions.iter().map(|a| a.as_str().to_owned()).collect()
}

/// One of a case's clocks.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseClock {
    /// `acknowledgement`, `deadline` or `preservation`.
    pub kind: String,
    /// `running`, `paused`, `held`, `overdue`, `met`, `met-late`, `ended` or `stopped`.
    pub status: String,
    /// RFC 3339.
    pub started: String,
    /// RFC 3339; absent while a preservation is held.
    pub due: Option<String>,
}

/// An accepted step of a case.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseStep {
    /// The signed message that carries it.
    pub message_id: String,
    /// RFC 3339, as signed.
    pub at: String,
    /// `requesting` or `requested`.
    pub side: String,
    /// The State that acted.
    pub state_code: String,
    /// Who on this node sent or received it (`cli:…`, `api:…`, `node:…`).
    pub actor: Option<String>,
    pub action: String,
    /// The state the step led to.
    pub state: String,
    /// The body of the step's signed message (`docs/formats/messages.md`
    /// §3): the question, the answer, the conditions, the refusal's grounds
    /// and reasons, the packages linked. Null for the request itself, whose
    /// draft `/api/v1/requests/{id}` shows.
    #[schema(value_type = Option<Object>)]
    pub body: Option<serde_json::Value>,
}

/// A message of the thread the case does not accept.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseRefusedStep {
    pub message_id: String,
    pub at: String,
    pub side: String,
    pub state_code: String,
    pub action: String,
    /// The state the message met.
    pub state: String,
    /// The case's refusal code, such as `consultation-required`.
    pub code: String,
}

/// A case: state, clocks, what each side may do next, timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    /// The request's id (its thread id on both nodes).
    pub id: String,
    pub kind: String,
    /// `outgoing` or `incoming`.
    pub direction: String,
    pub counterpart: String,
    /// This node's side: `requesting` or `requested`.
    pub side: String,
    pub state: String,
    pub overdue: bool,
    /// The instant the case was derived for (RFC 3339).
    pub as_of: String,
    pub clocks: Vec<CaseClock>,
    /// The actions this node's side may take next.
    pub allowed: Vec<String>,
    /// The actions the other side may take next.
    pub counterpart_allowed: Vec<String>,
    /// The conditions last proposed in a consultation.
    pub conditions: Vec<String>,
    /// Evidence package ids linked by executions.
    pub evidence: Vec<String>,
    pub timeline: Vec<CaseStep>,
    pub refused: Vec<CaseRefusedStep>,
}

impl From<&CaseDetail> for CaseView {
    fn from(v: &CaseDetail) -> Self {
        CaseView {
            id: v.id.clone(),
            kind: v.kind.as_str().to_owned(),
            direction: v.direction.as_str().to_owned(),
            counterpart: v.counterpart.to_string(),
            side: v.side.as_str().to_owned(),
            state: v.state.as_str().to_owned(),
            overdue: v.overdue,
            as_of: time(v.as_of),
            clocks: v
                .clocks
                .iter()
                .map(|c| CaseClock {
                    kind: c.kind.as_str().to_owned(),
                    status: c.status.as_str().to_owned(),
                    started: time(c.started),
                    due: c.due.map(time),
                })
                .collect(),
            allowed: names(&v.allowed),
            counterpart_allowed: names(&v.counterpart_allowed),
            conditions: v.conditions.clone(),
            evidence: v.evidence.clone(),
            timeline: v
                .timeline
                .iter()
                .map(|t| CaseStep {
                    message_id: t.message_id.clone(),
                    at: time(t.at),
                    side: t.side.as_str().to_owned(),
                    state_code: t.state_code.to_string(),
                    actor: t.actor.clone(),
                    action: t.action.as_str().to_owned(),
                    state: t.state.as_str().to_owned(),
                    body: t.body.clone(),
                })
                .collect(),
            refused: v
                .refused
                .iter()
                .map(|r| CaseRefusedStep {
                    message_id: r.message_id.clone(),
                    at: time(r.at),
                    side: r.side.as_str().to_owned(),
                    state_code: r.state_code.to_string(),
                    action: r.action.as_str().to_owned(),
                    state: r.state.as_str().to_owned(),
                    code: r.code.as_str().to_owned(),
                })
                .collect(),
        }
    }
}

/// A case as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseListed {
    pub id: String,
    pub kind: String,
    pub direction: String,
    pub counterpart: String,
    pub side: String,
    pub state: String,
    /// `routine`, `urgent` or `emergency`.
    pub urgency: String,
    /// Whether the case is still open (not refused, withdrawn or closed).
    pub open: bool,
    pub overdue: bool,
    /// The nearest instant at which something falls due: a clock's due
    /// instant or a warning's lead time before it (RFC 3339).
    pub next_due: Option<String>,
    /// When the last accepted step was taken (RFC 3339).
    pub last_step_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// The actions this node's side may take next.
    pub allowed: Vec<String>,
}

impl From<&CaseSummary> for CaseListed {
    fn from(c: &CaseSummary) -> Self {
        CaseListed {
            id: c.id.clone(),
            kind: c.kind.as_str().to_owned(),
            direction: c.direction.as_str().to_owned(),
            counterpart: c.counterpart.to_string(),
            side: c.side.as_str().to_owned(),
            state: c.state.as_str().to_owned(),
            urgency: urgency_name(c.urgency).to_owned(),
            open: c.open,
            overdue: c.overdue,
            next_due: c.next_due.map(time),
            last_step_at: c.last_step_at.map(time),
            created_at: time(c.created_at),
            allowed: names(&c.allowed),
        }
    }
}

/// Filters for listing cases.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CaseQuery {
    /// Only cases in this state (such as `acknowledged`).
    pub state: Option<String>,
    /// Only this request kind (such as `mla`).
    pub kind: Option<String>,
    /// Only cases with this State.
    pub counterpart: Option<String>,
    /// Only this urgency: `routine`, `urgent` or `emergency`.
    pub urgency: Option<String>,
    /// Only open (`true`) or only finished (`false`) cases.
    pub open: Option<bool>,
    /// Only overdue (`true`) or only not overdue (`false`) cases.
    pub overdue: Option<bool>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
    /// Skip this many first (the next page).
    pub offset: Option<u64>,
}

fn urgency_name(u: Urgency) -> &'static str {
    match u {
        Urgency::Routine => "routine",
        Urgency::Urgent => "urgent",
        Urgency::Emergency => "emergency",
    }
}

/// Lists the cases from the case index: open cases first, then
/// emergencies, then the nearest clock, then the newest.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(CaseQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<CaseListed>), (status = 400, description = "bad-query"), (status = 401, description = "unauthorized"),
        (status = 500, description = "record-tampered: a stored record does not match what was signed and logged")))]
pub async fn list_cases(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Query(q): Query<CaseQuery>,
) -> Result<Json<Vec<CaseListed>>, ApiError> {
    authenticate(&node, &headers).await?;
    let state = q
        .state
        .map(|s| {
            CaseState::ALL
                .into_iter()
                .find(|state| state.as_str() == s)
                .ok_or_else(|| bad_query("state", format!("{s:?} is not a case state")))
        })
        .transpose()?;
    let urgency = q
        .urgency
        .map(|u| {
            [Urgency::Routine, Urgency::Urgent, Urgency::Emergency]
                .into_iter()
                .find(|known| urgency_name(*known) == u)
                .ok_or_else(|| bad_query("urgency", format!("{u:?} is not an urgency")))
        })
        .transpose()?;
    let filter = CaseFilter {
        state,
        kind: query_param::<RequestKind>("kind", q.kind)?,
        counterpart: query_param::<StateCode>("counterpart", q.counterpart)?,
        urgency,
        open: q.open,
        overdue: q.overdue,
        limit: page_limit(q.limit),
        offset: q.offset,
    };
    let cases = node.cases(&filter).await?;
    Ok(Json(cases.iter().map(CaseListed::from).collect()))
}

/// Shows one case: its state, clocks, allowed actions and timeline.
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 200, body = CaseView), (status = 401, description = "unauthorized"), (status = 404, description = "not-found"),
        (status = 500, description = "record-tampered: a stored record of the case does not match what was signed and logged")))]
pub async fn get_case(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<CaseView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    let view = node.case(&id, &who).await?;
    Ok(Json(CaseView::from(&view)))
}

/// An action to take on a case.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// The action, such as `acknowledge`, `consult`, `refuse` or `close`.
    pub action: String,
    /// A decision draft for the action (`custos request template ACTION`,
    /// `docs/decision.schema.json`) or the bare body of the action's message
    /// (`docs/formats/messages.md` §3); `{}` when absent.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

/// Takes an action on a case, if the case allows it for this node's side,
/// and queues its message for the other State.
#[utoipa::path(post, path = "/api/v1/cases/{id}/actions", tag = "cases", request_body = ActionRequest,
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 202, body = Sent), (status = 401, description = "unauthorized"), (status = 404, description = "not-found"),
        (status = 409, description = "action-not-allowed: the case does not allow the action now; the message names the case's refusal code, the state and the actions allowed"),
        (status = 422, description = "invalid-draft: the action is unknown, or its decision draft or body does not validate; the message gives every problem, one line each (severity, code from docs/validation-codes.md, field, article, sentence)")))]
pub async fn post_action(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(req): Json<ActionRequest>,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    let who = authenticate(&node, &headers).await?;
    let action: CaseAction = req
        .action
        .parse()
        .map_err(|e| ApiError::protocol(ErrorCode::InvalidDraft, format!("action: {e}")))?;
    let body = req
        .body
        .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
    let sent = node.act(&id, action, body, &who).await?;
    Ok((StatusCode::ACCEPTED, Json(sent)))
}
