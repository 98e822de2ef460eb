//! The federation API: the one endpoint through which other nodes deliver messages.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use custos_node::{Node, ReceiveOutcome};
use custos_protocol::federation::MessageAccepted;
use custos_protocol::{ErrorCode, ErrorResponse};

use crate::error::ApiError;

/// Receives one message: the age-encrypted DSSE envelope, as raw bytes.
#[utoipa::path(
    post,
    path = "/federation/v1/messages",
    tag = "federation",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "An age-encrypted DSSE envelope holding one message (docs/formats/messages.md)"),
    responses(
        (status = 200, description = "Accepted: {\"receipt\": the receiver's signed receipt (DSSE JSON), \"custody\": a proof bundle showing the message in the receiver's custody ledger, or null}", content_type = "application/json"),
        (status = 409, description = "duplicate-message (body carries the original receipt), out-of-order or thread-conflict"),
        (status = 400, description = "The message is malformed, not for this node, or outside its time window"),
        (status = 403, description = "The signing key is unknown, revoked, not valid at the message's time, or the signature is invalid"),
        (status = 413, description = "too-large"),
        (status = 422, description = "invalid-body: the request inside does not validate"),
        (status = 503, description = "no-directory, directory-expired, or custody-unavailable (the node's custody ledger cannot be extended; nothing was receipted)"),
        (status = 507, description = "insufficient-storage: the node's free disk space is below its reserve"),
    )
)]
pub async fn post_message(
    State(node): State<Arc<Node>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let claimed = headers
        .get("custos-from")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?");
    let peer = format!("{peer} (says {claimed})");
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let limit = node.settings().max_message_bytes;
            node.refuse_oversized(&peer, limit).await;
            return too_large(limit).into_response();
        }
        Err(rejection) => {
            return ApiError::protocol(ErrorCode::MalformedCiphertext, rejection.body_text())
                .into_response();
        }
    };
    match node.receive(&body, &peer).await {
        ReceiveOutcome::Accepted { receipt, custody } => {
            let receipt: serde_json::Value = serde_json::from_slice(&receipt).unwrap_or_default();
            let custody =
                custody.and_then(|b| serde_json::from_str::<serde_json::Value>(&b.to_json()).ok());
            let body = MessageAccepted { receipt, custody };
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        ReceiveOutcome::Duplicate { receipt } => {
            let receipt: serde_json::Value = serde_json::from_slice(&receipt).unwrap_or_default();
            let mut body = ErrorResponse::new(
                ErrorCode::DuplicateMessage,
                "this message was received before; here is its receipt",
            );
            body.receipt = Some(receipt);
            (StatusCode::CONFLICT, axum::Json(body)).into_response()
        }
        ReceiveOutcome::Refused { code, message } => {
            ApiError::protocol(code, message).into_response()
        }
    }
}

/// Answers for bodies over the size limit, before they are read.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::protocol(
        ErrorCode::TooLarge,
        format!("a message may be at most {limit} bytes"),
    )
}

/// Asks this node to witness (cosign) a peer's ledger checkpoint, C2SP tlog-witness style.
#[utoipa::path(
    post,
    path = "/federation/v1/witness",
    tag = "federation",
    request_body(content = Object, content_type = "application/json", description = "{\"old_size\": N, \"proof\": [base64 hashes], \"note\": signed checkpoint} (docs/formats/ledger.md)"),
    responses(
        (status = 200, description = "{\"outcome\": \"cosigned\", \"cosignature\": line}"),
        (status = 409, description = "{\"outcome\": \"conflict\", \"witness_size\": N} (resend the proof from that size) or {\"outcome\": \"fork\", \"evidence\": ...}"),
        (status = 403, description = "The checkpoint is not signed by a current key of a State in the directory"),
    )
)]
pub async fn post_witness(
    State(node): State<Arc<Node>>,
    body: Result<axum::Json<custos_ledger::AddCheckpoint>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let request = match body {
        Ok(axum::Json(r)) => r,
        Err(e) => {
            return ApiError::protocol(ErrorCode::MalformedWitnessRequest, e.body_text())
                .into_response();
        }
    };
    match node.witness_checkpoint(&request).await {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.http_status()).unwrap_or(StatusCode::CONFLICT);
            (status, axum::Json(answer)).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
