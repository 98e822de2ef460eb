//! The client API's operations that need no file on the node's machine:
//! saving and checking drafts, rotating and revoking the node's keys, and
//! importing a signed directory sent as the body. Each handler
//! authenticates, calls one operation of the node (which checks the
//! caller's roles and records the decision) and answers with its view.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use custos_node::Node;
use custos_node::app::DirectoryView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::authenticate;
use crate::error::ApiError;

/// A draft to save or check.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DraftBody {
    /// A request draft (format custos-draft/1) or, to check only, a
    /// decision draft (one with a `decision` field).
    #[schema(value_type = Object)]
    pub draft: serde_json::Value,
}

/// A draft saved: the id of the outgoing request it is recorded as.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedDraft {
    /// The request's id (`thr-...`), as listings show it.
    pub id: String,
}

/// Validates a request draft and records it as an outgoing request,
/// without sending it.
#[utoipa::path(post, path = "/api/v1/drafts", tag = "requests", request_body = DraftBody,
    security(("bearer" = [])),
    responses((status = 201, body = SavedDraft), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"),
        (status = 422, description = "invalid-draft or not-this-nodes-state")))]
pub async fn save_draft(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Json(body): Json<DraftBody>,
) -> Result<(StatusCode, Json<SavedDraft>), ApiError> {
    let who = authenticate(&node, &headers).await?;
    let id = node.save_draft(body.draft, &who).await?;
    Ok((StatusCode::CREATED, Json(SavedDraft { id })))
}

/// Checks a request or decision draft as `custos request validate` does
/// (a request draft's legal basis too, against the node's treaty registry
/// on its date); a draft that does not validate is answered `200` with
/// `valid: false` and every problem.
#[utoipa::path(post, path = "/api/v1/drafts/validate", tag = "requests", request_body = DraftBody,
    security(("bearer" = [])),
    responses((status = 200, description = "the report: valid, kind or decision, errors, warnings and issues (severity, code, path, article, message)"),
        (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn validate_draft(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Json(body): Json<DraftBody>,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.validate_draft(&who, &body.draft).await?).into_response())
}

/// Replaces the node's signing and encryption keys, recorded in the custody
/// ledger as `keys-rotated`; the old public keys stay valid for what they
/// signed. Publish a new directory entry so that peers learn the new keys.
#[utoipa::path(post, path = "/api/v1/keys/rotate", tag = "oversight",
    security(("bearer" = [])),
    responses((status = 200, description = "the ids of the keys replaced and of their successors, and the keys as they now are"),
        (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn rotate_keys(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.rotate_keys(&who).await?).into_response())
}

/// Marks a past signing key compromised, recorded in the custody ledger as
/// `key-revoked`. The current key cannot be revoked: rotate first.
#[utoipa::path(post, path = "/api/v1/keys/{id}/revoke", tag = "oversight",
    params(("id" = String, Path, description = "The signing key's id, as `GET /api/v1/keys` lists it")),
    security(("bearer" = [])),
    responses((status = 200, description = "the key revoked, when, and the keys as they now are"),
        (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"),
        (status = 409, description = "key-change-refused: the current key, a key not in the history, or one already revoked")))]
pub async fn revoke_key(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.revoke_key(&id, &who).await?).into_response())
}

/// Imports a signed directory, sent as the body byte for byte as the
/// registry published it, and makes it the directory in force.
#[utoipa::path(put, path = "/api/v1/directory", tag = "oversight",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The signed directory file"),
    security(("bearer" = [])),
    responses((status = 200, description = "the directory now in force"),
        (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"),
        (status = 422, description = "invalid-directory: the signature does not verify against the registry key, it has expired, it is not newer than the one in force, it drops a State's key, or it has no entry for this node"),
        (status = 503, description = "no-registry-key: the node's configuration names no registry key")))]
pub async fn put_directory(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    let directory = node.import_directory(&who, &body).await?;
    Ok(Json(DirectoryView::from(&directory)).into_response())
}
