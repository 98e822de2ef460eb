//! Offline proof bundles (`crates/ledger`): what `custos ledger
//! verify-bundle` and a sender checking a receiver's custody proof do with
//! a bundle file. Mode 0 reads the bytes and verifies them with the fixed
//! log key (the witness key trusted, with and without a cosignature
//! required); mode 1 re-signs the bundle's checkpoint text with the log key
//! first, so that the inclusion-proof check behind the signature sees
//! fuzzer-made entries, indexes, sizes and audit paths.
#![no_main]

use custos_ledger::{Note, ProofBundle, sign_note};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let w = custos_fuzz::world();
    let (mode, rest) = custos_fuzz::split(data);
    let Ok(mut bundle) = ProofBundle::from_slice(rest) else {
        return;
    };
    let witnesses = [w.witness.verifier_key().clone()];
    if mode % 2 == 1 {
        let Ok(note) = Note::parse(&bundle.checkpoint) else {
            return;
        };
        let Ok(signed) = sign_note(note.text(), custos_fuzz::LOG_NAME, &w.log_key) else {
            return;
        };
        bundle.checkpoint = signed;
    }
    let _ = bundle.verify_with(&w.log_verifier, &witnesses, 0);
    let _ = bundle.verify_with(&w.log_verifier, &witnesses, 1);
    let _ = bundle.verify(&w.log_verifier.to_text());
    let again = ProofBundle::from_json(&bundle.to_json()).expect("a bundle re-reads");
    assert_eq!(again, bundle);
});
