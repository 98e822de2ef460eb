//! The client API's oversight and node reads: the record of who saw what,
//! a case's grants, evidence received, the ledger, the directory, the
//! node's keys, the outbox and refusals, and statistics. Each handler
//! authenticates, parses, calls one operation of the node (which checks
//! the caller's roles and records the decision) and answers with its view.
//!
//! It also keeps the record of callers that could not be authenticated:
//! [`record_unauthenticated`] wraps the client API and `/metrics`, and
//! every `401` answer is recorded with where it came from and why (never
//! the token presented).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use custos_node::Node;
use custos_node::app::{AccessView, AuditFilter, CaseGrantView, OutboxState};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use crate::api::{authenticate, bad_query, query_param};
use crate::error::ApiError;

/// Records every `401` answer of the routes it wraps as a failed
/// authentication (`anonymous`, with the caller's address and whether a
/// bearer was presented at all).
pub async fn record_unauthenticated(
    State(node): State<Arc<Node>>,
    request: Request,
    next: Next,
) -> Response {
    let from = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
    let presented = request.headers().contains_key(header::AUTHORIZATION);
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        let reason = if presented {
            "the bearer token presented is not one the node accepts"
        } else {
            "no bearer token was presented"
        };
        if let Err(e) = node.record_authentication_failure(&from, reason).await {
            tracing::warn!(error = %e, "cannot record a failed authentication");
        }
    }
    response
}

fn rfc3339(what: &str, value: Option<String>) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .map(|v| OffsetDateTime::parse(&v, &Rfc3339).map_err(|e| bad_query(what, e)))
        .transpose()
}

/// Filters for the record of who saw what.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Only this person (user or operator name, or `anonymous`).
    pub person: Option<String>,
    /// Only this case.
    pub case: Option<String>,
    /// At or after this time (RFC 3339).
    pub since: Option<String>,
    /// Before this time (RFC 3339).
    pub until: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Skip this many first.
    pub offset: Option<u64>,
}

/// Lists the record of who saw what, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "oversight", params(AuditQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<AccessView>), (status = 400, description = "bad-query"),
        (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn get_audit(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AccessView>>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    let filter = AuditFilter {
        person: q.person,
        case: q.case,
        since: rfc3339("since", q.since)?,
        until: rfc3339("until", q.until)?,
        limit: q.limit,
        offset: q.offset,
    };
    Ok(Json(node.audit(&who, &filter).await?))
}

/// A case's grants, revoked or not.
#[utoipa::path(get, path = "/api/v1/cases/{id}/grants", tag = "oversight",
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<CaseGrantView>), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn get_grants(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Vec<CaseGrantView>>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.case_grants(&who, &id).await?))
}

/// A grant of a case to a person.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// The person (user name) granted the case.
    pub person: String,
    /// Why (kept in the record and the ledger).
    pub reason: String,
    /// Until when (RFC 3339), at most a year ahead.
    pub until: String,
}

/// Grants a person (an auditor) a case's content until a time.
#[utoipa::path(post, path = "/api/v1/cases/{id}/grants", tag = "oversight", request_body = GrantRequest,
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 201, body = CaseGrantView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"),
        (status = 404, description = "not-found"), (status = 422, description = "invalid-draft: no person or reason, or an end in the past or more than a year ahead")))]
pub async fn post_grant(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<GrantRequest>,
) -> Result<(StatusCode, Json<CaseGrantView>), ApiError> {
    let who = authenticate(&node, &headers).await?;
    let until = OffsetDateTime::parse(&body.until, &Rfc3339).map_err(|e| {
        ApiError::protocol(
            custos_protocol::ErrorCode::InvalidDraft,
            format!("until: {e}"),
        )
    })?;
    let grant = node
        .grant_case_access(&who, &id, &body.person, &body.reason, until)
        .await?;
    Ok((StatusCode::CREATED, Json(grant)))
}

/// Revokes a person's grants of a case.
#[utoipa::path(delete, path = "/api/v1/cases/{id}/grants/{person}", tag = "oversight",
    params(("id" = String, Path, description = "The case (request) id"), ("person" = String, Path, description = "The person")),
    security(("bearer" = [])),
    responses((status = 204, description = "revoked"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"),
        (status = 404, description = "not-found: the person holds no grant of the case")))]
pub async fn delete_grant(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path((id, person)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let who = authenticate(&node, &headers).await?;
    node.revoke_case_access(&who, &id, &person).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The evidence packages this node received.
#[utoipa::path(get, path = "/api/v1/evidence", tag = "oversight",
    security(("bearer" = [])),
    responses((status = 200, description = "the packages received, by folder"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn get_evidence(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.received_packages(&who).await?).into_response())
}

/// Verifies a received evidence package (signature, hashes) and records it.
#[utoipa::path(post, path = "/api/v1/evidence/{id}/verify", tag = "oversight",
    params(("id" = String, Path, description = "The package id (sha256:...)")),
    security(("bearer" = [])),
    responses((status = 200, description = "the verification report"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"),
        (status = 404, description = "not-found")))]
pub async fn post_evidence_verify(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.verify_received_package(&who, &id).await?).into_response())
}

/// The ledger's latest checkpoint, plain and cosigned.
#[utoipa::path(get, path = "/api/v1/ledger/checkpoint", tag = "oversight",
    security(("bearer" = [])),
    responses((status = 200, description = "the checkpoint notes"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn get_checkpoint(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.ledger_checkpoint(&who).await?).into_response())
}

/// Verifies the whole ledger: a tampered ledger is a verdict (`ok: false`).
#[utoipa::path(post, path = "/api/v1/ledger/verify", tag = "oversight",
    security(("bearer" = [])),
    responses((status = 200, description = "the verdict"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn post_ledger_verify(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    let verdict = node.check_ledger(&who, &mut |_, _| {}).await?;
    Ok(Json(verdict).into_response())
}

/// The proof bundle of one ledger entry.
#[utoipa::path(get, path = "/api/v1/ledger/entries/{index}/proof", tag = "oversight",
    params(("index" = u64, Path, description = "The entry's index")),
    security(("bearer" = [])),
    responses((status = 200, description = "the proof bundle"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"),
        (status = 404, description = "not-found")))]
pub async fn get_proof(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(index): Path<String>,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    let index = index.parse::<u64>().map_err(|e| bad_query("index", e))?;
    Ok(Json(node.ledger_proof(&who, index).await?).into_response())
}

/// The directory in force (`null` before the first import).
#[utoipa::path(get, path = "/api/v1/directory", tag = "oversight",
    security(("bearer" = [])),
    responses((status = 200, description = "the directory in force"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn get_directory(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.directory_view(&who).await?).into_response())
}

/// The node's public keys, current and past.
#[utoipa::path(get, path = "/api/v1/keys", tag = "oversight",
    security(("bearer" = [])),
    responses((status = 200, description = "the node's keys"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn get_keys(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.keys_view(&who).await?).into_response())
}

/// Filters for the outbox and the refusals.
#[derive(Debug, Deserialize, IntoParams)]
pub struct OutboxQuery {
    /// Only items in this state (`pending`, `delivered`, `failed`).
    pub state: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

fn limit(asked: Option<u32>) -> u32 {
    asked.unwrap_or(100).min(1000)
}

/// The outbox, newest first.
#[utoipa::path(get, path = "/api/v1/outbox", tag = "oversight", params(OutboxQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "the outbox items"), (status = 400, description = "bad-query"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn get_outbox(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Query(q): Query<OutboxQuery>,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    let state = query_param::<OutboxState>("state", q.state)?;
    Ok(Json(node.outbox(&who, state, limit(q.limit)).await?).into_response())
}

/// Messages from peers the node refused, newest first.
#[utoipa::path(get, path = "/api/v1/refusals", tag = "oversight", params(OutboxQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "the refusals"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn get_refusals(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Query(q): Query<OutboxQuery>,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.refusals(&who, limit(q.limit)).await?).into_response())
}

/// The node's statistics, without case content.
#[utoipa::path(get, path = "/api/v1/statistics", tag = "oversight",
    security(("bearer" = [])),
    responses((status = 200, description = "the counts"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn get_statistics(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.statistics(&who, 100_000).await?).into_response())
}

/// What oversight statistics report is asked for.
#[derive(Debug, Deserialize, IntoParams)]
pub struct OversightQuery {
    /// The first day of the period (YYYY-MM-DD; default 1 January of last
    /// year). Cases count by the day they were opened.
    pub from: Option<String>,
    /// The last day of the period, included (YYYY-MM-DD; default 31
    /// December of last year).
    pub to: Option<String>,
    /// A suppression threshold above the node's (never below it).
    pub threshold: Option<u64>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
    /// `true`: the JSON report signed by the node, as a DSSE envelope of
    /// type `application/vnd.custos.statistics+json; version=1`.
    pub signed: Option<bool>,
}

fn date(what: &str, value: Option<String>) -> Result<Option<time::Date>, ApiError> {
    value
        .map(|v| {
            time::Date::parse(
                &v,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|e| bad_query(what, e))
        })
        .transpose()
}

/// The oversight statistics report of a period: counts by kind,
/// counterpart State, outcome, refusal ground and postponement, and
/// response-time percentiles, per direction, without case content or
/// identifiers; small counts suppressed (`docs/formats/statistics.md`).
#[utoipa::path(get, path = "/api/v1/statistics/oversight", tag = "oversight", params(OversightQuery),
    security(("bearer" = [])),
    responses((status = 200, body = custos_node::app::StatisticsReport, description = "the report (JSON), its CSV form, or the signed envelope"),
        (status = 400, description = "bad-query: a malformed date or format, a period ending before it starts, a threshold below the node's"),
        (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn get_oversight_statistics(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Query(q): Query<OversightQuery>,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    let query = custos_node::app::StatisticsQuery {
        from: date("from", q.from)?,
        to: date("to", q.to)?,
        threshold: q.threshold,
    };
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(bad_query("format", format!("{other:?} is not json or csv"))),
    };
    if q.signed == Some(true) {
        if csv {
            return Err(bad_query("signed", "only the JSON report is signed"));
        }
        let envelope = node.signed_oversight_statistics(&who, &query).await?;
        return Ok(([(header::CONTENT_TYPE, "application/json")], envelope).into_response());
    }
    let report = node.oversight_statistics(&who, &query).await?;
    if csv {
        return Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            report.to_csv(),
        )
            .into_response());
    }
    Ok(Json(report).into_response())
}
