//! The pure core of a Custos node's custody ledger: an append-only Merkle log
//! whose history anyone can check.
//!
//! - [`hash`]: RFC 6962 leaf and node hashing over SHA-256.
//! - [`tree`]: the stored-hash layout (that of Go's `sumdb/tlog`), the hashes
//!   to store per appended record, and roots read from stored hashes through
//!   a [`HashReader`].
//! - [`proof`]: inclusion and consistency proofs in RFC 9162 order, produced
//!   from `O(log n)` stored hashes and verified without trusting the prover.
//! - [`memory`]: an in-memory log and a streaming root builder for verifying
//!   a whole ledger in one pass.
//! - [`note`], [`checkpoint`], [`cosignature`]: C2SP signed notes,
//!   tlog-checkpoints signed with the node's Ed25519 key, and
//!   `cosignature/v1` witness cosignatures.
//! - [`witness`]: the witness's cosign-or-report-fork decision.
//! - [`bundle`]: the offline-verifiable proof bundle.
//!
//! The crate performs no I/O and reads no clock: stored hashes come through a
//! [`HashReader`] the caller implements, times are passed in. The byte formats
//! are specified in `docs/formats/ledger.md`.

pub mod bundle;
pub mod checkpoint;
pub mod cosignature;
mod error;
pub mod hash;
pub mod memory;
pub mod note;
pub mod proof;
pub mod tree;
pub mod witness;

pub use bundle::{BUNDLE_VERSION, ProofBundle};
pub use checkpoint::{
    Checkpoint, OpenedCheckpoint, open_checkpoint, open_checkpoint_detailed,
    open_checkpoint_signed_by, peek_checkpoint, sign_checkpoint,
};
pub use cosignature::{cosign, cosigned_message, verify_cosignature};
pub use error::LedgerError;
pub use hash::{EMPTY_ROOT, HASH_SIZE, Hash, leaf_hash, node_hash};
pub use memory::{MemoryLog, RootBuilder, root_of_entries, verify_all};
pub use note::{
    KeyType, Note, NoteSignature, OpenedNote, VerifiedSignature, VerifierKey, add_signature,
    key_id, open_note, sign_note,
};
pub use proof::{
    prove_consistency, prove_inclusion, root_from_inclusion_proof, verify_consistency,
    verify_inclusion,
};
pub use tree::{
    HashReader, MAX_TREE_SIZE, split_stored_hash_index, stored_hash_count, stored_hash_index,
    stored_hashes_for_leaf_hash, stored_hashes_for_record, tree_hash,
};
pub use witness::{
    AddCheckpoint, ForkEvidence, ForkKind, Witness, WitnessDecision, WitnessedCheckpoint,
};
