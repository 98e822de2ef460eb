//! C2SP signed notes and verifier keys: the Go `sumdb/note` example
//! reproduced byte for byte from its published key, the C2SP examples, real
//! `sum.golang.org` tree heads, the spec's trust rules, malformed input, and
//! agreement with the independent `signed_note` crate on random notes.

// Test code: a panic is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{key, n, s, unhex, vectors};
use custos_ledger::{
    KeyType, LedgerError, Note, NoteSignature, VerifierKey, add_signature, key_id, open_note,
    sign_note,
};
use custos_seal::SigningKey;
use proptest::prelude::*;
use signed_note::Verifier as _;

/// The seed inside a Go `PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>`.
fn go_signer_seed(skey: &str) -> [u8; 32] {
    // The base64 may itself contain '+', so split off the four fields first.
    let material = skey.splitn(5, '+').nth(4).unwrap();
    let bytes = STANDARD.decode(material).unwrap();
    assert_eq!(bytes[0], 0x01);
    bytes[1..].try_into().unwrap()
}

#[test]
fn go_note_example_is_reproduced_byte_for_byte() {
    let v = &vectors("signed-notes.json")["go_sumdb_note"];
    let key = SigningKey::from_seed(&go_signer_seed(s(v, "signer_key")));
    let note = sign_note(s(v, "text"), "PeterNeumann", &key).unwrap();
    assert_eq!(note, s(v, "note"));

    // Our verifier key text is Go's.
    let vkey = VerifierKey::ed25519("PeterNeumann", &key.verifying_key()).unwrap();
    assert_eq!(vkey.to_text(), s(v, "verifier_key"));
    assert_eq!(vkey.key_id(), 0xc74f20a3);

    // Adding EnochRoot's signature (all-zero seed) gives Go's doubly signed note.
    let enoch = SigningKey::from_seed(&[0; 32]);
    let enoch_vkey = VerifierKey::ed25519("EnochRoot", &enoch.verifying_key()).unwrap();
    assert_eq!(enoch_vkey.to_text(), s(v, "second_verifier_key"));
    let doubly = add_signature(&note, "EnochRoot", &enoch).unwrap();
    assert_eq!(doubly, s(v, "doubly_signed_note"));

    // Opening with one key verifies one signature and sets the other aside.
    let peter = VerifierKey::parse(s(v, "verifier_key")).unwrap();
    let opened = open_note(&doubly, std::slice::from_ref(&peter)).unwrap();
    assert_eq!(opened.text, s(v, "text"));
    assert_eq!(opened.verified_names(), ["PeterNeumann"]);
    assert_eq!(opened.unverified.len(), 1);
    assert_eq!(opened.unverified[0].name, "EnochRoot");
    let both = open_note(&doubly, &[peter, enoch_vkey]).unwrap();
    assert_eq!(both.verified_names(), ["PeterNeumann", "EnochRoot"]);
    assert!(both.unverified.is_empty());
}

#[test]
fn c2sp_vkey_example_parses_and_verifies() {
    let v = &vectors("signed-notes.json")["c2sp_vkey_example"];
    let vkey = VerifierKey::parse(s(v, "verifier_key")).unwrap();
    assert_eq!(vkey.name(), "example.com/foo");
    assert_eq!(vkey.key_id(), 0x530d903a);
    assert_eq!(vkey.key_type(), KeyType::Ed25519);
    assert_eq!(
        vkey.verifying_key().to_bytes().to_vec(),
        unhex(s(v, "public_key_hex"))
    );
    assert_eq!(vkey.to_text(), s(v, "verifier_key"));
    let opened = open_note(s(v, "note"), &[vkey]).unwrap();
    assert_eq!(opened.text, s(v, "text"));
}

#[test]
fn c2sp_note_example_splits_at_the_last_blank_line() {
    let v = &vectors("signed-notes.json")["c2sp_note_example"];
    let note = Note::parse(s(v, "note")).unwrap();
    assert_eq!(note.text(), s(v, "text"));
    assert_eq!(note.signatures().len(), 1);
    let signature = &note.signatures()[0];
    assert_eq!(signature.name, s(v, "signer_name"));
    assert_eq!(format!("{:08x}", signature.key_id), s(v, "key_id"));
    assert_eq!(signature.signature.len(), 64);
    assert_eq!(note.to_text(), s(v, "note"));
}

#[test]
fn sum_golang_org_tree_heads_verify() {
    let v = vectors("sumdb.json");
    let vkey = VerifierKey::parse(s(&v, "verifier_key")).unwrap();
    assert_eq!(vkey.name(), "sum.golang.org");
    assert_eq!(vkey.key_id(), 0x033de0ae);
    assert_eq!(vkey.to_text(), s(&v, "verifier_key"));
    assert!(matches!(
        VerifierKey::parse(s(&v, "mistyped_verifier_key")),
        Err(LedgerError::MalformedVerifierKey(_))
    ));
    for case in v["notes"].as_array().unwrap() {
        let (checkpoint, names) =
            custos_ledger::open_checkpoint(s(case, "note"), std::slice::from_ref(&vkey)).unwrap();
        assert_eq!(names, ["sum.golang.org"]);
        assert_eq!(checkpoint.origin, s(case, "origin"));
        assert_eq!(checkpoint.size, n(case, "size"));
        assert_eq!(checkpoint.root.to_base64(), s(case, "root"));
        // One changed digit of the size breaks the signature.
        let forged = s(case, "note").replacen(
            &checkpoint.size.to_string(),
            &(checkpoint.size + 1).to_string(),
            1,
        );
        assert!(matches!(
            open_note(&forged, std::slice::from_ref(&vkey)),
            Err(LedgerError::SignatureInvalid { .. })
        ));
    }
}

#[test]
fn key_ids_follow_the_spec_formula() {
    let public = key(7).verifying_key().to_bytes();
    let plain = key_id("log.example/a", KeyType::Ed25519, &public);
    let cosig = key_id("log.example/a", KeyType::CosignatureV1, &public);
    assert_ne!(plain, cosig, "the type byte is part of the key id");
    use sha2::{Digest, Sha256};
    let mut input = b"log.example/a\n\x01".to_vec();
    input.extend_from_slice(&public);
    let digest = Sha256::digest(&input);
    assert_eq!(plain, u32::from_be_bytes(digest[..4].try_into().unwrap()));
}

#[test]
fn verifier_keys_are_checked() {
    let good = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    VerifierKey::parse(good).unwrap();
    // Surrounding whitespace (a file's final newline) is harmless.
    VerifierKey::parse(&format!("{good}\n")).unwrap();
    // Upper-case hex in the key id is read as Go reads it; the text written
    // back is lower case.
    let upper = VerifierKey::parse(&good.replace("c74f20a3", "C74F20A3")).unwrap();
    assert_eq!(upper.to_text(), good);
    // Every strict prefix and suffix of the key is refused.
    for i in 1..good.len() {
        assert!(VerifierKey::parse(&good[..i]).is_err(), "prefix {i}");
        assert!(VerifierKey::parse(&good[i..]).is_err(), "suffix {i}");
    }
    // So is every single-character change.
    let bytes = good.as_bytes();
    for i in 0..bytes.len() {
        let mut changed = bytes.to_vec();
        // 'Q' is a base64 character and a name character but not a hex digit.
        changed[i] = if changed[i] == b'Q' { b'R' } else { b'Q' };
        let changed = String::from_utf8(changed).unwrap();
        assert!(VerifierKey::parse(&changed).is_err(), "{changed}");
    }
    let bad = [
        ("", "two plus signs"),
        ("PeterNeumann+c74f20a3", "two plus signs"),
        (
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "space",
        ),
        (
            "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "8 hexadecimal",
        ),
        (
            "PeterNeumann+c74f20a3+BRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "type 0x05",
        ),
        (
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
            "base64",
        ),
        (
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "does not match",
        ),
    ];
    for (text, needle) in bad {
        let error = VerifierKey::parse(text).unwrap_err().to_string();
        assert!(error.contains(needle), "{text:?}: {error}");
    }
    // The plain and cosignature forms of one key differ in type and id.
    let witness = VerifierKey::cosignature_v1("w.example", &key(3).verifying_key()).unwrap();
    let parsed = VerifierKey::parse(&witness.to_text()).unwrap();
    assert_eq!(parsed, witness);
    assert!(
        witness
            .to_text()
            .split('+')
            .nth(2)
            .unwrap()
            .starts_with('B')
    );
}

#[test]
fn key_names_are_checked() {
    let k = key(1);
    for name in ["", "a b", "a+b", "a\tb", "a\u{2003}b", "a\u{7}b"] {
        assert!(
            matches!(
                sign_note("x\n", name, &k),
                Err(LedgerError::InvalidKeyName { .. })
            ),
            "{name:?}"
        );
        assert!(VerifierKey::ed25519(name, &k.verifying_key()).is_err());
    }
}

#[test]
fn trust_rules_of_the_spec() {
    let (a, b, c) = (key(1), key(2), key(3));
    let va = VerifierKey::ed25519("a.example", &a.verifying_key()).unwrap();
    let vb = VerifierKey::ed25519("b.example", &b.verifying_key()).unwrap();
    let vc = VerifierKey::ed25519("c.example", &c.verifying_key()).unwrap();
    let note = sign_note("hello\n", "a.example", &a).unwrap();
    let note = add_signature(&note, "b.example", &b).unwrap();

    // Unknown keys only: rejected, naming who did sign.
    let error = open_note(&note, std::slice::from_ref(&vc)).unwrap_err();
    assert!(
        matches!(&error, LedgerError::NoTrustedSignature { found } if found == "a.example, b.example")
    );

    // A line whose name and id match a trusted key but whose signature fails
    // rejects the whole note, even if another trusted key verified.
    let forged_line = NoteSignature {
        name: "b.example".into(),
        key_id: vb.key_id(),
        signature: vec![0; 64],
    };
    let mut parsed = Note::parse(&note).unwrap();
    parsed.push_signature(forged_line);
    let forged = parsed.to_text();
    assert!(matches!(
        open_note(&forged, &[va.clone(), vb.clone()]),
        Err(LedgerError::SignatureInvalid { name, .. }) if name == "b.example"
    ));
    // ...but the same line is ignored by a verifier that does not know b.
    assert_eq!(
        open_note(&forged, std::slice::from_ref(&va))
            .unwrap()
            .verified_names(),
        ["a.example"]
    );

    // Same name, different key: an unknown key, ignored rather than failed.
    let impostor = add_signature(&note, "a.example", &c).unwrap();
    let opened = open_note(&impostor, std::slice::from_ref(&va)).unwrap();
    assert_eq!(opened.verified_names(), ["a.example"]);
    assert_eq!(opened.unverified.len(), 2);

    // Re-signing with the same key replaces rather than repeats the line.
    let again = add_signature(&note, "a.example", &a).unwrap();
    assert_eq!(Note::parse(&again).unwrap().signatures().len(), 2);

    // The same trusted key listed twice is not ambiguous. (Two different
    // keys sharing name and 32-bit id would be refused; making one takes a
    // brute-force search too slow for a test.)
    assert!(
        open_note(&note, &[va.clone(), va.clone()]).is_ok(),
        "the same key twice is fine"
    );
}

#[test]
fn malformed_notes_are_refused() {
    let k = key(9);
    let good = sign_note("one\ntwo\n", "k.example", &k).unwrap();
    let line = good.split("\n\n").nth(1).unwrap().to_owned();
    let cases: Vec<(String, &str)> = vec![
        ("one\ntwo\n".into(), "no blank line"),
        ("one\ntwo\n\n".into(), "no signature lines"),
        (good.trim_end().into(), "does not end with a newline"),
        (good.replace('\u{2014}', "-"), "em dash"),
        (good.replace("k.example ", "k.example  "), "base64"),
        (good.replace("k.example ", "k+example "), "plus sign"),
        (format!("one\r\ntwo\n\n{line}"), "control character"),
        (
            format!("one\ntwo\n\n{line}{line}\u{2014} x.example AAAA\n"),
            "too short",
        ),
        (
            "one\ntwo\n\n\u{2014} x.example AAAAAA==\n".to_string(),
            "no signature after the key id",
        ),
        (
            "one\ntwo\n\n\u{2014} x.example AAAAAA\n".to_string(),
            "base64",
        ),
        (
            format!("one\ntwo\n\n{line}\ngarbage\n"),
            "does not start with an em dash",
        ),
    ];
    for (note, needle) in cases {
        let error = Note::parse(&note).unwrap_err().to_string();
        assert!(error.contains(needle), "{note:?}: {error}");
    }
    // Syntax only asks for a key id and at least one signature byte (as Go
    // does); a known key would then refuse the short signature.
    let short = "one\ntwo\n\n\u{2014} x.example AAAAAAA=\n";
    assert_eq!(Note::parse(short).unwrap().signatures()[0].signature, [0]);
    let known = VerifierKey::new("x.example", KeyType::Ed25519, &k.verifying_key()).unwrap();
    let forged = format!(
        "one\ntwo\n\n{}",
        NoteSignature {
            name: "x.example".into(),
            key_id: known.key_id(),
            signature: vec![0]
        }
        .to_line()
    );
    assert!(matches!(
        open_note(&forged, &[known]),
        Err(LedgerError::SignatureInvalid { .. })
    ));
    // Size and signature-count limits.
    let many = format!("x\n\n{}", line.repeat(101));
    assert!(
        Note::parse(&many)
            .unwrap_err()
            .to_string()
            .contains("more than the 100")
    );
    let sixteen = format!("x\n\n{}", line.repeat(16));
    assert_eq!(Note::parse(&sixteen).unwrap().signatures().len(), 16);
    let huge = format!("{}\n\n{line}", "a".repeat(1 << 20));
    assert!(Note::parse(&huge).is_err());
    // Text to sign must end in a newline and hold no control characters.
    assert!(sign_note("no newline", "k.example", &k).is_err());
    assert!(sign_note("tab\there\n", "k.example", &k).is_err());
}

/// The `signed_note` crate's signer for the same seed, through its
/// `PRIVATE+KEY+...` text form.
fn their_signer(name: &str, seed: &[u8; 32]) -> signed_note::StandardSigner {
    let public = SigningKey::from_seed(seed).verifying_key().to_bytes();
    let mut material = vec![0x01];
    material.extend_from_slice(seed);
    let skey = format!(
        "PRIVATE+KEY+{name}+{:08x}+{}",
        key_id(name, KeyType::Ed25519, &public),
        STANDARD.encode(material)
    );
    signed_note::StandardSigner::new(&skey).unwrap()
}

fn text_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-zA-Z0-9 .,:/=+\u{e8}\u{2014}-]{0,30}", 1..6)
        .prop_map(|lines| lines.iter().map(|l| format!("{l}\n")).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn agrees_with_the_signed_note_crate(
        text in text_strategy(),
        name in "[a-z]{1,10}\\.example(/[a-z0-9]{1,8})?",
        seed in any::<[u8; 32]>(),
    ) {
        // Same key, same text: byte-identical notes.
        let ours = sign_note(&text, &name, &SigningKey::from_seed(&seed)).unwrap();
        let signer = their_signer(&name, &seed);
        let mut theirs = signed_note::Note::new(text.as_bytes(), &[]).unwrap();
        theirs.add_sigs(&[&signer]).unwrap();
        let their_bytes = theirs.to_bytes();
        prop_assert_eq!(ours.as_bytes(), their_bytes.as_slice());

        // Their verifier accepts our vkey text and our note.
        let vkey = VerifierKey::ed25519(&name, &SigningKey::from_seed(&seed).verifying_key()).unwrap();
        let verifier = signed_note::StandardVerifier::new(&vkey.to_text()).unwrap();
        prop_assert_eq!(verifier.key_id(), vkey.key_id());
        let parsed = signed_note::Note::from_bytes(ours.as_bytes()).unwrap();
        let list = signed_note::VerifierList::new(vec![Box::new(verifier)]);
        prop_assert!(parsed.verify(&list).is_ok());

        // Round trip of our own parser.
        let opened = open_note(&ours, &[vkey]).unwrap();
        prop_assert_eq!(&opened.text, &text);
        prop_assert_eq!(Note::parse(&ours).unwrap().to_text(), ours);
    }

    #[test]
    fn any_changed_byte_of_the_text_breaks_the_signature(
        text in text_strategy(),
        at in any::<prop::sample::Index>(),
    ) {
        let k = key(5);
        let vkey = VerifierKey::ed25519("k.example", &k.verifying_key()).unwrap();
        let note = sign_note(&text, "k.example", &k).unwrap();
        let position = at.index(text.len());
        // Replace one ASCII character of the text by another.
        if text.as_bytes()[position].is_ascii_alphanumeric() {
            let mut bytes = note.into_bytes();
            bytes[position] = if bytes[position] == b'x' { b'y' } else { b'x' };
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(open_note(&changed, &[vkey]).is_err());
        }
    }
}
