//! Checking many envelope signatures at once, for a pass over stored records.
//!
//! ed25519-dalek's batch verification checks n signatures with one
//! multiscalar multiplication, about half the cost per signature of checking
//! them one by one. It is not strict verification: it uses the cofactored
//! equation and does not refuse a non-canonical or small-order `R`, so it
//! accepts a few encodings that [`Envelope::verify`] refuses; none of them
//! can be made without the signing key (weak keys never get this far:
//! [`VerifyingKey`] refuses them). A batch that passes says every signature was made by the
//! holder of its key; a batch that fails says at least one was not, and the
//! caller then checks each envelope on its own, strictly, to name it.
//!
//! Intake and checked reads verify strictly, one signature at a time. Use a
//! batch only where the bytes checked are also bound another way: the deep
//! check binds every stored envelope to the hash that its ledger entry
//! logged when the envelope was first verified strictly.

use crate::envelope::{Envelope, pae};
use crate::{SealError, VerifyingKey};

/// One envelope signature ready to be checked in a batch: the signed bytes,
/// the signature and the key it names.
#[derive(Clone, Debug)]
pub struct SignatureCheck {
    message: Vec<u8>,
    signature: ed25519_dalek::Signature,
    key: ed25519_dalek::VerifyingKey,
}

impl Envelope {
    /// Picks the signature that [`Envelope::verify`] would check first (the
    /// first one whose key `resolver` knows, whose key id is that key's and
    /// that is 64 bytes long) without checking it, for [`verify_batch`].
    /// When none qualifies, the error is the one [`Envelope::verify`] gives.
    pub fn signature_check(
        &self,
        resolver: impl Fn(&str) -> Option<VerifyingKey>,
    ) -> Result<SignatureCheck, SealError> {
        let picked = self.signatures.iter().find_map(|s| {
            let key = resolver(&s.keyid)?;
            let bytes: &[u8; 64] = s.sig.as_slice().try_into().ok()?;
            (key.key_id() == s.keyid).then_some((key, bytes))
        });
        match picked {
            Some((key, bytes)) => Ok(SignatureCheck {
                message: pae(&self.payload_type, &self.payload),
                signature: ed25519_dalek::Signature::from_bytes(bytes),
                key: *key.dalek(),
            }),
            // Verification applies the same choice, so it fails too.
            None => Err(self
                .verify(resolver)
                .err()
                .unwrap_or(SealError::NoSignatures)),
        }
    }
}

/// Whether every signature verifies, checked as one batch. `true` for an
/// empty batch. See the module documentation for what a pass means.
pub fn verify_batch(checks: &[SignatureCheck]) -> bool {
    let messages: Vec<&[u8]> = checks.iter().map(|c| c.message.as_slice()).collect();
    let signatures: Vec<ed25519_dalek::Signature> = checks.iter().map(|c| c.signature).collect();
    let keys: Vec<ed25519_dalek::VerifyingKey> = checks.iter().map(|c| c.key).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

    fn signed(n: usize) -> (Vec<Envelope>, Vec<VerifyingKey>) {
        let keys: Vec<SigningKey> = (0..3).map(|_| SigningKey::generate()).collect();
        let envelopes = (0..n)
            .map(|i| {
                Envelope::sign(
                    "application/test",
                    format!("payload {i}").as_bytes(),
                    &keys[i % keys.len()],
                )
            })
            .collect();
        (
            envelopes,
            keys.iter().map(SigningKey::verifying_key).collect(),
        )
    }

    fn resolver(keys: &[VerifyingKey]) -> impl Fn(&str) -> Option<VerifyingKey> + '_ {
        |id| keys.iter().find(|k| k.key_id() == id).copied()
    }

    #[test]
    fn a_batch_of_good_signatures_passes_and_one_bad_signature_fails_it() {
        let (mut envelopes, keys) = signed(70);
        let checks = |envelopes: &[Envelope]| -> Vec<SignatureCheck> {
            envelopes
                .iter()
                .map(|e| e.signature_check(resolver(&keys)).unwrap())
                .collect()
        };
        assert!(verify_batch(&checks(&envelopes)));
        assert!(verify_batch(&[]));
        envelopes[41].payload[0] ^= 1;
        assert!(!verify_batch(&checks(&envelopes)));
        // Strict verification names the one that fails.
        let bad: Vec<usize> = envelopes
            .iter()
            .enumerate()
            .filter(|(_, e)| e.verify(resolver(&keys)).is_err())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(bad, vec![41]);
    }

    #[test]
    fn a_signature_no_key_checks_gives_the_error_verify_gives() {
        let (envelopes, keys) = signed(1);
        let none = |_: &str| None;
        assert_eq!(
            envelopes[0].signature_check(none).unwrap_err().to_string(),
            envelopes[0].verify(none).unwrap_err().to_string()
        );
        let mut short = envelopes[0].clone();
        short.signatures[0].sig.truncate(63);
        assert_eq!(
            short
                .signature_check(resolver(&keys))
                .unwrap_err()
                .to_string(),
            short.verify(resolver(&keys)).unwrap_err().to_string()
        );
    }
}
