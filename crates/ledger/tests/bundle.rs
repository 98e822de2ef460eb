//! Proof bundles: built from a log, verified offline with only the log's
//! verifier key (and witness keys when a quorum is required), refused after
//! any single-bit change of their JSON, and pinned to the committed example
//! `tests/data/bundle-example.json`, which `docs/formats/ledger.md` shows
//! verbatim.

// Test code: a panic is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod common;

use common::{data, key, s, vectors};
use custos_ledger::{
    BUNDLE_VERSION, Checkpoint, LedgerError, MemoryLog, ProofBundle, VerifierKey, Witness, cosign,
    sign_checkpoint,
};
use serde_json::Value;

const ORIGIN: &str = "custos.example/ledger";

/// A small deterministic ledger: custody events as JSON lines.
fn ledger() -> (Vec<Vec<u8>>, MemoryLog) {
    let events: Vec<Vec<u8>> = (0..11)
        .map(|i| {
            format!(
                r#"{{"seq":{i},"event":"message.received","request":"req-{:03}"}}"#,
                i * 7
            )
            .into_bytes()
        })
        .collect();
    let log = MemoryLog::from_entries(&events).unwrap();
    (events, log)
}

fn signed(log: &MemoryLog) -> (String, VerifierKey) {
    let cp = Checkpoint::new(ORIGIN, log.size(), log.root()).unwrap();
    let log_key = key(11);
    let note = sign_checkpoint(&cp, ORIGIN, &log_key).unwrap();
    (
        note,
        VerifierKey::ed25519(ORIGIN, &log_key.verifying_key()).unwrap(),
    )
}

#[test]
fn bundle_builds_and_verifies() {
    let (events, log) = ledger();
    let (note, vkey) = signed(&log);
    for index in 0..log.size() {
        let bundle =
            ProofBundle::build(events[index as usize].clone(), index, note.clone(), &log).unwrap();
        assert_eq!(bundle.v, BUNDLE_VERSION);
        assert_eq!(bundle.tree_size, 11);
        let back = ProofBundle::from_json(&bundle.to_json()).unwrap();
        assert_eq!(back, bundle);
        let cp = back.verify(&vkey.to_text()).unwrap();
        assert_eq!((cp.size, cp.root), (11, log.root()));
    }
    // Building refuses an entry that is not the one at that index.
    assert!(matches!(
        ProofBundle::build(events[3].clone(), 4, note, &log),
        Err(LedgerError::InclusionProofInvalid { .. })
    ));
}

#[test]
fn bundles_that_do_not_hold_together_are_refused() {
    let (events, log) = ledger();
    let (note, vkey) = signed(&log);
    let good = ProofBundle::build(events[5].clone(), 5, note, &log).unwrap();
    let vkey_text = vkey.to_text();

    let wrong_size = ProofBundle {
        tree_size: 12,
        ..good.clone()
    };
    assert!(matches!(
        wrong_size.verify(&vkey_text),
        Err(LedgerError::BundleMismatch(_))
    ));
    let wrong_index = ProofBundle {
        index: 4,
        ..good.clone()
    };
    assert!(matches!(
        wrong_index.verify(&vkey_text),
        Err(LedgerError::InclusionProofInvalid { .. })
    ));
    let other_entry = ProofBundle {
        entry: events[6].clone(),
        ..good.clone()
    };
    assert!(other_entry.verify(&vkey_text).is_err());
    // Another key, or the witness form of the right key, does not do.
    let stranger = VerifierKey::ed25519(ORIGIN, &key(12).verifying_key()).unwrap();
    assert!(matches!(
        good.verify(&stranger.to_text()),
        Err(LedgerError::NoTrustedSignature { .. })
    ));
    let as_witness = VerifierKey::cosignature_v1(ORIGIN, &key(11).verifying_key()).unwrap();
    assert!(matches!(
        good.verify(&as_witness.to_text()),
        Err(LedgerError::MalformedVerifierKey(_))
    ));
    assert!(good.verify("not a key").is_err());
}

#[test]
fn a_quorum_of_witnesses_can_be_required() {
    let (events, log) = ledger();
    let (note, vkey) = signed(&log);
    let body = Checkpoint::new(ORIGIN, log.size(), log.root())
        .unwrap()
        .to_note_body();
    let witnesses: Vec<Witness> = (0..3)
        .map(|i| Witness::new(&format!("witness-{i}.example"), key(100 + i)).unwrap())
        .collect();
    let keys: Vec<VerifierKey> = witnesses.iter().map(|w| w.verifier_key().clone()).collect();
    // Two of the three cosign.
    let mut cosigned = note.clone();
    for (i, w) in witnesses.iter().enumerate().take(2) {
        cosigned.push_str(&cosign(&body, w.name(), &key(100 + i as u8), 1_800_000_000).unwrap());
    }
    let bundle = ProofBundle::build(events[2].clone(), 2, cosigned, &log).unwrap();
    let opened = bundle.verify_with(&vkey, &keys, 2).unwrap();
    assert_eq!(opened.note.verified.len(), 3);
    // Too few: the error names the witness whose cosignature is missing.
    match bundle.verify_with(&vkey, &keys, 3) {
        Err(LedgerError::BundleMismatch(m)) => {
            assert!(m.contains("2 of the given witnesses cosigned"), "{m}");
            assert!(m.contains("3 are required"), "{m}");
            assert!(m.contains("no cosignature from: witness-2.example"), "{m}");
        }
        other => panic!("a quorum of 3 passed with 2 cosignatures: {other:?}"),
    }
    // A wrong key for a witness that did cosign: its line is not counted
    // (it is by another key), and the quorum of two is not reached.
    let mut wrong = keys.clone();
    wrong[1] = VerifierKey::cosignature_v1("witness-1.example", &key(200).verifying_key()).unwrap();
    match bundle.verify_with(&vkey, &wrong, 2) {
        Err(LedgerError::BundleMismatch(m)) => {
            assert!(m.contains("no cosignature from: witness-1.example"), "{m}");
            assert!(m.contains("keys not given: witness-1.example"), "{m}");
        }
        other => panic!("a wrong witness key counted: {other:?}"),
    }
    bundle.verify_with(&vkey, &wrong, 1).unwrap();
    // A witness key given in the log's (type 0x01) form is refused, naming
    // the form expected.
    let mut plain = keys.clone();
    plain[0] = VerifierKey::ed25519("witness-0.example", &key(100).verifying_key()).unwrap();
    assert!(matches!(
        bundle.verify_with(&vkey, &plain, 1),
        Err(LedgerError::MalformedVerifierKey(m)) if m.contains("expected a cosignature/v1 (type 0x04) witness key")
    ));
    // Without witness keys, a cosigned bundle verifies as the log's alone.
    bundle.verify(&vkey.to_text()).unwrap();
    // The log key itself never counts towards the quorum.
    let uncosigned = ProofBundle::build(events[2].clone(), 2, note, &log).unwrap();
    assert!(uncosigned.verify_with(&vkey, &keys, 1).is_err());
    uncosigned.verify_with(&vkey, &keys, 0).unwrap();
}

/// Bundles written before cosignatures were carried (the checkpoint note
/// signed by the log alone, as in the committed example) still verify, also
/// by a verifier that is given witness keys but requires none.
#[test]
fn bundles_without_cosignatures_still_verify() {
    let committed = vectors("bundle-example.json");
    let old = ProofBundle::from_json(&committed["bundle"].to_string()).unwrap();
    let log_key = VerifierKey::parse(s(&committed, "verifier_key")).unwrap();
    let witness = Witness::new("witness-0.example", key(100)).unwrap();
    let opened = old
        .verify_with(&log_key, &[witness.verifier_key().clone()], 0)
        .unwrap();
    assert_eq!(opened.note.verified.len(), 1);
    assert!(matches!(
        old.verify_with(&log_key, &[witness.verifier_key().clone()], 1),
        Err(LedgerError::BundleMismatch(m)) if m.contains("0 of the given witnesses cosigned")
    ));
}

#[test]
fn every_single_bit_flip_of_the_json_is_refused() {
    let (events, log) = ledger();
    let (note, vkey) = signed(&log);
    let json = ProofBundle::build(events[9].clone(), 9, note, &log)
        .unwrap()
        .to_json();
    let bytes = json.as_bytes();
    ProofBundle::from_slice(bytes)
        .unwrap()
        .verify(&vkey.to_text())
        .unwrap();
    // Every byte, with the flipped bit rotating through all eight positions.
    for position in 0..bytes.len() {
        let bit = position % 8;
        let mut changed = bytes.to_vec();
        changed[position] ^= 1 << bit;
        let outcome = ProofBundle::from_slice(&changed).and_then(|b| b.verify(&vkey.to_text()));
        assert!(
            outcome.is_err(),
            "flipping bit {bit} of byte {position} ({:?}) was accepted",
            char::from(bytes[position])
        );
    }
}

#[test]
fn json_has_the_documented_shape() {
    let (events, log) = ledger();
    let (note, _) = signed(&log);
    let bundle = ProofBundle::build(events[1].clone(), 1, note, &log).unwrap();
    let value: Value = serde_json::from_str(&bundle.to_json()).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "v",
            "entry",
            "index",
            "tree_size",
            "audit_path",
            "checkpoint"
        ]
    );
    assert_eq!(value["v"], 1);
    assert_eq!(value["audit_path"].as_array().unwrap().len(), 4);
    assert!(value["entry"].as_str().unwrap().starts_with("eyJzZXEiOjEs"));
}

/// The bundle shown in `docs/formats/ledger.md`, rebuilt from fixed keys and
/// entries: it must equal the committed file byte for byte and verify with
/// the committed verifier key. Run with `CUSTOS_BLESS=1` to rewrite the file
/// after a deliberate format change.
#[test]
fn committed_example_bundle_is_current() {
    let (events, log) = ledger();
    let (note, vkey) = signed(&log);
    let bundle = ProofBundle::build(events[6].clone(), 6, note, &log).unwrap();
    let example = serde_json::json!({
        "verifier_key": vkey.to_text(),
        "bundle": serde_json::from_str::<Value>(&bundle.to_json()).unwrap(),
    });
    let text = format!("{}\n", serde_json::to_string_pretty(&example).unwrap());
    let path = data("bundle-example.json");
    if std::env::var_os("CUSTOS_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "run with CUSTOS_BLESS=1 to update"
    );
    // The format document shows the same example.
    let doc_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/formats/ledger.md");
    let doc = std::fs::read_to_string(doc_path).unwrap();
    assert!(
        doc.contains(&format!("```json\n{text}```")),
        "docs/formats/ledger.md must show tests/data/bundle-example.json verbatim"
    );
    let committed = vectors("bundle-example.json");
    let parsed = ProofBundle::from_json(&committed["bundle"].to_string()).unwrap();
    parsed.verify(s(&committed, "verifier_key")).unwrap();
}

/// A checkpoint verified once is taken as known only for exactly its note:
/// the audit path, the size and the entry are still checked against it,
/// and any other note is verified in full.
#[test]
fn a_known_checkpoint_spares_only_its_signature() {
    let (events, log) = ledger();
    let (note, vkey) = signed(&log);
    let vkey_text = vkey.to_text();
    let first = ProofBundle::build(events[1].clone(), 1, note.clone(), &log).unwrap();
    let cp = first.verify(&vkey_text).unwrap();
    let known = Some((note.as_str(), &cp));

    let next = ProofBundle::build(events[7].clone(), 7, note.clone(), &log).unwrap();
    assert_eq!(next.verify_known(&vkey_text, known).unwrap(), cp);
    let other_entry = ProofBundle {
        entry: events[8].clone(),
        ..next.clone()
    };
    assert!(matches!(
        other_entry.verify_known(&vkey_text, known),
        Err(LedgerError::InclusionProofInvalid { .. })
    ));
    let wrong_size = ProofBundle {
        tree_size: 12,
        ..next.clone()
    };
    assert!(matches!(
        wrong_size.verify_known(&vkey_text, known),
        Err(LedgerError::BundleMismatch(_))
    ));
    // A note that is not the known one, byte for byte, is verified in full:
    // a stranger's signature over the same checkpoint does not pass.
    let forged = sign_checkpoint(&cp, ORIGIN, &key(12)).unwrap();
    let forged_bundle = ProofBundle {
        checkpoint: forged,
        ..next.clone()
    };
    assert!(matches!(
        forged_bundle.verify_known(&vkey_text, known),
        Err(LedgerError::NoTrustedSignature { .. })
    ));
    // Nothing known: a plain verification.
    assert_eq!(next.verify_known(&vkey_text, None).unwrap(), cp);
}
