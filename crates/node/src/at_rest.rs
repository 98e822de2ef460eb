//! Case content at rest: stored envelopes and saved drafts sealed under the node's storage key.
//!
//! A copy of the database must not reveal a case. Every record that holds
//! case content (a message's signed envelope, the draft of a request saved
//! without being sent) is stored as a *sealed record*: XChaCha20-Poly1305
//! under the node's 256-bit storage key (`keys/storage.key`, 0600, never in
//! the database), with a fresh random nonce and the record's kind and id as
//! associated data, so a sealed record moved to another row does not open.
//! Inside, beside the content, the record carries the exact bytes of the
//! ledger entry that recorded it and a ledger size reached before that
//! entry was queued (the latest checkpoint the node knows it signed): a read finds the entry with one short indexed scan and checks
//! the content's hash against it (see `reads.rs`).
//!
//! Layout: `0x01`, 24-byte nonce, then the ciphertext (with its 16-byte
//! tag) of: ledger size (u64, little-endian), entry length (u32,
//! little-endian), entry bytes, content bytes.

use std::fs;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::NodeError;

/// The file in the key folder that holds the storage key (hex, 0600).
pub const STORAGE_KEY_FILE: &str = "storage.key";

/// The first byte of every sealed record (its format version).
const FORMAT: u8 = 1;
const NONCE: usize = 24;

/// What a sealed record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A message's signed envelope (DSSE JSON); the id is the message id.
    Message,
    /// A saved draft (canonical JSON); the id is the request id.
    Draft,
    /// A user's TOTP secret; the id is the user name.
    TotpSecret,
}

impl RecordKind {
    fn tag(self) -> &'static [u8] {
        match self {
            RecordKind::Message => b"custos-record/1 message ",
            RecordKind::Draft => b"custos-record/1 draft ",
            RecordKind::TotpSecret => b"custos-record/1 totp ",
        }
    }
}

/// A sealed record, opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedRecord {
    /// The ledger's size before the entry recording this record was queued.
    pub ledger_from: u64,
    /// The exact bytes of that ledger entry.
    pub entry: Vec<u8>,
    /// The content: the envelope or the draft.
    pub content: Vec<u8>,
}

/// Why a sealed record does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealedRecordError {
    #[error("the stored record is not in the sealed form")]
    NotSealed,
    #[error("the sealed record does not open with this node's storage key for this record")]
    DoesNotOpen,
    #[error("the sealed record's contents are malformed")]
    Malformed,
}

/// The node's storage key. `Debug` shows nothing of it.
#[derive(Clone)]
pub struct StorageKey(XChaCha20Poly1305);

impl std::fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorageKey(<secret>)")
    }
}

fn key_err(path: &Path, problem: impl std::fmt::Display) -> NodeError {
    NodeError::Keys {
        path: path.display().to_string(),
        problem: problem.to_string(),
    }
}

impl StorageKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        StorageKey(XChaCha20Poly1305::new(bytes.into()))
    }

    /// Reads the key from the key folder `dir`, creating it first if the
    /// folder holds none (a node set up before keys were sealed at rest).
    /// Two processes creating it at once end up with the same key: the
    /// file appears under its name only once, by a link that fails if it
    /// exists.
    pub fn load_or_create(dir: &Path) -> Result<StorageKey, NodeError> {
        let path = dir.join(STORAGE_KEY_FILE);
        if !path.exists() {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| key_err(&path, e))?;
            let tmp = dir.join(format!(".{STORAGE_KEY_FILE}.{}", uuid::Uuid::new_v4()));
            crate::keys::write_secret(&tmp, hex::encode(bytes).as_bytes())?;
            let linked = fs::hard_link(&tmp, &path);
            let _ = fs::remove_file(&tmp);
            match linked {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(key_err(&path, e)),
            }
        }
        let text = crate::keys::read_secret(&path)?;
        let bytes = hex::decode(text.trim()).map_err(|e| key_err(&path, e))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| key_err(&path, "a storage key is 32 bytes (64 hex digits)"))?;
        Ok(StorageKey::from_bytes(&bytes))
    }

    fn aad(kind: RecordKind, id: &str) -> Vec<u8> {
        let mut aad = kind.tag().to_vec();
        aad.extend_from_slice(id.as_bytes());
        aad
    }

    /// Seals `content` of the record `id`, with the ledger entry recording
    /// it and the ledger size before that entry was queued.
    pub fn seal(
        &self,
        kind: RecordKind,
        id: &str,
        ledger_from: u64,
        entry: &[u8],
        content: &[u8],
    ) -> Result<Vec<u8>, NodeError> {
        let entry_len = u32::try_from(entry.len())
            .map_err(|_| NodeError::Internal("a ledger entry over 4 GiB".into()))?;
        let mut plain = Vec::with_capacity(12 + entry.len() + content.len());
        plain.extend_from_slice(&ledger_from.to_le_bytes());
        plain.extend_from_slice(&entry_len.to_le_bytes());
        plain.extend_from_slice(entry);
        plain.extend_from_slice(content);
        let mut nonce = [0u8; NONCE];
        getrandom::fill(&mut nonce)
            .map_err(|e| NodeError::Internal(format!("no randomness for a nonce: {e}")))?;
        let aad = Self::aad(kind, id);
        let sealed = self
            .0
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .map_err(|_| NodeError::Internal("sealing a record failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE + sealed.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens the sealed record `id` of `kind`.
    pub fn open(
        &self,
        kind: RecordKind,
        id: &str,
        sealed: &[u8],
    ) -> Result<OpenedRecord, SealedRecordError> {
        let Some((&FORMAT, rest)) = sealed.split_first() else {
            return Err(SealedRecordError::NotSealed);
        };
        if rest.len() < NONCE {
            return Err(SealedRecordError::Malformed);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into().map_err(|_| SealedRecordError::Malformed)?;
        let aad = Self::aad(kind, id);
        let plain = self
            .0
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| SealedRecordError::DoesNotOpen)?;
        let (from, rest) = plain
            .split_first_chunk::<8>()
            .ok_or(SealedRecordError::Malformed)?;
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .ok_or(SealedRecordError::Malformed)?;
        let len =
            usize::try_from(u32::from_le_bytes(*len)).map_err(|_| SealedRecordError::Malformed)?;
        if rest.len() < len {
            return Err(SealedRecordError::Malformed);
        }
        let (entry, content) = rest.split_at(len);
        Ok(OpenedRecord {
            ledger_from: u64::from_le_bytes(*from),
            entry: entry.to_vec(),
            content: content.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_opens_only_as_itself() {
        let key = StorageKey::from_bytes(&[7; 32]);
        let sealed = key
            .seal(
                RecordKind::Message,
                "sha256:aa",
                12,
                b"{\"e\":1}",
                b"secret facts",
            )
            .unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        let opened = key.open(RecordKind::Message, "sha256:aa", &sealed).unwrap();
        assert_eq!(opened.ledger_from, 12);
        assert_eq!(opened.entry, b"{\"e\":1}");
        assert_eq!(opened.content, b"secret facts");
        // Another id, another kind, another key, one flipped bit: nothing opens.
        assert_eq!(
            key.open(RecordKind::Message, "sha256:ab", &sealed),
            Err(SealedRecordError::DoesNotOpen)
        );
        assert_eq!(
            key.open(RecordKind::Draft, "sha256:aa", &sealed),
            Err(SealedRecordError::DoesNotOpen)
        );
        let other = StorageKey::from_bytes(&[8; 32]);
        assert!(
            other
                .open(RecordKind::Message, "sha256:aa", &sealed)
                .is_err()
        );
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(
            key.open(RecordKind::Message, "sha256:aa", &flipped)
                .is_err()
        );
        assert_eq!(
            key.open(RecordKind::Message, "sha256:aa", b"{\"payload\":1}"),
            Err(SealedRecordError::NotSealed)
        );
        assert!(key.open(RecordKind::Message, "sha256:aa", &[1, 2]).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_created_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let a = StorageKey::load_or_create(tmp.path()).unwrap();
        let b = StorageKey::load_or_create(tmp.path()).unwrap();
        let sealed = a.seal(RecordKind::Draft, "r", 0, b"", b"x").unwrap();
        assert_eq!(
            b.open(RecordKind::Draft, "r", &sealed).unwrap().content,
            b"x"
        );
        let mode = fs::metadata(tmp.path().join(STORAGE_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
