//! C2SP checkpoints and `cosignature/v1` cosignatures: the body format and
//! its strict parser, signing and opening with several signatures, a real
//! cosigned checkpoint of a public log verified with its witnesses' keys, the
//! spec's cosignature example, and round trips of random checkpoints.

// Test code: a panic is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod common;

use common::{key, n, s, vectors};
use custos_ledger::{
    Checkpoint, Hash, KeyType, LedgerError, MemoryLog, Note, VerifierKey, cosign, cosigned_message,
    open_checkpoint, open_checkpoint_detailed, open_checkpoint_signed_by, open_note,
    peek_checkpoint, sign_checkpoint, verify_cosignature,
};
use proptest::prelude::*;

fn sample() -> Checkpoint {
    let log = MemoryLog::from_entries(common::entries(20)).unwrap();
    Checkpoint::new("custos.example/ledger", 20, log.root()).unwrap()
}

#[test]
fn body_has_the_three_lines_of_the_spec() {
    let cp = sample();
    let body = cp.to_note_body();
    assert_eq!(
        body,
        format!("custos.example/ledger\n20\n{}\n", cp.root.to_base64())
    );
    assert_eq!(Checkpoint::parse(&body).unwrap(), cp);
    let with_ext = Checkpoint {
        extensions: vec!["first extension".into(), "second".into()],
        ..cp.clone()
    };
    let body = with_ext.to_note_body();
    assert!(body.ends_with("\nfirst extension\nsecond\n"));
    assert_eq!(Checkpoint::parse(&body).unwrap(), with_ext);
    // The empty tree.
    let empty = Checkpoint::new("o", 0, custos_ledger::EMPTY_ROOT).unwrap();
    assert_eq!(
        empty.to_note_body(),
        "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    );
}

#[test]
fn spec_example_checkpoint_parses() {
    let v = &vectors("cosignatures.json")["spec_example"];
    let cp = peek_checkpoint(s(v, "note")).unwrap();
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20852163);
    assert_eq!(
        cp.root.to_base64(),
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    );
}

#[test]
fn malformed_bodies_are_refused() {
    let root = sample().root.to_base64();
    let cases = [
        (format!("o\n20\n{root}"), "newline"),
        ("o\n20\n".to_string(), "three lines"),
        (format!("\n20\n{root}\n"), "origin is empty"),
        (format!("o\n020\n{root}\n"), "leading zeros"),
        (format!("o\n+20\n{root}\n"), "decimal"),
        (format!("o\n 20\n{root}\n"), "decimal"),
        (format!("o\n-1\n{root}\n"), "decimal"),
        (format!("o\n18446744073709551616\n{root}\n"), "64 bits"),
        ("o\n20\nAAAA\n".to_string(), "32 bytes"),
        (format!("o\n20\n{}\n", root.trim_end_matches('=')), "base64"),
        (format!("o\n20\n{root}\n\n"), "extension line 1 is empty"),
        (
            format!("o\n20\n{root}\next\n\n"),
            "extension line 2 is empty",
        ),
        (format!("o\r\n20\n{root}\n"), "control character"),
    ];
    for (body, needle) in cases {
        let error = Checkpoint::parse(&body).unwrap_err();
        assert!(
            matches!(error, LedgerError::MalformedCheckpoint(_)),
            "{body:?}: {error}"
        );
        assert!(error.to_string().contains(needle), "{body:?}: {error}");
    }
    // The empty root's base64 ends in "U=" (4 data bits, 2 zero bits); "V="
    // decodes to the same bytes with a stray bit set and is not canonical.
    let canonical = "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
    Checkpoint::parse(canonical).unwrap();
    let stray = canonical.replace("uFU=", "uFV=");
    assert!(matches!(
        Checkpoint::parse(&stray),
        Err(LedgerError::MalformedCheckpoint(_))
    ));
    assert!(Checkpoint::new("", 1, sample().root).is_err());
    assert!(Checkpoint::new("a\nb", 1, sample().root).is_err());
}

#[test]
fn signed_checkpoints_open_with_the_log_key() {
    let cp = sample();
    let log_key = key(1);
    let vkey = VerifierKey::ed25519(&cp.origin, &log_key.verifying_key()).unwrap();
    let note = sign_checkpoint(&cp, &cp.origin, &log_key).unwrap();
    assert!(note.starts_with(&cp.to_note_body()));
    assert!(note.contains("\n\n\u{2014} custos.example/ledger "));
    let (opened, names) = open_checkpoint(&note, std::slice::from_ref(&vkey)).unwrap();
    assert_eq!(opened, cp);
    assert_eq!(names, ["custos.example/ledger"]);

    // Another key with the same name does not open it.
    let other = VerifierKey::ed25519(&cp.origin, &key(2).verifying_key()).unwrap();
    assert!(matches!(
        open_checkpoint(&note, &[other]),
        Err(LedgerError::NoTrustedSignature { .. })
    ));

    // A rotated key: the log signs with both, old verifiers still work.
    let new_key = key(3);
    let both = custos_ledger::add_signature(&note, &cp.origin, &new_key).unwrap();
    let new_vkey = VerifierKey::ed25519(&cp.origin, &new_key.verifying_key()).unwrap();
    assert_eq!(
        open_checkpoint(&both, std::slice::from_ref(&vkey))
            .unwrap()
            .0,
        cp
    );
    assert_eq!(
        open_checkpoint(&both, std::slice::from_ref(&new_vkey))
            .unwrap()
            .0,
        cp
    );

    // Signed text that is not a checkpoint is refused after verification.
    let not_a_checkpoint = custos_ledger::sign_note("hello\n", &cp.origin, &log_key).unwrap();
    assert!(matches!(
        open_checkpoint(&not_a_checkpoint, &[vkey]),
        Err(LedgerError::MalformedCheckpoint(_))
    ));
}

#[test]
fn cosignatures_round_trip() {
    let cp = sample();
    let log_key = key(1);
    let witness_key = key(9);
    let log_vkey = VerifierKey::ed25519(&cp.origin, &log_key.verifying_key()).unwrap();
    let witness_vkey =
        VerifierKey::cosignature_v1("witness.example/w1", &witness_key.verifying_key()).unwrap();
    let note = sign_checkpoint(&cp, &cp.origin, &log_key).unwrap();
    let body = cp.to_note_body();

    let line = cosign(&body, "witness.example/w1", &witness_key, 1_700_000_000).unwrap();
    assert!(line.starts_with("\u{2014} witness.example/w1 ") && line.ends_with('\n'));
    assert_eq!(
        verify_cosignature(&body, &line, &witness_vkey).unwrap(),
        1_700_000_000
    );

    // The blob is key id (type 0x04) || big-endian timestamp || signature.
    let parsed = custos_ledger::NoteSignature::parse_line(&line).unwrap();
    assert_eq!(parsed.key_id, witness_vkey.key_id());
    assert_eq!(parsed.signature.len(), 72);
    assert_eq!(parsed.signature[..8], 1_700_000_000u64.to_be_bytes());
    // The Ed25519 signature covers the cosignature/v1 message.
    let message = cosigned_message(&body, 1_700_000_000);
    witness_key
        .verifying_key()
        .verify(&message, &parsed.signature[8..])
        .unwrap();

    // Appended to the log's note, both verify together.
    let cosigned = format!("{note}{line}");
    let opened =
        open_checkpoint_detailed(&cosigned, &[log_vkey.clone(), witness_vkey.clone()]).unwrap();
    assert_eq!(opened.checkpoint, cp);
    assert_eq!(opened.note.verified.len(), 2);
    assert_eq!(opened.note.verified[1].key_type, KeyType::CosignatureV1);
    assert_eq!(opened.note.verified[1].timestamp, Some(1_700_000_000));
    // The log key is required, witnesses optional.
    open_checkpoint_signed_by(&cosigned, &log_vkey, std::slice::from_ref(&witness_vkey)).unwrap();
    assert!(open_checkpoint_signed_by(&cosigned, &witness_vkey, &[]).is_ok());
    let only_witness = format!("{body}\n{line}");
    assert!(matches!(
        open_checkpoint_signed_by(
            &only_witness,
            &log_vkey,
            std::slice::from_ref(&witness_vkey)
        ),
        Err(LedgerError::NoTrustedSignature { .. })
    ));

    // Changing the timestamp, the body or the key type breaks it.
    let mut later = parsed.clone();
    later.signature[7] ^= 1;
    assert!(verify_cosignature(&body, &later.to_line(), &witness_vkey).is_err());
    let other_body = Checkpoint {
        size: cp.size + 1,
        ..cp.clone()
    }
    .to_note_body();
    assert!(verify_cosignature(&other_body, &line, &witness_vkey).is_err());
    let as_plain =
        VerifierKey::ed25519("witness.example/w1", &witness_key.verifying_key()).unwrap();
    assert!(matches!(
        verify_cosignature(&body, &line, &as_plain),
        Err(LedgerError::MalformedCosignature(_))
    ));
    // A plain signature by the witness key does not pass as a cosignature.
    let plain_line =
        custos_ledger::note::signature_line(&body, "witness.example/w1", &witness_key).unwrap();
    assert!(verify_cosignature(&body, &plain_line, &witness_vkey).is_err());
    // Timestamps above 2^63 - 1 are refused both ways.
    assert!(cosign(&body, "witness.example/w1", &witness_key, 1 << 63).is_err());
    let mut huge = parsed;
    huge.signature[0] = 0x80;
    assert!(verify_cosignature(&body, &huge.to_line(), &witness_vkey).is_err());
    // A witness does not sign what is not a checkpoint.
    assert!(cosign("hello\n", "witness.example/w1", &witness_key, 1).is_err());
}

#[test]
fn public_cosigned_checkpoint_verifies() {
    let v = &vectors("cosignatures.json")["cosigned"];
    let log_key = VerifierKey::parse(s(v, "log_key")).unwrap();
    assert_eq!(log_key.key_type(), KeyType::Ed25519);
    let witnesses: Vec<VerifierKey> = v["witness_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| VerifierKey::parse(k.as_str().unwrap()).unwrap())
        .collect();
    for w in &witnesses {
        assert_eq!(w.key_type(), KeyType::CosignatureV1);
        assert_eq!(
            w.to_text(),
            VerifierKey::parse(&w.to_text()).unwrap().to_text()
        );
    }
    let opened = open_checkpoint_signed_by(s(v, "note"), &log_key, &witnesses).unwrap();
    assert_eq!(opened.checkpoint.origin, s(v, "origin"));
    assert_eq!(opened.checkpoint.size, n(v, "size"));
    // The log's Ed25519 signature and all four cosignatures verify; the
    // RFC 6962 tree-head signature (type 0x05) is set aside as unknown.
    assert_eq!(opened.note.verified.len(), 5);
    assert_eq!(opened.note.unverified.len(), 1);
    let times: Vec<Option<u64>> = opened.note.verified.iter().map(|s| s.timestamp).collect();
    assert_eq!(times[0], None);
    assert!(times[1..].iter().all(|t| *t == Some(0x6a12_2120)));

    // Each cosignature line alone, through verify_cosignature.
    let note = Note::parse(s(v, "note")).unwrap();
    for w in &witnesses {
        let line = note
            .signatures()
            .iter()
            .find(|sig| sig.name == w.name())
            .unwrap()
            .to_line();
        assert_eq!(
            verify_cosignature(note.text(), &line, w).unwrap(),
            0x6a12_2120
        );
    }
    // One bit of the size changed: every signature from a known key fails.
    let forged = s(v, "note").replacen("1432088532", "1432088533", 1);
    assert!(open_note(&forged, &witnesses).is_err());
    assert!(open_note(&forged, std::slice::from_ref(&log_key)).is_err());
}

#[test]
fn spec_cosignature_example_has_the_spec_message() {
    let v = &vectors("cosignatures.json")["spec_example"];
    let note = Note::parse(s(v, "note")).unwrap();
    let witness = note
        .signatures()
        .iter()
        .find(|sig| sig.name == s(v, "witness_name"))
        .unwrap();
    let timestamp = u64::from_be_bytes(witness.signature[..8].try_into().unwrap());
    assert_eq!(timestamp, n(v, "timestamp"));
    assert_eq!(witness.signature.len(), 72);
    assert_eq!(
        cosigned_message(note.text(), timestamp),
        s(v, "signed_message").as_bytes()
    );
}

fn checkpoint_strategy() -> impl Strategy<Value = Checkpoint> {
    (
        "[a-z0-9./:-]{1,40}",
        any::<u64>(),
        any::<[u8; 32]>(),
        proptest::collection::vec("[ -~]{1,30}", 0..3),
    )
        .prop_map(|(origin, size, root, extensions)| Checkpoint {
            origin,
            size,
            root: Hash(root),
            extensions,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn checkpoint_notes_round_trip(cp in checkpoint_strategy(), seed in any::<[u8; 32]>(), time in 0u64..(1 << 40)) {
        let body = cp.to_note_body();
        prop_assert_eq!(Checkpoint::parse(&body).unwrap(), cp.clone());
        let log_key = custos_seal::SigningKey::from_seed(&seed);
        let vkey = VerifierKey::ed25519("log.example", &log_key.verifying_key()).unwrap();
        let note = sign_checkpoint(&cp, "log.example", &log_key).unwrap();
        let witness_key = key(200);
        let line = cosign(&body, "w.example", &witness_key, time).unwrap();
        let witness = VerifierKey::cosignature_v1("w.example", &witness_key.verifying_key()).unwrap();
        let cosigned = format!("{note}{line}");
        let (opened, names) = open_checkpoint(&cosigned, &[vkey, witness]).unwrap();
        prop_assert_eq!(opened, cp);
        prop_assert_eq!(names, vec!["log.example".to_string(), "w.example".to_string()]);
        prop_assert_eq!(Note::parse(&cosigned).unwrap().to_text(), cosigned);
    }
}
