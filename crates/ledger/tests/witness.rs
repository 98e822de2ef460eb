//! The witness decision on real logs: first sight, growth with a valid
//! consistency proof, repeats, stale and mismatched requests, and the two
//! kinds of fork, with evidence that survives a JSON round trip and is
//! re-checked against the log's key.

// Test code: a panic is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod common;

use common::{entries, key};
use custos_ledger::{
    AddCheckpoint, Checkpoint, ForkEvidence, ForkKind, LedgerError, MemoryLog, VerifierKey,
    Witness, WitnessDecision, WitnessedCheckpoint, open_checkpoint_signed_by, sign_checkpoint,
    verify_cosignature,
};
use custos_seal::SigningKey;

const ORIGIN: &str = "state-a.example/ledger";

struct Log {
    tree: MemoryLog,
    key: SigningKey,
}

impl Log {
    fn new(seed: u8, data: &[Vec<u8>]) -> Self {
        Self {
            tree: MemoryLog::from_entries(data).unwrap(),
            key: key(seed),
        }
    }

    fn vkey(&self) -> VerifierKey {
        VerifierKey::ed25519(ORIGIN, &self.key.verifying_key()).unwrap()
    }

    fn note(&self, size: u64) -> String {
        let cp = Checkpoint::new(ORIGIN, size, self.tree.root_at(size).unwrap()).unwrap();
        sign_checkpoint(&cp, ORIGIN, &self.key).unwrap()
    }

    fn request(&self, old: u64, new: u64) -> AddCheckpoint {
        AddCheckpoint {
            old_size: old,
            proof: self.tree.prove_consistency(old, new).unwrap(),
            note: self.note(new),
        }
    }
}

fn witness() -> Witness {
    Witness::new("witness.state-b.example", key(50)).unwrap()
}

fn cosigned(decision: WitnessDecision) -> (String, WitnessedCheckpoint) {
    match decision {
        WitnessDecision::Cosign { cosignature, state } => (cosignature, state),
        other => panic!("expected a cosignature, got {other:?}"),
    }
}

#[test]
fn a_growing_log_is_cosigned_at_every_step() {
    let data = entries(40);
    let log = Log::new(1, &data);
    let w = witness();
    // First sight: trusted on first use, from size 0 with an empty proof.
    let (line, state) = cosigned(
        w.add_checkpoint(&log.vkey(), None, &log.request(0, 10), 1000)
            .unwrap(),
    );
    assert_eq!(
        (state.size, state.root),
        (10, log.tree.root_at(10).unwrap())
    );
    let body = Checkpoint::new(ORIGIN, 10, state.root)
        .unwrap()
        .to_note_body();
    assert_eq!(
        verify_cosignature(&body, &line, w.verifier_key()).unwrap(),
        1000
    );
    // The cosigned note opens with the log key plus the witness key.
    let note = format!("{}{line}", state.note);
    let opened =
        open_checkpoint_signed_by(&note, &log.vkey(), std::slice::from_ref(w.verifier_key()))
            .unwrap();
    assert_eq!(opened.note.verified.len(), 2);

    // Growth with a proof from the held size.
    let mut held = state;
    for (size, time) in [(11, 1001), (16, 1002), (17, 1003), (40, 1004)] {
        let decision = w
            .add_checkpoint(
                &log.vkey(),
                Some(&held),
                &log.request(held.size, size),
                time,
            )
            .unwrap();
        let (_, next) = cosigned(decision);
        assert_eq!(next.size, size);
        held = next;
    }
    // The same checkpoint again is cosigned again (fresh timestamp).
    let (line, same) = cosigned(
        w.add_checkpoint(&log.vkey(), Some(&held), &log.request(40, 40), 2000)
            .unwrap(),
    );
    assert_eq!(same, held);
    let body = Checkpoint::new(ORIGIN, 40, held.root)
        .unwrap()
        .to_note_body();
    assert_eq!(
        verify_cosignature(&body, &line, w.verifier_key()).unwrap(),
        2000
    );
}

#[test]
fn stale_and_mismatched_requests_are_turned_away() {
    let log = Log::new(1, &entries(30));
    let w = witness();
    let (_, held) = cosigned(
        w.add_checkpoint(&log.vkey(), None, &log.request(0, 20), 1)
            .unwrap(),
    );
    // Smaller than what the witness holds.
    assert_eq!(
        w.add_checkpoint(&log.vkey(), Some(&held), &log.request(10, 15), 2)
            .unwrap(),
        WitnessDecision::Stale { witness_size: 20 }
    );
    // A proof from a size the witness does not hold.
    assert_eq!(
        w.add_checkpoint(&log.vkey(), Some(&held), &log.request(18, 25), 2)
            .unwrap(),
        WitnessDecision::Inconsistent { witness_size: 20 }
    );
    assert_eq!(
        w.add_checkpoint(&log.vkey(), None, &log.request(5, 25), 2)
            .unwrap(),
        WitnessDecision::Inconsistent { witness_size: 0 }
    );
}

#[test]
fn requests_that_prove_nothing_are_errors() {
    let log = Log::new(1, &entries(30));
    let w = witness();
    let (_, held) = cosigned(
        w.add_checkpoint(&log.vkey(), None, &log.request(0, 20), 1)
            .unwrap(),
    );
    // Not signed by the log.
    let impostor = Log::new(2, &entries(30));
    assert!(matches!(
        w.add_checkpoint(&log.vkey(), Some(&held), &impostor.request(20, 25), 2),
        Err(LedgerError::NoTrustedSignature { .. })
    ));
    // Another log's origin.
    let other_state = WitnessedCheckpoint {
        origin: "other.example".into(),
        ..held.clone()
    };
    assert!(matches!(
        w.add_checkpoint(&log.vkey(), Some(&other_state), &log.request(20, 25), 2),
        Err(LedgerError::OriginMismatch { .. })
    ));
    // A first checkpoint with a proof that cannot be right (there is nothing
    // earlier to hold against the log, so it is refused, not a fork).
    let mut bad_first = log.request(0, 20);
    bad_first.proof = vec![log.tree.root()];
    assert!(matches!(
        w.add_checkpoint(&log.vkey(), None, &bad_first, 2),
        Err(LedgerError::ConsistencyProofInvalid { .. })
    ));
    // A size-0 checkpoint must carry the empty-tree root.
    let cp = Checkpoint::new(ORIGIN, 0, log.tree.root()).unwrap();
    let zero = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        note: sign_checkpoint(&cp, ORIGIN, &log.key).unwrap(),
    };
    assert!(matches!(
        w.add_checkpoint(&log.vkey(), None, &zero, 2),
        Err(LedgerError::MalformedCheckpoint(_))
    ));
}

#[test]
fn same_size_with_another_root_is_a_fork() {
    let data = entries(30);
    let log = Log::new(1, &data);
    // The same key signs a second history that differs in entry 12.
    let mut rewritten = data.clone();
    rewritten[12] = b"rewritten".to_vec();
    let fork = Log {
        tree: MemoryLog::from_entries(&rewritten).unwrap(),
        key: key(1),
    };
    let w = witness();
    let (_, held) = cosigned(
        w.add_checkpoint(&log.vkey(), None, &log.request(0, 20), 1)
            .unwrap(),
    );
    let decision = w
        .add_checkpoint(
            &log.vkey(),
            Some(&held),
            &AddCheckpoint {
                old_size: 20,
                proof: vec![],
                note: fork.note(20),
            },
            2,
        )
        .unwrap();
    let WitnessDecision::Fork(evidence) = decision else {
        panic!("expected a fork, got {decision:?}");
    };
    assert_eq!(evidence.kind, ForkKind::SameSizeDifferentRoots);
    assert_eq!(evidence.earlier_note, held.note);
    assert_eq!(evidence.later_note, fork.note(20));
    evidence.check(&log.vkey()).unwrap();
    // The evidence is kept as JSON and still stands after the round trip.
    let json = serde_json::to_string(&evidence).unwrap();
    let back: ForkEvidence = serde_json::from_str(&json).unwrap();
    assert_eq!(back, evidence);
    back.check(&log.vkey()).unwrap();
    // It does not stand against another key, or with one note replaced.
    assert!(evidence.check(&Log::new(3, &data).vkey()).is_err());
    let honest = ForkEvidence {
        later_note: log.note(20),
        ..evidence.clone()
    };
    assert!(matches!(
        honest.check(&log.vkey()),
        Err(LedgerError::EvidenceInvalid(_))
    ));
}

#[test]
fn a_failing_consistency_proof_is_a_fork() {
    let data = entries(30);
    let log = Log::new(1, &data);
    let mut rewritten = data.clone();
    rewritten[3] = b"history changed".to_vec();
    let fork = Log {
        tree: MemoryLog::from_entries(&rewritten).unwrap(),
        key: key(1),
    };
    let w = witness();
    let (_, held) = cosigned(
        w.add_checkpoint(&log.vkey(), None, &log.request(0, 20), 1)
            .unwrap(),
    );
    // The rewritten log grows to 25 and offers its own (self-consistent) proof.
    let decision = w
        .add_checkpoint(&log.vkey(), Some(&held), &fork.request(20, 25), 2)
        .unwrap();
    let WitnessDecision::Fork(evidence) = decision else {
        panic!("expected a fork, got {decision:?}");
    };
    assert_eq!(evidence.kind, ForkKind::ConsistencyProofFailed);
    assert_eq!(evidence.proof, fork.tree.prove_consistency(20, 25).unwrap());
    evidence.check(&log.vkey()).unwrap();
    // With the honest log's proof the "evidence" collapses: there was no fork.
    let cleared = ForkEvidence {
        later_note: log.note(25),
        proof: log.tree.prove_consistency(20, 25).unwrap(),
        ..evidence.clone()
    };
    assert!(matches!(
        cleared.check(&log.vkey()),
        Err(LedgerError::EvidenceInvalid(_))
    ));
    // A garbled proof for an honest checkpoint is flagged too: the log must
    // then produce a proof that verifies to clear itself.
    let mut garbled = log.request(20, 25);
    garbled.proof[0].0[0] ^= 1;
    assert!(matches!(
        w.add_checkpoint(&log.vkey(), Some(&held), &garbled, 3)
            .unwrap(),
        WitnessDecision::Fork(ForkEvidence {
            kind: ForkKind::ConsistencyProofFailed,
            ..
        })
    ));
}

#[test]
fn witness_keys_are_cosignature_keys() {
    let w = witness();
    assert_eq!(w.name(), "witness.state-b.example");
    assert_eq!(
        w.verifier_key().key_type(),
        custos_ledger::KeyType::CosignatureV1
    );
    assert!(Witness::new("bad name", key(1)).is_err());
    let decision = WitnessDecision::Stale { witness_size: 4 };
    let json = serde_json::to_string(&decision).unwrap();
    assert_eq!(json, r#"{"decision":"stale","witness_size":4}"#);
}
