//! Restoring a backup ([`super::backup`]) into a new data folder: never over
//! a folder that holds a node or one a node serves from; every member
//! checked against the manifest's SHA-256 before the folder takes its
//! name; the keys decrypted only with the passphrase or identity they were
//! encrypted to. The caller then opens the node and runs the deep check.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use age::secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::backup::{
    BackupError, BackupManifest, DATABASE_DIR, FILES_DIR, FORMAT, KEYS_DIR, KEYS_MEMBER, MANIFEST,
    ServeLock, io_error,
};

/// The configuration file whose presence marks a folder as a node's.
const CONFIG_FILE: &str = "custos.toml";
/// The largest manifest or encrypted key bundle read into memory.
const SMALL_MEMBER_LIMIT: u64 = 64 * 1024 * 1024;

/// What opens the keys in a backup.
#[derive(Debug)]
pub enum KeySecret {
    /// Nothing given.
    Nothing,
    /// The passphrase the keys were encrypted to.
    Passphrase(SecretString),
    /// The text of an age identity file (`AGE-SECRET-KEY-1...` lines).
    Identity(SecretString),
}

/// What a restore did.
#[derive(Clone, Debug, Serialize)]
pub struct RestoreReport {
    /// The new data folder.
    pub data: PathBuf,
    /// The node and when its backup was taken.
    pub state: String,
    pub node: String,
    pub backed_up_at: String,
    pub schema_version: Option<i64>,
    /// The ledger's size when the backup began.
    pub ledger_size: u64,
    /// Members restored, each checked against its SHA-256.
    pub members: usize,
    pub bytes: u64,
    /// The database file restored (relative to the data folder), if any.
    pub database: Option<String>,
    /// Whether the keys were in the backup and are now in `keys/`.
    pub keys_restored: bool,
}

/// Restores the backup `from` into the new data folder `into`: refuses a
/// folder that holds a node, one a node serves from, or any non-empty one;
/// unpacks into a staging folder, checks every member against the
/// manifest, decrypts the keys when they are in it, and only then moves
/// the restored files to their place. On any failure nothing is left
/// behind.
///
/// A missing `into` is staged beside it and renamed. An existing empty one
/// (a service's state folder, made by its service manager and owned by the
/// node's account, whose parent that account may not write) keeps its
/// owner and is made private to it (0700, as every node's folder): the
/// backup is staged in a hidden folder inside it and moved up, the
/// configuration file last, so that the folder counts as a node's only
/// once everything else is in place.
pub fn restore(from: &Path, into: &Path, secret: KeySecret) -> Result<RestoreReport, BackupError> {
    check_target(into)?;
    let in_place = into.exists();
    let staging = if in_place {
        make_private(into)?;
        into.join(STAGING_INSIDE)
    } else {
        staging_path(into)
    };
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(io_error(format!(
            "cannot remove the leftover {}",
            staging.display()
        )))?;
    }
    fs::create_dir_all(&staging)
        .map_err(io_error(format!("cannot create {}", staging.display())))?;
    let placed = unpack(from, &staging, secret).and_then(|report| {
        if in_place {
            move_up(&staging, into)?;
        } else {
            fs::rename(&staging, into).map_err(io_error(format!(
                "cannot move the restored folder to {}",
                into.display()
            )))?;
        }
        Ok(report)
    });
    match placed {
        Ok(mut report) => {
            report.data = into.to_owned();
            Ok(report)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

/// Closes an existing target folder to everyone but its owner.
fn make_private(folder: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(folder, fs::Permissions::from_mode(0o700)).map_err(io_error(
            format!("cannot make {} private", folder.display()),
        ))?;
    }
    #[cfg(not(unix))]
    let _ = folder;
    Ok(())
}

/// The staging folder inside an existing empty target.
const STAGING_INSIDE: &str = ".custos-restoring";

/// Moves what `staging` holds into `into` (its parent), the configuration
/// file last, then removes `staging`.
fn move_up(staging: &Path, into: &Path) -> Result<(), BackupError> {
    let mut names: Vec<_> = fs::read_dir(staging)
        .map_err(io_error(format!("cannot read {}", staging.display())))?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io_error(format!("cannot read {}", staging.display())))?;
    names.sort_by_key(|name| name == CONFIG_FILE);
    for name in names {
        fs::rename(staging.join(&name), into.join(&name)).map_err(io_error(format!(
            "cannot move {} into {}",
            name.to_string_lossy(),
            into.display()
        )))?;
    }
    fs::remove_dir(staging).map_err(io_error(format!("cannot remove {}", staging.display())))
}

/// Refuses a live node's folder, or any folder with something in it (a
/// staging folder an interrupted restore left inside it aside).
fn check_target(into: &Path) -> Result<(), BackupError> {
    if !into.exists() {
        return Ok(());
    }
    if ServeLock::is_held(into) {
        return Err(BackupError::Serving(into.to_owned()));
    }
    if into.join(CONFIG_FILE).exists() {
        return Err(BackupError::ExistingNode(into.to_owned()));
    }
    let entries =
        fs::read_dir(into).map_err(io_error(format!("cannot read {}", into.display())))?;
    for entry in entries {
        let entry = entry.map_err(io_error(format!("cannot read {}", into.display())))?;
        if entry.file_name() != STAGING_INSIDE {
            return Err(BackupError::NotEmpty(into.to_owned()));
        }
    }
    Ok(())
}

fn staging_path(into: &Path) -> PathBuf {
    let mut name = into.file_name().unwrap_or_default().to_os_string();
    name.push(".restoring");
    into.with_file_name(name)
}

/// A member's path inside its folder, checked: plain names only.
fn safe_relative(text: &str) -> Option<PathBuf> {
    let path = Path::new(text);
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

struct Read_ {
    size: u64,
    sha256: String,
}

fn unpack(from: &Path, staging: &Path, secret: KeySecret) -> Result<RestoreReport, BackupError> {
    let file = File::open(from).map_err(io_error(format!("cannot open {}", from.display())))?;
    let mut archive = tar::Archive::new(BufReader::new(file));
    let mut seen: BTreeMap<String, Read_> = BTreeMap::new();
    let mut manifest_bytes = None;
    let mut keys = None;
    let mut bytes = 0u64;
    let entries = archive
        .entries()
        .map_err(|e| BackupError::Damaged(format!("cannot read {}: {e}", from.display())))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| BackupError::Damaged(e.to_string()))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(BackupError::Damaged(
                "a member is not a regular file".into(),
            ));
        }
        let name = entry
            .path()
            .map_err(|e| BackupError::Damaged(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let size = entry.size();
        bytes += size;
        if name == MANIFEST {
            manifest_bytes = Some(read_small(&mut entry, &name)?);
            continue;
        }
        if seen.contains_key(&name) {
            return Err(BackupError::Damaged(format!("{name} appears twice")));
        }
        let hashed = if name == KEYS_MEMBER {
            let data = read_small(&mut entry, &name)?;
            let sha256 = hex::encode(Sha256::digest(&data));
            keys = Some(data);
            Read_ { size, sha256 }
        } else {
            let rel = name
                .strip_prefix(&format!("{DATABASE_DIR}/"))
                .or_else(|| name.strip_prefix(&format!("{FILES_DIR}/")))
                .and_then(safe_relative)
                .filter(|rel| !rel.starts_with(KEYS_DIR))
                .ok_or_else(|| BackupError::Damaged(format!("unexpected member {name:?}")))?;
            write_member(&mut entry, &staging.join(rel))?
        };
        seen.insert(name, hashed);
    }
    let manifest_bytes =
        manifest_bytes.ok_or_else(|| BackupError::Damaged("it has no manifest".into()))?;
    let manifest: BackupManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| BackupError::Damaged(format!("the manifest does not parse: {e}")))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Damaged(format!(
            "its format is {:?}; this release reads {FORMAT}",
            manifest.format
        )));
    }
    for listed in &manifest.members {
        match seen.get(&listed.path) {
            None => {
                return Err(BackupError::Damaged(format!(
                    "{} is listed in the manifest but missing",
                    listed.path
                )));
            }
            Some(got) if got.size != listed.size || got.sha256 != listed.sha256 => {
                return Err(BackupError::HashMismatch(listed.path.clone()));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = seen
        .keys()
        .find(|name| !manifest.members.iter().any(|m| &m.path == *name))
    {
        return Err(BackupError::Damaged(format!(
            "{extra} is not listed in the manifest"
        )));
    }

    let keys_restored = match (keys, manifest.keys.as_str()) {
        (None, "none") => false,
        (None, kind) => {
            return Err(BackupError::Damaged(format!(
                "the manifest says the keys are in it (to a {kind}), but they are not"
            )));
        }
        (Some(encrypted), kind) => {
            let plain = decrypt_keys(&encrypted, secret, kind)?;
            unpack_keys(&plain, &staging.join(KEYS_DIR))?;
            true
        }
    };
    Ok(RestoreReport {
        data: staging.to_owned(),
        state: manifest.state,
        node: manifest.node,
        backed_up_at: manifest.created_at,
        schema_version: manifest.schema_version,
        ledger_size: manifest.ledger_size,
        members: seen.len(),
        bytes,
        database: manifest.database,
        keys_restored,
    })
}

fn read_small(entry: &mut impl Read, name: &str) -> Result<Vec<u8>, BackupError> {
    let mut data = Vec::new();
    entry
        .take(SMALL_MEMBER_LIMIT + 1)
        .read_to_end(&mut data)
        .map_err(|e| BackupError::Damaged(format!("cannot read {name}: {e}")))?;
    if data.len() as u64 > SMALL_MEMBER_LIMIT {
        return Err(BackupError::Damaged(format!("{name} is too large")));
    }
    Ok(data)
}

fn create_private(path: &Path) -> Result<File, BackupError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(io_error(format!("cannot create {}", parent.display())))?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(io_error(format!("cannot create {}", path.display())))
}

/// Writes one member to `path`, hashing it on the way.
fn write_member(entry: &mut impl Read, path: &Path) -> Result<Read_, BackupError> {
    let mut file = create_private(path)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = entry
            .read(&mut buf)
            .map_err(|e| BackupError::Damaged(format!("cannot read {}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
        file.write_all(&buf[..n])
            .map_err(io_error(format!("cannot write {}", path.display())))?;
    }
    file.sync_all()
        .map_err(io_error(format!("cannot write {}", path.display())))?;
    Ok(Read_ {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

fn decrypt_keys(encrypted: &[u8], secret: KeySecret, kind: &str) -> Result<Vec<u8>, BackupError> {
    let decryptor =
        age::Decryptor::new_buffered(encrypted).map_err(|e| BackupError::Decrypt(e.to_string()))?;
    let mut reader = match secret {
        KeySecret::Nothing => return Err(BackupError::KeysLocked(kind.to_owned())),
        KeySecret::Passphrase(p) => {
            let identity = age::scrypt::Identity::new(p);
            decryptor
                .decrypt(std::iter::once(&identity as &dyn age::Identity))
                .map_err(|e| BackupError::Decrypt(e.to_string()))?
        }
        KeySecret::Identity(text) => {
            use age::secrecy::ExposeSecret as _;
            let identities: Vec<age::x25519::Identity> = text
                .expose_secret()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| l.parse::<age::x25519::Identity>())
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    BackupError::Decrypt(format!("the identity file does not parse: {e}"))
                })?;
            decryptor
                .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
                .map_err(|e| BackupError::Decrypt(e.to_string()))?
        }
    };
    let mut plain = Vec::new();
    reader
        .read_to_end(&mut plain)
        .map_err(|e| BackupError::Decrypt(e.to_string()))?;
    Ok(plain)
}

fn unpack_keys(plain: &[u8], dir: &Path) -> Result<(), BackupError> {
    let mut archive = tar::Archive::new(plain);
    let entries = archive
        .entries()
        .map_err(|e| BackupError::Damaged(format!("the keys do not unpack: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| BackupError::Damaged(format!("the keys do not unpack: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| BackupError::Damaged(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let rel = safe_relative(&name)
            .ok_or_else(|| BackupError::Damaged(format!("unexpected key file {name:?}")))?;
        write_member(&mut entry, &dir.join(rel))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_names_are_accepted() {
        assert_eq!(safe_relative("a/b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(safe_relative("../x"), None);
        assert_eq!(safe_relative("/etc/passwd"), None);
        assert_eq!(safe_relative(""), None);
    }
}
