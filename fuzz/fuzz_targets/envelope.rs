//! DSSE envelopes (`crates/seal`): the JSON form every signed object arrives
//! in. Parses the bytes and verifies them against a known key, and checks
//! that what was read writes out and reads back the same. Also the RFC 8785
//! canonical-form check run on payloads. (That whatever the signer writes
//! reads back and verifies is a property test of `crates/seal`,
//! `any_signed_envelope_reads_back_and_verifies`: signing every input here
//! made this target some fifty times slower (under 1,000 executions a
//! second against 48,000) without reaching more of the parser.)
#![no_main]

use custos_seal::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let w = custos_fuzz::world();
    let fr = w.fr.signing.verifying_key();
    let fr_id = w.fr.signing.key_id();
    let _ = custos_seal::ensure_canonical(data);
    if let Ok(envelope) = Envelope::from_json(data) {
        let _ = envelope.verify(|kid| (kid == fr_id).then_some(fr));
        let _ = envelope.verify_typed("application/vnd.custos.test+json", |kid| {
            (kid == fr_id).then_some(fr)
        });
        // What was read writes out and reads back the same.
        let again = Envelope::from_json(&envelope.to_json()).expect("a parsed envelope re-reads");
        assert_eq!(again.payload, envelope.payload);
        assert_eq!(again.payload_type, envelope.payload_type);
    }
});
