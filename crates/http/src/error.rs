//! The one place where failures become HTTP statuses and stable error codes.
//!
//! Every error answer has the body `{"error": {"code": "...", "message": "..."}}`.
//! Federation codes come from the protocol crate; the client API adds a few of
//! its own. The table is in `docs/openapi.json` and `docs/formats/messages.md`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use custos_node::NodeError;
use custos_protocol::ErrorCode;
use serde_json::json;

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
        let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError {
            status,
            code: code.as_str(),
            message: message.into(),
        }
    }

    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required (custos token create)",
        )
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let (status, code) = match &e {
            NodeError::InvalidDraft(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-draft"),
            NodeError::NotOurs(_) => (StatusCode::UNPROCESSABLE_ENTITY, "not-this-nodes-state"),
            NodeError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            NodeError::NotInDirectory(_) => (StatusCode::UNPROCESSABLE_ENTITY, "not-in-directory"),
            NodeError::NoDirectory => (StatusCode::SERVICE_UNAVAILABLE, "no-directory"),
            NodeError::Directory(_) => (StatusCode::UNPROCESSABLE_ENTITY, "directory-invalid"),
            NodeError::Protocol(p) => (StatusCode::UNPROCESSABLE_ENTITY, p.code().as_str()),
            NodeError::EvidenceInput { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid-evidence-input")
            }
            NodeError::EvidencePackage { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid-evidence-package")
            }
            NodeError::CannotDecrypt(..) => (StatusCode::UNPROCESSABLE_ENTITY, "cannot-decrypt"),
            NodeError::NoEncryptionKey(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "no-encryption-key")
            }
            NodeError::RecordTampered { .. } => {
                // Our store's fault; the message names the record, never its content.
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::RecordTampered.as_str(),
                    e.to_string(),
                );
            }
            NodeError::CustodyUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "custody-unavailable")
            }
            NodeError::Store(custos_node::app::StoreError::StorageFull(_)) => {
                (StatusCode::INSUFFICIENT_STORAGE, "insufficient-storage")
            }
            NodeError::Io { .. }
            | NodeError::Internal(_)
            | NodeError::Keys { .. }
            | NodeError::Store(_)
            | NodeError::Ledger(_)
            | NodeError::LedgerTampered { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "internal error");
            return ApiError::new(status, code, "internal error; see the node's log");
        }
        ApiError::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": { "code": self.code, "message": self.message } })),
        )
            .into_response()
    }
}
