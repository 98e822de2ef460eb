//! The client API: what officers' tools and scripts use, authenticated by bearer tokens.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use custos_model::{RequestKind, StateCode};
use custos_node::Node;
use custos_node::app::{Actor, RequestFilter};
use custos_node::reads::RequestView;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// Checks the `Authorization: Bearer ...` header; returns who is acting.
pub(crate) async fn authenticate(node: &Node, headers: &HeaderMap) -> Result<Actor, ApiError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(ApiError::unauthorized)?;
    node.authenticate(token)
        .await?
        .ok_or_else(ApiError::unauthorized)
}

/// A request as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestSummary {
    /// The request's id, which is also its thread id on both nodes.
    pub id: String,
    /// `outgoing` or `incoming`.
    pub direction: String,
    pub kind: String,
    /// The other State.
    pub counterpart: String,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&custos_node::app::RequestSummary> for RequestSummary {
    fn from(r: &custos_node::app::RequestSummary) -> Self {
        RequestSummary {
            id: r.id.clone(),
            direction: r.direction.as_str().to_owned(),
            kind: r.kind.as_str().to_owned(),
            counterpart: r.counterpart.to_string(),
            created_at: r.created_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

/// Filters for listing requests.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only this kind (wire name, such as `preservation`).
    pub kind: Option<String>,
    /// Only requests exchanged with this State.
    pub with: Option<String>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

/// Lists the requests the node holds, newest first.
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", params(ListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<RequestSummary>), (status = 401, description = "unauthorized")))]
pub async fn list_requests(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<RequestSummary>>, ApiError> {
    authenticate(&node, &headers).await?;
    let bad = |what: &str, e: String| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-query", format!("{what}: {e}"))
    };
    let filter = RequestFilter {
        direction: None,
        kind: q
            .kind
            .map(|k| k.parse::<RequestKind>())
            .transpose()
            .map_err(|e| bad("kind", e.to_string()))?,
        counterpart: q
            .with
            .map(|s| s.parse::<StateCode>())
            .transpose()
            .map_err(|e| bad("with", e.to_string()))?,
        limit: Some(q.limit.unwrap_or(100).min(1000)),
    };
    let records = node.requests(&filter).await?;
    Ok(Json(records.iter().map(RequestSummary::from).collect()))
}

/// One message of a request's thread.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    pub kind: String,
    pub direction: String,
    pub created_at: String,
    /// For outgoing messages: `pending`, `delivered` or `failed`.
    pub delivery: Option<String>,
    /// Whether a verified signed receipt is held for it.
    pub receipt: bool,
}

/// A request with its thread and history.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestDetail {
    #[serde(flatten)]
    pub summary: RequestSummary,
    /// The validated draft, as signed in the submission (checked against its
    /// signature and ledger entry on every read).
    #[schema(value_type = Object)]
    pub draft: serde_json::Value,
    pub messages: Vec<MessageView>,
    /// Every recorded step, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<serde_json::Value>,
}

/// Shows one request, its messages, their delivery and receipts, and its history.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests",
    params(("id" = String, Path, description = "The request id")),
    security(("bearer" = [])),
    responses((status = 200, body = RequestDetail), (status = 401, description = "unauthorized"), (status = 404, description = "not-found"),
        (status = 500, description = "record-tampered: a stored record of the request does not match what was signed and logged")))]
pub async fn get_request(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RequestDetail>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    let view = node.read_request(&id, &who).await?;
    Ok(Json(RequestDetail::from(&view)))
}

impl From<&RequestView> for RequestDetail {
    fn from(v: &RequestView) -> Self {
        let time = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        RequestDetail {
            summary: RequestSummary {
                id: v.id.clone(),
                direction: v.direction.as_str().to_owned(),
                kind: v.kind.as_str().to_owned(),
                counterpart: v.counterpart.to_string(),
                created_at: time(v.created_at),
            },
            draft: v.draft.clone(),
            messages: v
                .messages
                .iter()
                .map(|m| MessageView {
                    id: m.id.clone(),
                    kind: m.kind.clone(),
                    direction: m.direction.as_str().to_owned(),
                    created_at: time(m.created_at),
                    delivery: m.delivery.map(|d| d.as_str().to_owned()),
                    receipt: m.receipt,
                })
                .collect(),
            history: v
                .history
                .iter()
                .map(|e| {
                    serde_json::json!({ "seq": e.seq, "at": time(e.at), "actor": e.actor, "kind": e.kind, "detail": e.detail })
                })
                .collect(),
        }
    }
}

/// A draft to send.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SendBody {
    /// The request draft (format custos-draft/1); it must validate.
    #[schema(value_type = Object)]
    pub draft: serde_json::Value,
}

/// A request queued for delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// The new request's id (its thread).
    pub id: String,
    /// The id of the submission message.
    pub message_id: String,
}

/// Validates a draft and queues it for delivery to the State it names.
#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", request_body = SendBody,
    security(("bearer" = [])),
    responses((status = 202, body = Queued), (status = 401, description = "unauthorized"),
        (status = 422, description = "invalid-draft, not-this-nodes-state or not-in-directory"), (status = 503, description = "no-directory")))]
pub async fn send_request(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Json(body): Json<SendBody>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    let who = authenticate(&node, &headers).await?;
    let sent = node.submit(body.draft, &who).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Queued {
            id: sent.thread,
            message_id: sent.message_id,
        }),
    ))
}
