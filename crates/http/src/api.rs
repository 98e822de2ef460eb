//! The client API: what officers' tools and scripts use, authenticated by bearer tokens.
//!
//! Its bodies are the application layer's views (`custos_node::app`) as
//! they are; this module only reads the query, authenticates and calls.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use custos_model::{RequestKind, StateCode};
use custos_node::Node;
use custos_node::app::views::DEFAULT_REQUEST_LIMIT;
use custos_node::app::{Actor, RequestFilter, RequestSummary, RequestView, Sent};
use custos_protocol::ErrorCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// The secret of the `Authorization: Bearer ...` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(ApiError::unauthorized)
}

/// Checks the bearer (a client-API token or a signed-in session); returns
/// who is acting, with the roles their user holds now. Every cause of a
/// refusal (no bearer, unknown, expired, revoked, a disabled user) gets the
/// same `unauthorized` answer.
pub(crate) async fn authenticate(node: &Node, headers: &HeaderMap) -> Result<Actor, ApiError> {
    node.authenticate(bearer(headers)?)
        .await?
        .ok_or_else(ApiError::unauthorized)
}

/// The most requests one answer lists, whatever the query asks: an
/// answer's size stays bounded.
const MAX_REQUESTS_PER_ANSWER: u32 = 1000;

/// A `bad-query` answer naming the query parameter `what`.
pub(crate) fn bad_query(what: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::protocol(ErrorCode::BadQuery, format!("{what}: {problem}"))
}

/// Query parameter `what`, read as a `T` when given.
pub(crate) fn query_param<T>(what: &str, value: Option<String>) -> Result<Option<T>, ApiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value
        .map(|v| v.parse::<T>())
        .transpose()
        .map_err(|e| bad_query(what, e))
}

/// How many items one listing answers with: the default when none is
/// asked, never more than the most one answer carries.
pub(crate) fn page_limit(asked: Option<u32>) -> Option<u32> {
    Some(
        asked
            .unwrap_or(DEFAULT_REQUEST_LIMIT)
            .min(MAX_REQUESTS_PER_ANSWER),
    )
}

/// Filters for listing requests.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only this kind (wire name, such as `preservation`).
    pub kind: Option<String>,
    /// Only requests exchanged with this State.
    pub with: Option<String>,
    /// At most this many (default 100, at most 1000).
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
    let who = authenticate(&node, &headers).await?;
    let filter = RequestFilter {
        direction: None,
        kind: query_param::<RequestKind>("kind", q.kind)?,
        counterpart: query_param::<StateCode>("with", q.with)?,
        limit: page_limit(q.limit),
        hidden_from: None,
    };
    Ok(Json(node.requests(&who, &filter).await?))
}

/// Shows one request, its messages, their delivery and receipts, and its history.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests",
    params(("id" = String, Path, description = "The request id")),
    security(("bearer" = [])),
    responses((status = 200, body = RequestView), (status = 401, description = "unauthorized"), (status = 404, description = "not-found"),
        (status = 500, description = "record-tampered: a stored record of the request does not match what was signed and logged")))]
pub async fn get_request(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.read_request(&id, &who).await?))
}

/// A draft to send.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SendBody {
    /// The request draft (format custos-draft/1); it must validate.
    #[schema(value_type = Object)]
    pub draft: serde_json::Value,
    /// Send the draft even though it still holds the template's sample
    /// reference (the invented example, to try a network); refused with
    /// `invalid-draft` otherwise.
    #[serde(default)]
    pub allow_sample: bool,
}

/// Validates a draft and queues it for delivery to the State it names.
#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", request_body = SendBody,
    security(("bearer" = [])),
    responses((status = 202, body = Sent), (status = 401, description = "unauthorized"),
        (status = 422, description = "invalid-draft (also a draft holding the template's sample reference without allow_sample), not-this-nodes-state, legal-basis-not-applicable or not-in-directory"), (status = 503, description = "no-directory")))]
pub async fn send_request(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Json(body): Json<SendBody>,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    let who = authenticate(&node, &headers).await?;
    let report = node
        .send_request(body.draft, &who, false, body.allow_sample)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(report.sent)))
}
