//! Reading the keys an operator or an outside expert types on the command line.
//!
//! Custos shows keys in three forms: the node and registry public keys as
//! `ed25519:BASE64`, the log's checkpoint verifier key as a C2SP note key
//! `custos.ledger/CC+HASH+BASE64` (type `0x01`), and a witness's verifier key
//! as `custos.witness/CC+HASH+BASE64` (type `0x04`). They are easy to
//! confuse, so each reader here recognises the other forms and says which
//! one it wanted and which command prints it.

use anyhow::bail;
use custos_ledger::{KeyType, VerifierKey};
use custos_seal::VerifyingKey;

/// Whether `text` is meant as a C2SP verifier key `NAME+HASH+BASE64` (and
/// not one of the other forms, whose base64 may hold `+` as well).
fn looks_like_vkey(text: &str) -> bool {
    let text = text.trim();
    !["ed25519:", "age1", "AGE-SECRET-KEY-", "custos-ed25519"]
        .iter()
        .any(|p| text.starts_with(p))
        && text.splitn(3, '+').count() == 3
}

/// What a key given on the command line looks like.
fn form_of(text: &str) -> &'static str {
    let text = text.trim();
    if text.starts_with("ed25519:") {
        "an `ed25519:` public key"
    } else if text.starts_with("age1") {
        "an age recipient `age1...`"
    } else if text.starts_with("AGE-SECRET-KEY-") || text.starts_with("custos-ed25519-secret") {
        "a secret key (never give a secret key here)"
    } else if looks_like_vkey(text) {
        match VerifierKey::parse(text) {
            Ok(k) if k.key_type() == KeyType::CosignatureV1 => {
                "a witness verifier key `NAME+HASH+BASE64` (type 0x04)"
            }
            Ok(_) => "a log verifier key `NAME+HASH+BASE64` (type 0x01)",
            Err(_) => "a malformed C2SP verifier key",
        }
    } else {
        "text that is no key form Custos uses"
    }
}

/// The log's checkpoint verifier key (`custos ledger key`).
pub fn log_key(option: &str, text: &str) -> anyhow::Result<VerifierKey> {
    let expected = "a C2SP verifier key `custos.ledger/CC+HASH+BASE64` (type 0x01); get it with \
                    `custos ledger key`";
    match VerifierKey::parse(text) {
        Ok(k) if k.key_type() == KeyType::Ed25519 => Ok(k),
        Ok(_) => bail!("{option}: expected {expected}, got {}", form_of(text)),
        Err(e) if looks_like_vkey(text) => {
            bail!("{option}: expected {expected}; this one does not parse: {e}")
        }
        Err(_) => bail!("{option}: expected {expected}, got {}", form_of(text)),
    }
}

/// A witness's cosignature verifier key (`custos ledger witness-key`).
pub fn witness_key(option: &str, text: &str) -> anyhow::Result<VerifierKey> {
    let expected = "a C2SP witness verifier key `custos.witness/CC+HASH+BASE64` (type 0x04); get \
                    it with `custos ledger witness-key`, or give the signed directory with \
                    --witnesses-from";
    match VerifierKey::parse(text) {
        Ok(k) if k.key_type() == KeyType::CosignatureV1 => Ok(k),
        Ok(_) => bail!("{option}: expected {expected}, got {}", form_of(text)),
        Err(e) if looks_like_vkey(text) => {
            bail!("{option}: expected {expected}; this one does not parse: {e}")
        }
        Err(_) => bail!("{option}: expected {expected}, got {}", form_of(text)),
    }
}

/// A registry's (or a node's) public key in the `ed25519:BASE64` form.
pub fn registry_key(option: &str, text: &str) -> anyhow::Result<VerifyingKey> {
    match VerifyingKey::from_text(text) {
        Ok(k) => Ok(k),
        Err(e) if text.trim().starts_with("ed25519:") => bail!(
            "{option}: expected the registry's public key `ed25519:BASE64` (as `custos registry \
             keygen` printed it); this one does not parse: {e}"
        ),
        Err(_) => bail!(
            "{option}: expected the registry's public key `ed25519:BASE64` (as `custos registry \
             keygen` printed it), got {}",
            form_of(text)
        ),
    }
}

/// A signing key id (32 hexadecimal digits, as `custos keys show` prints it).
pub fn key_id(option: &str, text: &str) -> anyhow::Result<String> {
    let text = text.trim();
    if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(text.to_ascii_lowercase());
    }
    bail!(
        "{option}: expected a signing key id (32 hexadecimal digits, as `custos keys show` prints \
         it), got {}",
        form_of(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_seal::SigningKey;

    #[test]
    fn each_reader_names_the_form_it_wanted_and_the_one_it_got() {
        let key = SigningKey::from_seed(&[7; 32]).verifying_key();
        let log = VerifierKey::ed25519("custos.ledger/FR", &key)
            .unwrap()
            .to_text();
        let witness = VerifierKey::cosignature_v1("custos.witness/FR", &key)
            .unwrap()
            .to_text();
        let plain = key.to_text();

        assert!(log_key("--key", &log).is_ok());
        let e = log_key("--key", &plain).unwrap_err().to_string();
        assert!(
            e.contains("expected a C2SP verifier key `custos.ledger/CC+HASH+BASE64`")
                && e.contains("got an `ed25519:` public key")
                && e.contains("`custos ledger key`"),
            "{e}"
        );
        let e = log_key("--key", &witness).unwrap_err().to_string();
        assert!(e.contains("got a witness verifier key"), "{e}");

        assert!(witness_key("--witness", &witness).is_ok());
        let e = witness_key("--witness", &log).unwrap_err().to_string();
        assert!(
            e.contains("got a log verifier key") && e.contains("custos ledger witness-key"),
            "{e}"
        );
        let e = witness_key("--witness", &plain).unwrap_err().to_string();
        assert!(e.contains("got an `ed25519:` public key"), "{e}");

        assert!(registry_key("--registry-key", &plain).is_ok());
        let e = registry_key("--registry-key", &log)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("expected the registry's public key `ed25519:BASE64`")
                && e.contains("got a log verifier key"),
            "{e}"
        );

        let id = key.key_id();
        assert_eq!(key_id("KEYID", &id).unwrap(), id);
        let e = key_id("KEYID", &plain).unwrap_err().to_string();
        assert!(
            e.contains("expected a signing key id") && e.contains("got an `ed25519:` public key"),
            "{e}"
        );
    }
}
