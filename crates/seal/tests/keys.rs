//! Node keys: text forms, key ids, parse errors, redaction of secrets and
//! known answers from RFC 8032 (cross-checked with Python `cryptography`).

// Test code: a panic is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;

use common::{RFC8032_T1_PUBLIC, RFC8032_T1_SEED, unhex32};
use custos_seal::{
    EncryptionIdentity, EncryptionRecipient, KEY_ID_HEX_LEN, NodeKeys, SealError, SigningKey,
    VerifyingKey,
};

const T1_PUBLIC_TEXT: &str = "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const T1_SECRET_TEXT: &str =
    "custos-ed25519-secret-v1:nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
/// hashlib.sha256(public_key).hexdigest()[:32]
const T1_KEY_ID: &str = "21fe31dfa154a261626bf854046fd227";

/// The age test-kit identity and its recipient (C2SP age test vectors).
const AGE_IDENTITY: &str =
    "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0";

fn t1() -> SigningKey {
    SigningKey::from_seed(&unhex32(RFC8032_T1_SEED))
}

#[test]
fn rfc8032_public_key_text_and_key_id() {
    let key = t1();
    let public = key.verifying_key();
    assert_eq!(public.to_bytes(), unhex32(RFC8032_T1_PUBLIC));
    assert_eq!(public.to_text(), T1_PUBLIC_TEXT);
    assert_eq!(public.to_string(), T1_PUBLIC_TEXT);
    assert_eq!(public.key_id(), T1_KEY_ID);
    assert_eq!(key.key_id(), T1_KEY_ID);
    assert_eq!(T1_KEY_ID.len(), KEY_ID_HEX_LEN);
    assert_eq!(key.to_secret_text().as_str(), T1_SECRET_TEXT);
}

#[test]
fn text_forms_round_trip() {
    let key = SigningKey::from_secret_text(T1_SECRET_TEXT).unwrap();
    assert_eq!(key.verifying_key().to_text(), T1_PUBLIC_TEXT);
    // Key files usually end with a newline.
    let again = SigningKey::from_secret_text(&format!("{T1_SECRET_TEXT}\n")).unwrap();
    assert_eq!(again.verifying_key(), key.verifying_key());

    let public: VerifyingKey = format!(" {T1_PUBLIC_TEXT}\n").parse().unwrap();
    assert_eq!(public, key.verifying_key());

    let fresh = SigningKey::generate();
    let back = SigningKey::from_secret_text(&fresh.to_secret_text()).unwrap();
    assert_eq!(back.verifying_key(), fresh.verifying_key());
    assert_eq!(back.sign(b"m"), fresh.sign(b"m"));
}

#[test]
fn public_key_parse_errors_are_typed_and_named() {
    let cases: &[(&str, &str)] = &[
        (
            "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
            "must start with",
        ),
        (
            "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "invalid base64",
        ),
        (
            "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcH!Ro=",
            "invalid base64",
        ),
        ("ed25519:AAAA", "expected 32 bytes, found 3"),
        // The identity point (small order): a weak key.
        (
            "ed25519:AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "small-order",
        ),
        // y = 2 is not the y-coordinate of any curve point.
        (
            "ed25519:AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "not a curve point",
        ),
    ];
    for (text, needle) in cases {
        match VerifyingKey::from_text(text) {
            Err(SealError::KeyParse(msg)) => {
                assert!(msg.contains(needle), "{text}: {msg:?} lacks {needle:?}");
                assert!(msg.contains("ed25519 public key"), "{msg}");
            }
            other => panic!("{text}: expected KeyParse, got {other:?}"),
        }
    }
}

#[test]
fn secret_key_parse_errors_do_not_echo_the_input() {
    let cases: &[(&str, &str)] = &[
        (
            "custos-ed25519-secret-v2:nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=",
            "must start with",
        ),
        (
            "custos-ed25519-secret-v1:nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
            "invalid base64",
        ),
        (
            "custos-ed25519-secret-v1:nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A*",
            "invalid base64",
        ),
        (
            "custos-ed25519-secret-v1:nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A/ZA==",
            "expected 32 bytes, found 34",
        ),
    ];
    for (text, needle) in cases {
        match SigningKey::from_secret_text(text) {
            Err(SealError::KeyParse(msg)) => {
                assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
                assert!(
                    !msg.contains("nWGxne"),
                    "error repeats secret material: {msg}"
                );
            }
            other => panic!("expected KeyParse, got {other:?}"),
        }
    }
}

#[test]
fn secrets_never_appear_in_debug() {
    let keys = NodeKeys {
        signing: t1(),
        encryption: EncryptionIdentity::from_secret_text(AGE_IDENTITY).unwrap(),
    };
    let secret_b64 = T1_SECRET_TEXT.split_once(':').unwrap().1;
    let printed = [
        format!("{:?}", keys.signing),
        format!("{:#?}", keys.signing),
        format!("{:?}", keys.encryption),
        format!("{keys:?}"),
        format!("{keys:#?}"),
    ];
    for text in &printed {
        assert!(text.contains("<redacted>"), "{text}");
        assert!(!text.contains(secret_b64), "{text}");
        assert!(!text.contains(RFC8032_T1_SEED), "{text}");
        assert!(!text.to_uppercase().contains(&AGE_IDENTITY[15..]), "{text}");
    }
    assert_eq!(
        format!("{:?}", keys.signing),
        format!("SigningKey(<redacted>, key id {T1_KEY_ID})")
    );
    // The public halves are printed, so that logs can say which key it was.
    assert!(printed[2].contains(&keys.recipient().to_text()));
}

#[test]
fn age_identity_and_recipient_text_forms() {
    let identity = EncryptionIdentity::from_secret_text(&format!("{AGE_IDENTITY}\n")).unwrap();
    assert_eq!(identity.to_secret_text().as_str(), AGE_IDENTITY);
    let recipient = identity.recipient();
    let text = recipient.to_text();
    assert!(text.starts_with("age1"), "{text}");
    assert_eq!(text.len(), 62);
    let parsed: EncryptionRecipient = text.parse().unwrap();
    assert_eq!(parsed, recipient);
    assert_eq!(format!("{recipient}"), text);

    let fresh = EncryptionIdentity::generate();
    let back = EncryptionIdentity::from_secret_text(&fresh.to_secret_text()).unwrap();
    assert_eq!(back.recipient(), fresh.recipient());
    assert_ne!(fresh.recipient(), recipient);
}

#[test]
fn age_parse_errors_are_typed() {
    for bad in [
        "",
        "age1",
        "AGE-SECRET-KEY-1",
        &AGE_IDENTITY[..60],
        "age1qqqq",
    ] {
        assert!(
            matches!(EncryptionIdentity::from_secret_text(bad), Err(SealError::KeyParse(m)) if m.starts_with("age identity")),
            "{bad}"
        );
        assert!(
            matches!(EncryptionRecipient::from_text(bad), Err(SealError::KeyParse(m)) if m.starts_with("age recipient")),
            "{bad}"
        );
    }
    // A secret is not a recipient and vice versa.
    let recipient = EncryptionIdentity::from_secret_text(AGE_IDENTITY)
        .unwrap()
        .recipient()
        .to_text();
    assert!(EncryptionRecipient::from_text(AGE_IDENTITY).is_err());
    assert!(EncryptionIdentity::from_secret_text(&recipient).is_err());
}

#[test]
fn public_keys_serialise_as_their_text_forms() {
    let public = t1().verifying_key();
    let recipient = EncryptionIdentity::from_secret_text(AGE_IDENTITY)
        .unwrap()
        .recipient();
    let json = serde_json::to_string(&(public, recipient.clone())).unwrap();
    assert_eq!(
        json,
        format!("[\"{T1_PUBLIC_TEXT}\",\"{}\"]", recipient.to_text())
    );
    let (p, r): (VerifyingKey, EncryptionRecipient) = serde_json::from_str(&json).unwrap();
    assert_eq!((p, r), (public, recipient));

    let err = serde_json::from_str::<VerifyingKey>("\"ed25519:AAAA\"").unwrap_err();
    assert!(err.to_string().contains("expected 32 bytes"), "{err}");
}

/// A deterministic byte source for testing `generate_with` (not random!).
struct Counter(u8);

impl rand_core::TryRng for Counter {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for byte in dst {
            *byte = self.0;
            self.0 = self.0.wrapping_add(1);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Counter {}

#[test]
fn generate_with_uses_the_given_rng_as_the_seed() {
    let from_rng = SigningKey::generate_with(&mut Counter(0));
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
    assert_eq!(
        from_rng.verifying_key(),
        SigningKey::from_seed(&seed).verifying_key()
    );
    let other = SigningKey::generate_with(&mut Counter(1));
    assert_ne!(other.verifying_key(), from_rng.verifying_key());
}

#[test]
fn node_keys_generate_distinct_keys() {
    let a = NodeKeys::generate();
    let b = NodeKeys::generate();
    assert_ne!(a.verifying_key(), b.verifying_key());
    assert_ne!(a.recipient(), b.recipient());
    assert_eq!(a.verifying_key(), a.signing.verifying_key());
}
