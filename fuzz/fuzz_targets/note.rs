//! C2SP signed notes (`crates/ledger`): the form of every checkpoint a peer
//! sends. Mode 0 opens the text as a note against the fixed log and witness
//! keys, and parses its signature lines and the text as a verifier key;
//! mode 1 signs the text with the log key and opens it again, so that what
//! the signer accepts the verifier reads back.
#![no_main]

use custos_ledger::{Note, NoteSignature, VerifierKey, open_note, sign_note};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let w = custos_fuzz::world();
    let (mode, rest) = custos_fuzz::split(data);
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let trusted = [w.log_verifier.clone(), w.witness.verifier_key().clone()];
    if mode % 2 == 0 {
        let _ = open_note(text, &trusted);
        if let Ok(note) = Note::parse(text) {
            let again = Note::parse(&note.to_text()).expect("a parsed note re-reads");
            assert_eq!(again.text(), note.text());
        }
        for line in text.lines() {
            let _ = NoteSignature::parse_line(line);
        }
        if let Ok(key) = VerifierKey::parse(text) {
            let again = VerifierKey::parse(&key.to_text()).expect("a parsed key re-reads");
            assert_eq!(again, key);
        }
    } else if let Ok(signed) = sign_note(text, custos_fuzz::LOG_NAME, &w.log_key) {
        let opened = open_note(&signed, &trusted).expect("a signed note opens");
        assert_eq!(opened.text, text);
    }
});
