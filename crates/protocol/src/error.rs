//! Stable error codes of the federation protocol and the crate's one error
//! type.
//!
//! [`ErrorCode`] is what crosses the wire: a kebab-case word that never changes
//! meaning, with the HTTP status a node answers it with. [`ProtocolError`] is
//! what the functions of this crate return: one variant per domain failure,
//! carrying the field and the values that explain it, and mapping onto exactly
//! one code through [`ProtocolError::code`]. [`ErrorResponse`] is the JSON body
//! of an error answer.

use std::fmt;
use std::str::FromStr;

use custos_model::StateCode;
use serde::{Deserialize, Serialize};

use time::OffsetDateTime;

use crate::message::MessageKind;
use crate::timestamp;

/// A stable refusal or failure code. The wire name (`as_str`) never changes
/// meaning; new codes may be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    TooLarge,
    MalformedCiphertext,
    NotForThisNode,
    MalformedEnvelope,
    UnknownPayloadType,
    MalformedMessage,
    UnsupportedVersion,
    NotCanonical,
    PayloadTypeMismatch,
    WrongRecipient,
    UnknownSender,
    UnknownKey,
    KeyRevoked,
    KeyNotValidAtTime,
    SignatureInvalid,
    DirectoryExpired,
    NoDirectory,
    FromTheFuture,
    MessageExpired,
    InvalidBody,
    OutOfOrder,
    DuplicateMessage,
    ThreadConflict,
    Unauthorized,
    NotFound,
    Internal,
    InvalidDirectory,
    InvalidReceipt,
    NotARecipient,
    SegmentTooLarge,
    SegmentMismatch,
    UploadInProgress,
    PackageIncomplete,
    UnknownPackage,
    NoSuchSegment,
    InsufficientStorage,
    UnknownRequest,
    NotDecryptable,
    UploadUnauthorized,
    RecordTampered,
    CustodyUnavailable,
    CheckpointRefused,
    MalformedWitnessRequest,
    InvalidDraft,
    NotThisNodesState,
    LegalBasisNotApplicable,
    NotInDirectory,
    NoEncryptionKey,
    InvalidEvidenceInput,
    InvalidEvidencePackage,
    CannotDecrypt,
    BadQuery,
    ActionNotAllowed,
    Forbidden,
    InvalidUser,
    NoRegistryKey,
    KeyChangeRefused,
    // issue 18: use limits and onward-transfer consent
    ConsentRequired,
    // issue 18: retention
    ContentDeleted,
}

impl ErrorCode {
    /// Every code, in the order of the documentation table.
    pub const ALL: [ErrorCode; 59] = [
        ErrorCode::TooLarge,
        ErrorCode::MalformedCiphertext,
        ErrorCode::NotForThisNode,
        ErrorCode::MalformedEnvelope,
        ErrorCode::UnknownPayloadType,
        ErrorCode::MalformedMessage,
        ErrorCode::UnsupportedVersion,
        ErrorCode::NotCanonical,
        ErrorCode::PayloadTypeMismatch,
        ErrorCode::WrongRecipient,
        ErrorCode::UnknownSender,
        ErrorCode::UnknownKey,
        ErrorCode::KeyRevoked,
        ErrorCode::KeyNotValidAtTime,
        ErrorCode::SignatureInvalid,
        ErrorCode::DirectoryExpired,
        ErrorCode::NoDirectory,
        ErrorCode::FromTheFuture,
        ErrorCode::MessageExpired,
        ErrorCode::InvalidBody,
        ErrorCode::OutOfOrder,
        ErrorCode::DuplicateMessage,
        ErrorCode::ThreadConflict,
        ErrorCode::Unauthorized,
        ErrorCode::NotFound,
        ErrorCode::Internal,
        ErrorCode::InvalidDirectory,
        ErrorCode::InvalidReceipt,
        ErrorCode::NotARecipient,
        ErrorCode::SegmentTooLarge,
        ErrorCode::SegmentMismatch,
        ErrorCode::UploadInProgress,
        ErrorCode::PackageIncomplete,
        ErrorCode::UnknownPackage,
        ErrorCode::NoSuchSegment,
        ErrorCode::InsufficientStorage,
        ErrorCode::UnknownRequest,
        ErrorCode::NotDecryptable,
        ErrorCode::UploadUnauthorized,
        ErrorCode::RecordTampered,
        ErrorCode::CustodyUnavailable,
        ErrorCode::CheckpointRefused,
        ErrorCode::MalformedWitnessRequest,
        ErrorCode::InvalidDraft,
        ErrorCode::NotThisNodesState,
        ErrorCode::LegalBasisNotApplicable,
        ErrorCode::NotInDirectory,
        ErrorCode::NoEncryptionKey,
        ErrorCode::InvalidEvidenceInput,
        ErrorCode::InvalidEvidencePackage,
        ErrorCode::CannotDecrypt,
        ErrorCode::BadQuery,
        ErrorCode::ActionNotAllowed,
        ErrorCode::Forbidden,
        ErrorCode::InvalidUser,
        ErrorCode::NoRegistryKey,
        ErrorCode::KeyChangeRefused,
        // issue 18: use limits and onward-transfer consent
        ErrorCode::ConsentRequired,
        // issue 18: retention
        ErrorCode::ContentDeleted,
    ];

    /// The stable wire name, such as `key-revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::TooLarge => "too-large",
            ErrorCode::MalformedCiphertext => "malformed-ciphertext",
            ErrorCode::NotForThisNode => "not-for-this-node",
            ErrorCode::MalformedEnvelope => "malformed-envelope",
            ErrorCode::UnknownPayloadType => "unknown-payload-type",
            ErrorCode::MalformedMessage => "malformed-message",
            ErrorCode::UnsupportedVersion => "unsupported-version",
            ErrorCode::NotCanonical => "not-canonical",
            ErrorCode::PayloadTypeMismatch => "payload-type-mismatch",
            ErrorCode::WrongRecipient => "wrong-recipient",
            ErrorCode::UnknownSender => "unknown-sender",
            ErrorCode::UnknownKey => "unknown-key",
            ErrorCode::KeyRevoked => "key-revoked",
            ErrorCode::KeyNotValidAtTime => "key-not-valid-at-time",
            ErrorCode::SignatureInvalid => "signature-invalid",
            ErrorCode::DirectoryExpired => "directory-expired",
            ErrorCode::NoDirectory => "no-directory",
            ErrorCode::FromTheFuture => "from-the-future",
            ErrorCode::MessageExpired => "message-expired",
            ErrorCode::InvalidBody => "invalid-body",
            ErrorCode::OutOfOrder => "out-of-order",
            ErrorCode::DuplicateMessage => "duplicate-message",
            ErrorCode::ThreadConflict => "thread-conflict",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::NotFound => "not-found",
            ErrorCode::Internal => "internal",
            ErrorCode::InvalidDirectory => "invalid-directory",
            ErrorCode::InvalidReceipt => "invalid-receipt",
            ErrorCode::NotARecipient => "not-a-recipient",
            ErrorCode::SegmentTooLarge => "segment-too-large",
            ErrorCode::SegmentMismatch => "segment-mismatch",
            ErrorCode::UploadInProgress => "upload-in-progress",
            ErrorCode::PackageIncomplete => "package-incomplete",
            ErrorCode::UnknownPackage => "unknown-package",
            ErrorCode::NoSuchSegment => "no-such-segment",
            ErrorCode::InsufficientStorage => "insufficient-storage",
            ErrorCode::UnknownRequest => "unknown-request",
            ErrorCode::NotDecryptable => "not-decryptable",
            ErrorCode::UploadUnauthorized => "upload-unauthorized",
            ErrorCode::RecordTampered => "record-tampered",
            ErrorCode::CustodyUnavailable => "custody-unavailable",
            ErrorCode::CheckpointRefused => "checkpoint-refused",
            ErrorCode::MalformedWitnessRequest => "malformed-witness-request",
            ErrorCode::InvalidDraft => "invalid-draft",
            ErrorCode::NotThisNodesState => "not-this-nodes-state",
            ErrorCode::LegalBasisNotApplicable => "legal-basis-not-applicable",
            ErrorCode::NotInDirectory => "not-in-directory",
            ErrorCode::NoEncryptionKey => "no-encryption-key",
            ErrorCode::InvalidEvidenceInput => "invalid-evidence-input",
            ErrorCode::InvalidEvidencePackage => "invalid-evidence-package",
            ErrorCode::CannotDecrypt => "cannot-decrypt",
            ErrorCode::BadQuery => "bad-query",
            ErrorCode::ActionNotAllowed => "action-not-allowed",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::InvalidUser => "invalid-user",
            ErrorCode::NoRegistryKey => "no-registry-key",
            ErrorCode::KeyChangeRefused => "key-change-refused",
            ErrorCode::ConsentRequired => "consent-required",
            ErrorCode::ContentDeleted => "content-deleted",
        }
    }

    /// The HTTP status a node answers with when it returns this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::TooLarge | ErrorCode::SegmentTooLarge => 413,
            ErrorCode::MalformedCiphertext
            | ErrorCode::NotForThisNode
            | ErrorCode::MalformedEnvelope
            | ErrorCode::UnknownPayloadType
            | ErrorCode::MalformedMessage
            | ErrorCode::UnsupportedVersion
            | ErrorCode::NotCanonical
            | ErrorCode::PayloadTypeMismatch
            | ErrorCode::WrongRecipient
            | ErrorCode::FromTheFuture
            | ErrorCode::MessageExpired
            | ErrorCode::NotARecipient => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::UnknownSender
            | ErrorCode::UnknownKey
            | ErrorCode::KeyRevoked
            | ErrorCode::KeyNotValidAtTime
            | ErrorCode::SignatureInvalid => 403,
            ErrorCode::NotFound | ErrorCode::UnknownPackage | ErrorCode::NoSuchSegment => 404,
            ErrorCode::OutOfOrder
            | ErrorCode::DuplicateMessage
            | ErrorCode::ThreadConflict
            | ErrorCode::UploadInProgress
            | ErrorCode::PackageIncomplete => 409,
            ErrorCode::InvalidBody | ErrorCode::InvalidDirectory | ErrorCode::SegmentMismatch => {
                422
            }
            ErrorCode::Internal | ErrorCode::RecordTampered => 500,
            ErrorCode::InvalidReceipt => 502,
            ErrorCode::DirectoryExpired
            | ErrorCode::NoDirectory
            | ErrorCode::CustodyUnavailable => 503,
            ErrorCode::InsufficientStorage => 507,
            ErrorCode::UnknownRequest | ErrorCode::NotDecryptable => 422,
            ErrorCode::UploadUnauthorized | ErrorCode::CheckpointRefused => 403,
            ErrorCode::MalformedWitnessRequest => 400,
            ErrorCode::InvalidDraft
            | ErrorCode::NotThisNodesState
            | ErrorCode::LegalBasisNotApplicable
            | ErrorCode::NotInDirectory
            | ErrorCode::NoEncryptionKey
            | ErrorCode::InvalidEvidenceInput
            | ErrorCode::InvalidEvidencePackage
            | ErrorCode::CannotDecrypt => 422,
            ErrorCode::BadQuery => 400,
            ErrorCode::ActionNotAllowed => 409,
            ErrorCode::Forbidden => 403,
            ErrorCode::InvalidUser => 422,
            ErrorCode::NoRegistryKey => 503,
            ErrorCode::KeyChangeRefused => 409,
            ErrorCode::ConsentRequired => 409,
            ErrorCode::ContentDeleted => 410,
        }
    }

    /// What the code means, in a sentence, for the documentation table.
    pub fn meaning(self) -> &'static str {
        match self {
            ErrorCode::TooLarge => "The ciphertext is longer than the receiving node accepts.",
            ErrorCode::MalformedCiphertext => {
                "The body is not an intact age message: bad header, or altered or truncated data."
            }
            ErrorCode::NotForThisNode => {
                "The ciphertext is not encrypted to any encryption key of the receiving node."
            }
            ErrorCode::MalformedEnvelope => {
                "The decrypted bytes are not a DSSE envelope with exactly one well-formed signature."
            }
            ErrorCode::UnknownPayloadType => {
                "The envelope's payload type names no message kind of this protocol."
            }
            ErrorCode::MalformedMessage => {
                "The payload is not a message: not a JSON object, a field missing, unknown or of the wrong form, or sender equal to receiver."
            }
            ErrorCode::UnsupportedVersion => {
                "The message or its payload type carries a protocol version the node does not read."
            }
            ErrorCode::NotCanonical => {
                "The payload is not the RFC 8785 canonical form of the message it encodes."
            }
            ErrorCode::PayloadTypeMismatch => {
                "The envelope's payload type names another kind than the message's `kind` field."
            }
            ErrorCode::WrongRecipient => {
                "The message decrypts, but its `to` field names another State."
            }
            ErrorCode::UnknownSender => {
                "The directory has no entry for the State in the message's `from` field."
            }
            ErrorCode::UnknownKey => {
                "The signature's key id is not a signing key of the sending State in the directory."
            }
            ErrorCode::KeyRevoked => "The signing key is marked revoked in the directory.",
            ErrorCode::KeyNotValidAtTime => {
                "The signing key was not valid at the message's `created_at` (before `valid_from` or from `valid_until` on)."
            }
            ErrorCode::SignatureInvalid => "The signature does not verify over the envelope.",
            ErrorCode::DirectoryExpired => {
                "The receiving node's directory has expired, so it can verify nothing; retry later."
            }
            ErrorCode::NoDirectory => {
                "The receiving node has no verified directory yet; retry later."
            }
            ErrorCode::FromTheFuture => {
                "`created_at` is more than 5 minutes ahead of the receiving node's clock."
            }
            ErrorCode::MessageExpired => "`created_at` is more than 8 days in the past.",
            ErrorCode::InvalidBody => {
                "The body does not fit the message kind: unknown field, invalid draft, wrong States, or a refusal that fails its checks."
            }
            ErrorCode::OutOfOrder => {
                "`prev` is not a message the receiver holds in that thread, the thread is unknown, or `prev` does not fit the kind."
            }
            ErrorCode::DuplicateMessage => {
                "The message was already accepted; the answer carries the original receipt."
            }
            ErrorCode::ThreadConflict => {
                "A `submit` names a thread id that already exists with other content."
            }
            ErrorCode::Unauthorized => "The client API call has no valid bearer token.",
            ErrorCode::NotFound => "The resource asked for does not exist.",
            ErrorCode::Internal => "The node failed for a reason of its own; retry later.",
            ErrorCode::InvalidDirectory => {
                "A directory document fails verification (not returned by the federation endpoint)."
            }
            ErrorCode::InvalidReceipt => {
                "A peer's receipt fails verification (reported by the sending node, never by the federation endpoint)."
            }
            ErrorCode::NotARecipient => {
                "An evidence manifest does not list the receiving node's State among its recipients."
            }
            ErrorCode::SegmentTooLarge => {
                "An evidence manifest declares a segment larger than the receiving node accepts."
            }
            ErrorCode::SegmentMismatch => {
                "An uploaded segment's size or SHA-256 differs from the signed manifest; nothing of it was kept."
            }
            ErrorCode::UploadInProgress => {
                "Another upload of the same segment, or the acceptance of the same package, is running; retry later."
            }
            ErrorCode::PackageIncomplete => {
                "Acceptance was asked for before every segment was verified; the answer lists the missing ones."
            }
            ErrorCode::UnknownPackage => {
                "No upload of this evidence package was started on the receiving node (post its manifest first)."
            }
            ErrorCode::NoSuchSegment => "The package's manifest has no segment of that index.",
            ErrorCode::InsufficientStorage => {
                "The receiving node lacks the disk space (above its configured reserve) for the message, package or segment."
            }
            ErrorCode::CustodyUnavailable => {
                "The receiving node cannot extend its custody ledger (its database is behind its signed checkpoint, or damaged) and accepts nothing until that is repaired; retry later."
            }
            ErrorCode::UnknownRequest => {
                "An evidence manifest's `request` is not a request the receiving node sent to the manifest's sender."
            }
            ErrorCode::NotDecryptable => {
                "An uploaded segment does not decrypt with any key of the receiving node, although it is a listed recipient; nothing of it was kept."
            }
            ErrorCode::UploadUnauthorized => {
                "An evidence upload call lacks a valid `custos-upload-auth` header signed by the package's sender for this package and receiver."
            }
            ErrorCode::RecordTampered => {
                "A record in the node's own store does not match what was signed and logged (edited, removed, moved or inserted); it is not shown (client API only)."
            }
            ErrorCode::CheckpointRefused => {
                "A checkpoint offered for witnessing does not parse, names no Custos ledger (or the witness's own), or is not signed by a current key of its State."
            }
            ErrorCode::MalformedWitnessRequest => {
                "A witnessing request is not the JSON object `{old_size, proof, note}`."
            }
            ErrorCode::InvalidDraft => {
                "A request draft does not validate; the message lists every problem (client API only)."
            }
            ErrorCode::NotThisNodesState => {
                "A draft names another requesting State than the one this node speaks for (client API only)."
            }
            ErrorCode::LegalBasisNotApplicable => {
                "A draft cites the Convention as legal basis, but the node's treaty registry says it is not in force between the two States on the sending date; the message gives every reason. Cite another basis instead (client API only)."
            }
            ErrorCode::NotInDirectory => {
                "The State named as a recipient, or as the origin of a checkpoint offered for witnessing, has no entry in the directory."
            }
            ErrorCode::NoEncryptionKey => {
                "The recipient State lists no current encryption key in the directory (client API only)."
            }
            ErrorCode::InvalidEvidenceInput => {
                "A file or folder given for sealing cannot go into an evidence package (client API only)."
            }
            ErrorCode::InvalidEvidencePackage => {
                "An evidence package folder is missing, incomplete or malformed, or an output folder cannot be used (client API only)."
            }
            ErrorCode::CannotDecrypt => {
                "No key of this node decrypts the evidence package asked for (client API only)."
            }
            ErrorCode::BadQuery => {
                "A query parameter does not parse (an unknown request kind, a malformed State code); the message names it (client API only)."
            }
            ErrorCode::ActionNotAllowed => {
                "The case does not allow this action now (its state, the side acting, a missing consultation or the action's contents); the message gives the case's refusal code, the state and the actions allowed instead."
            }
            ErrorCode::Forbidden => {
                "None of the caller's roles (or its token's scopes) allows this operation; the message names the operation and the roles held, and the refusal is recorded (client API only)."
            }
            ErrorCode::InvalidUser => {
                "A user, role, password or token cannot be accepted as given (a name taken or malformed, a password too short, an unknown role, a token's scopes wider than its user's roles); the message says which (client API only)."
            }
            ErrorCode::NoRegistryKey => {
                "The node's configuration names no registry key (`directory.registry_key` in custos.toml), so it can verify no directory; the operator sets one (client API only)."
            }
            ErrorCode::KeyChangeRefused => {
                "The node's keys cannot be changed as asked: the current signing key cannot be revoked (rotate first), or the key named is not in the history or is already revoked (client API only)."
            }
            ErrorCode::ConsentRequired => {
                "What another State provided is to be used beyond its case (in another case, sealed or sent to a third State) without that State's consent recorded in the case; the message names the package, the providing State, the case and the use (client API only)."
            }
            ErrorCode::ContentDeleted => {
                "The case's content was deleted when its retention ended; its metadata, history and ledger entries stay. The message names the deletion (when, by whom, its ledger entry)."
            }
        }
    }

    /// The error-code table of the format documents, in Markdown.
    pub fn markdown_table() -> String {
        let mut out = String::from("| Code | HTTP | Meaning |\n|---|---|---|\n");
        for code in Self::ALL {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                code.as_str(),
                code.http_status(),
                code.meaning()
            ));
        }
        out
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownErrorCode(s.to_owned()))
    }
}

/// A text that is not one of the [`ErrorCode`] wire names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Custos protocol error code")]
pub struct UnknownErrorCode(pub String);

/// Why a text is not a valid protocol identifier or timestamp.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TextFormError {
    #[error(
        "{0:?} is not a timestamp of the form YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC, six fraction digits)"
    )]
    Timestamp(String),
    #[error("{0:?} is not a message id (\"sha256:\" followed by 64 lower-case hex digits)")]
    MessageId(String),
    #[error("{0:?} is not a thread id (\"thr-\" followed by a lower-case hyphenated UUID)")]
    ThreadId(String),
}

/// Everything that can go wrong in this crate, one variant per domain failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("message is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },

    #[error("ciphertext is not an intact age message: {detail}")]
    MalformedCiphertext { detail: String },

    #[error("ciphertext is not encrypted to any encryption key of this node")]
    NotForThisNode,

    #[error("signed envelope is malformed: {detail}")]
    MalformedEnvelope { detail: String },

    #[error("payload type {payload_type:?} names no message kind of this protocol")]
    UnknownPayloadType { payload_type: String },

    #[error("message is malformed: {detail}")]
    MalformedMessage { detail: String },

    #[error("{what} has protocol version {found}; this node reads version 1")]
    UnsupportedVersion { what: String, found: String },

    #[error("payload is not in RFC 8785 canonical form: {detail}")]
    NotCanonical { detail: String },

    #[error("envelope payload type {payload_type:?} does not match the message kind `{kind}`")]
    PayloadTypeMismatch {
        payload_type: String,
        kind: MessageKind,
    },

    #[error("field `to` names {to}, but this node speaks for {me}")]
    WrongRecipient { to: StateCode, me: StateCode },

    #[error("the directory has no entry for the sending State {state} (field `from`)")]
    UnknownSender { state: StateCode },

    #[error("key id {keyid:?} is not a signing key of {state} in the directory{}", listed_elsewhere(.listed_for))]
    UnknownKey {
        state: StateCode,
        keyid: String,
        listed_for: Option<StateCode>,
    },

    #[error("signing key {keyid:?} of {state} is revoked (since {})", timestamp::format(*.revoked_at))]
    KeyRevoked {
        state: StateCode,
        keyid: String,
        revoked_at: OffsetDateTime,
    },

    #[error(
        "signing key {keyid:?} of {state} is not valid at {}: it is valid from {}{}",
        timestamp::format(*.at),
        timestamp::format(*.valid_from),
        until_text(.valid_until)
    )]
    KeyNotValidAtTime {
        state: StateCode,
        keyid: String,
        at: OffsetDateTime,
        valid_from: OffsetDateTime,
        valid_until: Option<OffsetDateTime>,
    },

    #[error("signature by key {keyid:?} does not verify")]
    SignatureInvalid { keyid: String },

    #[error(
        "the directory expired at {}; it is now {}",
        timestamp::format(*.expires_at),
        timestamp::format(*.now)
    )]
    DirectoryExpired {
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    },

    #[error(
        "field `created_at` ({}) is more than 5 minutes ahead of this node's clock ({})",
        timestamp::format(*.created_at),
        timestamp::format(*.now)
    )]
    FromTheFuture {
        created_at: OffsetDateTime,
        now: OffsetDateTime,
    },

    #[error(
        "field `created_at` ({}) is more than 8 days before now ({})",
        timestamp::format(*.created_at),
        timestamp::format(*.now)
    )]
    MessageExpired {
        created_at: OffsetDateTime,
        now: OffsetDateTime,
    },

    #[error("body of the `{kind}` message is invalid: {problems}")]
    InvalidBody { kind: MessageKind, problems: String },

    #[error("field `prev` does not fit: {detail}")]
    OutOfOrder { detail: String },

    #[error("directory is invalid: {detail}")]
    InvalidDirectory { detail: String },

    #[error("receipt is invalid: {detail}")]
    InvalidReceipt { detail: String },

    #[error("cannot encode {what}: {detail}")]
    Encoding { what: String, detail: String },

    #[error("cannot encrypt the message: {detail}")]
    Encryption { detail: String },

    #[error("the evidence upload call is not authorised: {detail}")]
    UploadUnauthorized { detail: String },
}

fn listed_elsewhere(state: &Option<StateCode>) -> String {
    match state {
        Some(s) => format!(" (the directory lists it for {s})"),
        None => String::new(),
    }
}

fn until_text(until: &Option<OffsetDateTime>) -> String {
    match until {
        Some(t) => format!(" until {}", timestamp::format(*t)),
        None => " with no end".to_owned(),
    }
}

impl ProtocolError {
    /// The stable code this failure is reported with.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::TooLarge { .. } => ErrorCode::TooLarge,
            ProtocolError::MalformedCiphertext { .. } => ErrorCode::MalformedCiphertext,
            ProtocolError::NotForThisNode => ErrorCode::NotForThisNode,
            ProtocolError::MalformedEnvelope { .. } => ErrorCode::MalformedEnvelope,
            ProtocolError::UnknownPayloadType { .. } => ErrorCode::UnknownPayloadType,
            ProtocolError::MalformedMessage { .. } => ErrorCode::MalformedMessage,
            ProtocolError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            ProtocolError::NotCanonical { .. } => ErrorCode::NotCanonical,
            ProtocolError::PayloadTypeMismatch { .. } => ErrorCode::PayloadTypeMismatch,
            ProtocolError::WrongRecipient { .. } => ErrorCode::WrongRecipient,
            ProtocolError::UnknownSender { .. } => ErrorCode::UnknownSender,
            ProtocolError::UnknownKey { .. } => ErrorCode::UnknownKey,
            ProtocolError::KeyRevoked { .. } => ErrorCode::KeyRevoked,
            ProtocolError::KeyNotValidAtTime { .. } => ErrorCode::KeyNotValidAtTime,
            ProtocolError::SignatureInvalid { .. } => ErrorCode::SignatureInvalid,
            ProtocolError::DirectoryExpired { .. } => ErrorCode::DirectoryExpired,
            ProtocolError::FromTheFuture { .. } => ErrorCode::FromTheFuture,
            ProtocolError::MessageExpired { .. } => ErrorCode::MessageExpired,
            ProtocolError::InvalidBody { .. } => ErrorCode::InvalidBody,
            ProtocolError::OutOfOrder { .. } => ErrorCode::OutOfOrder,
            ProtocolError::InvalidDirectory { .. } => ErrorCode::InvalidDirectory,
            ProtocolError::InvalidReceipt { .. } => ErrorCode::InvalidReceipt,
            ProtocolError::Encoding { .. } | ProtocolError::Encryption { .. } => {
                ErrorCode::Internal
            }
            ProtocolError::UploadUnauthorized { .. } => ErrorCode::UploadUnauthorized,
        }
    }

    /// The JSON error answer for this failure.
    pub fn to_response(&self) -> ErrorResponse {
        ErrorResponse::new(self.code(), self.to_string())
    }
}

/// The body of an error answer:
/// `{"error": {"code": "...", "message": "..."}}`, with `"receipt"` beside
/// `"error"` when a duplicate message is answered with its original receipt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
    /// The original receipt envelope (DSSE JSON object), for `duplicate-message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<serde_json::Value>,
}

/// The `error` member of an [`ErrorResponse`]. The code is kept as text so
/// that a node can read answers from peers that know codes it does not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

impl ErrorResponse {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.as_str().to_owned(),
                message: message.into(),
            },
            receipt: None,
        }
    }

    /// The code, if it is one this crate knows.
    pub fn code(&self) -> Option<ErrorCode> {
        self.error.code.parse().ok()
    }
}
