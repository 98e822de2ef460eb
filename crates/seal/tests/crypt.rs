//! age encryption: round trips to one and three recipients, the streaming
//! pair, wrong identities, tampering and truncation, size limits, and the
//! C2SP age test-kit vectors (tests/data/age-testkit, see the README there).

// Test code: a panic is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};

use common::{data, hex};
use custos_seal::{
    EncryptionIdentity, EncryptionRecipient, SealError, decrypt, decrypt_any, decrypt_reader,
    encrypt, encrypt_writer,
};
use sha2::{Digest, Sha256};

const LIMIT: u64 = 16 << 20;

fn identities(n: usize) -> Vec<EncryptionIdentity> {
    (0..n).map(|_| EncryptionIdentity::generate()).collect()
}

fn recipients(ids: &[EncryptionIdentity]) -> Vec<EncryptionRecipient> {
    ids.iter().map(EncryptionIdentity::recipient).collect()
}

/// Deterministic filler that is not all one byte.
fn filler(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn round_trip_to_one_recipient() {
    let ids = identities(1);
    for len in [0, 1, 65_535, 65_536, 65_537, 200_000] {
        let plaintext = filler(len);
        let ciphertext = encrypt(&plaintext, &recipients(&ids)).unwrap();
        assert!(ciphertext.starts_with(b"age-encryption.org/v1\n-> X25519 "));
        if len > 0 {
            assert_ne!(&ciphertext[ciphertext.len() - len..], &plaintext[..]);
        }
        assert_eq!(
            decrypt(&ciphertext, &ids[0], LIMIT).unwrap(),
            plaintext,
            "len {len}"
        );
    }
}

#[test]
fn round_trip_to_three_recipients() {
    let ids = identities(3);
    let plaintext = b"mutual legal assistance request, Art. 40".to_vec();
    let ciphertext = encrypt(&plaintext, &recipients(&ids)).unwrap();
    let header = String::from_utf8_lossy(&ciphertext[..300]);
    assert_eq!(header.matches("-> X25519 ").count(), 3);
    for id in &ids {
        assert_eq!(decrypt(&ciphertext, id, LIMIT).unwrap(), plaintext);
    }
    let outsider = EncryptionIdentity::generate();
    assert!(matches!(
        decrypt(&ciphertext, &outsider, LIMIT),
        Err(SealError::NoMatchingIdentity)
    ));
    // Key rotation: any of several identities will do.
    let both = [outsider, ids[2].clone()];
    assert_eq!(decrypt_any(&ciphertext, &both, LIMIT).unwrap(), plaintext);
}

#[test]
fn wrong_identity_is_a_typed_error() {
    let ids = identities(2);
    let ciphertext = encrypt(b"secret", &recipients(&ids[..1])).unwrap();
    assert!(matches!(
        decrypt(&ciphertext, &ids[1], LIMIT),
        Err(SealError::NoMatchingIdentity)
    ));
    assert!(matches!(
        decrypt_reader(&ciphertext[..], &ids[1]),
        Err(SealError::NoMatchingIdentity)
    ));
}

#[test]
fn no_recipients_is_refused() {
    assert!(matches!(encrypt(b"x", &[]), Err(SealError::NoRecipients)));
    assert!(matches!(
        encrypt_writer(Vec::new(), &[]),
        Err(SealError::NoRecipients)
    ));
}

#[test]
fn oversized_input_is_refused_before_any_work() {
    let ids = identities(1);
    let ciphertext = encrypt(&filler(1000), &recipients(&ids)).unwrap();
    let len = ciphertext.len() as u64;
    assert!(
        matches!(decrypt(&ciphertext, &ids[0], len - 1), Err(SealError::TooLarge { limit }) if limit == len - 1)
    );
    assert_eq!(decrypt(&ciphertext, &ids[0], len).unwrap(), filler(1000));
    // The limit is checked first: even garbage gets TooLarge, not a parse error.
    assert!(matches!(
        decrypt(&[0; 10], &ids[0], 9),
        Err(SealError::TooLarge { limit: 9 })
    ));
}

fn is_decrypt_failure(err: &SealError) -> bool {
    matches!(
        err,
        SealError::DecryptionFailed
            | SealError::MalformedCiphertext(_)
            | SealError::NoMatchingIdentity
    )
}

#[test]
fn truncated_ciphertext_fails() {
    let ids = identities(1);
    let plaintext = filler(150_000); // three chunks
    let ciphertext = encrypt(&plaintext, &recipients(&ids)).unwrap();
    let header_end = ciphertext.windows(4).position(|w| w == b"--- ").unwrap();
    // Every cut in the body and a spread of cuts through the header.
    let cuts = (0..ciphertext.len()).step_by(997).chain([
        header_end + 60,
        ciphertext.len() - 1,
        ciphertext.len() - 17,
        65_536,
    ]);
    for cut in cuts {
        let err = decrypt(&ciphertext[..cut], &ids[0], LIMIT).unwrap_err();
        assert!(is_decrypt_failure(&err), "cut at {cut}: {err:?}");
    }
    // Cut exactly at a chunk boundary after the header: the final-chunk flag
    // is missing, which only the authenticated stream can tell.
    let body_start = ciphertext.len() - (plaintext.len() + 3 * 16);
    let at_chunk = body_start + 65_536 + 16;
    assert!(matches!(
        decrypt(&ciphertext[..at_chunk], &ids[0], LIMIT),
        Err(SealError::DecryptionFailed)
    ));
    // Appended bytes are refused too.
    let mut longer = ciphertext.clone();
    longer.push(0);
    assert!(is_decrypt_failure(
        &decrypt(&longer, &ids[0], LIMIT).unwrap_err()
    ));
}

#[test]
fn flipped_bits_fail_everywhere() {
    let ids = identities(1);
    let plaintext = filler(70_000); // two chunks
    let ciphertext = encrypt(&plaintext, &recipients(&ids)).unwrap();
    let body_start = ciphertext.len() - (plaintext.len() + 2 * 16);
    let mut positions: Vec<usize> = (0..body_start).collect(); // every header byte
    positions.extend((body_start..ciphertext.len()).step_by(1009));
    positions.push(ciphertext.len() - 1);
    for pos in positions {
        for bit in [0, 7] {
            let mut altered = ciphertext.clone();
            altered[pos] ^= 1 << bit;
            match decrypt(&altered, &ids[0], LIMIT) {
                Err(err) => assert!(is_decrypt_failure(&err), "byte {pos}: {err:?}"),
                Ok(_) => panic!("flip of bit {bit} at byte {pos} went unnoticed"),
            }
        }
    }
    // In the body, the failure is an authentication failure specifically.
    let mut altered = ciphertext.clone();
    altered[body_start + 100] ^= 1;
    assert!(matches!(
        decrypt(&altered, &ids[0], LIMIT),
        Err(SealError::DecryptionFailed)
    ));
}

#[test]
fn streaming_round_trip_in_pieces() {
    let ids = identities(3);
    let plaintext = filler(300_001);
    let mut writer = encrypt_writer(Vec::new(), &recipients(&ids)).unwrap();
    for piece in plaintext.chunks(7_919) {
        writer.write_all(piece).unwrap();
    }
    let ciphertext = writer.finish().unwrap();
    // The streamed form is ordinary age: the whole-message function opens it.
    assert_eq!(decrypt(&ciphertext, &ids[1], LIMIT).unwrap(), plaintext);

    let mut reader = decrypt_reader(&ciphertext[..], &ids[2]).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4_099];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(out, plaintext);
}

#[test]
fn streaming_reader_reports_tampering_as_invalid_data_carrying_seal_error() {
    let ids = identities(1);
    let plaintext = filler(140_000);
    let mut ciphertext = encrypt(&plaintext, &recipients(&ids)).unwrap();
    let last = ciphertext.len() - 1;
    ciphertext[last] ^= 0x80;
    let mut reader = decrypt_reader(&ciphertext[..], &ids[0]).unwrap();
    let mut out = Vec::new();
    let err = reader.read_to_end(&mut out).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<SealError>());
    assert!(
        matches!(inner, Some(SealError::DecryptionFailed)),
        "{err:?}"
    );
    // Nothing from the altered (last) chunk was released.
    assert!(out.len() <= 2 * 65_536, "{}", out.len());

    // Truncation through the reader.
    let good = encrypt(&plaintext, &recipients(&ids)).unwrap();
    let mut reader = decrypt_reader(&good[..good.len() - 20], &ids[0]).unwrap();
    let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);

    // Garbage instead of a header.
    assert!(matches!(
        decrypt_reader(&b"hello"[..], &ids[0]),
        Err(SealError::MalformedCiphertext(_))
    ));
}

/// One file of the C2SP age test kit: `name: value` header lines, a blank
/// line, then the age file itself.
struct Vector {
    name: String,
    expect: String,
    payload_sha256: Option<String>,
    identity: String,
    body: Vec<u8>,
}

fn parse_vector(name: &str, raw: &[u8]) -> Vector {
    let split = raw.windows(2).position(|w| w == b"\n\n").unwrap();
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut vector = Vector {
        name: name.to_owned(),
        expect: String::new(),
        payload_sha256: None,
        identity: String::new(),
        body: raw[split + 2..].to_vec(),
    };
    for line in head.lines() {
        let (key, value) = line.split_once(": ").unwrap();
        match key {
            "expect" => vector.expect = value.to_owned(),
            "payload" => vector.payload_sha256 = Some(value.to_owned()),
            "identity" => vector.identity = value.to_owned(),
            "file key" | "comment" => {}
            other => panic!("{name}: unexpected header {other}"),
        }
    }
    vector
}

#[test]
fn c2sp_age_test_kit() {
    let dir = data("age-testkit");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "README.md")
        .collect();
    names.sort();
    assert!(names.len() >= 40, "test kit files missing: {}", names.len());
    let mut successes = 0;
    for name in &names {
        let v = parse_vector(name, &std::fs::read(dir.join(name)).unwrap());
        let identity = EncryptionIdentity::from_secret_text(&v.identity).unwrap();
        let outcome = decrypt(&v.body, &identity, LIMIT);
        match (v.expect.as_str(), outcome) {
            ("success", Ok(plaintext)) => {
                let digest = hex(&Sha256::digest(&plaintext));
                assert_eq!(Some(digest), v.payload_sha256, "{}", v.name);
                successes += 1;
            }
            // The age crate still reads legacy stanzas that lack the short
            // final body line (its own test kit run makes the same exception).
            // The header MAC covers the header as written, so nothing is
            // lost by accepting them.
            ("header failure", Ok(_))
                if ["stanza_missing_body", "stanza_missing_final_line"]
                    .contains(&name.as_str()) => {}
            ("no match", Err(SealError::NoMatchingIdentity)) => {}
            (
                "header failure",
                Err(SealError::MalformedCiphertext(_) | SealError::DecryptionFailed),
            ) => {}
            ("HMAC failure", Err(SealError::DecryptionFailed)) => {}
            ("payload failure", Err(SealError::DecryptionFailed)) => {}
            (expect, outcome) => panic!("{}: expected {expect}, got {outcome:?}", v.name),
        }
    }
    assert!(successes >= 5, "{successes}");
}
