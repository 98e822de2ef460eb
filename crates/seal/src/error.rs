//! The one error type of the seal crate. Every variant names a domain failure
//! (a signature that does not verify, an unknown key, a malformed envelope, a
//! ciphertext that does not decrypt); foreign library errors are turned into
//! these at the boundary, with a message that names the field and the problem.

use std::io;

/// Everything that can go wrong while handling keys, canonical JSON, signed
/// envelopes or encrypted messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// A key text (public or secret) could not be parsed.
    #[error("key text could not be parsed: {0}")]
    KeyParse(String),

    /// A value cannot be written as RFC 8785 canonical JSON (non-finite
    /// number, integer beyond ±(2^53−1), non-string map key, duplicate key).
    #[error("value cannot be canonicalised as RFC 8785 JSON: {0}")]
    Canonicalization(String),

    /// Bytes that were required to be canonical JSON are not.
    #[error("bytes are not RFC 8785 canonical JSON: {0}")]
    NotCanonical(String),

    /// An envelope's JSON or one of its fields is malformed.
    #[error("DSSE envelope is malformed: {0}")]
    MalformedEnvelope(String),

    /// The envelope carries no signature at all.
    #[error("DSSE envelope carries no signatures")]
    NoSignatures,

    /// No verifying key is known for the key id named by a signature.
    #[error("no verifying key is known for key id {keyid:?}")]
    UnknownKey {
        /// The key id the signature named.
        keyid: String,
    },

    /// The resolver returned a key whose key id differs from the one the
    /// signature named.
    #[error("key returned for key id {keyid:?} has key id {actual:?}")]
    KeyIdMismatch {
        /// The key id the signature named.
        keyid: String,
        /// The key id of the key the resolver returned.
        actual: String,
    },

    /// A signature does not verify under the key its key id names.
    #[error("signature by key {keyid:?} does not verify")]
    SignatureInvalid {
        /// The key id the failing signature named.
        keyid: String,
    },

    /// The envelope's payload type is not the one the caller expected.
    #[error("payload type {found:?} is not the expected {expected:?}")]
    PayloadTypeMismatch {
        /// The payload type the caller asked for.
        expected: String,
        /// The payload type the envelope carries.
        found: String,
    },

    /// Encryption was asked for with an empty recipient list.
    #[error("cannot encrypt to an empty list of recipients")]
    NoRecipients,

    /// Encryption failed (recipient wrapping or writing the output).
    #[error("encryption failed: {0}")]
    EncryptionFailed(String),

    /// The ciphertext is not addressed to any of the given identities.
    #[error("ciphertext is not addressed to any of the given identities")]
    NoMatchingIdentity,

    /// The ciphertext is not a well-formed age file (bad header, unknown
    /// version, or not age at all).
    #[error("ciphertext is not a well-formed age file: {0}")]
    MalformedCiphertext(String),

    /// Authentication failed: the ciphertext was altered or truncated.
    #[error("decryption failed: ciphertext was altered or truncated")]
    DecryptionFailed,

    /// The input is larger than the limit the caller set.
    #[error("input exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },

    /// Reading or writing the caller's stream failed.
    #[error("stream I/O failed: {0}")]
    Io(#[source] io::Error),
}
