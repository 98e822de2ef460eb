//! Node keys and their text forms: the Ed25519 signing key and its public
//! half, the age X25519 identity and its recipient, and the key id that names
//! a public signing key inside envelopes and the directory.
//!
//! Text forms (see `docs/formats/envelope.md`):
//! - public signing key: `ed25519:<standard base64 of the 32 key bytes>`;
//! - secret signing key: `custos-ed25519-secret-v1:<standard base64 of the 32-byte seed>`;
//! - age identity and recipient: the usual `AGE-SECRET-KEY-1…` and `age1…` Bech32 strings;
//! - key id: the first 16 bytes of SHA-256 over the 32 public key bytes, as 32
//!   lower-case hex digits.
//!
//! Secret types zeroize their key material on drop, print as `<redacted>` in
//! `Debug`, and implement neither `Display` nor `Serialize`.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer as _;
use rand_core::CryptoRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::SealError;
use crate::hex;

/// Prefix of the text form of a public signing key.
pub const SIGNING_PUBLIC_PREFIX: &str = "ed25519:";
/// Prefix of the text form of a secret signing key (the `v1` names the layout
/// after the colon: standard base64 of the 32-byte Ed25519 seed).
pub const SIGNING_SECRET_PREFIX: &str = "custos-ed25519-secret-v1:";
/// Length of a key id in hex digits (16 bytes of SHA-256).
pub const KEY_ID_HEX_LEN: usize = 32;

const KEY_ID_BYTES: usize = KEY_ID_HEX_LEN / 2;

/// Decodes strict standard base64 (padding required, no stray trailing bits)
/// into exactly 32 bytes, keeping the intermediate buffer zeroized.
fn decode_32(what: &str, text: &str) -> Result<Zeroizing<[u8; 32]>, SealError> {
    let decoded = Zeroizing::new(
        STANDARD
            .decode(text)
            .map_err(|e| SealError::KeyParse(format!("{what}: invalid base64 ({e})")))?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    if decoded.len() != out.len() {
        return Err(SealError::KeyParse(format!(
            "{what}: expected 32 bytes, found {}",
            decoded.len()
        )));
    }
    out.copy_from_slice(&decoded);
    Ok(out)
}

/// The public half of a node's Ed25519 signing key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl VerifyingKey {
    /// The key as ed25519-dalek holds it.
    pub(crate) fn dalek(&self) -> &ed25519_dalek::VerifyingKey {
        &self.0
    }

    /// Builds a key from its 32 compressed Edwards-point bytes. Rejects bytes
    /// that are not a point and small-order ("weak") points, which no honest
    /// key generator produces.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, SealError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| {
            SealError::KeyParse("ed25519 public key: bytes are not a curve point".into())
        })?;
        if key.is_weak() {
            return Err(SealError::KeyParse(
                "ed25519 public key: small-order point is not an acceptable key".into(),
            ));
        }
        Ok(Self(key))
    }

    /// The 32 public key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key id: the first 16 bytes of SHA-256 over the public key bytes,
    /// as 32 lower-case hex digits.
    pub fn key_id(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        hex::encode(&digest[..KEY_ID_BYTES])
    }

    /// The text form `ed25519:<base64>`.
    pub fn to_text(&self) -> String {
        let mut out = String::from(SIGNING_PUBLIC_PREFIX);
        STANDARD.encode_string(self.0.as_bytes(), &mut out);
        out
    }

    /// Parses the text form `ed25519:<base64>` (surrounding whitespace is
    /// ignored, so a key file's final newline does no harm).
    pub fn from_text(text: &str) -> Result<Self, SealError> {
        let body = text
            .trim()
            .strip_prefix(SIGNING_PUBLIC_PREFIX)
            .ok_or_else(|| {
                SealError::KeyParse(format!(
                    "ed25519 public key: text must start with {SIGNING_PUBLIC_PREFIX:?}"
                ))
            })?;
        let bytes = decode_32("ed25519 public key", body)?;
        Self::from_bytes(&bytes)
    }

    /// Checks an Ed25519 signature over `message` with strict verification
    /// (canonical `S`, no small-order `R` or key), as RFC 8032 §5.1.7 and the
    /// dalek `verify_strict` define it.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SealError> {
        let invalid = || SealError::SignatureInvalid {
            keyid: self.key_id(),
        };
        let bytes: &[u8; 64] = signature.try_into().map_err(|_| invalid())?;
        let signature = ed25519_dalek::Signature::from_bytes(bytes);
        self.0
            .verify_strict(message, &signature)
            .map_err(|_| invalid())
    }
}

impl fmt::Display for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VerifyingKey({}, key id {})",
            self.to_text(),
            self.key_id()
        )
    }
}

impl FromStr for VerifyingKey {
    type Err = SealError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_text(s)
    }
}

impl Serialize for VerifyingKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for VerifyingKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_text(&text).map_err(serde::de::Error::custom)
    }
}

/// A node's Ed25519 signing key. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// Makes a fresh key from the operating system's random source.
    ///
    /// # Panics
    /// If the operating system cannot supply random bytes. A node must not
    /// make keys without a working random source, so this is not recoverable.
    pub fn generate() -> Self {
        Self::generate_with(&mut rand_core::UnwrapErr(getrandom::SysRng))
    }

    /// Makes a fresh key from the caller's cryptographic RNG.
    pub fn generate_with<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut_slice());
        Self::from_seed(&seed)
    }

    /// Builds the key from its 32-byte seed (the RFC 8032 "private key").
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The secret text form `custos-ed25519-secret-v1:<base64 seed>`, for the
    /// caller to write to a key file. The returned string is zeroized on drop.
    pub fn to_secret_text(&self) -> Zeroizing<String> {
        // Prefix plus 44 base64 characters: reserve it all so the string never
        // reallocates and leaves a stray copy of the secret behind.
        let mut out = Zeroizing::new(String::with_capacity(SIGNING_SECRET_PREFIX.len() + 44));
        out.push_str(SIGNING_SECRET_PREFIX);
        STANDARD.encode_string(self.0.as_bytes(), &mut out);
        out
    }

    /// Parses the secret text form (surrounding whitespace is ignored). Error
    /// messages never repeat the input.
    pub fn from_secret_text(text: &str) -> Result<Self, SealError> {
        let body = text
            .trim()
            .strip_prefix(SIGNING_SECRET_PREFIX)
            .ok_or_else(|| {
                SealError::KeyParse(format!(
                    "ed25519 secret key: text must start with {SIGNING_SECRET_PREFIX:?}"
                ))
            })?;
        let seed = decode_32("ed25519 secret key", body)?;
        Ok(Self::from_seed(&seed))
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key())
    }

    /// The key id of the public half.
    pub fn key_id(&self) -> String {
        self.verifying_key().key_id()
    }

    /// A deterministic Ed25519 signature (RFC 8032) over `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(<redacted>, key id {})", self.key_id())
    }
}

/// A node's age X25519 identity (the secret that opens messages sent to it).
/// Zeroized on drop; never printed.
#[derive(Clone)]
pub struct EncryptionIdentity(pub(crate) age::x25519::Identity);

impl EncryptionIdentity {
    /// Makes a fresh identity from the operating system's random source.
    ///
    /// # Panics
    /// If the operating system cannot supply random bytes (as
    /// [`SigningKey::generate`]).
    pub fn generate() -> Self {
        Self(age::x25519::Identity::generate())
    }

    /// Parses the standard `AGE-SECRET-KEY-1…` form (surrounding whitespace
    /// is ignored). Error messages never repeat the input.
    pub fn from_secret_text(text: &str) -> Result<Self, SealError> {
        age::x25519::Identity::from_str(text.trim())
            .map(Self)
            .map_err(|e| SealError::KeyParse(format!("age identity: {e}")))
    }

    /// The standard `AGE-SECRET-KEY-1…` form, zeroized on drop.
    pub fn to_secret_text(&self) -> Zeroizing<String> {
        use age::secrecy::ExposeSecret as _;
        Zeroizing::new(self.0.to_string().expose_secret().to_owned())
    }

    /// The recipient (public key) that encrypts to this identity.
    pub fn recipient(&self) -> EncryptionRecipient {
        EncryptionRecipient(self.0.to_public())
    }
}

impl fmt::Debug for EncryptionIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EncryptionIdentity(<redacted>, recipient {})",
            self.recipient()
        )
    }
}

/// An age X25519 recipient (`age1…`): the public key others encrypt to.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EncryptionRecipient(pub(crate) age::x25519::Recipient);

impl EncryptionRecipient {
    /// Parses the standard `age1…` form (surrounding whitespace is ignored).
    pub fn from_text(text: &str) -> Result<Self, SealError> {
        age::x25519::Recipient::from_str(text.trim())
            .map(Self)
            .map_err(|e| SealError::KeyParse(format!("age recipient: {e}")))
    }

    /// The standard `age1…` form.
    pub fn to_text(&self) -> String {
        self.0.to_string()
    }
}

impl fmt::Display for EncryptionRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for EncryptionRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionRecipient({})", self.0)
    }
}

impl FromStr for EncryptionRecipient {
    type Err = SealError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_text(s)
    }
}

impl Serialize for EncryptionRecipient {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for EncryptionRecipient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_text(&text).map_err(serde::de::Error::custom)
    }
}

/// The two secret keys a node holds: one to sign what it sends, one to open
/// what is encrypted to it.
#[derive(Clone, Debug)]
pub struct NodeKeys {
    /// Signs envelopes, checkpoints and receipts.
    pub signing: SigningKey,
    /// Opens age messages and evidence packages addressed to the node.
    pub encryption: EncryptionIdentity,
}

impl NodeKeys {
    /// Makes both keys fresh from the operating system's random source.
    ///
    /// # Panics
    /// If the operating system cannot supply random bytes.
    pub fn generate() -> Self {
        Self {
            signing: SigningKey::generate(),
            encryption: EncryptionIdentity::generate(),
        }
    }

    /// The public signing key, for the directory.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The age recipient, for the directory.
    pub fn recipient(&self) -> EncryptionRecipient {
        self.encryption.recipient()
    }
}
