//! The proof bundle: one ledger entry, its inclusion proof and the signed
//! checkpoint the proof leads to, as a small JSON document that anyone can
//! check offline with the log's verifier key (format in
//! `docs/formats/ledger.md`). The checkpoint note may carry witnesses'
//! `cosignature/v1` lines; a checker given the witnesses' keys can require a
//! number of them, and one given none checks the log's signature alone, so
//! bundles without cosignatures read and verify as they always did.

use serde::{Deserialize, Serialize};

use crate::LedgerError;
use crate::checkpoint::{Checkpoint, OpenedCheckpoint, open_checkpoint_signed_by, peek_checkpoint};
use crate::hash::{Hash, leaf_hash};
use crate::note::{KeyType, VerifierKey};
use crate::proof::{prove_inclusion, verify_inclusion};
use crate::tree::HashReader;

/// The bundle layout version this crate writes and reads.
pub const BUNDLE_VERSION: u32 = 1;

/// Largest bundle JSON this crate parses, in bytes.
pub const MAX_BUNDLE_BYTES: usize = 16 << 20;

/// An entry with everything needed to show it is in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofBundle {
    /// Layout version, [`BUNDLE_VERSION`].
    pub v: u32,
    /// The entry's bytes (base64 in JSON).
    #[serde(with = "base64_bytes")]
    pub entry: Vec<u8>,
    /// The entry's index in the log, from 0.
    pub index: u64,
    /// The tree size the proof is for; equal to the checkpoint's size.
    pub tree_size: u64,
    /// Inclusion proof in RFC 9162 order (leaf's sibling first), base64
    /// hashes in JSON.
    pub audit_path: Vec<Hash>,
    /// The checkpoint as a signed note (log signature, possibly witness
    /// cosignatures).
    pub checkpoint: String,
}

impl ProofBundle {
    /// Builds the bundle for entry `index` against a signed checkpoint,
    /// reading the proof from stored hashes, and checks it before returning
    /// (a wrong entry or a checkpoint from another tree is caught here rather
    /// than by the court).
    pub fn build<R: HashReader + ?Sized>(
        entry: Vec<u8>,
        index: u64,
        checkpoint_note: String,
        reader: &R,
    ) -> Result<Self, LedgerError> {
        let checkpoint = peek_checkpoint(&checkpoint_note)?;
        let audit_path = prove_inclusion(index, checkpoint.size, reader)?;
        verify_inclusion(
            &leaf_hash(&entry),
            index,
            checkpoint.size,
            &audit_path,
            &checkpoint.root,
        )?;
        Ok(Self {
            v: BUNDLE_VERSION,
            entry,
            index,
            tree_size: checkpoint.size,
            audit_path,
            checkpoint: checkpoint_note,
        })
    }

    /// Parses the JSON form.
    pub fn from_json(text: &str) -> Result<Self, LedgerError> {
        Self::from_slice(text.as_bytes())
    }

    /// Parses the JSON form from raw bytes (as read from a file); bytes that
    /// are not UTF-8 are refused.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, LedgerError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(LedgerError::MalformedBundle(format!(
                "{} bytes is larger than the {MAX_BUNDLE_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let bundle: Self = serde_json::from_slice(bytes)
            .map_err(|e| LedgerError::MalformedBundle(e.to_string()))?;
        bundle.check_version()?;
        Ok(bundle)
    }

    /// The JSON form (pretty-printed, fields in the documented order).
    pub fn to_json(&self) -> String {
        // Serialising this struct cannot fail: every field is a string, a
        // number or a list of strings.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    fn check_version(&self) -> Result<(), LedgerError> {
        if self.v != BUNDLE_VERSION {
            return Err(LedgerError::MalformedBundle(format!(
                "version {} is not supported (this verifier reads version {BUNDLE_VERSION})",
                self.v
            )));
        }
        Ok(())
    }

    /// Verifies the bundle with the log's verifier key text
    /// (`<name>+<key id>+<base64>`): the checkpoint is signed by that key,
    /// its size is the bundle's tree size, and the audit path leads from the
    /// entry's leaf hash at `index` to the checkpoint's root. Returns the
    /// checkpoint.
    pub fn verify(&self, verifier_key_text: &str) -> Result<Checkpoint, LedgerError> {
        let log_key = VerifierKey::parse(verifier_key_text)?;
        Ok(self.verify_with(&log_key, &[], 0)?.checkpoint)
    }

    /// As [`ProofBundle::verify`], for a verifier that already holds a
    /// checkpoint it verified with the same key: when the bundle carries
    /// exactly that note (`known.0`, the note's text, byte for byte), its
    /// signatures are not checked again and `known.1`, the checkpoint read
    /// from it then, is used; every other check runs (version, size, the
    /// audit path to the root). Any other note is verified in full. A node
    /// checks many receipts' proofs against the same checkpoint of a peer
    /// (one checkpoint covers every message of a sequencing pass).
    pub fn verify_known(
        &self,
        verifier_key_text: &str,
        known: Option<(&str, &Checkpoint)>,
    ) -> Result<Checkpoint, LedgerError> {
        let Some((_, checkpoint)) = known.filter(|(note, _)| *note == self.checkpoint) else {
            return self.verify(verifier_key_text);
        };
        self.check_version()?;
        if checkpoint.size != self.tree_size {
            return Err(LedgerError::BundleMismatch(format!(
                "tree_size is {} but the checkpoint is for size {}",
                self.tree_size, checkpoint.size
            )));
        }
        verify_inclusion(
            &leaf_hash(&self.entry),
            self.index,
            self.tree_size,
            &self.audit_path,
            &checkpoint.root,
        )?;
        Ok(checkpoint.clone())
    }

    /// As [`ProofBundle::verify`], and also requires at least
    /// `min_cosignatures` valid `cosignature/v1` cosignatures from distinct
    /// keys among `witnesses` (each a type `0x04` verifier key). Cosignature
    /// lines by keys not among `witnesses` are ignored; a line by a given
    /// witness key that does not verify rejects the bundle. When too few
    /// verify, the error names the witnesses whose cosignature is missing.
    pub fn verify_with(
        &self,
        log_key: &VerifierKey,
        witnesses: &[VerifierKey],
        min_cosignatures: usize,
    ) -> Result<OpenedCheckpoint, LedgerError> {
        self.check_version()?;
        if log_key.key_type() != KeyType::Ed25519 {
            return Err(LedgerError::MalformedVerifierKey(format!(
                "the log key {} is a cosignature/v1 (type 0x04) witness key; expected the log's \
                 plain Ed25519 (type 0x01) key `custos.ledger/CC+HASH+BASE64`, as \
                 `custos ledger key` prints it",
                log_key.name()
            )));
        }
        if let Some(w) = witnesses
            .iter()
            .find(|w| w.key_type() != KeyType::CosignatureV1)
        {
            return Err(LedgerError::MalformedVerifierKey(format!(
                "the witness key {} is a plain Ed25519 (type 0x01) note key; expected a \
                 cosignature/v1 (type 0x04) witness key `custos.witness/CC+HASH+BASE64`, as \
                 `custos ledger witness-key` prints it",
                w.name()
            )));
        }
        let opened = open_checkpoint_signed_by(&self.checkpoint, log_key, witnesses)?;
        let checkpoint = &opened.checkpoint;
        if checkpoint.size != self.tree_size {
            return Err(LedgerError::BundleMismatch(format!(
                "tree_size is {} but the checkpoint is for size {}",
                self.tree_size, checkpoint.size
            )));
        }
        let cosigned = |w: &VerifierKey| {
            opened.note.verified.iter().any(|v| {
                v.key_type == KeyType::CosignatureV1 && w.name() == v.name && w.key_id() == v.key_id
            })
        };
        let present: Vec<&VerifierKey> = witnesses.iter().filter(|w| cosigned(w)).collect();
        if present.len() < min_cosignatures {
            let missing: Vec<String> = witnesses
                .iter()
                .filter(|w| !cosigned(w))
                .map(|w| format!("{} (key id {:08x})", w.name(), w.key_id()))
                .collect();
            let others: Vec<String> = opened
                .note
                .unverified
                .iter()
                .map(|s| format!("{} (key id {:08x})", s.name, s.key_id))
                .collect();
            let names = |list: &[String]| {
                if list.is_empty() {
                    "none".to_owned()
                } else {
                    list.join(", ")
                }
            };
            return Err(LedgerError::BundleMismatch(format!(
                "{} of the given witnesses cosigned the checkpoint, {min_cosignatures} are \
                 required; no cosignature from: {}; cosignatures by keys not given: {}",
                present.len(),
                names(&missing),
                names(&others),
            )));
        }
        verify_inclusion(
            &leaf_hash(&self.entry),
            self.index,
            self.tree_size,
            &self.audit_path,
            &checkpoint.root,
        )?;
        Ok(opened)
    }
}

/// Bytes as standard base64 text.
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text)
            .map_err(|e| serde::de::Error::custom(format!("entry is not base64 ({e})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_versions_are_refused() {
        let good = r#"{"v":1,"entry":"","index":0,"tree_size":1,"audit_path":[],"checkpoint":"x"}"#;
        assert!(ProofBundle::from_json(good).is_ok());
        let extra = good.replace(r#""v":1"#, r#""v":1,"note":"hi""#);
        assert!(matches!(
            ProofBundle::from_json(&extra),
            Err(LedgerError::MalformedBundle(_))
        ));
        let v2 = good.replace(r#""v":1"#, r#""v":2"#);
        assert!(matches!(
            ProofBundle::from_json(&v2),
            Err(LedgerError::MalformedBundle(m)) if m.contains("version 2")
        ));
    }
}
