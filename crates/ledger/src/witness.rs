//! The witness's decision: given the latest checkpoint it holds for a log and
//! a new signed checkpoint with a consistency proof from the size it holds
//! (the request of C2SP tlog-witness `add-checkpoint`), cosign, report a
//! fork with evidence, or turn the request away.
//!
//! The state kept per log ([`WitnessedCheckpoint`]) and the fork evidence
//! ([`ForkEvidence`]) are plain serialisable values: the node stores them,
//! this crate only decides. Time is passed in.

use custos_seal::SigningKey;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, open_checkpoint_signed_by};
use crate::cosignature;
use crate::hash::Hash;
use crate::note::VerifierKey;
use crate::proof::verify_consistency;
use crate::{EMPTY_ROOT, LedgerError};

/// Version of the [`ForkEvidence`] layout.
pub const FORK_EVIDENCE_VERSION: u32 = 1;

/// What a witness remembers about one log: the latest checkpoint it
/// cosigned, with the log-signed note it came in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessedCheckpoint {
    /// The log's origin line.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash at that size.
    pub root: Hash,
    /// The signed note as the log sent it.
    pub note: String,
}

/// A request to cosign, as in tlog-witness `add-checkpoint`: the size the log
/// believes the witness holds, a consistency proof from that size, and the
/// new signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddCheckpoint {
    /// The size the proof starts from.
    pub old_size: u64,
    /// Consistency proof from `old_size` to the new checkpoint's size.
    pub proof: Vec<Hash>,
    /// The new checkpoint, signed by the log.
    pub note: String,
}

/// How two checkpoints of one log were found to disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForkKind {
    /// Two checkpoints of the same size with different roots, both signed by
    /// the log: conclusive on their own.
    SameSizeDifferentRoots,
    /// The consistency proof the log supplied from the earlier checkpoint to
    /// the later one does not verify. The log can only clear itself by
    /// producing a proof that does; if none exists, it has forked.
    ConsistencyProofFailed,
}

/// Evidence that a log showed two inconsistent views: both log-signed notes
/// and the proof it offered. Serialisable, to be kept and shown to others.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkEvidence {
    /// Layout version ([`FORK_EVIDENCE_VERSION`]).
    pub v: u32,
    /// What kind of disagreement this is.
    pub kind: ForkKind,
    /// The log's origin.
    pub origin: String,
    /// The checkpoint the witness held (signed note).
    pub earlier_note: String,
    /// The conflicting checkpoint (signed note).
    pub later_note: String,
    /// The consistency proof the log offered (empty for same-size forks).
    pub proof: Vec<Hash>,
}

impl ForkEvidence {
    /// Re-checks the evidence with the log's key: both notes must be signed
    /// by it, be for the same origin, and disagree as `kind` says.
    pub fn check(&self, log_key: &VerifierKey) -> Result<(), LedgerError> {
        let refuted = |why: String| LedgerError::EvidenceInvalid(why);
        if self.v != FORK_EVIDENCE_VERSION {
            return Err(refuted(format!("unknown evidence version {}", self.v)));
        }
        let earlier = open_checkpoint_signed_by(&self.earlier_note, log_key, &[])?.checkpoint;
        let later = open_checkpoint_signed_by(&self.later_note, log_key, &[])?.checkpoint;
        if earlier.origin != self.origin || later.origin != self.origin {
            return Err(refuted(format!(
                "the notes are for origins {:?} and {:?}, the evidence names {:?}",
                earlier.origin, later.origin, self.origin
            )));
        }
        match self.kind {
            ForkKind::SameSizeDifferentRoots => {
                if earlier.size != later.size || earlier.root == later.root {
                    return Err(refuted(
                        "the checkpoints are not of one size with two roots".into(),
                    ));
                }
            }
            ForkKind::ConsistencyProofFailed => {
                if earlier.size >= later.size {
                    return Err(refuted(
                        "the earlier checkpoint is not smaller than the later one".into(),
                    ));
                }
                if verify_consistency(
                    earlier.size,
                    later.size,
                    &earlier.root,
                    &later.root,
                    &self.proof,
                )
                .is_ok()
                {
                    return Err(refuted("the consistency proof verifies".into()));
                }
            }
        }
        Ok(())
    }
}

/// The witness's answer to an [`AddCheckpoint`] request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum WitnessDecision {
    /// The checkpoint is consistent with what the witness held: here is the
    /// cosignature line and the state to store for the log.
    Cosign {
        /// The signature line to append to the checkpoint note.
        cosignature: String,
        /// The witness's new state for this log.
        state: WitnessedCheckpoint,
    },
    /// The log contradicted itself; keep the evidence and cosign nothing
    /// more for this log until an operator has looked.
    Fork(ForkEvidence),
    /// The request's proof starts from a size the witness does not hold
    /// (tlog-witness answers 409 Conflict); the log should resend a proof
    /// from `witness_size`.
    Inconsistent {
        /// The size the witness holds for this log.
        witness_size: u64,
    },
    /// The checkpoint is smaller than the one the witness already holds.
    Stale {
        /// The size the witness holds for this log.
        witness_size: u64,
    },
}

/// A witness: a name and an Ed25519 key that makes `cosignature/v1`
/// cosignatures.
#[derive(Clone, Debug)]
pub struct Witness {
    name: String,
    key: SigningKey,
    verifier: VerifierKey,
}

impl Witness {
    /// A witness named `name` (a schema-less URL is recommended).
    pub fn new(name: &str, key: SigningKey) -> Result<Self, LedgerError> {
        let verifier = VerifierKey::cosignature_v1(name, &key.verifying_key())?;
        Ok(Self {
            name: name.to_owned(),
            key,
            verifier,
        })
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `cosignature/v1` verifier key that checks this witness's
    /// cosignatures.
    pub fn verifier_key(&self) -> &VerifierKey {
        &self.verifier
    }

    /// Decides on a request for log `log_key`, given the state held for that
    /// log (`None` if the witness has never seen it: the first checkpoint is
    /// trusted as is). `timestamp` (POSIX seconds) goes into the cosignature.
    ///
    /// Errors (as opposed to decisions) are requests that prove nothing: a
    /// note not signed by the log, a malformed checkpoint, another log's
    /// origin, or a bad first proof when there is no earlier checkpoint to
    /// hold against the log.
    pub fn add_checkpoint(
        &self,
        log_key: &VerifierKey,
        held: Option<&WitnessedCheckpoint>,
        request: &AddCheckpoint,
        timestamp: u64,
    ) -> Result<WitnessDecision, LedgerError> {
        let new = open_checkpoint_signed_by(&request.note, log_key, &[])?.checkpoint;
        if let Some(held) = held
            && held.origin != new.origin
        {
            return Err(LedgerError::OriginMismatch {
                expected: held.origin.clone(),
                found: new.origin,
            });
        }
        let (held_size, held_root) = held.map_or((0, EMPTY_ROOT), |h| (h.size, h.root));
        if new.size < held_size {
            return Ok(WitnessDecision::Stale {
                witness_size: held_size,
            });
        }
        if request.old_size != held_size {
            return Ok(WitnessDecision::Inconsistent {
                witness_size: held_size,
            });
        }
        let fork = |kind| {
            held.map(|h| {
                WitnessDecision::Fork(ForkEvidence {
                    v: FORK_EVIDENCE_VERSION,
                    kind,
                    origin: new.origin.clone(),
                    earlier_note: h.note.clone(),
                    later_note: request.note.clone(),
                    proof: request.proof.clone(),
                })
            })
        };
        if new.size == held_size {
            if new.root != held_root {
                return fork(ForkKind::SameSizeDifferentRoots).ok_or_else(|| {
                    LedgerError::MalformedCheckpoint(
                        "a checkpoint of size 0 must carry the empty-tree root".into(),
                    )
                });
            }
        } else if let Err(error) =
            verify_consistency(held_size, new.size, &held_root, &new.root, &request.proof)
        {
            return fork(ForkKind::ConsistencyProofFailed).ok_or(error);
        }
        self.cosign_checkpoint(&new, &request.note, timestamp)
    }

    fn cosign_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        note: &str,
        timestamp: u64,
    ) -> Result<WitnessDecision, LedgerError> {
        let cosignature =
            cosignature::cosign(&checkpoint.to_note_body(), &self.name, &self.key, timestamp)?;
        Ok(WitnessDecision::Cosign {
            cosignature,
            state: WitnessedCheckpoint {
                origin: checkpoint.origin.clone(),
                size: checkpoint.size,
                root: checkpoint.root,
                note: note.to_owned(),
            },
        })
    }
}
