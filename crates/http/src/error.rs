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
use custos_node::NodeError;
use custos_node::evidence::receive::ReceiveError;
use custos_protocol::text::escape;
use custos_protocol::{ErrorCode, ErrorDetail, ErrorResponse};

/// An error answer. It is made from an [`ErrorCode`] only
/// ([`ApiError::protocol`], or from a node's error), so that every answer
/// carries a code of the protocol crate with the status that code names.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
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
            "a valid bearer is required: a token (custos token create) or a session (POST /api/v1/sign-in)",
        )
    }
}

/// The stable code a node failure is answered with ([`NodeError::code`]);
/// the status is the code's [`ErrorCode::http_status`].
pub fn node_code(e: &NodeError) -> ErrorCode {
    e.code()
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
        // Whatever the code, our own fault is never answered as the caller's.
        let code = e.public_code();
        if code == ErrorCode::Internal {
            tracing::error!(error = %e, "internal error");
            return ApiError::protocol(code, "internal error; see the node's log");
        }
        // The message names what was wrong (a tampered record by its id,
        // never its content).
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use custos_ledger::LedgerError;
    use custos_node::app::StoreError;
    use custos_node::{CheckpointRefusal, Fault, LedgerFailure};
    use custos_protocol::ProtocolError;

    use super::*;

    /// The variant's name; a match without a wildcard, so that a new
    /// variant does not compile until it is added to the table below.
    fn variant(e: &NodeError) -> &'static str {
        match e {
            NodeError::Keys { .. } => "Keys",
            NodeError::NoDirectory => "NoDirectory",
            NodeError::NoRegistryKey => "NoRegistryKey",
            NodeError::DirectoryInvalid(_) => "DirectoryInvalid",
            NodeError::StoredDirectory(_) => "StoredDirectory",
            NodeError::NotInDirectory(_) => "NotInDirectory",
            NodeError::InvalidDraft(_) => "InvalidDraft",
            NodeError::SampleDraft(_) => "SampleDraft",
            NodeError::InvalidDecision(_) => "InvalidDecision",
            NodeError::NotOurs(_) => "NotOurs",
            NodeError::LegalBasis(_) => "LegalBasis",
            NodeError::NotFound(_) => "NotFound",
            NodeError::NoSuchEntry { .. } => "NoSuchEntry",
            NodeError::Ledger(_) => "Ledger",
            NodeError::CheckpointRefused(_) => "CheckpointRefused",
            NodeError::CustodyProofInvalid { .. } => "CustodyProofInvalid",
            NodeError::LedgerTampered { .. } => "LedgerTampered",
            NodeError::EvidenceInput { .. } => "EvidenceInput",
            NodeError::EvidencePackage { .. } => "EvidencePackage",
            NodeError::OutputFolder { .. } => "OutputFolder",
            NodeError::Io { .. } => "Io",
            NodeError::CannotDecrypt(..) => "CannotDecrypt",
            NodeError::NoEncryptionKey(_) => "NoEncryptionKey",
            NodeError::Internal(_) => "Internal",
            NodeError::Corrupt { .. } => "Corrupt",
            NodeError::RecordTampered { .. } => "RecordTampered",
            NodeError::CustodyUnavailable(_) => "CustodyUnavailable",
            NodeError::StorageFull(_) => "StorageFull",
            NodeError::Protocol(_) => "Protocol",
            NodeError::Store(_) => "Store",
            NodeError::ActionNotAllowed(_) => "ActionNotAllowed",
            NodeError::Forbidden { .. } => "Forbidden",
            NodeError::SignInRefused => "SignInRefused",
            NodeError::AccountLocked { .. } => "AccountLocked",
            NodeError::InvalidUser(_) => "InvalidUser",
            NodeError::KeyChangeRefused(_) => "KeyChangeRefused",
            NodeError::ConsentRequired { .. } => "ConsentRequired",
            NodeError::BadStatisticsQuery(_) => "BadStatisticsQuery",
            NodeError::ContentDeleted { .. } => "ContentDeleted",
            NodeError::Upload(_) => "Upload",
        }
    }

    const VARIANTS: usize = 40;

    fn text(s: &str) -> String {
        s.to_owned()
    }

    fn fr() -> custos_model::StateCode {
        "FR".parse()
            .unwrap_or_else(|_| unreachable!("FR is a State code"))
    }

    fn ledger_error() -> LedgerError {
        LedgerError::OutOfRange { what: text("x") }
    }

    fn invalid_directory() -> ProtocolError {
        ProtocolError::InvalidDirectory { detail: text("x") }
    }

    /// Every failure with the status, code and fault it is answered with.
    fn table() -> Vec<(NodeError, u16, &'static str, Fault)> {
        use Fault::{Caller, Ours, Peer};
        vec![
            (
                NodeError::Keys {
                    path: text("k"),
                    problem: text("x"),
                },
                500,
                "internal",
                Ours,
            ),
            (NodeError::NoDirectory, 503, "no-directory", Ours),
            // The operator's configuration lacks it: a typed 503 with the
            // setting to add, not an opaque internal error.
            (NodeError::NoRegistryKey, 503, "no-registry-key", Ours),
            (
                NodeError::DirectoryInvalid(invalid_directory()),
                422,
                "invalid-directory",
                Caller,
            ),
            // Our stored directory not verifying is ours, not the caller's.
            (
                NodeError::StoredDirectory(invalid_directory()),
                500,
                "internal",
                Ours,
            ),
            (
                NodeError::NotInDirectory(fr()),
                422,
                "not-in-directory",
                Caller,
            ),
            (
                NodeError::InvalidDraft(text("x")),
                422,
                "invalid-draft",
                Caller,
            ),
            (
                NodeError::SampleDraft(text("x")),
                422,
                "invalid-draft",
                Caller,
            ),
            (
                NodeError::InvalidDecision(custos_model::validate::Report::default()),
                422,
                "invalid-draft",
                Caller,
            ),
            (
                NodeError::NotOurs(text("x")),
                422,
                "not-this-nodes-state",
                Caller,
            ),
            (
                NodeError::LegalBasis(custos_model::basis::ConventionDoesNotApply {
                    between: [fr(), fr()],
                    on: time::macros::date!(2027 - 01 - 01),
                    reasons: vec![custos_model::treaty::NotApplicable::SameParty { party: fr() }],
                }),
                422,
                "legal-basis-not-applicable",
                Caller,
            ),
            (NodeError::NotFound(text("x")), 404, "not-found", Caller),
            (
                NodeError::NoSuchEntry {
                    index: 9,
                    size: Some(3),
                },
                404,
                "not-found",
                Caller,
            ),
            (
                NodeError::NoSuchEntry {
                    index: 9,
                    size: None,
                },
                404,
                "not-found",
                Caller,
            ),
            // A stored note of ours that does not parse, or our own key, is
            // never answered as a refused checkpoint.
            (
                LedgerFailure::StoredNote(ledger_error()).into(),
                500,
                "internal",
                Ours,
            ),
            (
                LedgerFailure::OwnKey(ledger_error()).into(),
                500,
                "internal",
                Ours,
            ),
            (
                LedgerFailure::Tree(ledger_error()).into(),
                500,
                "internal",
                Ours,
            ),
            (LedgerFailure::EntryMissing(4).into(), 500, "internal", Ours),
            (
                CheckpointRefusal::Unreadable(ledger_error()).into(),
                403,
                "checkpoint-refused",
                Peer,
            ),
            (
                CheckpointRefusal::OwnLedger.into(),
                403,
                "checkpoint-refused",
                Peer,
            ),
            (
                CheckpointRefusal::NotSigned {
                    state: fr(),
                    cause: None,
                }
                .into(),
                403,
                "checkpoint-refused",
                Peer,
            ),
            (
                NodeError::CustodyProofInvalid {
                    from: fr(),
                    problem: text("x"),
                },
                502,
                "invalid-receipt",
                Peer,
            ),
            (
                NodeError::LedgerTampered {
                    index: 1,
                    problem: text("x"),
                },
                500,
                "internal",
                Ours,
            ),
            (
                NodeError::EvidenceInput {
                    path: text("p"),
                    problem: text("x"),
                },
                422,
                "invalid-evidence-input",
                Caller,
            ),
            (
                NodeError::EvidencePackage {
                    path: text("p"),
                    problem: text("x"),
                },
                422,
                "invalid-evidence-package",
                Caller,
            ),
            (
                NodeError::OutputFolder {
                    path: text("p"),
                    problem: text("x"),
                },
                422,
                "invalid-evidence-package",
                Caller,
            ),
            (
                NodeError::Io {
                    path: text("p"),
                    problem: text("x"),
                },
                500,
                "internal",
                Ours,
            ),
            (
                NodeError::CannotDecrypt(text("p"), true),
                422,
                "cannot-decrypt",
                Caller,
            ),
            (
                NodeError::NoEncryptionKey(fr()),
                422,
                "no-encryption-key",
                Caller,
            ),
            (
                NodeError::ActionNotAllowed(custos_node::app::NotAllowed {
                    state: custos_node::app::CaseState::Acknowledged,
                    action: custos_node::app::CaseAction::Refuse,
                    side: custos_node::app::Side::Requested,
                    code: custos_node::app::RefusalCode::ConsultationRequired,
                    allowed: vec![custos_node::app::CaseAction::Consult],
                }),
                409,
                "action-not-allowed",
                Caller,
            ),
            (
                NodeError::Forbidden {
                    actor: text("api:ana/t"),
                    operation: text("read-case"),
                    reason: text("x"),
                },
                403,
                "forbidden",
                Caller,
            ),
            (NodeError::SignInRefused, 401, "unauthorized", Caller),
            (
                NodeError::AccountLocked { until: text("t") },
                401,
                "unauthorized",
                Caller,
            ),
            (
                NodeError::InvalidUser(text("x")),
                422,
                "invalid-user",
                Caller,
            ),
            (
                NodeError::KeyChangeRefused(text("x")),
                409,
                "key-change-refused",
                Caller,
            ),
            (
                NodeError::ConsentRequired {
                    what: text("x"),
                    provider: text("DE"),
                    case: text("thr-x"),
                    use_for: text("y"),
                },
                409,
                "consent-required",
                Caller,
            ),
            (
                NodeError::BadStatisticsQuery(text("x")),
                400,
                "bad-query",
                Caller,
            ),
            (
                NodeError::ContentDeleted {
                    case: text("c"),
                    at: text("t"),
                    by: text("scheduler"),
                    entry: text("sha256:00"),
                },
                410,
                "content-deleted",
                Caller,
            ),
            (
                NodeError::Upload(custos_node::app::UploadError::Scattered { limit: 1024 }),
                409,
                "out-of-order",
                Caller,
            ),
            (
                NodeError::Upload(custos_node::app::UploadError::PastEnd { size: 4 }),
                413,
                "too-large",
                Caller,
            ),
            (NodeError::Internal(text("x")), 500, "internal", Ours),
            // A stored id that does not parse is our store's damage.
            (
                NodeError::Corrupt {
                    what: text("id"),
                    problem: text("x"),
                },
                500,
                "internal",
                Ours,
            ),
            (
                NodeError::RecordTampered {
                    record: text("r"),
                    problem: text("x"),
                },
                500,
                "record-tampered",
                Ours,
            ),
            (
                NodeError::CustodyUnavailable(text("x")),
                503,
                "custody-unavailable",
                Ours,
            ),
            (
                StoreError::StorageFull(text("x")).into(),
                507,
                "insufficient-storage",
                Ours,
            ),
            (
                StoreError::Unavailable(text("x")).into(),
                500,
                "internal",
                Ours,
            ),
            (
                ProtocolError::SignatureInvalid { keyid: text("k") }.into(),
                403,
                "signature-invalid",
                Peer,
            ),
            (
                ProtocolError::OutOfOrder { detail: text("x") }.into(),
                409,
                "out-of-order",
                Peer,
            ),
            (
                ProtocolError::Encoding {
                    what: text("w"),
                    detail: text("x"),
                }
                .into(),
                500,
                "internal",
                Ours,
            ),
        ]
    }

    #[test]
    fn every_node_error_has_its_status_code_and_fault() {
        let mut seen = BTreeSet::new();
        for (error, status, code, fault) in table() {
            let name = variant(&error);
            seen.insert(name);
            assert_eq!(error.fault(), fault, "{name}: {error}");
            let answer = ApiError::from(error);
            assert_eq!(
                (answer.status.as_u16(), answer.code),
                (status, code),
                "{name}: {}",
                answer.message
            );
            match fault {
                Fault::Ours => assert!(status >= 500, "{name}: our fault answered {status}"),
                Fault::Caller => assert!((400..500).contains(&status), "{name}: {status}"),
                // A peer's input is refused with a 4xx; a peer's bad answer
                // to a call of ours reaches our caller as a bad gateway.
                Fault::Peer => assert!(
                    (400..500).contains(&status) || status == 502,
                    "{name}: {status}"
                ),
            }
            if code == "internal" {
                assert_eq!(answer.message, "internal error; see the node's log");
            }
        }
        assert_eq!(
            seen.len(),
            VARIANTS,
            "the table leaves out a variant: {seen:?}"
        );
    }
}
