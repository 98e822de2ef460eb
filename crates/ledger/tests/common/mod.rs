//! Helpers shared by the ledger's integration tests: reading the committed
//! vectors under `tests/data/`, hex decoding, deterministic keys and entries.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use custos_ledger::Hash;
use custos_seal::SigningKey;
use serde_json::Value;

/// Path of a file under `tests/data/`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join(name)
}

/// A committed JSON vector file.
pub fn vectors(name: &str) -> Value {
    let text = std::fs::read_to_string(data(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A string field of a JSON value.
pub fn s<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

/// A number field of a JSON value.
pub fn n(value: &Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a number"))
}

pub fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

pub fn hash_hex(text: &str) -> Hash {
    Hash::from_hex("vector", text).unwrap()
}

/// A list of hex hashes.
pub fn hashes(value: &Value) -> Vec<Hash> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hash_hex(h.as_str().unwrap()))
        .collect()
}

/// A signing key made from one repeated byte, for tests that need several
/// distinct, reproducible keys.
pub fn key(byte: u8) -> SigningKey {
    SigningKey::from_seed(&[byte; 32])
}

/// Deterministic, distinct entries of varying length.
pub fn entries(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let len = i % 37;
            (0..len).map(|j| (i * 131 + j * 7) as u8).collect()
        })
        .collect()
}

/// `bytes` with bit `bit` flipped.
pub fn flip_bit(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

/// `hash` with bit `bit` (0..256) flipped.
pub fn flip_hash(hash: &Hash, bit: usize) -> Hash {
    let mut out = *hash;
    out.0[bit / 8] ^= 1 << (bit % 8);
    out
}
