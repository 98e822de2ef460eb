//! Whatever a peer or a file hands the parsers — random text, or valid
//! notes, checkpoints, keys and bundles with random damage — they return a
//! typed error or a value, never a panic; and damaged signed input never
//! verifies.

// Test code: a panic is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod common;

use common::{entries, key};
use custos_ledger::{
    Checkpoint, Hash, MemoryLog, Note, ProofBundle, VerifierKey, open_checkpoint, open_note,
    sign_checkpoint, verify_consistency, verify_inclusion,
};
use proptest::prelude::*;

fn signed_note() -> (String, VerifierKey) {
    let log = MemoryLog::from_entries(entries(5)).unwrap();
    let cp = Checkpoint::new("log.example", 5, log.root()).unwrap();
    let k = key(4);
    (
        sign_checkpoint(&cp, "log.example", &k).unwrap(),
        VerifierKey::ed25519("log.example", &k.verifying_key()).unwrap(),
    )
}

/// Replaces `len` bytes at `at` with `with`, keeping the result UTF-8 by
/// falling back to a lossy conversion.
fn damage(text: &str, at: usize, with: &[u8]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let at = at % bytes.len().max(1);
    let end = (at + with.len()).min(bytes.len());
    bytes.splice(at..end, with.iter().copied());
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,300}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Note::parse(&text);
        let _ = Checkpoint::parse(&text);
        let _ = VerifierKey::parse(&text);
        let _ = ProofBundle::from_json(&text);
        let _ = ProofBundle::from_slice(&bytes);
        let _ = text.parse::<Hash>();
    }

    #[test]
    fn damaged_notes_never_verify(at in any::<usize>(), with in proptest::collection::vec(any::<u8>(), 1..4)) {
        let (note, vkey) = signed_note();
        let damaged = damage(&note, at, &with);
        if damaged != note {
            // Broken syntax, a broken signature, or a changed key name that
            // makes the line an unknown key's: in every case nothing trusted
            // is left.
            prop_assert!(open_note(&damaged, std::slice::from_ref(&vkey)).is_err());
            prop_assert!(open_checkpoint(&damaged, std::slice::from_ref(&vkey)).is_err());
        }
    }

    #[test]
    fn arbitrary_proofs_never_panic(
        index in any::<u64>(),
        size in any::<u64>(),
        old in any::<u64>(),
        proof in proptest::collection::vec(any::<[u8; 32]>(), 0..70),
    ) {
        let proof: Vec<Hash> = proof.into_iter().map(Hash).collect();
        let h = Hash([7; 32]);
        let _ = verify_inclusion(&h, index, size, &proof, &h);
        let _ = verify_consistency(old, size, &h, &h, &proof);
        let _ = verify_consistency(old.min(size), size, &h, &h, &proof);
    }
}
