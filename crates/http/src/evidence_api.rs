//! The client API's evidence of a case: files uploaded in chunks, each at
//! its offset, in any order and several at once (resumable: the status
//! gives the ranges still missing),
//! sealed into a package for the case's counterpart, the package sent, the
//! case's packages with their verification status and custody history, a
//! received package opened, and an opened file downloaded (streamed; each
//! download recorded). Each handler calls one method of the node.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use custos_node::Node;
use custos_node::app::evidence::{SealMarks, SealedView, TransferView};
use custos_node::app::{CaseEvidenceView, UploadView};
use custos_node::evidence::open::Report;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::authenticate;
use crate::error::ApiError;

/// A case's evidence.
pub const CASE_EVIDENCE: &str = "/api/v1/cases/{id}/evidence";
/// Uploads started for a case.
pub const CASE_UPLOADS: &str = "/api/v1/cases/{id}/evidence/uploads";
/// One upload: its status, and its chunks.
pub const UPLOAD: &str = "/api/v1/evidence/uploads/{upload}";
/// Uploads sealed into a package.
pub const CASE_SEAL: &str = "/api/v1/cases/{id}/evidence/seal";
/// A sealed package sent to its recipients.
pub const PACKAGE_SEND: &str = "/api/v1/cases/{id}/evidence/{package}/send";
/// A received package opened.
pub const PACKAGE_OPEN: &str = "/api/v1/cases/{id}/evidence/{package}/open";
/// An opened file.
pub const OPENED_FILE: &str = "/api/v1/cases/{id}/evidence/{package}/file";

/// A file to upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadBody {
    /// The file's name, as named in the package.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Where a chunk goes.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ChunkQuery {
    /// The byte of the file the chunk starts at: any offset, as long as
    /// the chunk ends within the declared size (the upload's `missing`
    /// ranges are what is left to send).
    pub offset: u64,
}

/// Which opened file.
#[derive(Debug, Deserialize, IntoParams)]
pub struct FileQuery {
    /// The file's path in the package (`/`-separated), as listed.
    pub path: String,
}

/// The uploads to seal, and what the sealing State adds to the package.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SealBody {
    /// Upload ids, every one complete.
    pub uploads: Vec<String>,
    /// A confidentiality mark, conditions on use, and the personal data in
    /// the package with its conditions (all optional).
    #[serde(default)]
    pub marks: SealMarks,
}

/// The case's packages (sealed here and received) with verification status
/// and custody history, and the caller's uploads.
#[utoipa::path(get, path = "/api/v1/cases/{id}/evidence", tag = "evidence",
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 200, body = CaseEvidenceView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found")))]
pub async fn get_case_evidence(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<CaseEvidenceView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.case_evidence(&who, &id).await?))
}

/// Starts uploading a file for the case (checked: its name, its size, the
/// free space).
#[utoipa::path(post, path = "/api/v1/cases/{id}/evidence/uploads", tag = "evidence", request_body = UploadBody,
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 200, body = UploadView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found"),
        (status = 413, description = "too-large"), (status = 422, description = "invalid-evidence-input"), (status = 507, description = "insufficient-storage")))]
pub async fn post_upload(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<UploadBody>,
) -> Result<Json<UploadView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(
        node.start_upload(&who, &id, &body.name, body.size).await?,
    ))
}

/// An upload's status: the bytes received so far and the ranges still
/// missing.
#[utoipa::path(get, path = "/api/v1/evidence/uploads/{upload}", tag = "evidence",
    params(("upload" = String, Path, description = "The upload id")),
    security(("bearer" = [])),
    responses((status = 200, body = UploadView), (status = 401, description = "unauthorized"), (status = 404, description = "not-found")))]
pub async fn get_upload(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(upload): Path<String>,
) -> Result<Json<UploadView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.upload_status(&who, &upload).await?))
}

/// Writes one chunk (at most 64 MiB) at `offset`: anywhere in the file, in
/// any order, several at once; a chunk sent again writes the same bytes
/// again. Its bytes count as received once on the node's disk; the answer
/// is the upload's status after it.
#[utoipa::path(put, path = "/api/v1/evidence/uploads/{upload}", tag = "evidence",
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    params(("upload" = String, Path, description = "The upload id"), ChunkQuery),
    security(("bearer" = [])),
    responses((status = 200, body = UploadView), (status = 401, description = "unauthorized"), (status = 404, description = "not-found"),
        (status = 409, description = "out-of-order: the chunk would leave the bytes received in more than 1024 separate pieces; send the missing ranges between them first"),
        (status = 413, description = "too-large: the chunk is larger than 64 MiB, or would end past the declared size")))]
pub async fn put_chunk(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(upload): Path<String>,
    Query(q): Query<ChunkQuery>,
    body: Bytes,
) -> Result<Json<UploadView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(
        node.upload_chunk(&who, &upload, q.offset, body).await?,
    ))
}

/// Seals complete uploads into a package for the case's counterpart, with
/// the case's use limits and confidentiality; the uploads are removed.
#[utoipa::path(post, path = "/api/v1/cases/{id}/evidence/seal", tag = "evidence", request_body = SealBody,
    params(("id" = String, Path, description = "The case (request) id")),
    security(("bearer" = [])),
    responses((status = 200, description = "the package sealed: its id, folder, recipients, files, bytes, segments"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found"),
        (status = 422, description = "invalid-evidence-input")))]
pub async fn post_seal(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<SealBody>,
) -> Result<Json<SealedView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(
        node.seal_uploads(&who, &id, &body.uploads, &body.marks)
            .await?,
    ))
}

/// Sends a package sealed here to its recipients; one outcome each.
#[utoipa::path(post, path = "/api/v1/cases/{id}/evidence/{package}/send", tag = "evidence",
    params(("id" = String, Path, description = "The case (request) id"), ("package" = String, Path, description = "The package id's 64 hex digits")),
    security(("bearer" = [])),
    responses((status = 200, description = "one outcome per recipient: accepted with its receipt, or the refusal"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found")))]
pub async fn post_send(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path((id, package)): Path<(String, String)>,
) -> Result<Json<Vec<TransferView>>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.send_case_package(&who, &id, &package).await?))
}

/// Verifies and opens a received package on the node.
#[utoipa::path(post, path = "/api/v1/cases/{id}/evidence/{package}/open", tag = "evidence",
    params(("id" = String, Path, description = "The case (request) id"), ("package" = String, Path, description = "The package id's 64 hex digits")),
    security(("bearer" = [])),
    responses((status = 200, description = "the report: files verified and written, mismatches"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found"),
        (status = 422, description = "invalid-evidence-package: opened already, or does not verify")))]
pub async fn post_open(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path((id, package)): Path<(String, String)>,
) -> Result<Json<Report>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.open_case_package(&who, &id, &package).await?))
}

/// Downloads an opened file, streamed; the download is recorded under the
/// caller's name.
#[utoipa::path(get, path = "/api/v1/cases/{id}/evidence/{package}/file", tag = "evidence",
    params(("id" = String, Path, description = "The case (request) id"), ("package" = String, Path, description = "The package id's 64 hex digits"), FileQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "the file's bytes", content_type = "application/octet-stream"), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found")))]
pub async fn get_opened_file(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path((id, package)): Path<(String, String)>,
    Query(q): Query<FileQuery>,
) -> Result<Response, ApiError> {
    let who = authenticate(&node, &headers).await?;
    let download = node
        .download_opened_file(&who, &id, &package, &q.path)
        .await?;
    custos_desk::evidence::stream_file(download)
        .await
        .map_err(ApiError::from)
}
