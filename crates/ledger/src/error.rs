//! The one error type of the ledger crate. Each variant names a failure of the
//! custody ledger's domain — a proof that does not verify, a note or
//! checkpoint that does not parse, a signature from a known key that fails, a
//! store that returned the wrong hashes — with a message that names the field
//! and the problem. Nothing a peer, a file or a store hands this crate panics;
//! it ends up here.

use crate::Hash;

/// Everything that can go wrong while hashing, proving, verifying, signing or
/// parsing ledger data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The hash store could not deliver the stored hashes asked for (the
    /// reason comes from the store, converted at its boundary).
    #[error("stored hashes could not be read: {reason}")]
    HashRead {
        /// What the store reported.
        reason: String,
    },

    /// A hash reader broke its contract: it returned a different number of
    /// hashes than it was asked for.
    #[error("hash reader returned {returned} hashes for {requested} requested indexes")]
    HashReaderContract {
        /// Number of indexes requested.
        requested: usize,
        /// Number of hashes returned.
        returned: usize,
    },

    /// A leaf index or a pair of tree sizes lies outside what the operation
    /// allows (index past the end of the tree, old size larger than new
    /// size, a tree larger than the supported maximum, a record appended out
    /// of order).
    #[error("{what}")]
    OutOfRange {
        /// Which numbers are wrong and why.
        what: String,
    },

    /// An inclusion proof does not lead from the leaf to the expected root.
    #[error("inclusion proof for leaf {index} in a tree of size {tree_size} does not verify")]
    InclusionProofInvalid {
        /// The leaf index the proof was for.
        index: u64,
        /// The tree size the proof was for.
        tree_size: u64,
    },

    /// A consistency proof does not show that the old tree is a prefix of the
    /// new one.
    #[error("consistency proof from size {old_size} to size {new_size} does not verify")]
    ConsistencyProofInvalid {
        /// Size of the older tree.
        old_size: u64,
        /// Size of the newer tree.
        new_size: u64,
    },

    /// Entries recomputed from the ledger do not give the expected tree.
    #[error(
        "recomputed ledger (size {found_size}, root {found_root}) differs from the expected \
         (size {expected_size}, root {expected_root})"
    )]
    RootMismatch {
        /// The size that was expected (for example a checkpoint's).
        expected_size: u64,
        /// The root that was expected.
        expected_root: Hash,
        /// The number of entries actually seen.
        found_size: u64,
        /// The root they actually give.
        found_root: Hash,
    },

    /// A hash's text form is malformed (bad base64 or hex, wrong length).
    #[error("hash in {field} is malformed: {problem}")]
    MalformedHash {
        /// Where the hash was read from.
        field: String,
        /// What is wrong with it.
        problem: String,
    },

    /// A signed note does not follow the C2SP signed-note format.
    #[error("signed note is malformed: {0}")]
    MalformedNote(String),

    /// A key name is empty or contains a space, a plus sign or a control
    /// character.
    #[error("key name {name:?} is invalid: {problem}")]
    InvalidKeyName {
        /// The offending name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },

    /// A verifier key (vkey) text does not parse or does not match itself.
    #[error("verifier key is malformed: {0}")]
    MalformedVerifierKey(String),

    /// Two verifier keys given together share both name and key id, so a
    /// signature line could not be attributed to one of them.
    #[error("two verifier keys share the name {name:?} and key id {key_id:08x}")]
    AmbiguousVerifierKey {
        /// The shared key name.
        name: String,
        /// The shared key id.
        key_id: u32,
    },

    /// A signature line from a known key (name and key id both match) does
    /// not verify. Per C2SP signed-note the whole note is then rejected.
    #[error("signature by {name} (key id {key_id:08x}) does not verify")]
    SignatureInvalid {
        /// Key name of the failing signature.
        name: String,
        /// Key id of the failing signature.
        key_id: u32,
    },

    /// No signature on the note comes from any of the trusted keys.
    #[error("no signature on the note is from a trusted key (found signatures by: {found})")]
    NoTrustedSignature {
        /// The key names that did sign the note, for the operator's benefit.
        found: String,
    },

    /// A checkpoint body does not follow the C2SP tlog-checkpoint format.
    #[error("checkpoint is malformed: {0}")]
    MalformedCheckpoint(String),

    /// A cosignature line is malformed or does not belong to the witness key.
    #[error("cosignature is malformed: {0}")]
    MalformedCosignature(String),

    /// A witness was asked about a checkpoint for a log other than the one
    /// whose state it was given.
    #[error("checkpoint origin {found:?} differs from the witnessed origin {expected:?}")]
    OriginMismatch {
        /// The origin the witness holds state for.
        expected: String,
        /// The origin of the checkpoint presented.
        found: String,
    },

    /// Fork evidence does not show what it claims (a note not signed by the
    /// log, different origins, or a proof that in fact verifies).
    #[error("fork evidence does not stand: {0}")]
    EvidenceInvalid(String),

    /// A proof bundle's JSON is malformed or of an unknown version.
    #[error("proof bundle is malformed: {0}")]
    MalformedBundle(String),

    /// A proof bundle is well formed but its parts disagree (for example its
    /// tree size is not the size of its checkpoint).
    #[error("proof bundle does not hold together: {0}")]
    BundleMismatch(String),
}
