//! The client API's retention (issue 18): a case's retention shown and
//! changed, legal holds placed and lifted, and the content whose retention
//! ended deleted now. The node checks the caller's roles, records each
//! change with its reason and ledger entry, and deletes; this module parses,
//! calls and answers with the node's views as they are.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use custos_node::Node;
use custos_node::app::{PurgeReport, RetentionPeriod, RetentionView};
use custos_protocol::ErrorCode;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::api::authenticate;
use crate::error::ApiError;

/// A case's retention.
pub const RETENTION: &str = "/api/v1/cases/{id}/retention";
/// A legal hold placed on a case.
pub const HOLD: &str = "/api/v1/cases/{id}/legal-hold";
/// A legal hold lifted.
pub const HOLD_LIFT: &str = "/api/v1/cases/{id}/legal-hold/lift";
/// The content whose retention ended, deleted now.
pub const PURGE: &str = "/api/v1/retention/purge";

fn invalid(problem: String) -> ApiError {
    ApiError::protocol(ErrorCode::InvalidDraft, problem)
}

/// A case's retention set: a number of days after the case ended, or a date.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    /// Days the content is kept after the case ended.
    #[serde(default)]
    pub days: Option<u32>,
    /// The date (RFC 3339) the content is kept until, in place of a period.
    #[serde(default)]
    pub until: Option<String>,
    /// Why (kept in the record; the ledger keeps its SHA-256).
    pub reason: String,
}

/// Why a legal hold is placed or lifted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    /// Why (kept in the record; the ledger keeps its SHA-256).
    pub reason: String,
}

/// Shows a case's retention: when it ended, the period in force, a legal
/// hold, the deletion date or the deletion done, every change, and the other
/// State's report that it deleted its copy.
#[utoipa::path(get, path = "/api/v1/cases/{id}/retention", tag = "cases",
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 200, body = RetentionView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found")))]
pub async fn get_retention(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RetentionView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.retention(&id, &who).await?))
}

/// Sets a case's retention to a period or a date, with a reason; recorded
/// with its author and a custody-ledger entry.
#[utoipa::path(put, path = "/api/v1/cases/{id}/retention", tag = "cases", request_body = RetentionBody,
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 200, body = RetentionView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found"),
        (status = 410, description = "content-deleted: the case's content was deleted already"),
        (status = 422, description = "invalid-draft: neither or both of days and until, a bad date, or no reason")))]
pub async fn put_retention(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<RetentionBody>,
) -> Result<Json<RetentionView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    let period = match (body.days, body.until) {
        (Some(d), None) => RetentionPeriod::Days(d),
        (None, Some(t)) => RetentionPeriod::Until(
            OffsetDateTime::parse(&t, &Rfc3339).map_err(|e| invalid(format!("until: {e}")))?,
        ),
        _ => return Err(invalid("give either days or until".to_owned())),
    };
    Ok(Json(
        node.set_retention(&id, period, &body.reason, &who).await?,
    ))
}

/// Places a legal hold on a case: its content is not deleted until the hold is lifted.
#[utoipa::path(post, path = "/api/v1/cases/{id}/legal-hold", tag = "cases", request_body = HoldBody,
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 200, body = RetentionView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found"),
        (status = 410, description = "content-deleted"), (status = 422, description = "invalid-draft: no reason")))]
pub async fn post_hold(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<HoldBody>,
) -> Result<Json<RetentionView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.legal_hold(&id, true, &body.reason, &who).await?))
}

/// Lifts a case's legal hold: its retention applies again.
#[utoipa::path(post, path = "/api/v1/cases/{id}/legal-hold/lift", tag = "cases", request_body = HoldBody,
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 200, body = RetentionView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found"),
        (status = 410, description = "content-deleted"), (status = 422, description = "invalid-draft: no reason")))]
pub async fn post_hold_lift(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<HoldBody>,
) -> Result<Json<RetentionView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.legal_hold(&id, false, &body.reason, &who).await?))
}

/// Deletes now the content of every case whose retention ended (the
/// scheduler does it on its own); each case with its content-deleted ledger
/// entry, the other State told with a signed report-deletion.
#[utoipa::path(post, path = "/api/v1/retention/purge", tag = "cases",
    security(("bearer" = [])),
    responses((status = 200, body = PurgeReport), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn post_purge(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Json<PurgeReport>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.purge_due(&who).await?))
}
