//! The one place where failures become HTTP statuses and stable error codes.
//!
//! Every error answer has the body `{"error": {"code": "...", "message": "..."}}`.
//! Every code is an [`ErrorCode`] of the protocol crate, answered with the
//! status it names; the table is in `docs/formats/messages.md`.
//!
//! [`node_code`] gives each [`NodeError`] its code according to whose fault
//! it is ([`NodeError::fault`]): a fault of this node's own is a 5xx (and
//! its detail goes to the log, not to whoever called); a peer's or a
//! caller's is a 4xx naming what was wrong. A peer's bad answer to a call
//! this node made (a receipt or proof that does not verify) is reported to
//! this node's caller as `502`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use custos_node::evidence::receive::ReceiveError;
use custos_node::{Fault, NodeError};
use custos_protocol::{ErrorCode, ErrorDetail, ErrorResponse};
use custos_protocol::text::escape;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// An answer for a federation refusal.
    pub fn protocol(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status: status_of(code),
            code: code.as_str(),
            message: message.into(),
        }
    }

    pub fn unauthorized() -> Self {
        ApiError::protocol(
            ErrorCode::Unauthorized,
            "a valid bearer token is required (custos token create)",
        )
    }
}

/// The stable code a node failure is answered with; the status is the
/// code's [`ErrorCode::http_status`].
pub fn node_code(e: &NodeError) -> ErrorCode {
    match e {
        NodeError::Keys { .. }
        | NodeError::NoRegistryKey
        | NodeError::StoredDirectory(_)
        | NodeError::Ledger(_)
        | NodeError::LedgerTampered { .. }
        | NodeError::Io { .. }
        | NodeError::Internal(_)
        | NodeError::Corrupt { .. }
        | NodeError::Store(_) => ErrorCode::Internal,
        NodeError::NoDirectory => ErrorCode::NoDirectory,
        NodeError::RecordTampered { .. } => ErrorCode::RecordTampered,
        NodeError::CustodyUnavailable(_) => ErrorCode::CustodyUnavailable,
        NodeError::StorageFull(_) => ErrorCode::InsufficientStorage,
        NodeError::DirectoryInvalid(_) => ErrorCode::InvalidDirectory,
        NodeError::NotInDirectory(_) => ErrorCode::NotInDirectory,
        NodeError::InvalidDraft(_) => ErrorCode::InvalidDraft,
        NodeError::NotOurs(_) => ErrorCode::NotThisNodesState,
        NodeError::NotFound(_) | NodeError::NoSuchEntry { .. } => ErrorCode::NotFound,
        NodeError::CheckpointRefused(_) => ErrorCode::CheckpointRefused,
        NodeError::CustodyProofInvalid { .. } => ErrorCode::InvalidReceipt,
        NodeError::EvidenceInput { .. } => ErrorCode::InvalidEvidenceInput,
        NodeError::EvidencePackage { .. } => ErrorCode::InvalidEvidencePackage,
        NodeError::CannotDecrypt(..) => ErrorCode::CannotDecrypt,
        NodeError::NoEncryptionKey(_) => ErrorCode::NoEncryptionKey,
        NodeError::Protocol(p) => p.code(),
    }
}

/// The stable code an evidence upload step's refusal is answered with.
pub fn receive_code(e: &ReceiveError) -> ErrorCode {
    match e {
        ReceiveError::Manifest(p) | ReceiveError::Unauthorized(p) => p.code(),
        ReceiveError::NotARecipient { .. } => ErrorCode::NotARecipient,
        ReceiveError::SegmentTooLarge { .. } => ErrorCode::SegmentTooLarge,
        ReceiveError::InsufficientStorage { .. } => ErrorCode::InsufficientStorage,
        ReceiveError::UnknownPackage(_) => ErrorCode::UnknownPackage,
        ReceiveError::NoSuchSegment { .. } => ErrorCode::NoSuchSegment,
        ReceiveError::SegmentMismatch { .. } => ErrorCode::SegmentMismatch,
        ReceiveError::UploadInProgress(_) => ErrorCode::UploadInProgress,
        ReceiveError::Incomplete { .. } => ErrorCode::PackageIncomplete,
        ReceiveError::UnknownRequest { .. } => ErrorCode::UnknownRequest,
        ReceiveError::NotDecryptable { .. } => ErrorCode::NotDecryptable,
        ReceiveError::Io { .. } if e.is_disk_full() => ErrorCode::InsufficientStorage,
        ReceiveError::Io { .. } => ErrorCode::Internal,
        ReceiveError::Node(n) => node_code(n),
    }
}

/// The status a code is answered with.
fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let mut code = node_code(&e);
        // Whatever the code, our own fault is never answered as the caller's.
        if e.fault() == Fault::Ours && code.http_status() < 500 {
            code = ErrorCode::Internal;
        }
        if code == ErrorCode::Internal {
            tracing::error!(error = %e, "internal error");
            return ApiError::protocol(code, "internal error; see the node's log");
        }
        // A tampered record is named, never shown.
        ApiError::new(status_of(code), code.as_str(), e.to_string())
    }
}

impl From<ReceiveError> for ApiError {
    fn from(e: ReceiveError) -> Self {
        if let ReceiveError::Node(n) = e {
            return ApiError::from(n);
        }
        let code = receive_code(&e);
        if code == ErrorCode::Internal {
            tracing::error!(error = %escape(&e.to_string()), "evidence upload failed");
            return ApiError::protocol(code, "internal error; see the node's log");
        }
        // The message may quote what the peer sent (a package id from the URL).
        tracing::warn!(code = code.as_str(), error = %escape(&e.to_string()), "refused an evidence upload step");
        ApiError::protocol(code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorResponse {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
            receipt: None,
        };
        (self.status, Json(body)).into_response()
    }
}
