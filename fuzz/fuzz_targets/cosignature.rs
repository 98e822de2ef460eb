//! Witness cosignatures (`crates/ledger`): what a node does with a peer's
//! `cosignature/v1` line, with an `add-checkpoint` request when it acts as
//! witness, and with fork evidence. Mode 0 verifies a cosignature line over
//! a body (the two halves of the input, split at a NUL); mode 1 cosigns the
//! body with the witness key and verifies the line; mode 2 reads the bytes
//! as an `add-checkpoint` request (JSON) and lets the witness decide, with
//! and without a held checkpoint; mode 3 signs the text as a checkpoint
//! with the log key and asks the witness to cosign it over the held one;
//! mode 4 reads the bytes as fork evidence and re-checks it.
#![no_main]

use std::sync::OnceLock;

use custos_ledger::{
    AddCheckpoint, Checkpoint, ForkEvidence, MemoryLog, WitnessedCheckpoint, cosign,
    sign_checkpoint, sign_note, verify_cosignature,
};
use libfuzzer_sys::fuzz_target;

/// A checkpoint of size 3 the witness holds for the fixed log: the first
/// three entries of the log the seeds prove from (`examples/seeds.rs`).
fn held() -> &'static WitnessedCheckpoint {
    static HELD: OnceLock<WitnessedCheckpoint> = OnceLock::new();
    HELD.get_or_init(|| {
        let w = custos_fuzz::world();
        let entries = (0..3).map(|i| format!("{{\"entry\":{i}}}"));
        let log = MemoryLog::from_entries(entries).expect("a small log");
        let checkpoint =
            Checkpoint::new(custos_fuzz::LOG_NAME, log.size(), log.root()).expect("a checkpoint");
        let note = sign_checkpoint(&checkpoint, custos_fuzz::LOG_NAME, &w.log_key)
            .expect("a signed checkpoint");
        WitnessedCheckpoint {
            origin: checkpoint.origin.clone(),
            size: checkpoint.size,
            root: checkpoint.root,
            note,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = custos_fuzz::world();
    let witness_key = w.witness.verifier_key();
    let (mode, rest) = custos_fuzz::split(data);
    let timestamp = 1_764_000_000;
    match mode % 5 {
        0 => {
            let (body, line) = custos_fuzz::halves(rest);
            if let (Ok(body), Ok(line)) = (std::str::from_utf8(body), std::str::from_utf8(line)) {
                let _ = verify_cosignature(body, line, witness_key);
            }
        }
        1 => {
            let Ok(body) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(line) = cosign(
                body,
                custos_fuzz::WITNESS_NAME,
                &custos_fuzz_witness_key(),
                timestamp,
            ) {
                let line = line.strip_suffix('\n').unwrap_or(&line);
                let at =
                    verify_cosignature(body, line, witness_key).expect("a cosignature verifies");
                assert_eq!(at, timestamp);
            }
        }
        2 => {
            if let Ok(request) = serde_json::from_slice::<AddCheckpoint>(rest) {
                let _ = w
                    .witness
                    .add_checkpoint(&w.log_verifier, None, &request, timestamp);
                let _ =
                    w.witness
                        .add_checkpoint(&w.log_verifier, Some(held()), &request, timestamp);
            }
        }
        3 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(note) = sign_note(text, custos_fuzz::LOG_NAME, &w.log_key) {
                let request = AddCheckpoint {
                    old_size: held().size,
                    proof: Vec::new(),
                    note,
                };
                let _ =
                    w.witness
                        .add_checkpoint(&w.log_verifier, Some(held()), &request, timestamp);
            }
        }
        _ => {
            if let Ok(evidence) = serde_json::from_slice::<ForkEvidence>(rest) {
                let _ = evidence.check(&w.log_verifier);
            }
        }
    }
});

/// The witness's signing key (the same seed as the fixed witness).
fn custos_fuzz_witness_key() -> custos_seal::SigningKey {
    custos_seal::SigningKey::from_seed(&[5; 32])
}
