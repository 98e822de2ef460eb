//! The 32-byte SHA-256 hash of the ledger's Merkle tree and the two RFC 6962
//! hashing rules built on it: a leaf is `SHA-256(0x00 || entry)`, an interior
//! node is `SHA-256(0x01 || left || right)`, and the empty tree's root is
//! `SHA-256("")`. The domain-separation bytes make a leaf hash impossible to
//! pass off as a node hash and back.
//!
//! A hash's text form in checkpoints and proof bundles is standard base64
//! with padding (44 characters); hex is offered for logs and tests.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::LedgerError;

/// Length of a hash in bytes.
pub const HASH_SIZE: usize = 32;

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// A SHA-256 value: a leaf hash, an interior node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_SIZE]);

/// The root of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1).
pub const EMPTY_ROOT: Hash = Hash([
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);

/// The leaf hash of one ledger entry: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(entry);
    Hash(hasher.finalize().into())
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut block = [0u8; 1 + 2 * HASH_SIZE];
    block[0] = NODE_PREFIX;
    block[1..=HASH_SIZE].copy_from_slice(&left.0);
    block[1 + HASH_SIZE..].copy_from_slice(&right.0);
    Hash(Sha256::digest(block).into())
}

impl Hash {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }

    /// Standard base64 with padding, as in checkpoints and proof bundles.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Parses standard base64 of exactly 32 bytes. `field` names where the
    /// text came from, for the error message.
    pub fn from_base64(field: &str, text: &str) -> Result<Self, LedgerError> {
        let bad = |problem: String| LedgerError::MalformedHash {
            field: field.to_owned(),
            problem,
        };
        let bytes = STANDARD
            .decode(text)
            .map_err(|e| bad(format!("invalid base64 ({e})")))?;
        Self::from_slice(&bytes)
            .map_err(|_| bad(format!("expected {HASH_SIZE} bytes, found {}", bytes.len())))
    }

    /// Lower-case hex, 64 digits.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(2 * HASH_SIZE);
        for byte in self.0 {
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0x0f));
        }
        out
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(field: &str, text: &str) -> Result<Self, LedgerError> {
        let bad = |problem: &str| LedgerError::MalformedHash {
            field: field.to_owned(),
            problem: problem.to_owned(),
        };
        let digits = text.as_bytes();
        if digits.len() != 2 * HASH_SIZE {
            return Err(bad("expected 64 hex digits"));
        }
        let mut out = [0u8; HASH_SIZE];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let high = hex_value(pair[0]).ok_or_else(|| bad("not a hex digit"))?;
            let low = hex_value(pair[1]).ok_or_else(|| bad("not a hex digit"))?;
            *byte = (high << 4) | low;
        }
        Ok(Self(out))
    }

    /// Copies a 32-byte slice; any other length is refused.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, LedgerError> {
        <[u8; HASH_SIZE]>::try_from(bytes)
            .map(Self)
            .map_err(|_| LedgerError::MalformedHash {
                field: "hash".into(),
                problem: format!("expected {HASH_SIZE} bytes, found {}", bytes.len()),
            })
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Hash {
    type Err = LedgerError;

    /// Accepts either 64 hex digits or 44 characters of base64.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 2 * HASH_SIZE {
            Self::from_hex("hash", s)
        } else {
            Self::from_base64("hash", s)
        }
    }
}

/// Serialised as its base64 text, the form proof bundles use.
impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_base64("hash", &text).map_err(serde::de::Error::custom)
    }
}
