//! The federation endpoints through which a peer uploads an evidence package:
//! offer the manifest, stream each segment, ask for acceptance. The checks
//! and the files are the node's business (`custos_node::evidence::receive`);
//! this module reads bodies and turns outcomes into answers.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use custos_node::Node;
use custos_node::evidence::receive::{MAX_MANIFEST_BYTES, ReceiveError, SegmentStart};
use custos_protocol::ErrorCode;
use custos_protocol::evidence_transfer::IncompleteAnswer;
use custos_protocol::evidence_upload::UPLOAD_AUTH_HEADER;
use custos_protocol::federation::SegmentVerified;
use custos_protocol::text::escape;
use futures_util::StreamExt;

use crate::error::{ApiError, receive_code};

/// The upload status as JSON, or the refusal.
fn answer<T: serde::Serialize>(result: Result<T, ReceiveError>) -> Response {
    match result {
        Ok(status) => (StatusCode::OK, axum::Json(status)).into_response(),
        Err(e) => refusal(e),
    }
}

fn refusal(e: ReceiveError) -> Response {
    if let ReceiveError::Incomplete { missing } = &e {
        let code = receive_code(&e);
        tracing::warn!(code = code.as_str(), error = %e, "refused an evidence upload step");
        let body = IncompleteAnswer {
            error: custos_protocol::ErrorDetail {
                code: code.as_str().to_owned(),
                message: e.to_string(),
            },
            missing: missing.clone(),
        };
        let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::CONFLICT);
        return (status, axum::Json(body)).into_response();
    }
    ApiError::from(e).into_response()
}

/// The sender's authorisation of an upload call, if the call carries one.
fn auth(headers: &HeaderMap) -> Option<&[u8]> {
    headers.get(UPLOAD_AUTH_HEADER).map(|v| v.as_bytes())
}

/// Offers an evidence package: its signed manifest.
#[utoipa::path(
    post,
    path = "/federation/v1/evidence",
    tag = "federation",
    request_body(content = Vec<u8>, content_type = "application/json", description = "manifest.dsse.json: the package's signed manifest (docs/formats/evidence.md)"),
    responses(
        (status = 200, description = "The upload status: {\"package\", \"segments\", \"verified\": [indexes], \"complete\", \"accepted\", \"receipt\"?, \"custody\"?}", content_type = "application/json"),
        (status = 400, description = "malformed manifest, not-a-recipient, or from-the-future (created_at more than 5 minutes ahead)"),
        (status = 403, description = "The manifest's signing key is unknown, revoked or not valid at its time, or the signature is invalid (checked before the manifest is parsed in full); or upload-unauthorized: no valid custos-upload-auth header signed by the sender"),
        (status = 413, description = "segment-too-large, or a manifest over 64 MiB (too-large)"),
        (status = 422, description = "unknown-request: the manifest answers no request this node sent to its sender"),
        (status = 503, description = "no-directory, directory-expired, or custody-unavailable (the custody ledger cannot be extended)"),
        (status = 507, description = "insufficient-storage: the package does not fit above the node's disk reserve"),
    )
)]
pub async fn post_manifest(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::protocol(
                ErrorCode::TooLarge,
                format!("a manifest may be at most {MAX_MANIFEST_BYTES} bytes"),
            )
            .into_response();
        }
        Err(r) => {
            return ApiError::protocol(ErrorCode::MalformedEnvelope, r.body_text()).into_response();
        }
    };
    answer(node.evidence_offer(&body, auth(&headers)).await)
}

/// What the node holds of a package.
#[utoipa::path(
    get,
    path = "/federation/v1/evidence/{id}",
    tag = "federation",
    params(("id" = String, Path, description = "The package id: sha256:<hex> or the 64 hex digits")),
    responses(
        (status = 200, description = "The upload status, as for the offer", content_type = "application/json"),
        (status = 403, description = "upload-unauthorized: only the package's sender may ask"),
        (status = 404, description = "unknown-package"),
    )
)]
pub async fn get_status(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    answer(node.evidence_status(&id, auth(&headers)).await)
}

/// Uploads one segment, streamed; kept only if its size and hash match the manifest.
#[utoipa::path(
    put,
    path = "/federation/v1/evidence/{id}/segments/{n}",
    tag = "federation",
    params(
        ("id" = String, Path, description = "The package id"),
        ("n" = u64, Path, description = "The segment index"),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The bytes of segments/NNNNNN.age"),
    responses(
        (status = 200, description = "Verified and kept (or verified before): {\"package\", \"segment\", \"verified\": true}", content_type = "application/json"),
        (status = 403, description = "upload-unauthorized: only the package's sender may upload"),
        (status = 404, description = "unknown-package or no-such-segment"),
        (status = 409, description = "upload-in-progress: another connection is uploading this segment"),
        (status = 422, description = "segment-mismatch: size or hash (BLAKE3, or SHA-256 in a version 1 manifest) differs from the manifest; or not-decryptable: no key of this node decrypts the segment; nothing was kept"),
        (status = 507, description = "insufficient-storage"),
    )
)]
pub async fn put_segment(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path((id, n)): Path<(String, String)>,
    body: Body,
) -> Response {
    let drain_limit = node.settings().evidence.max_segment_bytes;
    let ok = || {
        let body = SegmentVerified {
            package: id.clone(),
            segment: n.clone(),
            verified: true,
        };
        (StatusCode::OK, axum::Json(body)).into_response()
    };
    let mut upload = match node.evidence_begin_segment(&id, &n, auth(&headers)).await {
        Ok(SegmentStart::Upload(u)) => u,
        Ok(SegmentStart::AlreadyVerified) => {
            drain(body, drain_limit).await;
            return ok();
        }
        Err(e) => {
            drain(body, drain_limit).await;
            return refusal(e);
        }
    };
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                // The sender went away; dropping the upload deletes the part file.
                tracing::info!(package = %escape(&id), segment = %escape(&n), error = %e, "a segment upload broke off");
                return ApiError::protocol(
                    ErrorCode::SegmentMismatch,
                    format!("the body broke off: {e}"),
                )
                .into_response();
            }
        };
        if let Err(e) = upload.write(&chunk).await {
            return refusal(e);
        }
    }
    match upload.finish().await {
        Ok(()) => ok(),
        Err(e) => refusal(e),
    }
}

/// Reads and discards the rest of a body (up to `limit` bytes) so that the
/// sender, still writing it, sees the answer rather than a reset connection.
async fn drain(body: Body, limit: u64) {
    let mut stream = body.into_data_stream();
    let mut seen = 0u64;
    while let Some(Ok(chunk)) = stream.next().await {
        seen += chunk.len() as u64;
        if seen > limit {
            break;
        }
    }
}

/// Asks the node to accept the package now that every segment is uploaded.
#[utoipa::path(
    post,
    path = "/federation/v1/evidence/{id}/complete",
    tag = "federation",
    params(("id" = String, Path, description = "The package id")),
    responses(
        (status = 200, description = "Accepted: the upload status with \"receipt\" (the receiver's signed evidence receipt, DSSE JSON) and \"custody\" (a proof bundle of its evidence-received ledger entry, or absent)", content_type = "application/json"),
        (status = 403, description = "upload-unauthorized: only the package's sender may ask"),
        (status = 404, description = "unknown-package"),
        (status = 409, description = "package-incomplete (the body lists \"missing\" indexes) or upload-in-progress"),
    )
)]
pub async fn post_complete(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    answer(node.evidence_complete(&id, auth(&headers)).await)
}
