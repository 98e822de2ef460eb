//! C2SP checkpoints (`crates/ledger`): what a witness and `custos ledger
//! verify-bundle` do with a peer's signed checkpoint. Mode 0 opens the text
//! as a checkpoint signed by the fixed log key (witness key also trusted)
//! and reads it unverified; mode 1 signs the text as a checkpoint body with
//! the log key and opens it, so that the body parser sees fuzzer-made
//! bodies behind a valid signature.
#![no_main]

use custos_ledger::{Checkpoint, open_checkpoint_signed_by, peek_checkpoint, sign_note};
use libfuzzer_sys::fuzz_target;

fn round_trip(checkpoint: &Checkpoint) {
    let again = Checkpoint::parse(&checkpoint.to_note_body()).expect("a checkpoint re-reads");
    assert_eq!(&again, checkpoint);
}

fuzz_target!(|data: &[u8]| {
    let w = custos_fuzz::world();
    let (mode, rest) = custos_fuzz::split(data);
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let witnesses = [w.witness.verifier_key().clone()];
    if mode % 2 == 0 {
        if let Ok(opened) = open_checkpoint_signed_by(text, &w.log_verifier, &witnesses) {
            round_trip(&opened.checkpoint);
        }
        if let Ok(checkpoint) = peek_checkpoint(text) {
            round_trip(&checkpoint);
        }
        if let Ok(checkpoint) = Checkpoint::parse(text) {
            round_trip(&checkpoint);
        }
    } else if let Ok(note) = sign_note(text, custos_fuzz::LOG_NAME, &w.log_key)
        && let Ok(opened) = open_checkpoint_signed_by(&note, &w.log_verifier, &witnesses)
    {
        round_trip(&opened.checkpoint);
    }
});
