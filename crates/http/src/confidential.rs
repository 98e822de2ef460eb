//! The client API of issue 18's confidentiality and personal-data
//! conditions: a case's assignments, exporting a case's content with a
//! recorded reason, and the personal data a case holds. Each handler
//! authenticates, parses, calls one operation of the node (which checks
//! the caller's roles and the case's confidentiality, and records the
//! decision) and answers with its view.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use custos_node::Node;
use custos_node::app::{AssigneesView, AssignmentView, CaseExport, PersonalDataView};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::authenticate;
use crate::error::ApiError;

/// A case's assignments and why it is confidential.
#[utoipa::path(get, path = "/api/v1/cases/{id}/assignees", tag = "cases",
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 200, body = AssigneesView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found")))]
pub async fn get_assignees(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<AssigneesView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.case_assignees(&who, &id).await?))
}

/// A person to assign to a case.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The person (user name).
    pub person: String,
}

/// Assigns a person to a case: on a confidential case, only the people
/// assigned see it.
#[utoipa::path(post, path = "/api/v1/cases/{id}/assignees", tag = "cases", request_body = AssignRequest,
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 201, body = AssignmentView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"),
        (status = 404, description = "not-found: no such case or user"), (status = 422, description = "invalid-draft: no person, or assigned already")))]
pub async fn post_assignee(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<AssignRequest>,
) -> Result<(StatusCode, Json<AssignmentView>), ApiError> {
    let who = authenticate(&node, &headers).await?;
    let view = node.assign_case(&who, &id, &body.person).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Ends a person's assignment to a case.
#[utoipa::path(delete, path = "/api/v1/cases/{id}/assignees/{person}", tag = "cases",
    params(("id" = String, Path, description = "The case (request) id"), ("person" = String, Path, description = "The person")),
    security(("bearer" = [])),
    responses((status = 204, description = "unassigned"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"),
        (status = 404, description = "not-found: the person is not assigned to the case")))]
pub async fn delete_assignee(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path((id, person)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let who = authenticate(&node, &headers).await?;
    node.unassign_case(&who, &id, &person).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Why a case's content is exported.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// Why (kept in the custody ledger with who and when).
    #[serde(default)]
    pub reason: String,
}

/// Exports a case's content: the decision (who, when, why) is written to
/// the custody ledger first, then the content is returned.
#[utoipa::path(post, path = "/api/v1/cases/{id}/export", tag = "cases", request_body = ExportRequest,
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 200, body = CaseExport), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"),
        (status = 404, description = "not-found"), (status = 422, description = "invalid-draft: no reason given")))]
pub async fn post_export(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<ExportRequest>,
) -> Result<Json<CaseExport>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.export_case(&who, &id, &body.reason).await?))
}

/// The personal data a case holds, its conditions and its deletion date.
#[utoipa::path(get, path = "/api/v1/cases/{id}/personal-data", tag = "cases",
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 200, body = PersonalDataView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found")))]
pub async fn get_personal_data(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<PersonalDataView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.personal_data(&who, &id).await?))
}
