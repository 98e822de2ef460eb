//! The node's key files: current secrets, retired decryption keys, public history.
//!
//! Layout of `DIR/keys/` (the folder is 0700, every file 0600):
//! - `signing.key` — the current Ed25519 signing secret;
//! - `encryption.key` — the current age identity;
//! - `retired/encryption-N.key` — earlier age identities, kept so that
//!   messages encrypted to them (in flight during a rotation, or our own sent
//!   copies) still open;
//! - `history.json` — every public key the node has had, with its validity
//!   period; this is what goes into the node's directory entry;
//! - `storage.key` — the symmetric key that seals case content in the
//!   database (`at_rest.rs`); created on first load if missing, never
//!   rotated with the others (it is not part of the node's identity).
//!
//! Retired signing secrets are deleted: verifying old messages needs only the
//! public key, which stays in the history. Every file is written to a
//! temporary name and renamed, so a crash never leaves half a key.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use custos_protocol::KeyValidity;
use custos_seal::{EncryptionIdentity, EncryptionRecipient, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::at_rest::StorageKey;
use crate::error::NodeError;

const SIGNING: &str = "signing.key";
const ENCRYPTION: &str = "encryption.key";
const HISTORY: &str = "history.json";
const RETIRED: &str = "retired";

/// Every public key the node has had.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KeyHistory {
    pub signing: Vec<KeyValidity<VerifyingKey>>,
    pub encryption: Vec<KeyValidity<EncryptionRecipient>>,
}

/// The node's keys, loaded from its key folder.
#[derive(Debug)]
pub struct Keystore {
    dir: PathBuf,
    pub signing: SigningKey,
    pub encryption: EncryptionIdentity,
    /// Earlier encryption identities, newest first.
    pub retired: Vec<EncryptionIdentity>,
    pub history: KeyHistory,
    /// Seals case content at rest.
    pub storage: StorageKey,
}

fn err(path: &Path, problem: impl std::fmt::Display) -> NodeError {
    NodeError::Keys {
        path: path.display().to_string(),
        problem: problem.to_string(),
    }
}

impl Keystore {
    /// Generates the node's first keys in `dir` (which must hold none).
    pub fn create(dir: &Path, now: OffsetDateTime) -> Result<Keystore, NodeError> {
        if dir.join(SIGNING).exists() || dir.join(ENCRYPTION).exists() {
            return Err(err(
                dir,
                "already holds keys; use `custos keys rotate` to replace them",
            ));
        }
        create_private_dir(dir)?;
        let signing = SigningKey::generate();
        let encryption = EncryptionIdentity::generate();
        let history = KeyHistory {
            signing: vec![KeyValidity::new(signing.verifying_key(), now)],
            encryption: vec![KeyValidity::new(encryption.recipient(), now)],
        };
        let ks = Keystore {
            dir: dir.to_owned(),
            signing,
            encryption,
            retired: Vec::new(),
            history,
            storage: StorageKey::load_or_create(dir)?,
        };
        ks.write_all()?;
        Ok(ks)
    }

    /// Loads the keys from `dir`, refusing secret files others can read.
    pub fn load(dir: &Path) -> Result<Keystore, NodeError> {
        let signing = SigningKey::from_secret_text(read_secret(&dir.join(SIGNING))?.trim())
            .map_err(|e| err(&dir.join(SIGNING), e))?;
        let encryption =
            EncryptionIdentity::from_secret_text(read_secret(&dir.join(ENCRYPTION))?.trim())
                .map_err(|e| err(&dir.join(ENCRYPTION), e))?;
        let history_path = dir.join(HISTORY);
        let text = fs::read_to_string(&history_path).map_err(|e| err(&history_path, e))?;
        let history: KeyHistory = serde_json::from_str(&text).map_err(|e| err(&history_path, e))?;
        let mut retired = Vec::new();
        let retired_dir = dir.join(RETIRED);
        if retired_dir.is_dir() {
            let mut files: Vec<_> = fs::read_dir(&retired_dir)
                .map_err(|e| err(&retired_dir, e))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "key"))
                .collect();
            files.sort();
            files.reverse();
            for f in files {
                let id = EncryptionIdentity::from_secret_text(read_secret(&f)?.trim())
                    .map_err(|e| err(&f, e))?;
                retired.push(id);
            }
        }
        let ks = Keystore {
            dir: dir.to_owned(),
            signing,
            encryption,
            retired,
            history,
            storage: StorageKey::load_or_create(dir)?,
        };
        ks.check_consistent()?;
        Ok(ks)
    }

    fn check_consistent(&self) -> Result<(), NodeError> {
        let current_signing = self.history.signing.last().map(|k| k.key);
        if current_signing != Some(self.signing.verifying_key()) {
            return Err(err(
                &self.dir.join(HISTORY),
                "the last signing key in the history is not the current signing key",
            ));
        }
        let current_enc = self.history.encryption.last().map(|k| k.key.to_text());
        if current_enc != Some(self.encryption.recipient().to_text()) {
            return Err(err(
                &self.dir.join(HISTORY),
                "the last encryption key in the history is not the current encryption key",
            ));
        }
        Ok(())
    }

    /// Replaces both keys. The old public keys stay in the history with their
    /// validity ending now; the old encryption identity is kept to open
    /// messages already on their way.
    pub fn rotate(&mut self, now: OffsetDateTime) -> Result<(), NodeError> {
        for k in self
            .history
            .signing
            .iter_mut()
            .filter(|k| k.valid_until.is_none())
        {
            k.valid_until = Some(now);
        }
        for k in self
            .history
            .encryption
            .iter_mut()
            .filter(|k| k.valid_until.is_none())
        {
            k.valid_until = Some(now);
        }
        let n = self.history.encryption.len();
        let retired_dir = self.dir.join(RETIRED);
        create_private_dir(&retired_dir)?;
        write_secret(
            &retired_dir.join(format!("encryption-{n:04}.key")),
            self.encryption.to_secret_text().as_bytes(),
        )?;

        let signing = SigningKey::generate();
        let encryption = EncryptionIdentity::generate();
        self.history
            .signing
            .push(KeyValidity::new(signing.verifying_key(), now));
        self.history
            .encryption
            .push(KeyValidity::new(encryption.recipient(), now));
        let old = std::mem::replace(&mut self.encryption, encryption);
        self.retired.insert(0, old);
        self.signing = signing;
        self.write_all()
    }

    /// Marks a signing key of the history as revoked (compromised): it verifies nothing any more.
    pub fn revoke_signing(&mut self, keyid: &str, now: OffsetDateTime) -> Result<(), NodeError> {
        let current = self.signing.key_id();
        if keyid == current {
            return Err(NodeError::KeyChangeRefused(
                "the current signing key cannot be revoked; rotate first, then revoke the old key"
                    .to_owned(),
            ));
        }
        let Some(k) = self
            .history
            .signing
            .iter_mut()
            .find(|k| k.key.key_id() == keyid)
        else {
            return Err(NodeError::KeyChangeRefused(format!(
                "no signing key with id {keyid} in the history (`custos keys show` lists them)"
            )));
        };
        if let Some(at) = k.revoked_at {
            return Err(NodeError::KeyChangeRefused(format!(
                "the signing key {keyid} was already revoked at {at}"
            )));
        }
        k.revoked_at = Some(now);
        self.write_history()
    }

    /// Every identity that may open a message addressed to this node, newest first.
    pub fn identities(&self) -> Vec<EncryptionIdentity> {
        let mut all = vec![self.encryption.clone()];
        all.extend(self.retired.iter().cloned());
        all
    }

    /// The key folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write_all(&self) -> Result<(), NodeError> {
        write_secret(
            &self.dir.join(SIGNING),
            self.signing.to_secret_text().as_bytes(),
        )?;
        write_secret(
            &self.dir.join(ENCRYPTION),
            self.encryption.to_secret_text().as_bytes(),
        )?;
        self.write_history()
    }

    fn write_history(&self) -> Result<(), NodeError> {
        let path = self.dir.join(HISTORY);
        let text = serde_json::to_vec_pretty(&self.history).map_err(|e| err(&path, e))?;
        write_file(&path, &text, 0o600)
    }
}

fn create_private_dir(dir: &Path) -> Result<(), NodeError> {
    fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| err(dir, e))?;
    }
    Ok(())
}

pub(crate) fn read_secret(path: &Path) -> Result<String, NodeError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).map_err(|e| err(path, e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(err(
                path,
                format!(
                    "is readable by other users; run `chmod 600 {}`",
                    path.display()
                ),
            ));
        }
    }
    fs::read_to_string(path).map_err(|e| err(path, e))
}

pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    write_file(path, bytes, 0o600)
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), NodeError> {
    let tmp = path.with_extension("tmp");
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(&tmp).map_err(|e| err(&tmp, e))?;
    f.write_all(bytes).map_err(|e| err(&tmp, e))?;
    f.sync_all().map_err(|e| err(&tmp, e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn create_load_rotate_keeps_history_and_old_identities() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("keys");
        let t0 = datetime!(2026-01-01 0:00 UTC);
        let ks = Keystore::create(&dir, t0).unwrap();
        assert!(
            Keystore::create(&dir, t0).is_err(),
            "create refuses to overwrite"
        );
        let first_signing = ks.signing.verifying_key();

        let mut ks = Keystore::load(&dir).unwrap();
        assert_eq!(ks.signing.verifying_key(), first_signing);
        let t1 = datetime!(2026-06-01 0:00 UTC);
        ks.rotate(t1).unwrap();

        let ks = Keystore::load(&dir).unwrap();
        assert_ne!(ks.signing.verifying_key(), first_signing);
        assert_eq!(ks.history.signing.len(), 2);
        assert_eq!(ks.history.signing[0].valid_until, Some(t1));
        assert_eq!(ks.identities().len(), 2);
        let debug = format!("{ks:?}");
        assert!(
            !debug.contains("AGE-SECRET-KEY"),
            "secrets leak into Debug: {debug}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn secrets_are_private_and_loose_permissions_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("keys");
        Keystore::create(&dir, datetime!(2026-01-01 0:00 UTC)).unwrap();
        for f in [SIGNING, ENCRYPTION] {
            assert_eq!(
                fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        fs::set_permissions(dir.join(SIGNING), fs::Permissions::from_mode(0o644)).unwrap();
        let e = Keystore::load(&dir).unwrap_err().to_string();
        assert!(e.contains("readable by other users"), "{e}");
    }
}
