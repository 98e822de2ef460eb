//! DSSE envelopes (`crates/seal`): the JSON form every signed object arrives
//! in. Parses the bytes and verifies them against a known key; then signs
//! the bytes as a payload with a fixed key and checks that the envelope reads
//! back and verifies (a parser that refuses what the signer wrote would lose
//! messages). Also the RFC 8785 canonical-form check run on payloads.
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
    let (payload_type, payload) = custos_fuzz::halves(data);
    let Ok(payload_type) = std::str::from_utf8(payload_type) else {
        return;
    };
    let signed = Envelope::sign(payload_type, payload, &w.fr.signing);
    let read = Envelope::from_json(&signed.to_json()).expect("a signed envelope reads back");
    read.verify_typed(payload_type, |kid| (kid == fr_id).then_some(fr))
        .expect("a signed envelope verifies");
    assert_eq!(read.payload, payload);
});
