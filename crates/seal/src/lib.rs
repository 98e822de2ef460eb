//! The cryptographic layer of a Custos node: node keys and their text forms,
//! RFC 8785 canonical JSON and content ids, DSSE signed envelopes (Ed25519),
//! and age encryption to one or more recipients.
//!
//! The crate is pure: it never touches the file system, the network or a
//! database. Callers read and write key files and pass bytes in; randomness
//! comes either from an RNG the caller passes or from the operating system
//! inside the explicit `generate()` constructors. The byte-level formats are
//! described in `docs/formats/envelope.md` so that other tools can check
//! everything this crate produces.

mod batch;
mod canonical;
mod crypt;
mod envelope;
mod error;
mod hex;
mod keys;

pub use batch::{SignatureCheck, verify_batch};
pub use canonical::{
    MAX_SAFE_INTEGER, canonical_json, content_id, content_id_of, ensure_canonical,
};
pub use crypt::{
    DecryptingReader, EncryptingWriter, decrypt, decrypt_any, decrypt_reader, encrypt,
    encrypt_writer,
};
pub use envelope::{Envelope, EnvelopeSignature, Verified, pae};
pub use error::SealError;
pub use keys::{
    EncryptionIdentity, EncryptionRecipient, KEY_ID_HEX_LEN, NodeKeys, SIGNING_PUBLIC_PREFIX,
    SIGNING_SECRET_PREFIX, SigningKey, VerifyingKey,
};
