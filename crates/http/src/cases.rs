//! The client API's cases: list them, show one, take an action on one. The
//! node derives the case and decides what is allowed
//! (`custos_node::app::cases`); this module parses, calls and answers with
//! the node's views as they are.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use custos_model::{RequestKind, StateCode};
use custos_node::Node;
use custos_node::app::{CaseAction, CaseDetail, CaseFilter, CaseState, CaseSummary, Sent, Urgency};
use custos_protocol::ErrorCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::{authenticate, bad_query, page_limit, query_param};
use crate::error::ApiError;

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
    responses((status = 200, body = Vec<CaseSummary>), (status = 400, description = "bad-query"), (status = 401, description = "unauthorized"),
        (status = 500, description = "record-tampered: a stored record does not match what was signed and logged")))]
pub async fn list_cases(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Query(q): Query<CaseQuery>,
) -> Result<Json<Vec<CaseSummary>>, ApiError> {
    let who = authenticate(&node, &headers).await?;
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
    let cases = node.cases(&who, &filter).await?;
    Ok(Json(cases))
}

/// Shows one case: its state, clocks, allowed actions and timeline.
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 200, body = CaseDetail), (status = 401, description = "unauthorized"), (status = 404, description = "not-found"),
        (status = 500, description = "record-tampered: a stored record of the case does not match what was signed and logged")))]
pub async fn get_case(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<CaseDetail>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.case(&id, &who).await?))
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
