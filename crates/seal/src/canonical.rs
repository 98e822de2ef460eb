//! RFC 8785 (JSON Canonicalization Scheme) serialisation and content ids.
//!
//! Canonical bytes are what Custos signs and hashes. The number and string
//! rules and the UTF-16 ordering of member names come from
//! `serde_json_canonicalizer`, which also refuses duplicate member names. On
//! top of it this module refuses integers outside ±(2^53−1): RFC 8785 writes
//! every number as an IEEE 754 double, so a larger integer (a nanosecond
//! timestamp, a `u64` counter) would be silently rounded in the signed bytes.

mod check;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::SealError;
use crate::hex;

/// The largest integer that survives a round trip through an IEEE 754
/// double, 2^53 − 1 (I-JSON, RFC 7493 §2.2). Integers beyond ± this value are
/// refused by [`canonical_json`].
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Serialises `value` as RFC 8785 canonical JSON.
///
/// Fails with [`SealError::Canonicalization`] on NaN or infinite floats, map
/// keys that are not strings (or integers, which serde writes as strings),
/// duplicate member names (possible with `#[serde(flatten)]`), and integers
/// outside ±[`MAX_SAFE_INTEGER`].
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, SealError> {
    let bytes = serde_json_canonicalizer::to_vec(&value)
        .map_err(|e| SealError::Canonicalization(e.to_string()))?;
    // The canonicaliser refuses a non-finite float only at the top level;
    // nested ones it writes as `null`, as serde_json does. So every value is
    // walked once more to refuse those and the unsafe integers.
    check::check(value)?;
    Ok(bytes)
}

/// Checks that `bytes` are exactly the canonical form of the JSON they
/// contain: the test a receiver applies before trusting a content id a peer
/// computed. Catches non-canonical number forms (`1.0`, `-0`, `1E3`),
/// whitespace, member order, escapes, duplicate member names and unsafe
/// integers.
pub fn ensure_canonical(bytes: &[u8]) -> Result<(), SealError> {
    let parsed: Value = serde_json::from_slice(bytes)
        .map_err(|e| SealError::NotCanonical(format!("not valid JSON: {e}")))?;
    let again = canonical_json(&parsed).map_err(|e| SealError::NotCanonical(e.to_string()))?;
    if again == bytes {
        return Ok(());
    }
    let at = again
        .iter()
        .zip(bytes)
        .position(|(a, b)| a != b)
        .unwrap_or(again.len().min(bytes.len()));
    Err(SealError::NotCanonical(format!(
        "canonical form differs from the input at byte {at}"
    )))
}

/// The content id of some bytes: `sha256:` followed by the 64 lower-case hex
/// digits of their SHA-256. For JSON objects the bytes must be canonical (use
/// [`content_id_of`]).
pub fn content_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    out.push_str(&hex::encode(&digest));
    out
}

/// The content id of the canonical JSON form of `value`.
pub fn content_id_of<T: Serialize + ?Sized>(value: &T) -> Result<String, SealError> {
    Ok(content_id(&canonical_json(value)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_integer_error_names_the_path() {
        let v = serde_json::json!({"a": [1, {"b": 9007199254740992u64}]});
        let err = canonical_json(&v).unwrap_err().to_string();
        assert!(err.contains("$.a[1].b"), "{err}");
        assert!(err.contains("9007199254740992"), "{err}");
    }

    #[test]
    fn boundary_integers_are_accepted() {
        let v = serde_json::json!([MAX_SAFE_INTEGER, -(MAX_SAFE_INTEGER as i64)]);
        assert_eq!(
            canonical_json(&v).unwrap(),
            b"[9007199254740991,-9007199254740991]"
        );
        let too_small = serde_json::json!([-(MAX_SAFE_INTEGER as i64) - 1]);
        assert!(matches!(
            canonical_json(&too_small),
            Err(SealError::Canonicalization(_))
        ));
    }
}
