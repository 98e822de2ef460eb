//! Witness cosignatures in the Ed25519 form of C2SP tlog-cosignature
//! (<https://c2sp.org/tlog-cosignature>, type `0x04`, `cosignature/v1`).
//!
//! A witness that has checked a checkpoint's consistency with everything it
//! saw before signs the message
//! `"cosignature/v1\ntime <POSIX seconds>\n" || checkpoint note body` and
//! publishes a note signature line whose blob is
//! `key id || timestamp (8 bytes, big-endian) || Ed25519 signature`. The key
//! id is computed with type byte `0x04`, so the same Ed25519 key used as a
//! plain note signer would have a different id. The time is passed in by the
//! caller; this crate never reads a clock.

use custos_seal::SigningKey;

use crate::LedgerError;
use crate::checkpoint::Checkpoint;
use crate::note::{KeyType, NoteSignature, VerifierKey, key_id, validate_key_name};

/// The largest timestamp a cosignature may carry (2^63 − 1).
pub const MAX_TIMESTAMP: u64 = u64::MAX >> 1;

/// The header line that separates cosigned messages from anything else an
/// Ed25519 key might sign.
pub const COSIGNATURE_HEADER: &str = "cosignature/v1\n";

/// The exact bytes a `cosignature/v1` signature covers.
pub fn cosigned_message(note_body: &str, timestamp: u64) -> Vec<u8> {
    let time_line = format!("time {timestamp}\n");
    let mut message =
        Vec::with_capacity(COSIGNATURE_HEADER.len() + time_line.len() + note_body.len());
    message.extend_from_slice(COSIGNATURE_HEADER.as_bytes());
    message.extend_from_slice(time_line.as_bytes());
    message.extend_from_slice(note_body.as_bytes());
    message
}

/// Cosigns a checkpoint note body at `timestamp` (POSIX seconds) as the
/// witness `witness_name`; returns the signature line (ending in a newline)
/// to append to the checkpoint's signed note. The body must be a well-formed
/// checkpoint: a witness never signs text it cannot read.
pub fn cosign(
    note_body: &str,
    witness_name: &str,
    key: &SigningKey,
    timestamp: u64,
) -> Result<String, LedgerError> {
    Ok(cosignature(note_body, witness_name, key, timestamp)?.to_line())
}

/// As [`cosign`], returning the structured signature.
pub fn cosignature(
    note_body: &str,
    witness_name: &str,
    key: &SigningKey,
    timestamp: u64,
) -> Result<NoteSignature, LedgerError> {
    validate_key_name(witness_name)?;
    Checkpoint::parse(note_body)?;
    if timestamp > MAX_TIMESTAMP {
        return Err(LedgerError::OutOfRange {
            what: format!("cosignature timestamp {timestamp} is above 2^63 - 1"),
        });
    }
    let public = key.verifying_key().to_bytes();
    let mut blob = Vec::with_capacity(8 + 64);
    blob.extend_from_slice(&timestamp.to_be_bytes());
    blob.extend_from_slice(&key.sign(&cosigned_message(note_body, timestamp)));
    Ok(NoteSignature {
        name: witness_name.to_owned(),
        key_id: key_id(witness_name, KeyType::CosignatureV1, &public),
        signature: blob,
    })
}

/// Verifies one cosignature line over a checkpoint note body with the
/// witness's `cosignature/v1` verifier key; returns the cosignature's
/// timestamp.
pub fn verify_cosignature(
    note_body: &str,
    line: &str,
    witness: &VerifierKey,
) -> Result<u64, LedgerError> {
    if witness.key_type() != KeyType::CosignatureV1 {
        return Err(LedgerError::MalformedCosignature(format!(
            "verifier key {} is not a cosignature/v1 (type 0x04) key",
            witness.name()
        )));
    }
    let signature = NoteSignature::parse_line(line)?;
    if signature.name != witness.name() || signature.key_id != witness.key_id() {
        return Err(LedgerError::MalformedCosignature(format!(
            "line is by {} (key id {:08x}), not by witness {} (key id {:08x})",
            signature.name,
            signature.key_id,
            witness.name(),
            witness.key_id()
        )));
    }
    match witness.check(note_body, &signature.signature)? {
        Some(timestamp) => Ok(timestamp),
        None => Err(LedgerError::MalformedCosignature(
            "no timestamp in a cosignature".into(),
        )),
    }
}
