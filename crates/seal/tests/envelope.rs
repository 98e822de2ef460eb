//! DSSE envelopes: the PAE example from the DSSE specification, the RFC 8032
//! Ed25519 test vector, envelopes signed by an independent implementation
//! (Python `cryptography`, see tests/data/README.md), every rejection path,
//! and properties: whatever is signed reads back and verifies, and any
//! single-bit flip of payload, type or signature fails.

// Test code: a panic is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod common;

use common::{RFC8032_T1_SEED, RFC8032_T1_SIG_EMPTY, data, hex, unhex, unhex32};
use custos_seal::{Envelope, EnvelopeSignature, SealError, SigningKey, VerifyingKey, pae};
use proptest::prelude::*;

const HELLO_TYPE: &str = "http://example.com/HelloWorld";
/// Ed25519 (RFC 8032 test 1 key) over `DSSEv1 29 http://example.com/HelloWorld 11 hello world`,
/// computed with Python `cryptography`.
const HELLO_SIG: &str = "e031d7dd99f8aa904abc48fb99a13c3bdbbd6e35c49cf2cb9f25d5509d8f5c94\
7c0d22dc2f7403a45bdf24e8f7a41fd23c7b25e898386e8c6c31be8abee60007";

fn t1() -> SigningKey {
    SigningKey::from_seed(&unhex32(RFC8032_T1_SEED))
}

/// A resolver that knows exactly the given keys, by their key ids.
fn knows(keys: &[VerifyingKey]) -> impl Fn(&str) -> Option<VerifyingKey> + '_ {
    move |id| keys.iter().find(|k| k.key_id() == id).copied()
}

#[test]
fn pae_matches_the_dsse_specification_example() {
    assert_eq!(
        pae(HELLO_TYPE, b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    );
}

#[test]
fn ed25519_primitive_matches_rfc8032_test_1() {
    let key = t1();
    let sig = key.sign(b"");
    assert_eq!(hex(&sig), RFC8032_T1_SIG_EMPTY);
    key.verifying_key().verify(b"", &sig).unwrap();
    assert!(key.verifying_key().verify(b"x", &sig).is_err());
}

#[test]
fn signing_the_dsse_example_gives_the_independent_signature() {
    let envelope = Envelope::sign(HELLO_TYPE, b"hello world", &t1());
    assert_eq!(envelope.signatures.len(), 1);
    assert_eq!(hex(&envelope.signatures[0].sig), HELLO_SIG);
    assert_eq!(envelope.signatures[0].keyid, t1().key_id());
    // Byte-for-byte the JSON that Python wrote (sorted keys, no spaces).
    let expected = std::fs::read(data("dsse/hello-world.envelope.json")).unwrap();
    assert_eq!(
        String::from_utf8(envelope.to_json()).unwrap(),
        String::from_utf8(expected).unwrap()
    );
}

#[test]
fn envelope_signed_elsewhere_verifies() {
    let bytes = std::fs::read(data("dsse/hello-world.envelope.json")).unwrap();
    let envelope = Envelope::from_json(&bytes).unwrap();
    let public = t1().verifying_key();
    let verified = envelope.verify_typed(HELLO_TYPE, knows(&[public])).unwrap();
    assert_eq!(verified.payload, b"hello world");
    assert_eq!(verified.payload_type, HELLO_TYPE);
    assert_eq!(verified.keyid, public.key_id());
}

#[test]
fn url_safe_unpadded_cosigned_envelope_verifies_with_the_known_key() {
    let bytes = std::fs::read(data("dsse/urlsafe-cosigned.envelope.json")).unwrap();
    let envelope = Envelope::from_json(&bytes).unwrap();
    assert_eq!(envelope.signatures.len(), 2);
    let public = t1().verifying_key();
    let verified = envelope.verify(knows(&[public])).unwrap();
    assert_eq!(verified.keyid, public.key_id());
    assert_eq!(
        String::from_utf8(verified.payload).unwrap(),
        "{\"n\":[1,2.5],\"s\":\"Krak\u{f3}w \u{20ac} ??>>\"}"
    );
    // Re-written in the house form: standard padded base64, canonical JSON.
    let rewritten = Envelope::from_json(&envelope.to_json()).unwrap();
    assert_eq!(rewritten, envelope);
    assert!(
        !String::from_utf8(envelope.to_json())
            .unwrap()
            .contains("extra")
    );
}

#[test]
fn json_round_trip_and_co_signing() {
    let a = t1();
    let b = SigningKey::from_seed(&[7; 32]);
    let mut envelope = Envelope::sign("application/vnd.custos.test+json; version=1", b"{}", &a);
    envelope.add_signature(&b);
    let parsed = Envelope::from_json(&envelope.to_json()).unwrap();
    assert_eq!(parsed, envelope);
    // Either key alone is enough; the verified key id says which one.
    let only_b = [b.verifying_key()];
    assert_eq!(parsed.verify(knows(&only_b)).unwrap().keyid, b.key_id());
    let only_a = [a.verifying_key()];
    assert_eq!(parsed.verify(knows(&only_a)).unwrap().keyid, a.key_id());
}

#[test]
fn rejections_are_typed() {
    let key = t1();
    let public = [key.verifying_key()];
    let good = Envelope::sign(HELLO_TYPE, b"hello world", &key);

    // Unknown key id.
    let stranger = [SigningKey::from_seed(&[9; 32]).verifying_key()];
    assert!(matches!(
        good.verify(knows(&stranger)),
        Err(SealError::UnknownKey { keyid }) if keyid == key.key_id()
    ));

    // No signatures at all.
    let mut bare = good.clone();
    bare.signatures.clear();
    assert!(matches!(
        bare.verify(knows(&public)),
        Err(SealError::NoSignatures)
    ));

    // Wrong payload type, checked before any signature.
    assert!(matches!(
        good.verify_typed("other/type", knows(&public)),
        Err(SealError::PayloadTypeMismatch { expected, found }) if expected == "other/type" && found == HELLO_TYPE
    ));

    // A resolver that returns a different key than the id names.
    let wrong = stranger[0];
    assert!(matches!(
        good.verify(|_| Some(wrong)),
        Err(SealError::KeyIdMismatch { keyid, actual }) if keyid == key.key_id() && actual == wrong.key_id()
    ));

    // A signature of the wrong length.
    let mut short = good.clone();
    short.signatures[0].sig.truncate(63);
    assert!(
        matches!(short.verify(knows(&public)), Err(SealError::MalformedEnvelope(m)) if m.contains("63 bytes"))
    );

    // A failing signature beats an unknown key when both occur.
    let mut mixed = good.clone();
    mixed.signatures.insert(
        0,
        EnvelopeSignature {
            keyid: "nobody".into(),
            sig: vec![0; 64],
        },
    );
    mixed.payload = b"hello World".to_vec();
    assert!(
        matches!(mixed.verify(knows(&public)), Err(SealError::SignatureInvalid { keyid }) if keyid == key.key_id())
    );

    // Non-canonical S (S + L): ordinary verification rejects it too, but it
    // is the textbook malleability case and strict verification must refuse.
    let mut malleable = good.clone();
    let l = unhex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    let mut carry = 0u16;
    for (s_byte, l_byte) in malleable.signatures[0].sig[32..].iter_mut().zip(&l) {
        let sum = u16::from(*s_byte) + u16::from(*l_byte) + carry;
        *s_byte = sum as u8;
        carry = sum >> 8;
    }
    assert!(matches!(
        malleable.verify(knows(&public)),
        Err(SealError::SignatureInvalid { .. })
    ));
}

#[test]
fn malformed_json_is_rejected_with_the_field_named() {
    let cases: &[(&str, &str)] = &[
        ("not json", "invalid JSON"),
        ("{\"payloadType\":\"t\",\"signatures\":[]}", "payload"),
        ("{\"payload\":\"aGk=\",\"signatures\":[]}", "payloadType"),
        ("{\"payload\":\"aGk=\",\"payloadType\":\"t\"}", "signatures"),
        (
            "{\"payload\":\"a$Gk=\",\"payloadType\":\"t\",\"signatures\":[]}",
            "field `payload`: invalid base64",
        ),
        (
            "{\"payload\":\"aGk=\",\"payloadType\":\"t\",\"signatures\":[{\"keyid\":\"k\",\"sig\":\"@@\"}]}",
            "field `signatures[0].sig`",
        ),
        (
            "{\"payload\":\"aGk=\",\"payloadType\":\"t\",\"signatures\":[{\"keyid\":\"k\"}]}",
            "sig",
        ),
        (
            "{\"payload\":\"aGk=\",\"payloadType\":7,\"signatures\":[]}",
            "invalid JSON",
        ),
        // Non-zero trailing bits: "aGl=" would also decode to "hi" if allowed.
        (
            "{\"payload\":\"aGl=\",\"payloadType\":\"t\",\"signatures\":[]}",
            "invalid base64",
        ),
    ];
    for (json, needle) in cases {
        match Envelope::from_json(json.as_bytes()) {
            Err(SealError::MalformedEnvelope(msg)) => {
                assert!(msg.contains(needle), "{json}: {msg}")
            }
            other => panic!("{json}: expected MalformedEnvelope, got {other:?}"),
        }
    }
    // A missing keyid is read as empty, which no resolver knows.
    let env = Envelope::from_json(
        b"{\"payload\":\"aGk=\",\"payloadType\":\"t\",\"signatures\":[{\"sig\":\"aGk=\"}]}",
    )
    .unwrap();
    let public = [t1().verifying_key()];
    assert!(
        matches!(env.verify(knows(&public)), Err(SealError::UnknownKey { keyid }) if keyid.is_empty())
    );
}

fn flip(bytes: &mut [u8], bit: usize) {
    let bit = bit % (bytes.len() * 8);
    bytes[bit / 8] ^= 1 << (bit % 8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the signer writes, the parser reads back and the verifier
    /// accepts: any payload type (any Unicode text, empty included) and any
    /// payload. A parser that refused what the signer wrote would lose
    /// messages.
    #[test]
    fn any_signed_envelope_reads_back_and_verifies(
        payload in proptest::collection::vec(any::<u8>(), 0..2_000),
        payload_type in any::<String>(),
    ) {
        let key = t1();
        let public = [key.verifying_key()];
        let signed = Envelope::sign(&payload_type, &payload, &key);
        let read = Envelope::from_json(&signed.to_json()).unwrap();
        prop_assert!(read.verify_typed(&payload_type, knows(&public)).is_ok());
        prop_assert_eq!(read.payload, payload);
        prop_assert_eq!(read.payload_type, payload_type);
    }

    #[test]
    fn any_single_bit_flip_fails_verification(
        payload in proptest::collection::vec(any::<u8>(), 1..200),
        payload_type in "[ -~]{1,60}",
        target in 0u8..3,
        bit in any::<usize>(),
    ) {
        let key = t1();
        let public = [key.verifying_key()];
        let mut envelope = Envelope::sign(&payload_type, &payload, &key);
        prop_assert!(envelope.verify(knows(&public)).is_ok());
        match target {
            0 => flip(&mut envelope.payload, bit),
            1 => {
                let mut raw = envelope.payload_type.clone().into_bytes();
                flip(&mut raw, bit);
                // A flip that breaks UTF-8 cannot even be carried in an envelope.
                match String::from_utf8(raw) {
                    Ok(text) => envelope.payload_type = text,
                    Err(_) => return Ok(()),
                }
            }
            _ => flip(&mut envelope.signatures[0].sig, bit),
        }
        let outcome = envelope.verify(knows(&public));
        prop_assert!(
            matches!(outcome, Err(SealError::SignatureInvalid { .. })),
            "flip not detected: {:?}", outcome
        );
    }

    #[test]
    fn any_single_bit_flip_of_the_json_form_fails(
        payload in proptest::collection::vec(any::<u8>(), 1..120),
        bit in any::<usize>(),
    ) {
        let key = t1();
        let public = [key.verifying_key()];
        let mut json = Envelope::sign("application/x-test", &payload, &key).to_json();
        flip(&mut json, bit);
        let accepted = Envelope::from_json(&json)
            .ok()
            .and_then(|e| e.verify(knows(&public)).ok());
        prop_assert!(accepted.is_none(), "flipped JSON still verified: {}", String::from_utf8_lossy(&json));
    }
}
