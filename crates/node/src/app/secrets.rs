//! The secrets people hold and how the node checks them: passwords hashed
//! with Argon2id, the TOTP second factor of RFC 6238, recovery codes,
//! session and token secrets.
//!
//! Passwords: Argon2id with the OWASP parameters (19 MiB, 2 passes, one
//! lane) and a random 16-byte salt from the operating system, kept as PHC
//! strings; hashing runs on a blocking thread, at most [`HASHING_AT_ONCE`]
//! at a time, so that a burst of sign-ins stays within a known memory
//! (4 × 19 MiB). TOTP: HMAC-SHA-1, six digits, 30-second steps, one step
//! of drift either way, compared in constant time. Recovery codes, session
//! and token secrets are random with at least 80 bits, so a SHA-256 of
//! each is enough to keep them.

use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, PasswordVerifier, Version};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::NodeError;

/// How many password hashes run at once in one process.
pub const HASHING_AT_ONCE: usize = 4;

/// The shortest password a person may choose.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// How many recovery codes a user gets with each second factor.
pub const RECOVERY_CODES: usize = 10;

/// The TOTP time step, in seconds.
pub const TOTP_STEP: i64 = 30;

/// Argon2id with the OWASP parameters: m = 19456 KiB, t = 2, p = 1.
pub fn argon2() -> Result<Argon2<'static>, NodeError> {
    let params = Params::new(19_456, 2, 1, Some(32))
        .map_err(|e| NodeError::Internal(format!("Argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// `n` random bytes from the operating system.
pub fn random<const N: usize>() -> Result<[u8; N], NodeError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| NodeError::Internal(format!("no randomness from the system: {e}")))?;
    Ok(bytes)
}

/// Hashes a password (blocking: call it through [`crate::Node`]'s bounded
/// hashing).
pub fn hash_password(password: &str) -> Result<String, NodeError> {
    let salt = random::<16>()?;
    argon2()?
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| NodeError::Internal(format!("hashing a password failed: {e}")))
}

/// Whether `password` matches the PHC string `hash` (blocking). A stored
/// hash that does not parse matches nothing.
pub fn verify_password(hash: &str, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A PHC string of a password nobody knows, so that a sign-in for an
/// unknown user costs what a real one does.
pub fn decoy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$ZGVjb3ktc2FsdC0xMjM0NQ$\
     mN0sRvGZkXH6Tq2b1Vw8c3YfJtA9pLe4uKoD7xSgQiE"
}

/// A password chosen for the person: 24 characters of base32 (120 bits).
pub fn generated_password() -> Result<String, NodeError> {
    Ok(data_encoding::BASE32_NOPAD
        .encode(&random::<15>()?)
        .to_ascii_lowercase())
}

/// A new TOTP secret: 20 random bytes (the size of an HMAC-SHA-1 key).
pub fn totp_secret() -> Result<[u8; 20], NodeError> {
    random::<20>()
}

/// The secret as people type it into an authenticator: base32.
pub fn totp_base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// The `otpauth://` URI an authenticator reads (from a QR code).
pub fn totp_uri(issuer: &str, user: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{issuer}:{user}?secret={}&issuer={issuer}&algorithm=SHA1&digits=6&period={TOTP_STEP}",
        totp_base32(secret)
    )
}

/// The six-digit code of `secret` for the time step `step` (RFC 4226's
/// dynamic truncation of HMAC-SHA-1 over the step's 8 bytes).
pub fn totp_code(secret: &[u8], step: i64) -> Result<u32, NodeError> {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret)
        .map_err(|_| NodeError::Internal("an HMAC key was refused".into()))?;
    mac.update(&step.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let word = [
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ];
    Ok(u32::from_be_bytes(word) % 1_000_000)
}

/// The time step of `unix_seconds`.
pub fn totp_step(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(TOTP_STEP)
}

/// The step whose code `code` is, among the step of `unix_seconds` and one
/// on either side, checked in constant time; `None` if none matches.
pub fn totp_match(secret: &[u8], code: &str, unix_seconds: i64) -> Result<Option<i64>, NodeError> {
    let typed = code.trim();
    if typed.len() != 6 || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let now = totp_step(unix_seconds);
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        let expected = format!("{:06}", totp_code(secret, step)?);
        if bool::from(expected.as_bytes().ct_eq(typed.as_bytes())) {
            found = Some(step);
        }
    }
    Ok(found)
}

/// Whether `code` looks like a TOTP code (six digits) rather than a
/// recovery code.
pub fn is_totp_code(code: &str) -> bool {
    let c = code.trim();
    c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())
}

/// New recovery codes: 16 base32 characters (80 bits) in four groups.
pub fn recovery_codes() -> Result<Vec<String>, NodeError> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let text = data_encoding::BASE32_NOPAD
                .encode(&random::<10>()?)
                .to_ascii_lowercase();
            Ok(text
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-"))
        })
        .collect()
}

/// The hash a user's recovery code is kept under: typed with or without
/// dashes, in either case.
pub fn recovery_code_hash(user: &str, code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut h = Sha256::new();
    h.update(b"custos-recovery-code/1\n");
    h.update(user.as_bytes());
    h.update(b"\n");
    h.update(normal.as_bytes());
    hex::encode(h.finalize())
}

/// A random secret for a bearer: `prefix` then 32 hex digits (128 bits).
pub fn bearer_secret(prefix: &str) -> Result<String, NodeError> {
    Ok(format!("{prefix}{}", hex::encode(random::<16>()?)))
}

/// The hash under which a session's or token's secret is stored.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether two stored hashes are equal, in constant time.
pub fn same_hash(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 vectors (8 digits there; the last
    /// six are the six-digit code).
    #[test]
    fn totp_codes_match_the_rfc_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(
                totp_code(secret, totp_step(time)).unwrap(),
                eight % 1_000_000,
                "at {time}"
            );
        }
    }

    #[test]
    fn a_code_matches_its_step_and_one_either_side_only() {
        let secret = totp_secret().unwrap();
        let t = 1_800_000_000;
        let step = totp_step(t);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = format!("{:06}", totp_code(&secret, step + offset).unwrap());
            let found = totp_match(&secret, &code, t).unwrap();
            assert_eq!(found.is_some(), accepted, "offset {offset}");
            if accepted {
                assert_eq!(found, Some(step + offset));
            }
        }
        assert_eq!(totp_match(&secret, "12345", t).unwrap(), None);
        assert_eq!(totp_match(&secret, "abcdef", t).unwrap(), None);
    }

    #[test]
    fn passwords_hash_to_argon2id_phc_strings_that_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse battery!"));
        assert!(!verify_password("not a hash", "x"));
        assert!(!verify_password(decoy_hash(), ""));
        // The decoy is a real hash, so that checking it costs a real check.
        assert!(argon2::PasswordHash::new(decoy_hash()).is_ok());
        // Two hashes of one password differ by their salt.
        assert_ne!(hash, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_hash_however_typed() {
        let codes = recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        let c = &codes[0];
        assert_eq!(c.len(), 19);
        assert_eq!(
            recovery_code_hash("ana", c),
            recovery_code_hash("ana", &c.replace('-', "").to_uppercase())
        );
        assert_ne!(recovery_code_hash("ana", c), recovery_code_hash("bo", c));
        assert!(!is_totp_code(c));
        assert!(is_totp_code(" 012345 "));
    }
}
