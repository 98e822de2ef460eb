//! What can go wrong in a node's services, named in the node's own terms.

use custos_model::StateCode;
use custos_protocol::ProtocolError;
use custos_store::StoreError;

/// A failure of a node service.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A key file is missing, unreadable, malformed or not private.
    #[error("key store {path}: {problem}")]
    Keys { path: String, problem: String },
    /// The node has no verified directory yet (`custos directory import`).
    #[error("this node has no verified directory; import one with `custos directory import`")]
    NoDirectory,
    /// The stored or offered directory does not verify.
    #[error("directory: {0}")]
    Directory(String),
    /// The peer State is not in the directory.
    #[error("{0} has no entry in the directory")]
    NotInDirectory(StateCode),
    /// A draft does not validate; the text lists every problem.
    #[error("the draft is not valid:\n{0}")]
    InvalidDraft(String),
    /// The draft is not this node's to send.
    #[error("{0}")]
    NotOurs(String),
    /// A request or message that does not exist.
    #[error("no request or message {0:?}")]
    NotFound(String),
    /// The custody ledger could not be read, extended or proved.
    #[error("ledger: {0}")]
    Ledger(String),
    /// Verification found a ledger entry that was changed, removed or reordered.
    #[error("ledger entry {index} is bad: {problem}")]
    LedgerTampered { index: u64, problem: String },
    /// A file or folder given for sealing cannot go into an evidence package.
    #[error("cannot seal {path}: {problem}")]
    EvidenceInput { path: String, problem: String },
    /// An evidence package folder is missing, incomplete or malformed, or an
    /// output folder cannot be used.
    #[error("evidence package {path}: {problem}")]
    EvidencePackage { path: String, problem: String },
    /// Reading or writing a file failed.
    #[error("{path}: {problem}")]
    Io { path: String, problem: String },
    /// None of this node's keys decrypts the package (`.1`: the manifest
    /// lists this node's State as a recipient, so the sender did not encrypt
    /// to the keys it names).
    #[error("this node cannot decrypt package {0}: {reason}", reason = why_not_decrypted(*.1))]
    CannotDecrypt(String, bool),
    /// A recipient State has no usable encryption key in the directory.
    #[error("{0} has no current encryption key in the directory")]
    NoEncryptionKey(StateCode),
    /// A broken invariant inside the node (a bug), with what was seen.
    #[error("internal error: {0}")]
    Internal(String),
    /// A stored record does not match what was signed and logged: its
    /// content, a summary column or its ledger entry was changed, or a
    /// record was removed, inserted or moved. Our own store's fault.
    #[error("record {record} was tampered with: {problem}")]
    RecordTampered { record: String, problem: String },
    /// The custody ledger cannot be extended (the database is behind the
    /// latest checkpoint this node signed, or its ledger is damaged): the
    /// node accepts nothing until it is repaired.
    #[error("custody ledger unavailable: {0}")]
    CustodyUnavailable(String),
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn why_not_decrypted(listed: bool) -> &'static str {
    if listed {
        "it is a listed recipient, but the segments are not encrypted to any of its keys"
    } else {
        "it is neither a recipient nor the sender"
    }
}
