//! What can go wrong in a node's services, named in the node's own terms.
//!
//! Every failure says whose fault it is ([`NodeError::fault`]): this node's
//! own (its store, ledger, keys or configuration), a peer node's (what it
//! sent does not verify), or the caller's (an operator or client asked for
//! something invalid). The faces turn that into an answer: the HTTP layer
//! maps each variant to one stable code and status in `custos-http`'s
//! `error.rs`, and never answers a fault of our own with a 4xx.

use custos_ledger::LedgerError;
use custos_model::StateCode;
use custos_protocol::{ErrorCode, ProtocolError};
use custos_seal::SealError;
use custos_store::StoreError;

/// Whose fault a failure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// This node's own: its store, ledger, keys, configuration or a bug.
    /// Never blamed on whoever made the call.
    Ours,
    /// A peer node's: what it sent (a message, a checkpoint, a proof) does
    /// not verify or does not fit.
    Peer,
    /// The caller's: an operator or client asked for something that is not
    /// valid or does not exist.
    Caller,
}

/// A failure of a node service.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A key file is missing, unreadable, malformed or not private.
    #[error("key store {path}: {problem}")]
    Keys { path: String, problem: String },
    /// The node has no verified directory yet (`custos directory import`).
    #[error("this node has no verified directory; import one with `custos directory import`")]
    NoDirectory,
    /// The node's configuration names no registry key, so it can verify no directory.
    #[error("no registry key is configured (directory.registry_key in custos.toml)")]
    NoRegistryKey,
    /// A directory offered for import does not verify, is not newer than
    /// the one in force, drops a key, or has no entry for this node.
    #[error("the directory is refused: {0}")]
    DirectoryInvalid(ProtocolError),
    /// The directory this node stored earlier no longer verifies against
    /// its registry key: our store or configuration is at fault.
    #[error("the stored directory does not verify: {0}")]
    StoredDirectory(ProtocolError),
    /// The peer State is not in the directory.
    #[error("{0} has no entry in the directory")]
    NotInDirectory(StateCode),
    /// A draft does not validate; the text lists every problem.
    #[error("the draft is not valid:\n{0}")]
    InvalidDraft(String),
    /// A draft still holds the template's sample reference (the invented
    /// example), and sending it was not asked for.
    #[error(
        "the draft still holds the template's sample reference {0}: it is the invented example; nothing was sent"
    )]
    SampleDraft(String),
    /// A decision (what a case action is given: a decision draft or its
    /// message's body) does not validate against the decision catalogue;
    /// the report holds every problem with its code, field and article.
    /// Answered like an invalid request draft (`invalid-draft`, one line
    /// per problem).
    #[error("the draft is not valid:\n{}", issue_lines(.0))]
    InvalidDecision(custos_model::validate::Report),
    /// The draft is not this node's to send.
    #[error("{0}")]
    NotOurs(String),
    /// The draft cites the Convention as legal basis, and the treaty
    /// registry says it is not in force between the two States on the
    /// sending date: nothing is sent.
    #[error(transparent)]
    LegalBasis(#[from] custos_model::basis::ConventionDoesNotApply),
    /// A request or message that does not exist.
    #[error("no request or message {0:?}")]
    NotFound(String),
    /// A ledger entry asked for is not (yet) covered by a checkpoint.
    #[error("{}", no_such_entry(*.index, *.size))]
    NoSuchEntry { index: u64, size: Option<u64> },
    /// This node's own custody ledger could not be read, extended or proved.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerFailure),
    /// A peer's checkpoint was refused for witnessing.
    #[error("checkpoint refused: {0}")]
    CheckpointRefused(#[from] CheckpointRefusal),
    /// A custody proof a peer returned with its receipt does not verify.
    #[error("the custody proof from {from} does not verify: {problem}")]
    CustodyProofInvalid { from: StateCode, problem: String },
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
    /// A folder given for output (where a package is opened) cannot be
    /// used: it is not a folder, or it is not empty. Nothing was written.
    #[error("cannot open into {path}: {problem}; nothing was written")]
    OutputFolder { path: String, problem: String },
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
    /// A stored value of our own cannot be read back (such as a message id
    /// that does not parse).
    #[error("stored {what} is damaged: {problem}")]
    Corrupt { what: String, problem: String },
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
    /// The node's free disk space is below its reserve.
    #[error("storage is full: {0}")]
    StorageFull(String),
    /// Input from a peer does not verify or does not fit (or, for the
    /// codes that say so, this node could not encode or encrypt).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The node's store failed.
    #[error(transparent)]
    Store(StoreError),
    /// The case does not allow the action now: the error names the state,
    /// the case's refusal code and the actions the side may take instead.
    #[error(transparent)]
    ActionNotAllowed(#[from] custos_case::NotAllowed),
    /// None of the actor's roles allows the operation (`forbidden`, 403).
    #[error("{actor} may not {operation}: {reason}")]
    Forbidden {
        actor: String,
        operation: String,
        reason: String,
    },
    /// A sign-in or bearer that does not authenticate. The same answer for
    /// every cause (no such user, a wrong password or code, a disabled
    /// account), so that it tells an attacker nothing.
    #[error("the user name, password or second-factor code is not right")]
    SignInRefused,
    /// Too many failed sign-ins in a row: the account is locked for a time.
    #[error("the account is locked until {until} after failed sign-ins; try again then")]
    AccountLocked { until: String },
    /// A user, role, password or token that cannot be accepted as given.
    #[error("{0}")]
    InvalidUser(String),
    /// A change to the node's keys that cannot be made as asked (revoking
    /// the current signing key, or a key the history does not hold).
    #[error("the key change is refused: {0}")]
    KeyChangeRefused(String),
    // issue 18: use limits and onward-transfer consent
    /// What another State provided is to be used beyond the purposes it
    /// was provided for, and no consent of that State is recorded in the
    /// case it was provided in (`consent-required`).
    #[error(
        "{what} was provided by {provider} in case {case}; {use_for} needs its consent: ask it in that case (`custos case act {case} ask-consent`) and wait for grant-consent, or, for exculpatory material, give notice there first (ask-consent with \"exculpatory\": true)"
    )]
    ConsentRequired {
        /// The package id, or "the answer".
        what: String,
        provider: String,
        case: String,
        /// The use, such as "onward transfer to NL".
        use_for: String,
    },
    /// A statistics report asked for a period or threshold that cannot be
    /// given (a period ending before it starts, a threshold below the
    /// node's).
    #[error("the statistics asked for cannot be given: {0}")]
    BadStatisticsQuery(String),
    /// A browser or client upload of evidence was refused.
    #[error(transparent)]
    Upload(#[from] crate::app::evidence_upload::UploadError),
    // issue 18: retention
    /// The case's content was deleted when its retention ended (`gone`,
    /// 410): the error names the deletion.
    #[error(
        "the content of case {case} was deleted at {at} by {by} (ledger entry {entry}); its metadata and history stay"
    )]
    ContentDeleted {
        case: String,
        at: String,
        by: String,
        entry: String,
    },
}

impl From<StoreError> for NodeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::StorageFull(detail) => NodeError::StorageFull(detail),
            other => NodeError::Store(other),
        }
    }
}

impl NodeError {
    /// The stable protocol code this failure is answered with, in every
    /// face (client API, desk); the status is the code's
    /// [`ErrorCode::http_status`].
    pub fn code(&self) -> ErrorCode {
        match self {
            NodeError::Keys { .. }
            | NodeError::StoredDirectory(_)
            | NodeError::Ledger(_)
            | NodeError::LedgerTampered { .. }
            | NodeError::Io { .. }
            | NodeError::Internal(_)
            | NodeError::Corrupt { .. }
            | NodeError::Store(_) => ErrorCode::Internal,
            NodeError::NoDirectory => ErrorCode::NoDirectory,
            NodeError::NoRegistryKey => ErrorCode::NoRegistryKey,
            NodeError::KeyChangeRefused(_) => ErrorCode::KeyChangeRefused,
            NodeError::BadStatisticsQuery(_) => ErrorCode::BadQuery,
            NodeError::RecordTampered { .. } => ErrorCode::RecordTampered,
            NodeError::CustodyUnavailable(_) => ErrorCode::CustodyUnavailable,
            NodeError::StorageFull(_) => ErrorCode::InsufficientStorage,
            NodeError::DirectoryInvalid(_) => ErrorCode::InvalidDirectory,
            NodeError::NotInDirectory(_) => ErrorCode::NotInDirectory,
            NodeError::InvalidDraft(_)
            | NodeError::InvalidDecision(_)
            | NodeError::SampleDraft(_) => ErrorCode::InvalidDraft,
            NodeError::NotOurs(_) => ErrorCode::NotThisNodesState,
            NodeError::LegalBasis(_) => ErrorCode::LegalBasisNotApplicable,
            NodeError::NotFound(_) | NodeError::NoSuchEntry { .. } => ErrorCode::NotFound,
            NodeError::CheckpointRefused(_) => ErrorCode::CheckpointRefused,
            NodeError::CustodyProofInvalid { .. } => ErrorCode::InvalidReceipt,
            NodeError::EvidenceInput { .. } => ErrorCode::InvalidEvidenceInput,
            NodeError::EvidencePackage { .. } | NodeError::OutputFolder { .. } => {
                ErrorCode::InvalidEvidencePackage
            }
            NodeError::CannotDecrypt(..) => ErrorCode::CannotDecrypt,
            NodeError::NoEncryptionKey(_) => ErrorCode::NoEncryptionKey,
            NodeError::Protocol(p) => p.code(),
            NodeError::ActionNotAllowed(_) => ErrorCode::ActionNotAllowed,
            NodeError::Forbidden { .. } => ErrorCode::Forbidden,
            NodeError::SignInRefused | NodeError::AccountLocked { .. } => ErrorCode::Unauthorized,
            NodeError::InvalidUser(_) => ErrorCode::InvalidUser,
            NodeError::ConsentRequired { .. } => ErrorCode::ConsentRequired,
            NodeError::ContentDeleted { .. } => ErrorCode::ContentDeleted,
            NodeError::Upload(e) => {
                use crate::app::evidence_upload::UploadError as U;
                match e {
                    U::Scattered { .. } => ErrorCode::OutOfOrder,
                    U::PastEnd { .. } | U::TooLarge { .. } => ErrorCode::TooLarge,
                    U::BadName { .. } | U::Incomplete { .. } => ErrorCode::InvalidEvidenceInput,
                    U::NoSpace { .. } => ErrorCode::InsufficientStorage,
                }
            }
        }
    }

    /// [`NodeError::code`], except that a failure of this node's own is
    /// always `internal` whatever its code: its detail belongs in the log,
    /// not in an answer to whoever called.
    pub fn public_code(&self) -> ErrorCode {
        let code = self.code();
        if self.fault() == Fault::Ours && code.http_status() < 500 {
            ErrorCode::Internal
        } else {
            code
        }
    }

    /// Whose fault the failure is.
    pub fn fault(&self) -> Fault {
        match self {
            NodeError::Keys { .. }
            | NodeError::NoDirectory
            | NodeError::NoRegistryKey
            | NodeError::StoredDirectory(_)
            | NodeError::Ledger(_)
            | NodeError::LedgerTampered { .. }
            | NodeError::Io { .. }
            | NodeError::Internal(_)
            | NodeError::Corrupt { .. }
            | NodeError::RecordTampered { .. }
            | NodeError::CustodyUnavailable(_)
            | NodeError::StorageFull(_)
            | NodeError::Store(_) => Fault::Ours,
            NodeError::CheckpointRefused(_) | NodeError::CustodyProofInvalid { .. } => Fault::Peer,
            NodeError::Protocol(p) => match p {
                ProtocolError::Encoding { .. } | ProtocolError::Encryption { .. } => Fault::Ours,
                _ => Fault::Peer,
            },
            NodeError::DirectoryInvalid(_)
            | NodeError::NotInDirectory(_)
            | NodeError::InvalidDraft(_)
            | NodeError::InvalidDecision(_)
            | NodeError::SampleDraft(_)
            | NodeError::NotOurs(_)
            | NodeError::LegalBasis(_)
            | NodeError::NotFound(_)
            | NodeError::NoSuchEntry { .. }
            | NodeError::EvidenceInput { .. }
            | NodeError::EvidencePackage { .. }
            | NodeError::OutputFolder { .. }
            | NodeError::CannotDecrypt(..)
            | NodeError::NoEncryptionKey(_)
            | NodeError::ActionNotAllowed(_)
            | NodeError::Forbidden { .. }
            | NodeError::SignInRefused
            | NodeError::AccountLocked { .. }
            | NodeError::InvalidUser(_)
            | NodeError::KeyChangeRefused(_)
            | NodeError::ConsentRequired { .. }
            | NodeError::BadStatisticsQuery(_) => Fault::Caller,
            NodeError::ContentDeleted { .. } => Fault::Caller,
            NodeError::Upload(e) => match e {
                crate::app::evidence_upload::UploadError::NoSpace { .. } => Fault::Ours,
                _ => Fault::Caller,
            },
        }
    }
}

/// A report's problems, one line each.
fn issue_lines(report: &custos_model::validate::Report) -> String {
    let lines: Vec<String> = report.issues.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// A failure of this node's own custody ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerFailure {
    /// A computation over the stored tree failed.
    #[error(transparent)]
    Tree(LedgerError),
    /// An entry could not be put in canonical form.
    #[error("cannot encode a ledger entry: {0}")]
    Encode(SealError),
    /// The tree has more levels than a leaf index can address.
    #[error("the tree is too deep")]
    TooDeep,
    /// A computation asked for hashes again and again.
    #[error("a ledger computation kept asking for more hashes")]
    EndlessHashes,
    /// The reader of the stored entries stopped early.
    #[error("the ledger reader stopped before the end")]
    ReaderStopped,
    /// An entry below the checkpoint is not in the store.
    #[error("entry {0} is missing from the store")]
    EntryMissing(u64),
    /// This node's own signing key cannot make a verifier key or sign.
    #[error("this node's key cannot sign or verify checkpoints: {0}")]
    OwnKey(LedgerError),
    /// A checkpoint note this node stored does not parse.
    #[error("a stored checkpoint does not parse: {0}")]
    StoredNote(LedgerError),
    /// A fork's evidence cannot be encoded for keeping.
    #[error("cannot encode a fork's evidence: {0}")]
    ForkEvidence(String),
}

impl From<LedgerError> for LedgerFailure {
    fn from(e: LedgerError) -> Self {
        LedgerFailure::Tree(e)
    }
}

/// Why a peer's checkpoint is not cosigned.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointRefusal {
    /// The note does not parse as a checkpoint.
    #[error("the checkpoint does not parse: {0}")]
    Unreadable(LedgerError),
    /// The origin line names no Custos ledger.
    #[error("{0:?} is not the origin of a Custos node's ledger")]
    NotACustosLog(String),
    /// The log's origin cannot carry a verifier key.
    #[error("the origin {origin:?} cannot name a key: {cause}")]
    BadOrigin { origin: String, cause: LedgerError },
    /// A node asked to witness its own ledger.
    #[error("a node does not witness its own ledger")]
    OwnLedger,
    /// No current key of the log's State signed it.
    #[error("the checkpoint is not signed by a current key of {state}{}", cause_text(.cause))]
    NotSigned {
        state: StateCode,
        cause: Option<LedgerError>,
    },
}

fn cause_text(cause: &Option<LedgerError>) -> String {
    match cause {
        Some(e) => format!(": {e}"),
        None => " (it lists no usable key)".to_owned(),
    }
}

fn no_such_entry(index: u64, size: Option<u64>) -> String {
    match size {
        Some(size) => format!("entry {index} is not in the ledger (its size is {size})"),
        None => "the ledger has no checkpoint yet".to_owned(),
    }
}

fn why_not_decrypted(listed: bool) -> &'static str {
    if listed {
        "it is a listed recipient, but the segments are not encrypted to any of its keys"
    } else {
        "it is neither a recipient nor the sender"
    }
}
